//! Checkpoint files: everything a `train` run needs to go on where it stopped, and to end with
//! the very bits of the run that never stopped (see nn-train's `resume` module).
//!
//! A checkpoint holds the run's settings (what `--print-config` prints, and the dataset), a
//! digest of the data it trains on, the network's spec, parameters, state and dropout steps,
//! the optimizer's state, the minibatch generator's position, the iterations done and the
//! history so far. On disk:
//!
//! ```text
//! "nn-cli checkpoint\n"      18 bytes: what the file is
//! format version             4 bytes, little-endian (today 1)
//! SHA-256 of the payload     32 bytes: a truncated, damaged or edited file is refused
//! payload                    CBOR (RFC 8949, the `ciborium` crate): the fields above
//! ```
//!
//! Binary, because it must be cheap: written every epoch, it costs well under 1 % of a
//! DeepConvNet run (BENCHMARKS.md), and `f32` values keep their bits without any formatting
//! (each matrix's values are one byte string).
//! Loading reads a regular file of at most [`MAX_FILE_BYTES`] and checks the header, the
//! version, the checksum, then every matrix (its size against its declared shape, finite
//! values), the history and the state against the network the settings build.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use mnist_io::Split;
use nn_core::{Matrix, Model, NetSpec};
use nn_train::{Evaluation, History, OptimizerState, RunState};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::train::RunConfig;

/// The first bytes of every checkpoint.
const MAGIC: &[u8; 18] = b"nn-cli checkpoint\n";

/// The format version written today; a file of a later one is refused.
pub const FORMAT_VERSION: u32 = 1;

/// The largest checkpoint read: 2 GiB, room for the largest network `train` builds (50 million
/// parameters) with Adam's two moments.
pub const MAX_FILE_BYTES: u64 = 2 << 30;

/// Bytes before the payload.
const HEADER: usize = MAGIC.len() + 4 + 32;

/// SHA-256 of a split's images and labels (and their shapes): a resumed run must train on the
/// very data it started with.
pub fn digest(split: &Split) -> String {
    let mut hash = Sha256::new();
    for n in [split.len(), split.rows(), split.cols()] {
        hash.update((n as u64).to_le_bytes());
    }
    hash.update(split.images().pixels());
    hash.update(split.labels());
    hex(&hash.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The digests of the training and test splits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataDigest {
    /// Of the training split.
    pub train: String,
    /// Of the test split.
    pub test: String,
}

/// `f32` values as one CBOR byte string, 4 little-endian bytes each: written and read as a
/// block (a value at a time, SimpleConvNet's checkpoint took 3 times as long).
#[derive(Debug)]
struct Values(Vec<f32>);

impl Serialize for Values {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = self.0.iter().flat_map(|v| v.to_le_bytes()).collect();
        serializer.serialize_bytes(&bytes)
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Values;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string of little-endian f32 values")
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Values, E> {
                if !bytes.len().is_multiple_of(4) {
                    return Err(E::custom("a byte string of f32 values has a length of 4n"));
                }
                let values = bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                    .collect();
                Ok(Values(values))
            }
        }
        // `deserialize_byte_buf`, not `deserialize_bytes`: ciborium reads a byte string for
        // `deserialize_bytes` only into its 4 KiB scratch buffer, and refuses a longer one.
        deserializer.deserialize_byte_buf(Visitor)
    }
}

/// A matrix: its name, shape and values in memory order (column-major).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredMatrix {
    name: String,
    rows: usize,
    cols: usize,
    data: Values,
}

impl StoredMatrix {
    fn of(name: String, m: &Matrix<f32>) -> Self {
        Self {
            name,
            rows: m.nrows(),
            cols: m.ncols(),
            data: Values(m.as_slice().to_vec()),
        }
    }

    /// The matrix, if its values fill its shape and are finite.
    fn matrix(&self, what: &str) -> Result<Matrix<f32>> {
        let data = &self.data.0;
        if self.rows.checked_mul(self.cols) != Some(data.len()) {
            bail!(
                "{what} {} declares {}x{} values but holds {}",
                self.name,
                self.rows,
                self.cols,
                data.len()
            );
        }
        if data.iter().any(|v| !v.is_finite()) {
            bail!("{what} {} holds a value that is not finite", self.name);
        }
        Ok(Matrix::from_column_slice(self.rows, self.cols, data))
    }
}

