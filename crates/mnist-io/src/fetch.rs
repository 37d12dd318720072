//! Verified download of MNIST and Fashion-MNIST (feature `fetch`).
//!
//! For each of the four files, [`fetch`] tries the mirrors in order until one serves it whole and
//! verified:
//!
//! - A mirror is an `http://` or `https://` URL, a `file://` URL or a plain folder
//!   ([`Mirror::parse`]). HTTP mirrors serve `<name>.gz`; folders may hold `<name>.gz` or the
//!   decompressed `<name>`.
//! - Bodies are streamed (never held whole in memory), decompressed on the fly when they start
//!   with gzip's magic bytes (several gzip members are read as one stream, as `zcat` does),
//!   hashed while they are written to a temporary file, and the file is renamed to its final name
//!   only once its SHA-256 matches: a failed or interrupted download never leaves a file that
//!   looks valid, and Ctrl-C removes the temporary file (the `safe-write` crate, which also writes
//!   through a symbolic link in place of a data file, and refuses a folder there).
//! - Each file's size is known ([`RemoteFile::size`]): a mirror that sends more, compressed or
//!   decompressed, is cut off at that size, so an endless or hostile server cannot fill the disk.
//! - A transfer that stalls (less than 1 KiB in [`FetchOptions::stall_timeout`], 30 s by
//!   default) is abandoned for the next mirror; the progress bar shows the stall as it lasts.
//! - Redirects are followed between `http://` and `https://` URLs only; one to `file://` (or
//!   anywhere else) is reported as such.
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
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use safe_write::AtomicFile;
use sha2::{Digest, Sha256};

use crate::dataset::{TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS};
use crate::idx::{GZIP_MAGIC, file_kind};

/// The default [`FetchOptions::stall_timeout`].
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A transfer progresses when at least this many bytes arrive within the stall timeout.
pub const STALL_MIN_BYTES: u64 = 1024;

/// Redirects followed at most per file.
const MAX_REDIRECTS: usize = 10;

/// Bytes of a body examined before deciding what it is (gzip, IDX, HTML).
const SNIFF_LEN: usize = 512;

pub use crate::known::Dataset;

/// Where [`fetch`] finds each dataset and how it checks it.
impl Dataset {
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

