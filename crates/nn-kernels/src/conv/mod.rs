//! A convolution's products for a whole batch (§7.4.3), and the ReLU and max pooling that may
//! follow it, fused: what nn-core's `Convolution` layer (and a network's fused
//! convolution–ReLU–pooling layer) call.
//!
//! For filters `W` `(FN, C·FH·FW)` (one filter per row, stored column-major), biases `b` and
//! each sample `x` of `C·H·W` values, with `col = im2col(x)` (`(OH·OW, C·FH·FW)`, see
//! [`im2col`](crate::im2col)):
//!
//! ```text
//! forward:   conv = col·Wᵀ + b                 (FN planes of OH·OW)
//!            out  = conv, relu(conv), or maxpool(relu(conv))     (the epilogue)
//! backward:  dconv = the epilogue's backward pass of dout
//!            db  = Σ_samples Σ_positions dconv
//!            dW  = Σ_samples dconvᵀ·col
//!            dx  = col2im(dconv·W)             (only when asked: a network's first layer does not)
//! ```
//!
//! The book multiplies the whole batch's col at once; here each sample's col is built and
//! multiplied while it is in the cache, and the result lands in the book's `(N, FN, OH, OW)`
//! order directly. Three ways compute these products, chosen by [`Conv::new`] from the shapes
//! alone:
//!
//! - the **direct** kernels ([`direct`]) for stride-1 convolutions with filters in sixteens and
//!   rows wide enough (`DeepConvNet`'s layers on 28×28 and 14×14 inputs): no col at all;
//! - the **col** kernels ([`direct::Slices`]) over im2col's col for the other layers whose
//!   output planes hold positions in sixteens (`SimpleConvNet`, `DeepConvNet`'s 8×8 layers);
//! - the `gemm` crate for the rest (it allocates its packing buffers at every call).
//!
//! All three compute the same sums (tested exactly on integers against the products written
//! out), in orders fixed by the shapes.
//!
//! **Epilogues.** With ReLU, or ReLU then max pooling, each sample's output goes through them
//! while it is in the cache, instead of three passes over the batch's outputs (7 MB for the
//! book's first layer). The results are exactly those of the separate layers, bit for bit.
//!
//! **Threads.** A batch of at least [`PARALLEL_MIN_MULADDS`](crate::PARALLEL_MIN_MULADDS)
//! multiply-adds is cut in two halves of samples run with [`join`]; each half sums its own `dW`
//! and `db`, and the second half's are added to the first's: the same bits on one thread or two.

pub mod direct;
mod small;

use self::direct::{Direct, Slices};
use self::small::FilterGradient;
use crate::elementwise::{relu_backward_into, relu_in_place, sum};
use crate::gemm::{SliceMatrix, gemm_slices};
use crate::im2col::{col2im_consuming, im2col};
use crate::pool;
use crate::threads::{Halves, join, split_samples};
use crate::{Geometry, Scalar};

/// What runs on each sample's convolution output: nothing, ReLU, or ReLU then max pooling (of
/// this geometry over the convolution's output `FN × OH × OW`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epilogue {
    /// The convolution's output as it is.
    None,
    /// `max(0, ·)` of every value.
    Relu,
    /// ReLU, then max pooling of this geometry.
    ReluPool(Geometry),
}

/// A convolution's kernels and their buffers: the way its products are computed (chosen from
/// the geometry and the number of filters) and the scratch of each half of a batch, sized on
/// first use and reused, so that a training step allocates nothing (except in the `gemm` way).
#[derive(Clone, Debug)]
pub struct Conv<T> {
    geometry: Geometry,
    filters: usize,
    /// The direct kernels' layout, for the convolutions they serve.
    direct: Option<Direct>,
    /// The col kernels, for the other convolutions they serve (else `gemm`).
    slices: Option<Slices>,
    /// The scratch of each half of the batch.
    scratch: [Scratch<T>; 2],
    /// The second half's sums of `dW` and `db` (the first half sums into the caller's).
    dw2: Vec<T>,
    db2: Vec<T>,
    /// `Wᵀ`, `(C·FH·FW, FN)`: each filter's weights one after the other.
    wt: Vec<T>,
    /// The filters turned round, as the direct kernels' input gradient reads them.
    turned: Vec<T>,
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

impl<T: Scalar> Scratch<T> {
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
                *buffer = vec![T::ZERO; len];
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
struct Filters<'a, T> {
    direct: Option<&'a Direct>,
    slices: Option<&'a Slices>,
    /// `W`, `(FN, C·FH·FW)` column-major.
    w: &'a [T],
    /// `Wᵀ` (forward pass through `gemm`, input gradient through the col kernels), else empty.
    wt: &'a [T],
    /// The filters turned round (input gradient through the direct kernels), else empty.
    turned: &'a [T],
}

/// The buffers a forward pass writes: the batch's outputs and, with pooling, where each maximum
/// came from.
struct Outputs<'a, T> {
    out: &'a mut [T],
    arg_max: &'a mut [u32],
}

