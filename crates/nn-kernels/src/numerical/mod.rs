//! The book's numerical gradient (§4.4, §4.5) of the two-layer network, computed in minutes
//! instead of hours: every entry `w` of `W1`, `b1`, `W2`, `b2` still gets its own central
//! difference `(L(w + h) − L(w − h)) / 2h` (`h = 1e-4`, `L` the batch's mean cross-entropy), in
//! `f64`, but only what the perturbation changes is evaluated again.
//!
//! # What changes when one weight moves
//!
//! nn-core's naive `TwoLayerNet::numerical_gradient` runs the whole
//! forward pass twice per parameter: 2 × 39760 passes of the 784-50-10 network, each a
//! `784·50·N` matrix product. Yet moving one weight changes little:
//!
//! - `W1[i, j]` feeds hidden unit `j` only, and only through the samples whose input `i` is not
//!   zero (81 % of MNIST's pixels are): `a1[j, n]` moves by `±h·x[i, n]`, its activation
//!   `z1[j, n]` by some `s`, and each score `a2[k, n]` by `s·W2[j, k]`;
//! - `b1[j]` is the weight of an input that is always 1: it moves unit `j` of every sample;
//! - `W2[j, k]` and `b2[k]` move score `k` only, by `±h·z1[j, n]` (or `±h`).
//!
//! So a [`FastNumericalGradient`] runs the forward pass once, keeps `a1`, `z1`, the
//! probabilities `y = softmax(a2)` and each sample's non-zero inputs, and for each entry and each
//! sign recomputes only the changed activation and the changed sample's loss. The loss of a
//! sample whose scores move by `δ` changes by `ln Σₖ yₖ·exp(δₖ) − δ_label` (the new log-sum-exp
//! minus the old, taken from the cached `y`), so the kernel sums the *differences* of the changed
//! samples' losses directly: no batch loss near 2.3 is subtracted from another one, which costs
//! the naive method an ulp of 2.3 (4.4e-16) per evaluation, 2.2e-12 of the gradient once divided
//! by `2h`.
//!
//! On MNIST a batch of 100 has about 15 000 non-zero pixels: 745 000 changed (entry, sample)
//! pairs for `W1`, each two loss differences of one exponential per class, instead of 79 520
//! forward passes. The kernels (the private `kernel` module) compute them eight at a time with
//! SIMD, with branch-free `exp` and `ln` accurate to 2 ulp (and a degree-5 `exp` when every
//! exponent of the eight is below `2⁻⁸`, which is always the case in training: the scores move
//! by about `h·x·W2`). The columns of `W1` are shared between the threads of the current rayon
//! pool, each column computed by one thread in a fixed order, so the result is the same bits on
//! one thread or two.
//!
//! The perturbed value is `w + h` rounded, exactly as the naive method writes it, and the step
//! taken is `(w + h) − w`; the activation of the changed unit is recomputed from its
//! pre-activation with the same formula (`relu` is `u` when `u > 0`, else 0, so a difference
//! straddling the kink sees exactly what the naive one sees). The result equals the naive
//! method's to about 1e-11 (tests: 1e-9), and backprop's to the central difference's own error.

mod kernel;

use rayon::prelude::*;

use nalgebra::DMatrix;

use crate::gemm::{Op, gemm};
use crate::{Scalar, ensure_shape};
use kernel::{Act, Forward, ReluAct, SigmoidAct};

/// The step of the central differences, the book's `h = 1e-4` (§4.3.1); nn-core's
/// `gradient::H` is the same value.
pub const H: f64 = 1e-4;

/// The hidden layer's activation of the two-layer network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hidden {
    /// `σ(u) = 1 / (1 + exp(−u))`.
    Sigmoid,
    /// `max(0, u)`.
    Relu,
}

type Matrix<T> = DMatrix<T>;

