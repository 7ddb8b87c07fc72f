//! Build facts for `switchyard_build_info` (`src/metrics.rs`): the compiler
//! and target, and the git commit when the source is a git checkout. The
//! commit is read from the local repository (no network); a build without
//! one (a source archive, a container build context without `.git`) leaves
//! it out unless `SWITCHYARD_GIT_SHA` gives it.

use std::path::Path;
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    // "rustc 1.88.0 (6b00bc388 2025-06-23)": the version word.
    let rustc_version = Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SWITCHYARD_RUSTC_VERSION={rustc_version}");
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=SWITCHYARD_TARGET={target}");

    println!("cargo:rerun-if-env-changed=SWITCHYARD_GIT_SHA");
    let sha = match std::env::var("SWITCHYARD_GIT_SHA") {
        Ok(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => git_head(),
    };
    if let Some(sha) = sha {
        println!("cargo:rustc-env=SWITCHYARD_GIT_SHA={sha}");
    }
}

/// The checked-out commit, and the files to watch so that a new commit or
/// another branch re-runs this script (and nothing else does).
fn git_head() -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(&dir)
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (!s.is_empty()).then_some(s)
    };
    let sha = git(&["rev-parse", "--verify", "HEAD"])?;
    let path = |p: String| Path::new(&dir).join(p);
    let mut watch = vec![path(git(&["rev-parse", "--git-path", "HEAD"])?)];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        let loose = path(git(&["rev-parse", "--git-path", &branch])?);
        // A branch packed away gets its loose file back, in its folder, on
        // the next commit.
        match (loose.exists(), loose.parent()) {
            (true, _) => watch.push(loose),
            (false, Some(folder)) => watch.push(folder.to_path_buf()),
            (false, None) => {}
        }
    }
    watch.push(path(git(&["rev-parse", "--git-path", "packed-refs"])?));
    for p in watch {
        // A path that does not exist would re-run the script on every build.
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    Some(sha)
}
