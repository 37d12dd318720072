//! The convolution layer (§7.4.3, the book's `Convolution`).

use super::activation::{relu_backward_into, relu_in_place};
use super::direct::{self, Direct, Slices};
use super::pooling;
use super::{Kind, Layer, Param, ensure_shape};
use crate::im2col::{Geometry, Window, col2im_consuming, im2col};
use crate::layers::kernels::{self, FilterGradient};
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
/// **Direct kernels.** Stride-1 convolutions with filters in multiples of 16 and rows wide enough
/// (`DeepConvNet`'s layers on 28×28 and 14×14 inputs) skip the col: a kernel of our own reads
/// each weight's shifted input straight from a zero-padded copy of the sample, for the forward
/// pass, `dW` and `dx` alike (see `layers/direct.rs`). It computes the same sums as im2col and
/// the product (tested exactly on integers, and by gradient checks), in another order. The other
/// convolutions whose output planes hold a multiple of 16 positions (the book's `SimpleConvNet`,
/// `DeepConvNet`'s 8×8 layers) build the col and multiply it by the same kernels (`Slices`);
/// only the remaining ones call `gemm`, which allocates its packing buffers at every call.
///
/// **Inside a network**, a convolution followed by [`Relu`](super::Relu), or by `Relu` and
/// [`Pooling`](super::Pooling), runs the three layers sample by sample (a *fused* layer, built by
/// [`Sequential`](crate::Sequential)): each sample's output goes through ReLU and pooling while
/// it is in the cache, instead of three passes over the batch's outputs (7 MB for the book's
/// first layer). It computes exactly what the three layers compute, bit for bit (tested), and
/// its parameters and gradients are the convolution's.
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
    epilogue: Epilogue,
    x: Matrix<T>,
    out: Matrix<T>,
    dx: Matrix<T>,
    /// With pooling: for each output value, the index in its sample's convolution output of the
    /// maximum it took (`u32::MAX` for the padding).
    arg_max: Vec<u32>,
    /// The scratch of each half of the batch.
    scratch: [Scratch<T>; 2],
    /// The second half's sums of `dW` and `db` (the first half sums into `dw` and `db`).
    dw2: Vec<T>,
    db2: Vec<T>,
    /// `Wᵀ`, `(C·FH·FW, FN)`: each filter's weights one after the other, as the product of the
    /// forward pass reads them best.
    wt: Vec<T>,
    /// The direct kernels' layout, for the convolutions they serve (see [`direct`]).
    direct: Option<Direct>,
    /// The same kernels over the col, for the other convolutions they serve (else `gemm`).
    slices: Option<Slices>,
    /// The filters turned round, as the direct kernels' input gradient reads them.
    turned: Vec<T>,
}

/// What a fused convolution runs on each sample's output: nothing, ReLU, or ReLU then max
/// pooling (of this geometry over the convolution's output `FN × OH × OW`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Epilogue {
    None,
    Relu,
    ReluPool(Geometry),
}

/// What one half of the batch works in: a sample's col and its gradient, its convolution output
/// (or that output's gradient) when pooled, the partial sums of the half's `dW` for small
/// filters, and the kernels' own buffers.
#[derive(Clone, Debug, Default)]
struct Scratch<T> {
    col: Vec<T>,
    dcol: Vec<T>,
    plane: Vec<T>,
    grad: FilterGradient<T>,
    direct: direct::Buffers<T>,
    /// The output gradient transposed, for [`Slices::add_filter_gradient`].
    dout_t: Vec<T>,
}

impl<T: Float> Scratch<T> {
    fn size(&mut self, geometry: &Geometry, planes: usize, direct: Option<&Direct>) {
        // The direct kernels need no col.
        let len = match direct {
            Some(d) => {
                d.size(&mut self.direct);
                0
            }
            None => geometry.col_len(),
        };
        for (buffer, len) in [
            (&mut self.col, len),
            (&mut self.dcol, len),
            (&mut self.plane, planes + 1),
        ] {
            if buffer.len() != len {
                *buffer = vec![T::zero(); len];
            }
        }
    }
}

