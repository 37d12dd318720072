//! Fusion: a network's decision to run a convolution and the ReLU (and max pooling) after it as
//! one layer, sample by sample, while each sample's output is in the cache.
//!
//! [`plan`] reads a spec's layers and says where a [`ConvReluPool`] replaces two or three of them;
//! [`Sequential`](crate::Sequential) builds what it says. The fused layer computes exactly what
//! the separate layers compute, bit for bit (tested), with the convolution's parameters and
//! gradients: the fusion changes the speed, never a result or a name.

use nn_kernels::conv::Epilogue;

use crate::im2col::{Geometry, GeometryError};
use crate::layers::{Convolution, Layer, Param, ensure_shape};
use crate::spec::LayerSpec;
use crate::{Float, Matrix};

/// How many spec layers, from `layers[i]` on, the network runs as one: 3 for a convolution
/// followed by ReLU and max pooling, 2 for a convolution followed by ReLU, else 1.
pub(crate) fn plan(layers: &[LayerSpec], i: usize) -> usize {
    match layers[i..] {
        [
            LayerSpec::Convolution { .. },
            LayerSpec::Relu,
            LayerSpec::Pooling { .. },
            ..,
        ] => 3,
        [LayerSpec::Convolution { .. }, LayerSpec::Relu, ..] => 2,
        _ => 1,
    }
}

/// A convolution, its ReLU, and optionally the max pooling after them, as one layer.
#[derive(Clone, Debug)]
pub(crate) struct ConvReluPool<T: Float> {
    /// The convolution: its parameters, gradients and kernels.
    pub(crate) conv: Convolution<T>,
    epilogue: Epilogue,
    out: Matrix<T>,
    dx: Matrix<T>,
    /// With pooling, where each maximum came from.
    arg_max: Vec<u32>,
}

impl<T: Float> ConvReluPool<T> {
    /// `conv` followed by ReLU, then by max pooling of `pool` (over the convolution's output)
    /// when given.
    ///
    /// # Errors
    /// If the pooling window does not fit the convolution's output, or that output is too large
    /// to index with 32 bits.
    pub(crate) fn new(conv: Convolution<T>, pool: Option<Geometry>) -> Result<Self, GeometryError> {
        let epilogue = match pool {
            None => Epilogue::Relu,
            Some(g) => {
                if u32::try_from(g.input_len()).is_err() {
                    return Err(GeometryError::Overflow(
                        "a sample to pool (over 2³² values)",
                    ));
                }
                Epilogue::ReluPool(g)
            }
        };
        Ok(ConvReluPool {
            conv,
            epilogue,
            out: Matrix::zeros(0, 0),
            dx: Matrix::zeros(0, 0),
            arg_max: Vec::new(),
        })
    }

    /// A copy of the parameters, without buffers.
    pub(crate) fn snapshot(&self) -> Self {
        ConvReluPool {
            conv: self.conv.snapshot(),
            epilogue: self.epilogue,
            out: Matrix::zeros(0, 0),
            dx: Matrix::zeros(0, 0),
            arg_max: Vec::new(),
        }
    }
}

impl<T: Float> Layer<T> for ConvReluPool<T> {
    fn forward(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        let conv = &mut self.conv;
        let out_len = conv.kernel.output_len(self.epilogue);
        ensure_shape(&mut self.out, out_len, x.ncols());
        let (w, b) = (conv.w.as_slice(), conv.b.as_slice());
        let (out, arg_max) = (self.out.as_mut_slice(), &mut self.arg_max);
        conv.kernel
            .forward(x.as_slice(), w, b, self.epilogue, out, arg_max);
        &self.out
    }

    fn output(&self) -> &Matrix<T> {
        &self.out
    }

    fn backward(&mut self, x: &Matrix<T>, dout: &Matrix<T>, want_dx: bool) -> Option<&Matrix<T>> {
        if want_dx {
            ensure_shape(&mut self.dx, x.nrows(), x.ncols());
        }
        let dx = want_dx.then(|| self.dx.as_mut_slice());
        let conv = &mut self.conv;
        conv.kernel.backward(
            x.as_slice(),
            conv.w.as_slice(),
            self.epilogue,
            (self.out.as_slice(), &self.arg_max),
            dout.as_slice(),
            (conv.dw.as_mut_slice(), conv.db.as_mut_slice()),
            dx,
        );
        want_dx.then_some(&self.dx)
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, T>)) {
        self.conv.visit_params(f);
    }
}
