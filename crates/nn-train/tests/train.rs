//! The training loop on small in-memory datasets whose answers are known.

use nn_core::{Activation, Matrix, NetConfig, Param, Parameters, Params, TwoLayerNet};
use nn_train::{
    Dataset, EVAL_CHUNK, Evaluation, Evaluator, GradientMethod, History, Observer, Optimizer,
    RunInfo, Sgd, Silent, TrainConfig, TrainError, train,
};

/// Samples stored contiguously, `inputs` values each.
struct Memory {
    inputs: usize,
    classes: usize,
    pixels: Vec<u8>,
    labels: Vec<u8>,
}

impl Dataset for Memory {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn input_size(&self) -> usize {
        self.inputs
    }
    fn num_classes(&self) -> usize {
        self.classes
    }
    fn pixels(&self, i: usize) -> &[u8] {
        &self.pixels[i * self.inputs..(i + 1) * self.inputs]
    }
    fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }
}

/// Ten classes of 40 inputs: class `c` lights inputs `4c..4c+4`, over pseudo-random noise.
fn stripes(count: usize, seed: u64) -> Memory {
    let mut state = seed;
    let mut noise = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u8 % 80
    };
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for i in 0..count {
        let c = i % 10;
        labels.push(c as u8);
        pixels.extend((0..40).map(|p| if p / 4 == c { 255 } else { noise() }));
    }
    Memory {
        inputs: 40,
        classes: 10,
        pixels,
        labels,
    }
}

fn quick_config() -> TrainConfig {
    TrainConfig {
        hidden_size: 16,
        activation: Activation::Relu,
        learning_rate: 0.5,
        batch_size: 20,
        iters: 150,
        ..TrainConfig::default()
    }
}

fn run(
    config: &TrainConfig,
    train_data: &Memory,
    test_data: &Memory,
) -> Result<nn_train::Trained, TrainError> {
    let mut sgd = Sgd::new(config.learning_rate as f32);
    train(config, train_data, test_data, &mut sgd, &mut Silent)
}

#[test]
fn the_loop_learns_a_separable_problem() {
    let (train_data, test_data) = (stripes(500, 1), stripes(200, 2));
    let trained = run(&quick_config(), &train_data, &test_data).unwrap();
    let history = &trained.history;
    let first = history.evaluations.first().unwrap();
    let last = history.last_evaluation().unwrap();
    assert!(first.test_acc < 0.5, "{first:?}");
    assert!(last.test_acc > 0.95 && last.train_acc > 0.95, "{last:?}");
    let mean = |losses: &[f32]| losses.iter().sum::<f32>() / losses.len() as f32;
    assert!(mean(&history.train_loss[140..]) < 0.2 * mean(&history.train_loss[..10]));
}

#[test]
fn sigmoid_with_the_books_settings_learns_too() {
    let (train_data, test_data) = (stripes(500, 1), stripes(200, 2));
    let config = TrainConfig {
        hidden_size: 16,
        batch_size: 20,
        iters: 600,
        learning_rate: 2.0,
        ..TrainConfig::default()
    };
    let trained = run(&config, &train_data, &test_data).unwrap();
    assert!(trained.history.last_evaluation().unwrap().test_acc > 0.9);
}

#[test]
fn evaluations_follow_the_books_schedule() {
    // 100 samples / batch 10 = 10 iterations per epoch; 25 iterations: after 0, 10, 20 and 24.
    let (train_data, test_data) = (stripes(100, 1), stripes(30, 2));
    let config = TrainConfig {
        batch_size: 10,
        iters: 25,
        ..quick_config()
    };

    #[derive(Default)]
    struct Recorder {
        info: Option<RunInfo>,
        iterations: usize,
        evaluations: Vec<Evaluation>,
        finished: bool,
    }
    impl Observer for Recorder {
        fn on_start(&mut self, info: &RunInfo) {
            self.info = Some(*info);
        }
        fn on_iteration(&mut self, iteration: usize, _loss: f32) {
            assert_eq!(iteration, self.iterations);
            self.iterations += 1;
        }
        fn on_evaluation(&mut self, evaluation: &Evaluation) {
            self.evaluations.push(*evaluation);
        }
        fn on_finish(&mut self, _history: &History) {
            self.finished = true;
        }
    }

    let mut recorder = Recorder::default();
    let mut sgd = Sgd::new(0.5);
    let trained = train(&config, &train_data, &test_data, &mut sgd, &mut recorder).unwrap();
    assert_eq!(
        recorder.info,
        Some(RunInfo {
            iters: 25,
            iter_per_epoch: 10,
            epochs: 3
        })
    );
    assert_eq!(recorder.iterations, 25);
    assert!(recorder.finished);
    let at: Vec<(usize, usize)> = recorder
        .evaluations
        .iter()
        .map(|e| (e.iteration, e.epoch))
        .collect();
    assert_eq!(at, [(0, 0), (10, 1), (20, 2), (24, 3)]);
    assert_eq!(trained.history.evaluations, recorder.evaluations);
    assert_eq!(trained.history.train_loss.len(), 25);
    assert_eq!(trained.history.elapsed_s.len(), 25);
    // Accuracies are fractions of 100 and 30 samples.
    for e in &recorder.evaluations {
        assert!(((e.train_acc * 100.0).round() - e.train_acc * 100.0).abs() < 1e-9);
        assert!(((e.test_acc * 30.0).round() - e.test_acc * 30.0).abs() < 1e-9);
    }
}

