//! SOPS-encrypted files, decrypted in memory as Flux's kustomize-controller
//! does: the file's data key is unwrapped with an age identity, each
//! `ENC[AES256_GCM,…]` value is decrypted with it (the value's path as
//! additional data), and the file's MAC (a SHA-512 over the plaintext
//! values in document order, encrypted with `lastmodified` as additional
//! data) must match, or the file is refused.
//!
//! What is decrypted is a secret: [`Decrypted::secrets`] lists its values
//! for scrubbing, and nothing here puts a value in an error. The plaintext
//! is never written anywhere by this module.
//!
//! Keys are found as sops finds them: `SOPS_AGE_KEY` (identities),
//! `SOPS_AGE_KEY_FILE` (a file of them), and the user's
//! `sops/age/keys.txt` under `$XDG_CONFIG_HOME` (else `~/.config`; on
//! macOS `~/Library/Application Support`), all of them together.

mod cipher;
mod keys;
mod tree;

use std::collections::BTreeSet;

use sha2::{Digest, Sha512};

pub use keys::Keys;
use tree::Node;

/// The formats sops writes, told apart by the file's name as sops does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    /// An INI file: sops writes them, strata does not read them.
    Ini,
    /// Any other file: sops keeps it whole, as one value, in a JSON
    /// envelope.
    Binary,
}

impl Format {
    /// The format sops gives a file of this name.
    pub fn of_path(path: &str) -> Format {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Format::Yaml
        } else if lower.ends_with(".json") {
            Format::Json
        } else if lower.ends_with(".env") {
            Format::Dotenv
        } else if lower.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }
}

/// Why a SOPS file cannot be decrypted. None of them holds a value of the
/// file; each says what to do. The file's name is the caller's to add.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    #[error(
        "is encrypted with SOPS for the age recipient(s) {recipients}, but strata found no age identity (it looked in {searched}); set SOPS_AGE_KEY_FILE to the file holding the age key, or SOPS_AGE_KEY to the key itself"
    )]
    NoKey {
        recipients: String,
        searched: String,
    },
    #[error(
        "is encrypted with SOPS for the age recipient(s) {recipients}, and none of the age identities strata has ({count}, from {searched}) is one of them; give strata the key of one of those recipients, or have someone who has one add yours (`sops updatekeys` after adding it to .sops.yaml)"
    )]
    WrongKey {
        recipients: String,
        count: usize,
        searched: String,
    },
    #[error(
        "is encrypted with SOPS only for {kinds}, and strata decrypts with age keys only; add an age recipient to the file (in .sops.yaml, then `sops updatekeys`)"
    )]
    NoAgeRecipient { kinds: String },
    #[error(
        "does not match its MAC: it was changed after sops encrypted it (edited without sops, or tampered with), so strata does not trust it; restore it from a trusted commit, or edit it with `sops` so that the MAC is computed again"
    )]
    MacMismatch,
    #[error(
        "the value at {path} does not decrypt with the file's data key: it was changed or moved after sops encrypted it; restore it from a trusted commit, or edit the file with `sops`"
    )]
    Value { path: String },
    #[error("is not a valid SOPS file: {0}")]
    Malformed(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot read the age identities in {location}: {message}")]
    Identities { location: String, message: String },
}

/// A decrypted file: its documents and the text of every value that was
/// encrypted.
#[derive(Clone, PartialEq)]
pub struct Decrypted {
    format: Format,
    docs: Vec<Node>,
    secrets: BTreeSet<String>,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("format", &self.format)
            .field("documents", &self.docs.len())
            .finish_non_exhaustive()
    }
}

impl Decrypted {
    /// Each document as JSON, without the `sops` metadata.
    pub fn values(&self) -> Vec<serde_json::Value> {
        self.docs.iter().map(Node::to_json).collect()
    }

    /// The text of every value that was encrypted, to keep out of messages.
    pub fn secrets(&self) -> &BTreeSet<String> {
        &self.secrets
    }

    /// The plaintext file in its own format, for a tool that reads the
    /// file (kustomize); mappings keep their order.
    ///
    /// # Errors
    /// A document the format cannot hold.
    pub fn plaintext(&self) -> Result<Vec<u8>, SopsError> {
        let cannot = |e: String| SopsError::Malformed(e);
        match self.format {
            Format::Yaml => {
                let mut out = String::new();
                for (i, doc) in self.docs.iter().enumerate() {
                    if i > 0 {
                        out.push_str("---\n");
                    }
                    out.push_str(&serde_saphyr::to_string(doc).map_err(|e| cannot(e.to_string()))?);
                }
                Ok(out.into_bytes())
            }
            Format::Json => {
                let doc = self.docs.first().unwrap_or(&Node::Null);
                let mut out = serde_json::to_vec_pretty(doc).map_err(|e| cannot(e.to_string()))?;
                out.push(b'\n');
                Ok(out)
            }
            Format::Dotenv => {
                let doc = self.docs.first().unwrap_or(&Node::Null);
                tree::emit_dotenv(doc)
                    .map(String::into_bytes)
                    .map_err(cannot)
            }
            Format::Binary => Ok(self
                .docs
                .first()
                .and_then(|d| d.get(BINARY_KEY))
                .and_then(Node::as_str)
                .unwrap_or_default()
                .as_bytes()
                .to_vec()),
            Format::Ini => Err(ini()),
        }
    }
}

