//! The page: Leptos (CSR). It fetches the embedded demo, builds `SweepSpec`s from the settings,
//! sends them with the files to the compute worker, draws the surfaces as they arrive, and
//! shares them as permalinks. Nothing leaves the machine: every file is read locally, and the
//! only requests are for the page's own static files (enforced by the CSP in `index.html`).

use std::collections::HashMap;
use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{HtmlCanvasElement, HtmlInputElement, MessageEvent, Worker};

use crate::arch::HeadCounts;
use crate::checkpoint::sha256_hex;
use crate::curvature::{PowerSettings, ProductScheme};
use crate::demo::Manifest;
use crate::job::{self, Inspection};
use crate::metrics;
use crate::permalink::{self, PlotKind, View};
use crate::plot::Frame;
use crate::protocol::{DataRef, FromWorker, PanelRequest, RunRequest, Task, estimate_seconds};
use crate::spec::{
    Axis, Branch, DataSource, DataSpec, Inputs, LossChoice, LossSpec, Normalisation, Settings,
    SweepSpec,
};
use crate::surface::Surface;
use crate::sweep;
use crate::verdict::{self, DemoMode, TAU_RELATIVE, Verdict};
use crate::web::draw;

/// Canvas size in pixels.
const CANVAS: (u32, u32) = (560, 470);
/// Images per second assumed before a run has measured the real rate.
const DEFAULT_RATE: f64 = 400.0;
/// Rademacher samples of the page's trace estimate.
const TRACE_SAMPLES: usize = 20;
/// Images per mini-batch of the page's max-eigenvalue spectrum (Park & Kim).
const SPECTRUM_BATCH: usize = 16;
/// Shortest time between two redraws while results stream in (ms).
const REDRAW_INTERVAL: f64 = 300.0;

/// A computed, computing or shared panel.
#[derive(Clone, Debug)]
struct PanelState {
    label: String,
    surface: Surface,
    status: Status,
    /// Direction files and masks from the worker.
    files: Vec<(String, Arc<Vec<u8>>)>,
    /// The values a permalink carried, kept to compare a recomputation with.
    shared_values: Option<Surface>,
    /// Landscape summary of the loss, computed once when the panel stops changing.
    summary: Option<metrics::Summary>,
    /// Dominant Hessian eigenvalue at θ* (value, iterations, converged) and Hutchinson's trace
    /// (mean, standard error, samples), when asked for.
    eigen: Option<(f64, usize, bool)>,
    trace: Option<(f64, f64, usize)>,
    /// Max-eigenvalue spectrum over mini-batches, when asked for.
    spectrum: Option<crate::curvature::MaxEigenSpectrum>,
    /// The run-time step check of the Hessian-vector products behind `eigen`, `trace` and
    /// `spectrum`.
    step_check: Option<crate::curvature::StepCheck>,
    /// Li et al.'s convexity map on a coarse grid of this panel's plane, when asked for.
    convexity: Option<Surface>,
}

