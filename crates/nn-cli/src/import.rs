//! `nn-cli import`: the book's trained weights (`params.pkl` of `SimpleConvNet`,
//! `deep_convnet_params.pkl` of `DeepConvNet`, or the same arrays in a NumPy `.npz`) into our model
//! file, whose `eval`, `predict` and `gradcheck` then run the book's trained network.
//!
//! The book saves its parameters as a dict of NumPy arrays under our very names (`W1`, `b1`,
//! `W2`…): a convolution's `W` is `(FN, C, FH, FW)`, which row by row is our `(FN, C·FH·FW)`
//! matrix; an affine layer's `W` is `(in, out)` and each `b` is `(n,)`, our `(n, 1)`. Every array
//! is checked against the network: no array missing or left over, every shape the network's.
//! The values are kept in full (`f64`) in the model file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use mnist_io::idx::NUM_CLASSES;
use nn_core::{LayerSpec, Model, ModelFile, NetSpec, Sequential, Shape, Trainable};

/// Options of `import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The book's trained parameters: a NumPy .npz (numpy.savez) or the book's pickle (.pkl)
    #[arg(long, value_name = "FILE")]
    book_weights: PathBuf,
    /// The network they belong to
    #[arg(long, value_enum)]
    net: BookNet,
    /// Where to write the model (RON)
    #[arg(long, default_value = "data/params.ron")]
    out: PathBuf,
}

/// The book's networks whose trained weights it publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BookNet {
    /// `ch07/simple_convnet.py` (`params.pkl`)
    #[value(name = "simple-convnet")]
    SimpleConvNet,
    /// `ch08/deep_convnet.py` (`deep_convnet_params.pkl`)
    #[value(name = "deep-convnet")]
    DeepConvNet,
}

impl BookNet {
    /// The network's spec for MNIST's 1×28×28 images and ten classes.
    pub fn spec(self) -> NetSpec {
        let input = Shape::new(1, 28, 28);
        match self {
            BookNet::SimpleConvNet => NetSpec::simple_conv_net(input, NUM_CLASSES),
            BookNet::DeepConvNet => NetSpec::deep_conv_net(input, NUM_CLASSES),
        }
    }

    fn flag(self) -> &'static str {
        match self {
            BookNet::SimpleConvNet => "simple-convnet",
            BookNet::DeepConvNet => "deep-convnet",
        }
    }
}

/// Runs `import`.
pub fn run(args: ImportArgs) -> Result<()> {
    let net = book_network(&args.book_weights, args.net)?;
    let metadata = BTreeMap::from([(
        "source".to_owned(),
        format!(
            "the book's trained weights, {}",
            args.book_weights.display()
        ),
    )]);
    crate::files::create_parent(&args.out)?;
    let spec = net.spec().to_string();
    // The book trained them on MNIST.
    let mut file = ModelFile::new(net, metadata);
    file.dataset = Some(mnist_io::Dataset::Mnist.name().to_owned());
    crate::model::save(&file, &args.out)?;
    println!("network: {spec}");
    println!("model:   {}", args.out.display());
    Ok(())
}

/// An array of a NumPy file: its shape and its values in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    shape: Vec<usize>,
    data: Vec<f64>,
}

/// The network `net` holding the arrays of `path`, after checking them against it.
pub fn book_network(path: &Path, net: BookNet) -> Result<Sequential<f64>> {
    let arrays = read_arrays(path)?;
    let expected = book_shapes(&net.spec());
    let names = |v: Vec<&String>| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
    let missing: Vec<&String> = expected
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !arrays.contains_key(*n))
        .collect();
    let extra: Vec<&String> = arrays
        .keys()
        .filter(|k| !expected.iter().any(|(n, _)| n == *k))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        bail!(
            "{} holds {} where the book's {} has {}{}{}: are these the weights of --net {}?",
            path.display(),
            names(arrays.keys().collect()),
            net.flag(),
            names(expected.iter().map(|(n, _)| n).collect()),
            if missing.is_empty() {
                String::new()
            } else {
                format!(" (missing: {})", names(missing))
            },
            if extra.is_empty() {
                String::new()
            } else {
                format!(" (not in the network: {})", names(extra))
            },
            other(net).flag(),
        );
    }
    for (name, shape) in &expected {
        let found = &arrays[name].shape;
        if found != shape {
            bail!(
                "array {name} of {} has shape {:?} where the book's {} needs {:?}: are these the \
                 weights of --net {}?",
                path.display(),
                found,
                net.flag(),
                shape,
                other(net).flag()
            );
        }
        if let Some(i) = arrays[name].data.iter().position(|v| !v.is_finite()) {
            bail!(
                "array {name} of {} holds {} at index {i}: a usable model has only finite values",
                path.display(),
                arrays[name].data[i]
            );
        }
    }
    let mut network = Sequential::<f64>::new(net.spec(), 0).context("the book's network")?;
    network.visit_params(&mut |p| {
        let array = &arrays[&p.name.to_string()];
        *p.value = nn_core::Matrix::from_row_slice(p.value.nrows(), p.value.ncols(), &array.data);
    });
    Ok(network)
}

