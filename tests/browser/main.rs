//! The web app in a real headless Chromium, driven over WebDriver (chromedriver), against the
//! Trunk-built `dist/` served on 127.0.0.1 by a small static server in this file.
//!
//! Needs `trunk`, `wasm-bindgen`, `chromium` and `chromedriver` (`.ci/setup` installs them). The
//! app is built once (`trunk build --release`, incremental) by the first test that needs it.
//! Screenshots of every view land in `target/screenshots/` — look at them.

mod faults;
mod harness;
mod load;

use serde_json::Value;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::*;

#[test]
fn demo_renders_on_the_cpu_fallback_and_cancel_stops_the_worker() {
    let _guard = serial();
    let server = Server::start(dist());
    let b = Browser::start(false);
    b.open(&server.url(""));
    b.wait_for("CPU backend", Duration::from_secs(60), |b| {
        b.text("#backend").contains("CPU")
    });
    assert!(
        b.text("#backend").contains("navigator.gpu") || b.text("#backend").contains("adapter"),
        "the page says why it is not on the GPU: {}",
        b.text("#backend")
    );
    // The cells are spread over one worker per core.
    let cores = b
        .js("return navigator.hardwareConcurrency")
        .as_u64()
        .unwrap_or(1)
        .clamp(1, 4);
    if cores > 1 {
        b.wait_for("the pool", Duration::from_secs(60), |b| {
            b.text("#backend").contains(&format!("× {cores} workers"))
        });
    }
    // Coarse to fine: a picture of all three models long before the grid is full — a picture
    // being what a user sees: the canvases coloured by the landscape, not a count of cells.
    b.wait_for("a first picture", Duration::from_secs(300), |b| {
        b.pictures(3)
    });
    let (done, total) = b.progress();
    assert!(
        done < total,
        "the first picture came only with the full grid"
    );
    // One plane per model (the demo's mode-connectivity figures are canvases of their own).
    assert_eq!(
        b.js("return document.querySelectorAll('canvas[id^=\"canvas-\"]').length")
            .as_u64(),
        Some(3)
    );
    for i in 0..3 {
        assert!(b.canvas_colours(i) > 20, "panel {i} looks blank");
    }
    // The panels get the window's width (1400 px): three side by side, each over 400 px.
    let widths = b.js(
        "return [0, 1, 2].map(i => document.getElementById('canvas-' + i).getBoundingClientRect())
                .map(r => [Math.round(r.left), Math.round(r.width)])",
    );
    let widths: Vec<(i64, i64)> = widths
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w[0].as_i64().unwrap(), w[1].as_i64().unwrap()))
        .collect();
    assert!(widths.iter().all(|w| w.1 >= 400), "{widths:?}");
    assert!(
        widths[0].0 < widths[1].0 && widths[1].0 < widths[2].0,
        "side by side: {widths:?}"
    );
    let labels = b.text("#panels");
    for name in ["Sup-ViT", "MAE-ViT", "RC-MAE-ViT"] {
        assert!(
            labels.contains(name) || b.text("#summary").contains(name),
            "{name} missing"
        );
    }
    b.screenshot("demo-cpu-partial");

    // Cancel: the count stops moving, the partial picture stays.
    b.click("#cancel");
    let (stopped, total) = b.progress();
    assert!(
        stopped < total,
        "the demo finished before it could be cancelled"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(b.progress().0, stopped, "cells still arrive after Cancel");
    assert!(b.text("#progress-text").contains("stopped"));
    assert!(b.text("#status-0").contains("cancelled"));
    assert!(b.canvas_colours(0) > 20);

    // A small complete demo, each view looked at.
    small_grid(&b, 32);
    b.click("#demo-pretraining");
    b.wait_for(
        "the small demo",
        Duration::from_secs(300),
        Browser::finished,
    );
    for (button, name) in [
        ("#plot-contour", "demo-contour"),
        ("#plot-heatmap", "demo-heatmap"),
        ("#plot-surface", "demo-surface3d"),
        ("#plot-line", "demo-line"),
    ] {
        b.click(button);
        std::thread::sleep(Duration::from_millis(400));
        assert!(b.canvas_colours(1) > 20, "{name} is blank");
        b.screenshot(name);
    }
    let summary = b.text("#summary");
    assert!(
        summary.contains("RC-MAE-ViT") && summary.contains('%'),
        "{summary}"
    );
    // The merge tree of each finished panel: its numbers in the table, its barcode under the
    // plot with at least the main basin's bar in blue.
    let topology = b.js(
        "return [...document.querySelectorAll('#summary td.topology')].map(t => t.textContent)",
    );
    let topology: Vec<&str> = topology
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(topology.len(), 3, "{topology:?}");
    for t in &topology {
        assert!(
            t.contains(" minima; main ") && t.contains("% of the plane, θ* in"),
            "{t}"
        );
    }
    for i in 0..3 {
        let blue = b.pixels_where(
            &format!("barcode-{i}"),
            "Math.abs(r - 42) < 12 && Math.abs(g - 111) < 12 && Math.abs(b - 176) < 12",
        );
        assert!(blue > 200, "panel {i}'s barcode has {blue} blue pixels");
    }
    b.js("document.getElementById('barcode-0').scrollIntoView()");
    b.screenshot("demo-barcode");
    b.js("window.scrollTo(0, 0)");
    // The diverging colour map: red where the loss is above the model's own L(0) (most of a
    // trained model's plane); under viridis only θ*'s red marker. Centred on each model's own
    // L(0), it gives each panel its own scale: "one colour scale" is set aside (a shared range
    // would set MAE-ViT's half-width by Sup-ViT's much larger rise, leaving it pale).
    let red = "r > g + 60 && r > b + 40";
    b.click("#plot-heatmap");
    std::thread::sleep(Duration::from_millis(400));
    let marker = b.pixels_where("canvas-1", red);
    b.set("#colour-map", "diverging");
    std::thread::sleep(Duration::from_millis(400));
    let reds = b.pixels_where("canvas-1", red);
    assert!(
        reds > 5_000 + 10 * marker,
        "{reds} red pixels under the diverging map, {marker} under viridis"
    );
    assert_eq!(
        b.js("return document.getElementById('shared-scale').disabled")
            .as_bool(),
        Some(true),
        "one colour scale offered under the diverging map"
    );
    b.screenshot("demo-diverging");
    b.set("#colour-map", "viridis");
    // The figure for a paper, one click each: a 7-in PNG at 300 dpi (recorded in the file) and
    // an SVG, the three panels side by side with the caption from their specs.
    assert!(b.text("#figure-export").contains("3 panels"));
    b.click("#figure-png");
    let png = b.downloaded("comparison.png");
    let figure = image::load_from_memory(&png).expect("a PNG").to_rgb8();
    assert_eq!(figure.width(), 2100, "7 in at 300 dpi");
    let dpi = vitscape::plot::resolution_of(&png).expect("the resolution in the PNG");
    assert!((dpi.0 - 300.0).abs() < 0.01, "{dpi:?}");
    let colours: std::collections::HashSet<[u8; 3]> = figure.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 200,
        "{} colours in the figure",
        colours.len()
    );
    let shots = harness::root().join("target/screenshots");
    std::fs::write(shots.join("demo-figure.png"), &png).unwrap();
    b.click("#figure-svg");
    let svg = String::from_utf8(b.downloaded("comparison.svg")).unwrap();
    for name in ["Sup-ViT", "MAE-ViT", "RC-MAE-ViT"] {
        // plotters writes each text on its own line inside its <text> element.
        assert!(
            svg.contains(&format!("\n{name}\n</text>")),
            "no panel titled {name}"
        );
    }
    for text in ["Objective:", "Directions:"] {
        assert!(svg.contains(text), "{text} not in the figure's caption");
    }
    // The committed verdict over training seeds × direction seeds, on both kinds of loss, its
    // rule, and what changed since the verdict before it (each change the library derives from
    // the file, shown as a list item).
    let verdict = b.text("#verdict");
    assert!(
        verdict.contains("training seed")
            && verdict.contains("direction seeds")
            && verdict.contains("On the pre-training loss")
            && verdict.contains("On the linear-probe loss")
            && verdict.contains("convex region wider")
            && verdict.contains("by the Hessian's extreme eigenvalues")
            && verdict.contains("nested percentile bootstrap"),
        "{verdict}"
    );
    let committed: vitscape::demo::verdict::Verdict = serde_json::from_slice(
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("static/demo/verdict.json"))
            .unwrap(),
    )
    .unwrap();
    let changes = vitscape::demo::verdict::changes(&committed);
    assert!(
        !changes.is_empty(),
        "the committed verdict records no previous one"
    );
    assert!(
        verdict.contains("What changed since the last verdict, and why"),
        "{verdict}"
    );
    for line in &changes {
        assert!(verdict.contains(line.as_str()), "{line} not on the page");
    }
    b.js("document.getElementById('verdict').scrollIntoView()");
    b.screenshot("demo-verdict");
    b.js("window.scrollTo(0, 0)");

    // The committed mode connectivity: both pairs drawn, the straight line in grey and the trained
    // Bézier curve in blue, each path's barrier in words and the command that made them.
    b.wait_for("the demo paths", Duration::from_secs(30), |b| {
        (0..2).all(|i| {
            let id = format!("connect-{i}");
            b.pixels_where(&id, "r == 110 && g == 110 && b == 110") > 300
                && b.pixels_where(&id, "r < 60 && g > 100 && g < 140 && b > 160") > 300
        })
    });
    let connect = b.text("#connect");
    for text in [
        "Sup-ViT ↔ MAE-ViT fine-tuned",
        "MAE-ViT fine-tuned ↔ RC-MAE-ViT fine-tuned",
        "along the straight line",
        "along the Bézier curve",
        "vitscape connect --checkpoint static/demo/sup-vit.safetensors",
    ] {
        assert!(connect.contains(text), "{text} not in: {connect}");
    }
    b.js("document.getElementById('connect').scrollIntoView()");
    b.screenshot("demo-connect");
    b.js("window.scrollTo(0, 0)");

    // The committed training trajectories: each run's plane with its path (dark grey over a
    // white halo) over the contours, how much of the run the plane holds in words.
    b.wait_for("the demo trajectories", Duration::from_secs(30), |b| {
        (0..3).all(|i| {
            let id = format!("trajectory-{i}");
            // Antialiased at the canvas's scale, a few dozen pixels are the path's exact colour.
            b.colours(&id) > 20 && b.pixels_where(&id, "r == 25 && g == 25 && b == 25") >= 15
        })
    });
    let trajectories = b.text("#trajectories");
    for text in [
        "Sup-ViT",
        "MAE-ViT",
        "RC-MAE-ViT",
        "PC1 holds",
        "vitscape trajectory",
    ] {
        assert!(trajectories.contains(text), "{text} not in: {trajectories}");
    }
    // Each run's epoch count, from the committed surface, and its θ*: the shipped model.
    for (run, name) in [
        ("sup-vit", "Sup-ViT"),
        ("mae-vit", "MAE-ViT"),
        ("rcmae-vit", "RC-MAE-ViT"),
    ] {
        let surface: Value = serde_json::from_slice(
            &std::fs::read(root().join(format!("static/demo/trajectory/{run}/surface.json")))
                .unwrap(),
        )
        .unwrap();
        let n = surface["info"]["trajectory"]["points"]
            .as_array()
            .unwrap()
            .len();
        for text in [
            format!("over its {n} epoch checkpoints"),
            format!("θ* is the demo's {name}."),
        ] {
            assert!(
                trajectories.contains(&text),
                "{text} not in: {trajectories}"
            );
        }
    }
    b.js("document.getElementById('trajectories').scrollIntoView()");
    b.screenshot("demo-trajectories");
    b.js("window.scrollTo(0, 0)");

    // λmax at θ* of each panel, in the worker; Sup-ViT's equals the native CLI's on the same
    // 32 images (same power-iteration seed and steps; f32 gradients from two builds of flex).
    b.click("#eigen");
    b.wait_for(
        "the eigenvalues",
        Duration::from_secs(400),
        Browser::finished,
    );
    let cells: Vec<String> = (0..3)
        .map(|i| {
            b.js(&format!(
                "return document.querySelectorAll('#summary td.eigen')[{i}].textContent"
            ))
            .as_str()
            .unwrap_or_default()
            .to_string()
        })
        .collect();
    let value = |text: &str| -> f64 {
        text.split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no eigenvalue in {text:?}"))
    };
    for text in &cells {
        assert!(value(text).is_finite(), "{cells:?}");
        // Each value states the run-time check of its Hessian-vector products.
        assert!(text.contains("step check"), "{cells:?}");
    }
    // The page says how the products are formed.
    let hint = b.text("#summary + p.hint");
    assert!(
        hint.contains("Richardson extrapolation") && hint.contains("halved while the step check"),
        "{hint}"
    );
    b.screenshot("demo-eigenvalues");
    let out = tempfile::tempdir().unwrap();
    let status = vitscape()
        .args(["curvature", "--checkpoint"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("static/demo/sup-vit.safetensors"))
        .args(demo_subset(32))
        .args([
            "--batch-size",
            "64",
            "--parts",
            "top",
            "trace",
            "spectrum",
            "--trace-samples",
            "20",
            "--spectrum-batch",
            "16",
            "--out",
        ])
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("curvature.json")).unwrap())
            .unwrap();
    let native = report["top"]["eigenvalues"][0].as_f64().unwrap();
    let browser = value(&cells[0]);
    assert!(
        (browser - native).abs() <= 1e-3 * native.abs(),
        "Sup-ViT λmax: browser {browser} vs native {native}"
    );
    // Hutchinson's trace from the same 20 Rademacher vectors.
    let trace_text = b
        .js("return document.querySelectorAll('#summary td.trace')[0].textContent")
        .as_str()
        .unwrap_or_default()
        .to_string();
    let browser_trace = value(&trace_text);
    let native_trace = report["trace"]["mean"].as_f64().unwrap();
    let se = report["trace"]["standard_error"].as_f64().unwrap();
    assert!(
        (browser_trace - native_trace).abs() <= 1e-2 * native_trace.abs().max(se),
        "Sup-ViT trace: browser {trace_text} vs native {native_trace} ± {se}"
    );
    // The max-eigenvalue spectrum: two mini-batches of 16, each one's top eigenvalue.
    let spectrum_text = b
        .js("return document.querySelectorAll('#summary td.spectrum')[0].textContent")
        .as_str()
        .unwrap_or_default()
        .to_string();
    let listed: Vec<f64> = spectrum_text
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches(')')
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let native_values: Vec<f64> = report["spectrum"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "{spectrum_text}");
    for (b, n) in listed.iter().zip(&native_values) {
        assert!(
            (b - n).abs() <= 2e-3 * n.abs(),
            "spectrum: browser {spectrum_text} vs native {native_values:?}"
        );
    }

    // Li et al.'s convexity map on a 3×3 grid of each plane, drawn under each plot; Sup-ViT's
    // centre λmax equals the native CLI's map on the same spec.
    // Four power iterations per eigenvalue: the page and the CLI are compared at equal settings,
    // and at 10 this step was 320 of the test's 530 s.
    b.set("#convexity-grid", "3");
    b.set("#power-iterations", "4");
    b.click("#convexity");
    b.wait_for(
        "the convexity maps",
        Duration::from_secs(400),
        Browser::finished,
    );
    for i in 0..3 {
        assert!(
            b.colours(&format!("convexity-{i}")) > 3,
            "convexity map {i} is blank"
        );
    }
    let summary = b.text("#convexity-summary-0");
    assert!(summary.contains("9/9 computed"), "{summary}");
    let page_centre: f64 = summary
        .rsplit(": ")
        .next()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no centre λmax in {summary:?}"));
    b.js("document.getElementById('convexity-0').scrollIntoView()");
    b.screenshot("demo-convexity");
    b.js("window.scrollTo(0, 0)");
    let out = tempfile::tempdir().unwrap();
    let status = vitscape()
        .args(["curvature", "--checkpoint"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("static/demo/sup-vit.safetensors"))
        .args(demo_subset(32))
        .args([
            "--batch-size",
            "64",
            "--grid=-1:1:5",
            "--grid=-0.5:0.5:3",
            "--seed",
            "7",
            "--parts",
            "convexity",
            "--convexity-grid",
            "3",
            "--max-iterations",
            "4",
            "--no-plots",
            "--out",
        ])
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let map: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("convexity/surface.json")).unwrap(),
    )
    .unwrap();
    let native_centre = map["metrics"]["lambda_max"][1][1].as_f64().unwrap();
    // Within the products' own stated accuracy: the step check's estimate of their relative
    // truncation error (f32 gradients from two builds of flex differ by rounding, and four
    // Lanczos steps carry that into λmax), and at least 1e-3.
    let bound = map["info"]["step_check"]["max_relative_truncation"]
        .as_f64()
        .unwrap()
        .max(1e-3);
    assert!(
        (page_centre - native_centre).abs() <= bound * native_centre.abs(),
        "convexity map centre λmax: browser {page_centre} vs native {native_centre} (bound {bound:.1e})"
    );
    // The linear-probe toggle computes classification losses for the probes.
    b.click("#demo-probe");
    b.wait_for(
        "the probe demo",
        Duration::from_secs(300),
        Browser::finished,
    );
    let probe = b.exported_surface(1);
    assert_eq!(probe["spec"]["loss"]["kind"], "classification");
    assert!(probe["metrics"]["accuracy"][1][2].as_f64().unwrap() > 0.5);
    b.click("#plot-contour");
    std::thread::sleep(Duration::from_millis(400));
    b.screenshot("demo-probe-contour");
    // Privacy: only the page's own files were requested.
    for path in server.requests.lock().unwrap().iter() {
        let file = path.split(['?', '#']).next().unwrap_or("");
        assert!(
            dist().join(file.trim_start_matches('/')).is_file() || file == "/",
            "unexpected request {path}"
        );
    }
}

