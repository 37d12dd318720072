//! The real download path, against a local HTTP server on 127.0.0.1 serving small synthetic IDX
//! files (no mock of the HTTP client), and against `file://` and folder mirrors.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::Compression;
use flate2::write::GzEncoder;
use mnist_io::fetch::{
    self, Checksum, Dataset, FetchError, FetchOptions, Mirror, MirrorError, RemoteFile,
};
use mnist_io::{FILES, Mnist};
use sha2::{Digest, Sha256};

/// The four synthetic files, decompressed: 3 training and 2 test images of 2×3 pixels.
fn synthetic() -> [Vec<u8>; 4] {
    let images = |count: u8| {
        let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, count, 0, 0, 0, 2, 0, 0, 0, 3];
        bytes.extend((0..count * 6).map(|i| i * 11));
        bytes
    };
    [
        images(3),
        vec![0, 0, 8, 1, 0, 0, 0, 3, 5, 0, 4],
        images(2),
        vec![0, 0, 8, 1, 0, 0, 0, 2, 7, 2],
    ]
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The synthetic files with their SHA-256, checked on the decompressed contents.
fn remote_files() -> Vec<RemoteFile> {
    FILES
        .iter()
        .zip(synthetic())
        .map(|(name, bytes)| RemoteFile {
            name: (*name).to_owned(),
            checksum: Checksum::Contents(sha256_hex(&bytes)),
            size: bytes.len() as u64,
        })
        .collect()
}

const NOT_FOUND_PAGE: &str = "<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>";

/// Serves, under `/good/`, the gzip files; under `/corrupt/`, valid gzip files whose contents
/// differ by one byte; under `/html/`, an HTML page with status 200; under `/badgz/`, gzip magic
/// then garbage; under `/raw/`, the uncompressed files (and a big one); elsewhere a 404 HTML page.
/// Returns the base URL and the number of requests served.
fn serve() -> (String, Arc<AtomicUsize>) {
    let mut routes: HashMap<String, Vec<u8>> = HashMap::new();
    for (name, bytes) in FILES.iter().zip(synthetic()) {
        routes.insert(format!("/good/{name}.gz"), gzip(&bytes));
        let mut corrupt = bytes.clone();
        *corrupt.last_mut().unwrap() ^= 1;
        routes.insert(format!("/corrupt/{name}.gz"), gzip(&corrupt));
        routes.insert(
            format!("/html/{name}.gz"),
            b"<html><body>Moved</body></html>".to_vec(),
        );
        routes.insert(
            format!("/badgz/{name}.gz"),
            vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xfe, 0xfd, 0xfc],
        );
        routes.insert(format!("/raw/{name}.gz"), bytes);
    }
    routes.insert("/raw/big-idx3-ubyte.gz".to_owned(), big_file());
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&served);
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            counter.fetch_add(1, Ordering::SeqCst);
            let response = match routes.get(request.url()) {
                Some(body) => tiny_http::Response::from_data(body.clone()),
                None => tiny_http::Response::from_data(NOT_FOUND_PAGE.as_bytes().to_vec())
                    .with_status_code(404),
            };
            let _ = request.respond(response);
        }
    });
    (format!("http://127.0.0.1:{port}"), served)
}