/// An evaluation of the history.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredEvaluation {
    iteration: usize,
    epoch: usize,
    train_acc: f64,
    test_acc: f64,
    elapsed_s: f64,
}

/// What a checkpoint file holds (its payload).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    run: RunConfig,
    data: DataDigest,
    spec: NetSpec,
    params: Vec<StoredMatrix>,
    state: Vec<StoredMatrix>,
    steps: Vec<u64>,
    iterations: usize,
    planned: usize,
    train_loss: Vec<f32>,
    elapsed_s: Vec<f64>,
    evaluations: Vec<StoredEvaluation>,
    optimizer_updates: u64,
    optimizer: Vec<(String, Vec<StoredMatrix>)>,
    /// The generator's word position, high and low 64 bits.
    batch_rng_word_pos: [u64; 2],
}

/// The bytes of the checkpoint of `run` (training on the data of `data`), after
/// `state.iterations` iterations of `network`.
pub fn encode<M: Model<f32>>(
    run: &RunConfig,
    data: &DataDigest,
    network: &M,
    state: &RunState,
) -> Result<Vec<u8>> {
    let mut net = network.snapshot();
    let (mut params, mut matrices, mut steps) = (Vec::new(), Vec::new(), Vec::new());
    net.visit_params(&mut |p| params.push(StoredMatrix::of(p.name.to_string(), p.value)));
    net.visit_state(&mut |s| matrices.push(StoredMatrix::of(s.name.to_string(), s.value)));
    net.visit_steps(&mut |s| steps.push(*s));
    let h = &state.history;
    let stored = Stored {
        run: run.clone(),
        data: data.clone(),
        spec: network.spec(),
        params,
        state: matrices,
        steps,
        iterations: state.iterations,
        planned: state.planned,
        train_loss: h.train_loss.clone(),
        elapsed_s: h.elapsed_s.clone(),
        evaluations: h
            .evaluations
            .iter()
            .map(|e| StoredEvaluation {
                iteration: e.iteration,
                epoch: e.epoch,
                train_acc: e.train_acc,
                test_acc: e.test_acc,
                elapsed_s: e.elapsed_s,
            })
            .collect(),
        optimizer_updates: state.optimizer.updates,
        optimizer: state
            .optimizer
            .slots
            .iter()
            .map(|(slot, states)| {
                let matrices = states
                    .iter()
                    .map(|(name, m)| StoredMatrix::of(name.to_string(), m))
                    .collect();
                (slot.clone(), matrices)
            })
            .collect(),
        batch_rng_word_pos: [
            (state.batch_rng_word_pos >> 64) as u64,
            state.batch_rng_word_pos as u64,
        ],
    };
    let mut payload = Vec::new();
    ciborium::into_writer(&stored, &mut payload).context("cannot encode the checkpoint")?;
    let mut bytes = Vec::with_capacity(HEADER + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&Sha256::digest(&payload));
    bytes.extend_from_slice(&payload);
    Ok(bytes)
}

/// A checkpoint read and checked: the run's settings, its data's digests, and the rest for
/// [`Loaded::restore`].
#[derive(Debug)]
pub struct Loaded {
    /// The file it was read from.
    pub path: PathBuf,
    /// The run's settings.
    pub run: RunConfig,
    /// The digests of its data.
    pub data: DataDigest,
    stored: Stored,
}

