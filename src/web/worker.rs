//! The compute worker: receives a [`RunRequest`] with its files, picks WebGPU when the browser
//! has an adapter (else burn's CPU backend), prepares every panel with the same library code as
//! the CLI, and streams computed cells back — several cells per read-back, panels interleaved
//! coarse-to-fine — or, for a curvature task, each panel's dominant Hessian eigenvalue. The page
//! cancels by terminating the worker, so work really stops.

use std::cell::RefCell;

use burn::tensor::{Device, Tensor};
use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::arch::HeadCounts;
use crate::curvature::{
    self, Eigen, PowerIteration, PowerSettings, ProductScheme, Products, StepCheck,
};
use crate::data;
use crate::error::Error;
use crate::job::{self, DataInput, Started};
use crate::objective::Evaluator;
use crate::protocol::{CellResult, DataRef, FromWorker, PanelRequest, RunRequest, Task, schedule};
use crate::setup::{Extras, Model};
use crate::spec::{Branch, LossSpec};
use crate::surface::Surface;
use crate::sweep;
use rand_chacha::ChaCha8Rng;

/// The device chosen for this worker's lifetime.
#[derive(Clone)]
struct Backend {
    device: Device,
    name: String,
    gpu: bool,
    detail: String,
}

thread_local! {
    static GPU: RefCell<Option<Backend>> = const { RefCell::new(None) };
    static GPU_FAILURE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Worker entry point.
pub fn main() {
    console_error_panic_hook::set_once();
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        wasm_bindgen_futures::spawn_local(async move {
            match crate::web::wire::decode::<RunRequest>(&event.data()) {
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
    post(
        &FromWorker::Ready {
            version: crate::VERSION.into(),
        },
        &[],
    );
}

fn post(message: &FromWorker, attachments: &[&[u8]]) {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    match crate::web::wire::encode(message, attachments) {
        Ok(array) => {
            if let Err(e) = scope.post_message(&array) {
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

/// WebGPU if the browser offers an adapter and burn can open it, else `None` with the reason.
async fn open_gpu() -> Result<Backend, String> {
    let navigator = get(&js_sys::global(), "navigator");
    let gpu = get(&navigator, "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser exposes no WebGPU (navigator.gpu is missing)".into());
    }
    let request = get(&gpu, "requestAdapter");
    let request: js_sys::Function = request
        .dyn_into()
        .map_err(|_| "navigator.gpu.requestAdapter is not a function".to_string())?;
    let promise: Promise = request
        .call0(&gpu)
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?
        .dyn_into()
        .map_err(|_| "requestAdapter did not return a promise".to_string())?;
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
    attachments: &[Vec<u8>],
    backend: &Backend,
) -> Result<(Started, Model), String> {
    let spec = &panel.spec;
    let bytes = attachment(attachments, panel.checkpoint, "checkpoint")?;
    let model = job::load_model(
        bytes,
        spec.checkpoint.branch,
        Model::heads_of(&spec.checkpoint),
    )
    .map_err(|e| format!("{}: {e}", spec.checkpoint.name))?;
    let teacher = match (&spec.loss, panel.teacher) {
        (LossSpec::RcMae { teacher, .. }, Some(index)) => {
            let bytes = attachment(attachments, index, "teacher")?;
            let heads = HeadCounts {
                encoder: Some(teacher.num_heads),
                decoder: teacher.decoder_num_heads,
            };
            Some(
                job::load_model(bytes, Some(Branch::Teacher), heads)
                    .map_err(|e| format!("teacher {}: {e}", teacher.name))?,
            )
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
                images_gz: attachment(attachments, *images, "demo images")?,
                labels_gz: attachment(attachments, *labels, "demo labels")?,
                subset,
            },
        ),
        DataRef::Files { first, names } => {
            let files: Vec<(String, Vec<u8>)> = names
                .iter()
                .enumerate()
                .map(|(i, n)| Ok((n.clone(), attachment(attachments, first + i, n)?.to_vec())))
                .collect::<Result<_, String>>()?;
            job::load_images(spec, &model.config, DataInput::Files(&files))
        }
        DataRef::Zip { index } => {
            let files = data::unzip(attachment(attachments, *index, "zip archive")?)
                .map_err(|e| e.to_string())?;
            job::load_images(spec, &model.config, DataInput::Files(&files))
        }
    }
    .map_err(|e: Error| format!("evaluation images: {e}"))?;
    let extras = Extras {
        teacher,
        ..Extras::default()
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

/// The gradient at a host θ, read back without blocking.
async fn gradient(evaluator: &Evaluator, theta: &[f32]) -> Result<Vec<f32>, String> {
    let g = evaluator
        .gradient_on_device(theta)
        .map_err(|e| e.to_string())?;
    g.into_data_async()
        .await
        .map_err(|e| format!("reading a gradient: {e:?}"))?
        .try_to_vec::<f32>()
        .map_err(|e| format!("reading a gradient: {e:?}"))
}

/// The Hessian at one θ, its products formed from gradients read back asynchronously with the
/// native `Hessian`'s scheme and steps (the shared `Products` and `ProductBuilder`).
struct AsyncHessian<'a> {
    evaluator: &'a Evaluator,
    theta: &'a [f32],
    norm: f64,
    products: Products,
}

impl<'a> AsyncHessian<'a> {
    fn new(evaluator: &'a Evaluator, theta: &'a [f32], products: Products) -> Self {
        Self {
            evaluator,
            theta,
            norm: curvature::theta_norm(theta),
            products,
        }
    }

    async fn apply(&mut self, v: &[f64]) -> Result<Vec<f64>, String> {
        let Some(mut product) = self.products.begin(self.theta, self.norm, v) else {
            return Ok(vec![0.0; v.len()]);
        };
        while let Some(point) = product.next_point() {
            product.add(&gradient(self.evaluator, &point).await?);
        }
        Ok(self.products.end(product))
    }

    /// Hutchinson's trace with the native estimate's Rademacher vectors.
    async fn trace(&mut self, samples: usize, seed: u64) -> Result<(f64, f64, usize), String> {
        let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
        let mut values = Vec::with_capacity(samples);
        for _ in 0..samples.max(1) {
            let z = curvature::rademacher(self.theta.len(), &mut rng);
            let hz = self.apply(&z).await?;
            values.push(curvature::quadratic_form(&z, &hz));
        }
        Ok(curvature::mean_and_error(&values))
    }

    /// The dominant eigenvalue of H − shift·I by power iteration (the native `top_eigenvalues`'
    /// steps for k = 1).
    async fn top_eigenvalue(
        &mut self,
        settings: PowerSettings,
        shift: f64,
    ) -> Result<Eigen, String> {
        let mut power =
            PowerIteration::seeded(self.theta.len(), PowerSettings { k: 1, ..settings });
        loop {
            let v = power.vector().to_vec();
            let mut hv = self.apply(&v).await?;
            if shift != 0.0 {
                hv.iter_mut().zip(&v).for_each(|(y, x)| *y -= shift * x);
            }
            if let Some(e) = power.feed(hv) {
                return Ok(e);
            }
        }
    }
}

/// One panel's convexity map over a `points`×`points` grid spanning its plane, posted after
/// every cell; the same steps as the native `curvature::convexity_map`.
async fn convexity_map(
    job: u64,
    panel: usize,
    started: &Started,
    theta: &[f32],
    (settings, scheme): (PowerSettings, ProductScheme),
    points: usize,
    t0: f64,
) -> Result<(), String> {
    let evaluator = &started.prepared.evaluator;
    let mut spec = started.surface.spec.clone();
    let n = points.max(2);
    spec.grid.x.n = n;
    if let Some(y) = spec.grid.y.as_mut() {
        y.n = n;
    }
    let mut names = evaluator.objective().metric_names();
    names.extend([
        curvature::LAMBDA_MAX,
        curvature::LAMBDA_MIN,
        curvature::CONVEXITY,
    ]);
    let mut surface = Surface::empty(spec, &names);
    let one = PowerSettings { k: 1, ..settings };
    let mut check = StepCheck::default();
    let mut products = Products::new(scheme);
    for cell in sweep::row_major(surface.x.len(), surface.y.len()) {
        let coeffs = sweep::coefficients(&surface, cell);
        let sums = evaluator
            .sums_at(&coeffs)
            .map_err(|e| e.to_string())?
            .into_data_async()
            .await
            .map_err(|e| format!("reading results: {e:?}"))?
            .try_to_vec::<f32>()
            .map_err(|e| format!("reading results: {e:?}"))?;
        let mut values = evaluator.finish(&sums);
        let point = curvature::point_on_plane(theta, &started.prepared.directions.vectors, &coeffs);
        // Each cell continues the last one's products, as the native map.
        let mut hessian = AsyncHessian::new(evaluator, &point, products.continued());
        let first = hessian.top_eigenvalue(one, 0.0).await?;
        let shift = curvature::CONVEXITY_SHIFT * first.value;
        let second = hessian
            .top_eigenvalue(curvature::shifted_settings(settings), shift)
            .await?;
        let ex = curvature::extremes_from(&first, &second, shift);
        curvature::convexity_values(&ex, &mut values);
        sweep::record(&mut surface, cell, &values);
        products = hessian.products;
        check.add(&products.check);
        curvature::record_products(&mut surface, scheme, &check);
        post(
            &FromWorker::Convexity {
                job,
                panel,
                surface: Box::new(surface.clone()),
                elapsed: now_seconds() - t0,
            },
            &[],
        );
    }
    Ok(())
}

/// Grid cells per forward pass on WebGPU.
const CELLS_PER_FORWARD_GPU: usize = 8;
/// At most this many parameter values (128 MiB of f32) for the K weight sets of one forward.
const MAX_WEIGHT_VALUES: usize = 1 << 25;

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
    // θ* of each panel, kept only for curvature.
    let mut thetas = Vec::new();
    let sweeping = request.task == Task::Sweep;
    for (i, panel) in request.panels.iter().enumerate() {
        match prepare(panel, &attachments, &backend) {
            Ok((started, model)) if !sweeping => {
                thetas.push(model.theta);
                panels.push(started);
            }
            Ok((mut started, _)) => {
                // Sent to the page once; the worker has no further use for them.
                let mut files = std::mem::take(&mut started.direction_files);
                match job::mask_file(started.prepared.evaluator.objective()) {
                    Ok(Some(bytes)) => files.push(("masks.safetensors".into(), bytes)),
                    Ok(None) => {}
                    Err(e) => return fail(Some(i), e.to_string()),
                }
                let refs: Vec<&[u8]> = files.iter().map(|(_, b)| b.as_slice()).collect();
                post(
                    &FromWorker::Started {
                        job,
                        panel: i,
                        surface: Box::new(started.surface.clone()),
                        files: files.iter().map(|(n, _)| n.clone()).collect(),
                    },
                    &refs,
                );
                panels.push(started);
            }
            Err(message) => return fail(Some(i), format!("{}: {message}", panel.label)),
        }
    }
    if let Task::TopEigenvalue {
        settings,
        product,
        trace_samples,
        spectrum_batch,
    } = request.task
    {
        for (i, (started, theta)) in panels.iter().zip(&thetas).enumerate() {
            let evaluator = &started.prepared.evaluator;
            let result = async {
                let mut hessian = AsyncHessian::new(evaluator, theta, Products::new(product));
                let e = hessian.top_eigenvalue(settings, 0.0).await?;
                let trace = if trace_samples > 0 {
                    Some(hessian.trace(trace_samples, settings.seed).await?)
                } else {
                    None
                };
                let mut check = hessian.products.check;
                let spectrum = if spectrum_batch > 0 {
                    // The same panel prepared again with the mini-batch size as batch size.
                    let mut panel = request.panels[i].clone();
                    panel.spec.batch_size = spectrum_batch;
                    let (small, _) = prepare(&panel, &attachments, &backend)?;
                    let mut values = Vec::new();
                    // Each mini-batch continues the last one's products, as the native spectrum.
                    let mut products = Products::new(product);
                    for mb in small.prepared.evaluator.minibatches() {
                        let mut h = AsyncHessian::new(&mb, theta, products.continued());
                        values.push(h.top_eigenvalue(settings, 0.0).await?.value);
                        products = h.products;
                        check.add(&products.check);
                    }
                    Some(curvature::MaxEigenSpectrum::new(
                        values,
                        spectrum_batch,
                        PowerSettings { k: 1, ..settings },
                    ))
                } else {
                    None
                };
                Ok::<_, String>((e, trace, spectrum, check))
            }
            .await;
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
        post(
            &FromWorker::Done {
                job,
                elapsed: now_seconds() - t0,
            },
            &[],
        );
        return;
    }
    if let Task::ConvexityMap {
        settings,
        product,
        points,
    } = request.task
    {
        for (i, (started, theta)) in panels.iter().zip(&thetas).enumerate() {
            let solver = (settings, product);
            if let Err(message) = convexity_map(job, i, started, theta, solver, points, t0).await {
                return fail(Some(i), message);
            }
        }
        post(
            &FromWorker::Done {
                job,
                elapsed: now_seconds() - t0,
            },
            &[],
        );
        return;
    }
    let grids: Vec<(usize, usize)> = panels
        .iter()
        .map(|p| (p.surface.x.len(), p.surface.y.len()))
        .collect();
    // On WebGPU several cells share one forward pass (K weight sets, batched matmuls), so the
    // GPU runs K cells per dispatch; on the CPU one cell per forward is fastest.
    let wanted = if backend.gpu {
        CELLS_PER_FORWARD_GPU
    } else {
        1
    };
    let per_read = if backend.gpu {
        request.cells_per_read.max(CELLS_PER_FORWARD_GPU)
    } else {
        request.cells_per_read
    };
    for (i, cells) in schedule(&grids, per_read) {
        let started = &panels[i];
        let evaluator = &started.prepared.evaluator;
        let per_forward = evaluator.points_per_forward(wanted, MAX_WEIGHT_VALUES);
        let t = now_seconds();
        let mut sums: Vec<Tensor<2>> = Vec::with_capacity(cells.len());
        for chunk in cells.chunks(per_forward) {
            let points: Vec<Vec<f64>> = chunk
                .iter()
                .map(|c| sweep::coefficients(&started.surface, *c))
                .collect();
            match evaluator.sums_at_many(&points) {
                Ok(s) => sums.push(s),
                Err(e) => return fail(Some(i), e.to_string()),
            }
        }
        let width = sums.first().map_or(1, |s| s.dims()[1]).max(1);
        let total = cells.len() * width;
        // One read-back for the whole chunk: the GPU runs every forward before it waits.
        let values = match Tensor::cat(sums, 0)
            .reshape([total])
            .into_data_async()
            .await
        {
            Ok(data) => match data.try_to_vec::<f32>() {
                Ok(v) => v,
                Err(e) => return fail(Some(i), format!("reading results: {e:?}")),
            },
            Err(e) => return fail(Some(i), format!("reading results: {e:?}")),
        };
        let results: Vec<CellResult> = cells
            .iter()
            .zip(values.chunks(width))
            .map(|(c, v)| CellResult {
                ix: c.ix,
                iy: c.iy,
                values: evaluator.finish(v),
            })
            .collect();
        let seconds = (now_seconds() - t).max(1e-6);
        post(
            &FromWorker::Cells {
                job,
                panel: i,
                images_per_second: (results.len() * evaluator.images()) as f64 / seconds,
                cells: results,
                elapsed: now_seconds() - t0,
            },
            &[],
        );
    }
    post(
        &FromWorker::Done {
            job,
            elapsed: now_seconds() - t0,
        },
        &[],
    );
}
