//! The scalar nodes of the apple-shopping example (§5.4): multiplication and addition.

use crate::Float;

/// The multiplication node (§5.4.1): `out = x·y`; backward swaps the inputs:
/// `dx = dout·y`, `dy = dout·x`.
///
/// ```
/// use nn_core::layers::MulLayer;
/// let mut mul = MulLayer::new();
/// assert_eq!(mul.forward(3.0_f64, 4.0), 12.0);
/// assert_eq!(mul.backward(1.0), (4.0, 3.0));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct MulLayer<T: Float> {
    x: T,
    y: T,
}

impl<T: Float> MulLayer<T> {
    /// A multiplication node.
    pub fn new() -> Self {
        MulLayer {
            x: T::zero(),
            y: T::zero(),
        }
    }

    /// Returns `x·y` and remembers both inputs.
    pub fn forward(&mut self, x: T, y: T) -> T {
        self.x = x;
        self.y = y;
        x * y
    }

    /// Returns `(dout·y, dout·x)`.
    pub fn backward(&self, dout: T) -> (T, T) {
        (dout * self.y, dout * self.x)
    }
}

/// The addition node (§5.4.2): `out = x + y`; backward passes `dout` to both inputs.
///
/// ```
/// use nn_core::layers::AddLayer;
/// let add = AddLayer;
/// assert_eq!(add.forward(3.0_f64, 4.0), 7.0);
/// assert_eq!(add.backward(2.0), (2.0, 2.0));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AddLayer;

impl AddLayer {
    /// Returns `x + y` (nothing to remember).
    pub fn forward<T: Float>(&self, x: T, y: T) -> T {
        x + y
    }

    /// Returns `(dout, dout)`.
    pub fn backward<T: Float>(&self, dout: T) -> (T, T) {
        (dout, dout)
    }
}
