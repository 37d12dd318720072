//! `train`'s checkpoints: a run stopped (by `--stop-after`, or by a real Ctrl-C at a random
//! moment) and resumed, on another number of threads, ends with the very bytes of the run that
//! never stopped, for every kind of network; a checkpoint that does not fit is refused, naming
//! why, and nothing is replaced; what `train` checks before it trains.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

use common::{nn_cli, synthetic};

/// `train` on `data` with its outputs (and its checkpoint) in `dir`, plus `args`.
fn train(dir: &Path, data: &Path, args: &[&str]) -> Command {
    let mut cmd = nn_cli();
    cmd.arg("train")
        .args(args)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(dir.join("params.ron"))
        .arg("--history")
        .arg(dir.join("history.csv"))
        .arg("--plot")
        .arg(dir.join("plot.svg"));
    cmd
}

/// The model file's bytes and the history's rows without their wall-clock seconds (the last
/// column): what a run's result is.
fn result(dir: &Path) -> (String, Vec<String>) {
    let model = fs::read_to_string(dir.join("params.ron")).unwrap();
    let history = fs::read_to_string(dir.join("history.csv"))
        .unwrap()
        .lines()
        .map(|line| line.rsplit_once(',').unwrap().0.to_owned())
        .collect();
    (model, history)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// A fresh folder `name` in `root`.
fn folder(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    fs::create_dir(&dir).unwrap();
    dir
}

/// Runs `args` whole on two threads, then stopped after each of `stops` iterations on one
/// thread and resumed on two: each resumed run must write the very model file and history of
/// the whole run.
fn stopped_and_resumed(kind: &str, args: &[&str], stops: &[usize]) {
    let (root, data) = synthetic();
    let whole = folder(root.path(), "whole");
    train(&whole, &data, args)
        .args(["--threads", "2"])
        .assert()
        .success();
    let expected = result(&whole);
    assert!(expected.1.len() > 10, "{kind}: a history");
    for &stop in stops {
        let dir = folder(root.path(), &format!("stop{stop}"));
        train(&dir, &data, args)
            .args(["--threads", "1", "--stop-after", &stop.to_string()])
            .assert()
            .code(3)
            .stderr(predicate::str::contains(format!(
                "stopped as asked (--stop-after) after iteration {}",
                stop - 1
            )));
        assert_eq!(names(&dir), ["params.ckpt"], "{kind}: only the checkpoint");
        nn_cli()
            .args(["train", "--threads", "2", "--resume"])
            .arg(dir.join("params.ckpt"))
            .assert()
            .success()
            .stdout(predicate::str::contains(format!(
                "resumed from {} after iteration {stop}",
                dir.join("params.ckpt").display()
            )));
        assert!(
            result(&dir) == expected,
            "{kind}: stopped after {stop} iterations and resumed, the outputs differ"
        );
    }
}

// 600 training samples: batches of 50 make epochs of 12 iterations, evaluated after
// iterations 0, 12, 24...; the runs stop after the first iteration, on either side of an
// epoch's end and its evaluation, and after the last iteration (before the final evaluation).

#[test]
fn the_two_layer_net_with_sgd() {
    stopped_and_resumed(
        "two-layer SGD",
        &[
            "--iters",
            "30",
            "--batch-size",
            "50",
            "--hidden",
            "20",
            "--lr",
            "0.5",
        ],
        &[1, 12, 13, 25, 30],
    );
}

#[test]
fn a_deep_net_with_adam_batch_norm_dropout_and_weight_decay() {
    stopped_and_resumed(
        "4x20 Adam BN dropout wd",
        &[
            "--iters",
            "30",
            "--batch-size",
            "50",
            "--hidden",
            "20,20,20,20",
            "--activation",
            "relu",
            "--init",
            "he",
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
            "--batch-norm",
            "--dropout",
            "0.15",
            "--weight-decay",
            "0.1",
            "--checkpoint-every",
            "5",
        ],
        &[1, 12, 13, 29, 30],
    );
}

#[test]
fn simple_conv_net() {
    stopped_and_resumed(
        "SimpleConvNet",
        &[
            "--net",
            "simple-convnet",
            "--iters",
            "26",
            "--batch-size",
            "50",
            "--eval-samples",
            "100",
        ],
        &[1, 12, 13, 26],
    );
}

#[test]
fn deep_conv_net() {
    stopped_and_resumed(
        "DeepConvNet",
        &[
            "--net",
            "deep-convnet",
            "--iters",
            "14",
            "--batch-size",
            "50",
            "--eval-samples",
            "100",
        ],
        &[1, 12, 13],
    );
}

#[test]
fn the_numerical_gradient() {
    stopped_and_resumed(
        "numerical gradient",
        &[
            "--gradient",
            "numerical",
            "--iters",
            "14",
            "--batch-size",
            "50",
            "--hidden",
            "4",
            "--lr",
            "0.5",
        ],
        &[1, 12, 13],
    );
}

/// A run lengthened by `--resume --iters`: the same as the longer run, from the checkpoint of
/// a run that ended (its final evaluation replaced) or was stopped.
#[test]
fn a_resumed_run_may_be_lengthened() {
    let (root, data) = synthetic();
    let args = [
        "--batch-size",
        "50",
        "--hidden",
        "20",
        "--optimizer",
        "momentum",
        "--dropout",
        "0.1",
    ];
    let whole = folder(root.path(), "whole");
    train(&whole, &data, &args)
        .args(["--iters", "40"])
        .assert()
        .success();
    let short = folder(root.path(), "short");
    train(&short, &data, &args)
        .args(["--iters", "25"])
        .assert()
        .success();
    assert_ne!(result(&short), result(&whole));
    nn_cli()
        .args(["train", "--iters", "40", "--resume"])
        .arg(short.join("params.ckpt"))
        .assert()
        .success();
    assert!(result(&short) == result(&whole), "lengthened from 25");
}

/// The case: Ctrl-C at a random moment of a run, then `--resume` on another number of
/// threads: the very outputs of the run never stopped.
#[cfg(unix)]
#[test]
fn ctrl_c_at_a_random_moment_then_resume_gives_the_uninterrupted_run() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    use std::time::{Duration, SystemTime};

    let (root, data) = synthetic();
    let args = [
        "--iters",
        "4000",
        "--batch-size",
        "20",
        "--hidden",
        "30,30",
        "--activation",
        "relu",
        "--init",
        "he",
        "--optimizer",
        "adam",
        "--batch-norm",
        "--dropout",
        "0.2",
        "--lr",
        "0.003",
    ];
    let whole = folder(root.path(), "whole");
    train(&whole, &data, &args).assert().success();

    let dir = folder(root.path(), "stopped");
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("nn-cli"));
    command
        .arg("train")
        .args(args)
        .args(["--threads", "1", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(dir.join("params.ron"))
        .arg("--history")
        .arg(dir.join("history.csv"))
        .arg("--plot")
        .arg(dir.join("plot.svg"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    common::default_sigint(&mut command);
    let mut child = command.spawn().unwrap();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let pid = child.id().to_string();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(120)).is_err() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
        }
    });
    // Once training runs (the first evaluation is printed), wait a random moment, then Ctrl-C.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("epoch") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "train ended early"
        );
    }
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).map(|_| rest)
    });
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let delay = Duration::from_micros(u64::from(nanos % 300_000));
    std::thread::sleep(delay);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let _ = done.send(());
    watchdog.join().unwrap();
    drain.join().unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Ctrl-C came before the end of the run (4000 iterations take seconds).
    assert_eq!(output.status.code(), Some(130), "after {delay:?}: {stderr}");
    assert!(
        stderr.contains("interrupted by SIGINT (Ctrl-C) after iteration")
            && stderr.contains("--resume"),
        "{stderr}"
    );
    assert_eq!(names(&dir), ["params.ckpt"], "only the checkpoint");
    nn_cli()
        .args(["train", "--threads", "2", "--resume"])
        .arg(dir.join("params.ckpt"))
        .assert()
        .success();
    assert!(
        result(&dir) == result(&whole),
        "Ctrl-C {delay:?} after the first epoch, then resumed: the outputs differ ({stderr})"
    );
}

