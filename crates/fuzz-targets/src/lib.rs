//! The parsers' fuzz targets, shared by the coverage-guided fuzzers in `fuzz/` (cargo fuzz,
//! libFuzzer) and by the short in-process run of `cargo test` (this crate's tests: the corpus
//! as regression tests, then a few seconds of mutations per target).
//!
//! A target takes any bytes and must return without panicking; it also checks what it can of
//! the result (an IDX file read back must write back to the same bytes, a digit is 784 pixels).
//! [`TARGETS`] lists them: adding one (say, the model-file loader) is a function and a line
//! here, a three-line file in `fuzz/fuzz_targets/`, a `[[bin]]` in `fuzz/Cargo.toml`, and seeds
//! in [`seeds`].

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use mnist_io::idx::{self, Limits};

/// A fuzz target: its name (its folder under `fuzz/corpus/`) and the function that runs one
/// input.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Name, as in `cargo fuzz run <name>`.
    pub name: &'static str,
    /// Runs one input; panics on a bug.
    pub run: fn(&[u8]),
}

/// Every fuzz target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "idx",
        run: idx,
    },
    Target {
        name: "idx_gzip",
        run: idx_gzip,
    },
    Target {
        name: "digit_png",
        run: digit_png,
    },
    Target {
        name: "model_ron",
        run: model_ron,
    },
    Target {
        name: "pickle",
        run: pickle,
    },
    Target {
        name: "npz",
        run: npz,
    },
];

/// The IDX readers' limit while fuzzing: 1 MiB of data, so that each run stays fast (the limit
/// itself is what the fuzzer checks is honoured).
const LIMITS: Limits = Limits {
    max_data_bytes: 1 << 20,
};

/// The IDX readers (labels and images) on raw bytes: plain IDX, or gzip (single or multi-member)
/// when the bytes start with gzip's magic. What reads must write back to the same data.
pub fn idx(data: &[u8]) {
    let path = Path::new("fuzz-input");
    if let Ok(labels) = LIMITS.read_labels_from(data, path) {
        assert!(
            labels.iter().all(|&l| l < 10),
            "a label above 9 was accepted"
        );
        let mut back = Vec::new();
        idx::write_labels_to(&mut back, &labels).expect("writing to a Vec cannot fail");
        let again = LIMITS
            .read_labels_from(&back[..], path)
            .expect("labels written back must read");
        assert_eq!(again, labels);
    }
    if let Ok(images) = LIMITS.read_images_from(data, path) {
        assert_eq!(
            images.pixels().len(),
            images.count() * images.rows() * images.cols()
        );
        let mut back = Vec::new();
        idx::write_images_to(&mut back, &images).expect("writing to a Vec cannot fail");
        let again = LIMITS
            .read_images_from(&back[..], path)
            .expect("images written back must read");
        assert_eq!(again, images);
        if !data.starts_with(&idx::GZIP_MAGIC) {
            assert_eq!(back, data, "a raw file must be exactly what it reads as");
        }
    }
}

/// The IDX readers through gzip: the input, compressed (in two gzip members when its first byte
/// is odd, split where that byte says), is read back; a raw read and a gzip read must agree.
pub fn idx_gzip(data: &[u8]) {
    let split = match data.first() {
        Some(&b) if b % 2 == 1 => usize::from(b / 2).min(data.len()),
        _ => data.len(),
    };
    let mut compressed = gzip(&data[..split]);
    if split < data.len() {
        compressed.extend(gzip(&data[split..]));
    }
    let path = Path::new("fuzz-input.gz");
    let raw = LIMITS.read_labels_from(data, path);
    let through_gzip = LIMITS.read_labels_from(&compressed[..], path);
    if !data.starts_with(&idx::GZIP_MAGIC) {
        assert_eq!(
            raw.is_ok(),
            through_gzip.is_ok(),
            "{raw:?} vs {through_gzip:?}"
        );
        if let (Ok(a), Ok(b)) = (raw, through_gzip) {
            assert_eq!(a, b);
        }
    }
    let raw = LIMITS.read_images_from(data, path);
    let through_gzip = LIMITS.read_images_from(&compressed[..], path);
    if !data.starts_with(&idx::GZIP_MAGIC) {
        assert_eq!(
            raw.is_ok(),
            through_gzip.is_ok(),
            "{raw:?} vs {through_gzip:?}"
        );
        if let (Ok(a), Ok(b)) = (raw, through_gzip) {
            assert_eq!(a, b);
        }
    }
}

