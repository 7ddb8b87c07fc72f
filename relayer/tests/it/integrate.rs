//! `docs/integrate.md` is run, not just read: every `bash` block of it, in
//! order, in one shell, from the repository root, so a walkthrough step
//! that stops working fails the suite. Blocks marked `bash setup` install
//! the tools and build the release binary; the suite has done the first
//! (deploy/test.sh runs deploy/setup.sh) and uses its own build of the
//! binary instead of the second (`SWITCHYARD_BIN_DIR`, which the doc
//! honours).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The blocks fenced as exactly ```` ```bash ````, in order.
fn bash_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_end() == "```bash" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
        }
    }
    assert!(current.is_none(), "an unterminated ```bash block");
    blocks
}

#[test]
fn fences_are_told_apart() {
    let md = "x\n```bash setup\nno\n```\n```bash\na\nb\n```\n```rust\nno\n```\n```bash\nc\n```\n";
    assert_eq!(bash_blocks(md), ["a\nb\n", "c\n"]);
}

#[test]
fn the_integration_walkthrough_runs_step_by_step() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/integrate.md")).expect("docs/integrate.md");
    let blocks = bash_blocks(&doc);
    assert!(
        blocks.len() >= 8,
        "expected the walkthrough's steps, found {} bash blocks",
        blocks.len()
    );
    // Each block announces itself, so a failure names the step.
    let mut script = String::from("set -euo pipefail\n");
    for (i, b) in blocks.iter().enumerate() {
        script.push_str(&format!("echo '--- integrate.md block {}' >&2\n{b}", i + 1));
    }
    script.push_str("echo 'walkthrough complete'\n");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_switchyard"))
        .parent()
        .expect("binary directory")
        .to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("walkthrough.sh");
    std::fs::write(&path, &script).expect("script");
    let mut child = Command::new("bash")
        .arg(&path)
        .current_dir(&root)
        .env("SWITCHYARD_BIN_DIR", &bin_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    // Drain both pipes while waiting, so a chatty step cannot block.
    let out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the walkthrough did not finish within 600 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    assert!(
        status.success(),
        "the walkthrough failed ({status})\nstdout:\n{out}\nstderr:\n{err}"
    );
    assert!(out.contains("walkthrough complete"), "{out}");
    assert!(out.contains("status       delivered"), "{out}");
    assert!(out.contains("A received 1 pong(s)"), "{out}");
}
