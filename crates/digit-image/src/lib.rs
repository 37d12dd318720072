//! A user's own digit, prepared the way MNIST's digits were: grayscale, white ink on black,
//! scaled into a 20×20 box and centred by centre of mass in a 28×28 field.
//!
//! Reading is bounded before anything is decoded: a PNG of more than [`MAX_PIXELS`] pixels, or
//! whose decoded pixels take more than [`MAX_DECODED_BYTES`], is refused from its header alone
//! ([`Error::TooLarge`]), so a small file claiming 20000×20000 pixels costs nothing.
//!
//! An image that holds no digit is refused too ([`NoDigit`]), rather than classified. A digit is
//! strokes of ink on plain paper, and each test below refuses one way of not being that:
//!
//! - a uniform or nearly uniform image: less than [`MIN_CONTRAST`] levels between the paper
//!   (the border's median) and the strongest ink;
//! - no plain paper: less than [`MIN_PAPER_SHARE`] of the pixels at the paper's level (within
//!   an eighth of the contrast, on either side), as in a photograph, a gradient or noise;
//! - a speck: ink smaller than [`MIN_INK_SIDE`] pixels, the smallest legible digit font;
//! - a solid area rather than strokes: ink whose mean stroke width (twice its area over its
//!   outline) is more than [`MAX_STROKE_SHARE`] of its height or width, as in an image half
//!   black and half white;
//! - a few stray marks: less ink, once prepared, than [`MIN_INK_MASS`], half the faintest digit
//!   of MNIST's 70 000.
//!
//! The tests only refuse: an image they let through is prepared as if they were not there.
//!
//! ```
//! use image::{GrayImage, Luma};
//!
//! // A dark bar on a light page: a "1".
//! let page = GrayImage::from_fn(100, 60, |x, y| {
//!     Luma([if (45..55).contains(&x) && (5..55).contains(&y) { 0 } else { 250 }])
//! });
//! let pixels = digit_image::to_mnist(page)?;
//! assert_eq!(pixels.len(), 28 * 28);
//! assert_eq!(pixels[0], 0); // background is black, ink is white
//!
//! // A uniform gray page: no digit.
//! let gray = GrayImage::from_pixel(100, 60, Luma([128]));
//! assert!(digit_image::to_mnist(gray).is_err());
//! # Ok::<(), digit_image::NoDigit>(())
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek};
use std::path::{Path, PathBuf};

use image::codecs::png::PngDecoder;
use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, ImageDecoder, ImageError, Luma};

/// Side of an MNIST image.
pub const SIDE: usize = 28;
/// Side of the box the digit is scaled into.
const BOX: u32 = 20;
/// After levels are stretched (background 0, strongest ink 255), pixels above this count as
/// ink for the bounding box.
const INK_THRESHOLD: u8 = 32;

/// Most pixels of an image read as a digit: 4096×4096 (16.8 million), far more than a photo
/// of a digit needs.
pub const MAX_PIXELS: u64 = 4096 * 4096;
/// Most bytes the decoded pixels may take (64 MiB: 4096×4096 RGBA at 8 bits per channel), so
/// that reading an image stays well under 200 MB of memory.
pub const MAX_DECODED_BYTES: u64 = 64 << 20;

/// Least difference, in levels of 255, between the paper (the border's median) and the
/// strongest ink: a quarter of the range. Below it the "digit" cannot be told from paper
/// texture, shading or compression noise.
pub const MIN_CONTRAST: u8 = 64;
/// Least height or width, in pixels, of the ink's bounding box: the smallest legible digit
/// fonts are 3×5 pixels; anything smaller is a speck, not a digit.
pub const MIN_INK_SIDE: u32 = 5;
/// Least ink of the prepared 28×28 image, in fully inked pixels (sum of the pixels / 255):
/// half of the faintest of MNIST's 70 000 digits (19.9; the median is 100).
pub const MIN_INK_MASS: f64 = 10.0;

