//! The decoder against files the real sops wrote (tests/fixtures/sops/:
//! Flux's test data, and files made with sops 3.11.0), and against npm's
//! sops-age, an independent decoder.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).expect("fixture")
}

/// Flux's test key, which every fixture but one is encrypted for.
fn flux_key() -> Keys {
    Keys::from_identities(&read("flux/age.txt"))
}

fn open(name: &str) -> Result<Option<Decrypted>, SopsError> {
    decrypt(&read(name), Format::of_path(name), &flux_key())
}

fn values(name: &str) -> Vec<serde_json::Value> {
    open(name).expect("decrypts").expect("is SOPS").values()
}

#[test]
fn flux_fixtures_decrypt() {
    assert_eq!(
        values("flux/age.yaml"),
        [
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "age"}, "stringData": {"key": "value"}})
        ]
    );
    assert_eq!(values("flux/env.env"), [json!({"key": "value"})]);
    let binary = open("flux/file.txt").unwrap().unwrap();
    assert_eq!(binary.plaintext().unwrap(), b"value");
    let global = decrypt(
        &read("flux/global-secret.yaml"),
        Format::Yaml,
        &Keys::from_identities(&read("flux/age-global.txt")),
    )
    .unwrap()
    .unwrap();
    assert_eq!(global.values()[0]["stringData"]["key"], "global-value");
}

#[test]
fn sops_3_11_files_decrypt_in_every_format_and_type() {
    assert_eq!(
        values("strata/secret.json")[0]["stringData"],
        json!({"username": "admin", "password": "sops-json-Vq7t-never-print"})
    );
    let yaml = values("strata/secret.yaml");
    assert_eq!(yaml[0]["stringData"]["token"], "sops-yaml-Rb2k-never-print");
    assert_eq!(yaml[0]["metadata"]["name"], "api-token");
    assert_eq!(
        values("strata/app.env"),
        [
            json!({"API_KEY": "sops-dotenv-Hn5c-never-print", "MULTI": "line-one\nline-two", "PLAIN": "not-so-secret"})
        ]
    );
    assert_eq!(
        values("strata/types.yaml"),
        [json!({
            "string": "text", "int": 42, "negative": -7, "float": 1.25, "whole_float": 2,
            "yes": true, "no": false, "nothing": null, "empty": "",
            "nested": {"list": ["one", 2, {"key": "value"}]}, "comment_me": "x"
        })]
    );
    assert_eq!(
        values("strata/db.tfvars.json"),
        [json!({
            "db_password": "sops-tfvars-Kd8s-never-print", "replicas": 3, "ratio": 0.5,
            "enabled": true, "tags": {"team": "data", "tier": "gold"}, "zones": ["a", "b"]
        })]
    );
    assert_eq!(
        values("strata/mac-only.yaml"),
        [
            json!({"token": "sops-maconly-Zt4e-never-print", "note_plain": "left in the clear", "count": 5})
        ]
    );
}

#[test]
fn the_secrets_are_the_values_that_were_encrypted() {
    let decrypted = open("strata/configmap.yaml").unwrap().unwrap();
    let secrets: Vec<&str> = decrypted.secrets().iter().map(String::as_str).collect();
    assert_eq!(secrets, ["fast", "sops-configmap-Lw3j-never-print"]);
    assert!(!format!("{decrypted:?}").contains("never-print"));
}

#[test]
fn the_plaintext_keeps_the_format_and_order() {
    let env = open("strata/app.env").unwrap().unwrap();
    assert_eq!(
        String::from_utf8(env.plaintext().unwrap()).unwrap(),
        "API_KEY=sops-dotenv-Hn5c-never-print\nMULTI=line-one\\nline-two\nPLAIN=not-so-secret\n"
    );
    let yaml = open("strata/secret.yaml").unwrap().unwrap();
    let text = String::from_utf8(yaml.plaintext().unwrap()).unwrap();
    assert!(text.starts_with("apiVersion: v1\nkind: Secret\n"), "{text}");
    assert!(!text.contains("sops:"), "{text}");
    let json = open("strata/secret.json").unwrap().unwrap();
    let text = String::from_utf8(json.plaintext().unwrap()).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, values("strata/secret.json")[0]);
    assert!(text.find("apiVersion") < text.find("stringData"));
}

