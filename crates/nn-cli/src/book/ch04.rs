//! `book gradients` (`gradient_1d.py`, `gradient_2d.py`, `gradient_method.py`) and
//! `book simplenet` (`gradient_simplenet.py`).

use anyhow::Result;
use nn_core::functions::{cross_entropy_error, softmax};
use nn_core::gradient::{numerical_diff, numerical_gradient};
use nn_core::{Matrix, Targets};
use plotters::prelude::*;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use super::BookArgs;
use crate::book_check::gradient_descent_path;
use crate::experiment::charts::{self, COLORS, Curve, Marker, Panel};

/// The book's `function_1`, `0.01x² + 0.1x`.
fn function_1(x: f64) -> f64 {
    0.01 * (x * x) + 0.1 * x
}

/// The numerical gradient of `x0² + x1²` at `(x0, x1)` (the book's `function_2`).
fn gradient_2(x0: f64, x1: f64) -> (f64, f64) {
    let mut x = Matrix::from_column_slice(2, 1, &[x0, x1]);
    let g = numerical_gradient(
        |x: &mut Matrix<f64>| x[0] * x[0] + x[1] * x[1],
        &mut x,
        |x| x,
    );
    (g[0], g[1])
}

/// An arrow from `(x, y)` along `(dx, dy)`, with a head: one polyline.
fn arrow(x: f64, y: f64, dx: f64, dy: f64) -> Vec<(f64, f64)> {
    let tip = (x + dx, y + dy);
    let len = dx.hypot(dy);
    if len == 0.0 {
        return vec![(x, y)];
    }
    let (ux, uy) = (dx / len, dy / len);
    let head = 0.3 * len;
    let side = |s: f64| {
        (
            tip.0 - head * ux + s * 0.5 * head * -uy,
            tip.1 - head * uy + s * 0.5 * head * ux,
        )
    };
    vec![(x, y), tip, side(1.0), tip, side(-1.0)]
}

/// Runs `book gradients`.
pub fn gradients(args: &BookArgs) -> Result<()> {
    let d5 = numerical_diff(function_1, 5.0);
    let d10 = numerical_diff(function_1, 10.0);
    println!("gradient_1d.py: numerical_diff(function_1, 5) = {d5}, at 10 = {d10}");
    let (g34, g02, g30) = (
        gradient_2(3.0, 4.0),
        gradient_2(0.0, 2.0),
        gradient_2(3.0, 0.0),
    );
    println!(
        "gradient_2d.py: numerical_gradient at (3, 4) = {g34:?}, (0, 2) = {g02:?}, (3, 0) = {g30:?}"
    );
    let (end, path) = gradient_descent_path([-3.0, 4.0], 0.1, 20);
    println!(
        "gradient_method.py: 20 steps of lr 0.1 from (-3, 4) end at ({}, {})",
        end[0], end[1]
    );

    // gradient_1d: the function on [0, 20) and its tangent at 5.
    let xs: Vec<f64> = (0..200).map(|i| 0.1 * f64::from(i)).collect();
    let tangent = |t: f64| d5 * t + (function_1(5.0) - d5 * 5.0);
    // gradient_2d: −∇f on the book's grid, arange(−2, 2.5, 0.25), arrows scaled to the grid.
    let grid: Vec<f64> = (0..18).map(|i| -2.0 + 0.25 * f64::from(i)).collect();
    let mut field = Vec::new();
    for &x1 in &grid {
        for &x0 in &grid {
            let (g0, g1) = gradient_2(x0, x1);
            field.push((x0, x1, -g0, -g1));
        }
    }
    let svg = charts::figure(
        (1200, 420),
        "gradient_1d.py, gradient_2d.py, gradient_method.py (ch04)",
        |area| {
            let panels = area.split_evenly((1, 3));
            let curves = [
                Curve::new(
                    "f(x)",
                    xs.iter().map(|&x| (x, function_1(x))).collect(),
                    COLORS[0],
                ),
                Curve::new(
                    "tangent at 5",
                    xs.iter().map(|&x| (x, tangent(x))).collect(),
                    COLORS[1],
                ),
            ];
            charts::draw_panel(
                &panels[0],
                &Panel {
                    title: "f(x) = 0.01x² + 0.1x and its tangent at 5",
                    x_label: "x",
                    y_label: "f(x)",
                    x: 0.0..20.0,
                    y: -1.0..6.0,
                    curves: &curves,
                    legend: Some(SeriesLabelPosition::UpperLeft),
                    font_size: 16,
                },
            )?;
            let grey = RGBColor(0x66, 0x66, 0x66);
            let arrows: Vec<Curve> = field
                .iter()
                .map(|&(x, y, dx, dy)| Curve::new("", arrow(x, y, 0.05 * dx, 0.05 * dy), grey))
                .collect();
            charts::draw_panel(
                &panels[1],
                &Panel {
                    title: "−∇(x0² + x1²) (arrows at 1/20 scale)",
                    x_label: "x0",
                    y_label: "x1",
                    x: -2.0..2.0,
                    y: -2.0..2.0,
                    curves: &arrows,
                    legend: None,
                    font_size: 16,
                },
            )?;
            let descent = [
                Curve::new("", vec![(-5.0, 0.0), (5.0, 0.0)], COLORS[0]).dashed(),
                Curve::new("", vec![(0.0, -4.5), (0.0, 4.5)], COLORS[0]).dashed(),
            ];
            let mut curves = descent.to_vec();
            curves.extend(
                path.iter()
                    .map(|&p| Curve::new("", vec![p], COLORS[1]).marked(Marker::Circle, 1)),
            );
            charts::draw_panel(
                &panels[2],
                &Panel {
                    title: "gradient descent from (-3, 4), lr 0.1, 20 steps",
                    x_label: "X0",
                    y_label: "X1",
                    x: -3.5..3.5,
                    y: -4.5..4.5,
                    curves: &curves,
                    legend: None,
                    font_size: 16,
                },
            )?;
            Ok(())
        },
    )?;
    args.write(&svg, |w| {
        writeln!(w, "figure,x,y,dx,dy")?;
        for &x in &xs {
            writeln!(w, "gradient_1d,{x},{},,", function_1(x))?;
        }
        for &(x, y, dx, dy) in &field {
            writeln!(w, "gradient_2d,{x},{y},{dx},{dy}")?;
        }
        for &(x, y) in &path {
            writeln!(w, "gradient_method,{x},{y},,")?;
        }
        Ok(())
    })
}

