//! Checkpoints and resumed runs: a run stopped after any iteration and resumed from its
//! checkpoint, on another number of threads, ends with the very bits of the run that never
//! stopped, for every optimizer, batch norm, dropout, weight decay, a CNN and the numerical
//! gradient; a lengthened run is the longer run; states that do not fit are refused.

use std::sync::Mutex;

use nn_core::{
    Activation, Init, LayerSpec, Model, MultiLayerNetConfig, NetSpec, Sequential, Shape,
    TwoLayerConfig, TwoLayerNet,
};
use nn_train::{
    CheckedConfig, Checkpoint, CheckpointReason, Checkpoints, Dataset, GradientMethod, History,
    Length, Observer, OptimizerKind, OptimizerSpec, ResumeError, RunState, TrainConfig, TrainError,
    Trained, train_with,
};

/// Samples stored contiguously, `inputs` values each.
struct Memory {
    inputs: usize,
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
        4
    }
    fn pixels(&self, i: usize) -> &[u8] {
        &self.pixels[i * self.inputs..(i + 1) * self.inputs]
    }
    fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }
}

/// Four classes of 6×6 images: class `c` lights a row band of its own, over noise.
fn bands(count: usize, seed: u64) -> Memory {
    let mut state = seed;
    let mut noise = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u8 % 100
    };
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for i in 0..count {
        let c = (i * 3 + 1) % 4;
        labels.push(c as u8);
        pixels.extend((0..36).map(|p| if p / 9 == c { 230 } else { noise() }));
    }
    Memory {
        inputs: 36,
        pixels,
        labels,
    }
}

/// Stops the run on the `at`-th call of `should_stop` (1-based): after iteration `at - 1`, or,
/// for `at = iters + 1`, during the final evaluation.
struct StopAt {
    at: usize,
    calls: usize,
}

impl Observer for StopAt {
    fn should_stop(&mut self) -> bool {
        self.calls += 1;
        self.calls == self.at
    }
}

/// A network, as a checkpoint file keeps it: rebuilt from its spec and seed, then given its
/// parameters, state and dropout steps.
trait Rebuild: Model<f32> + Sized {
    fn rebuild(&self, seed: u64) -> Self;
}

fn copy_into<M: Model<f32>>(from: &M, to: &mut M) {
    let mut from = from.snapshot();
    let (mut params, mut state, mut steps) = (Vec::new(), Vec::new(), Vec::new());
    from.visit_params(&mut |p| params.push(p.value.clone()));
    from.visit_state(&mut |s| state.push(s.value.clone()));
    from.visit_steps(&mut |s| steps.push(*s));
    let (mut params, mut state, mut steps) =
        (params.into_iter(), state.into_iter(), steps.into_iter());
    to.visit_params(&mut |p| *p.value = params.next().unwrap());
    to.visit_state(&mut |s| *s.value = state.next().unwrap());
    to.visit_steps(&mut |s| *s = steps.next().unwrap());
}

impl Rebuild for Sequential<f32> {
    fn rebuild(&self, seed: u64) -> Self {
        let mut net = Sequential::new(self.spec(), seed).unwrap();
        copy_into(self, &mut net);
        net
    }
}

impl Rebuild for TwoLayerNet<f32> {
    fn rebuild(&self, seed: u64) -> Self {
        let mut net = TwoLayerNet::new(self.config().clone(), seed).unwrap();
        copy_into(self, &mut net);
        net
    }
}

/// Everything a run's outcome is compared on: every parameter's and state matrix's bits, the
/// losses' bits, the evaluations without their wall-clock times.
fn outcome<M: Model<f32>>(trained: &Trained<M>) -> (Vec<u32>, Vec<u32>, Vec<String>) {
    let mut net = trained.net.snapshot();
    let mut bits = Vec::new();
    net.visit_params(&mut |p| bits.extend(p.value.iter().map(|v| v.to_bits())));
    net.visit_state(&mut |s| bits.extend(s.value.iter().map(|v| v.to_bits())));
    let losses = trained
        .history
        .train_loss
        .iter()
        .map(|l| l.to_bits())
        .collect();
    (bits, losses, evaluations(&trained.history))
}

