//! `nn-cli serve`: its answers against `predict`'s, hostile requests, Ctrl-C, the model's
//! description and the strip of test images. (The load test and the browser test have files of
//! their own.)

mod common;
mod serve_support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mnist_io::idx::{self, Images};
use nn_core::{MultiLayerNetConfig, NetSpec, Shape};
use serve_support::{
    Reference, Server, agent, bytes, digit_png, floats, get, image_request, model_file,
    pixels_request, post, predict_image, strokes,
};

/// The book's chapter-5 network shape (784-50-10, sigmoid) with weights drawn from a wide
/// normal distribution, so that the probabilities differ well from one image to the next.
fn mlp() -> NetSpec {
    MultiLayerNetConfig {
        hidden: vec![50],
        init: nn_core::Init::Std(0.5),
        ..MultiLayerNetConfig::default()
    }
    .spec(Shape::new(1, 28, 28), 10)
}

#[test]
fn answers_are_predicts_for_the_same_digit() {
    let (dir, model) = model_file(mlp(), 7, Some("mnist"), &[]);
    let server = Server::start(dir.path(), &["--model", model.to_str().unwrap()]);
    let agent = agent();
    let mut reference = Reference::load(&model);
    for digit in ['7', '0', '1', '4'] {
        let png = digit_png(&strokes(digit), 18.0, 1.0);
        let (status, answer) = post(&agent, &server.url, "/api/predict", &image_request(&png));
        assert_eq!(status, 200, "{answer}");

        // The input the network saw is digit-image's preparation of the PNG, as for
        // `predict --image`, and the probabilities are the model's, bit for bit.
        let pixels = Reference::prepare(&png);
        assert_eq!(bytes(&answer["input"]), pixels, "digit {digit}");
        let expected = reference.probabilities(&pixels);
        assert_eq!(floats(&answer["probabilities"]), expected, "digit {digit}");
        let best = (0..10)
            .max_by(|&a, &b| expected[a].total_cmp(&expected[b]).then(b.cmp(&a)))
            .unwrap();
        assert_eq!(answer["predicted"], best);
        assert_eq!(answer["class"], best.to_string());

        // And `nn-cli predict --image` prints the same ranking and values.
        let printed = predict_image(&model, &png);
        let served = floats(&answer["probabilities"]);
        assert_eq!(printed[0].0, best, "digit {digit}");
        for (class, p) in printed {
            assert_eq!(
                format!("{:.4}", served[class]),
                p,
                "digit {digit}, class {class}"
            );
        }

        // The feature view is the first hidden layer after its sigmoid: 50 values, scaled
        // by their largest to 0..255.
        let hidden = reference.layer_output(&pixels, 1);
        let features = &answer["features"];
        assert_eq!(
            (
                &features["channels"],
                &features["height"],
                &features["width"]
            ),
            (&50.into(), &1.into(), &1.into())
        );
        let max = hidden.iter().copied().fold(0.0f32, f32::max);
        assert_eq!(features["max"].as_f64().unwrap() as f32, max);
        let scaled: Vec<u8> = hidden
            .iter()
            .map(|&v| (v / max * 255.0).round() as u8)
            .collect();
        assert_eq!(bytes(&features["values"]), scaled);
    }

    // An image already in MNIST's form goes to the network as it is.
    let mut pixels = vec![0u8; 784];
    for row in 4..24 {
        pixels[row * 28 + 14] = 255;
        pixels[row * 28 + 13] = 128;
    }
    let (status, answer) = post(
        &agent,
        &server.url,
        "/api/predict",
        &pixels_request(&pixels),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(bytes(&answer["input"]), pixels);
    assert_eq!(
        floats(&answer["probabilities"]),
        reference.probabilities(&pixels)
    );
}

#[test]
fn a_cnn_shows_its_first_convolutions_maps() {
    let spec = NetSpec::simple_conv_net(Shape::new(1, 28, 28), 10);
    let (dir, model) = model_file(spec, 3, None, &[]);
    let server = Server::start(dir.path(), &["--model", model.to_str().unwrap()]);
    let agent = agent();
    let png = digit_png(&strokes('2'), 18.0, 1.0);
    let (status, answer) = post(&agent, &server.url, "/api/predict", &image_request(&png));
    assert_eq!(status, 200, "{answer}");
    let pixels = Reference::prepare(&png);
    let mut reference = Reference::load(&model);
    assert_eq!(
        floats(&answer["probabilities"]),
        reference.probabilities(&pixels)
    );
    // Convolution 30×5×5 on 28×28, then ReLU (spec layer 1): 30 maps of 24×24.
    let features = &answer["features"];
    assert_eq!(
        (
            &features["channels"],
            &features["height"],
            &features["width"]
        ),
        (&30.into(), &24.into(), &24.into())
    );
    let maps = reference.layer_output(&pixels, 1);
    assert_eq!(maps.len(), 30 * 24 * 24);
    let max = maps.iter().copied().fold(0.0f32, f32::max);
    assert!(max > 0.0);
    let scaled: Vec<u8> = maps
        .iter()
        .map(|&v| (v / max * 255.0).round() as u8)
        .collect();
    assert_eq!(bytes(&features["values"]), scaled);

    let (_, _, info) = get(&agent, &server.url, "/api/model");
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["kind"], "cnn");
    assert_eq!(
        info["features"],
        "the first convolution's 30 feature maps (24×24), after its Relu"
    );
    assert_eq!(info["dataset"], serde_json::Value::Null);
    assert_eq!(info["classes"][3], "3");
}