#[test]
fn demo_renders_through_webgpu() {
    let _guard = serial();
    let server = Server::start(dist());
    let b = Browser::start(true);
    b.open(&server.url(""));
    b.wait_for("the WebGPU backend", Duration::from_secs(120), |b| {
        b.text("#backend").contains("WebGPU")
    });
    // SwiftShader is slow: prove correctness on a tiny grid.
    b.click("#cancel");
    b.set("#axis-x", "-1:1:3");
    b.set("#axis-y", "-1:1:3");
    b.set("#eval-images", "4");
    b.click("#demo-pretraining");
    b.wait_for(
        "the WebGPU demo",
        Duration::from_secs(500),
        Browser::finished,
    );
    assert!(b.text("#backend").contains("WebGPU"));
    // The page redraws at most every 300 ms: the last cells' picture may follow the "done".
    b.wait_for("the pictures on WebGPU", Duration::from_secs(10), |b| {
        (0..3).all(|i| b.canvas_colours(i) > 20)
    });
    let gpu = b.exported_surface(0);
    assert_eq!(gpu["info"]["device"], "WebGPU");
    b.screenshot("demo-webgpu");
    // The same cells on the CPU backend agree.
    b.click("#prefer-gpu");
    drop(b);
    let c = Browser::start(false);
    c.open(&server.url(""));
    c.wait_for("CPU backend", Duration::from_secs(60), |b| {
        b.text("#backend").contains("CPU")
    });
    c.set("#axis-x", "-1:1:3");
    c.set("#axis-y", "-1:1:3");
    c.set("#eval-images", "4");
    c.click("#demo-pretraining");
    c.wait_for("the CPU demo", Duration::from_secs(120), Browser::finished);
    let cpu = c.exported_surface(0);
    let (on_gpu, on_cpu) = (values(&gpu), values(&cpu));
    assert!(!on_gpu.is_empty(), "the WebGPU surface has no values");
    // Both runs compute every cell, to the same values.
    assert_values_agree(&on_gpu, &on_cpu, ("WebGPU", "CPU"));
}

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

