//! Direct kernels for the convolutions of the book's `DeepConvNet`: stride 1, filters in
//! multiples of 16. They compute what [`im2col`](crate::im2col::im2col) and a matrix product
//! compute, without building the col.
//!
//! The trick is a *wide* layout. Each input channel is copied once into a zero-padded plane of
//! `Hp × Wp` values (`Hp = H + 2·pad`, `Wp = W + 2·pad`), and the output is computed at every
//! `oy·Wp + ox` for `ox < Wp` instead of `ox < OW`: the `FW − 1` extra columns of each row are
//! thrown away. Then the input value that weight `k = (c, fy, fx)` meets at wide position `q` is
//! `padded[c·Hp·Wp + fy·Wp + fx + q]`, so the col's plane `k` is a *shifted slice* of the padded
//! input, and the three products of a convolution become three loops over such slices:
//!
//! ```text
//! forward      out[f][q] = b[f] + Σ_k W[f,k] · padded[offset(k) + q]
//! filters      dW[f][k] += Σ_q dout[f][q] · padded[offset(k) + q]     (dout 0 at thrown-away q)
//! input        dx = the same correlation as forward, of dout with the filters turned round
//! ```
//!
//! The col of the book's second `DeepConvNet` layer is 9 times its input (450 KB per sample):
//! building it twice per step (forward, and backward for `dW`) and reading it back took a fifth
//! of the step, and each per-sample product allocated the `gemm` crate's packing buffers. The
//! extra columns cost `Wp/OW − 1` more multiply-adds: 7 % at 28 columns, 14 % at 14, less than
//! the copies saved; at 8 columns (25 %) im2col stays faster, so [`Direct::new`] takes only
//! layers with at most one extra column for six (measured with `cargo bench --bench conv`: the
//! forward and backward passes of `DeepConvNet`'s first four layers take 0.62× to 0.80× the time
//! of im2col and `gemm`, its last two 1.0× to 1.4×). The kernels allocate nothing.
//!
//! The same kernels also multiply im2col's col ([`Slices`]): its plane `k` is the slice at
//! `k·OH·OW`, another shifted slice. That serves the convolutions the wide layout does not (the
//! book's `SimpleConvNet`, `DeepConvNet`'s 8×8 layers) without the `gemm` crate, which allocates
//! its packing buffers at each of its per-sample calls.
//!
//! Each kernel keeps a block of sums in vector registers, as [`small`](super::small) does:
//! 4 filters × 64 positions for the correlations, 64 filters × 4 weights (or 32 × 8, 16 × 8)
//! for `dW`. Every sum runs in an order fixed by the shapes, so results are the same on any
//! number of threads.

use multiversion::multiversion;

use super::small::{self, step};
use crate::elementwise::LANES;
use crate::{Geometry, Scalar};

/// Position vectors per block of the correlation kernel (with [`NB`] filters: 16 sums; larger
/// blocks made the compiler keep the sums in memory).
const MV: usize = 4;
/// Filters per block of the correlation kernel.
const NB: usize = 4;
/// Weights per block of the filter-gradient kernel (with 16 or 32 filters: 8 or 16 sums).
const KB: usize = 8;

/// The wide layout of one convolution (see the [module](self)).
#[derive(Clone, Debug)]
pub(crate) struct Direct {
    g: Geometry,
    filters: usize,
    /// Padded row width `Wp`.
    wp: usize,
    /// Values of a padded channel, `Hp·Wp`.
    plane: usize,
    /// Wide output positions computed: `OH·Wp` rounded up to [`LANES`].
    q_out: usize,
    /// Wide input-gradient positions computed: `H·Wp` rounded up to [`LANES`].
    q_in: usize,
    /// Length of the padded input (every read of the kernels is inside it).
    padded_len: usize,
    /// Values per filter of the gradient planes the input gradient reads.
    grad_plane: usize,
    /// Where the gradient of output position 0 sits in its gradient plane.
    front: usize,
    /// `offset(k)` of each weight `k = (c, fy, fx)` in the padded input.
    forward_offsets: Vec<usize>,
    /// The offset of each turned weight `(f, fy', fx')` in the gradient planes.
    backward_offsets: Vec<usize>,
}

