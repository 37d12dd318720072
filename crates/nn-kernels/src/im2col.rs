//! `im2col` and `col2im` (§7.4.3, the book's `common/util.py`), with fast paths: a convolution's input patches laid
//! out as the columns of a matrix, so that the convolution becomes one matrix product.
//!
//! For a sample of shape `C × H × W` and a window of `FH × FW` moved by `stride` over the input
//! padded with `pad` zeros on every side, the output has `OH × OW` positions, where (the book's
//! formula, §7.2.4)
//!
//! ```text
//! OH = (H + 2·pad − FH) / stride + 1        OW = (W + 2·pad − FW) / stride + 1
//! ```
//!
//! with **integer division**, as the book's code computes it (see [`Geometry`]).
//!
//! # The layout
//!
//! The book's `im2col` builds an array `col` of shape `(N, C, FH, FW, OH, OW)`, then transposes it
//! to `(N·OH·OW, C·FH·FW)`: one row per output position, one column per weight of a filter. We
//! keep the array before that transpose, one sample at a time: the **col of a sample** is a
//! column-major matrix of shape `(OH·OW, C·FH·FW)`, that is `C·FH·FW` planes of `OH·OW` values, the
//! plane of weight `k = (c, fy, fx)` holding the input value that weight meets at each output
//! position. It is the book's `col` for that sample, with the same shape and the same values;
//! only the storage order differs, and the matrix product reads either order at the same cost.
//! Building it copies whole runs of `OW` input values (for stride 1), and a sample's col stays in
//! the core's cache while its product runs.
//!
//! ```
//! use nn_kernels::{Geometry, Shape, Window};
//! use nn_kernels::im2col::{col2im, im2col};
//! // One 3×3 channel, a 2×2 window, stride 1, no padding: 2×2 positions, 4 planes.
//! let g = Geometry::new(Shape::new(1, 3, 3), Window::square(2, 1, 0))?;
//! assert_eq!((g.out_h, g.out_w, g.patch_len()), (2, 2, 4));
//! let x = [1.0_f64, 2.0, 3.,
//!          4.0, 5.0, 6.,
//!          7.0, 8.0, 9.];
//! let mut col = vec![0.0; g.col_len()];
//! im2col(&x, &g, &mut col);
//! assert_eq!(col, [1., 2., 4., 5.,   // weight (0, 0) at the four positions
//!                  2., 3., 5., 6.,   // weight (0, 1)
//!                  4., 5., 7., 8.,   // weight (1, 0)
//!                  5., 6., 8., 9.]); // weight (1, 1)
//! // col2im adds every value back where it came from: the centre was in all four patches.
//! let mut back = [0.0; 9];
//! col2im(&col, &g, &mut back);
//! assert_eq!(back, [1., 4., 3., 8., 20., 12., 7., 16., 9.]);
//! # Ok::<(), nn_kernels::GeometryError>(())
//! ```

use crate::Scalar;
use crate::geometry::{Geometry, valid};

/// Lays out the patches of one sample `x` (`C·H·W` values in C, H, W order) as its col: the
/// column-major `(OH·OW, C·FH·FW)` matrix whose column `k = (c·FH + fy)·FW + fx` holds, at row
/// `p = oy·OW + ox`, the input value `x[c, oy·stride + fy − pad, ox·stride + fx − pad]` (0 in the
/// padding). See the [module](self) for how it relates to the book's `im2col`.
///
/// # Panics
/// If `x` is not [`Geometry::input_len`] values or `col` not [`Geometry::col_len`].
pub fn im2col<T: Scalar>(x: &[T], g: &Geometry, col: &mut [T]) {
    assert_eq!(x.len(), g.input_len(), "im2col: the input sample");
    assert_eq!(col.len(), g.col_len(), "im2col: the col");
    if g.keeps_width() {
        im2col_same_width(x, g, col);
    } else {
        im2col_by_rows(x, g, col);
    }
}

