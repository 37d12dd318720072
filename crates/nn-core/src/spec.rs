//! What a network is made of, as data: the input shape, the layers, the initialisation and the
//! weight decay ([`NetSpec`]), checked before anything is built.
//!
//! A spec is plain serde data, so it reads and writes as RON:
//!
//! ```
//! use nn_core::{NetSpec, Shape};
//! let spec: NetSpec = ron::from_str(
//!     "(input: (channels: 1, height: 28, width: 28),
//!       layers: [Affine(out: 100), BatchNorm, Relu, Dropout(ratio: 0.15), Affine(out: 10)],
//!       init: He, weight_decay: 0.1)",
//! )?;
//! let shapes = spec.check()?; // the output shape of every layer
//! assert_eq!(shapes.last(), Some(&Shape::flat(10)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::im2col::{Geometry, GeometryError, Window};
use crate::layers::{Kind, Name};
use crate::{Activation, Init};

pub use nn_kernels::Shape;

/// One layer of a [`NetSpec`]. In RON: `Affine(out: 100)`, `Relu`, `Sigmoid`, `BatchNorm`,
/// `Dropout(ratio: 0.5)`, `Convolution(filters: 30, size: 5)` (`stride: 1` and `pad: 0` unless
/// given), `Pooling(size: 2)` (`stride` equal to `size` and `pad: 0` unless given).
///
/// A window that does not fit its input a whole number of times is accepted, as the book's code
/// does: the output size is `(H + 2·pad − size) / stride + 1` in integer division, and the last
/// rows and columns no window reaches are ignored (see [`im2col`](crate::im2col)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum LayerSpec {
    /// [`Affine`](crate::layers::Affine) with `out` neurons; takes any input shape as a flat
    /// vector.
    Affine {
        /// Number of outputs.
        out: usize,
    },
    /// [`Relu`](crate::layers::Relu).
    Relu,
    /// [`Sigmoid`](crate::layers::Sigmoid).
    Sigmoid,
    /// [`BatchNorm`](crate::layers::BatchNorm) over every value of the input (momentum 0.9).
    BatchNorm,
    /// [`Dropout`](crate::layers::Dropout) dropping values with probability `ratio`.
    Dropout {
        /// In `[0, 1)`.
        ratio: f64,
    },
    /// [`Convolution`](crate::layers::Convolution): `filters` filters of `size × size` weights
    /// per input channel.
    Convolution {
        /// Number of filters `FN`: the output's channels.
        filters: usize,
        /// Rows and columns of each filter (`FH = FW`).
        size: usize,
        /// Step between two positions (default 1).
        #[serde(default = "one")]
        stride: usize,
        /// Zeros added on every side of the input (default 0).
        #[serde(default)]
        pad: usize,
    },
    /// [`Pooling`](crate::layers::Pooling): the maximum of each `size × size` window.
    Pooling {
        /// Rows and columns of each window.
        size: usize,
        /// Step between two windows (default: `size`, windows side by side).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
        /// Zeros added on every side of the input (default 0).
        #[serde(default)]
        pad: usize,
    },
}

