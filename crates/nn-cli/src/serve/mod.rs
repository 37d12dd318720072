//! `nn-cli serve`: a page to draw a digit on and watch the network decide.
//!
//! One page (HTML, CSS and JavaScript embedded in the binary, nothing fetched from elsewhere)
//! and a JSON API, served by axum on tokio, on loopback unless `--host` says otherwise:
//!
//! - `GET /api/model`: the model (its network line, recorded test accuracy, dataset, class
//!   names, which layer the page draws) and a strip of test images, misclassified ones among
//!   them;
//! - `POST /api/predict`: `{"image": "data:image/png;base64,..."}` (the canvas as a PNG, which
//!   goes through `predict --image`'s preparation: bounding box scaled into 20×20, centred by
//!   centre of mass) or `{"pixels": [784 values]}` (an image already in MNIST's form, such as a
//!   test image). The answer holds the ten probabilities, the 28×28 input the network saw and
//!   the first hidden layer's output; inference is [`predict::probabilities`], the very function
//!   of `predict --image`, so both give the same numbers.
//!
//! Request bodies are capped at [`MAX_BODY`]; a malformed request gets a 4xx with a JSON
//! `{"error": "..."}` saying what is wrong and what to send. The server reads the model file
//! and, once at startup, the test set for the strip; it writes no file. Ctrl-C (or SIGTERM)
//! stops it: requests under way get [`GRACE`] to finish, then it exits with the status a shell
//! gives a program ended by that signal (130, 143), as `train` does; a second Ctrl-C ends it at
//! once. A signal the process ignores (a background job of a script) stays ignored.

mod inference;
mod page;

use std::future::IntoFuture;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use clap::Args;
use mnist_io::{Dataset, Split};
use nn_core::{Model, ModelFile, NetSpec};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use safe_write::interrupt::Signal;

use crate::{data, model};
use inference::{Analysis, FeatureView, Networks};

/// Pixels of the network's input: digit-image's 28×28.
const PIXELS: usize = digit_image::SIDE * digit_image::SIDE;
/// Largest request body accepted (1 MiB): a drawing is a PNG of a few KiB.
pub const MAX_BODY: usize = 1 << 20;
/// How long requests under way may take to finish once Ctrl-C (or SIGTERM) arrives.
pub const GRACE: Duration = Duration::from_millis(500);
/// Most predictions read or computed at once; more wait for their turn before their body is
/// read.
const MAX_IN_FLIGHT: usize = 64;
/// How long a request body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the server looks for a recorded Ctrl-C or SIGTERM.
const SIGNAL_POLL: Duration = Duration::from_millis(20);
/// How many of the first test images the strip shows (with their predictions).
const FIRST_SAMPLES: usize = 8;
/// How many misclassified test images the strip shows at most (the first ones).
const WRONG_SAMPLES: usize = 8;

/// Options of `serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The trained model
    #[arg(long, default_value = "data/params.ron")]
    model: PathBuf,
    /// Folder of the MNIST test files, read once at startup for the strip of test images
    /// [default: data/mnist, and no strip if it lacks them]
    #[arg(long)]
    data: Option<PathBuf>,
    /// Port to listen on (0: any free port, printed)
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on. Only loopback is private to this machine: any other address
    /// serves the page to the network (a warning says so)
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
}