/// The digit path of `predict --image`: decode a PNG (within the size bounds), prepare the
/// 28×28 input, or say why not.
pub fn digit_png(data: &[u8]) {
    if let Ok(pixels) = digit_image::load_from_bytes(data, Path::new("fuzz-input.png")) {
        assert_eq!(pixels.len(), digit_image::SIDE * digit_image::SIDE);
        assert!(digit_image::ink_mass(&pixels) >= digit_image::MIN_INK_MASS);
    }
}

/// The model-file loader (`ModelFile::from_ron`, versions 1 and 2): what loads must save, and
/// load back to the same text. The loader checks the parameters' names and shapes against the
/// spec before it allocates the network, so no input of a few kilobytes allocates much.
pub fn model_ron(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(model) = nn_core::ModelFile::<f32>::from_ron(text) {
        let saved = model.to_ron().expect("a loaded model saves");
        let again = nn_core::ModelFile::<f32>::from_ron(&saved).expect("a saved model loads");
        assert_eq!(again.to_ron().expect("and saves again"), saved);
    }
}

/// The book-weights readers on a pickle: any bytes, as a pickle (`\x80\x04` put before those
/// that do not start with a PROTO opcode, so that every input runs the pickle machine), read
/// for the fixtures' arrays W1 (2, 3) and b1 (3,) in float32 or float64. See [`weights`].
pub fn pickle(data: &[u8]) {
    if data.first() == Some(&0x80) {
        weights(data);
    } else {
        let mut bytes = b"\x80\x04".to_vec();
        bytes.extend_from_slice(data);
        weights(&bytes);
    }
}

/// The book-weights readers on an `.npz` (or a lone `.npy`): any bytes, read for the fixtures'
/// arrays (a `.npy` for W1 alone). See [`weights`].
pub fn npz(data: &[u8]) {
    weights(data);
}

