//! `book activations` (`step_function.py`, `sigmoid.py`, `relu.py`, `sig_step_compare.py`) and
//! `book mnist-show` (`mnist_show.py`).

use anyhow::{Result, bail};
use nn_core::functions::{relu, sigmoid, step};
use plotters::prelude::*;

use super::BookArgs;
use crate::experiment::charts::{self, COLORS, Curve, Panel};
use crate::figures::{self, Tile};

/// The book's `np.arange(-5.0, 5.0, 0.1)`.
fn xs() -> Vec<f64> {
    (0..100).map(|i| -5.0 + 0.1 * f64::from(i)).collect()
}

/// Runs `book activations`: the three functions on `[−5, 5)`, each as the book plots it
/// (`ylim(-0.1, 1.1)`, ReLU's `ylim(-1.0, 5.5)`), and sigmoid against step (dashed).
pub fn activations(args: &BookArgs) -> Result<()> {
    let x = xs();
    let curve = |f: fn(f64) -> f64, color, label: &str| {
        Curve::new(label, x.iter().map(|&x| (x, f(x))).collect(), color)
    };
    for (name, f) in [
        ("step", step as fn(f64) -> f64),
        ("sigmoid", sigmoid),
        ("relu", relu),
    ] {
        let values: Vec<String> = [-1.0, 1.0, 2.0].map(|v| format!("{}", f(v))).to_vec();
        println!("{name}([-1, 1, 2]) = [{}]", values.join(", "));
    }
    let svg = charts::figure(
        (1200, 330),
        "step_function.py, sigmoid.py, relu.py, sig_step_compare.py (ch03)",
        |area| {
            let panels = area.split_evenly((1, 4));
            let step_curve = [curve(step, COLORS[0], "")];
            let sigmoid_curve = [curve(sigmoid, COLORS[0], "")];
            let relu_curve = [curve(relu, COLORS[0], "")];
            let compare = [
                curve(sigmoid, COLORS[0], "sigmoid"),
                curve(step, BLACK, "step").dashed(),
            ];
            let drawn: [(&str, &[Curve], std::ops::Range<f64>); 4] = [
                ("step_function", &step_curve, -0.1..1.1),
                ("sigmoid", &sigmoid_curve, -0.1..1.1),
                ("relu", &relu_curve, -1.0..5.5),
                ("sigmoid and step", &compare, -0.1..1.1),
            ];
            for (panel, (title, curves, y)) in panels.iter().zip(drawn) {
                charts::draw_panel(
                    panel,
                    &Panel {
                        title,
                        x_label: "x",
                        y_label: "y",
                        x: -5.0..5.0,
                        y,
                        curves,
                        legend: (title == "sigmoid and step")
                            .then_some(SeriesLabelPosition::UpperLeft),
                        font_size: 18,
                    },
                )?;
            }
            Ok(())
        },
    )?;
    args.write(&svg, |w| {
        writeln!(w, "x,step,sigmoid,relu")?;
        for &x in &x {
            writeln!(w, "{x},{},{},{}", step(x), sigmoid(x), relu(x))?;
        }
        Ok(())
    })
}

/// Runs `book mnist-show`: the label, the shapes, the image in the terminal, and as SVG.
pub fn mnist_show(args: &BookArgs) -> Result<()> {
    let split = args.split()?;
    if args.index >= split.len() {
        bail!(
            "--index {} is past the {} images of the {} set: use at most {}",
            args.index,
            split.len(),
            args.split_name(),
            split.len().saturating_sub(1)
        );
    }
    let image = split.image(args.index);
    let label = split.label(args.index);
    let (rows, cols) = (split.rows(), split.cols());
    println!("x_{}[{}]: label {label}", args.split_name(), args.index);
    println!("({},)", rows * cols);
    println!("({rows}, {cols})");
    print!("{}", digit_image::ascii(image));
    let svg = figures::grid(
        &format!("x_{}[{}] (mnist_show.py)", args.split_name(), args.index),
        &[Tile {
            levels: image,
            caption: format!("label {label}"),
        }],
        figures::Layout {
            height: rows,
            width: cols,
            pixel: 8,
            columns: 1,
        },
    );
    args.write(&svg, |w| {
        writeln!(w, "row,col,level")?;
        for (i, level) in image.iter().enumerate() {
            writeln!(w, "{},{},{level}", i / cols, i % cols)?;
        }
        Ok(())
    })
}
