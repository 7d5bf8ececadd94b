//! End-to-end tests of `checkout` against throw-away repositories built with the `git` CLI.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use super::{Snapshot, SourceError, SourceSpec, checkout};

/// A scratch directory holding source repositories and a state directory.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `git init` a repository named `name` with `main` as its initial branch.
    fn repo(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        git(&path, &["init", "-q"]);
        path
    }

    fn checkout(&self, repo: &str, reference: Option<&str>) -> Result<Snapshot, SourceError> {
        self.run(repo, reference, false)
    }

    fn worktree(&self, repo: &str) -> Result<Snapshot, SourceError> {
        self.run(repo, None, true)
    }

    fn run(
        &self,
        repo: &str,
        reference: Option<&str>,
        worktree: bool,
    ) -> Result<Snapshot, SourceError> {
        let spec = SourceSpec {
            repo: repo.to_owned(),
            reference: reference.map(str::to_owned),
            worktree,
        };
        checkout(&spec, &self.state(), &AtomicBool::new(false))
    }
}

/// Run git in `dir` with an isolated configuration; panics on failure, returns trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    git_with_input(dir, args, None)
}

fn git_with_input(dir: &Path, args: &[&str], input: Option<&str>) -> String {
    use std::io::Write;
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "user.name=Strata Test",
            "-c",
            "user.email=test@strata.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
        ])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("git runs");
    if let Some(input) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn write(root: &Path, path: &str, content: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Write files and commit everything; returns the commit id.
fn commit(repo: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (path, content) in files {
        write(repo, path, content);
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "--allow-empty", "-m", message]);
    git(repo, &["rev-parse", "HEAD"])
}

fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn exists(root: &Path, path: &str) -> bool {
    std::fs::symlink_metadata(root.join(path)).is_ok()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn default_is_the_branch_checked_out_in_the_local_repo() {
    let f = Fixture::new();
    let repo = f.repo("infra");
    commit(&repo, &[("a.txt", "a")], "c1");
    git(&repo, &["checkout", "-q", "-b", "feature"]);
    let feature = commit(&repo, &[("b.txt", "b")], "c2");

    let snap = f.checkout(s(&repo), None).unwrap();
    assert_eq!(snap.reference, "feature");
    assert_eq!(snap.commit.as_deref(), Some(feature.as_str()));
    assert_eq!(snap.repo, s(&repo));
    assert!(!snap.worktree);
    assert!(snap.root.starts_with(f.state().join("repos")));
    assert!(snap.root.ends_with("tree"));
    assert_eq!(read(&snap.root, "a.txt"), "a");
    assert_eq!(read(&snap.root, "b.txt"), "b");
    assert!(!exists(&snap.root, ".git"));
    assert!(
        snap.root.parent().unwrap().join("cache.git/HEAD").is_file(),
        "bare cache beside the tree"
    );
}

#[test]
fn branch_by_name() {
    let f = Fixture::new();
    let repo = f.repo("infra");
    let main = commit(&repo, &[("a.txt", "a")], "c1");
    git(&repo, &["checkout", "-q", "-b", "feature"]);
    commit(&repo, &[("b.txt", "b")], "c2");

    let snap = f.checkout(s(&repo), Some("main")).unwrap();
    assert_eq!(snap.reference, "main");
    assert_eq!(snap.commit.as_deref(), Some(main.as_str()));
    assert!(!exists(&snap.root, "b.txt"));

    let snap = f.checkout(s(&repo), Some("refs/heads/feature")).unwrap();
    assert!(exists(&snap.root, "b.txt"));
}

#[test]
fn lightweight_and_annotated_tags() {
    let f = Fixture::new();
    let repo = f.repo("infra");
    let c1 = commit(&repo, &[("v.txt", "1")], "c1");
    git(&repo, &["tag", "v1"]);
    let c2 = commit(&repo, &[("v.txt", "2")], "c2");
    git(&repo, &["tag", "-a", "v2", "-m", "release 2"]);
    commit(&repo, &[("v.txt", "3")], "c3");

    let snap = f.checkout(s(&repo), Some("v1")).unwrap();
    assert_eq!(snap.reference, "v1");
    assert_eq!(snap.commit.as_deref(), Some(c1.as_str()));
    assert_eq!(read(&snap.root, "v.txt"), "1");

    let snap = f.checkout(s(&repo), Some("v2")).unwrap();
    assert_eq!(
        snap.commit.as_deref(),
        Some(c2.as_str()),
        "peeled to the commit"
    );
    assert_eq!(read(&snap.root, "v.txt"), "2");
}

#[test]
fn full_and_short_commit_ids_and_an_old_tree() {
    let f = Fixture::new();
    let repo = f.repo("infra");
    let c1 = commit(&repo, &[("x.tf", "one"), ("keep.tf", "k")], "c1");
    commit(&repo, &[("x.tf", "two"), ("y.tf", "new")], "c2");

    let snap = f.checkout(s(&repo), Some(&c1)).unwrap();
    assert_eq!(snap.reference, c1);
    assert_eq!(snap.commit.as_deref(), Some(c1.as_str()));
    assert_eq!(read(&snap.root, "x.tf"), "one");
    assert!(!exists(&snap.root, "y.tf"));

    let short = &c1[..7];
    let snap = f.checkout(s(&repo), Some(short)).unwrap();
    assert_eq!(snap.reference, short);
    assert_eq!(snap.commit.as_deref(), Some(c1.as_str()));

    let snap = f.checkout(s(&repo), None).unwrap();
    assert_eq!(read(&snap.root, "x.tf"), "two");
    assert_eq!(read(&snap.root, "y.tf"), "new");
}

#[test]
fn second_checkout_fetches_new_commits_and_keeps_terraform_files() {
    let f = Fixture::new();
    let repo = f.repo("infra");
    commit(
        &repo,
        &[
            ("infra/net/main.tf", "v1"),
            ("infra/net/old.tf", "old"),
            ("legacy/a.tf", "legacy"),
            ("docs/guide/readme.md", "docs"),
        ],
        "c1",
    );
    let first = f.checkout(s(&repo), None).unwrap();
    let root = &first.root;
    write(root, "infra/net/terraform.tfstate", "{state}");
    write(root, "infra/net/.terraform/providers/p", "bin");
    write(root, "legacy/terraform.tfstate", "{legacy state}");

    write(&repo, "infra/net/main.tf", "v2");
    std::fs::remove_file(repo.join("infra/net/old.tf")).unwrap();
    std::fs::remove_dir_all(repo.join("legacy")).unwrap();
    std::fs::remove_dir_all(repo.join("docs")).unwrap();
    let c2 = commit(&repo, &[("infra/net/new.tf", "new")], "c2");

    let second = f.checkout(s(&repo), None).unwrap();
    assert_eq!(second.root, first.root);
    assert_eq!(
        second.commit.as_deref(),
        Some(c2.as_str()),
        "new commit fetched"
    );
    assert_eq!(read(root, "infra/net/main.tf"), "v2");
    assert_eq!(read(root, "infra/net/new.tf"), "new");
    assert!(!exists(root, "infra/net/old.tf"), "removed file deleted");
    assert!(!exists(root, "legacy/a.tf"));
    assert!(!exists(root, "docs"), "emptied directories removed");
    assert_eq!(read(root, "infra/net/terraform.tfstate"), "{state}");
    assert_eq!(read(root, "infra/net/.terraform/providers/p"), "bin");
    assert_eq!(read(root, "legacy/terraform.tfstate"), "{legacy state}");

    // Same commit again: nothing is rewritten.
    let before = std::fs::metadata(root.join("infra/net/main.tf"))
        .unwrap()
        .modified()
        .unwrap();
    let third = f.checkout(s(&repo), None).unwrap();
    assert_eq!(third, second);
    let after = std::fs::metadata(root.join("infra/net/main.tf"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "unchanged files are not rewritten");

    // A file strata wrote but someone changed is restored to the committed content.
    write(root, "infra/net/main.tf", "edited by hand");
    f.checkout(s(&repo), None).unwrap();
    assert_eq!(read(root, "infra/net/main.tf"), "v2");
}

#[test]
fn rewritten_history_and_deleted_branches_follow_the_source() {
    let f = Fixture::new();
    let repo = f.repo("infra");
    commit(&repo, &[("a.txt", "a")], "c1");
    git(&repo, &["branch", "short-lived"]);
    f.checkout(s(&repo), Some("short-lived")).unwrap();
    f.checkout(s(&repo), None).unwrap();

    git(&repo, &["commit", "-q", "--amend", "-m", "c1 amended"]);
    let amended = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["branch", "-D", "short-lived"]);

    let snap = f.checkout(s(&repo), None).unwrap();
    assert_eq!(
        snap.commit.as_deref(),
        Some(amended.as_str()),
        "force-updated branch"
    );
    let err = f.checkout(s(&repo), Some("short-lived")).unwrap_err();
    assert!(matches!(err, SourceError::UnknownRef { .. }), "{err}");
}

#[test]
fn detached_head_is_reported_as_head() {
    let f = Fixture::new();
    let repo = f.repo("infra");
    let c1 = commit(&repo, &[("a.txt", "1")], "c1");
    commit(&repo, &[("a.txt", "2")], "c2");
    git(&repo, &["checkout", "-q", "--detach", &c1]);

    let snap = f.checkout(s(&repo), None).unwrap();
    assert_eq!(snap.reference, "HEAD");
    assert_eq!(snap.commit.as_deref(), Some(c1.as_str()));
    assert_eq!(read(&snap.root, "a.txt"), "1");
}

#[test]
fn executable_bits_and_symlinks() {
    let f = Fixture::new();
    let repo = f.repo("infra");
    write(&repo, "bin/run.sh", "#!/bin/sh\n");
    std::fs::set_permissions(
        repo.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    write(&repo, "modules/net/main.tf", "module");
    std::os::unix::fs::symlink("../modules/net", repo.join("bin/net")).unwrap();
    commit(&repo, &[("plain.txt", "plain")], "c1");

    let snap = f.checkout(s(&repo), None).unwrap();
    let root = &snap.root;
    let mode = |p: &str| {
        std::fs::metadata(root.join(p))
            .unwrap()
            .permissions()
            .mode()
    };
    assert_ne!(mode("bin/run.sh") & 0o111, 0, "executable");
    assert_eq!(mode("plain.txt") & 0o111, 0, "not executable");
    assert_eq!(
        std::fs::read_link(root.join("bin/net")).unwrap(),
        Path::new("../modules/net")
    );
    assert_eq!(read(root, "bin/net/main.tf"), "module");

    // Losing the executable bit is a change too.
    std::fs::set_permissions(
        repo.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    commit(&repo, &[], "c2");
    f.checkout(s(&repo), None).unwrap();
    assert_eq!(mode("bin/run.sh") & 0o111, 0);
}

/// A symlink that leads out of the repository is an error, in commit and in worktree mode, and nothing
/// of that export is written.
#[test]
fn symlinks_out_of_the_repository_are_refused() {
    for (target, why) in [
        ("../../../etc/passwd", "leaves the repository"),
        ("/etc/passwd", "absolute"),
        ("../missing.yaml", "is not in the repository"),
    ] {
        let f = Fixture::new();
        let repo = f.repo("infra");
        commit(&repo, &[("k8s/app/ok.yaml", "ok")], "c1");
        let first = f.checkout(s(&repo), None).unwrap();
        std::os::unix::fs::symlink(target, repo.join("k8s/app/cm.yaml")).unwrap();
        commit(&repo, &[("k8s/app/new.yaml", "new")], "c2");
        for err in [f.checkout(s(&repo), None), f.worktree(s(&repo))] {
            let err = err.expect_err(target);
            assert!(matches!(err, SourceError::LinkOutside { .. }), "{err}");
            let message = err.to_string();
            assert!(
                message.contains(&format!("symlink \"k8s/app/cm.yaml\" in {}", s(&repo))),
                "{message}"
            );
            assert!(
                message.contains(&format!("points to \"{target}\"")),
                "{message}"
            );
            assert!(message.contains(why), "{message}");
            assert!(!exists(&first.root, "k8s/app/new.yaml"), "nothing written");
        }
    }
}

#[test]
fn worktree_mode_exports_uncommitted_state_and_shares_the_tree() {
    let f = Fixture::new();
    let repo = f.repo("infra");
    let head = commit(
        &repo,
        &[
            ("tracked.tf", "v1"),
            ("gone.tf", "gone"),
            (".gitignore", "*.secret\nignored_dir/\n"),
        ],
        "c1",
    );
    write(&repo, "tracked.tf", "v2 uncommitted");
    std::fs::remove_file(repo.join("gone.tf")).unwrap();
    write(&repo, "new.tf", "untracked");
    write(&repo, "sub/deep.tf", "untracked deep");
    write(&repo, "x.secret", "ignored");
    write(&repo, "ignored_dir/f", "ignored");

    let snap = f.worktree(s(&repo)).unwrap();
    assert!(snap.worktree);
    assert_eq!(snap.reference, "main");
    assert_eq!(snap.commit.as_deref(), Some(head.as_str()));
    let root = &snap.root;
    assert_eq!(read(root, "tracked.tf"), "v2 uncommitted");
    assert_eq!(read(root, "new.tf"), "untracked");
    assert_eq!(read(root, "sub/deep.tf"), "untracked deep");
    assert_eq!(read(root, ".gitignore"), "*.secret\nignored_dir/\n");
    assert!(!exists(root, "gone.tf"), "deleted tracked file is absent");
    assert!(!exists(root, "x.secret"), "ignored file is not exported");
    assert!(!exists(root, "ignored_dir"));
    assert!(!exists(root, ".git"));

    // Commit mode on the same repository uses the same tree and replaces the worktree-only files.
    write(root, "terraform.tfstate", "{state}");
    let committed = f.checkout(s(&repo), None).unwrap();
    assert_eq!(committed.root, snap.root);
    assert_eq!(read(root, "tracked.tf"), "v1");
    assert_eq!(read(root, "gone.tf"), "gone");
    assert!(!exists(root, "new.tf"));
    assert!(!exists(root, "sub"));
    assert_eq!(read(root, "terraform.tfstate"), "{state}");
}

#[test]
fn worktree_mode_leaves_out_a_state_dir_inside_the_repo() {
    let f = Fixture::new();
    let repo = f.repo("infra");
    commit(&repo, &[("main.tf", "x")], "c1");
    let spec = SourceSpec {
        repo: s(&repo).to_owned(),
        reference: None,
        worktree: true,
    };
    let state = repo.join(".strata");
    let first = checkout(&spec, &state, &AtomicBool::new(false)).unwrap();
    let second = checkout(&spec, &state, &AtomicBool::new(false)).unwrap();
    assert_eq!(read(&second.root, "main.tf"), "x");
    assert!(
        !exists(&second.root, ".strata"),
        "state dir not copied into itself"
    );
    assert_eq!(first.root, second.root);
}

#[test]
fn worktree_mode_works_before_the_first_commit() {
    let f = Fixture::new();
    let repo = f.repo("fresh");
    write(&repo, "main.tf", "draft");

    let snap = f.worktree(s(&repo)).unwrap();
    assert_eq!(snap.commit, None);
    assert_eq!(snap.reference, "main");
    assert_eq!(read(&snap.root, "main.tf"), "draft");
}

#[test]
fn file_url_shares_the_slot_of_the_plain_path() {
    let f = Fixture::new();
    let repo = f.repo("infra");
    let c1 = commit(&repo, &[("a.txt", "a")], "c1");

    let url = format!("file://{}", s(&repo));
    let by_url = f.checkout(&url, None).unwrap();
    assert_eq!(by_url.repo, url);
    assert_eq!(by_url.commit.as_deref(), Some(c1.as_str()));
    assert_eq!(read(&by_url.root, "a.txt"), "a");

    let by_path = f.checkout(s(&repo), None).unwrap();
    assert_eq!(by_path.root, by_url.root);
}

#[test]
fn error_path_does_not_exist() {
    let f = Fixture::new();
    let missing = f.dir.path().join("x/y");
    let err = f.checkout(s(&missing), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("repository path \"{}\" does not exist", missing.display())
    );
}

#[test]
fn error_not_a_git_repository() {
    let f = Fixture::new();
    let plain = f.dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let err = f.checkout(s(&plain), None).unwrap_err();
    assert!(matches!(err, SourceError::NotARepository { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "\"{}\" is not a git repository; pass a directory of a git repository's working tree, or a URL",
            plain.display()
        )
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "gix's error is kept as the cause"
    );
}

#[test]
fn a_subdirectory_of_a_working_tree_is_a_project_inside_that_repository() {
    let f = Fixture::new();
    let repo = f.repo("mono");
    let id = commit(
        &repo,
        &[("project/infra/net/main.tf", "x"), ("other.txt", "o")],
        "c1",
    );
    let snap = f.checkout(s(&repo.join("project")), None).unwrap();
    assert!(
        snap.root.ends_with("tree/project"),
        "{}",
        snap.root.display()
    );
    assert!(snap.root.join("infra/net/main.tf").is_file());
    assert_eq!(snap.commit.as_deref(), Some(id.as_str()));

    // In the working tree but not committed: said plainly.
    std::fs::create_dir_all(repo.join("draft")).unwrap();
    std::fs::write(repo.join("draft/main.tf"), "x").unwrap();
    let err = f.checkout(s(&repo.join("draft")), None).unwrap_err();
    assert!(
        matches!(err, SourceError::SubdirNotInCommit { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("\"draft\" does not exist in"),
        "{err}"
    );
}

#[test]
fn error_unknown_ref_lists_branches_and_tags() {
    let f = Fixture::new();
    let repo = f.repo("infra");
    commit(&repo, &[("a.txt", "a")], "c1");
    git(&repo, &["tag", "v1"]);
    let err = f.checkout(s(&repo), Some("v9")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "unknown ref \"v9\" in {}: no branch, tag or commit by that name; branches: main; tags: v1",
            repo.display()
        )
    );
    // Not a valid ref name and not hex: still just unknown.
    let err = f.checkout(s(&repo), Some("no such..ref")).unwrap_err();
    assert!(matches!(err, SourceError::UnknownRef { .. }), "{err}");
    let err = f
        .checkout(s(&repo), Some("deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"))
        .unwrap_err();
    assert!(matches!(err, SourceError::UnknownRef { .. }), "{err}");
}

#[test]
fn error_empty_repository() {
    let f = Fixture::new();
    let repo = f.repo("empty");
    let err = f.checkout(s(&repo), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "repository {} has no commits yet; commit something or use --worktree",
            repo.display()
        )
    );
    let err = f.checkout(s(&repo), Some("main")).unwrap_err();
    assert!(matches!(err, SourceError::EmptyRepository { .. }), "{err}");
}

#[test]
fn error_ambiguous_short_commit_id() {
    let f = Fixture::new();
    let repo = f.repo("many");
    // Fixed dates make the ids, and thus the colliding pair, the same on every run.
    let mut stream = String::new();
    for i in 0..1500 {
        let message = format!("commit {i}\n");
        stream.push_str(&format!(
            "commit refs/heads/main\ncommitter T <t@t> {} +0000\ndata {}\n{message}\n",
            1_700_000_000 + i,
            message.len()
        ));
    }
    git_with_input(&repo, &["fast-import", "--quiet"], Some(&stream));
    let ids = git(&repo, &["rev-list", "main"]);
    let mut seen = std::collections::HashMap::new();
    let (a, b) = ids
        .lines()
        .find_map(|id| seen.insert(&id[..4], id).map(|other| (other, id)))
        .expect("1500 commits share a 4-digit prefix somewhere");

    let err = f.checkout(s(&repo), Some(&a[..4])).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, SourceError::AmbiguousRef { .. }), "{message}");
    assert!(
        message.starts_with(&format!("short commit id \"{}\" is ambiguous in", &a[..4])),
        "{message}"
    );
    assert!(
        message.contains(&a[..12]) && message.contains(&b[..12]),
        "{message}"
    );
    assert!(message.ends_with("; use more characters"), "{message}");

    let snap = f.checkout(s(&repo), Some(&a[..12])).unwrap();
    assert_eq!(snap.commit.as_deref(), Some(a));
}

#[test]
fn error_tag_of_a_tree_is_not_a_commit() {
    let f = Fixture::new();
    let repo = f.repo("infra");
    commit(&repo, &[("a.txt", "a")], "c1");
    git(&repo, &["tag", "treetag", "HEAD^{tree}"]);
    let err = f.checkout(s(&repo), Some("treetag")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "ref \"treetag\" in {} points to a tree, not a commit; pass a branch, tag or commit",
            repo.display()
        )
    );
}

#[test]
fn error_fetch_failure_keeps_the_cause() {
    let f = Fixture::new();
    // Nothing listens on port 1, so this fails fast without any network.
    let url = "https://127.0.0.1:1/acme/infra.git";
    let err = f.checkout(url, None).unwrap_err();
    assert!(matches!(err, SourceError::Fetch { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("could not fetch from {url}; check the URL, network access and credentials")
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn error_interrupted() {
    let f = Fixture::new();
    let repo = f.repo("infra");
    commit(&repo, &[("a.txt", "a")], "c1");
    let spec = SourceSpec {
        repo: s(&repo).to_owned(),
        reference: None,
        worktree: false,
    };
    let err = checkout(&spec, &f.state(), &AtomicBool::new(true)).unwrap_err();
    assert!(matches!(err, SourceError::Interrupted { .. }), "{err}");
    // Nothing half-done blocks the next run.
    let snap = checkout(&spec, &f.state(), &AtomicBool::new(false)).unwrap();
    assert_eq!(read(&snap.root, "a.txt"), "a");
}

#[test]
fn error_worktree_needs_a_local_path_and_no_ref() {
    let f = Fixture::new();
    let err = f
        .worktree("https://example.com/acme/infra.git")
        .unwrap_err();
    assert!(
        matches!(err, SourceError::WorktreeNeedsLocalPath { .. }),
        "{err}"
    );

    let repo = f.repo("infra");
    commit(&repo, &[("a.txt", "a")], "c1");
    let err = f.run(s(&repo), Some("main"), true).unwrap_err();
    assert!(matches!(err, SourceError::RefWithWorktree { .. }), "{err}");

    let bare = f.dir.path().join("bare.git");
    git(f.dir.path(), &["clone", "-q", "--bare", s(&repo), s(&bare)]);
    let err = f.worktree(s(&bare)).unwrap_err();
    assert!(
        matches!(err, SourceError::WorktreeOfBareRepository { .. }),
        "{err}"
    );
    // A bare repository is fine in commit mode.
    let snap = f.checkout(s(&bare), None).unwrap();
    assert_eq!(read(&snap.root, "a.txt"), "a");
}