    /// The four files with their published checksums and sizes.
    pub fn files(self) -> Vec<RemoteFile> {
        // Stored sizes: MNIST's decompressed files (16-byte idx3 or 8-byte idx1 header, then
        // 784 bytes per image or 1 per label); Fashion-MNIST's `.gz` files as its mirror serves
        // them.
        let sizes: [u64; 4] = match self {
            Self::Mnist => [47_040_016, 60_008, 7_840_016, 10_008],
            Self::Fashion => [26_421_880, 29_515, 4_422_102, 5_148],
        };
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
            .zip(sizes)
            .map(|((name, sha256), size)| RemoteFile {
                name: name.to_owned(),
                checksum: match self {
                    Self::Mnist => Checksum::Contents(sha256.to_owned()),
                    Self::Fashion => Checksum::Download(sha256.to_owned()),
                },
                size,
            })
            .collect()
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
    /// Its size in bytes as stored: decompressed for [`Checksum::Contents`], as downloaded for
    /// [`Checksum::Download`]. A mirror sending more is cut off there.
    pub size: u64,
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

    /// The most bytes a mirror may send for this file: its size, or for a decompressed size a
    /// gzip stream of it, whose worst case (stored blocks) adds 5 bytes per 64 KiB, plus headers
    /// (a generous 64 KiB for file names and extra fields).
    fn max_download(&self) -> u64 {
        match self.checksum {
            Checksum::Contents(_) => self.size + self.size / 1024 + (64 << 10),
            Checksum::Download(_) => self.size,
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
    /// Give up on a mirror when less than [`STALL_MIN_BYTES`] arrived in this time (and when it
    /// sends nothing at all for this long, connection and headers included).
    pub stall_timeout: Duration,
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
            stall_timeout: DEFAULT_STALL_TIMEOUT,
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
    /// The output folder is something else (a regular file...).
    #[error(
        "{path}: is {kind}, not a folder; the dataset's files go into a folder: give the \
         output folder's path (its missing parts are created)"
    )]
    OutNotAFolder {
        /// The output path.
        path: PathBuf,
        /// What it is, such as `a regular file`.
        kind: &'static str,
    },
    /// Creating the output folder failed (permissions...).
    #[error("{path}: cannot create the output folder: {source}")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing a data file into the output folder failed (permissions, disk full, a folder or a
    /// device in its place...); nothing was left under its name.
    #[error(transparent)]
    Write(#[from] safe_write::Error),
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
    /// The mirror sent more than the file holds.
    #[error("sent more than the {limit} bytes {what}; stopped there (a broken or hostile server)")]
    TooLarge {
        /// `the download may take` (bytes as sent) or `the file holds` (its data, decompressed).
        what: &'static str,
        /// The most bytes expected.
        limit: u64,
    },
    /// The transfer stalled.
    #[error(
        "stalled: less than {min} bytes in {secs} s (after {received} bytes); giving up on this \
         mirror (the stall timeout can be raised)"
    )]
    Stalled {
        /// [`STALL_MIN_BYTES`].
        min: u64,
        /// The stall timeout, in seconds.
        secs: u64,
        /// Bytes received before the stall.
        received: u64,
    },
    /// An HTTP mirror redirected somewhere fetch does not follow (such as a `file://` URL).
    #[error(
        "redirected to {location}, which fetch does not follow from an HTTP mirror (only http:// \
         and https:// redirects are); if that is a folder you trust, give it as the mirror"
    )]
    Redirect {
        /// The redirect's target.
        location: String,
    },
    /// More than [`MAX_REDIRECTS`] redirects in a row.
    #[error("too many redirects (more than {MAX_REDIRECTS}), the last to {location}")]
    TooManyRedirects {
        /// The last redirect's target.
        location: String,
    },
    /// What stands at the path in a folder mirror is not a regular file.
    #[error("is {0}, not a regular file")]
    NotAFile(&'static str),
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
/// before it are kept), [`FetchError::OutNotAFolder`] and [`FetchError::CreateDir`] if the
/// output folder cannot be made, and [`FetchError::Write`] if a data file cannot be written.
pub fn fetch(options: &FetchOptions) -> Result<Summary, FetchError> {
    let start = Instant::now();
    create_out_dir(&options.out)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        // A silent server: no byte at all for the stall timeout (a slow one is caught by
        // `Guarded`, which asks for STALL_MIN_BYTES per stall timeout).
        .timeout_per_read(Some(options.stall_timeout))
        // Redirects are followed by `get`, which checks where they lead.
        .max_redirects(0)
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

/// Creates the output folder, refusing a path that is something else.
fn create_out_dir(out: &Path) -> Result<(), FetchError> {
    if let Ok(metadata) = std::fs::metadata(out)
        && !metadata.is_dir()
    {
        return Err(FetchError::OutNotAFolder {
            path: out.to_path_buf(),
            kind: file_kind(&metadata.file_type()),
        });
    }
    std::fs::create_dir_all(out).map_err(|source| FetchError::CreateDir {
        path: out.to_path_buf(),
        source,
    })
}

/// Whether `path` is a regular file (never opening a named pipe, which would block) whose
/// SHA-256 is the expected one.
fn is_verified(path: &Path, file: &RemoteFile) -> bool {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == file.size) {
        return false;
    }
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
            if let Some(len) = len
                && len > file.max_download()
            {
                return Err(Failure::Mirror(MirrorError::TooLarge {
                    what: "the download may take",
                    limit: file.max_download(),
                }));
            }
            let stall = Stall::new(options.stall_timeout);
            let bar = progress_bar(options, &file.name, len, &stall);
            let guarded = Guarded {
                inner: reader,
                received: 0,
                limit: file.max_download(),
                stall,
            };
            let result = download(bar.wrap_read(guarded), file, dest);
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

fn progress_bar(
    options: &FetchOptions,
    name: &str,
    len: Option<u64>,
    stall: &Stall,
) -> ProgressBar {
    if !options.progress || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len.unwrap_or(0));
    let template = "{msg:24} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} {stall}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        let stall = stall.clone();
        let shown = move |_: &ProgressState, w: &mut dyn fmt::Write| {
            let idle = stall.idle();
            if idle >= Duration::from_secs(2) {
                let _ = write!(
                    w,
                    "stalled {} s (gives up at {} s)",
                    idle.as_secs(),
                    stall.timeout.as_secs()
                );
            }
        };
        bar.set_style(style.progress_chars("=> ").with_key("stall", shown));
    }
    bar.set_message(name.to_owned());
    // Redraw while no data comes, so that the stall shows.
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// Progress as the stall timeout sees it: when a transfer last received [`STALL_MIN_BYTES`].
#[derive(Debug, Clone)]
struct Stall {
    timeout: Duration,
    /// The bytes received and the time at the last checkpoint.
    checkpoint: std::sync::Arc<std::sync::Mutex<(u64, Instant)>>,
}

impl Stall {
    fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            checkpoint: std::sync::Arc::new(std::sync::Mutex::new((0, Instant::now()))),
        }
    }

    /// Records that `received` bytes came in all; `Err` once the transfer stalled.
    fn progress(&self, received: u64) -> Result<(), MirrorError> {
        let mut checkpoint = self
            .checkpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if received - checkpoint.0 >= STALL_MIN_BYTES {
            *checkpoint = (received, now);
        } else if now.duration_since(checkpoint.1) > self.timeout {
            return Err(MirrorError::Stalled {
                min: STALL_MIN_BYTES,
                secs: self.timeout.as_secs(),
                received,
            });
        }
        Ok(())
    }

    /// How long since the last checkpoint.
    fn idle(&self) -> Duration {
        let checkpoint = self
            .checkpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        checkpoint.1.elapsed()
    }
}

