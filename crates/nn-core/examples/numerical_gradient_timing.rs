//! Times one numerical-gradient iteration of the book's 784-50-10 network at batch 100, side by
//! side: the fast method ([`FastNumericalGradient`], from the `f32` parameters the trainer holds)
//! on one and two threads, and the naive one (`TwoLayerNet::numerical_gradient`, two whole
//! forward passes per entry) in `f64` and in `f32`, in rounds that alternate between them.
//!
//! ```text
//! cargo run --release -p nn-core --example numerical_gradient_timing -- [ROUNDS] [FAST] [NAIVE]
//! ```
//!
//! `ROUNDS` (default 3) rounds of `FAST` (default 20) fast iterations per thread count and
//! one naive iteration of each type (skipped when `NAIVE` is `0`). The batch is synthetic, with
//! MNIST's share of non-zero pixels (19 %): the fast method's work is proportional to it.

use std::time::Instant;

use nn_core::kernels::numerical::{FastNumericalGradient, Hidden};
use nn_core::{Activation, Matrix, Targets, TwoLayerConfig, TwoLayerNet};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let (rounds, fast_iters, naive) = (arg(1, 3), arg(2, 20), arg(3, 1) != 0);

    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = Matrix::from_fn(784, 100, |_, _| {
        if rng.random::<f64>() < 0.19 {
            f32::from(rng.random_range(1..=255u8)) / 255.0
        } else {
            0.0
        }
    });
    let labels: Vec<u8> = (0..100).map(|_| rng.random_range(0..10u8)).collect();
    let nonzero = x.iter().filter(|&&v| v != 0.0).count();
    println!(
        "784-50-10 sigmoid, batch 100, {:.1} % non-zero pixels",
        100.0 * nonzero as f64 / x.len() as f64
    );
    let config = TwoLayerConfig {
        activation: Activation::Sigmoid,
        ..TwoLayerConfig::default()
    };
    let mut net = TwoLayerNet::<f32>::new(config, 42).unwrap();
    let mut wide = net.cast::<f64>();
    let x64 = x.map(f64::from);
    let p = net.params();
    let mut g = p.clone();
    let pools = [1, 2].map(|threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    });
    let mut fast = FastNumericalGradient::new();
    let mut step = || {
        fast.gradient(
            [&p.w1, &p.b1, &p.w2, &p.b2],
            Hidden::Sigmoid,
            &x,
            &labels,
            [&mut g.w1, &mut g.b1, &mut g.w2, &mut g.b2],
        )
    };
    step(); // sizes the buffers
    for round in 1..=rounds {
        let mut line = format!("round {round}:");
        for (pool, threads) in pools.iter().zip([1, 2]) {
            let start = Instant::now();
            pool.install(|| {
                (0..fast_iters).for_each(|_| {
                    step();
                })
            });
            let ms = start.elapsed().as_secs_f64() * 1e3 / fast_iters as f64;
            line += &format!("  fast {threads} thread(s) {ms:.1} ms");
        }
        if naive {
            let start = Instant::now();
            pools[1]
                .install(|| drop(wide.naive_numerical_gradient(&x64, Targets::Labels(&labels))));
            line += &format!("  naive f64 {:.2} s", start.elapsed().as_secs_f64());
            let start = Instant::now();
            pools[1].install(|| drop(net.naive_numerical_gradient(&x, Targets::Labels(&labels))));
            line += &format!("  naive f32 {:.2} s", start.elapsed().as_secs_f64());
        }
        println!("{line}");
    }
}