fn one() -> usize {
    1
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerSpec::Affine { out } => write!(f, "Affine({out})"),
            LayerSpec::Relu => f.write_str("Relu"),
            LayerSpec::Sigmoid => f.write_str("Sigmoid"),
            LayerSpec::BatchNorm => f.write_str("BatchNorm"),
            LayerSpec::Dropout { ratio } => write!(f, "Dropout({ratio})"),
            LayerSpec::Convolution {
                filters,
                size,
                stride,
                pad,
            } => {
                write!(f, "Convolution({filters}×{size}×{size}")?;
                if *stride != 1 {
                    write!(f, ", stride {stride}")?;
                }
                if *pad != 0 {
                    write!(f, ", pad {pad}")?;
                }
                f.write_str(")")
            }
            LayerSpec::Pooling { size, stride, pad } => {
                write!(f, "Pooling({size}×{size}")?;
                if let Some(stride) = stride.filter(|s| s != size) {
                    write!(f, ", stride {stride}")?;
                }
                if *pad != 0 {
                    write!(f, ", pad {pad}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl LayerSpec {
    /// The matrices this layer holds for an input of shape `input`, in the order it visits
    /// them: its parameters (weights and bias; batch norm's `gamma` and `beta`), then its state
    /// (batch norm's running mean and variance), each with its shape. `None` if a size
    /// overflows.
    pub fn matrices(&self, input: Shape) -> Option<Vec<(Kind, (usize, usize))>> {
        Some(match *self {
            LayerSpec::Affine { out } => {
                let inputs = input.len()?;
                inputs.checked_mul(out)?;
                vec![(Kind::Weight, (inputs, out)), (Kind::Bias, (out, 1))]
            }
            LayerSpec::BatchNorm => {
                let d = input.len()?;
                [Kind::Gamma, Kind::Beta, Kind::RunningMean, Kind::RunningVar]
                    .map(|kind| (kind, (d, 1)))
                    .to_vec()
            }
            LayerSpec::Convolution { filters, size, .. } => {
                let fan_in = input.channels.checked_mul(size)?.checked_mul(size)?;
                fan_in.checked_mul(filters)?;
                vec![
                    (Kind::Weight, (filters, fan_in)),
                    (Kind::Bias, (filters, 1)),
                ]
            }
            LayerSpec::Relu
            | LayerSpec::Sigmoid
            | LayerSpec::Dropout { .. }
            | LayerSpec::Pooling { .. } => Vec::new(),
        })
    }

    /// The shape of this layer's output for an input of shape `input`, or why the layer cannot
    /// take it.
    ///
    /// # Errors
    /// A size of 0, a dropout ratio outside `[0, 1)`, a window that does not fit the input, or
    /// sizes that overflow.
    pub fn output_shape(&self, input: Shape) -> Result<Shape, LayerError> {
        match *self {
            LayerSpec::Affine { out } => {
                if out == 0 {
                    return Err(LayerError::ZeroSize("out"));
                }
                input
                    .len()
                    .and_then(|inputs| inputs.checked_mul(out))
                    .ok_or(LayerError::TooLarge("its weights"))?;
                Ok(Shape::flat(out))
            }
            LayerSpec::Relu | LayerSpec::Sigmoid | LayerSpec::BatchNorm => Ok(input),
            LayerSpec::Dropout { ratio } => {
                if (0.0..1.0).contains(&ratio) {
                    Ok(input)
                } else {
                    Err(LayerError::DropoutRatio(ratio))
                }
            }
            LayerSpec::Convolution {
                filters,
                size,
                stride,
                pad,
            } => {
                if filters == 0 {
                    return Err(LayerError::ZeroSize("filters"));
                }
                if size == 0 {
                    return Err(LayerError::ZeroSize("size"));
                }
                let g = Geometry::new(input, Window::square(size, stride, pad))?;
                g.patch_len()
                    .checked_mul(filters)
                    .and_then(|n| n.checked_mul(g.positions()))
                    .ok_or(LayerError::TooLarge("its outputs"))?;
                Ok(Shape::new(filters, g.out_h, g.out_w))
            }
            LayerSpec::Pooling { size, stride, pad } => {
                if size == 0 {
                    return Err(LayerError::ZeroSize("size"));
                }
                let window = Window::square(size, stride.unwrap_or(size), pad);
                let g = Geometry::new(input, window)?;
                if input.len().is_none_or(|n| u32::try_from(n).is_err()) {
                    return Err(LayerError::TooLarge("its input (over 2³² values to pool)"));
                }
                Ok(Shape::new(input.channels, g.out_h, g.out_w))
            }
        }
    }

    /// The window of a convolution or pooling layer, `None` for the others.
    pub fn window(&self) -> Option<Window> {
        match *self {
            LayerSpec::Convolution {
                size, stride, pad, ..
            } => Some(Window::square(size, stride, pad)),
            LayerSpec::Pooling { size, stride, pad } => {
                Some(Window::square(size, stride.unwrap_or(size), pad))
            }
            _ => None,
        }
    }
}

/// Why a layer of a [`NetSpec`] cannot take its input, or its settings make no sense.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LayerError {
    /// A size is 0: `out`, `filters` or `size`.
    #[error("{0} is 0: it must be at least 1")]
    ZeroSize(&'static str),
    /// A dropout ratio outside `[0, 1)`.
    #[error("the ratio is {0}: it must be at least 0 and below 1, e.g. 0.5")]
    DropoutRatio(f64),
    /// The window does not fit the input.
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    /// A size overflows: the layer is too large to exist, whatever the input.
    #[error("the layer is too large: {0} would not fit in memory's address range")]
    TooLarge(&'static str),
    /// With this layer, one sample's pass through the network would keep more values than
    /// [`MAX_SAMPLE_VALUES`] (or a convolution's patches alone would).
    #[error(
        "one sample's pass would keep {values} values up to this layer (the outputs and their \
         gradients, or a convolution's patches), more than the {MAX_SAMPLE_VALUES} a network \
         may keep: use smaller layers, less padding or a larger stride"
    )]
    TooManyValues {
        /// The values kept from the input to this layer (`u64::MAX` if more).
        values: u64,
    },
}

/// The most layers a [`NetSpec`] may have: fifty times the book's deepest network (DeepConvNet,
/// 20 layers). A file cannot make a network of 200 000 layers.
pub const MAX_LAYERS: usize = 1000;

/// The most values one sample's pass may keep, over all layers (each layer's output and its
/// gradient), and the most values of one convolution's patches and their gradient: 2²⁴,
/// 64 MiB of `f32`, 80 times what the book's DeepConvNet keeps per sample (about 2·10⁵).
/// Checked from the spec alone, before anything is allocated, so that a small file cannot
/// declare a layer whose output fills the memory.
pub const MAX_SAMPLE_VALUES: usize = 1 << 24;

/// The values a layer keeps per sample: its output and the output's gradient.
fn layer_values(output: Shape) -> u128 {
    output
        .len()
        .map_or(u128::MAX, |n| n as u128)
        .saturating_mul(2)
}

/// The values of a convolution's scratch, one sample's patches and their gradient (kept once
/// per thread, not per sample), for an input that passed [`LayerSpec::output_shape`].
fn patch_values(layer: &LayerSpec, input: Shape) -> u128 {
    match (layer, layer.window()) {
        (LayerSpec::Convolution { .. }, Some(window)) => Geometry::new(input, window)
            .map_or(u128::MAX, |g| g.col_len() as u128)
            .saturating_mul(2),
        _ => 0,
    }
}

/// A matrix of a network: its name (`W1`, `gamma2`, `running_mean1`…) and its shape.
pub type NamedShape = (Name, (usize, usize));

/// A network as data: the shape of its input samples, its layers in order (a softmax with the
/// cross-entropy loss always follows the last one, whose outputs are the class scores), how its
/// weights start, and the weight decay λ (the loss gains `λ·½‖W‖²` for every weight matrix `W`
/// of an affine or convolution layer, never for biases or batch norm's parameters; the book's
/// `weight_decay_lambda`).
///
/// [`simple_conv_net`](Self::simple_conv_net) and [`deep_conv_net`](Self::deep_conv_net) give
/// the book's convolutional networks of chapters 7 and 8, [`MultiLayerNetConfig::spec`] the
/// fully connected ones of chapter 6.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetSpec {
    /// The shape of one input sample.
    pub input: Shape,
    /// The layers, from the input to the scores.
    pub layers: Vec<LayerSpec>,
    /// How the weights start.
    #[serde(default)]
    pub init: Init,
    /// The weight decay λ (0 for none).
    #[serde(default)]
    pub weight_decay: f64,
}

/// A [`NetSpec`] that cannot describe a network: the first problem found.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// The input shape holds no value (or too many to count).
    #[error("the input shape {0} holds no value: every dimension must be at least 1")]
    Input(Shape),
    /// There is no layer.
    #[error("the network has no layer: give at least one, e.g. Affine(out: 10)")]
    NoLayers,
    /// A layer cannot take its input, or its settings make no sense.
    #[error("layer {position} ({layer}) on an input of shape {input}: {error}")]
    Layer {
        /// 1-based position in the list.
        position: usize,
        /// The layer, e.g. `Affine(0)`.
        layer: String,
        /// The shape it receives.
        input: Shape,
        /// What is wrong.
        error: LayerError,
    },
    /// The network's parameters are more than can be counted.
    #[error("the network is too large: its parameters are more than can be counted")]
    TooLarge,
    /// More than [`MAX_LAYERS`] layers.
    #[error("the network has {0} layers, more than the {MAX_LAYERS} a network may have")]
    TooManyLayers(usize),
    /// The standard deviation of the initial weights is negative or not finite.
    #[error("the initial weights' std is {0}: it must be a finite number ≥ 0, e.g. 0.01")]
    InitStd(f64),
    /// The weight decay is negative or not finite.
    #[error("the weight decay is {0}: it must be a finite number ≥ 0, e.g. 0.1 (0 for none)")]
    WeightDecay(f64),
}