impl PanelState {
    /// Set a final status (done, cancelled, shared) and summarise the surface, once.
    fn finish(&mut self, status: Status) {
        self.status = status;
        // τ relative to each panel's own L(0), as in the demo verdict: losses of different
        // scales are compared on the same footing.
        self.summary = verdict::summarise_relative(&self.surface, TAU_RELATIVE).ok();
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Status {
    Computing,
    Done,
    Cancelled,
    Failed(String),
    Shared,
}

/// Panels to compute: label and spec.
type Labelled = Vec<(String, SweepSpec)>;

/// A checkpoint the user dropped in.
#[derive(Clone, Debug)]
struct Upload {
    inspection: Inspection,
    loss: LossChoice,
}

/// Images the user dropped in.
#[derive(Clone, Debug)]
struct UserImages {
    label: String,
    sha256: String,
    files: Vec<(String, Arc<Vec<u8>>)>,
    zip: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum DemoLoss {
    Pretraining,
    Probe,
}

#[derive(Clone, Debug, Default)]
struct Progress {
    job: u64,
    total: usize,
    done: usize,
    elapsed: f64,
    running: bool,
    /// What is counted: cells, or eigenvalues for a curvature job.
    unit: &'static str,
}

/// Everything the page's handlers share (all `Copy` handles).
#[derive(Clone, Copy)]
struct Ctx {
    panels: RwSignal<Vec<PanelState>>,
    view: RwSignal<View>,
    settings: RwSignal<Settings>,
    /// Points per axis of the convexity map, and power iterations per eigenvalue (text inputs).
    convexity_points: RwSignal<String>,
    power_iterations: RwSignal<String>,
    axis_x: RwSignal<String>,
    axis_y: RwSignal<String>,
    progress: RwSignal<Progress>,
    backend: RwSignal<Option<(String, bool, String)>>,
    prefer_gpu: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    notice: RwSignal<Option<String>>,
    uploads: RwSignal<Vec<Upload>>,
    images: RwSignal<Option<UserImages>>,
    manifest: RwSignal<Option<Manifest>>,
    /// The committed demo verdict (`demo/verdict.json`), when it loads.
    verdict: RwSignal<Option<Verdict>>,
    demo_loss: RwSignal<DemoLoss>,
    rate: RwSignal<f64>,
    link: RwSignal<String>,
    /// The last "Copy CLI command" text.
    command: RwSignal<String>,
    readouts: RwSignal<Vec<String>>,
    /// File bytes by sha256 (demo files and uploads).
    store: StoredValue<HashMap<String, Arc<Vec<u8>>>>,
    frames: StoredValue<Vec<Option<Frame>>>,
    worker: StoredValue<Option<Worker>, LocalStorage>,
    worker_ready: RwSignal<bool>,
    pending: StoredValue<Option<js_sys::Array>, LocalStorage>,
    drag: StoredValue<Option<(f64, f64)>>,
    draw_queued: StoredValue<bool>,
    last_draw: StoredValue<f64>,
}

/// Page entry point.
pub fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

fn window() -> web_sys::Window {
    leptos::prelude::window()
}

fn js_error(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Fetch one of the page's own static files.
async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let response = JsFuture::from(window().fetch_with_str(url))
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

async fn read_file(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("{}: {}", file.name(), js_error(e)))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The files picked in a file input, which is then cleared so picking the same file again
/// fires `change` again.
fn take_picked(ev: &leptos::ev::Event) -> Vec<web_sys::File> {
    let input: HtmlInputElement = event_target(ev);
    let files = files_of(input.files());
    input.set_value("");
    files
}

fn files_of(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    let Some(list) = list else { return Vec::new() };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// Offer bytes as a download.
fn download(name: &str, bytes: &[u8], mime: &str) {
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

fn download_url(name: &str, url: &str) -> Result<(), JsValue> {
    let document = window()
        .document()
        .ok_or_else(|| JsValue::from_str("no document"))?;
    let a: web_sys::HtmlAnchorElement = document.create_element("a")?.unchecked_into();
    a.set_href(url);
    a.set_download(name);
    a.click();
    Ok(())
}

fn canvas_of(i: usize) -> Option<HtmlCanvasElement> {
    window()
        .document()?
        .get_element_by_id(&format!("canvas-{i}"))?
        .dyn_into()
        .ok()
}

fn slug(label: &str) -> String {
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

/// The byte attachments of one request, each file once.
struct Attachments {
    store: HashMap<String, Arc<Vec<u8>>>,
    list: Vec<Arc<Vec<u8>>>,
    index_of: HashMap<String, usize>,
}

impl Attachments {
    fn new(store: HashMap<String, Arc<Vec<u8>>>) -> Self {
        Self {
            store,
            list: Vec::new(),
            index_of: HashMap::new(),
        }
    }

    /// Index of the file with this sha256, attaching it on first use.
    fn attach(&mut self, sha256: &str, what: &str) -> Result<usize, String> {
        if let Some(i) = self.index_of.get(sha256) {
            return Ok(*i);
        }
        let bytes = self.store.get(sha256).ok_or_else(|| {
            format!(
                "{what} (sha256 {}…) is not loaded: drop the same file in first",
                &sha256[..sha256.len().min(12)]
            )
        })?;
        self.list.push(bytes.clone());
        self.index_of
            .insert(sha256.to_string(), self.list.len() - 1);
        Ok(self.list.len() - 1)
    }
}

impl Ctx {
    /// Colour range shared by every panel (when the view asks for it).
    fn shared_range(&self, panels: &[PanelState], view: &View) -> Option<(f64, f64)> {
        if !view.shared_scale || panels.len() < 2 {
            return None;
        }
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for p in panels {
            if let Some((a, b)) = p.surface.range(&view.metric) {
                lo = lo.min(a);
                hi = hi.max(b);
            }
        }
        if view.log_scale {
            // Log scales need positive ends.
            let positive: Vec<f64> = panels
                .iter()
                .flat_map(|p| {
                    p.surface
                        .metrics
                        .get(&view.metric)
                        .into_iter()
                        .flatten()
                        .flatten()
                })
                .flatten()
                .copied()
                .filter(|v| *v > 0.0 && v.is_finite())
                .collect();
            lo = positive.iter().copied().fold(f64::INFINITY, f64::min);
        }
        (lo.is_finite() && hi.is_finite() && hi > lo).then_some((lo, hi))
    }

    /// Redraw every panel soon: coalesced, and at most every [`REDRAW_INTERVAL`] so streaming
    /// results never starve the page of its main thread.
    fn schedule_draw(self) {
        if self.draw_queued.get_value() {
            return;
        }
        self.draw_queued.set_value(true);
        let since =
            window().performance().map_or(f64::INFINITY, |p| p.now()) - self.last_draw.get_value();
        let wait = (REDRAW_INTERVAL - since).max(0.0);
        set_timeout(
            move || {
                request_animation_frame(move || {
                    self.draw_queued.set_value(false);
                    self.last_draw
                        .set_value(window().performance().map_or(0.0, |p| p.now()));
                    self.draw_now();
                });
            },
            std::time::Duration::from_millis(wait as u64),
        );
    }

    fn draw_now(self) {
        let panels = self.panels.get_untracked();
        let view = self.view.get_untracked();
        let range = self.shared_range(&panels, &view);
        let mut frames = Vec::with_capacity(panels.len());
        for (i, p) in panels.iter().enumerate() {
            let Some(canvas) = canvas_of(i) else {
                frames.push(None);
                continue;
            };
            let o = draw::options(&view, &p.label, range);
            match draw::canvas(&canvas, &p.surface, &view, &o) {
                Ok(frame) => frames.push(frame),
                Err(message) => {
                    frames.push(None);
                    note_on_canvas(&canvas, &format!("{}: {message}", p.label));
                }
            }
        }
        self.frames.set_value(frames);
        for (i, p) in panels.iter().enumerate() {
            let Some(map) = &p.convexity else { continue };
            let canvas = window()
                .document()
                .and_then(|d| d.get_element_by_id(&format!("convexity-{i}")))
                .and_then(|e| e.dyn_into::<HtmlCanvasElement>().ok());
            let Some(canvas) = canvas else { continue };
            let o = crate::plot::PlotOptions {
                metric: crate::curvature::CONVEXITY.into(),
                log_scale: false,
                levels: 0,
                title: Some(format!(
                    "{} — |λmin/λmax| (0 = convex, capped at 0.5)",
                    p.label
                )),
                color_range: Some((0.0, crate::curvature::CONVEXITY_CAP)),
            };
            let heat = View {
                plot: PlotKind::Heatmap,
                ..view.clone()
            };
            if let Err(message) = draw::canvas(&canvas, map, &heat, &o) {
                note_on_canvas(&canvas, &format!("{}: {message}", p.label));
            }
        }
    }

    fn send(self, message: js_sys::Array) {
        if self.worker_ready.get_untracked() {
            if let Some(w) = self.worker.get_value()
                && let Err(e) = w.post_message(&message)
            {
                self.error
                    .set(Some(format!("cannot reach the worker: {}", js_error(e))));
            }
        } else {
            self.pending.set_value(Some(message));
        }
    }

    /// Start (or restart) the compute worker.
    fn spawn_worker(self) {
        if let Some(old) = self.worker.get_value() {
            old.terminate();
        }
        self.worker_ready.set(false);
        match Worker::new("./worker_loader.js") {
            Ok(worker) => {
                let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                    self.on_worker_message(e.data());
                });
                worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
                on_message.forget();
                let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(
                    move |e: web_sys::ErrorEvent| {
                        self.error
                            .set(Some(format!("the compute worker failed: {}", e.message())));
                        self.progress.update(|p| p.running = false);
                    },
                );
                worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
                on_error.forget();
                self.worker.set_value(Some(worker));
            }
            Err(e) => self.error.set(Some(format!(
                "cannot start the compute worker: {}",
                js_error(e)
            ))),
        }
    }

    fn on_worker_message(self, data: JsValue) {
        let (message, attachments) = match crate::web::wire::decode::<FromWorker>(&data) {
            Ok(m) => m,
            Err(e) => {
                self.error
                    .set(Some(format!("unreadable message from the worker: {e}")));
                return;
            }
        };
        let current = self.progress.with_untracked(|p| p.job);
        match message {
            FromWorker::Ready { .. } => {
                self.worker_ready.set(true);
                if let Some(m) = self.pending.get_value() {
                    self.pending.set_value(None);
                    self.send(m);
                }
            }
            FromWorker::Backend {
                job,
                name,
                gpu,
                detail,
            } if job == current => {
                self.backend.set(Some((name, gpu, detail)));
            }
            FromWorker::Started {
                job,
                panel,
                surface,
                files,
            } if job == current => {
                self.panels.update(|panels| {
                    if let Some(p) = panels.get_mut(panel) {
                        p.surface = *surface;
                        p.files = files
                            .into_iter()
                            .zip(attachments)
                            .map(|(n, b)| (n, Arc::new(b)))
                            .collect();
                        p.status = Status::Computing;
                    }
                });
                self.schedule_draw();
            }
            FromWorker::Cells {
                job,
                panel,
                cells,
                elapsed,
                images_per_second,
            } if job == current => {
                let n = cells.len();
                self.panels.update(|panels| {
                    if let Some(p) = panels.get_mut(panel) {
                        for c in &cells {
                            sweep::record(
                                &mut p.surface,
                                crate::surface::Cell { ix: c.ix, iy: c.iy },
                                &c.values,
                            );
                        }
                    }
                });
                self.rate.set(images_per_second);
                self.progress.update(|p| {
                    p.done += n;
                    p.elapsed = elapsed;
                });
                self.schedule_draw();
            }
            FromWorker::Eigenvalue {
                job,
                panel,
                value,
                iterations,
                converged,
                trace,
                spectrum,
                step_check,
                elapsed,
            } if job == current => {
                self.panels.update(|panels| {
                    if let Some(p) = panels.get_mut(panel) {
                        p.eigen = Some((value, iterations, converged));
                        p.trace = trace;
                        p.spectrum = spectrum;
                        p.step_check = Some(step_check);
                    }
                });
                self.progress.update(|p| {
                    p.done += 1;
                    p.elapsed = elapsed;
                });
            }
            FromWorker::Convexity {
                job,
                panel,
                surface,
                elapsed,
            } if job == current => {
                self.panels.update(|panels| {
                    if let Some(p) = panels.get_mut(panel) {
                        p.convexity = Some(*surface);
                    }
                });
                self.progress.update(|p| {
                    p.done += 1;
                    p.elapsed = elapsed;
                });
                self.schedule_draw();
            }
            FromWorker::Done { job, elapsed } if job == current => {
                self.panels.update(|panels| {
                    // Panels this job computed (a curvature job leaves the surfaces as they are).
                    for p in panels.iter_mut().filter(|p| p.status == Status::Computing) {
                        p.finish(Status::Done);
                        if let Some(v) = p
                            .summary
                            .as_ref()
                            .and_then(|s| serde_json::to_value(s).ok())
                        {
                            p.surface.info.insert("summary_loss".into(), v);
                        }
                    }
                });
                self.progress.update(|p| {
                    p.running = false;
                    p.elapsed = elapsed;
                });
                self.schedule_draw();
            }
            FromWorker::Failed {
                job,
                panel,
                message,
            } if job == current || job == 0 => {
                self.error.set(Some(message.clone()));
                self.panels.update(|panels| {
                    for (i, p) in panels.iter_mut().enumerate() {
                        if panel.is_none_or(|k| k == i) && p.status == Status::Computing {
                            p.status = Status::Failed(message.clone());
                        }
                    }
                });
                self.progress.update(|p| p.running = false);
            }
            _ => {} // a message of an older job
        }
    }

    /// Send panels to the worker. `specs`: label and spec; the files come from the store.
    fn run(self, specs: Vec<(String, SweepSpec)>, images: Option<UserImages>, task: Task) {
        let mut files = Attachments::new(self.store.get_value());
        let manifest = self.manifest.get_untracked();
        let mut panels = Vec::new();
        for (label, spec) in &specs {
            let result = (|| -> Result<PanelRequest, String> {
                let checkpoint = files.attach(
                    &spec.checkpoint.sha256,
                    &format!("checkpoint {}", spec.checkpoint.name),
                )?;
                let teacher = match &spec.loss {
                    LossSpec::RcMae { teacher, .. } => {
                        Some(files.attach(&teacher.sha256, &format!("teacher {}", teacher.name))?)
                    }
                    _ => None,
                };
                let data = match &spec.data.source {
                    DataSource::Embedded { sha256, name } => {
                        let demo = manifest.as_ref().map(|m| &m.eval_subset);
                        if let Some(subset) = demo.filter(|s| &s.images_sha256 == sha256) {
                            DataRef::DemoSubset {
                                images: files.attach(&subset.images_sha256, "demo images")?,
                                labels: files.attach(&subset.labels_sha256, "demo labels")?,
                                subset: subset.clone(),
                            }
                        } else if let Some(user) = images.as_ref().filter(|u| &u.sha256 == sha256) {
                            let first = files.list.len();
                            files.list.extend(user.files.iter().map(|(_, b)| b.clone()));
                            if user.zip {
                                DataRef::Zip { index: first }
                            } else {
                                DataRef::Files {
                                    first,
                                    names: user.files.iter().map(|(n, _)| n.clone()).collect(),
                                }
                            }
                        } else {
                            return Err(format!(
                                "the evaluation images `{name}` are not loaded: drop the same images in first"
                            ));
                        }
                    }
                    other => {
                        return Err(format!(
                            "this page evaluates the demo subset or images you drop in; {other:?} is for the CLI"
                        ));
                    }
                };
                Ok(PanelRequest {
                    label: label.clone(),
                    spec: spec.clone(),
                    checkpoint,
                    teacher,
                    data,
                })
            })();
            match result {
                Ok(p) => panels.push(p),
                Err(e) => {
                    self.error.set(Some(format!("{label}: {e}")));
                    return;
                }
            }
        }
        if self.progress.with_untracked(|p| p.running) {
            // One job at a time: the old one is stopped by replacing the worker.
            self.spawn_worker();
        }
        let job = self.progress.with_untracked(|p| p.job) + 1;
        let request = RunRequest {
            job,
            panels,
            cells_per_read: if self
                .backend
                .with_untracked(|b| b.as_ref().is_some_and(|b| b.1))
            {
                16
            } else {
                4
            },
            prefer_gpu: self.prefer_gpu.get_untracked(),
            task,
        };
        let refs: Vec<&[u8]> = files.list.iter().map(|a| a.as_slice()).collect();
        let message = match crate::web::wire::encode(&request, &refs) {
            Ok(m) => m,
            Err(e) => {
                self.error.set(Some(e));
                return;
            }
        };
        if task != Task::Sweep {
            // Curvature of the panels on screen: their surfaces stay.
            let (total, unit) = match task {
                Task::ConvexityMap { points, .. } => (
                    specs
                        .iter()
                        .map(|(_, s)| points.max(2).pow(if s.grid.y.is_some() { 2 } else { 1 }))
                        .sum(),
                    "convexity cells",
                ),
                _ => (specs.len(), "eigenvalue sets"),
            };
            self.panels.update(|panels| {
                for p in panels.iter_mut() {
                    if let Task::ConvexityMap { .. } = task {
                        p.convexity = None;
                    } else {
                        p.eigen = None;
                        p.trace = None;
                        p.spectrum = None;
                        p.step_check = None;
                    }
                }
            });
            self.progress.set(Progress {
                job,
                total,
                done: 0,
                elapsed: 0.0,
                running: true,
                unit,
            });
            self.send(message);
            return;
        }
        let total = specs
            .iter()
            .map(|(_, s)| s.grid.x.n * s.grid.y.map_or(1, |y| y.n))
            .sum();
        let previous = self.panels.get_untracked();
        self.panels.set(
            specs
                .into_iter()
                .map(|(label, spec)| {
                    let shared_values = previous
                        .iter()
                        .find(|p| p.surface.spec == spec && p.status == Status::Shared)
                        .map(|p| p.surface.clone())
                        .or_else(|| {
                            previous
                                .iter()
                                .find(|p| p.surface.spec == spec)
                                .and_then(|p| p.shared_values.clone())
                        });
                    PanelState {
                        label,
                        surface: Surface::empty(spec, &["loss"]),
                        status: Status::Computing,
                        files: Vec::new(),
                        shared_values,
                        summary: None,
                        eigen: None,
                        trace: None,
                        spectrum: None,
                        step_check: None,
                        convexity: None,
                    }
                })
                .collect(),
        );
        self.progress.set(Progress {
            job,
            total,
            done: 0,
            elapsed: 0.0,
            running: true,
            unit: "cells",
        });
        self.schedule_draw();
        self.send(message);
    }

    /// The dominant Hessian eigenvalue at θ* of every panel on screen (PyHessian's power
    /// iteration), computed by the worker from the same files and images.
    fn eigenvalues(self) {
        self.run_on_panels(
            Task::TopEigenvalue {
                settings: PowerSettings::default(),
                product: ProductScheme::default(),
                trace_samples: TRACE_SAMPLES,
                spectrum_batch: SPECTRUM_BATCH,
            },
            "λmax is taken at its θ*",
        );
    }

    /// Run a curvature `task` on the specs of the panels on screen, with the loaded images; an
    /// error (`why` says what needs a landscape) when there are none.
    fn run_on_panels(self, task: Task, why: &str) {
        let specs: Vec<(String, SweepSpec)> = self.panels.with_untracked(|panels| {
            panels
                .iter()
                .map(|p| (p.label.clone(), p.surface.spec.clone()))
                .collect()
        });
        if specs.is_empty() {
            self.error
                .set(Some(format!("compute a landscape first: {why}")));
            return;
        }
        self.run(specs, self.images.get_untracked(), task);
    }

    /// Li et al.'s convexity map of every panel on screen, on a coarse grid of its plane.
    fn convexity_map(self) {
        let parse = |text: String, what: &str, range: std::ops::RangeInclusive<usize>| {
            text.trim()
                .parse::<usize>()
                .ok()
                .filter(|v| range.contains(v))
                .ok_or_else(|| {
                    format!(
                        "{what} must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    )
                })
        };
        let settings = parse(
            self.convexity_points.get_untracked(),
            "convexity grid",
            2..=21,
        )
        .and_then(|points| {
            parse(
                self.power_iterations.get_untracked(),
                "power iterations",
                1..=1000,
            )
            .map(|max_iterations| (points, max_iterations))
        });
        let (points, max_iterations) = match settings {
            Ok(v) => v,
            Err(e) => return self.error.set(Some(e)),
        };
        self.run_on_panels(
            Task::ConvexityMap {
                settings: PowerSettings {
                    max_iterations,
                    ..PowerSettings::default()
                },
                product: ProductScheme::default(),
                points,
            },
            "the map covers its plane",
        );
    }

    /// Stop the worker now (terminated and replaced); the partial surfaces stay.
    fn cancel(self) {
        if !self.progress.with_untracked(|p| p.running) {
            return;
        }
        self.spawn_worker();
        self.progress.update(|p| {
            p.running = false;
            p.job += 1; // late messages of the cancelled job are ignored
        });
        self.panels.update(|panels| {
            for p in panels.iter_mut() {
                if p.status == Status::Computing {
                    p.finish(Status::Cancelled);
                }
            }
        });
        self.notice.set(Some(
            "Cancelled: the worker was stopped; the cells computed so far are kept.".into(),
        ));
    }

    fn read_settings(self) -> Result<Settings, String> {
        let mut s = self.settings.get_untracked();
        s.x = Axis::parse(self.axis_x.get_untracked().trim()).map_err(|e| e.to_string())?;
        let y = self.axis_y.get_untracked();
        s.y = if y.trim().is_empty() {
            None
        } else {
            Some(Axis::parse(y.trim()).map_err(|e| e.to_string())?)
        };
        Ok(s)
    }

    /// The reference a spec records for a file in the store.
    fn reference(
        self,
        sha256: &str,
        name: &str,
        branch: Option<Branch>,
    ) -> Result<crate::spec::CheckpointRef, String> {
        let bytes = self
            .store
            .with_value(|s| s.get(sha256).cloned())
            .ok_or_else(|| format!("{name} is not loaded"))?;
        let model = job::load_model(&bytes, branch, HeadCounts::default())
            .map_err(|e| format!("{name}: {e}"))?;
        Ok(model.reference(name))
    }

    fn demo_data(self, settings: &Settings) -> Result<DataSpec, String> {
        let manifest = self
            .manifest
            .get_untracked()
            .ok_or("the demo files are not loaded yet")?;
        verdict::demo_data(&manifest.eval_subset, settings.eval_images).map_err(|e| e.to_string())
    }

    /// The demo comparison: Sup-ViT, MAE-ViT, RC-MAE-ViT on their pre-training losses, or
    /// Sup-ViT and the two linear probes on classification.
    fn run_demo(self) {
        let result = (|| -> Result<Vec<(String, SweepSpec)>, String> {
            let manifest = self
                .manifest
                .get_untracked()
                .ok_or("the demo files are not loaded yet")?;
            let settings = self.read_settings()?;
            let data = self.demo_data(&settings)?;
            let mode = match self.demo_loss.get_untracked() {
                DemoLoss::Probe => DemoMode::Probe,
                DemoLoss::Pretraining => DemoMode::Pretraining,
            };
            let mut out = Vec::new();
            for m in verdict::demo_panels(&manifest, mode) {
                let loss = m.loss;
                let (branch, teacher) = if loss == LossChoice::Rcmae {
                    (
                        Some(Branch::Student),
                        Some(self.reference(&m.sha256, &m.file, Some(Branch::Teacher))?),
                    )
                } else {
                    (None, None)
                };
                let reference = self.reference(&m.sha256, &m.file, branch)?;
                let spec = settings
                    .spec(Inputs {
                        checkpoint: reference,
                        loss,
                        teacher,
                        data: data.clone(),
                        directions: None,
                    })
                    .map_err(|e| e.to_string())?;
                out.push((m.name.clone(), spec));
            }
            Ok(out)
        })();
        match result {
            Ok(specs) => self.run(specs, None, Task::Sweep),
            Err(e) => self.error.set(Some(e)),
        }
    }

    /// The uploaded checkpoints, compared on the chosen data.
    fn run_uploads(self) {
        let result = (|| -> Result<(Labelled, Option<UserImages>), String> {
            let uploads = self.uploads.get_untracked();
            if uploads.is_empty() {
                return Err("drop one or more .safetensors checkpoints first".into());
            }
            let settings = self.read_settings()?;
            let images = self.images.get_untracked();
            let data = match &images {
                Some(user) => DataSpec {
                    source: DataSource::Embedded {
                        name: user.label.clone(),
                        sha256: user.sha256.clone(),
                    },
                    eval_images: settings.eval_images,
                    subset_seed: settings.subset_seed,
                    mean: vec![crate::data::FASHION_MNIST_MEAN],
                    std: vec![crate::data::FASHION_MNIST_STD],
                },
                None => self.demo_data(&settings)?,
            };
            let mut out = Vec::new();
            for u in &uploads {
                let i = &u.inspection;
                let (branch, teacher) = if u.loss == LossChoice::Rcmae {
                    (
                        Some(Branch::Student),
                        Some(self.reference(&i.sha256, &i.name, Some(Branch::Teacher))?),
                    )
                } else {
                    (i.branch, None)
                };
                let mut data = data.clone();
                let c = i.architecture.in_chans;
                data.mean = vec![data.mean[0]; c];
                data.std = vec![data.std[0]; c];
                let reference = self.reference(&i.sha256, &i.name, branch)?;
                let spec = settings
                    .spec(Inputs {
                        checkpoint: reference,
                        loss: u.loss,
                        teacher,
                        data,
                        directions: None,
                    })
                    .map_err(|e| format!("{}: {e}", i.name))?;
                out.push((i.name.clone(), spec));
            }
            Ok((out, images))
        })();
        match result {
            Ok((specs, images)) => self.run(specs, images, Task::Sweep),
            Err(e) => self.error.set(Some(e)),
        }
    }

    /// Recompute the panels of a permalink with their own specs.
    fn recompute(self) {
        let specs: Vec<(String, SweepSpec)> = self
            .panels
            .get_untracked()
            .into_iter()
            .map(|p| (p.label, p.surface.spec))
            .collect();
        let images = self.images.get_untracked();
        self.run(specs, images, Task::Sweep);
    }

    fn copy_link(self) {
        let panels = self.panels.get_untracked();
        let view = self.view.get_untracked();
        let list: Vec<(String, &Surface)> = panels
            .iter()
            .map(|p| (p.label.clone(), &p.surface))
            .collect();
        match permalink::encode(&view, &list) {
            Ok(fragment) => {
                let location = window().location();
                let base = format!(
                    "{}{}",
                    location.origin().unwrap_or_default(),
                    location.pathname().unwrap_or_default()
                );
                let url = format!("{base}#{fragment}");
                if let Ok(history) = window().history() {
                    let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&url));
                }
                let errors: Vec<String> = panels
                    .iter()
                    .map(|p| {
                        let e = p
                            .surface
                            .metrics
                            .get(&view.metric)
                            .map_or(0.0, permalink::max_error);
                        format!("{} ±{:.1e}", p.label, e)
                    })
                    .collect();
                self.copy(
                    url.clone(),
                    "link",
                    format!(
                        " ({} characters). Values are stored to 16 bits: {} ({}).",
                        url.len(),
                        errors.join(", "),
                        view.metric
                    ),
                );
                self.link.set(url);
            }
            Err(e) => self.error.set(Some(e.to_string())),
        }
    }

    /// Put `text` on the clipboard and say whether that worked; when the browser refuses, the
    /// text stays in its box to copy by hand.
    fn copy(self, text: String, what: &'static str, detail: String) {
        let promise = window().navigator().clipboard().write_text(&text);
        let notice = self.notice;
        wasm_bindgen_futures::spawn_local(async move {
            let said = match wasm_bindgen_futures::JsFuture::from(promise).await {
                Ok(_) => format!("The {what} is copied{detail}"),
                Err(_) => format!(
                    "The browser did not let the page copy the {what}: select it in its box and \
                     copy it yourself{detail}"
                ),
            };
            notice.set(Some(said));
        });
    }

    /// The `vitscape sweep --spec` command of every panel, one line each: run from a vitscape
    /// checkout (the demo files) or the folder of your files, it recomputes the same surfaces.
    fn copy_command(self) {
        let panels = self.panels.get_untracked();
        let lines: Result<Vec<String>, String> = panels
            .iter()
            .map(|p| {
                crate::spec::cli_command(&p.surface.spec, &slug(&p.label))
                    .map_err(|e| format!("{}: {e}", p.label))
            })
            .collect();
        match lines {
            Ok(lines) => {
                let text = lines.join("\n");
                self.command.set(text.clone());
                self.copy(
                    text,
                    "CLI command",
                    format!(
                        " ({} panel{}). Run it in a vitscape checkout or beside your files; \
                         it finds each file by its sha256.",
                        lines.len(),
                        if lines.len() == 1 { "" } else { "s" }
                    ),
                );
            }
            Err(e) => self.error.set(Some(e)),
        }
    }

    async fn add_checkpoints(self, files: Vec<web_sys::File>) {
        for file in files {
            let name = file.name();
            if !name.to_lowercase().ends_with(".safetensors") {
                self.error
                    .set(Some(format!("{name}: not a .safetensors file")));
                continue;
            }
            let bytes = match read_file(&file).await {
                Ok(b) => b,
                Err(e) => {
                    self.error.set(Some(e));
                    continue;
                }
            };
            match job::inspect(&name, &bytes, None) {
                Ok(inspection) => {
                    let sha = inspection.sha256.clone();
                    self.store.update_value(|s| {
                        s.insert(sha, Arc::new(bytes));
                    });
                    let loss = match (&inspection.architecture.decoder, inspection.branch) {
                        (Some(_), Some(_)) => LossChoice::Rcmae,
                        (Some(_), None) => LossChoice::Mae,
                        _ => LossChoice::Classification,
                    };
                    self.uploads.update(|u| {
                        u.retain(|x| x.inspection.sha256 != inspection.sha256);
                        u.push(Upload { inspection, loss });
                    });
                    self.error.set(None);
                }
                Err(e) => self.error.set(Some(format!("{name}: {e}"))),
            }
        }
    }

    async fn add_images(self, files: Vec<web_sys::File>) {
        let mut loaded = Vec::new();
        for file in &files {
            let path = js_sys::Reflect::get(file, &JsValue::from_str("webkitRelativePath"))
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default();
            let name = if path.is_empty() { file.name() } else { path };
            match read_file(file).await {
                Ok(b) => loaded.push((name, Arc::new(b))),
                Err(e) => {
                    self.error.set(Some(e));
                    return;
                }
            }
        }
        if loaded.is_empty() {
            return;
        }
        let zip = loaded.len() == 1 && loaded[0].0.to_lowercase().ends_with(".zip");
        // Check the files decode before accepting them (size is checked per model at run time).
        let check = if zip {
            crate::data::unzip(&loaded[0].1)
                .map(|f| f.len())
                .map_err(|e| e.to_string())
        } else {
            let plain: Vec<(String, Vec<u8>)> = loaded
                .iter()
                .map(|(n, b)| (n.clone(), b.to_vec()))
                .collect();
            crate::data::decode_images(&plain, 1, 8, 8)
                .map(|r| r.n)
                .map_err(|e| e.to_string())
        };
        let count = match check {
            Ok(n) => n,
            Err(e) => {
                self.error.set(Some(format!("images: {e}")));
                return;
            }
        };
        // A zip is named by its own hash, so `vitscape sweep --spec --search` can find the
        // same archive; loose files by their names and bytes together.
        let sha256 = if zip {
            sha256_hex(&loaded[0].1)
        } else {
            let mut all = Vec::new();
            for (n, b) in &loaded {
                all.extend_from_slice(n.as_bytes());
                all.extend_from_slice(b);
            }
            sha256_hex(&all)
        };
        let label = if zip {
            loaded[0].0.clone()
        } else {
            format!("{count} uploaded images")
        };
        self.images.set(Some(UserImages {
            label,
            sha256,
            files: loaded,
            zip,
        }));
        self.settings
            .update(|s| s.eval_images = s.eval_images.min(count));
        self.error.set(None);
    }

    fn on_pointer(self, i: usize, ev: &web_sys::MouseEvent) {
        let Some(canvas) = canvas_of(i) else { return };
        let scale_x = f64::from(canvas.width()) / f64::from(canvas.client_width().max(1));
        let scale_y = f64::from(canvas.height()) / f64::from(canvas.client_height().max(1));
        let (u, v) = (
            f64::from(ev.offset_x()) * scale_x,
            f64::from(ev.offset_y()) * scale_y,
        );
        let view = self.view.get_untracked();
        if view.plot == PlotKind::Surface && ev.buttons() & 1 == 1 {
            if let Some((x0, y0)) = self.drag.get_value() {
                let (dx, dy) = (u - x0, v - y0);
                self.view.update(|view| {
                    view.yaw += dx * 0.01;
                    view.pitch = (view.pitch + dy * 0.01).clamp(0.05, 1.5);
                });
                self.schedule_draw();
            }
            self.drag.set_value(Some((u, v)));
            return;
        }
        self.drag.set_value(None);
        let frame = self.frames.with_value(|f| f.get(i).copied().flatten());
        let text = frame.and_then(|f| f.coordinates(u, v)).and_then(|(a, b)| {
            self.panels
                .with_untracked(|p| p.get(i).and_then(|p| draw::readout(&p.surface, a, b)))
        });
        self.readouts.update(|r| {
            r.resize(i + 1, String::new());
            r[i] = text.unwrap_or_default();
        });
    }
}

fn note_on_canvas(canvas: &HtmlCanvasElement, text: &str) {
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

fn format_seconds(s: f64) -> String {
    if !s.is_finite() {
        "—".into()
    } else if s < 90.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.1} min", s / 60.0)
    }
}

#[component]
fn App() -> impl IntoView {
    let ctx = Ctx {
        panels: RwSignal::new(Vec::new()),
        view: RwSignal::new(View::default()),
        settings: RwSignal::new(Settings::default()),
        convexity_points: RwSignal::new("5".into()),
        power_iterations: RwSignal::new("100".into()),
        axis_x: RwSignal::new("-1:1:17".into()),
        axis_y: RwSignal::new("-1:1:17".into()),
        progress: RwSignal::new(Progress::default()),
        backend: RwSignal::new(None),
        prefer_gpu: RwSignal::new(true),
        error: RwSignal::new(None),
        notice: RwSignal::new(None),
        uploads: RwSignal::new(Vec::new()),
        images: RwSignal::new(None),
        manifest: RwSignal::new(None),
        verdict: RwSignal::new(None),
        demo_loss: RwSignal::new(DemoLoss::Pretraining),
        rate: RwSignal::new(DEFAULT_RATE),
        link: RwSignal::new(String::new()),
        command: RwSignal::new(String::new()),
        readouts: RwSignal::new(Vec::new()),
        store: StoredValue::new(HashMap::new()),
        frames: StoredValue::new(Vec::new()),
        worker: StoredValue::new_local(None),
        worker_ready: RwSignal::new(false),
        pending: StoredValue::new_local(None),
        drag: StoredValue::new(None),
        draw_queued: StoredValue::new(false),
        last_draw: StoredValue::new(f64::NEG_INFINITY),
    };
    ctx.spawn_worker();

    // A permalink in the URL: show it at once; otherwise run the demo.
    let hash = window().location().hash().unwrap_or_default();
    let shared = if hash.len() > 1 {
        match permalink::decode(&hash) {
            Ok(shared) => {
                ctx.view.set(shared.view.clone());
                ctx.panels.set(
                    shared
                        .panels
                        .into_iter()
                        .map(|p| {
                            let mut panel = PanelState {
                                label: p.label,
                                shared_values: Some(p.surface.clone()),
                                surface: p.surface,
                                status: Status::Computing,
                                files: Vec::new(),
                                summary: None,
                                eigen: None,
                                trace: None,
                                spectrum: None,
                                step_check: None,
                                convexity: None,
                            };
                            panel.finish(Status::Shared);
                            panel
                        })
                        .collect(),
                );
                true
            }
            Err(e) => {
                ctx.error.set(Some(format!(
                    "The link could not be opened: {e}. Showing the demo instead."
                )));
                false
            }
        }
    } else {
        false
    };
    spawn_local(async move {
        let manifest = match fetch_bytes("demo/manifest.json").await.and_then(|b| {
            serde_json::from_slice::<Manifest>(&b).map_err(|e| format!("demo/manifest.json: {e}"))
        }) {
            Ok(m) => m,
            Err(e) => {
                ctx.error.set(Some(format!("cannot load the demo: {e}")));
                return;
            }
        };
        let mut wanted: Vec<(String, String)> = manifest
            .models
            .iter()
            .map(|m| (m.file.clone(), m.sha256.clone()))
            .collect();
        wanted.push((
            manifest.eval_subset.images_file.clone(),
            manifest.eval_subset.images_sha256.clone(),
        ));
        wanted.push((
            manifest.eval_subset.labels_file.clone(),
            manifest.eval_subset.labels_sha256.clone(),
        ));
        for (file, sha) in wanted {
            match fetch_bytes(&format!("demo/{file}")).await {
                Ok(bytes) if sha256_hex(&bytes) == sha => {
                    ctx.store.update_value(|s| {
                        s.insert(sha, Arc::new(bytes));
                    });
                }
                Ok(_) => {
                    ctx.error.set(Some(format!(
                        "demo/{file} does not match its hash in the manifest"
                    )));
                    return;
                }
                Err(e) => {
                    ctx.error.set(Some(format!("cannot load the demo: {e}")));
                    return;
                }
            }
        }
        ctx.manifest.set(Some(manifest));
        if !shared {
            ctx.run_demo();
        }
        // The verdict is extra: without it the demo still runs, and the page says why it is absent.
        match fetch_bytes("demo/verdict.json").await.and_then(|b| {
            serde_json::from_slice::<Verdict>(&b).map_err(|e| format!("demo/verdict.json: {e}"))
        }) {
            Ok(v) => ctx.verdict.set(Some(v)),
            Err(e) => ctx.notice.set(Some(format!("no demo verdict: {e}"))),
        }
    });

    Effect::new(move |_| {
        ctx.view.track();
        ctx.schedule_draw();
    });

    view! {
        <header>
            <h1>"vitscape"</h1>
            <p class="tagline">
                "Loss landscapes of Vision Transformers, computed in your browser. Files never leave this machine."
            </p>
            <span id="backend" class="badge" class:gpu=move || ctx.backend.with(|b| b.as_ref().is_some_and(|b| b.1))>
                {move || match ctx.backend.get() {
                    Some((name, _, detail)) => format!("Backend: {name} — {detail}"),
                    None => "Backend: starting…".into(),
                }}
            </span>
        </header>
        <Show when=move || ctx.error.with(Option::is_some)>
            <div id="error" class="error" role="alert">
                {move || ctx.error.get().unwrap_or_default()}
                <button class="close" on:click=move |_| ctx.error.set(None)>"×"</button>
            </div>
        </Show>
        <Show when=move || ctx.notice.with(Option::is_some)>
            <div id="notice" class="notice">
                {move || ctx.notice.get().unwrap_or_default()}
                <button class="close" on:click=move |_| ctx.notice.set(None)>"×"</button>
            </div>
        </Show>
        <main>
            <section class="controls">
                <Demo ctx=ctx />
                <Uploads ctx=ctx />
                <SettingsForm ctx=ctx />
                <RunBar ctx=ctx />
            </section>
            <section class="results">
                <ViewBar ctx=ctx />
                <Panels ctx=ctx />
                <SummaryTable ctx=ctx />
                <VerdictView ctx=ctx />
            </section>
        </main>
        <footer>
            "Filter-normalised random directions (Li et al. 2018), each model's own pre-training loss (Lee et al., arXiv 2405.18042). "
            "The same SweepSpec drives the CLI: "<code>"vitscape sweep"</code>"."
        </footer>
    }
}

#[component]
fn Demo(ctx: Ctx) -> impl IntoView {
    let pick = move |which: DemoLoss| {
        ctx.error.set(None);
        ctx.demo_loss.set(which);
        ctx.run_demo();
    };
    view! {
        <div class="box">
            <h2>"Demo: Sup-ViT vs MAE-ViT vs RC-MAE-ViT"</h2>
            <p class="hint">"Three tiny ViTs trained by vitscape on Fashion-MNIST; same directions, same images."</p>
            <div class="toggle">
                <button id="demo-pretraining" class:active=move || ctx.demo_loss.get() == DemoLoss::Pretraining
                    on:click=move |_| pick(DemoLoss::Pretraining)>"Pre-training loss"</button>
                <button id="demo-probe" class:active=move || ctx.demo_loss.get() == DemoLoss::Probe
                    on:click=move |_| pick(DemoLoss::Probe)>"Classification (linear probe)"</button>
            </div>
        </div>
    }
}

#[component]
fn Uploads(ctx: Ctx) -> impl IntoView {
    let on_files = move |files: Vec<web_sys::File>| spawn_local(ctx.add_checkpoints(files));
    let on_images = move |files: Vec<web_sys::File>| spawn_local(ctx.add_images(files));
    view! {
        <div class="box">
            <h2>"Your checkpoints"</h2>
            <div id="dropzone" class="dropzone"
                on:dragover=move |ev: web_sys::DragEvent| ev.prevent_default()
                on:drop=move |ev: web_sys::DragEvent| {
                    ev.prevent_default();
                    on_files(files_of(ev.data_transfer().and_then(|d| d.files())));
                }>
                "Drop .safetensors files here or "
                <label class="filepick">"choose…"
                    <input id="checkpoint-input" type="file" accept=".safetensors" multiple
                        on:change=move |ev| on_files(take_picked(&ev)) />
                </label>
            </div>
            <ul id="uploads" class="uploads">
                <For each={move || ctx.uploads.get().into_iter().enumerate().collect::<Vec<_>>()}
                    key={|(i, u): &(usize, Upload)| (*i, u.inspection.sha256.clone(), u.loss)}
                    let:item>
                    {
                        let (i, u) = item;
                        let has_decoder = u.inspection.architecture.decoder.is_some();
                        let has_branches = u.inspection.branch.is_some();
                        let has_head = u.inspection.architecture.head.is_some();
                        view! {
                            <li class="upload">
                                <b>{u.inspection.name.clone()}</b>
                                <span class="inspection">{u.inspection.summary()}</span>
                                <span class="sha">"sha256 "{u.inspection.sha256[..16].to_string()}"…"</span>
                                <details><summary>{format!("{} tensors", u.inspection.tensors.len())}</summary>
                                    <pre>{u.inspection.tensors.iter().map(|(n, s)| format!("{n} {s:?}")).collect::<Vec<_>>().join("\n")}</pre>
                                </details>
                                <label>"Loss "
                                    <select class="loss-select" on:change=move |ev| {
                                        let choice = match event_target_value(&ev).as_str() {
                                            "mae" => LossChoice::Mae,
                                            "rcmae" => LossChoice::Rcmae,
                                            _ => LossChoice::Classification,
                                        };
                                        ctx.uploads.update(|list| if let Some(x) = list.get_mut(i) { x.loss = choice });
                                    }>
                                        <option value="classification" selected=u.loss == LossChoice::Classification disabled=!has_head>"classification"</option>
                                        <option value="mae" selected=u.loss == LossChoice::Mae disabled=!has_decoder>"MAE reconstruction"</option>
                                        <option value="rcmae" selected=u.loss == LossChoice::Rcmae disabled=!(has_decoder && has_branches)>"RC-MAE (recon + consistency)"</option>
                                    </select>
                                </label>
                                <button class="remove" on:click=move |_| ctx.uploads.update(|l| { if i < l.len() { l.remove(i); } })>"remove"</button>
                            </li>
                        }
                    }
                </For>
            </ul>
            <p>"Images: "
                <b id="images-label">{move || ctx.images.with(|i| i.as_ref().map_or("the demo's Fashion-MNIST subset".to_string(), |i| i.label.clone()))}</b>
                " — "
                <label class="filepick">"use my images (files or a .zip; class sub-folders = labels)…"
                    <input id="images-input" type="file" accept=".png,.jpg,.jpeg,.zip" multiple
                        on:change=move |ev| on_images(take_picked(&ev)) />
                </label>
                <Show when=move || ctx.images.with(Option::is_some)>
                    <button on:click=move |_| ctx.images.set(None)>"use the demo subset"</button>
                </Show>
            </p>
            <button id="run-uploads" class="primary" on:click=move |_| { ctx.error.set(None); ctx.run_uploads() }
                disabled=move || ctx.uploads.with(Vec::is_empty)>"Compute my checkpoints"</button>
        </div>
    }
}

fn number_input<T: std::str::FromStr + std::fmt::Display + Clone + Send + Sync + 'static>(
    ctx: Ctx,
    id: &'static str,
    label: &'static str,
    get: fn(&Settings) -> T,
    set: fn(&mut Settings, T),
) -> impl IntoView {
    view! {
        <label>{label}
            <input id=id type="number" step="any" prop:value={move || ctx.settings.with(|s| get(s).to_string())}
                on:change={move |ev| match event_target_value(&ev).trim().parse::<T>() {
                    Ok(v) => ctx.settings.update(|s| set(s, v)),
                    Err(_) => ctx.error.set(Some(format!("{label}: not a valid number"))),
                }} />
        </label>
    }
}

#[component]
fn SettingsForm(ctx: Ctx) -> impl IntoView {
    let estimate = move || {
        let settings = ctx.read_settings().ok()?;
        let panels = ctx.panels.with(|p| p.len()).max(1);
        estimate_seconds(
            panels,
            settings.cells(),
            settings.eval_images,
            ctx.rate.get(),
        )
    };
    view! {
        <details class="box settings" open>
            <summary><h2>"Settings"</h2></summary>
            <div class="grid-form">
                <label>"α axis (min:max:n)"
                    <input id="axis-x" type="text" prop:value=move || ctx.axis_x.get()
                        on:change=move |ev| ctx.axis_x.set(event_target_value(&ev)) />
                </label>
                <label>"β axis (empty = 1-D)"
                    <input id="axis-y" type="text" prop:value=move || ctx.axis_y.get()
                        on:change=move |ev| ctx.axis_y.set(event_target_value(&ev)) />
                </label>
                {number_input(ctx, "seed", "direction seed", |s| s.seed, |s, v| s.seed = v)}
                <label>"normalisation"
                    <select id="normalisation" on:change=move |ev| {
                        let n = match event_target_value(&ev).as_str() {
                            "layer" => Normalisation::Layer,
                            "none" => Normalisation::None,
                            _ => Normalisation::Filter,
                        };
                        ctx.settings.update(|s| s.normalisation = n);
                    }>
                        <option value="filter" selected>"filter"</option>
                        <option value="layer">"layer"</option>
                        <option value="none">"none"</option>
                    </select>
                </label>
                <label class="check"><input type="checkbox" prop:checked=move || ctx.settings.with(|s| s.include_rank1)
                    on:change=move |ev| { let c = event_target_checked(&ev); ctx.settings.update(|s| s.include_rank1 = c) } />
                    "perturb biases & LayerNorm"</label>
                <label class="check"><input type="checkbox" prop:checked=move || ctx.settings.with(|s| s.include_pos_embed)
                    on:change=move |ev| { let c = event_target_checked(&ev); ctx.settings.update(|s| s.include_pos_embed = c) } />
                    "perturb position embeddings"</label>
                {number_input(ctx, "mask-ratio", "mask ratio", |s| s.mask_ratio, |s, v| s.mask_ratio = v)}
                {number_input(ctx, "mask-seed", "mask seed", |s| s.mask_seed, |s, v| s.mask_seed = v)}
                <label class="check"><input type="checkbox" prop:checked=move || ctx.settings.with(|s| s.norm_pix_loss)
                    on:change=move |ev| { let c = event_target_checked(&ev); ctx.settings.update(|s| s.norm_pix_loss = c) } />
                    "normalised-pixel targets"</label>
                {number_input(ctx, "gamma", "RC-MAE γ", |s| s.gamma, |s, v| s.gamma = v)}
                {number_input(ctx, "eval-images", "images per cell", |s| s.eval_images, |s, v| s.eval_images = v)}
                {number_input(ctx, "subset-seed", "subset seed (your images)", |s| s.subset_seed, |s, v| s.subset_seed = v)}
                {number_input(ctx, "batch-size", "batch size", |s| s.batch_size, |s, v| s.batch_size = v)}
                <label class="check"><input id="prefer-gpu" type="checkbox" prop:checked=move || ctx.prefer_gpu.get()
                    on:change=move |ev| ctx.prefer_gpu.set(event_target_checked(&ev)) />
                    "use WebGPU when available"</label>
            </div>
            <p id="estimate" class="hint">{move || match estimate() {
                Some(s) => format!("Estimated time for this comparison: about {} (at {:.0} image-forwards/s{}).",
                    format_seconds(s), ctx.rate.get(),
                    if ctx.progress.with(|p| p.done) == 0 { ", a guess until a run measures it" } else { ", measured" }),
                None => "Check the axes: min:max:n, e.g. -1:1:17.".into(),
            }}</p>
        </details>
    }
}

#[component]
fn RunBar(ctx: Ctx) -> impl IntoView {
    let fraction = move || {
        ctx.progress.with(|p| {
            if p.total == 0 {
                0.0
            } else {
                p.done as f64 / p.total as f64
            }
        })
    };
    view! {
        <div class="box runbar">
            <progress id="progress" max="1" value=move || fraction().to_string()></progress>
            <span id="progress-text">{move || ctx.progress.with(|p| {
                if p.total == 0 { return "Idle".to_string(); }
                let eta = if p.done > 0 && p.running {
                    format!(", about {} left", format_seconds(p.elapsed / p.done as f64 * (p.total - p.done) as f64))
                } else { String::new() };
                let state = if p.running { "computing" } else if p.done == p.total { "done" } else { "stopped" };
                format!("{}/{} {} {state} in {}{eta}", p.done, p.total, p.unit, format_seconds(p.elapsed))
            })}</span>
            <button id="cancel" on:click=move |_| ctx.cancel() disabled=move || !ctx.progress.with(|p| p.running)>"Cancel"</button>
            <Show when=move || ctx.panels.with(|p| p.iter().any(|p| p.status == Status::Shared))>
                <button id="recompute" class="primary" on:click=move |_| { ctx.error.set(None); ctx.recompute() }>"Recompute from the checkpoints"</button>
            </Show>
        </div>
    }
}

#[component]
fn ViewBar(ctx: Ctx) -> impl IntoView {
    let plot_button = move |kind: PlotKind, id: &'static str, label: &'static str| {
        view! {
            <button id=id class:active=move || ctx.view.with(|v| v.plot == kind)
                on:click=move |_| ctx.view.update(|v| v.plot = kind)>{label}</button>
        }
    };
    let metrics = move || {
        let mut names: Vec<String> = ctx.panels.with(|p| {
            p.iter()
                .flat_map(|p| p.surface.metrics.keys().cloned())
                .collect()
        });
        names.sort();
        names.dedup();
        names
    };
    view! {
        <div class="viewbar">
            {plot_button(PlotKind::Contour, "plot-contour", "Contour")}
            {plot_button(PlotKind::Heatmap, "plot-heatmap", "Heat map")}
            {plot_button(PlotKind::Surface, "plot-surface", "3-D")}
            {plot_button(PlotKind::Line, "plot-line", "1-D")}
            <select id="metric" on:change=move |ev| { let m = event_target_value(&ev); ctx.view.update(|v| v.metric = m) }>
                {move || metrics().into_iter().map(|m| {
                    let selected = ctx.view.with_untracked(|v| v.metric == m);
                    view! { <option value=m.clone() selected=selected>{m.clone()}</option> }
                }).collect::<Vec<_>>()}
            </select>
            <label class="check"><input id="log-scale" type="checkbox" prop:checked=move || ctx.view.with(|v| v.log_scale)
                on:change=move |ev| { let c = event_target_checked(&ev); ctx.view.update(|v| v.log_scale = c) } />"log scale"</label>
            <label class="check"><input id="shared-scale" type="checkbox" prop:checked=move || ctx.view.with(|v| v.shared_scale)
                on:change=move |ev| { let c = event_target_checked(&ev); ctx.view.update(|v| v.shared_scale = c) } />"one colour scale"</label>
            <button id="copy-link" on:click=move |_| ctx.copy_link() disabled=move || ctx.panels.with(Vec::is_empty)>"Copy link"</button>
            <input id="permalink" type="text" readonly prop:value=move || ctx.link.get() placeholder="permalink appears here" />
            <button id="copy-command" on:click=move |_| ctx.copy_command() disabled=move || ctx.panels.with(Vec::is_empty)
                title="vitscape sweep --spec … for each panel: the same surfaces from the command line">"Copy CLI command"</button>
            <textarea id="cli-command" readonly rows="2" prop:value=move || ctx.command.get()
                style:display=move || if ctx.command.with(String::is_empty) { "none" } else { "block" }></textarea>
        </div>
    }
}

#[component]
fn Panels(ctx: Ctx) -> impl IntoView {
    view! {
        <div id="panels" class="panels">
            <For each={move || (0..ctx.panels.with(Vec::len)).collect::<Vec<_>>()} key={|i: &usize| *i} let:i>
                <PanelView ctx=ctx i=i />
            </For>
        </div>
    }
}

#[component]
fn PanelView(ctx: Ctx, i: usize) -> impl IntoView {
    let panel = move || ctx.panels.with(|p| p.get(i).cloned());
    let status = move || {
        panel().map_or(String::new(), |p| {
            let (done, total) = p.surface.progress();
            match &p.status {
                Status::Computing => format!("computing {done}/{total}"),
                Status::Done => format!("done, {total} cells"),
                Status::Cancelled => format!("cancelled at {done}/{total}"),
                Status::Failed(m) => format!("failed: {m}"),
                Status::Shared => "from a shared link (recompute to check)".into(),
            }
        })
    };
    let agreement = move || {
        let p = panel()?;
        let shared = p.shared_values.as_ref()?;
        if p.status != Status::Done {
            return None;
        }
        let mut worst: f64 = 0.0;
        let mut bound: f64 = 0.0;
        for (name, grid) in &p.surface.metrics {
            let Some(other) = shared.metrics.get(name) else {
                continue;
            };
            bound = bound.max(permalink::max_error(grid));
            for (a, b) in grid.iter().flatten().zip(other.iter().flatten()) {
                if let (Some(a), Some(b)) = (a, b) {
                    worst = worst.max((a - b).abs());
                }
            }
        }
        Some(format!(
            "Recomputed: largest difference from the link {worst:.2e} (the link stores values to ±{bound:.2e}) — {}",
            if worst <= bound * 1.01 + 1e-9 {
                "the numbers agree"
            } else {
                "the numbers DIFFER"
            }
        ))
    };
    let export = move |what: &'static str| {
        let Some(p) = panel() else { return };
        let name = slug(&p.label);
        match what {
            "png" => {
                if let Some(c) = canvas_of(i)
                    && let Ok(url) = c.to_data_url()
                {
                    let _ = download_url(&format!("{name}.png"), &url);
                }
            }
            "svg" => {
                let view = ctx.view.get_untracked();
                let range = ctx
                    .panels
                    .with_untracked(|all| ctx.shared_range(all, &view));
                match draw::svg(
                    &p.surface,
                    &view,
                    &draw::options(&view, &p.label, range),
                    CANVAS,
                ) {
                    Ok(svg) => download(&format!("{name}.svg"), svg.as_bytes(), "image/svg+xml"),
                    Err(e) => ctx.error.set(Some(e)),
                }
            }
            "csv" => download(
                &format!("{name}.csv"),
                p.surface.to_csv().as_bytes(),
                "text/csv",
            ),
            _ => match serde_json::to_string_pretty(&p.surface) {
                Ok(json) => download(
                    &format!("{name}.surface.json"),
                    json.as_bytes(),
                    "application/json",
                ),
                Err(e) => ctx.error.set(Some(e.to_string())),
            },
        }
    };
    view! {
        <figure class="panel" id=format!("panel-{i}")>
            <canvas id=format!("canvas-{i}") width=CANVAS.0 height=CANVAS.1
                on:mousemove=move |ev: web_sys::MouseEvent| ctx.on_pointer(i, &ev)
                on:mousedown=move |ev: web_sys::MouseEvent| ctx.on_pointer(i, &ev)
                on:mouseup=move |_| ctx.drag.set_value(None)
                on:mouseleave=move |_| ctx.drag.set_value(None)></canvas>
            <Show when=move || ctx.panels.with(|p| p.get(i).is_some_and(|p| p.convexity.is_some()))>
                <canvas id=format!("convexity-{i}") width=CANVAS.0 height=CANVAS.1></canvas>
                <div class="convexity-summary" id=format!("convexity-summary-{i}")>{move || convexity_summary(ctx, i)}</div>
            </Show>
            <figcaption>
                <div class="readout" id=format!("readout-{i}")>{move || ctx.readouts.with(|r| r.get(i).cloned().unwrap_or_default())}</div>
                <div class="status" id=format!("status-{i}")>{status}</div>
                <div class="agreement" id=format!("agreement-{i}")>{agreement}</div>
                <div class="exports">
                    <button on:click=move |_| export("png")>"PNG"</button>
                    <button on:click=move |_| export("svg")>"SVG"</button>
                    <button on:click=move |_| export("csv")>"CSV"</button>
                    <button on:click=move |_| export("json")>"JSON"</button>
                    {move || panel().map(|p| p.files.into_iter().map(|(n, b)| {
                        let label = n.trim_end_matches(".safetensors").to_string();
                        view! { <button on:click=move |_| download(&n, &b, "application/octet-stream")>{label}</button> }
                    }).collect::<Vec<_>>())}
                </div>
            </figcaption>
        </figure>
    }
}

/// "n of m cells locally convex (|λmin/λmax| < 0.1); λmax at the centre …" for a panel's map.
fn convexity_summary(ctx: Ctx, i: usize) -> String {
    ctx.panels.with(|panels| {
        let Some(map) = panels.get(i).and_then(|p| p.convexity.as_ref()) else {
            return String::new();
        };
        let ratios: Vec<f64> = map
            .metrics
            .get(crate::curvature::CONVEXITY)
            .map(|g| g.iter().flatten().flatten().copied().collect())
            .unwrap_or_default();
        let convex = ratios
            .iter()
            .filter(|r| **r < crate::curvature::CONVEX_RATIO)
            .count();
        let centre = map.x.iter().position(|v| *v == 0.0).and_then(|ix| {
            let iy = map.y.iter().position(|v| *v == 0.0)?;
            map.metrics.get(crate::curvature::LAMBDA_MAX)?[iy][ix]
        });
        let (done, total) = map.progress();
        // How the products were formed and their step check, as the worker recorded them.
        let check = map
            .info
            .get("step_check")
            .and_then(|c| serde_json::from_value::<crate::curvature::StepCheck>(c.clone()).ok())
            .and_then(|c| c.max_relative_truncation)
            .map_or(String::new(), |c| {
                let flag = if c > crate::curvature::STEP_CHECK_LIMIT {
                    " (above the limit: products may be >0.5 % off)"
                } else {
                    ""
                };
                format!(" step check {c:.0e}{flag};")
            });
        format!(
            "{convex} of {done} cells locally convex (|λmin/λmax| < {}), {done}/{total} computed;{check} λmax at the centre: {}",
            crate::curvature::CONVEX_RATIO,
            centre.map_or("—".into(), |v| format!("{v:.4e}"))
        )
    })
}

#[component]
fn SummaryTable(ctx: Ctx) -> impl IntoView {
    let rows = move || {
        ctx.panels.with(|panels| {
            panels
                .iter()
                .map(|p| {
                    // Finished panels only: `PanelState::finish` computed it once.
                    let s = &p.summary;
                    let f = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.3}"));
                    let tau = s.as_ref().map_or("—".into(), |s| format!("{:.4}", s.tau));
                    let trace = p.trace.map_or("—".into(), |(m, se, n)| {
                        format!("{m:.4e} ± {se:.1e} ({n} samples)")
                    });
                    let spectrum = p.spectrum.as_ref().map_or("—".into(), |s| {
                        let mean = s
                            .mean_positive
                            .map_or("none".into(), |m| format!("{m:.4e}"));
                        let values: Vec<String> =
                            s.values.iter().map(|v| format!("{v:.3e}")).collect();
                        format!(
                            "{:.2} negative, mean positive {mean} ({} mini-batches: {})",
                            s.fraction_negative,
                            s.values.len(),
                            values.join(", ")
                        )
                    });
                    let check = p.step_check.and_then(|c| c.max_relative_truncation).map_or(
                        String::new(),
                        |c| {
                            let flag = if c > crate::curvature::STEP_CHECK_LIMIT {
                                " — above the limit, products may be >0.5 % off"
                            } else {
                                ""
                            };
                            format!(", step check {c:.0e}{flag}")
                        },
                    );
                    let eigen = p.eigen.map_or("—".into(), |(v, it, ok)| {
                        format!(
                            "{v:.4e} ({it} it.{}{check})",
                            if ok { "" } else { ", not converged" }
                        )
                    });
                    (
                        p.label.clone(),
                        s.as_ref()
                            .map_or("—".into(), |s| format!("{:.4}", s.centre)),
                        s.as_ref().map_or("—".into(), |s| f(s.radius_mean)),
                        s.as_ref()
                            .map_or("—".into(), |s| format!("{:.3}", s.basin_area)),
                        s.as_ref().map_or("—".into(), |s| {
                            format!("{:.1} %", s.convex_fraction * 100.0)
                        }),
                        s.as_ref().map_or("—".into(), |s| {
                            format!("{:.2e} ({:.3})", s.roughness_rms, s.roughness_relative)
                        }),
                        s.as_ref().map_or("—".into(), |s| {
                            format!("{} / {}", f(s.curvature_x), f(s.curvature_y))
                        }),
                        tau,
                        eigen,
                        trace,
                        spectrum,
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <table id="summary" class="summary">
            <caption>{format!("Landscape summaries of the loss (τ = {:.0} % of each model's L(0); α, β in direction units)", TAU_RELATIVE * 100.0)}</caption>
            <thead><tr><th>"model"</th><th>"L(0)"</th><th>"τ"</th><th>"basin radius (mean of 64 rays)"</th><th>"area below L(0)+τ"</th>
                <th>"locally convex cells"</th><th>"roughness: rms vs quadratic (relative)"</th><th>"curvature α / β at 0"</th>
                <th>"λmax of the Hessian at θ*"</th><th>"trace (Hutchinson)"</th><th>{format!("max-eigenvalue spectrum (mini-batches of {SPECTRUM_BATCH})")}</th></tr></thead>
            <tbody>
                {move || rows().into_iter().map(|(a, b, c, d, e, f, g, t, h, tr, sp)| view! {
                    <tr><td>{a}</td><td>{b}</td><td>{t}</td><td>{c}</td><td>{d}</td><td>{e}</td><td>{f}</td><td>{g}</td><td class="eigen">{h}</td><td class="trace">{tr}</td><td class="spectrum">{sp}</td></tr>
                }).collect::<Vec<_>>()}
            </tbody>
        </table>
        <p class="hint">
            <button id="eigen" on:click=move |_| { ctx.error.set(None); ctx.eigenvalues() }
                disabled=move || ctx.progress.with(|p| p.running) || ctx.panels.with(Vec::is_empty)>
                "Compute λmax, trace and spectrum at θ*"
            </button>
            {format!(" Power iteration on Hessian-vector products ({}; the step check is the largest estimated relative truncation error of the half step), PyHessian's rule:", ProductScheme::default())}
            {format!(" at most 100 iterations, stop when |Δλ|/(|λ|+1e-6) < 1e-3; then Hutchinson's trace over {TRACE_SAMPLES} Rademacher vectors (± its standard error); then the top eigenvalue of each mini-batch of {SPECTRUM_BATCH} images (Park & Kim's max-eigenvalue spectrum) — the same numbers as ")}
            <code>{format!("vitscape curvature --parts top trace spectrum --trace-samples {TRACE_SAMPLES} --spectrum-batch {SPECTRUM_BATCH}")}</code>"."
        </p>
        <p class="hint">
            <button id="convexity" on:click=move |_| { ctx.error.set(None); ctx.convexity_map() }
                disabled=move || ctx.progress.with(|p| p.running) || ctx.panels.with(Vec::is_empty)>
                "Convexity map"
            </button>
            " on a "
            <input id="convexity-grid" size="2" prop:value=move || ctx.convexity_points.get()
                on:change=move |ev| ctx.convexity_points.set(event_target_value(&ev)) />
            "-point grid of each plane, at most "
            <input id="power-iterations" size="3" prop:value=move || ctx.power_iterations.get()
                on:change=move |ev| ctx.power_iterations.set(event_target_value(&ev)) />
            {format!(" power iterations per eigenvalue: λmax, then λmin from H − 0.51·λmax·I, and |λmin/λmax| drawn under each plot; Hessian-vector products by {} (Li et al.; ", ProductScheme::default())}
            <code>"vitscape curvature --parts convexity"</code>
            "). Each cell costs two power iterations: expect minutes on the CPU."
        </p>
    }
}

/// The demo verdict over several direction seeds (`demo/verdict.json`, written by
/// `vitscape verdict`): each question answered on both kinds of loss, with the numbers.
#[component]
fn VerdictView(ctx: Ctx) -> impl IntoView {
    let body = move || {
        ctx.verdict.with(|v| {
            v.as_ref().map(|v| {
                let seeds: Vec<String> = v.seeds.iter().map(u64::to_string).collect();
                let header = format!(
                    "Over {} direction seeds ({}), {}×{} grids over [−1, 1]², {} images, τ = {:.0} % of each model's L(0). \
                     Yes/No only when every seed agrees; the seed-{} row is the demo above.",
                    v.seeds.len(),
                    seeds.join(", "),
                    v.settings.x.n,
                    v.settings.y.map_or(1, |y| y.n),
                    v.settings.eval_images,
                    v.tau_relative * 100.0,
                    v.seeds.first().copied().unwrap_or_default(),
                );
                let modes = v
                    .modes
                    .iter()
                    .map(|m| {
                        let items = m
                            .comparisons
                            .iter()
                            .map(|c| {
                                let class = match c.answer {
                                    verdict::Answer::Yes => "answer yes",
                                    verdict::Answer::No => "answer no",
                                    verdict::Answer::Unclear => "answer unclear",
                                };
                                view! {
                                    <li><span class="question">{c.question.clone()}</span>" "
                                        <span class=class>{c.sentence()}</span></li>
                                }
                            })
                            .collect::<Vec<_>>();
                        view! {
                            <h3>{format!("On the {}", m.mode.label())}</h3>
                            <ul>{items}</ul>
                        }
                    })
                    .collect::<Vec<_>>();
                view! {
                    <p class="verdict-setup">{header}</p>
                    {modes}
                    <p class="verdict-command">{format!("Computed natively by `{}` (vitscape {}).", v.command, v.vitscape_version)}</p>
                }
            })
        })
    };
    view! {
        <Show when=move || ctx.verdict.with(Option::is_some)>
            <section id="verdict" class="verdict">
                <h2>"Verdict: is the self-supervised landscape wider, smoother, more convex?"</h2>
                {body}
            </section>
        </Show>
    }
}
