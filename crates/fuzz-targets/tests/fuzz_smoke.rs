//! The short fuzzing mode of CI: every input kept under `fuzz/corpus/<target>/` (what the
//! coverage-guided runs found interesting, and any crash reproducer) runs as a regression test,
//! then each target gets a few seconds of mutations of its corpus and seeds
//! (`FUZZ_SMOKE_SECONDS`, default 3). The whole test runs under an allocator that aborts beyond
//! 512 MiB in use, the same bound as the long runs.
//!
//! A failing input is written to `target/fuzz-smoke-failure-<target>` and named in the panic.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cap::Cap;
use fuzz_targets::{TARGETS, Target, mutate::Mutator};

/// Bytes the process may have allocated at once.
const ALLOCATION_BOUND: usize = 512 << 20;

#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, ALLOCATION_BOUND);

/// The inputs of `fuzz/corpus/<target>/`, sorted by name.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

/// Runs `target` on `input`; on a panic, saves the input and fails naming it.
fn run_one(target: &Target, input: &[u8], origin: &str) {
    let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    if result.is_err() {
        let saved = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target")
            .join(format!("fuzz-smoke-failure-{}", target.name));
        let _ = std::fs::write(&saved, input);
        panic!(
            "target {} panicked on {origin} (saved to {}); reproduce with \
             `cargo fuzz run {} {}`",
            target.name,
            saved.display(),
            target.name,
            saved.display()
        );
    }
}

#[test]
fn the_corpus_runs_clean_as_regression_tests() {
    for target in TARGETS {
        let inputs = corpus(target.name);
        for (path, bytes) in &inputs {
            run_one(target, bytes, &path.display().to_string());
        }
        for (name, bytes) in fuzz_targets::seeds(target.name) {
            run_one(target, &bytes, &format!("seed {name}"));
        }
        eprintln!("{}: {} corpus inputs ran clean", target.name, inputs.len());
    }
}

#[test]
fn a_few_seconds_of_mutations_per_target_find_nothing() {
    let seconds: u64 = std::env::var("FUZZ_SMOKE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    for (k, target) in TARGETS.iter().enumerate() {
        let mut inputs: Vec<Vec<u8>> = corpus(target.name).into_iter().map(|(_, b)| b).collect();
        inputs.extend(fuzz_targets::seeds(target.name).into_iter().map(|(_, b)| b));
        let mut mutator = Mutator::new(inputs, 0x5eed + k as u64);
        let start = Instant::now();
        let mut runs = 0u64;
        while start.elapsed() < Duration::from_secs(seconds) {
            let input = mutator.next_input(4096);
            run_one(target, &input, &format!("mutation {runs}"));
            runs += 1;
        }
        eprintln!(
            "{}: {runs} mutated inputs in {seconds} s, no failure; at most {} MiB in use",
            target.name,
            ALLOCATION_BOUND >> 20
        );
        assert!(runs > 0);
    }
}
