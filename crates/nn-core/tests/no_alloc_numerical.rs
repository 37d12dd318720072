//! The fast numerical gradient allocates nothing of its own once its buffers have their size:
//! counted by a global allocator that tallies the allocations of the current thread, inside a
//! one-thread rayon pool so that the whole computation runs on that thread (as
//! `tests/no_alloc.rs` does for a backprop step).
//!
//! The only allocations left are the `gemm` kernel's own packing buffers in the two products of
//! the forward pass: the test counts what the kernel allocates for the same products alone, and
//! requires the numerical gradient to allocate exactly that.

#![allow(unsafe_code)] // implementing GlobalAlloc is unsafe by definition

use nn_core::{Activation, FastNumericalGradient, Float, Matrix, NetConfig, Op, TwoLayerNet};
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

/// Allocations made by the current thread while `f` runs.
fn allocations_of(mut f: impl FnMut()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn numerical_gradients_allocate_only_inside_the_gemm_kernel() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        for activation in [Activation::Sigmoid, Activation::Relu] {
            let config = NetConfig {
                activation,
                ..NetConfig::default()
            };
            let mut net = TwoLayerNet::<f32>::new(config, 0).unwrap();
            // MNIST-like: about a fifth of the pixels lit, a different batch every call.
            let batch = |k: usize| {
                Matrix::from_fn(784, 100, |i, n| {
                    let v = (i * 7 + n * 13 + k * 31) % 256;
                    if v < 50 { v as f32 / 255.0 } else { 0.0 }
                })
            };
            let labels: Vec<u8> = (0..100).map(|n| (n % 10) as u8).collect();
            let batches: Vec<_> = (0..4).map(batch).collect();
            let mut scratch = FastNumericalGradient::new();
            net.numerical_gradient_fast(&batches[0], &labels, &mut scratch); // sizes the buffers

            // The forward pass's two products, f64, with the same shapes and transposes:
            // [W1; b1ᵀ]ᵀ·[x; 1] and [W2; b2ᵀ]ᵀ·[z1; 1].
            let (w1, w2_t) = (Matrix::<f64>::zeros(785, 50), Matrix::<f64>::zeros(10, 51));
            let (x, z1) = (
                Matrix::<f64>::zeros(785, 100),
                Matrix::<f64>::zeros(51, 100),
            );
            let (mut a1, mut a2) = (Matrix::zeros(50, 100), Matrix::zeros(10, 100));
            let mut products = || {
                f64::gemm(1.0, &w1, Op::T, &x, Op::N, 0.0, &mut a1);
                f64::gemm(1.0, &w2_t, Op::N, &z1, Op::N, 0.0, &mut a2);
            };
            products(); // the kernel's per-thread buffers, allocated on first use
            let kernel = allocations_of(&mut products) * 3;
            let steps = allocations_of(|| {
                for x in &batches[1..] {
                    net.numerical_gradient_fast(x, &labels, &mut scratch);
                }
            });
            assert_eq!(
                steps, kernel,
                "{activation}: allocations in three gradients"
            );
        }
    });
}
