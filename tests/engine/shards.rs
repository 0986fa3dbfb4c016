//! Sharded sweeps as a cluster runs them: N processes at once, each told its shard by `--shard`,
//! by Slurm's array variables or by a Kubernetes indexed Job's, then `vitscape merge` — the same
//! surface as one process, bit for bit; partial merges list what is missing; parts of different
//! sweeps and cells that disagree are refused with the file and field named.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{fails, fixtures, ok};

fn surface(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("surface.json")).unwrap()).unwrap()
}

#[test]
fn shards_in_parallel_merge_to_the_single_run_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = fixtures().join("models/mae.safetensors");
    let ckpt = ckpt.display().to_string();
    let common = [
        "sweep",
        "--checkpoint",
        &ckpt,
        "--loss",
        "mae",
        "--eval-images",
        "32",
        "--grid",
        "-1:1:6",
        "-0.5:0.5:5",
        "--seed",
        "3",
        "--threads",
        "1",
        "--no-plots",
    ];
    let dir = |name: &str| tmp.path().join(name).display().to_string();
    let single = dir("single");
    ok(&[&common[..], &["--out", &single]].concat());

    // Four shards at once: two by flag, one as Slurm array task 2 of 4 (ids from 1), one as a
    // Kubernetes indexed pod.
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_vitscape"))
            .args(common)
            .args(extra)
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("JOB_COMPLETION_INDEX")
            .envs(env.iter().copied())
            .spawn()
            .unwrap()
    };
    let parts: Vec<String> = (0..4).map(|k| dir(&format!("part{k}"))).collect();
    let children = vec![
        run(&["--shard", "0/4", "--out", &parts[0]], &[]),
        run(&["--shard", "1/4", "--out", &parts[1]], &[]),
        run(
            &["--out", &parts[2]],
            &[
                ("SLURM_ARRAY_TASK_ID", "3"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ],
        ),
        run(
            &["--shards", "4", "--out", &parts[3]],
            &[("JOB_COMPLETION_INDEX", "3")],
        ),
    ];
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    for (k, part) in parts.iter().enumerate() {
        let s = surface(Path::new(part));
        assert_eq!(s["info"]["shard"]["index"], k, "{part}");
        assert_eq!(s["info"]["shard"]["count"], 4, "{part}");
    }
    let status = ok(&[
        &["status"][..],
        &parts.iter().map(String::as_str).collect::<Vec<_>>(),
    ]
    .concat());
    let status = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.contains("shard 2/4, 7/7 cells, done"), "{status}");

    // Parts in any order; the merge equals the single run bit for bit.
    let merged = dir("merged");
    let mut args = vec!["merge", "--out", &merged];
    args.extend(parts.iter().rev().map(String::as_str));
    ok(&args);
    let (a, b) = (surface(Path::new(&single)), surface(Path::new(&merged)));
    assert_eq!(a["spec"], b["spec"]);
    for (name, grid) in a["metrics"].as_object().unwrap() {
        let bits = |g: &Value| -> Vec<Option<u64>> {
            g.as_array()
                .unwrap()
                .iter()
                .flat_map(|row| {
                    row.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().map(f64::to_bits))
                })
                .collect()
        };
        assert_eq!(bits(grid), bits(&b["metrics"][name]), "{name}");
    }
    assert!(b["info"].get("shard").is_none());
    assert_eq!(a["info"]["summary_loss"], b["info"]["summary_loss"]);
    assert!(Path::new(&merged).join("surface.csv").is_file());
    // The merged surface reads back as a spec and reproduces itself.
    assert_eq!(
        std::fs::read_to_string(Path::new(&merged).join("surface.csv")).unwrap(),
        std::fs::read_to_string(Path::new(&single).join("surface.csv")).unwrap()
    );

    // A shard missing: the partial surface, and exactly which shard and cells.
    let partial = dir("partial");
    // Written, but a failure for the scheduler's merge job.
    let stderr = fails(&[
        "merge",
        "--no-plots",
        "--out",
        &partial,
        &parts[0],
        &parts[1],
        &parts[3],
    ]);
    assert!(
        stderr.contains("the merge is partial (7 of 30 cells missing"),
        "{stderr}"
    );
    assert!(stderr.contains("shards with no part: 2/4"), "{stderr}");
    assert!(stderr.contains("shard 2/4: 7 cells missing"), "{stderr}");
    assert!(
        stderr.contains("merged 3 parts") && stderr.contains("23 of 30 cells"),
        "{stderr}"
    );
    let p = surface(Path::new(&partial));
    let missing = p["metrics"]["loss"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter())
        .filter(|v| v.is_null())
        .count();
    assert_eq!(missing, 7);

    // A part of another sweep is named by file and field.
    let other = dir("other");
    let mut args = common.to_vec();
    let seed = args.iter().position(|a| *a == "3").unwrap();
    args[seed] = "4";
    ok(&[&args[..], &["--shard", "2/4", "--out", &other]].concat());
    let err = fails(&["merge", "--out", &dir("m2"), &parts[0], &other]);
    assert!(
        err.contains("spec.directions.source.seed") && err.contains("other/surface.json"),
        "{err}"
    );
    // A cell computed twice with another value is refused, naming both files.
    let mut tampered = surface(Path::new(&parts[1]));
    let row = tampered["metrics"]["loss"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r.as_array().unwrap().iter().any(|v| !v.is_null()))
        .unwrap();
    let cell = row
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|v| !v.is_null())
        .unwrap();
    *cell = Value::from(cell.as_f64().unwrap() + 1e-6);
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("surface.json"), tampered.to_string()).unwrap();
    let err = fails(&[
        "merge",
        "--out",
        &dir("m3"),
        &parts[1],
        &bad.display().to_string(),
    ]);
    assert!(
        err.contains("computed twice must agree") && err.contains("bad/surface.json"),
        "{err}"
    );
    // Each shard records the τ it was swept with; the merge summarises with it, refuses parts
    // that disagree, and takes its own --tau over them.
    assert_eq!(
        surface(Path::new(&parts[0]))["info"]["summary_tau"],
        serde_json::json!({"relative": 0.1})
    );
    let retaued: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(k, part)| {
            let mut s = surface(Path::new(part));
            let tau = if k == 3 { 0.07 } else { 0.05 };
            s["info"]["summary_tau"] = serde_json::json!({ "absolute": tau });
            let d = tmp.path().join(format!("tau{k}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("surface.json"), s.to_string()).unwrap();
            d.display().to_string()
        })
        .collect();
    let mut args = vec!["merge", "--no-plots", "--out", "m4"];
    let m4 = dir("m4");
    args[3] = &m4;
    args.extend(retaued.iter().map(String::as_str));
    let err = fails(&args);
    assert!(err.contains("different τ") && err.contains("tau3"), "{err}");
    let tau3 = Path::new(&retaued[3]).join("surface.json");
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&tau3).unwrap()).unwrap();
    s["info"]["summary_tau"] = serde_json::json!({ "absolute": 0.05 });
    std::fs::write(&tau3, s.to_string()).unwrap();
    let out = ok(&args);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the parts' own"),
        "{out:?}"
    );
    assert_eq!(
        surface(Path::new(&m4))["info"]["summary_tau"],
        serde_json::json!({"absolute": 0.05})
    );
    let m5 = dir("m5");
    args[3] = &m5;
    args.extend(["--tau-relative", "0.2"]);
    ok(&args);
    assert_eq!(
        surface(Path::new(&m5))["info"]["summary_tau"],
        serde_json::json!({"relative": 0.2})
    );
    // --out may not be one of the parts, however it is spelled.
    let dotted = format!("{}/../part0", parts[0]);
    let err = fails(&["merge", "--out", &dotted, &parts[0], &parts[1]]);
    assert!(err.contains("merge into another folder"), "{err}");
    // A shard resumes only into its own folder.
    let err = fails(
        &[
            &common[..],
            &["--shard", "3/4", "--resume", "--out", &parts[0]],
        ]
        .concat(),
    );
    assert!(err.contains("holds shard 0/4, not shard 3/4"), "{err}");
    let err = fails(&[&common[..], &["--shard", "4/4", "--out", &dir("x")]].concat());
    assert!(err.contains("numbered from 0 to 3"), "{err}");
}

