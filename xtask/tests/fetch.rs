//! `cargo xtask fetch-mnist` as a user runs it: Ctrl-C in the middle of a download leaves no
//! temporary file, and `--out` naming a file is blamed on `--out`, not on the mirrors.

#![cfg(unix)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

/// A mirror that sends the first 64 KiB of a gzip stream (which decompresses to many zeros),
/// then holds the connection open without sending more.
fn stalling_mirror() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut header = vec![0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28];
        header.extend(std::iter::repeat_n(7u8, 8 << 20));
        encoder.write_all(&header).unwrap();
        let body = encoder.finish().unwrap();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let body = body.clone();
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                let _ = stream.write_all(&body[..body.len().min(64 << 10)]);
                let _ = stream.flush();
                std::thread::sleep(Duration::from_secs(60));
            });
        }
    });
    format!("http://127.0.0.1:{port}/")
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn ctrl_c_during_a_download_leaves_no_temporary_file() {
    let mirror = stalling_mirror();
    let out = tempfile::tempdir().unwrap();
    let mut child = xtask()
        .args(["fetch-mnist", "--mirror", &mirror, "--out"])
        .arg(out.path())
        .env("MNIST_MIRROR", "")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the temporary file of the first data file.
    let start = Instant::now();
    while entries(out.path()).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no temporary file appeared"
        );
        assert!(child.try_wait().unwrap().is_none(), "fetch ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let temp = entries(out.path());
    assert!(temp[0].starts_with(".train-images-idx3-ubyte."), "{temp:?}");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(Signal::SIGINT as i32), "{status:?}");
    assert!(entries(out.path()).is_empty(), "{:?}", entries(out.path()));
}

#[test]
fn out_naming_a_file_is_blamed_on_out_not_on_the_mirrors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mnist");
    std::fs::write(&out, "a file").unwrap();
    let output = xtask()
        .args(["fetch-mnist", "--mirror"])
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "cannot fetch mnist into --out {}: give a folder",
            out.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("is a regular file, not a folder"),
        "{stderr}"
    );
    assert!(!stderr.contains("mirror"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "a file");
}
