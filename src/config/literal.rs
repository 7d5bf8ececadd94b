//! Literal values in `strata.hcl`.
//!
//! strata does not evaluate HCL: the file describes the repository and must
//! mean the same thing on every machine and in every run. So values are
//! literals only, and anything that needs evaluation is reported with the
//! span of the offending sub-expression.

use std::ops::Range;

use hcl::edit::Span;
use hcl::edit::expr::{Array, Expression, Object, ObjectKey};
use hcl::edit::template::{Element, Template};

/// A literal HCL value, borrowed from the parsed body.
pub(super) enum Literal<'a> {
    Null,
    Bool(bool),
    Number(&'a hcl::edit::Number),
    String(String),
    Array(&'a Array),
    Object(&'a Object),
}

impl Literal<'_> {
    /// For "must be X, not Y" messages.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Literal::Null => "null",
            Literal::Bool(_) => "a bool",
            Literal::Number(_) => "a number",
            Literal::String(_) => "a string",
            Literal::Array(_) => "a list",
            Literal::Object(_) => "an object",
        }
    }
}

/// An expression that needs evaluation.
#[derive(Debug)]
pub(super) struct NotLiteral {
    /// What it is, e.g. "a function call".
    pub(super) found: &'static str,
    pub(super) span: Option<Range<usize>>,
}

/// Reads `expr` as a literal, looking through parentheses and turning
/// templates without interpolation (`"$${x}"`, heredocs) into strings.
pub(super) fn literal(expr: &Expression) -> Result<Literal<'_>, NotLiteral> {
    let not = |found| NotLiteral {
        found,
        span: expr.span(),
    };
    match expr {
        Expression::Null(_) => Ok(Literal::Null),
        Expression::Bool(value) => Ok(Literal::Bool(*value.value())),
        Expression::Number(value) => Ok(Literal::Number(value.value())),
        Expression::String(value) => Ok(Literal::String(value.value().clone())),
        Expression::Array(array) => Ok(Literal::Array(array)),
        Expression::Object(object) => Ok(Literal::Object(object)),
        Expression::StringTemplate(template) => template_text(template).map(Literal::String),
        Expression::HeredocTemplate(heredoc) => {
            template_text(&heredoc.template).map(Literal::String)
        }
        Expression::Parenthesis(inner) => literal(inner.inner()),
        Expression::Variable(_) => Err(not("a variable reference")),
        Expression::Conditional(_) => Err(not("a conditional expression")),
        Expression::FuncCall(_) => Err(not("a function call")),
        Expression::Traversal(_) => Err(not("a reference")),
        Expression::UnaryOp(_) | Expression::BinaryOp(_) => Err(not("an operator expression")),
        Expression::ForExpr(_) => Err(not("a for expression")),
    }
}

fn template_text(template: &Template) -> Result<String, NotLiteral> {
    let mut text = String::new();
    for element in template.iter() {
        match element {
            Element::Literal(literal) => text.push_str(literal.value()),
            Element::Interpolation(interpolation) => {
                return Err(NotLiteral {
                    found: "a string with ${...} interpolation (write $${ for a literal ${)",
                    span: interpolation.span(),
                });
            }
            Element::Directive(directive) => {
                return Err(NotLiteral {
                    found: "a string with a %{...} directive (write %%{ for a literal %{)",
                    span: directive.span(),
                });
            }
        }
    }
    Ok(text)
}

/// Converts a literal to JSON (for `backend_config`).
pub(super) fn to_json(expr: &Expression) -> Result<serde_json::Value, NotLiteral> {
    convert(expr, false)
}

/// Converts a literal to JSON, where strings may interpolate another
/// stack's outputs (for stack `vars`): `"${stack.net.id}"` is kept as the
/// reference [`super::refs`] reads, and a literal `${stack.` (written
/// `$${stack.`) as `$${stack.`, as in manifests.
pub(super) fn to_json_with_refs(expr: &Expression) -> Result<serde_json::Value, NotLiteral> {
    convert(expr, true)
}

fn convert(expr: &Expression, refs: bool) -> Result<serde_json::Value, NotLiteral> {
    use serde_json::Value;
    if refs {
        match expr {
            Expression::StringTemplate(template) => {
                return template_refs(template).map(Value::String);
            }
            Expression::String(value) => {
                return Ok(Value::String(
                    value.value().replace("${stack.", "$${stack."),
                ));
            }
            _ => {}
        }
    }
    Ok(match literal(expr)? {
        Literal::Null => Value::Null,
        Literal::Bool(value) => Value::Bool(value),
        Literal::Number(number) => number_to_json(number),
        Literal::String(text) => Value::String(text),
        Literal::Array(array) => Value::Array(
            array
                .iter()
                .map(|e| convert(e, refs))
                .collect::<Result<_, _>>()?,
        ),
        Literal::Object(object) => {
            let mut map = serde_json::Map::new();
            for (key, value) in object.iter() {
                map.insert(object_key(key)?, convert(value.expr(), refs)?);
            }
            Value::Object(map)
        }
    })
}