#[test]
fn the_same_seed_gives_the_same_run_whatever_the_thread_count() {
    let (train_data, test_data) = (stripes(500, 1), stripes(4500, 2));
    let in_pool = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let trained = pool
            .install(|| run(&quick_config(), &train_data, &test_data))
            .unwrap();
        let evals: Vec<(usize, f64, f64)> = trained
            .history
            .evaluations
            .iter()
            .map(|e| (e.iteration, e.train_acc, e.test_acc))
            .collect();
        (trained.net.params(), trained.history.train_loss, evals)
    };
    let one = in_pool(1);
    assert_eq!(one, in_pool(2));
    assert_eq!(one, in_pool(3));
    // Another seed gives another run.
    let other = run(
        &TrainConfig {
            seed: 7,
            ..quick_config()
        },
        &train_data,
        &test_data,
    )
    .unwrap();
    assert_ne!(other.history.train_loss, one.1);
}

#[test]
fn each_evaluation_scores_the_network_as_it_was_after_its_iteration() {
    // Evaluations run beside the loop, on a copy of the network: each must score the copy
    // taken after its own iteration, not whatever the network has become since. A run cut
    // short after iteration `i` ends with exactly that network, so its parameters, scored
    // synchronously by an `Evaluator`, give what the long run's evaluation at `i` must say.
    // 500 / 20 = 25 iterations per epoch: the long run evaluates after 0, 25, 50, ... 149.
    // A small learning rate, so that the accuracy climbs over several evaluations.
    let config = TrainConfig {
        learning_rate: 0.15,
        ..quick_config()
    };
    let (train_data, test_data) = (stripes(500, 1), stripes(4500, 2));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        // On two threads the evaluations run beside the loop; on one, at once.
        let long = pool.install(|| run(&config, &train_data, &test_data).unwrap());
        let evaluations = &long.history.evaluations;
        let at: Vec<usize> = evaluations.iter().map(|e| e.iteration).collect();
        assert_eq!(at, [0, 25, 50, 75, 100, 125, 149]);
        for e in &evaluations[3..] {
            let short = TrainConfig {
                iters: e.iteration + 1,
                ..config.clone()
            };
            let net = run(&short, &train_data, &test_data).unwrap().net;
            let mut evaluator = Evaluator::new(threads);
            let (train_acc, test_acc) = pool.install(|| {
                (
                    evaluator.accuracy(&net, &train_data),
                    evaluator.accuracy(&net, &test_data),
                )
            });
            assert_eq!((e.train_acc, e.test_acc), (train_acc, test_acc), "{e:?}");
        }
        // From iteration 75 on, the accuracy changes at every evaluation (about 0.2, 0.56,
        // 0.35, 0.93), so an evaluation of a later or an earlier network would be seen.
        for pair in evaluations[3..].windows(2) {
            assert_ne!(pair[0].test_acc, pair[1].test_acc, "{pair:?}");
        }
    }
}

