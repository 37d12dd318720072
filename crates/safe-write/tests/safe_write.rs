//! The promises of safe-write, on real files: symbolic links written through, non-regular
//! targets refused, usual permissions, nothing left behind on failure, batches all or nothing,
//! outputs distinct from inputs.

#![cfg(unix)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use safe_write::{AtomicFile, Batch, Error, check_distinct};

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// This process's umask, from /proc/self/status (reading it with umask(2) would change it).
fn umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
}

#[test]
fn a_new_file_gets_the_usual_permissions_and_a_replaced_one_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.txt");
    safe_write::write(&path, b"one").unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask(), "{mode:o}");

    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    safe_write::write(&path, b"two").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"two");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(entries(dir.path()), ["out.txt"]);
}

#[test]
fn a_symbolic_link_is_written_through_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("elsewhere");
    fs::create_dir(&real).unwrap();
    fs::write(real.join("params.ron"), "old").unwrap();
    fs::set_permissions(real.join("params.ron"), fs::Permissions::from_mode(0o640)).unwrap();
    // A relative link, and a link to that link.
    let link = dir.path().join("link.ron");
    symlink("elsewhere/params.ron", &link).unwrap();
    let link2 = dir.path().join("link2.ron");
    symlink(&link, &link2).unwrap();

    safe_write::write(&link2, b"new").unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        fs::symlink_metadata(&link2)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_to_string(real.join("params.ron")).unwrap(), "new");
    let mode = fs::metadata(real.join("params.ron"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o640,
        "the target keeps its mode, not the link's 0777"
    );
    assert_eq!(entries(dir.path()), ["elsewhere", "link.ron", "link2.ron"]);
    assert_eq!(entries(&real), ["params.ron"]);
}

#[test]
fn a_link_to_nothing_creates_the_file_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("link.ron");
    symlink("target.ron", &link).unwrap();
    let file = AtomicFile::create(&link).unwrap();
    assert_eq!(file.target(), dir.path().join("target.ron"));
    drop(file);
    safe_write::write(&link, b"x").unwrap();
    assert_eq!(fs::read(dir.path().join("target.ron")).unwrap(), b"x");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn dev_null_a_folder_and_a_fifo_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let folder = dir.path().join("folder");
    fs::create_dir(&folder).unwrap();
    let link_to_null = dir.path().join("null.ron");
    symlink("/dev/null", &link_to_null).unwrap();

    for (path, kind) in [
        (Path::new("/dev/null"), "is a device, not a regular file"),
        (&fifo, "is a named pipe (fifo), not a regular file"),
        (&folder, "is a folder, not a regular file"),
        (
            &link_to_null,
            "is a symbolic link to /dev/null, a device, not a regular file",
        ),
    ] {
        let err = safe_write::write(path, b"data").unwrap_err();
        assert!(matches!(err, Error::NotAFile { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with(&path.display().to_string()), "{text}");
        assert!(text.contains(kind), "{text}");
        assert!(text.contains("refusing to replace it"), "{text}");
    }
    let dev_null = fs::metadata("/dev/null").unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &dev_null.file_type()
    ));
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(
        &fs::symlink_metadata(&fifo).unwrap().file_type()
    ));
    assert_eq!(entries(dir.path()), ["fifo", "folder", "null.ron"]);
}

#[test]
fn a_symbolic_link_loop_is_named_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    symlink(&b, &a).unwrap();
    symlink(&a, &b).unwrap();
    let err = safe_write::write(&a, b"x").unwrap_err();
    assert!(matches!(err, Error::SymlinkLoop { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("too many levels of symbolic links"),
        "{err}"
    );
    assert_eq!(entries(dir.path()), ["a", "b"]);
}

#[test]
fn a_failed_write_or_a_dropped_file_leaves_the_old_file_and_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.txt");
    fs::write(&path, "old").unwrap();
    let err = safe_write::write_with(&path, |w| {
        w.write_all(b"half")?;
        Err(std::io::Error::other("disk full"))
    })
    .unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err:?}");
    assert!(err.to_string().contains("disk full"), "{err}");

    let mut file = AtomicFile::create(&path).unwrap();
    file.write_all(b"never committed").unwrap();
    file.flush().unwrap();
    assert_eq!(
        entries(dir.path()).len(),
        2,
        "the temporary file exists meanwhile"
    );
    drop(file);
    assert_eq!(fs::read_to_string(&path).unwrap(), "old");
    assert_eq!(entries(dir.path()), ["out.txt"]);
}

