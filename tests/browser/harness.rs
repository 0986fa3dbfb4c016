//! The browser tests' harness: the Trunk build, a static server for `dist/` and a WebDriver
//! session on headless Chromium with the helpers the tests read the page with.
#![allow(dead_code)] // not every helper is used by every test

use base64::Engine;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// `landscapeShare(i)`: the share of canvas `i`'s pixels (every fifth) that are coloured (see
/// [`Browser::landscape_share`]); `allPictures(panels, share)`: whether each of the first
/// `panels` canvases has at least that share ([`Browser::pictures`]).
const LANDSCAPE_SHARE_JS: &str = "function landscapeShare(i) {
    const c = document.getElementById('canvas-' + i); if (!c) return 0;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0, coloured = 0;
    for (let k = 0; k < d.length; k += 4 * 5) {
      n++;
      const r = d[k], g = d[k + 1], b = d[k + 2];
      if (d[k + 3] > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 20) coloured++;
    }
    return coloured / Math.max(n, 1);
  }
  function allPictures(panels, share) {
    for (let i = 0; i < panels; i++) {
      if (landscapeShare(i) < share) return false;
    }
    return true;
  }";

/// The share of a canvas's pixels that makes it a picture ([`Browser::pictures`]).
const PICTURE_SHARE: f64 = 0.15;

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One browser at a time (2 cores), and one build.
pub(crate) fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Build the app once per test run.
pub(crate) fn dist() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // The worker's profile links with fat LTO into one codegen unit, a single-threaded
            // tail of minutes, for a smaller bundle, not different code (its whole build took 22
            // min of a cold CI run on 2 cores; 17.6 min without LTO in 16 units). The tests build
            // it that way; `trunk build --release` / `.ci/serve` (and BENCHMARKS' sizes) keep the
            // shipped profile. (Both bins at opt-level 2 instead of 3 gained nothing here: 23.4
            // min for the whole Trunk build, against 21 min in an earlier session.)
            // `VITSCAPE_SHIPPED_DIST=1` (for the benchmarks) keeps the shipped profile: the
            // bundle `.ci/serve` serves.
            let mut trunk = Command::new("trunk");
            trunk.args(["build", "--release"]).current_dir(root());
            if std::env::var_os("VITSCAPE_SHIPPED_DIST").is_none() {
                trunk
                    .env("CARGO_PROFILE_WORKER_LTO", "false")
                    .env("CARGO_PROFILE_WORKER_CODEGEN_UNITS", "16");
            }
            let status = trunk
                .status()
                .expect("trunk is not installed: run `bash .ci/setup`");
            assert!(status.success(), "trunk build failed");
            root().join("dist")
        })
        .clone()
}

/// A static file server for `dist/` on 127.0.0.1 that records every path requested.
pub(crate) struct Server {
    pub(crate) port: u16,
    pub(crate) requests: Arc<Mutex<Vec<String>>>,
    /// Requests whose path starts with this are answered only once it is `None` again (a slow
    /// network, on cue).
    pub(crate) held: Arc<Mutex<Option<String>>>,
}

impl Server {
    pub(crate) fn start(dir: PathBuf) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let held = Arc::new(Mutex::new(None::<String>));
        let hold = held.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let dir = dir.clone();
                let log = log.clone();
                let hold = hold.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &dir, &log, &hold);
                });
            }
        });
        Self {
            port,
            requests,
            held,
        }
    }

    pub(crate) fn url(&self, rest: &str) -> String {
        format!("http://127.0.0.1:{}/{rest}", self.port)
    }
}

pub(crate) fn serve(
    mut stream: TcpStream,
    dir: &Path,
    log: &Mutex<Vec<String>>,
    held: &Mutex<Option<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? <= 2 {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    log.lock().unwrap().push(path.clone());
    while held
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|p| path.starts_with(p.as_str()))
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let clean = path.split(['?', '#']).next().unwrap_or("/");
    let clean = if clean == "/" { "/index.html" } else { clean };
    let file = dir.join(clean.trim_start_matches('/'));
    let ok = !clean.contains("..") && file.is_file();
    let body = if ok {
        std::fs::read(&file)?
    } else {
        b"not found".to_vec()
    };
    let mime = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    let status = if ok { "200 OK" } else { "404 Not Found" };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)
}

/// A JSON request to chromedriver (HTTP/1.1, one connection per request).
pub(crate) fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(600)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Read the headers, then exactly Content-Length bytes (chromedriver may keep the socket open).
    let mut reader = BufReader::new(stream);
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse::<usize>().ok();
        }
    }
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body).unwrap();
        }
        None => {
            reader.read_to_end(&mut body).unwrap();
        }
    }
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