#[test]
fn the_page_and_the_model() {
    let train_config = "(batch_size:100,length:Iters(10000),optimizer:Sgd(lr:0.1),seed:42,\
                        gradient:backprop,eval_samples:None)";
    let (dir, model) = model_file(
        mlp(),
        1,
        Some("fashion"),
        &[("test_acc", "0.8512"), ("train_config", train_config)],
    );
    let server = Server::start(dir.path(), &["--model", model.to_str().unwrap()]);
    let agent = agent();

    // The page and its two files are in the binary; the page loads nothing from elsewhere.
    let (status, kind, html) = get(&agent, &server.url, "/");
    assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
    assert!(html.contains("<canvas id=\"pad\""));
    for (path, kind) in [
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
    ] {
        assert!(html.contains(&format!("\"{path}\"")), "{path}");
        let (status, served, text) = get(&agent, &server.url, path);
        assert_eq!((status, served.as_str()), (200, kind));
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{path}"
        );
    }
    assert!(!html.contains("http://") && !html.contains("https://"));

    let (status, _, info) = get(&agent, &server.url, "/api/model");
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    // The network line as `train` prints it.
    assert_eq!(
        info["network"],
        "network: 1×28×28 → Affine(50) → Sigmoid → Affine(10)  (39760 parameters; SGD(lr 0.1), \
         batch 100)"
    );
    assert_eq!(info["kind"], "mlp");
    assert_eq!(info["test_accuracy"], "0.8512");
    assert_eq!(info["dataset"], "fashion");
    assert_eq!(info["classes"][0], "T-shirt/top");
    assert_eq!(info["classes"][9], "Ankle boot");
    assert_eq!(
        info["features"],
        "the first hidden layer's 50 activations, after its Sigmoid"
    );
    // A Fashion-MNIST model: data/mnist's digits are not its test set, so no strip.
    assert_eq!(info["samples"], serde_json::json!([]));

    // A class name in the answers too.
    let png = digit_png(&strokes('7'), 18.0, 1.0);
    let (status, answer) = post(&agent, &server.url, "/api/predict", &image_request(&png));
    assert_eq!(status, 200);
    let predicted = answer["predicted"].as_u64().unwrap() as usize;
    assert_eq!(answer["class"], info["classes"][predicted]);
}

