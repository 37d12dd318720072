//! The training loop on small in-memory datasets whose answers are known.

use nn_core::{
    Activation, Init, Matrix, Model, MultiLayerNetConfig, Sequential, Shape, TwoLayerConfig,
    TwoLayerNet, TwoLayerParams,
};
use nn_train::{
    Dataset, EVAL_CHUNK, Evaluation, Evaluator, GradientMethod, History, Length, Observer,
    OptimizerSpec, RunInfo, Silent, TrainConfig, TrainError, Trained, train,
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

/// The two-layer net for `stripes`: 40 inputs, 10 classes, weights of std 0.01 from seed 42.
fn two_layer(hidden_size: usize, activation: Activation) -> TwoLayerNet<f32> {
    let config = TwoLayerConfig {
        input_size: 40,
        hidden_size,
        output_size: 10,
        activation,
        weight_init_std: 0.01,
    };
    TwoLayerNet::new(config, 42).unwrap()
}

fn quick_net() -> TwoLayerNet<f32> {
    two_layer(16, Activation::Relu)
}

fn quick_config() -> TrainConfig {
    TrainConfig {
        optimizer: OptimizerSpec::Sgd { lr: 0.5 },
        batch_size: 20,
        length: Length::Iters(150),
        ..TrainConfig::default()
    }
}

fn with_lr(lr: f64) -> TrainConfig {
    TrainConfig {
        optimizer: OptimizerSpec::Sgd { lr },
        ..quick_config()
    }
}

fn with_iters(iters: usize, config: &TrainConfig) -> TrainConfig {
    TrainConfig {
        length: Length::Iters(iters),
        ..config.clone()
    }
}

fn run<M: Model<f32>>(
    config: &TrainConfig,
    net: M,
    train_data: &Memory,
    test_data: &Memory,
) -> Result<Trained<M>, TrainError> {
    train(
        &config.clone().check().unwrap(),
        net,
        train_data,
        test_data,
        &mut Silent,
    )
}

#[test]
fn the_loop_learns_a_separable_problem() {
    let (train_data, test_data) = (stripes(500, 1), stripes(200, 2));
    let trained = run(&quick_config(), quick_net(), &train_data, &test_data).unwrap();
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
        batch_size: 20,
        length: Length::Iters(600),
        optimizer: OptimizerSpec::Sgd { lr: 2.0 },
        ..TrainConfig::default()
    };
    let net = two_layer(16, Activation::Sigmoid);
    let trained = run(&config, net, &train_data, &test_data).unwrap();
    assert!(trained.history.last_evaluation().unwrap().test_acc > 0.9);
}

