//! Shapes of samples and of the windows moved over them (a convolution's filters, a pooling
//! window), with the book's output size (§7.2.4):
//!
//! ```text
//! OH = (H + 2·pad − FH) / stride + 1        OW = (W + 2·pad − FW) / stride + 1
//! ```
//!
//! in **integer division**, as the book's code computes it: when the window does not fit a whole
//! number of times, the last rows and columns of the input that no window reaches are ignored.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The shape of one sample: `channels × height × width` values, stored in that order (the
/// memory of NumPy's `(C, H, W)`) in one column of a batch. A flat vector of `n` values is
/// `n × 1 × 1`.
///
/// ```
/// use nn_kernels::Shape;
/// assert_eq!(Shape::new(30, 12, 12).len(), Some(4320));
/// assert_eq!(Shape::flat(10).to_string(), "10");
/// assert_eq!(Shape::new(1, 28, 28).to_string(), "1×28×28");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    /// Channels (1 for MNIST's images).
    pub channels: usize,
    /// Rows of each channel.
    pub height: usize,
    /// Columns of each channel.
    pub width: usize,
}

impl Shape {
    /// A `channels × height × width` shape.
    pub const fn new(channels: usize, height: usize, width: usize) -> Self {
        Shape {
            channels,
            height,
            width,
        }
    }

    /// A flat vector of `n` values (`n × 1 × 1`).
    pub const fn flat(n: usize) -> Self {
        Shape::new(n, 1, 1)
    }

    /// The number of values, `channels · height · width`, or `None` if it overflows `usize`.
    pub fn len(&self) -> Option<usize> {
        self.channels
            .checked_mul(self.height)?
            .checked_mul(self.width)
    }

    /// Whether the shape holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Whether it is a flat vector (`n × 1 × 1`).
    pub fn is_flat(&self) -> bool {
        self.height == 1 && self.width == 1
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_flat() {
            write!(f, "{}", self.channels)
        } else {
            write!(f, "{}×{}×{}", self.channels, self.height, self.width)
        }
    }
}

/// A window moved over the input: `height × width` values, moved by `stride`, over the input
/// padded with `pad` zeros on every side (a convolution's filter, a pooling window).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    /// Rows of the window (`FH`, `pool_h`).
    pub height: usize,
    /// Columns of the window (`FW`, `pool_w`).
    pub width: usize,
    /// Step between two positions, in both directions.
    pub stride: usize,
    /// Zeros added on every side of the input.
    pub pad: usize,
}

impl Window {
    /// A `size × size` window.
    pub const fn square(size: usize, stride: usize, pad: usize) -> Self {
        Window {
            height: size,
            width: size,
            stride,
            pad,
        }
    }
}

/// Why a window cannot move over an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    /// The window holds no value.
    #[error("the window is {height}×{width}: it needs at least 1×1 values")]
    EmptyWindow {
        /// Its rows.
        height: usize,
        /// Its columns.
        width: usize,
    },
    /// The stride is 0.
    #[error("the stride is 0: use at least 1")]
    ZeroStride,
    /// The input holds no value.
    #[error("the input {0} holds no value")]
    EmptyInput(Shape),
    /// The window is larger than the padded input.
    #[error(
        "the {window_h}×{window_w} window is larger than the input's {input_h}×{input_w} \
         (padded: {padded_h}×{padded_w}): use a smaller window or more padding"
    )]
    WindowTooLarge {
        /// The window's rows.
        window_h: usize,
        /// The window's columns.
        window_w: usize,
        /// The input's rows.
        input_h: usize,
        /// The input's columns.
        input_w: usize,
        /// The padded input's rows.
        padded_h: usize,
        /// The padded input's columns.
        padded_w: usize,
    },
    /// A size overflows `usize`: the padding, the input, or the patches laid out in memory.
    #[error("the sizes overflow: {0} does not fit in memory's address range")]
    Overflow(&'static str),
}

/// A window over an input shape, checked: the input, the window and the number of output
/// positions.
///
/// ```
/// use nn_kernels::{Geometry, GeometryError, Shape, Window};
/// let g = Geometry::new(Shape::new(1, 28, 28), Window::square(5, 1, 0))?;
/// assert_eq!((g.out_h, g.out_w), (24, 24));
/// let g = Geometry::new(Shape::new(1, 7, 7), Window::square(2, 2, 0))?; // 7 = 3·2 + 1
/// assert_eq!((g.out_h, g.out_w), (3, 3)); // the last row and column are ignored
/// let err = Geometry::new(Shape::new(1, 2, 2), Window::square(3, 1, 0)).unwrap_err();
/// assert!(matches!(err, GeometryError::WindowTooLarge { .. }));
/// # Ok::<(), GeometryError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// The shape of one input sample, `C × H × W`.
    pub input: Shape,
    /// The window.
    pub window: Window,
    /// Output rows, `(H + 2·pad − FH) / stride + 1`.
    pub out_h: usize,
    /// Output columns, `(W + 2·pad − FW) / stride + 1`.
    pub out_w: usize,
}