#[test]
fn the_strip_holds_the_first_test_images_and_misclassified_ones() {
    // A test set of 40 images: thick vertical bars at varied places, labelled in turn 0..9.
    let (dir, model) = model_file(mlp(), 11, Some("mnist"), &[]);
    let data = dir.path().join("mnist");
    std::fs::create_dir(&data).unwrap();
    let count = 40;
    let mut pixels = Vec::new();
    for i in 0..count {
        for row in 0..28 {
            for col in 0..28 {
                let on =
                    (4..24).contains(&row) && (col == 4 + (i * 7) % 20 || col == 5 + (i * 7) % 20);
                pixels.push(if on { 255 } else { 0 });
            }
        }
    }
    let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
    idx::write_images(
        &data.join("t10k-images-idx3-ubyte"),
        &Images::new(28, 28, pixels).unwrap(),
    )
    .unwrap();
    idx::write_labels(&data.join("t10k-labels-idx1-ubyte"), &labels).unwrap();

    let server = Server::start(
        dir.path(),
        &["--model", model.to_str().unwrap(), "--data", "mnist"],
    );
    let (_, _, info) = get(&agent(), &server.url, "/api/model");
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    let samples = info["samples"].as_array().unwrap();

    // `nn-cli predict` on the same test set: `predicted == label: o|x` for each image.
    let output = common::nn_cli()
        .args([
            "predict",
            "-n",
            &count.to_string(),
            "--data",
            "mnist",
            "--model",
        ])
        .arg(&model)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let predicted: Vec<usize> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .take(count)
        .map(|line| line.split(" == ").next().unwrap().parse().unwrap())
        .collect();
    let wrong: Vec<usize> = (0..count)
        .filter(|&i| predicted[i] != usize::from(labels[i]))
        .collect();
    assert!(wrong.iter().filter(|&&i| i >= 8).count() >= 8, "{wrong:?}");

    // The first 8, then the first 8 misclassified after them.
    let expected: Vec<usize> = (0..8)
        .chain(wrong.iter().copied().filter(|&i| i >= 8).take(8))
        .collect();
    let indices: Vec<usize> = samples
        .iter()
        .map(|s| s["index"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(indices, expected);
    for s in samples {
        let i = s["index"].as_u64().unwrap() as usize;
        assert_eq!(s["label"], labels[i]);
        assert_eq!(s["predicted"], predicted[i], "image {i}");
        assert_eq!(bytes(&s["pixels"]), idx_pixels(&data, i));
    }
}

/// Image `i` of the test file in `data`.
fn idx_pixels(data: &std::path::Path, i: usize) -> Vec<u8> {
    let images = idx::read_images(&data.join("t10k-images-idx3-ubyte")).unwrap();
    images.image(i).to_vec()
}

#[test]
fn hostile_requests_get_a_4xx_and_the_server_keeps_serving() {
    let (dir, model) = model_file(mlp(), 5, None, &[]);
    // The server's working folder: it must stay empty (the server writes no file).
    let cwd = tempfile::tempdir().unwrap();
    let server = Server::start(cwd.path(), &["--model", model.to_str().unwrap()]);
    let agent = agent();
    let good = image_request(&digit_png(&strokes('7'), 18.0, 1.0));

    let blank = digit_png(&[], 18.0, 1.0);
    let huge = {
        // 5000×5000 white pixels: a small file, too many pixels to decode.
        let image = image::GrayImage::from_pixel(5000, 5000, image::Luma([255]));
        let mut png = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    };
    let speck = digit_png(&[vec![(140.0, 140.0)]], 2.0, 1.0);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("an empty body", Vec::new(), 400, "empty"),
        ("not JSON", b"hello".to_vec(), 400, "not the JSON expected"),
        (
            "truncated JSON",
            b"{\"image\": \"AAAA".to_vec(),
            400,
            "not the JSON expected",
        ),
        (
            "an unknown field",
            b"{\"png\": 1}".to_vec(),
            400,
            "unknown field",
        ),
        ("no field", b"{}".to_vec(), 400, "neither"),
        (
            "JSON of the wrong type",
            b"[1, 2]".to_vec(),
            400,
            "not the JSON expected",
        ),
        (
            "both fields",
            format!("{{\"image\": \"\", \"pixels\": [{}0]}}", "0,".repeat(783)).into_bytes(),
            400,
            "both",
        ),
        (
            "bad base64",
            b"{\"image\": \"data:image/png;base64,@@@\"}".to_vec(),
            400,
            "not valid base64",
        ),
        (
            "a JPEG data URL",
            b"{\"image\": \"data:image/jpeg;base64,AAAA\"}".to_vec(),
            400,
            "image/jpeg",
        ),
        (
            "not a PNG",
            image_request(b"GIF89a and more bytes"),
            400,
            "a Gif image",
        ),
        (
            "a truncated PNG",
            image_request(&blank[..60]),
            400,
            "cannot be decoded",
        ),
        ("too many pixels", image_request(&huge), 413, "5000x5000"),
        (
            "an empty drawing",
            image_request(&blank),
            422,
            "no digit found",
        ),
        ("a speck", image_request(&speck), 422, "no digit found"),
        (
            "too few pixels",
            pixels_request(&[0; 783]),
            400,
            "783 values",
        ),
        (
            "too many pixels",
            pixels_request(&[0; 785]),
            400,
            "785 values",
        ),
        (
            "a pixel over 255",
            format!("{{\"pixels\": [{}256]}}", "0,".repeat(783)).into_bytes(),
            400,
            "256",
        ),
        (
            "a negative pixel",
            format!("{{\"pixels\": [{}-1]}}", "0,".repeat(783)).into_bytes(),
            400,
            "-1",
        ),
    ];
    for (what, body, status, says) in cases {
        let (got, answer) = post(&agent, &server.url, "/api/predict", &body);
        assert_eq!(got, status, "{what}: {answer}");
        let message = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {answer}"));
        assert!(message.contains(says), "{what}: {message}");
        // And the server still answers a good request.
        let (got, answer) = post(&agent, &server.url, "/api/predict", &good);
        assert_eq!(got, 200, "after {what}: {answer}");
    }

    // Bodies over 1 MiB: announced so (refused from the header, before the body is read), or
    // sent in chunks without a length (refused when the count passes 1 MiB).
    let address = server.url.trim_start_matches("http://");
    for (framing, body) in [
        ("Content-Length: 100000000", Vec::new()),
        (
            "Transfer-Encoding: chunked",
            (0..17)
                .flat_map(|_| {
                    let mut chunk = b"10000\r\n".to_vec();
                    chunk.extend([b' '; 0x10000]);
                    chunk.extend(b"\r\n");
                    chunk
                })
                .collect(),
        ),
    ] {
        let (status, text) = raw_post(address, framing, body);
        assert_eq!(status, "413", "{framing}: {text}");
        assert!(text.contains("over 1024 KiB"), "{framing}: {text}");
        let (got, answer) = post(&agent, &server.url, "/api/predict", &good);
        assert_eq!(got, 200, "after {framing}: {answer}");
    }

    // Other paths and methods.
    let (status, _, text) = get(&agent, &server.url, "/etc/passwd");
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("\"error\""));
    let (status, _, _) = get(&agent, &server.url, "/api/predict");
    assert_eq!(status, 405);
    let (status, answer) = post(&agent, &server.url, "/api/predict", &good);
    assert_eq!(status, 200, "{answer}");

    // Nothing written, in its folder or beside the model.
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// POSTs `body` to /api/predict over a bare connection, with the `framing` header (the body is
/// written by another thread, and may be cut short when the server refuses it): the status and
/// the whole answer.
fn raw_post(address: &str, framing: &str, body: Vec<u8>) -> (String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /api/predict HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         {framing}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&body);
    });
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // Until the end of the answer (its JSON closes with `}`), the connection's end, or an error.
    while let Ok(n @ 1..) = std::io::Read::read(&mut stream, &mut buffer) {
        answer.extend_from_slice(&buffer[..n]);
        if answer.ends_with(b"}") {
            break;
        }
    }
    drop(stream);
    sender.join().unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).unwrap_or_default().to_owned();
    (status, text)
}

