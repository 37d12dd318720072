//! Issue 13's hostile mirrors and output folders, each reproduced: an endless server (raw and
//! gzip), a server that dribbles or goes silent, a first read of one byte, multi-member gzip, a
//! redirect to `file://`, `--out` naming a file, and a symbolic link or a folder in place of a
//! data file. Each gets a clear error or the right result, with nothing left behind.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use mnist_io::fetch::{self, Checksum, FetchError, FetchOptions, Mirror, MirrorError, RemoteFile};
use sha2::{Digest, Sha256};

const NAME: &str = "t10k-labels-idx1-ubyte";

/// A small labels file: 20 labels.
fn labels() -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 1, 0, 0, 0, 20];
    bytes.extend((0..20).map(|i| i % 10));
    bytes
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

/// Options fetching the labels file alone from `mirror` into `out`.
fn options(out: &Path, mirror: &str) -> FetchOptions {
    FetchOptions {
        label: "hostile".to_owned(),
        out: out.to_path_buf(),
        files: vec![RemoteFile {
            name: NAME.to_owned(),
            checksum: Checksum::Contents(sha256_hex(&labels())),
            size: labels().len() as u64,
        }],
        mirrors: vec![Mirror::parse(mirror)],
        force: false,
        progress: false,
        stall_timeout: Duration::from_secs(1),
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The single mirror error of a failed fetch.
fn mirror_error(err: &FetchError) -> &MirrorError {
    match err {
        FetchError::AllMirrorsFailed { attempts, .. } if attempts.len() == 1 => &attempts[0].error,
        other => panic!("{other:?}"),
    }
}

/// A raw HTTP server on 127.0.0.1: each connection is handed to `respond` on its own thread
/// (after its request is read), and closed after it. Returns the base URL. Responses say
/// `Connection: close`, or the client would send its next request (a redirect's) on a
/// connection that the server closes under it.
fn serve(respond: fn(&mut TcpStream, &str)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => request.push(byte[0]),
                        _ => return,
                    }
                }
                let request = String::from_utf8_lossy(&request).into_owned();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                respond(&mut stream, &path);
            });
        }
    });
    format!("http://127.0.0.1:{port}/")
}

/// Writes the headers of a 200 response whose body runs until the connection closes.
fn ok_until_close(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
    stream.flush()
}

