//! The Slurm recipe for real: a one-node Slurm on this machine (Debian's slurm-wlm and munge,
//! started by `deploy/slurm/single-node.sh`, installed by `.ci/setup`) runs
//! `deploy/slurm/submit.sh` as a user would — an array of shards, then the dependent merge — and
//! the merged surface equals a single process's, bit for bit.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{fixtures, ok};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn surface(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Stops the one-node Slurm (its daemons, by their pid files) when the test ends, whatever
/// happens.
struct Cluster(std::path::PathBuf);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(root().join("deploy/slurm/single-node.sh"))
            .arg("stop")
            .env("SLURM_HOME", &self.0)
            .status();
    }
}

#[test]
fn the_slurm_array_recipe_merges_to_the_single_run() {
    let slurm_home = tempfile::tempdir().unwrap();
    let _cluster = Cluster(slurm_home.path().to_path_buf());
    let slurm_conf = slurm_home.path().join("slurm.conf");
    let up = Command::new("bash")
        .arg(root().join("deploy/slurm/single-node.sh"))
        .arg("start")
        .env("SLURM_HOME", slurm_home.path())
        .output()
        .expect("bash");
    assert!(
        up.status.success(),
        "a one-node Slurm did not start (run `bash .ci/setup` for slurm-wlm and munge):\n{}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );

    let work = tempfile::tempdir().unwrap();
    let run = work.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let ckpt = run.join("cls_token.safetensors");
    std::fs::copy(fixtures().join("models/cls_token.safetensors"), &ckpt).unwrap();
    // The single run whose surface.json is the spec the cluster recomputes.
    let single = work.path().join("single");
    ok(&[
        "sweep",
        "--checkpoint",
        &ckpt.display().to_string(),
        "--eval-images",
        "32",
        "--grid",
        "-1:1:5",
        "-1:1:4",
        "--no-plots",
        "--out",
        &single.display().to_string(),
    ]);
    std::fs::copy(single.join("surface.json"), run.join("spec.json")).unwrap();

    let submit = Command::new("bash")
        .arg(root().join("deploy/slurm/submit.sh"))
        .current_dir(work.path())
        .env("VITSCAPE", env!("CARGO_BIN_EXE_vitscape"))
        .env("RUN", &run)
        .env("SHARDS", "3")
        .env("SBATCH_EXTRA", "--cpus-per-task=1 --mem=512M")
        .env("SLURM_CONF", &slurm_conf)
        .output()
        .expect("bash");
    assert!(
        submit.status.success(),
        "sbatch failed: {}",
        String::from_utf8_lossy(&submit.stderr)
    );
    let merged = run.join("merged/surface.json");
    let logs = work.path().join("logs");
    let t = Instant::now();
    while !merged.is_file() {
        if t.elapsed() > Duration::from_secs(240) {
            let mut report = String::new();
            for entry in std::fs::read_dir(&logs).into_iter().flatten().flatten() {
                report += &format!(
                    "== {}\n{}\n",
                    entry.path().display(),
                    std::fs::read_to_string(entry.path()).unwrap_or_default()
                );
            }
            let queue = Command::new("squeue")
                .env("SLURM_CONF", &slurm_conf)
                .output()
                .map(|o| o.stdout);
            panic!(
                "no merged surface after 240 s; squeue:\n{}\n{report}",
                String::from_utf8_lossy(&queue.unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // The merge job writes via a temporary file: once surface.json exists it is complete.
    let (a, b) = (surface(&single.join("surface.json")), surface(&merged));
    assert_eq!(a["spec"], b["spec"]);
    assert_eq!(a["metrics"], b["metrics"]);
    for k in 0..3 {
        let part = surface(&run.join(format!("parts/shard-{k}/surface.json")));
        assert_eq!(part["info"]["shard"]["index"], k);
        assert_eq!(part["info"]["shard"]["count"], 3);
    }
    let log: String = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("vitscape-sweep")
        })
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(log.contains("from SLURM_ARRAY_TASK_COUNT"), "{log}");
}
