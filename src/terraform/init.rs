//! Whether a stack needs `terraform init`, and whether that init may run
//! beside others.
//!
//! `init` is the most expensive Terraform command strata runs, and most of
//! the time it has nothing to do. It installs three things: module sources,
//! providers, and the backend. [`Requirements::read`] reads what a root
//! module (and the local modules it calls) asks for of each, from the
//! `.tf` and `.tf.json` files, without evaluating anything. Then:
//!
//! - a module that asks for none of them (only Terraform's built-in
//!   provider, local state) needs no init at all: `plan` works as it is;
//! - otherwise init runs once, and again only when the requirements, the
//!   dependency lock file, the backend configuration or the Terraform
//!   version change: a fingerprint of them is kept in the stack's data
//!   directory (`.terraform/strata-init`), so it goes away with it;
//! - an init that may download providers is serialized with the others,
//!   because Terraform's plugin cache is not safe for concurrent writers.
//!   One whose locked providers are all in the cache already has nothing to
//!   write there, and runs in parallel.
//!
//! This reading only saves work. When it is wrong (a requirement it cannot
//! see), Terraform says that init is needed, and the caller runs it and
//! plans again ([`needs_init`]).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The file in a stack's data directory holding the fingerprint of its
/// last successful init.
const MARKER: &str = "strata-init";

/// How deep local module calls are followed.
const MAX_MODULE_DEPTH: usize = 16;

/// What a root module asks `terraform init` to install.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Requirements {
    /// Module calls that are not local paths, by call path (`vpc`,
    /// `app.db`): `(call, source, version)`.
    pub modules: BTreeSet<(String, String, String)>,
    /// Local module calls, `call = source`: init records each call, so it
    /// is needed once per call.
    pub local_modules: BTreeSet<String>,
    /// The directories of the local modules called, recursively
    /// (canonical paths): inputs of the stack as much as its own files.
    pub local_dirs: BTreeSet<PathBuf>,
    /// Providers other than Terraform's built-in one: local names, and
    /// the sources of `required_providers`.
    pub providers: BTreeSet<String>,
    /// The `backend` or `cloud` block, rendered.
    pub backend: Option<String>,
    /// A file could not be read: nothing can be skipped.
    pub unreadable: bool,
}

impl Requirements {
    /// Reads the requirements of the root module in `dir`.
    pub fn read(dir: &Path) -> Requirements {
        let mut out = Requirements::default();
        out.read_module(dir, "", &mut Vec::new(), true);
        out
    }

    /// Whether the state is local: no backend, or the `local` one.
    pub fn local_state(&self) -> bool {
        self.backend.as_deref().is_none_or(|b| {
            b.starts_with("backend \"local\"") || b.starts_with("backend {\"local\"")
        })
    }