/// The numerical gradient of a two-layer network (`Affine → Sigmoid or ReLU → Affine →
/// SoftmaxWithLoss`, labels as targets), entry by entry by central differences like
/// nn-core's naive `TwoLayerNet::numerical_gradient`, but evaluating
/// only what each perturbation changes (see the [module docs](self)).
///
/// It holds `f64` copies of the parameters and the batch, the cached forward pass and the sparse
/// inputs: buffers sized on the first call and reused while the shapes stay the same, so a
/// training loop allocates nothing after its first iteration. Parameters of type `f32` are
/// converted to `f64` (exactly); the gradient is computed in `f64` and rounded into the caller's
/// buffers.
///
/// ```
/// use nalgebra::DMatrix;
/// use nn_kernels::numerical::{FastNumericalGradient, H, Hidden};
///
/// // A 2-2-2 network, one sample.
/// let w1 = DMatrix::from_row_slice(2, 2, &[0.5_f64, -0.3, 0.8, 0.1]);
/// let b1 = DMatrix::from_column_slice(2, 1, &[0.1, -0.2]);
/// let w2 = DMatrix::from_row_slice(2, 2, &[1.0, -1.0, 0.5, 0.25]);
/// let b2 = DMatrix::from_column_slice(2, 1, &[0.0, 0.3]);
/// let x = DMatrix::from_column_slice(2, 1, &[1.0, 2.0]);
/// let labels = [1];
/// // The loss written out: softmax cross-entropy of W2ᵀ·σ(W1ᵀ·x + b1) + b2.
/// let loss = |w1: &DMatrix<f64>| {
///     let z = (w1.transpose() * &x + &b1).map(|a| 1.0 / (1.0 + (-a).exp()));
///     let a = w2.transpose() * z + &b2;
///     (a[0].exp() + a[1].exp()).ln() - a[1]
/// };
/// let mut grads = [(2, 2), (2, 1), (2, 2), (2, 1)].map(|(r, c)| DMatrix::zeros(r, c));
/// let [g_w1, g_b1, g_w2, g_b2] = &mut grads;
/// let mut fast = FastNumericalGradient::new();
/// let l = fast.gradient([&w1, &b1, &w2, &b2], Hidden::Sigmoid, &x, &labels, [g_w1, g_b1, g_w2, g_b2]);
/// assert!((l - loss(&w1)).abs() < 1e-15);
/// // W1[1, 0] by the book's central difference, the whole loss twice:
/// let (mut plus, mut minus) = (w1.clone(), w1.clone());
/// plus[(1, 0)] += H;
/// minus[(1, 0)] -= H;
/// let naive = (loss(&plus) - loss(&minus)) / (2.0 * H);
/// assert!((grads[0][(1, 0)] - naive).abs() < 1e-10);
/// ```
#[derive(Clone, Debug, Default)]
pub struct FastNumericalGradient {
    /// `[W1; b1ᵀ]`, `(inputs + 1, hidden)`: `b1` is the weight of an input that is always 1.
    w1: Matrix<f64>,
    /// `[W2; b2ᵀ]ᵀ`, `(classes, hidden + 1)`: row `j` of `W2` is column `j` here.
    w2_t: Matrix<f64>,
    /// `[x; 1…1]`, `(inputs + 1, batch)`.
    x: Matrix<f64>,
    /// `a1 = [W1; b1ᵀ]ᵀ·[x; 1]`, `(hidden, batch)`.
    a1: Matrix<f64>,
    /// `[z1; 1…1]`, `(hidden + 1, batch)`.
    z1: Matrix<f64>,
    /// Its transpose, `(batch, hidden + 1)`: row `j` of `z1` contiguous, for the `W2` kernel.
    z1_t: Matrix<f64>,
    /// The scores, then (after the loss) the probabilities `softmax(a2)`, `(classes, batch)`.
    y: Matrix<f64>,
    /// Its transpose, `(batch, classes)`.
    y_t: Matrix<f64>,
    /// Sample `n`'s non-zero inputs are `rows[starts[n]..starts[n + 1]]`, values `values[…]`.
    starts: Vec<usize>,
    rows: Vec<usize>,
    values: Vec<f64>,
    /// `Σₙ (Lₙ(w + h) − Lₙ(w − h))` for each entry of `[W1; b1ᵀ]`.
    sums1: Matrix<f64>,
    /// The same for `[W2; b2ᵀ]`, transposed: `(classes, hidden + 1)`, one column per row of `W2`.
    sums2_t: Matrix<f64>,
}