/// Reads `data` as a weight file (its format told by its first bytes) for W1 (2, 3) and b1 (3,)
/// (W1 alone for a `.npy`), and its inventory, then checks what they promise: the arrays read
/// are the expected ones, named, shaped and typed as the inventory declares them, with as many
/// values as their shape; a file whose arrays are not the expected ones lists in its error
/// exactly what the inventory lists; every error names the file.
pub fn weights(data: &[u8]) {
    use book_weights::{Expected, Float, Format, Limits};
    let floats = [Float::F32, Float::F64];
    let expected = if Format::sniff(data) == Some(Format::Npy) {
        Expected::new().array("W1", &[2, 3], &floats)
    } else {
        Expected::new()
            .array("W1", &[2, 3], &floats)
            .array("b1", &[3], &floats)
    };
    let path = Path::new("fuzz-input");
    let limits = Limits::default();
    let read = limits.read_from(std::io::Cursor::new(data), path, &expected);
    let inventory = limits.inventory_from(std::io::Cursor::new(data), path);
    // A lone array (a .npy, a pickle of one array) is listed under the file's name.
    let lone = |found: &[book_weights::ArrayInfo]| {
        matches!((found, expected.arrays()), ([info], [spec])
            if info.shape.iter().map(|&d| d as usize).eq(spec.shape.iter().copied()))
    };
    match (&read, &inventory) {
        (Ok(arrays), Ok(found)) => {
            assert!(expected.matches(found) || lone(found), "{found:?}");
            assert_eq!(arrays.len(), expected.arrays().len());
            for (array, spec) in arrays.iter().zip(expected.arrays()) {
                assert_eq!(array.name, spec.name);
                assert_eq!(array.data.len(), spec.shape.iter().product::<usize>());
                let info = found
                    .iter()
                    .find(|i| i.name == spec.name || found.len() == 1)
                    .expect("the inventory lists every array read");
                assert_eq!(info.dtype, array.dtype);
            }
        }
        (Ok(_), Err(e)) => panic!("read, but its inventory fails: {e}"),
        (Err(e), _) => {
            assert!(e.to_string().starts_with("fuzz-input"), "{e}");
            if let Some(found) = e.found() {
                assert_eq!(Some(found), inventory.as_deref().ok(), "{e}");
                assert!(!expected.matches(found), "{e}");
            }
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder
        .write_all(bytes)
        .expect("compressing into a Vec cannot fail");
    encoder
        .finish()
        .expect("compressing into a Vec cannot fail")
}

/// Valid inputs to start fuzzing `target` from (named), made here rather than kept as binary
/// files: small IDX files (raw and gzip) and PNGs of a few colour types and bit depths; for the
/// weight readers, the small files NumPy wrote for book-weights' tests.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let labels = {
        let mut bytes = vec![0, 0, 8, 1, 0, 0, 0, 5];
        bytes.extend([5, 0, 4, 1, 9]);
        bytes
    };
    let images = {
        let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3];
        bytes.extend((0..18).map(|i| (i * 14) as u8));
        bytes
    };
    match target {
        "idx" => vec![
            ("labels".to_owned(), labels.clone()),
            ("images".to_owned(), images.clone()),
            ("labels.gz".to_owned(), gzip(&labels)),
            ("images.gz".to_owned(), gzip(&images)),
        ],
        "idx_gzip" => vec![("labels".to_owned(), labels), ("images".to_owned(), images)],
        "digit_png" => png_seeds(),
        "model_ron" => model_seeds(),
        "pickle" => fixtures(&[
            (
                "small_p2.pkl",
                include_bytes!("../../book-weights/tests/data/small_p2.pkl"),
            ),
            (
                "small_p3.pkl",
                include_bytes!("../../book-weights/tests/data/small_p3.pkl"),
            ),
            (
                "small_p4.pkl",
                include_bytes!("../../book-weights/tests/data/small_p4.pkl"),
            ),
            (
                "small_p5.pkl",
                include_bytes!("../../book-weights/tests/data/small_p5.pkl"),
            ),
            (
                "big_endian_p3.pkl",
                include_bytes!("../../book-weights/tests/data/big_endian_p3.pkl"),
            ),
            (
                "fortran_p3.pkl",
                include_bytes!("../../book-weights/tests/data/fortran_p3.pkl"),
            ),
            (
                "int_p3.pkl",
                include_bytes!("../../book-weights/tests/data/int_p3.pkl"),
            ),
        ]),
        "npz" => fixtures(&[
            (
                "small.npz",
                include_bytes!("../../book-weights/tests/data/small.npz"),
            ),
            (
                "small_compressed.npz",
                include_bytes!("../../book-weights/tests/data/small_compressed.npz"),
            ),
            (
                "big_endian.npz",
                include_bytes!("../../book-weights/tests/data/big_endian.npz"),
            ),
            (
                "fortran.npz",
                include_bytes!("../../book-weights/tests/data/fortran.npz"),
            ),
            (
                "int.npz",
                include_bytes!("../../book-weights/tests/data/int.npz"),
            ),
            (
                "W1.npy",
                include_bytes!("../../book-weights/tests/data/W1.npy"),
            ),
        ]),
        other => panic!("no seeds for target {other}"),
    }
}

/// Named copies of the files NumPy wrote for book-weights' tests (`make_fixtures.py`).
fn fixtures(files: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    files
        .iter()
        .map(|(name, bytes)| ((*name).to_owned(), bytes.to_vec()))
        .collect()
}