#[test]
fn accuracy_over_several_chunks_counts_every_sample_once() {
    // A net that predicts the brighter of two inputs: W1 = I, ReLU, W2 = I.
    let config = NetConfig {
        input_size: 2,
        hidden_size: 2,
        output_size: 2,
        activation: Activation::Relu,
        weight_init_std: 0.0,
    };
    let eye = Matrix::<f32>::identity(2, 2);
    let params = Params {
        w1: eye.clone(),
        b1: Matrix::zeros(2, 1),
        w2: eye,
        b2: Matrix::zeros(2, 1),
    };
    let net = TwoLayerNet::from_params(config, params).unwrap();
    // 2·EVAL_CHUNK + 500 samples, brighter input 0; every third one is labelled 1 (wrong).
    let n = 2 * EVAL_CHUNK + 500;
    let data = Memory {
        inputs: 2,
        classes: 2,
        pixels: (0..n).flat_map(|_| [200, 10]).collect(),
        labels: (0..n).map(|i| u8::from(i % 3 == 0)).collect(),
    };
    let wrong = n.div_ceil(3);
    for threads in [1, 2, 4] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let acc = pool.install(|| Evaluator::new(threads).accuracy(&net, &data));
        assert_eq!(acc, (n - wrong) as f64 / n as f64);
    }
}

#[test]
fn sgd_subtracts_the_learning_rate_times_the_gradient() {
    struct Two {
        value: Matrix<f64>,
        grad: Matrix<f64>,
    }
    impl Parameters<f64> for Two {
        fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, f64>)) {
            f(Param {
                name: "W",
                value: &mut self.value,
                grad: &self.grad,
            });
        }
    }
    let mut params = Two {
        value: Matrix::from_column_slice(2, 1, &[1.0, -2.0]),
        grad: Matrix::from_column_slice(2, 1, &[0.5, -4.0]),
    };
    Sgd::new(0.25).step(&mut params);
    assert_eq!(params.value.as_slice(), &[0.875, -1.0]);

    // A parameter as large as the book's W1 is updated in two halves, on two threads when
    // there are two: every value still gets exactly its own update (small integers and
    // eighths, so every result is exact).
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (rows, cols) = (784, 50);
        let mut params = Two {
            value: Matrix::from_fn(rows, cols, |i, j| (i * cols + j) as f64),
            grad: Matrix::from_fn(rows, cols, |i, j| ((i + 3 * j) % 17) as f64 - 8.0),
        };
        pool.install(|| Sgd::new(0.125).step(&mut params));
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
fn numerical_gradients_train_like_backprop() {
    let (train_data, test_data) = (stripes(100, 1), stripes(30, 2));
    let config = TrainConfig {
        hidden_size: 4,
        batch_size: 5,
        iters: 3,
        learning_rate: 0.1,
        activation: Activation::Sigmoid,
        ..quick_config()
    };
    let backprop = run(&config, &train_data, &test_data).unwrap();
    let numerical = run(
        &TrainConfig {
            gradient: GradientMethod::Numerical,
            ..config
        },
        &train_data,
        &test_data,
    )
    .unwrap();
    let (a, b) = (backprop.net.params(), numerical.net.params());
    // The numerical gradient is computed in f64 (to about 1e-10): the weights differ by the f32
    // rounding of backprop's gradient and of the updates.
    for (name, diff) in a.max_abs_diff(&b) {
        assert!(diff < 1e-6, "{name}: {diff}");
    }
    // Yet the step is much larger than that: the weights moved from their initial values.
    let fresh = TwoLayerNet::<f32>::new(backprop.net.config().clone(), config.seed).unwrap();
    let moved = fresh.params().max_abs_diff(&a);
    assert!(moved.iter().any(|&(_, d)| d > 1e-2), "{moved:?}");
}

/// 50 iterations with `--gradient numerical` (the book's central differences in f64, by
/// `nn_core::FastNumericalGradient`) follow the loss curve of the same run with backprop: with
/// sigmoid the two gradients differ by the central difference's error (about 1e-10) and the f32
/// rounding of backprop's, so the curves stay within 1e-5 while the loss falls by 2.
///
/// With ReLU they part: a central difference whose `±h` straddles a hidden unit's kink sees both
/// slopes where backprop sees one (the first batch of this run has two pre-activations within
/// 1e-4 of 0), and at this learning rate the trajectories then differ by a few 1e-2, while both
/// learn the problem.
#[test]
fn a_numerical_run_follows_the_backprop_loss_curve() {
    let (train_data, test_data) = (stripes(500, 1), stripes(100, 2));
    for activation in [Activation::Sigmoid, Activation::Relu] {
        let config = TrainConfig {
            activation,
            iters: 50,
            learning_rate: 2.0,
            weight_init_std: 0.1,
            ..quick_config()
        };
        let backprop = run(&config, &train_data, &test_data).unwrap();
        let numerical = run(
            &TrainConfig {
                gradient: GradientMethod::Numerical,
                ..config
            },
            &train_data,
            &test_data,
        )
        .unwrap();
        let (a, b) = (&backprop.history.train_loss, &numerical.history.train_loss);
        assert_eq!((a.len(), b.len()), (50, 50));
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0_f32, f32::max);
        eprintln!(
            "{activation}: loss {} -> {} (backprop), {} (numerical); largest difference {worst:e}",
            a[0], a[49], b[49]
        );
        match activation {
            Activation::Sigmoid => {
                assert!(a[49] < 0.3 && a[0] > 2.3, "the loss fell by 2: {a:?}");
                assert!(worst < 1e-5, "{worst:e}\n{a:?}\n{b:?}");
            }
            Activation::Relu => assert!(a[49] < 0.01 && b[49] < 0.01, "{a:?}\n{b:?}"),
        }
    }
}

