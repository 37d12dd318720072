//! The load test of `nn-cli serve`: 32 clients on loopback send 100 predictions each, of drawn
//! digits (PNGs, as the page sends them) and of 28×28 images, to a server with the book's
//! SimpleConvNet and one with its chapter-4 MLP. No request may fail, and every answer must be
//! the one `predict --image` gives for the same input; the latencies (p50, p99) and the
//! throughput are printed for BENCHMARKS.md, never asserted (this machine is shared).
//!
//! Bounded: 3200 requests per server, each with a 30 s timeout, on 127.0.0.1 only.

mod serve_support;

use std::time::{Duration, Instant};

use nn_core::{MultiLayerNetConfig, NetSpec, Shape};
use serve_support::{
    Reference, Server, agent, bytes, digit_png, floats, image_request, model_file, pixels_request,
    post, predict_image, strokes,
};

/// Concurrent clients.
const CLIENTS: usize = 32;
/// Requests each client sends, one after the other.
const REQUESTS: usize = 100;

/// One input of the test: the request's body, and the answer expected.
struct Input {
    body: Vec<u8>,
    pixels: Vec<u8>,
    probabilities: Vec<f32>,
}

/// The inputs: each digit drawn at two pen widths and two sizes (as PNGs of the page's pad, or
/// twice its size), and four 28×28 images; with the answers expected, from [`Reference`], and
/// checked against `nn-cli predict --image` for one PNG of each digit.
fn inputs(model: &std::path::Path) -> Vec<Input> {
    let mut reference = Reference::load(model);
    let mut inputs = Vec::new();
    for digit in ['7', '0', '1', '4', '2'] {
        for (width, scale) in [(18.0, 1.0), (12.0, 1.0), (18.0, 2.0)] {
            let png = digit_png(&strokes(digit), width, scale);
            let pixels = Reference::prepare(&png);
            let probabilities = reference.probabilities(&pixels);
            if scale == 1.0 && width == 18.0 {
                let printed = predict_image(model, &png);
                for (class, p) in printed {
                    assert_eq!(format!("{:.4}", probabilities[class]), p);
                }
            }
            inputs.push(Input {
                body: image_request(&png),
                pixels,
                probabilities,
            });
        }
    }
    for k in 0..4 {
        let pixels: Vec<u8> = (0..784)
            .map(|i| {
                if (i / 28 + k * 3) % 7 < 2 && (i % 28) > 6 {
                    255
                } else {
                    0
                }
            })
            .collect();
        let probabilities = reference.probabilities(&pixels);
        inputs.push(Input {
            body: pixels_request(&pixels),
            pixels,
            probabilities,
        });
    }
    inputs
}

/// Runs the clients against `server`: every answer checked, the latencies returned, sorted,
/// with the wall time of the whole run.
fn load(server: &Server, inputs: &[Input]) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let latencies = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                scope.spawn(move || {
                    let agent = agent();
                    let mut latencies = Vec::with_capacity(REQUESTS);
                    for r in 0..REQUESTS {
                        let input = &inputs[(client * 7 + r) % inputs.len()];
                        let sent = Instant::now();
                        let (status, answer) =
                            post(&agent, &server.url, "/api/predict", &input.body);
                        latencies.push(sent.elapsed());
                        assert_eq!(status, 200, "client {client}, request {r}: {answer}");
                        assert_eq!(bytes(&answer["input"]), input.pixels);
                        assert_eq!(
                            floats(&answer["probabilities"]),
                            input.probabilities,
                            "client {client}, request {r}"
                        );
                    }
                    latencies
                })
            })
            .collect();
        let mut all: Vec<Duration> = clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort();
        all
    });
    (latencies, start.elapsed())
}

/// The latency below which `q` of them fall (nearest rank).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[test]
fn thirty_two_clients_get_predicts_answers() {
    let networks = [
        (
            "SimpleConvNet",
            NetSpec::simple_conv_net(Shape::new(1, 28, 28), 10),
        ),
        (
            "MLP 784-50-10",
            MultiLayerNetConfig {
                init: nn_core::Init::Std(0.5),
                ..MultiLayerNetConfig::default()
            }
            .spec(Shape::new(1, 28, 28), 10),
        ),
    ];
    for (name, spec) in networks {
        let (dir, model) = model_file(spec, 2, Some("mnist"), &[]);
        let inputs = inputs(&model);
        // The answers differ from one input to the next: equal answers prove something.
        let distinct: std::collections::BTreeSet<String> = inputs
            .iter()
            .map(|i| format!("{:?}", i.probabilities))
            .collect();
        assert_eq!(distinct.len(), inputs.len());

        let server = Server::start(dir.path(), &["--model", model.to_str().unwrap()]);
        let (latencies, wall) = load(&server, &inputs);
        assert_eq!(latencies.len(), CLIENTS * REQUESTS);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{name}: {} requests from {CLIENTS} clients in {:.2} s: {:.0} requests/s, latency \
             p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            latencies.len(),
            wall.as_secs_f64(),
            latencies.len() as f64 / wall.as_secs_f64(),
            ms(quantile(&latencies, 0.5)),
            ms(quantile(&latencies, 0.99)),
            ms(*latencies.last().unwrap()),
        );
        // And one client alone: the page's round trip, without the queue.
        let (mut single, mut inside) = (Vec::new(), Vec::new());
        let agent = agent();
        for input in inputs.iter().cycle().take(100) {
            let sent = Instant::now();
            let (status, answer) = post(&agent, &server.url, "/api/predict", &input.body);
            single.push(sent.elapsed());
            assert_eq!(status, 200);
            inside.push(Duration::from_secs_f64(
                answer["server_ms"].as_f64().unwrap() / 1e3,
            ));
        }
        single.sort();
        inside.sort();
        println!(
            "{name}: one client alone: latency p50 {:.1} ms, p99 {:.1} ms (in the server: p50 \
             {:.1} ms, p99 {:.1} ms)",
            ms(quantile(&single, 0.5)),
            ms(quantile(&single, 0.99)),
            ms(quantile(&inside, 0.5)),
            ms(quantile(&inside, 0.99)),
        );
        // Still serving, and stopping cleanly.
        server.signal("INT");
        let (code, stderr) = server.wait(Duration::from_secs(10)).expect("stops");
        assert_eq!(code, Some(130), "{stderr}");
    }
}