#[test]
fn files_without_sops_metadata_are_left_alone() {
    let keys = Keys::default();
    for (text, format) in [
        ("apiVersion: v1\nkind: ConfigMap\n", Format::Yaml),
        ("{\"a\": \"sops\"}", Format::Json),
        ("A=1\nsops_like=2\n", Format::Dotenv),
        ("not: [valid", Format::Yaml),
    ] {
        assert!(decrypt(text, format, &keys).unwrap().is_none(), "{text}");
        assert!(!is_encrypted(text, format));
    }
    assert!(is_encrypted(&read("strata/app.env"), Format::Dotenv));
    assert!(is_encrypted(&read("flux/file.txt"), Format::Binary));
}

#[test]
fn a_changed_value_or_mac_is_refused() {
    let text = read("strata/types.yaml");
    // A value left in the clear, changed: only the MAC can tell.
    let changed = text.replace("empty: \"\"", "empty: \"x\"");
    assert_ne!(changed, text);
    let err = decrypt(&changed, Format::Yaml, &flux_key()).unwrap_err();
    assert!(matches!(err, SopsError::MacMismatch), "{err}");
    // An encrypted value moved to another key: its path no longer fits.
    let moved = text.replace("comment_me:", "moved:");
    let err = decrypt(&moved, Format::Yaml, &flux_key()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the value at moved does not decrypt with the file's data key: it was changed or moved after sops encrypted it; restore it from a trusted commit, or edit the file with `sops`"
    );
    // The MAC itself removed, emptied or replaced.
    let mac_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("mac:"))
        .unwrap();
    for replacement in [
        "    mac: \"\"",
        "    mac: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]",
    ] {
        let forged = text.replace(mac_line, replacement);
        let err = decrypt(&forged, Format::Yaml, &flux_key()).unwrap_err();
        assert!(
            matches!(err, SopsError::MacMismatch),
            "{replacement}: {err}"
        );
    }
    // mac_only_encrypted: what was left in the clear is not covered, what
    // was encrypted is.
    let mac_only = read("strata/mac-only.yaml");
    let clear = mac_only.replace("left in the clear", "changed in the clear");
    assert!(
        decrypt(&clear, Format::Yaml, &flux_key())
            .unwrap()
            .is_some()
    );
    let count = mac_only.lines().find(|l| l.starts_with("count:")).unwrap();
    let forged = mac_only.replace(count, "count: 6");
    let err = decrypt(&forged, Format::Yaml, &flux_key()).unwrap_err();
    assert!(matches!(err, SopsError::MacMismatch), "{err}");
}

#[test]
fn keys_missing_or_wrong_are_named() {
    let text = read("strata/secret.yaml");
    let none = Keys::from_env(&crate::environment::Environment::default());
    let err = decrypt(&text, Format::Yaml, &none).unwrap_err();
    assert!(matches!(err, SopsError::NoKey { .. }), "{err}");
    assert!(
        err.to_string().contains(
            "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29, but strata found no age identity"
        ),
        "{err}"
    );
    let other = Keys::from_identities(&read("flux/age-global.txt"));
    let err = decrypt(&text, Format::Yaml, &other).unwrap_err();
    assert!(matches!(err, SopsError::WrongKey { count: 1, .. }), "{err}");
    let bad = Keys::from_identities("AGE-SECRET-KEY-1NOTAKEY");
    let err = decrypt(&text, Format::Yaml, &bad).unwrap_err();
    assert!(
        err.to_string().contains("entry 1 is not an age identity"),
        "{err}"
    );
    // Several identities, one of them right, as SOPS_AGE_KEY takes them.
    let both = Keys::from_identities(&format!(
        "{}\n{}",
        read("flux/age-global.txt"),
        read("flux/age.txt")
    ));
    assert!(decrypt(&text, Format::Yaml, &both).unwrap().is_some());
}

