//! Max pooling (§7.4.4): each window's maximum and where it came from, and the backward pass that
//! sends each gradient back there.
//!
//! ```text
//! forward:   out[c, oy, ox] = max over the window of x[c, oy·stride + fy − pad, ox·stride + fx − pad]
//!            (0 in the padding; the first maximum in row-major order, as np.argmax)
//! backward:  dx[i] = Σ dout[o] over the outputs o whose maximum came from input i
//! ```
//!
//! Batches large enough are cut in two halves of samples, by shape only (see
//! [`threads`](crate::threads)).

use crate::threads::{Halves, join, split_samples};
use crate::{Geometry, Scalar, Window};

/// Where a window's maximum came from when it was a zero of the padding (else the index of an
/// input value of the sample).
pub const PADDING: u32 = u32::MAX;

/// The maximum of each window of the samples `x` (whole samples of `g.input_len()` values) into
/// `out` (`C·OH·OW` values per sample), and in `arg_max` the index in its sample of the input
/// each one came from ([`PADDING`] for the padding).
///
/// # Panics
/// If the lengths do not fit `g`, or a sample is too large to index with 32 bits (checked by the
/// caller's layer).
///
/// ```
/// use nn_kernels::{Geometry, Shape, Window, pool};
/// let g = Geometry::new(Shape::new(1, 2, 4), Window::square(2, 2, 0))?;
/// let x = [1., 5., 2., 0.,
///          3., 4., 7., 7.];
/// let (mut out, mut arg_max) = ([0.0_f64; 2], [0; 2]);
/// pool::forward(&g, &x, &mut out, &mut arg_max);
/// assert_eq!((out, arg_max), ([5., 7.], [1, 6])); // the first 7 wins
/// let mut dx = [0.0; 8];
/// pool::backward(&g, &[10., 20.], &arg_max, &mut dx);
/// assert_eq!(dx, [0., 10., 0., 0., 0., 0., 20., 0.]);
/// # Ok::<(), nn_kernels::GeometryError>(())
/// ```
pub fn forward<T: Scalar>(g: &Geometry, x: &[T], out: &mut [T], arg_max: &mut [u32]) {
    let (in_len, out_len) = (g.input_len(), g.input.channels * g.positions());
    let n = x.len() / in_len;
    assert!(
        x.len() == n * in_len && out.len() == n * out_len && arg_max.len() == n * out_len,
        "pool::forward: lengths"
    );
    assert!(u32::try_from(in_len).is_ok(), "pool: a sample too large");
    // Counted as work: one comparison per value of each window.
    let work = out_len * n * g.window.height * g.window.width;
    match split_samples(n, work) {
        Halves::One => forward_samples(g, x, out, arg_max),
        Halves::Two(half) => {
            let (x1, x2) = x.split_at(half * in_len);
            let (o1, o2) = out.split_at_mut(half * out_len);
            let (a1, a2) = arg_max.split_at_mut(half * out_len);
            join(
                || forward_samples(g, x1, o1, a1),
                || forward_samples(g, x2, o2, a2),
            );
        }
    }
}

/// Each output gradient of `dout` added to the input value its maximum came from (`arg_max` of
/// [`forward`]), into `dx` (overwritten).
///
/// # Panics
/// If the lengths do not fit `g`.
pub fn backward<T: Scalar>(g: &Geometry, dout: &[T], arg_max: &[u32], dx: &mut [T]) {
    let (in_len, out_len) = (g.input_len(), g.input.channels * g.positions());
    let n = dx.len() / in_len;
    assert!(
        dx.len() == n * in_len && dout.len() == n * out_len && arg_max.len() == n * out_len,
        "pool::backward: lengths"
    );
    match split_samples(n, in_len * n) {
        Halves::One => backward_samples(g, dout, arg_max, dx),
        Halves::Two(half) => {
            let (d1, d2) = dout.split_at(half * out_len);
            let (a1, a2) = arg_max.split_at(half * out_len);
            let (x1, x2) = dx.split_at_mut(half * in_len);
            join(
                || backward_samples(g, d1, a1, x1),
                || backward_samples(g, d2, a2, x2),
            );
        }
    }
}

fn forward_samples<T: Scalar>(g: &Geometry, x: &[T], out: &mut [T], arg_max: &mut [u32]) {
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
pub(crate) fn forward_sample<T: Scalar>(g: &Geometry, x: &[T], out: &mut [T], arg_max: &mut [u32]) {
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
fn max_2x2<T: Scalar>(g: &Geometry, x: &[T], out: &mut [T], arg_max: &mut [u32]) {
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
fn max_padded<T: Scalar>(g: &Geometry, x: &[T], out: &mut [T], arg_max: &mut [u32]) {
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
                let mut best = T::ZERO;
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
                            _ => (T::ZERO, PADDING),
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

fn backward_samples<T: Scalar>(g: &Geometry, dout: &[T], arg_max: &[u32], dx: &mut [T]) {
    let out_len = g.input.channels * g.positions();
    dx.fill(T::ZERO);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shape;

    /// Both paths against the definition written as a plain loop over every window, with ties,
    /// negative values (where the padding's zero wins) and overlapping windows.
    #[test]
    fn forward_matches_the_definition() {
        let cases = [
            (Shape::new(2, 6, 8), Window::square(2, 2, 0)),
            (Shape::new(1, 5, 5), Window::square(3, 1, 1)),
            (Shape::new(3, 7, 6), Window::square(2, 2, 1)),
            (Shape::new(1, 4, 4), Window::square(3, 2, 0)),
        ];
        for (input, window) in cases {
            let g = Geometry::new(input, window).unwrap();
            let x: Vec<f64> = (0..g.input_len())
                .map(|i| ((i * 7) % 5) as f64 - 2.0)
                .collect();
            let len = input.channels * g.positions();
            let (mut out, mut arg_max) = (vec![f64::NAN; len], vec![0; len]);
            forward(&g, &x, &mut out, &mut arg_max);
            let (h, w) = (input.height as isize, input.width as isize);
            let mut o = 0;
            for c in 0..input.channels {
                for oy in 0..g.out_h {
                    for ox in 0..g.out_w {
                        let mut best: Option<(f64, u32)> = None;
                        for fy in 0..window.height {
                            for fx in 0..window.width {
                                let iy = (oy * window.stride + fy) as isize - window.pad as isize;
                                let ix = (ox * window.stride + fx) as isize - window.pad as isize;
                                let inside = (0..h).contains(&iy) && (0..w).contains(&ix);
                                let (v, i) = if inside {
                                    let i =
                                        c * g.input_len() / input.channels + (iy * w + ix) as usize;
                                    (x[i], i as u32)
                                } else {
                                    (0.0, PADDING)
                                };
                                if best.is_none_or(|(b, _)| v > b) {
                                    best = Some((v, i));
                                }
                            }
                        }
                        assert_eq!((out[o], arg_max[o]), best.unwrap(), "{input} {window:?}");
                        o += 1;
                    }
                }
            }
        }
    }
}