/// What every request shares.
struct App {
    /// Idle copies of the network, one per request that may run at once.
    nets: Mutex<Vec<Networks>>,
    /// One permit per copy in `nets`: a request holding one finds a copy there.
    permits: Semaphore,
    /// [`MAX_IN_FLIGHT`] permits: a request reads its body only with one, so that bodies
    /// waiting for a network never take more than `MAX_IN_FLIGHT × MAX_BODY` of memory.
    admission: Semaphore,
    /// The layer whose output the page draws.
    view: FeatureView,
    /// The class names.
    classes: [&'static str; 10],
    /// `GET /api/model`'s answer, made once.
    model_json: Bytes,
    /// The model file, named in errors.
    model: PathBuf,
}

/// Runs `serve`.
pub fn run(args: ServeArgs) -> Result<()> {
    // Requests run side by side on the cores; nothing should spin between them.
    nn_core::kernels::keep_warm(false);
    let file = model::load_file::<f32>(&args.model, PIXELS)?;
    let view = FeatureView::of(file.net.spec())?;
    let dataset = model::dataset_of(&file, &args.model)?;
    let classes = *dataset.class_names();
    let test = load_test_set(&args, dataset)?;
    let mut net = file.net.clone();
    let samples = match &test {
        Some(test) => {
            inference::pick_samples(&mut net, test, FIRST_SAMPLES, WRONG_SAMPLES, &args.model)?
        }
        None => Vec::new(),
    };
    let info = ModelInfo::new(&file, &args.model, &view, classes, samples)?;
    println!("{}", info.network);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let nets = Networks::new(net, &view)?;
    let app = Arc::new(App {
        nets: Mutex::new(vec![nets; workers]),
        permits: Semaphore::new(workers),
        admission: Semaphore::new(MAX_IN_FLIGHT),
        view,
        classes,
        model_json: Bytes::from(serde_json::to_vec(&info)?),
        model: args.model.clone(),
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    let signal = runtime.block_on(serve(app, SocketAddr::new(args.host, args.port)));
    runtime.shutdown_timeout(GRACE);
    let signal = signal?;
    eprintln!("stopped by {signal}");
    std::process::exit(signal.exit_code());
}

/// Reads the test set for the strip: `--data`'s folder (an error if it lacks the files), or the
/// dataset's own folder (`data/mnist`, `data/fashion`) when it has them (else no strip, with a
/// note).
fn load_test_set(args: &ServeArgs, dataset: Dataset) -> Result<Option<Split>> {
    let split =
        |dir: &Path| data::load_split(dir, dataset, mnist_io::TEST_IMAGES, mnist_io::TEST_LABELS);
    let test = match &args.data {
        Some(dir) => split(dir)?,
        None => match split(&dataset.default_dir()) {
            Ok(test) => test,
            Err(error) => {
                eprintln!("note: no strip of test images ({error:#}); pass --data DIR to show one");
                return Ok(None);
            }
        },
    };
    if test.pixels_per_image() != PIXELS {
        anyhow::bail!(
            "the test images hold {} pixels each, the model takes 28x28: pass --data with \
             the test files of the model's dataset",
            test.pixels_per_image()
        );
    }
    Ok(Some(test))
}

/// Listens on `addr` and serves until Ctrl-C or SIGTERM, which it returns.
async fn serve(app: Arc<App>, addr: SocketAddr) -> Result<Signal> {
    // From here on the first SIGINT or SIGTERM is recorded rather than fatal (safe-write's
    // signal handling, as `train`'s): the server stops on its own.
    let interrupts = safe_write::interrupt::defer();
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot listen on {addr}: is another server using port {}? choose another with \
             --port (0 picks a free one)",
            addr.port()
        )
    })?;
    let local = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: listening on {local}, not on loopback: anyone who can reach this machine \
             can use the page (--host 127.0.0.1 keeps it to this machine)"
        );
    }
    println!("serving http://{local}/  (Ctrl-C to stop)");

    let routes = Router::new()
        .route("/", get(index))
        .route("/app.js", get(script))
        .route("/style.css", get(style))
        .route("/api/model", get(model_info))
        .route("/api/predict", post(predict_handler))
        .fallback(not_found)
        .with_state(app);

    let stopping = Arc::new(tokio::sync::Notify::new());
    let signalled = Arc::clone(&stopping);
    let server = axum::serve(listener, routes)
        .with_graceful_shutdown(async move {
            signalled.notified().await;
        })
        .into_future();
    let signal = async {
        let signal = loop {
            if let Some(signal) = interrupts.received() {
                break signal;
            }
            tokio::time::sleep(SIGNAL_POLL).await;
        };
        stopping.notify_one();
        signal
    };
    tokio::pin!(server, signal);
    let signal = tokio::select! {
        result = &mut server => {
            result.context("the server failed")?;
            anyhow::bail!("the server stopped by itself");
        }
        signal = &mut signal => signal,
    };
    // Requests under way may finish, within GRACE; idle connections close at once.
    let _ = tokio::time::timeout(GRACE, server).await;
    Ok(signal)
}

