//! The optimizers of chapter 6 against steps computed by hand, and on the book's function
//! f(x, y) = x²/20 + y² (`optimizer_compare_naive.py`).

use nn_core::layers::Kind;
use nn_core::{Matrix, Param, Trainable};
use nn_train::optimizer::{AdaGrad, Adam, Momentum, Nesterov, RmsProp, Sgd};
use nn_train::{Optimizer, OptimizerError, OptimizerKind, OptimizerSpec};

/// One parameter and its gradient.
struct One {
    value: Matrix<f64>,
    grad: Matrix<f64>,
}

impl One {
    fn new(values: &[f64]) -> Self {
        One {
            value: Matrix::from_column_slice(values.len(), 1, values),
            grad: Matrix::zeros(values.len(), 1),
        }
    }
}

impl Trainable<f64> for One {
    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, f64>)) {
        f(Param::of(Kind::Weight, &mut self.value, &mut self.grad));
    }
}

/// The value of a single weight, from 0, after updates with the gradients 1 then 2.
fn two_steps(optimizer: &mut dyn Optimizer<f64>) -> [f64; 2] {
    let mut w = One::new(&[0.0]);
    let mut after = [0.0; 2];
    for (k, g) in [1.0, 2.0].into_iter().enumerate() {
        w.grad[0] = g;
        optimizer.update(&mut w);
        after[k] = w.value[0];
    }
    after
}

fn assert_close(got: [f64; 2], want: [f64; 2], what: &str) {
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{what}: {got:?}, want {want:?}");
    }
}

#[test]
fn sgd_subtracts_the_learning_rate_times_the_gradient() {
    // w ← w − 0.1·g: −0.1, then −0.1 − 0.2.
    assert_close(two_steps(&mut Sgd::new(0.1)), [-0.1, -0.3], "SGD");
}

#[test]
fn momentum_accumulates_a_velocity() {
    // v = 0.9·0 − 0.1·1 = −0.1, w = −0.1; v = 0.9·(−0.1) − 0.1·2 = −0.29, w = −0.39.
    assert_close(
        two_steps(&mut Momentum::new(0.1, 0.9)),
        [-0.1, -0.39],
        "Momentum",
    );
}

#[test]
fn nesterov_follows_the_books_fixed_update() {
    // The book's `Nesterov.update` since commit 89eadd0 (2021, "Fix Nesterov update function"):
    //   params += m·m·v; params -= (1 + m)·lr·g; v *= m; v -= lr·g
    // with lr 0.1, m 0.9, from w = 0, v = 0, gradients 1, 2, −3 (by hand; NumPy gives the same):
    //   w = 0.81·0 − 0.19·1 = −0.19,                      v = −0.1
    //   w = −0.19 + 0.81·(−0.1) − 0.19·2 = −0.651,        v = 0.9·(−0.1) − 0.2 = −0.29
    //   w = −0.651 + 0.81·(−0.29) + 0.19·3 = −0.3159,     v = 0.9·(−0.29) + 0.3 = 0.039
    // The pre-fix order (velocity first) gives −0.271, −0.8859, −0.28431: this test fails on it.
    let mut nesterov = Nesterov::new(0.1, 0.9);
    let mut w = One::new(&[0.0]);
    let mut after = Vec::new();
    for g in [1.0, 2.0, -3.0] {
        w.grad[0] = g;
        nesterov.update(&mut w);
        after.push(w.value[0]);
    }
    for (got, want) in after.iter().zip([-0.19, -0.651, -0.3159]) {
        assert!((got - want).abs() < 1e-12, "Nesterov: {after:?}");
    }
}

#[test]
fn adagrad_divides_by_the_root_of_the_sum_of_squares() {
    // h = 1, w −= 0.1·1/(1 + 1e-7); h = 5, w −= 0.1·2/(√5 + 1e-7).
    let first = -0.1 / (1.0 + 1e-7);
    let second = first - 0.2 / (5.0_f64.sqrt() + 1e-7);
    assert_close(
        two_steps(&mut AdaGrad::new(0.1)),
        [first, second],
        "AdaGrad",
    );
    assert!((second - -0.189_442_705).abs() < 1e-8);
}

