//! sops' values: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, AES-256-GCM
//! with a 32-byte IV, the value's path as additional data.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::tree::Node;

/// How every encrypted value starts.
pub(super) const PREFIX: &str = "ENC[AES256_GCM,";

/// The value `text` decrypted with `key`, typed as its `type` says.
/// `Err` for anything that does not decrypt: a malformed value, a wrong
/// key, changed data or additional data (a moved value).
pub(super) fn decrypt_value(text: &str, key: &[u8; 32], aad: &str) -> Result<Node, ()> {
    let body = text
        .strip_prefix(PREFIX)
        .and_then(|t| t.strip_suffix(']'))
        .ok_or(())?;
    let (data, rest) = body
        .strip_prefix("data:")
        .and_then(|b| b.split_once(",iv:"))
        .ok_or(())?;
    let (iv, rest) = rest.split_once(",tag:").ok_or(())?;
    let (tag, kind) = rest.split_once(",type:").ok_or(())?;
    let decode = |s: &str| STANDARD.decode(s).map_err(|_| ());
    let (mut message, iv, tag) = (decode(data)?, decode(iv)?, decode(tag)?);
    if iv.len() != 32 || tag.len() != 16 {
        return Err(());
    }
    message.extend_from_slice(&tag);
    let cipher = AesGcm::<Aes256, U32>::new(key.into());
    let plain = cipher
        .decrypt(
            Nonce::<U32>::from_slice(&iv),
            Payload {
                msg: &message,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| ())?;
    let text = String::from_utf8(plain).map_err(|_| ())?;
    Ok(match kind {
        "str" | "bytes" | "time" | "comment" => Node::Str(text),
        "int" => Node::Int(text.trim_start_matches('+').parse().map_err(|_| ())?),
        "float" => Node::Float(text.parse().map_err(|_| ())?),
        "bool" => Node::Bool(match text.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return Err(()),
        }),
        _ => return Err(()),
    })
}