impl NetSpec {
    /// Checks every layer against the shape it receives and returns the output shape of each
    /// layer, in order (the last one is the shape of the scores).
    ///
    /// # Errors
    /// The first problem, naming the layer and its position: a size of 0, an input a layer
    /// cannot take, a dropout ratio outside `[0, 1)`, a negative std or weight decay.
    pub fn check(&self) -> Result<Vec<Shape>, SpecError> {
        if self.input.len().is_none_or(|n| n == 0) {
            return Err(SpecError::Input(self.input));
        }
        if self.layers.is_empty() {
            return Err(SpecError::NoLayers);
        }
        if self.layers.len() > MAX_LAYERS {
            return Err(SpecError::TooManyLayers(self.layers.len()));
        }
        if let Init::Std(std) = self.init
            && !(std.is_finite() && std >= 0.0)
        {
            return Err(SpecError::InitStd(std));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(SpecError::WeightDecay(self.weight_decay));
        }
        let mut shapes = Vec::with_capacity(self.layers.len());
        let mut input = self.input;
        let mut values = self.input.len().map_or(u128::MAX, |n| n as u128);
        for (i, layer) in self.layers.iter().enumerate() {
            let at = |error| SpecError::Layer {
                position: i + 1,
                layer: layer.to_string(),
                input,
                error,
            };
            let output = layer.output_shape(input).map_err(at)?;
            values = values.saturating_add(layer_values(output));
            let patches = patch_values(layer, input);
            if values > MAX_SAMPLE_VALUES as u128 || patches > MAX_SAMPLE_VALUES as u128 {
                let values = values.max(patches);
                let values = u64::try_from(values).unwrap_or(u64::MAX);
                return Err(at(LayerError::TooManyValues { values }));
            }
            shapes.push(output);
            input = output;
        }
        Ok(shapes)
    }

