//! A training step allocates nothing of its own once the buffers have their size: counted by a
//! global allocator that tallies the allocations of the current thread.
//!
//! The one allocation left per matrix product is matrixmultiply's packing buffer (one `Alloc` per
//! `sgemm` call, see its `make_packing_buffer`): a few tens of kilobytes against millions of
//! multiply-adds. The test counts exactly those, so any allocation added by our code fails it.

#![allow(unsafe_code)] // implementing GlobalAlloc is unsafe by definition

use nn_core::{Activation, Matrix, NetConfig, Parameters, PredictScratch, Targets, TwoLayerNet};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// thread-local `Cell` without destructor, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// GEMM calls per step: 2 forward + 3 backward (dW2, dx2, dW1; no dx1) in `gradient`, and 2 in
/// `count_correct`.
const GEMMS_PER_STEP: usize = 7;

#[test]
fn training_steps_and_chunked_accuracy_do_not_allocate() {
    for activation in [Activation::Sigmoid, Activation::Relu] {
        let config = NetConfig {
            activation,
            ..NetConfig::default()
        };
        let mut net = TwoLayerNet::<f32>::new(config, 0).unwrap();
        let x = Matrix::from_fn(784, 100, |i, n| ((i * 7 + n * 13) % 256) as f32 / 255.0);
        let labels: Vec<u8> = (0..100).map(|n| (n % 10) as u8).collect();
        let mut scratch = PredictScratch::new();
        let mut step = |net: &mut TwoLayerNet<f32>| {
            let loss = net.gradient(&x, Targets::Labels(&labels));
            net.visit_params(&mut |p| p.value.zip_apply(p.grad, |w, g| *w -= 0.1 * g));
            loss + net.count_correct(&x, &labels, &mut scratch) as f32
        };
        step(&mut net); // sizes the buffers
        let before = allocations();
        for _ in 0..3 {
            step(&mut net);
        }
        assert_eq!(
            allocations() - before,
            3 * GEMMS_PER_STEP,
            "{activation}: allocations in three steps"
        );
    }
}