fn evaluations(history: &History) -> Vec<String> {
    history
        .evaluations
        .iter()
        .map(|e| format!("{} {} {} {}", e.iteration, e.epoch, e.train_acc, e.test_acc))
        .collect()
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// Runs `config` on `net` in a pool of `threads`, resumed from `resume` if given, stopping at
/// the `stop`-th `should_stop`, with checkpoints every `every` iterations; returns the result
/// and every checkpoint taken (network rebuilt, state, reason).
#[allow(clippy::type_complexity)]
fn run<M: Rebuild>(
    config: &CheckedConfig,
    net: M,
    data: (&Memory, &Memory),
    threads: usize,
    resume: Option<RunState>,
    stop: usize,
    every: usize,
) -> (
    Result<Trained<M>, TrainError>,
    Vec<(M, RunState, CheckpointReason)>,
) {
    let seed = config.config().seed;
    let taken = Mutex::new(Vec::new());
    let mut save = |c: &Checkpoint<'_, M>| {
        taken
            .lock()
            .unwrap()
            .push((c.network.rebuild(seed), c.state.clone(), c.reason));
        Ok(())
    };
    let checkpoints = Checkpoints {
        resume,
        every,
        min_gap: std::time::Duration::ZERO,
        save: &mut save,
    };
    let mut observer = StopAt { at: stop, calls: 0 };
    let result = pool(threads).install(|| {
        train_with(
            config,
            net,
            data.0,
            data.1,
            &mut observer,
            Some(checkpoints),
        )
    });
    (result, taken.into_inner().unwrap())
}

/// Stops the run after each of `stops` (0-based iterations; `iters` for during the final
/// evaluation) on one thread, resumes it on two, and checks the outcome against the run that
/// never stopped; also resumes from a periodic checkpoint.
fn stopped_and_resumed_runs_end_with_the_same_bits<M: Rebuild>(
    name: &str,
    config: TrainConfig,
    net: impl Fn() -> M,
    stops: &[usize],
) {
    let (train, test) = (bands(60, 1), bands(30, 2));
    let data = (&train, &test);
    let config = config.check().unwrap();
    let iters = config.schedule(train.len()).iters;
    let (whole, taken) = run(&config, net(), data, 2, None, usize::MAX, 0);
    let whole = whole.unwrap();
    assert_eq!(whole.history.train_loss.len(), iters);
    // Only the final checkpoint without periodic ones.
    assert_eq!(taken.len(), 1, "{name}");
    assert_eq!(taken[0].2, CheckpointReason::Finished);
    let expected = outcome(&whole);

    for &stop in stops {
        let (stopped, mut taken) = run(&config, net(), data, 1, None, stop + 1, 0);
        assert_eq!(
            stopped.err(),
            Some(TrainError::Stopped {
                iteration: stop.min(iters - 1)
            }),
            "{name}, stop {stop}"
        );
        let (network, state, reason) = taken.pop().unwrap();
        assert_eq!(reason, CheckpointReason::Stopped);
        assert_eq!(state.iterations, (stop + 1).min(iters), "{name}");
        let (resumed, _) = run(&config, network, data, 2, Some(state), usize::MAX, 0);
        assert_eq!(
            outcome(&resumed.unwrap()),
            expected,
            "{name}: stopped after iteration {stop}"
        );
    }

    // Periodic checkpoints every 7 iterations: resuming from each gives the same run too.
    let (again, taken) = run(&config, net(), data, 1, None, usize::MAX, 7);
    assert_eq!(outcome(&again.unwrap()), expected, "{name}");
    let periodic: Vec<usize> = taken.iter().map(|(_, s, _)| s.iterations).collect();
    let mut want: Vec<usize> = (7..iters).step_by(7).collect();
    want.push(iters);
    assert_eq!(periodic, want, "{name}");
    for (network, state, _) in taken.into_iter().take(2) {
        let (resumed, _) = run(&config, network, data, 2, Some(state), usize::MAX, 7);
        assert_eq!(outcome(&resumed.unwrap()), expected, "{name}");
    }
}

/// A run of `iters` iterations on batches of 12 (5 iterations per epoch on 60 samples).
fn config(iters: usize, optimizer: OptimizerSpec) -> TrainConfig {
    TrainConfig {
        batch_size: 12,
        length: Length::Iters(iters),
        optimizer,
        seed: 7,
        eval_samples: Some(20),
        ..TrainConfig::default()
    }
}