/// A checkpoint of another run, a damaged one, a newer one, another file: refused clearly, and
/// the outputs already there are left as they were.
#[test]
fn checkpoints_that_do_not_fit_are_refused_and_nothing_is_replaced() {
    let (root, data) = synthetic();
    let dir = folder(root.path(), "run");
    let args = ["--iters", "30", "--batch-size", "50", "--hidden", "20"];
    train(&dir, &data, &args)
        .args(["--stop-after", "10"])
        .assert()
        .code(3);
    let checkpoint = dir.join("params.ckpt");
    for file in ["params.ron", "history.csv", "plot.svg"] {
        fs::write(dir.join(file), "old").unwrap();
    }
    let bytes = fs::read(&checkpoint).unwrap();
    let resume = |path: &Path, extra: &[&str]| {
        let mut cmd = nn_cli();
        cmd.args(["train", "--resume"]).arg(path).args(extra);
        cmd.assert().failure()
    };
    let check_untouched = || {
        for file in ["params.ron", "history.csv", "plot.svg"] {
            assert_eq!(fs::read_to_string(dir.join(file)).unwrap(), "old", "{file}");
        }
    };

    // Settings other than the length, each named.
    for (flag, value) in [
        ("--hidden", "30"),
        ("--lr", "0.5"),
        ("--seed", "7"),
        ("--batch-size", "20"),
        ("--optimizer", "adam"),
        ("--dataset", "fashion"),
        ("--net", "simple-convnet"),
    ] {
        resume(&checkpoint, &[flag, value]).stderr(
            predicate::str::contains(format!("{flag} is")).and(predicate::str::contains(
                "a resumed run keeps every setting",
            )),
        );
    }
    resume(&checkpoint, &["--iters", "20"]).stderr(predicate::str::contains(
        "a resumed run may only be as long or longer",
    ));
    // Other data.
    let (_other_root, other_data) = common::dataset(|count, seed| common::stripes(count, seed + 5));
    let mut other = vec!["--data"];
    let other_path = other_data.to_str().unwrap().to_owned();
    other.push(&other_path);
    resume(&checkpoint, &other).stderr(predicate::str::contains(
        "is not the data the run of checkpoint",
    ));

    // Truncated, one byte edited, a newer format version, a model file, a folder.
    let bad = root.path().join("bad.ckpt");
    fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    resume(&bad, &[]).stderr(predicate::str::contains("damaged, truncated or edited"));
    let mut edited = bytes.clone();
    let middle = edited.len() / 2;
    edited[middle] ^= 0x10;
    fs::write(&bad, &edited).unwrap();
    resume(&bad, &[]).stderr(predicate::str::contains("do not match its checksum"));
    let mut newer = bytes.clone();
    newer[18..22].copy_from_slice(&9u32.to_le_bytes());
    fs::write(&bad, &newer).unwrap();
    resume(&bad, &[]).stderr(predicate::str::contains(
        "format version 9, written by a newer nn-cli",
    ));
    let (model_root, _) = synthetic();
    let model = model_root.path().join("model.ron");
    fs::write(&model, "(format_version: 3)").unwrap();
    resume(&model, &[]).stderr(predicate::str::contains(
        "not a checkpoint of `nn-cli train`",
    ));
    resume(root.path(), &[]).stderr(predicate::str::contains("not a regular file"));
    check_untouched();
    // The checkpoint itself was not touched by any of these, and still resumes.
    assert_eq!(fs::read(&checkpoint).unwrap(), bytes);
    nn_cli()
        .args(["train", "--resume"])
        .arg(&checkpoint)
        .assert()
        .success();
}