/// The page is built without the engine (`--no-default-features --features page`), so no burn or
/// cubecl code can reach its bundle; the worker carries the engine. Checked on the built files:
/// burn's and cubecl's source paths (panic locations) and crate names appear in the worker's
/// wasm and nowhere in the page's.
#[test]
fn the_page_bundle_holds_no_burn_code_and_the_worker_bundle_does() {
    let dist = dist();
    let holds = |file: &str, needle: &str| {
        let bytes = std::fs::read(dist.join(file)).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    };
    for needle in [
        "cubecl",
        "burn-tensor",
        "burn_tensor",
        "burn-flex",
        "burn_flex",
    ] {
        assert!(
            !holds("app_bg.wasm", needle),
            "the page's wasm holds `{needle}`: burn code reached the page"
        );
    }
    assert!(holds("worker_bg.wasm", "cubecl") && holds("worker_bg.wasm", "burn"));
}

#[test]
fn corrupt_files_mangled_links_and_foreign_requests_get_clear_messages() {
    let _guard = serial();
    let server = Server::start(dist());
    let b = Browser::start(false);
    // A mangled link: a message, and the demo still runs.
    b.open(&server.url("#vitscape1.AAAA-not-really"));
    b.wait_for("the error banner", Duration::from_secs(30), |b| {
        !b.text("#error").is_empty()
    });
    assert!(b.text("#error").contains("damaged"), "{}", b.text("#error"));
    b.wait_for("the demo anyway", Duration::from_secs(60), |b| {
        b.progress().0 > 0
    });
    b.screenshot("mangled-link");
    b.click("#cancel");
    // A foreign fragment.
    b.open(&server.url("#section-3"));
    b.js("location.reload()");
    b.wait_for("the foreign-link banner", Duration::from_secs(30), |b| {
        b.text("#error").contains("does not hold a vitscape plot")
    });
    // A corrupt checkpoint.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.safetensors");
    std::fs::write(&bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": nonsense}").unwrap();
    b.upload("#checkpoint-input", &[&bad]);
    b.wait_for("the corrupt-file message", Duration::from_secs(30), |b| {
        b.text("#error").contains("broken.safetensors")
    });
    let message = b.text("#error");
    assert!(
        message.contains("header") || message.contains("JSON"),
        "{message}"
    );
    assert!(
        b.text("#uploads").trim().is_empty(),
        "a corrupt file was accepted"
    );
    b.screenshot("corrupt-file");
    // A live exploit (it runs under torch.load): refused by name, nothing accepted.
    let hostile = root().join("tests/fixtures/pth/hostile/os_system.pth");
    b.upload("#checkpoint-input", &[&hostile]);
    b.wait_for("the refusal", Duration::from_secs(30), |b| {
        b.text("#error").contains("os_system.pth")
    });
    let message = b.text("#error");
    assert!(message.contains("posix.system"), "{message}");
    assert!(message.contains("Nothing in the file was run"), "{message}");
    assert!(
        b.text("#uploads").trim().is_empty(),
        "{}",
        b.text("#uploads")
    );
    // A DeiT-style training file (.pth) is read like a safetensors file, and the page says
    // where the weights were found.
    b.set("#heads", "2");
    let deit = root().join("tests/fixtures/pth/deit.pth");
    b.upload("#checkpoint-input", &[&deit]);
    b.wait_for("the .pth inspection", Duration::from_secs(30), |b| {
        b.text("#uploads").contains("deit.pth")
    });
    let shown = b.text("#uploads");
    assert!(shown.contains("state dict under 'model'"), "{shown}");
    assert!(
        shown.contains("19658") || shown.contains("19 658"),
        "{shown}"
    );
    b.screenshot("pth-upload");
    // The Content-Security-Policy forbids requests to any other origin.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let outcome = b.js_async(&format!(
        "const done = arguments[arguments.length - 1];
         fetch('http://127.0.0.1:{}/leak').then(() => done('sent'), e => done('blocked: ' + e));",
        other.local_addr().unwrap().port()
    ));
    assert!(
        outcome.as_str().unwrap_or("").starts_with("blocked"),
        "{outcome}"
    );

    // A 224×224 RGB model (a .pth without head counts) with the demo's 28×28 grayscale images:
    // the page says what the model takes and what to drop, instead of failing on mean/std.
    b.open(&server.url(""));
    b.wait_for("the demo", Duration::from_secs(60), |b| b.progress().1 > 0);
    b.click("#cancel");
    b.set("#heads", "3");
    let rgb = root().join("tests/fixtures/rgb224/vit224.pth");
    b.upload("#checkpoint-input", &[&rgb]);
    b.wait_for("the 224 inspection", Duration::from_secs(30), |b| {
        b.text("#uploads").contains("vit224.pth")
    });
    let note = b.text("#preprocess-note");
    assert!(
        note.contains("vit224.pth takes 224×224 RGB images"),
        "{note}"
    );
    b.click("#run-uploads");
    b.wait_for("the advice", Duration::from_secs(30), |b| {
        b.text("#error").contains("takes 224×224 RGB")
    });
    let advice = b.text("#error");
    assert!(
        advice.contains("demo images are 28×28") && advice.contains("248"),
        "{advice}"
    );
    b.screenshot("rgb224-advice");
    // An RC-MAE training file offers both halves: the teacher by default, the student on request.
    b.click(".upload .remove");
    b.set("#heads", "2");
    b.set("#decoder-heads", "2");
    let rcmae = root().join("tests/fixtures/pth/rcmae.pth");
    b.upload("#checkpoint-input", &[&rcmae]);
    b.wait_for("the RC-MAE inspection", Duration::from_secs(30), |b| {
        b.text("#uploads").contains("teacher branch")
    });
    b.js(
        "const s = document.querySelector('.branch-select'); s.value = 'student'; \
          s.dispatchEvent(new Event('change', {bubbles: true}));",
    );
    b.wait_for("the student", Duration::from_secs(30), |b| {
        b.text("#uploads").contains("student branch")
    });
}

