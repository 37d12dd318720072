//! Writes every target's seed inputs into `<corpus>/<target>/seed-<name>` (default corpus:
//! `fuzz/corpus`), for the coverage-guided fuzzers to start from.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let corpus = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("fuzz/corpus"), PathBuf::from);
    for target in fuzz_targets::TARGETS {
        let dir = corpus.join(target.name);
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in fuzz_targets::seeds(target.name) {
            std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
        }
        println!("{}: seeds written to {}", target.name, dir.display());
    }
    Ok(())
}