/// Reads and checks the checkpoint at `path` (its header, version and checksum; the rest is
/// checked by [`Loaded::restore`]).
pub fn load(path: &Path) -> Result<Loaded> {
    let name = path.display();
    let metadata = fs::metadata(path).with_context(|| format!("cannot read checkpoint {name}"))?;
    // Checked before opening: opening a FIFO with no writer would wait forever.
    if !metadata.is_file() {
        bail!(
            "checkpoint {name} is not a regular file: give the path of a checkpoint written by \
             `nn-cli train`"
        );
    }
    if metadata.len() > MAX_FILE_BYTES {
        bail!(
            "checkpoint {name} holds {} bytes, more than a checkpoint can ({MAX_FILE_BYTES}): \
             it is not a checkpoint of `nn-cli train`",
            metadata.len()
        );
    }
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read checkpoint {name}"))?;
    let stored = decode(&bytes).with_context(|| format!("checkpoint {name} cannot be resumed"))?;
    Ok(Loaded {
        path: path.to_owned(),
        run: stored.run.clone(),
        data: stored.data.clone(),
        stored,
    })
}

/// The payload of a checkpoint file's bytes, after checking its header.
fn decode(bytes: &[u8]) -> Result<Stored> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        bail!("it is not a checkpoint of `nn-cli train` (it does not start as one)");
    }
    if bytes.len() < HEADER {
        bail!("it is truncated: it ends within its header");
    }
    let version = u32::from_le_bytes(bytes[18..22].try_into().expect("4 bytes"));
    if version > FORMAT_VERSION {
        bail!(
            "it is of format version {version}, written by a newer nn-cli; this one reads \
             version {FORMAT_VERSION}: resume it with that newer nn-cli"
        );
    }
    if version == 0 {
        bail!("its format version 0 does not exist: the file is damaged");
    }
    let (sum, payload) = (&bytes[22..HEADER], &bytes[HEADER..]);
    if Sha256::digest(payload).as_slice() != sum {
        bail!(
            "it is damaged, truncated or edited: its contents do not match its checksum \
             (SHA-256); nothing was resumed"
        );
    }
    ciborium::from_reader(payload)
        .map_err(|e| anyhow::anyhow!("its contents cannot be decoded ({e}): the file is damaged"))
}

impl Loaded {
    /// Iterations the run had done.
    pub fn iterations(&self) -> usize {
        self.stored.iterations
    }

    /// Gives `network` (built from [`Loaded::spec`] and the run's seed) the checkpoint's
    /// parameters, state and dropout steps, and returns the rest of the run's state, after
    /// checking each against the network.
    pub fn restore<M: Model<f32>>(&self, network: &mut M) -> Result<RunState> {
        let s = &self.stored;
        let file = self.path.display();
        let context = || format!("checkpoint {file} does not fit its network");
        if network.spec() != s.spec {
            bail!(
                "checkpoint {file} holds a network ({}) that its settings do not build ({}): \
                 the file is damaged",
                s.spec,
                network.spec()
            );
        }
        restore_matrices(network, &s.params, &s.state).with_context(context)?;
        let mut steps = Vec::new();
        network.visit_steps(&mut |step| steps.push(*step));
        if steps.len() != s.steps.len() {
            bail!(
                "checkpoint {file} holds {} dropout steps where the network has {} dropout \
                 layers: the file is damaged",
                s.steps.len(),
                steps.len()
            );
        }
        let mut saved = s.steps.iter();
        network.visit_steps(&mut |step| *step = *saved.next().expect("as many"));

        let mut optimizer = OptimizerState {
            updates: s.optimizer_updates,
            ..OptimizerState::default()
        };
        for (slot, matrices) in &s.optimizer {
            let mut states = std::collections::BTreeMap::new();
            for m in matrices {
                let name = m
                    .name
                    .parse()
                    .with_context(|| format!("in the optimizer's {slot}"))
                    .with_context(context)?;
                let what = format!("the optimizer's {slot} of");
                states.insert(name, m.matrix(&what).with_context(context)?);
            }
            optimizer.slots.insert(slot.clone(), states);
        }
        let evaluations = s
            .evaluations
            .iter()
            .map(|e| Evaluation {
                iteration: e.iteration,
                epoch: e.epoch,
                train_acc: e.train_acc,
                test_acc: e.test_acc,
                elapsed_s: e.elapsed_s,
            })
            .collect();
        if s.elapsed_s.iter().any(|t| !t.is_finite()) {
            bail!("checkpoint {file} holds a time that is not finite: the file is damaged");
        }
        Ok(RunState {
            iterations: s.iterations,
            planned: s.planned,
            history: History {
                train_loss: s.train_loss.clone(),
                elapsed_s: s.elapsed_s.clone(),
                evaluations,
            },
            optimizer,
            batch_rng_word_pos: (u128::from(s.batch_rng_word_pos[0]) << 64)
                | u128::from(s.batch_rng_word_pos[1]),
        })
    }
}