#[test]
fn a_diverging_run_stops_with_the_iteration_and_advice() {
    let (train_data, test_data) = (stripes(100, 1), stripes(30, 2));
    let config = TrainConfig {
        learning_rate: 1e30,
        ..quick_config()
    };
    // Evaluations run beside the loop: those of the iterations before the divergence still
    // reach the observer. (100 / 20 = 5 iterations per epoch.)
    #[derive(Default)]
    struct Evaluations(Vec<usize>);
    impl Observer for Evaluations {
        fn on_evaluation(&mut self, evaluation: &Evaluation) {
            self.0.push(evaluation.iteration);
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let mut seen = Evaluations::default();
    let mut sgd = Sgd::new(config.learning_rate as f32);
    let result = pool.install(|| train(&config, &train_data, &test_data, &mut sgd, &mut seen));
    let Err(err) = result else {
        panic!("a learning rate of 1e30 should diverge");
    };
    let TrainError::Diverged {
        iteration,
        loss,
        learning_rate,
    } = err.clone()
    else {
        panic!("expected divergence, got {err}");
    };
    assert!(iteration > 0 && iteration < 150, "{iteration}");
    let before: Vec<usize> = (0..iteration).step_by(5).collect();
    assert_eq!(seen.0, before);
    assert!(!loss.is_finite());
    assert_eq!(learning_rate, 1e30);
    let message = err.to_string();
    assert!(
        message.contains(&format!("iteration {iteration}"))
            && message.contains("smaller learning rate"),
        "{message}"
    );
}

#[test]
fn bad_inputs_are_errors_before_training() {
    let (train_data, test_data) = (stripes(100, 1), stripes(30, 2));
    let too_big = TrainConfig {
        batch_size: 101,
        ..quick_config()
    };
    assert!(matches!(
        run(&too_big, &train_data, &test_data),
        Err(TrainError::Config(_))
    ));

    let other = Memory {
        inputs: 3,
        classes: 10,
        pixels: vec![0; 3],
        labels: vec![0],
    };
    assert!(matches!(
        run(&quick_config(), &train_data, &other),
        Err(TrainError::DatasetMismatch { .. })
    ));

    let empty = Memory {
        inputs: 40,
        classes: 10,
        pixels: vec![],
        labels: vec![],
    };
    assert!(matches!(
        run(&quick_config(), &train_data, &empty),
        Err(TrainError::EmptyTest)
    ));
}

#[test]
fn a_panic_while_evaluating_is_passed_on_instead_of_hanging() {
    /// A dataset whose sample 7 is one value short: a bug of the `Dataset` implementation,
    /// which only the evaluation of the test split reads.
    struct Short(Memory);
    impl Dataset for Short {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn input_size(&self) -> usize {
            self.0.input_size()
        }
        fn num_classes(&self) -> usize {
            self.0.num_classes()
        }
        fn pixels(&self, i: usize) -> &[u8] {
            let pixels = self.0.pixels(i);
            if i == 7 { &pixels[1..] } else { pixels }
        }
        fn label(&self, i: usize) -> u8 {
            self.0.label(i)
        }
    }
    for threads in [1, 2] {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (train_data, test_data) = (stripes(100, 1), Short(stripes(30, 2)));
            let (train_data, test_data): (&dyn Dataset, &dyn Dataset) = (&train_data, &test_data);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut sgd = Sgd::new(0.5);
                pool.install(|| {
                    train(
                        &quick_config(),
                        train_data,
                        test_data,
                        &mut sgd,
                        &mut Silent,
                    )
                })
            }));
            done.send(outcome.is_err()).unwrap();
        });
        let panicked = finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("train() hung after an evaluation job panicked");
        assert!(panicked, "{threads} threads: the bad sample went unnoticed");
    }
}