    /// Whether init has anything to install.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
            && self.local_modules.is_empty()
            && self.providers.is_empty()
            && self.backend.is_none()
            && !self.unreadable
    }

    /// Reads the module in `dir`, called as `prefix` (empty for the root);
    /// `ancestors` are the directories of the calls that lead here.
    fn read_module(&mut self, dir: &Path, prefix: &str, ancestors: &mut Vec<PathBuf>, root: bool) {
        let Ok(canonical) = dir.canonicalize() else {
            self.unreadable = true;
            return;
        };
        // A module that calls itself is Terraform's error to report.
        if ancestors.len() > MAX_MODULE_DEPTH || ancestors.contains(&canonical) {
            self.unreadable = true;
            return;
        }
        if !root {
            self.local_dirs.insert(canonical.clone());
        }
        ancestors.push(canonical);
        self.read_files(dir, prefix, ancestors, root);
        ancestors.pop();
    }

    fn read_files(&mut self, dir: &Path, prefix: &str, ancestors: &mut Vec<PathBuf>, root: bool) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            self.unreadable = true;
            return;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                p.is_file() && (name.ends_with(".tf") || name.ends_with(".tf.json"))
            })
            .collect();
        files.sort();
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                self.unreadable = true;
                continue;
            };
            if file.extension().is_some_and(|e| e == "json") {
                match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(json) => self.read_json(dir, &json, prefix, ancestors, root),
                    // Terraform reports the syntax error itself.
                    Err(_) => self.unreadable = true,
                }
                continue;
            }
            match hcl::parse(&text) {
                Ok(body) => self.read_body(dir, &body, prefix, ancestors, root),
                Err(_) => self.unreadable = true,
            }
        }
    }

    /// The same reading for Terraform's JSON syntax (`.tf.json`), where
    /// blocks are objects keyed by their labels.
    fn read_json(
        &mut self,
        dir: &Path,
        json: &serde_json::Value,
        prefix: &str,
        ancestors: &mut Vec<PathBuf>,
        root: bool,
    ) {
        use serde_json::Value;
        // A block type may be an object, or an array of objects.
        fn objects(v: Option<&Value>) -> Vec<&serde_json::Map<String, Value>> {
            match v {
                Some(Value::Object(o)) => vec![o],
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_object).collect(),
                _ => Vec::new(),
            }
        }
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        for terraform in objects(json.get("terraform")) {
            for required in objects(terraform.get("required_providers")) {
                for (name, spec) in required {
                    self.provider(name);
                    self.providers.insert(format!("{name} = {spec}"));
                }
            }
            if root {
                for key in ["backend", "cloud"] {
                    if let Some(b) = terraform.get(key) {
                        self.backend = Some(format!("{key} {b}"));
                    }
                }
            }
        }
        for providers in objects(json.get("provider")) {
            for name in providers.keys() {
                self.provider(name);
            }
        }
        for kind in ["resource", "data", "ephemeral", "action", "list"] {
            for by_type in objects(json.get(kind)) {
                for (ty, named) in by_type {
                    let explicit = objects(Some(named))
                        .into_iter()
                        .flat_map(|o| o.values())
                        .flat_map(|b| objects(Some(b)))
                        .find_map(|b| b.get("provider").map(|p| text(Some(p))));
                    let name = explicit
                        .unwrap_or_else(|| ty.split('_').next().unwrap_or_default().to_owned());
                    self.provider(name.split('.').next().unwrap_or_default());
                }
            }
        }
        for modules in objects(json.get("module")) {
            for (name, calls) in modules {
                for call in objects(Some(calls)) {
                    let version = text(call.get("version"));
                    self.module_call(
                        dir,
                        prefix,
                        name,
                        text(call.get("source")),
                        version,
                        ancestors,
                    );
                }
            }
        }
    }

    fn read_body(
        &mut self,
        dir: &Path,
        body: &hcl::Body,
        prefix: &str,
        ancestors: &mut Vec<PathBuf>,
        root: bool,
    ) {
        for block in body.blocks() {
            let label = |i: usize| block.labels.get(i).map(|l| l.as_str().to_owned());
            match block.identifier.as_str() {
                "terraform" => self.read_terraform_block(&block.body, root),
                "provider" => {
                    if let Some(name) = label(0) {
                        self.provider(&name);
                    }
                }
                "resource" | "data" | "ephemeral" | "action" | "list" => {
                    let explicit = block
                        .body
                        .attributes()
                        .find(|a| a.key.as_str() == "provider")
                        .map(|a| expression_text(&a.expr));
                    let name = explicit.or_else(|| {
                        label(0).map(|t| t.split('_').next().unwrap_or_default().to_owned())
                    });
                    if let Some(name) = name {
                        self.provider(name.split('.').next().unwrap_or_default());
                    }
                }
                "module" => {
                    let attr = |key: &str| {
                        block
                            .body
                            .attributes()
                            .find(|a| a.key.as_str() == key)
                            .map(|a| expression_text(&a.expr))
                    };
                    let name = label(0).unwrap_or_default();
                    let source = attr("source").unwrap_or_default();
                    let version = attr("version").unwrap_or_default();
                    self.module_call(dir, prefix, &name, source, version, ancestors);
                }
                _ => {}
            }
        }
    }

    /// A `module` call: a local one is read in turn.
    fn module_call(
        &mut self,
        dir: &Path,
        prefix: &str,
        name: &str,
        source: String,
        version: String,
        ancestors: &mut Vec<PathBuf>,
    ) {
        let call = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        };
        if source.starts_with("./") || source.starts_with("../") {
            self.local_modules.insert(format!("{call} = {source}"));
            self.read_module(&dir.join(&source), &call, ancestors, false);
        } else {
            self.modules.insert((call, source, version));
        }
    }

    fn read_terraform_block(&mut self, body: &hcl::Body, root: bool) {
        for inner in body.blocks() {
            match inner.identifier.as_str() {
                "required_providers" => {
                    for attr in inner.body.attributes() {
                        self.provider(attr.key.as_str());
                        self.providers.insert(format!(
                            "{} = {}",
                            attr.key,
                            expression_text(&attr.expr)
                        ));
                    }
                }
                // Only the root module's backend counts; Terraform ignores
                // (and warns about) one in a called module.
                "backend" | "cloud" if root => {
                    self.backend = Some(hcl::format::to_string(inner).unwrap_or_default());
                }
                _ => {}
            }
        }
    }

    fn provider(&mut self, name: &str) {
        if !name.is_empty() && name != "terraform" {
            self.providers.insert(name.to_owned());
        }
    }
}