/// A body reader held to the file's size and to the stall timeout.
struct Guarded<R> {
    inner: R,
    received: u64,
    limit: u64,
    stall: Stall,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte past the limit is enough to know the mirror sends too much.
        let room =
            usize::try_from(self.limit - self.received.min(self.limit) + 1).unwrap_or(usize::MAX);
        let len = buf.len().min(room);
        let n = self.inner.read(&mut buf[..len]).map_err(|e| {
            if is_timeout(&e) {
                io::Error::other(MirrorError::Stalled {
                    min: STALL_MIN_BYTES,
                    secs: self.stall.timeout.as_secs(),
                    received: self.received,
                })
            } else {
                e
            }
        })?;
        self.received += n as u64;
        if self.received > self.limit {
            return Err(io::Error::other(MirrorError::TooLarge {
                what: "the download may take",
                limit: self.limit,
            }));
        }
        if n > 0 {
            self.stall
                .progress(self.received)
                .map_err(io::Error::other)?;
        }
        Ok(n)
    }
}

/// Whether `e` is ureq's (or the socket's) timeout.
fn is_timeout(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
            .is_some_and(|inner| matches!(inner, ureq::Error::Timeout(_)))
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
            let result = get(agent, &url).map(|response| {
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
            let result = open_local(&path);
            (path.display().to_string(), result)
        }
    }
}

/// Opens a file of a folder mirror, refusing what is not a regular file (a named pipe would
/// block).
fn open_local(path: &Path) -> Result<Body, MirrorError> {
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(MirrorError::NotAFile(file_kind(&metadata.file_type())));
    }
    let file = File::open(path)?;
    Ok((Box::new(file), Some(metadata.len())))
}

/// GETs `url`, following redirects to `http://` and `https://` URLs only.
fn get(agent: &ureq::Agent, url: &str) -> Result<ureq::http::Response<ureq::Body>, MirrorError> {
    let mut url = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let response = agent
            .get(&url)
            .call()
            .map_err(|e| MirrorError::Http(Box::new(e)))?;
        if !response.status().is_redirection() {
            return Ok(response);
        }
        let Some(location) = response
            .headers()
            .get(ureq::http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
        else {
            // A 304 or a redirect without a target: let the status speak.
            return Ok(response);
        };
        let next = resolve_location(&url, location);
        if !(next.starts_with("http://") || next.starts_with("https://")) {
            return Err(MirrorError::Redirect { location: next });
        }
        url = next;
    }
    Err(MirrorError::TooManyRedirects { location: url })
}

