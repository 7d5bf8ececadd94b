//! Parsing manifest text: multi-document YAML and JSON (one object or a
//! `List`) into [`Manifest`]s, each knowing its file, document and line,
//! with every value the API server would refuse reported where it is.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{KubeError, values};

/// One document of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Repository-relative file (for a kustomization: the kustomization file).
    pub file: String,
    /// 1-based document index in the file (or in the rendered output).
    pub index: usize,
    /// 1-based line where the document starts.
    pub line: usize,
    pub value: Value,
    /// The values decrypted from SOPS that it holds (none for an object
    /// written in the clear): the object is then secret throughout, shown
    /// in no diff, and these are kept out of every message.
    pub secrets: BTreeSet<String>,
}

impl Manifest {
    /// Whether the object holds values decrypted from SOPS.
    pub fn sensitive(&self) -> bool {
        !self.secrets.is_empty()
    }
}

/// One problem, or all of them.
fn one_or_all(mut problems: Vec<KubeError>) -> KubeError {
    if problems.len() == 1 {
        problems.remove(0)
    } else {
        KubeError::Invalid(problems)
    }
}

/// Parses a JSON file: objects or `List`s of them, one after another as
/// kubectl takes them (`{…}{…}`, or one per line).
pub fn parse_json(file: &str, text: &str) -> Result<Vec<Manifest>, KubeError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut index = 0;
    loop {
        // Where this document starts: after the whitespace the last ended on.
        let end = stream.byte_offset();
        let start = end + text[end..].len() - text[end..].trim_start().len();
        let Some(next) = stream.next() else { break };
        index += 1;
        let value = next.map_err(|e| KubeError::Manifest {
            file: file.to_owned(),
            index: (index > 1).then_some(index),
            line: Some(e.line()),
            message: format!("invalid JSON: {e}"),
        })?;
        let doc = &text[start..stream.byte_offset()];
        let source = Source {
            file,
            index,
            line: text[..start].matches('\n').count() + 1,
            doc,
            yaml: false,
            secret: false,
        };
        out.extend(documents(&source, value, &[], &mut problems)?);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(one_or_all(problems))
    }
}

/// Parses a multi-document YAML text. Documents are split at `---` lines so
/// that errors can name the document and the line in the file.
pub fn parse_yaml(file: &str, text: &str) -> Result<Vec<Manifest>, KubeError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, (start, doc)) in split_documents(text).into_iter().enumerate() {
        let index = i + 1;
        let value: Option<Value> = serde_saphyr::from_str(&doc).map_err(|e| {
            let (line, message) = yaml_error(&e, start);
            KubeError::Manifest {
                file: file.to_owned(),
                index: Some(index),
                line,
                message: format!("invalid YAML: {message}"),
            }
        })?;
        let Some(value) = value else { continue };
        let source = Source {
            file,
            index,
            line: start,
            doc: &doc,
            yaml: true,
            secret: false,
        };
        out.extend(documents(&source, value, &[], &mut problems)?);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(one_or_all(problems))
    }
}

/// Where a parsed document came from.
struct Source<'a> {
    file: &'a str,
    /// 1-based document index in the file.
    index: usize,
    /// 1-based line of the document's first line in the file.
    line: usize,
    /// The document's text.
    doc: &'a str,
    /// YAML rather than JSON: unquoted scalars explain wrong types.
    yaml: bool,
    /// Decrypted from SOPS: no value of it goes in a message.
    secret: bool,
}

/// The documents of a file decrypted from SOPS (`values`, each a
/// document; `secrets`, every decrypted value). Problems name the file and
/// document, never a value.
pub fn parse_decrypted(
    file: &str,
    values: Vec<Value>,
    secrets: &BTreeSet<String>,
) -> Result<Vec<Manifest>, KubeError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let source = Source {
            file,
            index: i + 1,
            line: 1,
            doc: "",
            yaml: false,
            secret: true,
        };
        out.extend(documents(&source, value, &[], &mut problems)?);
    }
    if !problems.is_empty() {
        return Err(one_or_all(problems));
    }
    for manifest in &mut out {
        manifest.secrets.clone_from(secrets);
    }
    Ok(out)
}

/// The message of a YAML error without its source excerpt, and its line
/// in the file.
fn yaml_error(e: &serde_saphyr::Error, start: usize) -> (Option<usize>, String) {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "line L column C: message"
    let message = match first.strip_prefix("line ") {
        Some(rest) => rest
            .split_once(": ")
            .map_or(first, |(_, message)| message)
            .to_owned(),
        None => first.to_owned(),
    };
    // The parser's hints are for programmers using it; say what to do.
    let message = match message.split_once(", set DuplicateKeyPolicy") {
        Some((what, _)) => {
            format!("{what}: a key may appear once in a mapping; remove one of them")
        }
        None if message.starts_with("budget breached") => format!(
            "the document expands beyond what strata reads ({message}): an alias bomb, or nesting far deeper than any manifest; write the values out instead of repeating aliases"
        ),
        None => message,
    };
    let line = e
        .location()
        .and_then(|l| usize::try_from(l.line()).ok())
        .filter(|l| *l > 0)
        .map(|l| start + l - 1);
    (line, message)
}