/// An expression as text: a string's value, anything else as HCL.
fn expression_text(expr: &hcl::Expression) -> String {
    match expr {
        hcl::Expression::String(s) => s.clone(),
        other => hcl::format::to_string(other).unwrap_or_else(|_| format!("{other:?}")),
    }
}

/// The fingerprint of what an init of `dir` installs: the requirements,
/// the dependency lock file, the backend configuration arguments and the
/// Terraform version.
pub fn fingerprint(
    dir: &Path,
    reqs: &Requirements,
    version: &str,
    backend_args: &[String],
) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "terraform {version}");
    for (call, source, v) in &reqs.modules {
        let _ = writeln!(text, "module {call} {source} {v}");
    }
    for source in &reqs.local_modules {
        let _ = writeln!(text, "local module {source}");
    }
    for p in &reqs.providers {
        let _ = writeln!(text, "provider {p}");
    }
    if let Some(b) = &reqs.backend {
        let _ = writeln!(text, "backend {b}");
    }
    for a in backend_args {
        let _ = writeln!(text, "backend arg {a}");
    }
    let mut hash = Sha256::new();
    hash.update(text.as_bytes());
    match std::fs::read(dir.join(".terraform.lock.hcl")) {
        Ok(lock) => {
            hash.update(b"lock\n");
            hash.update(&lock);
        }
        Err(_) => hash.update(b"no lock\n"),
    }
    format!("{:x}", hash.finalize())
}

/// What to do before planning a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing to install: no init.
    Nothing,
    /// Installed by an earlier init, and unchanged since.
    UpToDate,
    /// Init, alone if it may download providers into the shared cache.
    Init { exclusive: bool },
}

/// Decides what `dir` needs, given where its data directory is and where
/// the plugin cache is.
pub fn decide(
    dir: &Path,
    data_dir: &Path,
    plugin_cache: &Path,
    reqs: &Requirements,
    fingerprint: &str,
) -> Need {
    if reqs.is_empty() {
        return Need::Nothing;
    }
    let recorded = std::fs::read_to_string(data_dir.join(MARKER)).unwrap_or_default();
    if !reqs.unreadable && recorded.trim() == fingerprint {
        return Need::UpToDate;
    }
    Need::Init {
        exclusive: reqs.unreadable || !providers_cached(dir, plugin_cache, reqs),
    }
}

/// Records a successful init of the stack whose data directory is
/// `data_dir`. Failing to record only costs an init next time.
pub fn record(data_dir: &Path, fingerprint: &str) {
    if let Err(e) = std::fs::create_dir_all(data_dir)
        .and_then(|()| std::fs::write(data_dir.join(MARKER), format!("{fingerprint}\n")))
    {
        tracing::debug!(dir = %data_dir.display(), "cannot record the init: {e}");
    }
}

/// Whether every provider the lock file names is in the plugin cache for
/// this platform, and the lock file names at least as many providers as
/// the module uses: then init writes nothing to the cache.
fn providers_cached(dir: &Path, cache: &Path, reqs: &Requirements) -> bool {
    let used: BTreeSet<&str> = reqs
        .providers
        .iter()
        .filter(|p| !p.contains(' '))
        .map(String::as_str)
        .collect();
    if used.is_empty() {
        return true;
    }
    let Ok(text) = std::fs::read_to_string(dir.join(".terraform.lock.hcl")) else {
        return false;
    };
    let Ok(body) = hcl::parse(&text) else {
        return false;
    };
    let platform = platform();
    let mut locked = 0;
    for block in body
        .blocks()
        .filter(|b| b.identifier.as_str() == "provider")
    {
        let Some(source) = block.labels.first().map(|l| l.as_str().to_owned()) else {
            return false;
        };
        let Some(version) = block
            .body
            .attributes()
            .find(|a| a.key.as_str() == "version")
            .map(|a| expression_text(&a.expr))
        else {
            return false;
        };
        if !cache.join(&source).join(&version).join(&platform).is_dir() {
            return false;
        }
        locked += 1;
    }
    locked >= used.len()
}