    /// The values one sample's pass keeps over all layers (see [`MAX_SAMPLE_VALUES`]): the
    /// input, each layer's output and gradient. Multiplied by a batch's size, what its forward
    /// and backward passes hold.
    ///
    /// # Errors
    /// The spec's first problem (see [`check`](Self::check)).
    ///
    /// ```
    /// use nn_core::{NetSpec, Shape};
    /// let values = NetSpec::deep_conv_net(Shape::new(1, 28, 28), 10).values_per_sample()?;
    /// assert!((200_000..210_000).contains(&values)); // outputs and their gradients
    /// assert!(values * 1000 < 1 << 28); // an evaluation chunk of 1000 in 1 GiB
    /// # Ok::<(), nn_core::SpecError>(())
    /// ```
    pub fn values_per_sample(&self) -> Result<usize, SpecError> {
        let shapes = self.check()?;
        let total = shapes
            .iter()
            .map(|&output| layer_values(output))
            .sum::<u128>()
            + self.input.len().unwrap_or(0) as u128;
        Ok(total as usize) // at most MAX_SAMPLE_VALUES, checked
    }

    /// The book's `SimpleConvNet` (§7.5, `ch07/simple_convnet.py`) for samples of shape `input`
    /// and `classes` classes: a convolution of 30 filters of 5×5 (stride 1, no padding), ReLU,
    /// 2×2 max pooling (stride 2), an affine layer of 100, ReLU, an affine layer to the classes;
    /// weights of std 0.01, no weight decay. Its parameters are `W1 b1` (the filters, `(30, 25)`
    /// for MNIST), `W2 b2` (`(4320, 100)`), `W3 b3`, as the book names them.
    ///
    /// ```
    /// use nn_core::{NetSpec, Shape};
    /// let spec = NetSpec::simple_conv_net(Shape::new(1, 28, 28), 10);
    /// assert_eq!(spec.to_string(), "1×28×28 → Convolution(30×5×5) → Relu → Pooling(2×2) → Affine(100) → Relu → Affine(10)");
    /// assert_eq!(spec.check()?[2], Shape::new(30, 12, 12)); // 4320 values into Affine(100)
    /// # Ok::<(), nn_core::SpecError>(())
    /// ```
    pub fn simple_conv_net(input: Shape, classes: usize) -> NetSpec {
        NetSpec::simple_conv_net_of(input, 30, 5, 100, classes)
    }