impl Geometry {
    /// The geometry of `window` over samples of shape `input`.
    ///
    /// # Errors
    /// What is wrong: an empty window or input, a stride of 0, a window larger than the padded
    /// input, or sizes beyond the address range.
    pub fn new(input: Shape, window: Window) -> Result<Self, GeometryError> {
        let Window {
            height: fh,
            width: fw,
            stride,
            pad,
        } = window;
        if fh == 0 || fw == 0 {
            return Err(GeometryError::EmptyWindow {
                height: fh,
                width: fw,
            });
        }
        if stride == 0 {
            return Err(GeometryError::ZeroStride);
        }
        match input.len() {
            None => return Err(GeometryError::Overflow("the input")),
            Some(0) => return Err(GeometryError::EmptyInput(input)),
            Some(_) => {}
        }
        let padded = |n: usize| n.checked_add(pad.checked_mul(2)?);
        let (Some(ph), Some(pw)) = (padded(input.height), padded(input.width)) else {
            return Err(GeometryError::Overflow("the padded input"));
        };
        if fh > ph || fw > pw {
            return Err(GeometryError::WindowTooLarge {
                window_h: fh,
                window_w: fw,
                input_h: input.height,
                input_w: input.width,
                padded_h: ph,
                padded_w: pw,
            });
        }
        let geometry = Geometry {
            input,
            window,
            out_h: (ph - fh) / stride + 1,
            out_w: (pw - fw) / stride + 1,
        };
        geometry
            .col_len_checked()
            .ok_or(GeometryError::Overflow("the patches laid out as a col"))?;
        Ok(geometry)
    }

    /// Output positions per channel, `OH·OW`.
    pub fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Values of one patch, `C·FH·FW`: the weights of one filter.
    pub fn patch_len(&self) -> usize {
        self.input.channels * self.window.height * self.window.width
    }

    /// Values of one input sample, `C·H·W`.
    pub fn input_len(&self) -> usize {
        self.input.channels * self.input.height * self.input.width
    }

    /// Values of the col of one sample, `OH·OW · C·FH·FW`.
    pub fn col_len(&self) -> usize {
        self.positions() * self.patch_len()
    }

    fn col_len_checked(&self) -> Option<usize> {
        self.out_h
            .checked_mul(self.out_w)?
            .checked_mul(self.input.channels)?
            .checked_mul(self.window.height)?
            .checked_mul(self.window.width)
    }

    /// Whether the windows move by 1 and the output rows are as long as the input rows (`OW = W`),
    /// as in "same" convolutions: then im2col copies whole shifted channels.
    pub(crate) fn keeps_width(&self) -> bool {
        self.window.stride == 1 && self.out_w == self.input.width
    }

    /// The output columns `ox` whose window column `fx` lands inside the input (not in the
    /// padding), as a range, and the input column of the first one.
    pub(crate) fn valid_columns(&self, fx: usize) -> (std::ops::Range<usize>, usize) {
        let range = valid(
            self.window.stride,
            self.window.pad,
            fx,
            self.input.width,
            self.out_w,
        );
        let first = (range.start * self.window.stride + fx).saturating_sub(self.window.pad);
        (range, first)
    }

    /// The input row of output row `oy` and window row `fy`, or `None` in the padding.
    pub(crate) fn input_row(&self, oy: usize, fy: usize) -> Option<usize> {
        (oy * self.window.stride + fy)
            .checked_sub(self.window.pad)
            .filter(|&iy| iy < self.input.height)
    }
}

/// The outputs `o < out` with `0 ≤ o·stride + f − pad < len`.
pub(crate) fn valid(
    stride: usize,
    pad: usize,
    f: usize,
    len: usize,
    out: usize,
) -> std::ops::Range<usize> {
    // o·stride ≥ pad − f  and  o·stride ≤ len − 1 + pad − f
    let lo = pad.saturating_sub(f).div_ceil(stride);
    let hi = match (len + pad).checked_sub(f + 1) {
        Some(top) => (top / stride + 1).min(out),
        None => 0,
    };
    lo.min(hi)..hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ranges_match_a_scan() {
        for stride in 1..4 {
            for pad in 0..3 {
                for f in 0..4 {
                    for len in 1..7 {
                        let out = 9;
                        let scan: Vec<usize> = (0..out)
                            .filter(|&o| {
                                let i = (o * stride + f) as isize - pad as isize;
                                (0..len as isize).contains(&i)
                            })
                            .collect();
                        let range: Vec<usize> = valid(stride, pad, f, len, out).collect();
                        assert_eq!(range, scan, "stride {stride} pad {pad} f {f} len {len}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_bad_window_has_its_error() {
        let s = Shape::new(1, 4, 4);
        assert_eq!(
            Geometry::new(s, Window::square(0, 1, 0)),
            Err(GeometryError::EmptyWindow {
                height: 0,
                width: 0
            })
        );
        assert_eq!(
            Geometry::new(s, Window::square(2, 0, 0)),
            Err(GeometryError::ZeroStride)
        );
        assert_eq!(
            Geometry::new(Shape::new(0, 4, 4), Window::square(2, 1, 0)),
            Err(GeometryError::EmptyInput(Shape::new(0, 4, 4)))
        );
        assert!(matches!(
            Geometry::new(s, Window::square(5, 1, 0)),
            Err(GeometryError::WindowTooLarge { padded_h: 4, .. })
        ));
        assert_eq!(
            Geometry::new(s, Window::square(2, 1, usize::MAX / 2 + 1)),
            Err(GeometryError::Overflow("the padded input"))
        );
        assert_eq!(
            Geometry::new(Shape::new(usize::MAX, 2, 1), Window::square(1, 1, 0)),
            Err(GeometryError::Overflow("the input"))
        );
    }
}