/// Not a test: the figures in BENCHMARKS.md. `cargo test --release --test browser -- --ignored
/// --nocapture bench_` prints time to first picture, time to the full demo and throughput.
#[test]
#[ignore]
fn bench_demo_in_the_browser() {
    let _guard = serial();
    let server = Server::start(dist());
    for webgpu in [false, true] {
        let b = Browser::start(webgpu);
        let t0 = Instant::now();
        b.open(&server.url(""));
        if webgpu {
            // SwiftShader: a tiny comparison only.
            b.wait_for("WebGPU", Duration::from_secs(120), |b| {
                b.text("#backend").contains("WebGPU")
            });
            b.click("#cancel");
            b.set("#axis-x", "-1:1:3");
            b.set("#axis-y", "-1:1:3");
            b.set("#eval-images", "16");
            b.click("#demo-pretraining");
            let t1 = Instant::now();
            b.wait_for(
                "the WebGPU demo",
                Duration::from_secs(1200),
                Browser::finished,
            );
            println!(
                "WebGPU (SwiftShader): 3 models × 3×3 cells × 16 images in {:.1} s; {}; backend: {}",
                t1.elapsed().as_secs_f64(),
                b.text("#estimate"),
                b.text("#backend")
            );
            continue;
        }
        b.wait_for("a first picture", Duration::from_secs(300), |b| {
            b.pictures(3)
        });
        let first = t0.elapsed().as_secs_f64();
        b.wait_for(
            "the full demo",
            Duration::from_secs(1800),
            Browser::finished,
        );
        let full = t0.elapsed().as_secs_f64();
        println!(
            "CPU fallback: first picture (every canvas coloured by its landscape) {first:.1} s after opening; full demo (3 × 17×17 cells × 128 images) {full:.1} s; {}",
            b.text("#estimate")
        );
        b.screenshot("bench-demo-full");
    }
}

