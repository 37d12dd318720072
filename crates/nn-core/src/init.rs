//! The initial weights (§6.2): a fixed standard deviation, Xavier's or He's.

use std::fmt;
use std::str::FromStr;

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::{Float, Matrix};

/// How the weights of a layer are drawn: `std · N(0, 1)` for a standard deviation chosen from
/// the number `n` of inputs of each neuron (the book's `weight_init_std`, §6.2). Biases start at
/// zero.
///
/// | variant    | std         | the book's name        | suits          |
/// |------------|-------------|------------------------|----------------|
/// | `Std(s)`   | `s`         | a number, e.g. `0.01`  | the ch. 4–5 nets |
/// | `Xavier`   | `√(1/n)`    | `'sigmoid'`, `'xavier'`| sigmoid, tanh  |
/// | `He`       | `√(2/n)`    | `'relu'`, `'he'`       | ReLU           |
///
/// `n` is the size of the previous layer for an affine layer, `C·FH·FW` for a convolution.
///
/// ```
/// use nn_core::Init;
/// assert_eq!(Init::He.std(50), 0.2);
/// assert_eq!(Init::Xavier.std(100), 0.1);
/// assert_eq!("relu".parse::<Init>(), Ok(Init::He));
/// assert_eq!("0.01".parse::<Init>(), Ok(Init::Std(0.01)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Init {
    /// A fixed standard deviation, the same for every layer.
    Std(f64),
    /// `√(1/n)` (Xavier Glorot and Yoshua Bengio).
    Xavier,
    /// `√(2/n)` (Kaiming He et al.).
    He,
}

impl Default for Init {
    /// The book's chapter-4 value, `Std(0.01)`.
    fn default() -> Self {
        Init::Std(0.01)
    }
}

impl Init {
    /// The standard deviation for a neuron of `fan_in` inputs.
    pub fn std(self, fan_in: usize) -> f64 {
        match self {
            Init::Std(std) => std,
            Init::Xavier => (1.0 / fan_in as f64).sqrt(),
            Init::He => (2.0 / fan_in as f64).sqrt(),
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Init::Std(std) => write!(f, "std {std}"),
            Init::Xavier => f.write_str("xavier"),
            Init::He => f.write_str("he"),
        }
    }
}

/// An initialisation that is neither `he`/`relu`, `xavier`/`sigmoid` nor a number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown initialisation {0:?}: use \"he\" (or \"relu\"), \"xavier\" (or \"sigmoid\"), or a \
     standard deviation such as 0.01"
)]
pub struct ParseInitError(pub String);

impl FromStr for Init {
    type Err = ParseInitError;

    /// `he` or `relu`, `xavier` or `sigmoid` (in any case, as the book's `weight_init_std`), or
    /// a number, the standard deviation.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "he" | "relu" => Ok(Init::He),
            "xavier" | "sigmoid" => Ok(Init::Xavier),
            other => other
                .parse()
                .map(Init::Std)
                .map_err(|_| ParseInitError(s.to_owned())),
        }
    }
}

/// A `rows × cols` matrix of `std · N(0, 1)` values, drawn row by row (the order of NumPy's
/// `randn(rows, cols)`), each in `f64` and then rounded to `T`: the same seed gives the same
/// weights on every machine, and the `f32` weights are the `f64` ones rounded.
pub(crate) fn gaussian<T: Float>(
    rows: usize,
    cols: usize,
    std: f64,
    rng: &mut ChaCha8Rng,
) -> Matrix<T> {
    Matrix::from_row_iterator(
        rows,
        cols,
        (0..rows * cols).map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            T::of_f64(std * z)
        }),
    )
}
