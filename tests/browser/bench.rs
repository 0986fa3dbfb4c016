//! Not tests: the browser figures in BENCHMARKS.md (`cargo test --release --test browser --
//! --ignored --nocapture bench_`).

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;

/// Not a test: the figures in BENCHMARKS.md. `cargo test --release --test browser -- --ignored
/// --nocapture bench_` prints time to first picture, time to the full demo and throughput, and
/// the page's steps to the first picture (its `vitscape:` User Timing marks).
/// `VITSCAPE_JS_FLAGS=…` passes V8 flags to Chromium (`--no-wasm-dynamic-tiering` compiles every
/// wasm function optimised up front), to see what the tiers cost; `VITSCAPE_SHIPPED_DIST=1`
/// builds the bundle with the shipped profile (the worker with fat LTO, as `.ci/serve` serves it)
/// instead of the tests' quicker build. The first picture moves by a second with the machine's
/// state, so `VITSCAPE_BENCH_CPU_RUNS=N` opens the CPU-fallback demo N times (and skips WebGPU),
/// and `VITSCAPE_BENCH_DISTS=A,B` serves prebuilt bundles (`dist/` folders of two builds) in
/// turn, to compare them alternated; each bundle's first pictures and median close the output.
/// `VITSCAPE_BENCH_PROFILE=PREFIX` writes the page's main thread, sampled by DevTools' CPU
/// profiler from the load to the first picture, to `PREFIX.<round>.cpuprofile` (DevTools'
/// Performance panel opens it).
#[test]
#[ignore]
fn bench_demo_in_the_browser() {
    let _guard = serial();
    // Prebuilt bundles to alternate (an A/B of two builds in one run), else this tree's.
    let dists: Vec<String> = std::env::var("VITSCAPE_BENCH_DISTS")
        .map(|d| d.split(',').map(String::from).collect())
        .unwrap_or_default();
    let servers: Vec<(String, Server)> = if dists.is_empty() {
        vec![("this tree".into(), Server::start(dist()))]
    } else {
        dists
            .iter()
            .map(|d| (d.clone(), Server::start(std::path::PathBuf::from(d))))
            .collect()
    };
    let cpu_runs: usize = std::env::var("VITSCAPE_BENCH_CPU_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let order: Vec<bool> = if cpu_runs > 0 {
        vec![false; cpu_runs]
    } else {
        vec![false, true]
    };
    let mut firsts: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    for (round, webgpu) in order.into_iter().enumerate() {
        let (name, server) = &servers[round % servers.len()];
        println!("bundle: {name}");
        let b = Browser::start(webgpu);
        let t0 = Instant::now();
        b.open(&server.url(""));
        let opened = t0.elapsed().as_secs_f64();
        // The page's main thread, sampled from its load to the first picture (DevTools' CPU
        // profiler; a `.cpuprofile` that DevTools' Performance panel opens).
        let profile = std::env::var("VITSCAPE_BENCH_PROFILE")
            .ok()
            .filter(|_| !webgpu);
        if profile.is_some() {
            for (cmd, params) in [
                ("Profiler.enable", json!({})),
                ("Profiler.setSamplingInterval", json!({"interval": 250})),
                ("Profiler.start", json!({})),
            ] {
                b.cmd(
                    "POST",
                    "/goog/cdp/execute",
                    Some(json!({"cmd": cmd, "params": params})),
                );
            }
        }
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
        b.watch_first_picture(3);
        // The page's own watch says when (reading its record is cheap; reading the canvases
        // back from WebDriver every 250 ms was not).
        b.wait_for("a first picture", Duration::from_secs(300), |b| {
            b.first_picture().is_some()
        });
        let first = t0.elapsed().as_secs_f64();
        assert!(b.pictures(3), "the watch saw a first picture that is gone");
        let in_page = b.first_picture().unwrap_or(f64::NAN);
        if let Some(path) = &profile {
            let stopped = b.cmd(
                "POST",
                "/goog/cdp/execute",
                Some(json!({"cmd": "Profiler.stop", "params": {}})),
            );
            let path = format!("{path}.{round}.cpuprofile");
            std::fs::write(&path, stopped["profile"].to_string()).unwrap();
            println!("the page's main thread to the first picture: {path}");
        }
        println!(
            "the page's steps (ms from the navigation's start): {}",
            b.marks()
        );
        b.wait_for(
            "the full demo",
            Duration::from_secs(1800),
            Browser::finished,
        );
        let full = t0.elapsed().as_secs_f64();
        println!(
            "CPU fallback: first picture (every canvas coloured by its landscape) {first:.1} s after opening ({in_page:.2} s by the page's clock from the navigation's start; the load event came {opened:.2} s after opening); full demo (3 × 17×17 cells × 128 images) {full:.1} s; {}",
            b.text("#estimate")
        );
        b.screenshot("bench-demo-full");
        firsts[round % servers.len()].push(in_page);
    }
    for ((name, _), times) in servers.iter().zip(&mut firsts) {
        times.sort_by(f64::total_cmp);
        if let Some(median) = times.get(times.len() / 2) {
            println!(
                "{name}: first pictures {times:.2?} s by the page's clock, median {median:.2} s"
            );
        }
    }
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
        let rss = PeakRss::start(baseline);
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
        let peak = rss.finish();
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
