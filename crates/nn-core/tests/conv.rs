//! Convolutional networks (chapters 7 and 8): `im2col`/`col2im`, `Convolution` and `Pooling`
//! against their definitions (nested loops written here from the book's formulas), gradient
//! checks of each layer and of small CNNs, the book's ready specs, and results that do not depend
//! on the number of threads.

use nn_core::im2col::{Geometry, Window, col2im, im2col};
use nn_core::layers::{Convolution, Kind, Layer, Pooling};
use nn_core::{
    Init, LayerSpec, Matrix, Model, NetSpec, Sequential, Shape, SpecError, Targets, Trainable,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A random matrix with values in [-1, 1).
fn random(rows: usize, cols: usize, seed: u64) -> Matrix<f64> {
    let mut rng = rng(seed);
    Matrix::from_fn(rows, cols, |_, _| rng.random::<f64>() * 2.0 - 1.0)
}

/// Small random integers, so that sums of products are exact in f64.
fn integers(rows: usize, cols: usize, seed: u64) -> Matrix<f64> {
    let mut rng = rng(seed);
    Matrix::from_fn(rows, cols, |_, _| f64::from(rng.random_range(-4..5_i32)))
}

/// `x[c, y, x]` of sample `n`, 0 in the padding (coordinates relative to the padded input).
fn padded(x: &Matrix<f64>, n: usize, s: Shape, c: usize, y: isize, xx: isize) -> f64 {
    if y < 0 || xx < 0 || y >= s.height as isize || xx >= s.width as isize {
        0.0
    } else {
        x[(
            c * s.height * s.width + y as usize * s.width + xx as usize,
            n,
        )]
    }
}

/// The convolution by its definition (§7.2): `out[n, f, oy, ox] = b[f] + Σ_{c, fy, fx}
/// W[f, c, fy, fx] · x[n, c, oy·s + fy − p, ox·s + fx − p]`, with `W` given as `(FN, C·FH·FW)`.
fn direct_convolution(
    x: &Matrix<f64>,
    input: Shape,
    w: &Matrix<f64>,
    b: &Matrix<f64>,
    window: Window,
) -> Matrix<f64> {
    let (fh, fw, s, p) = (window.height, window.width, window.stride, window.pad);
    let oh = (input.height + 2 * p - fh) / s + 1;
    let ow = (input.width + 2 * p - fw) / s + 1;
    let filters = w.nrows();
    Matrix::from_fn(filters * oh * ow, x.ncols(), |row, n| {
        let (f, pos) = (row / (oh * ow), row % (oh * ow));
        let (oy, ox) = (pos / ow, pos % ow);
        let mut sum = b[f];
        for c in 0..input.channels {
            for fy in 0..fh {
                for fx in 0..fw {
                    let y = (oy * s + fy) as isize - p as isize;
                    let xx = (ox * s + fx) as isize - p as isize;
                    sum += w[(f, (c * fh + fy) * fw + fx)] * padded(x, n, input, c, y, xx);
                }
            }
        }
        sum
    })
}

/// Max pooling by its definition: the maximum over each window of the zero-padded input.
fn direct_pooling(x: &Matrix<f64>, input: Shape, window: Window) -> Matrix<f64> {
    let (ph, pw, s, p) = (window.height, window.width, window.stride, window.pad);
    let oh = (input.height + 2 * p - ph) / s + 1;
    let ow = (input.width + 2 * p - pw) / s + 1;
    Matrix::from_fn(input.channels * oh * ow, x.ncols(), |row, n| {
        let (c, pos) = (row / (oh * ow), row % (oh * ow));
        let (oy, ox) = (pos / ow, pos % ow);
        let mut best = f64::NEG_INFINITY;
        for fy in 0..ph {
            for fx in 0..pw {
                let y = (oy * s + fy) as isize - p as isize;
                let xx = (ox * s + fx) as isize - p as isize;
                best = best.max(padded(x, n, input, c, y, xx));
            }
        }
        best
    })
}

/// Shapes and windows of every kind: several channels, rectangles, strides, padding, windows
/// that do not fit a whole number of times.
fn geometries() -> Vec<(Shape, Window)> {
    vec![
        (Shape::new(1, 28, 28), Window::square(5, 1, 0)),
        (Shape::new(1, 10, 10), Window::square(3, 1, 0)),
        (Shape::new(3, 7, 6), Window::square(3, 1, 1)),
        (Shape::new(2, 9, 8), Window::square(3, 2, 1)),
        (Shape::new(2, 8, 7), Window::square(3, 3, 2)), // 8+4−3 = 9: 3 rows; 7+4−3 = 8: 2 cols
        (Shape::new(4, 6, 6), Window::square(3, 1, 2)),
        (
            Shape::new(2, 5, 7),
            Window {
                height: 2,
                width: 3,
                stride: 2,
                pad: 1,
            },
        ),
        (Shape::new(1, 4, 4), Window::square(4, 1, 0)),
        (Shape::new(1, 1, 1), Window::square(3, 1, 1)),
    ]
}

/// [`geometries`] and two wide enough for the direct kernels (with 16 filters or more).
fn conv_geometries() -> Vec<(Shape, Window)> {
    let mut all = geometries();
    all.push((Shape::new(2, 5, 12), Window::square(3, 1, 1)));
    all.push((Shape::new(3, 4, 13), Window::square(3, 1, 2)));
    // Output planes of 64 and 16 values: the col kernels, for every filter count (and with 16
    // or 32 filters of 288 weights, their own filter-gradient kernel).
    all.push((Shape::new(2, 8, 8), Window::square(3, 1, 1)));
    all.push((Shape::new(3, 15, 15), Window::square(3, 2, 1)));
    all.push((Shape::new(32, 4, 4), Window::square(3, 1, 1)));
    all
}

#[test]
fn im2col_holds_each_patch_as_the_book_defines_it() {
    for (seed, (input, window)) in geometries().into_iter().enumerate() {
        let g = Geometry::new(input, window).unwrap();
        let x = integers(input.len().unwrap(), 1, seed as u64);
        let mut col = vec![0.0; g.col_len()];
        im2col(x.as_slice(), &g, &mut col);
        let positions = g.positions();
        for c in 0..input.channels {
            for fy in 0..window.height {
                for fx in 0..window.width {
                    let k = (c * window.height + fy) * window.width + fx;
                    for oy in 0..g.out_h {
                        for ox in 0..g.out_w {
                            let y = (oy * window.stride + fy) as isize - window.pad as isize;
                            let xx = (ox * window.stride + fx) as isize - window.pad as isize;
                            let want = padded(&x, 0, input, c, y, xx);
                            let got = col[k * positions + oy * g.out_w + ox];
                            assert_eq!(got, want, "{input} {window:?}: k {k} at ({oy}, {ox})");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn col2im_is_the_adjoint_of_im2col_and_a_round_trip_counts_the_patches() {
    for (seed, (input, window)) in geometries().into_iter().enumerate() {
        let g = Geometry::new(input, window).unwrap();
        let len = input.len().unwrap();
        let x = integers(len, 1, 100 + seed as u64);
        let c = integers(g.col_len(), 1, 200 + seed as u64);
        // ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ exactly (integers).
        let mut col = vec![0.0; g.col_len()];
        im2col(x.as_slice(), &g, &mut col);
        let mut back = vec![7.0; len]; // col2im overwrites
        col2im(c.as_slice(), &g, &mut back);
        let left: f64 = col.iter().zip(c.iter()).map(|(a, b)| a * b).sum();
        let right: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
        assert_eq!(left, right, "{input} {window:?}");
        // col2im(im2col(x)) = x times the number of patches that cover each value.
        let ones = vec![1.0; len];
        let mut ones_col = vec![0.0; g.col_len()];
        im2col(&ones, &g, &mut ones_col);
        let mut count = vec![0.0; len];
        col2im(&ones_col, &g, &mut count);
        let mut round_trip = vec![0.0; len];
        col2im(&col, &g, &mut round_trip);
        for i in 0..len {
            assert_eq!(round_trip[i], x[i] * count[i], "{input} {window:?} at {i}");
        }
        // With windows side by side (stride = size, no padding, a whole number of times), every
        // value is in exactly one patch: the round trip gives x back.
        if window.stride == window.height
            && window.stride == window.width
            && window.pad == 0
            && input.height % window.height == 0
            && input.width % window.width == 0
        {
            assert_eq!(round_trip, x.as_slice());
        }
    }
    // 4×4 in 2×2 blocks: an exact round trip.
    let g = Geometry::new(Shape::new(2, 4, 4), Window::square(2, 2, 0)).unwrap();
    let x = integers(32, 1, 9);
    let mut col = vec![0.0; g.col_len()];
    im2col(x.as_slice(), &g, &mut col);
    let mut back = vec![0.0; 32];
    col2im(&col, &g, &mut back);
    assert_eq!(back, x.as_slice());
}

/// Filter counts that take every path of the layer: the direct kernels of stride-1 layers with
/// filters in sixteens (16, 32) on wide rows, else im2col with the col kernels (output planes in
/// sixteens) or with `gemm` (the others).
const FILTERS: [usize; 3] = [3, 16, 32];

#[test]
fn convolution_forward_matches_the_direct_definition() {
    for filters in FILTERS {
        for (seed, (input, window)) in conv_geometries().into_iter().enumerate() {
            let seed = seed as u64;
            let fan_in = input.channels * window.height * window.width;
            let w = integers(filters, fan_in, seed);
            let b = integers(filters, 1, seed + 1);
            let x = integers(input.len().unwrap(), 4, seed + 2);
            let mut conv = Convolution::new(w.clone(), b.clone(), input, window).unwrap();
            let want = direct_convolution(&x, input, &w, &b, window);
            assert_eq!(conv.forward(&x), &want, "{filters} {input} {window:?}");
            assert_eq!(conv.output_shape().len(), Some(want.nrows()));
        }
    }
}

#[test]
fn convolution_by_hand_one_channel_and_two() {
    // 1×3×3 input, filter [[1, 0], [0, −1]] (top-left minus bottom-right), bias 1, pad 0.
    let x = Matrix::from_column_slice(9, 1, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let w = Matrix::from_row_slice(1, 4, &[1.0, 0.0, 0.0, -1.0]);
    let b = Matrix::from_element(1, 1, 1.0);
    let mut conv = Convolution::new(w, b, Shape::new(1, 3, 3), Window::square(2, 1, 0)).unwrap();
    assert_eq!(conv.forward(&x).as_slice(), &[-3.0, -3.0, -3.0, -3.0]);
    // The book's figure 7-12 (§7.2.5): 3 channels of 4×4 with 3×3 filters... here two channels of
    // 2×2 with 1×1 filters: a weighted sum of the channels, per filter.
    let x = Matrix::from_column_slice(8, 1, &[1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0]);
    let w = Matrix::from_row_slice(2, 2, &[1.0, 0.5, -1.0, 1.0]);
    let b = Matrix::zeros(2, 1);
    let mut conv = Convolution::new(w, b, Shape::new(2, 2, 2), Window::square(1, 1, 0)).unwrap();
    assert_eq!(
        conv.forward(&x).as_slice(),
        &[6.0, 12.0, 18.0, 24.0, 9.0, 18.0, 27.0, 36.0]
    );
    // Padding 1 around a single value with a 3×3 filter of 1..9: each output position sees the
    // value under one weight.
    let x = Matrix::from_column_slice(4, 1, &[1.0, 0.0, 0.0, 0.0]);
    let w = Matrix::from_row_slice(1, 9, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let mut conv = Convolution::new(
        w,
        Matrix::zeros(1, 1),
        Shape::new(1, 2, 2),
        Window::square(3, 1, 1),
    )
    .unwrap();
    assert_eq!(conv.forward(&x).as_slice(), &[5.0, 4.0, 2.0, 1.0]);
}

/// `Σ out ⊙ r` as a function of the layer's input and parameters, differentiated both ways.
fn check_layer_gradients(
    layer: &mut dyn Layer<f64>,
    x: &Matrix<f64>,
    out_len: usize,
    label: &str,
    first_layer: bool,
) {
    let n = x.ncols();
    let r = random(out_len, n, 77);
    let loss = |layer: &mut dyn Layer<f64>, x: &Matrix<f64>| -> f64 {
        layer.forward(x).component_mul(&r).sum()
    };
    let h = 1e-5;
    // Backprop.
    layer.forward(x);
    let dx = layer.backward(x, &r, !first_layer).cloned();
    assert_eq!(dx.is_some(), !first_layer, "{label}: dx only when asked");
    let mut grads = Vec::new();
    layer.visit_params(&mut |p| grads.push(p.grad.clone()));
    // Numerical, parameter by parameter.
    let mut count = 0;
    loop {
        let mut values = Vec::new();
        layer.visit_params(&mut |p| values.push(p.value.clone()));
        if count == values.len() {
            break;
        }
        let mut numerical = Matrix::zeros(values[count].nrows(), values[count].ncols());
        for i in 0..numerical.len() {
            let mut at = |delta: f64| {
                let mut k = 0;
                layer.visit_params(&mut |p| {
                    if k == count {
                        p.value[i] = values[count][i] + delta;
                    }
                    k += 1;
                });
                loss(layer, x)
            };
            numerical[i] = (at(h) - at(-h)) / (2.0 * h);
            at(0.0);
        }
        let diff = (&grads[count] - &numerical).abs().mean();
        assert!(diff < 1e-7, "{label}: parameter {count}: {diff:e}");
        assert!(
            grads[count].abs().max() > 1e-3,
            "{label}: parameter {count} vanishes"
        );
        count += 1;
    }
    if let Some(dx) = dx {
        let mut numerical = Matrix::zeros(x.nrows(), n);
        let mut shifted = x.clone();
        for i in 0..x.len() {
            shifted[i] = x[i] + h;
            let plus = loss(layer, &shifted);
            shifted[i] = x[i] - h;
            let minus = loss(layer, &shifted);
            shifted[i] = x[i];
            numerical[i] = (plus - minus) / (2.0 * h);
        }
        let diff = (&dx - &numerical).abs().mean();
        assert!(diff < 1e-7, "{label}: dx: {diff:e}");
    }
}

#[test]
fn convolution_gradients_match_central_differences() {
    for filters in [3, 16] {
        for (seed, (input, window)) in conv_geometries().into_iter().enumerate() {
            let seed = seed as u64;
            let fan_in = input.channels * window.height * window.width;
            let w = random(filters, fan_in, seed);
            let b = random(filters, 1, seed + 1);
            let x = random(input.len().unwrap(), 3, seed + 2);
            let mut conv = Convolution::new(w, b, input, window).unwrap();
            let out_len = conv.output_shape().len().unwrap();
            let label = format!("{filters} filters, {input} {window:?}");
            check_layer_gradients(&mut conv, &x, out_len, &label, false);
            let mut first = conv.clone();
            check_layer_gradients(&mut first, &x, out_len, &label, true);
            assert_eq!(first.dw, conv.dw, "backward_input gives the same dW");
        }
    }
}

#[test]
fn pooling_forward_matches_the_direct_definition_and_backward_routes_to_the_first_maximum() {
    for (seed, (input, window)) in geometries().into_iter().enumerate() {
        let x = random(input.len().unwrap(), 3, seed as u64);
        let mut pool = Pooling::new(input, window).unwrap();
        let want = direct_pooling(&x, input, window);
        assert_eq!(pool.forward(&x), &want, "{input} {window:?}");
        // Random values have no ties and no maximum on a kink: central differences apply.
        let out_len = pool.output_shape().len().unwrap();
        check_layer_gradients(
            &mut pool,
            &x,
            out_len,
            &format!("{input} {window:?}"),
            false,
        );
    }
    // Ties: the first maximum in row-major order takes the gradient (np.argmax).
    let mut pool = Pooling::new(Shape::new(1, 2, 2), Window::square(2, 2, 0)).unwrap();
    let x = Matrix::from_column_slice(4, 1, &[1.0, 3.0, 3.0, 2.0]);
    pool.forward(&x);
    let dx = pool.backward(&x, &Matrix::from_element(1, 1, 1.0), true);
    assert_eq!(dx.unwrap().as_slice(), &[0.0, 1.0, 0.0, 0.0]);
    // Padding is zeros that take part: a window of negative values over the padding gives 0,
    // and its gradient goes nowhere.
    let mut pool = Pooling::new(Shape::new(1, 2, 2), Window::square(2, 2, 1)).unwrap();
    let x = Matrix::from_column_slice(4, 1, &[-1.0, -2.0, -3.0, 5.0]);
    assert_eq!(pool.forward(&x).as_slice(), &[0.0, 0.0, 0.0, 5.0]);
    let dx = pool.backward(&x, &Matrix::from_element(4, 1, 1.0), true);
    assert_eq!(dx.unwrap().as_slice(), &[0.0, 0.0, 0.0, 1.0]);
    // Overlapping windows (stride 1) add their gradients.
    let mut pool = Pooling::new(
        Shape::new(1, 1, 3),
        Window {
            height: 1,
            width: 2,
            stride: 1,
            pad: 0,
        },
    )
    .unwrap();
    let x = Matrix::from_column_slice(3, 1, &[0.0, 9.0, 1.0]);
    pool.forward(&x);
    let dx = pool.backward(&x, &Matrix::from_column_slice(2, 1, &[2.0, 3.0]), true);
    assert_eq!(dx.unwrap().as_slice(), &[0.0, 5.0, 0.0]);
}

/// Backprop against central differences on every parameter of a network, in f64, on two copies
/// at the same step (dropout draws the same masks).
fn network_gradient_check(spec: NetSpec, samples: usize, seed: u64) {
    let inputs = spec.input.len().unwrap();
    let classes = spec.output_len().unwrap() as u8;
    let mut net = Sequential::<f64>::new(spec.clone(), seed).unwrap();
    let mut twin = net.snapshot();
    let mut rng = rng(seed + 1);
    let x = Matrix::from_fn(inputs, samples, |_, _| rng.random::<f64>());
    let labels: Vec<u8> = (0..samples).map(|_| rng.random_range(0..classes)).collect();
    let t = Targets::Labels(&labels);
    net.gradient(&x, t);
    twin.numerical_gradient(&x, t);
    for ((name, b), (_, n)) in net.named_gradients().iter().zip(&twin.named_gradients()) {
        let diff = (b - n).abs().mean();
        eprintln!("{spec}: {name}: {diff:e}");
        assert!(diff < 1e-6, "{spec}: {name}: {diff:e}");
        assert!(b.abs().max() > 1e-9, "{spec}: {name} vanishes");
    }
}

#[test]
fn gradient_check_of_the_books_small_simple_conv_net() {
    // ch07/gradient_check.py: SimpleConvNet(input_dim=(1, 10, 10), conv 10 filters of 3×3,
    // hidden_size=10, output_size=10), one sample. The book draws the weights with std 0.01 and
    // prints the differences; then the hidden layer's inputs lie within about 1e-3 of ReLU's kink,
    // which central differences of step 1e-4 cross now and then (b2 differs by 6e-5 for seed 1):
    // He's weights keep them away from it.
    let spec = NetSpec {
        init: Init::He,
        ..NetSpec::simple_conv_net_of(Shape::new(1, 10, 10), 10, 3, 10, 10)
    };
    network_gradient_check(spec, 1, 1);
}

#[test]
fn gradient_check_of_a_small_deep_conv_net_with_padding_strides_dropout_and_weight_decay() {
    let conv = |filters, size, stride, pad| LayerSpec::Convolution {
        filters,
        size,
        stride,
        pad,
    };
    let spec = NetSpec {
        input: Shape::new(2, 9, 8),
        layers: vec![
            conv(3, 3, 1, 1),
            LayerSpec::Relu,
            conv(4, 3, 2, 2),
            LayerSpec::Relu,
            LayerSpec::Pooling {
                size: 2,
                stride: Some(1),
                pad: 0,
            },
            conv(3, 2, 1, 0),
            LayerSpec::Relu,
            LayerSpec::Pooling {
                size: 2,
                stride: None,
                pad: 1,
            },
            LayerSpec::Affine { out: 6 },
            LayerSpec::Relu,
            LayerSpec::Dropout { ratio: 0.3 },
            LayerSpec::Affine { out: 4 },
            LayerSpec::Dropout { ratio: 0.2 },
        ],
        init: Init::He,
        weight_decay: 0.1,
    };
    network_gradient_check(spec, 3, 2);
}

/// DeepConvNet's layers in small: 3×3 convolutions of 16 and 32 filters with padding 1 and 2,
/// ReLU, max pooling (the direct kernels, fused with ReLU and pooling in the network).
#[test]
fn gradient_check_of_a_small_deep_conv_net_on_the_direct_kernels() {
    let conv = |filters, pad| LayerSpec::Convolution {
        filters,
        size: 3,
        stride: 1,
        pad,
    };
    let pool = LayerSpec::Pooling {
        size: 2,
        stride: None,
        pad: 0,
    };
    let spec = NetSpec {
        input: Shape::new(1, 6, 26),
        layers: vec![
            conv(16, 1),
            LayerSpec::Relu,
            conv(16, 1),
            LayerSpec::Relu,
            pool.clone(),
            conv(32, 2),
            LayerSpec::Relu,
            pool,
            LayerSpec::Affine { out: 10 },
        ],
        init: Init::He,
        weight_decay: 0.0,
    };
    // Seed 4: with more than 5000 activations, some draws put a ReLU input or two pooled values
    // within the step h = 1e-4 of each other, where central differences are wrong (seed 3 does,
    // by 4e-5 in W1); every gradient then agrees to 1e-10.
    network_gradient_check(spec, 2, 4);
}

#[test]
fn gradient_check_of_a_conv_net_with_batch_norm_and_sigmoid() {
    let spec = NetSpec {
        input: Shape::new(1, 6, 6),
        layers: vec![
            LayerSpec::Convolution {
                filters: 2,
                size: 3,
                stride: 1,
                pad: 1,
            },
            LayerSpec::BatchNorm,
            LayerSpec::Sigmoid,
            LayerSpec::Pooling {
                size: 3,
                stride: Some(2),
                pad: 0,
            },
            LayerSpec::Affine { out: 3 },
        ],
        init: Init::Xavier,
        weight_decay: 0.0,
    };
    let inputs = spec.input.len().unwrap();
    let mut net = Sequential::<f64>::new(spec.clone(), 3).unwrap();
    let mut twin = net.snapshot();
    let x = random(inputs, 5, 4);
    let labels = [0, 1, 2, 1, 0];
    net.gradient(&x, Targets::Labels(&labels));
    twin.numerical_gradient(&x, Targets::Labels(&labels));
    for ((name, b), (_, n)) in net.named_gradients().iter().zip(&twin.named_gradients()) {
        let diff = (b - n).abs().mean();
        // The conv bias right before batch norm has no effect: zero both ways.
        assert!(diff < 1e-6, "{name}: {diff:e}");
    }
}

#[test]
fn the_books_networks_have_the_books_shapes_names_and_initial_weights() {
    let mnist = Shape::new(1, 28, 28);
    let mut simple = Sequential::<f64>::new(NetSpec::simple_conv_net(mnist, 10), 5).unwrap();
    let params = simple.named_params();
    let shapes: Vec<(String, (usize, usize))> = params
        .iter()
        .map(|(n, m)| (n.to_string(), m.shape()))
        .collect();
    let shapes: Vec<(&str, (usize, usize))> =
        shapes.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    assert_eq!(
        shapes,
        [
            ("W1", (30, 25)),
            ("b1", (30, 1)),
            ("W2", (4320, 100)),
            ("b2", (100, 1)),
            ("W3", (100, 10)),
            ("b3", (10, 1)),
        ]
    );
    // std 0.01 everywhere, biases zero.
    for (name, m) in &params {
        let std = (m.norm_squared() / m.len() as f64).sqrt();
        if name.kind == Kind::Weight {
            assert!((std - 0.01).abs() < 0.001, "{name}: {std}");
        } else {
            assert_eq!(m.abs().max(), 0.0);
        }
    }
    assert_eq!((simple.input_len(), simple.output_len()), (784, 10));

    let mut deep = Sequential::<f64>::new(NetSpec::deep_conv_net(mnist, 10), 5).unwrap();
    let params = deep.named_params();
    let weights: Vec<(usize, usize)> = params
        .iter()
        .filter(|(n, _)| n.kind == Kind::Weight)
        .map(|(_, m)| m.shape())
        .collect();
    assert_eq!(
        weights,
        [
            (16, 9),
            (16, 144),
            (32, 144),
            (32, 288),
            (64, 288),
            (64, 576),
            (1024, 50),
            (50, 10)
        ]
    );
    // He: std √(2/fan-in), fan-in C·3·3 for the filters (the book's pre_node_nums).
    for (name, m) in params.iter().filter(|(n, _)| n.kind == Kind::Weight) {
        let fan_in = if m.nrows() <= 64 {
            m.ncols()
        } else {
            m.nrows()
        };
        let fan_in = if name.to_string() == "W8" { 50 } else { fan_in };
        let want = (2.0 / fan_in as f64).sqrt();
        let std = (m.norm_squared() / m.len() as f64).sqrt();
        assert!((std / want - 1.0).abs() < 0.15, "{name}: {std} vs {want}");
    }
    let mut names = Vec::new();
    deep.visit_params(&mut |p| names.push(p.name.to_string()));
    assert_eq!(names.len(), 16);
    assert_eq!((names[14].as_str(), names[15].as_str()), ("W8", "b8"));
}

#[test]
fn specs_read_from_ron_with_defaults_and_bad_windows_are_refused_with_the_layer_named() {
    let spec: NetSpec = ron::from_str(
        "(input: (channels: 1, height: 28, width: 28),
          layers: [Convolution(filters: 30, size: 5), Relu, Pooling(size: 2), Affine(out: 10)],
          init: Std(0.01))",
    )
    .unwrap();
    assert_eq!(spec, {
        let mut s = NetSpec::simple_conv_net(Shape::new(1, 28, 28), 10);
        s.layers.drain(3..5);
        s.layers[2] = LayerSpec::Pooling {
            size: 2,
            stride: None,
            pad: 0,
        };
        s
    });
    assert_eq!(spec.check().unwrap()[2], Shape::new(30, 12, 12));
    let text = ron::to_string(&spec).unwrap();
    assert_eq!(ron::from_str::<NetSpec>(&text).unwrap(), spec);

    let layer_error = |layers: Vec<LayerSpec>, input: Shape| match (NetSpec {
        input,
        layers,
        init: Init::He,
        weight_decay: 0.0,
    })
    .check()
    {
        Err(e @ SpecError::Layer { .. }) => e.to_string(),
        other => panic!("expected a layer error, got {other:?}"),
    };
    let conv = |filters, size, stride, pad| LayerSpec::Convolution {
        filters,
        size,
        stride,
        pad,
    };
    let small = Shape::new(1, 4, 4);
    let e = layer_error(vec![conv(2, 5, 1, 0)], small);
    assert!(
        e.contains("layer 1 (Convolution(2×5×5))") && e.contains("larger than"),
        "{e}"
    );
    let e = layer_error(vec![LayerSpec::Relu, conv(2, 3, 0, 0)], small);
    assert!(e.contains("layer 2") && e.contains("stride is 0"), "{e}");
    let e = layer_error(vec![conv(0, 3, 1, 0)], small);
    assert!(e.contains("filters is 0"), "{e}");
    let e = layer_error(vec![conv(1, 0, 1, 0)], small);
    assert!(e.contains("size is 0"), "{e}");
    let e = layer_error(
        vec![LayerSpec::Pooling {
            size: 5,
            stride: None,
            pad: 0,
        }],
        small,
    );
    assert!(
        e.contains("Pooling(5×5)") && e.contains("larger than"),
        "{e}"
    );
    // Padding makes room; a window that does not fit a whole number of times floors (the book's
    // integer division): (4 + 2 − 5) / 1 + 1 = 2, and (7 − 2) / 2 + 1 = 3.
    assert!(
        NetSpec {
            input: small,
            layers: vec![conv(2, 5, 1, 1)],
            init: Init::He,
            weight_decay: 0.0
        }
        .check()
        .unwrap()[0]
            == Shape::new(2, 2, 2)
    );
    let pooled = NetSpec {
        input: Shape::new(3, 7, 7),
        layers: vec![LayerSpec::Pooling {
            size: 2,
            stride: None,
            pad: 0,
        }],
        init: Init::He,
        weight_decay: 0.0,
    };
    assert_eq!(pooled.check().unwrap()[0], Shape::new(3, 3, 3));
}

/// A training step (gradient, then an SGD update) of a CNN on a pool of `threads` threads, and the
/// resulting parameters.
fn trained_on(threads: usize, spec: &NetSpec, x: &Matrix<f32>, labels: &[u8]) -> Vec<Matrix<f32>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut net = Sequential::<f32>::new(spec.clone(), 11).unwrap();
        for _ in 0..2 {
            net.gradient(x, Targets::Labels(labels));
            net.visit_params(&mut |p| p.value.zip_apply(p.grad, |w, g| *w -= 0.1 * g));
        }
        let mut params = Vec::new();
        net.visit_params(&mut |p| params.push(p.value.clone()));
        params.push(net.predict(x).clone());
        params
    })
}

#[test]
fn results_are_bit_identical_on_one_thread_or_two() {
    let mnist = Shape::new(1, 28, 28);
    let mut rng = rng(12);
    let x = Matrix::from_fn(784, 64, |_, _| rng.random::<f32>());
    let labels: Vec<u8> = (0..64).map(|i| (i % 10) as u8).collect();
    for spec in [
        NetSpec::simple_conv_net(mnist, 10),
        NetSpec::deep_conv_net(mnist, 10),
    ] {
        let one = trained_on(1, &spec, &x, &labels);
        let two = trained_on(2, &spec, &x, &labels);
        assert!(
            one == two,
            "{spec}: parameters differ between 1 and 2 threads"
        );
        let serial = {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap();
            pool.install(|| nn_core::kernels::serial(|| trained_on(2, &spec, &x, &labels)))
        };
        assert!(one == serial, "{spec}: nn_core::serial changes the bits");
    }
}

#[test]
fn a_large_batch_split_in_halves_computes_what_each_sample_alone_gives() {
    // 64 samples of the book's first layer are cut in two halves; each sample's output must be
    // what a batch of that sample alone gives (the products of one sample do not depend on the
    // others), and dW the sum over the samples.
    let input = Shape::new(1, 28, 28);
    let window = Window::square(5, 1, 0);
    let w = integers(30, 25, 1);
    let b = integers(30, 1, 2);
    let x = integers(784, 64, 3);
    let mut conv = Convolution::new(w.clone(), b.clone(), input, window).unwrap();
    let out = conv.forward(&x).clone();
    assert_eq!(out, direct_convolution(&x, input, &w, &b, window));
    let dout = integers(out.nrows(), 64, 4);
    let dx = conv.backward(&x, &dout, true).unwrap().clone();
    let mut dw_sum = Matrix::zeros(30, 25);
    for n in 0..64 {
        let mut single = Convolution::new(w.clone(), b.clone(), input, window).unwrap();
        let xn = x.columns(n, 1).into_owned();
        single.forward(&xn);
        let dn = dout.columns(n, 1).into_owned();
        let dxn = single.backward(&xn, &dn, true).unwrap().clone();
        assert_eq!(dxn, dx.columns(n, 1));
        dw_sum += &single.dw;
    }
    assert_eq!(conv.dw, dw_sum); // integers: the sums are exact in any order
}

/// The spec alone names and sizes the CNNs' matrices as the book's `params` dicts do, and
/// counts their parameters: SimpleConvNet 30·25 + 30 + 4320·100 + 100 + 100·10 + 10, DeepConvNet
/// the six 3×3 convolutions (16, 16, 32, 32, 64, 64 filters), 1024·50 + 50 and 50·10 + 10.
#[test]
fn the_specs_name_and_count_the_cnn_parameters_as_the_book() {
    let mnist = Shape::new(1, 28, 28);
    let simple = NetSpec::simple_conv_net(mnist, 10);
    let named: Vec<(String, (usize, usize))> = simple
        .matrices()
        .unwrap()
        .into_iter()
        .map(|(name, shape)| (name.to_string(), shape))
        .collect();
    let expected = [
        ("W1", (30, 25)),
        ("b1", (30, 1)),
        ("W2", (4320, 100)),
        ("b2", (100, 1)),
        ("W3", (100, 10)),
        ("b3", (10, 1)),
    ];
    let expected: Vec<(String, (usize, usize))> =
        expected.iter().map(|&(n, s)| (n.to_string(), s)).collect();
    assert_eq!(named, expected);
    assert_eq!(
        simple.param_count(),
        Ok(30 * 25 + 30 + 4320 * 100 + 100 + 100 * 10 + 10)
    );
    let deep = NetSpec::deep_conv_net(mnist, 10);
    let convs = [(16, 1), (16, 16), (32, 16), (32, 32), (64, 32), (64, 64)];
    let conv_params: usize = convs.iter().map(|&(f, c)| f * c * 9 + f).sum();
    assert_eq!(
        deep.param_count(),
        Ok(conv_params + 1024 * 50 + 50 + 50 * 10 + 10)
    );
    let deep_names: Vec<String> = deep
        .matrices()
        .unwrap()
        .iter()
        .map(|(name, shape)| format!("{name}{shape:?}"))
        .collect();
    assert_eq!(deep_names[0], "W1(16, 9)");
    assert_eq!(deep_names[6], "W4(32, 288)");
    assert_eq!(deep_names[7], "b4(32, 1)");
    assert_eq!(deep_names[14], "W8(50, 10)");
    assert_eq!(deep_names.len(), 16);
}

/// `inspect_layers` hands out each layer of the spec with that layer's own output. SimpleConvNet
/// runs its convolution, ReLU and pooling as one fused layer; zipping the fused layers with the
/// spec's (as it once did) named the pooled output "Convolution" and shifted every later name.
/// Each output is checked against the layer computed on its own: the convolution against
/// `Convolution` with `W1` and `b1`, ReLU and pooling against theirs, the last against `predict`.
#[test]
fn inspect_layers_reports_every_layer_of_a_fused_network() {
    let spec = NetSpec::simple_conv_net(Shape::new(1, 12, 12), 10);
    let shapes = spec.check().unwrap();
    let mut net = Sequential::<f64>::new(spec.clone(), 3).unwrap();
    let x = random(144, 5, 8).map(|v| v.abs());
    let mut seen = Vec::new();
    net.inspect_layers(&x, |i, layer, out| {
        seen.push((i, layer.clone(), out.clone()))
    });
    assert_eq!(seen.len(), spec.layers.len());
    for (i, layer, out) in &seen {
        assert_eq!(layer, &spec.layers[*i], "layer {i}");
        assert_eq!(
            out.shape(),
            (shapes[*i].len().unwrap(), 5),
            "layer {i} ({layer})"
        );
    }
    let params = net.named_params();
    let (w1, b1) = (params[0].1.clone(), params[1].1.clone());
    let mut conv = Convolution::new(w1, b1, spec.input, Window::square(5, 1, 0)).unwrap();
    let conv_out = conv.forward(&x).clone();
    assert_eq!(seen[0].2, conv_out, "the convolution's own output");
    assert_eq!(seen[1].2, conv_out.map(|v| v.max(0.0)), "ReLU's output");
    let mut pool = Pooling::new(shapes[1], Window::square(2, 2, 0)).unwrap();
    assert_eq!(&seen[2].2, pool.forward(&seen[1].2), "pooling's output");
    assert_eq!(&seen[5].2, net.predict(&x), "the scores");
}
