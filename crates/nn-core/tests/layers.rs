//! The layers of chapter 5 against the book's worked examples and against numerical gradients.

use nn_core::gradient::numerical_gradient;
use nn_core::layers::{AddLayer, Affine, Layer, MulLayer, Relu, Sigmoid, SoftmaxWithLoss};
use nn_core::{Matrix, Param, Targets};
use proptest::prelude::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn buying_apples() {
    // §5.4.1: 2 apples at 100 yen, 10% tax.
    let (apple, apple_num, tax) = (100.0_f64, 2.0, 1.1);
    let (mut mul_apple, mut mul_tax) = (MulLayer::new(), MulLayer::new());
    let apple_price = mul_apple.forward(apple, apple_num);
    let price = mul_tax.forward(apple_price, tax);
    let (d_apple_price, d_tax) = mul_tax.backward(1.0);
    let (d_apple, d_apple_num) = mul_apple.backward(d_apple_price);
    assert!(close(price, 220.0), "{price}");
    assert!(close(d_apple, 2.2) && close(d_apple_num, 110.0) && close(d_tax, 200.0));
}

#[test]
fn buying_apples_and_oranges() {
    // §5.4.2: 2 apples at 100, 3 oranges at 150, 10% tax.
    let (apple, apple_num, orange, orange_num, tax) = (100.0_f64, 2.0, 150.0, 3.0, 1.1);
    let (mut mul_apple, mut mul_orange, add, mut mul_tax) =
        (MulLayer::new(), MulLayer::new(), AddLayer, MulLayer::new());
    let apple_price = mul_apple.forward(apple, apple_num);
    let orange_price = mul_orange.forward(orange, orange_num);
    let all_price = add.forward(apple_price, orange_price);
    let price = mul_tax.forward(all_price, tax);
    let (d_all_price, d_tax) = mul_tax.backward(1.0);
    let (d_apple_price, d_orange_price) = add.backward(d_all_price);
    let (d_orange, d_orange_num) = mul_orange.backward(d_orange_price);
    let (d_apple, d_apple_num) = mul_apple.backward(d_apple_price);
    assert!(close(price, 715.0), "{price}");
    assert!(close(d_apple, 2.2) && close(d_apple_num, 110.0));
    assert!(close(d_orange, 3.3) && close(d_orange_num, 165.0));
    assert!(close(d_tax, 650.0));
}

#[test]
fn affine_computes_the_transposed_book_formulas() {
    // The book's x·W + b with x = [[1, 2]], W = [[1, 2, 3], [4, 5, 6]], b = [1, 1, 1]: [10, 13, 16].
    let w = Matrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let mut affine = Affine::new(w, Matrix::from_element(3, 1, 1.0_f64));
    let x = Matrix::from_column_slice(2, 2, &[1.0, 2.0, 0.0, -1.0]); // two samples
    assert_eq!(
        affine.forward(&x).as_slice(),
        &[10.0, 13.0, 16.0, -3.0, -4.0, -5.0]
    );
    let dout = Matrix::from_column_slice(3, 2, &[1.0, 0.0, 2.0, 0.0, 1.0, 0.0]);
    // dx = W·dout: sample 0 gets W·(1,0,2) = (7, 16), sample 1 gets W·(0,1,0) = (2, 5).
    assert_eq!(
        affine.backward(&x, &dout, true).unwrap().as_slice(),
        &[7.0, 16.0, 2.0, 5.0]
    );
    // dW = x·doutᵀ, db = row sums of dout.
    assert_eq!(
        affine.dw,
        Matrix::from_row_slice(2, 3, &[1.0, 0.0, 2.0, 2.0, -1.0, 4.0])
    );
    assert_eq!(affine.db.as_slice(), &[1.0, 1.0, 2.0]);
    let mut names = Vec::new();
    affine.visit_params(&mut |p: Param<'_, f64>| {
        names.push((p.name.to_string(), p.value.shape(), p.grad.shape()));
    });
    let names: Vec<_> = names.iter().map(|(n, v, g)| (n.as_str(), *v, *g)).collect();
    assert_eq!(names, [("W", (2, 3), (2, 3)), ("b", (3, 1), (3, 1))]);
}

#[test]
fn layers_resize_their_buffers_when_the_batch_changes() {
    let w = Matrix::from_row_slice(2, 1, &[1.0, -1.0]);
    let mut affine = Affine::new(w, Matrix::from_element(1, 1, 0.5_f64));
    assert_eq!(
        affine.forward(&Matrix::from_element(2, 3, 1.0)).shape(),
        (1, 3)
    );
    let x = Matrix::from_column_slice(2, 1, &[2.0, 1.0]);
    assert_eq!(affine.forward(&x).as_slice(), &[1.5]);
    let dx = affine.backward(&x, &Matrix::from_element(1, 1, 1.0), true);
    assert_eq!(dx.unwrap().as_slice(), &[1.0, -1.0]);
}

