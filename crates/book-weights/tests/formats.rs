//! The formats as NumPy and Python write them: small fixtures made by NumPy 2.4
//! (`tests/data/make_fixtures.py`: pickles of protocols 2 to 5, `savez`, `savez_compressed`, a
//! lone `.npy`, big-endian, Fortran order, integers), and the book's own files (when this machine
//! has them), compared with the values NumPy reads from them.

use std::path::{Path, PathBuf};

use book_weights::{Error, Expected, Float, Mismatch};

mod files;
use files::{B1, W1};

const FLOATS: [Float; 2] = [Float::F32, Float::F64];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn small() -> Expected {
    Expected::new()
        .array("W1", &[2, 3], &FLOATS)
        .array("b1", &[3], &FLOATS)
}

/// The values of the fixtures, as `f64`, bit for bit (so that `-0.0` keeps its sign).
fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn every_fixture_numpy_wrote_reads_as_the_same_arrays() {
    let w1: Vec<f64> = W1.iter().map(|&v| f64::from(v)).collect();
    for (name, w1_type, b1_type) in [
        ("small_p2.pkl", "<f4", "<f8"),
        ("small_p3.pkl", "<f4", "<f8"),
        ("small_p4.pkl", "<f4", "<f8"),
        ("small_p5.pkl", "<f4", "<f8"),
        ("small.npz", "<f4", "<f8"),
        ("small_compressed.npz", "<f4", "<f8"),
        ("big_endian.npz", ">f4", ">f8"),
        ("big_endian_p3.pkl", ">f4", ">f8"),
        // Fortran order is read back in C order.
        ("fortran.npz", "<f4", "<f8"),
        ("fortran_p3.pkl", "<f4", "<f8"),
    ] {
        let arrays =
            book_weights::read(&fixture(name), &small()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let names: Vec<&str> = arrays.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["W1", "b1"], "{name}");
        let (a, b) = (arrays.get("W1").unwrap(), arrays.get("b1").unwrap());
        assert_eq!(a.shape, [2, 3], "{name}");
        assert_eq!(bits(&a.data), bits(&w1), "{name}");
        assert_eq!(bits(&b.data), bits(&B1), "{name}");
        assert_eq!(a.dtype.descr(), w1_type, "{name}");
        assert_eq!(b.dtype.descr(), b1_type, "{name}");
    }
    // The pickle and the archive written here, as the book's are, read the same.
    for (name, bytes) in [
        ("made.pkl", files::small_pickle()),
        ("made.npz", files::small_npz()),
    ] {
        let arrays = book_weights::Limits::default()
            .read_from(std::io::Cursor::new(bytes), Path::new(name), &small())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(bits(&arrays.get("W1").unwrap().data), bits(&w1), "{name}");
        assert_eq!(bits(&arrays.get("b1").unwrap().data), bits(&B1), "{name}");
    }
}

#[test]
fn a_lone_npy_is_the_one_array_expected() {
    let path = fixture("W1.npy");
    let one = Expected::new().array("W1", &[2, 3], &FLOATS);
    let arrays = book_weights::read(&path, &one).unwrap();
    assert_eq!(arrays.get("W1").unwrap().data[5], 7.75);
    let err = book_weights::read(&path, &small()).unwrap_err();
    assert!(matches!(err, Error::LoneArray { expected: 2, .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} holds a single array where 2 are expected (W1 b1): give the .npz or .pkl file \
             that holds them all",
            path.display()
        )
    );
}

#[test]
fn integers_are_refused_naming_the_array_and_numpys_type() {
    for name in ["int.npz", "int_p3.pkl"] {
        let path = fixture(name);
        let err = book_weights::read(&path, &small()).unwrap_err();
        let Error::Mismatch { problem, found, .. } = &err else {
            panic!("{name}: {err}");
        };
        assert!(matches!(**problem, Mismatch::DType { .. }), "{name}: {err}");
        assert_eq!(found.len(), 2);
        assert_eq!(
            err.to_string(),
            format!(
                "{}: array W1 has dtype int64 where float32 or float64 is expected: save the \
                 weights as floats (for example array.astype(numpy.float64))",
                path.display()
            )
        );
    }
    // Only float64 accepted: float32 is refused.
    let strict =
        Expected::new()
            .array("W1", &[2, 3], &[Float::F64])
            .array("b1", &[3], &[Float::F64]);
    let err = book_weights::read(&fixture("small.npz"), &strict).unwrap_err();
    assert!(
        err.to_string()
            .contains("array W1 has dtype float32 where float64 is expected"),
        "{err}"
    );
}

