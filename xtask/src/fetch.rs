//! `cargo xtask fetch-mnist`: download MNIST (or Fashion-MNIST) into `data/` and verify it.

use std::path::PathBuf;
use std::time::Duration;

use mnist_io::fetch::{self, Dataset, FetchError, FetchOptions};

/// Arguments of the command.
#[derive(clap::Args)]
pub struct FetchArgs {
    /// Output folder [default: data/mnist, or data/fashion with --dataset fashion].
    #[arg(long)]
    out: Option<PathBuf>,
    /// A mirror to try first: http(s):// URL, file:// URL or folder (repeatable). The variable
    /// MNIST_MIRROR (FASHION_MNIST_MIRROR) is tried next, then the public mirrors.
    #[arg(long, value_name = "URL_OR_DIR")]
    mirror: Vec<String>,
    /// Which dataset: `mnist` or `fashion`.
    #[arg(long, default_value = "mnist")]
    dataset: Dataset,
    /// Download again even the files already present and verified.
    #[arg(long)]
    force: bool,
    /// Give up on a mirror after this many seconds with less than 1 KiB received.
    #[arg(long, value_name = "SECONDS", default_value_t = fetch::DEFAULT_STALL_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    stall_timeout: u64,
}

/// Runs the command: fetches what is missing, then prints one summary line.
pub fn run(args: FetchArgs) -> anyhow::Result<()> {
    let mut options = FetchOptions::new(args.dataset, &args.mirror);
    if let Some(out) = args.out {
        options.out = out;
    }
    options.force = args.force;
    options.stall_timeout = Duration::from_secs(args.stall_timeout);
    let summary = fetch::fetch(&options).map_err(|err| {
        // Only a file that no mirror could serve is the mirrors' fault.
        let advice = match &err {
            FetchError::AllMirrorsFailed { .. } => format!(
                "cannot fetch {} into {}: give a reachable mirror with --mirror URL_OR_DIR or \
                 the {} variable (a folder holding the four files will do)",
                args.dataset,
                options.out.display(),
                args.dataset.mirror_env_var()
            ),
            FetchError::OutNotAFolder { .. } | FetchError::CreateDir { .. } => format!(
                "cannot fetch {} into --out {}: give a folder",
                args.dataset,
                options.out.display()
            ),
            _ => format!(
                "cannot fetch {} into {}",
                args.dataset,
                options.out.display()
            ),
        };
        anyhow::Error::new(err).context(advice)
    })?;
    println!("{summary}");
    Ok(())
}
