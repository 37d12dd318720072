//! stub
use anyhow::Result;
use super::Context;
/// stub
pub fn run(_ctx: &Context) -> Result<()> { anyhow::bail!("not yet") }
