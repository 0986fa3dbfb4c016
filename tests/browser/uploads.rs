//! A researcher's own files on the page: an uploaded checkpoint (and its permalink), a training
//! run's plane, a path and a Bézier curve between two uploads, a Hessian plane — each against the
//! CLI's numbers for the same files.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::harness::*;

#[test]
fn uploaded_checkpoint_matches_the_cli_and_its_permalink_reopens_with_the_same_numbers() {
    let _guard = serial();
    let server = Server::start(dist());
    let checkpoint = root().join("tests/fixtures/models/mae.safetensors");
    let b = page_without_demo(&server);
    b.upload("#checkpoint-input", &[&checkpoint]);
    b.wait_for("the inspection", Duration::from_secs(30), |b| {
        b.text("#uploads").contains("mae.safetensors")
    });
    let inspection = b.text("#uploads");
    assert!(
        inspection.contains("D=32") && inspection.contains("MAE decoder"),
        "{inspection}"
    );
    small_grid(&b, 48);
    b.set("#mask-seed", "3");
    b.click("#run-uploads");
    b.wait_for(
        "the upload's surface",
        Duration::from_secs(120),
        Browser::finished,
    );
    let page = b.exported_surface(0);
    assert_eq!(page["spec"]["loss"]["kind"], "mae");
    b.screenshot("upload-mae");

    // The CLI on the same spec: the demo subset is Fashion-MNIST's test set, permuted with seed 0.
    let out = tempfile::tempdir().unwrap();
    let cli = cli_surface(
        vitscape()
            .args(["sweep", "--checkpoint"])
            .arg(&checkpoint)
            .args([
                "--loss",
                "mae",
                "--grid=-1:1:5",
                "--grid=-0.5:0.5:3",
                "--seed",
                "7",
                "--mask-seed",
                "3",
                "--batch-size",
                "64",
            ])
            .args(demo_subset(48)),
        out.path(),
    );
    assert_eq!(
        cli["spec"]["checkpoint"]["sha256"],
        page["spec"]["checkpoint"]["sha256"]
    );
    assert_eq!(cli["spec"]["directions"], page["spec"]["directions"]);
    assert_eq!(cli["spec"]["loss"], page["spec"]["loss"]);
    let (p, c) = (values(&page), values(&cli));
    assert_eq!(p.len(), 15);
    assert_eq!(p.len(), c.len());
    for ((name, iy, ix, a), (_, _, _, e)) in p.iter().zip(&c) {
        assert!(
            (a - e).abs() <= 1e-4 * e.abs(),
            "{name}[{iy}][{ix}]: page {a} vs CLI {e}"
        );
    }
    // The page's direction file (a blob the worker made), saved as a user would, holds the
    // CLI's tensors and metadata (the safetensors crate orders the metadata as it likes, so
    // the bytes of the header may differ).
    b.click("#panel-0 button[data-file='direction_x.safetensors']");
    let read = |bytes: &[u8]| {
        vitscape::io::checkpoint::read_checkpoint(bytes, None)
            .unwrap()
            .state
    };
    let (saved, written) = (
        read(&b.downloaded("direction_x.safetensors")),
        read(&std::fs::read(out.path().join("direction_x.safetensors")).unwrap()),
    );
    assert!(!saved.tensors.is_empty());
    assert_eq!(saved.metadata, written.metadata);
    assert!(
        saved.tensors == written.tensors,
        "the page's direction_x.safetensors holds other values than the CLI's"
    );

    // "Copy CLI command": the line the page offers, run as written from the repository root
    // (`--search .` finds the uploaded checkpoint by its sha256, `--search static/demo` the demo
    // subset), recomputes the page's surface from its spec.
    b.click("#copy-command");
    b.wait_for("the CLI command", Duration::from_secs(10), |b| {
        b.text("#notice").contains("CLI command")
    });
    let command = b
        .js("return document.getElementById('cli-command').value")
        .as_str()
        .unwrap()
        .to_string();
    assert!(command.starts_with("vitscape sweep --spec '"), "{command}");
    b.screenshot("cli-command");
    let (line, _) = command.rsplit_once(" --out ").unwrap();
    let again = tempfile::tempdir().unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' {} --no-plots --out '{}'",
            env!("CARGO_BIN_EXE_vitscape"),
            line.strip_prefix("vitscape ").unwrap(),
            again.path().display()
        ))
        .current_dir(root())
        .status()
        .unwrap();
    assert!(status.success(), "{command}");
    let recomputed: Value =
        serde_json::from_slice(&std::fs::read(again.path().join("surface.json")).unwrap()).unwrap();
    assert_eq!(recomputed["spec"], page["spec"]);
    let r = values(&recomputed);
    assert_eq!(p.len(), r.len());
    for ((name, iy, ix, a), (_, _, _, e)) in p.iter().zip(&r) {
        assert!(
            (a - e).abs() <= 1e-4 * e.abs(),
            "{name}[{iy}][{ix}]: page {a} vs its CLI command {e}"
        );
    }

    // Share: a fresh browser opens the link and shows the same numbers at once.
    b.click("#copy-link");
    let link = b
        .js("return document.getElementById('permalink').value")
        .as_str()
        .unwrap()
        .to_string();
    assert!(link.contains("#vitscape1."), "{link}");
    drop(b);
    // The demo's images arrive late: a recomputation asked for before waits for them.
    *server.held.lock().unwrap() = Some("/demo/eval-images".into());
    let r = Browser::start(false);
    r.open(&link);
    r.wait_for("the shared panel", Duration::from_secs(30), |b| {
        b.text("#status-0").contains("shared link")
    });
    // Redraws are throttled, so the picture may follow the status line by a moment.
    r.wait_for("the shared picture", Duration::from_secs(30), |b| {
        b.canvas_colours(0) > 20 && b.pictures(1)
    });
    let shared = r.exported_surface(0);
    assert_eq!(shared["spec"], page["spec"]);
    let (lo, hi) = p.iter().fold((f64::MAX, f64::MIN), |(lo, hi), v| {
        (lo.min(v.3), hi.max(v.3))
    });
    let tolerance = (hi - lo) / 65534.0 / 2.0 * 1.001;
    for ((name, iy, ix, a), (_, _, _, s)) in p.iter().zip(values(&shared)) {
        assert!(
            (a - s).abs() <= tolerance,
            "{name}[{iy}][{ix}]: computed {a}, link {s}"
        );
    }
    r.screenshot("permalink-opened");
    // The recipient drops in the same checkpoint and recomputes: the page says the numbers agree.
    r.upload("#checkpoint-input", &[&checkpoint]);
    r.wait_for("the inspection", Duration::from_secs(30), |b| {
        b.text("#uploads").contains("mae.safetensors")
    });
    r.click("#recompute");
    r.wait_for("the wait", Duration::from_secs(10), |b| {
        b.text("#notice").contains("still loading")
    });
    *server.held.lock().unwrap() = None;
    r.wait_for(
        "the recomputation",
        Duration::from_secs(120),
        Browser::finished,
    );
    let agreement = r.text("#agreement-0");
    assert!(agreement.contains("the numbers agree"), "{agreement}");
}

