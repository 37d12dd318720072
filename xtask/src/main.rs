//! Project automation, run as `cargo xtask <command>` (the alias lives in `.cargo/config.toml`).
//!
//! - `cargo xtask fetch-mnist`: download and verify MNIST (or Fashion-MNIST) into `data/`.
//! - `cargo xtask bench`: time the default training run against the NumPy reference, or
//!   (`--net simple-convnet|deep-convnet`) the book's CNNs per iteration against NumPy and PyTorch.

mod bench;
mod fetch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Project automation for the dlfs-rs workspace.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download MNIST or Fashion-MNIST and verify every file's SHA-256.
    FetchMnist(fetch::FetchArgs),
    /// Time the default `train` run against the NumPy reference, side by side.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::FetchMnist(args) => fetch::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The message and its causes, without the backtrace anyhow adds when RUST_BACKTRACE
            // is set: a failed download or benchmark is not a bug in xtask.
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
