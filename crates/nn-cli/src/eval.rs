//! `nn-cli eval`: test accuracy, accuracy per class and the confusion matrix; with
//! `--misclassified FILE.svg`, the first 20 misclassified test images, listed and drawn (the
//! book's `ch08/misclassified_mnist.py`).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use mnist_io::Dataset;
use mnist_io::idx::NUM_CLASSES;
use nn_core::{Matrix, Model, functions};

use crate::data::{self, DatasetArg};
use crate::figures::{self, Tile};
use crate::{files, model};

/// Samples classified per batch.
const CHUNK: usize = model::INFERENCE_BATCH;

/// How many misclassified images `--misclassified` lists and draws, as the book's script.
pub const MISCLASSIFIED_SHOWN: usize = 20;

/// Options of `eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The trained model
    #[arg(long, default_value = "data/params.ron")]
    model: PathBuf,
    /// The dataset (mnist or fashion) [default: the one the model was trained on]
    #[arg(long, value_enum)]
    dataset: Option<DatasetArg>,
    /// Folder of the dataset's files [default: data/mnist, or data/fashion for Fashion-MNIST]
    #[arg(long)]
    data: Option<PathBuf>,
    /// Also list the first 20 misclassified test images (index, label, prediction) and draw
    /// them, captioned `label → prediction`, as a grid in this SVG file
    #[arg(long, value_name = "FILE.svg")]
    misclassified: Option<PathBuf>,
}

/// Runs `eval`.
pub fn run(args: EvalArgs) -> Result<()> {
    if let Some(path) = &args.misclassified {
        check_svg(path)?;
    }
    // The model says which dataset; without it, the data's errors come first.
    let file = model::read_if_present::<f32>(&args.model)?;
    let dataset =
        model::choose_dataset(file.as_ref(), &args.model, args.dataset.map(Dataset::from))?;
    let data = args.data.clone().unwrap_or_else(|| dataset.default_dir());
    if let Some(path) = &args.misclassified {
        files::check_outputs(
            &data,
            &[("--model", &args.model)],
            &[("--misclassified", path)],
        )?;
    }
    let test = data::load_split(&data, dataset, mnist_io::TEST_IMAGES, mnist_io::TEST_LABELS)?;
    if test.is_empty() {
        bail!(
            "the test set in {} holds no image: there is nothing to evaluate (fetch it again \
             with `cargo xtask fetch-mnist --force`, or pass --data)",
            data.display()
        );
    }
    data::check_files(&data, dataset, None, Some(&test))?;
    let inputs = test.pixels_per_image();
    let file = model::or_read(file, &args.model)?;
    let mut net = model::network(file, &args.model, inputs)?;

    // confusion[label][prediction]
    let mut confusion = [[0usize; NUM_CLASSES]; NUM_CLASSES];
    // (index, label, prediction) of the first misclassified images.
    let mut misclassified = Vec::new();
    let mut x = Matrix::<f32>::zeros(inputs, 0);
    for start in (0..test.len()).step_by(CHUNK) {
        let range = start..(start + CHUNK).min(test.len());
        if x.ncols() != range.len() {
            x = Matrix::zeros(inputs, range.len());
        }
        for (column, k) in x.as_mut_slice().chunks_exact_mut(inputs).zip(range.clone()) {
            for (v, &p) in column.iter_mut().zip(test.image(k)) {
                *v = f32::from(p) / 255.0;
            }
        }
        let scores = model::finite_scores(net.predict(&x), range.start, &args.model)?;
        for (prediction, k) in functions::argmax_columns(scores).zip(range) {
            let label = usize::from(test.label(k));
            confusion[label][prediction] += 1;
            if label != prediction && misclassified.len() < MISCLASSIFIED_SHOWN {
                misclassified.push((k, label, prediction));
            }
        }
    }
    print!("{}", report(&confusion, dataset));
    if let Some(path) = &args.misclassified {
        println!(
            "the first {} misclassified test images (index: label -> prediction):",
            misclassified.len()
        );
        let name = |class| data::class_name(dataset, class);
        for &(k, label, prediction) in &misclassified {
            println!("  {k:>5}: {} -> {}", name(label), name(prediction));
        }
        let tiles: Vec<Tile<'_>> = misclassified
            .iter()
            .map(|&(k, label, prediction)| Tile {
                levels: test.image(k),
                caption: format!("#{k}: {} → {}", name(label), name(prediction)),
            })
            .collect();
        let layout = figures::Layout {
            height: test.rows(),
            width: test.cols(),
            pixel: 3,
            columns: 5,
        };
        let svg = figures::grid(
            "misclassified test images: label → prediction",
            &tiles,
            layout,
        );
        let mut outputs = files::Outputs::new();
        outputs.write(path, svg.as_bytes())?;
        outputs.commit()?;
        println!("drew them in {}", crate::files::shown(path));
    }
    Ok(())
}

