//! `nn-cli serve` as a person uses it: a real headless Chromium (Debian's `chromium`, driven
//! through `chromedriver` by WebDriver) opens the page, draws a 7 with the mouse, a 0 with a pen
//! and a 1 with a finger (pointer events), and reads the answer the page shows; then it clicks a
//! misclassified test image and reads its label and prediction. Twice: with the book's trained
//! SimpleConvNet (imported) and with an MLP trained here for a few seconds on the real MNIST.
//!
//! The browser is required on CI (`.ci/run` installs it); elsewhere the test is skipped when
//! `chromium` or `chromedriver` is missing. With `SERVE_SCREENSHOTS=DIR`, it saves the page
//! with each model as `DIR/serve-cnn.png` and `DIR/serve-mlp.png` (README's pictures).

mod common;
mod serve_support;

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{
    InputSource, MOUSE_BUTTON_LEFT, MouseActions, PenActions, PointerAction, TouchActions,
};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use serve_support::{Server, strokes};

/// The browser's window: room for the whole page.
const WINDOW: (u32, u32) = (1280, 1000);

/// `name` in one of the folders of `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Chromium and its WebDriver, or `None` after [`common::data_missing`] (a failure on CI).
fn browser_or_skip() -> Option<(PathBuf, PathBuf)> {
    let chromium = which("chromium").or_else(|| which("chromium-browser"));
    let driver = which("chromedriver");
    match (chromium, driver) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        (chromium, driver) => {
            let missing: Vec<&str> = [
                ("chromium", chromium.is_none()),
                ("chromedriver", driver.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, missing)| missing.then_some(name))
            .collect();
            common::data_missing(&format!(
                "the browser test needs {} in PATH: `apt-get install chromium chromium-driver` \
                 (Debian; .ci/run does it)",
                missing.join(" and ")
            ));
            None
        }
    }
}

/// The book's trained weights of SimpleConvNet, or `None` after [`common::data_missing`].
fn simple_convnet_weights_or_skip() -> Option<PathBuf> {
    let path = common::root().join("../shared/data/book-weights/simple_convnet_params.npz");
    if let Ok(path) = std::fs::canonicalize(&path)
        && path.is_file()
    {
        return Some(path);
    }
    common::data_missing(&format!(
        "the book's trained weights: {} is missing (see shared/data/book-weights/README.md)",
        path.display()
    ));
    None
}

/// A running chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(driver: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // In a process group of its own, with the browsers it starts: all ended together.
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromedriver does not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, killpg};
        use nix::unistd::Pid;
        let group = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = killpg(group, Signal::SIGTERM);
        let _ = self.child.wait();
        // Browsers that did not take the hint.
        std::thread::sleep(Duration::from_millis(200));
        let _ = killpg(group, Signal::SIGKILL);
    }
}

/// A new headless Chromium session, with a fresh profile in `profile` and nothing that reaches
/// beyond this machine (the sandbox has no network).
async fn session(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    let args = [
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--no-proxy-server".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--force-device-scale-factor=1".to_owned(),
        format!("--window-size={},{}", WINDOW.0, WINDOW.1),
        format!("--user-data-dir={}", profile.display()),
    ];
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".to_owned(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({ "binary": chromium, "args": args }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session through chromedriver")
}

/// How a digit is drawn.
#[derive(Clone, Copy, Debug)]
enum Pointer {
    Mouse,
    Pen,
    Finger,
}

/// The moves of one stroke over `pad` (280×280 CSS pixels; offsets from its centre), a point
/// every 8 pixels or so.
fn stroke_moves(pad: &Element, stroke: &[(f64, f64)]) -> Vec<PointerAction> {
    let to = |(x, y): (f64, f64)| PointerAction::MoveToElement {
        element: pad.clone(),
        duration: Some(Duration::from_millis(8)),
        x: (x - 140.0).round(),
        y: (y - 140.0).round(),
    };
    let mut moves = vec![
        to(stroke[0]),
        PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        },
    ];
    for pair in stroke.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let steps = ((b.0 - a.0).hypot(b.1 - a.1) / 8.0).ceil().max(1.0) as usize;
        for k in 1..=steps {
            let t = k as f64 / steps as f64;
            moves.push(to((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t)));
        }
    }
    moves.push(PointerAction::Up {
        button: MOUSE_BUTTON_LEFT,
    });
    moves
}

/// Draws `digit`'s strokes on the page's pad with `pointer`.
async fn draw(client: &Client, digit: char, pointer: Pointer) {
    let pad = client.find(Locator::Css("#pad")).await.unwrap();
    for stroke in strokes(digit) {
        let moves = stroke_moves(&pad, &stroke);
        match pointer {
            Pointer::Mouse => {
                let seq = moves
                    .into_iter()
                    .fold(MouseActions::new("mouse".into()), |s, a| s.then(a));
                client.perform_actions(seq).await.unwrap();
            }
            Pointer::Pen => {
                let seq = moves
                    .into_iter()
                    .fold(PenActions::new("pen".into()), |s, a| s.then(a));
                client.perform_actions(seq).await.unwrap();
            }
            Pointer::Finger => {
                let seq = moves
                    .into_iter()
                    .fold(TouchActions::new("finger".into()), |s, a| s.then(a));
                client.perform_actions(seq).await.unwrap();
            }
        }
        client.release_actions().await.unwrap();
    }
}

/// Waits until the page has shown the answer for what is on the pad: its status says `done`
/// (or why not); returns the status text.
async fn settled(client: &Client) -> String {
    let (state, text) = status(client).await;
    assert_eq!(state, "done", "the page says: {text}");
    text
}

