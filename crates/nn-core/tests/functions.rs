//! The functions of chapters 3 and 4 against the book's printed values and closed forms.

use nn_core::functions::{
    CROSS_ENTROPY_DELTA, argmax_columns, cross_entropy_error, cross_entropy_error_with_delta,
    identity, mean_squared_error, relu, sigmoid, sigmoid_grad, softmax, step,
};
use nn_core::{Matrix, Targets};
use proptest::prelude::*;

/// The book's example output (§4.2.1): the network is most confident in class 2.
const Y: [f64; 10] = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0];
/// The same, but most confident in class 7.
const Y_WRONG: [f64; 10] = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0];

fn column(values: &[f64]) -> Matrix<f64> {
    Matrix::from_column_slice(values.len(), 1, values)
}

fn one_hot(label: usize, classes: usize) -> Matrix<f64> {
    Matrix::from_fn(classes, 1, |k, _| if k == label { 1.0 } else { 0.0 })
}

#[test]
fn cross_entropy_matches_the_book() {
    let y = column(&Y);
    // §4.2.2: -log(0.6 + 1e-7) and -log(0.1 + 1e-7).
    assert!((cross_entropy_error(&y, Targets::Labels(&[2])) - 0.510825457099338).abs() < 1e-15);
    assert!(
        (cross_entropy_error(&y, Targets::OneHot(&one_hot(2, 10))) - 0.510825457099338).abs()
            < 1e-15
    );
    let e = cross_entropy_error(&column(&Y_WRONG), Targets::Labels(&[2]));
    assert!((e - 2.302584092994546).abs() < 1e-14);
    // The batch form without delta: -log 0.6.
    let exact = cross_entropy_error_with_delta(&y, Targets::Labels(&[2]), 0.0);
    assert!((exact - 0.5108256237659907).abs() < 1e-15);
    assert_eq!(CROSS_ENTROPY_DELTA, 1e-7);
}

#[test]
fn cross_entropy_of_a_batch_is_the_mean_over_samples() {
    let y = Matrix::from_columns(&[column(&Y).column(0), column(&Y_WRONG).column(0)]);
    let e = cross_entropy_error(&y, Targets::Labels(&[2, 2]));
    assert!((e - (0.510825457099338 + 2.302584092994546) / 2.0).abs() < 1e-14);
}

#[test]
fn mean_squared_error_matches_the_book() {
    // §4.2.1: 0.0975 and 0.5975.
    let e = mean_squared_error(&column(&Y), Targets::OneHot(&one_hot(2, 10)));
    assert!((e - 0.09750000000000003).abs() < 1e-15);
    let e = mean_squared_error(&column(&Y_WRONG), Targets::Labels(&[2]));
    assert!((e - 0.5975).abs() < 1e-15);
}

#[test]
fn activations_match_their_definitions() {
    // §3.2: sigmoid(-1, 1, 2) = 0.26894142, 0.73105858, 0.88079708.
    for (x, want) in [
        (-1.0_f64, 0.2689414213699951),
        (1.0, 0.7310585786300049),
        (2.0, 0.8807970779778823),
    ] {
        assert!((sigmoid(x) - want).abs() < 1e-15, "sigmoid({x})");
    }
    assert_eq!(sigmoid_grad(0.0_f64), 0.25);
    assert_eq!(sigmoid(-1000.0_f64), 0.0);
    assert_eq!(sigmoid(1000.0_f32), 1.0);
    assert_eq!([step(-1.0_f64), step(0.0), step(2.0)], [0.0, 0.0, 1.0]);
    assert_eq!([relu(-1.0_f64), relu(0.0), relu(2.5)], [0.0, 0.0, 2.5]);
    assert_eq!(identity(-3.5_f64), -3.5);
}

#[test]
fn softmax_matches_the_book_and_does_not_overflow() {
    // §3.5.1: softmax([0.3, 2.9, 4.0]) = [0.01821127, 0.24519181, 0.73659691].
    let y = softmax(&column(&[0.3, 2.9, 4.0]));
    for (got, want) in y
        .iter()
        .zip([0.01821127329554753, 0.24519181293507392, 0.7365969137693786])
    {
        assert!((got - want).abs() < 1e-15);
    }
    // §3.5.2: [1010, 1000, 990] overflows without subtracting the maximum.
    let y = softmax(&Matrix::from_column_slice(
        3,
        1,
        &[1010.0_f32, 1000.0, 990.0],
    ));
    let want = [9.999_546e-1_f32, 4.539_787e-5, 2.061_06e-9];
    for (got, want) in y.iter().zip(want) {
        assert!(((got - want) / want).abs() < 1e-5, "{got} vs {want}");
    }
}

#[test]
fn argmax_takes_the_first_maximum_of_each_column() {
    let y = Matrix::from_column_slice(3, 3, &[0.1, 0.8, 0.1, 0.5, 0.5, 0.0, 0.0, 0.0, 1.0]);
    assert_eq!(argmax_columns::<f64>(&y).collect::<Vec<_>>(), [1, 0, 2]);
}

