//! Issue 13's hostile inputs to the `nn-cli` binary that live in its image and plot paths: a
//! blank or uniform image, a huge PNG, a corrupt PNG, and `--plot x.png`.

use std::fs;
use std::io::Write;

use predicates::prelude::*;

mod common;
use common::nn_cli;

/// A grayscale PNG of `width`×`height` pixels of one `level` (see [`png_rows`]).
fn png(width: u32, height: u32, level: u8) -> Vec<u8> {
    png_rows(width, height, |_| vec![level; width as usize])
}

/// A grayscale PNG of `width`×`height` pixels whose row `y` is `row(y)`, encoded by hand: IHDR,
/// one IDAT of zlib-compressed rows, IEND (so that a huge one needs no huge buffer).
fn png_rows(width: u32, height: u32, row: impl Fn(u32) -> Vec<u8>) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = width.to_be_bytes().to_vec();
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &header);
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    for y in 0..height {
        zlib.write_all(&[0]).unwrap(); // filter: none
        zlib.write_all(&row(y)).unwrap();
    }
    chunk(&mut out, b"IDAT", &zlib.finish().unwrap());
    chunk(&mut out, b"IEND", &[]);
    out
}

/// `predict --image` on `bytes`: the image is read before the model, so no model is needed
/// to reach the image's error.
fn predict_image(bytes: &[u8]) -> (tempfile::TempDir, assert_cmd::assert::Assert) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("digit.png");
    fs::write(&path, bytes).unwrap();
    let assert = nn_cli()
        .args(["predict", "--image"])
        .arg(&path)
        .arg("--model")
        .arg(dir.path().join("params.ron"))
        .assert();
    (dir, assert)
}

#[test]
fn a_uniform_gray_or_blank_image_is_reported_as_holding_no_digit() {
    for level in [128, 255] {
        let (_dir, assert) = predict_image(&png(64, 64, level));
        assert.failure().stderr(
            predicate::str::contains("digit.png: no digit found: the image is nearly uniform")
                .and(predicate::str::contains("0.").not()),
        );
    }
}

#[test]
fn a_gradient_a_half_black_image_and_noise_are_reported_as_holding_no_digit() {
    // Issue 23: these were classified as 8, 8 and 2.
    let gradient = png_rows(64, 64, |_| (0..64).map(|x| (x * 4) as u8).collect());
    let halves = png_rows(64, 64, |_| {
        (0..64).map(|x| if x < 32 { 0 } else { 255 }).collect()
    });
    let noise = png_rows(64, 64, |y| {
        (0..64u32)
            .map(|x| ((x * 7919 + y * 104_729) ^ (x * y * 31)).wrapping_mul(2_654_435_761) >> 24)
            .map(|v| v as u8)
            .collect()
    });
    for (bytes, reason) in [
        (gradient, "of the image is plain background"),
        (halves, "the ink is a solid area, not strokes"),
        (noise, "of the image is plain background"),
    ] {
        let (_dir, assert) = predict_image(&bytes);
        assert.failure().stderr(
            predicate::str::contains("digit.png: no digit found: ")
                .and(predicate::str::contains(reason)),
        );
    }
}

#[test]
fn a_huge_png_is_refused_before_decoding() {
    let (_dir, assert) = predict_image(&png(20_000, 20_000, 0));
    assert.failure().stderr(
        predicate::str::contains("the image is 20000x20000 pixels")
            .and(predicate::str::contains("scale it down"))
            .and(predicate::str::contains("only PNG").not()),
    );
}

#[test]
fn a_corrupt_png_is_not_called_another_format() {
    let mut bytes = png(64, 64, 0);
    bytes.truncate(bytes.len() - 16);
    let (_dir, assert) = predict_image(&bytes);
    assert.failure().stderr(
        predicate::str::contains("this PNG cannot be decoded")
            .and(predicate::str::contains("only PNG").not()),
    );
}

#[test]
fn a_plot_path_that_is_not_svg_is_refused_and_no_png_is_written() {
    // A tiny dataset: 20 training and 10 test images of 2×2 pixels.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mnist");
    fs::create_dir(&data).unwrap();
    for (name, count) in [("train", 20), ("t10k", 10)] {
        let pixels: Vec<u8> = (0..count * 4).map(|i| (i * 37 % 256) as u8).collect();
        let images = mnist_io::Images::new(2, 2, pixels).unwrap();
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        mnist_io::idx::write_images(&data.join(format!("{name}-images-idx3-ubyte")), &images)
            .unwrap();
        mnist_io::idx::write_labels(&data.join(format!("{name}-labels-idx1-ubyte")), &labels)
            .unwrap();
    }
    let plot = dir.path().join("x.png");
    nn_cli()
        .args([
            "train",
            "--iters",
            "2",
            "--batch-size",
            "5",
            "--hidden",
            "3",
            "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("params.ron"))
        .arg("--history")
        .arg(dir.path().join("history.csv"))
        .arg("--plot")
        .arg(&plot)
        .assert()
        .failure()
        .stderr(
            predicate::str::contains(format!("--plot {}", plot.display()))
                .and(predicate::str::contains("must end in .svg")),
        );
    assert!(!plot.exists());
}
