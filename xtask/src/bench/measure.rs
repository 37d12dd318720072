//! Wall time and peak memory of one whole child process.
//!
//! `getrusage(RUSAGE_CHILDREN)` reports the peak resident set size of the largest child a process
//! has waited for. To get one figure per run, every run goes through its own short-lived
//! measuring process (`cargo xtask bench measure -- PROGRAM ARGS...`) that starts exactly one
//! child, waits for it, and prints one [`Measurement`] line after the child's own output.

use std::ffi::OsString;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeVal;

use super::{field, parse_field};

/// How the line printed by the measuring process starts.
const PREFIX: &str = "xtask-measure:";

/// What one run of a child process cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    /// The child's exit code, or `None` when a signal ended it.
    pub exit_code: Option<i32>,
    /// Seconds from spawning the child to reaping it.
    pub wall_s: f64,
    /// Peak resident set size of the child, in KiB (Linux's unit for `ru_maxrss`).
    pub max_rss_kib: u64,
    /// CPU seconds the child used, user and system, all threads.
    pub cpu_s: f64,
}

impl Measurement {
    /// Peak resident set size in MiB.
    pub fn max_rss_mib(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }

    /// The one line the measuring process prints, parsed back by [`Measurement::parse_line`].
    fn to_line(self) -> String {
        let exit = self
            .exit_code
            .map_or_else(|| "signal".to_owned(), |c| c.to_string());
        format!(
            "{PREFIX} exit={exit} wall_s={:.6} max_rss_kib={} cpu_s={:.6}",
            self.wall_s, self.max_rss_kib, self.cpu_s
        )
    }

    /// Finds the measurement line in the measuring process's output (its last such line).
    pub fn parse_output(stdout: &str) -> Result<Self> {
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with(PREFIX))
            .with_context(|| format!("the measuring process printed no `{PREFIX}` line"))?;
        Self::parse_line(line)
    }

    fn parse_line(line: &str) -> Result<Self> {
        let exit_code = match field(line, "exit")? {
            "signal" => None,
            code => Some(
                code.parse()
                    .with_context(|| format!("bad exit code in {line:?}"))?,
            ),
        };
        Ok(Self {
            exit_code,
            wall_s: parse_field(line, "wall_s")?,
            max_rss_kib: parse_field(line, "max_rss_kib")?,
            cpu_s: parse_field(line, "cpu_s")?,
        })
    }
}

/// Runs `command` as the only child of this process, and measures it.
///
/// The child inherits stdin, stdout and stderr. Call it at most once per process: the peak
/// memory reported is the largest of all the children this process has waited for.
pub fn measure_child(command: &mut Command) -> Result<Measurement> {
    let start = Instant::now();
    let status = command
        .status()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    let wall_s = start.elapsed().as_secs_f64();
    let usage =
        getrusage(UsageWho::RUSAGE_CHILDREN).context("getrusage(RUSAGE_CHILDREN) failed")?;
    Ok(Measurement {
        exit_code: status.code(),
        wall_s,
        max_rss_kib: u64::try_from(usage.max_rss()).unwrap_or(0),
        cpu_s: seconds(usage.user_time()) + seconds(usage.system_time()),
    })
}

fn seconds(t: TimeVal) -> f64 {
    t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6
}

/// The hidden `measure` helper: run `program args...`, then print the measurement line.
pub fn run(command: &[OsString]) -> Result<()> {
    let (program, args) = command
        .split_first()
        .context("measure needs a program to run")?;
    let measurement = measure_child(Command::new(program).args(args))?;
    println!("{}", measurement.to_line());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_round_trips() {
        let m = Measurement {
            exit_code: Some(3),
            wall_s: 1.25,
            max_rss_kib: 4096,
            cpu_s: 2.5,
        };
        let out = format!("child output\n{}\n", m.to_line());
        assert_eq!(Measurement::parse_output(&out).unwrap(), m);
        let killed = Measurement {
            exit_code: None,
            ..m
        };
        assert_eq!(
            Measurement::parse_output(&killed.to_line()).unwrap(),
            killed
        );
    }

    #[test]
    fn a_missing_or_broken_line_is_an_error() {
        assert!(Measurement::parse_output("no measurement here\n").is_err());
        assert!(
            Measurement::parse_output("xtask-measure: exit=0 wall_s=abc max_rss_kib=1").is_err()
        );
    }

    /// `dd` with a 200 MiB block fills one 200 MiB buffer: the child's peak RSS is at least that.
    #[test]
    fn peak_memory_and_exit_code_of_a_child() {
        let mib = 200;
        let m = measure_child(Command::new("dd").args([
            "if=/dev/zero",
            "of=/dev/null",
            &format!("bs={mib}M"),
            "count=1",
            "status=none",
        ]))
        .unwrap();
        assert_eq!(m.exit_code, Some(0));
        assert!(
            m.max_rss_mib() >= mib as f64,
            "peak RSS {} MiB < {mib} MiB",
            m.max_rss_mib()
        );
        assert!(m.wall_s > 0.0);
        // dd is single-threaded: it can use no more CPU than wall time (clock granularity aside).
        assert!(m.cpu_s > 0.0 && m.cpu_s <= m.wall_s + 0.01, "{m:?}");
    }

    #[test]
    fn a_failing_child_reports_its_exit_code() {
        let m = measure_child(Command::new("sh").args(["-c", "exit 3"])).unwrap();
        assert_eq!(m.exit_code, Some(3));
    }
}