/// The shapes a pass over some samples works with.
#[derive(Clone, Copy)]
struct Shapes {
    g: Geometry,
    epilogue: Epilogue,
    filters: usize,
    /// Values of one sample's output (after the epilogue).
    out_len: usize,
}

/// The filters, as each pass reads them.
#[derive(Clone, Copy)]
struct Filters<'a, T: Float> {
    /// The direct kernels' layout, if they serve this convolution (else im2col).
    direct: Option<&'a Direct>,
    /// The col kernels, if they serve this convolution (else `gemm`).
    slices: Option<&'a Slices>,
    /// `W`, `(FN, C·FH·FW)`.
    w: &'a Matrix<T>,
    /// `Wᵀ` (forward pass through `gemm`, input gradient through the col kernels), else empty.
    wt: &'a [T],
    /// The filters turned round (input gradient through the direct kernels), else empty.
    turned: &'a [T],
}

impl<T: Float> Convolution<T> {
    /// A layer with filters `w` `(FN, C·FH·FW)` and biases `b` `(FN, 1)` for input samples of
    /// shape `input`, its filters `window.height × window.width` moved with `window.stride`
    /// over the input padded with `window.pad` zeros.
    ///
    /// # Errors
    /// A message if the window does not fit the input (see [`Geometry::new`]) or the shapes of
    /// `w` and `b` do not match it.
    pub fn new(w: Matrix<T>, b: Matrix<T>, input: Shape, window: Window) -> Result<Self, String> {
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
        let direct = Direct::new(&geometry, filters);
        let slices = match direct {
            Some(_) => None,
            None => Slices::new(&geometry, filters),
        };
        Ok(Convolution {
            dw: Matrix::zeros(w.nrows(), w.ncols()),
            db: Matrix::zeros(filters, 1),
            w,
            b,
            geometry,
            epilogue: Epilogue::None,
            x: empty.clone(),
            out: empty.clone(),
            dx: empty,
            arg_max: Vec::new(),
            scratch: Default::default(),
            dw2: Vec::new(),
            db2: Vec::new(),
            wt: Vec::new(),
            direct,
            slices,
            turned: Vec::new(),
        })
    }

    /// This convolution followed by ReLU, and by max pooling of `pool` when given: one layer
    /// that computes what the two or three compute (see the type's documentation).
    ///
    /// # Errors
    /// If the pooling window does not fit the convolution's output.
    pub(crate) fn fused(mut self, pool: Option<Window>) -> Result<Self, String> {
        self.epilogue = match pool {
            None => Epilogue::Relu,
            Some(window) => {
                let g = Geometry::new(self.conv_shape(), window)?;
                if u32::try_from(g.input_len()).is_err() {
                    return Err("the convolution's output is too large to pool".into());
                }
                Epilogue::ReluPool(g)
            }
        };
        Ok(self)
    }

    /// The input, window and output positions.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The shape of one output sample: `FN × OH × OW` (after pooling, for a fused layer).
    pub fn output_shape(&self) -> Shape {
        match self.epilogue {
            Epilogue::None | Epilogue::Relu => self.conv_shape(),
            Epilogue::ReluPool(g) => Shape::new(g.input.channels, g.out_h, g.out_w),
        }
    }

    /// The output of the last forward pass.
    pub(crate) fn output(&self) -> &Matrix<T> {
        &self.out
    }

    /// The shape of the convolution's own output, `FN × OH × OW`.
    fn conv_shape(&self) -> Shape {
        Shape::new(self.w.nrows(), self.geometry.out_h, self.geometry.out_w)
    }

    /// A copy of the parameters (and of the fusion), with empty buffers (the gradients are zero).
    pub(crate) fn snapshot(&self) -> Self {
        let mut copy = Self::new(
            self.w.clone(),
            self.b.clone(),
            self.geometry.input,
            self.geometry.window,
        )
        .expect("a valid layer's copy is valid");
        copy.epilogue = self.epilogue;
        copy
    }

