//! Matrix products: `C ← α·op(A)·op(B) + β·C`, the only products on the hot path.
//!
//! [`gemm`] hands the [`gemm`](https://docs.rs/gemm) crate (faer's kernels, AVX-512 when the CPU
//! has it) the row and column strides of each operand, so a transposed operand costs nothing:
//! `Wᵀ·x` reads `W` with its strides swapped instead of copying it. (nalgebra's `tr_mul` falls
//! back to dot-product loops, about three times slower at our sizes.)
//!
//! Measured side by side with `matrixmultiply` 0.3 (the previous kernel) on the 2-core AMD EPYC
//! (AVX-512) of the team's machine, best of thousands of calls (the machine is shared: best-of
//! is what an idle machine gives), f32, in GFLOP/s:
//!
//! | product (m×n×k)                 | matrixmultiply | gemm, 1 thread | gemm, 2 threads |
//! |---------------------------------|----------------|----------------|-----------------|
//! | `W1ᵀ·x`, 50×100×784 (forward)   | 54             | 72 (80 uncut)  | 141             |
//! | `x·dzᵀ`, 784×50×100 (`dW1`)     | 83             | 103            | 205             |
//! | `W1ᵀ·x`, 50×2000×784 (accuracy) | 48             | 88             | 172             |
//! | 2048×2048×2048                  | 88–98          | 101–104        | 194–209         |
//!
//! A whole sigmoid training step at batch 100 went from 277 µs to 212 µs on one thread and
//! 137–144 µs on two (with the vectorised sigmoid).
//!
//! # Two cores, same bits
//!
//! A product of at least [`PARALLEL_MIN_MULADDS`] multiply-adds is cut in two halves run by
//! [`join`](crate::threads::join): by the inner dimension when it is the longest (`W1ᵀ·x`: the
//! first 392 terms of every sum into `C`, the other 392 into a partial product added after), else
//! by `C`'s columns (`x·dzᵀ`). The cut depends only on the shapes, never on the number of
//! threads, so results are bit-identical whatever the thread count (see [`crate::threads`]).
//! Cutting the forward product by columns cost one thread 10 to 20 % (the kernel packs `W1ᵀ`
//! once per half); cut by the inner dimension it costs nothing measurable (each half packs half
//! of each operand), which matters when the other core is busy with an evaluation (nn-train):
//! the forward pass then went from 130 to 115 µs.

use std::any::Any;
use std::cell::RefCell;

use nalgebra::DMatrix;

use crate::Scalar;
pub use crate::threads::PARALLEL_MIN_MULADDS;
use crate::threads::{in_serial, keep_pool_warm};

/// Whether [`gemm`] uses a matrix as it is or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Use the matrix as stored: `A`.
    N,
    /// Use its transpose: `Aᵀ` (free: only the strides change).
    T,
}

/// General matrix product, in place: `C ← α·op(A)·op(B) + β·C`.
///
/// `op(A)` must be `(m, k)`, `op(B)` `(k, n)` and `C` `(m, n)`. When `β` is zero, the old
/// contents of `C` are ignored (even NaN), as in BLAS. Products of at least
/// [`PARALLEL_MIN_MULADDS`] multiply-adds run on two threads, with results identical to one
/// thread's (see the [module](self)).
///
/// # Panics
/// If the shapes do not match: that is a bug in the caller, never a property of user data.
///
/// ```
/// use nalgebra::DMatrix;
/// use nn_kernels::{Op, gemm::gemm};
/// let w = DMatrix::from_row_slice(2, 3, &[1.0_f32, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// let x = DMatrix::from_column_slice(2, 1, &[1.0_f32, 1.0]);
/// let mut y = DMatrix::zeros(3, 1);
/// gemm(1.0, &w, Op::T, &x, Op::N, 0.0, &mut y); // y = Wᵀ·x
/// assert_eq!(y.as_slice(), &[5.0, 7.0, 9.0]);
/// ```
pub fn gemm<T: Scalar>(
    alpha: T,
    a: &DMatrix<T>,
    op_a: Op,
    b: &DMatrix<T>,
    op_b: Op,
    beta: T,
    c: &mut DMatrix<T>,
) {
    let (a, b, (m, n)) = checked_views(a, op_a, b, op_b, c);
    let threads = if in_serial() {
        Threads::Caller
    } else {
        Threads::Split
    };
    gemm_halves(alpha, a, b, beta, c.as_mut_slice(), m, n, threads);
}

