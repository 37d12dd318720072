//! What the tests of `nn-cli serve` share: a server process on a free loopback port, model files
//! of known weights, digits drawn as PNGs, and the reference inference they are checked against.

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use image::{GrayImage, Luma};
use nn_core::{Matrix, Model, ModelFile, NetSpec, Sequential, functions};
use tempfile::TempDir;

/// A running `nn-cli serve`, killed when dropped.
pub struct Server {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`, as it printed it.
    pub url: String,
    /// What it printed to stderr, once it has ended (see [`Server::stderr`]).
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Server {
    /// Starts `nn-cli serve --port 0 ARGS` in `dir` and waits (at most a minute) until it
    /// prints its address.
    pub fn start(dir: &Path, args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nn-cli"));
        command
            .arg("serve")
            .args(["--port", "0"])
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        default_sigint(&mut command);
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let (found, url) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("serving ")
                    && !sent
                {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    let _ = found.send(url.trim_end_matches('/').to_owned());
                    sent = true;
                }
            }
        });
        let url = match url.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "nn-cli serve printed no address: {}",
                    stderr.join().unwrap_or_default()
                );
            }
        };
        Server {
            child,
            url,
            stderr: Some(stderr),
        }
    }

    /// Sends `signal` (`INT`, `TERM`) to the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits at most `limit` for the server to end: its exit code and stderr, or `None` if it
    /// is still running (then it is killed).
    pub fn wait(mut self, limit: Duration) -> Option<(Option<i32>, String)> {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let stderr = self.stderr.take().unwrap().join().unwrap();
                return Some((status.code(), stderr));
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's stderr so far is not readable while it runs: this kills it and returns it.
    pub fn stderr(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr.take().unwrap().join().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Gives SIGINT its default action in `command`'s child: a test harness started as a background
/// job ignores SIGINT, an ignored signal stays ignored across `exec`, and nn-cli keeps an
/// ignored signal ignored, as programs do. A terminal's Ctrl-C finds the default action.
pub fn default_sigint(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between `fork` and `exec` the closure only calls `signal`, which is
    // async-signal-safe, and allocates nothing.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(|| {
            use nix::sys::signal::{SigHandler, Signal, signal};
            signal(Signal::SIGINT, SigHandler::SigDfl)
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
}

/// An HTTP client for loopback: no proxy, 4xx and 5xx answers returned rather than errors,
/// every request bounded in time.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// POSTs `body` to `url` + `path`: the status and the body parsed as JSON.
pub fn post(agent: &ureq::Agent, url: &str, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let mut response = agent
        .post(format!("{url}{path}"))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("{path} answered {status} with a body that is not JSON ({e}): {text}")
    });
    (status, json)
}

/// GETs `url` + `path`: the status, the content type and the body.
pub fn get(agent: &ureq::Agent, url: &str, path: &str) -> (u16, String, String) {
    let mut response = agent.get(format!("{url}{path}")).call().unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.body_mut().read_to_string().unwrap();
    (status, kind, text)
}

/// A temporary folder holding `model.ron`: the network of `spec` with the weights of `seed`,
/// recording `dataset` and `metadata`.
pub fn model_file(
    spec: NetSpec,
    seed: u64,
    dataset: Option<&str>,
    metadata: &[(&str, &str)],
) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let net = Sequential::<f32>::new(spec, seed).unwrap();
    let metadata: BTreeMap<String, String> = metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut file = ModelFile::new(net, metadata);
    file.seed = Some(seed);
    file.dataset = dataset.map(str::to_owned);
    let path = dir.path().join("model.ron");
    std::fs::write(&path, file.to_ron().unwrap()).unwrap();
    (dir, path)
}

/// The strokes of a digit on a 280×280 pad (the page's), in its pixels: each stroke a
/// polyline.
pub fn strokes(digit: char) -> Vec<Vec<(f64, f64)>> {
    match digit {
        '7' => vec![vec![
            (75.0, 60.0),
            (205.0, 60.0),
            (175.0, 120.0),
            (125.0, 230.0),
        ]],
        '1' => vec![vec![(150.0, 45.0), (140.0, 140.0), (132.0, 235.0)]],
        '0' => vec![
            (0..=24)
                .map(|i| {
                    let t = f64::from(i) / 24.0 * std::f64::consts::TAU;
                    (140.0 + 62.0 * t.sin(), 140.0 - 92.0 * t.cos())
                })
                .collect(),
        ],
        '4' => vec![
            vec![(170.0, 50.0), (80.0, 170.0), (215.0, 170.0)],
            vec![(170.0, 50.0), (170.0, 240.0)],
        ],
        '2' => vec![vec![
            (85.0, 95.0),
            (110.0, 60.0),
            (160.0, 55.0),
            (190.0, 90.0),
            (175.0, 140.0),
            (85.0, 230.0),
            (205.0, 230.0),
        ]],
        // A dot: a stroke of one point.
        '.' => vec![vec![(140.0, 140.0)]],
        _ => panic!("no strokes for {digit}"),
    }
}

/// `strokes` drawn as the page draws them (black, round pens of `width` pixels, on white) at
/// `scale` times the pad's size: a grayscale PNG.
pub fn digit_png(strokes: &[Vec<(f64, f64)>], width: f64, scale: f64) -> Vec<u8> {
    let side = (280.0 * scale).round() as u32;
    let radius = width * scale / 2.0;
    let mut image = GrayImage::from_pixel(side, side, Luma([255]));
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        let p = (f64::from(x) + 0.5, f64::from(y) + 0.5);
        let d = strokes
            .iter()
            .flat_map(|s| {
                // A stroke of one point is a dot.
                let pairs: Vec<_> = if s.len() == 1 {
                    vec![(s[0], s[0])]
                } else {
                    s.windows(2).map(|w| (w[0], w[1])).collect()
                };
                pairs
            })
            .map(|(a, b)| {
                let a = (a.0 * scale, a.1 * scale);
                let b = (b.0 * scale, b.1 * scale);
                segment_distance(p, a, b)
            })
            .fold(f64::INFINITY, f64::min);
        // Anti-aliased edge, one pixel wide.
        let ink = (radius + 0.5 - d).clamp(0.0, 1.0);
        pixel.0[0] = (255.0 * (1.0 - ink)).round() as u8;
    }
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

/// Distance from `p` to the segment `a`–`b`.
fn segment_distance(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    };
    let (qx, qy) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - qx).powi(2) + (p.1 - qy).powi(2)).sqrt()
}

/// `{"image": "data:image/png;base64,..."}` of a PNG.
pub fn image_request(png: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(png);
    serde_json::json!({ "image": format!("data:image/png;base64,{data}") })
        .to_string()
        .into_bytes()
}

/// `{"pixels": [...]}`.
pub fn pixels_request(pixels: &[u8]) -> Vec<u8> {
    serde_json::json!({ "pixels": pixels })
        .to_string()
        .into_bytes()
}

/// The reference the server is checked against, computed here from the libraries the book's
/// steps live in: digit-image's preparation of a PNG (as `predict --image`), then the model's
/// scores for the pixels scaled to `[0, 1]`, then softmax.
pub struct Reference {
    net: Sequential<f32>,
}

impl Reference {
    /// The model at `path`.
    pub fn load(path: &Path) -> Reference {
        Reference {
            net: ModelFile::<f32>::load(path).unwrap().net,
        }
    }

    /// digit-image's 28×28 of a PNG.
    pub fn prepare(png: &[u8]) -> Vec<u8> {
        digit_image::load_from_bytes(png, Path::new("test.png")).unwrap()
    }

    /// The probabilities of a prepared 28×28 image.
    pub fn probabilities(&mut self, pixels: &[u8]) -> Vec<f32> {
        let x = Matrix::<f32>::from_iterator(
            pixels.len(),
            1,
            pixels.iter().map(|&p| f32::from(p) / 255.0),
        );
        functions::softmax(self.net.predict(&x))
            .iter()
            .copied()
            .collect()
    }

    /// The output of spec layer `layer` for a prepared image.
    pub fn layer_output(&mut self, pixels: &[u8], layer: usize) -> Vec<f32> {
        let x = Matrix::<f32>::from_iterator(
            pixels.len(),
            1,
            pixels.iter().map(|&p| f32::from(p) / 255.0),
        );
        let mut out = Vec::new();
        self.net.inspect_layers(&x, |i, _, y| {
            if i == layer {
                out = y.iter().copied().collect();
            }
        });
        out
    }
}

/// The `f32`s of a JSON array.
pub fn floats(value: &serde_json::Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

/// The bytes of a JSON array.
pub fn bytes(value: &serde_json::Value) -> Vec<u8> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| u8::try_from(v.as_u64().unwrap()).unwrap())
        .collect()
}

/// `nn-cli predict --image PNG --top 10 --model MODEL`: each class with its probability as
/// printed (4 decimals), most probable first.
pub fn predict_image(model: &Path, png: &[u8]) -> Vec<(usize, String)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("digit.png");
    std::fs::write(&path, png).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_nn-cli"))
        .args(["predict", "--top", "10", "--model"])
        .arg(model)
        .arg("--image")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (class, p) = line.split_once(": ").unwrap();
            (class.parse().unwrap(), p.to_owned())
        })
        .collect()
}
