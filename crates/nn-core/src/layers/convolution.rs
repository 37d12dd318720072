//! The convolution layer (§7.4.3, the book's `Convolution`).

use super::{Kind, Layer, Name, Param, ensure_shape};
use crate::im2col::{Geometry, col2im, im2col};
use crate::layers::kernels::{self, FilterGradient, MAX_PAIRS};
use crate::layers::samples::{Halves, split_samples};
use crate::{Float, Matrix, Shape};

/// The convolution layer (§7.4.3): `FN` filters of `C × FH × FW` weights moved over each input
/// sample of `C × H × W` values with a stride and a zero padding, plus one bias per filter.
///
/// - `W` is a matrix of shape `(FN, C·FH·FW)` whose row `f` holds filter `f` in C, FH, FW order:
///   the book's `(FN, C, FH, FW)` array, whose memory, row after row, is exactly that.
/// - `b` is `(FN, 1)`.
/// - A batch `x` is `(C·H·W, N)`, one sample per column in C, H, W order (NumPy's `(N, C, H, W)`);
///   the output is `(FN·OH·OW, N)`, each column in FN, OH, OW order (`(N, FN, OH, OW)`), with
///   `OH = (H + 2·pad − FH) / stride + 1` (integer division, see [`im2col`](crate::im2col)).
///
/// As in the book, the forward pass lays each sample's patches out as a matrix
/// ([`im2col`](crate::im2col::im2col)) and multiplies it by the filters, and the backward pass
/// goes back through [`col2im`](crate::im2col::col2im):
///
/// ```text
/// forward:   col = im2col(x)           (OH·OW, C·FH·FW)  for each sample
///            out = col·Wᵀ + b           (OH·OW, FN)       column-major: the sample's FN, OH, OW
/// backward:  dW  = Σ_samples doutᵀ·col  (FN, C·FH·FW)
///            db  = Σ_samples Σ_positions dout
///            dx  = col2im(dout·W)
/// ```
///
/// The book multiplies the whole batch's col (`(N·OH·OW, C·FH·FW)`) at once and transposes the
/// result to `(N, FN, OH, OW)`. Multiplied sample by sample, our product lands in that order
/// directly, each sample's col stays in the cache (so the backward pass recomputes it instead of
/// keeping the batch's), and the batch is shared between two cores by halves (see below).
///
/// **Threads.** A batch large enough (at least [`PARALLEL_MIN_MULADDS`](crate::PARALLEL_MIN_MULADDS)
/// multiply-adds) is cut in two halves of samples, run with `rayon::join` (or in turn inside
/// [`serial`](crate::serial)); each half sums its own `dW` and `db`, and the second half's are
/// added to the first's. The cut depends on the batch's shape only, so the results are
/// bit-identical on one thread or two.
///
/// ```
/// use nn_core::{Matrix, Shape, im2col::Window, layers::{Convolution, Layer}};
/// // One 3×3 input, one 2×2 filter that sums its window, bias 0.5.
/// let w = Matrix::from_row_slice(1, 4, &[1.0_f64, 1.0, 1.0, 1.0]);
/// let b = Matrix::from_element(1, 1, 0.5);
/// let mut conv = Convolution::new(w, b, Shape::new(1, 3, 3), Window::square(2, 1, 0))?;
/// let x = Matrix::from_column_slice(9, 1, &[1., 2., 3., 4., 5., 6., 7., 8., 9.]);
/// assert_eq!(conv.forward(&x).as_slice(), &[12.5, 16.5, 24.5, 28.5]); // 1+2+4+5+0.5, ...
/// let dx = conv.backward(&Matrix::from_element(4, 1, 1.0));
/// assert_eq!(dx.as_slice(), &[1., 2., 1., 2., 4., 2., 1., 2., 1.]); // windows per pixel
/// assert_eq!(conv.dw.as_slice(), &[12., 16., 24., 28.]); // each weight's four inputs
/// assert_eq!(conv.db[0], 4.0);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug)]
pub struct Convolution<T: Float> {
    /// Filters `W`, shape `(FN, C·FH·FW)`, one filter per row in C, FH, FW order.
    pub w: Matrix<T>,
    /// Biases `b`, shape `(FN, 1)`.
    pub b: Matrix<T>,
    /// `∂L/∂W` from the last backward pass, shape `(FN, C·FH·FW)`.
    pub dw: Matrix<T>,
    /// `∂L/∂b` from the last backward pass, shape `(FN, 1)`.
    pub db: Matrix<T>,
    geometry: Geometry,
    x: Matrix<T>,
    out: Matrix<T>,
    dx: Matrix<T>,
    /// The scratch of each half of the batch.
    scratch: [Scratch<T>; 2],
    /// The second half's sums of `dW` and `db` (the first half sums into `dw` and `db`).
    dw2: Vec<T>,
    db2: Vec<T>,
    /// `Wᵀ`, `(C·FH·FW, FN)`: each filter's weights one after the other, as the product of the
    /// forward pass reads them best.
    wt: Vec<T>,
}

