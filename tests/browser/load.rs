//! Not a test: the page under load (issue #13), in RELIABILITY.md.
//! `cargo test --release --test browser -- --ignored --nocapture bench_load` runs the demo's
//! three panels at 17×17 and at 101×101 cells (8 images per cell, CPU fallback) and prints, for
//! each, the time, the peak resident memory of all Chromium processes and the main thread's long
//! tasks (PerformanceObserver `longtask`: every task over 50 ms, with the longest), and the long
//! tasks of redrawing the 101×101 panels as a heat map, a 3-D surface and contours; then starts
//! and cancels the demo ten times and prints the memory before and after (garbage collected).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;

/// Records every long task of the page from its first script on (`window.__long`).
fn observe_long_tasks(b: &Browser) {
    let source = "window.__long = [];
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) window.__long.push([e.startTime, e.duration]);
        }).observe({ type: 'longtask', buffered: true });";
    b.cmd(
        "POST",
        "/goog/cdp/execute",
        Some(json!({"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": source}})),
    );
}

/// Long tasks since the last call: (count over 100 ms, count, longest ms). Each task over 100 ms
/// is printed with its start on the page's clock (`performance.now()`, ms).
fn long_tasks(b: &Browser) -> (usize, usize, f64) {
    let v = b.js("const l = window.__long || []; window.__long = []; return l;");
    let tasks: Vec<(f64, f64)> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| Some((x[0].as_f64()?, x[1].as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    for (start, duration) in tasks.iter().filter(|t| t.1 > 100.0) {
        println!("  a task of {duration:.0} ms at {start:.0} ms");
    }
    let d: Vec<f64> = tasks.iter().map(|t| t.1).collect();
    (
        d.iter().filter(|x| **x > 100.0).count(),
        d.len(),
        d.iter().copied().fold(0.0, f64::max),
    )
}

/// Starts the page's sampling CPU profiler (the main thread; the app's wasm keeps its function
/// names).
fn start_profiler(b: &Browser) {
    let cdp = |cmd: &str, params: serde_json::Value| {
        b.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({"cmd": cmd, "params": params})),
        )
    };
    cdp("Profiler.enable", json!({}));
    cdp("Profiler.setSamplingInterval", json!({"interval": 500}));
    cdp("Profiler.start", json!({}));
}

/// Stops the profiler and prints the functions with the most self time on the main thread.
fn print_profile(b: &Browser, top: usize) {
    let v = b.cmd(
        "POST",
        "/goog/cdp/execute",
        Some(json!({"cmd": "Profiler.stop", "params": {}})),
    );
    let profile = &v["profile"];
    let empty = Vec::new();
    let nodes = profile["nodes"].as_array().unwrap_or(&empty);
    let name_of: std::collections::HashMap<u64, String> = nodes
        .iter()
        .filter_map(|n| {
            let f = &n["callFrame"];
            let name = f["functionName"].as_str().unwrap_or("");
            let name = if name.is_empty() { "(anonymous)" } else { name };
            Some((n["id"].as_u64()?, name.to_string()))
        })
        .collect();
    let samples = profile["samples"].as_array().unwrap_or(&empty);
    let deltas = profile["timeDeltas"].as_array().unwrap_or(&empty);
    let mut self_ms: std::collections::HashMap<&str, f64> = Default::default();
    // A sample's time is the delta to the next sample.
    for (i, id) in samples.iter().enumerate() {
        let dt = deltas.get(i + 1).and_then(|d| d.as_f64()).unwrap_or(0.0) / 1000.0;
        if let Some(name) = id.as_u64().and_then(|id| name_of.get(&id)) {
            *self_ms.entry(name.as_str()).or_default() += dt;
        }
    }
    let mut rows: Vec<(&str, f64)> = self_ms
        .into_iter()
        .filter(|(n, _)| !matches!(*n, "(idle)" | "(program)" | "(root)"))
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    print_busy_stretches(nodes, samples, deltas, &name_of);
    println!("main thread, self time by function (sampled every 0.5 ms):");
    for (name, ms) in rows.into_iter().take(top) {
        let short: String = name.chars().take(110).collect();
        println!("  {ms:>9.0} ms  {short}");
    }
}