/// Small model files: a two-layer network (version 3, and the same in version 1), and a stack
/// with batch norm (state) and dropout.
fn model_seeds() -> Vec<(String, Vec<u8>)> {
    use nn_core::{
        Activation, Init, LayerSpec, Model, ModelFile, NetSpec, Sequential, Shape, Targets,
        TwoLayerConfig, TwoLayerNet,
    };
    let config = TwoLayerConfig {
        input_size: 3,
        hidden_size: 2,
        output_size: 2,
        activation: Activation::Relu,
        weight_init_std: 0.5,
    };
    let two = TwoLayerNet::<f32>::new(config.clone(), 1).expect("a valid config");
    let metadata = [("note".to_owned(), "seed".to_owned())].into();
    let mut v3 = ModelFile::from_model(&two, metadata).expect("a small model");
    v3.seed = Some(1);
    let v3 = v3.to_ron().expect("a small model saves");
    let p = two.params();
    let row = |m: &nn_core::Matrix<f32>| {
        let values: Vec<String> = m.transpose().iter().map(f32::to_string).collect();
        format!(
            "(rows: {}, cols: {}, data: [{}])",
            m.nrows(),
            m.ncols(),
            values.join(", ")
        )
    };
    let v1 = format!(
        "(format_version: 1, config: (input_size: 3, hidden_size: 2, output_size: 2, \
         activation: relu, weight_init_std: 0.5), W1: {}, b1: {}, W2: {}, b2: {}, metadata: {{}})",
        row(&p.w1),
        row(&p.b1),
        row(&p.w2),
        row(&p.b2)
    );
    let spec = NetSpec {
        input: Shape::new(1, 2, 2),
        layers: vec![
            LayerSpec::Affine { out: 3 },
            LayerSpec::BatchNorm,
            LayerSpec::Relu,
            LayerSpec::Dropout { ratio: 0.5 },
            LayerSpec::Affine { out: 2 },
        ],
        init: Init::He,
        weight_decay: 0.1,
    };
    let mut stack = Sequential::<f32>::new(spec, 2).expect("a valid spec");
    let x = nn_core::Matrix::from_fn(4, 3, |i, n| (i + n) as f32 / 4.0);
    stack.loss(&x, Targets::Labels(&[0, 1, 0]));
    let deep = ModelFile::from_model(&stack, Default::default())
        .and_then(|f| f.to_ron())
        .expect("a small model saves");
    vec![
        ("two-layer-v3.ron".to_owned(), v3.into_bytes()),
        ("two-layer-v1.ron".to_owned(), v1.into_bytes()),
        ("batch-norm-dropout.ron".to_owned(), deep.into_bytes()),
    ]
}

/// Small PNGs of a drawn "7": 8-bit gray, gray with alpha, RGB, RGBA, 16-bit gray.
fn png_seeds() -> Vec<(String, Vec<u8>)> {
    use image::{DynamicImage, GrayImage, ImageFormat, Luma};
    let seven = GrayImage::from_fn(20, 24, |x, y| {
        let top = (2..5).contains(&y) && (3..17).contains(&x);
        let stem = (5..22).contains(&y) && x.abs_diff(16 - (y - 5) * 8 / 17) < 2;
        Luma([if top || stem { 20 } else { 235 }])
    });
    let base = DynamicImage::ImageLuma8(seven);
    let variants = [
        ("gray8", base.clone()),
        (
            "gray-alpha",
            DynamicImage::ImageLumaA8(base.to_luma_alpha8()),
        ),
        ("rgb", DynamicImage::ImageRgb8(base.to_rgb8())),
        ("rgba", DynamicImage::ImageRgba8(base.to_rgba8())),
        ("gray16", DynamicImage::ImageLuma16(base.to_luma16())),
    ];
    variants
        .into_iter()
        .map(|(name, image)| {
            let mut png = std::io::Cursor::new(Vec::new());
            image
                .write_to(&mut png, ImageFormat::Png)
                .expect("encoding a small PNG in memory cannot fail");
            (format!("{name}.png"), png.into_inner())
        })
        .collect()
}

/// A mutation-based fuzzer, for the short runs of `cargo test` (the long, coverage-guided runs
/// are libFuzzer's): starting from `corpus`, each round takes an input, applies a few random
/// mutations (bit flips, interesting bytes and big-endian `u32`s, insertions, deletions,
/// copies, splices with another input) and runs `target` on it.
pub mod mutate {
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `u32` values that IDX headers and PNG chunks make interesting.
    const INTERESTING: [u32; 12] = [
        0,
        1,
        2,
        8,
        28,
        784,
        60_000,
        0x0000_0801,
        0x0000_0803,
        0x7fff_ffff,
        0x8000_0000,
        u32::MAX,
    ];

