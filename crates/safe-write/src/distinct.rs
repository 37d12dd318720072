//! A run's outputs must not be its inputs, nor each other.

use std::path::Path;

use crate::Error;
use crate::target::Identity;

/// Refuses a set of outputs when one of them is one of the `inputs`, or two of them are the same
/// file, so that a run cannot overwrite its own data or write two outputs into one file.
///
/// Each input and output comes with the flag that named it (`"--out"`, `"--data"`...), used in
/// the error. Paths are compared as the files they name: through symbolic links (as
/// [`crate::AtomicFile`] writes through them), `..` and hard links (same device and inode);
/// paths that do not exist yet are compared once made absolute. Call it before the work that
/// produces the outputs, so that a mistake costs nothing.
///
/// ```
/// use std::path::Path;
///
/// let err = safe_write::check_distinct(
///     &[("--data", Path::new("data/mnist/t10k-labels-idx1-ubyte"))],
///     &[("--out", Path::new("data/mnist/../mnist/t10k-labels-idx1-ubyte"))],
/// )
/// .unwrap_err();
/// assert!(err.to_string().starts_with("--out data/mnist/../mnist/t10k-labels-idx1-ubyte is the same file as the input --data"));
///
/// let err = safe_write::check_distinct(
///     &[],
///     &[("--history", Path::new("x")), ("--out", Path::new("./x"))],
/// )
/// .unwrap_err();
/// assert_eq!(err.to_string(), "--history x and --out ./x are the same file: give each output its own path");
/// ```
///
/// # Errors
/// [`Error::OutputIsInput`] or [`Error::SameOutput`], for the first clash found.
pub fn check_distinct(inputs: &[(&str, &Path)], outputs: &[(&str, &Path)]) -> Result<(), Error> {
    let name = |(flag, path): &(&str, &Path)| {
        if flag.is_empty() {
            path.display().to_string()
        } else {
            format!("{flag} {}", path.display())
        }
    };
    let inputs: Vec<_> = inputs.iter().map(|i| (i, Identity::of(i.1))).collect();
    let outputs: Vec<_> = outputs.iter().map(|o| (o, Identity::of(o.1))).collect();
    for (k, (output, identity)) in outputs.iter().enumerate() {
        if let Some((input, _)) = inputs.iter().find(|(_, i)| i.same_as(identity)) {
            return Err(Error::OutputIsInput {
                output: name(output),
                input: name(input),
            });
        }
        if let Some((earlier, _)) = outputs[..k].iter().find(|(_, o)| o.same_as(identity)) {
            return Err(Error::SameOutput {
                first: name(earlier),
                second: name(output),
            });
        }
    }
    Ok(())
}