fn other(net: BookNet) -> BookNet {
    match net {
        BookNet::SimpleConvNet => BookNet::DeepConvNet,
        BookNet::DeepConvNet => BookNet::SimpleConvNet,
    }
}

/// The book's name and NumPy shape of every parameter of `spec`: `(FN, C, FH, FW)` for a
/// convolution's `W`, `(in, out)` for an affine layer's, `(n,)` for each `b`.
fn book_shapes(spec: &NetSpec) -> Vec<(String, Vec<usize>)> {
    let shapes = spec.check().expect("the book's specs are valid");
    let mut input = spec.input;
    let mut out = Vec::new();
    let mut number = 0;
    for (layer, &output) in spec.layers.iter().zip(&shapes) {
        let n = output.len().expect("checked");
        match *layer {
            LayerSpec::Convolution { filters, size, .. } => {
                number += 1;
                out.push((
                    format!("W{number}"),
                    vec![filters, input.channels, size, size],
                ));
                out.push((format!("b{number}"), vec![filters]));
            }
            LayerSpec::Affine { out: outs } => {
                number += 1;
                out.push((
                    format!("W{number}"),
                    vec![input.len().expect("checked"), outs],
                ));
                out.push((format!("b{number}"), vec![n]));
            }
            _ => {}
        }
        input = output;
    }
    out
}

/// Every array of a `.npz` archive or of a pickled dict of NumPy arrays (the book's `.pkl`), by
/// name, as `f64`.
pub fn read_arrays(path: &Path) -> Result<BTreeMap<String, Array>> {
    let mut file = File::open(path).with_context(|| {
        format!(
            "cannot open the book's weights {} (--book-weights)",
            path.display()
        )
    })?;
    let mut magic = [0u8; 2];
    file.read_exact(&mut magic)
        .with_context(|| format!("cannot read {}: is it empty?", path.display()))?;
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    match magic {
        [b'P', b'K'] => read_npz(file, path),
        [0x80, _] => read_pickle(file, path),
        _ => bail!(
            "{} is neither a NumPy .npz archive nor a Python pickle: give the book's .npz or .pkl \
             weights (--book-weights)",
            path.display()
        ),
    }
}

fn read_npz(file: File, path: &Path) -> Result<BTreeMap<String, Array>> {
    let bad = || format!("{} is not a readable .npz archive", path.display());
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).with_context(bad)?;
    let mut arrays = BTreeMap::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).with_context(bad)?;
        let entry_name = entry.name().with_context(bad)?.into_owned();
        let Some(name) = entry_name.strip_suffix(".npy").map(str::to_owned) else {
            continue;
        };
        let npy = npyz::NpyFile::new(entry)
            .with_context(|| format!("array {name} of {} is not a .npy array", path.display()))?;
        if npy.order() != npyz::Order::C {
            bail!(
                "array {name} of {} is stored in Fortran order: save it in C order (np.ascontiguousarray)",
                path.display()
            );
        }
        let shape = npy.shape().iter().map(|&d| d as usize).collect();
        let dtype = npy.dtype();
        let data = match npy.try_data::<f64>() {
            Ok(reader) => reader.into_iter().collect::<std::io::Result<Vec<f64>>>(),
            Err(npy) => match npy.try_data::<f32>() {
                Ok(reader) => reader
                    .into_iter()
                    .map(|v| v.map(f64::from))
                    .collect::<std::io::Result<Vec<f64>>>(),
                Err(_) => bail!(
                    "array {name} of {} holds {dtype:?} values: expected float64 (or float32)",
                    path.display()
                ),
            },
        }
        .with_context(|| format!("cannot read array {name} of {}", path.display()))?;
        arrays.insert(name, Array { shape, data });
    }
    Ok(arrays)
}

