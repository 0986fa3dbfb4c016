//! The `vitscape` binary end to end, as a user runs it: outputs, direction reuse, resume,
//! interpolation, and clear errors for bad input. Uses the Debian Fashion-MNIST package that
//! `.ci/setup` installs.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{fails, ok, vitscape};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn model(name: &str) -> String {
    fixtures()
        .join(format!("models/{name}.safetensors"))
        .display()
        .to_string()
}

fn surface(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("surface.json")).unwrap()).unwrap()
}

fn loss_grid(s: &Value) -> Vec<Vec<Option<f64>>> {
    serde_json::from_value(s["metrics"]["loss"].clone()).unwrap()
}

#[test]
fn two_d_sweep_writes_every_output_and_directions_reproduce_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let out_s = out.display().to_string();
    let ckpt = model("cls_token");
    let base = [
        "sweep",
        "--checkpoint",
        &ckpt,
        "--data",
        "fashion-mnist",
        "--eval-images",
        "48",
        "--loss",
        "classification",
        "--grid",
        "-1:1:5",
        "0:0.5:3",
        "--seed",
        "123",
    ];
    let mut args = base.to_vec();
    args.extend(["--out", &out_s]);
    let run = ok(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("cosine"), "{stderr}");
    assert!(stderr.contains("merge tree: "), "{stderr}");
    for file in [
        "surface.json",
        "surface.csv",
        "contour.png",
        "contour.svg",
        "heatmap.png",
        "heatmap.svg",
        "surface.png",
        "barcode.png",
        "barcode.svg",
        "direction_x.safetensors",
        "direction_y.safetensors",
    ] {
        let len = std::fs::metadata(out.join(file))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 100, "{file} missing or empty");
    }
    let s = surface(&out);
    let grid = loss_grid(&s);
    assert_eq!(
        (grid.len(), grid[0].len()),
        (3, 5),
        "[iy][ix] with 3 β rows and 5 α columns"
    );
    assert!(grid.iter().flatten().all(|v| v.is_some_and(f64::is_finite)));
    let acc: Vec<Vec<Option<f64>>> =
        serde_json::from_value(s["metrics"]["accuracy"].clone()).unwrap();
    assert!(
        acc.iter()
            .flatten()
            .all(|v| v.is_some_and(|a| (0.0..=1.0).contains(&a)))
    );
    // The spec records what was run, including the checkpoint's hash.
    let bytes = std::fs::read(&ckpt).unwrap();
    assert_eq!(
        s["spec"]["checkpoint"]["sha256"],
        vitscape::io::checkpoint::sha256_hex(&bytes)
    );
    assert_eq!(s["spec"]["directions"]["source"]["seed"], 123);
    assert_eq!(s["spec"]["data"]["eval_images"], 48);
    // The merge tree is stored with the summaries, with its τ.
    let topology = &s["info"]["summary_loss"]["topology"];
    assert_eq!(topology["tau"], s["info"]["summary_loss"]["tau"]);
    assert!(topology["basins"].as_u64().unwrap() >= 1, "{topology}");
    assert_eq!(
        topology["minima"].as_array().unwrap().len() as u64,
        topology["minima_total"]
            .as_u64()
            .unwrap()
            .min(vitscape::metrics::topology::MAX_MINIMA_KEPT as u64)
    );
    assert_eq!(s["vitscape_version"], env!("CARGO_PKG_VERSION"));
    let csv = std::fs::read_to_string(out.join("surface.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 15);
    assert!(csv.starts_with("alpha,beta,accuracy,loss"));

    // Reusing the exported directions reproduces the surface exactly.
    let again = tmp.path().join("again");
    let again_s = again.display().to_string();
    let dx = out.join("direction_x.safetensors").display().to_string();
    let dy = out.join("direction_y.safetensors").display().to_string();
    let mut args = base.to_vec();
    args.extend(["--directions", &dx, &dy, "--out", &again_s]);
    ok(&args);
    assert_eq!(loss_grid(&surface(&again)), grid);
    assert_eq!(
        surface(&again)["spec"]["directions"]["source"]["kind"],
        "files"
    );

    // An existing output is never overwritten silently...
    let mut args = base.to_vec();
    args.extend(["--out", &out_s]);
    let err = fails(&args);
    assert!(
        err.contains("already exists") && err.contains("--resume"),
        "{err}"
    );
    // ...and a resumed run computes only missing cells, with the same numbers.
    let mut partial = surface(&out);
    partial["metrics"]["loss"][2][4] = Value::Null;
    partial["metrics"]["accuracy"][2][4] = Value::Null;
    partial["metrics"]["loss"][0][0] = Value::Null;
    partial["metrics"]["accuracy"][0][0] = Value::Null;
    std::fs::write(out.join("surface.json"), partial.to_string()).unwrap();
    args.push("--resume");
    ok(&args);
    assert_eq!(loss_grid(&surface(&out)), grid);
    // Resuming with other settings is refused with the reason.
    let mut other = base.to_vec();
    let last = other.len() - 1;
    other[last] = "124";
    other.extend(["--out", &out_s, "--resume"]);
    let err = fails(&other);
    assert!(err.contains("different settings"), "{err}");
}

#[test]
fn interpolation_between_two_mae_checkpoints_hits_both_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let line = tmp.path().join("line").display().to_string();
    let (a, b) = (model("mae"), model("mae_teacher"));
    let common = [
        "--data",
        "fashion-mnist",
        "--eval-images",
        "32",
        "--loss",
        "mae",
        "--mask-seed",
        "3",
    ];
    let mut args = vec![
        "sweep",
        "--checkpoint",
        &a,
        "--interpolate",
        &b,
        "--grid",
        "-0.5:1.5:5",
    ];
    args.extend(common);
    args.extend(["--out", &line]);
    ok(&args);
    let s = surface(Path::new(&line));
    let grid = loss_grid(&s);
    assert_eq!(grid.len(), 1);
    assert_eq!(s["x"], serde_json::json!([-0.5, 0.0, 0.5, 1.0, 1.5]));
    assert!(Path::new(&line).join("line.png").exists());
    assert!(Path::new(&line).join("line.svg").exists());
    assert!(Path::new(&line).join("masks.safetensors").exists());
    // α = 1 is the other checkpoint: its own loss with the same images and masks.
    let end = tmp.path().join("end").display().to_string();
    let mut args = vec![
        "sweep",
        "--checkpoint",
        &b,
        "--grid",
        "0:1:2",
        "--seed",
        "1",
    ];
    args.extend(common);
    args.extend(["--out", &end]);
    ok(&args);
    let theirs = loss_grid(&surface(Path::new(&end)))[0][0].unwrap();
    let ours = grid[0][3].unwrap();
    assert!((ours - theirs).abs() / theirs < 1e-4, "{ours} vs {theirs}");
}