/// A column-major matrix stored in a slice, or its transpose: an operand of [`gemm_slices`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct SliceMatrix<'a, T> {
    /// The values, column by column (`rows` values each).
    pub(crate) data: &'a [T],
    /// Rows of the stored matrix.
    pub(crate) rows: usize,
    /// Columns of the stored matrix.
    pub(crate) cols: usize,
    /// Whether the product uses it as stored or transposed.
    pub(crate) op: Op,
}

impl<'a, T: Scalar> SliceMatrix<'a, T> {
    /// The `rows × cols` matrix stored column by column in `data` (exactly `rows·cols` values).
    pub(crate) fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "a {rows}x{cols} matrix");
        SliceMatrix {
            data,
            rows,
            cols,
            op: Op::N,
        }
    }

    /// Its transpose (nothing is copied).
    pub(crate) fn t(self) -> Self {
        let op = match self.op {
            Op::N => Op::T,
            Op::T => Op::N,
        };
        SliceMatrix { op, ..self }
    }

    fn strided(self) -> Strided<'a, T> {
        let (r, c) = (self.rows, self.cols);
        let (rows, cols, rs, cs) = match self.op {
            Op::N => (r, c, 1, r),
            Op::T => (c, r, r, 1),
        };
        Strided {
            data: self.data,
            rows,
            cols,
            rs,
            cs,
        }
    }
}

/// `C ← α·op(A)·op(B) + β·C` on the calling thread, for `C` of shape `(m, n)` stored column by
/// column in `c`: one call of the kernel, never cut in two. For products on parts of matrices
/// (a convolution's per-sample products), whose callers choose how to share them out.
///
/// # Panics
/// If the shapes do not match.
pub(crate) fn gemm_slices<T: Scalar>(
    alpha: T,
    a: SliceMatrix<'_, T>,
    b: SliceMatrix<'_, T>,
    beta: T,
    c: &mut [T],
    m: usize,
    n: usize,
) {
    let (a, b) = (a.strided(), b.strided());
    assert!(
        a.rows == m && b.cols == n && a.cols == b.rows && c.len() == m * n,
        "gemm: op(A) is {}x{}, op(B) {}x{}, C {m}x{n} in {} values",
        a.rows,
        a.cols,
        b.rows,
        b.cols,
        c.len()
    );
    kernel(alpha, a, b, beta, c, m);
}

/// Whether the two halves of a large product may run on two threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Threads {
    /// Run them with `rayon::join`.
    Split,
    /// Run them in turn on the calling thread.
    Caller,
}

/// `op(M)` of a column-major matrix, as the kernel reads it: the elements from the first one on,
/// its shape and its strides. Every index `i·rs + j·cs` (`i < rows`, `j < cols`) is inside `data`.
#[derive(Clone, Copy, Debug)]
struct Strided<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T: Scalar> Strided<'a, T> {
    /// `op(m)`: for `Op::T` the strides are swapped, nothing is copied.
    fn of(m: &'a DMatrix<T>, op: Op) -> Self {
        let (r, c) = m.shape();
        // Column-major storage: stepping down a row moves 1 element, stepping right moves `r`.
        let (rows, cols, rs, cs) = match op {
            Op::N => (r, c, 1, r),
            Op::T => (c, r, r, 1),
        };
        Strided {
            data: m.as_slice(),
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// Rows `start..start + count` of this view.
    ///
    /// # Panics
    /// If the range goes past the last row.
    fn rows(self, start: usize, count: usize) -> Self {
        assert!(start + count <= self.rows, "rows out of range");
        let offset = if count == 0 { 0 } else { start * self.rs };
        Strided {
            data: &self.data[offset..],
            rows: count,
            ..self
        }
    }

    /// Columns `start..start + count` of this view.
    ///
    /// # Panics
    /// If the range goes past the last column.
    fn columns(self, start: usize, count: usize) -> Self {
        assert!(start + count <= self.cols, "columns out of range");
        let offset = if count == 0 { 0 } else { start * self.cs };
        Strided {
            data: &self.data[offset..],
            cols: count,
            ..self
        }
    }
}

/// Checks that `op(A)·op(B)` fits `C` and returns the two views and `C`'s shape `(m, n)`.
fn checked_views<'a, T: Scalar>(
    a: &'a DMatrix<T>,
    op_a: Op,
    b: &'a DMatrix<T>,
    op_b: Op,
    c: &DMatrix<T>,
) -> (Strided<'a, T>, Strided<'a, T>, (usize, usize)) {
    let (a, b) = (Strided::of(a, op_a), Strided::of(b, op_b));
    let (m, k, kb, n) = (a.rows, a.cols, b.rows, b.cols);
    assert_eq!(k, kb, "gemm: op(A) is {m}x{k} but op(B) is {kb}x{n}");
    assert_eq!(
        c.shape(),
        (m, n),
        "gemm: C must be {m}x{n}, it is {:?}",
        c.shape()
    );
    (a, b, (m, n))
}