/// The book's pickles: a dict of NumPy arrays. serde-pickle reads the pickle's structure; each
/// array is pickled as `numpy.core.multiarray._reconstruct` followed by its state, the tuple
/// `(version, shape, dtype, is_fortran, raw bytes)`, and that state is what this reads. The dtype
/// is a NumPy object serde-pickle cannot rebuild (it reads as `None`, or as its own state
/// `(version, byte order, ...)` the first time): the values are taken as little-endian floats
/// (NumPy's order on the x86 machines the book's weights come from) of 8 bytes (float64) or 4
/// (float32) as the byte count says, in C order; a byte order other than `<` is refused.
fn read_pickle(file: File, path: &Path) -> Result<BTreeMap<String, Array>> {
    use serde_pickle::{DeOptions, HashableValue, Value};
    let options = DeOptions::new().replace_unresolved_globals();
    let value = serde_pickle::value_from_reader(BufReader::new(file), options)
        .with_context(|| format!("{} is not a readable pickle", path.display()))?;
    let Value::Dict(dict) = value else {
        bail!(
            "{} does not hold a dict of arrays (the book's params.pkl does)",
            path.display()
        );
    };
    let mut arrays = BTreeMap::new();
    for (key, value) in dict {
        let HashableValue::String(name) = key else {
            bail!("{} has a key that is not a name: {key:?}", path.display());
        };
        let not_array = || {
            format!(
                "entry {name} of {} is not a NumPy array as the book pickles them; try the .npz \
                 of the same weights",
                path.display()
            )
        };
        let Value::Tuple(state) = value else {
            bail!(not_array());
        };
        let [
            _,
            Value::Tuple(shape),
            dtype,
            Value::Bool(fortran),
            Value::Bytes(raw),
        ] = state.as_slice()
        else {
            bail!(not_array());
        };
        let shape: Vec<usize> = shape
            .iter()
            .map(|d| match d {
                Value::I64(d) => usize::try_from(*d).ok(),
                _ => None,
            })
            .collect::<Option<_>>()
            .with_context(not_array)?;
        let big = match dtype {
            Value::Tuple(dtype) => matches!(dtype.get(1), Some(Value::String(o)) if o == ">"),
            _ => false,
        };
        if *fortran || big {
            bail!(
                "entry {name} of {} is not a little-endian array in C order; try the .npz of the \
                 same weights",
                path.display()
            );
        }
        let len: usize = shape.iter().product();
        let data = if raw.len() == 8 * len {
            raw.chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect()
        } else if raw.len() == 4 * len {
            raw.chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes"))))
                .collect()
        } else {
            bail!(
                "entry {name} of {} holds {} bytes for {len} values: expected float64 or float32",
                path.display(),
                raw.len()
            );
        };
        arrays.insert(name, Array { shape, data });
    }
    Ok(arrays)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_books_shapes_are_numpys() {
        let simple = book_shapes(&BookNet::SimpleConvNet.spec());
        assert_eq!(
            simple,
            [
                ("W1".to_owned(), vec![30, 1, 5, 5]),
                ("b1".to_owned(), vec![30]),
                ("W2".to_owned(), vec![4320, 100]),
                ("b2".to_owned(), vec![100]),
                ("W3".to_owned(), vec![100, 10]),
                ("b3".to_owned(), vec![10]),
            ]
        );
        let deep = book_shapes(&BookNet::DeepConvNet.spec());
        assert_eq!(deep[6], ("W4".to_owned(), vec![32, 32, 3, 3]));
        assert_eq!(deep[12], ("W7".to_owned(), vec![1024, 50]));
        assert_eq!(deep.len(), 16);
    }
}
