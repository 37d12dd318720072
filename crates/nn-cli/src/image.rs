//! A user's own digit (`predict --image`): the `digit-image` crate reads the PNG within bounded
//! memory and prepares it the way MNIST's digits were, or says why it holds no digit.

use std::path::Path;

use anyhow::Result;

pub use digit_image::ascii;

/// Reads a PNG and turns it into the 28×28 row-major MNIST input (0 background, 255 ink).
///
/// Errors name the file and say what is wrong: not a PNG (and what it is instead), too large
/// (from its header, before decoding), a corrupt PNG, or no digit in it (uniform, no plain
/// paper, a speck, a solid area rather than strokes, a few stray marks).
pub fn load_digit(path: &Path) -> Result<Vec<u8>> {
    Ok(digit_image::load(path)?)
}
