//! `book gates`: the perceptrons of chapter 2 (`and_gate.py`, `nand_gate.py`, `or_gate.py`,
//! `xor_gate.py`): their truth tables as the scripts print them, and a figure of the four inputs
//! with the line `w1·x1 + w2·x2 + b = 0` of each gate (the book's fig. 2-6 to 2-8; XOR, which no
//! line separates, with NAND's and OR's lines).

use anyhow::Result;
use nn_core::perceptron::{and, nand, or, xor};
use plotters::prelude::*;

use super::BookArgs;
use crate::experiment::charts::{self, COLORS, Curve, Marker, Panel};

/// The inputs in the book's order.
const INPUTS: [(f64, f64); 4] = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)];

/// A gate: its name, function, and the lines (weights, bias) drawn for it.
type Gate = (
    &'static str,
    fn(f64, f64) -> u8,
    &'static [((f64, f64), f64)],
);

const GATES: [Gate; 4] = [
    ("AND", and, &[((0.5, 0.5), -0.7)]),
    ("NAND", nand, &[((-0.5, -0.5), 0.7)]),
    ("OR", or, &[((0.5, 0.5), -0.2)]),
    ("XOR", xor, &[((-0.5, -0.5), 0.7), ((0.5, 0.5), -0.2)]),
];

/// Runs `book gates`.
pub fn gates(args: &BookArgs) -> Result<()> {
    for (name, gate, _) in GATES {
        println!("{name}");
        for (x1, x2) in INPUTS {
            println!("({x1}, {x2}) -> {}", gate(x1, x2));
        }
    }
    let svg = charts::figure(
        (1000, 300),
        "Perceptrons: output 1 (circle) or 0 (cross), and their lines (ch02)",
        |area| {
            for (panel, (name, gate, lines)) in area.split_evenly((1, 4)).iter().zip(GATES) {
                let mut curves: Vec<Curve> = lines
                    .iter()
                    // w1·x1 + w2·x2 + b = 0 → x2 = −(b + w1·x1) / w2, over x1 in [−0.5, 1.5]
                    // in small steps (the chart leaves out the points outside its y range).
                    .map(|&((w1, w2), b)| {
                        let at = |k: u32| {
                            let x1 = -0.5 + 0.01 * f64::from(k);
                            (x1, -(b + w1 * x1) / w2)
                        };
                        Curve::new("", (0..=200).map(at).collect(), COLORS[0]).dashed()
                    })
                    .collect();
                for (x1, x2) in INPUTS {
                    let marker = if gate(x1, x2) == 1 {
                        Marker::Circle
                    } else {
                        Marker::Cross
                    };
                    curves.push(Curve::new("", vec![(x1, x2)], BLACK).marked(marker, 1));
                }
                charts::draw_panel(
                    panel,
                    &Panel {
                        title: name,
                        x_label: "x1",
                        y_label: "x2",
                        x: -0.5..1.5,
                        y: -0.5..1.5,
                        curves: &curves,
                        legend: None,
                        font_size: 18,
                    },
                )?;
            }
            Ok(())
        },
    )?;
    args.write(&svg, |w| {
        writeln!(w, "gate,x1,x2,y")?;
        for (name, gate, _) in GATES {
            for (x1, x2) in INPUTS {
                writeln!(w, "{name},{x1},{x2},{}", gate(x1, x2))?;
            }
        }
        Ok(())
    })
}
