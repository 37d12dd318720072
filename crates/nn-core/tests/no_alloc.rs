//! A training step allocates nothing of its own once the buffers have their size: counted by a
//! global allocator that tallies the allocations of the current thread, inside a one-thread rayon
//! pool so that the whole step runs on that thread.
//!
//! The only allocations left are the `gemm` kernel's own packing buffers (up to two small ones
//! per kernel call, see `gemm_common::gemm::gemm_basic_generic`): a few kilobytes against
//! millions of multiply-adds. The test runs the same products alone, counts what the kernel
//! allocates for them, and requires a whole step (gradient, SGD update, a copy's accuracy) to
//! allocate exactly that: any allocation added by our code fails it.

#![allow(unsafe_code)] // implementing GlobalAlloc is unsafe by definition

use nn_core::kernels::Op;
use nn_core::kernels::gemm::gemm;
use nn_core::kernels::numerical::FastNumericalGradient;
use nn_core::{
    Activation, Matrix, Model, NetSpec, Sequential, Shape, Targets, Trainable, TwoLayerConfig,
    TwoLayerNet, count_matches,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// thread-local `Cell` without destructor, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        BYTES.with(|n| n.set(n.get() + layout.size()));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        BYTES.with(|n| n.set(n.get() + new_size));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The allocations and the bytes the current thread allocates while `f` runs.
fn tally(mut f: impl FnMut()) -> (usize, usize) {
    let before = (ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get));
    f();
    (
        ALLOCATIONS.with(Cell::get) - before.0,
        BYTES.with(Cell::get) - before.1,
    )
}

/// Allocations made by the current thread while `f` runs.
fn allocations_of(f: impl FnMut()) -> usize {
    tally(f).0
}

/// Asserts that three calls of `step` allocate exactly what three calls of `products` allocate,
/// once a first call of `products` has allocated the kernel's per-thread buffer.
fn assert_allocates_as(mut products: impl FnMut(), mut step: impl FnMut(), label: &str) {
    products();
    let kernel = allocations_of(&mut products) * 3;
    let steps = allocations_of(|| {
        for _ in 0..3 {
            step();
        }
    });
    assert_eq!(steps, kernel, "{label}: allocations in three steps");
}

#[test]
fn training_steps_and_chunked_accuracy_allocate_only_inside_the_gemm_kernel() {
    // One worker thread: the split products still go through `rayon::join`, whose halves then
    // run in turn on the worker's own deque, which never allocates. (With two threads, rayon's
    // work stealing and its epoch-based memory reclamation allocate now and then, in amounts that
    // depend on timing; a join from outside any pool goes through the global injector, which
    // allocates a block every few dozen jobs.)
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        for activation in [Activation::Sigmoid, Activation::Relu] {
            let config = TwoLayerConfig {
                activation,
                ..TwoLayerConfig::default()
            };
            let mut net = TwoLayerNet::<f32>::new(config, 0).unwrap();
            let x = Matrix::from_fn(784, 100, |i, n| ((i * 7 + n * 13) % 256) as f32 / 255.0);
            let labels: Vec<u8> = (0..100).map(|n| (n % 10) as u8).collect();
            let mut copy = net.snapshot();
            let mut step = |net: &mut TwoLayerNet<f32>| {
                let loss = net.gradient(&x, Targets::Labels(&labels));
                net.visit_params(&mut |p| p.value.zip_apply(p.grad, |w, g| *w -= 0.1 * g));
                let correct = nn_core::kernels::serial(|| count_matches(copy.predict(&x), &labels));
                loss + correct as f32
            };
            step(&mut net); // sizes the buffers

            // The same products, with the same shapes and transposes: 2 forward and 3 backward
            // (dW2, dx2, dW1; no dx1) in `gradient`, 2 in the prediction of a copy.
            let (w1, w2) = (Matrix::<f32>::zeros(784, 50), Matrix::<f32>::zeros(50, 10));
            let (mut h, mut s) = (Matrix::zeros(50, 100), Matrix::zeros(10, 100));
            let (mut dw1, mut dw2, mut dz) = (w1.clone(), w2.clone(), h.clone());
            let dy = s.clone();
            let products = || {
                gemm(1.0, &w1, Op::T, &x, Op::N, 1.0, &mut h);
                gemm(1.0, &w2, Op::T, &h, Op::N, 1.0, &mut s);
                gemm(1.0, &h, Op::N, &dy, Op::T, 0.0, &mut dw2);
                gemm(1.0, &w2, Op::N, &dy, Op::N, 0.0, &mut dz);
                gemm(1.0, &x, Op::N, &dz, Op::T, 0.0, &mut dw1);
                nn_core::kernels::serial(|| {
                    gemm(1.0, &w1, Op::T, &x, Op::N, 1.0, &mut h);
                    gemm(1.0, &w2, Op::T, &h, Op::N, 1.0, &mut s);
                });
            };
            let label = activation.to_string();
            assert_allocates_as(products, || _ = step(&mut net), &label);
        }
    });
}

