//! The book's figure 4-12 (train and test accuracy per epoch) beside the loss curve, as SVG.
//!
//! Only SVG: a path that does not end in `.svg` (such as `--plot x.png`) is refused rather than
//! given SVG under another format's name. Drawing PNG would need a font shipped with the
//! program or found on the system (plotters' bitmap backend draws no text without one); an SVG
//! opens in any browser and converts to PNG with any SVG tool.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use nn_train::History;
use plotters::prelude::*;
use plotters::style::full_palette::ORANGE;

/// Refuses a plot path whose extension is not `.svg`, naming the flag; `train` can call it
/// before training, so that the mistake costs nothing.
pub fn check_path(path: &Path) -> Result<()> {
    let svg = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("svg"));
    if !svg {
        bail!(
            "--plot {}: the plot is drawn as SVG, so its file must end in .svg (an SVG converts \
             to PNG with any SVG tool, such as `rsvg-convert -o plot.png plot.svg`)",
            path.display()
        );
    }
    Ok(())
}

/// The plot of `history` as the bytes of the file `path` (SVG), for `train` to write with the
/// run's other outputs (`files::Outputs`).
///
/// # Errors
/// If `path` does not end in `.svg` ([`check_path`]), or the plot cannot be drawn.
pub fn render(history: &History, path: &Path) -> Result<Vec<u8>> {
    check_path(path)?;
    let svg = render_svg(history).map_err(|e| anyhow!("cannot draw the plot: {e}"))?;
    Ok(svg.into_bytes())
}

fn render_svg(history: &History) -> Result<String, Box<dyn std::error::Error>> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1200, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(600);

        let evals = &history.evaluations;
        let max_epoch = evals.last().map_or(1, |e| e.epoch.max(1)) as u64;
        let mut acc = ChartBuilder::on(&left)
            .caption("Accuracy", ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0..max_epoch, 0.0..1.0)?;
        acc.configure_mesh()
            .x_desc("epochs")
            .y_desc("accuracy")
            .draw()?;
        let train = evals.iter().map(|e| (e.epoch as u64, e.train_acc));
        acc.draw_series(LineSeries::new(train, BLUE.stroke_width(2)))?
            .label("train acc")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        let test = evals.iter().map(|e| (e.epoch as u64, e.test_acc));
        acc.draw_series(LineSeries::new(test, ORANGE.stroke_width(2)))?
            .label("test acc")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], ORANGE.stroke_width(2)));
        acc.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;

        let losses = &history.train_loss;
        let finite = losses.iter().copied().filter(|l| l.is_finite());
        let max_loss = finite.fold(0.0f32, f32::max).max(f32::EPSILON) as f64;
        let mut loss = ChartBuilder::on(&right)
            .caption("Training loss", ("sans-serif", 22))
            .margin(15)
            .margin_right(35)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0..losses.len().max(1) as u64, 0.0..max_loss * 1.05)?;
        loss.configure_mesh()
            .x_desc("iteration")
            .y_desc("loss")
            .draw()?;
        let points = losses
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u64, f64::from(l)));
        loss.draw_series(LineSeries::new(points, BLUE))?;
        root.present()?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_train::Evaluation;

    #[test]
    fn the_svg_has_both_panels_and_a_curve_per_series() {
        let eval = |iteration, epoch, acc| Evaluation {
            iteration,
            epoch,
            train_acc: acc,
            test_acc: acc - 0.01,
            elapsed_s: 0.0,
        };
        let history = History {
            train_loss: vec![2.3, 1.0, 0.5, 0.4],
            elapsed_s: vec![0.1, 0.2, 0.3, 0.4],
            evaluations: vec![eval(0, 0, 0.1), eval(2, 1, 0.8), eval(3, 2, 0.9)],
        };
        let svg = render_svg(&history).unwrap();
        assert!(svg.starts_with("<svg"));
        for text in [
            "Accuracy",
            "Training loss",
            "train acc",
            "test acc",
            "epochs",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        assert!(svg.matches("<polyline").count() >= 3);
    }

    #[test]
    fn a_plot_path_not_ending_in_svg_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let history = History {
            train_loss: vec![2.3, 1.0],
            elapsed_s: vec![0.1, 0.2],
            evaluations: vec![],
        };
        for name in ["x.png", "plot", "x.svg.png"] {
            let path = dir.path().join(name);
            let err = render(&history, &path).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!(
                    "--plot {}: the plot is drawn as SVG",
                    path.display()
                )),
                "{err}"
            );
            assert!(err.contains("must end in .svg"), "{err}");
            assert!(!path.exists());
        }
        for name in ["plot.svg", "PLOT.SVG"] {
            let svg = render(&history, &dir.path().join(name)).unwrap();
            assert!(svg.starts_with(b"<svg"));
        }
    }
}