impl FastNumericalGradient {
    /// Empty buffers; they take their sizes on the first call.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `∂L/∂W1`, `∂L/∂b1`, `∂L/∂W2`, `∂L/∂b2` by central differences into `grads` and
    /// returns the batch's mean loss `L` (in `f64`, before any perturbation).
    ///
    /// `params` are `W1` `(inputs, hidden)`, `b1` `(hidden, 1)`, `W2` `(hidden, classes)`, `b2`
    /// `(classes, 1)` (the two-layer network's shapes), `x` is the batch
    /// `(inputs, N)`, one sample per column, `labels` its `N` class indices; `grads` have the
    /// parameters' shapes. Each entry's gradient is the book's
    /// `(L(w + h) − L(w − h)) / 2h` with `h = 1e-4`; the columns of `W1` are shared between the
    /// threads of the current rayon pool, with the same result on any number of threads.
    ///
    /// # Panics
    /// If a shape does not fit, or a label is not below `classes`: bugs of the caller.
    pub fn gradient<T: Scalar>(
        &mut self,
        params: [&Matrix<T>; 4],
        activation: Hidden,
        x: &Matrix<T>,
        labels: &[u8],
        grads: [&mut Matrix<T>; 4],
    ) -> f64 {
        let (inputs, hidden) = params[0].shape();
        let classes = params[2].ncols();
        let batch = x.ncols();
        let expected = [
            ("W1", (inputs, hidden)),
            ("b1", (hidden, 1)),
            ("W2", (hidden, classes)),
            ("b2", (classes, 1)),
        ];
        for (((name, shape), param), grad) in expected.iter().zip(params).zip(&grads) {
            assert_eq!(param.shape(), *shape, "{name}: shape");
            assert_eq!(grad.shape(), *shape, "gradient of {name}: shape");
        }
        assert_eq!(
            x.nrows(),
            inputs,
            "x must have {inputs} rows, one per input"
        );
        assert_eq!(
            labels.len(),
            batch,
            "{} labels for {batch} samples",
            labels.len()
        );
        if let Some((n, &l)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &l)| usize::from(l) >= classes)
        {
            panic!("label {l} of sample {n} is out of range: there are {classes} classes");
        }

        self.load(params, x);
        let loss = match activation {
            Hidden::Sigmoid => self.forward::<SigmoidAct>(labels),
            Hidden::Relu => self.forward::<ReluAct>(labels),
        };
        match activation {
            Hidden::Sigmoid => self.differences::<SigmoidAct>(labels),
            Hidden::Relu => self.differences::<ReluAct>(labels),
        }

