//! The compute worker: receives a [`RunRequest`] with its files, picks WebGPU when the browser
//! has an adapter (else burn's CPU backend), prepares every panel with the same library code as
//! the CLI, and streams computed cells back — several cells per read-back, panels interleaved
//! coarse-to-fine — or, for a curvature task, each panel's Hessian results. It holds no algorithm
//! of its own: it awaits the library's async loops (`sweep::run`, the `curvature` solvers) and
//! carries their results as messages. The page cancels by terminating the worker, so work really
//! stops.

mod bend;

use std::cell::RefCell;

use burn::tensor::Device;
use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::curvature::{self, Hessian, PowerSettings};
use crate::error::Error;
use crate::io::checkpoint;
use crate::io::checkpoint::StateDict;
use crate::io::data;
use crate::landscape::job::{self, DataInput, Started};
use crate::landscape::setup::{Extras, Model};
use crate::landscape::sweep::{self, Control, Pace};
use crate::model::arch::HeadCounts;
use crate::protocol::{
    CellResult, DataRef, FileRole, FromWorker, PanelRequest, RunRequest, SpecFiles, Task,
};
use crate::spec::{Branch, LossSpec};

/// The device chosen for this worker's lifetime.
#[derive(Clone)]
struct Backend {
    device: Device,
    name: String,
    gpu: bool,
    detail: String,
}

thread_local! {
    /// The last panic's message, for the crash report.
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    static GPU: RefCell<Option<Backend>> = const { RefCell::new(None) };
    static GPU_FAILURE: RefCell<Option<String>> = const { RefCell::new(None) };
    /// `navigator.gpu.requestAdapter()`, asked when the worker starts: the page's first job
    /// need not wait for the answer after it arrives (17–35 ms in headless Chromium without a
    /// GPU; awaiting the promise asked at start-up took 9–21 ms instead).
    static ADAPTER: RefCell<Option<Promise>> = const { RefCell::new(None) };
}

/// Worker entry point.
pub fn main() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    report_crashes(&scope);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        wasm_bindgen_futures::spawn_local(async move {
            // The same checks as `RunRequest::from_header`, which is fuzzed natively.
            let request = crate::web::wire::decode::<RunRequest>(&event.data()).and_then(
                |(request, attachments)| {
                    request.check(attachments.len())?;
                    Ok((request, attachments))
                },
            );
            match request {
                Ok((request, attachments)) => run(request, attachments).await,
                Err(message) => post(
                    &FromWorker::Failed {
                        job: 0,
                        panel: None,
                        message,
                    },
                    &[],
                ),
            }
        });
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    if let Ok(Some(adapter)) = request_adapter() {
        // Handled, so that a rejection no job awaits is not taken for a crash
        // (`report_crashes`); a job that awaits it still gets the reason.
        let ignore = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {});
        let _ = adapter.catch(&ignore);
        ignore.forget();
        ADAPTER.with(|a| *a.borrow_mut() = Some(adapter));
    }
    post(
        &FromWorker::Ready {
            version: crate::VERSION.into(),
        },
        &[],
    );
}

/// Report a crash of this worker to the page. A panic or a failed allocation aborts the wasm
/// inside a promise job (the library's async loops run in them), which leaves an unhandled
/// rejection the page would never hear of. It is caught here: a panic is sent as
/// [`FromWorker::Crashed`] with its message; anything else — an allocation that failed leaves no
/// memory to describe it — is thrown again, uncaught, so the page gets the Worker's `error`
/// event, as for any error outside a promise job. Either way the page replaces the worker.
fn report_crashes(scope: &DedicatedWorkerGlobalScope) {
    std::panic::set_hook(Box::new(|info| {
        PANIC.with(|p| {
            if let Ok(mut p) = p.try_borrow_mut() {
                *p = Some(info.to_string());
            }
        });
        console_error_panic_hook::hook(info);
    }));
    let on_rejection = Closure::<dyn FnMut(web_sys::PromiseRejectionEvent)>::new(
        |event: web_sys::PromiseRejectionEvent| match PANIC
            .with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.take()))
        {
            Some(message) => post(&FromWorker::Crashed { message }, &[]),
            None => wasm_bindgen::throw_val(event.reason()),
        },
    );
    if let Err(e) = scope.add_event_listener_with_callback(
        "unhandledrejection",
        on_rejection.as_ref().unchecked_ref(),
    ) {
        web_sys::console::error_1(&e);
    }
    on_rejection.forget();
}

