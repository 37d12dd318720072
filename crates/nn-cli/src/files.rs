//! The CLI's output files, through the `safe-write` crate: atomic (a temporary file in the
//! destination's folder, then a rename), through symbolic links, never over a folder or a
//! device, temporary files removed on failure and on Ctrl-C; several outputs written together or
//! not at all ([`Outputs`]); outputs that would overwrite an input or each other refused before
//! any work ([`check_outputs`]).

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Creates the folder `path` goes in, if needed, and returns it (`.` for a bare file name).
pub fn create_parent(path: &Path) -> Result<&Path> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
    Ok(dir)
}

/// The outputs of one run, replaced together once all are written, or not at all (a
/// [`safe_write::Batch`] that also creates the outputs' folders).
///
/// ```ignore
/// let mut outputs = files::Outputs::new();
/// outputs.write(&run.out, model_text.as_bytes())?;
/// outputs.write_with(&run.history, |w| history.write_csv(w))?;
/// outputs.write(&run.plot, &plot::render(&history, &run.plot)?)?;
/// outputs.commit()?; // nothing is replaced before this line, and on error nothing is
/// ```
#[derive(Debug, Default)]
pub struct Outputs {
    batch: safe_write::Batch,
}

impl Outputs {
    /// No output yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prepares `path` with whatever `write` puts into the writer (creating its folder if
    /// needed); nothing is replaced until [`Outputs::commit`].
    pub fn write_with(
        &mut self,
        path: &Path,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        create_parent(path)?;
        self.batch
            .write_with(path, write)
            .with_context(|| format!("cannot write {}; nothing was replaced", path.display()))
    }

    /// Prepares `path` holding `bytes`.
    pub fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.write_with(path, |w| w.write_all(bytes))
    }

    /// Replaces every prepared output, or none.
    pub fn commit(self) -> Result<()> {
        self.batch
            .commit()
            .context("cannot replace the outputs; none was replaced")
    }

    /// Replaces every prepared output, unless the SIGINT or SIGTERM that `interrupts` defers
    /// arrived before: then none is replaced and the signal is returned.
    pub fn commit_unless_interrupted(
        self,
        interrupts: &safe_write::interrupt::Deferred,
    ) -> Result<Option<safe_write::interrupt::Signal>> {
        match self.batch.commit_unless_interrupted(interrupts) {
            Ok(()) => Ok(None),
            Err(safe_write::Error::Interrupted { signal }) => Ok(Some(signal)),
            Err(err) => Err(err).context("cannot replace the outputs; none was replaced"),
        }
    }
}

/// Refuses, before any work, outputs that would overwrite the dataset in `data` (any file a
/// load of that folder may read, under any accepted name), another input (`inputs`: a config
/// file...) or each other. Each path comes with the flag that named it, for the message.
///
/// `train` calls it with `("--out", ...)`, `("--history", ...)`, `("--plot", ...)` as outputs
/// and `[("--config", ...)]` as other inputs.
pub fn check_outputs(
    data: &Path,
    inputs: &[(&str, &Path)],
    outputs: &[(&str, &Path)],
) -> Result<()> {
    let dataset: Vec<_> = mnist_io::FILES
        .iter()
        .flat_map(|name| mnist_io::candidate_paths(data, name))
        .collect();
    let all_inputs: Vec<(&str, &Path)> = dataset
        .iter()
        .map(|path| ("--data", path.as_path()))
        .chain(inputs.iter().copied())
        .collect();
    safe_write::check_distinct(&all_inputs, outputs)?;
    Ok(())
}

/// `text` with its control characters escaped (`\n`, `\u{1b}`…): a message that quotes a path
/// or a file's contents cannot break the terminal's lines or send it escape sequences.
pub fn escaped(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = c
                .is_control()
                .then(|| c.escape_default().collect::<String>());
            escape
                .unwrap_or_else(|| c.to_string())
                .chars()
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A path as nn-cli prints it: [`escaped`], so that a name with a newline or an escape sequence
/// shows as such instead of acting on the terminal.
pub fn shown(path: &Path) -> String {
    escaped(&path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One output written through [`Outputs`].
    fn write_one(
        path: &Path,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        let mut outputs = Outputs::new();
        outputs.write_with(path, write)?;
        outputs.commit()
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_the_file_and_creates_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.txt");
        write_one(&path, |w| w.write_all(b"hello")).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "hello");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        fs::write(&path, "old").unwrap();
        let failed = write_one(&path, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(entries(dir.path()), ["out.txt"]);
    }

    #[cfg(unix)]
    #[test]
    fn dev_null_is_refused_with_a_clear_error() {
        let err = write_one(Path::new("/dev/null"), |w| w.write_all(b"x")).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("/dev/null: is a device, not a regular file"),
            "{text}"
        );
    }

    #[test]
    fn outputs_replace_all_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let (model, history) = (dir.path().join("o/q.ron"), dir.path().join("h.csv"));
        fs::create_dir_all(dir.path().join("o")).unwrap();
        fs::write(&model, "old model").unwrap();
        // The issue's `--out o/q.ron --history /proc/h.csv`: the second output cannot be
        // prepared, so the first is not replaced.
        let mut outputs = Outputs::new();
        outputs.write(&model, b"new model").unwrap();
        let err = outputs
            .write(Path::new("/proc/h.csv"), b"history")
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("nothing was replaced"),
            "{err:#}"
        );
        drop(outputs);
        assert_eq!(fs::read_to_string(&model).unwrap(), "old model");
        assert_eq!(entries(&dir.path().join("o")), ["q.ron"]);

        let mut outputs = Outputs::new();
        outputs.write(&model, b"new model").unwrap();
        outputs
            .write_with(&history, |w| w.write_all(b"new history"))
            .unwrap();
        outputs.commit().unwrap();
        assert_eq!(fs::read_to_string(&model).unwrap(), "new model");
        assert_eq!(fs::read_to_string(&history).unwrap(), "new history");
    }

    #[test]
    fn an_output_over_the_dataset_or_another_output_is_refused_naming_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("mnist");
        let labels = data.join("t10k-labels-idx1-ubyte");
        let config = dir.path().join("run.ron");
        // Before the data is even fetched: refused by name.
        let err = check_outputs(
            &data,
            &[("--config", &config)],
            &[("--out", &labels), ("--history", &dir.path().join("h.csv"))],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "--out {} is the same file as the input --data {}: writing it would destroy \
                 the input; choose another path",
                labels.display(),
                labels.display()
            )
        );
        // Under the dotted name with .gz too.
        let dotted = data.join("t10k-labels.idx1-ubyte.gz");
        assert!(check_outputs(&data, &[], &[("--plot", &dotted)]).is_err());

        let err =
            check_outputs(&data, &[("--config", &config)], &[("--out", &config)]).unwrap_err();
        assert!(err.to_string().contains("input --config"), "{err}");

        let x = dir.path().join("x");
        let err = check_outputs(&data, &[], &[("--history", &x), ("--out", &x)]).unwrap_err();
        assert!(
            err.to_string()
                .contains("are the same file: give each output its own path"),
            "{err}"
        );

        check_outputs(
            &data,
            &[("--config", &config)],
            &[
                ("--out", &dir.path().join("params.ron")),
                ("--history", &dir.path().join("history.csv")),
                ("--plot", &data.join("plot.svg")),
            ],
        )
        .unwrap();
    }
}
