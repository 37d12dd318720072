//! Max pooling (§7.4.4, the book's `Pooling`).

use super::samples::{Halves, split_samples};
use super::{Layer, ensure_shape};
use crate::im2col::{Geometry, Window};
use crate::{Float, Matrix, Shape};

/// Where a window's maximum came from: the index of an input value of the sample, or none (the
/// maximum was a zero of the padding).
pub(crate) const PADDING: u32 = u32::MAX;

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
/// let dx = pool.backward(&Matrix::from_column_slice(2, 1, &[10., 20.]));
/// assert_eq!(dx.as_slice(), &[0., 10., 0., 0., 0., 0., 20., 0.]); // the first 7 wins
/// # Ok::<(), String>(())
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
    /// The output of the last forward pass.
    pub(crate) fn output(&self) -> &Matrix<T> {
        &self.out
    }

    /// Max pooling of `window` over input samples of shape `input`.
    ///
    /// # Errors
    /// A message if the window does not fit the input (see [`Geometry::new`]), or the sample is
    /// too large to index with 32 bits.
    pub fn new(input: Shape, window: Window) -> Result<Self, String> {
        let geometry = Geometry::new(input, window)?;
        if u32::try_from(geometry.input_len()).is_err() {
            return Err(format!("the input {input} is too large to pool"));
        }
        let empty = Matrix::zeros(0, 0);
        Ok(Pooling {
            geometry,
            arg_max: Vec::new(),
            out: empty.clone(),
            dx: empty,
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

    fn out_len(&self) -> usize {
        self.geometry.input.channels * self.geometry.positions()
    }
}

/// The maximum of each window of the samples `x` into `out`, and where it came from.
fn forward_samples<T: Float>(g: &Geometry, x: &[T], out: &mut [T], arg_max: &mut [u32]) {
    let out_len = g.input.channels * g.positions();
    for ((x, out), arg_max) in x
        .chunks_exact(g.input_len())
        .zip(out.chunks_exact_mut(out_len))
        .zip(arg_max.chunks_exact_mut(out_len))
    {
        forward_sample(g, x, out, arg_max);
    }
}

/// The maximum of each window of one sample: the book's 2×2 windows side by side by
/// [`max_2x2`], windows without padding without bounds checks, the others by [`max_padded`].
pub(crate) fn forward_sample<T: Float>(g: &Geometry, x: &[T], out: &mut [T], arg_max: &mut [u32]) {
    let w = g.window;
    if w.pad == 0 && (w.height, w.width, w.stride) == (2, 2, 2) {
        max_2x2(g, x, out, arg_max);
    } else {
        max_padded(g, x, out, arg_max);
    }
}

/// 2×2 windows moved by 2, no padding: each output row from two input rows, the first maximum in
/// the order top-left, top-right, bottom-left, bottom-right.
#[multiversion::multiversion(targets = "simd")]
fn max_2x2<T: Float>(g: &Geometry, x: &[T], out: &mut [T], arg_max: &mut [u32]) {
    let (h, w) = (g.input.height, g.input.width);
    let (oh, ow) = (g.out_h, g.out_w);
    for (c, (channel, (out, arg_max))) in x
        .chunks_exact(h * w)
        .zip(
            out.chunks_exact_mut(oh * ow)
                .zip(arg_max.chunks_exact_mut(oh * ow)),
        )
        .enumerate()
    {
        for oy in 0..oh {
            let top = &channel[2 * oy * w..2 * oy * w + 2 * ow];
            let bottom = &channel[(2 * oy + 1) * w..(2 * oy + 1) * w + 2 * ow];
            let row = (c * h * w + 2 * oy * w) as u32;
            let out = &mut out[oy * ow..(oy + 1) * ow];
            let arg_max = &mut arg_max[oy * ow..(oy + 1) * ow];
            for (ox, (((o, a), t), b)) in out
                .iter_mut()
                .zip(arg_max.iter_mut())
                .zip(top.chunks_exact(2))
                .zip(bottom.chunks_exact(2))
                .enumerate()
            {
                let (mut best, mut at) = (t[0], 0);
                if t[1] > best {
                    (best, at) = (t[1], 1);
                }
                if b[0] > best {
                    (best, at) = (b[0], w as u32);
                }
                if b[1] > best {
                    (best, at) = (b[1], w as u32 + 1);
                }
                *o = best;
                *a = row + 2 * ox as u32 + at;
            }
        }
    }
}

/// Any window, padding included: the zeros of the padding take part in the maximum (and take no
/// gradient).
fn max_padded<T: Float>(g: &Geometry, x: &[T], out: &mut [T], arg_max: &mut [u32]) {
    let (h, w) = (g.input.height, g.input.width);
    let Window {
        height: ph,
        width: pw,
        stride,
        pad,
    } = g.window;
    let mut o = 0;
    for c in 0..g.input.channels {
        let base = c * h * w;
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let mut best = T::zero();
                let mut at = None::<u32>;
                for fy in 0..ph {
                    let iy = (oy * stride + fy).checked_sub(pad).filter(|&i| i < h);
                    for fx in 0..pw {
                        let ix = (ox * stride + fx).checked_sub(pad).filter(|&i| i < w);
                        let (value, index) = match (iy, ix) {
                            (Some(iy), Some(ix)) => {
                                let i = base + iy * w + ix;
                                (x[i], i as u32)
                            }
                            _ => (T::zero(), PADDING),
                        };
                        if at.is_none() || value > best {
                            best = value;
                            at = Some(index);
                        }
                    }
                }
                out[o] = best;
                arg_max[o] = at.expect("a window holds at least one value");
                o += 1;
            }
        }
    }
}

