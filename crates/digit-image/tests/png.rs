//! Issue 13's hostile images, each reproduced: a 20000×20000 PNG of a few hundred kilobytes
//! (with the reader's peak memory measured in a child process), a PNG that is corrupt rather
//! than not a PNG, files that are not PNGs, blank and uniform images; and the real MNIST test
//! digits, none of which may be taken for "no digit".

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use digit_image::{Error, NoDigit};
use flate2::Compression;
use flate2::write::ZlibEncoder;
use image::{GrayImage, Luma, Rgba, RgbaImage};

/// One PNG chunk: length, type, data, CRC of type and data.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A valid PNG of `width`×`height` black pixels, `channels` 1 (gray) or 4 (RGBA), compressed
/// row by row without ever holding the pixels (a 20000×20000 gray one takes 400 KB).
fn huge_png(width: u32, height: u32, channels: usize) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    let color = if channels == 4 { 6 } else { 0 };
    header.extend_from_slice(&[8, color, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &header);
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::best());
    let row = vec![0u8; 1 + width as usize * channels]; // filter byte 0, then the pixels
    for _ in 0..height {
        zlib.write_all(&row).unwrap();
    }
    chunk(&mut png, b"IDAT", &zlib.finish().unwrap());
    chunk(&mut png, b"IEND", &[]);
    png
}

const CHILD_ENV: &str = "DIGIT_IMAGE_HOSTILE_FILE";

/// In the child: loads the image named by `DIGIT_IMAGE_HOSTILE_FILE` and prints the outcome.
#[test]
fn child_loads_digit() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    match digit_image::load(Path::new(&path)) {
        Ok(pixels) => println!("outcome: {} pixels", pixels.len()),
        Err(e) => println!("outcome: {e}"),
    }
}

/// Loads `path` in a child: what it printed, and the children's peak resident memory in MiB.
fn load_in_child(path: &Path) -> (String, f64) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_loads_digit",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let outcome = stdout
        .lines()
        .find_map(|l| l.split_once("outcome: ").map(|(_, o)| o.to_owned()))
        .unwrap_or_else(|| panic!("{stdout}"));
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    (outcome, usage.max_rss() as f64 / 1024.0)
}

#[test]
fn a_huge_png_is_refused_from_its_header_in_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    // The issue's 20000×20000 grayscale PNG, and an RGBA one (whose error once said "only PNG
    // is supported").
    for (name, side, channels) in [("gray.png", 20_000, 1), ("rgba.png", 10_000, 4)] {
        let path = dir.path().join(name);
        std::fs::write(&path, huge_png(side, side, channels)).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        let (outcome, peak_mib) = load_in_child(&path);
        eprintln!("{side}x{side} {name} ({size} bytes): peak RSS {peak_mib:.1} MiB: {outcome}");
        assert!(
            outcome.contains(&format!("the image is {side}x{side} pixels")),
            "{outcome}"
        );
        assert!(outcome.contains("scale it down"), "{outcome}");
        assert!(!outcome.contains("only PNG"), "{outcome}");
        assert!(peak_mib < 200.0, "{peak_mib} MiB");
    }
    // Just inside the bounds: decoded, then found blank, still well under 200 MB.
    let path = dir.path().join("largest.png");
    std::fs::write(&path, huge_png(4096, 4096, 4)).unwrap();
    let (outcome, peak_mib) = load_in_child(&path);
    eprintln!("4096x4096 RGBA: peak RSS {peak_mib:.1} MiB: {outcome}");
    assert!(outcome.contains("no digit found"), "{outcome}");
    assert!(peak_mib < 200.0, "{peak_mib} MiB");
}

fn write_png(dir: &Path, name: &str, image: &GrayImage) -> PathBuf {
    let path = dir.join(name);
    image.save(&path).unwrap();
    path
}

#[test]
fn a_corrupt_png_is_called_a_corrupt_png_not_another_format() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_png(
        dir.path(),
        "good.png",
        &GrayImage::from_pixel(28, 28, Luma([9])),
    );
    let bytes = std::fs::read(&good).unwrap();
    // Cut inside the image data.
    let cut = dir.path().join("cut.png");
    std::fs::write(&cut, &bytes[..bytes.len() - 20]).unwrap();
    let err = digit_image::load(&cut).unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}: this PNG cannot be decoded", cut.display())),
        "{text}"
    );
    assert!(!text.contains("only PNG"), "{text}");
}

#[test]
fn a_file_that_is_not_a_png_says_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, found) in [
        ("text.png", &b"not an image"[..], "not an image"),
        ("empty.png", b"", "an empty file"),
        (
            "photo.png",
            b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
            "a Jpeg image",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = digit_image::load(&path).unwrap_err();
        assert!(matches!(err, Error::NotPng { .. }), "{err:?}");
        let text = err.to_string();
        assert_eq!(
            text,
            format!(
                "{}: {found}; only PNG images are supported (convert it to PNG)",
                path.display()
            )
        );
    }
    let err = digit_image::load(&dir.path().join("missing.png")).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err:?}");
}