/// `C ← α·A·B + β·C` for a column-major `C` of shape `(m, n)` stored in `c` (leading dimension
/// `m`), with `A`: `(m, k)` and `B`: `(k, n)` already checked. A product of at least
/// [`PARALLEL_MIN_MULADDS`] multiply-adds is cut in two (see [`Cut`]): two kernel calls, run by
/// `rayon::join` ([`Threads::Split`]) or in turn ([`Threads::Caller`]). The cut depends on the
/// shapes only, so the results depend neither on the number of threads nor on `threads`.
#[allow(clippy::too_many_arguments)]
fn gemm_halves<T: Scalar>(
    alpha: T,
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    beta: T,
    c: &mut [T],
    m: usize,
    n: usize,
    threads: Threads,
) {
    debug_assert_eq!(c.len(), m * n);
    let both = |first: &mut (dyn FnMut() + Send), second: &mut (dyn FnMut() + Send)| match threads {
        Threads::Split => {
            rayon::join(first, second);
            keep_pool_warm();
        }
        Threads::Caller => {
            first();
            second();
        }
    };
    match Cut::of(m, n, a.cols) {
        None => kernel(alpha, a, b, beta, c, m),
        Some(Cut::Columns) => {
            let half = n / 2;
            let (left, right) = c.split_at_mut(m * half);
            let (b_left, b_right) = (b.columns(0, half), b.columns(half, n - half));
            both(&mut || kernel(alpha, a, b_left, beta, left, m), &mut || {
                kernel(alpha, a, b_right, beta, right, m)
            });
        }
        Some(Cut::Inner) => {
            let k = a.cols;
            let half = k / 2;
            let (a_1, a_2) = (a.columns(0, half), a.columns(half, k - half));
            let (b_1, b_2) = (b.rows(0, half), b.rows(half, k - half));
            with_partial(m * n, |partial: &mut [T]| {
                both(&mut || kernel(alpha, a_1, b_1, beta, c, m), &mut || {
                    kernel(alpha, a_2, b_2, T::ZERO, partial, m)
                });
                for (c, &p) in c.iter_mut().zip(partial.iter()) {
                    *c += p;
                }
            });
        }
    }
}

/// How [`gemm_halves`] cuts a product `C (m×n) ← A (m×k) · B (k×n)` in two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    /// The first `n/2` columns of `C` and the rest: each half reads all of `A`.
    Columns,
    /// The first `k/2` terms of every sum and the rest, into `C` and into a partial product
    /// added to it after: each half reads half of `A` and half of `B`. For a long inner
    /// dimension: the kernel packs each operand once instead of `A` twice (`W1ᵀ·x`, 50×100×784:
    /// 102–110 µs for both halves in turn against 101–108 µs uncut and 120–125 µs cut by
    /// columns, on one core).
    Inner,
}

impl Cut {
    /// The cut of an `(m, n, k)` product, or `None` below [`PARALLEL_MIN_MULADDS`]: by the inner
    /// dimension when it is the longest, else by columns.
    fn of(m: usize, n: usize, k: usize) -> Option<Self> {
        if m * n * k < PARALLEL_MIN_MULADDS {
            None
        } else if k > m.max(n) {
            Some(Cut::Inner)
        } else if n >= 2 {
            Some(Cut::Columns)
        } else {
            None
        }
    }
}

