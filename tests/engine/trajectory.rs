//! `vitscape trajectory` against numpy's SVD and scikit-learn's PCA on the same checkpoint series
//! (tests/reference/trajectory_pca.py), then the sweep of its plane with the path drawn over it.

use serde_json::Value;

use crate::common::{fails, fixtures, ok};

fn series() -> Vec<String> {
    (1..=6)
        .map(|e| {
            fixtures()
                .join(format!("trajectory/tiny-e{e:03}.safetensors"))
                .display()
                .to_string()
        })
        .collect()
}

fn json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn trajectory_pca_matches_numpy_and_sklearn_and_its_sweep_draws_the_path() {
    let reference = json(&fixtures().join("trajectory_pca.json"));
    assert!(
        reference["checked_with"].to_string().contains("sklearn"),
        "the fixture was checked against scikit-learn too"
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pca");
    let out_s = out.display().to_string();
    let files = series();
    let mut args = vec!["trajectory", "--out", &out_s];
    args.extend(files.iter().map(String::as_str));
    let run = ok(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("PC1 explains 95.5 %"), "{stderr}");

    let report = json(&out.join("trajectory.json"));
    let ratio = report["explained_variance_ratio"].as_array().unwrap();
    let want = reference["explained_variance_ratio"].as_array().unwrap();
    for (got, want) in ratio.iter().zip(want) {
        let (got, want) = (got.as_f64().unwrap(), want.as_f64().unwrap());
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    let path = report["path"].as_array().unwrap();
    let coords = reference["coords"].as_array().unwrap();
    assert_eq!(path.len(), 6);
    for (row, want) in path.iter().zip(coords) {
        for (key, k) in [("alpha", 0), ("beta", 1)] {
            let (got, want) = (row[key].as_f64().unwrap(), want[k].as_f64().unwrap());
            assert!(
                (got - want).abs() < 1e-5 * (1.0 + want.abs()),
                "{row} vs {want}"
            );
        }
    }
    // The last checkpoint is θ*: the origin.
    assert!(path[5]["alpha"].as_f64().unwrap().abs() < 1e-6);

    // The components, tensor by tensor (same sign convention), and zero where left out.
    for (k, want) in reference["components"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let file = out.join(format!("pca_{}.safetensors", k + 1));
        let state = vitscape::io::checkpoint::read_file(&file, None)
            .unwrap()
            .state;
        let want = want.as_object().unwrap();
        for (name, tensor) in &state.tensors {
            match want.get(name) {
                Some(values) => {
                    let values = values.as_array().unwrap();
                    assert_eq!(values.len(), tensor.data.len(), "{name}");
                    for (a, b) in tensor.data.iter().zip(values) {
                        let b = b.as_f64().unwrap();
                        assert!((f64::from(*a) - b).abs() < 1e-5, "{name}: {a} vs {b}");
                    }
                }
                None => assert!(
                    tensor.data.iter().all(|v| *v == 0.0),
                    "{name} is left out (rank 1 or pos_embed)"
                ),
            }
        }
        assert_eq!(state.metadata["source"], "trajectory-pca");
    }

    // Sweep the plane as the command suggests, on a small grid: the surface records the path.
    let suggested = report["sweep_command"].as_str().unwrap();
    assert!(suggested.contains("--directions"), "{suggested}");
    let grid: Vec<&str> = suggested
        .split_whitespace()
        .skip_while(|w| *w != "--grid")
        .skip(1)
        .take(2)
        .collect();
    let small: Vec<String> = grid.iter().map(|axis| axis.replace(":21", ":5")).collect();
    let plane = tmp.path().join("plane");
    let plane_s = plane.display().to_string();
    let (p1, p2) = (
        out.join("pca_1.safetensors").display().to_string(),
        out.join("pca_2.safetensors").display().to_string(),
    );
    let sweep = ok(&[
        "sweep",
        "--checkpoint",
        &files[5],
        "--eval-images",
        "16",
        "--directions",
        &p1,
        &p2,
        "--grid",
        &small[0],
        &small[1],
        "--out",
        &plane_s,
    ]);
    let stderr = String::from_utf8_lossy(&sweep.stderr);
    assert!(stderr.contains("training path: 6 checkpoints"), "{stderr}");
    assert!(!stderr.contains("outside the grid"), "{stderr}");
    let surface = json(&plane.join("surface.json"));
    let drawn = surface["info"]["trajectory"]["points"].as_array().unwrap();
    assert_eq!(drawn.len(), 6);
    for (p, row) in drawn.iter().zip(path) {
        assert_eq!(p["sha256"], row["sha256"]);
        assert_eq!(p["alpha"], row["alpha"]);
        assert_eq!(p["beta"], row["beta"]);
    }
    assert!(plane.join("contour.png").exists());
}

#[test]
fn trajectories_that_cannot_make_a_plane_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().display().to_string();
    let files = series();
    // The same checkpoint three times: no movement at all.
    let err = fails(&["trajectory", "--out", &out, &files[0], &files[0], &files[0]]);
    assert!(err.contains("move along 0 independent direction"), "{err}");
    // Two checkpoints: clap asks for a third.
    let err = fails(&["trajectory", "--out", &out, &files[0], &files[1]]);
    assert!(err.contains("3"), "{err}");
    // Another architecture in the series.
    let other = fixtures().join("models/cls_token.safetensors");
    let other = other.display().to_string();
    let err = fails(&["trajectory", "--out", &out, &files[0], &other, &files[5]]);
    assert!(
        err.contains("cls_token.safetensors has another architecture"),
        "{err}"
    );
}