/// Each stretch of the profile over 100 ms without an idle sample (a long task, give or take the
/// sampling), with its start from the profile's start and the functions on the stack for most of
/// it (inclusive time: each function once per sample).
fn print_busy_stretches(
    nodes: &[serde_json::Value],
    samples: &[serde_json::Value],
    deltas: &[serde_json::Value],
    name_of: &std::collections::HashMap<u64, String>,
) {
    let mut parent: std::collections::HashMap<u64, u64> = Default::default();
    for n in nodes {
        let Some(id) = n["id"].as_u64() else { continue };
        for c in n["children"].as_array().into_iter().flatten() {
            if let Some(c) = c.as_u64() {
                parent.insert(c, id);
            }
        }
    }
    let stack = |mut id: u64| {
        let mut names = Vec::new();
        while let Some(name) = name_of.get(&id) {
            if !names.contains(name) {
                names.push(name.clone());
            }
            match parent.get(&id) {
                Some(p) => id = *p,
                None => break,
            }
        }
        names
    };
    let idle = |id: u64| name_of.get(&id).is_some_and(|n| n == "(idle)");
    let mut clock = 0.0;
    let mut stretch: Vec<(u64, f64)> = Vec::new();
    let mut start = 0.0;
    let flush = |stretch: &mut Vec<(u64, f64)>, start: f64| {
        let total: f64 = stretch.iter().map(|s| s.1).sum();
        if total > 100.0 {
            let mut inclusive: std::collections::HashMap<String, f64> = Default::default();
            for (id, dt) in stretch.iter() {
                for name in stack(*id) {
                    *inclusive.entry(name).or_default() += dt;
                }
            }
            let mut rows: Vec<(String, f64)> = inclusive.into_iter().collect();
            rows.sort_by(|a, b| b.1.total_cmp(&a.1));
            println!("busy {total:.0} ms from {start:.0} ms:");
            for (name, ms) in rows.into_iter().skip(1).take(14) {
                let short: String = name.chars().take(100).collect();
                println!("    {ms:>6.0} ms  {short}");
            }
        }
        stretch.clear();
    };
    for (i, id) in samples.iter().enumerate() {
        let dt = deltas.get(i + 1).and_then(|d| d.as_f64()).unwrap_or(0.0) / 1000.0;
        let Some(id) = id.as_u64() else { continue };
        if idle(id) {
            flush(&mut stretch, start);
        } else {
            if stretch.is_empty() {
                start = clock;
            }
            stretch.push((id, dt));
        }
        clock += dt;
    }
    flush(&mut stretch, start);
}

/// Collect garbage in the page, then the resident memory of every Chromium process.
fn settled_rss(b: &Browser) -> u64 {
    b.cmd(
        "POST",
        "/goog/cdp/execute",
        Some(json!({"cmd": "HeapProfiler.collectGarbage", "params": {}})),
    );
    std::thread::sleep(Duration::from_secs(3));
    chromium_rss()
}

/// Runs the demo at `n`×`n` and returns (seconds, peak RSS bytes).
fn demo_run(b: &Browser, n: usize) -> (f64, u64) {
    b.set("#axis-x", &format!("-1:1:{n}"));
    b.set("#axis-y", &format!("-1:1:{n}"));
    b.set("#eval-images", "8");
    let rss = PeakRss::start(0);
    let t = Instant::now();
    let clicked = b.js("return performance.now();").as_f64().unwrap_or(0.0);
    b.click("#demo-pretraining");
    b.wait_for("the run to start", Duration::from_secs(60), |b| {
        b.text("#progress-text").contains("computing")
    });
    b.wait_for("the run to finish", Duration::from_secs(1800), |b| {
        b.finished()
    });
    let seconds = t.elapsed().as_secs_f64();
    let finished = b.js("return performance.now();").as_f64().unwrap_or(0.0);
    println!("  clicked at {clicked:.0} ms, seen finished at {finished:.0} ms");
    (seconds, rss.finish())
}