/// The convexity map splits by rows (each row one chain of Hessian products): two shards, one
/// told by Slurm's variables, merge to the single run's map bit for bit, with its fraction and
/// its combined step check; other curvature parts are not split.
#[test]
fn convexity_map_shards_merge_to_the_single_run() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = fixtures().join("models/cls_token.safetensors");
    let ckpt = ckpt.display().to_string();
    let common = [
        "curvature",
        "--checkpoint",
        &ckpt,
        "--eval-images",
        "16",
        "--grid",
        "-1:1:5",
        "-1:1:5",
        "--parts",
        "convexity",
        "--convexity-grid",
        "3",
        // Few Lanczos steps: the runs compare with each other, not with converged values.
        "--max-iterations",
        "8",
        "--threads",
        "1",
        "--no-plots",
    ];
    let dir = |name: &str| tmp.path().join(name).display().to_string();
    ok(&[&common[..], &["--out", &dir("single")]].concat());
    ok(&[&common[..], &["--shard", "0/2", "--out", &dir("p0")]].concat());
    let p1 = Command::new(env!("CARGO_BIN_EXE_vitscape"))
        .args(common)
        .args(["--out", &dir("p1")])
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .output()
        .unwrap();
    assert!(
        p1.status.success(),
        "{}",
        String::from_utf8_lossy(&p1.stderr)
    );
    let part = surface(&tmp.path().join("p1/convexity"));
    assert_eq!(part["info"]["shard"]["rows"], true);
    let rows: Vec<bool> = part["metrics"]["convexity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].is_null())
        .collect();
    assert_eq!(rows, [true, false, true], "shard 1/2 holds row 1 only");
    ok(&[
        "merge",
        "--out",
        &dir("merged"),
        &dir("p0/convexity"),
        &dir("p1/convexity"),
    ]);
    let (a, b) = (
        surface(&tmp.path().join("single/convexity")),
        surface(&tmp.path().join("merged")),
    );
    assert_eq!(a["metrics"], b["metrics"]);
    assert_eq!(a["info"]["step_check"], b["info"]["step_check"]);
    assert_eq!(a["info"]["convex_fraction"], b["info"]["convex_fraction"]);
    assert!(tmp.path().join("merged/convexity.png").is_file());
    let err = fails(
        &[
            &common[..],
            &["--parts", "top", "--shard", "0/2", "--out", &dir("x")],
        ]
        .concat(),
    );
    assert!(err.contains("only the convexity map is split"), "{err}");
}