#[test]
fn an_endless_raw_body_is_cut_off_at_the_files_size() {
    let base = serve(|stream, _| {
        let _ = ok_until_close(stream);
        let mut body = labels();
        body.truncate(8);
        let _ = stream.write_all(&body);
        let chunk = vec![1u8; 1 << 16];
        // Until the client hangs up (bounded: 4 GB at most).
        for _ in 0..65_536 {
            if stream.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let out = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let err = fetch::fetch(&options(out.path(), &base)).unwrap_err();
    assert!(
        matches!(mirror_error(&err), MirrorError::TooLarge { limit: 28, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("sent more than the 28 bytes the file holds"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(entries(out.path()).is_empty(), "{:?}", entries(out.path()));
}

#[test]
fn an_endless_gzip_stream_is_cut_off_at_the_files_size_compressed_and_decompressed() {
    // One gzip member of 16 MiB of zeros (16 KB compressed), sent again and again: a stream
    // that decompresses forever.
    let base = serve(|stream, _| {
        let member = gzip(&vec![0u8; 16 << 20]);
        let _ = ok_until_close(stream);
        for _ in 0..100_000 {
            if stream.write_all(&member).is_err() {
                return;
            }
        }
    });
    let out = tempfile::tempdir().unwrap();
    let err = fetch::fetch(&options(out.path(), &base)).unwrap_err();
    // The decompressed data passes the file's 28 bytes long before the compressed bytes pass
    // the download's bound.
    assert!(
        matches!(mirror_error(&err), MirrorError::TooLarge { limit: 28, .. }),
        "{err:?}"
    );
    assert!(entries(out.path()).is_empty());

    // Served for a file checked on its downloaded bytes (not decompressed), the compressed
    // bytes are held to the file's size.
    let mut download = options(out.path(), &base);
    download.files[0].checksum = Checksum::Download(sha256_hex(&gzip(&labels())));
    download.files[0].size = 1000;
    let err = fetch::fetch(&download).unwrap_err();
    assert!(
        matches!(
            mirror_error(&err),
            MirrorError::TooLarge { limit: 1000, .. }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("sent more than the 1000 bytes the download may take"),
        "{err}"
    );
    assert!(entries(out.path()).is_empty());
}

#[test]
fn a_content_length_above_the_files_size_is_refused_before_reading() {
    let base = serve(|stream, _| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4000000000\r\n\r\n");
        let _ = stream.write_all(&gzip(&labels()));
    });
    let out = tempfile::tempdir().unwrap();
    let err = fetch::fetch(&options(out.path(), &base)).unwrap_err();
    assert!(
        matches!(mirror_error(&err), MirrorError::TooLarge { .. }),
        "{err:?}"
    );
    assert!(entries(out.path()).is_empty());
}

#[test]
fn a_dribbling_server_stalls_out_after_the_stall_timeout() {
    // A valid gzip body, one byte every 100 ms: 10 bytes a second, below 1 KiB per second.
    let base = serve(|stream, _| {
        let _ = ok_until_close(stream);
        for byte in gzip(&labels()).into_iter().cycle().take(600) {
            if stream
                .write_all(&[byte])
                .and_then(|()| stream.flush())
                .is_err()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let out = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let err = fetch::fetch(&options(out.path(), &base)).unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        matches!(mirror_error(&err), MirrorError::Stalled { secs: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("stalled: less than 1024 bytes in 1 s"),
        "{err}"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(entries(out.path()).is_empty());
}

#[test]
fn a_silent_server_stalls_out_after_the_stall_timeout() {
    let base = serve(|stream, _| {
        let _ = ok_until_close(stream);
        let _ = stream.write_all(&gzip(&labels())[..5]);
        let _ = stream.flush();
        std::thread::sleep(Duration::from_secs(20));
    });
    let out = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let err = fetch::fetch(&options(out.path(), &base)).unwrap_err();
    assert!(
        matches!(mirror_error(&err), MirrorError::Stalled { .. }),
        "{err:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(entries(out.path()).is_empty());
}

#[test]
fn a_first_read_of_one_byte_is_not_mistaken_for_a_bad_file() {
    for body in [gzip(&labels()), labels()] {
        let out = tempfile::tempdir().unwrap();
        // The body's first byte alone, then the rest a moment later.
        let base = if body[0] == 0x1f {
            serve(|stream, _| {
                let body = gzip(&labels());
                let _ = ok_until_close(stream);
                let _ = stream.write_all(&body[..1]).and_then(|()| stream.flush());
                std::thread::sleep(Duration::from_millis(200));
                let _ = stream.write_all(&body[1..]);
            })
        } else {
            serve(|stream, _| {
                let body = labels();
                let _ = ok_until_close(stream);
                let _ = stream.write_all(&body[..1]).and_then(|()| stream.flush());
                std::thread::sleep(Duration::from_millis(200));
                let _ = stream.write_all(&body[1..]);
            })
        };
        fetch::fetch(&options(out.path(), &base)).unwrap();
        assert_eq!(std::fs::read(out.path().join(NAME)).unwrap(), labels());
    }
}

#[test]
fn a_multi_member_gzip_file_is_read_whole() {
    let mirror = tempfile::tempdir().unwrap();
    let bytes = labels();
    let mut two_members = gzip(&bytes[..11]);
    two_members.extend(gzip(&bytes[11..]));
    std::fs::write(mirror.path().join(format!("{NAME}.gz")), &two_members).unwrap();
    let out = tempfile::tempdir().unwrap();
    fetch::fetch(&options(out.path(), &mirror.path().display().to_string())).unwrap();
    assert_eq!(std::fs::read(out.path().join(NAME)).unwrap(), labels());
}

#[test]
fn a_redirect_to_a_file_url_says_so_and_http_redirects_are_followed() {
    let base = serve(|stream, path| {
        let response = match path {
            "/file/t10k-labels-idx1-ubyte.gz" => {
                "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned()
            }
            "/relative/t10k-labels-idx1-ubyte.gz" => {
                "HTTP/1.1 301 Moved\r\nLocation: ../absolute/t10k-labels-idx1-ubyte.gz\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned()
            }
            "/absolute/t10k-labels-idx1-ubyte.gz" => {
                "HTTP/1.1 307 Moved\r\nLocation: /good/t10k-labels-idx1-ubyte.gz\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned()
            }
            "/loop/t10k-labels-idx1-ubyte.gz" => {
                "HTTP/1.1 302 Found\r\nLocation: /loop/t10k-labels-idx1-ubyte.gz\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned()
            }
            "/good/t10k-labels-idx1-ubyte.gz" => {
                let body = gzip(&labels());
                let _ = stream.write_all(
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes(),
                );
                let _ = stream.write_all(&body);
                return;
            }
            _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
        };
        let _ = stream.write_all(response.as_bytes());
    });

    let out = tempfile::tempdir().unwrap();
    let err = fetch::fetch(&options(out.path(), &format!("{base}file/"))).unwrap_err();
    assert!(
        matches!(mirror_error(&err), MirrorError::Redirect { location } if location == "file:///etc/passwd"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("redirected to file:///etc/passwd"), "{text}");
    assert!(!text.contains("too many redirects"), "{text}");
    assert!(entries(out.path()).is_empty());

    let err = fetch::fetch(&options(out.path(), &format!("{base}loop/"))).unwrap_err();
    assert!(
        matches!(mirror_error(&err), MirrorError::TooManyRedirects { .. }),
        "{err:?}"
    );

    fetch::fetch(&options(out.path(), &format!("{base}relative/"))).unwrap();
    assert_eq!(std::fs::read(out.path().join(NAME)).unwrap(), labels());
}

#[test]
fn an_output_folder_that_is_a_file_is_named_as_the_problem_not_the_mirrors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("not-a-folder");
    std::fs::write(&out, "mine").unwrap();
    let mirror = tempfile::tempdir().unwrap();
    let err = fetch::fetch(&options(&out, &mirror.path().display().to_string())).unwrap_err();
    assert!(matches!(err, FetchError::OutNotAFolder { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{}: is a regular file, not a folder",
            out.display()
        )),
        "{text}"
    );
    assert!(!text.contains("mirror"), "{text}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine");
}

#[cfg(unix)]
#[test]
fn a_symlinked_data_file_is_written_through_and_a_folder_in_its_place_is_refused() {
    let mirror = tempfile::tempdir().unwrap();
    std::fs::write(mirror.path().join(format!("{NAME}.gz")), gzip(&labels())).unwrap();
    let mirror = mirror.path().display().to_string();

    // The data file is a link to a file kept elsewhere: the link stays, its target is written.
    let dir = tempfile::tempdir().unwrap();
    let (out, store) = (dir.path().join("out"), dir.path().join("store"));
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(store.join(NAME), "stale").unwrap();
    std::os::unix::fs::symlink(store.join(NAME), out.join(NAME)).unwrap();
    fetch::fetch(&options(&out, &mirror)).unwrap();
    assert!(
        std::fs::symlink_metadata(out.join(NAME))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(std::fs::read(store.join(NAME)).unwrap(), labels());
    assert_eq!(entries(&out), [NAME]);
    assert_eq!(entries(&store), [NAME]);

    // A folder where the data file goes: refused, named, left alone.
    let out = dir.path().join("out2");
    std::fs::create_dir_all(out.join(NAME)).unwrap();
    std::fs::write(out.join(NAME).join("keep"), "mine").unwrap();
    let err = fetch::fetch(&options(&out, &mirror)).unwrap_err();
    assert!(
        matches!(err, FetchError::Write(safe_write::Error::NotAFile { .. })),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("is a folder, not a regular file"),
        "{err}"
    );
    assert_eq!(entries(&out), [NAME]);
    assert_eq!(
        std::fs::read_to_string(out.join(NAME).join("keep")).unwrap(),
        "mine"
    );
}