/// The buffers of one thread: a padded sample, a wide output (or input gradient), the output's
/// gradient transposed to `(q, f)` for `dW`, and the gradient planes for `dx`. The values the
/// kernels read but no sample writes (padding, thrown-away positions) are zeros written once.
#[derive(Clone, Debug, Default)]
pub(crate) struct Buffers<T> {
    padded: Vec<T>,
    wide: Vec<T>,
    dout_t: Vec<T>,
    grads: Vec<T>,
}

impl Direct {
    /// The wide layout of `filters` filters over `g`, when these kernels serve it: stride 1,
    /// filters a multiple of [`LANES`], and at most one thrown-away column for six output ones
    /// (with more, as for `DeepConvNet`'s 8×8 layers, im2col is faster: measured).
    pub(crate) fn new(g: &Geometry, filters: usize) -> Option<Self> {
        let w = g.window;
        if w.stride != 1
            || filters == 0
            || !filters.is_multiple_of(LANES)
            || (w.width - 1) * 6 > g.out_w
        {
            return None;
        }
        let (c, h) = (g.input.channels, g.input.height);
        let (fh, fw, pad) = (w.height, w.width, w.pad);
        let wp = g.input.width + 2 * pad;
        let plane = (h + 2 * pad) * wp;
        let q_out = (g.out_h * wp).next_multiple_of(LANES);
        let q_in = (h * wp).next_multiple_of(LANES);
        let mut forward_offsets = Vec::with_capacity(g.patch_len());
        for c in 0..c {
            for fy in 0..fh {
                for fx in 0..fw {
                    forward_offsets.push(c * plane + fy * wp + fx);
                }
            }
        }
        let reach = (fh - 1) * wp + fw - 1;
        let padded_len = (c * plane).max((c - 1) * plane + reach + q_out);
        // Gradient plane of filter f: the gradient of wide output q at `front + q`, zeros around.
        // Input-gradient position r (padded position r + pad·Wp + pad) reads turned weight
        // (fy', fx') at `fy'·Wp + fx' + pad·Wp + pad + r`.
        let front = reach;
        let base = pad * wp + pad;
        let grad_plane = (front + g.out_h * wp).max(reach + base + q_in);
        let mut backward_offsets = Vec::with_capacity(filters * fh * fw);
        for f in 0..filters {
            for fy in 0..fh {
                for fx in 0..fw {
                    backward_offsets.push(f * grad_plane + fy * wp + fx + base);
                }
            }
        }
        Some(Direct {
            g: *g,
            filters,
            wp,
            plane,
            q_out,
            q_in,
            padded_len,
            grad_plane,
            front,
            forward_offsets,
            backward_offsets,
        })
    }

    /// Sizes `buffers` for this layout (zeros, once).
    pub(crate) fn size<T: Scalar>(&self, buffers: &mut Buffers<T>) {
        let c = self.g.input.channels;
        for (buffer, len) in [
            (&mut buffers.padded, self.padded_len),
            (
                &mut buffers.wide,
                (self.filters * self.q_out).max(c * self.q_in),
            ),
            (&mut buffers.dout_t, self.q_out * self.filters),
            (&mut buffers.grads, self.filters * self.grad_plane),
        ] {
            if buffer.len() != len {
                *buffer = vec![T::ZERO; len];
            }
        }
    }

    /// Copies sample `x` (`C·H·W` values) inside the padding of `buffers.padded`.
    fn pad<T: Scalar>(&self, x: &[T], buffers: &mut Buffers<T>) {
        let (h, w, pad) = (self.g.input.height, self.g.input.width, self.g.window.pad);
        let rows = Rows {
            width: w,
            height: h,
            wp: self.wp,
        };
        rows.widen(x, &mut buffers.padded, self.plane, pad * self.wp + pad);
    }

