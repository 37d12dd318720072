//! Grids of small gray images as SVG: the misclassified test digits of `eval --misclassified`
//! (the book's `ch08/misclassified_mnist.py`) and the first layer's filters of `filters` (the
//! book's `ch07/visualize_filter.py`). Both draw as matplotlib's `cmap=gray_r` does: 0 white,
//! 255 black, each pixel a square, white pixels left out.

use std::fmt::Write;

/// Space around each image, and the height of the caption line below it.
const GAP: usize = 8;
const CAPTION: usize = 16;

/// One image of a grid: its gray levels (0 white, 255 black), row by row, and its caption.
pub struct Tile<'a> {
    /// `height × width` gray levels, row by row.
    pub levels: &'a [u8],
    /// The text under the image.
    pub caption: String,
}

/// How a grid is laid out: each image `height × width` pixels drawn as squares of side `pixel`,
/// `columns` images per row.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Image rows.
    pub height: usize,
    /// Image columns.
    pub width: usize,
    /// Side of one image pixel, in SVG units.
    pub pixel: usize,
    /// Images per row of the grid.
    pub columns: usize,
}

/// An SVG grid of `tiles` laid out by `layout`, under `title`. Each tile is a
/// `<g class="tile">` holding a frame, one `<rect class="px">` per non-white pixel (`data-i` its
/// index in the image, its fill the gray level) and its caption.
pub fn grid(title: &str, tiles: &[Tile<'_>], layout: Layout) -> String {
    let Layout {
        height,
        width,
        pixel,
        columns,
    } = layout;
    let columns = columns.max(1);
    let rows = tiles.len().div_ceil(columns);
    let (cell_w, cell_h) = (width * pixel + 2 * GAP, height * pixel + 2 * GAP + CAPTION);
    let (total_w, total_h) = (columns * cell_w, rows * cell_h + 2 * CAPTION);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" viewBox="0 0 {total_w} {total_h}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{total_w}" height="{total_h}" fill="white"/><text x="{}" y="{}" font-size="14" text-anchor="middle">{}</text>"#,
        total_w / 2,
        CAPTION + 4,
        escape(title)
    );
    for (n, tile) in tiles.iter().enumerate() {
        assert_eq!(
            tile.levels.len(),
            height * width,
            "a tile of {height}×{width}"
        );
        let (x0, y0) = (
            (n % columns) * cell_w + GAP,
            (n / columns) * cell_h + GAP + 2 * CAPTION,
        );
        let _ = writeln!(
            svg,
            r#"<g class="tile"><rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="lightgray"/>"#,
            x0 - 1,
            y0 - 1,
            width * pixel + 2,
            height * pixel + 2
        );
        for (i, &level) in tile.levels.iter().enumerate() {
            if level == 0 {
                continue;
            }
            let gray = 255 - level;
            let _ = writeln!(
                svg,
                r#"<rect class="px" data-i="{i}" x="{}" y="{}" width="{pixel}" height="{pixel}" fill="rgb({gray},{gray},{gray})"/>"#,
                x0 + (i % width) * pixel,
                y0 + (i / width) * pixel
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">{}</text></g>"#,
            x0 + width * pixel / 2,
            y0 + height * pixel + CAPTION - 2,
            escape(&tile.caption)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Gray levels of `values` scaled from their own minimum (white, 0) to their maximum (black,
/// 255), as `imshow` scales each filter; all white if they are all equal.
pub fn scaled_levels(values: &[f32]) -> Vec<u8> {
    let (min, max) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let range = max - min;
    values
        .iter()
        .map(|&v| {
            if range > 0.0 {
                (255.0 * (v - min) / range).round() as u8
            } else {
                0
            }
        })
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_run_from_the_minimum_to_the_maximum() {
        assert_eq!(scaled_levels(&[-1.0, 0.0, 1.0, 0.5]), [0, 128, 255, 191]);
        assert_eq!(scaled_levels(&[2.0, 2.0]), [0, 0]);
    }

    #[test]
    fn a_grid_draws_each_dark_pixel_once_at_its_place() {
        let levels = [0, 255, 0, 100];
        let tiles = [
            Tile {
                levels: &levels,
                caption: "7 → 2".into(),
            },
            Tile {
                levels: &levels,
                caption: "a<b".into(),
            },
        ];
        let layout = Layout {
            height: 2,
            width: 2,
            pixel: 4,
            columns: 1,
        };
        let svg = grid("t", &tiles, layout);
        assert_eq!(svg.matches(r#"class="tile""#).count(), 2);
        assert_eq!(svg.matches(r#"class="px""#).count(), 4);
        // Pixel 1 of the first tile: column 1, row 0, black.
        assert!(svg.contains(r#"data-i="1" x="12" y="40" width="4" height="4" fill="rgb(0,0,0)""#));
        assert!(
            svg.contains(
                r#"data-i="3" x="12" y="44" width="4" height="4" fill="rgb(155,155,155)""#
            )
        );
        assert!(svg.contains("a&lt;b"));
    }
}