/// The book's CNNs allocate nothing of their own either: their convolutions run on kernels of
/// our own (direct, or over the col), which allocate nothing, so a step (gradient and update)
/// allocates exactly what the `gemm` kernel allocates for the products of the two affine layers.
/// (Before those kernels, the convolutions' per-sample products through `gemm` allocated its
/// packing buffers at every call: 116 blocks per SimpleConvNet step, 2100 per DeepConvNet step.)
#[test]
fn cnn_training_steps_allocate_only_inside_the_gemm_kernel_of_their_affine_layers() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        let mnist = Shape::new(1, 28, 28);
        // Each net with the shapes of its two affine layers: (inputs, outputs).
        for (spec, affine) in [
            (
                NetSpec::simple_conv_net(mnist, 10),
                [(4320, 100), (100, 10)],
            ),
            (NetSpec::deep_conv_net(mnist, 10), [(1024, 50), (50, 10)]),
        ] {
            let mut net = Sequential::<f32>::new(spec.clone(), 0).unwrap();
            let x = Matrix::from_fn(784, 100, |i, n| ((i * 7 + n * 13) % 256) as f32 / 255.0);
            let labels: Vec<u8> = (0..100).map(|n| (n % 10) as u8).collect();
            let step = |net: &mut Sequential<f32>| {
                let loss = net.gradient(&x, Targets::Labels(&labels));
                net.visit_params(&mut |p| p.value.zip_apply(p.grad, |w, g| *w -= 0.01 * g));
                loss
            };
            step(&mut net); // sizes the buffers

            // The affine layers' products, with their shapes and transposes: forward `Wᵀ·x`,
            // backward `dW = x·doutᵀ` and `dx = W·dout`.
            let mut layers: Vec<_> = affine
                .iter()
                .map(|&(inputs, outputs)| {
                    let w = Matrix::<f32>::zeros(inputs, outputs);
                    let (x, out) = (Matrix::zeros(inputs, 100), Matrix::zeros(outputs, 100));
                    (w.clone(), x.clone(), out.clone(), w, x, out)
                })
                .collect();
            let products = || {
                for (w, x, out, dw, dx, dout) in &mut layers {
                    gemm(1.0, w, Op::T, x, Op::N, 1.0, out);
                    gemm(1.0, x, Op::N, dout, Op::T, 0.0, dw);
                    gemm(1.0, w, Op::N, dout, Op::N, 0.0, dx);
                }
            };
            assert_allocates_as(products, || _ = step(&mut net), &spec.to_string());
        }
    });
}

/// The fast numerical gradient (`train --gradient numerical`) allocates nothing of its own either:
/// three gradients on new batches cost exactly the allocations of their forward products.
#[test]
fn numerical_gradients_allocate_only_inside_the_gemm_kernel() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        for activation in [Activation::Sigmoid, Activation::Relu] {
            let config = TwoLayerConfig {
                activation,
                ..TwoLayerConfig::default()
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
                gemm(1.0, &w1, Op::T, &x, Op::N, 0.0, &mut a1);
                gemm(1.0, &w2_t, Op::N, &z1, Op::N, 0.0, &mut a2);
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