/// Stops at the first iteration, either side of an evaluation (iterations 4, 5, 6 around the
/// one after iteration 5), before the last, after the last (during the final evaluation).
const STOPS: [usize; 7] = [0, 4, 5, 6, 13, 18, 19];

#[test]
fn two_layer_net_with_sgd_momentum_and_nesterov() {
    let net = || {
        let config = TwoLayerConfig {
            input_size: 36,
            hidden_size: 10,
            output_size: 4,
            activation: Activation::Sigmoid,
            weight_init_std: 0.1,
        };
        TwoLayerNet::<f32>::new(config, 3).unwrap()
    };
    for kind in [
        OptimizerKind::Sgd,
        OptimizerKind::Momentum,
        OptimizerKind::Nesterov,
    ] {
        stopped_and_resumed_runs_end_with_the_same_bits(
            kind.name(),
            config(20, kind.with_lr(0.1)),
            net,
            &STOPS,
        );
    }
}

#[test]
fn a_deep_stack_with_adam_batch_norm_dropout_and_weight_decay() {
    let spec = MultiLayerNetConfig {
        hidden: vec![12, 10],
        activation: Activation::Relu,
        init: Init::He,
        batch_norm: true,
        dropout: Some(0.2),
        weight_decay: 0.1,
    }
    .spec(Shape::flat(36), 4);
    for kind in [
        OptimizerKind::Adam,
        OptimizerKind::AdaGrad,
        OptimizerKind::RmsProp,
    ] {
        stopped_and_resumed_runs_end_with_the_same_bits(
            kind.name(),
            config(20, kind.with_lr(0.01)),
            || Sequential::<f32>::new(spec.clone(), 7).unwrap(),
            &STOPS,
        );
    }
}

#[test]
fn a_conv_net_with_dropout() {
    let spec = NetSpec {
        input: Shape::new(1, 6, 6),
        layers: vec![
            LayerSpec::Convolution {
                filters: 3,
                size: 3,
                stride: 1,
                pad: 1,
            },
            LayerSpec::Relu,
            LayerSpec::Pooling {
                size: 2,
                stride: None,
                pad: 0,
            },
            LayerSpec::Dropout { ratio: 0.3 },
            LayerSpec::Affine { out: 4 },
        ],
        init: Init::He,
        weight_decay: 0.0,
    };
    stopped_and_resumed_runs_end_with_the_same_bits(
        "conv",
        config(20, OptimizerKind::Adam.with_lr(0.01)),
        || Sequential::<f32>::new(spec.clone(), 7).unwrap(),
        &STOPS,
    );
}

#[test]
fn the_numerical_gradient() {
    let net = || {
        let config = TwoLayerConfig {
            input_size: 36,
            hidden_size: 3,
            output_size: 4,
            activation: Activation::Sigmoid,
            weight_init_std: 0.1,
        };
        TwoLayerNet::<f32>::new(config, 3).unwrap()
    };
    let config = TrainConfig {
        gradient: GradientMethod::Numerical,
        ..config(12, OptimizerKind::Sgd.with_lr(0.5))
    };
    stopped_and_resumed_runs_end_with_the_same_bits("numerical", config, net, &[0, 5, 11, 12]);
}

#[test]
fn a_lengthened_run_is_the_longer_run() {
    let (train, test) = (bands(60, 1), bands(30, 2));
    let data = (&train, &test);
    let net = || {
        let spec = MultiLayerNetConfig {
            hidden: vec![8],
            activation: Activation::Relu,
            init: Init::He,
            batch_norm: false,
            dropout: Some(0.1),
            weight_decay: 0.0,
        }
        .spec(Shape::flat(36), 4);
        Sequential::<f32>::new(spec, 7).unwrap()
    };
    let adam = OptimizerKind::Adam.with_lr(0.01);
    // 21 iterations: the final evaluation of the 21-iteration run falls after iteration 20,
    // where the longer run evaluates its epoch on 20 samples; 23 iterations: after iteration 22,
    // where the longer run does not evaluate.
    for length in [21, 23] {
        let long = config(40, adam).check().unwrap();
        let (whole, _) = run(&long, net(), data, 2, None, usize::MAX, 0);
        let expected = outcome(&whole.unwrap());
        let short = config(length, adam).check().unwrap();
        let (done, mut taken) = run(&short, net(), data, 1, None, usize::MAX, 0);
        let done = done.unwrap();
        assert_eq!(done.history.evaluations.last().unwrap().test_acc, {
            // The short run's final evaluation covers the whole test split.
            let (_, _, evals) = outcome(&done);
            evals
                .last()
                .unwrap()
                .split(' ')
                .nth(3)
                .unwrap()
                .parse::<f64>()
                .unwrap()
        });
        let (network, state, reason) = taken.pop().unwrap();
        assert_eq!(reason, CheckpointReason::Finished);
        let (resumed, _) = run(&long, network, data, 2, Some(state), usize::MAX, 0);
        assert_eq!(
            outcome(&resumed.unwrap()),
            expected,
            "lengthened from {length}"
        );
    }
}

