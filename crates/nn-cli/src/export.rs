//! `nn-cli export`: a model file as the files other tools read.
//!
//! - `--format npz` / `--format pkl`: the book's formats, `numpy.savez` and `pickle.dump` of a
//!   dict of NumPy arrays under the book's names (`W1 b1 … gamma1 beta1 running_mean1
//!   running_var1 …`) and NumPy shapes (a convolution's `W` is `(FN, C, FH, FW)`, an affine
//!   layer's `(in, out)`, every vector `(n,)`), in float64: the values of the model file exactly
//!   as written (read as f64), so that the book's `SimpleConvNet.load_params`,
//!   `DeepConvNet.load_params` (and `TwoLayerNet`, `MultiLayerNetExtend`, by assigning
//!   `params`) load them, and `nn-cli import` reads them back into the same model.
//! - `--format safetensors`: the same names and shapes in float32, the values `nn-cli eval`
//!   computes with, for candle and PyTorch.
//! - `--format onnx`: the network as an ONNX graph (IR version 7, opset 13) of standard
//!   operators, float32: input `image` of the network's input shape, pixels scaled to [0, 1]:
//!   `(N, 1, 28, 28)` for the CNNs and the networks `train --hidden` makes (which start with
//!   `Flatten`), `(N, 784)` for a network whose spec takes flat vectors (the chapter-4
//!   two-layer network of `train`'s defaults and of old model files); outputs `scores` (the last layer's, before softmax: what `eval` takes the
//!   arg-max of) and `probabilities` (their softmax). Affine → `Gemm`, `Relu`, `Sigmoid`, batch
//!   norm → `BatchNormalization` (ε = the book's 10e-7; over every value of a sample, as the
//!   book's layer: on `(N, C·H·W)`, with `Flatten`/`Reshape` around it after a convolution),
//!   dropout in inference mode → `Mul` by `1 − ratio` (the book's scaling), convolution →
//!   `Conv`, pooling → `MaxPool` (after a `Pad` of zeros when it pads, as the book's pooling
//!   pads with zeros, where `MaxPool`'s own padding would be −∞). The protobuf is the
//!   `onnx-protobuf` crate's (the ONNX schema, compiled by rust-protobuf).
//!
//! Every format writes through `safe-write` (a temporary file, then a rename); `--out` may not
//! be the model file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use book_weights::{Data, NamedArray};
use clap::{Args, ValueEnum};
use nn_core::{Float, LayerSpec, Model, NetSpec, Sequential, Shape, Trainable};

/// Options of `export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The model to export
    #[arg(long, default_value = "data/params.ron")]
    model: PathBuf,
    /// The format: onnx (ONNX Runtime...), npz or pkl (NumPy and the book's Python code, the
    /// book's names), safetensors (candle, PyTorch)
    #[arg(long, value_enum)]
    format: Format,
    /// Where to write it (default: the model's path with the format's extension)
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// The formats `export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An ONNX model (float32).
    Onnx,
    /// A NumPy `.npz` of the book's arrays (float64).
    Npz,
    /// A pickled dict of NumPy arrays, as the book's `save_params` (float64).
    Pkl,
    /// A safetensors file (float32).
    Safetensors,
}

impl Format {
    /// The file extension.
    fn extension(self) -> &'static str {
        match self {
            Format::Onnx => "onnx",
            Format::Npz => "npz",
            Format::Pkl => "pkl",
            Format::Safetensors => "safetensors",
        }
    }
}

