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

use crate::curvature::{ExtremesMethod, PowerSettings, ProductScheme};
use crate::demo::Manifest;
use crate::demo::verdict::{self, DemoMode, TAU_RELATIVE, Verdict};
use crate::io::data::{Interpolation, MeanStd, Preprocess};
use crate::io::inspect::{self, Inspection};
use crate::landscape::surface::Surface;
use crate::landscape::sweep;
use crate::metrics;
use crate::model::arch::HeadCounts;
use crate::plot::Frame;
use crate::protocol::{
    DataRef, FileRole, FromWorker, PanelRequest, RunRequest, SpecFiles, Task, estimate_seconds,
};
use crate::spec::permalink::{self, PlotKind, View};
use crate::spec::{
    Axis, Branch, DataSource, DataSpec, DirectionSource, FileRef, Inputs, LossChoice, LossSpec,
    Normalisation, Settings, SweepSpec,
};
use crate::web::draw;

/// Side of the demo's Fashion-MNIST images.
pub(crate) const DEMO_IMAGE_SIZE: usize = 28;
/// Power iteration's tolerance for a Hessian plane's eigenvectors: tighter than for an
/// eigenvalue alone (1e-3), as the vectors converge more slowly than their Rayleigh quotients.
pub(crate) const HESSIAN_PLANE_TOLERANCE: f64 = 1e-6;
/// Each axis of the page's default plane (the demo's 17×17 over [−1, 1]²).
pub(crate) const PLANE_AXIS: &str = "-1:1:17";
/// The grid of a path between two checkpoints: t from −0.5 to 1.5 in 41 points (the CLI's).
pub(crate) const PATH_AXIS: &str = "-0.5:1.5:41";
/// Canvas size in pixels.
pub(crate) const CANVAS: (u32, u32) = (560, 470);
/// Height of a panel's barcode (its merge tree), as wide as the panel.
pub(crate) const BARCODE_HEIGHT: u32 = 240;
/// FLOP/s assumed before a run has measured the real rate: 400 image forwards per second of the
/// demo model (what 2 CPU workers reach; the figure is shown as a guess).
pub(crate) fn default_rate() -> f64 {
    400.0 * demo_flops_per_image()
}

/// Matmul FLOPs of one image through the demo models (28×28/7, width 64, depth 4, MLP 256).
pub(crate) fn demo_flops_per_image() -> f64 {
    crate::model::arch::VitConfig::standard(28, 7, 1, 64, 4, 4).flops_per_image()
}
/// The demo's paths between fine-tuned models (`demo/connect/<dir>/`, `vitscape connect`).
pub(crate) const DEMO_CONNECTIONS: [(&str, &str); 2] = [
    ("sup-mae", "Sup-ViT ↔ MAE-ViT fine-tuned"),
    ("mae-rcmae", "MAE-ViT fine-tuned ↔ RC-MAE-ViT fine-tuned"),
];

/// The demo models' training trajectories (`demo/trajectory/<dir>/surface.json`).
pub(crate) const DEMO_TRAJECTORIES: [(&str, &str); 3] = [
    ("sup-vit", "Sup-ViT"),
    ("mae-vit", "MAE-ViT"),
    ("rcmae-vit", "RC-MAE-ViT"),
];

/// Rademacher samples of the page's trace estimate.
pub(crate) const TRACE_SAMPLES: usize = 20;
/// Images per mini-batch of the page's max-eigenvalue spectrum (Park & Kim).
pub(crate) const SPECTRUM_BATCH: usize = 16;
/// Pause between the end of one redraw and the start of the next while results stream in (ms).
pub(crate) const REDRAW_INTERVAL: f64 = 300.0;

mod bends;
mod browser;
mod canvas;
mod components;
mod crash;
mod demo;
mod pool;
mod runs;
mod share;
mod specs;
mod state;
mod uploads;

use browser::*;
// Ours, not leptos::prelude::window (an explicit import shadows both globs).
use browser::window;
use components::*;
use state::*;
#[allow(unused_imports)]
use {bends::*, canvas::*, pool::*, runs::*, share::*, specs::*, uploads::*};

/// Page entry point.
pub fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