    /// The output's rows in the wide layout.
    fn output_rows(&self) -> Rows {
        Rows {
            width: self.g.out_w,
            height: self.g.out_h,
            wp: self.wp,
        }
    }

    /// The forward pass of sample `x`: `conv` (`FN` planes of `OH·OW`) ← `b + W ⋆ x`. `w` is the
    /// `(FN, C·FH·FW)` filter matrix, column-major.
    pub(crate) fn forward<T: Scalar>(
        &self,
        x: &[T],
        w: &[T],
        b: &[T],
        buffers: &mut Buffers<T>,
        conv: &mut [T],
    ) {
        self.pad(x, buffers);
        let wide = &mut buffers.wide[..self.filters * self.q_out];
        correlate(
            &buffers.padded,
            &self.forward_offsets,
            w,
            Some(b),
            wide,
            self.q_out,
        );
        self.output_rows().narrow(wide, self.q_out, conv);
    }

    /// Adds sample `x`'s `dW` to `dw` (`(FN, C·FH·FW)`, column-major), from the gradient
    /// `dconv` of its output (`FN` planes of `OH·OW`).
    pub(crate) fn add_filter_gradient<T: Scalar>(
        &self,
        x: &[T],
        dconv: &[T],
        buffers: &mut Buffers<T>,
        dw: &mut [T],
    ) {
        self.pad(x, buffers);
        let (oh, ow, filters) = (self.g.out_h, self.g.out_w, self.filters);
        for (f, plane) in dconv.chunks_exact(oh * ow).enumerate() {
            for (oy, row) in plane.chunks_exact(ow).enumerate() {
                for (ox, &d) in row.iter().enumerate() {
                    buffers.dout_t[(oy * self.wp + ox) * filters + f] = d;
                }
            }
        }
        filter_gradient(
            &buffers.dout_t,
            &buffers.padded,
            &self.forward_offsets,
            self.q_out,
            dw,
        );
    }

    /// The filters turned round for [`input_gradient`](Self::input_gradient): weight
    /// `(f, fy', fx')` of channel `c` is `W[f, (c, FH−1−fy', FW−1−fx')]`, stored at
    /// `((f·FH + fy')·FW + fx')·C + c`.
    pub(crate) fn turn<T: Scalar>(&self, w: &[T], turned: &mut Vec<T>) {
        let (c, fh, fw, filters) = (
            self.g.input.channels,
            self.g.window.height,
            self.g.window.width,
            self.filters,
        );
        turned.resize(filters * c * fh * fw, T::ZERO);
        for f in 0..filters {
            for fy in 0..fh {
                for fx in 0..fw {
                    for ch in 0..c {
                        let k = (ch * fh + fh - 1 - fy) * fw + fw - 1 - fx;
                        turned[((f * fh + fy) * fw + fx) * c + ch] = w[k * filters + f];
                    }
                }
            }
        }
    }

    /// `dx` (`C·H·W` values) of one sample from the gradient `dconv` of its output, with the
    /// filters `turned` by [`turn`](Self::turn).
    pub(crate) fn input_gradient<T: Scalar>(
        &self,
        dconv: &[T],
        turned: &[T],
        buffers: &mut Buffers<T>,
        dx: &mut [T],
    ) {
        let rows = self.output_rows();
        rows.widen(dconv, &mut buffers.grads, self.grad_plane, self.front);
        let c = self.g.input.channels;
        let wide = &mut buffers.wide[..c * self.q_in];
        correlate(
            &buffers.grads,
            &self.backward_offsets,
            turned,
            None,
            wide,
            self.q_in,
        );
        let rows = Rows {
            width: self.g.input.width,
            height: self.g.input.height,
            wp: self.wp,
        };
        rows.narrow(wide, self.q_in, dx);
    }
}