/// The general [`im2col`]: row by row of each plane.
fn im2col_by_rows<T: Scalar>(x: &[T], g: &Geometry, col: &mut [T]) {
    let (h, w) = (g.input.height, g.input.width);
    let (fh, fw, stride) = (g.window.height, g.window.width, g.window.stride);
    let (ow, positions) = (g.out_w, g.positions());
    let mut planes = col.chunks_exact_mut(positions);
    for channel in x.chunks_exact(h * w) {
        for fy in 0..fh {
            for fx in 0..fw {
                let plane = planes.next().expect("one plane per weight");
                let (cols, ix0) = g.valid_columns(fx);
                for (oy, out_row) in plane.chunks_exact_mut(ow).enumerate() {
                    let Some(iy) = g.input_row(oy, fy) else {
                        out_row.fill(T::ZERO);
                        continue;
                    };
                    let in_row = &channel[iy * w..(iy + 1) * w];
                    out_row[..cols.start].fill(T::ZERO);
                    out_row[cols.end..].fill(T::ZERO);
                    let out_row = &mut out_row[cols.clone()];
                    if out_row.is_empty() {
                        continue;
                    }
                    if stride == 1 {
                        out_row.copy_from_slice(&in_row[ix0..ix0 + out_row.len()]);
                    } else {
                        for (o, &v) in out_row.iter_mut().zip(in_row[ix0..].iter().step_by(stride))
                        {
                            *o = v;
                        }
                    }
                }
            }
        }
    }
}

/// [`im2col`] for windows moved by 1 whose output rows are as long as the input's (`OW = W`: the
/// "same" convolutions, 3×3 with padding 1...). Then the plane of weight `(c, fy, fx)` is channel
/// `c` shifted by `(fy − pad)·W + (fx − pad)` values: one long copy per plane (instead of one
/// short one per row), after which the values that wrapped around from the next or previous row
/// are set to zero, with the padding rows. The result is the same, value for value.
fn im2col_same_width<T: Scalar>(x: &[T], g: &Geometry, col: &mut [T]) {
    let (h, w) = (g.input.height, g.input.width);
    let (fh, fw, pad) = (g.window.height, g.window.width, g.window.pad);
    let mut planes = col.chunks_exact_mut(g.positions());
    for channel in x.chunks_exact(h * w) {
        for fy in 0..fh {
            for fx in 0..fw {
                let plane = planes.next().expect("one plane per weight");
                let (copied, shift) = same_width_span(g, fy, fx);
                if copied.is_empty() {
                    plane.fill(T::ZERO);
                    continue;
                }
                plane[..copied.start].fill(T::ZERO);
                plane[copied.end..].fill(T::ZERO);
                let from = copied.start.wrapping_add_signed(shift);
                plane[copied.clone()].copy_from_slice(&channel[from..from + copied.len()]);
                for_wrapped(w, pad, fx, copied, |j| plane[j] = T::ZERO);
            }
        }
    }
}

/// For the plane of window position `(fy, fx)` of a same-width geometry: the range of plane
/// indices `j` whose input index `j + shift` exists, and `shift`.
fn same_width_span(g: &Geometry, fy: usize, fx: usize) -> (std::ops::Range<usize>, isize) {
    let (h, w, pad) = (g.input.height, g.input.width, g.window.pad);
    let signed = |v: usize| isize::try_from(v).expect("sizes fit in isize");
    let shift = (signed(fy) - signed(pad)) * signed(w) + signed(fx) - signed(pad);
    // Output rows whose input row exists.
    let rows = valid(1, pad, fy, h, g.out_h);
    let start = (rows.start * w).max(usize::try_from(-shift).unwrap_or(0));
    let end = (rows.end * w).min(usize::try_from(signed(h * w) - shift).unwrap_or(0));
    (start.min(end)..end, shift)
}

/// Calls `f` on each index in `span` of a same-width plane of window column `fx` whose input
/// column lies in the padding: the values a shifted copy brings in from a neighbouring row.
fn for_wrapped(
    w: usize,
    pad: usize,
    fx: usize,
    span: std::ops::Range<usize>,
    mut f: impl FnMut(usize),
) {
    let cols = valid(1, pad, fx, w, w);
    if span.is_empty() {
        return;
    }
    for row in span.start / w..span.end.div_ceil(w) {
        for ox in (0..cols.start).chain(cols.end..w) {
            let j = row * w + ox;
            if span.contains(&j) {
                f(j);
            }
        }
    }
}

