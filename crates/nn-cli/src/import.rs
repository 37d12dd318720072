//! `nn-cli import`: the book's trained weights (`sample_weight.pkl` of chapter 3's
//! `neuralnet_mnist.py`, `params.pkl` of `SimpleConvNet`,
//! `deep_convnet_params.pkl` of `DeepConvNet`, or the same arrays in a NumPy `.npz`) into our model
//! file, whose `eval`, `predict` and `gradcheck` then run the book's trained network; or, with
//! `--like MODEL`, the arrays of any network under the book's names (what `nn-cli export
//! --format npz|pkl` writes), batch norm's running statistics included.
//!
//! The book saves its parameters as a dict of NumPy arrays under our very names (`W1`, `b1`,
//! `W2`…): a convolution's `W` is `(FN, C, FH, FW)`, which row by row is our `(FN, C·FH·FW)`
//! matrix; an affine layer's `W` is `(in, out)` and each `b` is `(n,)`, our `(n, 1)`. Every array
//! is checked against the network: no array missing or left over, every shape the network's.
//! The values are kept in full (`f64`) in the model file.
//!
//! The files are read by the `book-weights` crate, within bounds: names, shapes and dtypes from
//! the headers first, then only the data those shapes make.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use book_weights::Expected;
use clap::{Args, ValueEnum};
use mnist_io::idx::NUM_CLASSES;
use nn_core::{Float, LayerSpec, Model, ModelFile, NetSpec, Sequential, Shape, Trainable};

/// Options of `import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The book's trained parameters: a NumPy .npz (numpy.savez) or the book's pickle (.pkl)
    #[arg(long, value_name = "FILE")]
    book_weights: PathBuf,
    /// The network they belong to
    #[arg(long, value_enum, required_unless_present = "like")]
    net: Option<BookNet>,
    /// Or: the network of this model file (its spec; its values are not read), e.g. to import
    /// what `nn-cli export --format npz|pkl` wrote of it
    #[arg(long, value_name = "MODEL", conflicts_with = "net")]
    like: Option<PathBuf>,
    /// Where to write the model (RON)
    #[arg(long, default_value = "data/params.ron")]
    out: PathBuf,
}

/// The book's networks whose trained weights it publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BookNet {
    /// `ch03/neuralnet_mnist.py` (`sample_weight.pkl`): affine 784→50 → sigmoid → affine 50→100
    /// → sigmoid → affine 100→10
    #[value(name = "neuralnet-mnist")]
    NeuralnetMnist,
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
            BookNet::NeuralnetMnist => NetSpec {
                input,
                layers: vec![
                    LayerSpec::Affine { out: 50 },
                    LayerSpec::Sigmoid,
                    LayerSpec::Affine { out: 100 },
                    LayerSpec::Sigmoid,
                    LayerSpec::Affine { out: NUM_CLASSES },
                ],
                init: Default::default(),
                weight_decay: 0.0,
            },
            BookNet::SimpleConvNet => NetSpec::simple_conv_net(input, NUM_CLASSES),
            BookNet::DeepConvNet => NetSpec::deep_conv_net(input, NUM_CLASSES),
        }
    }

    fn flag(self) -> &'static str {
        match self {
            BookNet::NeuralnetMnist => "neuralnet-mnist",
            BookNet::SimpleConvNet => "simple-convnet",
            BookNet::DeepConvNet => "deep-convnet",
        }
    }
}

/// Runs `import`.
pub fn run(args: ImportArgs) -> Result<()> {
    check_out(&args)?;
    // The book trained its networks on MNIST; --like's model says what it was trained on.
    let (net, dataset) = match (args.net, &args.like) {
        (Some(net), _) => (
            book_network::<f64>(&args.book_weights, net)?,
            Some(mnist_io::Dataset::Mnist.name().to_owned()),
        ),
        (None, Some(like)) => network_like(&args.book_weights, like)?,
        (None, None) => bail!("give --net or --like"),
    };
    let metadata = BTreeMap::from([(
        "source".to_owned(),
        format!(
            "the book's trained weights, {}",
            args.book_weights.display()
        ),
    )]);
    crate::files::create_parent(&args.out)?;
    let spec = net.spec().to_string();
    let mut file = ModelFile::new(net, metadata);
    file.dataset = dataset;
    crate::model::save(&file, &args.out)?;
    println!("network: {spec}");
    println!("model:   {}", crate::files::shown(&args.out));
    Ok(())
}

/// Refuses, before any work, an `--out` that is `--book-weights` or a file of MNIST: under any
/// of its accepted names in the default dataset folder (`data/mnist`, which `import` reads
/// nothing from but the other commands do), or in `--out`'s own folder.
fn check_out(args: &ImportArgs) -> Result<()> {
    let folder = match args.out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let dataset: Vec<PathBuf> = [Path::new("data/mnist"), folder]
        .into_iter()
        .flat_map(|dir| {
            mnist_io::FILES
                .iter()
                .flat_map(move |name| mnist_io::candidate_paths(dir, name))
        })
        .collect();
    let inputs: Vec<(&str, &Path)> =
        std::iter::once(("--book-weights", args.book_weights.as_path()))
            .chain(args.like.as_deref().map(|like| ("--like", like)))
            .chain(dataset.iter().map(|path| ("MNIST file", path.as_path())))
            .collect();
    safe_write::check_distinct(&inputs, &[("--out", &args.out)])?;
    Ok(())
}