/// `vitscape verdict --shard`: the sweeps (mode × model × seed) dealt over two parts, one told
/// by a Kubernetes indexed Job's variable, merge to the single run's verdict.json byte for byte
/// (whatever flags the merge is given); a part missing is refused, listing each missing sweep.
#[test]
fn verdict_shards_merge_to_the_single_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("static/demo");
    let demo = demo.display().to_string();
    let common = [
        "verdict",
        "--demo",
        &demo,
        "--seeds",
        "1",
        "2",
        "--grid",
        "3",
        "--eval-images",
        "16",
        // Small convexity maps: the parts carry them and the merge joins them.
        "--convexity-grid",
        "2",
        "--convexity-seeds",
        "1",
        "--max-iterations",
        "3",
    ];
    let file = |name: &str| tmp.path().join(name).display().to_string();
    ok(&[&common[..], &["--out", &file("single.json")]].concat());
    ok(&[
        &common[..],
        &["--shard", "0/2", "--out", &file("parts/p0.json")],
    ]
    .concat());
    let p1 = Command::new(env!("CARGO_BIN_EXE_vitscape"))
        .args(common)
        .args(["--shards", "2", "--out", &file("parts/p1.json")])
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env("JOB_COMPLETION_INDEX", "1")
        .output()
        .unwrap();
    assert!(
        p1.status.success(),
        "{}",
        String::from_utf8_lossy(&p1.stderr)
    );
    assert!(String::from_utf8_lossy(&p1.stderr).contains("JOB_COMPLETION_INDEX=1"));
    ok(&[
        "verdict",
        "--demo",
        &demo,
        "--merge",
        &file("parts/p1.json"),
        &file("parts/p0.json"),
        "--out",
        &file("merged.json"),
    ]);
    assert_eq!(
        std::fs::read(file("single.json")).unwrap(),
        std::fs::read(file("merged.json")).unwrap(),
        "the merged verdict differs from the single run's"
    );
    let merged: vitscape::demo::verdict::Verdict =
        serde_json::from_slice(&std::fs::read(file("merged.json")).unwrap()).unwrap();
    assert!(merged.modes.iter().all(|m| m.comparisons.len() == 4));
    let err = fails(&[
        "verdict",
        "--demo",
        &demo,
        "--merge",
        &file("parts/p0.json"),
        "--out",
        &file("m2.json"),
    ]);
    // Every model of each mode (every training seed's) × the two direction seeds; the odd half
    // is shard 1's.
    let sweeps: usize = merged.modes.iter().map(|m| 2 * m.models.len()).sum();
    assert!(
        err.contains(&format!("{} of {sweeps} sweeps are in no part", sweeps / 2))
            && err.contains("seed 2 (shard 1/2)"),
        "{err}"
    );
    assert!(!tmp.path().join("m2.json").exists());
}

