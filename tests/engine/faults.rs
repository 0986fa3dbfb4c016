//! Faults of a native run (RELIABILITY.md): sweeps and curvature maps killed with SIGKILL at
//! random points resume to the uninterrupted result, and a disk that fills while outputs are
//! written gives an error naming the file and leaves the previous files as they were.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::common::{fixtures, ok};

/// A JSON file's metrics as `metric → cells` (`null` for a cell not computed yet).
fn metrics(path: &Path) -> BTreeMap<String, Vec<Value>> {
    let text = std::fs::read_to_string(path).unwrap();
    // Never a truncated file: it parses whenever it exists.
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not whole JSON ({e})", path.display()));
    v["metrics"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, rows)| {
            let cells = rows
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r.as_array().unwrap().clone())
                .collect();
            (k.clone(), cells)
        })
        .collect()
}

fn command(args: &[String]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vitscape"));
    c.args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

/// Runs `args` (with `--out DIR`) once to the end, then again from scratch with `--resume`,
/// killing it with SIGKILL `kills` times at random moments within one run's duration, each time
/// resuming the same folder. After every kill the partial result (`result` inside the folder) is
/// whole JSON whose computed cells equal the uninterrupted run's bit for bit; at the end it is the
/// uninterrupted result. A run that finishes before its kill starts over in a fresh folder.
fn killed_and_resumed(args: &[&str], result: &str, kills: usize, seed: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let with_out = |dir: &Path, resume: bool| -> Vec<String> {
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.extend(["--out".into(), dir.display().to_string()]);
        if resume {
            a.push("--resume".into());
        }
        a
    };
    let reference_dir = tmp.path().join("reference");
    let t0 = Instant::now();
    let status = command(&with_out(&reference_dir, false)).status().unwrap();
    assert!(status.success());
    let duration = t0.elapsed();
    let reference = metrics(&reference_dir.join(result));

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut attempt = 0;
    let mut killed = 0;
    // Kills after which a partial result was there to resume from.
    let mut partials = 0;
    let mut dir: PathBuf = tmp.path().join("run0");
    while killed < kills {
        attempt += 1;
        assert!(attempt < kills * 4, "runs kept finishing before their kill");
        let mut child = command(&with_out(&dir, true)).spawn().unwrap();
        let delay = rng.random_range(0.0..duration.as_secs_f64());
        std::thread::sleep(Duration::from_secs_f64(delay));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            killed += 1;
        } else {
            assert!(child.wait().unwrap().success());
            assert_eq!(metrics(&dir.join(result)), reference);
            dir = tmp.path().join(format!("run{attempt}"));
            continue;
        }
        let partial = dir.join(result);
        if partial.exists() {
            partials += 1;
            for (name, cells) in metrics(&partial) {
                for (i, cell) in cells.iter().enumerate() {
                    if !cell.is_null() {
                        assert_eq!(
                            cell, &reference[&name][i],
                            "{name} cell {i} after kill {killed}"
                        );
                    }
                }
            }
        }
    }
    eprintln!("{killed} kills, {partials} of them after a partial save, {attempt} runs");
    assert!(
        partials >= kills / 4,
        "too few kills hit a saved partial result"
    );
    let status = command(&with_out(&dir, true)).status().unwrap();
    assert!(status.success(), "the last resume failed");
    assert_eq!(metrics(&dir.join(result)), reference);
    // A map's step check counts every product the stopped runs formed too: at least the
    // uninterrupted run's products, with its worst check and smallest step (rows cut short are
    // recomputed to the same products).
    let step_check = |path: &Path| -> Value {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["info"]["step_check"].clone()
    };
    let (expected, resumed) = (
        step_check(&reference_dir.join(result)),
        step_check(&dir.join(result)),
    );
    if !expected.is_null() {
        for field in ["max_relative_truncation", "min_relative_step"] {
            assert_eq!(resumed[field], expected[field], "step_check.{field}");
        }
        for field in ["products", "gradients"] {
            let (r, e) = (resumed[field].as_u64(), expected[field].as_u64());
            assert!(r >= e && e > Some(0), "step_check.{field}: {r:?} < {e:?}");
        }
    }
    // The temporary files kills leave are removed by the next run in the folder.
    for folder in [dir.clone(), dir.join("convexity")] {
        let stray: Vec<String> = std::fs::read_dir(&folder)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(stray.is_empty(), "{stray:?} left in {}", folder.display());
    }
}

fn mae() -> String {
    fixtures()
        .join("models/mae.safetensors")
        .display()
        .to_string()
}

#[test]
fn a_sweep_killed_twenty_times_resumes_to_the_uninterrupted_surface() {
    let ckpt = mae();
    killed_and_resumed(
        &[
            "sweep",
            "--checkpoint",
            &ckpt,
            "--loss",
            "mae",
            "--eval-images",
            "32",
            "--grid",
            "-1:1:16",
            "-1:1:16",
            "--seed",
            "3",
            "--threads",
            "1",
            "--no-plots",
            "--save-every",
            "0",
        ],
        "surface.json",
        20,
        11,
    );
}

#[test]
fn a_convexity_map_killed_twenty_times_resumes_to_the_uninterrupted_map() {
    let ckpt = mae();
    killed_and_resumed(
        &[
            "curvature",
            "--parts",
            "convexity",
            "--checkpoint",
            &ckpt,
            "--loss",
            "mae",
            "--eval-images",
            "8",
            "--grid",
            "-1:1:8",
            "-1:1:8",
            "--convexity-grid",
            "3",
            "--max-iterations",
            "10",
            "--threads",
            "1",
            "--no-plots",
            "--save-every",
            "0",
        ],
        "convexity/surface.json",
        20,
        12,
    );
}

/// Every file of a folder and its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_full_disk_names_the_file_and_keeps_the_previous_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let out_s = out.display().to_string();
    let ckpt = mae();
    let args = [
        "sweep",
        "--checkpoint",
        &ckpt,
        "--loss",
        "mae",
        "--eval-images",
        "16",
        "--grid",
        "-1:1:5",
        "-1:1:5",
        "--threads",
        "1",
        "--out",
        &out_s,
    ];
    ok(&args);
    let before = snapshot(&out);
    let before_surface = tmp.path().join("before.json");
    std::fs::write(&before_surface, &before["surface.json"]).unwrap();
    assert!(before.contains_key("surface.json") && before.contains_key("contour.png"));

    // A resumed run (it rewrites every output) in a shell whose files may not pass `limit` KiB:
    // writes past it fail with EFBIG, as on a full disk (SIGXFSZ ignored, so the error reaches
    // vitscape). With room for the direction files but not the figures, and with room for none.
    for limit in [1, 160] {
        let script = format!("trap '' XFSZ; ulimit -f {limit}; exec \"$0\" \"$@\" --resume");
        let output = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_vitscape"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "limit {limit} KiB: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains("error: writing ") && stderr.contains("File too large"),
            "limit {limit} KiB: {stderr}"
        );
        let named = stderr
            .split("writing ")
            .nth(1)
            .and_then(|s| s.split(':').next())
            .unwrap();
        assert!(Path::new(named).starts_with(&out), "{named}");
        // The file being written is as it was, every other one whole (rewritten or not), and no
        // temporary file is left behind.
        let after = snapshot(&out);
        let name = Path::new(named).file_name().unwrap().to_string_lossy();
        assert_eq!(after[name.as_ref()], before[name.as_ref()], "{name}");
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            before.keys().collect::<Vec<_>>()
        );
        assert_eq!(metrics(&out.join("surface.json")), metrics(&before_surface));
    }
}
