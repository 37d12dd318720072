//! The scalar type of every computation: `f32` to train (twice the numbers per cache line and
//! per SIMD lane), `f64` to check gradients (central differences need the extra digits).

use nalgebra::RealField;
use nn_kernels::Scalar;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A floating-point scalar a network computes with: `f32` or `f64`.
///
/// It is nalgebra's [`RealField`] (the matrices' arithmetic), nn-kernels' [`Scalar`] (the fast
/// kernels, and the conversions [`Scalar::of_f64`] and [`Scalar::to_f64`]) and serde's traits
/// (model files). Nothing else: the products and loops themselves are functions of
/// [`nn_kernels`].
///
/// ```
/// use nn_core::{Float, Scalar};
/// fn half<T: Float>(x: T) -> f64 {
///     (x / T::of_f64(2.0)).to_f64() // generic code reaches Scalar's methods through Float
/// }
/// assert_eq!(half(3.0_f32), 1.5);
/// assert_eq!(0.25_f32.to_f64(), 0.25); // a concrete type needs `Scalar` in scope
/// ```
pub trait Float: RealField + Scalar + Serialize + DeserializeOwned {}

impl Float for f32 {}
impl Float for f64 {}