/// Issue 23: a device, a folder or an unwritable path as an output (the checkpoint's too) is
/// refused before training, not after; and initial weights that make the first loss absurd
/// are refused, saying what is allowed.
#[test]
fn outputs_and_initial_weights_are_checked_before_training() {
    let (root, data) = synthetic();
    let dir = root.path();
    let folder_out = folder(dir, "a-folder");
    for (flag, path) in [
        ("--out", Path::new("/dev/null")),
        ("--history", folder_out.as_path()),
        ("--plot", Path::new("/proc/plot.svg")),
        ("--checkpoint", Path::new("/proc/run.ckpt")),
        ("--checkpoint", Path::new("/dev/null")),
    ] {
        let mut cmd = train(dir, &data, &["--iters", "50", "--batch-size", "50"]);
        cmd.arg(flag).arg(path);
        cmd.assert()
            .failure()
            .stdout(predicate::str::contains("epoch").not())
            .stderr(
                predicate::str::contains(format!("{flag} {}", path.display()))
                    .and(predicate::str::contains("cannot be written")),
            );
    }
    // Nothing was written, not even a folder for the outputs.
    let before = names(dir);
    let mut cmd = train(&dir.join("new/sub"), &data, &["--iters", "50"]);
    cmd.args(["--checkpoint", "/dev/null"]).assert().failure();
    assert_eq!(names(dir), before);

    // --init 1e30 trained at a loss of 7e30 and saved the model, exit 0.
    train(dir, &data, &["--init", "1e30", "--iters", "20"])
        .assert()
        .failure()
        .stdout(predicate::str::contains("epoch").not())
        .stderr(
            predicate::str::contains("make the loss of the first minibatch")
                .and(predicate::str::contains("--init 1e30"))
                .and(predicate::str::contains("--init he or xavier")),
        );
    assert!(!dir.join("params.ron").exists());
    // The book's scales train.
    for init in ["0.01", "1", "he", "xavier"] {
        train(
            dir,
            &data,
            &["--init", init, "--iters", "5", "--batch-size", "50"],
        )
        .assert()
        .success();
    }
}