/// Runs `export`.
pub fn run(args: ExportArgs) -> Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.model.with_extension(args.format.extension()));
    safe_write::check_distinct(&[("--model", &args.model)], &[("--out", &out)])?;
    let (bytes, spec) = match args.format {
        Format::Npz | Format::Pkl => {
            // The file's values as written (a model of f32 values widens exactly).
            let mut net = load::<f64>(&args.model)?;
            let arrays = book_arrays(&mut net, |v: &[f64]| Data::F64(v.to_vec()));
            let written = if args.format == Format::Npz {
                book_weights::npz_bytes(&arrays)
            } else {
                book_weights::pickle_bytes(&arrays)
            };
            let bytes = written.with_context(|| cannot(&args.model, args.format))?;
            (bytes, net.spec())
        }
        Format::Safetensors | Format::Onnx => {
            // The values `eval` computes with.
            let mut net = load::<f32>(&args.model)?;
            let bytes = if args.format == Format::Onnx {
                onnx_bytes(&mut net)
            } else {
                safetensors_bytes(&mut net)
            };
            let bytes = bytes.with_context(|| cannot(&args.model, args.format))?;
            (bytes, net.spec())
        }
    };
    crate::files::create_parent(&out)?;
    safe_write::write(&out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    println!("network: {spec}");
    println!(
        "{:<8} {}",
        format!("{}:", args.format.extension()),
        crate::files::shown(&out)
    );
    Ok(())
}

fn cannot(model: &Path, format: Format) -> String {
    format!(
        "cannot export model file {} as {}",
        model.display(),
        format.extension()
    )
}

/// The network of the model file at `path`, within nn-cli's bounds, its values read as `T`.
fn load<T: Float>(path: &Path) -> Result<Sequential<T>> {
    let net = crate::model::read::<T>(path)?.net;
    let what = format!("model file {} is too large to export here", path.display());
    crate::limits::check_network(&net.spec(), 1, &what)?;
    Ok(net)
}

/// Every matrix of `net` (parameters, then state, in visiting order), under its book name, in
/// NumPy's shape for it (see [`numpy_shapes`]) and in C order, its values turned into `Data`
/// by `data`.
fn book_arrays<T: Float>(net: &mut Sequential<T>, data: impl Fn(&[T]) -> Data) -> Vec<NamedArray> {
    let shapes = numpy_shapes(&net.spec());
    let mut arrays = Vec::new();
    let mut add = |name: String, m: &nn_core::Matrix<T>| {
        let shape = shapes
            .get(&name)
            .cloned()
            .unwrap_or_else(|| vec![m.nrows(), m.ncols()]);
        // Row by row (nalgebra stores columns): the book's C order.
        let values = m.transpose();
        arrays.push(NamedArray::new(name, &shape, data(values.as_slice())));
    };
    net.visit_params(&mut |p| add(p.name.to_string(), p.value));
    net.visit_state(&mut |s| add(s.name.to_string(), s.value));
    arrays
}

/// The NumPy shape of every matrix of `spec`, under its name: `(FN, C, FH, FW)` for a
/// convolution's `W` (our `(FN, C·FH·FW)` row by row), `(in, out)` for an affine layer's,
/// `(n,)` for biases, batch norm's `gamma`, `beta` and running statistics.
pub fn numpy_shapes(spec: &NetSpec) -> HashMap<String, Vec<usize>> {
    let mut shapes = HashMap::new();
    let Ok(matrices) = spec.matrices() else {
        return shapes;
    };
    let Ok(outputs) = spec.check() else {
        return shapes;
    };
    let inputs = std::iter::once(spec.input).chain(outputs);
    let mut convolutions = HashMap::new();
    for ((layer, input), number) in spec.layers.iter().zip(inputs).zip(spec.numbers()) {
        if let LayerSpec::Convolution { filters, size, .. } = *layer {
            convolutions.insert(
                format!("W{number}"),
                vec![filters, input.channels, size, size],
            );
        }
    }
    for (name, (rows, cols)) in matrices {
        let name = name.to_string();
        let shape = match convolutions.remove(&name) {
            Some(shape) => shape,
            None if cols == 1 => vec![rows],
            None => vec![rows, cols],
        };
        shapes.insert(name, shape);
    }
    shapes
}

