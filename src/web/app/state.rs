//! What the page holds: the panels and their status, uploads, the user's images, progress, and the `Ctx` of signals every component shares.

use super::*;

/// A computed, computing or shared panel.
#[derive(Clone, Debug)]
pub(crate) struct PanelState {
    pub(crate) label: String,
    pub(crate) surface: Surface,
    pub(crate) status: Status,
    /// Direction files and masks from the worker: name and a `blob:` URL (the bytes stay in the
    /// browser's blob store, not in the page's memory).
    pub(crate) files: Vec<(String, String)>,
    /// The values a permalink carried, kept to compare a recomputation with.
    pub(crate) shared_values: Option<Surface>,
    /// Landscape summary of the loss, computed once when the panel stops changing.
    pub(crate) summary: Option<metrics::Summary>,
    /// Dominant Hessian eigenvalue at θ* (value, iterations, converged) and Hutchinson's trace
    /// (mean, standard error, samples), when asked for.
    pub(crate) eigen: Option<(f64, usize, bool)>,
    pub(crate) trace: Option<(f64, f64, usize)>,
    /// Max-eigenvalue spectrum over mini-batches, when asked for.
    pub(crate) spectrum: Option<crate::curvature::MaxEigenSpectrum>,
    /// The run-time step check of the Hessian-vector products behind `eigen`, `trace` and
    /// `spectrum`.
    pub(crate) step_check: Option<crate::curvature::StepCheck>,
    /// Li et al.'s convexity map on a coarse grid of this panel's plane, when asked for: the
    /// merge of `convexity_parts`.
    pub(crate) convexity: Option<Surface>,
    /// Each pool worker's latest part of the convexity map (its rows), by worker.
    pub(crate) convexity_parts: Vec<(usize, Surface)>,
    /// The top Hessian eigenvectors at θ* as direction files (in the store), with their
    /// eigenvalues, when a Hessian plane was asked for.
    pub(crate) hessian: Vec<(FileRef, crate::curvature::Eigen)>,
    /// A path's barriers in words (or why there are none), once it is complete.
    pub(crate) barrier: Option<Result<String, String>>,
    /// A path's trained Bézier control point: how it was trained and its file (in the store).
    pub(crate) bend: Option<(crate::connect::BendRecord, FileRef)>,
    /// Steps of the control point's training done, and the latest mean loss on the curve.
    pub(crate) bend_progress: Option<(usize, f64)>,
}

impl PanelState {
    /// A panel about to be computed (nothing computed yet), remembering the values of the link
    /// it came from, if any.
    pub(crate) fn new(label: String, surface: Surface, shared_values: Option<Surface>) -> Self {
        Self {
            label,
            surface,
            status: Status::Computing,
            files: Vec::new(),
            shared_values,
            summary: None,
            eigen: None,
            trace: None,
            spectrum: None,
            step_check: None,
            convexity: None,
            convexity_parts: Vec::new(),
            hessian: Vec::new(),
            barrier: None,
            bend: None,
            bend_progress: None,
        }
    }

    /// Worker `worker`'s latest part of the convexity map; the map shown becomes the merge of
    /// every worker's part (the library's shard merge: a cell two parts disagree on is an error).
    pub(crate) fn convexity_part(&mut self, worker: usize, part: Surface) -> Result<(), String> {
        match self.convexity_parts.iter_mut().find(|(k, _)| *k == worker) {
            Some(slot) => slot.1 = part,
            None => self.convexity_parts.push((worker, part)),
        }
        self.convexity = Some(match self.convexity_parts.as_slice() {
            [(_, only)] => only.clone(),
            parts => {
                let named: Vec<(String, Surface)> = parts
                    .iter()
                    .map(|(k, s)| (format!("worker {}", k + 1), s.clone()))
                    .collect();
                crate::landscape::sweep::merge(&named)
                    .map_err(|e| format!("{}: convexity map: {e}", self.label))?
                    .surface
            }
        });
        Ok(())
    }