/// The adjoint of [`im2col`] (the book's `col2im`): adds each value of a sample's col back to the
/// input value it was copied from, into `dx` (overwritten: it starts from zero); values that came
/// from the padding are dropped. A convolution's backward pass uses it to turn `∂L/∂col` into
/// `∂L/∂x`: an input value that several patches share receives the sum of their gradients.
///
/// # Panics
/// If `col` is not [`Geometry::col_len`] values or `dx` not [`Geometry::input_len`].
pub fn col2im<T: Scalar>(col: &[T], g: &Geometry, dx: &mut [T]) {
    assert_eq!(col.len(), g.col_len(), "col2im: the col");
    assert_eq!(dx.len(), g.input_len(), "col2im: the input sample");
    dx.fill(T::ZERO);
    let (h, w) = (g.input.height, g.input.width);
    let (fh, fw, stride) = (g.window.height, g.window.width, g.window.stride);
    let (ow, positions) = (g.out_w, g.positions());
    let mut planes = col.chunks_exact(positions);
    for channel in dx.chunks_exact_mut(h * w) {
        for fy in 0..fh {
            for fx in 0..fw {
                let plane = planes.next().expect("one plane per weight");
                let (cols, ix0) = g.valid_columns(fx);
                for (oy, col_row) in plane.chunks_exact(ow).enumerate() {
                    let Some(iy) = g.input_row(oy, fy) else {
                        continue;
                    };
                    let in_row = &mut channel[iy * w..(iy + 1) * w];
                    let col_row = &col_row[cols.clone()];
                    if col_row.is_empty() {
                        continue;
                    }
                    if stride == 1 {
                        for (d, &v) in in_row[ix0..ix0 + col_row.len()].iter_mut().zip(col_row) {
                            *d += v;
                        }
                    } else {
                        for (d, &v) in in_row[ix0..].iter_mut().step_by(stride).zip(col_row) {
                            *d += v;
                        }
                    }
                }
            }
        }
    }
}

/// [`col2im`] for a col the caller no longer needs: for same-width geometries (see
/// [`im2col_same_width`]) the values that came from the padding are first set to zero in `col`,
/// then each plane is added to `dx` in one long shifted run; each value of `dx` receives the same
/// additions in the same order as from [`col2im`] (plus additions of zero, which change nothing
/// in a sum that started from +0).
pub fn col2im_consuming<T: Scalar>(col: &mut [T], g: &Geometry, dx: &mut [T]) {
    if !g.keeps_width() {
        col2im(col, g, dx);
        return;
    }
    assert_eq!(col.len(), g.col_len(), "col2im: the col");
    assert_eq!(dx.len(), g.input_len(), "col2im: the input sample");
    dx.fill(T::ZERO);
    let (h, w) = (g.input.height, g.input.width);
    let (fh, fw, pad) = (g.window.height, g.window.width, g.window.pad);
    let mut planes = col.chunks_exact_mut(g.positions());
    for channel in dx.chunks_exact_mut(h * w) {
        for fy in 0..fh {
            for fx in 0..fw {
                let plane = planes.next().expect("one plane per weight");
                let (span, shift) = same_width_span(g, fy, fx);
                if span.is_empty() {
                    continue;
                }
                for_wrapped(w, pad, fx, span.clone(), |j| plane[j] = T::ZERO);
                let to = span.start.wrapping_add_signed(shift);
                for (d, &v) in channel[to..to + span.len()].iter_mut().zip(&plane[span]) {
                    *d += v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Shape, Window};

    /// The same-width paths give the bits of the row-by-row ones.
    #[test]
    fn same_width_paths_match_the_general_ones() {
        let cases = [
            (Shape::new(2, 5, 6), Window::square(3, 1, 1)),
            (Shape::new(1, 4, 4), Window::square(5, 1, 2)),
            (Shape::new(3, 3, 7), Window::square(1, 1, 0)),
            (Shape::new(1, 2, 2), Window::square(3, 1, 1)),
            (
                Shape::new(2, 6, 5),
                Window {
                    height: 5,
                    width: 3,
                    stride: 1,
                    pad: 1,
                },
            ),
            (
                Shape::new(2, 3, 5),
                Window {
                    height: 1,
                    width: 3,
                    stride: 1,
                    pad: 1,
                },
            ),
            (Shape::new(1, 1, 1), Window::square(3, 1, 1)),
            (Shape::new(2, 1, 1), Window::square(5, 1, 2)),
        ];
        for (input, window) in cases {
            let g = Geometry::new(input, window).unwrap();
            assert!(g.keeps_width(), "{input} {window:?}");
            let x: Vec<f64> = (0..g.input_len())
                .map(|i| (i * 37 % 101) as f64 - 50.0)
                .collect();
            let (mut fast, mut slow) = (vec![f64::NAN; g.col_len()], vec![f64::NAN; g.col_len()]);
            im2col(&x, &g, &mut fast);
            im2col_by_rows(&x, &g, &mut slow);
            assert_eq!(fast, slow, "{input} {window:?}");
            let col: Vec<f64> = (0..g.col_len())
                .map(|i| (i * 53 % 97) as f64 * 0.25 - 12.0)
                .collect();
            let (mut fast, mut slow) =
                (vec![f64::NAN; g.input_len()], vec![f64::NAN; g.input_len()]);
            col2im(&col, &g, &mut slow);
            col2im_consuming(&mut col.clone(), &g, &mut fast);
            assert_eq!(fast, slow, "{input} {window:?}");
        }
    }
}
