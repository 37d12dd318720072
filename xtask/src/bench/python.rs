//! The Python the references run on: a virtual environment of the project's own under the
//! target folder (`target/py-venv`, made by `python3 -m venv`), into which `cargo xtask bench`
//! installs from PyPI, with that environment's pip, what each reference imports. The system's
//! Python is left as it is.
//!
//! numpy is small and is installed when it is missing. torch is not: PyPI's torch for Linux
//! x86-64 is the CUDA build, which brings NVIDIA's libraries with it, so before installing it the
//! bench says what it installs, how large it is and where, and asks; `--yes` answers for a run
//! without a terminal, and without either it stops and says how to go on.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// A Python reference of the bench.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// The book's NumPy code: `train_neuralnet.py` and `train_convnet.py`.
    NumPy,
    /// `train_convnet_torch.py`.
    PyTorch,
}

impl Reference {
    /// The modules its scripts import beyond the standard library and each other, which are
    /// also the names of their packages on PyPI.
    pub fn modules(self) -> &'static [&'static str] {
        match self {
            Self::NumPy => &["numpy"],
            // The script imports numpy itself, and its MNIST reader from train_neuralnet.py.
            Self::PyTorch => &["numpy", "torch"],
        }
    }

    /// The scripts of `xtask/reference/` that the bench runs for it.
    #[cfg(test)]
    pub fn scripts(self) -> &'static [&'static str] {
        match self {
            Self::NumPy => &["train_neuralnet.py", "train_convnet.py"],
            Self::PyTorch => &["train_convnet_torch.py"],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::NumPy => "NumPy",
            Self::PyTorch => "PyTorch",
        }
    }

    fn skip_flag(self) -> &'static str {
        match self {
            Self::NumPy => "--skip-numpy",
            Self::PyTorch => "--skip-torch",
        }
    }
}

/// What installing a package costs, and whether that is large enough to ask first.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Footprint {
    /// Roughly what pip downloads and what ends up on disk, for the message.
    size: &'static str,
    /// What it is, when that is not plain from its name.
    what: &'static str,
    /// Whether to ask before installing it.
    large: bool,
}

/// The footprint of `package` from PyPI on this platform.
///
/// Measured 2026-12-06 with CPython 3.11 on Linux x86-64 (`pip install --dry-run --report`,
/// then the installed environment's size): numpy 2.4.6 is a 17 MB wheel, 72 MB installed;
/// torch 2.15.0 is a 539 MB wheel that requires 25 more packages, 16 of them NVIDIA's CUDA
/// libraries (cuDNN 519 MB, cuBLAS 405 MB, NCCL 216 MB, ...) and triton (286 MB): 3.0 GB to
/// download in all, 5.6 GB installed. PyPI has no CPU-only torch for Linux x86-64.
fn footprint(package: &str) -> Footprint {
    match package {
        "torch" if cfg!(all(target_os = "linux", target_arch = "x86_64")) => Footprint {
            size: "about 3.0 GB to download, 5.6 GB installed",
            what: "PyPI's torch for Linux x86-64 is the CUDA build: torch itself (0.5 GB), NVIDIA's\n\
                   CUDA libraries (cuDNN, cuBLAS, NCCL, ...) and triton, though the bench runs\n\
                   PyTorch on the CPU only. PyPI has no CPU-only torch for this platform\n\
                   (BENCHMARKS.md says how to take it from PyTorch's own index instead)",
            large: true,
        },
        "torch" => Footprint {
            size: "hundreds of MB or more, depending on the platform",
            what: "PyPI's torch for this platform and the packages it requires",
            large: true,
        },
        "numpy" => Footprint {
            size: "about 17 MB to download, 72 MB installed",
            what: "",
            large: false,
        },
        _ => Footprint {
            size: "size unknown",
            what: "",
            large: false,
        },
    }
}

/// The virtual environment the references run in.
pub struct Venv {
    dir: PathBuf,
}

impl Venv {
    /// The environment of the target folder `target` (`target/py-venv`).
    pub fn in_target(target: &Path) -> Self {
        Self {
            dir: target.join("py-venv"),
        }
    }

    /// Its Python interpreter, which runs the references.
    pub fn python(&self) -> PathBuf {
        self.dir.join("bin/python")
    }

    fn exists(&self) -> bool {
        self.python().exists()
    }

