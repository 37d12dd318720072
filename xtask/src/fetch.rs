//! `cargo xtask fetch` (being written).

/// Arguments of the command.
#[derive(clap::Args)]
pub struct FetchArgs {}

/// Runs the command.
pub fn run(_args: FetchArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