#[test]
fn evaluations_follow_the_books_schedule() {
    // 100 samples / batch 10 = 10 iterations per epoch; 25 iterations: after 0, 10, 20 and 24.
    let (train_data, test_data) = (stripes(100, 1), stripes(30, 2));
    let config = TrainConfig {
        batch_size: 10,
        length: Length::Iters(25),
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
    let checked = config.check().unwrap();
    let trained = train(
        &checked,
        quick_net(),
        &train_data,
        &test_data,
        &mut recorder,
    )
    .unwrap();
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
            .install(|| run(&quick_config(), quick_net(), &train_data, &test_data))
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
        quick_net(),
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
    let config = with_lr(0.15);
    let (train_data, test_data) = (stripes(500, 1), stripes(4500, 2));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        // On two threads the evaluations run beside the loop; on one, at once.
        let long = pool.install(|| run(&config, quick_net(), &train_data, &test_data).unwrap());
        let evaluations = &long.history.evaluations;
        let at: Vec<usize> = evaluations.iter().map(|e| e.iteration).collect();
        assert_eq!(at, [0, 25, 50, 75, 100, 125, 149]);
        for e in &evaluations[3..] {
            let short = with_iters(e.iteration + 1, &config);
            let net = run(&short, quick_net(), &train_data, &test_data)
                .unwrap()
                .net;
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
    let config = TwoLayerConfig {
        input_size: 2,
        hidden_size: 2,
        output_size: 2,
        activation: Activation::Relu,
        weight_init_std: 0.0,
    };
    let eye = Matrix::<f32>::identity(2, 2);
    let params = TwoLayerParams {
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
fn numerical_gradients_train_like_backprop() {
    let (train_data, test_data) = (stripes(100, 1), stripes(30, 2));
    let config = TrainConfig {
        batch_size: 5,
        length: Length::Iters(3),
        optimizer: OptimizerSpec::Sgd { lr: 0.1 },
        ..quick_config()
    };
    let net = || two_layer(4, Activation::Sigmoid);
    let backprop = run(&config, net(), &train_data, &test_data).unwrap();
    let numerical = run(
        &TrainConfig {
            gradient: GradientMethod::Numerical,
            ..config
        },
        net(),
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
    let moved = net().params().max_abs_diff(&a);
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
            length: Length::Iters(50),
            optimizer: OptimizerSpec::Sgd { lr: 2.0 },
            ..quick_config()
        };
        let net = || {
            let config = TwoLayerConfig {
                input_size: 40,
                hidden_size: 16,
                output_size: 10,
                activation,
                weight_init_std: 0.1,
            };
            TwoLayerNet::<f32>::new(config, 42).unwrap()
        };
        let backprop = run(&config, net(), &train_data, &test_data).unwrap();
        let numerical = run(
            &TrainConfig {
                gradient: GradientMethod::Numerical,
                ..config
            },
            net(),
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
    let config = with_lr(1e30).check().unwrap();
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
    let result = pool.install(|| train(&config, quick_net(), &train_data, &test_data, &mut seen));
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
        run(&too_big, quick_net(), &train_data, &test_data),
        Err(TrainError::BatchSizeTooLarge {
            batch_size: 101,
            train_size: 100
        })
    ));
    let other_inputs = TwoLayerNet::<f32>::new(TwoLayerConfig::default(), 0).unwrap();
    let err = run(&quick_config(), other_inputs, &train_data, &test_data).unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::NetworkMismatch {
                model_inputs: 784,
                data_inputs: 40,
                ..
            }
        ),
        "{err}"
    );

    let other = Memory {
        inputs: 3,
        classes: 10,
        pixels: vec![0; 3],
        labels: vec![0],
    };
    assert!(matches!(
        run(&quick_config(), quick_net(), &train_data, &other),
        Err(TrainError::DatasetMismatch { .. })
    ));

    let empty = Memory {
        inputs: 40,
        classes: 10,
        pixels: vec![],
        labels: vec![],
    };
    assert!(matches!(
        run(&quick_config(), quick_net(), &train_data, &empty),
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
                let config = quick_config().check().unwrap();
                pool.install(|| train(&config, quick_net(), train_data, test_data, &mut Silent))
            }));
            done.send(outcome.is_err()).unwrap();
        });
        let panicked = finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("train() hung after an evaluation job panicked");
        assert!(panicked, "{threads} threads: the bad sample went unnoticed");
    }
}

#[test]
fn a_deep_stack_with_batch_norm_and_dropout_learns_with_adam() {
    let (train_data, test_data) = (stripes(500, 1), stripes(200, 2));
    let spec = MultiLayerNetConfig {
        hidden: vec![32, 32, 32],
        activation: Activation::Relu,
        init: Init::He,
        batch_norm: true,
        dropout: Some(0.1),
        weight_decay: 0.01,
    }
    .spec(Shape::flat(40), 10);
    let config = TrainConfig {
        optimizer: OptimizerSpec::Adam {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
        },
        ..quick_config()
    };
    let net = Sequential::<f32>::new(spec, 3).unwrap();
    let trained = run(&config, net, &train_data, &test_data).unwrap();
    let last = trained.history.last_evaluation().unwrap();
    assert!(last.test_acc > 0.95, "{last:?}");
}

#[test]
fn epoch_evaluations_can_score_the_first_samples_only() {
    // 100 samples / batch 10 = 10 iterations per epoch; 2 epochs: after 0, 10 and 19.
    let (train_data, test_data) = (stripes(100, 1), stripes(30, 2));
    let config = TrainConfig {
        batch_size: 10,
        length: Length::Epochs(2),
        eval_samples: Some(7),
        ..quick_config()
    };
    let trained = run(&config, quick_net(), &train_data, &test_data).unwrap();
    let evaluations = &trained.history.evaluations;
    let at: Vec<usize> = evaluations.iter().map(|e| e.iteration).collect();
    assert_eq!(at, [0, 10, 19]);
    // The epoch evaluations count sevenths; the final one, hundredths and thirtieths.
    let exact = |acc: f64, n: f64| ((acc * n).round() - acc * n).abs() < 1e-9;
    for e in &evaluations[..2] {
        assert!(exact(e.train_acc, 7.0) && exact(e.test_acc, 7.0), "{e:?}");
    }
    let last = evaluations[2];
    assert!(
        exact(last.train_acc, 100.0) && exact(last.test_acc, 30.0),
        "{last:?}"
    );
    let mut evaluator = Evaluator::new(1);
    assert_eq!(last.test_acc, evaluator.accuracy(&trained.net, &test_data));
}