    /// The book's `SimpleConvNet` with its other constructor arguments: `filters` of `size`×`size`
    /// (`conv_param`'s `filter_num`, `filter_size`; stride 1, pad 0), `hidden` neurons
    /// (`hidden_size`) and `classes` outputs; weights of std 0.01. `ch07/gradient_check.py`
    /// builds the small one: input 1×10×10, 10 filters of 3×3, hidden 10, 10 classes.
    ///
    /// ```
    /// use nn_core::{NetSpec, Shape};
    /// let spec = NetSpec::simple_conv_net_of(Shape::new(1, 10, 10), 10, 3, 10, 10);
    /// assert_eq!(spec.to_string(), "1×10×10 → Convolution(10×3×3) → Relu → Pooling(2×2) → Affine(10) → Relu → Affine(10)");
    /// ```
    pub fn simple_conv_net_of(
        input: Shape,
        filters: usize,
        size: usize,
        hidden: usize,
        classes: usize,
    ) -> NetSpec {
        NetSpec {
            input,
            layers: vec![
                LayerSpec::Convolution {
                    filters,
                    size,
                    stride: 1,
                    pad: 0,
                },
                LayerSpec::Relu,
                LayerSpec::Pooling {
                    size: 2,
                    stride: Some(2),
                    pad: 0,
                },
                LayerSpec::Affine { out: hidden },
                LayerSpec::Relu,
                LayerSpec::Affine { out: classes },
            ],
            init: Init::Std(0.01),
            weight_decay: 0.0,
        }
    }

