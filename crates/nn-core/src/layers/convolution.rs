//! The convolution layer (§7.4.3, the book's `Convolution`).

use nn_kernels::conv::{Conv, Epilogue};

use super::{Kind, Layer, Param, ensure_shape};
use crate::im2col::{Geometry, GeometryError, Window};
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
/// As in the book:
///
/// ```text
/// forward:   col  = im2col(x)                (OH·OW, C·FH·FW)  for each sample
///            out  = col·Wᵀ + b                (OH·OW, FN): the sample's FN, OH, OW
/// backward:  db   = Σ dout                    over the samples and positions
///            dW   = Σ doutᵀ·col               (FN, C·FH·FW)
///            dcol = dout·W,  dx = col2im(dcol)
/// ```
///
/// Each line is one call of the [`nn_kernels::conv`] kernels, which build each sample's col
/// while it is in the cache (or, for the layers of `DeepConvNet`, read the padded sample
/// directly, without a col) and share a batch between two cores with the same bits.
///
/// ```
/// use nn_core::{Matrix, Shape, im2col::Window, layers::{Convolution, Layer}};
/// // One 3×3 input, one 2×2 filter that sums its window, bias 0.5.
/// let w = Matrix::from_row_slice(1, 4, &[1.0_f64, 1.0, 1.0, 1.0]);
/// let b = Matrix::from_element(1, 1, 0.5);
/// let mut conv = Convolution::new(w, b, Shape::new(1, 3, 3), Window::square(2, 1, 0))?;
/// let x = Matrix::from_column_slice(9, 1, &[1., 2., 3., 4., 5., 6., 7., 8., 9.]);
/// assert_eq!(conv.forward(&x).as_slice(), &[12.5, 16.5, 24.5, 28.5]); // 1+2+4+5+0.5, ...
/// let dx = conv.backward(&x, &Matrix::from_element(4, 1, 1.0), true).unwrap();
/// assert_eq!(dx.as_slice(), &[1., 2., 1., 2., 4., 2., 1., 2., 1.]); // windows per pixel
/// assert_eq!(conv.dw.as_slice(), &[12., 16., 24., 28.]); // each weight's four inputs
/// assert_eq!(conv.db[0], 4.0);
/// # Ok::<(), nn_core::layers::ConvolutionError>(())
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
    /// The products, and their buffers.
    pub(crate) kernel: Conv<T>,
    out: Matrix<T>,
    dx: Matrix<T>,
}

/// Why a convolution cannot be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConvolutionError {
    /// The window does not fit the input.
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    /// `W` or `b` does not have the shape the window and input ask for.
    #[error(
        "W is {w_rows}x{w_cols} and b {b_rows}x{b_cols}: for filters over {channels} channels of \
         {height}×{width} weights W must be (FN, {patch}) with FN ≥ 1 and b (FN, 1)"
    )]
    Shapes {
        /// `W`'s rows.
        w_rows: usize,
        /// `W`'s columns.
        w_cols: usize,
        /// `b`'s rows.
        b_rows: usize,
        /// `b`'s columns.
        b_cols: usize,
        /// The input's channels.
        channels: usize,
        /// The filters' rows.
        height: usize,
        /// The filters' columns.
        width: usize,
        /// The weights of one filter, `C·FH·FW`.
        patch: usize,
    },
}

impl<T: Float> Convolution<T> {
    /// A layer with filters `w` `(FN, C·FH·FW)` and biases `b` `(FN, 1)` for input samples of
    /// shape `input`, its filters `window.height × window.width` moved with `window.stride`
    /// over the input padded with `window.pad` zeros.
    ///
    /// # Errors
    /// If the window does not fit the input (see [`Geometry::new`]) or the shapes of `w` and `b`
    /// do not match it.
    pub fn new(
        w: Matrix<T>,
        b: Matrix<T>,
        input: Shape,
        window: Window,
    ) -> Result<Self, ConvolutionError> {
        let geometry = Geometry::new(input, window)?;
        let filters = w.nrows();
        if w.ncols() != geometry.patch_len() || b.shape() != (filters, 1) || filters == 0 {
            return Err(ConvolutionError::Shapes {
                w_rows: w.nrows(),
                w_cols: w.ncols(),
                b_rows: b.nrows(),
                b_cols: b.ncols(),
                channels: input.channels,
                height: window.height,
                width: window.width,
                patch: geometry.patch_len(),
            });
        }
        let empty = Matrix::zeros(0, 0);
        Ok(Convolution {
            dw: Matrix::zeros(w.nrows(), w.ncols()),
            db: Matrix::zeros(filters, 1),
            w,
            b,
            kernel: Conv::new(geometry, filters),
            out: empty.clone(),
            dx: empty,
        })
    }

    /// The input, window and output positions.
    pub fn geometry(&self) -> &Geometry {
        self.kernel.geometry()
    }

    /// The shape of one output sample: `FN × OH × OW`.
    pub fn output_shape(&self) -> Shape {
        let g = self.geometry();
        Shape::new(self.w.nrows(), g.out_h, g.out_w)
    }

    /// A copy of the parameters, with empty buffers (the gradients are zero).
    pub(crate) fn snapshot(&self) -> Self {
        let g = self.geometry();
        Self::new(self.w.clone(), self.b.clone(), g.input, g.window)
            .expect("a valid layer's copy is valid")
    }

    fn check_input(&self, x: &Matrix<T>) {
        let g = self.geometry();
        assert_eq!(
            x.nrows(),
            g.input_len(),
            "Convolution: samples of {} values for an input of shape {}",
            x.nrows(),
            g.input
        );
    }
}

impl<T: Float> Layer<T> for Convolution<T> {
    /// `out = im2col(x)·Wᵀ + b`, sample by sample.
    fn forward(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        self.check_input(x);
        let out_len = self.kernel.output_len(Epilogue::None);
        ensure_shape(&mut self.out, out_len, x.ncols());
        let (w, b) = (self.w.as_slice(), self.b.as_slice());
        let out = self.out.as_mut_slice();
        self.kernel
            .forward(x.as_slice(), w, b, Epilogue::None, out, &mut Vec::new());
        &self.out
    }

    fn output(&self) -> &Matrix<T> {
        &self.out
    }

    /// `db = Σ dout`, `dW = Σ doutᵀ·col`, and `dx = col2im(dout·W)` when asked.
    fn backward(&mut self, x: &Matrix<T>, dout: &Matrix<T>, want_dx: bool) -> Option<&Matrix<T>> {
        self.check_input(x);
        if want_dx {
            ensure_shape(&mut self.dx, x.nrows(), x.ncols());
        }
        let dx = want_dx.then(|| self.dx.as_mut_slice());
        self.kernel.backward(
            x.as_slice(),
            self.w.as_slice(),
            Epilogue::None,
            (self.out.as_slice(), &[]),
            dout.as_slice(),
            (self.dw.as_mut_slice(), self.db.as_mut_slice()),
            dx,
        );
        want_dx.then_some(&self.dx)
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, T>)) {
        f(Param::of(Kind::Weight, &mut self.w, &mut self.dw));
        f(Param::of(Kind::Bias, &mut self.b, &mut self.db));
    }
}
