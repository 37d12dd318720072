//! The training loop adds no allocation of its own per iteration: ten more iterations cost
//! exactly ten gradient computations' worth of allocations, and those are only matrixmultiply's
//! packing buffers (one per matrix product, see nn-core's `no_alloc` test).
//!
//! This file holds a single test, so that the counting allocator sees no other test's work.

// A counting global allocator needs `unsafe impl GlobalAlloc`; it only forwards to the system
// allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use nn_core::{Activation, Matrix, NetConfig, Targets, TwoLayerNet};
use nn_train::{Dataset, Sgd, Silent, TrainConfig, train};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let trained = train(&config, &Noise, &Noise, &mut sgd, &mut Silent).unwrap();
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    drop(trained);
    after - before
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
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    net.gradient(&x, Targets::Labels(&labels));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn iterations_allocate_nothing_of_their_own() {
    // 1000 / 60 = 16 iterations per epoch: runs of 5 and 15 iterations both evaluate twice
    // (after iteration 0 and after the last one).
    allocations_of_a_run(5); // warm up rayon's pool
    let short = allocations_of_a_run(5);
    let long = allocations_of_a_run(15);
    let per_gradient = allocations_of_a_gradient();
    assert!(per_gradient <= 5, "{per_gradient} allocations per gradient");
    assert_eq!(long - short, 10 * per_gradient);
}