pub(crate) struct Browser {
    pub(crate) driver: Child,
    pub(crate) port: u16,
    pub(crate) session: String,
    pub(crate) _profile: tempfile::TempDir,
    started: Instant,
}

impl Browser {
    pub(crate) fn start(webgpu: bool) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: run `bash .ci/setup`");
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--window-size=1400,1100".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if webgpu {
            args.push("--enable-unsafe-webgpu".into());
        }
        // V8 flags for the benchmarks (`bench.rs`); the tests leave them unset.
        if let Ok(f) = std::env::var("VITSCAPE_JS_FLAGS") {
            args.push(format!("--js-flags={f}"));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": args,
                // Downloads land in the profile, where a test can read what a user would save.
                "prefs": {
                    "download.default_directory": profile.path().join("downloads"),
                    "download.prompt_for_download": false
                }
            },
            "timeouts": {"script": 600_000, "pageLoad": 120_000}
        }}});
        let reply = http(port, "POST", "/session", Some(&caps));
        let session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {reply}"))
            .to_string();
        let browser = Self {
            driver,
            port,
            session,
            _profile: profile,
            started: t,
        };
        // Headless Chromium saves downloads only when told where (DevTools, via ChromeDriver).
        let downloads = browser._profile.path().join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        browser.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({"cmd": "Browser.setDownloadBehavior", "params": {
                "behavior": "allow",
                "downloadPath": downloads,
            }})),
        );
        browser
    }

    /// A file the page offered for download, once Chromium has saved it (the user's click).
    pub(crate) fn downloaded(&self, name: &str) -> Vec<u8> {
        let dir = self._profile.path().join("downloads");
        let path = dir.join(name);
        // Done when the file is there, no `.crdownload` is left and its size has settled.
        let in_progress = || {
            std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"))
        };
        let t = Instant::now();
        let mut last = None;
        loop {
            let size = std::fs::metadata(&path).ok().map(|m| m.len());
            if size.is_some() && size == last && !in_progress() {
                break;
            }
            last = size;
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{name} was not downloaded"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        std::fs::read(path).unwrap()
    }

    pub(crate) fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let reply = http(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        );
        if reply["value"]["error"].is_string() {
            panic!("WebDriver {path}: {}", reply["value"]);
        }
        reply["value"].clone()
    }

    pub(crate) fn open(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    pub(crate) fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Run `script` with a `done` callback (the last argument).
    pub(crate) fn js_async(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
    }

    pub(crate) fn text(&self, css: &str) -> String {
        self.js(&format!(
            "const e = document.querySelector({}); return e ? e.textContent : '';",
            json!(css)
        ))
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    pub(crate) fn click(&self, css: &str) {
        self.js(&format!("document.querySelector({}).click();", json!(css)));
    }

    /// Set an input's value as a user would (fires `change`).
    pub(crate) fn set(&self, css: &str, value: &str) {
        self.js(&format!(
            "const e = document.querySelector({}); e.value = {}; e.dispatchEvent(new Event('change', {{bubbles: true}}));",
            json!(css),
            json!(value)
        ));
    }

    /// Give a file input real files (chromedriver reads them from disk).
    pub(crate) fn upload(&self, css: &str, files: &[&Path]) {
        self.js(&format!(
            "document.querySelector({}).style.display = 'block';",
            json!(css)
        ));
        let element = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        let id = element
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_string();
        let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": paths.join("\n") })),
        );
    }

    pub(crate) fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut(&Self) -> bool,
    ) {
        let t = Instant::now();
        while !ready(self) {
            if t.elapsed() > timeout {
                self.screenshot(&format!("timeout-{}", what.replace(' ', "-")));
                panic!(
                    "timed out after {:?} waiting for {what}; progress: `{}`, error: `{}`, backend: `{}`",
                    timeout,
                    self.text("#progress-text"),
                    self.text("#error"),
                    self.text("#backend")
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        // Where a test's time goes (shown with --nocapture or on a failure).
        eprintln!(
            "waited {:.1} s for {what} (browser up {:.0} s)",
            t.elapsed().as_secs_f64(),
            self.started.elapsed().as_secs_f64()
        );
    }

    /// (done, total) from the progress line.
    pub(crate) fn progress(&self) -> (usize, usize) {
        let text = self.text("#progress-text");
        let first = text.split_whitespace().next().unwrap_or("");
        let mut parts = first.split('/');
        let n = |s: Option<&str>| s.and_then(|s| s.parse().ok()).unwrap_or(0);
        (n(parts.next()), n(parts.next()))
    }

    pub(crate) fn finished(&self) -> bool {
        let (done, total) = self.progress();
        total > 0 && done == total && self.text("#progress-text").contains("done")
    }

    pub(crate) fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or(""))
            .unwrap_or_default();
        let dir = root().join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Distinct colours drawn on panel `i`'s canvas (a blank canvas has one).
    pub(crate) fn canvas_colours(&self, i: usize) -> usize {
        self.colours(&format!("canvas-{i}"))
    }

    /// The share of canvas `i`'s pixels (every fifth) that are coloured — the landscape's fill —
    /// rather than background, grey axes or text: about 0 for a blank canvas or one that only
    /// says "not enough computed cells", about 0.4 for a finished contour.
    pub(crate) fn landscape_share(&self, i: usize) -> f64 {
        self.js(&format!("{LANDSCAPE_SHARE_JS} return landscapeShare({i});"))
            .as_f64()
            .unwrap_or(0.0)
    }

    /// Whether every one of the first `panels` canvases shows a landscape (see
    /// [`Browser::landscape_share`]).
    pub(crate) fn pictures(&self, panels: usize) -> bool {
        self.js(&format!(
            "{LANDSCAPE_SHARE_JS} return allPictures({panels}, {PICTURE_SHARE});"
        ))
        .as_bool()
        .unwrap_or(false)
    }

    /// Start a watch inside the page that records, in `window.__firstPicture`, the page's clock
    /// (`performance.now()`: milliseconds since the navigation began) when [`Browser::pictures`]
    /// first holds for the first `panels` canvases — the first picture without WebDriver's round
    /// trips in the figure. The page draws each canvas in an animation frame, so the canvases
    /// are checked as each frame's callback ends, when it drew (took 2 ms or more), and the time
    /// is that end: exact, and the check's own work (reading every canvas back) is not done
    /// every 50 ms on the cores the workers need, as a timer's was (200 ms of the page's main
    /// thread before the first picture, by DevTools' profiler).
    pub(crate) fn watch_first_picture(&self, panels: usize) {
        self.js(&format!(
            "{LANDSCAPE_SHARE_JS}
             window.__firstPicture = null;
             const frame = window.requestAnimationFrame;
             window.requestAnimationFrame = (callback) => frame.call(window, (t) => {{
               const start = performance.now();
               callback(t);
               const now = performance.now();
               // A frame that drew nothing (under 2 ms) cannot have completed the picture.
               if (window.__firstPicture !== null || now - start < 2) return;
               if (allPictures({panels}, {PICTURE_SHARE})) {{
                 window.__firstPicture = now;
                 window.requestAnimationFrame = frame;
               }}
             }});"
        ));
    }

    /// The page's User Timing marks (`vitscape:…`, `web::app::browser::mark`): each name with
    /// the times of its first and last mark and how many there were, in milliseconds since the
    /// navigation began.
    pub(crate) fn marks(&self) -> String {
        self.js(
            "const seen = new Map();
             for (const m of performance.getEntriesByType('mark')) {
               const s = seen.get(m.name) || {first: m.startTime, last: m.startTime, n: 0};
               s.last = m.startTime; s.n += 1; seen.set(m.name, s);
             }
             return [...seen].map(([k, s]) =>
               `${k.replace('vitscape:', '')} ${s.first.toFixed(0)}` +
               (s.n > 1 ? `…${s.last.toFixed(0)} (${s.n})` : '')).join(', ') + '; cells and draws: ' +
               performance.getEntriesByType('mark').filter(m => /cells|drawn/.test(m.name) && m.startTime < 4000)
                 .map(m => `${m.name.replace('vitscape:', '')[0]}${m.startTime.toFixed(0)}`).join(' ');",
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// What [`Browser::watch_first_picture`] recorded, in seconds since the navigation began.
    pub(crate) fn first_picture(&self) -> Option<f64> {
        self.js("return window.__firstPicture;")
            .as_f64()
            .map(|ms| ms / 1000.0)
    }

    /// Pixels of the canvas with this id for which `test` (a JavaScript expression in r, g, b)
    /// holds; 0 when it is missing.
    pub(crate) fn pixels_where(&self, id: &str, test: &str) -> usize {
        self.js(&format!(
            "const c = document.getElementById('{id}'); if (!c) return 0;
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let n = 0;
             for (let k = 0; k < d.length; k += 4) {{
               const r = d[k], g = d[k + 1], b = d[k + 2];
               if ({test}) n++;
             }}
             return n;"
        ))
        .as_u64()
        .unwrap_or(0) as usize
    }

    /// Distinct colours (sampled) on the canvas with this id; 0 when it is missing.
    pub(crate) fn colours(&self, id: &str) -> usize {
        self.js(&format!(
            "const c = document.getElementById('{id}'); if (!c) return 0;
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             const seen = new Set(); for (let k = 0; k < d.length; k += 4 * 7) seen.add((d[k] << 16) | (d[k+1] << 8) | d[k+2]);
             return seen.size;"
        ))
        .as_u64()
        .unwrap_or(0) as usize
    }

    /// The `surface.json` the page's JSON export button offers for panel `i`.
    pub(crate) fn exported_surface(&self, i: usize) -> Value {
        let text = self.js_async(&format!(
            "const done = arguments[arguments.length - 1];
             const original = URL.createObjectURL;
             URL.createObjectURL = function (blob) {{
               URL.createObjectURL = original;
               blob.text().then(done, e => done('ERR ' + e));
               return original.call(URL, blob);
             }};
             const buttons = [...document.querySelectorAll('#panel-{i} .exports button')];
             buttons.find(b => b.textContent === 'JSON').click();"
        ));
        serde_json::from_str(text.as_str().unwrap_or(""))
            .unwrap_or_else(|e| panic!("export: {e}: {text}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Every computed value of every metric, `(name, iy, ix, value)`.
pub(crate) fn values(surface: &Value) -> Vec<(String, usize, usize, f64)> {
    let mut out = Vec::new();
    for (name, grid) in surface["metrics"].as_object().unwrap() {
        for (iy, row) in grid.as_array().unwrap().iter().enumerate() {
            for (ix, v) in row.as_array().unwrap().iter().enumerate() {
                if let Some(v) = v.as_f64() {
                    out.push((name.clone(), iy, ix, v));
                }
            }
        }
    }
    out
}

pub(crate) fn small_grid(b: &Browser, images: usize) {
    b.set("#axis-x", "-1:1:5");
    b.set("#axis-y", "-0.5:0.5:3");
    b.set("#eval-images", &images.to_string());
    b.set("#seed", "7");
}

/// A browser on the page with the demo started and then cancelled, so the test's own run is the
/// only one.
pub(crate) fn page_without_demo(server: &Server) -> Browser {
    let b = Browser::start(false);
    b.open(&server.url(""));
    b.wait_for("the demo to start", Duration::from_secs(60), |b| {
        b.progress().1 > 0
    });
    b.click("#cancel");
    b
}

/// `command` (a `vitscape` invocation) run with `--no-plots --out OUT` added, which must succeed,
/// and the `surface.json` it wrote.
pub(crate) fn cli_surface(command: &mut Command, out: &Path) -> Value {
    let status = command
        .args(["--no-plots", "--out"])
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "{command:?} failed");
    serde_json::from_slice(&std::fs::read(out.join("surface.json")).unwrap()).unwrap()
}

/// The CLI flags for the page's demo images: the first `n` of Fashion-MNIST's test set permuted
/// with seed 0.
pub(crate) fn demo_subset(n: usize) -> Vec<String> {
    [
        "--data",
        "fashion-mnist",
        "--eval-images",
        &n.to_string(),
        "--subset-seed",
        "0",
    ]
    .map(String::from)
    .to_vec()
}

/// The CLI these tests compare the page with.
pub(crate) fn vitscape() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vitscape"))
}

/// Two runs' values (`values`) agree cell by cell: within 1e-4 relative, or 1e-7 absolute near 0.
/// `names` says which run is which in a failure ("page", "CLI").
pub(crate) fn assert_values_agree(
    a: &[(String, usize, usize, f64)],
    b: &[(String, usize, usize, f64)],
    (first, second): (&str, &str),
) {
    assert_eq!(
        a.len(),
        b.len(),
        "{first} and {second} hold different cells"
    );
    for ((name, iy, ix, x), (_, _, _, y)) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= 1e-4 * y.abs().max(1e-3),
            "{name}[{iy}][{ix}]: {first} {x} vs {second} {y}"
        );
    }
}

/// Resident memory of every Chromium process (and its driver), in bytes.
pub(crate) fn chromium_rss() -> u64 {
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

/// The peak of [`chromium_rss`], sampled every 100 ms on a thread of its own from
/// [`PeakRss::start`] until [`PeakRss::finish`].
pub(crate) struct PeakRss {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<()>,
}

impl PeakRss {
    /// Start sampling; the peak starts at `floor` (a baseline already measured, or 0).
    pub(crate) fn start(floor: u64) -> Self {
        let peak = Arc::new(AtomicU64::new(floor));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(chromium_rss(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Self {
            peak,
            stop,
            sampler,
        }
    }

    /// Stop sampling; the peak in bytes.
    pub(crate) fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.join().unwrap();
        self.peak.load(Ordering::Relaxed)
    }
}