/// The same kernels over im2col's col, for the convolutions the wide layout does not serve (the
/// book's `SimpleConvNet`, `DeepConvNet`'s 8×8 layers): plane `k` of the col is the slice at
/// `k·OH·OW`, so each of the three products is again a loop over shifted slices, with offsets
/// that are multiples of the plane:
///
/// ```text
/// forward      out[f][p]  = b[f] + Σ_k W[f,k] · col[k·P + p]          (P = OH·OW)
/// filters      dW[f][k]  += Σ_p dout[f][p] · col[k·P + p]
/// input        dcol[k][p] = Σ_f W[f,k] · dout[f·P + p], then col2im
/// ```
///
/// They serve geometries with `OH·OW` a multiple of [`LANES`], and filters in multiples of
/// [`LANES`] unless the filter gradient is small enough for [`small::FilterGradient`]. Unlike
/// the `gemm` crate, which allocates its packing buffers at every call (one call per sample),
/// they allocate nothing.
#[derive(Clone, Debug)]
pub(crate) struct Slices {
    positions: usize,
    /// `k·OH·OW` for each weight `k`: the col's planes.
    col_offsets: Vec<usize>,
    /// `f·OH·OW` for each filter `f`: the output gradient's planes.
    grad_offsets: Vec<usize>,
}

impl Slices {
    /// The col kernels for `filters` filters over `g`, when they serve it (see the type).
    pub(crate) fn new(g: &Geometry, filters: usize) -> Option<Self> {
        let (positions, patch) = (g.positions(), g.patch_len());
        if positions == 0
            || filters == 0
            || !positions.is_multiple_of(LANES)
            || !(small::serves(filters, patch) || filters.is_multiple_of(LANES))
        {
            return None;
        }
        Some(Slices {
            positions,
            col_offsets: (0..patch).map(|k| k * positions).collect(),
            grad_offsets: (0..filters).map(|f| f * positions).collect(),
        })
    }

    /// `conv` (`FN` planes of `OH·OW`) ← `b + W·col`, for `w` the `(FN, C·FH·FW)` filter
    /// matrix, column-major, and `col` one sample's col.
    pub(crate) fn forward<T: Scalar>(&self, col: &[T], w: &[T], b: &[T], conv: &mut [T]) {
        correlate(col, &self.col_offsets, w, Some(b), conv, self.positions);
    }

    /// Adds `dout·colᵀ` to `dw` (`(FN, C·FH·FW)`, column-major), through `dout_t`, the output
    /// gradient `dconv` (`FN` planes of `OH·OW`) transposed. Needs filters in multiples of
    /// [`LANES`] (small filter gradients go through [`small::FilterGradient`] instead).
    pub(crate) fn add_filter_gradient<T: Scalar>(
        &self,
        col: &[T],
        dconv: &[T],
        dout_t: &mut Vec<T>,
        dw: &mut [T],
    ) {
        let (positions, filters) = (self.positions, self.grad_offsets.len());
        dout_t.resize(positions * filters, T::ZERO);
        for (f, plane) in dconv.chunks_exact(positions).enumerate() {
            for (p, &d) in plane.iter().enumerate() {
                dout_t[p * filters + f] = d;
            }
        }
        filter_gradient(dout_t, col, &self.col_offsets, positions, dw);
    }

    /// `dcol` (the col's `C·FH·FW` planes of `OH·OW`) ← `Wᵀ·dconv`, for `wt` the filters one
    /// after the other (`W` row-major) and `dconv` the output gradient (`FN` planes of
    /// `OH·OW`). [`col2im`](crate::im2col::col2im) then makes it the input gradient.
    pub(crate) fn col_gradient<T: Scalar>(&self, dconv: &[T], wt: &[T], dcol: &mut [T]) {
        correlate(dconv, &self.grad_offsets, wt, None, dcol, self.positions);
    }
}

/// Planes of `height` rows of `width` values, stored one after the other (compact) or with a
/// row stride of `wp` (wide).
#[derive(Clone, Copy)]
struct Rows {
    width: usize,
    height: usize,
    wp: usize,
}