/// Least share of the image's pixels at the paper's level: those within an eighth of the
/// contrast of it, on either side (the levels' stretch maps them to 32 of 255 or less, below
/// the level at which the ink's bounding box starts). Measured on MNIST's 70 000 digits (28×28,
/// the digit in a 20×20 box): at least 0.56 (train image 41358, a 0 inked solid; the test
/// set's least is 0.63, the median 0.83). Uniform noise and linear gradients leave 0.11 to
/// 0.17, diagonal gradients 0.21 to 0.25 (sizes 28×28 to 300×300, in the tests): 0.4 lies
/// between.
pub const MIN_PAPER_SHARE: f64 = 0.4;
/// Most mean stroke width of the ink, as a share of its height or width, whichever is larger.
/// The width is twice the ink's area over the length of its outline, ink being the pixels at
/// least half as strong as the strongest. Measured on MNIST's 70 000 digits: at most 0.33
/// (train image 41358, a 0 inked solid; the test set's most is 0.29, the median 0.10). An
/// image half black and half white has 0.6 to 1.7 (its ink's outline is the line between the
/// halves only; sizes 28×28 to 300×300, in the tests): 0.45 lies between.
pub const MAX_STROKE_SHARE: f64 = 0.45;

/// Why an image could not be read as a digit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file cannot be opened or read.
    #[error("{path}: cannot read the image: {source}")]
    Read {
        /// The image.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The path is not a regular file: a folder, a FIFO (which would be waited on forever), a
    /// device.
    #[error("{path}: not a regular file; give the path of a PNG image")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is not a PNG.
    #[error("{path}: {found}; only PNG images are supported (convert it to PNG)")]
    NotPng {
        /// The image.
        path: PathBuf,
        /// What it looks like instead, such as `a JPEG image`.
        found: String,
    },
    /// The PNG's header announces more pixels than a digit is read from.
    #[error(
        "{path}: the image is {width}x{height} pixels ({decoded} bytes decoded), more than the \
         {MAX_PIXELS} pixels or {MAX_DECODED_BYTES} bytes a digit is read from; scale it down \
         (a digit needs only 28x28 pixels)"
    )]
    TooLarge {
        /// The image.
        path: PathBuf,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// Bytes its pixels take decoded.
        decoded: u64,
    },
    /// The file is a PNG that does not decode (corrupt, truncated, an unsupported variant).
    #[error("{path}: this PNG cannot be decoded: {source}")]
    Decode {
        /// The image.
        path: PathBuf,
        /// The decoder's error.
        source: ImageError,
    },
    /// The image decodes but holds no digit.
    #[error("{path}: no digit found: {source}")]
    NoDigit {
        /// The image.
        path: PathBuf,
        /// Why not.
        source: NoDigit,
    },
}

/// Why a decoded image holds no digit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoDigit {
    /// Paper and ink are too alike.
    #[error(
        "the image is nearly uniform (its darkest and lightest differ by {contrast} levels of \
         255, a digit needs {MIN_CONTRAST}); draw the digit darker, or on a plainer background"
    )]
    Uniform {
        /// Levels between the background and the strongest ink.
        contrast: u8,
    },
    /// The ink is a speck.
    #[error(
        "the ink covers only {width}x{height} pixels, too small for a digit (at least \
         {MIN_INK_SIDE} pixels tall or wide); crop the image around the digit, or draw it larger"
    )]
    TooSmall {
        /// Width of the ink's bounding box.
        width: u32,
        /// Height of the ink's bounding box.
        height: u32,
    },
    /// Too little of the image is plain paper: a photograph, a gradient, noise.
    #[error(
        "only {:.0}% of the image is plain background (within an eighth of the contrast of the \
         background's level), a digit on paper leaves at least {:.0}%; this looks like a \
         photograph, a gradient or noise: draw or photograph the digit on plain paper",
        paper * 100.0,
        MIN_PAPER_SHARE * 100.0
    )]
    NoPlainBackground {
        /// Share of the image's pixels at the paper's level.
        paper: f64,
    },
    /// The ink is a solid area, not strokes.
    #[error(
        "the ink is a solid area, not strokes: {stroke:.0} pixels wide on average, {:.0}% of \
         its {extent}-pixel height or width, where a digit's strokes are at most {:.0}%; draw \
         the digit with a thinner pen, or crop out the dark areas around it",
        stroke / f64::from(*extent) * 100.0,
        MAX_STROKE_SHARE * 100.0
    )]
    NotStrokes {
        /// The ink's mean stroke width, in pixels.
        stroke: f64,
        /// Height or width of the ink's bounding box, whichever is larger.
        extent: u32,
    },
    /// Too little ink for a digit (a few stray marks).
    #[error(
        "too little ink: {mass:.1} pixels' worth once prepared, a digit has at least \
         {MIN_INK_MASS} (MNIST's faintest has 20)"
    )]
    TooFaint {
        /// Sum of the prepared 28×28 pixels / 255.
        mass: f64,
    },
}