    /// The modules of `modules` that its Python cannot import: all of them when there is no
    /// environment yet. It imports them (a second or two for torch), so that a broken install
    /// counts as missing; it does not call pip.
    fn missing<'m>(&self, modules: &[&'m str]) -> Result<Vec<&'m str>> {
        if !self.exists() {
            return Ok(modules.to_vec());
        }
        const CHECK: &str = "import importlib, sys\n\
                             for m in sys.argv[1:]:\n    \
                                 try:\n        importlib.import_module(m)\n    \
                                 except Exception:\n        print(m)\n";
        let output = Command::new(self.python())
            .args(["-c", CHECK])
            .args(modules)
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run {}", self.python().display()))?;
        if !output.status.success() {
            bail!(
                "{} does not run ({}): remove {} and run the bench again to make it anew",
                self.python().display(),
                output.status,
                self.dir.display()
            );
        }
        Ok(missing_from_check(
            modules,
            &String::from_utf8_lossy(&output.stdout),
        ))
    }

    /// Makes the environment with `python3 -m venv`, unless it exists.
    fn create(&self) -> Result<()> {
        if self.exists() {
            return Ok(());
        }
        println!(
            "bench: creating the references' Python environment: `python3 -m venv {}` (about \
             25 MB)",
            self.dir.display()
        );
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&self.dir)
            .status()
            .context("cannot run python3: is Python 3 installed?")?;
        if !status.success() {
            bail!(
                "`python3 -m venv {}` failed ({status}; see its message above; on Debian or \
                 Ubuntu the venv module is the package python3-venv)",
                self.dir.display()
            );
        }
        Ok(())
    }

    /// `pip install --no-cache-dir PACKAGES` with the environment's own pip: nothing lands
    /// outside it.
    fn install(&self, packages: &[&str]) -> Result<()> {
        let status = Command::new(self.python())
            .args(["-m", "pip", "install", "--no-cache-dir"])
            .args(packages)
            .status()
            .with_context(|| format!("cannot run {}", self.python().display()))?;
        if !status.success() {
            bail!("pip failed ({status}; see its message above)");
        }
        Ok(())
    }
}

/// The modules named on the lines of the check's output, in the order of `modules`.
fn missing_from_check<'m>(modules: &[&'m str], stdout: &str) -> Vec<&'m str> {
    let failed: BTreeSet<&str> = stdout.lines().map(str::trim).collect();
    modules
        .iter()
        .copied()
        .filter(|m| failed.contains(m))
        .collect()
}

/// What to do about a large install.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Consent {
    /// `--yes` was given.
    Given,
    /// Ask on the terminal.
    Ask,
    /// Nobody to ask: stop and say how to go on.
    Refused,
}

fn consent(yes: bool, stdin_is_terminal: bool) -> Consent {
    if yes {
        Consent::Given
    } else if stdin_is_terminal {
        Consent::Ask
    } else {
        Consent::Refused
    }
}

/// Whether an answer to a `[y/N]` question is yes.
fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Makes each of `wanted` ready to run in `venv`, installing what it imports, and returns those
/// that are ready.
///
/// A reference that needs a large install (torch) gets it only with `yes` or after a yes on the
/// terminal; declined, it is left out. With no terminal and no `yes`, it is an error that says
/// what would be installed and how to go on, before anything is installed. An install that
/// fails leaves its reference out, with pip's message and a line saying so.
pub fn prepare(venv: &Venv, wanted: &[Reference], yes: bool) -> Result<Vec<Reference>> {
    let mut plans = Vec::new();
    for &reference in wanted {
        plans.push((reference, venv.missing(reference.modules())?));
    }

    // First every question, so that a refusal comes before any install.
    let mut accepted = Vec::new();
    for (reference, missing) in plans {
        let large: Vec<&str> = missing
            .iter()
            .copied()
            .filter(|p| footprint(p).large)
            .collect();
        if large.is_empty() {
            accepted.push((reference, missing));
            continue;
        }
        let what = large
            .iter()
            .map(|p| format!("{p} ({})", footprint(p).size))
            .collect::<Vec<_>>()
            .join(", ");
        match consent(yes, std::io::stdin().is_terminal()) {
            Consent::Refused => bail!(
                "the {} reference needs {what}, installed with pip into {}, and standard input \
                 is not a terminal to ask: pass --yes to install it, or {} to run the bench \
                 without it",
                reference.name(),
                venv.dir.display(),
                reference.skip_flag()
            ),
            consent => {
                println!(
                    "bench: the {} reference needs {}, not installed in {}.",
                    reference.name(),
                    missing.join(" and "),
                    venv.dir.display()
                );
                for p in &large {
                    let footprint = footprint(p);
                    println!("  {}.", footprint.what.replace('\n', "\n  "));
                    println!("  {p}: {}.", footprint.size);
                }
                for var in ["PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"] {
                    if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
                        println!(
                            "  ({var} is set: pip may take it from there; the sizes are PyPI's.)"
                        );
                    }
                }
                println!(
                    "  Where: {} only, with no copy in pip's cache; `cargo clean` removes it.",
                    venv.dir.display()
                );
                println!(
                    "  How: {} -m pip install --no-cache-dir {}",
                    venv.python().display(),
                    missing.join(" ")
                );
                if consent == Consent::Ask && !ask(&format!("Install {}? [y/N] ", large.join(" ")))?
                {
                    println!(
                        "bench: not installing {}: running without the {} reference ({} skips \
                         this question)",
                        large.join(" "),
                        reference.name(),
                        reference.skip_flag()
                    );
                    continue;
                }
                accepted.push((reference, missing));
            }
        }
    }

    let mut ready = Vec::new();
    let mut installed: BTreeSet<&str> = BTreeSet::new();
    for (reference, missing) in accepted {
        let todo: Vec<&str> = missing
            .into_iter()
            .filter(|p| !installed.contains(p))
            .collect();
        if todo.is_empty() {
            ready.push(reference);
            continue;
        }
        let install = || {
            venv.create()?;
            for p in &todo {
                println!(
                    "bench: installing {p} into {} for the {} reference ({})",
                    venv.dir.display(),
                    reference.name(),
                    footprint(p).size
                );
            }
            venv.install(&todo)
        };
        match install() {
            Ok(()) => {
                installed.extend(todo);
                ready.push(reference);
            }
            Err(e) => println!(
                "bench: could not install {} into {}: {e:#}. Running without the {} reference \
                 ({} to not try; remove {} to start the environment anew)",
                todo.join(" "),
                venv.dir.display(),
                reference.name(),
                reference.skip_flag(),
                venv.dir.display()
            ),
        }
    }
    Ok(ready)
}