fn post(message: &FromWorker, attachments: &[&[u8]]) {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    match crate::web::wire::encode(message, attachments) {
        Ok(array) => {
            // The attachments' buffers are handed over, not cloned: a ViT-B's direction files
            // are 692 MB.
            let transfer = js_sys::Array::new();
            for item in array.iter().skip(1) {
                if let Some(bytes) = item.dyn_ref::<js_sys::Uint8Array>() {
                    transfer.push(&bytes.buffer());
                }
            }
            if let Err(e) = scope.post_message_with_transfer(&array, &transfer) {
                web_sys::console::error_1(&e);
            }
        }
        Err(e) => web_sys::console::error_1(&JsValue::from_str(&e)),
    }
}

fn now_seconds() -> f64 {
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    scope.performance().map_or(0.0, |p| p.now() / 1000.0)
}

/// Property `key` of `target`, `undefined` when absent.
fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// The promise of `navigator.gpu.requestAdapter()`; `None` when the browser has no WebGPU.
fn request_adapter() -> Result<Option<Promise>, String> {
    let navigator = get(&js_sys::global(), "navigator");
    let gpu = get(&navigator, "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Ok(None);
    }
    let request = get(&gpu, "requestAdapter");
    let request: js_sys::Function = request
        .dyn_into()
        .map_err(|_| "navigator.gpu.requestAdapter is not a function".to_string())?;
    request
        .call0(&gpu)
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?
        .dyn_into()
        .map(Some)
        .map_err(|_| "requestAdapter did not return a promise".to_string())
}

/// WebGPU if the browser offers an adapter and burn can open it, else `None` with the reason.
async fn open_gpu() -> Result<Backend, String> {
    // The adapter asked for at start-up (a promise can be awaited again), else a new request.
    let promise = match ADAPTER.with(|a| a.borrow().clone()) {
        Some(promise) => promise,
        None => {
            request_adapter()?.ok_or("this browser exposes no WebGPU (navigator.gpu is missing)")?
        }
    };
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("WebGPU has no adapter here (requestAdapter returned null)".into());
    }
    let info = get(&adapter, "info");
    let text = |v: JsValue| v.as_string().filter(|s| !s.is_empty());
    let mut facts: Vec<String> = ["vendor", "architecture", "description"]
        .iter()
        .filter_map(|k| text(get(&info, k)))
        .collect();
    let fallback = get(&adapter, "isFallbackAdapter").as_bool() == Some(true)
        || get(&info, "isFallbackAdapter").as_bool() == Some(true);
    if fallback {
        facts.push("software fallback adapter".into());
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("burn could not open the WebGPU adapter: {e}"))?;
    Ok(Backend {
        device,
        name: "WebGPU".into(),
        gpu: true,
        detail: if facts.is_empty() {
            "adapter".into()
        } else {
            facts.join(", ")
        },
    })
}

async fn backend(prefer_gpu: bool) -> Backend {
    let cpu = |detail: String| Backend {
        device: Device::flex(),
        name: "CPU (burn flex)".into(),
        gpu: false,
        detail,
    };
    if !prefer_gpu {
        return cpu("GPU not requested".into());
    }
    if let Some(b) = GPU.with(|g| g.borrow().clone()) {
        return b;
    }
    if let Some(reason) = GPU_FAILURE.with(|f| f.borrow().clone()) {
        return cpu(reason);
    }
    match open_gpu().await {
        Ok(b) => {
            GPU.with(|g| *g.borrow_mut() = Some(b.clone()));
            b
        }
        Err(reason) => {
            GPU_FAILURE.with(|f| *f.borrow_mut() = Some(reason.clone()));
            cpu(reason)
        }
    }
}

/// The request's files. A sweep reads each checkpoint once, so its bytes are freed as soon as
/// the last panel naming it has parsed them, before θ is built: a model is held as file bytes
/// and parsed tensors, then as parsed tensors and θ, never as all three (a ViT-B is 346 MB per
/// copy). A curvature task keeps every file, to prepare a panel again.
struct Files {
    bytes: Vec<Vec<u8>>,
    /// Per attachment, the checkpoint reads still to come; `None` keeps every file.
    reads_left: Option<Vec<usize>>,
}