/// Refuses a figure path that does not end in `.svg`.
pub fn check_svg(path: &Path) -> Result<()> {
    if !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
    {
        bail!(
            "{} does not end in .svg: the figures are drawn as SVG (name the file FILE.svg)",
            path.display()
        );
    }
    Ok(())
}

/// The accuracy, per-class accuracy and confusion matrix, as printed; the classes are named
/// after their number when they are not digits (Fashion-MNIST's `class 9 Ankle boot`).
fn report(confusion: &[[usize; NUM_CLASSES]; NUM_CLASSES], dataset: Dataset) -> String {
    use std::fmt::Write;
    let total: usize = confusion.iter().flatten().sum();
    let correct: usize = (0..NUM_CLASSES).map(|c| confusion[c][c]).sum();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "test acc {:.4}  ({correct}/{total})",
        ratio(correct, total)
    );
    let named = dataset != Dataset::Mnist;
    let width = dataset
        .class_names()
        .iter()
        .map(|n| n.len())
        .max()
        .unwrap_or(0);
    for (class, row) in confusion.iter().enumerate() {
        let n: usize = row.iter().sum();
        let name = if named {
            format!(" {:<width$}", data::class_name(dataset, class))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "class {class}{name}  acc {:.4}  ({}/{n})",
            ratio(row[class], n),
            row[class]
        );
    }
    let _ = writeln!(out, "confusion matrix (rows: label, columns: prediction)");
    if named {
        let legend: Vec<String> = (0..NUM_CLASSES)
            .map(|c| format!("{c} {}", data::class_name(dataset, c)))
            .collect();
        let _ = writeln!(out, "classes: {}", legend.join(", "));
    }
    let _ = write!(out, "     ");
    for class in 0..NUM_CLASSES {
        let _ = write!(out, "{class:>6}");
    }
    out.push('\n');
    for (class, row) in confusion.iter().enumerate() {
        let _ = write!(out, "{class:>5}");
        for count in row {
            let _ = write!(out, "{count:>6}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_counts_the_diagonal_as_correct() {
        let mut confusion = [[0; NUM_CLASSES]; NUM_CLASSES];
        confusion[0][0] = 3;
        confusion[0][1] = 1;
        confusion[7][7] = 4;
        let text = report(&confusion, Dataset::Mnist);
        assert!(text.starts_with("test acc 0.8750  (7/8)\n"), "{text}");
        assert!(text.contains("class 0  acc 0.7500  (3/4)"), "{text}");
        assert!(text.contains("class 7  acc 1.0000  (4/4)"), "{text}");
        assert!(text.contains("class 5  acc 0.0000  (0/0)"), "{text}");
        let row0 = text.lines().find(|l| l.starts_with("    0 ")).unwrap();
        assert_eq!(
            row0.split_whitespace().collect::<Vec<_>>()[..3],
            ["0", "3", "1"]
        );
        // Fashion-MNIST's classes are named.
        let text = report(&confusion, Dataset::Fashion);
        assert!(
            text.contains("class 0 T-shirt/top  acc 0.7500  (3/4)"),
            "{text}"
        );
        assert!(
            text.contains("class 7 Sneaker      acc 1.0000  (4/4)"),
            "{text}"
        );
        assert!(
            text.contains("classes: 0 T-shirt/top, 1 Trouser,"),
            "{text}"
        );
    }
}
