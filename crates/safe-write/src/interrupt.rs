//! SIGINT and SIGTERM: the temporary files of unfinished writes are removed, then the process
//! ends as the signal would have ended it; or, inside [`defer`], the program is told and stops
//! on its own.
//!
//! Every temporary file that [`crate::AtomicFile`] creates is listed in a registry until it is
//! renamed or removed. The first time one is created (or [`defer`] is called), a thread starts
//! that waits for SIGINT and SIGTERM (with the `signal-hook` crate): it removes every listed
//! file, then ends the process with the signal's default action, so that the exit status is the
//! conventional one (a shell shows 130 after Ctrl-C, 143 after SIGTERM). Creating, renaming and
//! removing a temporary file happen under the registry's lock, so a signal never catches one
//! half done; a [`crate::Batch`] renames all its files under one lock hold, so a signal sees
//! either none or all of them replaced.
//!
//! A signal that the process ignored when the thread started (`nohup`, a background job of a
//! script) stays ignored.
//!
//! A long computation that should stop cleanly on Ctrl-C (say what was lost, write nothing)
//! holds a [`Deferred`] while it runs and polls [`Deferred::received`]:
//!
//! ```no_run
//! let interrupts = safe_write::interrupt::defer();
//! for step in 0..1_000_000 {
//!     if let Some(signal) = interrupts.received() {
//!         eprintln!("stopped by {signal} at step {step}: nothing was written");
//!         std::process::exit(signal.exit_code());
//!     }
//!     // ... one step of work ...
//! }
//! ```
//!
//! A second signal while the first is pending ends the process at once (after removing the
//! temporary files), so that a program that does not poll can still be stopped.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

use tempfile::NamedTempFile;

/// The temporary files alive, by registration number.
#[derive(Debug, Default)]
pub(crate) struct Live {
    files: BTreeMap<u64, PathBuf>,
    next: u64,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    files: BTreeMap::new(),
    next: 0,
});

/// Number of [`Deferred`] alive.
static DEFERRING: AtomicUsize = AtomicUsize::new(0);

/// The signal received while deferring (0: none).
static PENDING: AtomicI32 = AtomicI32::new(0);

fn lock() -> MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A temporary file's entry in the registry, removed by [`Registration::done`].
#[derive(Debug)]
pub(crate) struct Registration {
    id: Option<u64>,
}

impl Registration {
    /// Removes the entry; call under [`while_locked`], once the file is renamed or removed.
    pub(crate) fn done(&mut self, live: &mut Live) {
        if let Some(id) = self.id.take() {
            live.files.remove(&id);
        }
    }
}

/// Creates a temporary file with `create` and lists it, both under the registry's lock.
pub(crate) fn register(
    create: impl FnOnce() -> io::Result<NamedTempFile>,
) -> io::Result<(NamedTempFile, Registration)> {
    install();
    let mut live = lock();
    let temp = create()?;
    let id = live.next;
    live.next += 1;
    live.files.insert(id, temp.path().to_path_buf());
    Ok((temp, Registration { id: Some(id) }))
}

/// Runs `f` under the registry's lock: a signal is handled before or after, never during.
pub(crate) fn while_locked<R>(f: impl FnOnce(&mut Live) -> R) -> R {
    f(&mut lock())
}

/// A signal that asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(i32);

impl Signal {
    /// The signal's number (2 for SIGINT, 15 for SIGTERM).
    pub fn number(self) -> i32 {
        self.0
    }

    /// The exit status a shell reports for a process this signal ended: 128 + its number.
    pub fn exit_code(self) -> i32 {
        128 + self.0
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            2 => f.write_str("SIGINT (Ctrl-C)"),
            15 => f.write_str("SIGTERM"),
            n => write!(f, "signal {n}"),
        }
    }
}

/// While alive, the first SIGINT or SIGTERM does not end the process: it is recorded for
/// [`Deferred::received`] (see the [module documentation](self)).
#[derive(Debug)]
pub struct Deferred {
    _private: (),
}

/// Starts deferring SIGINT and SIGTERM until the returned guard is dropped.
pub fn defer() -> Deferred {
    install();
    DEFERRING.fetch_add(1, Ordering::SeqCst);
    Deferred { _private: () }
}

impl Deferred {
    /// The signal received since deferring began, if any: the program should stop, write
    /// nothing, and say so.
    pub fn received(&self) -> Option<Signal> {
        match PENDING.load(Ordering::SeqCst) {
            0 => None,
            n => Some(Signal(n)),
        }
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        DEFERRING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Starts the signal thread, once.
fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(start_signal_thread);
}

#[cfg(unix)]
fn start_signal_thread() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    let wanted: Vec<i32> = [SIGINT, SIGTERM]
        .into_iter()
        .filter(|&signal| !ignored(signal))
        .collect();
    // Without the thread, signals keep their default action: only the cleanup is lost.
    let Ok(mut signals) = Signals::new(&wanted) else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("safe-write-signals".to_owned())
        .spawn(move || {
            for signal in signals.forever() {
                let live = lock();
                if DEFERRING.load(Ordering::SeqCst) > 0
                    && PENDING
                        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                {
                    continue;
                }
                for path in live.files.values() {
                    let _ = std::fs::remove_file(path);
                }
                // Keep the lock: no temporary file is created or renamed from now on.
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        });
    drop(spawned);
}

#[cfg(not(unix))]
fn start_signal_thread() {}

/// Whether the process ignores `signal` (Linux: the `SigIgn` mask of `/proc/self/status`;
/// elsewhere assumed not).
#[cfg(unix)]
fn ignored(signal: i32) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| signal > 0 && mask & (1 << (signal - 1)) != 0)
}
