//! Faults on the page (RELIABILITY.md): a compute worker that runs out of memory mid-sweep is
//! replaced and the sweep completes with every finished cell kept; started-and-cancelled runs
//! leave no workers behind; a link's hostile view is clamped and said.
//!
//! Workers are watched (and one made to crash) by wrapping the page's `Worker` constructor in a
//! script DevTools runs before the page's own: the product has no test hook.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::harness::*;

/// Wraps `window.Worker`: counts the workers made and terminated (`window.__workers`), and when
/// `crash_after` > 0 the first worker, as it sends that many messages of cells, has all the
/// memory its allocator can give taken: the sweep's next allocation fails — a real out-of-memory
/// abort in the worker's Rust, mid-run. That worker runs from a blob that loads the same
/// `worker.js` and `worker_bg.wasm` by absolute URL.
fn watch_workers(b: &Browser, fault: Option<Fault>) {
    let (which, crash_after, action) = match fault {
        None => (0, 0, ""),
        Some(Fault::OutOfMemory { after }) => (0, after, "oom"),
        Some(Fault::LoseDevice { after }) => (0, after, "lose-device"),
    };
    let source = format!(
        r#"(() => {{
  const Real = window.Worker;
  const stats = {{ made: 0, terminated: 0 }};
  window.__workers = stats;
  const crashAfter = {crash_after};
  // The first worker of the pool made after the page's first (the pool is one worker per core,
  // at most 4): the one a run started after a cancel runs on.
  const which = {which} || Math.min(Math.max(navigator.hardwareConcurrency || 1, 1), 4) + 1;
  window.Worker = function (url, options) {{
    stats.made += 1;
    let worker;
    if (crashAfter > 0 && stats.made === which) {{
      const base = new URL('.', location.href).href;
      const src = `
        const base = ${{JSON.stringify(base)}};
        const realFetch = self.fetch.bind(self);
        self.fetch = (u, o) => realFetch(typeof u === 'string' ? new URL(u, base).href : u, o);
        // The GPU device the engine opens, kept to be destroyed (GPUDevice.destroy()).
        if (self.GPUAdapter) {{
          const requestDevice = GPUAdapter.prototype.requestDevice;
          GPUAdapter.prototype.requestDevice = async function (...args) {{
            const device = await requestDevice.apply(this, args);
            self.__device = device;
            return device;
          }};
        }}
        importScripts(base + 'worker.js');
        let wasm = null;
        wasm_bindgen({{ module_or_path: base + 'worker_bg.wasm' }}).then((w) => {{ wasm = w; }});
        const post = self.postMessage.bind(self);
        let cells = 0;
        self.postMessage = function (message, transfer) {{
          post(message, transfer);
          let kind = '';
          try {{ kind = JSON.parse(message[0]).kind; }} catch (e) {{}}
          if (kind === 'cells' && ++cells === ${{crashAfter}}) {{
            if ('{action}' === 'oom') {{
              // Take every byte the worker's allocator can give (wasm-bindgen's malloc export,
              // behind every string passed in), biggest blocks first, up to wasm32's 4 GiB: the
              // sweep's next allocation fails inside its Rust, mid-run.
              for (const size of [1 << 24, 1 << 20, 1 << 16, 1 << 12, 1 << 8, 16]) {{
                try {{ for (;;) wasm.__wbindgen_export(size, 8); }} catch (e) {{}}
              }}
            }} else if (self.__device) {{
              self.__device.destroy();
            }}
          }}
        }};`;
      worker = new Real(URL.createObjectURL(new Blob([src], {{ type: 'text/javascript' }})), options);
    }} else {{
      worker = new Real(url, options);
    }}
    // What each worker said, for a failure's message.
    const said = [];
    (window.__said = window.__said || []).push(said);
    worker.addEventListener('message', (e) => {{
      try {{ said.push(JSON.parse(e.data[0]).kind); }} catch (err) {{ said.push('?'); }}
    }});
    worker.addEventListener('error', (e) => said.push('error: ' + e.message));
    const terminate = worker.terminate.bind(worker);
    worker.terminate = () => {{ stats.terminated += 1; terminate(); }};
    return worker;
  }};
  window.Worker.prototype = Real.prototype;
}})();"#
    );
    b.cmd(
        "POST",
        "/goog/cdp/execute",
        Some(json!({"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": source}})),
    );
}