/// The page.
async fn index() -> Response {
    static_file("text/html; charset=utf-8", page::INDEX_HTML)
}

/// The page's script.
async fn script() -> Response {
    static_file("text/javascript; charset=utf-8", page::APP_JS)
}

/// The page's style sheet.
async fn style() -> Response {
    static_file("text/css; charset=utf-8", page::STYLE_CSS)
}

/// One of the embedded files.
fn static_file(content_type: &'static str, text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        text,
    )
        .into_response()
}

/// `GET /api/model`.
async fn model_info(State(app): State<Arc<App>>) -> Response {
    json_response(StatusCode::OK, app.model_json.clone())
}

/// Any other path.
async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such page: the page is at /, its API at /api/model and /api/predict",
    )
}

/// The body of `POST /api/predict`: exactly one of the two fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictRequest {
    /// A PNG, as base64 or as a `data:image/png;base64,` URL (what `canvas.toDataURL()` gives).
    image: Option<String>,
    /// A 28×28 image in MNIST's form, row-major, 0 background, 255 ink.
    pixels: Option<Vec<u8>>,
}

/// What to send, for error messages.
const EXPECTED: &str = "send {\"image\": \"data:image/png;base64,...\"} (a PNG of the digit) or \
                        {\"pixels\": [784 values of 0-255]} (a 28x28 image in MNIST's form)";

/// `POST /api/predict`.
async fn predict_handler(State(app): State<Arc<App>>, request: Request) -> Response {
    let start = Instant::now();
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the request body is over {} KiB: send a PNG of the drawing (a few KiB) or 784 \
                 pixels",
                MAX_BODY >> 10
            ),
        )
    };
    // A body announced too large is refused before it is read.
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY as u64) {
        return too_large();
    }
    let Ok(_admitted) = app.admission.acquire().await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping");
    };
    let read = axum::body::to_bytes(request.into_body(), MAX_BODY);
    let body = match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(e))
            if std::error::Error::source(&e)
                .is_some_and(|e| e.is::<http_body_util::LengthLimitError>()) =>
        {
            return too_large();
        }
        Ok(Err(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the request body: {e}"),
            );
        }
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "the request body took more than {} s to arrive",
                    BODY_TIMEOUT.as_secs()
                ),
            );
        }
    };
    // The preparation of a drawing and the inference are the CPU's work: one request per
    // core at a time, each on a thread of its own (not the runtime's), JSON and all.
    let Ok(_permit) = app.permits.acquire().await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping");
    };
    let worker = Arc::clone(&app);
    let answered = tokio::task::spawn_blocking(move || {
        let pixels = input_pixels(&body)?;
        let mut nets = worker
            .nets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop()
            .expect("a permit guarantees an idle network");
        let analysis = nn_core::kernels::serial(|| {
            inference::analyse(&mut nets, &worker.view, pixels, &worker.model)
        });
        worker
            .nets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(nets);
        let analysis = analysis.map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let answer = PredictResponse::new(analysis, &worker.classes, start.elapsed());
        serde_json::to_vec(&answer).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
    })
    .await;
    match answered {
        Ok(Ok(json)) => json_response(StatusCode::OK, Bytes::from(json)),
        Ok(Err((status, message))) => error(status, &message),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the inference failed: {e}"),
        ),
    }
}