#[component]
pub(crate) fn App() -> impl IntoView {
    let ctx = Ctx {
        panels: RwSignal::new(Vec::new()),
        view: RwSignal::new(View::default()),
        settings: RwSignal::new(Settings::default()),
        convexity_points: RwSignal::new("5".into()),
        power_iterations: RwSignal::new("100".into()),
        axis_x: RwSignal::new(PLANE_AXIS.into()),
        axis_y: RwSignal::new(PLANE_AXIS.into()),
        progress: RwSignal::new(Progress::default()),
        backend: RwSignal::new(None),
        prefer_gpu: RwSignal::new(true),
        error: RwSignal::new(None),
        notice: RwSignal::new(None),
        uploads: RwSignal::new(Vec::new()),
        heads: RwSignal::new(String::new()),
        decoder_heads: RwSignal::new(String::new()),
        resize: RwSignal::new(String::new()),
        crop: RwSignal::new(String::new()),
        interpolation: RwSignal::new(Interpolation::Bicubic),
        mean_std: RwSignal::new(String::new()),
        images: RwSignal::new(None),
        manifest: RwSignal::new(None),
        verdict: RwSignal::new(None),
        connections: RwSignal::new(Vec::new()),
        bend: BendFields::new(),
        pending_connections: StoredValue::new(Vec::new()),
        waiting_run: StoredValue::new(None),
        demo_queued: StoredValue::new(false),
        first_pictures: StoredValue::new(false),
        demo_failed: StoredValue::new(Vec::new()),
        trajectories: RwSignal::new(Vec::new()),
        direction_uploads: RwSignal::new(Vec::new()),
        path: RwSignal::new(false),
        demo_loss: RwSignal::new(DemoLoss::Pretraining),
        rate: RwSignal::new(default_rate()),
        link: RwSignal::new(String::new()),
        command: RwSignal::new(String::new()),
        readouts: RwSignal::new(Vec::new()),
        store: StoredValue::new(HashMap::new()),
        frames: StoredValue::new(Vec::new()),
        references: StoredValue::new(Vec::new()),
        pool: StoredValue::new_local(Pool::default()),
        gpu_adapter: RwSignal::new(None),
        workers: RwSignal::new(0),
        pool_note: RwSignal::new(None),
        gpu_lost: RwSignal::new(None),
        drag: StoredValue::new(None),
        draw_queued: StoredValue::new(false),
        draw_again: StoredValue::new(false),
        last_draw: StoredValue::new(f64::NEG_INFINITY),
        shown: StoredValue::new_local(HashMap::new()),
    };
    ctx.spawn_pool();
    spawn_local(async move {
        let gpu = has_gpu_adapter().await;
        ctx.gpu_adapter.set(Some(gpu));
    });

    // A permalink in the URL: show it at once; otherwise run the demo.
    let hash = window().location().hash().unwrap_or_default();
    let shared = if hash.len() > 1 {
        match permalink::decode(&hash) {
            Ok(shared) => {
                ctx.view.set(shared.view.clone());
                if !shared.notices.is_empty() {
                    ctx.notice.set(Some(format!(
                        "The link's view was adjusted: {}.",
                        shared.notices.join("; ")
                    )));
                }
                ctx.panels.set(
                    shared
                        .panels
                        .into_iter()
                        .map(|p| {
                            let shared = Some(p.surface.clone());
                            let mut panel = PanelState::new(p.label, p.surface, shared);
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
    spawn_local(ctx.load_demo(shared));

    Effect::new(move |_| {
        ctx.view.track();
        ctx.schedule_draw();
    });
    // The page is built in three tasks: on a first visit (wasm compiled as it first runs) one task
    // building all of it took 120–180 ms (issue #13). The upload and settings forms come second,
    // the summaries, verdict, paths and trajectories third.
    let (middle, below) = (RwSignal::new(false), RwSignal::new(false));
    spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(0).await;
        middle.set(true);
        gloo_timers::future::TimeoutFuture::new(0).await;
        below.set(true);
    });

    view! {
        <header>
            <h1>"vitscape"</h1>
            <p class="tagline">
                "Loss landscapes of Vision Transformers, computed in your browser. Files never leave this machine."
            </p>
            <span id="backend" class="badge" class:gpu=move || ctx.backend.with(|b| b.as_ref().is_some_and(|b| b.1))>
                {move || match ctx.backend.get() {
                    Some((name, _, detail)) => {
                        let detail = match ctx.gpu_lost.get() {
                            Some(reason) => format!("WebGPU failed mid-run ({reason}), so the run continued here"),
                            None => detail,
                        };
                        // "(one per core)" only when the pool was not cut for the models' size.
                        match (ctx.workers.get(), ctx.pool_note.get()) {
                            (n, Some(note)) if n > 1 => format!("Backend: {name} × {n} workers — {detail} — {note}"),
                            (_, Some(note)) => format!("Backend: {name} — {detail} — {note}"),
                            (n, None) if n > 1 => format!("Backend: {name} × {n} workers (one per core) — {detail}"),
                            _ => format!("Backend: {name} — {detail}"),
                        }
                    }
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
                <Show when=move || middle.get()>
                    <Uploads ctx=ctx />
                    <SettingsForm ctx=ctx />
                </Show>
                <RunBar ctx=ctx />
            </section>
            <section class="results">
                <ViewBar ctx=ctx />
                <Panels ctx=ctx />
                <Show when=move || below.get()>
                    <SummaryTable ctx=ctx />
                    <VerdictView ctx=ctx />
                    <ConnectView ctx=ctx />
                    <TrajectoryView ctx=ctx />
                </Show>
            </section>
        </main>
        <footer>
            "Filter-normalised random directions (Li et al. 2018), each model's own pre-training loss (Lee et al., arXiv 2405.18042). "
            "The same SweepSpec drives the CLI: "<code>"vitscape sweep"</code>"."
        </footer>
    }
}
