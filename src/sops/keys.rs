//! The age identities that unwrap a file's data key, found where sops
//! looks for them.

use std::io::Read as _;
use std::path::PathBuf;

use base64::Engine as _;

use super::SopsError;
use crate::environment::Environment;

/// Where age identities come from. Read only when a file needs them.
#[derive(Clone, Default)]
pub struct Keys {
    /// `SOPS_AGE_KEY`: identities themselves.
    key: Option<String>,
    /// `SOPS_AGE_KEY_FILE`.
    key_file: Option<PathBuf>,
    /// `sops/age/keys.txt` in the user's configuration directory, read
    /// when it exists.
    user_file: Option<PathBuf>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.searched())
    }
}

impl Keys {
    /// The places sops reads identities from, in `env`.
    pub fn from_env(env: &Environment) -> Keys {
        let var = |name: &str| {
            env.get(name)
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string_lossy().into_owned())
        };
        let home = var("HOME").map(PathBuf::from);
        // Go's os.UserConfigDir, with XDG_CONFIG_HOME also on macOS as sops.
        let config = var("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| {
            home.map(|h| {
                if cfg!(target_os = "macos") {
                    h.join("Library/Application Support")
                } else {
                    h.join(".config")
                }
            })
        });
        Keys {
            key: var("SOPS_AGE_KEY"),
            key_file: var("SOPS_AGE_KEY_FILE").map(PathBuf::from),
            user_file: config.map(|c| c.join("sops/age/keys.txt")),
        }
    }

    /// Identities given directly (as `SOPS_AGE_KEY` gives them).
    pub fn from_identities(text: &str) -> Keys {
        Keys {
            key: Some(text.to_owned()),
            ..Keys::default()
        }
    }

    /// Where identities are looked for, for messages.
    fn searched(&self) -> String {
        let mut places = vec!["SOPS_AGE_KEY".to_owned(), "SOPS_AGE_KEY_FILE".to_owned()];
        if let Some(file) = &self.user_file {
            places.push(file.display().to_string());
        }
        places.join(", ")
    }

    /// Every identity found.
    fn identities(&self) -> Result<Vec<age::x25519::Identity>, SopsError> {
        let mut out = Vec::new();
        if let Some(key) = &self.key {
            // One per line, or several on a line separated by spaces or
            // commas, as sops takes them.
            let tokens = key
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .flat_map(|l| l.split([' ', ',', '\t']))
                .filter(|t| !t.is_empty());
            for (i, token) in tokens.enumerate() {
                out.push(token.parse().map_err(|_| SopsError::Identities {
                    location: "SOPS_AGE_KEY".to_owned(),
                    message: format!("entry {} is not an age identity (AGE-SECRET-KEY-1…)", i + 1),
                })?);
            }
        }
        let files = [
            self.key_file.as_ref().map(|f| (f, true)),
            self.user_file.as_ref().map(|f| (f, false)),
        ];
        for (file, required) in files.into_iter().flatten() {
            let location = if required {
                format!("SOPS_AGE_KEY_FILE ({})", file.display())
            } else {
                file.display().to_string()
            };
            let text = match std::fs::read_to_string(file) {
                Ok(text) => text,
                Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(SopsError::Identities {
                        location,
                        message: e.to_string(),
                    });
                }
            };
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                out.push(line.parse().map_err(|_| SopsError::Identities {
                    location: location.clone(),
                    message: format!(
                        "line {} is not an age identity (AGE-SECRET-KEY-1…) nor a # comment",
                        i + 1
                    ),
                })?);
            }
        }
        Ok(out)
    }

    /// The file's data key, unwrapped from one of its age stanzas
    /// (`(recipient, armored enc)`).
    pub(super) fn data_key(
        &self,
        stanzas: &[(String, String)],
        other_kinds: &[String],
    ) -> Result<[u8; 32], SopsError> {
        if stanzas.is_empty() {
            return Err(SopsError::NoAgeRecipient {
                kinds: if other_kinds.is_empty() {
                    "no key at all".to_owned()
                } else {
                    other_kinds.join(", ")
                },
            });
        }
        let recipients = stanzas
            .iter()
            .map(|(r, _)| r.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let identities = self.identities()?;
        if identities.is_empty() {
            return Err(SopsError::NoKey {
                recipients,
                searched: self.searched(),
            });
        }
        for (_, enc) in stanzas {
            let Some(file) = dearmor(enc) else {
                return Err(SopsError::Malformed(
                    "an age stanza's enc is not an armored age file".to_owned(),
                ));
            };
            let decryptor = age::Decryptor::new(&file[..]).map_err(|e| {
                SopsError::Malformed(format!("an age stanza's enc is not an age file: {e}"))
            })?;
            let reader = decryptor.decrypt(identities.iter().map(|i| i as &dyn age::Identity));
            let mut key = Vec::new();
            match reader {
                Ok(mut reader) => {
                    reader.read_to_end(&mut key).map_err(|e| {
                        SopsError::Malformed(format!("an age stanza does not decrypt: {e}"))
                    })?;
                    return key.try_into().map_err(|_| {
                        SopsError::Malformed("the data key is not 32 bytes".to_owned())
                    });
                }
                Err(age::DecryptError::NoMatchingKeys) => {}
                Err(e) => {
                    return Err(SopsError::Malformed(format!(
                        "an age stanza does not decrypt: {e}"
                    )));
                }
            }
        }
        Err(SopsError::WrongKey {
            recipients,
            count: identities.len(),
            searched: self.searched(),
        })
    }
}

/// The binary age file inside its ASCII armor.
fn dearmor(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let body = text
        .strip_prefix("-----BEGIN AGE ENCRYPTED FILE-----")?
        .strip_suffix("-----END AGE ENCRYPTED FILE-----")?;
    let joined: String = body.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(joined)
        .ok()
}