#[test]
fn rcmae_sweep_reports_reconstruction_and_consistency() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rc").display().to_string();
    let (student, teacher) = (model("mae"), model("mae_teacher"));
    ok(&[
        "sweep",
        "--checkpoint",
        &student,
        "--teacher",
        &teacher,
        "--loss",
        "rcmae",
        "--eval-images",
        "16",
        "--grid",
        "-1:1:3",
        "-1:1:3",
        "--out",
        &out,
        "--no-plots",
    ]);
    let s = surface(Path::new(&out));
    let total = s["metrics"]["loss"][1][1].as_f64().unwrap();
    let recon = s["metrics"]["reconstruction"][1][1].as_f64().unwrap();
    let cons = s["metrics"]["consistency"][1][1].as_f64().unwrap();
    assert!((total - (recon + cons)).abs() < 1e-9 * total.abs().max(1.0));
    assert!(cons > 0.0);
    assert_eq!(s["spec"]["loss"]["kind"], "rc-mae");
}

#[test]
fn bad_inputs_get_clear_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x").display().to_string();
    // Truncated checkpoint.
    let bytes = std::fs::read(model("cls_token")).unwrap();
    let cut = tmp.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let cut = cut.display().to_string();
    let err = fails(&["sweep", "--checkpoint", &cut, "--out", &out]);
    assert!(err.contains("cut.safetensors"), "{err}");
    // Classification on a checkpoint without a head.
    let mae = model("mae");
    let err = fails(&[
        "sweep",
        "--checkpoint",
        &mae,
        "--eval-images",
        "8",
        "--out",
        &out,
    ]);
    assert!(err.contains("head.weight"), "{err}");
    // RC-MAE without a teacher.
    let err = fails(&[
        "sweep",
        "--checkpoint",
        &mae,
        "--loss",
        "rcmae",
        "--out",
        &out,
    ]);
    assert!(err.contains("--teacher"), "{err}");
    // A malformed grid axis.
    let ckpt = model("cls_token");
    let err = fails(&[
        "sweep",
        "--checkpoint",
        &ckpt,
        "--grid",
        "1:-1:5",
        "--out",
        &out,
    ]);
    assert!(err.contains("1:-1:5"), "{err}");
    // More images than the split has.
    let err = fails(&[
        "sweep",
        "--checkpoint",
        &ckpt,
        "--eval-images",
        "20000",
        "--out",
        &out,
    ]);
    assert!(err.contains("20000"), "{err}");
    // Heads that do not divide the width.
    let err = fails(&[
        "sweep",
        "--checkpoint",
        &ckpt,
        "--heads",
        "3",
        "--out",
        &out,
    ]);
    assert!(err.contains("3 attention heads"), "{err}");
    // Directions of another architecture.
    let mae_dir = fixtures()
        .join("exports/mae/direction_x.safetensors")
        .display()
        .to_string();
    let err = fails(&[
        "sweep",
        "--checkpoint",
        &ckpt,
        "--grid",
        "-1:1:3",
        "--directions",
        &mae_dir,
        "--out",
        &out,
    ]);
    assert!(
        err.contains("head.weight") || err.contains("decoder"),
        "{err}"
    );
}