#[test]
fn missing_extra_and_misshapen_arrays_are_named() {
    let path = fixture("small.npz");
    let more = small().array("W2", &[3, 1], &FLOATS);
    let err = book_weights::read(&path, &more).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: holds the arrays W1 b1 where W1 b1 W2 are expected (missing: W2); give the file \
             that holds these weights",
            path.display()
        )
    );
    let fewer = Expected::new().array("W1", &[2, 3], &FLOATS);
    let err = book_weights::read(&path, &fewer).unwrap_err();
    assert!(err.to_string().contains("(not expected: b1)"), "{err}");
    let other = Expected::new()
        .array("W1", &[3, 2], &FLOATS)
        .array("b1", &[3], &FLOATS);
    let err = book_weights::read(&path, &other).unwrap_err();
    assert!(
        err.to_string()
            .contains("array W1 has shape (2, 3) where (3, 2) is expected"),
        "{err}"
    );
    // What the file holds comes with the error, from its headers.
    let found = err.found().unwrap();
    assert_eq!(found[1].name, "b1");
    assert_eq!(found[1].shape, [3]);
    assert!(small().matches(found) && !other.matches(found));
}

#[test]
fn the_inventory_lists_names_shapes_and_dtypes_from_the_headers() {
    let found = book_weights::inventory(&fixture("fortran_p3.pkl")).unwrap();
    let summary: Vec<(String, Vec<u64>, String, bool)> = found
        .into_iter()
        .map(|a| (a.name, a.shape, a.dtype.to_string(), a.fortran_order))
        .collect();
    assert_eq!(
        summary,
        [
            ("W1".to_owned(), vec![2, 3], "float32".to_owned(), true),
            ("b1".to_owned(), vec![3], "float64".to_owned(), false),
        ]
    );
    let lone = book_weights::inventory(&fixture("W1.npy")).unwrap();
    assert_eq!(lone[0].name, "W1");
}

/// The book's weights, if this machine has them.
fn book_weights() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/book-weights");
    let found = dir.join("deep_convnet_params.pkl").exists();
    if !found {
        println!("skipped: no ../shared/data/book-weights beside the checkout");
    }
    found.then_some(dir)
}

/// An array's first and last values (C order) and sum, as NumPy 2.4 gives them
/// (`a.ravel()[0]`, `a.ravel()[-1]`, `a.astype(numpy.float64).sum()`).
struct Known {
    name: &'static str,
    shape: &'static [usize],
    descr: &'static str,
    first: f64,
    last: f64,
    sum: f64,
}

const fn k(
    name: &'static str,
    shape: &'static [usize],
    descr: &'static str,
    first: f64,
    last: f64,
    sum: f64,
) -> Known {
    Known {
        name,
        shape,
        descr,
        first,
        last,
        sum,
    }
}

/// ch03's sample_weight (float32; W1, W2, W3 stored in Fortran order).
const SAMPLE_WEIGHT: &[Known] = &[
    k(
        "W1",
        &[784, 50],
        "<f4",
        -0.007412489037960768,
        -0.040211476385593414,
        24.710748511527072,
    ),
    k(
        "b1",
        &[50],
        "<f4",
        -0.06750315427780151,
        0.10716812312602997,
        0.41067875683074817,
    ),
    k(
        "W2",
        &[50, 100],
        "<f4",
        -0.1069403886795044,
        0.009080098010599613,
        -4.358106311849042,
    ),
    k(
        "b2",
        &[100],
        "<f4",
        -0.014711079187691212,
        -0.04358607530593872,
        0.2330201300792396,
    ),
    k(
        "W3",
        &[100, 10],
        "<f4",
        -0.4217357635498047,
        0.03177173063158989,
        -2.648974552284926,
    ),
    k(
        "b3",
        &[10],
        "<f4",
        -0.060239847749471664,
        0.053233496844768524,
        -3.7532299757003784e-07,
    ),
];

/// ch07's SimpleConvNet.
const SIMPLE_CONVNET: &[Known] = &[
    k(
        "W1",
        &[30, 1, 5, 5],
        "<f8",
        0.01851250441566844,
        0.03917457029909002,
        -14.040921360515418,
    ),
    k(
        "b1",
        &[30],
        "<f8",
        -0.2569404604346134,
        -0.2343428252115794,
        -4.89042271969016,
    ),
    k(
        "W2",
        &[4320, 100],
        "<f8",
        0.11121464179125991,
        0.004763136638220357,
        -619.2412580379994,
    ),
    k(
        "b2",
        &[100],
        "<f8",
        0.03032627478897181,
        -0.02415293481007106,
        0.22195040883768302,
    ),
    k(
        "W3",
        &[100, 10],
        "<f8",
        -0.10332642169956274,
        -0.0012167741787561996,
        -23.785838424295456,
    ),
    k(
        "b3",
        &[10],
        "<f8",
        0.046838925133140696,
        0.013353601948085044,
        0.026451797781071363,
    ),
];

