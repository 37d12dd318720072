//! `cargo xtask bench` as a user runs it, up to the point where it would install PyTorch.

use std::process::{Command, Stdio};

/// With no terminal to ask and no `--yes`, the bench installs nothing of several GB: it stops
/// before the build and before any install, saying what it would install, where, and how to go
/// on.
#[test]
fn pytorch_is_not_installed_without_a_yes() {
    let data = tempfile::tempdir().unwrap();
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        std::fs::write(data.path().join(name), b"").unwrap();
    }
    // A target folder without the references' environment: torch is missing there.
    let target = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["bench", "--net", "deep-convnet", "--skip-numpy", "--data"])
        .arg(data.path())
        .env("CARGO_TARGET_DIR", target.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}{stderr}");
    let venv = target.path().join("py-venv");
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        assert!(stderr.contains("torch (about 3.0 GB"), "{stderr}");
    }
    for needle in [
        "needs torch (",
        "not a terminal",
        "--yes",
        "--skip-torch",
        &venv.display().to_string(),
    ] {
        assert!(stderr.contains(needle), "no {needle:?} in: {stderr}");
    }
    assert!(!stdout.contains("building"), "it built first: {stdout}");
    assert!(!venv.exists(), "it made the environment");
}