impl Rows {
    /// Copies the compact planes into `wide`: plane `p`'s row `r` at `p·stride + start + r·wp`.
    fn widen<T: Copy>(self, compact: &[T], wide: &mut [T], stride: usize, start: usize) {
        for (p, plane) in compact.chunks_exact(self.width * self.height).enumerate() {
            for (r, row) in plane.chunks_exact(self.width).enumerate() {
                let at = p * stride + start + r * self.wp;
                wide[at..at + self.width].copy_from_slice(row);
            }
        }
    }

    /// Copies into the compact planes the rows of `wide` at `p·stride + r·wp`.
    fn narrow<T: Copy>(self, wide: &[T], stride: usize, compact: &mut [T]) {
        for (p, plane) in compact
            .chunks_exact_mut(self.width * self.height)
            .enumerate()
        {
            for (r, row) in plane.chunks_exact_mut(self.width).enumerate() {
                let at = p * stride + r * self.wp;
                row.copy_from_slice(&wide[at..at + self.width]);
            }
        }
    }
}

/// `out[f][q] = bias[f] + Σ_k weights[k·F + f] · input[offsets[k] + q]` for the `F` planes of
/// `q_len` positions of `out` (`q_len` a multiple of [`LANES`]).
#[multiversion(targets = "simd")]
fn correlate<T: Scalar>(
    input: &[T],
    offsets: &[usize],
    weights: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
    q_len: usize,
) {
    let filters = out.len() / q_len;
    assert!(
        q_len.is_multiple_of(LANES)
            && out.len() == filters * q_len
            && weights.len() == offsets.len() * filters
            && bias.is_none_or(|b| b.len() == filters)
            && offsets.iter().all(|&o| o + q_len <= input.len()),
        "correlate: shapes"
    );
    let k = Kernel {
        input,
        offsets,
        weights,
        bias,
        filters,
        q_len,
    };
    // Positions outermost: the input a block of positions reads stays in the L1 cache while
    // every filter block reads it.
    let mut q = 0;
    while q < q_len {
        let m = ((q_len - q) / LANES).min(MV);
        match m {
            1 => k.columns::<1>(out, q),
            2 => k.columns::<2>(out, q),
            3 => k.columns::<3>(out, q),
            _ => k.columns::<MV>(out, q),
        }
        q += m * LANES;
    }
}

/// The operands of [`correlate`].
struct Kernel<'a, T> {
    input: &'a [T],
    offsets: &'a [usize],
    weights: &'a [T],
    bias: Option<&'a [T]>,
    filters: usize,
    q_len: usize,
}

impl<T: Scalar> Kernel<'_, T> {
    /// All filters at positions `q..q + M·LANES`.
    #[inline(always)]
    fn columns<const M: usize>(&self, out: &mut [T], q: usize) {
        let mut f = 0;
        while f < self.filters {
            let left = self.filters - f;
            if left >= NB {
                self.block::<NB, M>(out, f, q);
                f += NB;
            } else if left >= 2 {
                self.block::<2, M>(out, f, q);
                f += 2;
            } else {
                self.block::<1, M>(out, f, q);
                f += 1;
            }
        }
    }

    /// Filters `f..f + R` at positions `q..q + M·LANES`, summed in registers.
    #[inline(always)]
    fn block<const R: usize, const M: usize>(&self, out: &mut [T], f: usize, q: usize) {
        let mut acc = [[[T::ZERO; LANES]; M]; R];
        if let Some(bias) = self.bias {
            for (i, row) in acc.iter_mut().enumerate() {
                *row = [[bias[f + i]; LANES]; M];
            }
        }
        for (&offset, weights) in self
            .offsets
            .iter()
            .zip(self.weights.chunks_exact(self.filters))
        {
            let x = &self.input[offset + q..offset + q + M * LANES];
            let x: [[T; LANES]; M] = std::array::from_fn(|m| {
                x[m * LANES..(m + 1) * LANES]
                    .try_into()
                    .expect("LANES values")
            });
            // Each weight in a vector of its own (the compiler broadcasts it).
            let w: [[T; LANES]; R] = std::array::from_fn(|i| [weights[f + i]; LANES]);
            step(&mut acc, &w, &x); // acc[i][m] += w[i]·x[m]
        }
        for (i, row) in acc.iter().enumerate() {
            for (m, lanes) in row.iter().enumerate() {
                let at = (f + i) * self.q_len + q + m * LANES;
                out[at..at + LANES].copy_from_slice(lanes);
            }
        }
    }
}