/// Each output gradient of `dout` added to the input value its maximum came from.
fn backward_samples<T: Float>(g: &Geometry, dout: &[T], arg_max: &[u32], dx: &mut [T]) {
    let out_len = g.input.channels * g.positions();
    dx.fill(T::zero());
    for ((dout, arg_max), dx) in dout
        .chunks_exact(out_len)
        .zip(arg_max.chunks_exact(out_len))
        .zip(dx.chunks_exact_mut(g.input_len()))
    {
        for (&d, &i) in dout.iter().zip(arg_max) {
            if i != PADDING {
                dx[i as usize] += d;
            }
        }
    }
}

impl<T: Float> Layer<T> for Pooling<T> {
    fn forward(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        let g = self.geometry;
        assert_eq!(
            x.nrows(),
            g.input_len(),
            "Pooling: samples of {} values for an input of shape {}",
            x.nrows(),
            g.input
        );
        let (out_len, n) = (self.out_len(), x.ncols());
        ensure_shape(&mut self.out, out_len, n);
        self.arg_max.resize(out_len * n, 0);
        let (x, out, arg_max) = (x.as_slice(), self.out.as_mut_slice(), &mut self.arg_max[..]);
        // Counted as work: one comparison per value of each window.
        let work = out_len * n * g.window.height * g.window.width;
        match split_samples(n, work) {
            Halves::One => forward_samples(&g, x, out, arg_max),
            Halves::Two(half) => {
                let (x1, x2) = x.split_at(half * g.input_len());
                let (o1, o2) = out.split_at_mut(half * out_len);
                let (a1, a2) = arg_max.split_at_mut(half * out_len);
                crate::float::join(
                    || forward_samples(&g, x1, o1, a1),
                    || forward_samples(&g, x2, o2, a2),
                );
            }
        }
        &self.out
    }

    fn backward(&mut self, dout: &Matrix<T>) -> &Matrix<T> {
        let g = self.geometry;
        let (out_len, n) = (self.out_len(), dout.ncols());
        assert!(
            dout.nrows() == out_len && self.arg_max.len() == out_len * n,
            "Pooling: backward without a matching forward pass"
        );
        ensure_shape(&mut self.dx, g.input_len(), n);
        let (dout, dx, arg_max) = (dout.as_slice(), self.dx.as_mut_slice(), &self.arg_max[..]);
        let work = g.input_len() * n;
        match split_samples(n, work) {
            Halves::One => backward_samples(&g, dout, arg_max, dx),
            Halves::Two(half) => {
                let (d1, d2) = dout.split_at(half * out_len);
                let (a1, a2) = arg_max.split_at(half * out_len);
                let (x1, x2) = dx.split_at_mut(half * g.input_len());
                crate::float::join(
                    || backward_samples(&g, d1, a1, x1),
                    || backward_samples(&g, d2, a2, x2),
                );
            }
        }
        &self.dx
    }
}