impl Files {
    fn new(bytes: Vec<Vec<u8>>, panels: &[PanelRequest], free_when_read: bool) -> Self {
        let reads_left = free_when_read.then(|| {
            let mut left = vec![0usize; bytes.len()];
            for panel in panels {
                let models = [Some(panel.checkpoint), panel.teacher, panel.files.target];
                for index in models.into_iter().flatten() {
                    if let Some(n) = left.get_mut(index) {
                        *n = n.saturating_add(1);
                    }
                }
                // Files read as plain tensors (control point, directions) are never freed:
                // in a request that names the same bytes as a model too, they stay.
                for index in panel.files.bend.iter().chain(&panel.files.directions) {
                    if let Some(n) = left.get_mut(*index) {
                        *n = usize::MAX;
                    }
                }
            }
            left
        });
        Self { bytes, reads_left }
    }

    fn get(&self, index: usize, what: &str) -> Result<&[u8], String> {
        attachment(&self.bytes, index, what)
    }

    /// The model in attachment `index`, its bytes freed if no later panel reads them.
    ///
    /// Read with the `sha256` its spec records, not hashed again: the page holds files by their
    /// hashes, computed when they came in (the demo's checked against its manifest, uploads
    /// hashed by the worker that inspects them), and attaches them by that hash. Every worker of
    /// a pool hashing every checkpoint again took about 0.1 s of each before the first picture.
    fn model(
        &mut self,
        index: usize,
        what: &str,
        branch: Option<Branch>,
        heads: HeadCounts,
        sha256: &str,
    ) -> Result<Model, String> {
        let loaded = checkpoint::read_checkpoint_known(self.get(index, what)?, branch, sha256)
            .map_err(|e| format!("{what}: {e}"))?;
        if let Some(n) = self
            .reads_left
            .as_mut()
            .and_then(|left| left.get_mut(index))
        {
            *n = n.saturating_sub(1);
            if *n == 0
                && let Some(bytes) = self.bytes.get_mut(index)
            {
                *bytes = Vec::new();
            }
        }
        Model::new(loaded, heads).map_err(|e| format!("{what}: {e}"))
    }
}

fn attachment<'a>(
    attachments: &'a [Vec<u8>],
    index: usize,
    what: &str,
) -> Result<&'a [u8], String> {
    attachments
        .get(index)
        .map(Vec::as_slice)
        .ok_or_else(|| format!("{what}: attachment {index} is missing"))
}

/// Load one panel's model, teacher and images, and prepare it.
fn prepare(
    panel: &PanelRequest,
    files: &mut Files,
    backend: &Backend,
) -> Result<(Started, Model), String> {
    let spec = &panel.spec;
    let model = files.model(
        panel.checkpoint,
        &spec.checkpoint.name,
        spec.checkpoint.branch,
        Model::heads_of(&spec.checkpoint),
        &spec.checkpoint.sha256,
    )?;
    let teacher = match (&spec.loss, panel.teacher) {
        (LossSpec::RcMae { teacher, .. }, Some(index)) => {
            let heads = HeadCounts {
                encoder: Some(teacher.num_heads),
                decoder: teacher.decoder_num_heads,
            };
            Some(files.model(
                index,
                &format!("teacher {}", teacher.name),
                Some(Branch::Teacher),
                heads,
                &teacher.sha256,
            )?)
        }
        (LossSpec::RcMae { .. }, None) => {
            return Err("the RC-MAE loss needs its teacher file".into());
        }
        _ => None,
    };
    let images = match &panel.data {
        DataRef::DemoSubset {
            images,
            labels,
            subset,
        } => job::load_images(
            spec,
            &model.config,
            DataInput::DemoSubset {
                images_gz: files.get(*images, "demo images")?,
                labels_gz: files.get(*labels, "demo labels")?,
                subset,
            },
        ),
        DataRef::Files { first, names } => {
            let images: Vec<(String, Vec<u8>)> = names
                .iter()
                .enumerate()
                .map(|(i, n)| Ok((n.clone(), files.get(first + i, n)?.to_vec())))
                .collect::<Result<_, String>>()?;
            job::load_images(spec, &model.config, DataInput::Files(&images))
        }
        DataRef::Zip { index } => {
            let images =
                data::unzip(files.get(*index, "zip archive")?).map_err(|e| e.to_string())?;
            job::load_images(spec, &model.config, DataInput::Files(&images))
        }
    }
    .map_err(|e: Error| format!("evaluation images: {e}"))?;
    let extras = Extras {
        teacher,
        ..spec_files(panel, files)?
    };
    let started = job::start(
        spec,
        &model,
        &extras,
        &images,
        &backend.device,
        &backend.name,
    )
    .map_err(|e| e.to_string())?;
    Ok((started, model))
}