#[test]
#[ignore]
fn bench_load_three_panels_at_101_by_101_and_ten_cancels() {
    let _guard = serial();
    let server = Server::start(dist());
    let b = Browser::start(false);
    observe_long_tasks(&b);
    b.open(&server.url(""));
    b.wait_for("the demo", Duration::from_secs(300), |b| b.finished());
    let mb = |x: u64| x as f64 / 1e6;
    let baseline = settled_rss(&b);
    println!("after the default demo: {:.0} MB", mb(baseline));
    long_tasks(&b);
    start_profiler(&b);
    for n in [17, 101] {
        let (seconds, peak) = demo_run(&b, n);
        if n == 17 {
            // A short run: the profile is mostly its start and finish.
            print_profile(&b, 15);
            start_profiler(&b);
        }
        let (over, count, longest) = long_tasks(&b);
        println!(
            "3 panels × {n}×{n} cells × 8 images: {seconds:.1} s, peak {:.0} MB; long tasks: {count} \
             over 50 ms, {over} over 100 ms, longest {longest:.0} ms",
            mb(peak)
        );
        b.screenshot(&format!("load-{n}"));
    }
    // The 101 × 101 panels redrawn as each other kind of figure, then as contours again.
    for (button, name) in [
        ("#plot-heatmap", "heat map"),
        ("#plot-surface", "3-D surface"),
        ("#plot-contour", "contours"),
    ] {
        b.click(button);
        std::thread::sleep(Duration::from_secs(5));
        let (over, count, longest) = long_tasks(&b);
        println!(
            "redrawn as {name}: long tasks: {count} over 50 ms, {over} over 100 ms, longest \
             {longest:.0} ms"
        );
        b.screenshot(&format!("load-101-{}", name.replace([' ', '×'], "-")));
    }
    print_profile(&b, 25);
    let before = settled_rss(&b);
    for _ in 0..10 {
        b.click("#demo-pretraining");
        b.wait_for("the run to start", Duration::from_secs(120), |b| {
            b.text("#progress-text").contains("computing") && b.progress().0 > 0
        });
        b.click("#cancel");
        b.wait_for("the cancel", Duration::from_secs(30), |b| {
            b.text("#progress-text").contains("stopped")
        });
    }
    let after = settled_rss(&b);
    println!(
        "ten runs started and cancelled: {:.0} MB before, {:.0} MB after",
        mb(before),
        mb(after)
    );
}

/// Not a test: the main thread's long tasks and CPU profile while the page loads, up to 10 s
/// after its default demo's first cells (issue #13, RELIABILITY.md): the first load (nothing
/// cached), then two reloads, each under the profiler, with every busy stretch over 100 ms.
#[test]
#[ignore]
fn bench_load_page_start_profile() {
    let _guard = serial();
    let server = Server::start(dist());
    let b = Browser::start(false);
    observe_long_tasks(&b);
    // The first load (nothing cached: the bundles compiled for the first time), profiled from
    // the blank page the browser starts on.
    start_profiler(&b);
    b.open(&server.url(""));
    let started =
        |b: &Browser| b.text("#progress-text").contains("computing") && b.progress().0 > 0;
    b.wait_for("the demo's first cells", Duration::from_secs(300), started);
    std::thread::sleep(Duration::from_secs(10));
    let (over, count, longest) = long_tasks(&b);
    println!(
        "first load: long tasks: {count} over 50 ms, {over} over 100 ms, longest {longest:.0} ms"
    );
    print_profile(&b, 30);
    for run in 1..=2 {
        start_profiler(&b);
        b.js("location.reload(); return 0");
        std::thread::sleep(Duration::from_secs(1));
        b.wait_for("the demo's first cells", Duration::from_secs(300), started);
        std::thread::sleep(Duration::from_secs(10));
        let (over, count, longest) = long_tasks(&b);
        println!(
            "load {run}: long tasks: {count} over 50 ms, {over} over 100 ms, longest {longest:.0} ms"
        );
        print_profile(&b, 30);
    }
}