/// A `(classes, batch)` matrix of scores and labels that fit it.
fn scores_and_labels() -> impl Strategy<Value = (Matrix<f64>, Vec<u8>)> {
    (1usize..12, 1usize..6).prop_flat_map(|(classes, batch)| {
        (
            prop::collection::vec(-50.0..50.0_f64, classes * batch),
            prop::collection::vec(0..classes as u8, batch),
        )
            .prop_map(move |(v, labels)| (Matrix::from_vec(classes, batch, v), labels))
    })
}

proptest! {
    #[test]
    fn softmax_columns_sum_to_one_and_ignore_a_constant(
        (a, _) in scores_and_labels(), c in -1000.0..1000.0_f64,
    ) {
        let y = softmax(&a);
        for col in y.column_iter() {
            prop_assert!((col.sum() - 1.0).abs() < 1e-12);
            prop_assert!(col.iter().all(|&p| (0.0..=1.0).contains(&p)));
        }
        let shifted = softmax(&a.add_scalar(c));
        prop_assert!((shifted - &y).abs().max() < 1e-12);
    }

    #[test]
    fn softmax_survives_huge_inputs((a, _) in scores_and_labels()) {
        let y = softmax(&a.add_scalar(1000.0).map(|v| v as f32));
        prop_assert!(y.iter().all(|v| v.is_finite()));
        for col in y.column_iter() {
            prop_assert!((col.sum() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn labels_and_one_hot_targets_agree_on_batches((a, labels) in scores_and_labels()) {
        let y = softmax(&a);
        let t = Matrix::from_fn(y.nrows(), y.ncols(), |k, n| f64::from(u8::from(usize::from(labels[n]) == k)));
        let by_label = cross_entropy_error(&y, Targets::Labels(&labels));
        let by_one_hot = cross_entropy_error(&y, Targets::OneHot(&t));
        prop_assert!((by_label - by_one_hot).abs() <= 1e-12 * by_label.abs().max(1.0));
        let mse = (mean_squared_error(&y, Targets::Labels(&labels)), mean_squared_error(&y, Targets::OneHot(&t)));
        prop_assert!((mse.0 - mse.1).abs() < 1e-12);
    }

    #[test]
    fn cross_entropy_is_minus_the_mean_log_probability_of_the_label((a, labels) in scores_and_labels()) {
        let y = softmax(&a);
        let want = -labels.iter().enumerate().map(|(n, &l)| y[(usize::from(l), n)].ln()).sum::<f64>() / labels.len() as f64;
        let got = cross_entropy_error_with_delta(&y, Targets::Labels(&labels), 0.0);
        prop_assert!((got - want).abs() <= 1e-12 * want.abs().max(1.0));
    }
}

/// Distance in units in the last place between an `f32` and the exact value (given in `f64`).
fn ulps(got: f32, exact: f64) -> f64 {
    let rounded = exact as f32;
    let ulp = f64::from(f32::from_bits(rounded.abs().to_bits() + 1) - rounded.abs());
    (f64::from(got) - exact).abs() / ulp
}

/// The sigmoid of a slice, as the layers apply it, against the book's formula in `f64`: within
/// 3 ulp down to `x = −87`, within the smallest normal `f32` of it further left, exactly 1 far
/// right, NaN kept.
#[test]
fn sigmoid_in_place_follows_the_f64_formula() {
    let xs: Vec<f32> = (-20_000..=20_000).map(|i| i as f32 * 0.005).collect();
    let mut ys = xs.clone();
    nn_core::functions::sigmoid_in_place(&mut ys);
    for (&x, &y) in xs.iter().zip(&ys) {
        let exact = sigmoid(f64::from(x));
        if x >= -87.0 {
            assert!(ulps(y, exact) <= 3.0, "sigmoid({x}) = {y}, exact {exact}");
        } else {
            let error = (f64::from(y) - exact).abs();
            assert!(
                y >= 0.0 && error < f64::from(f32::MIN_POSITIVE),
                "sigmoid({x}) = {y}"
            );
        }
    }
    let mut far = [-1000.0_f32, 1000.0, f32::NAN, 0.0];
    nn_core::functions::sigmoid_in_place(&mut far);
    assert!((0.0..f32::MIN_POSITIVE).contains(&far[0]));
    assert_eq!(far[1], 1.0);
    assert!(far[2].is_nan());
    assert_eq!(far[3], 0.5);
    // f64 keeps the standard library's exp: the same bits as the scalar function.
    let mut v = [-1.0_f64, 0.5, 3.0];
    nn_core::functions::sigmoid_in_place(&mut v);
    assert_eq!(v, [sigmoid(-1.0), sigmoid(0.5), sigmoid(3.0)]);
}