/// The one key of sops' binary envelope.
const BINARY_KEY: &str = "data";
/// The metadata's key (`sops_` prefixed in dotenv).
const METADATA_KEY: &str = "sops";

fn ini() -> SopsError {
    SopsError::Unsupported(
        "is an INI file encrypted with SOPS, which strata does not read; encrypt the values as YAML, JSON or dotenv instead".to_owned(),
    )
}

/// Whether `text` in `format` carries SOPS metadata: a top-level `sops`
/// mapping, or in dotenv `sops_mac`/`sops_version` entries. A file that
/// cannot be parsed is not.
pub fn is_encrypted(text: &str, format: Format) -> bool {
    if !text.contains(METADATA_KEY) {
        return false;
    }
    match format {
        Format::Ini => text.lines().any(|l| l.trim() == "[sops]"),
        _ => parse(text, format).is_ok_and(|(_, meta)| meta.is_some()),
    }
}

/// Decrypts `text`, a file in `format`, with the identities of `keys`;
/// `None` when it carries no SOPS metadata.
///
/// # Errors
/// No identity, none that fits, a file changed since it was encrypted
/// (a value or the MAC does not verify), or one strata cannot read.
pub fn decrypt(text: &str, format: Format, keys: &Keys) -> Result<Option<Decrypted>, SopsError> {
    if format == Format::Ini {
        return if is_encrypted(text, format) {
            Err(ini())
        } else {
            Ok(None)
        };
    }
    if !text.contains(METADATA_KEY) {
        return Ok(None);
    }
    let Ok((mut docs, meta)) = parse(text, format) else {
        // Not a document sops would read either: the caller's parser says
        // what is wrong with it.
        return Ok(None);
    };
    let Some(meta) = meta else { return Ok(None) };
    let meta = Metadata::read(&meta)?;
    let key = keys.data_key(&meta.age, &meta.other_kinds)?;
    let mut walk = Walk {
        key: &key,
        hash: Sha512::new(),
        mac_only_encrypted: meta.mac_only_encrypted,
        secrets: BTreeSet::new(),
    };
    if meta.mac_only_encrypted {
        walk.hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    for doc in &mut docs {
        walk.node(doc, &mut Vec::new())?;
    }
    let computed = walk
        .hash
        .finalize()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<String>();
    let stored = if meta.mac.is_empty() {
        String::new()
    } else {
        let aad = go_rfc3339(&meta.lastmodified);
        match cipher::decrypt_value(&meta.mac, &key, &aad) {
            Ok(Node::Str(mac)) => mac,
            _ => return Err(SopsError::MacMismatch),
        }
    };
    if stored != computed {
        return Err(SopsError::MacMismatch);
    }
    Ok(Some(Decrypted {
        format,
        docs,
        secrets: walk.secrets,
    }))
}

/// What sops hashes first when only encrypted values are in the MAC
/// (`mac_only_encrypted`): the SHA-256 of "sops".
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// `lastmodified` as sops formats it for the MAC's additional data: Go's
/// RFC 3339, which has no fraction of a second.
fn go_rfc3339(text: &str) -> String {
    match (text.find('.'), text.find('T')) {
        (Some(dot), Some(t)) if dot > t => {
            let end = text[dot + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(text.len(), |i| dot + 1 + i);
            format!("{}{}", &text[..dot], &text[end..])
        }
        _ => text.to_owned(),
    }
}

/// The documents of `text` without their metadata, and the metadata.
fn parse(text: &str, format: Format) -> Result<(Vec<Node>, Option<Node>), String> {
    let mut docs: Vec<Node> = match format {
        Format::Yaml => serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?,
        Format::Json | Format::Binary => {
            vec![serde_json::from_str(text).map_err(|e| e.to_string())?]
        }
        Format::Dotenv => vec![tree::parse_dotenv(text)?],
        Format::Ini => return Err("INI".to_owned()),
    };
    let mut meta = None;
    for (i, doc) in docs.iter_mut().enumerate() {
        let Node::Map(items) = doc else { continue };
        if format == Format::Dotenv {
            let (flat, rest): (Vec<_>, Vec<_>) = std::mem::take(items)
                .into_iter()
                .partition(|(k, _)| k.starts_with("sops_"));
            *items = rest;
            let known = flat
                .iter()
                .any(|(k, _)| k == "sops_mac" || k == "sops_version");
            if known {
                let flat = flat
                    .into_iter()
                    .map(|(k, v)| (k["sops_".len()..].to_owned(), v))
                    .collect();
                meta = Some(tree::unflatten(flat));
            } else {
                items.extend(flat);
            }
        } else if let Some(at) = items.iter().position(|(k, _)| k == METADATA_KEY) {
            let (_, m) = items.remove(at);
            if i == 0 {
                meta = Some(m);
            }
        }
    }
    if format == Format::Binary
        && meta.is_some()
        && docs.first().and_then(|d| d.get(BINARY_KEY)).is_none()
    {
        return Err("a binary envelope without data".to_owned());
    }
    Ok((docs, meta))
}

/// What strata reads of the `sops` metadata.
struct Metadata {
    /// `(recipient, enc)` of each age key.
    age: Vec<(String, String)>,
    /// The other kinds of keys the file is encrypted for.
    other_kinds: Vec<String>,
    lastmodified: String,
    mac: String,
    mac_only_encrypted: bool,
}

impl Metadata {
    fn read(meta: &Node) -> Result<Metadata, SopsError> {
        let bad = |m: &str| SopsError::Malformed(m.to_owned());
        if !matches!(meta, Node::Map(_)) {
            return Err(bad("its `sops` entry is not a mapping"));
        }
        let text = |key: &str| meta.get(key).and_then(Node::as_str).unwrap_or_default();
        let groups: Vec<&Node> = match meta.get("key_groups") {
            Some(Node::List(groups)) if groups.len() > 1 => {
                return Err(SopsError::Unsupported(format!(
                    "is encrypted with SOPS key groups ({} of them, Shamir secret sharing), which strata does not support; encrypt it for age recipients in one group",
                    groups.len()
                )));
            }
            Some(Node::List(groups)) => groups.iter().collect(),
            _ => vec![meta],
        };
        let mut age = Vec::new();
        let mut other_kinds = Vec::new();
        for group in groups {
            let Node::Map(items) = group else { continue };
            for (kind, keys) in items {
                let Node::List(keys) = keys else { continue };
                if kind == "age" {
                    for key in keys {
                        let field = |f: &str| key.get(f).and_then(Node::as_str).map(str::to_owned);
                        if let (Some(r), Some(e)) = (field("recipient"), field("enc")) {
                            age.push((r, e));
                        }
                    }
                } else if KEY_KINDS.contains(&kind.as_str()) && !keys.is_empty() {
                    other_kinds.push(kind.clone());
                }
            }
        }
        if text("lastmodified").is_empty() {
            return Err(bad("its metadata has no lastmodified"));
        }
        let mac_only_encrypted = match meta.get("mac_only_encrypted") {
            Some(Node::Bool(b)) => *b,
            Some(Node::Str(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        Ok(Metadata {
            age,
            other_kinds,
            lastmodified: text("lastmodified").to_owned(),
            mac: text("mac").to_owned(),
            mac_only_encrypted,
        })
    }
}

/// The kinds of master keys sops knows besides age.
const KEY_KINDS: [&str; 6] = ["pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"];

/// Decrypting a document's values in order, hashing them for the MAC.
struct Walk<'a> {
    key: &'a [u8; 32],
    hash: Sha512,
    mac_only_encrypted: bool,
    secrets: BTreeSet<String>,
}

impl Walk<'_> {
    fn node(&mut self, node: &mut Node, path: &mut Vec<String>) -> Result<(), SopsError> {
        match node {
            Node::Map(items) => {
                for (key, value) in items {
                    path.push(key.clone());
                    self.node(value, path)?;
                    path.pop();
                }
            }
            // List items add nothing to the path, as in sops.
            Node::List(items) => {
                for item in items {
                    self.node(item, path)?;
                }
            }
            Node::Str(text) if text.starts_with(cipher::PREFIX) => {
                let aad = format!("{}:", path.join(":"));
                let plain =
                    cipher::decrypt_value(text, self.key, &aad).map_err(|()| SopsError::Value {
                        path: path.join("."),
                    })?;
                if let Some(bytes) = plain.mac_bytes() {
                    self.hash.update(bytes.as_bytes());
                    if !bytes.is_empty() {
                        self.secrets.insert(bytes);
                    }
                }
                *node = plain;
            }
            other => {
                if !self.mac_only_encrypted
                    && let Some(bytes) = other.mac_bytes()
                {
                    self.hash.update(bytes.as_bytes());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