/// What one half of the batch works in: a sample's col and its gradient, and the partial sums of
/// the half's `dW` for small filters.
#[derive(Clone, Debug, Default)]
struct Scratch<T> {
    col: Vec<T>,
    dcol: Vec<T>,
    grad: FilterGradient<T>,
}

impl<T: Float> Scratch<T> {
    fn size(&mut self, geometry: &Geometry) {
        let len = geometry.col_len();
        for buffer in [&mut self.col, &mut self.dcol] {
            if buffer.len() != len {
                *buffer = vec![T::zero(); len];
            }
        }
    }
}

impl<T: Float> Convolution<T> {
    /// A layer with filters `w` `(FN, C·FH·FW)` and biases `b` `(FN, 1)` for input samples of
    /// shape `input`, its filters `window.height × window.width` moved with `window.stride`
    /// over the input padded with `window.pad` zeros.
    ///
    /// # Errors
    /// A message if the window does not fit the input (see [`Geometry::new`]) or the shapes of
    /// `w` and `b` do not match it.
    pub fn new(
        w: Matrix<T>,
        b: Matrix<T>,
        input: Shape,
        window: crate::im2col::Window,
    ) -> Result<Self, String> {
        let geometry = Geometry::new(input, window)?;
        let filters = w.nrows();
        if w.ncols() != geometry.patch_len() || b.shape() != (filters, 1) || filters == 0 {
            return Err(format!(
                "W is {}x{} and b {}x{}: for {}×{}×{} filters W must be (FN, {}) and b (FN, 1)",
                w.nrows(),
                w.ncols(),
                b.nrows(),
                b.ncols(),
                input.channels,
                window.height,
                window.width,
                geometry.patch_len()
            ));
        }
        let empty = Matrix::zeros(0, 0);
        Ok(Convolution {
            dw: Matrix::zeros(w.nrows(), w.ncols()),
            db: Matrix::zeros(filters, 1),
            w,
            b,
            geometry,
            x: empty.clone(),
            out: empty.clone(),
            dx: empty,
            scratch: Default::default(),
            dw2: Vec::new(),
            db2: Vec::new(),
            wt: Vec::new(),
        })
    }

    /// The input, window and output positions.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The shape of one output sample, `FN × OH × OW`.
    pub fn output_shape(&self) -> Shape {
        Shape::new(self.w.nrows(), self.geometry.out_h, self.geometry.out_w)
    }

    /// A copy of the parameters, with empty buffers (the gradients are zero).
    pub(crate) fn snapshot(&self) -> Self {
        Self::new(
            self.w.clone(),
            self.b.clone(),
            self.geometry.input,
            self.geometry.window,
        )
        .expect("a valid layer's copy is valid")
    }

    /// Multiply-adds of one product of the forward pass, for the whole batch of `n` samples.
    fn muladds(&self, n: usize) -> usize {
        n * self.geometry.col_len() * self.w.nrows()
    }