/// Reads the PNG at `path` and turns it into the 28×28 row-major MNIST input (0 background, 255
/// ink).
///
/// # Errors
/// Every [`Error`]: the file unreadable, not a PNG, too large (from its header, before
/// decoding), corrupt, or holding no digit.
pub fn load(path: &Path) -> Result<Vec<u8>, Error> {
    let read = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    // Checked before opening: opening a FIFO with no writer would wait forever.
    if !std::fs::metadata(path).map_err(read)?.is_file() {
        return Err(Error::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let file = File::open(path).map_err(read)?;
    let gray = decode(BufReader::new(file), path)?;
    to_mnist(gray).map_err(|source| Error::NoDigit {
        path: path.to_path_buf(),
        source,
    })
}

/// [`load`] from the bytes of a PNG in memory; `name` only names it in errors.
///
/// # Errors
/// As [`load`].
pub fn load_from_bytes(bytes: &[u8], name: &Path) -> Result<Vec<u8>, Error> {
    let gray = decode(Cursor::new(bytes), name)?;
    to_mnist(gray).map_err(|source| Error::NoDigit {
        path: name.to_path_buf(),
        source,
    })
}

/// Decodes a PNG into grayscale, transparency composited over white (as an image viewer shows
/// it), refusing images above [`MAX_PIXELS`] or [`MAX_DECODED_BYTES`] from their header.
///
/// # Errors
/// [`Error::Read`], [`Error::NotPng`], [`Error::TooLarge`] and [`Error::Decode`].
pub fn decode(mut reader: impl BufRead + Seek, path: &Path) -> Result<GrayImage, Error> {
    let mut head = [0u8; 16];
    let n = read_full(&mut reader, &mut head).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    reader.rewind().map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !head[..n].starts_with(b"\x89PNG\r\n\x1a\n") {
        let found = match image::guess_format(&head[..n]) {
            Ok(format) => format!("a {format:?} image"),
            Err(_) if n == 0 => "an empty file".to_owned(),
            Err(_) => "not an image".to_owned(),
        };
        return Err(Error::NotPng {
            path: path.to_path_buf(),
            found,
        });
    }
    let decode_error = |source| Error::Decode {
        path: path.to_path_buf(),
        source,
    };
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    // Reads the header only.
    let decoder = PngDecoder::with_limits(reader, limits).map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    let decoded = decoder.total_bytes();
    if u64::from(width) * u64::from(height) > MAX_PIXELS || decoded > MAX_DECODED_BYTES {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            width,
            height,
            decoded,
        });
    }
    let image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    let with_alpha = image.to_luma_alpha8();
    drop(image);
    Ok(GrayImage::from_fn(
        with_alpha.width(),
        with_alpha.height(),
        |x, y| {
            let [v, a] = with_alpha.get_pixel(x, y).0;
            let (v, a) = (u32::from(v), u32::from(a));
            Luma([((v * a + 255 * (255 - a)) / 255) as u8])
        },
    ))
}

