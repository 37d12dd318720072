//! The scalar type of every kernel: `f32` (training) or `f64` (gradient checks).

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

use crate::elementwise::exp_f32;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point scalar the kernels compute with: `f32` or `f64` (sealed).
///
/// Only what the kernels need: arithmetic, comparisons, a fused multiply-add and the conversions
/// from and to `f64`. nn-core's `Float` adds nalgebra's `RealField` and serde on top. The
/// method names are chosen not to collide with `RealField`'s, so code generic over both calls
/// either without ambiguity.
pub trait Scalar:
    Copy
    + Default
    + PartialOrd
    + Debug
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + sealed::Sealed
{
    /// `0`.
    const ZERO: Self;
    /// `1`.
    const ONE: Self;

    /// Converts from `f64` (rounding to nearest for `f32`).
    fn of_f64(v: f64) -> Self;

    /// Converts to `f64` (exact for both types).
    fn to_f64(self) -> f64;

    /// `self · a + b` with a single rounding (`mul_add`): exact sums of products, the same bits
    /// on every CPU.
    fn fma(self, a: Self, b: Self) -> Self;

    /// `1 / (1 + exp(−x))` of every value, in place; see
    /// [`sigmoid_in_place`](crate::elementwise::sigmoid_in_place), which compiles this loop for
    /// each instruction set.
    fn sigmoid_slice(values: &mut [Self]);
}

impl Scalar for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;

    fn of_f64(v: f64) -> Self {
        v as f32
    }

    fn to_f64(self) -> f64 {
        f64::from(self)
    }

    #[inline(always)]
    fn fma(self, a: Self, b: Self) -> Self {
        self.mul_add(a, b)
    }

    // Always inlined: `sigmoid_in_place` compiles one clone of its caller per instruction set
    // (`multiversion`), and only an inlined loop is vectorised for each. The exponential is
    // `exp_f32`, which vectorises (the C library's `expf` is called value by value).
    #[inline(always)]
    fn sigmoid_slice(values: &mut [Self]) {
        for v in values {
            *v = 1.0 / (1.0 + exp_f32(-*v));
        }
    }
}

impl Scalar for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;

    fn of_f64(v: f64) -> Self {
        v
    }

    fn to_f64(self) -> f64 {
        self
    }

    #[inline(always)]
    fn fma(self, a: Self, b: Self) -> Self {
        self.mul_add(a, b)
    }

    #[inline(always)]
    fn sigmoid_slice(values: &mut [Self]) {
        for v in values {
            *v = 1.0 / (1.0 + (-*v).exp());
        }
    }
}
