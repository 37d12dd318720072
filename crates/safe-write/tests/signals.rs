//! SIGTERM and SIGINT while a file is being written: the temporary file is removed and the
//! process ends with the signal's conventional status; with `interrupt::defer`, the program is
//! told and stops on its own.
//!
//! Each test runs a child: this very test binary, filtered to one of the `child_*` functions
//! below, which do nothing unless `SAFE_WRITE_CHILD` names their folder.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const CHILD_ENV: &str = "SAFE_WRITE_CHILD";

/// Starts the test `name` of this binary as a child working in `dir`, and waits until it says
/// `ready`. The caller waits for it.
#[allow(clippy::zombie_processes)] // handed to the caller, which waits; a panic ends the test
fn start(name: &str, dir: &Path) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended early"
        );
        // libtest prints `test child_... ` before the child's own output, on the same line.
        if line.trim_end().ends_with("ready") {
            return (child, out);
        }
    }
}

fn signal(child: &Child, signal: Signal) {
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// In the child: writes half a file, and half of a batch of two, then waits to be killed.
#[test]
fn child_writing() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let mut file = safe_write::AtomicFile::create(dir.join("params.ron")).unwrap();
    file.write_all(&vec![b'x'; 1 << 20]).unwrap();
    file.flush().unwrap();
    let mut batch = safe_write::Batch::new();
    batch
        .write(dir.join("history.csv"), b"new history")
        .unwrap();
    println!("ready");
    std::thread::sleep(Duration::from_secs(60));
    unreachable!("the parent kills this process");
}

#[test]
fn sigterm_and_sigint_remove_the_temporary_files_and_end_the_process_as_the_signal_would() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("history.csv"), "old history").unwrap();
        let (mut child, _out) = start("child_writing", dir.path());
        assert_eq!(entries(dir.path()).len(), 3, "{:?}", entries(dir.path()));
        signal(&child, sig);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(sig as i32), "{status:?}");
        assert_eq!(entries(dir.path()), ["history.csv"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("history.csv")).unwrap(),
            "old history"
        );
    }
}

/// In the child: a long computation that polls for Ctrl-C and stops cleanly.
#[test]
fn child_deferring() {
    let Some(_) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let interrupts = safe_write::interrupt::defer();
    println!("ready");
    for _ in 0..6000 {
        if let Some(signal) = interrupts.received() {
            println!("stopped by {signal}: nothing was written");
            std::process::exit(signal.exit_code());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    unreachable!("the parent interrupts this process");
}

#[test]
fn with_defer_the_program_hears_of_ctrl_c_and_stops_on_its_own() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut out) = start("child_deferring", dir.path());
    signal(&child, Signal::SIGINT);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        "stopped by SIGINT (Ctrl-C): nothing was written"
    );
    assert_eq!(child.wait().unwrap().code(), Some(130));
}

/// In the child: defers, but never polls.
#[test]
fn child_deferring_deaf() {
    let Some(_) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let _interrupts = safe_write::interrupt::defer();
    println!("ready");
    std::thread::sleep(Duration::from_secs(60));
    unreachable!("the parent kills this process");
}

#[test]
fn a_second_ctrl_c_ends_a_program_that_does_not_poll() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _out) = start("child_deferring_deaf", dir.path());
    signal(&child, Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first Ctrl-C is deferred"
    );
    signal(&child, Signal::SIGINT);
    assert_eq!(child.wait().unwrap().signal(), Some(Signal::SIGINT as i32));
}

/// In the child: prepares a batch while deferring, waits for the parent's Ctrl-C to be
/// recorded, then commits unless interrupted.
#[test]
fn child_committing_after_ctrl_c() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let interrupts = safe_write::interrupt::defer();
    let mut batch = safe_write::Batch::new();
    batch.write(dir.join("params.ron"), b"new model").unwrap();
    batch
        .write(dir.join("history.csv"), b"new history")
        .unwrap();
    println!("ready");
    while interrupts.received().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let err = batch.commit_unless_interrupted(&interrupts).unwrap_err();
    println!("{err}");
    std::process::exit(interrupts.received().unwrap().exit_code());
}

#[test]
fn a_batch_committed_after_a_deferred_ctrl_c_replaces_nothing() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("history.csv"), "old history").unwrap();
    let (mut child, mut out) = start("child_committing_after_ctrl_c", dir.path());
    signal(&child, Signal::SIGINT);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        "interrupted by SIGINT (Ctrl-C) before the outputs were written: none was written"
    );
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_eq!(
        entries(dir.path()),
        ["history.csv"],
        "no output, no temporary file"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("history.csv")).unwrap(),
        "old history"
    );
}
