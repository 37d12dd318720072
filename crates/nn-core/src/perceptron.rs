//! The perceptrons of chapter 2 (`ch02/and_gate.py`, `nand_gate.py`, `or_gate.py`,
//! `xor_gate.py`): a weighted sum of two inputs plus a bias, output 1 when it is positive.
//!
//! ```
//! use nn_core::perceptron::{and, nand, or, xor};
//! let inputs = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)];
//! let table = |gate: fn(f64, f64) -> u8| inputs.map(|(x1, x2)| gate(x1, x2));
//! assert_eq!(table(and), [0, 0, 0, 1]);
//! assert_eq!(table(nand), [1, 1, 1, 0]);
//! assert_eq!(table(or), [0, 1, 1, 1]);
//! assert_eq!(table(xor), [0, 1, 1, 0]);
//! ```

/// A perceptron of two inputs: 1 when `w1·x1 + w2·x2 + b > 0`, else 0 (§2.3.3).
pub fn perceptron(w: (f64, f64), b: f64, x1: f64, x2: f64) -> u8 {
    u8::from(w.0 * x1 + w.1 * x2 + b > 0.0)
}

/// AND: `w = (0.5, 0.5)`, `b = −0.7` (`and_gate.py`).
pub fn and(x1: f64, x2: f64) -> u8 {
    perceptron((0.5, 0.5), -0.7, x1, x2)
}

/// NAND: `w = (−0.5, −0.5)`, `b = 0.7` (`nand_gate.py`).
pub fn nand(x1: f64, x2: f64) -> u8 {
    perceptron((-0.5, -0.5), 0.7, x1, x2)
}

/// OR: `w = (0.5, 0.5)`, `b = −0.2` (`or_gate.py`).
pub fn or(x1: f64, x2: f64) -> u8 {
    perceptron((0.5, 0.5), -0.2, x1, x2)
}

/// XOR as a two-layer perceptron: `AND(NAND(x1, x2), OR(x1, x2))` (`xor_gate.py`, §2.5.2).
pub fn xor(x1: f64, x2: f64) -> u8 {
    let s1 = nand(x1, x2);
    let s2 = or(x1, x2);
    and(f64::from(s1), f64::from(s2))
}