impl<T: Scalar> Conv<T> {
    /// The kernels of `filters` filters over `geometry`.
    ///
    /// # Panics
    /// If `filters` is 0.
    pub fn new(geometry: Geometry, filters: usize) -> Self {
        assert!(filters > 0, "a convolution needs at least one filter");
        let direct = Direct::new(&geometry, filters);
        let slices = match direct {
            Some(_) => None,
            None => Slices::new(&geometry, filters),
        };
        Conv {
            geometry,
            filters,
            direct,
            slices,
            scratch: Default::default(),
            dw2: Vec::new(),
            db2: Vec::new(),
            wt: Vec::new(),
            turned: Vec::new(),
        }
    }

    /// The geometry of the filters over the input.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Values of one sample's output after `epilogue`: `FN·OH·OW`, or the pooled size.
    pub fn output_len(&self, epilogue: Epilogue) -> usize {
        match epilogue {
            Epilogue::None | Epilogue::Relu => self.filters * self.geometry.positions(),
            Epilogue::ReluPool(g) => g.input.channels * g.positions(),
        }
    }

    /// Multiply-adds of one product of the forward pass, for the whole batch of `n` samples.
    fn muladds(&self, n: usize) -> usize {
        n * self.geometry.col_len() * self.filters
    }

    fn shapes(&self, epilogue: Epilogue) -> Shapes {
        Shapes {
            g: self.geometry,
            epilogue,
            filters: self.filters,
            out_len: self.output_len(epilogue),
        }
    }

    fn size_scratch(&mut self) {
        let planes = self.filters * self.geometry.positions();
        let g = self.geometry;
        for scratch in &mut self.scratch {
            scratch.size(&g, planes, self.direct.as_ref());
        }
    }

    /// Copies `W` into `wt`, row after row: `Wᵀ`, column-major.
    fn transpose_filters(&mut self, w: &[T]) {
        let (filters, patch) = (self.filters, self.geometry.patch_len());
        self.wt.resize(filters * patch, T::ZERO);
        for f in 0..filters {
            for k in 0..patch {
                self.wt[f * patch + k] = w[k * filters + f];
            }
        }
    }

    /// The forward pass of the batch `x` (`n` whole samples): `out` (`n` samples of
    /// [`output_len(epilogue)`](Self::output_len) values) ← the epilogue of `col·Wᵀ + b`, for
    /// `w` the `(FN, C·FH·FW)` filters column-major and `b` the `FN` biases. With pooling,
    /// `arg_max` receives where each maximum came from (resized here), for
    /// [`backward`](Self::backward).
    ///
    /// # Panics
    /// If a length does not fit the geometry.
    pub fn forward(
        &mut self,
        x: &[T],
        w: &[T],
        b: &[T],
        epilogue: Epilogue,
        out: &mut [T],
        arg_max: &mut Vec<u32>,
    ) {
        let shapes = self.shapes(epilogue);
        let (in_len, out_len) = (self.geometry.input_len(), shapes.out_len);
        let n = x.len() / in_len;
        assert!(
            x.len() == n * in_len && out.len() == n * out_len,
            "Conv::forward: the batch's lengths"
        );
        assert!(
            w.len() == self.filters * self.geometry.patch_len() && b.len() == self.filters,
            "Conv::forward: the filters' lengths"
        );
        let arg_len = match epilogue {
            Epilogue::ReluPool(_) => out_len,
            _ => 0,
        };
        arg_max.resize(arg_len * n, 0);
        let halves = split_samples(n, self.muladds(n));
        if self.direct.is_none() && self.slices.is_none() {
            self.transpose_filters(w);
        }
        self.size_scratch();
        let filters = Filters {
            direct: self.direct.as_ref(),
            slices: self.slices.as_ref(),
            w,
            wt: &self.wt,
            turned: &[],
        };
        let [first, second] = &mut self.scratch;
        match halves {
            Halves::One => {
                let all = Outputs { out, arg_max };
                forward_samples(shapes, filters, b, x, all, first);
            }
            Halves::Two(h) => {
                let (x1, x2) = x.split_at(h * in_len);
                let (o1, o2) = out.split_at_mut(h * out_len);
                let (a1, a2) = arg_max.split_at_mut(h * arg_len);
                let (one, two) = (
                    Outputs {
                        out: o1,
                        arg_max: a1,
                    },
                    Outputs {
                        out: o2,
                        arg_max: a2,
                    },
                );
                join(
                    || forward_samples(shapes, filters, b, x1, one, first),
                    || forward_samples(shapes, filters, b, x2, two, second),
                );
            }
        }
    }