/// Prepares a grayscale image: inverts it when its border is light, stretches its levels
/// (paper to 0, strongest ink to 255), crops the ink, scales it to fit a 20×20 box (keeping the
/// aspect ratio), pastes it so that its centre of mass falls on the centre of the 28×28 field,
/// and stretches the result's levels again (thin strokes fade when scaled down; every MNIST
/// digit reaches 255).
///
/// # Errors
/// [`NoDigit`] when the image holds no digit (see the [crate documentation](crate)).
pub fn to_mnist(mut gray: GrayImage) -> Result<Vec<u8>, NoDigit> {
    if gray.width() == 0 || gray.height() == 0 {
        return Err(NoDigit::Uniform { contrast: 0 });
    }
    let (background, peak) = levels(&mut gray);
    let contrast = peak.saturating_sub(background);
    if contrast < MIN_CONTRAST {
        return Err(NoDigit::Uniform { contrast });
    }
    let paper = paper_share(&gray, background, contrast);
    if paper < MIN_PAPER_SHARE {
        return Err(NoDigit::NoPlainBackground { paper });
    }
    stretch(&mut gray, background, peak);

    let Some((x0, y0, x1, y1)) = ink_bounds(&gray) else {
        return Err(NoDigit::Uniform { contrast });
    };
    let (w, h) = (x1 - x0 + 1, y1 - y0 + 1);
    if w.max(h) < MIN_INK_SIDE {
        return Err(NoDigit::TooSmall {
            width: w,
            height: h,
        });
    }
    let stroke = mean_stroke_width(&gray);
    if stroke > MAX_STROKE_SHARE * f64::from(w.max(h)) {
        return Err(NoDigit::NotStrokes {
            stroke,
            extent: w.max(h),
        });
    }
    let scale = f64::from(BOX) / f64::from(w.max(h));
    let (sw, sh) = (
        ((f64::from(w) * scale).round() as u32).clamp(1, BOX),
        ((f64::from(h) * scale).round() as u32).clamp(1, BOX),
    );
    let cropped = imageops::crop_imm(&gray, x0, y0, w, h).to_image();
    let mut digit = imageops::resize(&cropped, sw, sh, FilterType::Triangle);
    let peak = digit.pixels().map(|p| p.0[0]).max().unwrap_or(0);
    if peak == 0 {
        return Err(NoDigit::TooFaint { mass: 0.0 });
    }
    stretch(&mut digit, 0, peak);

    let (cx, cy) = centre_of_mass(&digit);
    let centre = (SIDE as f64 - 1.0) / 2.0;
    let place =
        |c: f64, size: u32| (centre - c).round().clamp(0.0, (SIDE as u32 - size) as f64) as usize;
    let (ox, oy) = (place(cx, sw), place(cy, sh));
    let mut out = vec![0u8; SIDE * SIDE];
    for (x, y, p) in digit.enumerate_pixels() {
        out[(oy + y as usize) * SIDE + ox + x as usize] = p.0[0];
    }
    let mass = ink_mass(&out);
    if mass < MIN_INK_MASS {
        return Err(NoDigit::TooFaint { mass });
    }
    Ok(out)
}

/// Inverts `gray` when its border is light, so that ink is lighter than paper, and returns the
/// paper's level (the border's median) and the strongest ink's (the lightest pixel).
fn levels(gray: &mut GrayImage) -> (u8, u8) {
    if border_mean(gray) > 127.0 {
        imageops::invert(gray);
    }
    let background = border_median(gray);
    let peak = gray.pixels().map(|p| p.0[0]).max().unwrap_or(0);
    (background, peak)
}

/// The ink of an image, in fully inked pixels: the sum of its pixels / 255.
pub fn ink_mass(pixels: &[u8]) -> f64 {
    pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / 255.0
}

/// The share of the pixels at the paper's level: those that the stretch of [`to_mnist`] would
/// map to [`INK_THRESHOLD`] or below, on either side of the paper's level (`background`), so
/// neither ink nor a shade darker or lighter than the paper.
fn paper_share(gray: &GrayImage, background: u8, contrast: u8) -> f64 {
    let contrast = u32::from(contrast).max(1);
    let paper = gray
        .pixels()
        .filter(|p| {
            u32::from(p.0[0].abs_diff(background)) * 255 / contrast <= u32::from(INK_THRESHOLD)
        })
        .count();
    paper as f64 / (f64::from(gray.width()) * f64::from(gray.height()))
}

/// The ink's mean stroke width, in pixels, of a stretched image: twice the ink's area over the
/// length of its outline (a stroke `w` wide and `l` long covers `w·l` pixels within an outline
/// about `2·l` long). Ink is here the pixels at least half as strong as the strongest (the
/// middle of an anti-aliased edge); the outline counts the sides between an ink pixel and a
/// paper pixel, not the image's edge, beyond which ink may go on.
fn mean_stroke_width(gray: &GrayImage) -> f64 {
    let (pixels, width) = (gray.as_raw(), gray.width() as usize);
    let ink = |i: usize| pixels[i] >= 128;
    let (mut area, mut outline) = (0u64, 0u64);
    for i in 0..pixels.len() {
        let here = ink(i);
        area += u64::from(here);
        // The sides with the pixel to the right and the one below.
        outline += u64::from((i + 1) % width != 0 && ink(i + 1) != here);
        outline += u64::from(i + width < pixels.len() && ink(i + width) != here);
    }
    2.0 * area as f64 / outline.max(1) as f64
}