/// A killed shard resumes: a convexity map with a row cut short and a row missing, and a verdict
/// part with a sweep missing, continue with --resume to the uninterrupted results.
#[test]
fn convexity_and_verdict_shards_resume_to_the_uninterrupted_results() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = fixtures().join("models/cls_token.safetensors");
    let ckpt = ckpt.display().to_string();
    let common = [
        "curvature",
        "--checkpoint",
        &ckpt,
        "--eval-images",
        "16",
        "--grid",
        "-1:1:5",
        "-1:1:5",
        "--parts",
        "convexity",
        "--convexity-grid",
        "3",
        // Few Lanczos steps: the runs compare with each other, not with converged values.
        "--max-iterations",
        "8",
        "--threads",
        "1",
        "--no-plots",
    ];
    let dir = |name: &str| tmp.path().join(name).display().to_string();
    ok(&[&common[..], &["--out", &dir("whole")]].concat());
    let whole = surface(&tmp.path().join("whole/convexity"));
    // As a kill would leave it: row 0 complete, row 1 cut after one cell, row 2 not started.
    let mut cut = whole.clone();
    for grid in cut["metrics"].as_object_mut().unwrap().values_mut() {
        let rows = grid.as_array_mut().unwrap();
        rows[1][1] = Value::Null;
        rows[1][2] = Value::Null;
        rows[2] = Value::from(vec![Value::Null; 3]);
    }
    let resumed = tmp.path().join("resumed/convexity");
    std::fs::create_dir_all(&resumed).unwrap();
    std::fs::write(resumed.join("surface.json"), cut.to_string()).unwrap();
    let out = ok(&[&common[..], &["--resume", "--out", &dir("resumed")]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        stderr.contains("3 of 9 cells in complete rows kept"),
        "{stderr}"
    );
    assert_eq!(surface(&resumed)["metrics"], whole["metrics"]);
    // The products' settings are not in the spec: a resume with others is refused by name.
    let err = fails(
        &[
            &common[..],
            &["--resume", "--hvp-step", "1e-3", "--out", &dir("resumed")],
        ]
        .concat(),
    );
    assert!(
        err.contains("other Hessian-product or eigenvalue settings") && err.contains("--hvp-step"),
        "{err}"
    );
    // So is one with the other way of finding the extremes (Lanczos made these cells).
    let err = fails(
        &[
            &common[..],
            &["--resume", "--extremes", "power", "--out", &dir("resumed")],
        ]
        .concat(),
    );
    assert!(err.contains("--extremes"), "{err}");

    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("static/demo");
    let demo = demo.display().to_string();
    let verdict = [
        "verdict",
        "--demo",
        &demo,
        "--seeds",
        "1",
        "2",
        "--grid",
        "3",
        "--eval-images",
        "16",
        "--convexity-grid",
        "0",
    ];
    let file = |name: &str| tmp.path().join(name).display().to_string();
    ok(&[&verdict[..], &["--out", &file("single.json")]].concat());
    ok(&[&verdict[..], &["--shard", "0/2", "--out", &file("p0.json")]].concat());
    ok(&[&verdict[..], &["--shard", "1/2", "--out", &file("p1.json")]].concat());
    let mut part: Value =
        serde_json::from_str(&std::fs::read_to_string(file("p1.json")).unwrap()).unwrap();
    let total = part["total"].as_u64().unwrap();
    assert_eq!(part["sweeps"].as_array().unwrap().len() as u64, total);
    part["sweeps"].as_array_mut().unwrap().truncate(2);
    std::fs::write(file("p1.json"), part.to_string()).unwrap();
    // `vitscape status` reads verdict parts: the finished one and the one a kill cut short.
    let status = ok(&["status", &file("p0.json"), &file("p1.json")]);
    let status = String::from_utf8_lossy(&status.stdout).to_string();
    let p0: Value =
        serde_json::from_str(&std::fs::read_to_string(file("p0.json")).unwrap()).unwrap();
    let n0 = p0["sweeps"].as_array().unwrap().len();
    assert!(
        status.contains(&format!("verdict shard 0/2, {n0}/{n0} sweeps, done")),
        "{status}"
    );
    assert!(
        status.contains(&format!("verdict shard 1/2, 2/{total} sweeps, "))
            && status.contains("last saved"),
        "{status}"
    );
    let err = fails(&[&verdict[..], &["--shard", "1/2", "--out", &file("p1.json")]].concat());
    assert!(err.contains("--resume"), "{err}");
    let out = ok(&[
        &verdict[..],
        &["--shard", "1/2", "--resume", "--out", &file("p1.json")],
    ]
    .concat());
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 sweeps kept"));
    ok(&[
        "verdict",
        "--demo",
        &demo,
        "--merge",
        &file("p0.json"),
        &file("p1.json"),
        "--out",
        &file("merged.json"),
    ]);
    assert_eq!(
        std::fs::read(file("single.json")).unwrap(),
        std::fs::read(file("merged.json")).unwrap()
    );
}
