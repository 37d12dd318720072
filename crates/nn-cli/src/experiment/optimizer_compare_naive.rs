//! `experiment optimizers-2d`: the book's `ch06/optimizer_compare_naive.py` (§6.1.7, fig. 6-8).
//!
//! SGD (lr 0.95), Momentum (0.1), AdaGrad (1.5) and Adam (0.3), nn-train's own optimizers,
//! minimise `f(x, y) = x²/20 + y²` from `(-7, 2)`: 30 positions each (the start, then after
//! each of 29 updates), drawn over the contour lines of `f`. The function is steep along `y`
//! and flat along `x`: SGD zig-zags across the valley, Momentum rolls around it, AdaGrad and
//! Adam head for the minimum. (`--quick` changes nothing: it takes microseconds.)

use anyhow::Result;
use nn_core::layers::{Kind, Name, Param};
use nn_core::{Matrix, Trainable};
use nn_train::{OptimizerKind, OptimizerSpec};
use plotters::prelude::*;

use super::charts::{self, COLORS, Curve, Marker, Panel};
use super::{Context, table};

/// The book's `init_pos`.
const START: (f64, f64) = (-7.0, 2.0);
/// Positions recorded per optimizer (the book's `range(30)`).
const STEPS: usize = 30;

/// The function minimised.
fn f(x: f64, y: f64) -> f64 {
    x * x / 20.0 + y * y
}

/// Its gradient, the book's `df`.
fn df(x: f64, y: f64) -> (f64, f64) {
    (x / 10.0, 2.0 * y)
}

/// The book's four optimizers and their learning rates.
pub(crate) fn optimizers() -> [OptimizerSpec; 4] {
    [
        OptimizerKind::Sgd.with_lr(0.95),
        OptimizerKind::Momentum.with_lr(0.1),
        OptimizerKind::AdaGrad.with_lr(1.5),
        OptimizerKind::Adam.with_lr(0.3),
    ]
}

/// The two parameters `x` and `y` with their gradients, as an optimizer sees a network (the
/// book's `params` and `grads` dictionaries).
struct Point {
    values: [Matrix<f64>; 2],
    grads: [Matrix<f64>; 2],
}

impl Trainable<f64> for Point {
    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, f64>)) {
        for (i, (value, grad)) in self.values.iter_mut().zip(&mut self.grads).enumerate() {
            f(Param {
                name: Name::of(Kind::Weight).numbered(i + 1),
                value,
                grad,
            });
        }
    }
}

/// The positions of `optimizer` from the start: before each of its `STEPS` updates.
pub(crate) fn path(optimizer: &OptimizerSpec) -> Vec<(f64, f64)> {
    let mut optimizer = optimizer.build::<f64>();
    let scalar = |v: f64| Matrix::from_element(1, 1, v);
    let mut point = Point {
        values: [scalar(START.0), scalar(START.1)],
        grads: [scalar(0.0), scalar(0.0)],
    };
    let mut path = Vec::with_capacity(STEPS);
    for _ in 0..STEPS {
        let (x, y) = (point.values[0][0], point.values[1][0]);
        path.push((x, y));
        let (gx, gy) = df(x, y);
        point.grads = [scalar(gx), scalar(gy)];
        optimizer.update(&mut point);
    }
    path
}

/// Runs the experiment.
pub fn run(ctx: &Context) -> Result<()> {
    let optimizers = optimizers();
    let paths: Vec<Vec<(f64, f64)>> = optimizers.iter().map(path).collect();

    let rows: Vec<Vec<String>> = optimizers
        .iter()
        .zip(&paths)
        .map(|(o, p)| {
            let &(x, y) = p.last().expect("30 positions");
            vec![
                o.kind().to_string(),
                o.lr().to_string(),
                format!("({x:.3}, {y:.3})"),
                format!("{:.4}", f(x, y)),
                format!("{:.3}", x.hypot(y)),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "optimizer",
                "lr",
                "after 29 steps",
                "f(x, y)",
                "distance to (0, 0)"
            ],
            &rows
        )
    );

    let svg = figure(ctx, &optimizers, &paths)?;
    ctx.write(&svg, |w| {
        writeln!(w, "optimizer,lr,step,x,y,f")?;
        for (o, p) in optimizers.iter().zip(&paths) {
            for (step, &(x, y)) in p.iter().enumerate() {
                writeln!(w, "{},{},{step},{x},{y},{}", o.kind(), o.lr(), f(x, y))?;
            }
        }
        Ok(())
    })
}