/// Maps `low..=high` to `0..=255` (below `low` to 0).
fn stretch(gray: &mut GrayImage, low: u8, high: u8) {
    let range = u32::from(high.saturating_sub(low)).max(1);
    for p in gray.pixels_mut() {
        let v = u32::from(p.0[0].saturating_sub(low));
        p.0[0] = (v * 255 / range).min(255) as u8;
    }
}

/// The border's pixels.
fn border(gray: &GrayImage) -> impl Iterator<Item = u8> + '_ {
    let (w, h) = gray.dimensions();
    gray.enumerate_pixels()
        .filter(move |(x, y, _)| *x == 0 || *y == 0 || *x == w - 1 || *y == h - 1)
        .map(|(_, _, p)| p.0[0])
}

fn border_mean(gray: &GrayImage) -> f64 {
    let (sum, n) = border(gray).fold((0u64, 0u64), |(s, n), p| (s + u64::from(p), n + 1));
    sum as f64 / n.max(1) as f64
}

/// The paper's level: the border's median, which a stroke touching the border barely moves.
fn border_median(gray: &GrayImage) -> u8 {
    let mut counts = [0u64; 256];
    let mut n = 0;
    for p in border(gray) {
        counts[usize::from(p)] += 1;
        n += 1;
    }
    let mut seen = 0;
    for (level, count) in counts.iter().enumerate() {
        seen += count;
        if 2 * seen >= n {
            return level as u8;
        }
    }
    0
}

/// The inclusive bounding box `(x0, y0, x1, y1)` of the ink, if there is any.
fn ink_bounds(gray: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    gray.enumerate_pixels()
        .filter(|(_, _, p)| p.0[0] > INK_THRESHOLD)
        .fold(None, |b, (x, y, _)| match b {
            None => Some((x, y, x, y)),
            Some((x0, y0, x1, y1)) => Some((x0.min(x), y0.min(y), x1.max(x), y1.max(y))),
        })
}

/// Intensity-weighted mean `(x, y)` of the pixels (the image must not be all zero).
fn centre_of_mass(gray: &GrayImage) -> (f64, f64) {
    let (mut sx, mut sy, mut total) = (0.0, 0.0, 0.0);
    for (x, y, p) in gray.enumerate_pixels() {
        let v = f64::from(p.0[0]);
        sx += f64::from(x) * v;
        sy += f64::from(y) * v;
        total += v;
    }
    (sx / total, sy / total)
}

/// Draws a 28×28 image in the terminal, one character per pixel, darker to lighter ink.
pub fn ascii(pixels: &[u8]) -> String {
    const RAMP: &[u8] = b" .:-=+*#%@";
    let mut out = String::with_capacity(SIDE * (SIDE + 1));
    for row in pixels.chunks(SIDE) {
        for &p in row {
            out.push(RAMP[usize::from(p) * (RAMP.len() - 1) / 255] as char);
        }
        out.push('\n');
    }
    out
}