/// Puts `params` and `state` into `network`, which must have exactly these names, in this
/// order, with these shapes.
fn restore_matrices<M: Model<f32>>(
    network: &mut M,
    params: &[StoredMatrix],
    state: &[StoredMatrix],
) -> Result<()> {
    let mut expected = Vec::new();
    network.visit_params(&mut |p| expected.push((p.name.to_string(), p.value.shape())));
    check_names("parameter", &expected, params)?;
    let mut expected_state = Vec::new();
    network.visit_state(&mut |s| expected_state.push((s.name.to_string(), s.value.shape())));
    check_names("state matrix", &expected_state, state)?;
    let params = params
        .iter()
        .map(|m| m.matrix("parameter"))
        .collect::<Result<Vec<_>>>()?;
    let state = state
        .iter()
        .map(|m| m.matrix("state matrix"))
        .collect::<Result<Vec<_>>>()?;
    let (mut params, mut state) = (params.into_iter(), state.into_iter());
    network.visit_params(&mut |p| *p.value = params.next().expect("checked"));
    network.visit_state(&mut |s| *s.value = state.next().expect("checked"));
    Ok(())
}

fn check_names(
    what: &str,
    expected: &[(String, (usize, usize))],
    found: &[StoredMatrix],
) -> Result<()> {
    let names = |list: Vec<&str>| list.join(" ");
    if expected.len() != found.len() || expected.iter().zip(found).any(|(e, f)| e.0 != f.name) {
        bail!(
            "it holds the {what}s {} where the network has {}",
            names(found.iter().map(|f| f.name.as_str()).collect()),
            names(expected.iter().map(|e| e.0.as_str()).collect())
        );
    }
    for ((name, shape), f) in expected.iter().zip(found) {
        if (f.rows, f.cols) != *shape {
            bail!(
                "its {what} {name} is {}x{} where the network's is {}x{}",
                f.rows,
                f.cols,
                shape.0,
                shape.1
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_any_length_are_one_byte_string_of_little_endian_f32() {
        // 3000 values: 12 000 bytes, longer than ciborium's 4 KiB scratch buffer.
        let values: Vec<f32> = (0..3000).map(|i| i as f32 * 0.5 - 7.25).collect();
        let mut cbor = Vec::new();
        ciborium::into_writer(&Values(values.clone()), &mut cbor).unwrap();
        // CBOR's byte string of 12 000 bytes: major type 2, a two-byte length (RFC 8949 §3.1).
        assert_eq!(cbor[..3], [0x59, 0x2e, 0xe0]);
        assert_eq!(cbor[3..7], (-7.25f32).to_le_bytes());
        let read: Values = ciborium::from_reader(cbor.as_slice()).unwrap();
        assert_eq!(read.0, values);
    }

    #[test]
    fn headers_that_are_not_a_checkpoints_are_refused_clearly() {
        let message = |bytes: &[u8]| format!("{:#}", decode(bytes).unwrap_err());
        assert!(message(b"(format_version: 3)").contains("not a checkpoint"));
        assert!(message(MAGIC).contains("truncated"));
        let mut newer = MAGIC.to_vec();
        newer.extend_from_slice(&2u32.to_le_bytes());
        newer.extend_from_slice(&[0; 40]);
        assert!(message(&newer).contains("format version 2, written by a newer nn-cli"));
        let mut payload = Vec::new();
        ciborium::into_writer(&"not a checkpoint", &mut payload).unwrap();
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&1u32.to_le_bytes());
        file.extend_from_slice(&Sha256::digest(&payload));
        file.extend_from_slice(&payload);
        assert!(message(&file).contains("cannot be decoded"));
        // One byte changed: the checksum says so.
        let last = file.len() - 1;
        file[last] ^= 1;
        assert!(message(&file).contains("do not match its checksum"));
    }
}
