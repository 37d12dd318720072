//! A user's own digit, prepared the way MNIST's digits were: grayscale, white ink on black,
//! scaled into a 20×20 box and centred by centre of mass in a 28×28 field.

use std::path::Path;

use anyhow::{Context, Result, bail};
use image::imageops::{self, FilterType};
use image::{GrayImage, ImageReader, Luma};

/// Side of an MNIST image.
pub const SIDE: usize = 28;
/// Side of the box the digit is scaled into.
const BOX: u32 = 20;
/// Pixels at or below this value (after inversion) count as background.
const INK_THRESHOLD: u8 = 32;

/// Reads a PNG and turns it into the 28×28 row-major MNIST input (0 background, 255 ink).
pub fn load_digit(path: &Path) -> Result<Vec<u8>> {
    let decoded = ImageReader::open(path)
        .with_context(|| format!("cannot open image {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read image {}", path.display()))?
        .decode()
        .with_context(|| format!("cannot decode {} (only PNG is supported)", path.display()))?;
    // Composite transparency over white, as an image viewer shows it.
    let with_alpha = decoded.to_luma_alpha8();
    let gray = GrayImage::from_fn(with_alpha.width(), with_alpha.height(), |x, y| {
        let [v, a] = with_alpha.get_pixel(x, y).0;
        let (v, a) = (u32::from(v), u32::from(a));
        Luma([((v * a + 255 * (255 - a)) / 255) as u8])
    });
    to_mnist(gray).with_context(|| format!("cannot use {} as a digit", path.display()))
}

/// Prepares a grayscale image: inverts it when its border is light, crops the ink, scales it to
/// fit a 20×20 box (keeping the aspect ratio) and pastes it so that its centre of mass falls on
/// the centre of the 28×28 field.
pub fn to_mnist(mut gray: GrayImage) -> Result<Vec<u8>> {
    if border_mean(&gray) > 127.0 {
        imageops::invert(&mut gray);
    }
    let Some((x0, y0, x1, y1)) = ink_bounds(&gray) else {
        bail!("the image is blank: no stroke darker or lighter than its background");
    };
    let (w, h) = (x1 - x0 + 1, y1 - y0 + 1);
    let scale = BOX as f64 / w.max(h) as f64;
    let (sw, sh) = (
        ((w as f64 * scale).round() as u32).clamp(1, BOX),
        ((h as f64 * scale).round() as u32).clamp(1, BOX),
    );
    let cropped = imageops::crop_imm(&gray, x0, y0, w, h).to_image();
    let digit = imageops::resize(&cropped, sw, sh, FilterType::Triangle);

    let (cx, cy) = centre_of_mass(&digit);
    let centre = (SIDE as f64 - 1.0) / 2.0;
    let place =
        |c: f64, size: u32| (centre - c).round().clamp(0.0, (SIDE as u32 - size) as f64) as usize;
    let (ox, oy) = (place(cx, sw), place(cy, sh));
    let mut out = vec![0u8; SIDE * SIDE];
    for (x, y, p) in digit.enumerate_pixels() {
        out[(oy + y as usize) * SIDE + ox + x as usize] = p.0[0];
    }
    Ok(out)
}

fn border_mean(gray: &GrayImage) -> f64 {
    let (w, h) = gray.dimensions();
    let border = gray
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == w - 1 || *y == h - 1);
    let (sum, n) = border.fold((0u64, 0u64), |(s, n), (_, _, p)| {
        (s + u64::from(p.0[0]), n + 1)
    });
    sum as f64 / n.max(1) as f64
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
        sx += x as f64 * v;
        sy += y as f64 * v;
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
    fn a_blank_image_is_an_error() {
        let err = to_mnist(GrayImage::from_pixel(28, 28, Luma([255]))).unwrap_err();
        assert!(err.to_string().contains("blank"));
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
