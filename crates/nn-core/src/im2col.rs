//! `im2col` and `col2im` (§7.4.3, the book's `common/util.py`): a convolution's input patches
//! laid out as the rows of a matrix, so that the convolution becomes one matrix product, and
//! back.
//!
//! For a sample of shape `C × H × W` and a window of `FH × FW` moved by `stride` over the input
//! padded with `pad` zeros on every side, the output has `OH × OW` positions (§7.2.4):
//!
//! ```text
//! OH = (H + 2·pad − FH) / stride + 1        OW = (W + 2·pad − FW) / stride + 1
//! ```
//!
//! in integer division, as the book's code computes it ([`Geometry::new`] accepts windows that
//! do not fit a whole number of times; the last rows and columns no window reaches are ignored).
//!
//! The **col of a sample** is the book's `col` for that sample: `(OH·OW, C·FH·FW)`, one row per
//! output position, one column per weight of a filter. We store it column-major, so each weight
//! `k = (c, fy, fx)` has a plane of `OH·OW` values: the input value it meets at each position.
//! The loops (with fast paths for "same" convolutions) are [`nn_kernels::im2col`]'s.
//!
//! ```
//! use nn_core::Shape;
//! use nn_core::im2col::{Geometry, Window, col2im, im2col};
//! // One 3×3 channel, a 2×2 window, stride 1, no padding: 2×2 positions, 4 planes.
//! let g = Geometry::new(Shape::new(1, 3, 3), Window::square(2, 1, 0))?;
//! assert_eq!((g.out_h, g.out_w, g.patch_len()), (2, 2, 4));
//! let x = [1.0_f64, 2.0, 3.,
//!          4.0, 5.0, 6.,
//!          7.0, 8.0, 9.];
//! let mut col = vec![0.0; g.col_len()];
//! im2col(&x, &g, &mut col);
//! assert_eq!(col, [1., 2., 4., 5.,   // weight (0, 0) at the four positions
//!                  2., 3., 5., 6.,   // weight (0, 1)
//!                  4., 5., 7., 8.,   // weight (1, 0)
//!                  5., 6., 8., 9.]); // weight (1, 1)
//! // col2im adds every value back where it came from: the centre was in all four patches.
//! let mut back = [0.0; 9];
//! col2im(&col, &g, &mut back);
//! assert_eq!(back, [1., 4., 3., 8., 20., 12., 7., 16., 9.]);
//! # Ok::<(), nn_core::im2col::GeometryError>(())
//! ```

pub use nn_kernels::im2col::{col2im, im2col};
pub use nn_kernels::{Geometry, GeometryError, Window};