/// A template whose only interpolations are `${stack.<name>.<output>}`,
/// in the reference syntax of [`super::refs`].
fn template_refs(template: &Template) -> Result<String, NotLiteral> {
    let mut text = String::new();
    for element in template.iter() {
        match element {
            // Only a literal that reads as a reference needs its escape.
            Element::Literal(literal) => {
                text.push_str(&literal.value().replace("${stack.", "$${stack."));
            }
            Element::Interpolation(interpolation) => {
                let reference = stack_reference(&interpolation.expr).ok_or(NotLiteral {
                    found: "a string with ${...} interpolation other than ${stack.<stack>.<output>} (write $${ for a literal ${)",
                    span: interpolation.span(),
                })?;
                text.push_str(&format!("${{stack.{reference}}}"));
            }
            Element::Directive(directive) => {
                return Err(NotLiteral {
                    found: "a string with a %{...} directive (write %%{ for a literal %{)",
                    span: directive.span(),
                });
            }
        }
    }
    Ok(text)
}

/// `stack.<name>.<output>` as `<name>.<output>`.
fn stack_reference(expr: &Expression) -> Option<String> {
    use hcl::edit::expr::TraversalOperator;
    let Expression::Traversal(traversal) = expr else {
        return None;
    };
    let Expression::Variable(root) = &traversal.expr else {
        return None;
    };
    if root.as_str() != "stack" {
        return None;
    }
    let names: Vec<&str> = traversal
        .operators
        .iter()
        .map(|op| match op.value() {
            TraversalOperator::GetAttr(ident) => Some(ident.as_str()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    match names.as_slice() {
        [stack, output] => Some(format!("{stack}.{output}")),
        _ => None,
    }
}

/// An object key: a bare identifier or a literal string.
pub(super) fn object_key(key: &ObjectKey) -> Result<String, NotLiteral> {
    match key {
        ObjectKey::Ident(ident) => Ok(ident.value().to_string()),
        ObjectKey::Expression(expr) => match literal(expr)? {
            Literal::String(text) => Ok(text),
            _ => Err(NotLiteral {
                found: "an object key that is not a string",
                span: expr.span(),
            }),
        },
    }
}

fn number_to_json(number: &hcl::edit::Number) -> serde_json::Value {
    if let Some(value) = number.as_u64() {
        value.into()
    } else if let Some(value) = number.as_i64() {
        value.into()
    } else {
        // HCL numbers are finite, so `from_f64` only fails in theory.
        number
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(src: &str) -> Expression {
        let body = hcl::edit::parser::parse_body(&format!("x = {src}\n")).expect("parses");
        let attr = body.get_attribute("x").expect("attribute x");
        attr.value.clone()
    }

    #[test]
    fn literals_convert_to_json() {
        let expr = value_of(r#"{ a = 1, "b c" = [true, null, -2, 1.5], d = "$${x}", e = (3) }"#);
        let json = to_json(&expr).expect("literal");
        assert_eq!(
            json,
            serde_json::json!({"a": 1, "b c": [true, null, -2, 1.5], "d": "${x}", "e": 3})
        );
    }

    #[test]
    fn vars_keep_references_to_stack_outputs() {
        let expr = value_of(
            r#"{ a = "${stack.net.id}", b = "x-${stack.net.id}-$${stack.net.id}", c = "$${other}", d = ["${stack.db.port}"] }"#,
        );
        assert_eq!(
            to_json_with_refs(&expr).expect("refs"),
            serde_json::json!({"a": "${stack.net.id}", "b": "x-${stack.net.id}-$${stack.net.id}", "c": "${other}", "d": ["${stack.db.port}"]})
        );
        for other in [
            r#""${var.x}""#,
            r#""${stack.net}""#,
            r#""${stack.net.id.x}""#,
        ] {
            let err = to_json_with_refs(&value_of(other)).expect_err(other);
            assert!(
                err.found.contains("other than ${stack.<stack>.<output>}"),
                "{other}"
            );
        }
    }

    #[test]
    fn heredoc_without_interpolation_is_a_string() {
        let body =
            hcl::edit::parser::parse_body("x = <<-EOT\n    hello\n    EOT\n").expect("parses");
        let expr = &body.get_attribute("x").expect("x").value;
        assert_eq!(
            to_json(expr).expect("literal"),
            serde_json::json!("hello\n")
        );
    }

    #[test]
    fn expressions_needing_evaluation_are_rejected() {
        for (src, found) in [
            ("var.region", "a reference"),
            ("region", "a variable reference"),
            ("lower(\"A\")", "a function call"),
            ("1 + 2", "an operator expression"),
            ("true ? 1 : 2", "a conditional expression"),
            ("[for x in y : x]", "a for expression"),
        ] {
            let err = to_json(&value_of(src)).expect_err(src);
            assert_eq!(err.found, found, "{src}");
            assert!(err.span.is_some());
        }
        let err = to_json(&value_of("{ a = [\"x-${var.y}\"] }")).expect_err("template");
        assert!(err.found.contains("interpolation"));
    }
}