/// The contour lines `f = c`: ellipses of half-axes `√(20c)` and `√c`.
fn contours() -> Vec<Vec<(f64, f64)>> {
    [0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
        .iter()
        .map(|&c: &f64| {
            (0..=120)
                .map(|k| {
                    let t = k as f64 / 120.0 * std::f64::consts::TAU;
                    ((20.0 * c).sqrt() * t.cos(), c.sqrt() * t.sin())
                })
                .collect()
        })
        .collect()
}

/// Four panels, one per optimizer, as the book's 2×2 subplots.
fn figure(
    ctx: &Context,
    optimizers: &[OptimizerSpec],
    paths: &[Vec<(f64, f64)>],
) -> Result<String> {
    let title = ctx.title("Optimizers on f(x, y) = x²/20 + y² from (-7, 2), 30 steps");
    charts::figure((1200, 860), &title, |area| {
        let grey = RGBColor(0xa0, 0xa0, 0xa0);
        for ((panel, o), p) in area.split_evenly((2, 2)).iter().zip(optimizers).zip(paths) {
            let name = format!("{} (lr {})", o.kind(), o.lr());
            let path = Curve::new("path", p.clone(), COLORS[3]).marked(Marker::Circle, 1);
            let mut curves: Vec<Curve> = contours()
                .into_iter()
                .map(|c| Curve::new("", c, grey))
                .collect();
            curves.push(path);
            // The minimum, the book's `plt.plot(0, 0, '+')`.
            curves.push(Curve::new("", vec![(0.0, 0.0)], BLACK).marked(Marker::Plus, 1));
            charts::draw_panel(
                panel,
                &Panel {
                    title: &name,
                    x_label: "x",
                    y_label: "y",
                    x: -10.0..10.0,
                    y: -5.0..5.0,
                    curves: &curves,
                    legend: None,
                    font_size: 20,
                },
            )?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(kind: OptimizerKind) -> (f64, f64) {
        let o = optimizers().into_iter().find(|o| o.kind() == kind).unwrap();
        *path(&o).last().unwrap()
    }

    #[test]
    fn adam_and_adagrad_end_near_the_minimum() {
        // The book's fig. 6-8: both reach the minimum's neighbourhood within 30 steps (a NumPy
        // run of the book's script ends 0.32 and 0.14 away).
        for kind in [OptimizerKind::Adam, OptimizerKind::AdaGrad] {
            let (x, y) = end(kind);
            assert!(x.hypot(y) < 0.5, "{kind} ends at ({x}, {y})");
        }
    }

    #[test]
    fn sgd_zig_zags_across_the_valley() {
        // y ← y − 0.95·2y = −0.9·y: the sign of y flips at every step while x creeps along.
        let sgd = path(&optimizers()[0]);
        assert_eq!(sgd.len(), STEPS);
        assert_eq!(sgd[0], START);
        for pair in sgd.windows(2) {
            assert!(pair[0].1 * pair[1].1 < 0.0, "{pair:?}");
            assert!(pair[1].0 > pair[0].0 && pair[1].0 < 0.0, "{pair:?}");
        }
    }

    #[test]
    fn every_optimizer_goes_downhill_overall() {
        for o in optimizers() {
            let p = path(&o);
            let (x, y) = *p.last().unwrap();
            assert!(f(x, y) < f(START.0, START.1) / 10.0, "{o}: f = {}", f(x, y));
        }
    }
}