/// The safetensors file of `net`: every matrix under its name, NumPy's shape, float32.
fn safetensors_bytes(net: &mut Sequential<f32>) -> Result<Vec<u8>> {
    let arrays = book_arrays(net, |v: &[f32]| Data::F32(v.to_vec()));
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = arrays
        .into_iter()
        .map(|a| {
            let Data::F32(values) = a.data else {
                unreachable!("float32 asked")
            };
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (a.name, a.shape, bytes)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, data)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .map(|view| (name.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metadata = HashMap::from([("spec".to_owned(), net.spec().to_string())]);
    Ok(safetensors::serialize(views, Some(metadata))?)
}

/// The ONNX opset the graph is written for, and the IR version of that opset (ONNX 1.8).
const OPSET: i64 = 13;
const IR_VERSION: i64 = 7;

/// The book's ε of batch norm (10e-7), as our `BatchNorm` layer adds it.
const BATCH_NORM_EPSILON: f32 = 10e-7;

mod onnx {
    //! Building the ONNX graph with `onnx-protobuf`'s messages.

    use onnx_protobuf::{
        AttributeProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
        attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    };
    use protobuf::{EnumOrUnknown, MessageField};

    /// An attribute of a node.
    pub enum Attr {
        Int(i64),
        Ints(Vec<i64>),
        Float(f32),
    }

    /// A node `op(inputs) -> output` with `attributes`.
    pub fn node(
        op: &str,
        inputs: &[&str],
        output: &str,
        attributes: Vec<(&str, Attr)>,
    ) -> NodeProto {
        let mut node = NodeProto::new();
        node.op_type = op.to_owned();
        node.name = output.to_owned();
        node.input = inputs.iter().map(|s| (*s).to_owned()).collect();
        node.output = vec![output.to_owned()];
        node.attribute = attributes
            .into_iter()
            .map(|(name, value)| {
                let mut a = AttributeProto::new();
                a.name = name.to_owned();
                match value {
                    Attr::Int(i) => {
                        a.i = i;
                        a.type_ = EnumOrUnknown::new(AttributeType::INT);
                    }
                    Attr::Ints(ints) => {
                        a.ints = ints;
                        a.type_ = EnumOrUnknown::new(AttributeType::INTS);
                    }
                    Attr::Float(f) => {
                        a.f = f;
                        a.type_ = EnumOrUnknown::new(AttributeType::FLOAT);
                    }
                }
                a
            })
            .collect();
        node
    }

    /// A float32 tensor `name` of `dims` holding `values` (C order).
    pub fn floats(name: &str, dims: &[usize], values: Vec<f32>) -> TensorProto {
        let mut t = TensorProto::new();
        t.name = name.to_owned();
        t.dims = dims.iter().map(|&d| d as i64).collect();
        t.data_type = DataType::FLOAT as i32;
        t.float_data = values;
        t
    }

    /// An int64 tensor `name` of shape `(len,)`.
    pub fn ints(name: &str, values: Vec<i64>) -> TensorProto {
        let mut t = TensorProto::new();
        t.name = name.to_owned();
        t.dims = vec![values.len() as i64];
        t.data_type = DataType::INT64 as i32;
        t.int64_data = values;
        t
    }

    /// A float32 graph input or output `name` of shape `("N", dims…)`.
    pub fn value(name: &str, dims: &[usize]) -> ValueInfoProto {
        let mut shape = TensorShapeProto::new();
        let mut batch = tensor_shape_proto::Dimension::new();
        batch.value = Some(tensor_shape_proto::dimension::Value::DimParam(
            "N".to_owned(),
        ));
        shape.dim.push(batch);
        for &d in dims {
            let mut dim = tensor_shape_proto::Dimension::new();
            dim.value = Some(tensor_shape_proto::dimension::Value::DimValue(d as i64));
            shape.dim.push(dim);
        }
        let mut tensor = type_proto::Tensor::new();
        tensor.elem_type = DataType::FLOAT as i32;
        tensor.shape = MessageField::some(shape);
        let mut ty = TypeProto::new();
        ty.value = Some(type_proto::Value::TensorType(tensor));
        let mut v = ValueInfoProto::new();
        v.name = name.to_owned();
        v.type_ = MessageField::some(ty);
        v
    }
}

/// The ONNX model of `net` (see the module's documentation), serialized.
fn onnx_bytes(net: &mut Sequential<f32>) -> Result<Vec<u8>> {
    use onnx::{Attr, floats, ints, node};
    use onnx_protobuf::{GraphProto, ModelProto, OperatorSetIdProto};
    use protobuf::Message;

    let spec = net.spec();
    let outputs = spec.check()?;
    let mut initializers: Vec<_> = book_arrays(net, |v: &[f32]| Data::F32(v.to_vec()))
        .into_iter()
        .map(|a| {
            let Data::F32(values) = a.data else {
                unreachable!("float32 asked")
            };
            floats(&a.name, &a.shape, values)
        })
        .collect();
    let mut nodes = Vec::new();
    let mut current = "image".to_owned();
    // Whether `current` is (N, values) rather than (N, C, H, W).
    let mut flat = is_flat(spec.input);
    let mut input = spec.input;
    let numbers = spec.numbers();
    for (i, (layer, &output)) in spec.layers.iter().zip(&outputs).enumerate() {
        let n = numbers[i];
        let out = format!("layer{}_{}", i + 1, kind(layer));
        let flatten = |nodes: &mut Vec<_>, current: &mut String, flat: &mut bool| {
            if !*flat {
                let name = format!("layer{}_flatten", i + 1);
                nodes.push(node(
                    "Flatten",
                    &[current],
                    &name,
                    vec![("axis", Attr::Int(1))],
                ));
                *current = name;
                *flat = true;
            }
        };
        let unflatten = |nodes: &mut Vec<_>,
                         initializers: &mut Vec<_>,
                         current: &mut String,
                         flat: &mut bool,
                         shape: Shape| {
            if *flat {
                let name = format!("layer{}_reshape", i + 1);
                let dims = format!("{name}_shape");
                initializers.push(ints(
                    &dims,
                    vec![
                        -1,
                        shape.channels as i64,
                        shape.height as i64,
                        shape.width as i64,
                    ],
                ));
                nodes.push(node("Reshape", &[current, &dims], &name, vec![]));
                *current = name;
                *flat = false;
            }
        };
        match *layer {
            LayerSpec::Affine { .. } => {
                flatten(&mut nodes, &mut current, &mut flat);
                let (w, b) = (format!("W{n}"), format!("b{n}"));
                nodes.push(node("Gemm", &[&current, &w, &b], &out, vec![]));
            }
            LayerSpec::Relu => nodes.push(node("Relu", &[&current], &out, vec![])),
            LayerSpec::Sigmoid => nodes.push(node("Sigmoid", &[&current], &out, vec![])),
            LayerSpec::BatchNorm => {
                flatten(&mut nodes, &mut current, &mut flat);
                let names =
                    ["gamma", "beta", "running_mean", "running_var"].map(|k| format!("{k}{n}"));
                let mut inputs = vec![current.as_str()];
                inputs.extend(names.iter().map(String::as_str));
                nodes.push(node(
                    "BatchNormalization",
                    &inputs,
                    &out,
                    vec![("epsilon", Attr::Float(BATCH_NORM_EPSILON))],
                ));
            }
            LayerSpec::Dropout { ratio } => {
                // The book's inference: every value times 1 − ratio.
                let keep = format!("layer{}_keep", i + 1);
                initializers.push(floats(&keep, &[], vec![(1.0 - ratio) as f32]));
                nodes.push(node("Mul", &[&current, &keep], &out, vec![]));
            }
            LayerSpec::Convolution {
                size, stride, pad, ..
            } => {
                unflatten(
                    &mut nodes,
                    &mut initializers,
                    &mut current,
                    &mut flat,
                    input,
                );
                let (w, b) = (format!("W{n}"), format!("b{n}"));
                let [size, stride, pad] = [size, stride, pad].map(|v| v as i64);
                nodes.push(node(
                    "Conv",
                    &[&current, &w, &b],
                    &out,
                    vec![
                        ("kernel_shape", Attr::Ints(vec![size, size])),
                        ("strides", Attr::Ints(vec![stride, stride])),
                        ("pads", Attr::Ints(vec![pad, pad, pad, pad])),
                    ],
                ));
            }
            LayerSpec::Pooling { size, stride, pad } => {
                unflatten(
                    &mut nodes,
                    &mut initializers,
                    &mut current,
                    &mut flat,
                    input,
                );
                let stride = stride.unwrap_or(size) as i64;
                let (size, pad) = (size as i64, pad as i64);
                if pad > 0 {
                    // Zeros, as the book's pooling pads (MaxPool's own pads are −∞).
                    let padded = format!("layer{}_pad", i + 1);
                    let pads = format!("{padded}_pads");
                    initializers.push(ints(&pads, vec![0, 0, pad, pad, 0, 0, pad, pad]));
                    nodes.push(node("Pad", &[&current, &pads], &padded, vec![]));
                    current = padded;
                }
                nodes.push(node(
                    "MaxPool",
                    &[&current],
                    &out,
                    vec![
                        ("kernel_shape", Attr::Ints(vec![size, size])),
                        ("strides", Attr::Ints(vec![stride, stride])),
                    ],
                ));
            }
        }
        current = out;
        input = output;
    }
    if !flat {
        // A network ending on a convolution or a pooling: its scores are every value.
        let name = "scores_flatten".to_owned();
        nodes.push(node(
            "Flatten",
            &[&current],
            &name,
            vec![("axis", Attr::Int(1))],
        ));
        current = name;
    }
    let classes = input.len().context("the network's output size")?;
    nodes.push(node("Identity", &[&current], "scores", vec![]));
    nodes.push(node(
        "Softmax",
        &["scores"],
        "probabilities",
        vec![("axis", Attr::Int(1))],
    ));

    let mut graph = GraphProto::new();
    graph.name = "nn-cli".to_owned();
    graph.doc_string = spec.to_string();
    graph.node = nodes;
    graph.initializer = std::mem::take(&mut initializers);
    let image = if is_flat(spec.input) {
        vec![spec.input.channels]
    } else {
        vec![spec.input.channels, spec.input.height, spec.input.width]
    };
    graph.input = vec![onnx::value("image", &image)];
    graph.output = vec![
        onnx::value("scores", &[classes]),
        onnx::value("probabilities", &[classes]),
    ];
    let mut model = ModelProto::new();
    model.ir_version = IR_VERSION;
    model.producer_name = "nn-cli".to_owned();
    model.producer_version = env!("CARGO_PKG_VERSION").to_owned();
    model.doc_string = format!("{spec} (dlfs-rs, Deep Learning from Scratch)");
    let mut opset = OperatorSetIdProto::new();
    opset.domain = String::new();
    opset.version = OPSET;
    model.opset_import = vec![opset];
    model.graph = protobuf::MessageField::some(graph);
    Ok(model.write_to_bytes()?)
}

/// Whether samples of `shape` are vectors (`(N, C)` in ONNX) rather than images.
fn is_flat(shape: Shape) -> bool {
    (shape.height, shape.width) == (1, 1)
}

/// A short name of `layer`'s kind for the graph's value names.
fn kind(layer: &LayerSpec) -> &'static str {
    match layer {
        LayerSpec::Affine { .. } => "affine",
        LayerSpec::Relu => "relu",
        LayerSpec::Sigmoid => "sigmoid",
        LayerSpec::BatchNorm => "batchnorm",
        LayerSpec::Dropout { .. } => "dropout",
        LayerSpec::Convolution { .. } => "conv",
        LayerSpec::Pooling { .. } => "maxpool",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_shapes_are_the_books() {
        let spec = NetSpec::simple_conv_net(Shape::new(1, 28, 28), 10);
        let shapes = numpy_shapes(&spec);
        assert_eq!(shapes["W1"], [30, 1, 5, 5]);
        assert_eq!(shapes["b1"], [30]);
        assert_eq!(shapes["W2"], [4320, 100]);
        assert_eq!(shapes["b3"], [10]);
        assert_eq!(shapes.len(), 6);
    }
}