    /// Set a final status (done, cancelled, shared) and summarise the surface, once.
    pub(crate) fn finish(&mut self, status: Status) {
        self.status = status;
        // τ relative to each panel's own L(0), as in the demo verdict: losses of different
        // scales are compared on the same footing.
        self.summary = verdict::summarise_relative(&self.surface, TAU_RELATIVE).ok();
        // A path between two checkpoints: its barrier, as `vitscape sweep --interpolate` records.
        if self.surface.spec.directions.source.path_target().is_some() {
            self.barrier = Some(
                metrics::barrier::of_path(&self.surface)
                    .map(|b| {
                        self.surface.info.barrier = b.clone();
                        metrics::barrier::describe(&b)
                    })
                    .map_err(|e| format!("no barrier: {e}")),
            );
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Status {
    Computing,
    Done,
    Cancelled,
    Failed(String),
    Shared,
}

/// Panels to compute: label and spec.
pub(crate) type Labelled = Vec<(String, SweepSpec)>;

/// A checkpoint the user dropped in.
#[derive(Clone, Debug)]
pub(crate) struct Upload {
    pub(crate) inspection: Inspection,
    pub(crate) loss: LossChoice,
}

/// A direction file the user dropped in (the first is x, the second y).
#[derive(Clone, Debug)]
pub(crate) struct DirectionUpload {
    pub(crate) name: String,
    pub(crate) sha256: String,
    /// What its metadata says it is ([`crate::landscape::directions::describe_file`]).
    pub(crate) about: String,
    /// The training run it is a principal component of, when it is one.
    pub(crate) trajectory: Option<crate::trajectory::TrajectoryAxis>,
    /// The checkpoint it was made at (its `checkpoint_sha256` metadata), when it says.
    pub(crate) centre: Option<String>,
}

/// Images the user dropped in.
#[derive(Clone, Debug)]
pub(crate) struct UserImages {
    pub(crate) label: String,
    pub(crate) sha256: String,
    pub(crate) files: Vec<(String, Arc<Vec<u8>>)>,
    pub(crate) zip: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum DemoLoss {
    Pretraining,
    Probe,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Progress {
    pub(crate) job: u64,
    pub(crate) total: usize,
    pub(crate) done: usize,
    pub(crate) elapsed: f64,
    pub(crate) running: bool,
    /// What is counted: cells, or eigenvalues for a curvature job.
    pub(crate) unit: &'static str,
    /// What the job computes.
    pub(crate) task: Task,
}

/// Everything the page's handlers share (all `Copy` handles).
#[derive(Clone, Copy)]
pub(crate) struct Ctx {
    pub(crate) panels: RwSignal<Vec<PanelState>>,
    pub(crate) view: RwSignal<View>,
    pub(crate) settings: RwSignal<Settings>,
    /// Points per axis of the convexity map, and power iterations per eigenvalue (text inputs).
    pub(crate) convexity_points: RwSignal<String>,
    pub(crate) power_iterations: RwSignal<String>,
    pub(crate) axis_x: RwSignal<String>,
    pub(crate) axis_y: RwSignal<String>,
    pub(crate) progress: RwSignal<Progress>,
    pub(crate) backend: RwSignal<Option<(String, bool, String)>>,
    pub(crate) prefer_gpu: RwSignal<bool>,
    pub(crate) error: RwSignal<Option<String>>,
    pub(crate) notice: RwSignal<Option<String>>,
    pub(crate) uploads: RwSignal<Vec<Upload>>,
    /// Sweep the straight line from the first upload to the second instead of planes.
    pub(crate) path: RwSignal<bool>,
    /// Direction files for the uploads' sweeps (none: seeded random directions).
    pub(crate) direction_uploads: RwSignal<Vec<DirectionUpload>>,
    /// The head counts typed in for uploads (blank: from the file, else timm's convention,
    /// said by the inspection).
    pub(crate) heads: RwSignal<String>,
    pub(crate) decoder_heads: RwSignal<String>,
    /// Preprocessing of uploaded images, as the CLI's --resize / --crop / --interpolation
    /// (blank: none) and --mean/--std (blank: the preset for the model's channels, said).
    pub(crate) resize: RwSignal<String>,
    pub(crate) crop: RwSignal<String>,
    pub(crate) interpolation: RwSignal<Interpolation>,
    pub(crate) mean_std: RwSignal<String>,
    pub(crate) images: RwSignal<Option<UserImages>>,
    pub(crate) manifest: RwSignal<Option<Manifest>>,
    /// The committed demo verdict (`demo/verdict.json`), when it loads.
    pub(crate) verdict: RwSignal<Option<Verdict>>,
    /// The committed demo paths between fine-tuned models (`demo/connect/`), as they load.
    pub(crate) connections: RwSignal<Vec<DemoConnection>>,
    /// The Bézier training fields.
    pub(crate) bend: BendFields,
    /// Paths swept along their trained curves, waiting for that sweep to end.
    pub(crate) pending_connections: StoredValue<Vec<PendingConnection>>,
    /// A run on the demo's images asked for before they loaded: it starts when they have.
    pub(crate) waiting_run: StoredValue<Option<(Labelled, Option<UserImages>, Task)>>,
    /// The demo was asked for before its files were here: it starts when they are.
    pub(crate) demo_queued: StoredValue<bool>,
    /// Every panel has shown a picture (none was left computing without one) since the page
    /// opened: the demo's other files and figures wait for it, off the cores the workers need.
    pub(crate) first_pictures: StoredValue<bool>,
    /// Demo files that could not be loaded (sha256, why): a demo run that needs one says so.
    pub(crate) demo_failed: StoredValue<Vec<(String, String)>>,
    /// The committed demo models' training trajectories (`demo/trajectory/`), as they load.
    pub(crate) trajectories: RwSignal<Vec<DemoTrajectory>>,
    pub(crate) demo_loss: RwSignal<DemoLoss>,
    pub(crate) rate: RwSignal<f64>,
    pub(crate) link: RwSignal<String>,
    /// The last "Copy CLI command" text.
    pub(crate) command: RwSignal<String>,
    pub(crate) readouts: RwSignal<Vec<String>>,
    /// File bytes by sha256 (demo files and uploads).
    pub(crate) store: StoredValue<HashMap<String, Arc<Vec<u8>>>>,
    pub(crate) frames: StoredValue<Vec<Option<Frame>>>,
    /// Checkpoint references already read from stored files, by (sha256, branch, head counts).
    pub(crate) references: StoredValue<Vec<(ReferenceKey, crate::spec::CheckpointRef)>>,
    /// The compute workers.
    pub(crate) pool: StoredValue<Pool, LocalStorage>,
    /// Whether the browser offers a WebGPU adapter (`None` until asked).
    pub(crate) gpu_adapter: RwSignal<Option<bool>>,
    /// Workers the current (or last) job runs on.
    pub(crate) workers: RwSignal<usize>,
    /// Why the current job runs on fewer CPU workers than the pool has (the models' size).
    pub(crate) pool_note: RwSignal<Option<String>>,
    /// Why the current run left WebGPU for the CPU mid-way (a lost device, a GPU worker that
    /// crashed or failed), shown in the backend badge.
    pub(crate) gpu_lost: RwSignal<Option<String>>,
    pub(crate) drag: StoredValue<Option<(f64, f64)>>,
    /// A redraw is scheduled or going through its canvases.
    pub(crate) draw_queued: StoredValue<bool>,
    /// A redraw was asked for after the queued one read the state: it follows.
    pub(crate) draw_again: StoredValue<bool>,
    pub(crate) last_draw: StoredValue<f64>,
    /// What each canvas (by id) shows now, so that a redraw leaves unchanged ones alone.
    pub(crate) shown: StoredValue<HashMap<String, Shown>, LocalStorage>,
}

/// What a checkpoint reference read from a stored file depends on.
pub(crate) type ReferenceKey = (String, Option<crate::spec::Branch>, HeadCounts);

/// A path pair: the straight line and the trained Bézier curve between two checkpoints, from the
/// demo (`demo/connect/<dir>/`, written by `vitscape connect`) or trained on the page.
#[derive(Clone, Debug)]
pub(crate) struct DemoConnection {
    /// What it joins, for people.
    pub(crate) title: String,
    /// `connect.json`: how the control point was trained and both paths' barriers.
    pub(crate) report: crate::connect::ConnectReport,
    /// `linear/surface.json`.
    pub(crate) linear: Surface,
    /// `bezier/surface.json`.
    pub(crate) bezier: Surface,
}

/// A demo model's training trajectory (`demo/trajectory/<model>/surface.json`): its run's PCA
/// plane swept around the final checkpoint, the path in `info.trajectory`.
#[derive(Clone, Debug)]
pub(crate) struct DemoTrajectory {
    /// The model, for people.
    pub(crate) title: String,
    /// The plane's surface.
    pub(crate) surface: Surface,
}