/// Issue 23: Ctrl-C during `train`'s final evaluation was ignored, the outputs written with
/// exit 0. A long final evaluation (a wide network scoring 150000 test images): the signal
/// arrives during it, and nothing is written but the checkpoint, exit 130; the checkpoint
/// holds the whole run, and resuming it writes the outputs without training further.
#[cfg(unix)]
#[test]
fn ctrl_c_during_the_final_evaluation_writes_nothing() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::Duration;

    let (root, data) = common::dataset(|count, seed| {
        common::stripes(if seed == 2 { 150_000 } else { count }, seed)
    });
    let dir = folder(root.path(), "run");
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("nn-cli"));
    command
        .args([
            "train",
            "--iters",
            "1",
            "--hidden",
            "800,800",
            "--threads",
            "1",
            "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(dir.join("params.ron"))
        .arg("--history")
        .arg(dir.join("history.csv"))
        .arg("--plot")
        .arg(dir.join("plot.svg"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    common::default_sigint(&mut command);
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("network:"), "{line}");
    // The only iteration takes milliseconds, the evaluation of 150000 images seconds.
    std::thread::sleep(Duration::from_millis(300));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{rest}{stderr}");
    assert!(
        stderr.contains("interrupted by SIGINT (Ctrl-C)") && stderr.contains("not written"),
        "{stderr}"
    );
    assert_eq!(names(&dir), ["params.ckpt"], "no output written");
    // The checkpoint holds the finished run: resuming writes the outputs.
    nn_cli()
        .args(["train", "--resume"])
        .arg(dir.join("params.ckpt"))
        .assert()
        .success();
    assert_eq!(
        names(&dir),
        ["history.csv", "params.ckpt", "params.ron", "plot.svg"]
    );
}