#[test]
fn ctrl_c_and_sigterm_stop_it_at_once() {
    let (dir, model) = model_file(mlp(), 5, None, &[]);
    for (signal, code, name) in [("INT", 130, "SIGINT"), ("TERM", 143, "SIGTERM")] {
        let server = Server::start(dir.path(), &["--model", model.to_str().unwrap()]);
        let address = server.url.trim_start_matches("http://").to_owned();
        // A client that keeps its connection open after an answer, and one that sent half a
        // request: neither holds the server up.
        let agent = agent();
        let (status, _, _) = get(&agent, &server.url, "/api/model");
        assert_eq!(status, 200);
        let mut idle = TcpStream::connect(&address).unwrap();
        write!(idle, "GET /api/model HTTP/1.1\r\nHost: x\r\n").unwrap();

        let start = Instant::now();
        server.signal(signal);
        let (exit, stderr) = server
            .wait(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("still running 5 s after SIG{signal}"));
        let took = start.elapsed();
        assert_eq!(exit, Some(code), "{stderr}");
        assert!(stderr.contains(&format!("stopped by {name}")), "{stderr}");
        assert!(took < Duration::from_secs(2), "took {took:?}");
        drop(idle);
        // The port is free again.
        assert!(TcpStream::connect(&address).is_err());
    }
}

#[test]
fn loopback_unless_asked_and_clear_errors() {
    let (dir, model) = model_file(mlp(), 5, None, &[]);
    let model = model.to_str().unwrap();
    let server = Server::start(dir.path(), &["--model", model]);
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    let stderr = server.stderr();
    assert!(!stderr.contains("warning"), "{stderr}");

    // Another address serves the page beyond this machine: it says so. (No request is sent.)
    let server = Server::start(dir.path(), &["--model", model, "--host", "0.0.0.0"]);
    let stderr = server.stderr();
    assert!(
        stderr.contains("warning: listening on 0.0.0.0:") && stderr.contains("not on loopback"),
        "{stderr}"
    );

    // A missing model, a missing --data folder, a port in use.
    common::nn_cli()
        .args(["serve", "--port", "0", "--model", "missing.ron"])
        .current_dir(dir.path())
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "model file missing.ron not found",
        ));
    common::nn_cli()
        .args([
            "serve", "--port", "0", "--model", model, "--data", "nowhere",
        ])
        .current_dir(dir.path())
        .assert()
        .failure()
        .stderr(predicates::str::contains("nowhere"));
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    common::nn_cli()
        .args(["serve", "--port", &port, "--model", model])
        .current_dir(dir.path())
        .assert()
        .failure()
        .stderr(predicates::str::contains(format!(
            "cannot listen on 127.0.0.1:{port}"
        )))
        .stderr(predicates::str::contains("--port"));
}
