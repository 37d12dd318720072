//! Verified download of MNIST and Fashion-MNIST (feature `fetch`).
//!
//! For each of the four files, [`fetch`] tries the mirrors in order until one serves it whole and
//! verified:
//!
//! - A mirror is an `http://` or `https://` URL, a `file://` URL or a plain folder
//!   ([`Mirror::parse`]). HTTP mirrors serve `<name>.gz`; folders may hold `<name>.gz` or the
//!   decompressed `<name>`.
//! - Bodies are streamed (never held whole in memory), decompressed on the fly when they start
//!   with gzip's magic bytes, hashed while they are written to a temporary file, and the file is
//!   renamed to its final name only once its SHA-256 matches: a failed or interrupted download
//!   never leaves a file that looks valid.
//! - A file already present and matching its checksum is kept (unless `force`).
//!
//! **Checksums.** MNIST's files are checked by the SHA-256 of their *decompressed* contents
//! ([`Checksum::Contents`]) and stored decompressed under their canonical names, which makes
//! loading fast and works with any mirror, whatever its gzip settings. For Fashion-MNIST only
//! the SHA-256 of the mirrors' `.gz` files are published, so those files are checked by the hash
//! of the bytes downloaded ([`Checksum::Download`]) and stored as downloaded, as `<name>.gz`
//! ([`crate::Mnist::load`] reads both).
//!
//! ```no_run
//! use mnist_io::fetch::{self, Dataset, FetchOptions};
//!
//! // Mirrors: none of ours, then $MNIST_MIRROR if set, then the public ones.
//! let mut options = FetchOptions::new(Dataset::Mnist, &[]);
//! options.out = "data/mnist".into();
//! let summary = fetch::fetch(&options)?;
//! println!("{summary}"); // mnist: 4 files in data/mnist (4 fetched, 0 already present and verified) in 3.1 s
//! # Ok::<(), fetch::FetchError>(())
//! ```

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::atomic::TempFile;
use crate::dataset::{TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS};
use crate::idx::GZIP_MAGIC;

/// The datasets [`fetch`] knows: same IDX format, different images, mirrors and checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    /// The MNIST handwritten digits (LeCun, Cortes, Burges).
    Mnist,
    /// Zalando's Fashion-MNIST, a drop-in replacement with clothing articles.
    Fashion,
}

impl Dataset {
    /// Short name: `mnist` or `fashion`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mnist => "mnist",
            Self::Fashion => "fashion",
        }
    }

    /// The folder the dataset goes to by default: `data/mnist` or `data/fashion`.
    pub fn default_dir(self) -> PathBuf {
        Path::new("data").join(self.name())
    }

    /// Environment variable naming a mirror tried before the public ones: `MNIST_MIRROR` or
    /// `FASHION_MNIST_MIRROR`.
    pub fn mirror_env_var(self) -> &'static str {
        match self {
            Self::Mnist => "MNIST_MIRROR",
            Self::Fashion => "FASHION_MNIST_MIRROR",
        }
    }

    /// Public mirrors that serve the dataset today (the original MNIST site no longer does).
    pub fn public_mirrors(self) -> &'static [&'static str] {
        match self {
            Self::Mnist => &[
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
            ],
            Self::Fashion => &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        }
    }

    /// The four files with their published checksums.
    pub fn files(self) -> Vec<RemoteFile> {
        let sums: [(&str, &str); 4] = match self {
            // SHA-256 of the decompressed files, as listed in shared/data/mnist/README.md.
            Self::Mnist => [
                (
                    TRAIN_IMAGES,
                    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                ),
                (
                    TRAIN_LABELS,
                    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                ),
                (
                    TEST_IMAGES,
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                ),
                (
                    TEST_LABELS,
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                ),
            ],
            // SHA-256 of the `.gz` files served by Zalando's mirror, as published by the
            // `batchup` library and others; no checksum of the decompressed files is published.
            Self::Fashion => [
                (
                    TRAIN_IMAGES,
                    "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
                ),
                (
                    TRAIN_LABELS,
                    "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
                ),
                (
                    TEST_IMAGES,
                    "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
                ),
                (
                    TEST_LABELS,
                    "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
                ),
            ],
        };
        sums.into_iter()
            .map(|(name, sha256)| RemoteFile {
                name: name.to_owned(),
                checksum: match self {
                    Self::Mnist => Checksum::Contents(sha256.to_owned()),
                    Self::Fashion => Checksum::Download(sha256.to_owned()),
                },
            })
            .collect()
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dataset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mnist" => Ok(Self::Mnist),
            "fashion" | "fashion-mnist" => Ok(Self::Fashion),
            other => Err(format!(
                "unknown dataset `{other}`: expected `mnist` or `fashion`"
            )),
        }
    }
}