    /// A deterministic stream of mutated inputs.
    #[derive(Debug)]
    pub struct Mutator {
        rng: ChaCha8Rng,
        corpus: Vec<Vec<u8>>,
    }

    impl Mutator {
        /// Mutates inputs of `corpus` (which must not be empty), from `seed`.
        pub fn new(corpus: Vec<Vec<u8>>, seed: u64) -> Self {
            assert!(!corpus.is_empty(), "the mutator needs at least one input");
            Self {
                rng: ChaCha8Rng::seed_from_u64(seed),
                corpus,
            }
        }

        /// The next input: a corpus entry with 1 to 8 mutations, at most `max_len` bytes.
        pub fn next_input(&mut self, max_len: usize) -> Vec<u8> {
            let pick = self.rng.random_range(0..self.corpus.len());
            let mut data = self.corpus[pick].clone();
            for _ in 0..self.rng.random_range(1..=8) {
                self.mutate(&mut data);
            }
            data.truncate(max_len);
            data
        }

        fn mutate(&mut self, data: &mut Vec<u8>) {
            let len = data.len();
            let at = |rng: &mut ChaCha8Rng| rng.random_range(0..=len);
            match self.rng.random_range(0..8) {
                0 if len > 0 => {
                    let i = self.rng.random_range(0..len);
                    data[i] ^= 1 << self.rng.random_range(0..8);
                }
                1 if len > 0 => {
                    let i = self.rng.random_range(0..len);
                    data[i] = [0, 1, 0x7f, 0x80, 0xff, 0x1f, 0x8b][self.rng.random_range(0..7)];
                }
                2 if len >= 4 => {
                    let i = self.rng.random_range(0..=len - 4);
                    let v = INTERESTING[self.rng.random_range(0..INTERESTING.len())];
                    data[i..i + 4].copy_from_slice(&v.to_be_bytes());
                }
                3 => {
                    let i = at(&mut self.rng);
                    let n = self.rng.random_range(1..=16);
                    let bytes: Vec<u8> = (0..n).map(|_| self.rng.random()).collect();
                    data.splice(i..i, bytes);
                }
                4 if len > 0 => {
                    let i = self.rng.random_range(0..len);
                    let n = self.rng.random_range(1..=(len - i).min(64));
                    data.drain(i..i + n);
                }
                5 if len > 0 => {
                    let i = self.rng.random_range(0..len);
                    let n = self.rng.random_range(1..=(len - i).min(64));
                    let copy = data[i..i + n].to_vec();
                    let j = at(&mut self.rng);
                    data.splice(j..j, copy);
                }
                6 => {
                    let other = &self.corpus[self.rng.random_range(0..self.corpus.len())];
                    let from = self.rng.random_range(0..=other.len());
                    let i = at(&mut self.rng);
                    data.truncate(i);
                    data.extend_from_slice(&other[from..]);
                }
                _ => {
                    let i = at(&mut self.rng);
                    data.truncate(i);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// The weight seeds read (the integer ones are refused for their dtype).
    #[test]
    fn the_weight_seeds_read() {
        let floats = [book_weights::Float::F32, book_weights::Float::F64];
        for target in ["pickle", "npz"] {
            for (name, bytes) in super::seeds(target) {
                let one = name.ends_with(".npy");
                let mut expected = book_weights::Expected::new().array("W1", &[2, 3], &floats);
                if !one {
                    expected = expected.array("b1", &[3], &floats);
                }
                let read = book_weights::Limits::default().read_from(
                    std::io::Cursor::new(&bytes),
                    std::path::Path::new(&name),
                    &expected,
                );
                assert_eq!(read.is_ok(), !name.starts_with("int"), "{name}: {read:?}");
            }
        }
    }

    /// The model seeds are valid files (so that the fuzzer starts from inputs that load).
    #[test]
    fn the_model_seeds_load() {
        for (name, bytes) in super::seeds("model_ron") {
            let text = String::from_utf8(bytes).unwrap();
            nn_core::ModelFile::<f32>::from_ron(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