/// The files a panel's directions read: a path's other end, a control point, direction files.
fn spec_files(panel: &PanelRequest, files: &mut Files) -> Result<Extras, String> {
    let spec = &panel.spec;
    let target = match (spec.directions.source.path_target(), panel.files.target) {
        (Some(t), Some(index)) => Some(files.model(
            index,
            &FileRole::Target.describe(&t.name),
            t.branch,
            Model::heads_of(t),
            &t.sha256,
        )?),
        _ => None,
    };
    let named = SpecFiles::named(spec);
    // Each file's bytes are checked against the hash the spec records.
    let tensors = |index: usize, name: &str, sha256: &str| -> Result<StateDict, String> {
        let loaded = checkpoint::read_safetensors(files.get(index, name)?, None)
            .map_err(|e| format!("{name}: {e}"))?;
        if loaded.sha256 != sha256 {
            return Err(format!(
                "{name}: its sha256 is {}, not the spec's {sha256}",
                loaded.sha256
            ));
        }
        Ok(loaded.state)
    };
    let of = |role: FileRole| named.iter().filter(move |(r, _, _)| *r == role);
    let bend = match (panel.files.bend, of(FileRole::Bend).next()) {
        (Some(index), Some((_, name, sha))) => Some(tensors(index, name, sha)?),
        _ => None,
    };
    let mut read = panel
        .files
        .directions
        .iter()
        .zip(of(FileRole::Direction))
        .map(|(index, (_, name, sha))| tensors(*index, name, sha));
    let direction_files = match read.next() {
        Some(x) => Some((x?, read.next().transpose()?)),
        None => None,
    };
    Ok(Extras {
        target,
        bend,
        direction_files,
        ..Extras::default()
    })
}

