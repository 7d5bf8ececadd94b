//! Label and field selectors, parsed and applied the way the Kubernetes API
//! server does it (k8s.io/apimachinery `pkg/labels`, `pkg/fields` and
//! `metav1.LabelSelectorAsSelector`).
//!
//! The label selector parser is a faithful port of the upstream lexer and
//! recursive-descent parser, quirks included, so that the error messages (which
//! end up in a 400 BadRequest Status) read like the real ones. Validation texts
//! follow the newest upstream sources (`k8s.io/apimachinery/pkg/api/validate/content`):
//! older releases say "must be no more than 63 characters" where newer ones say
//! "bytes", and "a qualified name ..." where newer ones say "a valid label key ...".

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

/// A parse error, with the message the real API server gives (it becomes a 400 BadRequest Status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError(pub String);

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SelectorError {}

// ---------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Exists,
    DoesNotExist,
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    GreaterThan,
    LessThan,
}

/// One ANDed term of a label selector: a validated key, operator and values.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    operator: Operator,
    /// Sorted and deduplicated (the upstream parser keeps a string set).
    values: Vec<String>,
}

impl Requirement {
    fn has_value(&self, value: &str) -> bool {
        self.values.iter().any(|v| v == value)
    }

    /// `found` is `None` when the label is absent, `Some(None)` when it is
    /// present but not a string (which a valid object never has).
    fn matches(&self, found: Option<Option<&str>>) -> bool {
        use Operator::*;
        match self.operator {
            In | Equals | DoubleEquals => matches!(found, Some(Some(v)) if self.has_value(v)),
            NotIn | NotEquals => match found {
                None => true,
                Some(v) => !v.is_some_and(|v| self.has_value(v)),
            },
            Exists => found.is_some(),
            DoesNotExist => found.is_none(),
            GreaterThan | LessThan => {
                let Some(Some(label)) = found else {
                    return false;
                };
                let (Ok(label), [wanted]) = (label.parse::<i64>(), self.values.as_slice()) else {
                    return false;
                };
                let Ok(wanted) = wanted.parse::<i64>() else {
                    return false;
                };
                if self.operator == GreaterThan {
                    label > wanted
                } else {
                    label < wanted
                }
            }
        }
    }
}

/// `?labelSelector=` of list, watch and deletecollection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    /// Sorted by key, like upstream's `internalSelector`.
    requirements: Vec<Requirement>,
    /// `labels.Nothing()`: what a null selector object converts to.
    nothing: bool,
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter syntax (`a=b,c!=d,e in (f,g),!h`).
    pub fn parse(text: &str) -> Result<LabelSelector, SelectorError> {
        let requirements = Parser::new(text).parse().map_err(SelectorError)?;
        Ok(LabelSelector::from_requirements(requirements))
    }

    /// The selector object of Deployments, ReplicaSets, Jobs, PDBs... ({"matchLabels": {..}, "matchExpressions": [{"key","operator": In|NotIn|Exists|DoesNotExist,"values"}]}).
    ///
    /// Like `metav1.LabelSelectorAsSelector`: a JSON `null` selects nothing,
    /// `{}` selects everything.
    pub fn from_object(value: &Value) -> Result<LabelSelector, SelectorError> {
        let object = match value {
            Value::Null => {
                return Ok(LabelSelector {
                    requirements: Vec::new(),
                    nothing: true,
                });
            }
            Value::Object(object) => object,
            other => {
                return Err(SelectorError(format!(
                    "json: cannot unmarshal {} into Go value of type v1.LabelSelector",
                    json_kind(other)
                )));
            }
        };

        // Decode first (type errors come from JSON decoding, before any validation).
        let mut labels = Vec::new();
        match object.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    labels.push((key.clone(), decode_string(value, "matchLabels", "string")?));
                }
            }
            Some(other) => return Err(type_error(other, "matchLabels", "map[string]string")),
        }
        let mut expressions = Vec::new();
        match object.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    expressions.push(decode_expression(item)?);
                }
            }
            Some(other) => {
                return Err(type_error(
                    other,
                    "matchExpressions",
                    "[]v1.LabelSelectorRequirement",
                ));
            }
        }

        let mut requirements = Vec::with_capacity(labels.len() + expressions.len());
        for (key, value) in labels {
            requirements
                .push(new_requirement(key, Operator::Equals, vec![value]).map_err(SelectorError)?);
        }
        for (key, operator, values) in expressions {
            let operator = match operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                _ => {
                    return Err(SelectorError(format!(
                        "{} is not a valid label selector operator",
                        go_quote(&operator)
                    )));
                }
            };
            requirements.push(new_requirement(key, operator, values).map_err(SelectorError)?);
        }
        Ok(LabelSelector::from_requirements(requirements))
    }

    /// Matches everything.
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// `labels` is metadata.labels (a JSON object of strings), or None when absent.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        !self.nothing
            && self.requirements.iter().all(|requirement| {
                let found = labels
                    .and_then(|labels| labels.get(&requirement.key))
                    .map(Value::as_str);
                requirement.matches(found)
            })
    }

    fn from_requirements(mut requirements: Vec<Requirement>) -> LabelSelector {
        for requirement in &mut requirements {
            requirement.values.sort();
            requirement.values.dedup();
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector {
            requirements,
            nothing: false,
        }
    }
}

