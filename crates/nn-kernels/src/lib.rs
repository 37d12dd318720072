//! The speed beneath nn-core: everything that exists only to make the book's networks fast.
//!
//! nn-core holds the book's math in the book's shape (a `Convolution` layer that reads like
//! `common/layers.py`); this crate holds how that math runs fast on a CPU's two cores. It knows
//! nothing of layers, networks, specs or files: only slices, shapes and matrices.
//!
//! | module | what it computes (the plain formula is in each item's docs, and tested against a plain loop) |
//! |--------|-------------------------|
//! | [`gemm`] | `C ← α·op(A)·op(B) + β·C` through the `gemm` crate, any strides, cut in two halves by shape |
//! | [`threads`] | [`serial`], [`join`] and the halves of a batch: two cores, the same bits; the opt-in keeper |
//! | [`im2col`] | a sample's patches as a matrix, and back (`col2im`), with fast paths for "same" convolutions |
//! | [`conv`] | a convolution's three products for a batch (direct, col and `gemm` kernels), fused with ReLU and max pooling |
//! | [`pool`] | max pooling's forward and backward passes |
//! | [`elementwise`] | the sigmoid and ReLU of a batch, pixels divided by 255, sums in a fixed order, for every SIMD level |
//! | [`numerical`] | the two-layer network's numerical gradient, every central difference, only what each perturbation changes |
//!
//! # Same bits on any thread count
//!
//! Work is cut in two by its shapes only, never by the number of threads, and each value comes
//! from the same operations in the same order whichever thread runs them: results are
//! bit-identical on one thread or two (see [`threads`]). Kernels that keep sums in vector
//! registers sum in an order fixed by the shapes, with fused multiply-adds (exact, the same on
//! every CPU).
//!
//! # No allocation per step
//!
//! Every buffer is sized on first use and reused while the shapes stay the same; only the
//! `gemm` crate allocates its packing buffers at each call.

mod geometry;
mod scalar;

pub mod conv;
pub mod elementwise;
pub mod gemm;
pub mod im2col;
pub mod numerical;
pub mod pool;
pub mod threads;

pub use gemm::{Op, PARALLEL_MIN_MULADDS};
pub use geometry::{Geometry, GeometryError, Shape, Window};
pub use scalar::Scalar;
pub use threads::{join, keep_warm, serial};

/// Makes `m` a `rows × cols` matrix, reallocating only when the shape changes (its values are
/// then unspecified).
pub fn ensure_shape<T: Scalar>(m: &mut nalgebra::DMatrix<T>, rows: usize, cols: usize) {
    if m.shape() != (rows, cols) {
        *m = nalgebra::DMatrix::from_element(rows, cols, T::ZERO);
    }
}
