//! Small browser services: fetching and reading files, downloads, the panels' canvases, names for exported files, timings.

use super::*;

pub(crate) fn window() -> web_sys::Window {
    leptos::prelude::window()
}

pub(crate) fn js_error(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

/// A User Timing mark (`performance.mark`) named `vitscape:<name>`: the page's steps from
/// loading to the first picture, seen in the browser's performance panel and read by the
/// browser benchmark (`tests/browser/bench.rs`).
pub(crate) fn mark(name: &str) {
    if let Some(p) = window().performance() {
        let _ = p.mark(&format!("vitscape:{name}"));
    }
}

/// Forget the marks named `vitscape:<name>`: those set many times a job (cells, redraws) are
/// cleared when a job starts, so a long session keeps only the current job's.
pub(crate) fn clear_marks(name: &str) {
    if let Some(p) = window().performance() {
        p.clear_marks_with_mark_name(&format!("vitscape:{name}"));
    }
}

/// Fetch one of the page's own static files.
pub(crate) async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    Fetching::start(url).bytes().await
}

/// A request for one of the page's own static files, under way from [`Fetching::start`]: the
/// demo asks for all its files at once and reads them in the order it needs them.
pub(crate) struct Fetching {
    url: String,
    response: js_sys::Promise,
}

impl Fetching {
    pub(crate) fn start(url: &str) -> Self {
        Self {
            url: url.to_string(),
            response: window().fetch_with_str(url),
        }
    }

    pub(crate) async fn bytes(self) -> Result<Vec<u8>, String> {
        let url = self.url;
        let response = JsFuture::from(self.response)
            .await
            .map_err(|e| format!("{url}: {}", js_error(e)))?;
        let response: web_sys::Response = response.unchecked_into();
        if !response.ok() {
            return Err(format!("{url}: HTTP {}", response.status()));
        }
        let buffer = JsFuture::from(response.array_buffer().map_err(js_error)?)
            .await
            .map_err(js_error)?;
        Ok(js_sys::Uint8Array::new(&buffer).to_vec())
    }
}

/// Hex sha256 of `bytes`, hashed for at most about 20 ms per task (the page's main thread never
/// hashes a whole file in one task: a demo checkpoint took over 100 ms in one, a ViT-B seconds;
/// issue #13). The same value as [`crate::io::checkpoint::sha256_hex`]. Steps are timed rather than
/// counted in bytes: every yield waits at least the browser's 4 ms timer clamp, which a ViT-B's
/// 1 350 quarter-megabyte steps paid 1 350 times.
pub(crate) async fn sha256_in_steps(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    /// Bytes hashed between two looks at the clock.
    const CHUNK: usize = 256 * 1024;
    /// Milliseconds of hashing per task.
    const TASK_MS: f64 = 20.0;
    let mut hasher = Sha256::new();
    let mut started = js_sys::Date::now();
    for chunk in bytes.chunks(CHUNK) {
        if js_sys::Date::now() - started >= TASK_MS {
            gloo_timers::future::TimeoutFuture::new(0).await;
            started = js_sys::Date::now();
        }
        hasher.update(chunk);
    }
    hex::encode(hasher.finalize())
}

pub(crate) async fn read_file(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("{}: {}", file.name(), js_error(e)))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The files picked in a file input, which is then cleared so picking the same file again
/// fires `change` again.
pub(crate) fn take_picked(ev: &leptos::ev::Event) -> Vec<web_sys::File> {
    let input: HtmlInputElement = event_target(ev);
    let files = files_of(input.files());
    input.set_value("");
    files
}

pub(crate) fn files_of(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    let Some(list) = list else { return Vec::new() };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// Offer bytes as a download.
pub(crate) fn download(name: &str, bytes: &[u8], mime: &str) {
    let result = (|| -> Result<(), JsValue> {
        let parts = js_sys::Array::new();
        parts.push(&js_sys::Uint8Array::from(bytes));
        let options = web_sys::BlobPropertyBag::new();
        options.set_type(mime);
        let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)?;
        let url = web_sys::Url::create_object_url_with_blob(&blob)?;
        download_url(name, &url)?;
        web_sys::Url::revoke_object_url(&url)
    })();
    if let Err(e) = result {
        web_sys::console::error_1(&e);
    }
}

/// A `blob:` URL holding `bytes` (kept by the browser until revoked).
pub(crate) fn blob_url(bytes: &js_sys::Uint8Array) -> Option<String> {
    let parts = js_sys::Array::new();
    parts.push(bytes);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/octet-stream");
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).ok()?;
    web_sys::Url::create_object_url_with_blob(&blob).ok()
}

pub(crate) fn download_url(name: &str, url: &str) -> Result<(), JsValue> {
    let document = window()
        .document()
        .ok_or_else(|| JsValue::from_str("no document"))?;
    let a: web_sys::HtmlAnchorElement = document.create_element("a")?.unchecked_into();
    a.set_href(url);
    a.set_download(name);
    a.click();
    Ok(())
}

pub(crate) fn canvas_of(i: usize) -> Option<HtmlCanvasElement> {
    canvas_by_id(&format!("canvas-{i}"))
}

/// The `<canvas>` with this id, if the page shows it.
pub(crate) fn canvas_by_id(id: &str) -> Option<HtmlCanvasElement> {
    window().document()?.get_element_by_id(id)?.dyn_into().ok()
}

pub(crate) fn slug(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

pub(crate) fn note_on_canvas(canvas: &HtmlCanvasElement, text: &str) {
    if let Ok(Some(ctx)) = canvas.get_context("2d") {
        let ctx: web_sys::CanvasRenderingContext2d = ctx.unchecked_into();
        ctx.set_fill_style_str("#ffffff");
        ctx.fill_rect(
            0.0,
            0.0,
            f64::from(canvas.width()),
            f64::from(canvas.height()),
        );
        ctx.set_fill_style_str("#666666");
        ctx.set_font("14px sans-serif");
        let _ = ctx.fill_text(text, 12.0, f64::from(canvas.height()) / 2.0);
    }
}

pub(crate) fn format_seconds(s: f64) -> String {
    if !s.is_finite() {
        "—".into()
    } else if s < 90.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.1} min", s / 60.0)
    }
}