    fn shapes(&self) -> Shapes {
        Shapes {
            g: self.geometry,
            epilogue: self.epilogue,
            filters: self.w.nrows(),
            out_len: self.output_shape().len().expect("checked by new"),
        }
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

    /// Copies `W` into `wt`, row after row: `Wᵀ`, column-major.
    fn transpose_filters(&mut self) {
        let (filters, patch) = (self.w.nrows(), self.geometry.patch_len());
        self.wt.resize(filters * patch, T::zero());
        for (f, row) in self.w.row_iter().enumerate() {
            for (k, &v) in row.iter().enumerate() {
                self.wt[f * patch + k] = v;
            }
        }
    }

    fn size_scratch(&mut self) {
        let planes = self.conv_shape().len().expect("checked by new");
        let g = self.geometry;
        for scratch in &mut self.scratch {
            scratch.size(&g, planes, self.direct.as_ref());
        }
    }

    /// The backward pass: `dW` and `db`, and `dx` when `want_dx`, from the batch `x` of the
    /// forward pass.
    fn backward_with(&mut self, x: &Matrix<T>, dout: &Matrix<T>, want_dx: bool) {
        self.check_input(x);
        let n = x.ncols();
        let shapes = self.shapes();
        let out_len = shapes.out_len;
        assert!(
            dout.shape() == (out_len, n) && self.out.shape() == (out_len, n),
            "Convolution: backward without a matching forward pass"
        );
        if want_dx {
            ensure_shape(&mut self.dx, self.geometry.input_len(), n);
            if let Some(d) = &self.direct {
                d.turn(self.w.as_slice(), &mut self.turned);
            } else if self.slices.is_some() {
                self.transpose_filters();
            }
        }
        let halves = split_samples(n, self.muladds(n));
        self.size_scratch();
        let w = Filters {
            direct: self.direct.as_ref(),
            slices: self.slices.as_ref(),
            w: &self.w,
            wt: &self.wt,
            turned: &self.turned,
        };
        let [first, second] = &mut self.scratch;
        let in_len = self.geometry.input_len();
        let (x, dout, out) = (x.as_slice(), dout.as_slice(), self.out.as_slice());
        let arg_len = self.arg_max.len() / n.max(1);
        let arg_max = &self.arg_max[..];
        let dx = if want_dx {
            Some(self.dx.as_mut_slice())
        } else {
            None
        };
        let (dw, db) = (self.dw.as_mut_slice(), self.db.as_mut_slice());
        match halves {
            Halves::One => {
                let pass = Backward {
                    x,
                    out,
                    dout,
                    arg_max,
                };
                backward_samples(shapes, w, pass, dx, first, dw, db);
            }
            Halves::Two(h) => {
                let (x1, x2) = x.split_at(h * in_len);
                let (d1, d2) = dout.split_at(h * out_len);
                let (o1, o2) = out.split_at(h * out_len);
                let (a1, a2) = arg_max.split_at(h * arg_len);
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
                let first_half = Backward {
                    x: x1,
                    out: o1,
                    dout: d1,
                    arg_max: a1,
                };
                let second_half = Backward {
                    x: x2,
                    out: o2,
                    dout: d2,
                    arg_max: a2,
                };
                crate::float::join(
                    || backward_samples(shapes, w, first_half, dx1, first, dw, db),
                    || backward_samples(shapes, w, second_half, dx2, second, dw2, db2),
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
/// `col·Wᵀ + b` (or the same through the direct kernels), then the epilogue.
fn forward_samples<T: Float>(
    s: Shapes,
    w: Filters<'_, T>,
    b: &Matrix<T>,
    x: &[T],
    out: &mut [T],
    arg_max: &mut [u32],
    scratch: &mut Scratch<T>,
) {
    let (g, filters, positions) = (&s.g, s.filters, s.g.positions());
    let arg_len = match s.epilogue {
        Epilogue::ReluPool(_) => s.out_len,
        _ => 0,
    };
    for (n, (x, out)) in x
        .chunks_exact(g.input_len())
        .zip(out.chunks_exact_mut(s.out_len))
        .enumerate()
    {
        let conv = match s.epilogue {
            Epilogue::ReluPool(_) => &mut scratch.plane[..filters * positions],
            _ => &mut *out,
        };
        if let Some(direct) = w.direct {
            direct.forward(x, w.w.as_slice(), b.as_slice(), &mut scratch.direct, conv);
        } else {
            im2col(x, g, &mut scratch.col);
            if let Some(slices) = w.slices {
                slices.forward(&scratch.col, w.w.as_slice(), b.as_slice(), conv);
            } else {
                for (plane, &bias) in conv.chunks_exact_mut(positions).zip(b.iter()) {
                    plane.fill(bias);
                }
                let col = crate::float::SliceMatrix::new(&scratch.col, positions, g.patch_len());
                let wt = crate::float::SliceMatrix::new(w.wt, g.patch_len(), filters);
                crate::float::gemm_slices(T::one(), col, wt, T::one(), conv, positions, filters);
            }
        }
        match s.epilogue {
            Epilogue::None => {}
            Epilogue::Relu => relu_in_place(out),
            Epilogue::ReluPool(pool) => {
                let plane = &mut scratch.plane[..filters * positions];
                relu_in_place(plane);
                let arg_max = &mut arg_max[n * arg_len..(n + 1) * arg_len];
                pooling::forward_sample(&pool, plane, out, arg_max);
            }
        }
    }
}

/// What the backward pass of some samples reads: their inputs, their outputs (after the
/// epilogue), the gradients of those outputs and, with pooling, where each maximum came from.
#[derive(Clone, Copy)]
struct Backward<'a, T> {
    x: &'a [T],
    out: &'a [T],
    dout: &'a [T],
    arg_max: &'a [u32],
}

/// The backward pass of some samples: `dw` and `db` receive their sums over these samples
/// (overwritten), `dx` (if given) their input gradients.
fn backward_samples<T: Float>(
    s: Shapes,
    w: Filters<'_, T>,
    pass: Backward<'_, T>,
    mut dx: Option<&mut [T]>,
    scratch: &mut Scratch<T>,
    dw: &mut [T],
    db: &mut [T],
) {
    let (g, filters) = (&s.g, s.filters);
    let (positions, patch) = (g.positions(), g.patch_len());
    let weights = crate::float::SliceMatrix::new(w.w.as_slice(), filters, patch);
    db.fill(T::zero());
    let small = w.direct.is_none() && kernels::serves(filters, patch);
    if !small {
        dw.fill(T::zero()); // each sample's dW is added to it
    }
    if small {
        scratch.grad.start(filters, patch);
    }
    let arg_len = match s.epilogue {
        Epilogue::ReluPool(_) => s.out_len,
        _ => 0,
    };
    for (i, ((x, out), dout)) in pass
        .x
        .chunks_exact(g.input_len())
        .zip(pass.out.chunks_exact(s.out_len))
        .zip(pass.dout.chunks_exact(s.out_len))
        .enumerate()
    {
        // The gradient of the convolution's output: through the epilogue, as the separate
        // layers' backward passes compute it.
        let dconv: &[T] = match s.epilogue {
            Epilogue::None => dout,
            Epilogue::Relu => {
                let plane = &mut scratch.plane[..filters * positions];
                relu_backward_into(dout, out, plane);
                plane
            }
            Epilogue::ReluPool(_) => {
                // Pooling sends each gradient to its maximum; ReLU keeps it where that maximum,
                // the pooled output, is positive. Without a branch (which the processor would
                // mispredict for half the values): a gradient that ReLU drops goes to a spare
                // value after the plane.
                let plane = &mut scratch.plane;
                plane.fill(T::zero());
                let spare = plane.len() - 1;
                let arg_max = &pass.arg_max[i * arg_len..(i + 1) * arg_len];
                for ((&d, &o), &at) in dout.iter().zip(out).zip(arg_max) {
                    // (A positive maximum is never the padding's zero: `at` is an index then.)
                    let at = if o > T::zero() { at as usize } else { spare };
                    plane[at] += d;
                }
                &scratch.plane[..spare]
            }
        };
        for (d, plane) in db.iter_mut().zip(dconv.chunks_exact(positions)) {
            *d += kernels::sum(plane);
        }
        let len = g.input_len();
        let dx = dx.as_deref_mut().map(|dx| &mut dx[i * len..(i + 1) * len]);
        if let Some(direct) = w.direct {
            direct.add_filter_gradient(x, dconv, &mut scratch.direct, dw);
            if let Some(dx) = dx {
                direct.input_gradient(dconv, w.turned, &mut scratch.direct, dx);
            }
        } else {
            im2col(x, g, &mut scratch.col);
            // dW (+)= doutᵀ·col
            if small {
                scratch.grad.add(dconv, &scratch.col, positions);
            } else if let Some(slices) = w.slices {
                slices.add_filter_gradient(&scratch.col, dconv, &mut scratch.dout_t, dw);
            } else {
                let col = crate::float::SliceMatrix::new(&scratch.col, positions, patch);
                let dconv = crate::float::SliceMatrix::new(dconv, positions, filters);
                crate::float::gemm_slices(T::one(), dconv.t(), col, T::one(), dw, filters, patch);
            }
            if let Some(dx) = dx {
                // dcol = dout·W, then back to the input's shape.
                if let Some(slices) = w.slices {
                    slices.col_gradient(dconv, w.wt, &mut scratch.dcol);
                } else {
                    let dconv = crate::float::SliceMatrix::new(dconv, positions, filters);
                    crate::float::gemm_slices(
                        T::one(),
                        dconv,
                        weights,
                        T::zero(),
                        &mut scratch.dcol,
                        positions,
                        patch,
                    );
                }
                col2im_consuming(&mut scratch.dcol, g, dx);
            }
        }
    }
    if small {
        scratch.grad.finish(dw);
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
        f(Param::of(Kind::Weight, &mut self.w, &self.dw));
        f(Param::of(Kind::Bias, &mut self.b, &self.db));
    }

    /// The forward pass without keeping a copy of `x`.
    fn forward_input(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        self.check_input(x);
        let n = x.ncols();
        let shapes = self.shapes();
        let out_len = shapes.out_len;
        ensure_shape(&mut self.out, out_len, n);
        let arg_len = match self.epilogue {
            Epilogue::ReluPool(_) => out_len,
            _ => 0,
        };
        self.arg_max.resize(arg_len * n, 0);
        let halves = split_samples(n, self.muladds(n));
        if self.direct.is_none() && self.slices.is_none() {
            self.transpose_filters();
        }
        self.size_scratch();
        let (w, b) = (
            Filters {
                direct: self.direct.as_ref(),
                slices: self.slices.as_ref(),
                w: &self.w,
                wt: &self.wt,
                turned: &[],
            },
            &self.b,
        );
        let [first, second] = &mut self.scratch;
        let (x, out, arg_max) = (x.as_slice(), self.out.as_mut_slice(), &mut self.arg_max[..]);
        match halves {
            Halves::One => forward_samples(shapes, w, b, x, out, arg_max, first),
            Halves::Two(h) => {
                let (x1, x2) = x.split_at(h * self.geometry.input_len());
                let (o1, o2) = out.split_at_mut(h * out_len);
                let (a1, a2) = arg_max.split_at_mut(h * arg_len);
                crate::float::join(
                    || forward_samples(shapes, w, b, x1, o1, a1, first),
                    || forward_samples(shapes, w, b, x2, o2, a2, second),
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

    fn forward_kept(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        self.forward_input(x)
    }

    fn backward_kept(&mut self, x: &Matrix<T>, dout: &Matrix<T>) -> &Matrix<T> {
        self.backward_with(x, dout, true);
        &self.dx
    }
}