thread_local! {
    /// The partial products of [`Cut::Inner`], one buffer per float type, kept between calls.
    static PARTIALS: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on a scratch buffer of `len` values of the calling thread (contents unspecified),
/// allocated on first use and grown when needed, so that products allocate nothing once warm.
fn with_partial<T: Scalar, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    // Taken out of the thread-local list while `f` runs, so that `f` may itself cut a product.
    let mut buffer: Box<Vec<T>> = PARTIALS
        .with_borrow_mut(|partials| {
            let found = partials.iter().position(|p| p.is::<Vec<T>>())?;
            partials.swap_remove(found).downcast().ok()
        })
        .unwrap_or_default();
    if buffer.len() < len {
        buffer.resize(len, T::ZERO);
    }
    let result = f(&mut buffer[..len]);
    PARTIALS.with_borrow_mut(|partials| partials.push(buffer));
    result
}

/// One call of the `gemm` crate's kernel on the calling thread: `C ← α·A·B + β·C`, `C` column-major
/// with `m` rows in `c`.
#[allow(unsafe_code)]
fn kernel<T: Scalar>(
    alpha: T,
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    beta: T,
    c: &mut [T],
    m: usize,
) {
    let (k, n) = (a.cols, b.cols);
    assert!(
        a.rows == m && b.rows == k && c.len() == m * n,
        "gemm: shapes"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: C ← β·C (and exactly zero when β is, whatever C held).
        for v in c.iter_mut() {
            *v = if beta == T::ZERO { T::ZERO } else { beta * *v };
        }
        return;
    }
    // Every index the kernel forms is `i·rs + j·cs` with `i < rows` and `j < cols`: check that
    // the last one is inside each buffer, so the unsafe call below cannot read or write outside.
    let last = |s: &Strided<'_, T>| (s.rows - 1) * s.rs + (s.cols - 1) * s.cs;
    assert!(
        last(&a) < a.data.len() && last(&b) < b.data.len(),
        "gemm: view out of bounds"
    );
    let signed = |v: usize| isize::try_from(v).expect("stride fits in isize");
    // SAFETY: all indices are in bounds (checked just above for A and B; C is exactly m·n
    // elements with row stride 1 and column stride m); `c` is borrowed mutably, so it cannot
    // alias `a` or `b`. The kernel computes dst ← alpha·dst + beta·lhs·rhs (its alpha and beta
    // are named the other way round from BLAS), reading dst only when `read_dst` is true.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            signed(m),
            1,
            beta != T::ZERO,
            a.data.as_ptr(),
            signed(a.cs),
            signed(a.rs),
            b.data.as_ptr(),
            signed(b.cs),
            signed(b.rs),
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination of transposes against the textbook triple loop, on small integers so the
    /// products are exact.
    #[test]
    fn gemm_matches_the_definition_for_every_transpose() {
        let a = DMatrix::<f64>::from_fn(3, 4, |i, j| (i * 4 + j) as f64 - 5.0);
        let b = DMatrix::<f64>::from_fn(4, 2, |i, j| (i * 2 + j) as f64 * 0.5);
        let expected = &a * &b;
        let at = a.transpose();
        let bt = b.transpose();
        for (lhs, op_a) in [(&a, Op::N), (&at, Op::T)] {
            for (rhs, op_b) in [(&b, Op::N), (&bt, Op::T)] {
                let mut c = DMatrix::from_element(3, 2, 1.0);
                gemm(2.0, lhs, op_a, rhs, op_b, 1.0, &mut c);
                let want = expected.map(|v| 2.0 * v + 1.0);
                assert_eq!(c, want, "op_a {op_a:?}, op_b {op_b:?}");
            }
        }
    }

    /// A product large enough to be cut in two halves, on small integers (exact sums), against
    /// nalgebra's product, for every transpose and on pools of one and two threads.
    #[test]
    fn split_products_match_the_definition() {
        for ((m, k, n), cut) in [((64, 512, 65), Cut::Inner), ((512, 64, 65), Cut::Columns)] {
            assert_eq!(Cut::of(m, n, k), Some(cut));
            split_product_matches_the_definition(m, k, n);
        }
    }

    fn split_product_matches_the_definition(m: usize, k: usize, n: usize) {
        let a = DMatrix::<f64>::from_fn(m, k, |i, j| ((i * 7 + j * 3) % 7) as f64 - 3.0);
        let b = DMatrix::<f64>::from_fn(k, n, |i, j| ((i * 5 + j) % 5) as f64 - 2.0);
        let expected = (&a * &b).map(|v| 0.5 * v - 2.0);
        let (at, bt) = (a.transpose(), b.transpose());
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for (lhs, op_a) in [(&a, Op::N), (&at, Op::T)] {
                for (rhs, op_b) in [(&b, Op::N), (&bt, Op::T)] {
                    let mut c = DMatrix::from_element(m, n, 1.0);
                    pool.install(|| gemm(0.5, lhs, op_a, rhs, op_b, -2.0, &mut c));
                    assert_eq!(
                        c, expected,
                        "{m}x{k}x{n}: {threads} threads, {op_a:?}, {op_b:?}"
                    );
                }
            }
        }
    }

    /// `gemm` on one or two threads and inside `serial` give the same bits on inexact data, for
    /// both cuts: `W1ᵀ·x` (the inner dimension, 784, is the longest) and `x·dzᵀ` (by columns).
    #[test]
    fn thread_count_and_serial_do_not_change_the_bits() {
        let a = DMatrix::<f32>::from_fn(784, 50, |i, j| {
            ((i * 31 + j * 17) % 101) as f32 / 97.0 - 0.5
        });
        let x = DMatrix::<f32>::from_fn(784, 300, |i, j| ((i * 13 + j * 7) % 89) as f32 / 83.0);
        let dz = DMatrix::<f32>::from_fn(50, 300, |i, j| ((i * 3 + j * 5) % 23) as f32 / 19.0);
        assert_eq!(Cut::of(50, 300, 784), Some(Cut::Inner));
        assert_eq!(Cut::of(784, 50, 300), Some(Cut::Columns));
        // `C ← α·op(A)·op(B) + C` from `c`, by `gemm` on `threads` threads or inside `serial`.
        let product = |(lhs, op_a), (rhs, op_b), alpha, c: &DMatrix<f32>, threads, serial| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut c = c.clone();
            pool.install(|| {
                if serial {
                    crate::serial(|| gemm(alpha, lhs, op_a, rhs, op_b, 1.0, &mut c));
                } else {
                    gemm(alpha, lhs, op_a, rhs, op_b, 1.0, &mut c);
                }
            });
            c
        };
        let forward = |threads, serial| {
            let c = DMatrix::from_element(50, 300, 0.25);
            product((&a, Op::T), (&x, Op::N), 0.1, &c, threads, serial)
        };
        let backward = |threads, serial| {
            let c = DMatrix::from_element(784, 50, -0.5);
            product((&x, Op::N), (&dz, Op::T), 0.5, &c, threads, serial)
        };
        for run in [&forward as &dyn Fn(usize, bool) -> DMatrix<f32>, &backward] {
            let one = run(1, false);
            assert_eq!(one, run(2, false));
            assert_eq!(one, run(2, true));
        }
        // And it is the product (to f32 rounding): column 0 against an f64 dot product.
        let want: f64 = (0..784)
            .map(|i| f64::from(a[(i, 0)]) * f64::from(x[(i, 0)]))
            .sum();
        assert!((f64::from(forward(1, false)[(0, 0)]) - (0.1 * want + 0.25)).abs() < 1e-4);
    }

    #[test]
    fn an_empty_inner_dimension_scales_c_by_beta() {
        let a = DMatrix::<f32>::zeros(2, 0);
        let b = DMatrix::<f32>::zeros(0, 3);
        let mut c = DMatrix::from_element(2, 3, 4.0_f32);
        gemm(1.0, &a, Op::N, &b, Op::N, 0.5, &mut c);
        assert_eq!(c, DMatrix::from_element(2, 3, 2.0));
        let mut c = DMatrix::from_element(2, 3, f32::NAN);
        gemm(1.0, &a, Op::N, &b, Op::N, 0.0, &mut c);
        assert_eq!(c, DMatrix::zeros(2, 3));
    }

    #[test]
    fn beta_zero_ignores_nan_in_c() {
        let a = DMatrix::<f32>::identity(2, 2);
        let b = DMatrix::<f32>::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
        let mut c = DMatrix::from_element(2, 2, f32::NAN);
        gemm(1.0, &a, Op::N, &b, Op::N, 0.0, &mut c);
        assert_eq!(c, b);
    }

    #[test]
    #[should_panic(expected = "gemm")]
    fn mismatched_shapes_panic() {
        let a = DMatrix::<f32>::zeros(2, 3);
        let mut c = DMatrix::<f32>::zeros(2, 2);
        gemm(1.0, &a, Op::N, &a, Op::N, 0.0, &mut c);
    }
}