    /// The backward pass after [`forward`](Self::forward) with the same `x`, `w`, `epilogue`,
    /// its `out` and `arg_max`: from `dout` (the gradient of `out`), `dw` and `db` receive the
    /// sums over the batch (overwritten), and `dx` (if given) the input gradient.
    ///
    /// # Panics
    /// If a length does not fit the geometry.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &mut self,
        x: &[T],
        w: &[T],
        epilogue: Epilogue,
        (out, arg_max): (&[T], &[u32]),
        dout: &[T],
        (dw, db): (&mut [T], &mut [T]),
        dx: Option<&mut [T]>,
    ) {
        let shapes = self.shapes(epilogue);
        let (in_len, out_len) = (self.geometry.input_len(), shapes.out_len);
        let n = x.len() / in_len;
        assert!(
            x.len() == n * in_len && dout.len() == n * out_len && out.len() == n * out_len,
            "Conv::backward: without a matching forward pass"
        );
        assert!(
            dw.len() == w.len()
                && db.len() == self.filters
                && dx.as_ref().is_none_or(|dx| dx.len() == x.len()),
            "Conv::backward: the gradients' lengths"
        );
        if dx.is_some() {
            if let Some(d) = &self.direct {
                d.turn(w, &mut self.turned);
            } else if self.slices.is_some() {
                self.transpose_filters(w);
            }
        }
        let halves = split_samples(n, self.muladds(n));
        self.size_scratch();
        let filters = Filters {
            direct: self.direct.as_ref(),
            slices: self.slices.as_ref(),
            w,
            wt: &self.wt,
            turned: &self.turned,
        };
        let [first, second] = &mut self.scratch;
        let arg_len = arg_max.len() / n.max(1);
        match halves {
            Halves::One => {
                let pass = Backward {
                    x,
                    out,
                    dout,
                    arg_max,
                };
                backward_samples(shapes, filters, pass, dx, first, dw, db);
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
                dw2.resize(dw.len(), T::ZERO);
                db2.resize(db.len(), T::ZERO);
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
                join(
                    || backward_samples(shapes, filters, first_half, dx1, first, dw, db),
                    || backward_samples(shapes, filters, second_half, dx2, second, dw2, db2),
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

/// The forward pass of the samples `x` (whole columns): for each one, its col, then
/// `col·Wᵀ + b` (or the same through the direct kernels), then the epilogue.
fn forward_samples<T: Scalar>(
    s: Shapes,
    w: Filters<'_, T>,
    b: &[T],
    x: &[T],
    outputs: Outputs<'_, T>,
    scratch: &mut Scratch<T>,
) {
    let (g, filters, positions) = (&s.g, s.filters, s.g.positions());
    let arg_len = match s.epilogue {
        Epilogue::ReluPool(_) => s.out_len,
        _ => 0,
    };
    let Outputs { out, arg_max } = outputs;
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
            direct.forward(x, w.w, b, &mut scratch.direct, conv);
        } else {
            im2col(x, g, &mut scratch.col);
            if let Some(slices) = w.slices {
                slices.forward(&scratch.col, w.w, b, conv);
            } else {
                for (plane, &bias) in conv.chunks_exact_mut(positions).zip(b.iter()) {
                    plane.fill(bias);
                }
                let col = SliceMatrix::new(&scratch.col, positions, g.patch_len());
                let wt = SliceMatrix::new(w.wt, g.patch_len(), filters);
                gemm_slices(T::ONE, col, wt, T::ONE, conv, positions, filters);
            }
        }
        match s.epilogue {
            Epilogue::None => {}
            Epilogue::Relu => relu_in_place(out),
            Epilogue::ReluPool(pool) => {
                let plane = &mut scratch.plane[..filters * positions];
                relu_in_place(plane);
                let arg_max = &mut arg_max[n * arg_len..(n + 1) * arg_len];
                pool::forward_sample(&pool, plane, out, arg_max);
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
fn backward_samples<T: Scalar>(
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
    let weights = SliceMatrix::new(w.w, filters, patch);
    db.fill(T::ZERO);
    let small = w.direct.is_none() && small::serves(filters, patch);
    if !small {
        dw.fill(T::ZERO); // each sample's dW is added to it
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
                plane.fill(T::ZERO);
                let spare = plane.len() - 1;
                let arg_max = &pass.arg_max[i * arg_len..(i + 1) * arg_len];
                for ((&d, &o), &at) in dout.iter().zip(out).zip(arg_max) {
                    // (A positive maximum is never the padding's zero: `at` is an index then.)
                    let at = if o > T::ZERO { at as usize } else { spare };
                    plane[at] += d;
                }
                &scratch.plane[..spare]
            }
        };
        for (d, plane) in db.iter_mut().zip(dconv.chunks_exact(positions)) {
            *d += sum(plane);
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
                let col = SliceMatrix::new(&scratch.col, positions, patch);
                let dconv = SliceMatrix::new(dconv, positions, filters);
                gemm_slices(T::ONE, dconv.t(), col, T::ONE, dw, filters, patch);
            }
            if let Some(dx) = dx {
                // dcol = dout·W, then back to the input's shape.
                if let Some(slices) = w.slices {
                    slices.col_gradient(dconv, w.wt, &mut scratch.dcol);
                } else {
                    let dconv = SliceMatrix::new(dconv, positions, filters);
                    gemm_slices(
                        T::ONE,
                        dconv,
                        weights,
                        T::ZERO,
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