    /// The book's `DeepConvNet` (§8.1, `ch08/deep_convnet.py`) for samples of shape `input` and
    /// `classes` classes: six 3×3 convolutions of 16, 16, 32, 32, 64, 64 filters (stride 1, pad 1,
    /// except pad 2 for the fourth), each followed by ReLU, a 2×2 max pooling (stride 2) after
    /// every second one, then an affine layer of 50, ReLU, dropout 0.5, an affine layer to the
    /// classes and dropout 0.5; He's initial weights (`√(2/fan-in)`, fan-in `C·3·3` for the
    /// convolutions, as the book's `weight_init_scales`). Parameters `W1 b1` … `W8 b8`.
    ///
    /// ```
    /// use nn_core::{NetSpec, Shape};
    /// let spec = NetSpec::deep_conv_net(Shape::new(1, 28, 28), 10);
    /// let shapes = spec.check()?;
    /// assert_eq!(shapes[9], Shape::new(32, 8, 8)); // after the second pooling
    /// assert_eq!(shapes[14], Shape::new(64, 4, 4)); // 1024 values into Affine(50)
    /// # Ok::<(), nn_core::SpecError>(())
    /// ```
    pub fn deep_conv_net(input: Shape, classes: usize) -> NetSpec {
        let conv = |filters, pad| LayerSpec::Convolution {
            filters,
            size: 3,
            stride: 1,
            pad,
        };
        let pool = LayerSpec::Pooling {
            size: 2,
            stride: Some(2),
            pad: 0,
        };
        let relu = LayerSpec::Relu;
        NetSpec {
            input,
            layers: vec![
                conv(16, 1),
                relu.clone(),
                conv(16, 1),
                relu.clone(),
                pool.clone(),
                conv(32, 1),
                relu.clone(),
                conv(32, 2),
                relu.clone(),
                pool.clone(),
                conv(64, 1),
                relu.clone(),
                conv(64, 1),
                relu.clone(),
                pool,
                LayerSpec::Affine { out: 50 },
                relu,
                LayerSpec::Dropout { ratio: 0.5 },
                LayerSpec::Affine { out: classes },
                LayerSpec::Dropout { ratio: 0.5 },
            ],
            init: Init::He,
            weight_decay: 0.0,
        }
    }

    /// The book's number of each layer's matrices, one entry per layer: affine and convolution
    /// layers count `W1`, `W2`…, batch-norm layers `gamma1`, `gamma2`…; 0 for layers without
    /// matrices. Every numbering of the workspace comes from here.
    ///
    /// ```
    /// use nn_core::{LayerSpec::*, NetSpec, Shape, Init};
    /// let spec = NetSpec {
    ///     input: Shape::flat(4),
    ///     layers: vec![Affine { out: 3 }, BatchNorm, Relu, Affine { out: 2 }, BatchNorm],
    ///     init: Init::He,
    ///     weight_decay: 0.0,
    /// };
    /// assert_eq!(spec.numbers(), [1, 1, 0, 2, 2]);
    /// ```
    pub fn numbers(&self) -> Vec<usize> {
        let (mut weights, mut batch_norms) = (0, 0);
        self.layers
            .iter()
            .map(|layer| match layer {
                LayerSpec::Affine { .. } | LayerSpec::Convolution { .. } => {
                    weights += 1;
                    weights
                }
                LayerSpec::BatchNorm => {
                    batch_norms += 1;
                    batch_norms
                }
                LayerSpec::Relu
                | LayerSpec::Sigmoid
                | LayerSpec::Dropout { .. }
                | LayerSpec::Pooling { .. } => 0,
            })
            .collect()
    }

    /// Every matrix of the network, named as the book numbers them (`W1 b1 gamma1 beta1
    /// running_mean1 running_var1 W2 …`, see [`numbers`](Self::numbers)), with its shape, in the
    /// order the network visits them; computed from the spec alone, without allocating the
    /// network. Parameters have a [`Kind`] that [`is_trained`](Kind::is_trained); the others
    /// are state.
    ///
    /// # Errors
    /// The spec's first problem (see [`check`](Self::check)).
    pub fn matrices(&self) -> Result<Vec<NamedShape>, SpecError> {
        let shapes = self.check()?;
        let inputs = std::iter::once(self.input).chain(shapes);
        let mut all = Vec::new();
        for ((layer, input), number) in self.layers.iter().zip(inputs).zip(self.numbers()) {
            let matrices = layer.matrices(input).ok_or(SpecError::TooLarge)?;
            all.extend(
                matrices
                    .into_iter()
                    .map(|(kind, shape)| (Name::of(kind).numbered(number), shape)),
            );
        }
        Ok(all)
    }