type Expression = (String, String, Vec<String>);

fn decode_expression(item: &Value) -> Result<Expression, SelectorError> {
    let Value::Object(item) = item else {
        return Err(type_error(
            item,
            "matchExpressions",
            "v1.LabelSelectorRequirement",
        ));
    };
    let field = |name: &str, go_type: &str| match item.get(name) {
        None => Ok(String::new()),
        Some(value) => decode_string(value, &format!("matchExpressions.{name}"), go_type),
    };
    let key = field("key", "string")?;
    let operator = field("operator", "v1.LabelSelectorOperator")?;
    let values = match item.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| decode_string(v, "matchExpressions.values", "string"))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(type_error(other, "matchExpressions.values", "[]string")),
    };
    Ok((key, operator, values))
}

/// A JSON string (null decodes to "" in Go).
fn decode_string(value: &Value, field: &str, go_type: &str) -> Result<String, SelectorError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        other => Err(type_error(other, field, go_type)),
    }
}

// The real server reports wrongly typed selector objects while decoding the
// request body; this mimics Go's encoding/json wording, but the exact text
// (notably the field path) was not confirmed against a live server.
fn type_error(value: &Value, field: &str, go_type: &str) -> SelectorError {
    SelectorError(format!(
        "json: cannot unmarshal {} into Go struct field LabelSelector.{field} of type {go_type}",
        json_kind(value)
    ))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `labels.NewRequirement` (with no field path): validates the key, the
/// operator's value count, and each value, aggregating every error found.
fn new_requirement(
    key: String,
    operator: Operator,
    values: Vec<String>,
) -> Result<Requirement, String> {
    use Operator::*;
    let mut errors = Vec::new();
    if let Some(error) = validate_label_key(&key, "key") {
        errors.push(error);
    }
    let count_error = match operator {
        In | NotIn if values.is_empty() => {
            Some("for 'in', 'notin' operators, values set can't be empty")
        }
        Equals | DoubleEquals | NotEquals if values.len() != 1 => {
            Some("exact-match compatibility requires one single value")
        }
        Exists | DoesNotExist if !values.is_empty() => {
            Some("values set must be empty for exists and does not exist")
        }
        GreaterThan | LessThan if values.len() != 1 => {
            Some("for 'Gt', 'Lt' operators, exactly one value is required")
        }
        _ => None,
    };
    if let Some(detail) = count_error {
        errors.push(invalid("values", &go_string_slice(&values), detail));
    }
    if matches!(operator, GreaterThan | LessThan) {
        for (i, value) in values.iter().enumerate() {
            if value.parse::<i64>().is_err() {
                errors.push(invalid(
                    &format!("values[{i}]"),
                    &go_quote(value),
                    "for 'Gt', 'Lt' operators, the value must be an integer",
                ));
            }
        }
    }
    for (i, value) in values.iter().enumerate() {
        let problems = label_value_errors(value);
        if !problems.is_empty() {
            errors.push(invalid(
                &format!("values[{i}][{key}]"),
                &go_quote(value),
                &problems.join("; "),
            ));
        }
    }
    if errors.is_empty() {
        Ok(Requirement {
            key,
            operator,
            values,
        })
    } else {
        Err(aggregate(errors))
    }
}

fn validate_label_key(key: &str, path: &str) -> Option<String> {
    let problems = label_key_errors(key);
    (!problems.is_empty()).then(|| invalid(path, &go_quote(key), &problems.join("; ")))
}

/// `field.Invalid(path, value, detail).Error()`; `shown` is the Go rendering of the value.
fn invalid(path: &str, shown: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {shown}: {detail}")
}

/// `utilerrors.NewAggregate(..).Error()`: one message alone, several in brackets.
fn aggregate(errors: Vec<String>) -> String {
    let mut unique: Vec<String> = Vec::with_capacity(errors.len());
    for error in errors {
        if !unique.contains(&error) {
            unique.push(error);
        }
    }
    if unique.len() == 1 {
        unique.remove(0)
    } else {
        format!("[{}]", unique.join(", "))
    }
}

// --- validation (k8s.io/apimachinery/pkg/api/validate/content) --------------

const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_KEY_EXAMPLES: [&str; 3] = ["MyName", "my.name", "123-abc"];
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} bytes")
}