#[test]
fn a_target_replaced_by_a_folder_before_the_rename_is_refused_and_the_temporary_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.txt");
    let mut file = AtomicFile::create(&path).unwrap();
    file.write_all(b"data").unwrap();
    fs::create_dir(&path).unwrap();
    fs::write(path.join("inside"), "kept").unwrap();
    let err = file.commit().unwrap_err();
    assert!(matches!(err, Error::NotAFile { .. }), "{err:?}");
    assert_eq!(fs::read_to_string(path.join("inside")).unwrap(), "kept");
    assert_eq!(entries(dir.path()), ["out.txt"]);
}

#[test]
fn a_missing_folder_is_an_error_naming_the_file_and_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/folder/out.txt");
    let err = safe_write::write(&path, b"x").unwrap_err();
    assert!(matches!(err, Error::Create { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with(&path.display().to_string()), "{text}");
    assert!(text.contains("no/such/folder"), "{text}");
}

#[test]
fn a_batch_replaces_every_target_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let [model, history, plot] =
        ["params.ron", "history.csv", "plot.svg"].map(|n| dir.path().join(n));
    for path in [&model, &history, &plot] {
        fs::write(path, "old").unwrap();
    }

    // The third output cannot be prepared (the folder is a file): nothing is replaced.
    let mut batch = Batch::new();
    batch.write(&model, b"new model").unwrap();
    batch
        .write_with(&history, |w| writeln!(w, "iteration,loss"))
        .unwrap();
    let err = batch.write(model.join("plot.svg"), b"x").unwrap_err();
    assert!(err.to_string().contains("Not a directory"), "{err}");
    drop(batch);
    for path in [&model, &history, &plot] {
        assert_eq!(fs::read_to_string(path).unwrap(), "old");
    }
    assert_eq!(
        entries(dir.path()),
        ["history.csv", "params.ron", "plot.svg"]
    );

    // A writer that fails: the same.
    let mut batch = Batch::new();
    batch.write(&model, b"new model").unwrap();
    let err = batch
        .write_with(&history, |_| Err(std::io::Error::other("cannot format")))
        .unwrap_err();
    assert!(err.to_string().contains("cannot format"), "{err}");
    drop(batch);
    assert_eq!(fs::read_to_string(&model).unwrap(), "old");
    assert_eq!(
        entries(dir.path()),
        ["history.csv", "params.ron", "plot.svg"]
    );

    // All three written: all three replaced.
    let mut batch = Batch::new();
    batch.write(&model, b"new model").unwrap();
    batch.write(&history, b"new history").unwrap();
    batch.write(&plot, b"new plot").unwrap();
    batch.commit().unwrap();
    assert_eq!(fs::read_to_string(&model).unwrap(), "new model");
    assert_eq!(fs::read_to_string(&history).unwrap(), "new history");
    assert_eq!(fs::read_to_string(&plot).unwrap(), "new plot");
    assert_eq!(
        entries(dir.path()),
        ["history.csv", "params.ron", "plot.svg"]
    );
}

#[test]
fn a_batch_refuses_one_file_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.csv");
    symlink("x.csv", dir.path().join("alias.csv")).unwrap();
    let mut batch = Batch::new();
    batch.write(&path, b"1").unwrap();
    let err = batch.write(dir.path().join("alias.csv"), b"2").unwrap_err();
    assert!(matches!(err, Error::SameOutput { .. }), "{err:?}");
}

#[test]
fn outputs_that_are_inputs_or_each_other_are_refused_naming_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mnist");
    fs::create_dir(&data).unwrap();
    let labels = data.join("t10k-labels-idx1-ubyte");
    fs::write(&labels, "labels").unwrap();
    let hard = dir.path().join("hard-link");
    fs::hard_link(&labels, &hard).unwrap();
    let soft = dir.path().join("soft-link");
    symlink(&labels, &soft).unwrap();
    let inputs = [("--data", labels.as_path())];

    for output in [
        labels.clone(),
        data.join("../mnist/./t10k-labels-idx1-ubyte"),
        hard.clone(),
        soft.clone(),
    ] {
        let err = check_distinct(
            &inputs,
            &[("--plot", Path::new("p.svg")), ("--out", &output)],
        )
        .unwrap_err();
        assert!(matches!(err, Error::OutputIsInput { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("--out {}", output.display())),
            "{text}"
        );
        assert!(
            text.contains(&format!("input --data {}", labels.display())),
            "{text}"
        );
    }

    let out = dir.path().join("new/params.ron");
    let same = dir.path().join("new/../new/params.ron");
    let err = check_distinct(&inputs, &[("--out", &out), ("--history", &same)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "--out {} and --history {} are the same file: give each output its own path",
            out.display(),
            same.display()
        )
    );

    check_distinct(
        &inputs,
        &[
            ("--out", &dir.path().join("params.ron")),
            ("--history", &dir.path().join("history.csv")),
        ],
    )
    .unwrap();
    assert_eq!(fs::read_to_string(&labels).unwrap(), "labels");
}