    fn check_input(&self, x: &Matrix<T>) {
        assert_eq!(
            x.nrows(),
            self.geometry.input_len(),
            "Convolution: samples of {} values for an input of shape {}",
            x.nrows(),
            self.geometry.input
        );
    }

    /// The backward pass: `dW` and `db`, and `dx` when `dx` is given, from the batch `x` of the
    /// forward pass.
    fn backward_with(&mut self, x: &Matrix<T>, dout: &Matrix<T>, want_dx: bool) {
        self.check_input(x);
        let (filters, n) = (self.w.nrows(), x.ncols());
        let out_len = filters * self.geometry.positions();
        assert_eq!(
            dout.shape(),
            (out_len, n),
            "Convolution: backward without a matching forward pass"
        );
        if want_dx {
            ensure_shape(&mut self.dx, self.geometry.input_len(), n);
        }
        let halves = split_samples(n, self.muladds(n));
        let (geometry, w) = (&self.geometry, &self.w);
        let [first, second] = &mut self.scratch;
        first.size(geometry);
        second.size(geometry);
        let in_len = geometry.input_len();
        let (x, dout) = (x.as_slice(), dout.as_slice());
        let dx = if want_dx {
            Some(self.dx.as_mut_slice())
        } else {
            None
        };
        let (dw, db) = (self.dw.as_mut_slice(), self.db.as_mut_slice());
        match halves {
            Halves::One => {
                backward_samples(geometry, w, x, dout, dx, first, dw, db);
            }
            Halves::Two(h) => {
                let (x1, x2) = x.split_at(h * in_len);
                let (d1, d2) = dout.split_at(h * out_len);
                let (dx1, dx2) = match dx {
                    Some(dx) => {
                        let (a, b) = dx.split_at_mut(h * in_len);
                        (Some(a), Some(b))
                    }
                    None => (None, None),
                };
                let (dw2, db2) = (&mut self.dw2, &mut self.db2);
                dw2.resize(dw.len(), T::zero());
                db2.resize(db.len(), T::zero());
                crate::float::join(
                    || backward_samples(geometry, w, x1, d1, dx1, first, dw, db),
                    || backward_samples(geometry, w, x2, d2, dx2, second, dw2, db2),
                );
                for (a, &b) in dw.iter_mut().zip(dw2.iter()) {
                    *a += b;
                }
                for (a, &b) in db.iter_mut().zip(db2.iter()) {
                    *a += b;
                }
            }
        }
    }
}

/// The forward pass of the samples `x` (whole columns) into `out`: for each one, its col, then
/// `out = col·Wᵀ + b`.
fn forward_samples<T: Float>(
    g: &Geometry,
    wt: &[T],
    b: &Matrix<T>,
    x: &[T],
    out: &mut [T],
    scratch: &mut Scratch<T>,
) {
    let (filters, positions) = (b.nrows(), g.positions());
    let wt = crate::float::SliceMatrix::new(wt, g.patch_len(), filters);
    for (x, out) in x
        .chunks_exact(g.input_len())
        .zip(out.chunks_exact_mut(filters * positions))
    {
        im2col(x, g, &mut scratch.col);
        for (plane, &bias) in out.chunks_exact_mut(positions).zip(b.iter()) {
            plane.fill(bias);
        }
        let col = crate::float::SliceMatrix::new(&scratch.col, positions, g.patch_len());
        crate::float::gemm_slices(T::one(), col, wt, T::one(), out, positions, filters);
    }
}