/// The 28×28 input of a request body, or the status and message that refuse it.
fn input_pixels(body: &[u8]) -> Result<Vec<u8>, (StatusCode, String)> {
    let bad = |message: String| (StatusCode::BAD_REQUEST, message);
    if body.is_empty() {
        return Err(bad(format!("the request body is empty: {EXPECTED}")));
    }
    let request: PredictRequest = serde_json::from_slice(body).map_err(|e| {
        bad(format!(
            "the request is not the JSON expected ({e}): {EXPECTED}"
        ))
    })?;
    match (request.image, request.pixels) {
        (Some(image), None) => {
            let png = decode_base64_png(&image).map_err(bad)?;
            digit_image::load_from_bytes(&png, Path::new("the drawing")).map_err(|e| {
                let status = match e {
                    digit_image::Error::NoDigit { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                    digit_image::Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                (status, e.to_string())
            })
        }
        (None, Some(pixels)) => {
            let expected = PIXELS;
            if pixels.len() == expected {
                Ok(pixels)
            } else {
                Err(bad(format!(
                    "\"pixels\" holds {} values where a 28x28 image has {expected}",
                    pixels.len()
                )))
            }
        }
        (Some(_), Some(_)) => Err(bad(format!(
            "the request has both \"image\" and \"pixels\": {EXPECTED}"
        ))),
        (None, None) => Err(bad(format!(
            "the request has neither \"image\" nor \"pixels\": {EXPECTED}"
        ))),
    }
}

/// The bytes of a base64 PNG, with or without its `data:image/png;base64,` prefix.
fn decode_base64_png(text: &str) -> Result<Vec<u8>, String> {
    let data = match text.strip_prefix("data:") {
        Some(url) => {
            let (kind, data) = url
                .split_once(',')
                .ok_or("\"image\" is a data URL without a comma before its data")?;
            if kind != "image/png;base64" {
                return Err(format!(
                    "\"image\" is a data URL of {kind}: send a PNG, data:image/png;base64,..."
                ));
            }
            data
        }
        None => text,
    };
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| format!("\"image\" is not valid base64 ({e}): {EXPECTED}"))
}

/// A JSON answer.
fn json_response(status: StatusCode, json: Bytes) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        json,
    )
        .into_response()
}

/// A refusal: `{"error": message}`.
fn error(status: StatusCode, message: &str) -> Response {
    let json = serde_json::json!({ "error": message });
    json_response(status, Bytes::from(json.to_string()))
}

/// `POST /api/predict`'s answer.
#[derive(Serialize)]
struct PredictResponse {
    /// The most probable class.
    predicted: usize,
    /// Its name.
    class: &'static str,
    /// Softmax of the scores, one per class.
    probabilities: Vec<f32>,
    /// The 28×28 input the network saw, row-major, 0 background, 255 ink.
    input: Vec<u8>,
    /// The drawn layer's output, each value scaled to 0-255 by the largest (`max`).
    features: Features,
    /// Time from the request's arrival to its answer, in milliseconds.
    server_ms: f64,
}

/// A layer's output for the page: `channels` maps of `height × width` values.
#[derive(Serialize)]
struct Features {
    channels: usize,
    height: usize,
    width: usize,
    /// The largest value, which `values` maps to 255 (0 stays 0; negatives become 0).
    max: f32,
    values: Vec<u8>,
}