/// `dw[k·F + f] += Σ_q dout_t[q·F + f] · input[offsets[k] + q]` for the `F` filters of `dout_t`
/// (`q_len` rows of `F` values, `F` a multiple of [`LANES`]).
#[multiversion(targets = "simd")]
fn filter_gradient<T: Scalar>(
    dout_t: &[T],
    input: &[T],
    offsets: &[usize],
    q_len: usize,
    dw: &mut [T],
) {
    let filters = dout_t.len() / q_len;
    assert!(
        filters.is_multiple_of(LANES)
            && dout_t.len() == q_len * filters
            && dw.len() == offsets.len() * filters
            && offsets.iter().all(|&o| o + q_len <= input.len()),
        "filter_gradient: shapes"
    );
    let g = Gradient {
        dout_t,
        input,
        offsets,
        filters,
        q_len,
    };
    let mut f = 0;
    while f < filters {
        let left = filters - f;
        if left >= 4 * LANES {
            g.rows::<4, 4>(dw, f);
            f += 4 * LANES;
        } else if left >= 2 * LANES {
            g.rows::<2, KB>(dw, f);
            f += 2 * LANES;
        } else {
            g.rows::<1, KB>(dw, f);
            f += LANES;
        }
    }
}

/// The operands of [`filter_gradient`].
struct Gradient<'a, T> {
    dout_t: &'a [T],
    input: &'a [T],
    offsets: &'a [usize],
    filters: usize,
    q_len: usize,
}