async fn run(request: RunRequest, attachments: Vec<Vec<u8>>) {
    let job = request.job;
    let t0 = now_seconds();
    let fail = |panel: Option<usize>, message: String| {
        post(
            &FromWorker::Failed {
                job,
                panel,
                message,
            },
            &[],
        );
    };
    let done = || {
        post(
            &FromWorker::Done {
                job,
                elapsed: now_seconds() - t0,
            },
            &[],
        );
    };
    let backend = backend(request.prefer_gpu).await;
    post(
        &FromWorker::Backend {
            job,
            name: backend.name.clone(),
            gpu: backend.gpu,
            detail: backend.detail.clone(),
        },
        &[],
    );
    let mut panels = Vec::new();
    // Each panel's model (θ*, layout, file hash), kept only for curvature, and its index among
    // the request's panels (a pool hands out whole panels for the eigenvalues and eigenvectors).
    let mut models = Vec::new();
    let mut indices = Vec::new();
    let sweeping = request.task == Task::Sweep;
    let whole_panels = request.task.by_whole_panels();
    let mut files = Files::new(attachments, &request.panels, sweeping);
    for (i, panel) in request.panels.iter().enumerate() {
        if whole_panels && !request.share.takes(i) {
            continue;
        }
        // A control point trains on the panel's images in batches of its own size.
        let bend_batches;
        let panel = match request.task {
            Task::TrainBend { train_batch, .. } => {
                let mut p = panel.clone();
                p.spec.batch_size = train_batch;
                bend_batches = p;
                &bend_batches
            }
            _ => panel,
        };
        match prepare(panel, &mut files, &backend) {
            Ok((started, model)) if !sweeping => {
                models.push(model);
                panels.push(started);
                indices.push(i);
            }
            Ok((started, mut model)) => {
                // Direction files and masks, sent to the page once, from the pool's first
                // worker only (the others' are the same bytes); the host θ goes first, the
                // engine holds its own copy.
                model.theta = Vec::new();
                let outputs = if request.share.index > 0 {
                    Ok(Vec::new())
                } else {
                    job::direction_files(&panel.spec, &model, &started.prepared).and_then(
                        |mut files| {
                            let masks = job::mask_file(started.prepared.evaluator.objective())?;
                            files.extend(masks.map(|b| ("masks.safetensors".to_string(), b)));
                            Ok(files)
                        },
                    )
                };
                let outputs = match outputs {
                    Ok(outputs) => outputs,
                    Err(e) => return fail(Some(i), e.to_string()),
                };
                let refs: Vec<&[u8]> = outputs.iter().map(|(_, b)| b.as_slice()).collect();
                post(
                    &FromWorker::Started {
                        job,
                        panel: i,
                        surface: Box::new(started.surface.clone()),
                        files: outputs.iter().map(|(n, _)| n.clone()).collect(),
                    },
                    &refs,
                );
                panels.push(started);
            }
            Err(message) => return fail(Some(i), format!("{}: {message}", panel.label)),
        }
    }
    // A sweep never prepares a panel again: the image bytes can go too.
    if sweeping {
        drop(files);
        files = Files::new(Vec::new(), &[], false);
    }
    if let Task::TopEigenvalue {
        settings,
        product,
        trace_samples,
        spectrum_batch,
    } = request.task
    {
        for ((started, model), &i) in panels.iter().zip(&models).zip(&indices) {
            let theta = &model.theta;
            let evaluator = &started.prepared.evaluator;
            let result = async {
                // The library's solvers, awaited: the same steps as `vitscape curvature`.
                let mut hessian = Hessian::with_scheme(evaluator, theta.clone(), product);
                let e =
                    curvature::top_eigenvalues(&mut hessian, PowerSettings { k: 1, ..settings })
                        .await?
                        .pop()
                        .ok_or_else(|| {
                            Error::Backend("power iteration on an empty model".into())
                        })?;
                let mut check = hessian.products.check;
                let trace = if trace_samples > 0 {
                    let mut hessian = Hessian::with_scheme(evaluator, theta.clone(), product);
                    let t = curvature::hutchinson_trace(&mut hessian, trace_samples, settings.seed)
                        .await?;
                    check.add(&hessian.products.check);
                    Some(t)
                } else {
                    None
                };
                let spectrum = if spectrum_batch > 0 {
                    // The same panel prepared again with the mini-batch size as batch size.
                    let mut panel = request.panels[i].clone();
                    panel.spec.batch_size = spectrum_batch;
                    let (small, _) =
                        prepare(&panel, &mut files, &backend).map_err(Error::Backend)?;
                    let (spectrum, spectrum_check) = curvature::max_eigen_spectrum(
                        &small.prepared.evaluator,
                        theta,
                        spectrum_batch,
                        settings,
                        product,
                        &mut |_, _| {},
                    )
                    .await?;
                    check.add(&spectrum_check);
                    Some(spectrum)
                } else {
                    None
                };
                Ok::<_, Error>((e, trace, spectrum, check))
            }
            .await
            .map_err(|e| e.to_string());
            match result {
                Ok((e, trace, spectrum, step_check)) => post(
                    &FromWorker::Eigenvalue {
                        job,
                        panel: i,
                        value: e.value,
                        iterations: e.iterations,
                        converged: e.converged,
                        trace,
                        spectrum,
                        step_check,
                        elapsed: now_seconds() - t0,
                    },
                    &[],
                ),
                Err(message) => return fail(Some(i), message),
            }
        }
        return done();
    }
    if let Task::HessianPlane { settings, product } = request.task {
        for ((started, model), &i) in panels.iter().zip(&models).zip(&indices) {
            let result = async {
                // The library's solver and file writer: the same as `vitscape curvature --top-k
                // K --save-eigenvectors`.
                let mut hessian =
                    Hessian::with_scheme(&started.prepared.evaluator, model.theta.clone(), product);
                let found = curvature::top_eigenvalues(&mut hessian, settings).await?;
                let files = curvature::eigenvector_files(
                    &model.layout,
                    &model.checkpoint.sha256,
                    &started.surface.spec,
                    &found,
                    settings,
                    product,
                )?;
                Ok::<_, Error>((found, files, hessian.products.check))
            }
            .await
            .map_err(|e| e.to_string());
            match result {
                Ok((eigen, files, step_check)) => {
                    let refs: Vec<&[u8]> = files.iter().map(|(_, b)| b.as_slice()).collect();
                    post(
                        &FromWorker::Eigenvectors {
                            job,
                            panel: i,
                            eigen,
                            files: files
                                .iter()
                                .map(|(name, bytes)| {
                                    crate::spec::FileRef::of_bytes(name.clone(), bytes)
                                })
                                .collect(),
                            step_check,
                            elapsed: now_seconds() - t0,
                        },
                        &refs,
                    );
                }
                Err(message) => return fail(Some(i), message),
            }
        }
        return done();
    }
    if let Task::TrainBend {
        config,
        train_batch,
    } = request.task
    {
        for ((started, model), &i) in panels.iter().zip(&models).zip(&indices) {
            let panel = &request.panels[i];
            let trained = bend::train_one(
                job,
                t0,
                i,
                panel,
                started,
                model,
                &mut files,
                config,
                train_batch,
            )
            .await;
            if let Err(message) = trained {
                return fail(Some(i), message);
            }
        }
        return done();
    }
    if let Task::ConvexityMap {
        settings,
        product,
        points,
    } = request.task
    {
        // A pool shares out the rows of every panel's map; each worker sends its part.
        let mut rows_before = 0;
        for ((started, model), &i) in panels.iter().zip(&models).zip(&indices) {
            let theta = &model.theta;
            let evaluator = &started.prepared.evaluator;
            let names = evaluator.objective().metric_names();
            let mut surface = curvature::convexity_surface(&started.surface.spec, &names, points);
            surface.info.shard = match request.share.convexity_rows(rows_before) {
                Ok(shard) => shard,
                Err(e) => return fail(Some(i), e.to_string()),
            };
            rows_before += surface.y.len();
            surface.info.power_iteration = Some(PowerSettings { k: 1, ..settings });
            let map = curvature::convexity_map(
                evaluator,
                theta,
                &started.prepared.directions.vectors,
                &mut surface,
                PowerSettings { k: 1, ..settings },
                product,
                &mut |s, _| {
                    post(
                        &FromWorker::Convexity {
                            job,
                            panel: i,
                            surface: Box::new(s.clone()),
                            elapsed: now_seconds() - t0,
                        },
                        &[],
                    );
                    Control::Continue
                },
            )
            .await;
            if let Err(e) = map {
                return fail(Some(i), e.to_string());
            }
        }
        return done();
    }
    let grids: Vec<(usize, usize)> = panels
        .iter()
        .map(|p| (p.surface.x.len(), p.surface.y.len()))
        .collect();
    // On WebGPU several cells share one forward pass (K weight sets, batched matmuls), so the
    // GPU runs K cells per dispatch; on the CPU one cell per forward is fastest.
    let wanted = if backend.gpu {
        sweep::GPU_CELLS_PER_FORWARD
    } else {
        1
    };
    let per_read = if backend.gpu {
        request.cells_per_read.max(sweep::GPU_CELLS_PER_FORWARD)
    } else {
        request.cells_per_read
    };
    // In a pool, this worker's share of the chunks; the page merges the shares.
    // (a replacement for a crashed worker is also told which cells are done already).
    for (i, cells) in request.plan(&grids, per_read) {
        let started = &mut panels[i];
        let evaluator = &started.prepared.evaluator;
        let pace = Pace {
            per_forward: evaluator.points_per_forward(wanted, sweep::MAX_WEIGHT_VALUES),
            per_read: cells.len(),
        };
        let t = now_seconds();
        let mut results = Vec::with_capacity(cells.len());
        // The library's cell loop, one read-back for the whole chunk.
        let run = sweep::run(
            evaluator,
            &mut started.surface,
            &cells,
            pace,
            &mut |_, p| {
                results.push(CellResult {
                    ix: p.cell.ix,
                    iy: p.cell.iy,
                    values: p.values.clone(),
                });
                Control::Continue
            },
        )
        .await;
        if let Err(e) = run {
            return fail(Some(i), e.to_string());
        }
        let seconds = (now_seconds() - t).max(1e-6);
        post(
            &FromWorker::Cells {
                job,
                panel: i,
                images_per_second: (results.len() * evaluator.images()) as f64 / seconds,
                flops_per_image: evaluator.config().flops_per_image(),
                cells: results,
                elapsed: now_seconds() - t0,
            },
            &[],
        );
    }
    done();
}