impl PredictResponse {
    fn new(analysis: Analysis, classes: &[&'static str; 10], elapsed: Duration) -> Self {
        let Analysis {
            pixels,
            probabilities,
            predicted,
            features,
            shape,
        } = analysis;
        let max = features.iter().copied().fold(0.0f32, f32::max);
        let values = features
            .iter()
            .map(|&v| {
                if max > 0.0 {
                    (v.max(0.0) / max * 255.0).round() as u8
                } else {
                    0
                }
            })
            .collect();
        PredictResponse {
            predicted,
            class: classes[predicted],
            probabilities,
            input: pixels,
            features: Features {
                channels: shape.channels,
                height: shape.height,
                width: shape.width,
                max,
                values,
            },
            server_ms: elapsed.as_secs_f64() * 1e3,
        }
    }
}

/// `GET /api/model`'s answer.
#[derive(Serialize)]
struct ModelInfo {
    /// The network line, as `train` prints it.
    network: String,
    /// The model file's path, as given.
    file: String,
    /// `cnn` or `mlp`.
    kind: &'static str,
    /// The test accuracy the file records, if any.
    test_accuracy: Option<String>,
    /// Where the weights come from, if the file says (imported ones).
    source: Option<String>,
    /// The dataset the file records, if any.
    dataset: Option<String>,
    /// The ten class names.
    classes: [&'static str; 10],
    /// What the feature view shows.
    features: String,
    /// The strip of test images.
    samples: Vec<inference::Sample>,
}

impl ModelInfo {
    fn new(
        file: &ModelFile<f32>,
        path: &Path,
        view: &FeatureView,
        classes: [&'static str; 10],
        samples: Vec<inference::Sample>,
    ) -> Result<Self> {
        Ok(ModelInfo {
            network: network_line(&file.net.spec(), &file.metadata)?,
            file: path.display().to_string(),
            kind: if view.convolutional { "cnn" } else { "mlp" },
            test_accuracy: file.metadata.get("test_acc").cloned(),
            source: file.metadata.get("source").cloned(),
            dataset: file.dataset.clone(),
            classes,
            features: view.description.clone(),
            samples,
        })
    }
}

/// `network: 1×28×28 → … (N parameters; Adam(lr 0.001), batch 100)`, as `train` prints it
/// (the optimizer and batch from the recorded training settings, when the file has them).
fn network_line(
    spec: &NetSpec,
    metadata: &std::collections::BTreeMap<String, String>,
) -> Result<String> {
    let params = spec.param_count()?;
    let training = metadata
        .get("train_config")
        .and_then(|text| ron::from_str::<nn_train::TrainConfig>(text).ok())
        .map(|config| format!("; {}, batch {}", config.optimizer, config.batch_size))
        .unwrap_or_default();
    Ok(format!("network: {spec}  ({params} parameters{training})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bodies_that_are_not_one_image() {
        let status = |body: &[u8]| input_pixels(body).unwrap_err().0;
        assert_eq!(status(b""), StatusCode::BAD_REQUEST);
        assert_eq!(status(b"{"), StatusCode::BAD_REQUEST);
        assert_eq!(status(b"{}"), StatusCode::BAD_REQUEST);
        assert_eq!(status(b"{\"pixels\": [1, 2, 3]}"), StatusCode::BAD_REQUEST);
        assert_eq!(status(b"{\"pixels\": [256]}"), StatusCode::BAD_REQUEST);
        assert_eq!(status(b"{\"image\": \"%%%\"}"), StatusCode::BAD_REQUEST);
        assert_eq!(
            status(b"{\"image\": \"data:image/jpeg;base64,AAAA\"}"),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(status(b"{\"colour\": 1}"), StatusCode::BAD_REQUEST);
        let both = format!("{{\"image\": \"\", \"pixels\": [{}0]}}", "0,".repeat(783));
        assert_eq!(status(both.as_bytes()), StatusCode::BAD_REQUEST);
        let fine = format!("{{\"pixels\": [{}7]}}", "0,".repeat(783));
        assert_eq!(input_pixels(fine.as_bytes()).unwrap()[783], 7);
    }

    #[test]
    fn base64_with_or_without_the_data_url() {
        assert_eq!(decode_base64_png("AAEC").unwrap(), [0, 1, 2]);
        assert_eq!(
            decode_base64_png("data:image/png;base64,AAEC").unwrap(),
            [0, 1, 2]
        );
        assert!(decode_base64_png("data:image/png,AAEC").is_err());
    }
}