#[test]
fn blank_uniform_and_nearly_blank_pngs_have_no_digit() {
    let dir = tempfile::tempdir().unwrap();
    let blank = write_png(
        dir.path(),
        "blank.png",
        &GrayImage::from_pixel(100, 100, Luma([255])),
    );
    let gray = write_png(
        dir.path(),
        "gray.png",
        &GrayImage::from_pixel(100, 100, Luma([128])),
    );
    let speck = write_png(
        dir.path(),
        "speck.png",
        &GrayImage::from_fn(100, 100, |x, y| {
            Luma([if x == 50 && y == 50 { 0 } else { 255 }])
        }),
    );
    // Transparent everywhere: white, as a viewer shows it.
    let clear = dir.path().join("clear.png");
    RgbaImage::from_pixel(50, 50, Rgba([0, 0, 0, 0]))
        .save(&clear)
        .unwrap();
    for (path, reason) in [
        (blank, NoDigit::Uniform { contrast: 0 }),
        (gray, NoDigit::Uniform { contrast: 0 }),
        (
            speck,
            NoDigit::TooSmall {
                width: 1,
                height: 1,
            },
        ),
        (clear, NoDigit::Uniform { contrast: 0 }),
    ] {
        let err = digit_image::load(&path).unwrap_err();
        assert!(
            matches!(&err, Error::NoDigit { source, .. } if *source == reason),
            "{err:?}"
        );
        assert!(err.to_string().contains("no digit found"), "{err}");
    }
}

#[test]
fn a_drawn_digit_png_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let seven = GrayImage::from_fn(120, 160, |x, y| {
        let top = (20..30).contains(&y) && (20..100).contains(&x);
        let stem = (30..140).contains(&y) && {
            let centre = 95 - (y - 30) * 45 / 110;
            x.abs_diff(centre) < 6
        };
        Luma([if top || stem { 10 } else { 245 }])
    });
    let path = write_png(dir.path(), "seven.png", &seven);
    let pixels = digit_image::load(&path).unwrap();
    assert_eq!(pixels.len(), 784);
    assert!(digit_image::ink_mass(&pixels) > 40.0);
}

/// Whether the value of the `CI` variable says this is a CI run: set, and neither empty, `0` nor
/// `false` (in any case). On CI (`.ci/run` sets `CI`) missing data fails the test, so that a green
/// CI means it ran; elsewhere it prints `skipped: ...` and passes.
fn is_ci(value: Option<&OsStr>) -> bool {
    value.is_some_and(|v| {
        let v = v.to_string_lossy();
        let v = v.trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

/// The real MNIST test images from `MNIST_DIR` if set, else `data/mnist` or
/// `../shared/data/mnist`. When none has them: a failure on CI, a `skipped:` line elsewhere.
fn real_test_images() -> Option<mnist_io::Images> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dirs = match std::env::var_os("MNIST_DIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![root.join("data/mnist"), root.join("../shared/data/mnist")],
    };
    for dir in &dirs {
        if let Some(path) = mnist_io::find_file(dir, mnist_io::TEST_IMAGES) {
            return Some(mnist_io::idx::read_images(&path).unwrap());
        }
    }
    let what = format!(
        "the real MNIST test images: no {} (raw or .gz) in {}. Run `cargo xtask fetch-mnist` \
         (or `cargo xtask fetch-mnist --mirror ../shared/data/mnist`), or set MNIST_DIR to their \
         folder",
        mnist_io::TEST_IMAGES,
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(" or ")
    );
    if is_ci(std::env::var_os("CI").as_deref()) {
        panic!("CI is set, so missing test data is a failure, not a skip: {what}");
    }
    eprintln!("skipped: {what}");
    None
}

#[test]
fn which_values_of_ci_make_missing_data_a_failure() {
    for on in ["true", "1", "yes", "TRUE"] {
        assert!(is_ci(Some(OsStr::new(on))), "{on:?}");
    }
    for off in ["", " ", "0", "false", "False"] {
        assert!(!is_ci(Some(OsStr::new(off))), "{off:?}");
    }
    assert!(!is_ci(None));
}

#[test]
fn no_real_mnist_digit_is_taken_for_no_digit() {
    let Some(images) = real_test_images() else {
        return;
    };
    for i in 0..images.count() {
        let gray = GrayImage::from_raw(28, 28, images.image(i).to_vec()).unwrap();
        if let Err(e) = digit_image::to_mnist(gray) {
            panic!("MNIST test image {i}: {e}");
        }
    }
}