/// Terraform's name for this platform, as in the plugin cache's layout.
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{}_{arch}", std::env::consts::OS)
}

/// Whether Terraform's error output says the working directory needs
/// `terraform init` (a module, provider or backend not installed).
pub fn needs_init(stderr: &str) -> bool {
    stderr.contains("terraform init")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    #[test]
    fn built_in_resources_need_nothing() {
        let dir = module(&[(
            "main.tf",
            r#"
resource "terraform_data" "a" { input = "x" }
data "terraform_remote_state" "net" {
  backend = "local"
  config = { path = "../net/terraform.tfstate" }
}
output "a" { value = terraform_data.a.output }
"#,
        )]);
        let reqs = Requirements::read(dir.path());
        assert!(reqs.is_empty(), "{reqs:?}");
        let data = dir.path().join(".terraform");
        assert_eq!(
            decide(dir.path(), &data, dir.path(), &reqs, "f"),
            Need::Nothing
        );
    }

    #[test]
    fn providers_modules_and_backends_are_read_from_hcl_and_json() {
        let dir = module(&[
            (
                "main.tf",
                r#"
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.0" }
  }
  backend "s3" { bucket = "b" }
}
resource "random_id" "x" { byte_length = 4 }
resource "aws_s3_bucket" "b" { provider = aws.west }
module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.1.0"
}
module "local" { source = "./modules/thing" }
"#,
            ),
            (
                "modules/thing/main.tf",
                r#"
resource "google_storage_bucket" "x" {}
terraform {
  backend "gcs" {}
}
"#,
            ),
            (
                "extra.tf.json",
                r#"{"resource": {"null_resource": {"n": {}}}}"#,
            ),
        ]);
        let reqs = Requirements::read(dir.path());
        for p in ["aws", "random", "google", "null"] {
            assert!(reqs.providers.contains(p), "{p}: {reqs:?}");
        }
        assert!(reqs.providers.iter().any(|p| p.contains("hashicorp/aws")));
        assert!(reqs.modules.contains(&(
            "vpc".to_owned(),
            "terraform-aws-modules/vpc/aws".to_owned(),
            "5.1.0".to_owned()
        )));
        assert!(reqs.local_modules.contains("local = ./modules/thing"));
        let backend = reqs.backend.clone().unwrap();
        assert!(
            backend.contains("s3") && !backend.contains("gcs"),
            "{backend}"
        );
        assert!(!reqs.unreadable);
    }

    #[test]
    fn local_state_is_no_backend_or_the_local_one() {
        let local = |files: &[(&str, &str)]| Requirements::read(module(files).path()).local_state();
        assert!(local(&[(
            "main.tf",
            "resource \"terraform_data\" \"a\" {}\n"
        )]));
        assert!(local(&[(
            "main.tf",
            "terraform {\n  backend \"local\" {\n    path = \"x.tfstate\"\n  }\n}\n"
        )]));
        assert!(local(&[(
            "main.tf.json",
            r#"{"terraform": {"backend": {"local": {"path": "x"}}}}"#
        )]));
        assert!(!local(&[(
            "main.tf",
            "terraform {\n  backend \"s3\" {}\n}\n"
        )]));
        assert!(!local(&[(
            "main.tf.json",
            r#"{"terraform": {"backend": {"s3": {}}}}"#
        )]));
        assert!(!local(&[("main.tf", "terraform {\n  cloud {}\n}\n")]));
    }

    #[test]
    fn the_fingerprint_moves_with_what_init_installs_and_nothing_else() {
        let dir = module(&[(
            "main.tf",
            "module \"m\" {\n  source = \"git::https://example.com/m.git?ref=v1\"\n}\nresource \"terraform_data\" \"a\" {}\n",
        )]);
        let print = |d: &Path| fingerprint(d, &Requirements::read(d), "1.15.5", &[]);
        let first = print(dir.path());
        let data = dir.path().join(".terraform");
        assert_eq!(
            decide(
                dir.path(),
                &data,
                dir.path(),
                &Requirements::read(dir.path()),
                &first
            ),
            Need::Init { exclusive: false },
            "no providers: nothing to race on in the cache"
        );
        record(&data, &first);
        assert_eq!(
            decide(
                dir.path(),
                &data,
                dir.path(),
                &Requirements::read(dir.path()),
                &first
            ),
            Need::UpToDate
        );
        // A new resource does not need init.
        std::fs::write(
            dir.path().join("more.tf"),
            "resource \"terraform_data\" \"b\" { input = 1 }\n",
        )
        .unwrap();
        assert_eq!(print(dir.path()), first);
        // A new module version, a lock file, another Terraform do.
        std::fs::write(
            dir.path().join("main.tf"),
            "module \"m\" {\n  source = \"git::https://example.com/m.git?ref=v2\"\n}\n",
        )
        .unwrap();
        let second = print(dir.path());
        assert_ne!(second, first);
        std::fs::write(dir.path().join(".terraform.lock.hcl"), "# lock\n").unwrap();
        assert_ne!(print(dir.path()), second);
        let reqs = Requirements::read(dir.path());
        assert_ne!(
            fingerprint(dir.path(), &reqs, "1.16.0", &[]),
            fingerprint(dir.path(), &reqs, "1.15.5", &[])
        );
    }

    #[test]
    fn an_init_that_may_download_is_exclusive_unless_the_cache_has_every_locked_provider() {
        let dir = module(&[
            (
                "main.tf",
                "resource \"random_id\" \"x\" { byte_length = 4 }\n",
            ),
            (
                ".terraform.lock.hcl",
                "provider \"registry.terraform.io/hashicorp/random\" {\n  version = \"3.6.0\"\n  hashes = [\"h1:x\"]\n}\n",
            ),
        ]);
        let cache = tempfile::tempdir().unwrap();
        let reqs = Requirements::read(dir.path());
        let data = dir.path().join(".terraform");
        assert_eq!(
            decide(dir.path(), &data, cache.path(), &reqs, "f"),
            Need::Init { exclusive: true }
        );
        std::fs::create_dir_all(
            cache
                .path()
                .join("registry.terraform.io/hashicorp/random/3.6.0")
                .join(platform()),
        )
        .unwrap();
        assert_eq!(
            decide(dir.path(), &data, cache.path(), &reqs, "f"),
            Need::Init { exclusive: false }
        );
    }

    #[test]
    fn every_module_call_counts_even_of_the_same_source() {
        let one = module(&[
            ("main.tf", "module \"a\" {\n  source = \"./m\"\n}\n"),
            ("m/main.tf", "module \"inner\" {\n  source = \"./n\"\n}\n"),
            ("m/n/main.tf", "resource \"terraform_data\" \"x\" {}\n"),
        ]);
        let reqs = Requirements::read(one.path());
        assert_eq!(
            reqs.local_modules,
            BTreeSet::from(["a = ./m".to_owned(), "a.inner = ./n".to_owned()])
        );
        std::fs::write(
            one.path().join("more.tf"),
            "module \"b\" {\n  source = \"./m\"\n}\n",
        )
        .unwrap();
        let more = Requirements::read(one.path());
        assert!(more.local_modules.contains("b.inner = ./n"), "{more:?}");
        // A module that calls itself is left to Terraform.
        std::fs::write(
            one.path().join("m/n/loop.tf"),
            "module \"again\" {\n  source = \"../\"\n}\n",
        )
        .unwrap();
        assert!(Requirements::read(one.path()).unreadable);
    }

    #[test]
    fn unreadable_files_never_skip_init() {
        let dir = module(&[("main.tf", "resource \"terraform_data\" \"a\" {\n")]);
        let reqs = Requirements::read(dir.path());
        assert!(reqs.unreadable && !reqs.is_empty());
        let data = dir.path().join(".terraform");
        record(&data, "f");
        assert_eq!(
            decide(dir.path(), &data, dir.path(), &reqs, "f"),
            Need::Init { exclusive: true }
        );
    }

    #[test]
    fn terraform_asking_for_init_is_recognised() {
        assert!(needs_init(
            "Error: Module not installed\n\nThis module is not yet installed. Run \"terraform init\" to install all"
        ));
        assert!(!needs_init("Error: Invalid reference"));
    }
}