/// The expected SHA-256 of a file, as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    /// Of the decompressed contents; the file is stored decompressed, as `<name>`.
    Contents(String),
    /// Of the bytes downloaded (the `.gz` file); the file is stored as downloaded, as
    /// `<name>.gz`.
    Download(String),
}

/// One file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Canonical name of the decompressed file, such as `train-images-idx3-ubyte`.
    pub name: String,
    /// Its expected SHA-256.
    pub checksum: Checksum,
}

impl RemoteFile {
    /// The name the file is stored under: `<name>`, or `<name>.gz` for [`Checksum::Download`].
    pub fn stored_name(&self) -> String {
        match self.checksum {
            Checksum::Contents(_) => self.name.clone(),
            Checksum::Download(_) => format!("{}.gz", self.name),
        }
    }

    fn expected(&self) -> &str {
        match &self.checksum {
            Checksum::Contents(sha) | Checksum::Download(sha) => sha,
        }
    }
}

/// Where to fetch from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirror {
    /// An `http://` or `https://` base URL, ending in `/`.
    Http(String),
    /// A local folder (given as a path or a `file://` URL).
    Local(PathBuf),
}

impl Mirror {
    /// Parses a mirror: `http://` or `https://` URL, `file://` URL, or else a folder path.
    ///
    /// ```
    /// use mnist_io::fetch::Mirror;
    ///
    /// assert_eq!(Mirror::parse("https://example.org/mnist"), Mirror::Http("https://example.org/mnist/".into()));
    /// assert_eq!(Mirror::parse("file:///srv/mnist"), Mirror::Local("/srv/mnist".into()));
    /// assert_eq!(Mirror::parse("../data"), Mirror::Local("../data".into()));
    /// ```
    pub fn parse(mirror: &str) -> Self {
        if mirror.starts_with("http://") || mirror.starts_with("https://") {
            let slash = if mirror.ends_with('/') { "" } else { "/" };
            Self::Http(format!("{mirror}{slash}"))
        } else if let Some(path) = mirror.strip_prefix("file://") {
            Self::Local(PathBuf::from(
                path.strip_prefix("localhost").unwrap_or(path),
            ))
        } else {
            Self::Local(PathBuf::from(mirror))
        }
    }
}

impl fmt::Display for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(url) => f.write_str(url),
            Self::Local(path) => write!(f, "{}", path.display()),
        }
    }
}

/// What to fetch, from where, to where.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Dataset name shown in messages and in the summary.
    pub label: String,
    /// The folder the files go to (created if needed).
    pub out: PathBuf,
    /// The files and their checksums.
    pub files: Vec<RemoteFile>,
    /// Mirrors, tried in order for each file.
    pub mirrors: Vec<Mirror>,
    /// Fetch again even files already present and verified.
    pub force: bool,
    /// Show a progress bar per file on stderr (plain lines when stderr is not a terminal).
    pub progress: bool,
}

impl FetchOptions {
    /// Options for `dataset` into its [default folder](Dataset::default_dir), with progress
    /// shown; mirrors are `user_mirrors`, then the one named by the
    /// [environment variable](Dataset::mirror_env_var) if set, then the public ones.
    pub fn new(dataset: Dataset, user_mirrors: &[String]) -> Self {
        let from_env = std::env::var(dataset.mirror_env_var())
            .ok()
            .filter(|m| !m.trim().is_empty());
        let mirrors = user_mirrors
            .iter()
            .map(String::as_str)
            .chain(from_env.as_deref())
            .chain(dataset.public_mirrors().iter().copied())
            .map(Mirror::parse)
            .collect();
        Self {
            label: dataset.name().to_owned(),
            out: dataset.default_dir(),
            files: dataset.files(),
            mirrors,
            force: false,
            progress: true,
        }
    }
}

/// What [`fetch`] did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Dataset name.
    pub label: String,
    /// The folder holding the files.
    pub dir: PathBuf,
    /// Files downloaded and verified by this run.
    pub fetched: Vec<String>,
    /// Files that were already present and verified.
    pub present: Vec<String>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl fmt::Display for Summary {
    /// `mnist: 4 files in data/mnist (2 fetched, 2 already present and verified) in 1.2 s`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} files in {} ({} fetched, {} already present and verified) in {:.1} s",
            self.label,
            self.fetched.len() + self.present.len(),
            self.dir.display(),
            self.fetched.len(),
            self.present.len(),
            self.elapsed.as_secs_f64()
        )
    }
}