#[test]
fn relu_and_sigmoid_backward_by_hand() {
    let x = Matrix::from_column_slice(4, 1, &[-2.0, 0.0, 0.5, 3.0]);
    let dout = Matrix::from_element(4, 1, 2.0);
    let mut relu = Relu::new();
    assert_eq!(relu.forward(&x).as_slice(), &[0.0, 0.0, 0.5, 3.0]);
    let dx = relu.backward(&x, &dout, true).unwrap();
    assert_eq!(dx.as_slice(), &[0.0, 0.0, 2.0, 2.0]);
    let mut sigmoid = Sigmoid::new();
    assert_eq!(sigmoid.forward(&x)[1], 0.5_f64);
    assert_eq!(sigmoid.backward(&x, &dout, true).unwrap()[1], 0.5); // 2 · σ'(0) = 2 · 0.25
}

#[test]
fn softmax_with_loss_of_the_books_example() {
    // Scores whose softmax is the book's y (zeros become −∞): the loss is −log 0.6 exactly.
    let y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0_f64];
    let scores = Matrix::from_iterator(10, 1, y.iter().map(|p| p.ln()));
    let mut layer = SoftmaxWithLoss::new();
    let loss = layer.forward(&scores, Targets::Labels(&[2]));
    assert!((loss - 0.5108256237659907).abs() < 1e-15, "{loss}");
    let dx = layer.backward();
    for (k, (&d, &p)) in dx.iter().zip(&y).enumerate() {
        let want = if k == 2 { p - 1.0 } else { p };
        assert!((d - want).abs() < 1e-15);
    }
}

#[test]
fn softmax_with_loss_in_f32_never_takes_the_log_of_zero() {
    // softmax underflows to exactly 0 for the label; the loss is still the exact 200.
    let scores = Matrix::from_column_slice(2, 1, &[100.0_f32, -100.0]);
    let loss = SoftmaxWithLoss::new().forward(&scores, Targets::Labels(&[1]));
    assert_eq!(loss, 200.0);
}

/// Gradient check of a small Affine → Sigmoid → Affine → SoftmaxWithLoss stack.
struct Stack {
    a1: Affine<f64>,
    act: Sigmoid<f64>,
    a2: Affine<f64>,
    loss: SoftmaxWithLoss<f64>,
}

impl Stack {
    fn loss(&mut self, x: &Matrix<f64>, t: Targets<'_, f64>) -> f64 {
        let h = self.a1.forward(x);
        let z = self.act.forward(h);
        let s = self.a2.forward(z);
        self.loss.forward(s, t)
    }
}

proptest! {
    #[test]
    fn backprop_through_layers_matches_numerical_gradients(
        w1 in prop::collection::vec(-1.0..1.0_f64, 12),
        w2 in prop::collection::vec(-1.0..1.0_f64, 6),
        x in prop::collection::vec(-2.0..2.0_f64, 8),
        labels in prop::collection::vec(0u8..2, 2),
        one_hot in any::<bool>(),
    ) {
        let mut s = Stack {
            a1: Affine::new(Matrix::from_vec(4, 3, w1), Matrix::from_column_slice(3, 1, &[0.1, -0.2, 0.3])),
            act: Sigmoid::new(),
            a2: Affine::new(Matrix::from_vec(3, 2, w2), Matrix::from_column_slice(2, 1, &[0.0, 0.5])),
            loss: SoftmaxWithLoss::new(),
        };
        let x = Matrix::from_vec(4, 2, x);
        let dense = Matrix::from_fn(2, 2, |k, n| f64::from(u8::from(usize::from(labels[n]) == k)));
        let t = if one_hot { Targets::OneHot(&dense) } else { Targets::Labels(&labels) };
        s.loss(&x, t);
        let dout = s.loss.backward().clone();
        let dz = s.a2.backward(s.act.output(), &dout, true).unwrap().clone();
        let da = s.act.backward(s.a1.output(), &dz, true).unwrap().clone();
        let dx = s.a1.backward(&x, &da, true).unwrap().clone();
        let num_w1 = numerical_gradient(|s: &mut Stack| s.loss(&x, t), &mut s, |s| &mut s.a1.w);
        let num_b2 = numerical_gradient(|s: &mut Stack| s.loss(&x, t), &mut s, |s| &mut s.a2.b);
        let mut x_var = x.clone();
        let num_dx = numerical_gradient(|x: &mut Matrix<f64>| s.loss(x, t), &mut x_var, |x| x);
        prop_assert!((num_w1 - &s.a1.dw).abs().max() < 1e-8);
        prop_assert!((num_b2 - &s.a2.db).abs().max() < 1e-8);
        prop_assert!((num_dx - dx).abs().max() < 1e-8);
    }
}