/// The absolute URL a `Location` header names, relative to the URL that sent it (RFC 3986's
/// reference resolution, for the forms servers send: absolute, `//host/path`, `/path` and
/// `path`, with `.` and `..` segments removed; ureq's `http::Uri` has no join, and the `url`
/// crate would bring in ICU for this one use).
fn resolve_location(base: &str, location: &str) -> String {
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let origin_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let is_absolute = location
        .split_once(':')
        .is_some_and(|(scheme, _)| !scheme.is_empty() && !scheme.contains('/'));
    if is_absolute {
        // Whatever the scheme (`file:`, `ftp:`...): the caller checks it.
        return location.to_owned();
    }
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{}//{rest}", &base[..scheme_end.saturating_sub(2)]);
    }
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        let base_path = &base[origin_end..];
        let dir = base_path.rfind('/').map_or("/", |i| &base_path[..=i]);
        format!("{dir}{location}")
    };
    let (path, query) = path
        .split_once('?')
        .map_or((path.as_str(), None), |(p, q)| (p, Some(q)));
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        match *segment {
            "." => {
                if last {
                    segments.push("");
                }
            }
            ".." => {
                segments.pop();
                if last {
                    segments.push("");
                }
            }
            other => segments.push(other),
        }
    }
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{}/{}{query}", &base[..origin_end], segments.join("/"))
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
fn download(mut reader: impl Read, file: &RemoteFile, dest: &Path) -> Result<(), Failure> {
    // Enough bytes to tell gzip, IDX and HTML apart, however the server splits them.
    let mut head = [0u8; SNIFF_LEN];
    let n = read_full(&mut reader, &mut head).map_err(mirror_read_error)?;
    let head = &head[..n];
    let gzip = head.starts_with(&GZIP_MAGIC);
    if !gzip && head.trim_ascii_start().starts_with(b"<") {
        return Err(MirrorError::Html.into());
    }
    if !gzip && !head.starts_with(&[0, 0, 8]) {
        return Err(MirrorError::NotIdx(head.iter().copied().take(8).collect()).into());
    }
    let reader = head.chain(reader);
    let mut temp = AtomicFile::create(dest).map_err(|e| Failure::Fatal(e.into()))?;
    let (actual, what) =
        match file.checksum {
            Checksum::Contents(_) if gzip => (
                copy_hashed(MultiGzDecoder::new(reader), &mut temp, file.size, |e| {
                    match mirror_error(e) {
                        MirrorError::Io(e) => MirrorError::CorruptGzip(e),
                        other => other,
                    }
                })?,
                "decompressed contents",
            ),
            Checksum::Contents(_) => (
                copy_hashed(reader, &mut temp, file.size, mirror_read_error)?,
                "decompressed contents",
            ),
            Checksum::Download(_) => (
                copy_hashed(reader, &mut temp, file.size, mirror_read_error)?,
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
    temp.commit().map_err(|e| Failure::Fatal(e.into()))
}

/// A read error as the mirror's failure: a [`MirrorError`] raised by [`Guarded`] comes out as
/// itself.
fn mirror_error(e: io::Error) -> MirrorError {
    if e.get_ref().is_some_and(|inner| inner.is::<MirrorError>()) {
        if let Some(inner) = e.into_inner()
            && let Ok(mirror) = inner.downcast::<MirrorError>()
        {
            return *mirror;
        }
        unreachable!("checked to hold a MirrorError");
    }
    MirrorError::Io(e)
}

fn mirror_read_error(e: io::Error) -> Failure {
    Failure::Mirror(mirror_error(e))
}

/// Copies at most `size` bytes of `reader` into `temp`, returning the SHA-256 (hex) of what went
/// through; more than `size` bytes is the mirror's error.
fn copy_hashed<E: Into<Failure>>(
    mut reader: impl Read,
    temp: &mut AtomicFile,
    size: u64,
    read_error: impl Fn(io::Error) -> E,
) -> Result<String, Failure> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 16];
    let mut copied = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e).into()),
        };
        copied += n as u64;
        if copied > size {
            return Err(MirrorError::TooLarge {
                what: "the file holds",
                limit: size,
            }
            .into());
        }
        hasher.update(&buf[..n]);
        temp.write_all(&buf[..n]).map_err(|source| {
            Failure::Fatal(FetchError::Write(safe_write::Error::Write {
                path: temp.path().to_path_buf(),
                source,
            }))
        })?;
    }
    Ok(hex(&hasher.finalize()))
}

/// Reads until `buf` is full or the stream ends; returns the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::{MirrorError, STALL_MIN_BYTES, Stall, resolve_location};
    use std::time::Duration;

    #[test]
    fn a_transfer_stalls_when_less_than_1_kib_arrives_within_the_timeout() {
        let stall = Stall::new(Duration::from_millis(100));
        // 1 KiB at once: progress, and the clock starts again.
        stall.progress(STALL_MIN_BYTES).unwrap();
        std::thread::sleep(Duration::from_millis(60));
        stall.progress(STALL_MIN_BYTES + 10).unwrap();
        assert!(
            stall.idle() >= Duration::from_millis(60),
            "what the bar shows"
        );
        std::thread::sleep(Duration::from_millis(60));
        // 10 bytes more in 120 ms: stalled.
        let err = stall.progress(STALL_MIN_BYTES + 20).unwrap_err();
        assert!(
            matches!(err, MirrorError::Stalled { received, .. } if received == STALL_MIN_BYTES + 20),
            "{err:?}"
        );
    }

    #[test]
    fn locations_resolve_against_the_url_that_sent_them() {
        let base = "http://host:8080/a/b/file.gz";
        for (location, expected) in [
            ("https://other/x.gz", "https://other/x.gz"),
            ("file:///etc/passwd", "file:///etc/passwd"),
            ("file:/etc/passwd", "file:/etc/passwd"),
            ("//cdn/x.gz", "http://cdn/x.gz"),
            ("/x.gz", "http://host:8080/x.gz"),
            ("c.gz", "http://host:8080/a/b/c.gz"),
            ("../c.gz", "http://host:8080/a/c.gz"),
            ("./../../../c.gz", "http://host:8080/c.gz"),
            ("d/./e/../c.gz?x=1", "http://host:8080/a/b/d/c.gz?x=1"),
        ] {
            assert_eq!(resolve_location(base, location), expected, "{location}");
        }
        assert_eq!(resolve_location("http://host", "c.gz"), "http://host/c.gz");
    }
}
