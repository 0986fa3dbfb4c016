//! The embedded demo on the CPU fallback and on WebGPU: what the visitor sees first, the views,
//! the permalink, cancelling, and the two backends' values against each other.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;

use crate::harness::*;

#[test]
fn demo_renders_on_the_cpu_fallback_and_cancel_stops_the_worker() {
    let _guard = serial();
    let server = Server::start(dist());
    // The first run's files come first: the demo does not wait for a linear probe's (held back
    // by the server until the probe demo below asks for it).
    *server.held.lock().unwrap() = Some("/demo/mae-vit-linprobe".into());
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
    let shots = root().join("target/screenshots");
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
    // The linear-probe toggle computes classification losses for the probes. It waits for the
    // probe's file, held back since the page opened, and says so.
    b.click("#demo-probe");
    b.wait_for(
        "the wait for the probe's file",
        Duration::from_secs(10),
        |b| b.text("#notice").contains("MAE-ViT linear probe"),
    );
    assert!(b.finished(), "the probe demo started without its file");
    *server.held.lock().unwrap() = None;
    // The run starts (in the same task that clears the notice) once the file is here.
    b.wait_for("the probe demo's start", Duration::from_secs(60), |b| {
        !b.text("#notice").contains("Waiting for the demo's files")
    });
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