/// Resident memory of every Chromium process (and its driver), in bytes.
fn chromium_rss() -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let path = entry.path();
        let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains("chrom") {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        if let Some(kb) = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
        {
            total += kb * 1024;
        }
    }
    total
}

/// Not a test: the page with researchers' model sizes (issue #12), in BENCHMARKS.md.
/// `cargo test --release --test browser -- --ignored --nocapture bench_vit_` writes random
/// ViT-Ti/16, ViT-S/16 and ViT-B/16 checkpoints (`VITSCAPE_BENCH_MODELS=vit-b16` picks some) (224, RGB, 1000 classes), drops each on the page with the
/// 8 cropped 224 images of `tests/fixtures/rgb224` (zipped with their class folders), computes a
/// 1-D sweep of 2 cells on the CPU fallback, and prints the time to the inspection, the time to
/// the finished sweep and the peak resident memory of all Chromium processes.
/// `VITSCAPE_BENCH_WEBGPU=1` runs the sweep on WebGPU instead (Chromium's adapter; SwiftShader's
/// on a machine without a GPU) and checks it against `vitscape sweep --spec` of the page's
/// surface (the CLI on the CPU), to 1e-4; `VITSCAPE_BENCH_IMAGES=N` evaluates N images per cell.
#[test]
#[ignore]
fn bench_vit_ti_and_s_checkpoints_in_the_browser() {
    use vitscape::model::arch::{Head, VitConfig};
    let _guard = serial();
    let server = Server::start(dist());
    let dir = tempfile::tempdir().unwrap();
    // The images, zipped with their class folders (labels).
    let zip_path = dir.path().join("rgb224.zip");
    {
        let file = std::fs::File::create(&zip_path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let cropped = root().join("tests/fixtures/rgb224/cropped");
        for class in ["a_class", "b_class"] {
            for entry in std::fs::read_dir(cropped.join(class)).unwrap() {
                let path = entry.unwrap().path();
                let name = format!("{class}/{}", path.file_name().unwrap().to_string_lossy());
                zip.start_file(name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                zip.write_all(&std::fs::read(&path).unwrap()).unwrap();
            }
        }
        zip.finish().unwrap();
    }
    let only = std::env::var("VITSCAPE_BENCH_MODELS").unwrap_or_default();
    let webgpu = std::env::var("VITSCAPE_BENCH_WEBGPU").is_ok_and(|v| v == "1");
    // Fewer images for a slow adapter (SwiftShader takes minutes per ViT-Ti cell of 8).
    let images: usize = std::env::var("VITSCAPE_BENCH_IMAGES").map_or(8, |v| v.parse().unwrap());
    for (name, width, heads) in [
        ("vit-ti16", 192, 3),
        ("vit-s16", 384, 6),
        ("vit-b16", 768, 12),
    ] {
        if !only.is_empty() && !only.split(',').any(|m| m == name) {
            continue;
        }
        let config = VitConfig {
            head: Some(Head::Linear { num_classes: 1000 }),
            ..VitConfig::standard(224, 16, 3, width, 12, heads)
        };
        let mut state = vitscape::model::random_state(&config, 0);
        state.metadata.insert("num_heads".into(), heads.to_string());
        let path = dir.path().join(format!("{name}.safetensors"));
        vitscape::io::checkpoint::write_file(&path, &state).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();

        let b = if webgpu {
            let b = Browser::start(true);
            b.open(&server.url(""));
            b.wait_for("the WebGPU backend", Duration::from_secs(120), |b| {
                b.text("#backend").contains("WebGPU")
            });
            b.click("#cancel");
            b
        } else {
            page_without_demo(&server)
        };
        std::thread::sleep(Duration::from_secs(2));
        let baseline = chromium_rss();
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(baseline));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    peak.fetch_max(chromium_rss(), std::sync::atomic::Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        let t0 = Instant::now();
        b.upload("#checkpoint-input", &[&path]);
        b.wait_for("the inspection", Duration::from_secs(300), |b| {
            b.text("#uploads").contains(name)
        });
        let inspected = t0.elapsed().as_secs_f64();
        b.upload("#images-input", &[&zip_path]);
        b.wait_for("the images", Duration::from_secs(60), |b| {
            b.text("#images-label").contains("rgb224")
        });
        b.set("#axis-x", "-1:1:2");
        b.set("#axis-y", "");
        b.set("#eval-images", &images.to_string());
        let estimate = b.text("#estimate");
        let t1 = Instant::now();
        b.click("#run-uploads");
        b.wait_for("the sweep", Duration::from_secs(1800), |b| {
            let error = b.text("#error");
            assert!(error.is_empty(), "{name}: {error}");
            b.finished()
        });
        let swept = t1.elapsed().as_secs_f64();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sampler.join().unwrap();
        let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "{name}: {:.1} MB file; inspected {inspected:.2} s after the drop; 2 cells × {images} images \
             (224, RGB) in {swept:.1} s ({}); Chromium resident memory \
             {:.0} MB before the drop, peak {:.0} MB; the page said beforehand: {estimate}",
            size as f64 / 1e6,
            b.text("#backend"),
            baseline as f64 / 1e6,
            peak as f64 / 1e6,
        );
        if webgpu {
            let page = b.exported_surface(0);
            assert_eq!(
                page["info"]["device"], "WebGPU",
                "{name} did not run on WebGPU"
            );
            let spec = dir.path().join(format!("{name}-page.json"));
            std::fs::write(&spec, page.to_string()).unwrap();
            let out = dir.path().join(format!("{name}-cli"));
            let cli = cli_surface(
                vitscape()
                    .args(["sweep", "--spec"])
                    .arg(&spec)
                    .arg("--search")
                    .arg(dir.path()),
                &out,
            );
            let (on_gpu, on_cpu) = (values(&page), values(&cli));
            let worst = on_gpu
                .iter()
                .zip(&on_cpu)
                .map(|((_, _, _, g), (_, _, _, c))| (g - c).abs() / c.abs().max(1e-3))
                .fold(0.0f64, f64::max);
            println!(
                "{name}: WebGPU vs the CLI on the CPU, {} values, largest relative difference {worst:.1e}",
                on_gpu.len()
            );
            assert_values_agree(&on_gpu, &on_cpu, ("WebGPU", "CLI"));
        }
        b.screenshot(&format!("bench-{name}"));
    }
}