/// A fault forced on the first worker of the page's second pool (the one made when the demo
/// that starts with the page is cancelled) as it sends its `after`-th message of cells.
#[derive(Clone, Copy)]
enum Fault {
    /// Every byte its allocator can give is taken: its next allocation fails.
    OutOfMemory { after: usize },
    /// Its WebGPU device is destroyed (`GPUDevice.destroy()`), as when the GPU is lost.
    LoseDevice { after: usize },
}

/// How many cells a crash notice says were kept ("…; the N cells already computed are kept.").
fn kept_cells(notice: &str) -> usize {
    notice
        .rsplit("; the ")
        .next()
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("how many cells were kept? {notice}"))
}

/// Each of the first `panels` panels' exported surface has `cells` loss values, every one finite.
fn every_cell_computed(b: &Browser, panels: usize, cells: usize) {
    for i in 0..panels {
        let surface = b.exported_surface(i);
        let values: Vec<Value> = surface["metrics"]["loss"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().clone())
            .collect();
        assert_eq!(values.len(), cells, "panel {i}");
        assert!(
            values
                .iter()
                .all(|v| v.as_f64().is_some_and(f64::is_finite)),
            "panel {i} has a missing cell"
        );
    }
}

/// Workers made and terminated so far.
fn workers(b: &Browser) -> (u64, u64) {
    let s = b.js("return window.__workers");
    (
        s["made"].as_u64().unwrap_or(0),
        s["terminated"].as_u64().unwrap_or(0),
    )
}

fn pool(b: &Browser) -> u64 {
    b.js("return navigator.hardwareConcurrency")
        .as_u64()
        .unwrap_or(1)
        .clamp(1, 4)
}

#[test]
fn a_worker_that_runs_out_of_memory_is_replaced_and_the_sweep_completes() {
    let _guard = serial();
    let server = Server::start(dist());
    let b = Browser::start(false);
    watch_workers(&b, Some(Fault::OutOfMemory { after: 2 }));
    // The demo starts by itself; stopped, it is run again on 3 × 9×9 cells over the new pool.
    b.open(&server.url(""));
    b.wait_for("the demo to start", Duration::from_secs(300), |b| {
        b.progress().0 > 0
    });
    b.click("#cancel");
    b.set("#axis-x", "-1:1:9");
    b.set("#axis-y", "-1:1:9");
    b.set("#eval-images", "32");
    b.click("#demo-pretraining");
    let crashed = |b: &Browser| b.text("#notice").contains("crashed");
    let t = std::time::Instant::now();
    while !crashed(&b) && !b.finished() && t.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        crashed(&b),
        "no crash notice; notice `{}`, workers said {}",
        b.text("#notice"),
        b.js("return (window.__said || []).map(s => s.slice(0, 8).join(',')).join(' | ')")
    );
    let notice = b.text("#notice");
    b.screenshot("worker-crash-notice");
    assert!(
        notice.contains("Compute worker 1 crashed (Uncaught RuntimeError"),
        "{notice}"
    );
    let kept = kept_cells(&notice);
    assert!(kept > 0, "{notice}");
    assert!(notice.contains("A new worker computes the "), "{notice}");

    b.wait_for("the demo to finish", Duration::from_secs(400), |b| {
        b.finished()
    });
    assert_eq!(b.text("#error"), "", "no error after the recovery");
    let (done, total) = b.progress();
    assert_eq!((done, total), (3 * 9 * 9, 3 * 9 * 9));
    every_cell_computed(&b, 3, 9 * 9);
    assert!(b.pictures(3));
    // Two pools and the crashed worker's replacement; the first pool and the crashed worker
    // terminated.
    let (made, terminated) = workers(&b);
    assert_eq!(made, 2 * pool(&b) + 1);
    assert_eq!(terminated, pool(&b) + 1);
    b.screenshot("worker-crash-recovered");
}