fn regex_error(message: &str, regex: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{message} (regex used for validation is '{regex}')");
    }
    let mut out = format!("{message} (e.g. ");
    for (i, example) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{example}', "));
    }
    out.push_str(&format!("regex used for validation is '{regex}')"));
    out
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, anchored.
fn is_label_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`, anchored.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(|label| {
        let bytes = label.as_bytes();
        let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                edge(first) && edge(last) && bytes.iter().all(|b| edge(b) || *b == b'-')
            }
            _ => false,
        }
    })
}

/// `content.IsLabelKey` (a.k.a. `IsQualifiedName`).
fn label_key_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errors.push("prefix part must be non-empty".to_string());
            } else {
                if prefix.len() > 253 {
                    errors.push(format!("prefix part {}", max_len_error(253)));
                }
                if !is_dns1123_subdomain(prefix) {
                    errors.push(format!(
                        "prefix part {}",
                        regex_error(
                            DNS1123_SUBDOMAIN_ERR,
                            DNS1123_SUBDOMAIN_FMT,
                            &["example.com"]
                        )
                    ));
                }
            }
            *name
        }
        _ => {
            // Releases before the validate/content package say "a qualified name".
            errors.push(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(LABEL_KEY_ERR, LABEL_KEY_FMT, &LABEL_KEY_EXAMPLES)
            ));
            return errors;
        }
    };
    if name.is_empty() {
        errors.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errors.push(format!("name part {}", max_len_error(63)));
    }
    if !is_label_name(name) {
        errors.push(format!(
            "name part {}",
            regex_error(LABEL_KEY_ERR, LABEL_KEY_FMT, &LABEL_KEY_EXAMPLES)
        ));
    }
    errors
}

/// `content.IsLabelValue`.
fn label_value_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push(max_len_error(63));
    }
    if !value.is_empty() && !is_label_name(value) {
        errors.push(regex_error(
            LABEL_VALUE_ERR,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errors
}

/// Go's `%q` (strconv.Quote) for the characters that can reach it here.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%#v` of a `[]string` (empty ones are always nil here).
fn go_string_slice(values: &[String]) -> String {
    if values.is_empty() {
        return "[]string(nil)".to_string();
    }
    let quoted: Vec<String> = values.iter().map(|v| go_quote(v)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

// --- the selector string parser (port of pkg/labels/selector.go) -----------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(s: &str) -> Option<Token> {
    Some(match s {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special_symbol(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Byte lexer. Every token boundary sits next to an ASCII byte, so slicing the
/// `&str` at them is always on a char boundary. As upstream, a NUL byte reads
/// as end of input.
struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn read(&mut self) -> u8 {
        match self.s.as_bytes().get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    fn unread(&mut self) {
        self.pos -= 1;
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Token::EndOfString, String::new());
        }
        self.unread();
        if is_special_symbol(ch) {
            self.scan_special_symbol()
        } else {
            self.scan_id_or_keyword()
        }
    }

    fn scan_id_or_keyword(&mut self) -> (Token, String) {
        let start = self.pos;
        let end = loop {
            let here = self.pos;
            let ch = self.read();
            if ch == 0 {
                break here;
            }
            if is_special_symbol(ch) || is_whitespace(ch) {
                self.unread();
                break here;
            }
        };
        let literal = &self.s[start..end];
        (
            keyword(literal).unwrap_or(Token::Identifier),
            literal.to_string(),
        )
    }

    /// Longest special-symbol run that is a token (`!=`, `==`, `=`, `(`...).
    fn scan_special_symbol(&mut self) -> (Token, String) {
        let start = self.pos;
        let mut last: Option<(Token, usize)> = None;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if !is_special_symbol(ch) {
                self.unread();
                break;
            }
            if let Some(token) = keyword(&self.s[start..self.pos]) {
                last = Some((token, self.pos));
            } else if last.is_some() {
                self.unread();
                break;
            }
        }
        match last {
            Some((token, end)) => (token, self.s[start..end].to_string()),
            None => (
                Token::Error,
                format!(
                    "error expected: keyword found '{}'",
                    &self.s[start..self.pos]
                ),
            ),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn new(text: &str) -> Parser {
        let mut lexer = Lexer { s: text, pos: 0 };
        let mut items = Vec::new();
        loop {
            let item = lexer.lex();
            let end = item.0 == Token::EndOfString;
            items.push(item);
            if end {
                break;
            }
        }
        Parser { items, position: 0 }
    }

    fn item(&self, index: usize, context: Context) -> (Token, String) {
        // The grammar never reads past the end-of-string token; clamp anyway.
        let (token, literal) = &self.items[index.min(self.items.len() - 1)];
        let token = match (context, token) {
            (Context::Values, Token::In | Token::NotIn) => Token::Identifier,
            _ => *token,
        };
        (token, literal.clone())
    }

    fn lookahead(&self, context: Context) -> (Token, String) {
        self.item(self.position, context)
    }

    fn consume(&mut self, context: Context) -> (Token, String) {
        self.position += 1;
        self.item(self.position - 1, context)
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (token, literal) = self.lookahead(Context::Values);
            match token {
                Token::Identifier | Token::DoesNotExist => {
                    let requirement = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(requirement);
                    let (token, literal) = self.consume(Context::Values);
                    match token {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (next, literal) = self.lookahead(Context::Values);
                            if next != Token::Identifier && next != Token::DoesNotExist {
                                return Err(format!(
                                    "found '{literal}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => {
                            return Err(format!(
                                "found '{literal}', expected: ',' or 'end of string'"
                            ));
                        }
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{literal}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, operator) = self.parse_key_and_infer_operator()?;
        if let Some(operator @ (Operator::Exists | Operator::DoesNotExist)) = operator {
            return new_requirement(key, operator, Vec::new());
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        new_requirement(key, operator, values)
    }

    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut operator = None;
        let (mut token, mut literal) = self.consume(Context::Values);
        if token == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (token, literal) = self.consume(Context::Values);
        }
        if token != Token::Identifier {
            return Err(format!("found '{literal}', expected: identifier"));
        }
        // Upstream validates with the parser's (nil) field path, printed "<nil>".
        if let Some(error) = validate_label_key(&literal, "<nil>") {
            return Err(error);
        }
        let (next, _) = self.lookahead(Context::Values);
        if (next == Token::EndOfString || next == Token::Comma) && operator.is_none() {
            operator = Some(Operator::Exists);
        }
        Ok((literal, operator))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (token, literal) = self.consume(Context::KeyAndOperator);
        Ok(match token {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => {
                return Err(format!(
                    "found '{literal}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        })
    }

    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (token, literal) = self.consume(Context::Values);
        if token != Token::OpenPar {
            return Err(format!("found '{literal}' expected: '('"));
        }
        let (token, literal) = self.lookahead(Context::Values);
        match token {
            Token::Identifier | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                if self.consume(Context::Values).0 != Token::ClosedPar {
                    return Err(format!("found '{literal}', expected: ')'"));
                }
                Ok(values.into_iter().collect())
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!(
                "found '{literal}', expected: ',', ')' or identifier"
            )),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<BTreeSet<String>, String> {
        let mut values = BTreeSet::new();
        loop {
            let (token, literal) = self.consume(Context::Values);
            match token {
                Token::Identifier => {
                    values.insert(literal);
                    let (next, literal) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => return Err(format!("found '{literal}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.insert(String::new()); // "(,"
                    }
                    match self.lookahead(Context::Values).0 {
                        Token::ClosedPar => {
                            values.insert(String::new()); // ",)"
                            return Ok(values);
                        }
                        Token::Comma => {
                            self.consume(Context::Values);
                            values.insert(String::new()); // ",,"
                        }
                        _ => {}
                    }
                }
                _ => return Err(format!("found '{literal}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (token, _) = self.lookahead(Context::Values);
        if token == Token::EndOfString || token == Token::Comma {
            return Ok(vec![String::new()]);
        }
        let (token, literal) = self.consume(Context::Values);
        if token == Token::Identifier {
            Ok(vec![literal])
        } else {
            Err(format!("found '{literal}', expected: identifier"))
        }
    }
}

// ---------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Namespace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldTerm {
    field: Field,
    /// Unescaped.
    value: String,
    /// `=`/`==` when true, `!=` when false.
    equal: bool,
}

/// `?fieldSelector=`: metadata.name and metadata.namespace (what every resource supports).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    /// In upstream's order: terms sorted by their text.
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// `fields.ParseSelector` then the field-label conversion of the list handler.
    ///
    /// No whitespace trimming, like upstream: `metadata.name = x` names the
    /// field `metadata.name ` (unsupported). Unsupported fields get the
    /// wording of kinds with a registered field-label conversion (pods, nodes,
    /// secrets, events, namespaces...): `field label not supported: <field>`.
    /// Kinds without one (configmaps, deployments, custom resources...)
    /// really say `"<field>" is not a known field selector: only
    /// "metadata.name", "metadata.namespace"`.
    pub fn parse(text: &str) -> Result<FieldSelector, SelectorError> {
        let mut parts = split_terms(text);
        parts.sort_unstable();
        let mut parsed = Vec::with_capacity(parts.len());
        for part in parts.into_iter().filter(|part| !part.is_empty()) {
            let Some((field, operator, value)) = split_term(part) else {
                return Err(SelectorError(format!(
                    "invalid selector: '{text}'; can't understand '{part}'"
                )));
            };
            parsed.push((field, operator != "!=", unescape_value(value)?));
        }
        let terms = parsed
            .into_iter()
            .map(|(field, equal, value)| {
                let field = match field {
                    "metadata.name" => Field::Name,
                    "metadata.namespace" => Field::Namespace,
                    other => {
                        return Err(SelectorError(format!("field label not supported: {other}")));
                    }
                };
                Ok(FieldTerm {
                    field,
                    value,
                    equal,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(FieldSelector { terms })
    }

    /// `namespace` is "" for cluster-scoped objects.
    pub fn matches(&self, name: &str, namespace: &str) -> bool {
        self.terms.iter().all(|term| {
            let actual = match term.field {
                Field::Name => name,
                Field::Namespace => namespace,
            };
            (actual == term.value) == term.equal
        })
    }
}

/// Splits on commas not escaped by a backslash (escapes are kept).
fn split_terms(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in text.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&text[start..i]);
            start = i + 1;
        }
    }
    terms.push(&text[start..]);
    terms
}

/// Splits at the first operator (`!=`, then `==`, then `=`, tried at each position).
fn split_term(term: &str) -> Option<(&str, &str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for operator in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(operator) {
                return Some((&term[..i], operator, value));
            }
        }
    }
    None
}

/// Undoes `\\`, `\,` and `\=`; any other escape, a trailing backslash, or an
/// unescaped `,`/`=` is an error (Go prints the rune with `%v`: its number).
fn unescape_value(value: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(value.len());
    let mut in_slash = false;
    for c in value.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                )));
            }
            out.push(c);
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' || c == '=' {
            return Err(SelectorError(format!(
                "invalid field selector: unescaped character in value: {}",
                c as u32
            )));
        } else {
            out.push(c);
        }
    }
    if in_slash {
        return Err(SelectorError(
            "invalid field selector: invalid escape sequence: \\".to_string(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    fn parse_err(text: &str) -> String {
        LabelSelector::parse(text).expect_err(text).0
    }

    const NAME_RE: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const VALUE_RE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    #[test]
    fn label_selector_matching() {
        let set = labels(json!({"app": "web", "tier": "front", "n": "5", "empty": ""}));
        let cases: &[(&str, bool, bool)] = &[
            // (selector, matches `set`, matches an object without labels)
            ("", true, true),
            ("app=web", true, false),
            ("app==web", true, false),
            ("app=db", false, false),
            ("app!=db", true, true),
            ("app!=web", false, true),
            ("app in (db,web)", true, false),
            ("app in (db)", false, false),
            ("app notin (db)", true, true),
            ("app notin (db,web)", false, true),
            ("app", true, false),
            ("!app", false, true),
            ("missing", false, false),
            ("!missing", true, true),
            ("missing!=x", true, true),
            ("missing notin (x)", true, true),
            ("app=web,tier=front", true, false),
            ("app=web,tier=back", false, false),
            ("empty=", true, false),
            ("empty in ()", true, false),
            ("empty in (a,)", true, false),
            ("empty in (,a)", true, false),
            ("app in (a,,b)", false, false),
            ("n>4", true, false),
            ("n>5", false, false),
            ("n<6", true, false),
            ("app>1", false, false),
            ("in in (in)", false, false),
            (
                "  app  =  web  ,  tier  in  (  x  ,  front  )  ,  ! missing  ",
                true,
                false,
            ),
            ("\tapp\n==\rweb", true, false),
            ("app in(web),tier notin(x)", true, false),
        ];
        for &(text, with, without) in cases {
            let selector = LabelSelector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(selector.matches(Some(&set)), with, "{text:?} on labels");
            assert_eq!(selector.matches(None), without, "{text:?} on no labels");
            assert_eq!(
                selector.matches(Some(&Map::new())),
                without,
                "{text:?} on {{}}"
            );
        }
    }

    #[test]
    fn label_selector_is_empty_and_equality() {
        assert!(LabelSelector::parse("").unwrap().is_empty());
        assert!(LabelSelector::parse(" \t ").unwrap().is_empty());
        assert!(LabelSelector::default().is_empty());
        assert!(!LabelSelector::parse("a").unwrap().is_empty());
        assert_eq!(
            LabelSelector::parse("b=1,a in (y,x,x)").unwrap(),
            LabelSelector::parse("a in (x,y), b=1").unwrap()
        );
        // Qualified keys and values at the limits.
        let long = "a".repeat(63);
        assert!(LabelSelector::parse(&format!("example.com/{long}={long}")).is_ok());
        assert!(LabelSelector::parse("app.kubernetes.io/name=my_app-1.0").is_ok());
        assert!(LabelSelector::parse("A_b.C-d").is_ok());
        // The grammar example from upstream's documentation.
        let example = LabelSelector::parse("x in (foo,,baz),y,z notin ()").unwrap();
        assert!(example.matches(Some(&labels(json!({"x": "", "y": "1", "z": "2"})))));
    }

    #[test]
    fn label_selector_syntax_errors() {
        let operators = "expected: in, notin, =, ==, !=, gt, lt";
        let cases: &[(&str, String)] = &[
            (
                "a b",
                format!("unable to parse requirement: found 'b', {operators}"),
            ),
            (
                "a=b c",
                "found 'c', expected: ',' or 'end of string'".into(),
            ),
            ("a=b,", "found '', expected: identifier after ','".into()),
            ("a,,b", "found ',', expected: identifier after ','".into()),
            (
                ",a",
                "found ',', expected: !, identifier, or 'end of string'".into(),
            ),
            (
                "=a",
                "found '=', expected: !, identifier, or 'end of string'".into(),
            ),
            (
                "!",
                "unable to parse requirement: found '', expected: identifier".into(),
            ),
            ("!a=b", "found '=', expected: ',' or 'end of string'".into()),
            (
                "a ! b",
                format!("unable to parse requirement: found '!', {operators}"),
            ),
            (
                "a in",
                "unable to parse requirement: found '' expected: '('".into(),
            ),
            (
                "a in (b",
                "unable to parse requirement: found '', expected: ',' or ')'".into(),
            ),
            (
                "a in (=)",
                "unable to parse requirement: found '=', expected: ',', ')' or identifier".into(),
            ),
            (
                "a in (b,=)",
                "unable to parse requirement: found '=', expected: ',', or identifier".into(),
            ),
            (
                "a=(",
                "unable to parse requirement: found '(', expected: identifier".into(),
            ),
            (
                "a=!b",
                "unable to parse requirement: found '!', expected: identifier".into(),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_err(text), want, "{text:?}");
        }
    }

    #[test]
    fn label_selector_validation_errors() {
        assert_eq!(
            parse_err("-a=b"),
            format!("unable to parse requirement: <nil>: Invalid value: \"-a\": {NAME_RE}")
        );
        assert_eq!(
            parse_err("a=-b"),
            format!("unable to parse requirement: values[0][a]: Invalid value: \"-b\": {VALUE_RE}")
        );
        assert_eq!(
            parse_err("a in (z-,b)"), // values are a sorted set: "z-" is values[1]
            format!("unable to parse requirement: values[1][a]: Invalid value: \"z-\": {VALUE_RE}")
        );
        assert_eq!(
            parse_err(&format!("a={}", "v".repeat(64))),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"{}\": must be no more than 63 bytes",
                "v".repeat(64)
            )
        );
        assert_eq!(
            parse_err(&"k".repeat(64)),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"{}\": name part must be no more than 63 bytes",
                "k".repeat(64)
            )
        );
        assert_eq!(
            parse_err("/a"),
            "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty"
        );
        assert_eq!(
            parse_err("a/"),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"a/\": name part must be non-empty; {NAME_RE}"
            )
        );
        assert_eq!(
            parse_err("Ex.com/a"),
            "unable to parse requirement: <nil>: Invalid value: \"Ex.com/a\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        assert!(parse_err("a/b/c").starts_with(
            "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a valid label key must consist of"
        ));
        assert!(parse_err("a/b/c").ends_with(
            " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ));
        assert!(
            parse_err(&format!("{}.com/a", "x".repeat(250)))
                .contains("prefix part must be no more than 253 bytes")
        );
        assert!(parse_err("é=1").contains("<nil>: Invalid value: \"é\": name part must consist"));
        assert_eq!(
            parse_err("a>b"),
            "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert_eq!(
            parse_err("a<-1"),
            format!("unable to parse requirement: values[0][a]: Invalid value: \"-1\": {VALUE_RE}")
        );
    }

    #[test]
    fn label_selector_objects() {
        let set = labels(json!({"app": "web", "tier": "front"}));
        let cases = [
            (json!({}), true, true),
            (
                json!({"matchLabels": null, "matchExpressions": []}),
                true,
                true,
            ),
            (json!({"matchLabels": {"app": "web"}}), true, false),
            (
                json!({"matchLabels": {"app": "web", "tier": "back"}}),
                false,
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db", "web"]}]}),
                true,
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
                false,
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}),
                true,
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "x", "operator": "DoesNotExist", "values": []}]}),
                true,
                true,
            ),
            (
                json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["back"]}]}),
                true,
                false,
            ),
        ];
        for (object, with, without) in cases {
            let selector =
                LabelSelector::from_object(&object).unwrap_or_else(|e| panic!("{object}: {e}"));
            assert_eq!(selector.matches(Some(&set)), with, "{object}");
            assert_eq!(selector.matches(None), without, "{object}");
        }
        assert!(LabelSelector::from_object(&json!({})).unwrap().is_empty());
        assert_eq!(
            LabelSelector::from_object(&json!({"matchLabels": {"a": "b"}})).unwrap(),
            LabelSelector::parse("a=b").unwrap()
        );
        let nothing = LabelSelector::from_object(&Value::Null).unwrap();
        assert!(!nothing.is_empty());
        assert!(!nothing.matches(Some(&set)) && !nothing.matches(None));
    }

    #[test]
    fn label_selector_object_errors() {
        let err = |object: Value| LabelSelector::from_object(&object).expect_err("an error").0;
        let expr = |key: &str, operator: &str, values: Value| {
            err(json!({"matchExpressions": [{"key": key, "operator": operator, "values": values}]}))
        };
        assert_eq!(
            expr("a", "Foo", json!([])),
            "\"Foo\" is not a valid label selector operator"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a"}]})),
            "\"\" is not a valid label selector operator"
        );
        assert_eq!(
            expr("a", "In", json!([])),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            expr("a", "NotIn", Value::Null),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            expr("a", "Exists", json!(["x", "y"])),
            "values: Invalid value: []string{\"x\", \"y\"}: values set must be empty for exists and does not exist"
        );
        assert_eq!(
            expr("-a", "DoesNotExist", json!(["-"])),
            format!(
                "[key: Invalid value: \"-a\": {NAME_RE}, values: Invalid value: []string{{\"-\"}}: values set must be empty for exists and does not exist, values[0][-a]: Invalid value: \"-\": {VALUE_RE}]"
            )
        );
        assert_eq!(
            err(json!({"matchLabels": {"a b": "c"}})),
            format!("key: Invalid value: \"a b\": {NAME_RE}")
        );
        assert_eq!(
            err(json!({"matchLabels": {"a": "c d"}})),
            format!("values[0][a]: Invalid value: \"c d\": {VALUE_RE}")
        );
        assert_eq!(
            err(json!({"matchLabels": {"a": 1}})),
            "json: cannot unmarshal number into Go struct field LabelSelector.matchLabels of type string"
        );
        assert_eq!(
            err(json!("a=b")),
            "json: cannot unmarshal string into Go value of type v1.LabelSelector"
        );
        assert!(err(json!({"matchExpressions": {}})).contains("cannot unmarshal object"));
        assert!(expr("a", "In", json!("x")).contains("cannot unmarshal string"));
    }

    #[test]
    fn field_selectors() {
        let cases: &[(&str, &str, &str, bool)] = &[
            ("", "a", "ns", true),
            (",", "a", "ns", true),
            ("metadata.name=a", "a", "ns", true),
            ("metadata.name==a", "a", "ns", true),
            ("metadata.name=a", "b", "ns", false),
            ("metadata.name!=a", "b", "ns", true),
            ("metadata.name!=a", "a", "ns", false),
            ("metadata.namespace=ns,metadata.name=a", "a", "ns", true),
            ("metadata.namespace=ns,metadata.name=a", "a", "other", false),
            ("metadata.namespace=", "a", "", true),
            ("metadata.namespace!=", "a", "", false),
            ("metadata.name=a\\,b", "a,b", "", true),
            ("metadata.name=a\\=b\\\\c", "a=b\\c", "", true),
            ("metadata.name=a\\,b,metadata.namespace=n", "a,b", "n", true),
        ];
        for &(text, name, namespace, want) in cases {
            let selector = FieldSelector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(selector.matches(name, namespace), want, "{text:?}");
        }
        assert_eq!(FieldSelector::parse("").unwrap(), FieldSelector::default());
    }

    #[test]
    fn field_selector_errors() {
        let err = |text: &str| FieldSelector::parse(text).expect_err(text).0;
        assert_eq!(
            err("spec.nodeName=x"),
            "field label not supported: spec.nodeName"
        );
        assert_eq!(
            err("metadata.name = x"),
            "field label not supported: metadata.name "
        );
        assert_eq!(err("=x"), "field label not supported: ");
        assert_eq!(
            err("metadata.name"),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        // Terms are sorted before parsing: the earliest bad term is reported.
        assert_eq!(
            err("x,metadata.name=a,b"),
            "invalid selector: 'x,metadata.name=a,b'; can't understand 'b'"
        );
        // Syntax errors win over unsupported fields.
        assert_eq!(
            err("a=b,z"),
            "invalid selector: 'a=b,z'; can't understand 'z'"
        );
        assert_eq!(
            err("metadata.name=a=b"),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            err("metadata.name=a!=b"),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            err("metadata.name=a,b"),
            "invalid selector: 'metadata.name=a,b'; can't understand 'b'"
        );
        assert_eq!(
            err("metadata.name=a\\n"),
            "invalid field selector: invalid escape sequence: \\n"
        );
        assert_eq!(
            err("metadata.name=a\\"),
            "invalid field selector: invalid escape sequence: \\"
        );
        assert_eq!(err("b=x,a=y"), "field label not supported: a");
    }

    #[test]
    fn go_rendering() {
        assert_eq!(
            go_quote("a\"b\\c\n\u{1}\u{7f}é"),
            "\"a\\\"b\\\\c\\n\\x01\\x7fé\""
        );
        assert_eq!(go_string_slice(&[]), "[]string(nil)");
        assert_eq!(aggregate(vec!["x".into(), "x".into()]), "x");
        assert_eq!(SelectorError("boom".into()).to_string(), "boom");
    }
}
