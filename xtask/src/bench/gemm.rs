//! The GEMM peak of this machine, measured with the network's own GEMM (`nn_kernels::gemm::gemm`
//! in `f32`), in the same release build as `nn-cli`.
//!
//! Three figures: large square products one at a time (on as many cores as the kernel uses by
//! itself), the same with one product per core at once (the machine's peak even when the kernel
//! is single-threaded), and the five products of one training iteration at the book's shapes,
//! one at a time, as the training loop calls them.

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::Instant;

use anyhow::Result;
use nn_core::Matrix;
use nn_core::kernels::{Op, gemm::gemm};

use super::{Work, parse_field};

/// How the line printed by the `gemm-peak` helper starts.
const PREFIX: &str = "xtask-gemm:";
/// Side of the large square product.
const SIZE: usize = 2048;
/// Timed large products per thread (after one warm-up product).
const LARGE_REPS: usize = 3;
/// Training iterations per timed block, and timed blocks (the best block counts).
const BLOCK_ITERS: usize = 200;
const BLOCKS: usize = 5;

/// GEMM rates in GFLOP/s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GemmRates {
    /// Threads of the all-cores figure.
    pub threads: usize,
    /// `SIZE`³ products, one at a time, from one calling thread.
    pub one_at_a_time: f64,
    /// `SIZE`³ products, one per core, on `threads` threads at once.
    pub all_cores: f64,
    /// The GEMMs of a training iteration at the book's shapes, one at a time.
    pub training_shapes: f64,
}

impl GemmRates {
    /// The machine's measured peak: the better of the one-thread and all-cores figures.
    pub fn peak(&self) -> f64 {
        self.one_at_a_time.max(self.all_cores)
    }

    /// The better of two measurements, figure by figure.
    pub fn best(&self, other: &Self) -> Self {
        Self {
            threads: self.threads,
            one_at_a_time: self.one_at_a_time.max(other.one_at_a_time),
            all_cores: self.all_cores.max(other.all_cores),
            training_shapes: self.training_shapes.max(other.training_shapes),
        }
    }

    /// Measures the three rates (about two seconds on two cores).
    pub fn measure() -> Self {
        let threads = thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            threads,
            one_at_a_time: large_products(1),
            all_cores: large_products(threads),
            training_shapes: training_iterations(),
        }
    }

    fn to_line(self) -> String {
        format!(
            "{PREFIX} size={SIZE} threads={} one_at_a_time={:.3} all_cores={:.3} training_shapes={:.3}",
            self.threads, self.one_at_a_time, self.all_cores, self.training_shapes
        )
    }

    /// Finds the `gemm-peak` helper's line in its output.
    pub fn parse_output(stdout: &str) -> Result<Self> {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(PREFIX))
            .ok_or_else(|| anyhow::anyhow!("the GEMM helper printed no `{PREFIX}` line"))?;
        Ok(Self {
            threads: parse_field(line, "threads")?,
            one_at_a_time: parse_field(line, "one_at_a_time")?,
            all_cores: parse_field(line, "all_cores")?,
            training_shapes: parse_field(line, "training_shapes")?,
        })
    }
}

/// The hidden `gemm-peak` helper: measure and print one line.
pub fn run() {
    println!("{}", GemmRates::measure().to_line());
}

/// A matrix of small, exactly representable values (no zeros, no denormals).
fn filled(rows: usize, cols: usize) -> Matrix<f32> {
    Matrix::from_fn(rows, cols, |i, j| {
        ((i * 3 + j * 5) % 11) as f32 * 0.125 - 0.5
    })
}

/// GFLOP/s of `SIZE`³ products, one on each of `threads` calling threads at once.
fn large_products(threads: usize) -> f64 {
    let start_line = Barrier::new(threads);
    let longest = thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let (a, b) = (filled(SIZE, SIZE), filled(SIZE, SIZE));
                    let mut c = Matrix::zeros(SIZE, SIZE);
                    gemm(1.0, &a, Op::N, &b, Op::N, 0.0, &mut c); // warm-up
                    start_line.wait();
                    let start = Instant::now();
                    for _ in 0..LARGE_REPS {
                        gemm(1.0, &a, Op::N, black_box(&b), Op::N, 0.0, &mut c);
                    }
                    black_box(&c);
                    start.elapsed().as_secs_f64()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a GEMM thread panicked"))
            .fold(0.0, f64::max)
    });
    let flop = 2.0 * (SIZE as f64).powi(3) * (LARGE_REPS * threads) as f64;
    flop / longest / 1e9
}

/// GFLOP/s of the five GEMMs of one training iteration, called one after the other (forward `W1ᵀ·x`, `W2ᵀ·z`; backward
/// `dW2 = z·dyᵀ`, `dz = W2·dy`, `dW1 = x·dzᵀ`), with the layouts and transposes the layers use.
fn training_iterations() -> f64 {
    let work = Work::BOOK;
    let (i, h, o, n) = (work.input, work.hidden, work.output, work.batch);
    let (w1, w2, x) = (filled(i, h), filled(h, o), filled(i, n));
    let (mut z, mut y, mut dy) = (filled(h, n), Matrix::zeros(o, n), filled(o, n));
    let (mut dw1, mut dw2, mut dz) = (
        Matrix::zeros(i, h),
        Matrix::zeros(h, o),
        Matrix::zeros(h, n),
    );
    let mut best = f64::INFINITY;
    for _ in 0..BLOCKS {
        let start = Instant::now();
        for _ in 0..BLOCK_ITERS {
            gemm(1.0, &w1, Op::T, &x, Op::N, 0.0, &mut z);
            gemm(1.0, &w2, Op::T, &z, Op::N, 0.0, &mut y);
            gemm(1.0, &z, Op::N, &dy, Op::T, 0.0, &mut dw2);
            gemm(1.0, &w2, Op::N, &dy, Op::N, 0.0, &mut dz);
            gemm(1.0, &x, Op::N, &dz, Op::T, 0.0, &mut dw1);
            // The compiler must assume the operands change between iterations.
            black_box((&mut z, &mut dy));
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    work.iteration_flop() * BLOCK_ITERS as f64 / best / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_round_trips() {
        let rates = GemmRates {
            threads: 2,
            one_at_a_time: 89.5,
            all_cores: 170.25,
            training_shapes: 60.125,
        };
        assert_eq!(GemmRates::parse_output(&rates.to_line()).unwrap(), rates);
        assert_eq!(rates.peak(), 170.25);
        let other = GemmRates {
            one_at_a_time: 180.0,
            training_shapes: 50.0,
            ..rates
        };
        assert_eq!(
            rates.best(&other),
            GemmRates {
                one_at_a_time: 180.0,
                ..rates
            },
            "figure by figure"
        );
        assert_eq!(rates.best(&other).peak(), 180.0);
    }
}