impl<T: Scalar> Gradient<'_, T> {
    /// Filters `f..f + FV·LANES` × all weights, `C` weights at a time.
    #[inline(always)]
    fn rows<const FV: usize, const C: usize>(&self, dw: &mut [T], f: usize) {
        let mut k = 0;
        while k < self.offsets.len() {
            if self.offsets.len() - k >= C {
                self.block::<FV, C>(dw, f, k);
                k += C;
            } else {
                self.block::<FV, 1>(dw, f, k);
                k += 1;
            }
        }
    }

    /// Filters `f..f + FV·LANES` × weights `k..k + C`, summed in registers.
    #[inline(always)]
    fn block<const FV: usize, const C: usize>(&self, dw: &mut [T], f: usize, k: usize) {
        let filters = self.filters;
        // (Loaded by plain copies: built with `array::from_fn`, the sums went through a call of
        // `memmove`, a sixth of the time of `DeepConvNet`'s 8×8 layers, whose sums see only 64
        // positions per sample.)
        let mut acc = [[[T::ZERO; LANES]; C]; FV];
        for (v, row) in acc.iter_mut().enumerate() {
            for (j, lanes) in row.iter_mut().enumerate() {
                let at = (k + j) * filters + f + v * LANES;
                lanes.copy_from_slice(&dw[at..at + LANES]);
            }
        }
        let x: [&[T]; C] =
            std::array::from_fn(|j| &self.input[self.offsets[k + j]..][..self.q_len]);
        for (q, d) in self.dout_t.chunks_exact(filters).enumerate() {
            let d = &d[f..f + FV * LANES];
            let d: [[T; LANES]; FV] = std::array::from_fn(|v| {
                d[v * LANES..(v + 1) * LANES]
                    .try_into()
                    .expect("LANES values")
            });
            // (A scalar times each vector: written with the input value broadcast into an
            // array, the compiler vectorised across filters with gathers, 10 times slower.)
            for j in 0..C {
                let value = x[j][q];
                for v in 0..FV {
                    for l in 0..LANES {
                        acc[v][j][l] = d[v][l].fma(value, acc[v][j][l]);
                    }
                }
            }
        }
        for (v, row) in acc.iter().enumerate() {
            for (j, lanes) in row.iter().enumerate() {
                let at = (k + j) * filters + f + v * LANES;
                dw[at..at + LANES].copy_from_slice(lanes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::im2col::{col2im, im2col};
    use crate::{Shape, Window};

    /// Small integers: every sum is exact, so the direct kernels must give the bits of im2col
    /// and the products written out.
    fn value(i: usize, a: usize, m: usize) -> f64 {
        ((i * a + 3) % m) as f64 - (m / 2) as f64
    }

    /// The three products of a convolution written out, from one sample's col: the output
    /// `b + W·col`, `1 + dout·colᵀ` (a `dW` added to ones) and `dcol = Wᵀ·dout`.
    struct WrittenOut {
        out: Vec<f64>,
        dw: Vec<f64>,
        dcol: Vec<f64>,
    }

    fn written_out(col: &[f64], w: &[f64], b: &[f64], dout: &[f64]) -> WrittenOut {
        let filters = b.len();
        let (patch, positions) = (w.len() / filters, dout.len() / filters);
        let mut r = WrittenOut {
            out: vec![0.0; filters * positions],
            dw: vec![1.0; filters * patch],
            dcol: vec![0.0; patch * positions],
        };
        for f in 0..filters {
            for p in 0..positions {
                r.out[f * positions + p] = b[f]
                    + (0..patch)
                        .map(|k| col[k * positions + p] * w[k * filters + f])
                        .sum::<f64>();
            }
            for k in 0..patch {
                r.dw[k * filters + f] += (0..positions)
                    .map(|p| dout[f * positions + p] * col[k * positions + p])
                    .sum::<f64>();
            }
        }
        for k in 0..patch {
            for p in 0..positions {
                r.dcol[k * positions + p] = (0..filters)
                    .map(|f| dout[f * positions + p] * w[k * filters + f])
                    .sum::<f64>();
            }
        }
        r
    }

    #[test]
    fn direct_kernels_match_im2col_and_products() {
        let cases = [
            (Shape::new(2, 5, 12), Window::square(3, 1, 1), 16),
            (Shape::new(3, 7, 12), Window::square(3, 1, 2), 32),
            (Shape::new(1, 6, 14), Window::square(3, 1, 0), 16),
            (Shape::new(2, 3, 14), Window::square(3, 1, 0), 64),
            (
                Shape::new(2, 4, 27),
                Window {
                    height: 2,
                    width: 5,
                    stride: 1,
                    pad: 1,
                },
                16,
            ),
        ];
        for (input, window, filters) in cases {
            let g = Geometry::new(input, window).unwrap();
            let d = Direct::new(&g, filters).unwrap();
            let mut buffers = Buffers::default();
            d.size(&mut buffers);
            let (patch, positions) = (g.patch_len(), g.positions());
            let w: Vec<f64> = (0..filters * patch).map(|i| value(i, 7, 5)).collect();
            let b: Vec<f64> = (0..filters).map(|i| value(i, 3, 4)).collect();
            let mut col = vec![0.0; g.col_len()];
            for sample in 0..2 {
                let x: Vec<f64> = (0..g.input_len())
                    .map(|i| value(i + sample, 5, 7))
                    .collect();
                im2col(&x, &g, &mut col);
                let dout: Vec<f64> = (0..filters * positions)
                    .map(|i| value(i + 2 * sample, 11, 9))
                    .collect();
                let want = written_out(&col, &w, &b, &dout);
                let mut out = vec![f64::NAN; filters * positions];
                d.forward(&x, &w, &b, &mut buffers, &mut out);
                assert_eq!(out, want.out, "forward {input} {window:?}");

                let mut dw = vec![1.0; filters * patch];
                d.add_filter_gradient(&x, &dout, &mut buffers, &mut dw);
                assert_eq!(dw, want.dw, "dW {input} {window:?}");

                // dx = col2im(dout·W)
                let mut want_dx = vec![0.0; g.input_len()];
                col2im(&want.dcol, &g, &mut want_dx);
                let mut turned = Vec::new();
                d.turn(&w, &mut turned);
                let mut dx = vec![f64::NAN; g.input_len()];
                d.input_gradient(&dout, &turned, &mut buffers, &mut dx);
                assert_eq!(dx, want_dx, "dx {input} {window:?}");
            }
        }
    }

    /// The col kernels against the products written out, on small integers (exact): strides 1
    /// and 2, filter counts that leave every kind of block remainder (4 + 2 + 1), 16 and 32.
    #[test]
    fn col_kernels_match_the_products_written_out() {
        let cases = [
            (Shape::new(1, 12, 12), Window::square(5, 1, 0), 30),
            (Shape::new(2, 4, 8), Window::square(3, 1, 1), 7),
            (Shape::new(2, 8, 8), Window::square(3, 1, 1), 16),
            (Shape::new(3, 15, 15), Window::square(3, 2, 1), 32),
        ];
        for (input, window, filters) in cases {
            let g = Geometry::new(input, window).unwrap();
            let s = Slices::new(&g, filters).unwrap();
            let (patch, positions) = (g.patch_len(), g.positions());
            let w: Vec<f64> = (0..filters * patch).map(|i| value(i, 7, 5)).collect();
            let b: Vec<f64> = (0..filters).map(|i| value(i, 3, 4)).collect();
            let mut wt = vec![0.0; filters * patch];
            for f in 0..filters {
                for k in 0..patch {
                    wt[f * patch + k] = w[k * filters + f];
                }
            }
            let x: Vec<f64> = (0..g.input_len()).map(|i| value(i, 5, 7)).collect();
            let mut col = vec![0.0; g.col_len()];
            im2col(&x, &g, &mut col);
            let dout: Vec<f64> = (0..filters * positions).map(|i| value(i, 11, 9)).collect();
            let want = written_out(&col, &w, &b, &dout);
            let mut out = vec![f64::NAN; filters * positions];
            s.forward(&col, &w, &b, &mut out);
            assert_eq!(out, want.out, "forward {input} {window:?}");

            let mut dcol = vec![f64::NAN; g.col_len()];
            s.col_gradient(&dout, &wt, &mut dcol);
            assert_eq!(dcol, want.dcol, "dcol {input} {window:?}");

            if filters.is_multiple_of(LANES) {
                let (mut dw, mut dout_t) = (vec![1.0; filters * patch], Vec::new());
                s.add_filter_gradient(&col, &dout, &mut dout_t, &mut dw);
                assert_eq!(dw, want.dw, "dW {input} {window:?}");
            }
        }
    }

    #[test]
    fn col_kernels_need_positions_in_sixteens_and_filters_in_sixteens_unless_small() {
        let g = Geometry::new(Shape::new(32, 8, 8), Window::square(3, 1, 1)).unwrap();
        assert!(Slices::new(&g, 64).is_some() && Slices::new(&g, 8).is_some());
        // 30 filters of 288 weights: too many pairs for the small filter gradient.
        assert!(Slices::new(&g, 30).is_none());
        // 7×7 = 49 positions.
        let g = Geometry::new(Shape::new(1, 7, 7), Window::square(3, 1, 1)).unwrap();
        assert!(Slices::new(&g, 16).is_none());
    }

    #[test]
    fn only_stride_one_and_filters_in_sixteens() {
        let g = Geometry::new(Shape::new(1, 14, 14), Window::square(3, 1, 1)).unwrap();
        assert!(Direct::new(&g, 16).is_some() && Direct::new(&g, 64).is_some());
        assert!(Direct::new(&g, 30).is_none());
        let g = Geometry::new(Shape::new(1, 14, 14), Window::square(3, 2, 1)).unwrap();
        assert!(Direct::new(&g, 16).is_none());
        // 8 output columns for 2 thrown away: im2col.
        let g = Geometry::new(Shape::new(1, 8, 8), Window::square(3, 1, 1)).unwrap();
        assert!(Direct::new(&g, 16).is_none());
    }
}