        // (L₊ − L₋) / 2h with L the mean over the batch, as the naive method divides.
        let scale = |sum: f64| T::of_f64(sum / batch.max(1) as f64 / (H + H));
        let [g_w1, g_b1, g_w2, g_b2] = grads;
        for j in 0..hidden {
            let column = self.sums1.column(j);
            for i in 0..inputs {
                g_w1[(i, j)] = scale(column[i]);
            }
            g_b1[j] = scale(column[inputs]);
        }
        for j in 0..=hidden {
            let column = self.sums2_t.column(j);
            for k in 0..classes {
                if j < hidden {
                    g_w2[(j, k)] = scale(column[k]);
                } else {
                    g_b2[k] = scale(column[k]);
                }
            }
        }
        loss
    }

    /// Sizes the buffers and copies the parameters and the batch into them, in `f64`, with the
    /// biases as the weights of a constant input 1; lists each sample's non-zero inputs.
    fn load<T: Scalar>(&mut self, [w1, b1, w2, b2]: [&Matrix<T>; 4], x: &Matrix<T>) {
        let (inputs, hidden) = w1.shape();
        let (classes, batch) = (w2.ncols(), x.ncols());
        ensure_shape(&mut self.w1, inputs + 1, hidden);
        ensure_shape(&mut self.w2_t, classes, hidden + 1);
        ensure_shape(&mut self.x, inputs + 1, batch);
        ensure_shape(&mut self.a1, hidden, batch);
        ensure_shape(&mut self.z1, hidden + 1, batch);
        ensure_shape(&mut self.z1_t, batch, hidden + 1);
        ensure_shape(&mut self.y, classes, batch);
        ensure_shape(&mut self.y_t, batch, classes);
        ensure_shape(&mut self.sums1, inputs + 1, hidden);
        ensure_shape(&mut self.sums2_t, classes, hidden + 1);
        let most = (inputs + 1) * batch;
        if self.rows.capacity() < most {
            self.rows = Vec::with_capacity(most);
            self.values = Vec::with_capacity(most);
        }
        if self.starts.capacity() < batch + 1 {
            self.starts = Vec::with_capacity(batch + 1);
        }

        let widen = |dst: &mut [f64], src: &[T]| {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = s.to_f64();
            }
        };
        for j in 0..hidden {
            let column = self.w1.column_mut(j);
            let column = column.data.into_slice_mut();
            widen(&mut column[..inputs], w1.column(j).as_slice());
            column[inputs] = b1[j].to_f64();
        }
        for k in 0..classes {
            for j in 0..hidden {
                self.w2_t[(k, j)] = w2[(j, k)].to_f64();
            }
            self.w2_t[(k, hidden)] = b2[k].to_f64();
        }
        self.starts.clear();
        self.rows.clear();
        self.values.clear();
        for n in 0..batch {
            self.starts.push(self.rows.len());
            let column = self.x.column_mut(n);
            let column = column.data.into_slice_mut();
            widen(&mut column[..inputs], x.column(n).as_slice());
            column[inputs] = 1.0;
            for (i, &v) in column.iter().enumerate() {
                if v != 0.0 {
                    self.rows.push(i);
                    self.values.push(v);
                }
            }
        }
        self.starts.push(self.rows.len());
    }

    /// The forward pass of the loaded batch: caches `a1`, `[z1; 1]`, `y = softmax(a2)` and
    /// their transposes, and returns the mean loss. The loss of each sample is
    /// the softmax-with-loss layer's: `ln Σ exp(a2 − max) − (a2_label −
    /// max)`.
    fn forward<A: Act>(&mut self, labels: &[u8]) -> f64 {
        let (hidden, batch) = self.a1.shape();
        gemm(1.0, &self.w1, Op::T, &self.x, Op::N, 0.0, &mut self.a1);
        for n in 0..batch {
            for j in 0..hidden {
                self.z1[(j, n)] = A::apply(self.a1[(j, n)]);
            }
            self.z1[(hidden, n)] = 1.0;
        }
        gemm(1.0, &self.w2_t, Op::N, &self.z1, Op::N, 0.0, &mut self.y);
        let mut total = 0.0;
        for (mut column, &label) in self.y.column_iter_mut().zip(labels) {
            let max = column.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let label_score = column[usize::from(label)];
            let mut sum = 0.0;
            for v in column.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            column.unscale_mut(sum);
            total += sum.ln() - (label_score - max);
        }
        self.z1.transpose_to(&mut self.z1_t);
        self.y.transpose_to(&mut self.y_t);
        total / batch.max(1) as f64
    }

    /// `Σₙ (Lₙ(w + h) − Lₙ(w − h))` for every entry, into `sums1` and `sums2_t`: the columns of
    /// `[W1; b1ᵀ]` and of `[W2; b2ᵀ]ᵀ` shared between the pool's threads, each computed by one
    /// thread in the order of the samples.
    fn differences<A: Act>(&mut self, labels: &[u8]) {
        let (hidden, classes) = (self.a1.nrows(), self.y.nrows());
        let rows1 = self.w1.nrows();
        let forward = Forward {
            hidden,
            classes,
            a1: self.a1.as_slice(),
            z1: self.z1.as_slice(),
            y: self.y.as_slice(),
            labels,
            starts: &self.starts,
            rows: &self.rows,
            values: &self.values,
        };
        let (w1, w2_t) = (&self.w1, &self.w2_t);
        self.sums1
            .as_mut_slice()
            .par_chunks_mut(rows1)
            .enumerate()
            .for_each(|(j, sums)| {
                sums.fill(0.0);
                let (w_column, w2_row) = (w1.column(j), w2_t.column(j));
                kernel::w1_column::<A>(&forward, j, w_column.as_slice(), w2_row.as_slice(), sums);
            });
        let (z1_t, y_t) = (&self.z1_t, &self.y_t);
        self.sums2_t
            .as_mut_slice()
            .par_chunks_mut(classes)
            .enumerate()
            .for_each(|(j, sums)| {
                for (k, sum) in sums.iter_mut().enumerate() {
                    *sum = kernel::w2_entry(
                        z1_t.column(j).as_slice(),
                        y_t.column(k).as_slice(),
                        labels,
                        k,
                        w2_t[(k, j)],
                    );
                }
            });
    }
}