/// ch08's DeepConvNet.
const DEEP_CONVNET: &[Known] = &[
    k(
        "W1",
        &[16, 1, 3, 3],
        "<f8",
        -0.040949688106248945,
        -0.3071634959599396,
        -0.5433432142788086,
    ),
    k(
        "b1",
        &[16],
        "<f8",
        -0.1727588780843783,
        0.03151916372016674,
        -0.7195038680243818,
    ),
    k(
        "W2",
        &[16, 16, 3, 3],
        "<f8",
        0.06289656640019653,
        0.026985071030434817,
        -75.97778614803664,
    ),
    k(
        "b2",
        &[16],
        "<f8",
        -0.013333049179343805,
        -0.004925892904471061,
        -0.37496756102992435,
    ),
    k(
        "W3",
        &[32, 16, 3, 3],
        "<f8",
        -0.04608789876685422,
        0.16521994883496205,
        -99.98253218334985,
    ),
    k(
        "b3",
        &[32],
        "<f8",
        -0.05014567058470404,
        -0.11789193730454246,
        -0.3194727163264618,
    ),
    k(
        "W4",
        &[32, 32, 3, 3],
        "<f8",
        0.060841738614500304,
        0.12269103681695169,
        -280.9066024997143,
    ),
    k(
        "b4",
        &[32],
        "<f8",
        -0.062480150434907664,
        -0.017461924823219954,
        -0.5532543519668455,
    ),
    k(
        "W5",
        &[64, 32, 3, 3],
        "<f8",
        0.07541334681901297,
        -0.003296184909299368,
        -471.7204331697994,
    ),
    k(
        "b5",
        &[64],
        "<f8",
        -0.05762599578467932,
        0.04553440062302147,
        -1.206957354697305,
    ),
    k(
        "W6",
        &[64, 64, 3, 3],
        "<f8",
        0.12353114446375862,
        -0.3242574649853469,
        -1238.6555577121017,
    ),
    k(
        "b6",
        &[64],
        "<f8",
        -0.0387004140447849,
        0.04733001736062449,
        -2.455182653271549,
    ),
    k(
        "W7",
        &[1024, 50],
        "<f8",
        0.0043547201341014394,
        0.033872858774606204,
        -87.50950422194695,
    ),
    k(
        "b7",
        &[50],
        "<f8",
        0.008662147169451025,
        0.02171838950950776,
        -1.0929332804445178,
    ),
    k(
        "W8",
        &[50, 10],
        "<f8",
        -0.47040759363703916,
        -0.18231893757065556,
        -89.07966110135084,
    ),
    k(
        "b8",
        &[10],
        "<f8",
        0.4864734652757811,
        0.5455808824057026,
        2.8404376068407102,
    ),
];

#[test]
fn the_books_files_read_as_numpy_reads_them() {
    let Some(dir) = book_weights() else {
        return;
    };
    for (stem, known) in [
        ("sample_weight", SAMPLE_WEIGHT),
        ("simple_convnet_params", SIMPLE_CONVNET),
        ("deep_convnet_params", DEEP_CONVNET),
    ] {
        let expected = known
            .iter()
            .fold(Expected::new(), |e, k| e.array(k.name, k.shape, &FLOATS));
        let mut read = Vec::new();
        for extension in ["npz", "pkl"] {
            let path = dir.join(format!("{stem}.{extension}"));
            let arrays = book_weights::read(&path, &expected)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for (array, k) in arrays.iter().zip(known) {
                let what = format!("{stem}.{extension} {}", k.name);
                assert_eq!(array.name, k.name);
                assert_eq!(array.dtype.descr(), k.descr, "{what}");
                assert_eq!(
                    array.data.len(),
                    k.shape.iter().product::<usize>(),
                    "{what}"
                );
                assert_eq!(array.data[0], k.first, "{what}");
                assert_eq!(*array.data.last().unwrap(), k.last, "{what}");
                // NumPy sums pairwise, we in order: the same to far below the values' spread.
                let sum: f64 = array.data.iter().sum();
                let scale: f64 = array.data.iter().map(|v| v.abs()).sum();
                assert!(
                    (sum - k.sum).abs() <= 1e-12 * scale,
                    "{what}: {sum} vs {}",
                    k.sum
                );
            }
            read.push(arrays);
        }
        assert!(read[0] == read[1], "{stem}: the .npz and the .pkl differ");
    }
}

#[test]
fn the_books_files_are_told_apart_by_their_inventory() {
    let Some(dir) = book_weights() else {
        return;
    };
    let simple = SIMPLE_CONVNET
        .iter()
        .fold(Expected::new(), |e, k| e.array(k.name, k.shape, &FLOATS));
    let deep = DEEP_CONVNET
        .iter()
        .fold(Expected::new(), |e, k| e.array(k.name, k.shape, &FLOATS));
    let err = book_weights::read(&dir.join("simple_convnet_params.pkl"), &deep).unwrap_err();
    let found = err.found().expect("a mismatch");
    assert!(simple.matches(found) && !deep.matches(found));
    assert!(
        err.to_string()
            .contains("(missing: W4 b4 W5 b5 W6 b6 W7 b7 W8 b8)"),
        "{err}"
    );
    // sample_weight has SimpleConvNet's names, not its shapes.
    let err = book_weights::read(&dir.join("sample_weight.npz"), &simple).unwrap_err();
    assert!(
        err.to_string()
            .contains("array W1 has shape (784, 50) where (30, 1, 5, 5) is expected"),
        "{err}"
    );
    assert!(!simple.matches(err.found().unwrap()));
}