/// Splits at lines that are a document marker (`---`, optionally followed
/// by a space and more), returning each document with its first line.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if marker {
            // A marker on the first line opens the first document.
            if i > 0 {
                docs.push((start, std::mem::take(&mut current)));
            }
            // Content after the marker (`--- # comment`, `--- !tag`) stays.
            current.push_str(&" ".repeat(3));
            current.push_str(&line[3..]);
            current.push('\n');
            start = i + 1;
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        docs.push((start, current));
    }
    docs
}

/// A parsed document: an object, or a `List` whose items are objects.
/// Values the API server would refuse (see [`values`]) go to `problems`,
/// each at its line, with what YAML made of the text.
fn documents(
    source: &Source<'_>,
    value: Value,
    at: &[String],
    problems: &mut Vec<KubeError>,
) -> Result<Vec<Manifest>, KubeError> {
    let Value::Object(map) = &value else {
        return Err(KubeError::Manifest {
            file: source.file.to_owned(),
            index: Some(source.index),
            line: Some(source.line),
            message: format!(
                "expected a Kubernetes object (a mapping with apiVersion and kind), found {}; if the file is not a manifest, leave it out with `exclude` on the workload or a .strataignore",
                type_name(&value)
            ),
        });
    };
    let is_list = map.get("kind").and_then(Value::as_str) == Some("List")
        || map
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List") && map.get("items").is_some_and(Value::is_array));
    if is_list {
        let items = map
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let mut path = at.to_vec();
            path.extend(["items".to_owned(), i.to_string()]);
            out.extend(documents(source, item, &path, problems)?);
        }
        return Ok(out);
    }
    // References are checked once substituted.
    for problem in values::problems(&value, |text| text.contains("${")) {
        let mut path = at.to_vec();
        path.extend(problem.path.iter().cloned());
        let (line, raw) = match values::locate(source.doc, &path) {
            Some((line, raw)) if !source.secret => (source.line + line - 1, Some(raw)),
            _ => (source.line, None),
        };
        problems.push(KubeError::Manifest {
            file: source.file.to_owned(),
            index: Some(source.index),
            line: Some(line),
            message: values::message(
                &value,
                &problem,
                raw.as_deref().filter(|r| !r.is_empty()),
                source.yaml,
                source.secret,
            ),
        });
    }
    Ok(vec![Manifest {
        file: source.file.to_owned(),
        index: source.index,
        line: source.line,
        value,
        secrets: BTreeSet::new(),
    }])
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_split_with_their_lines() {
        let text = "# a comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n";
        let docs = parse_yaml("x.yaml", text).expect("parses");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value["metadata"]["name"], "a");
        assert_eq!((docs[0].index, docs[0].line), (1, 1));
        assert_eq!(docs[1].value["metadata"]["name"], "b");
        assert_eq!(docs[1].index, 3);
        assert_eq!(docs[1].line, 6);
    }

    #[test]
    fn yaml_errors_name_the_file_document_and_line() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\ndata: [1\nkind: x\n";
        let err = parse_yaml("k8s/apps/x.yaml", text).expect_err("broken");
        let message = err.to_string();
        assert!(
            message.starts_with("k8s/apps/x.yaml:7 (document 2): invalid YAML:"),
            "{message}"
        );
    }

    #[test]
    fn json_documents_one_after_another_are_each_read() {
        let text = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"}}\n\n{\"apiVersion\":\"v1\",\n \"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"b\"}}{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"}}]}\n";
        let docs = parse_json("x.json", text).expect("parses");
        let names: Vec<_> = docs
            .iter()
            .map(|d| d.value["metadata"]["name"].clone())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!((docs[1].index, docs[1].line), (2, 3));
        assert_eq!((docs[2].index, docs[2].line), (3, 4));
        let err = parse_json("y.json", "{\"a\":1}\n{\"b\":").expect_err("cut short");
        assert!(
            err.to_string()
                .starts_with("y.json:2 (document 2): invalid JSON: EOF"),
            "{err}"
        );
        assert!(parse_json("e.json", " \n").expect("empty").is_empty());
    }

    #[test]
    fn lists_are_expanded_and_scalars_refused() {
        let docs = parse_json(
            "l.json",
            r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}]}"#,
        )
        .expect("parses");
        assert_eq!(docs.len(), 2);
        let err = parse_yaml("s.yaml", "just a string\n").expect_err("scalar");
        assert!(err.to_string().contains("found a string"), "{err}");
    }
}
