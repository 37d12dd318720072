//! The training loop adds no allocation of its own per iteration: ten more iterations cost
//! exactly ten gradient computations' worth of allocations, and those are only the GEMM kernel's
//! packing buffers (nn-core's `no_alloc` test pins them down).
//!
//! Allocations are counted per thread, inside a one-thread rayon pool so that the whole run
//! (nn-core's split products and the chunked evaluation included) happens on that thread: with
//! more threads, rayon's work stealing allocates now and then, by timing.

// A counting global allocator needs `unsafe impl GlobalAlloc`; it only forwards to the system
// allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use nn_core::{Activation, Matrix, NetConfig, Targets, TwoLayerNet};
use nn_train::{Dataset, Sgd, Silent, TrainConfig, train};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// thread-local `Cell` without destructor, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by the current thread while `f` runs.
fn allocations_of<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = f();
    (ALLOCATIONS.with(Cell::get) - before, result)
}

/// 1000 samples of 64 inputs, 10 classes.
struct Noise;

impl Dataset for Noise {
    fn len(&self) -> usize {
        1000
    }
    fn input_size(&self) -> usize {
        64
    }
    fn num_classes(&self) -> usize {
        10
    }
    fn pixels(&self, i: usize) -> &[u8] {
        static PIXELS: [u8; 64 * 16] = {
            let mut p = [0u8; 64 * 16];
            let mut k = 0;
            while k < p.len() {
                p[k] = (k * 37 % 256) as u8;
                k += 1;
            }
            p
        };
        let start = i % 16 * 64;
        &PIXELS[start..start + 64]
    }
    fn label(&self, i: usize) -> u8 {
        (i % 10) as u8
    }
}

const HIDDEN: usize = 8;
const BATCH: usize = 60;

fn allocations_of_a_run(iters: usize) -> usize {
    let config = TrainConfig {
        hidden_size: HIDDEN,
        activation: Activation::Relu,
        batch_size: BATCH,
        iters,
        ..TrainConfig::default()
    };
    let mut sgd = Sgd::new(0.1);
    let (count, trained) = allocations_of(|| train(&config, &Noise, &Noise, &mut sgd, &mut Silent));
    drop(trained.unwrap());
    count
}

/// Allocations of one backprop gradient on a batch whose buffers already have their size.
fn allocations_of_a_gradient() -> usize {
    let config = NetConfig {
        input_size: 64,
        hidden_size: HIDDEN,
        output_size: 10,
        activation: Activation::Relu,
        weight_init_std: 0.01,
    };
    let mut net = TwoLayerNet::<f32>::new(config, 1).unwrap();
    let x = Matrix::from_element(64, BATCH, 0.5f32);
    let labels = [3u8; BATCH];
    net.gradient(&x, Targets::Labels(&labels));
    allocations_of(|| net.gradient(&x, Targets::Labels(&labels))).0
}

#[test]
fn iterations_allocate_nothing_of_their_own() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        // 1000 / 60 = 16 iterations per epoch: runs of 5 and 15 iterations both evaluate twice
        // (after iteration 0 and after the last one).
        allocations_of_a_run(5); // warm-up: the GEMM kernel's per-thread buffers
        let short = allocations_of_a_run(5);
        let long = allocations_of_a_run(15);
        assert_eq!(long - short, 10 * allocations_of_a_gradient());
    });
}

/// Allocations of a run of `iters` iterations with the numerical gradient.
fn allocations_of_a_numerical_run(iters: usize) -> usize {
    let config = TrainConfig {
        hidden_size: HIDDEN,
        activation: Activation::Relu,
        batch_size: BATCH,
        iters,
        gradient: nn_train::GradientMethod::Numerical,
        ..TrainConfig::default()
    };
    let mut sgd = Sgd::new(0.1);
    let (count, trained) = allocations_of(|| train(&config, &Noise, &Noise, &mut sgd, &mut Silent));
    drop(trained.unwrap());
    count
}

/// Allocations of one numerical iteration's own work on a batch whose buffers already have their
/// size: the f32 loss for the history (a forward pass) and the fast numerical gradient.
fn allocations_of_a_numerical_gradient() -> usize {
    let config = NetConfig {
        input_size: 64,
        hidden_size: HIDDEN,
        output_size: 10,
        activation: Activation::Relu,
        weight_init_std: 0.01,
    };
    let mut net = TwoLayerNet::<f32>::new(config, 1).unwrap();
    let x = Matrix::from_element(64, BATCH, 0.5f32);
    let labels = [3u8; BATCH];
    let mut scratch = nn_core::FastNumericalGradient::new();
    let mut step = || {
        net.loss(&x, Targets::Labels(&labels));
        net.numerical_gradient_fast(&x, &labels, &mut scratch);
    };
    step();
    allocations_of(step).0
}

#[test]
fn numerical_iterations_allocate_nothing_of_their_own() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        allocations_of_a_numerical_run(5); // warm-up: the GEMM kernel's per-thread buffers
        let short = allocations_of_a_numerical_run(5);
        let long = allocations_of_a_numerical_run(15);
        assert_eq!(long - short, 10 * allocations_of_a_numerical_gradient());
    });
}