/// Why [`fetch`] failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Every mirror failed for this file; nothing was left under its name.
    #[error("{file}: {}", describe_attempts(attempts))]
    AllMirrorsFailed {
        /// The file's name.
        file: String,
        /// Each mirror tried, with its error, in order.
        attempts: Vec<Attempt>,
    },
    /// Writing to the output folder failed (permissions, disk full...).
    #[error("{path}: {source}")]
    Write {
        /// The file or folder being written.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// One mirror's failure to serve one file.
#[derive(Debug)]
pub struct Attempt {
    /// The URL or path tried.
    pub source: String,
    /// What went wrong.
    pub error: MirrorError,
}

fn describe_attempts(attempts: &[Attempt]) -> String {
    if attempts.is_empty() {
        return "no mirror to fetch it from; give one with --mirror".to_owned();
    }
    let mut text = String::from("every mirror failed:");
    for attempt in attempts {
        text.push_str(&format!("\n  - {}: {}", attempt.source, attempt.error));
    }
    text
}

/// Why one mirror could not serve one file.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The HTTP request failed (connection, TLS, or an error status such as 404).
    #[error("{0}")]
    Http(#[from] Box<ureq::Error>),
    /// Reading the file or the response body failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The body is an HTML page (an error page saved under the data file's name).
    #[error("got an HTML page instead of the data file")]
    Html,
    /// The body is neither gzip nor an IDX file.
    #[error("not a gzip or IDX file (starts with {0:02x?})")]
    NotIdx(Vec<u8>),
    /// The body starts as gzip but does not decompress.
    #[error("corrupt gzip data: {0}")]
    CorruptGzip(io::Error),
    /// The contents do not match the published checksum.
    #[error("SHA-256 mismatch of the {what}: got {actual}, expected {expected}")]
    Checksum {
        /// `decompressed contents` or `downloaded bytes`.
        what: &'static str,
        /// The published checksum.
        expected: String,
        /// The checksum of what was received.
        actual: String,
    },
}

/// Fetches every file of `options` that is not already present and verified.
///
/// # Errors
/// [`FetchError::AllMirrorsFailed`] for the first file no mirror could serve (files fetched
/// before it are kept), and [`FetchError::Write`] if the output folder cannot be written.
pub fn fetch(options: &FetchOptions) -> Result<Summary, FetchError> {
    let start = Instant::now();
    std::fs::create_dir_all(&options.out).map_err(|source| FetchError::Write {
        path: options.out.clone(),
        source,
    })?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        // A stalled transfer must end; 10 minutes is ample for MNIST's 10 MB at slow speeds.
        .timeout_recv_body(Some(Duration::from_secs(600)))
        .build()
        .into();
    let mut summary = Summary {
        label: options.label.clone(),
        dir: options.out.clone(),
        fetched: Vec::new(),
        present: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for file in &options.files {
        let dest = options.out.join(file.stored_name());
        if !options.force && is_verified(&dest, file) {
            report(
                options,
                &format!("{}: already present and verified", file.name),
            );
            summary.present.push(file.name.clone());
        } else {
            fetch_file(&agent, options, file, &dest)?;
            summary.fetched.push(file.name.clone());
        }
    }
    summary.elapsed = start.elapsed();
    Ok(summary)
}

/// Whether `path` exists and its SHA-256 is the expected one.
fn is_verified(path: &Path, file: &RemoteFile) -> bool {
    let Ok(mut reader) = File::open(path) else {
        return false;
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    hex(&hasher.finalize()) == file.expected()
}

fn report(options: &FetchOptions, line: &str) {
    if options.progress {
        eprintln!("{line}");
    }
}

fn fetch_file(
    agent: &ureq::Agent,
    options: &FetchOptions,
    file: &RemoteFile,
    dest: &Path,
) -> Result<(), FetchError> {
    let mut attempts = Vec::new();
    for mirror in &options.mirrors {
        let (source, opened) = open(agent, mirror, file);
        let result = opened.map_err(Failure::Mirror).and_then(|(reader, len)| {
            let bar = progress_bar(options, &file.name, len);
            let result = download(bar.wrap_read(reader), file, dest);
            bar.finish_and_clear();
            result
        });
        match result {
            Ok(()) => {
                report(
                    options,
                    &format!("{}: fetched and verified from {source}", file.name),
                );
                return Ok(());
            }
            Err(Failure::Mirror(error)) => {
                report(options, &format!("{}: {source}: {error}", file.name));
                attempts.push(Attempt { source, error });
            }
            Err(Failure::Fatal(error)) => return Err(error),
        }
    }
    Err(FetchError::AllMirrorsFailed {
        file: file.name.clone(),
        attempts,
    })
}

fn progress_bar(options: &FetchOptions, name: &str, len: Option<u64>) -> ProgressBar {
    if !options.progress || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len.unwrap_or(0));
    let template = "{msg:24} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(name.to_owned());
    bar
}

/// An opened download: its bytes, and their length when known.
type Body = (Box<dyn Read>, Option<u64>);

/// Opens `file` on `mirror`: the reader, the length if known, and the URL or path tried.
fn open(
    agent: &ureq::Agent,
    mirror: &Mirror,
    file: &RemoteFile,
) -> (String, Result<Body, MirrorError>) {
    let gz_name = format!("{}.gz", file.name);
    match mirror {
        Mirror::Http(base) => {
            let url = format!("{base}{gz_name}");
            let result = agent
                .get(&url)
                .call()
                .map_err(|e| MirrorError::Http(Box::new(e)))
                .map(|response| {
                    let body = response.into_body();
                    let len = body.content_length();
                    (Box::new(body.into_reader()) as Box<dyn Read>, len)
                });
            (url, result)
        }
        Mirror::Local(dir) => {
            // A folder may hold the `.gz` or (for decompressed checksums) the raw file.
            let mut path = dir.join(&gz_name);
            if !path.is_file()
                && matches!(file.checksum, Checksum::Contents(_))
                && dir.join(&file.name).is_file()
            {
                path = dir.join(&file.name);
            }
            let result = File::open(&path).map_err(MirrorError::Io).map(|f| {
                let len = f.metadata().ok().map(|m| m.len());
                (Box::new(f) as Box<dyn Read>, len)
            });
            (path.display().to_string(), result)
        }
    }
}

/// A mirror's failure (try the next one) or ours (stop).
enum Failure {
    Mirror(MirrorError),
    Fatal(FetchError),
}

impl From<MirrorError> for Failure {
    fn from(error: MirrorError) -> Self {
        Self::Mirror(error)
    }
}

/// Streams `reader` (decompressed if needed) into a temporary file while hashing it, and renames
/// it to `dest` only if the hash is the expected one.
fn download(reader: impl Read, file: &RemoteFile, dest: &Path) -> Result<(), Failure> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let head = reader.fill_buf().map_err(MirrorError::Io)?;
    let gzip = head.starts_with(&GZIP_MAGIC);
    if !gzip && head.trim_ascii_start().starts_with(b"<") {
        return Err(MirrorError::Html.into());
    }
    if !gzip && !head.starts_with(&[0, 0, 8]) {
        return Err(MirrorError::NotIdx(head.iter().copied().take(8).collect()).into());
    }
    let fatal = |source| {
        Failure::Fatal(FetchError::Write {
            path: dest.to_path_buf(),
            source,
        })
    };
    let mut temp = TempFile::create(dest).map_err(fatal)?;
    let (actual, what) = match file.checksum {
        Checksum::Contents(_) if gzip => (
            copy_hashed(
                GzDecoder::new(reader),
                &mut temp,
                dest,
                MirrorError::CorruptGzip,
            )?,
            "decompressed contents",
        ),
        Checksum::Contents(_) => (
            copy_hashed(reader, &mut temp, dest, MirrorError::Io)?,
            "decompressed contents",
        ),
        Checksum::Download(_) => (
            copy_hashed(reader, &mut temp, dest, MirrorError::Io)?,
            "downloaded bytes",
        ),
    };
    let expected = file.expected();
    if actual != expected {
        // Dropping `temp` deletes it.
        return Err(MirrorError::Checksum {
            what,
            expected: expected.to_owned(),
            actual,
        }
        .into());
    }
    temp.commit().map_err(fatal)
}

/// Copies `reader` into `temp`, returning the SHA-256 (hex) of what went through.
fn copy_hashed(
    mut reader: impl Read,
    temp: &mut TempFile,
    dest: &Path,
    read_error: fn(io::Error) -> MirrorError,
) -> Result<String, Failure> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e).into()),
        };
        hasher.update(&buf[..n]);
        temp.write_all(&buf[..n]).map_err(|source| {
            Failure::Fatal(FetchError::Write {
                path: dest.to_path_buf(),
                source,
            })
        })?;
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