#[test]
fn assumed_head_counts_are_said_and_recorded_and_impossible_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A width-64 ViT saved without `num_heads` metadata: timm's convention gives one head.
    let config = vitscape::model::arch::VitConfig {
        head: Some(vitscape::model::arch::Head::Linear { num_classes: 10 }),
        ..vitscape::model::arch::VitConfig::standard(28, 7, 1, 64, 1, 1)
    };
    let mut state = vitscape::model::random_state(&config, 3);
    state.metadata.clear();
    let ckpt = dir.path().join("no_heads.safetensors");
    vitscape::io::checkpoint::write_file(&ckpt, &state).unwrap();
    let ckpt = ckpt.display().to_string();
    let out = ok(&["inspect", &ckpt]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("assuming") && stderr.contains("--heads"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["heads_assumed"]["encoder"], true);
    let out_dir = dir.path().join("sweep").display().to_string();
    let out = ok(&[
        "sweep",
        "--checkpoint",
        &ckpt,
        "--eval-images",
        "8",
        "--grid",
        "-1:1:2",
        "--no-plots",
        "--out",
        &out_dir,
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("assuming"));
    let s = surface(Path::new(&out_dir));
    assert_eq!(s["spec"]["checkpoint"]["heads_assumed"], true);
    assert_eq!(s["spec"]["checkpoint"]["num_heads"], 1);
    // Given, nothing is assumed and the spec says nothing of it.
    let given = dir.path().join("given").display().to_string();
    let out = ok(&[
        "sweep",
        "--checkpoint",
        &ckpt,
        "--heads",
        "2",
        "--eval-images",
        "8",
        "--grid",
        "-1:1:2",
        "--no-plots",
        "--out",
        &given,
    ]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("assuming"));
    let s = surface(Path::new(&given));
    assert!(s["spec"]["checkpoint"].get("heads_assumed").is_none());
    // A width no head dim of 64 divides, without metadata: refused with the fix.
    let narrow = dir.path().join("narrow.safetensors");
    let mut state = vitscape::model::random_state(
        &vitscape::model::arch::VitConfig::standard(28, 7, 1, 96, 1, 3),
        3,
    );
    state.metadata.clear();
    vitscape::io::checkpoint::write_file(&narrow, &state).unwrap();
    let err = fails(&["inspect", &narrow.display().to_string()]);
    assert!(err.contains("96") && err.contains("--heads"), "{err}");
}

#[test]
fn inspect_reports_the_inferred_architecture() {
    let out = ok(&["inspect", &model("avgpool_fcnorm")]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let arch = &report["architecture"];
    assert_eq!(arch["embed_dim"], 32);
    assert_eq!(arch["depth"], 2);
    assert_eq!(arch["patch_size"], 7);
    assert_eq!(arch["img_size"], 28);
    assert_eq!(arch["pool"], "avg");
    assert_eq!(arch["fc_norm"], true);
    assert_eq!(arch["final_norm"], false);
    assert_eq!(report["parameters"], 19658);
}

#[test]
fn curvature_writes_eigenvalues_trace_density_convexity_map_and_spectrum() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("curv");
    let out_s = out.display().to_string();
    let ckpt = model("mae");
    let run = ok(&[
        "curvature",
        "--checkpoint",
        &ckpt,
        "--loss",
        "mae",
        "--eval-images",
        "32",
        "--parts",
        "top",
        "trace",
        "density",
        "convexity",
        "spectrum",
        "--convexity-grid",
        "3",
        "--trace-samples",
        "4",
        "--lanczos-steps",
        "12",
        "--max-iterations",
        "20",
        "--top-k",
        "2",
        "--save-eigenvectors",
        "--grid",
        "-0.5:0.5:9",
        "-0.5:0.5:9",
        "--out",
        &out_s,
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("λ1 = ") && stderr.contains("λ2 = "),
        "{stderr}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("curvature.json")).unwrap())
            .unwrap();
    assert_eq!(report["spec"]["loss"]["kind"], "mae");
    assert_eq!(report["power"]["max_iterations"], 20);
    let top = report["top"]["eigenvalues"][0].as_f64().unwrap();
    let (lo, hi) = (
        report["density"]["support"][0].as_f64().unwrap(),
        report["density"]["support"][1].as_f64().unwrap(),
    );
    assert!(lo < hi);
    // Power iteration's dominant eigenvalue lies within the Lanczos support (up to its tolerance).
    assert!(
        top <= hi * 1.01 && top >= lo * 1.01 - 1e-9,
        "{top} in [{lo}, {hi}]"
    );
    assert_eq!(report["trace"]["samples"], 4);
    // How every product was formed, and the run-time check of its step.
    assert_eq!(report["hessian_vector_product"]["method"], "richardson");
    assert_eq!(
        report["hessian_vector_product"]["relative_step"].as_f64(),
        Some(vitscape::curvature::DEFAULT_RELATIVE_STEP)
    );
    assert!(
        stderr.contains("Hessian-vector products: Richardson extrapolation"),
        "{stderr}"
    );
    let check = &report["step_check"];
    assert!(check["products"].as_u64().unwrap() > 20, "{check}");
    assert!(
        check["gradients"].as_u64().unwrap() >= 4 * check["products"].as_u64().unwrap(),
        "{check}"
    );
    let worst = check["max_relative_truncation"].as_f64().unwrap();
    assert!(worst > 0.0 && worst.is_finite(), "{check}");
    // This random fixture has directions of near-zero curvature, where round-off dominates: the
    // CLI says so when the check passes its limit.
    if worst > vitscape::curvature::STEP_CHECK_LIMIT {
        assert!(stderr.contains("warning: that is above"), "{stderr}");
    }
    // 32 images in mini-batches of 16: two top eigenvalues, and statistics that match them.
    let values: Vec<f64> = report["spectrum"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(values.len(), 2);
    let negative = values.iter().filter(|v| **v < 0.0).count() as f64 / 2.0;
    assert_eq!(
        report["spectrum"]["fraction_negative"].as_f64(),
        Some(negative)
    );
    // The convexity map is a 3×3 surface over the --grid ranges with loss and ratio per cell.
    let map: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("convexity/surface.json")).unwrap())
            .unwrap();
    assert_eq!(map["x"].as_array().unwrap().len(), 3);
    assert_eq!(map["x"][0].as_f64(), Some(-0.5));
    for row in map["metrics"]["convexity"].as_array().unwrap() {
        for r in row.as_array().unwrap() {
            let r = r.as_f64().unwrap();
            assert!((0.0..=0.5).contains(&r), "{r}");
        }
    }
    assert!(map["metrics"]["loss"][1][1].as_f64().unwrap() > 0.0);
    assert_eq!(
        map["info"]["hessian_vector_product"]["method"],
        "richardson"
    );
    assert!(map["info"]["step_check"]["products"].as_u64().unwrap() > 0);
    assert!(out.join("convexity/convexity.png").exists());
    assert!(out.join("spectrum.png").exists());
    let hist = report["spectrum"]["histogram"].as_array().unwrap();
    let counted: u64 = hist.iter().map(|b| b[2].as_u64().unwrap()).sum();
    assert_eq!(counted, 2, "every mini-batch is in the histogram");

    // The top two eigenvectors as direction files, recorded with their hashes: a sweep of their
    // plane takes them as they are (unit length, orthogonal) and its spec names them.
    let files = report["top"]["eigenvector_files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{files:?}");
    let plane = tmp.path().join("plane");
    let plane_s = plane.display().to_string();
    let (e1, e2) = (
        out.join("eigenvector_1.safetensors").display().to_string(),
        out.join("eigenvector_2.safetensors").display().to_string(),
    );
    ok(&[
        "sweep",
        "--checkpoint",
        &ckpt,
        "--loss",
        "mae",
        "--eval-images",
        "32",
        "--directions",
        &e1,
        &e2,
        "--grid",
        "-0.5:0.5:3",
        "-0.5:0.5:3",
        "--no-plots",
        "--out",
        &plane_s,
    ]);
    let s = surface(&plane);
    let info = &s["info"];
    assert!(
        (info["direction_x_norm"].as_f64().unwrap() - 1.0).abs() < 1e-4,
        "{info}"
    );
    assert!(
        (info["direction_y_norm"].as_f64().unwrap() - 1.0).abs() < 1e-4,
        "{info}"
    );
    assert!(
        info["direction_cosine"].as_f64().unwrap().abs() < 1e-3,
        "{info}"
    );
    let source = &s["spec"]["directions"]["source"];
    assert_eq!(source["x"]["sha256"], files[0]["sha256"], "{source}");
    assert_eq!(source["y"]["sha256"], files[1]["sha256"], "{source}");
    let meta = vitscape::io::checkpoint::read_file(&out.join("eigenvector_1.safetensors"), None)
        .unwrap()
        .state
        .metadata;
    assert_eq!(meta["source"], "hessian-eigenvector");
    let lambda: f64 = meta["eigenvalue"].parse().unwrap();
    assert_eq!(lambda, top, "the file carries its eigenvalue");
}

#[test]
fn curvature_records_a_chosen_product_scheme_and_rejects_a_bad_step() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("central");
    let out_s = out.display().to_string();
    let ckpt = model("cls_token");
    let common = [
        "curvature",
        "--checkpoint",
        &ckpt,
        "--eval-images",
        "16",
        "--parts",
        "top",
        "--max-iterations",
        "3",
        "--out",
        &out_s,
    ];
    let mut args = common.to_vec();
    args.extend(["--hvp-method", "central", "--hvp-step", "1e-4"]);
    ok(&args);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("curvature.json")).unwrap())
            .unwrap();
    assert_eq!(report["hessian_vector_product"]["method"], "central");
    assert_eq!(
        report["hessian_vector_product"]["relative_step"].as_f64(),
        Some(1e-4)
    );
    assert_eq!(report["step_check"]["products"], 3);
    assert_eq!(report["step_check"]["gradients"], 6);
    assert!(report["step_check"]["max_relative_truncation"].is_null());
    let mut args = common.to_vec();
    args.extend(["--hvp-step", "0"]);
    let run = vitscape(&args);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("--hvp-step 0 must be a positive number"),
        "{stderr}"
    );
    let mut args = common.to_vec();
    args.push("--hvp-check-target=-1");
    let run = vitscape(&args);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("--hvp-check-target -1 must be 0"),
        "{stderr}"
    );
}