#[test]
fn states_that_do_not_fit_are_refused() {
    let (train, test) = (bands(60, 1), bands(30, 2));
    let data = (&train, &test);
    let net = || {
        let config = TwoLayerConfig {
            input_size: 36,
            hidden_size: 10,
            output_size: 4,
            ..TwoLayerConfig::default()
        };
        TwoLayerNet::<f32>::new(config, 3).unwrap()
    };
    let adam = config(20, OptimizerKind::Adam.with_lr(0.01))
        .check()
        .unwrap();
    let (_, mut taken) = run(&adam, net(), data, 1, None, 9, 0);
    let (_, state, _) = taken.pop().unwrap();
    assert_eq!(state.iterations, 9);
    assert_eq!(state.optimizer.updates, 9);
    let resume = |config: &CheckedConfig, state: RunState| {
        run(config, net(), data, 1, Some(state), usize::MAX, 0)
            .0
            .err()
            .unwrap()
    };

    // Shorter.
    let short = config(8, OptimizerKind::Adam.with_lr(0.01))
        .check()
        .unwrap();
    assert_eq!(
        resume(&short, state.clone()),
        TrainError::Resume(ResumeError::Shorter {
            planned: 20,
            done: 9,
            iters: 8
        })
    );
    // Another optimizer's state.
    let momentum = config(20, OptimizerKind::Momentum.with_lr(0.01))
        .check()
        .unwrap();
    let mut zero = state.clone();
    zero.optimizer.updates = 0;
    let err = resume(&momentum, zero).to_string();
    assert!(err.contains("saved by another optimizer"), "{err}");
    // An update count that is not the iterations'.
    let mut counted = state.clone();
    counted.optimizer.updates = 3;
    let err = resume(&adam, counted).to_string();
    assert!(err.contains("optimizer counted 3 updates"), "{err}");
    // A moment of the wrong shape, a missing one, a non-finite one.
    let name = *state.optimizer.slots["m"].keys().next().unwrap();
    let mut shape = state.clone();
    let m = shape.optimizer.slots.get_mut("m").unwrap();
    m.insert(name, nn_core::Matrix::zeros(2, 2));
    let err = resume(&adam, shape).to_string();
    assert!(err.contains(&format!("m of {name} is 2x2")), "{err}");
    let mut missing = state.clone();
    missing.optimizer.slots.get_mut("v").unwrap().remove(&name);
    let err = resume(&adam, missing).to_string();
    assert!(err.contains(&format!("v of {name} is missing")), "{err}");
    let mut nan = state.clone();
    nan.optimizer
        .slots
        .get_mut("v")
        .unwrap()
        .get_mut(&name)
        .unwrap()[0] = f32::NAN;
    let err = resume(&adam, nan).to_string();
    assert!(err.contains("non-finite"), "{err}");
    // A history that is not the iterations'.
    let mut history = state.clone();
    history.history.train_loss.pop();
    let err = resume(&adam, history).to_string();
    assert!(
        err.contains("9 iterations done but a history of 8 losses"),
        "{err}"
    );
    let mut later = state.clone();
    later.history.evaluations[0].iteration = 9;
    let err = resume(&adam, later).to_string();
    assert!(err.contains("out of order"), "{err}");
    // The state as it was resumes.
    assert!(
        run(&adam, net(), data, 1, Some(state), usize::MAX, 0)
            .0
            .is_ok()
    );
}