/// Waits until the page is no longer busy with what is on the pad: its status's state (`done`,
/// `idle`, `error`) and text.
async fn status(client: &Client) -> (String, String) {
    let start = Instant::now();
    loop {
        let status = client.find(Locator::Css("#status")).await.unwrap();
        let state = status.attr("data-state").await.unwrap().unwrap_or_default();
        if state != "busy" {
            return (state, status.text().await.unwrap());
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the page is still busy after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The text of the element `css`.
async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `nn-cli predict`'s prediction for each of the first `count` test images of `data`.
fn predict_test(model: &Path, data: &Path, count: usize) -> Vec<usize> {
    let output = common::nn_cli()
        .args(["predict", "-n", &count.to_string(), "--data"])
        .arg(data)
        .arg("--model")
        .arg(model)
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .take(count)
        .map(|line| line.split(" == ").next().unwrap().parse().unwrap())
        .collect()
}

/// Opens the page of `server` (model `model`, test set `data`), draws a 7, a 0 and a 1 and reads
/// the answers; clicks a misclassified test image and reads its label and prediction.
async fn use_the_page(
    client: &Client,
    server: &Server,
    model: &Path,
    data: &Path,
    screenshot: Option<PathBuf>,
) {
    client.goto(&server.url).await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("body[data-ready=true]"))
        .await
        .expect("the page loads its model");
    let network = text(client, "#network").await;
    assert!(network.starts_with("network: 1×28×28 → "), "{network}");

    for (digit, pointer) in [
        ('7', Pointer::Mouse),
        ('0', Pointer::Pen),
        ('1', Pointer::Finger),
    ] {
        client
            .find(Locator::Css("#clear"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        draw(client, digit, pointer).await;
        let status = settled(client).await;
        let shown = text(client, "#top-class").await;
        assert_eq!(
            shown,
            digit.to_string(),
            "drew a {digit} with the {pointer:?}: the page says {shown} ({status})"
        );
        let source = text(client, "#source").await;
        assert_eq!(source, "your drawing");
        if digit == '7'
            && let Some(path) = &screenshot
        {
            let png = client.screenshot().await.unwrap();
            std::fs::write(path, png).unwrap();
        }
    }

    // A dot is no digit: the page says so, and shows no answer.
    client
        .find(Locator::Css("#clear"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    draw(client, '.', Pointer::Mouse).await;
    let (state, said) = status(client).await;
    assert_eq!(state, "idle", "{said}");
    assert!(said.starts_with("draw a digit: "), "{said}");
    assert_eq!(text(client, "#top-class").await, "?");

    // A misclassified test image of the strip: its label is the test set's, its prediction
    // `nn-cli predict`'s.
    let wrong = client
        .find(Locator::Css("#strip figure.wrong"))
        .await
        .expect("a misclassified test image in the strip");
    let index: usize = wrong
        .attr("data-index")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    wrong.click().await.unwrap();
    settled(client).await;
    let labels =
        mnist_io::idx::read_labels(&mnist_io::find_file(data, mnist_io::TEST_LABELS).unwrap())
            .unwrap();
    let predicted = predict_test(model, data, index + 1)[index];
    let label = usize::from(labels[index]);
    assert_ne!(predicted, label, "test image {index} is not misclassified");
    assert_eq!(
        text(client, "#source-label").await,
        label.to_string(),
        "test image {index}"
    );
    assert_eq!(
        text(client, "#source-predicted").await,
        predicted.to_string(),
        "test image {index}"
    );
    assert_eq!(text(client, "#top-class").await, predicted.to_string());
    let source = text(client, "#source").await;
    assert!(
        source.starts_with(&format!("test image #{index}: ")),
        "{source}"
    );
}

#[test]
fn a_person_draws_digits_and_reads_the_answers() {
    let Some((chromium, driver)) = browser_or_skip() else {
        return;
    };
    let (Some(weights), Some(data)) = (
        simple_convnet_weights_or_skip(),
        common::real_mnist_or_skip(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cnn = dir.path().join("simple.ron");
    common::nn_cli()
        .args(["import", "--net", "simple-convnet", "--book-weights"])
        .arg(&weights)
        .arg("--out")
        .arg(&cnn)
        .assert()
        .success();
    // An MLP of 100 ReLU neurons, trained with Adam for 1500 iterations (~96% on the test set).
    let mlp = dir.path().join("mlp.ron");
    common::nn_cli()
        .args([
            "train",
            "--hidden",
            "100",
            "--activation",
            "relu",
            "--init",
            "he",
            "--optimizer",
            "adam",
            "--iters",
            "1500",
            "--eval-samples",
            "1000",
            "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(&mlp)
        .arg("--history")
        .arg(dir.path().join("history.csv"))
        .arg("--plot")
        .arg(dir.path().join("plot.svg"))
        .assert()
        .success();

    let screenshots = std::env::var_os("SERVE_SCREENSHOTS").map(PathBuf::from);
    let driver = Driver::start(&driver);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (name, model) in [("cnn", &cnn), ("mlp", &mlp)] {
        let server = Server::start(
            dir.path(),
            &[
                "--model",
                // As a person types it, from the model's folder (the page shows it).
                model.file_name().unwrap().to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ],
        );
        let profile = tempfile::tempdir().unwrap();
        let screenshot = screenshots
            .as_ref()
            .map(|dir| dir.join(format!("serve-{name}.png")));
        runtime.block_on(async {
            let client = session(&driver, &chromium, profile.path()).await;
            use_the_page(&client, &server, model, &data, screenshot).await;
            client.close().await.unwrap();
        });
    }
}