/// A training run's plane on the page: `vitscape trajectory`'s two direction files dropped beside
/// the run's last checkpoint set the axes to cover the path (said in the notice), the sweep
/// matches the CLI's over the same files, and the path is drawn over the contours.
#[test]
fn a_training_runs_plane_from_direction_files_matches_the_cli_and_draws_its_path() {
    let _guard = serial();
    let server = Server::start(dist());
    let series: Vec<std::path::PathBuf> = (1..=6)
        .map(|e| {
            root().join(format!(
                "tests/fixtures/trajectory/tiny-e{e:03}.safetensors"
            ))
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let pca = tmp.path().join("pca");
    let status = vitscape()
        .arg("trajectory")
        .arg("--out")
        .arg(&pca)
        .args(&series)
        .status()
        .unwrap();
    assert!(status.success());
    let (x_file, y_file) = (pca.join("pca_1.safetensors"), pca.join("pca_2.safetensors"));

    let b = page_without_demo(&server);
    b.upload("#checkpoint-input", &[&series[5]]);
    b.wait_for("the inspection", Duration::from_secs(30), |b| {
        b.text("#uploads").contains("tiny-e006")
    });
    b.upload("#directions-input", &[&x_file]);
    b.wait_for("the x direction", Duration::from_secs(30), |b| {
        b.text("#directions-label")
            .contains("principal component 1")
    });
    b.upload("#directions-input", &[&y_file]);
    b.wait_for("the axes", Duration::from_secs(30), |b| {
        b.text("#notice").contains("Axes set to")
    });
    let label = b.text("#directions-label");
    assert!(
        label.contains(
            "y = pca_2.safetensors (principal component 2 of a training run of 6 checkpoints"
        ),
        "{label}"
    );
    let value = |id: &str| {
        b.js(&format!("return document.getElementById('{id}').value"))
            .as_str()
            .unwrap()
            .to_string()
    };
    let (x, y) = (value("axis-x"), value("axis-y"));
    // The axes `vitscape trajectory` suggests for the same run.
    let report: Value =
        serde_json::from_slice(&std::fs::read(pca.join("trajectory.json")).unwrap()).unwrap();
    let suggested = report["sweep_command"].as_str().unwrap();
    assert!(
        suggested.contains(&format!("--grid {x} {y}")),
        "{x} {y}: {suggested}"
    );
    let (x, y) = (x.replace(":21", ":5"), y.replace(":21", ":4"));
    b.set("#axis-x", &x);
    b.set("#axis-y", &y);
    b.set("#eval-images", "32");
    b.click("#run-uploads");
    b.wait_for(
        "the plane's surface",
        Duration::from_secs(120),
        Browser::finished,
    );
    let page = b.exported_surface(0);
    assert_eq!(page["spec"]["directions"]["source"]["kind"], "files");
    let points = page["info"]["trajectory"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    // The path (dark grey, over a white halo: six dots and the lines between them) is on the
    // canvas; nothing else is drawn in its colour. The page redraws at most every 300 ms, so the
    // last cells' picture may follow the "done" by that much.
    b.js("document.getElementById('canvas-0').scrollIntoView(); return 0");
    b.wait_for("the path on the plane", Duration::from_secs(10), |b| {
        b.pixels_where("canvas-0", "r == 25 && g == 25 && b == 25") >= 20
    });
    b.screenshot("trajectory-plane");

    let out = tmp.path().join("sweep");
    let cli = cli_surface(
        vitscape()
            .args(["sweep", "--checkpoint"])
            .arg(&series[5])
            .arg("--directions")
            .args([&x_file, &y_file])
            .args(demo_subset(32))
            .args([format!("--grid={x}"), format!("--grid={y}")]),
        &out,
    );
    for axis in ["x", "y"] {
        assert_eq!(
            cli["spec"]["directions"]["source"][axis]["sha256"],
            page["spec"]["directions"]["source"][axis]["sha256"]
        );
    }
    assert_eq!(cli["info"]["trajectory"], page["info"]["trajectory"]);
    let (p, c) = (values(&page), values(&cli));
    // Loss and accuracy at each of the 5×4 cells.
    assert_eq!(p.len(), 40);
    assert_values_agree(&p, &c, ("page", "CLI"));
}

/// The page with two training checkpoints dropped in (`tiny-e001`, `tiny-e006`) and the straight
/// path between them computed on t ∈ [−0.5, 1.5] (9 points, 32 demo images): the browser and the
/// two files.
fn path_between_uploads(server: &Server) -> (Browser, PathBuf, PathBuf) {
    let start = root().join("tests/fixtures/trajectory/tiny-e001.safetensors");
    let end = root().join("tests/fixtures/trajectory/tiny-e006.safetensors");
    let b = page_without_demo(server);
    b.upload("#checkpoint-input", &[&start]);
    b.upload("#checkpoint-input", &[&end]);
    b.wait_for("both inspections", Duration::from_secs(30), |b| {
        let u = b.text("#uploads");
        u.contains("tiny-e001") && u.contains("tiny-e006")
    });
    b.click("#path-mode");
    b.wait_for("the path's axis", Duration::from_secs(10), |b| {
        b.text("#notice").contains("a path is 1-D")
    });
    b.set("#axis-x", "-0.5:1.5:9");
    b.set("#eval-images", "32");
    b.click("#run-uploads");
    b.wait_for("the path", Duration::from_secs(120), Browser::finished);
    (b, start, end)
}

/// A path on the page: two uploads joined by the straight line (t = 0 the first, t = 1 the
/// second), its loss and accuracy along t, and the barrier the CLI records for the same path.
#[test]
fn a_path_between_two_uploads_has_the_clis_values_and_barrier() {
    let _guard = serial();
    let server = Server::start(dist());
    let (b, start, end) = path_between_uploads(&server);
    b.wait_for("the barrier", Duration::from_secs(10), |b| {
        b.text("#barrier-0").contains("loss barrier")
    });
    let barrier = b.text("#barrier-0");
    assert!(barrier.contains("accuracy barrier"), "{barrier}");
    let page = b.exported_surface(0);
    assert_eq!(page["spec"]["directions"]["source"]["kind"], "interpolate");
    b.wait_for("the path's picture", Duration::from_secs(30), |b| {
        b.colours("canvas-0") > 3
    });
    b.js("document.getElementById('canvas-0').scrollIntoView(); return 0");
    b.screenshot("path-between-uploads");

    let tmp = tempfile::tempdir().unwrap();
    let cli = cli_surface(
        vitscape()
            .args(["sweep", "--checkpoint"])
            .arg(&start)
            .arg("--interpolate")
            .arg(&end)
            .args(demo_subset(32))
            .arg("--grid=-0.5:1.5:9"),
        tmp.path(),
    );
    assert_eq!(
        cli["spec"]["directions"]["source"]["target"]["sha256"],
        page["spec"]["directions"]["source"]["target"]["sha256"]
    );
    let (p, c) = (values(&page), values(&cli));
    assert_eq!(p.len(), 18);
    assert_values_agree(&p, &c, ("page", "CLI"));
    let (pb, cb) = (
        page["info"]["barrier"].as_array().unwrap(),
        cli["info"]["barrier"].as_array().unwrap(),
    );
    assert_eq!(pb.len(), 2);
    for (x, y) in pb.iter().zip(cb) {
        assert_eq!(x["metric"], y["metric"]);
        let (h, k) = (x["height"].as_f64().unwrap(), y["height"].as_f64().unwrap());
        assert!(
            (h - k).abs() <= 1e-4 * k.abs().max(1e-3),
            "barrier {h} vs CLI {k}"
        );
        assert!(
            barrier.contains(&format!("{h:.4}")),
            "{h:.4} not in: {barrier}"
        );
    }
}

/// A Bézier curve trained on the page along a path between two uploads: the worker's control
/// point is `vitscape connect --train-on eval`'s on the same images and settings, the page then
/// sweeps the curve (the CLI sweeps the page's file to the same numbers), and both paths join
/// the mode-connectivity section with their barriers and figure.
#[test]
fn a_bezier_curve_trained_on_the_page_matches_vitscape_connect() {
    let _guard = serial();
    let server = Server::start(dist());
    let (b, start, end) = path_between_uploads(&server);
    // A field out of range is named, and nothing starts.
    b.set("#bend-lr", "-1");
    b.click("#train-bend");
    b.wait_for("the message", Duration::from_secs(10), |b| {
        b.text("#error")
            .contains("learning rate must be a number above 0")
    });
    b.set("#bend-steps", "12");
    b.set("#bend-batch", "8");
    b.set("#bend-lr", "2e-3");
    b.set("#bend-seed", "3");
    b.click("#train-bend");
    b.wait_for("the curve", Duration::from_secs(300), |b| {
        b.text("#notice").contains("Control points trained") && b.finished()
    });
    let notice = b.text("#notice");
    assert!(
        notice.contains("over the last 10 % of 12 steps"),
        "{notice}"
    );
    b.wait_for("the pair", Duration::from_secs(30), |b| {
        b.text("#connect").contains("trained on this page") && b.colours("connect-0") > 3
    });
    let pair = b.text("#connect .connection");
    assert!(pair.contains("Loss barrier"), "{pair}");
    assert!(pair.contains("--train-on eval"), "{pair}");
    b.js("document.getElementById('connect').scrollIntoView(); return 0");
    b.screenshot("bezier-on-the-page");
    let page = b.exported_surface(0);
    let source = &page["spec"]["directions"]["source"];
    assert_eq!(source["kind"], "bezier");
    b.click("#panel-0 button[data-file='bend.safetensors']");
    let bytes = b.downloaded("bend.safetensors");
    assert_eq!(
        vitscape::io::checkpoint::sha256_hex(&bytes),
        source["bend"]["sha256"],
        "the offered file is the one the spec names"
    );

    // vitscape connect on the same images and settings.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("connect");
    let status = vitscape()
        .args(["connect", "--checkpoint"])
        .arg(&start)
        .arg("--interpolate")
        .arg(&end)
        .args(demo_subset(32))
        .args([
            "--grid=-0.5:1.5:9",
            "--train-on",
            "eval",
            "--train-batch",
            "8",
            "--steps",
            "12",
            "--lr",
            "2e-3",
            "--bend-seed",
            "3",
            "--no-plots",
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let read = |bytes: &[u8]| {
        vitscape::io::checkpoint::read_checkpoint(bytes, None)
            .unwrap()
            .state
    };
    let (ours, cli) = (
        read(&bytes),
        read(&std::fs::read(out.join("bend.safetensors")).unwrap()),
    );
    let record = |s: &vitscape::io::checkpoint::StateDict| -> Value {
        serde_json::from_str(&s.metadata["bend"]).unwrap()
    };
    let (r_page, r_cli) = (record(&ours), record(&cli));
    for key in ["loss", "train_batch", "config"] {
        assert_eq!(r_page[key], r_cli[key], "{key}");
    }
    // The same images (the page's are the embedded demo subset, the CLI's Fashion-MNIST's test
    // split: the same first 32 of the permutation with seed 0).
    for key in ["eval_images", "mean", "std", "subset_seed"] {
        assert_eq!(r_page["train_data"][key], r_cli["train_data"][key], "{key}");
    }
    // The same files at the ends (the page names them as dropped, the CLI by path).
    for key in ["start", "end"] {
        assert_eq!(r_page[key]["sha256"], r_cli[key]["sha256"], "{key}");
    }
    let (l_page, l_cli) = (
        r_page["final_loss"].as_f64().unwrap(),
        r_cli["final_loss"].as_f64().unwrap(),
    );
    assert!(
        (l_page - l_cli).abs() <= 1e-4 * l_cli.abs(),
        "loss on the curve {l_page} vs the CLI's {l_cli}"
    );
    // The control points agree: their displacements from the line's midpoint point the same
    // way and are as long (Adam's steps are ±lr where a gradient is near 0, so a sign there may
    // differ between two float orders).
    let (a, e) = (
        read(&std::fs::read(&start).unwrap()),
        read(&std::fs::read(&end).unwrap()),
    );
    let (mut dot, mut nn_page, mut nn_cli) = (0.0_f64, 0.0_f64, 0.0_f64);
    for (name, t) in &ours.tensors {
        let (c, a, e) = (&cli.tensors[name], &a.tensors[name], &e.tensors[name]);
        for i in 0..t.data.len() {
            let mid = 0.5 * (f64::from(a.data[i]) + f64::from(e.data[i]));
            let (p, q) = (f64::from(t.data[i]) - mid, f64::from(c.data[i]) - mid);
            dot += p * q;
            nn_page += p * p;
            nn_cli += q * q;
        }
    }
    let cos = dot / (nn_page.sqrt() * nn_cli.sqrt());
    assert!(
        nn_page > 0.0 && cos > 0.999,
        "cos {cos} between the page's and the CLI's steps"
    );
    assert!(
        (nn_page.sqrt() / nn_cli.sqrt() - 1.0).abs() < 1e-3,
        "step lengths {} and {}",
        nn_page.sqrt(),
        nn_cli.sqrt()
    );

    // The CLI sweeps the page's curve to the page's numbers.
    let bend = tmp.path().join("bend.safetensors");
    std::fs::write(&bend, &bytes).unwrap();
    let swept = cli_surface(
        vitscape()
            .args(["sweep", "--checkpoint"])
            .arg(&start)
            .arg("--interpolate")
            .arg(&end)
            .arg("--bend")
            .arg(&bend)
            .args(demo_subset(32))
            .arg("--grid=-0.5:1.5:9"),
        &tmp.path().join("bezier"),
    );
    let (p, c) = (values(&page), values(&swept));
    assert_eq!(p.len(), 18);
    assert_values_agree(&p, &c, ("page", "CLI"));

    // The curve's permalink: a fresh browser shows its numbers at once, and recomputes them from
    // the two checkpoints and the control point dropped in.
    b.click("#copy-link");
    let link = b
        .js("return document.getElementById('permalink').value")
        .as_str()
        .unwrap()
        .to_string();
    drop(b);
    let r = Browser::start(false);
    r.open(&link);
    r.wait_for("the shared curve", Duration::from_secs(30), |b| {
        b.text("#status-0").contains("shared link")
    });
    let shared = r.exported_surface(0);
    assert_eq!(shared["spec"], page["spec"]);
    r.upload("#checkpoint-input", &[&start]);
    r.upload("#checkpoint-input", &[&end]);
    r.upload("#directions-input", &[&bend]);
    r.wait_for("the files", Duration::from_secs(30), |b| {
        let u = b.text("#uploads");
        u.contains("tiny-e001")
            && u.contains("tiny-e006")
            && b.text("#notice")
                .contains("a Bézier curve's control point, kept")
    });
    r.click("#recompute");
    r.wait_for(
        "the recomputation",
        Duration::from_secs(120),
        Browser::finished,
    );
    let agreement = r.text("#agreement-0");
    assert!(agreement.contains("the numbers agree"), "{agreement}");
}

/// A Hessian plane on the page: the worker's top-2 eigenvectors at θ* are the CLI's
/// (`vitscape curvature --top-k 2 --save-eigenvectors`, itself checked against the exact
/// Hessian), the panel is then swept on their plane, and the files it offers sweep the same
/// numbers from the CLI.
#[test]
fn a_hessian_plane_on_the_page_uses_the_clis_eigenvectors_and_sweeps_their_plane() {
    let _guard = serial();
    let server = Server::start(dist());
    let checkpoint = root().join("tests/fixtures/models/hessian_tiny.safetensors");
    let b = page_without_demo(&server);
    b.upload("#checkpoint-input", &[&checkpoint]);
    b.wait_for("the inspection", Duration::from_secs(30), |b| {
        b.text("#uploads").contains("hessian_tiny")
    });
    small_grid(&b, 32);
    b.set("#power-iterations", "300");
    b.click("#run-uploads");
    b.wait_for(
        "the random plane",
        Duration::from_secs(120),
        Browser::finished,
    );
    b.click("#hessian-plane");
    b.wait_for("the Hessian plane", Duration::from_secs(300), |b| {
        b.text("#notice").contains("Hessian planes") && b.finished()
    });
    let notice = b.text("#notice");
    assert!(
        notice.contains("λ1 = ") && notice.contains("λ2 = "),
        "{notice}"
    );
    let page = b.exported_surface(0);
    assert_eq!(page["spec"]["directions"]["source"]["kind"], "files");
    assert_eq!(
        page["spec"]["directions"]["source"]["x"]["name"],
        "eigenvector_1.safetensors"
    );
    // Redraws are throttled, so the picture may follow the progress line by a moment.
    b.wait_for("the plane's picture", Duration::from_secs(30), |b| {
        b.pictures(1)
    });
    b.js("document.getElementById('canvas-0').scrollIntoView(); return 0");
    b.screenshot("hessian-plane");

    // The CLI's eigenvectors on the same loss, images and solver settings.
    let tmp = tempfile::tempdir().unwrap();
    let curvature = tmp.path().join("curvature");
    let status = vitscape()
        .args(["curvature", "--checkpoint"])
        .arg(&checkpoint)
        .args(demo_subset(32))
        .args([
            "--parts",
            "top",
            "--top-k",
            "2",
            "--save-eigenvectors",
            "--max-iterations",
            "300",
            "--tolerance",
            "1e-6",
            "--no-plots",
            "--out",
        ])
        .arg(&curvature)
        .status()
        .unwrap();
    assert!(status.success());
    let read = |bytes: &[u8]| {
        vitscape::io::checkpoint::read_checkpoint(bytes, None)
            .unwrap()
            .state
    };
    let flat = |s: &vitscape::io::checkpoint::StateDict| -> Vec<f32> {
        s.tensors.values().flat_map(|t| t.data.clone()).collect()
    };
    let mut saved = Vec::new();
    for k in 1..=2 {
        let name = format!("eigenvector_{k}.safetensors");
        b.click(&format!("#panel-0 button[data-file='{name}']"));
        let bytes = b.downloaded(&name);
        assert_eq!(
            vitscape::io::checkpoint::sha256_hex(&bytes),
            page["spec"]["directions"]["source"][if k == 1 { "x" } else { "y" }]["sha256"],
            "the offered file is the one the spec names"
        );
        let ours = read(&bytes);
        let cli = read(&std::fs::read(curvature.join(&name)).unwrap());
        assert_eq!(ours.metadata["source"], "hessian-eigenvector");
        let (a, c) = (flat(&ours), flat(&cli));
        let dot: f64 = a
            .iter()
            .zip(&c)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        assert!(
            dot > 0.999,
            "eigenvector {k}: cos {dot} between the page's and the CLI's"
        );
        let (l_page, l_cli): (f64, f64) = (
            ours.metadata["eigenvalue"].parse().unwrap(),
            cli.metadata["eigenvalue"].parse().unwrap(),
        );
        assert!(
            (l_page - l_cli).abs() <= 1e-3 * l_cli.abs(),
            "λ{k}: {l_page} vs {l_cli}"
        );
        let path = tmp.path().join(&name);
        std::fs::write(&path, &bytes).unwrap();
        saved.push(path);
    }

    // The CLI sweeps the plane of the page's files: the same numbers.
    let out = tmp.path().join("sweep");
    let cli = cli_surface(
        vitscape()
            .args(["sweep", "--checkpoint"])
            .arg(&checkpoint)
            .arg("--directions")
            .args(&saved)
            .args(demo_subset(32))
            .args(["--grid=-1:1:5", "--grid=-0.5:0.5:3"]),
        &out,
    );
    let (p, c) = (values(&page), values(&cli));
    // Loss and accuracy at each of the 5×3 cells.
    assert_eq!(p.len(), 30);
    assert_values_agree(&p, &c, ("page", "CLI"));
}