/// Reads until `buf` is full or the stream ends; returns the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A light 100×60 page with a dark 20×50 bar whose top-left corner is at (10, 5).
    fn page_with_bar() -> GrayImage {
        GrayImage::from_fn(100, 60, |x, y| {
            let ink = (10..30).contains(&x) && (5..55).contains(&y);
            Luma([if ink { 0 } else { 250 }])
        })
    }

    fn field_bounds(out: &[u8]) -> (u32, u32, u32, u32) {
        let img = GrayImage::from_raw(28, 28, out.to_vec()).unwrap();
        ink_bounds(&img).unwrap()
    }

    #[test]
    fn a_light_page_is_inverted_scaled_into_20_pixels_and_centred() {
        let out = to_mnist(page_with_bar()).unwrap();
        assert_eq!(out.len(), 784);
        // White ink on black: the corners are background.
        assert_eq!(out[0], 0);
        let (x0, y0, x1, y1) = field_bounds(&out);
        // The 50-pixel-tall bar becomes 20 tall and 8 wide (20 / 50 · 20).
        assert_eq!((x1 - x0 + 1, y1 - y0 + 1), (8, 20));
        let (cx, cy) = centre_of_mass(&GrayImage::from_raw(28, 28, out).unwrap());
        assert!(
            (cx - 13.5).abs() <= 0.5 && (cy - 13.5).abs() <= 0.5,
            "{cx} {cy}"
        );
    }

    #[test]
    fn a_dark_page_is_kept_and_the_ink_stays_light() {
        let mut page = page_with_bar();
        imageops::invert(&mut page);
        let out = to_mnist(page).unwrap();
        assert_eq!(out[0], 0);
        assert_eq!(*out.iter().max().unwrap(), 255);
    }

    #[test]
    fn gray_paper_becomes_black_and_faint_ink_full_white() {
        // Mid-gray ink on light-gray paper, contrast 100 of 255.
        let page = GrayImage::from_fn(60, 60, |x, y| {
            Luma([if (25..35).contains(&x) && (10..50).contains(&y) {
                100
            } else {
                200
            }])
        });
        let out = to_mnist(page).unwrap();
        assert_eq!(out[0], 0);
        assert_eq!(*out.iter().max().unwrap(), 255);
    }

    #[test]
    fn an_off_centre_digit_is_moved_to_the_centre_by_mass() {
        // An L shape: its centre of mass is left of and below its box's centre.
        let page = GrayImage::from_fn(40, 40, |x, y| {
            let ink = (x < 4 && y < 40) || (y >= 36 && x < 20);
            Luma([if ink { 255 } else { 0 }])
        });
        let out = to_mnist(page).unwrap();
        let (cx, cy) = centre_of_mass(&GrayImage::from_raw(28, 28, out).unwrap());
        assert!(
            (cx - 13.5).abs() <= 0.5 && (cy - 13.5).abs() <= 0.5,
            "{cx} {cy}"
        );
    }

    #[test]
    fn a_blank_or_uniform_gray_image_has_no_digit() {
        for level in [0, 128, 255] {
            let err = to_mnist(GrayImage::from_pixel(28, 28, Luma([level]))).unwrap_err();
            assert_eq!(err, NoDigit::Uniform { contrast: 0 }, "{level}");
        }
        assert!(
            to_mnist(GrayImage::new(0, 0)).is_err(),
            "an empty image has no digit"
        );
    }

    #[test]
    fn a_faint_smudge_has_no_digit_and_a_contrast_of_a_quarter_does() {
        let smudge = |ink: u8| {
            GrayImage::from_fn(60, 60, move |x, y| {
                Luma([if (20..40).contains(&x) && (10..50).contains(&y) {
                    ink
                } else {
                    240
                }])
            })
        };
        // 240 - 180 = 60 levels: below a quarter of the range.
        assert_eq!(
            to_mnist(smudge(180)).unwrap_err(),
            NoDigit::Uniform { contrast: 60 }
        );
        // 240 - 170 = 70: a digit.
        assert!(to_mnist(smudge(170)).is_ok());
    }

    #[test]
    fn a_speck_has_no_digit() {
        let page = GrayImage::from_fn(200, 200, |x, y| {
            Luma([if (100..103).contains(&x) && (50..54).contains(&y) {
                0
            } else {
                255
            }])
        });
        assert_eq!(
            to_mnist(page).unwrap_err(),
            NoDigit::TooSmall {
                width: 3,
                height: 4
            }
        );
    }

    #[test]
    fn a_few_stray_dots_have_no_digit() {
        // Three dark dots at far corners of a white page: a wide bounding box, almost no ink.
        let page = GrayImage::from_fn(300, 300, |x, y| {
            let dot = [(10, 10), (290, 20), (150, 285)]
                .iter()
                .any(|&(dx, dy)| x.abs_diff(dx) <= 1 && y.abs_diff(dy) <= 1);
            Luma([if dot { 0 } else { 255 }])
        });
        assert!(
            matches!(to_mnist(page).unwrap_err(), NoDigit::TooFaint { mass } if mass < MIN_INK_MASS),
        );
    }

    #[test]
    fn a_thin_stroke_on_a_large_canvas_is_still_a_digit() {
        // A one-pixel "7" on a 500×500 canvas: faint once scaled down 20 times, stretched back.
        let page = GrayImage::from_fn(500, 500, |x, y| {
            let top = y == 50 && (100..400).contains(&x);
            let diagonal = (50..450).contains(&y) && x == 400 - (y - 50) * 3 / 4;
            Luma([if top || diagonal { 0 } else { 255 }])
        });
        let out = to_mnist(page).unwrap();
        assert_eq!(*out.iter().max().unwrap(), 255);
        assert!(ink_mass(&out) >= MIN_INK_MASS, "{}", ink_mass(&out));
    }

    #[test]
    fn the_mean_stroke_width_of_bars_and_of_ink_cut_by_the_edge() {
        // A bar 10 wide and 50 long inside the image: area 500, outline 2·(10 + 50).
        let bar = GrayImage::from_fn(100, 80, |x, y| {
            Luma([if (20..30).contains(&x) && (10..60).contains(&y) {
                255
            } else {
                0
            }])
        });
        assert!((mean_stroke_width(&bar) - 1000.0 / 120.0).abs() < 1e-12);
        // A one-pixel line 40 long: 2·40 / (2·40 + 2).
        let line = GrayImage::from_fn(60, 60, |x, y| {
            Luma([if y == 30 && (10..50).contains(&x) {
                200
            } else {
                0
            }])
        });
        assert!((mean_stroke_width(&line) - 80.0 / 82.0).abs() < 1e-12);
        // Ink up to the image's edge: only the side facing paper is outline. The right 30 of
        // 100 columns, 60 rows: 2·1800 / 60.
        let edge = GrayImage::from_fn(100, 60, |x, _| Luma([if x >= 70 { 255 } else { 0 }]));
        assert!((mean_stroke_width(&edge) - 60.0).abs() < 1e-12);
        // Ink is at least half the strongest: 127 is paper.
        let faint = GrayImage::from_fn(10, 10, |x, _| Luma([if x < 5 { 127 } else { 0 }]));
        assert_eq!(mean_stroke_width(&faint), 0.0);
    }

    #[test]
    fn paper_is_within_an_eighth_of_the_contrast_on_either_side() {
        // Paper at 100, contrast 160: levels within 160·32/255 (20.08) of it count, 21 away
        // do not, on either side.
        let row = [100, 80, 120, 79, 121, 255, 100, 100, 100, 100];
        let gray = GrayImage::from_fn(10, 1, |x, _| Luma([row[x as usize]]));
        assert!((paper_share(&gray, 100, 160) - 0.7).abs() < 1e-12);
    }

    /// MNIST's digits, when present, against the two tests of strokes on plain paper: the
    /// extremes the thresholds' docs quote, and the margins they leave.
    #[test]
    fn mnist_digits_are_on_plain_paper_and_made_of_strokes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut checked = 0;
        for name in [mnist_io::TEST_IMAGES, mnist_io::TRAIN_IMAGES] {
            let Some(path) = [root.join("data/mnist"), root.join("../shared/data/mnist")]
                .iter()
                .find_map(|dir| mnist_io::find_file(dir, name))
            else {
                eprintln!("skipped {name}: real MNIST not found (run `cargo xtask fetch-mnist`)");
                continue;
            };
            let images = mnist_io::idx::read_images(&path).unwrap();
            let (mut least_paper, mut most_stroke) = ((1.0, 0), (0.0, 0));
            for i in 0..images.count() {
                let mut gray = GrayImage::from_raw(28, 28, images.image(i).to_vec()).unwrap();
                let (background, peak) = levels(&mut gray);
                let paper = paper_share(&gray, background, peak - background);
                stretch(&mut gray, background, peak);
                let (x0, y0, x1, y1) = ink_bounds(&gray).unwrap();
                let extent = (x1 - x0 + 1).max(y1 - y0 + 1);
                let stroke = mean_stroke_width(&gray) / f64::from(extent);
                if paper < least_paper.0 {
                    least_paper = (paper, i);
                }
                if stroke > most_stroke.0 {
                    most_stroke = (stroke, i);
                }
            }
            eprintln!(
                "{name}: least paper share {:.3} (image {}), most stroke share {:.3} (image {})",
                least_paper.0, least_paper.1, most_stroke.0, most_stroke.1
            );
            assert!(least_paper.0 >= MIN_PAPER_SHARE + 0.15, "{least_paper:?}");
            assert!(most_stroke.0 <= MAX_STROKE_SHARE - 0.1, "{most_stroke:?}");
            checked += images.count();
        }
        eprintln!("{checked} MNIST digits checked");
    }

    #[test]
    fn ascii_uses_blank_for_background_and_at_for_full_ink() {
        let mut pixels = vec![0u8; 784];
        pixels[29] = 255;
        let art = ascii(&pixels);
        assert_eq!(art.lines().count(), 28);
        assert_eq!(art.lines().nth(1).unwrap().chars().nth(1), Some('@'));
        assert_eq!(art.chars().filter(|&c| c == '@').count(), 1);
    }
}