#[test]
fn keys_come_from_the_environment_as_sops_finds_them() {
    let home = tempfile::tempdir().unwrap();
    let env = |vars: &[(&str, &Path)]| crate::environment::Environment {
        vars: vars
            .iter()
            .map(|(k, v)| ((*k).into(), v.as_os_str().to_owned()))
            .collect(),
    };
    let text = read("strata/secret.yaml");
    // SOPS_AGE_KEY_FILE.
    let file = fixtures().join("flux/age.txt");
    let keys = Keys::from_env(&env(&[("SOPS_AGE_KEY_FILE", &file)]));
    assert!(decrypt(&text, Format::Yaml, &keys).unwrap().is_some());
    // A SOPS_AGE_KEY_FILE that does not exist is an error naming it.
    let missing = home.path().join("nope.txt");
    let keys = Keys::from_env(&env(&[("SOPS_AGE_KEY_FILE", &missing)]));
    let err = decrypt(&text, Format::Yaml, &keys).unwrap_err();
    assert!(err.to_string().contains("SOPS_AGE_KEY_FILE ("), "{err}");
    // The user's sops/age/keys.txt.
    let config = home.path().join(if cfg!(target_os = "macos") {
        "Library/Application Support/sops/age"
    } else {
        ".config/sops/age"
    });
    std::fs::create_dir_all(&config).unwrap();
    std::fs::copy(&file, config.join("keys.txt")).unwrap();
    let keys = Keys::from_env(&env(&[("HOME", home.path())]));
    assert!(decrypt(&text, Format::Yaml, &keys).unwrap().is_some());
    assert!(!format!("{keys:?}").contains("AGE-SECRET-KEY"));
}

#[test]
fn lastmodified_is_formatted_as_go_does() {
    assert_eq!(go_rfc3339("2024-11-12T13:33:42Z"), "2024-11-12T13:33:42Z");
    assert_eq!(
        go_rfc3339("2024-11-12T13:33:42.123Z"),
        "2024-11-12T13:33:42Z"
    );
    assert_eq!(
        go_rfc3339("2024-11-12T13:33:42.5+02:00"),
        "2024-11-12T13:33:42+02:00"
    );
}

#[test]
fn the_format_follows_the_file_name_as_in_sops() {
    for (name, format) in [
        ("a.yaml", Format::Yaml),
        ("a.YML", Format::Yaml),
        ("x.tfvars.json", Format::Json),
        ("app.env", Format::Dotenv),
        ("a.ini", Format::Ini),
        ("prod.tfvars", Format::Binary),
        ("file.txt", Format::Binary),
    ] {
        assert_eq!(Format::of_path(name), format, "{name}");
    }
}

/// npm's sops-age (installed by scripts/setup-tools.sh into .tools/npm)
/// decrypts every fixture to the same values.
#[test]
fn npm_sops_age_agrees() {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools");
    let module = tools.join("npm/node_modules/sops-age");
    assert!(
        module.join("package.json").is_file(),
        "{} is missing: this test compares with npm's sops-age; run scripts/setup-tools.sh",
        module.display()
    );
    let node = which::which("node").expect("node is on PATH (scripts/setup-tools.sh needs it too)");
    let script = r#"
const fs = require("fs");
const { decryptSops } = require(process.argv[2]);
(async () => {
  const out = {};
  for (const [file, type] of process.argv.slice(4).map((a) => a.split("|"))) {
    out[file] = await decryptSops(fs.readFileSync(file, "utf8"), { secretKey: process.argv[3], fileType: type });
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"#;
    let key = read("flux/age.txt")
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_owned();
    let files = [
        ("flux/age.yaml", "yaml"),
        ("flux/env.env", "env"),
        ("strata/secret.json", "json"),
        ("strata/secret.yaml", "yaml"),
        ("strata/configmap.yaml", "yaml"),
        ("strata/app.env", "env"),
        ("strata/db.tfvars.json", "json"),
        ("strata/types.yaml", "yaml"),
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("decrypt.js"), script).unwrap();
    let output = std::process::Command::new(node)
        .arg(dir.path().join("decrypt.js"))
        .arg(&module)
        .arg(&key)
        .args(
            files
                .iter()
                .map(|(f, t)| format!("{}|{t}", fixtures().join(f).display())),
        )
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    for (file, _) in files {
        let ours = values(file).remove(0);
        let path = fixtures().join(file).display().to_string();
        assert_eq!(theirs[&path], ours, "{file}");
    }
}