/// The backward pass of the samples `x` with gradients `dout`: `dw` and `db` receive their sums
/// over these samples (overwritten), `dx` (if given) their input gradients.
#[allow(clippy::too_many_arguments)]
fn backward_samples<T: Float>(
    g: &Geometry,
    w: &Matrix<T>,
    x: &[T],
    dout: &[T],
    mut dx: Option<&mut [T]>,
    scratch: &mut Scratch<T>,
    dw: &mut [T],
    db: &mut [T],
) {
    let (filters, positions, patch) = (w.nrows(), g.positions(), g.patch_len());
    let weights = crate::float::SliceMatrix::new(w.as_slice(), filters, patch);
    db.fill(T::zero());
    let small = filters * patch <= MAX_PAIRS;
    if small {
        scratch.grad.start(filters, patch);
    }
    let mut beta = T::zero();
    for (i, (x, dout)) in x
        .chunks_exact(g.input_len())
        .zip(dout.chunks_exact(filters * positions))
        .enumerate()
    {
        for (d, plane) in db.iter_mut().zip(dout.chunks_exact(positions)) {
            *d += kernels::sum(plane);
        }
        im2col(x, g, &mut scratch.col);
        // dW (+)= doutᵀ·col
        if small {
            scratch.grad.add(dout, &scratch.col, positions);
        } else {
            let col = crate::float::SliceMatrix::new(&scratch.col, positions, patch);
            let dout = crate::float::SliceMatrix::new(dout, positions, filters);
            crate::float::gemm_slices(T::one(), dout.t(), col, beta, dw, filters, patch);
        }
        beta = T::one();
        let dout = crate::float::SliceMatrix::new(dout, positions, filters);
        if let Some(dx) = dx.as_deref_mut() {
            // dcol = dout·W, then back to the input's shape.
            crate::float::gemm_slices(
                T::one(),
                dout,
                weights,
                T::zero(),
                &mut scratch.dcol,
                positions,
                patch,
            );
            let len = g.input_len();
            col2im(&scratch.dcol, g, &mut dx[i * len..(i + 1) * len]);
        }
    }
    if small {
        scratch.grad.finish(dw);
    } else if beta == T::zero() {
        dw.fill(T::zero()); // no sample
    }
}

impl<T: Float> Layer<T> for Convolution<T> {
    fn forward(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        ensure_shape(&mut self.x, x.nrows(), x.ncols());
        self.x.copy_from(x);
        self.forward_input(x)
    }

    fn backward(&mut self, dout: &Matrix<T>) -> &Matrix<T> {
        let x = std::mem::take(&mut self.x);
        self.backward_with(&x, dout, true);
        self.x = x;
        &self.dx
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, T>)) {
        f(Param {
            name: Name::of(Kind::Weight),
            value: &mut self.w,
            grad: &self.dw,
        });
        f(Param {
            name: Name::of(Kind::Bias),
            value: &mut self.b,
            grad: &self.db,
        });
    }

    /// The forward pass without keeping a copy of `x`.
    fn forward_input(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        self.check_input(x);
        let (filters, n) = (self.w.nrows(), x.ncols());
        let out_len = filters * self.geometry.positions();
        ensure_shape(&mut self.out, out_len, n);
        let halves = split_samples(n, self.muladds(n));
        let patch = self.geometry.patch_len();
        self.wt.resize(filters * patch, T::zero());
        for (f, row) in self.w.row_iter().enumerate() {
            for (k, &v) in row.iter().enumerate() {
                self.wt[f * patch + k] = v;
            }
        }
        let (g, wt, b) = (&self.geometry, &self.wt[..], &self.b);
        let [first, second] = &mut self.scratch;
        first.size(g);
        second.size(g);
        let (x, out) = (x.as_slice(), self.out.as_mut_slice());
        match halves {
            Halves::One => forward_samples(g, wt, b, x, out, first),
            Halves::Two(h) => {
                let (x1, x2) = x.split_at(h * g.input_len());
                let (o1, o2) = out.split_at_mut(h * out_len);
                crate::float::join(
                    || forward_samples(g, wt, b, x1, o1, first),
                    || forward_samples(g, wt, b, x2, o2, second),
                );
            }
        }
        &self.out
    }

    /// The parameters' gradients only: no `dcol`, no `col2im` (the first layer's input needs no
    /// gradient).
    fn backward_input(&mut self, x: &Matrix<T>, dout: &Matrix<T>) {
        self.backward_with(x, dout, false);
    }
}