/// The `W` the book prints in §4.4.2 (its random draw, to 8 digits).
pub const BOOK_W: [[f64; 3]; 2] = [
    [0.47355232, 0.9977393, 0.84668094],
    [0.85557411, 0.03563661, 0.69422093],
];

/// `simpleNet`'s loss: cross-entropy of `softmax(x·W)` for the label 2 (`t = [0, 0, 1]`), with
/// our layout (`Wᵀ·x` for the book's `x·W`, `W` stored 2×3 as the book's).
fn simple_net_loss(w: &Matrix<f64>, x: &[f64; 2]) -> f64 {
    let xm = Matrix::from_column_slice(2, 1, x);
    let scores = w.transpose() * xm;
    cross_entropy_error(&softmax(&scores), Targets::Labels(&[2]))
}

/// The gradient `dW` of `simpleNet` at `w`, by `numerical_gradient`, and its loss.
pub fn simple_net_gradient(w: [[f64; 3]; 2]) -> (f64, Matrix<f64>) {
    let mut w = Matrix::from_row_slice(2, 3, w.as_flattened());
    let x = [0.6, 0.9];
    let loss = simple_net_loss(&w, &x);
    let dw = numerical_gradient(|w: &mut Matrix<f64>| simple_net_loss(w, &x), &mut w, |w| w);
    (loss, dw)
}

/// Runs `book simplenet`.
pub fn simplenet(args: &BookArgs) -> Result<()> {
    let w = if args.random {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
        let mut w = [[0.0; 3]; 2];
        for v in w.as_flattened_mut() {
            *v = StandardNormal.sample(&mut rng);
        }
        w
    } else {
        BOOK_W
    };
    let (loss, dw) = simple_net_gradient(w);
    let show = |m: &[[f64; 3]; 2]| {
        m.iter()
            .map(|r| format!("[{:.8}, {:.8}, {:.8}]", r[0], r[1], r[2]))
            .collect::<Vec<_>>()
            .join("\n ")
    };
    println!(
        "W (the {}):\n[{}]",
        if args.random {
            "seeded random draw"
        } else {
            "book's, §4.4.2"
        },
        show(&w)
    );
    let wm = Matrix::from_row_slice(2, 3, w.as_flattened());
    let p = wm.transpose() * Matrix::from_column_slice(2, 1, &[0.6, 0.9]);
    println!("p = x·W = [{:.8}, {:.8}, {:.8}]", p[0], p[1], p[2]);
    println!("loss = {loss}");
    let rows = [
        [dw[(0, 0)], dw[(0, 1)], dw[(0, 2)]],
        [dw[(1, 0)], dw[(1, 1)], dw[(1, 2)]],
    ];
    println!("dW:\n[{}]", show(&rows));
    Ok(())
}