/// An uncompressed 12 MB idx3 file: above ureq's 10 MB in-memory default limit.
fn big_file() -> Vec<u8> {
    let count: u32 = 15_000;
    let mut bytes = vec![0, 0, 8, 3];
    for d in [count, 28, 28] {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend((0..count as usize * 784).map(|i| (i % 256) as u8));
    bytes
}

fn options(out: &Path, mirrors: &[String]) -> FetchOptions {
    FetchOptions {
        label: "synthetic".to_owned(),
        out: out.to_path_buf(),
        files: remote_files(),
        mirrors: mirrors.iter().map(|m| Mirror::parse(m)).collect(),
        force: false,
        progress: false,
        stall_timeout: fetch::DEFAULT_STALL_TIMEOUT,
    }
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn fetches_over_http_then_skips_files_already_verified() {
    let (base, served) = serve();
    let out = tempfile::tempdir().unwrap();
    let out = out.path().join("data").join("mnist");
    let options = options(&out, &[format!("{base}/good/")]);

    let summary = fetch::fetch(&options).unwrap();
    assert_eq!(summary.fetched.len(), 4);
    assert!(summary.present.is_empty());
    for (name, bytes) in FILES.iter().zip(synthetic()) {
        assert_eq!(
            std::fs::read(out.join(name)).unwrap(),
            bytes,
            "{name} is stored decompressed"
        );
    }
    assert_eq!(
        dir_entries(&out).len(),
        4,
        "no temporary file left: {:?}",
        dir_entries(&out)
    );
    let mnist = Mnist::load(&out).unwrap();
    assert_eq!((mnist.train.len(), mnist.test.len()), (3, 2));
    assert_eq!(mnist.test.labels(), &[7, 2]);

    let requests = served.load(Ordering::SeqCst);
    let again = fetch::fetch(&options).unwrap();
    assert!(again.fetched.is_empty());
    assert_eq!(again.present.len(), 4);
    assert_eq!(
        served.load(Ordering::SeqCst),
        requests,
        "nothing downloaded the second time"
    );
    let line = again.to_string();
    assert!(
        line.starts_with(&format!(
            "synthetic: 4 files in {} (0 fetched, 4 already present and verified) in ",
            out.display()
        )),
        "{line}"
    );

    // --force downloads again; a tampered file is downloaded again too.
    let forced = fetch::fetch(&FetchOptions {
        force: true,
        ..options.clone()
    })
    .unwrap();
    assert_eq!(forced.fetched.len(), 4);
    std::fs::write(out.join(FILES[1]), b"tampered").unwrap();
    let repaired = fetch::fetch(&options).unwrap();
    assert_eq!(repaired.fetched, [FILES[1]]);
    assert_eq!(std::fs::read(out.join(FILES[1])).unwrap(), synthetic()[1]);
}

#[test]
fn tries_the_mirrors_in_order_until_one_serves_a_verified_file() {
    let (base, _) = serve();
    let out = tempfile::tempdir().unwrap();
    let mirrors = [
        format!("{base}/missing/"),
        format!("{base}/corrupt"),
        format!("{base}/html/"),
        format!("{base}/badgz/"),
        format!("{base}/good/"),
    ];
    let summary = fetch::fetch(&options(out.path(), &mirrors)).unwrap();
    assert_eq!(summary.fetched.len(), 4);
    for (name, bytes) in FILES.iter().zip(synthetic()) {
        assert_eq!(std::fs::read(out.path().join(name)).unwrap(), bytes);
    }
}

#[test]
fn when_every_mirror_fails_each_is_named_with_its_error_and_nothing_is_left() {
    let (base, _) = serve();
    let out = tempfile::tempdir().unwrap();
    let mirrors = [
        format!("{base}/missing/"),
        format!("{base}/corrupt/"),
        format!("{base}/html/"),
        format!("{base}/badgz/"),
        "http://127.0.0.1:9/".to_owned(), // the discard port: connection refused
    ];
    let err = fetch::fetch(&options(out.path(), &mirrors)).unwrap_err();
    let FetchError::AllMirrorsFailed { file, attempts } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(file, FILES[0]);
    assert_eq!(attempts.len(), 5);
    assert_eq!(
        attempts[0].source,
        format!("{base}/missing/{}.gz", FILES[0])
    );
    assert!(
        matches!(&attempts[0].error, MirrorError::Http(e) if matches!(**e, ureq::Error::StatusCode(404))),
        "{:?}",
        attempts[0].error
    );
    let expected_sha = sha256_hex(&synthetic()[0]);
    assert!(
        matches!(&attempts[1].error, MirrorError::Checksum { expected, actual, .. } if *expected == expected_sha && *actual != expected_sha),
        "{:?}",
        attempts[1].error
    );
    assert!(
        matches!(attempts[2].error, MirrorError::Html),
        "{:?}",
        attempts[2].error
    );
    assert!(
        matches!(attempts[3].error, MirrorError::CorruptGzip(_)),
        "{:?}",
        attempts[3].error
    );
    assert!(
        matches!(attempts[4].error, MirrorError::Http(_)),
        "{:?}",
        attempts[4].error
    );

    let message = err.to_string();
    for attempt in attempts {
        assert!(message.contains(&attempt.source), "{message}");
    }
    assert!(
        message.contains("404") && message.contains("SHA-256") && message.contains(&expected_sha),
        "{message}"
    );
    assert!(
        dir_entries(out.path()).is_empty(),
        "left behind: {:?}",
        dir_entries(out.path())
    );
}

#[test]
fn an_html_page_served_with_status_200_is_rejected() {
    let (base, _) = serve();
    let out = tempfile::tempdir().unwrap();
    let err = fetch::fetch(&options(out.path(), &[format!("{base}/html/")])).unwrap_err();
    assert!(err.to_string().contains("HTML page"), "{err}");
    assert!(dir_entries(out.path()).is_empty());
}

#[test]
fn streams_bodies_larger_than_the_http_clients_default_limit() {
    let (base, _) = serve();
    let out = tempfile::tempdir().unwrap();
    let big = big_file();
    let options = FetchOptions {
        files: vec![RemoteFile {
            name: "big-idx3-ubyte".to_owned(),
            checksum: Checksum::Contents(sha256_hex(&big)),
            size: big.len() as u64,
        }],
        ..options(out.path(), &[format!("{base}/raw/")])
    };
    fetch::fetch(&options).unwrap();
    assert_eq!(
        std::fs::read(out.path().join("big-idx3-ubyte"))
            .unwrap()
            .len(),
        big.len()
    );
}

#[test]
fn fetches_from_a_file_url_and_from_folders_of_gz_or_raw_files() {
    let gz_mirror = tempfile::tempdir().unwrap();
    let raw_mirror = tempfile::tempdir().unwrap();
    for (name, bytes) in FILES.iter().zip(synthetic()) {
        std::fs::write(gz_mirror.path().join(format!("{name}.gz")), gzip(&bytes)).unwrap();
        std::fs::write(raw_mirror.path().join(name), &bytes).unwrap();
    }
    let file_url = format!("file://{}", gz_mirror.path().display());
    for mirror in [
        file_url,
        gz_mirror.path().display().to_string(),
        raw_mirror.path().display().to_string(),
    ] {
        let out = tempfile::tempdir().unwrap();
        let summary = fetch::fetch(&options(out.path(), std::slice::from_ref(&mirror))).unwrap();
        assert_eq!(summary.fetched.len(), 4, "{mirror}");
        for (name, bytes) in FILES.iter().zip(synthetic()) {
            assert_eq!(
                std::fs::read(out.path().join(name)).unwrap(),
                bytes,
                "{mirror}"
            );
        }
    }
}

#[test]
fn a_missing_local_mirror_file_is_reported() {
    let empty = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let err =
        fetch::fetch(&options(out.path(), &[empty.path().display().to_string()])).unwrap_err();
    let FetchError::AllMirrorsFailed { attempts, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(&attempts[0].error, MirrorError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    );
    assert!(
        err.to_string().contains(&format!("{}.gz", FILES[0])),
        "{err}"
    );
}

#[test]
fn no_mirror_at_all_is_a_clear_error() {
    let out = tempfile::tempdir().unwrap();
    let err = fetch::fetch(&options(out.path(), &[])).unwrap_err();
    assert!(err.to_string().contains("no mirror"), "{err}");
}

#[test]
fn download_checksums_keep_the_gz_file_as_served() {
    let (base, _) = serve();
    let out = tempfile::tempdir().unwrap();
    let files: Vec<RemoteFile> = FILES
        .iter()
        .zip(synthetic())
        .map(|(name, bytes)| RemoteFile {
            name: (*name).to_owned(),
            checksum: Checksum::Download(sha256_hex(&gzip(&bytes))),
            size: gzip(&bytes).len() as u64,
        })
        .collect();
    let options = FetchOptions {
        files,
        ..options(out.path(), &[format!("{base}/good/")])
    };
    fetch::fetch(&options).unwrap();
    for (name, bytes) in FILES.iter().zip(synthetic()) {
        assert_eq!(
            std::fs::read(out.path().join(format!("{name}.gz"))).unwrap(),
            gzip(&bytes)
        );
    }
    assert_eq!(Mnist::load(out.path()).unwrap().train.labels(), &[5, 0, 4]);
    assert_eq!(fetch::fetch(&options).unwrap().present.len(), 4);

    // The corrupt mirror's gzip bytes differ from the published ones.
    let other = tempfile::tempdir().unwrap();
    let err = fetch::fetch(&FetchOptions {
        out: other.path().to_path_buf(),
        mirrors: vec![Mirror::parse(&format!("{base}/corrupt/"))],
        ..options
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("SHA-256 mismatch of the downloaded bytes"),
        "{err}"
    );
    assert!(dir_entries(other.path()).is_empty());
}

#[test]
fn default_options_put_the_users_mirrors_first_and_the_public_ones_last() {
    let options = FetchOptions::new(
        Dataset::Mnist,
        &["../mirror".to_owned(), "https://example.org/m".to_owned()],
    );
    assert_eq!(options.out, Path::new("data/mnist"));
    assert_eq!(
        options.mirrors[..2],
        [
            Mirror::Local("../mirror".into()),
            Mirror::Http("https://example.org/m/".into())
        ]
    );
    let public: Vec<Mirror> = Dataset::Mnist
        .public_mirrors()
        .iter()
        .map(|m| Mirror::parse(m))
        .collect();
    assert_eq!(options.mirrors[options.mirrors.len() - 2..], public[..]);
    assert_eq!(options.files.len(), 4);
    assert!(
        options
            .files
            .iter()
            .all(|f| matches!(f.checksum, Checksum::Contents(_)))
    );

    let fashion = FetchOptions::new("fashion".parse().unwrap(), &[]);
    assert_eq!(fashion.out, Path::new("data/fashion"));
    assert!(
        fashion
            .files
            .iter()
            .all(|f| f.stored_name().ends_with(".gz"))
    );
    assert!(
        "digits"
            .parse::<Dataset>()
            .unwrap_err()
            .contains("`mnist` or `fashion`")
    );
}