/// The arrays of the book's `net`: for each layer with parameters, `W` and `b` under the book's
/// names and NumPy shapes, in float64 (the CNNs') or float32 (ch03's).
fn expected(net: BookNet) -> Expected {
    expected_for(&net.spec()).expect("the book's specs are valid")
}

/// The arrays of a network of `spec`: every matrix ([`NetSpec::matrices`], batch norm's running
/// statistics included) under its book name and NumPy shape ([`crate::export::numpy_shapes`]),
/// in float64 or float32.
fn expected_for(spec: &NetSpec) -> Result<Expected> {
    let shapes = crate::export::numpy_shapes(spec);
    let floats = [book_weights::Float::F64, book_weights::Float::F32];
    Ok(spec
        .matrices()?
        .into_iter()
        .fold(Expected::new(), |expected, (name, _)| {
            let name = name.to_string();
            let shape = &shapes[&name];
            expected.array(name, shape, &floats)
        }))
}

/// The network `net` holding the arrays of `path`, after checking them against it, in `T` (each
/// value rounded once from the file's).
pub fn book_network<T: Float>(path: &Path, net: BookNet) -> Result<Sequential<T>> {
    let arrays = book_weights::read(path, &expected(net)).map_err(|err| explain(err, path, net))?;
    holding(net.spec(), &arrays, path)
}

/// A network of `spec` holding `arrays` (read from `path`, as [`expected_for`] expects them):
/// its parameters and state, each value rounded once to `T`. Refuses values that are not finite.
fn holding<T: Float>(
    spec: NetSpec,
    arrays: &book_weights::Arrays,
    path: &Path,
) -> Result<Sequential<T>> {
    check_finite(arrays, path)?;
    let mut network = Sequential::<T>::new(spec, 0).context("the network to import")?;
    let fill = |name: String, value: &mut nn_core::Matrix<T>| {
        let array = arrays.get(&name).expect("every matrix is expected");
        let values: Vec<T> = array.data.iter().map(|&v| T::of_f64(v)).collect();
        *value = nn_core::Matrix::from_row_slice(value.nrows(), value.ncols(), &values);
    };
    network.visit_params(&mut |p| fill(p.name.to_string(), p.value));
    network.visit_state(&mut |s| fill(s.name.to_string(), s.value));
    Ok(network)
}

/// The network of the model file `like` (its spec) holding the arrays of `path`: every
/// parameter and batch norm's running statistics, under the book's names and NumPy shapes (as
/// `nn-cli export` writes them), checked as for the book's networks.
/// Returns it with the dataset `like` records.
fn network_like(path: &Path, like: &Path) -> Result<(Sequential<f64>, Option<String>)> {
    let model = crate::model::read::<f64>(like)?;
    let (spec, dataset) = (model.net.spec(), model.dataset);
    let what = format!("model file {} is too large to import here", like.display());
    crate::limits::check_network(&spec, 1, &what)?;
    let expected = expected_for(&spec)?;
    let arrays = book_weights::read(path, &expected).with_context(|| {
        format!(
            "cannot import --book-weights {} as the network of --like {} ({spec})",
            path.display(),
            like.display()
        )
    })?;
    if let Some(array) = arrays
        .iter()
        .find(|a| a.name.starts_with("running_var") && a.data.iter().any(|&v| v < 0.0))
    {
        bail!(
            "array {} of {} holds a negative variance: the file is corrupt",
            array.name,
            path.display()
        );
    }
    Ok((holding(spec, &arrays, path)?, dataset))
}

/// Refuses an array holding NaN or an infinity.
fn check_finite(arrays: &book_weights::Arrays, path: &Path) -> Result<()> {
    for array in arrays.iter() {
        if let Some(i) = array.data.iter().position(|v| !v.is_finite()) {
            bail!(
                "array {} of {} holds {} at index {i}: a usable model has only finite values",
                array.name,
                path.display(),
                array.data[i]
            );
        }
    }
    Ok(())
}

/// The reader's error, in the words of `import`: when the file holds exactly the weights of
/// another of the book's networks, which one and the flag that imports it.
fn explain(err: book_weights::Error, path: &Path, net: BookNet) -> anyhow::Error {
    let other = err.found().and_then(|found| {
        BookNet::value_variants()
            .iter()
            .copied()
            .find(|&other| other != net && expected(other).matches(found))
    });
    let context = match other {
        Some(other) => format!(
            "{} holds the weights of the book's {}, not {}: import them with --net {}",
            path.display(),
            other.flag(),
            net.flag(),
            other.flag()
        ),
        None => format!(
            "cannot import the book's weights --book-weights {}",
            path.display()
        ),
    };
    anyhow::Error::new(err).context(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_books_shapes_are_numpys() {
        let arrays = |net: BookNet| -> Vec<(String, Vec<usize>)> {
            expected(net)
                .arrays()
                .iter()
                .map(|a| (a.name.clone(), a.shape.clone()))
                .collect()
        };
        assert_eq!(
            arrays(BookNet::SimpleConvNet),
            [
                ("W1".to_owned(), vec![30, 1, 5, 5]),
                ("b1".to_owned(), vec![30]),
                ("W2".to_owned(), vec![4320, 100]),
                ("b2".to_owned(), vec![100]),
                ("W3".to_owned(), vec![100, 10]),
                ("b3".to_owned(), vec![10]),
            ]
        );
        let deep = arrays(BookNet::DeepConvNet);
        assert_eq!(deep[6], ("W4".to_owned(), vec![32, 32, 3, 3]));
        assert_eq!(deep[12], ("W7".to_owned(), vec![1024, 50]));
        assert_eq!(deep.len(), 16);
    }
}
