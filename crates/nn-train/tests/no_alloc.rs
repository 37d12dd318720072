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

use nn_core::{
    Activation, Init, Matrix, Model, MultiLayerNetConfig, Sequential, Shape, Targets,
    TwoLayerConfig, TwoLayerNet,
};
use nn_train::{
    Dataset, GradientMethod, Length, OptimizerKind, OptimizerSpec, Silent, TrainConfig, train,
};

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

const BATCH: usize = 60;

/// A 64-8-10 ReLU two-layer net for `Noise`.
fn two_layer() -> TwoLayerNet<f32> {
    let config = TwoLayerConfig {
        input_size: 64,
        hidden_size: 8,
        output_size: 10,
        activation: Activation::Relu,
        weight_init_std: 0.01,
    };
    TwoLayerNet::new(config, 1).unwrap()
}

/// The allocations of a run of `iters` iterations of `net` trained by `optimizer`.
fn allocations_of_a_run<M: Model<f32>>(net: M, optimizer: OptimizerSpec, iters: usize) -> usize {
    allocations_of_a_run_by(net, optimizer, iters, GradientMethod::Backprop)
}

/// The same with the gradient computed by `gradient`.
fn allocations_of_a_run_by<M: Model<f32>>(
    net: M,
    optimizer: OptimizerSpec,
    iters: usize,
    gradient: GradientMethod,
) -> usize {
    let config = TrainConfig {
        batch_size: BATCH,
        length: Length::Iters(iters),
        optimizer,
        gradient,
        ..TrainConfig::default()
    }
    .check()
    .unwrap();
    let (count, trained) = allocations_of(|| train(&config, net, &Noise, &Noise, &mut Silent));
    drop(trained.unwrap());
    count
}

/// Allocations of one backprop gradient and update on a batch whose buffers (and the
/// optimizer's state) already have their size.
fn allocations_of_a_step<M: Model<f32>>(mut net: M, optimizer: OptimizerSpec) -> usize {
    let mut optimizer = optimizer.build::<f32>();
    let x = Matrix::from_element(64, BATCH, 0.5f32);
    let labels = [3u8; BATCH];
    let mut step = || {
        net.gradient(&x, Targets::Labels(&labels));
        optimizer.update(&mut net);
    };
    step();
    allocations_of(step).0
}

/// Ten more iterations cost exactly ten steps' allocations.
fn check<M: Model<f32>>(net: impl Fn() -> M, optimizer: OptimizerSpec) {
    // 1000 / 60 = 16 iterations per epoch: runs of 5 and 15 iterations both evaluate twice
    // (after iteration 0 and after the last one).
    allocations_of_a_run(net(), optimizer, 5); // warm-up: the GEMM kernel's per-thread buffers
    let short = allocations_of_a_run(net(), optimizer, 5);
    let long = allocations_of_a_run(net(), optimizer, 15);
    assert_eq!(long - short, 10 * allocations_of_a_step(net(), optimizer));
}

#[test]
fn iterations_allocate_nothing_of_their_own() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        check(two_layer, OptimizerSpec::Sgd { lr: 0.1 });
        // A stack with every layer of chapter 6, trained by Adam.
        let stack = || {
            let spec = MultiLayerNetConfig {
                hidden: vec![16, 16],
                activation: Activation::Relu,
                init: Init::He,
                batch_norm: true,
                dropout: Some(0.2),
                weight_decay: 0.1,
            }
            .spec(Shape::flat(64), 10);
            Sequential::<f32>::new(spec, 1).unwrap()
        };
        check(stack, OptimizerKind::Adam.with_lr(0.001));
    });
}

/// `--gradient numerical` (the two-layer net's fast central differences) allocates nothing per
/// iteration either: ten more iterations cost ten numerical gradients and updates.
#[test]
fn numerical_iterations_allocate_nothing_of_their_own() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        let sgd = OptimizerSpec::Sgd { lr: 0.1 };
        let run =
            |iters| allocations_of_a_run_by(two_layer(), sgd, iters, GradientMethod::Numerical);
        run(5); // warm-up: the GEMM kernel's per-thread buffers
        let (short, long) = (run(5), run(15));

        let (mut net, mut optimizer) = (two_layer(), sgd.build::<f32>());
        let x = Matrix::from_element(64, BATCH, 0.5f32);
        let labels = [3u8; BATCH];
        let mut step = || {
            // The trait's method (the fast one); TwoLayerNet's own is the book's naive one.
            Model::numerical_gradient(&mut net, &x, Targets::Labels(&labels));
            optimizer.update(&mut net);
        };
        step();
        assert_eq!(long - short, 10 * allocations_of(step).0);
    });
}