    /// How many values the network trains.
    ///
    /// # Errors
    /// The spec's first problem (see [`check`](Self::check)), or a count beyond `usize`.
    ///
    /// ```
    /// use nn_core::TwoLayerConfig;
    /// assert_eq!(TwoLayerConfig::default().spec().param_count(), Ok(784 * 50 + 50 + 50 * 10 + 10));
    /// ```
    pub fn param_count(&self) -> Result<usize, SpecError> {
        self.matrices()?
            .iter()
            .filter(|(name, _)| name.kind.is_trained())
            .try_fold(0usize, |total, &(_, (rows, cols))| {
                total.checked_add(rows.checked_mul(cols)?)
            })
            .ok_or(SpecError::TooLarge)
    }

    /// The number of values of each output (the classes), if the spec is valid.
    pub fn output_len(&self) -> Option<usize> {
        self.check().ok()?.last()?.len()
    }
}

impl fmt::Display for NetSpec {
    /// `784 → Affine(100) → Relu → Affine(10)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.input)?;
        for layer in &self.layers {
            write!(f, " → {layer}")?;
        }
        Ok(())
    }
}

/// The arguments of the book's `MultiLayerNetExtend` (§6.1–6.4): hidden affine layers, each
/// followed by batch norm (optional), the activation and dropout (optional), then the output
/// affine layer. [`spec`](Self::spec) turns it into the layers.
///
/// The default is the chapter-4 network: one hidden layer of 50 sigmoid neurons, weights of
/// std 0.01, no batch norm, no dropout, no weight decay.
///
/// ```
/// use nn_core::{Activation, Init, LayerSpec, MultiLayerNetConfig, Shape};
/// let config = MultiLayerNetConfig {
///     hidden: vec![100, 100],
///     activation: Activation::Relu,
///     init: Init::He,
///     batch_norm: true,
///     ..MultiLayerNetConfig::default()
/// };
/// let spec = config.spec(Shape::new(1, 28, 28), 10);
/// assert_eq!(spec.to_string(), "1×28×28 → Affine(100) → BatchNorm → Relu → Affine(100) → BatchNorm → Relu → Affine(10)");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MultiLayerNetConfig {
    /// Neurons of each hidden layer (the book's `hidden_size_list`).
    pub hidden: Vec<usize>,
    /// The hidden layers' activation.
    pub activation: Activation,
    /// The initial weights (the book's `weight_init_std`).
    pub init: Init,
    /// A [`BatchNorm`](crate::layers::BatchNorm) after each hidden affine layer
    /// (`use_batchnorm`).
    pub batch_norm: bool,
    /// A [`Dropout`](crate::layers::Dropout) of this ratio after each hidden activation
    /// (`use_dropout`, `dropout_ration`).
    pub dropout: Option<f64>,
    /// The weight decay λ (`weight_decay_lambda`).
    pub weight_decay: f64,
}

impl Default for MultiLayerNetConfig {
    fn default() -> Self {
        MultiLayerNetConfig {
            hidden: vec![50],
            activation: Activation::Sigmoid,
            init: Init::default(),
            batch_norm: false,
            dropout: None,
            weight_decay: 0.0,
        }
    }
}

impl MultiLayerNetConfig {
    /// The layers for samples of shape `input` and `classes` classes.
    pub fn spec(&self, input: Shape, classes: usize) -> NetSpec {
        let mut layers = Vec::new();
        for &out in &self.hidden {
            layers.push(LayerSpec::Affine { out });
            if self.batch_norm {
                layers.push(LayerSpec::BatchNorm);
            }
            layers.push(match self.activation {
                Activation::Sigmoid => LayerSpec::Sigmoid,
                Activation::Relu => LayerSpec::Relu,
            });
            if let Some(ratio) = self.dropout {
                layers.push(LayerSpec::Dropout { ratio });
            }
        }
        layers.push(LayerSpec::Affine { out: classes });
        NetSpec {
            input,
            layers,
            init: self.init,
            weight_decay: self.weight_decay,
        }
    }
}