/// Asks `question` on the terminal; true for `y` or `yes`.
fn ask(question: &str) -> Result<bool> {
    print!("{question}");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    Ok(is_yes(&answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The imports of the reference script `name` that are neither the standard library's (the
    /// modules these scripts use) nor another script of `xtask/reference/`, following those.
    fn third_party_imports(name: &str, found: &mut BTreeSet<String>) {
        const STDLIB: &[&str] = &[
            "argparse",
            "collections",
            "gzip",
            "os",
            "resource",
            "sys",
            "time",
        ];
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference");
        let source = std::fs::read_to_string(dir.join(name)).unwrap();
        for line in source.lines().map(str::trim_start) {
            let module = match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["import", module, ..] | ["from", module, "import", ..] => module,
                _ => continue,
            };
            let top = module.split('.').next().unwrap().trim_end_matches(',');
            let local = format!("{top}.py");
            if dir.join(&local).is_file() {
                third_party_imports(&local, found);
            } else if !STDLIB.contains(&top) {
                found.insert(top.to_owned());
            }
        }
    }

    /// Each reference installs what its scripts import: `--skip-numpy` once left the PyTorch
    /// reference without numpy, which it imports (directly, and through train_neuralnet.py).
    #[test]
    fn each_reference_installs_what_its_scripts_import() {
        for reference in [Reference::NumPy, Reference::PyTorch] {
            for script in reference.scripts() {
                let mut found = BTreeSet::new();
                third_party_imports(script, &mut found);
                let declared: BTreeSet<String> =
                    reference.modules().iter().map(|m| m.to_string()).collect();
                assert_eq!(
                    found, declared,
                    "{script} imports {found:?}; {reference:?}::modules says {declared:?} (a \
                     new standard-library import goes into STDLIB above)"
                );
            }
        }
    }

    #[test]
    fn a_large_install_needs_yes_or_a_terminal() {
        assert_eq!(consent(true, false), Consent::Given);
        assert_eq!(consent(true, true), Consent::Given);
        assert_eq!(consent(false, true), Consent::Ask);
        assert_eq!(consent(false, false), Consent::Refused);
        assert!(footprint("torch").large);
        assert!(!footprint("numpy").large);
    }

    #[test]
    fn answers() {
        for yes in ["y", "Y", "yes\n", " YES \n"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yep", "y es"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }

    #[test]
    fn missing_modules_from_the_check() {
        let modules = ["numpy", "torch"];
        assert_eq!(missing_from_check(&modules, ""), Vec::<&str>::new());
        assert_eq!(missing_from_check(&modules, "torch\n"), ["torch"]);
        assert_eq!(
            missing_from_check(&modules, "torch\nnumpy\n"),
            ["numpy", "torch"]
        );
        // Anything else on stdout (a module printing at import) is not a module name.
        assert_eq!(missing_from_check(&modules, "hello\n"), Vec::<&str>::new());
    }

    #[test]
    fn no_environment_means_every_module_is_missing() {
        let target = tempfile::tempdir().unwrap();
        let venv = Venv::in_target(target.path());
        assert_eq!(venv.python(), target.path().join("py-venv/bin/python"));
        assert_eq!(
            venv.missing(Reference::PyTorch.modules()).unwrap(),
            ["numpy", "torch"]
        );
    }
}
