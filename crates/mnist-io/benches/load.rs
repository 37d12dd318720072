//! How long loading MNIST takes: decompressed files (as `cargo xtask fetch-mnist` stores them,
//! in `data/mnist`) and gzip files (the shared mirror folder, or `MNIST_GZ_DIR`).

use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use mnist_io::{FILES, Mnist};

fn load(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let gz = std::env::var_os("MNIST_GZ_DIR")
        .map_or_else(|| root.join("../shared/data/mnist"), PathBuf::from);
    let mut group = c.benchmark_group("Mnist::load");
    group.sample_size(10);
    for (name, dir) in [("raw data/mnist", root.join("data/mnist")), ("gzip", gz)] {
        if FILES
            .iter()
            .all(|file| mnist_io::find_file(&dir, file).is_some())
        {
            group.bench_function(name, |b| b.iter(|| Mnist::load(&dir).unwrap()));
        } else {
            eprintln!("skipped {name}: MNIST not found at {}", dir.display());
        }
    }
    group.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