#[test]
fn rmsprop_divides_by_the_root_of_a_decaying_mean_of_squares() {
    // h = 0.01·1 = 0.01, w −= 0.01·1/(0.1 + 1e-7);
    // h = 0.99·0.01 + 0.01·4 = 0.0499, w −= 0.01·2/(√0.0499 + 1e-7).
    let first = -0.01 / (0.1 + 1e-7);
    let second = first - 0.02 / (0.0499_f64.sqrt() + 1e-7);
    assert_close(
        two_steps(&mut RmsProp::new(0.01, 0.99)),
        [first, second],
        "RMSprop",
    );
    assert!((second - -0.189_532_156).abs() < 1e-8);
}

#[test]
fn adams_first_step_is_the_learning_rate_against_the_gradients_sign() {
    // t = 1: lr_t = 0.001·√0.001/0.1, m = 0.1, v = 0.001, step = lr_t·m/(√v + 1e-7) ≈ lr.
    let lr_1 = 0.001 * 0.001_f64.sqrt() / 0.1;
    let first = -lr_1 * 0.1 / (0.001_f64.sqrt() + 1e-7);
    // t = 2: lr_t = 0.001·√(1 − 0.999²)/(1 − 0.81), m = 0.1 + 0.1·(2 − 0.1) = 0.29,
    // v = 0.001 + 0.001·(4 − 0.001) = 0.004999.
    let lr_2 = 0.001 * (1.0 - 0.999_f64 * 0.999).sqrt() / 0.19;
    let second = first - lr_2 * 0.29 / (0.004999_f64.sqrt() + 1e-7);
    assert_close(
        two_steps(&mut Adam::new(0.001, 0.9, 0.999)),
        [first, second],
        "Adam",
    );
    assert!((first - -0.001).abs() < 1e-8);
}

/// The path of (x, y) from (−7, 2) down f(x, y) = x²/20 + y², whose gradient is (x/10, 2y), with
/// the book's settings of `optimizer_compare_naive.py`.
fn path(spec: OptimizerSpec, steps: usize) -> Vec<(f64, f64)> {
    let mut optimizer = spec.build::<f64>();
    let mut p = One::new(&[-7.0, 2.0]);
    let mut path = vec![(-7.0, 2.0)];
    for _ in 0..steps {
        p.grad[0] = p.value[0] / 10.0;
        p.grad[1] = 2.0 * p.value[1];
        optimizer.update(&mut p);
        path.push((p.value[0], p.value[1]));
    }
    path
}

#[test]
fn the_books_function_by_hand() {
    // SGD(lr=0.95): x −= 0.95·x/10, y −= 0.95·2y: x = −7·0.905ⁿ, y = 2·(−0.9)ⁿ.
    let sgd = path(OptimizerSpec::Sgd { lr: 0.95 }, 2);
    assert!((sgd[1].0 - -6.335).abs() < 1e-12 && (sgd[1].1 - -1.8).abs() < 1e-12);
    assert!((sgd[2].0 - -5.733_175).abs() < 1e-12 && (sgd[2].1 - 1.62).abs() < 1e-12);
    // Momentum(lr=0.1): v = (0.07, −0.4), p = (−6.93, 1.6);
    // v = 0.9·v − 0.1·(−0.693, 3.2) = (0.1323, −0.68), p = (−6.7977, 0.92).
    let momentum = path(OptimizerKind::Momentum.with_lr(0.1), 2);
    assert!((momentum[2].0 - -6.7977).abs() < 1e-12 && (momentum[2].1 - 0.92).abs() < 1e-12);
    // AdaGrad(lr=1.5): the first step is 1.5 against the gradient's sign, in each coordinate.
    let adagrad = path(OptimizerKind::AdaGrad.with_lr(1.5), 1);
    assert!((adagrad[1].0 - -5.5).abs() < 1e-6 && (adagrad[1].1 - 0.5).abs() < 1e-6);
    // Adam(lr=0.3): likewise 0.3 (less 0.3·1e-7/√(0.001·g²), about 1e-6 for g = 0.7).
    let adam = path(OptimizerKind::Adam.with_lr(0.3), 1);
    assert!((adam[1].0 - -6.7).abs() < 1e-5 && (adam[1].1 - 1.7).abs() < 1e-5);
}

#[test]
fn after_thirty_steps_adagrad_and_adam_are_near_the_minimum_and_sgd_is_not() {
    let end = |spec| *path(spec, 30).last().unwrap();
    let (x, y) = end(OptimizerSpec::Sgd { lr: 0.95 });
    assert!(x < -0.3, "SGD zigzags slowly along x: ({x}, {y})");
    for spec in [
        OptimizerKind::AdaGrad.with_lr(1.5),
        OptimizerKind::Adam.with_lr(0.3),
    ] {
        let (x, y) = end(spec);
        assert!(x.hypot(y) < 1.0, "{spec}: ({x}, {y})");
    }
}

