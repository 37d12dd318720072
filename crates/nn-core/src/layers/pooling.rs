//! Max pooling (§7.4.4, the book's `Pooling`).

use nn_kernels::pool;

use super::{Layer, ensure_shape};
use crate::im2col::{Geometry, GeometryError, Window};
use crate::{Float, Matrix, Shape};

/// Max pooling (§7.4.4): each channel of each sample is covered by windows of `height × width`
/// values moved by `stride` over the channel padded with `pad` zeros; each window gives its
/// maximum. The output of an input sample `C × H × W` is `C × OH × OW` with
/// `OH = (H + 2·pad − height) / stride + 1` (integer division, as the book).
///
/// As in the book, the padding is zeros that take part in the maximum (the book pads with
/// `np.pad`, then takes `np.max` of each window), and a window's first maximum, in row-major
/// order, is the one kept (`np.argmax`). The backward pass sends each output's gradient to the
/// input value its maximum came from (`arg_max` in the book), adding up where windows overlap,
/// and nowhere when it came from the padding.
///
/// ```
/// use nn_core::{Matrix, Shape, im2col::Window, layers::{Layer, Pooling}};
/// // One 2×4 channel, 2×2 windows moved by 2: two windows.
/// let mut pool = Pooling::new(Shape::new(1, 2, 4), Window::square(2, 2, 0))?;
/// let x = Matrix::from_column_slice(8, 1, &[1., 5., 2., 0.,
///                                           3., 4., 7., 7.]);
/// assert_eq!(pool.forward(&x).as_slice(), &[5., 7.]);
/// let dx = pool.backward(&x, &Matrix::from_column_slice(2, 1, &[10., 20.]), true).unwrap();
/// assert_eq!(dx.as_slice(), &[0., 10., 0., 0., 0., 0., 20., 0.]); // the first 7 wins
/// # Ok::<(), nn_core::im2col::GeometryError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Pooling<T: Float> {
    geometry: Geometry,
    /// For each output value of the batch, the index in its sample of the input it took.
    arg_max: Vec<u32>,
    out: Matrix<T>,
    dx: Matrix<T>,
}

impl<T: Float> Pooling<T> {
    /// Max pooling of `window` over input samples of shape `input`.
    ///
    /// # Errors
    /// If the window does not fit the input (see [`Geometry::new`]), or a sample is too large
    /// to index with 32 bits ([`GeometryError::Overflow`]).
    pub fn new(input: Shape, window: Window) -> Result<Self, GeometryError> {
        let geometry = Geometry::new(input, window)?;
        if u32::try_from(geometry.input_len()).is_err() {
            return Err(GeometryError::Overflow(
                "a sample to pool (over 2³² values)",
            ));
        }
        Ok(Pooling {
            geometry,
            arg_max: Vec::new(),
            out: Matrix::zeros(0, 0),
            dx: Matrix::zeros(0, 0),
        })
    }

    /// The input, window and output positions.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The shape of one output sample, `C × OH × OW`.
    pub fn output_shape(&self) -> Shape {
        let g = &self.geometry;
        Shape::new(g.input.channels, g.out_h, g.out_w)
    }

    /// A copy without buffers.
    pub(crate) fn snapshot(&self) -> Self {
        Self::new(self.geometry.input, self.geometry.window).expect("a valid layer's copy")
    }
}

impl<T: Float> Layer<T> for Pooling<T> {
    /// The maximum of each window, and where it came from.
    fn forward(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        let g = self.geometry;
        assert_eq!(
            x.nrows(),
            g.input_len(),
            "Pooling: samples of {} values for an input of shape {}",
            x.nrows(),
            g.input
        );
        let (out_len, n) = (self.output_shape().channels * g.positions(), x.ncols());
        ensure_shape(&mut self.out, out_len, n);
        self.arg_max.resize(out_len * n, 0);
        pool::forward(&g, x.as_slice(), self.out.as_mut_slice(), &mut self.arg_max);
        &self.out
    }

    fn output(&self) -> &Matrix<T> {
        &self.out
    }

    /// Each gradient back to the input its maximum came from.
    fn backward(&mut self, x: &Matrix<T>, dout: &Matrix<T>, want_dx: bool) -> Option<&Matrix<T>> {
        if !want_dx {
            return None;
        }
        ensure_shape(&mut self.dx, x.nrows(), x.ncols());
        let dx = self.dx.as_mut_slice();
        pool::backward(&self.geometry, dout.as_slice(), &self.arg_max, dx);
        Some(&self.dx)
    }
}
