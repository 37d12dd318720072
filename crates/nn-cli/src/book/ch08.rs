//! `book half-float`: `ch08/half_float_network.py`, DeepConvNet's test accuracy in `f32`, then
//! with its weights stored in half precision (`half::f16`, two bytes a value) and its images
//! rounded to half precision values.
//!
//! The book's script casts the images to `float16` and writes `param.astype(np.float16)` into
//! each parameter (`param[...] = ...`, which keeps the array's `float64` type), then runs its
//! network, whose `im2col` builds `float64` columns: its "half precision" is half-precision
//! values computed in `float64`. Here the weights are stored as `f16` and widened to `f32` for
//! the arithmetic, and each pixel `p / 255` is rounded to the nearest `f16` first: the same
//! values, the sums in `f32`. The book's script, run here in NumPy on its 2016 weights, prints
//! 0.9935 twice, as this command does.

use anyhow::{Result, bail};
use half::f16;
use nn_core::{Model, Sequential, Trainable};

use super::BookArgs;
use crate::book_check::correct;
use crate::import::{BookNet, book_network};

/// Every parameter of `net` in half precision, in visiting order.
pub fn to_half(net: &mut Sequential<f32>) -> Vec<Vec<f16>> {
    let mut stored = Vec::new();
    net.visit_params(&mut |p| stored.push(p.value.iter().map(|&v| f16::from_f32(v)).collect()));
    stored
}

/// Sets every parameter of `net` from `stored` (as [`to_half`] made it), widened to `f32`.
pub fn from_half(net: &mut Sequential<f32>, stored: &[Vec<f16>]) {
    let mut k = 0;
    net.visit_params(&mut |p| {
        for (v, h) in p.value.iter_mut().zip(&stored[k]) {
            *v = h.to_f32();
        }
        k += 1;
    });
}

/// Runs `book half-float`.
pub fn half_float(args: &BookArgs) -> Result<()> {
    let mut net: Sequential<f32> = match &args.model {
        Some(path) => crate::model::load_file::<f32>(path, 784)?.net,
        None => {
            let file = args.book_weights.join("deep_convnet_params.npz");
            if !file.is_file() {
                bail!(
                    "{} is missing: pass a model with --model, or the folder of the book's \
                     trained weights with --book-weights",
                    file.display()
                );
            }
            book_network(&file, BookNet::DeepConvNet)?
        }
    };
    let test = crate::data::load_split(
        &args.data,
        mnist_io::Dataset::Mnist,
        mnist_io::TEST_IMAGES,
        mnist_io::TEST_LABELS,
    )?;
    if test.is_empty() {
        bail!("the test set in {} holds no image", args.data.display());
    }
    println!("network: {}", net.spec());
    let n = test.len() as f64;
    println!("calculate accuracy (float32) ... ");
    let full = correct(&mut net, &test, 100, |v| v);
    println!("{:.4}", full as f64 / n);

    let stored = to_half(&mut net);
    let count: usize = stored.iter().map(Vec::len).sum();
    let bytes = std::mem::size_of_val(&stored[..])
        + stored
            .iter()
            .map(|v| std::mem::size_of_val(&v[..]))
            .sum::<usize>();
    from_half(&mut net, &stored);
    println!("calculate accuracy (float16) ... ");
    let half = correct(&mut net, &test, 100, |v| f16::from_f32(v).to_f32());
    println!("{:.4}", half as f64 / n);
    println!(
        "weights: {count} values: {} bytes in f16 ({} of data), {} in f32, {} in f64 (the book's)",
        bytes,
        count * 2,
        count * 4,
        count * 8
    );
    println!(
        "images: {} values: {} bytes in f16, {} in f32",
        test.len() * test.pixels_per_image(),
        test.len() * test.pixels_per_image() * 2,
        test.len() * test.pixels_per_image() * 4
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_core::{LayerSpec, NetSpec, Shape};

    #[test]
    fn half_storage_takes_two_bytes_a_value_and_rounds_to_the_nearest_half() {
        let spec = NetSpec {
            input: Shape::new(1, 2, 2),
            layers: vec![LayerSpec::Affine { out: 3 }],
            init: nn_core::Init::Std(1.0),
            weight_decay: 0.0,
        };
        let mut net = Sequential::<f32>::new(spec, 7).unwrap();
        net.visit_params(&mut |p| {
            for (i, v) in p.value.iter_mut().enumerate() {
                // 1 + 2^-11 is halfway between two halves (ties to even: 1); 1 + 3·2^-11 rounds
                // up to 1 + 2^-9; 65520 overflows to infinity; 1e-8 is below the smallest half.
                *v = [
                    1.0 + 2f32.powi(-11),
                    1.0 + 3.0 * 2f32.powi(-11),
                    65520.0,
                    1e-8,
                ][i % 4];
            }
        });
        let stored = to_half(&mut net);
        assert_eq!(stored.iter().map(Vec::len).sum::<usize>(), 12 + 3);
        assert_eq!(std::mem::size_of_val(&stored[0][..]), 12 * 2);
        from_half(&mut net, &stored);
        let mut values = Vec::new();
        net.visit_params(&mut |p| values.extend(p.value.iter().copied()));
        assert_eq!(values[..4], [1.0, 1.0 + 2f32.powi(-9), f32::INFINITY, 0.0]);
    }
}