#[test]
fn runs_started_and_cancelled_ten_times_leave_no_worker_behind() {
    let _guard = serial();
    let server = Server::start(dist());
    let b = Browser::start(false);
    watch_workers(&b, None);
    b.open(&server.url(""));
    b.wait_for("the demo to start", Duration::from_secs(120), |b| {
        b.progress().0 > 0
    });
    let pool = pool(&b);
    for round in 0..10 {
        b.click("#cancel");
        b.wait_for("the cancel", Duration::from_secs(30), |b| {
            b.text("#progress-text").contains("stopped")
        });
        let (made, terminated) = workers(&b);
        assert_eq!(made - terminated, pool, "round {round}: live workers");
        b.click("#demo-pretraining");
        b.wait_for("the run to start", Duration::from_secs(120), |b| {
            b.text("#progress-text").contains("computing") && b.progress().0 > 0
        });
    }
    b.click("#cancel");
    let (made, terminated) = workers(&b);
    assert_eq!(made - terminated, pool, "live workers at the end");
    assert_eq!(made, pool * 12, "a new pool per cancel: {made}");
}

#[test]
fn a_link_with_a_hostile_view_is_shown_clamped_and_says_what_changed() {
    let _guard = serial();
    let server = Server::start(dist());
    let b = Browser::start(false);
    // A real comparison (the fuzz seed's two panels) with a view no page would write.
    let seed = std::fs::read(root().join("fuzz/seeds/permalink/two-panels.json")).unwrap();
    let mut wire: Value = serde_json::from_slice(&seed[1..]).unwrap();
    wire["view"] = json!({"plot": "contour", "metric": "<img src=x onerror=alert(1)>",
        "levels": 1_000_000_000u64, "yaw": 1e300, "pitch": -7.0,
        "log_scale": false, "shared_scale": true});
    let json_bytes = serde_json::to_vec(&wire).unwrap();
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut z, &json_bytes).unwrap();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(z.finish().unwrap());
    b.open(&server.url(&format!("#vitscape1.{payload}")));
    // The first panel is a plane, the second a curve (drawn as lines, not a coloured field).
    b.wait_for("the shared panels", Duration::from_secs(60), |b| {
        b.pictures(1) && b.canvas_colours(1) > 20
    });
    let notice = b.text("#notice");
    b.screenshot("hostile-view");
    assert!(notice.contains("The link's view was adjusted"), "{notice}");
    assert!(
        notice.contains("1000000000 contour levels; showing 50"),
        "{notice}"
    );
    assert!(notice.contains("elevation (-7)"), "{notice}");
    assert!(notice.contains("none of its panels has"), "{notice}");
    assert_eq!(b.text("#error"), "");
    // The metric shown is the loss, and the markup in the link stayed text.
    assert_eq!(
        b.js("return document.querySelectorAll('img').length"),
        json!(0)
    );
}

#[test]
fn a_lost_webgpu_device_falls_back_to_the_cpu_with_the_cells_kept() {
    let _guard = serial();
    let server = Server::start(dist());
    let b = Browser::start(true);
    // The tiny run below is on the first worker of the pool made when the demo is cancelled; its
    // device is destroyed after its first cells.
    watch_workers(&b, Some(Fault::LoseDevice { after: 1 }));
    b.open(&server.url(""));
    b.wait_for("the WebGPU backend", Duration::from_secs(120), |b| {
        b.text("#backend").contains("WebGPU")
    });
    b.click("#cancel");
    b.set("#axis-x", "-1:1:5");
    b.set("#axis-y", "-1:1:3");
    b.set("#eval-images", "4");
    b.click("#demo-pretraining");
    b.wait_for("the run to finish", Duration::from_secs(600), |b| {
        b.finished() || !b.text("#error").is_empty()
    });
    let notice = b.text("#notice");
    let badge = b.text("#backend");
    b.screenshot("webgpu-lost");
    assert_eq!(b.text("#error"), "", "notice `{notice}`, badge `{badge}`");
    assert!(
        notice.contains("WebGPU failed, so the run continues on the CPU"),
        "{notice}"
    );
    assert!(
        badge.contains("CPU") && badge.contains("WebGPU failed mid-run"),
        "{badge}"
    );
    let kept = kept_cells(&notice);
    assert!(kept > 0, "{notice}");
    every_cell_computed(&b, 3, 5 * 3);
}