#[test]
fn a_large_parameter_gets_exactly_its_own_update_on_one_or_two_threads() {
    // As large as the book's W1, updated in two halves: every value still gets exactly its own
    // update (small integers and eighths, so every result is exact).
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (rows, cols) = (784, 50);
        let mut params = One {
            value: Matrix::from_fn(rows, cols, |i, j| (i * cols + j) as f64),
            grad: Matrix::from_fn(rows, cols, |i, j| ((i + 3 * j) % 17) as f64 - 8.0),
        };
        pool.install(|| Sgd::new(0.125).update(&mut params));
        for ((i, j), &v) in (0..cols)
            .flat_map(|j| (0..rows).map(move |i| (i, j)))
            .zip(params.value.as_slice())
        {
            let want = (i * cols + j) as f64 - 0.125 * (((i + 3 * j) % 17) as f64 - 8.0);
            assert_eq!(v, want, "({i}, {j}) on {threads} threads");
        }
    }
}

#[test]
fn specs_take_the_books_defaults_and_reject_senseless_values() {
    let adam: OptimizerSpec = ron::from_str("Adam(lr: 0.002)").unwrap();
    assert_eq!(
        adam,
        OptimizerSpec::Adam {
            lr: 0.002,
            beta1: 0.9,
            beta2: 0.999
        }
    );
    for kind in OptimizerKind::ALL {
        let spec = kind.with_lr(kind.default_lr());
        assert_eq!(spec.kind(), kind);
        assert_eq!(spec.check(), Ok(()));
    }
    assert_eq!(OptimizerKind::Adam.default_lr(), 0.001);
    assert_eq!(
        OptimizerSpec::Sgd { lr: 0.0 }.check(),
        Err(OptimizerError::LearningRate(0.0))
    );
    let err = OptimizerSpec::Momentum {
        lr: 0.1,
        momentum: 1.0,
    }
    .check()
    .unwrap_err();
    assert!(err.to_string().contains("momentum 1"), "{err}");
    assert!(ron::from_str::<OptimizerSpec>("Adam(lr: 0.1, beta3: 0.5)").is_err());
}

/// Two parameters, visited in an order that the caller chooses: `W` then `b`, or `b` then `W`.
struct Two {
    w: Matrix<f64>,
    dw: Matrix<f64>,
    b: Matrix<f64>,
    db: Matrix<f64>,
    b_first: bool,
}

impl Trainable<f64> for Two {
    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, f64>)) {
        let w = Param::of(Kind::Weight, &mut self.w, &mut self.dw);
        let b = Param::of(Kind::Bias, &mut self.b, &mut self.db);
        if self.b_first {
            f(b);
            f(w);
        } else {
            f(w);
            f(b);
        }
    }
}

/// The book keys each velocity by the parameter's name (`self.v[key]`). Keyed by visit position
/// instead, `W`'s velocity would become `b`'s when the order changes: this Momentum run gives
/// `W` the gradients 1 then 1 and `b` the gradients 10 then 10, swapping the visit order between
/// the two updates, and each parameter must move as if alone.
#[test]
fn optimizer_state_follows_the_parameter_name_not_the_visit_order() {
    for kind in OptimizerKind::ALL {
        let spec = kind.with_lr(0.1);
        let mut optimizer = spec.build::<f64>();
        let mut two = Two {
            w: Matrix::zeros(1, 1),
            dw: Matrix::from_element(1, 1, 1.0),
            b: Matrix::zeros(1, 1),
            db: Matrix::from_element(1, 1, 10.0),
            b_first: false,
        };
        optimizer.update(&mut two);
        two.b_first = true;
        optimizer.update(&mut two);
        // Each parameter alone, with a fresh optimizer.
        let alone = |g: f64| {
            let mut optimizer = spec.build::<f64>();
            let mut one = One::new(&[0.0]);
            for _ in 0..2 {
                one.grad[0] = g;
                optimizer.update(&mut one);
            }
            one.value[0]
        };
        assert_eq!(two.w[0], alone(1.0), "{kind}: W");
        assert_eq!(two.b[0], alone(10.0), "{kind}: b");
    }
}
