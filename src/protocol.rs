//! The page ↔ worker protocol and the page's settings. Every message is a JSON header (these
//! types) plus a list of byte attachments (checkpoints, images, direction files) that travel as
//! `Uint8Array`s beside it, referred to by index. Target-neutral so it is tested natively.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::demo::EvalSubset;
use crate::landscape::surface::{Cell, Surface};
use crate::landscape::sweep;
use crate::spec::SweepSpec;

/// Page → worker: compute one or more panels (a comparison), interleaved coarse-to-fine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRequest {
    /// Job number chosen by the page; every reply carries it.
    pub job: u64,
    /// The panels, in display order.
    pub panels: Vec<PanelRequest>,
    /// Cells evaluated before one read-back (several grid cells per GPU submission).
    pub cells_per_read: usize,
    /// Use WebGPU when the browser has an adapter (else, or when false, burn's CPU backend).
    pub prefer_gpu: bool,
    /// What to compute for the panels (default: their surfaces).
    #[serde(default)]
    pub task: Task,
    /// Which share of the sweep's cells this worker computes, when a pool of workers splits one
    /// (default: all of them).
    #[serde(default)]
    pub share: Share,
    /// Cells of each panel already computed (row-major `iy · nx + ix`), left out of this
    /// request's sweep: what a worker that replaces a crashed one is sent (default: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<Vec<usize>>,
}

/// Most cells one read-back may batch (a request asking more is refused, not obeyed).
pub const MAX_CELLS_PER_READ: usize = 4096;
/// Most points per axis of a convexity map in a request.
pub const MAX_CONVEXITY_POINTS: usize = 101;
/// Most power iterations, trace samples or spectrum batches a request may ask for.
pub const MAX_ITERATIONS: usize = 100_000;
/// The most images per step of a control point's training ([`Task::TrainBend`]).
pub const MAX_BEND_BATCH: usize = 4096;
/// Most cells of one panel's grid in a request (as in a permalink).
pub const MAX_CELLS: usize = 1 << 20;

impl RunRequest {
    /// Read a request's JSON header and [`check`](Self::check) it against the `attachments`
    /// that came with it: what the worker does with every message before any work.
    pub fn from_header(header: &[u8], attachments: usize) -> Result<Self, String> {
        let request: Self =
            serde_json::from_slice(header).map_err(|e| format!("bad message header: {e}"))?;
        request.check(attachments)?;
        Ok(request)
    }

    /// The cells this request's worker computes, in chunks of at most `per_read` per panel:
    /// its share of [`schedule`]'s chunks for the panels' `grids`, less the cells in `skip`.
    pub fn plan(&self, grids: &[(usize, usize)], per_read: usize) -> Vec<(usize, Vec<Cell>)> {
        let skipped: Vec<std::collections::HashSet<usize>> = (0..grids.len())
            .map(|i| {
                self.skip
                    .get(i)
                    .map(|cells| cells.iter().copied().collect())
                    .unwrap_or_default()
            })
            .collect();
        self.share
            .of(schedule(grids, per_read))
            .into_iter()
            .filter_map(|(panel, cells)| {
                let nx = grids[panel].0;
                let cells: Vec<Cell> = cells
                    .into_iter()
                    .filter(|c| !skipped[panel].contains(&(c.iy * nx + c.ix)))
                    .collect();
                (!cells.is_empty()).then_some((panel, cells))
            })
            .collect()
    }

    /// Whether the request can be run as it is: every panel's spec valid, every attachment it
    /// names among the `attachments`, its pool share, batch and task settings in range. The
    /// page builds requests that pass; this stops a damaged one before it allocates anything.
    pub fn check(&self, attachments: usize) -> Result<(), String> {
        if self.panels.is_empty() {
            return Err("the request has no panels".into());
        }
        if !(1..=MAX_CELLS_PER_READ).contains(&self.cells_per_read) {
            return Err(format!(
                "cells_per_read is {}; it must be 1 to {MAX_CELLS_PER_READ}",
                self.cells_per_read
            ));
        }
        if self.share.count == 0 || self.share.index >= self.share.count {
            return Err(format!(
                "pool share {} of {} does not exist",
                self.share.index, self.share.count
            ));
        }
        self.task.check()?;
        if self.skip.len() > self.panels.len() {
            return Err(format!(
                "cells to skip are given for {} panels, but the request has {}",
                self.skip.len(),
                self.panels.len()
            ));
        }
        let present = |index: usize, what: &str| {
            if index < attachments {
                Ok(())
            } else {
                Err(format!(
                    "{what} is attachment {index}, but {attachments} came with the request"
                ))
            }
        };
        for (i, panel) in self.panels.iter().enumerate() {
            let name = format!("panel {} ({})", i + 1, panel.label);
            let fail = |reason: String| format!("{name}: {reason}");
            panel.spec.validate().map_err(|e| fail(e.to_string()))?;
            let cells = panel
                .spec
                .grid
                .x
                .n
                .checked_mul(panel.spec.grid.y.map_or(1, |y| y.n))
                .filter(|c| *c <= MAX_CELLS);
            let Some(cells) = cells else {
                return Err(fail(format!("the grid has more than {MAX_CELLS} cells")));
            };
            if let Some(c) = self
                .skip
                .get(i)
                .and_then(|s| s.iter().find(|c| **c >= cells))
            {
                return Err(fail(format!(
                    "cell {c} to skip is outside its {cells}-cell grid"
                )));
            }
            present(panel.checkpoint, "the checkpoint").map_err(fail)?;
            if let Some(teacher) = panel.teacher {
                present(teacher, "the teacher").map_err(fail)?;
            }
            let expected = SpecFiles::expected(&panel.spec);
            let given = &panel.files;
            if given.target.is_some() != expected.target.is_some()
                || given.bend.is_some() != expected.bend.is_some()
                || given.directions.len() != expected.directions.len()
            {
                return Err(fail(format!(
                    "its spec names {} besides the checkpoint, but {} came",
                    expected.describe(),
                    given.describe()
                )));
            }
            for index in given.target.iter().chain(&given.bend) {
                present(*index, "a path's file").map_err(fail)?;
            }
            for index in &given.directions {
                present(*index, "a direction file").map_err(fail)?;
            }
            match &panel.data {
                DataRef::DemoSubset { images, labels, .. } => {
                    present(*images, "the demo images").map_err(fail)?;
                    present(*labels, "the demo labels").map_err(fail)?;
                }
                DataRef::Files { first, names } => {
                    if names.is_empty() {
                        return Err(fail("no image files are named".into()));
                    }
                    let last = first.checked_add(names.len() - 1).unwrap_or(usize::MAX);
                    present(last, "the last image file").map_err(fail)?;
                }
                DataRef::Zip { index } => present(*index, "the zip archive").map_err(fail)?,
            }
        }
        Ok(())
    }
}

impl Task {
    /// Whether a pool hands out whole panels for this task (the eigenvalues and eigenvectors at
    /// θ*), rather than cells or rows of every panel.
    pub fn by_whole_panels(self) -> bool {
        matches!(
            self,
            Task::TopEigenvalue { .. } | Task::HessianPlane { .. } | Task::TrainBend { .. }
        )
    }

    /// Whether the task's settings are in range.
    fn check(&self) -> Result<(), String> {
        let power = |s: &crate::curvature::PowerSettings| {
            if !(1..=MAX_ITERATIONS).contains(&s.max_iterations) {
                Err(format!(
                    "max_iterations is {}; it must be 1 to {MAX_ITERATIONS}",
                    s.max_iterations
                ))
            } else if !(s.tolerance.is_finite() && s.tolerance >= 0.0) {
                Err(format!("tolerance {} is not a number ≥ 0", s.tolerance))
            } else {
                Ok(())
            }
        };
        match self {
            Task::Sweep => Ok(()),
            Task::TopEigenvalue {
                settings,
                trace_samples,
                spectrum_batch,
                ..
            } => {
                power(settings)?;
                if *trace_samples > MAX_ITERATIONS || *spectrum_batch > MAX_ITERATIONS {
                    return Err(format!(
                        "trace_samples and spectrum_batch must be at most {MAX_ITERATIONS}"
                    ));
                }
                Ok(())
            }
            Task::HessianPlane { settings, .. } => {
                power(settings)?;
                if !(1..=2).contains(&settings.k) {
                    return Err(format!(
                        "a Hessian plane takes the top 1 or 2 eigenvectors, not {}",
                        settings.k
                    ));
                }
                Ok(())
            }
            Task::TrainBend {
                config,
                train_batch,
            } => {
                if !(1..=MAX_ITERATIONS).contains(&config.steps) {
                    return Err(format!(
                        "a control point of {} steps; it must be 1 to {MAX_ITERATIONS}",
                        config.steps
                    ));
                }
                if !(config.lr.is_finite() && config.lr > 0.0 && config.lr <= 1.0) {
                    return Err(format!(
                        "learning rate {}: it must be above 0 and at most 1",
                        config.lr
                    ));
                }
                let beta = |b: f64| (0.0..1.0).contains(&b);
                if !(beta(config.beta1) && beta(config.beta2)) {
                    return Err(format!(
                        "Adam's β ({}, {}) must be in [0, 1)",
                        config.beta1, config.beta2
                    ));
                }
                if !(1..=MAX_BEND_BATCH).contains(train_batch) {
                    return Err(format!(
                        "{train_batch} images per step; it must be 1 to {MAX_BEND_BATCH}"
                    ));
                }
                Ok(())
            }
            Task::ConvexityMap {
                settings, points, ..
            } => {
                power(settings)?;
                if !(1..=MAX_CONVEXITY_POINTS).contains(points) {
                    return Err(format!(
                        "a convexity map of {points} points per axis; it must be 1 to {MAX_CONVEXITY_POINTS}"
                    ));
                }
                Ok(())
            }
        }
    }
}

/// One worker's share of a sweep split over a pool: the chunks of [`schedule`] whose position
/// modulo `count` is `index`. Every worker prepares every panel (the same spec gives the same
/// directions, masks and images), so the shares add up to the one sweep.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Share {
    /// This worker's place in the pool, from 0.
    pub index: usize,
    /// Workers in the pool.
    pub count: usize,
}

impl Default for Share {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl Share {
    /// This share's part of `plan` (every chunk when `count` ≤ 1).
    pub fn of<T>(self, plan: Vec<T>) -> Vec<T> {
        plan.into_iter()
            .enumerate()
            .filter(|(j, _)| self.takes(*j))
            .map(|(_, chunk)| chunk)
            .collect()
    }

    /// Whether item `j` of a list handed round the pool is this worker's: a sweep's chunks, or
    /// the panels of a task that hands out whole panels ([`Task::by_whole_panels`]).
    pub fn takes(self, j: usize) -> bool {
        j % self.count.max(1) == self.index
    }

    /// This worker's rows of a convexity map, as the shard by rows the library's map computes
    /// ([`crate::landscape::sweep::Shard`]; `None` for a pool of one). The rows of all panels go round the
    /// pool as one list, so that the workers get equal numbers however many rows a panel has:
    /// `rows_before` is the rows of the panels ahead of this one.
    pub fn convexity_rows(
        self,
        rows_before: usize,
    ) -> Result<Option<crate::landscape::sweep::Shard>, crate::error::SpecError> {
        let count = self.count.max(1);
        if count == 1 {
            return Ok(None);
        }
        // Row iy of this panel is row `rows_before + iy` of the list, the worker's when that is
        // `index` mod `count`: iy ≡ index − rows_before.
        let index = (self.index + count - rows_before % count) % count;
        Ok(Some(
            crate::landscape::sweep::Shard::new(index, count)?.by_rows(),
        ))
    }
}

/// What a run computes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Task {
    /// Every cell of each panel's grid.
    #[default]
    Sweep,
    /// The dominant Hessian eigenvalue of each panel's loss at θ* (power iteration on
    /// Hessian-vector products formed by `product`, as `vitscape curvature --parts top`).
    TopEigenvalue {
        /// Power-iteration settings (k is 1).
        settings: crate::curvature::PowerSettings,
        /// How the Hessian-vector products are formed (absent: the default scheme).
        #[serde(default)]
        product: crate::curvature::ProductScheme,
        /// Rademacher samples of Hutchinson's trace after the eigenvalue (0 = none), seeded
        /// with `settings.seed` as `vitscape curvature --parts trace --curvature-seed`.
        #[serde(default)]
        trace_samples: usize,
        /// Images per mini-batch of the max-eigenvalue spectrum (0 = none): the top eigenvalue
        /// of each mini-batch's loss, as `vitscape curvature --parts spectrum`.
        #[serde(default)]
        spectrum_batch: usize,
    },
    /// Li et al.'s convexity map: |λmin/λmax| on a coarse `points`×`points` grid over each
    /// panel's plane (λmax, then λmin from the shifted operator), as `vitscape curvature --parts
    /// convexity --convexity-grid points`.
    ConvexityMap {
        /// Power-iteration settings of both iterations per cell.
        settings: crate::curvature::PowerSettings,
        /// How the Hessian-vector products are formed (absent: the default scheme).
        #[serde(default)]
        product: crate::curvature::ProductScheme,
        /// Points per axis.
        points: usize,
    },
    /// The top `settings.k` (1 or 2) Hessian eigenvectors at each panel's θ*, sent back as
    /// direction files ([`FromWorker::Eigenvectors`]) for the page to sweep their plane, as
    /// `vitscape curvature --top-k K --save-eigenvectors`.
    HessianPlane {
        /// Power-iteration settings (k: how many eigenvectors).
        settings: crate::curvature::PowerSettings,
        /// How the Hessian-vector products are formed (absent: the default scheme).
        #[serde(default)]
        product: crate::curvature::ProductScheme,
    },
    /// The control point of a quadratic Bézier curve along each path panel (a straight line
    /// between two checkpoints), trained on the panel's images in mini-batches of
    /// `train_batch` ([`crate::connect::train_bend`], as `vitscape connect --train-on eval`);
    /// progress in [`FromWorker::BendProgress`], the file in [`FromWorker::Bend`].
    TrainBend {
        /// Adam steps, learning rate, seed of the t draws.
        config: crate::connect::BendConfig,
        /// Images per step.
        train_batch: usize,
    },
}

/// One panel of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PanelRequest {
    /// Display label ("Sup-ViT", a file name...).
    pub label: String,
    /// What to compute.
    pub spec: SweepSpec,
    /// Attachment holding the checkpoint.
    pub checkpoint: usize,
    /// Attachment holding the RC-MAE teacher, when the loss has one.
    pub teacher: Option<usize>,
    /// Attachments of the spec's other files ([`PanelRequest::expected_files`]): a path's
    /// other end, a Bézier curve's control point, the direction files (x, then y).
    #[serde(default)]
    pub files: SpecFiles,
    /// Where the images are.
    pub data: DataRef,
}

/// The files a panel's directions need, each an attachment (or, from
/// [`SpecFiles::expected`], a placeholder 0).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SpecFiles {
    /// The other end of a linear path or Bézier curve.
    #[serde(default)]
    pub target: Option<usize>,
    /// A Bézier curve's control point.
    #[serde(default)]
    pub bend: Option<usize>,
    /// Direction files: x, then y.
    #[serde(default)]
    pub directions: Vec<usize>,
}

impl SpecFiles {
    /// Which files a spec's directions read, as placeholders.
    pub fn expected(spec: &SweepSpec) -> Self {
        let Ok(files) = Self::attach(spec, |_, _, _| Ok::<_, std::convert::Infallible>(0));
        files
    }

    /// Each file the spec's directions read, given its attachment by `index_of(role, name,
    /// sha256)`, in the order a request sends them.
    pub fn attach<E>(
        spec: &SweepSpec,
        mut index_of: impl FnMut(FileRole, &str, &str) -> Result<usize, E>,
    ) -> Result<Self, E> {
        let mut out = Self::default();
        for (role, name, sha256) in Self::named(spec) {
            let index = index_of(role, name, sha256)?;
            match role {
                FileRole::Target => out.target = Some(index),
                FileRole::Bend => out.bend = Some(index),
                FileRole::Direction => out.directions.push(index),
            }
        }
        Ok(out)
    }

    /// The files a spec's directions read, in the order a request sends them: what each is,
    /// its name and its sha256.
    pub fn named(spec: &SweepSpec) -> Vec<(FileRole, &str, &str)> {
        use crate::spec::DirectionSource as D;
        let two_d = spec.grid.y.is_some();
        fn file(role: FileRole, f: &crate::spec::FileRef) -> (FileRole, &str, &str) {
            (role, f.name.as_str(), f.sha256.as_str())
        }
        match &spec.directions.source {
            D::Random { .. } => Vec::new(),
            D::Files { x, y } => std::iter::once(x)
                .chain(y.as_ref().filter(|_| two_d))
                .map(|f| file(FileRole::Direction, f))
                .collect(),
            D::FileAndRandom { x, .. } => vec![file(FileRole::Direction, x)],
            D::Interpolate { target } => {
                vec![(
                    FileRole::Target,
                    target.name.as_str(),
                    target.sha256.as_str(),
                )]
            }
            D::Bezier { target, bend } => vec![
                (
                    FileRole::Target,
                    target.name.as_str(),
                    target.sha256.as_str(),
                ),
                file(FileRole::Bend, bend),
            ],
        }
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.target.is_some() {
            parts.push("the path's other end".to_string());
        }
        if self.bend.is_some() {
            parts.push("the control point".to_string());
        }
        if !self.directions.is_empty() {
            parts.push(format!("{} direction file(s)", self.directions.len()));
        }
        if parts.is_empty() {
            "no other file".into()
        } else {
            parts.join(" and ")
        }
    }
}

/// What a file named by a spec's directions is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// The other end of a path (a checkpoint).
    Target,
    /// A Bézier control point.
    Bend,
    /// A direction file.
    Direction,
}

impl FileRole {
    /// The file called `name` in this role, for people ("the control point bend.safetensors").
    pub fn describe(self, name: &str) -> String {
        match self {
            Self::Target => format!("the path's other end {name}"),
            Self::Bend => format!("the control point {name}"),
            Self::Direction => format!("direction file {name}"),
        }
    }
}

/// Evaluation data among the attachments.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DataRef {
    /// The demo's subset: two gzip'd IDX files.
    DemoSubset {
        /// Attachment with the images.
        images: usize,
        /// Attachment with the labels.
        labels: usize,
        /// The manifest's description.
        subset: EvalSubset,
    },
    /// Image files; `names[i]` is the path of attachment `first + i`.
    Files {
        /// First attachment.
        first: usize,
        /// Paths (class sub-folders give labels).
        names: Vec<String>,
    },
    /// A zip archive of images.
    Zip {
        /// Attachment with the archive.
        index: usize,
    },
}

/// Worker → page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FromWorker {
    /// The worker has loaded and listens (the page sends nothing before this).
    Ready {
        /// vitscape version of the worker bundle.
        version: String,
    },
    /// The compute backend in use (sent once per job, before anything else).
    Backend {
        /// Job.
        job: u64,
        /// "WebGPU" or "CPU (burn flex)".
        name: String,
        /// Whether it is a GPU adapter.
        gpu: bool,
        /// Adapter facts or why the GPU was not used.
        detail: String,
    },
    /// A panel is prepared: its empty surface with every fact, and (as attachments, in this
    /// order) its direction files and, for reconstruction losses, `masks.safetensors`.
    Started {
        /// Job.
        job: u64,
        /// Panel index.
        panel: usize,
        /// No cell computed yet.
        surface: Box<Surface>,
        /// Names of the attached files.
        files: Vec<String>,
    },
    /// Computed cells of a panel.
    Cells {
        /// Job.
        job: u64,
        /// Panel index.
        panel: usize,
        /// The cells.
        cells: Vec<CellResult>,
        /// Seconds since the job started.
        elapsed: f64,
        /// Image forward passes per second over the cells of this message.
        images_per_second: f64,
        /// Matmul FLOPs of one image's classification forward through this panel's model
        /// ([`crate::model::arch::VitConfig::flops_per_image`]), so the page can turn the rate into
        /// FLOP/s and estimate runs of other model sizes.
        #[serde(default)]
        flops_per_image: f64,
    },
    /// A panel's dominant Hessian eigenvalue at θ* ([`Task::TopEigenvalue`]).
    Eigenvalue {
        /// Job.
        job: u64,
        /// Panel index.
        panel: usize,
        /// The eigenvalue.
        value: f64,
        /// Power iterations (one Hessian-vector product each).
        iterations: usize,
        /// Whether the tolerance was reached.
        converged: bool,
        /// Hutchinson's trace: (mean, standard error, samples), when asked for.
        trace: Option<(f64, f64, usize)>,
        /// The max-eigenvalue spectrum over mini-batches, when asked for.
        spectrum: Option<crate::curvature::MaxEigenSpectrum>,
        /// The run-time step check of every product behind these numbers.
        #[serde(default)]
        step_check: crate::curvature::StepCheck,
        /// Seconds since the job started.
        elapsed: f64,
    },
    /// A panel's top Hessian eigenvectors ([`Task::HessianPlane`]), as direction files
    /// (attachments, in rank order, named by `files`).
    Eigenvectors {
        /// Job.
        job: u64,
        /// Panel index.
        panel: usize,
        /// Each one's eigenvalue, iterations and whether the tolerance was reached.
        eigen: Vec<crate::curvature::Eigen>,
        /// Names and sha256 of the attached files (`eigenvector_K.safetensors`), hashed in the
        /// worker so the page's main thread does not.
        files: Vec<crate::spec::FileRef>,
        /// The run-time step check of every product behind them.
        step_check: crate::curvature::StepCheck,
        /// Seconds since the job started.
        elapsed: f64,
    },
    /// A panel's convexity map so far ([`Task::ConvexityMap`]), sent after every cell: metrics
    /// loss, `lambda_max`, `lambda_min`, `convexity`.
    Convexity {
        /// Job.
        job: u64,
        /// Panel index.
        panel: usize,
        /// The coarse map.
        surface: Box<Surface>,
        /// Seconds since the job started.
        elapsed: f64,
    },
    /// How far a panel's control point has trained ([`Task::TrainBend`]), a few times a second.
    BendProgress {
        /// Job.
        job: u64,
        /// Panel index.
        panel: usize,
        /// Steps done.
        done: usize,
        /// The last steps' mean mini-batch loss on the curve.
        loss: f64,
        /// Seconds since the job started.
        elapsed: f64,
    },
    /// A panel's trained control point ([`Task::TrainBend`]): the file (one attachment, written
    /// by [`crate::connect::bend_file`], its record inside).
    Bend {
        /// Job.
        job: u64,
        /// Panel index.
        panel: usize,
        /// How it was trained (also in the file's metadata).
        record: Box<crate::connect::BendRecord>,
        /// The file's sha256, hashed in the worker so the page's main thread does not.
        sha256: String,
        /// Seconds since the job started.
        elapsed: f64,
    },
    /// Every panel is complete.
    Done {
        /// Job.
        job: u64,
        /// Seconds since the job started.
        elapsed: f64,
    },
    /// The worker panicked inside a promise job, which no `error` event reports: the page
    /// replaces the worker, as when its `error` event fires (any other crash).
    Crashed {
        /// The panic's message.
        message: String,
    },
    /// The job stopped with an error.
    Failed {
        /// Job.
        job: u64,
        /// The panel that failed, when one did.
        panel: Option<usize>,
        /// What went wrong, for people.
        message: String,
    },
}

/// One computed cell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CellResult {
    /// Column.
    pub ix: usize,
    /// Row.
    pub iy: usize,
    /// Metric values.
    pub values: BTreeMap<String, f64>,
}

/// Interleave the panels' coarse-to-fine orders lattice by lattice, in chunks of at most `chunk`
/// cells: every panel completes a lattice before any starts the next one, so each panel of a
/// comparison shows a picture ([`crate::landscape::preview`]) as early as possible and all sharpen evenly.
pub fn schedule(grids: &[(usize, usize)], chunk: usize) -> Vec<(usize, Vec<Cell>)> {
    let chunk = chunk.max(1);
    let levels: Vec<Vec<Vec<Cell>>> = grids
        .iter()
        .map(|&(nx, ny)| sweep::coarse_to_fine_levels(nx, ny))
        .collect();
    let depth = levels.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::new();
    for level in 0..depth {
        let pieces: Vec<Vec<&[Cell]>> = levels
            .iter()
            .map(|l| {
                l.get(level)
                    .map_or(Vec::new(), |c| c.chunks(chunk).collect())
            })
            .collect();
        let rounds = pieces.iter().map(Vec::len).max().unwrap_or(0);
        for round in 0..rounds {
            for (panel, p) in pieces.iter().enumerate() {
                if let Some(cells) = p.get(round) {
                    out.push((panel, cells.to_vec()));
                }
            }
        }
    }
    out
}

/// Seconds a run will take: `cells × images` forward passes through each panel's model, of
/// `flops_per_image[panel]` FLOPs each, at `flops_per_second` (so a rate measured on one model
/// size estimates another).
pub fn estimate_seconds(
    flops_per_image: &[f64],
    cells: usize,
    images: usize,
    flops_per_second: f64,
) -> Option<f64> {
    (flops_per_second > 0.0 && flops_per_second.is_finite())
        .then(|| flops_per_image.iter().sum::<f64>() * (cells * images) as f64 / flops_per_second)
}

/// Bytes a CPU worker holds per model parameter while it sweeps: θ, the two directions and the
/// engine's copies of all three, and the weight set being evaluated (f32 each).
pub const WORKER_BYTES_PER_PARAMETER: u64 = 7 * 4;

/// How much the CPU pool's copies of the models may take together before it runs on fewer
/// workers: each worker is a wasm engine of its own, holding every panel's model.
pub const POOL_MEMORY_BUDGET: u64 = 2 << 30;

/// Workers for a CPU sweep of panels whose models have `parameters` each, out of a pool of
/// `pool`: all of them while their copies fit [`POOL_MEMORY_BUDGET`], else as many as fit (at
/// least one), with a note that says so and why — a ViT-B/16 sweeps on one worker, not one per
/// core holding 2.4 GB each.
pub fn cpu_workers(pool: usize, parameters: &[usize]) -> (usize, Option<String>) {
    // u64: a ViT-L's copies pass wasm32's usize.
    let total = parameters
        .iter()
        .fold(0u64, |sum, &p| sum.saturating_add(p as u64));
    let per_worker = total.saturating_mul(WORKER_BYTES_PER_PARAMETER);
    let fit = POOL_MEMORY_BUDGET
        .checked_div(per_worker)
        .unwrap_or(u64::MAX);
    if fit >= pool as u64 {
        return (pool, None);
    }
    let workers = (fit as usize).max(1);
    let gb = |b: u64| b as f64 / 1e9;
    let note = format!(
        "{workers} of {pool} CPU workers: each holds about {:.1} GB for these models ({:.1} M parameters), and the pool keeps its copies under {:.1} GB",
        gb(per_worker),
        total as f64 / 1e6,
        gb(POOL_MEMORY_BUDGET),
    );
    (workers, Some(note))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×3 MAE sweep's spec, as `vitscape sweep` wrote it.
    const SPEC: &str = r#"{"version": 1, "checkpoint": {"name": "static/demo/mae-vit.safetensors", "sha256": "b9fecd4200b1e2f0753c8c8d525ad01e7cd10df6c4aefac4948b018e974cae24", "branch": null, "num_heads": 4, "decoder_num_heads": 2}, "data": {"source": {"kind": "fashion-mnist", "dir": "/usr/share/datasets/fashion-mnist", "split": "test"}, "eval_images": 8, "subset_seed": 0, "mean": [0.286], "std": [0.353], "mean_std": "fashion-mnist (assumed: the default for 1-channel images; give --mean/--std to change it)"}, "loss": {"kind": "mae", "mask_ratio": 0.75, "norm_pix_loss": true, "mask_seed": 0}, "directions": {"source": {"kind": "random", "seed": 0}, "normalisation": "filter", "include_rank1": false, "include_pos_embed": false}, "grid": {"x": {"min": -1.0, "max": 1.0, "n": 3}, "y": {"min": -1.0, "max": 1.0, "n": 3}}, "batch_size": 128}"#;

    #[test]
    fn a_pool_shares_panels_and_convexity_rows_evenly_and_each_exactly_once() {
        // Three panels of three rows over two workers: the nine rows go 5 / 4, each row to one.
        for count in 1..=4 {
            let mut owners = vec![Vec::new(); 9];
            for index in 0..count {
                let share = Share { index, count };
                for panel in 0..3 {
                    let shard = share.convexity_rows(panel * 3).unwrap();
                    assert_eq!(shard.is_some(), count > 1);
                    for iy in 0..3 {
                        if shard.is_none_or(|s| s.rows && s.has_row(iy)) {
                            owners[panel * 3 + iy].push(index);
                        }
                    }
                }
            }
            for (row, who) in owners.iter().enumerate() {
                assert_eq!(who, &[row % count], "{count} workers, row {row}");
            }
            let panels: Vec<Vec<usize>> = (0..count)
                .map(|index| {
                    (0..5)
                        .filter(|p| Share { index, count }.takes(*p))
                        .collect()
                })
                .collect();
            assert_eq!(panels.iter().map(Vec::len).sum::<usize>(), 5);
            assert!(panels.iter().all(|p| p.len() >= 5 / count));
        }
    }

    /// A request for one panel, its checkpoint in attachment 0 and its images in 1.
    fn request() -> serde_json::Value {
        let spec: serde_json::Value = serde_json::from_str(SPEC).unwrap();
        serde_json::json!({
            "job": 1,
            "panels": [{"label": "a", "spec": spec, "checkpoint": 0, "teacher": null,
                        "data": {"kind": "zip", "index": 1}}],
            "cells_per_read": 4,
            "prefer_gpu": false,
        })
    }

    #[test]
    fn a_request_is_checked_against_its_attachments_and_ranges() {
        let bytes = |v: &serde_json::Value| serde_json::to_vec(v).unwrap();
        let good = request();
        assert!(RunRequest::from_header(&bytes(&good), 2).is_ok());
        let fails = |v: serde_json::Value, attachments: usize, says: &str| {
            let e = RunRequest::from_header(&bytes(&v), attachments).unwrap_err();
            assert!(e.contains(says), "{e}");
        };
        fails(
            good.clone(),
            1,
            "the zip archive is attachment 1, but 1 came",
        );
        let mut v = good.clone();
        v["panels"][0]["teacher"] = 7.into();
        fails(v, 2, "the teacher is attachment 7");
        let mut v = good.clone();
        v["panels"][0]["data"] =
            serde_json::json!({"kind": "files", "first": usize::MAX, "names": ["a.png", "b.png"]});
        fails(v, 2, "the last image file is attachment");
        let mut v = good.clone();
        v["panels"] = serde_json::json!([]);
        fails(v, 2, "no panels");
        let mut v = good.clone();
        v["cells_per_read"] = 0.into();
        fails(v, 2, "cells_per_read is 0");
        let mut v = good.clone();
        v["share"] = serde_json::json!({"index": 2, "count": 2});
        fails(v, 2, "pool share 2 of 2");
        let mut v = good.clone();
        v["panels"][0]["spec"]["grid"]["x"]["n"] = 0.into();
        fails(v, 2, "panel 1 (a): ");
        let mut v = good.clone();
        v["panels"][0]["spec"]["grid"]["x"]["n"] = 4096.into();
        v["panels"][0]["spec"]["grid"]["y"] =
            serde_json::json!({"min": -1.0, "max": 1.0, "n": 4096});
        fails(v, 2, "more than 1048576 cells");
        let mut v = good.clone();
        v["task"] = serde_json::json!({"kind": "convexity-map", "points": 1000000,
            "settings": {"k": 1, "max_iterations": 10, "tolerance": 0.001, "seed": 0}});
        fails(v, 2, "1000000 points per axis");
        let mut v = good.clone();
        v["skip"] = serde_json::json!([[0], [1]]);
        fails(v, 2, "cells to skip are given for 2 panels");
        let mut v = good.clone();
        v["skip"] = serde_json::json!([[8, 9]]);
        fails(v, 2, "cell 9 to skip is outside its 9-cell grid");
        // Direction files named by the spec must come, and only they.
        let mut v = good.clone();
        v["panels"][0]["spec"]["directions"]["source"] = serde_json::json!({"kind": "files",
            "x": {"name": "pca_1.safetensors", "sha256": "ab".repeat(32)},
            "y": {"name": "pca_2.safetensors", "sha256": "cd".repeat(32)}});
        fails(
            v.clone(),
            2,
            "its spec names 2 direction file(s) besides the checkpoint, but no other file came",
        );
        v["panels"][0]["files"] = serde_json::json!({"directions": [1, 5]});
        fails(v.clone(), 2, "a direction file is attachment 5");
        v["panels"][0]["files"] = serde_json::json!({"directions": [1, 0]});
        assert!(RunRequest::from_header(&bytes(&v), 2).is_ok());
        let mut v = good.clone();
        v["panels"][0]["files"] = serde_json::json!({"target": 1});
        fails(
            v,
            2,
            "names no other file besides the checkpoint, but the path's other end came",
        );
        let mut v = good;
        v["task"] = serde_json::json!({"kind": "top-eigenvalue",
            "settings": {"k": 1, "max_iterations": 0, "tolerance": 0.001, "seed": 0}});
        fails(v, 2, "max_iterations is 0");
        assert!(
            RunRequest::from_header(b"{\"job\": ", 2)
                .unwrap_err()
                .starts_with("bad message header")
        );
    }

    #[test]
    fn a_replacement_worker_plans_only_its_share_of_the_missing_cells() {
        let grids = [(5, 4), (3, 3)];
        let mut request: RunRequest = serde_json::from_value(request()).unwrap();
        request.share = Share { index: 1, count: 2 };
        let full: Vec<(usize, Cell)> = request
            .plan(&grids, 3)
            .into_iter()
            .flat_map(|(p, cells)| cells.into_iter().map(move |c| (p, c)))
            .collect();
        // Skip every other cell of the share's panel-0 cells and all of panel 1's.
        let skip0: Vec<usize> = full
            .iter()
            .filter(|(p, _)| *p == 0)
            .step_by(2)
            .map(|(_, c)| c.iy * 5 + c.ix)
            .collect();
        request.skip = vec![skip0.clone(), (0..9).collect()];
        let plan = request.plan(&grids, 3);
        assert!(plan.iter().all(|(p, cells)| *p == 0 && !cells.is_empty()));
        let left: Vec<usize> = plan
            .iter()
            .flat_map(|(_, cells)| cells.iter().map(|c| c.iy * 5 + c.ix))
            .collect();
        let expected: Vec<usize> = full
            .iter()
            .filter(|(p, c)| *p == 0 && !skip0.contains(&(c.iy * 5 + c.ix)))
            .map(|(_, c)| c.iy * 5 + c.ix)
            .collect();
        assert_eq!(left, expected);
        // The default request plans what the share alone gives.
        request.skip.clear();
        assert_eq!(
            request.plan(&grids, 3).len(),
            request.share.of(schedule(&grids, 3)).len()
        );
    }

    #[test]
    fn the_cpu_pool_shrinks_with_the_model_size() {
        // The demo's tiny ViTs and a ViT-Ti/16 use every core.
        assert_eq!(cpu_workers(4, &[28_000, 28_000, 28_000]), (4, None));
        assert_eq!(cpu_workers(4, &[5_717_416]), (4, None));
        // A ViT-S/16 on 4 cores: 3 copies fit.
        let (n, note) = cpu_workers(4, &[22_050_664]);
        assert_eq!(n, 3);
        assert!(note.unwrap().starts_with("3 of 4 CPU workers"));
        // A ViT-B/16: one worker, and the note says how much each would hold.
        let (n, note) = cpu_workers(2, &[86_567_656]);
        assert_eq!(n, 1);
        let note = note.unwrap();
        assert!(
            note.contains("2.4 GB") && note.contains("86.6 M parameters"),
            "{note}"
        );
        // Too big for even one: still one worker (the run may fail, but says why).
        assert_eq!(cpu_workers(2, &[1 << 30]).0, 1);
        assert_eq!(cpu_workers(4, &[usize::MAX, usize::MAX]).0, 1);
        assert_eq!(cpu_workers(1, &[]), (1, None));
    }

    #[test]
    fn schedule_interleaves_panels_and_covers_every_cell_once() {
        let plan = schedule(&[(5, 5), (5, 5), (3, 1)], 4);
        // Round one: a chunk of each panel, in panel order.
        assert_eq!(
            plan.iter().take(3).map(|(p, _)| *p).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        for (panel, total) in [(0, 25), (1, 25), (2, 3)] {
            let cells: Vec<Cell> = plan
                .iter()
                .filter(|(p, _)| *p == panel)
                .flat_map(|(_, c)| c.clone())
                .collect();
            assert_eq!(cells.len(), total);
            let unique: std::collections::HashSet<_> = cells.iter().map(|c| (c.ix, c.iy)).collect();
            assert_eq!(unique.len(), total);
        }
        assert!(plan.iter().all(|(_, c)| c.len() <= 4 && !c.is_empty()));
    }

    #[test]
    fn shares_split_a_plan_into_disjoint_parts_that_cover_it() {
        let plan = schedule(&[(17, 17); 3], 4);
        let parts: Vec<_> = (0..3)
            .map(|index| Share { index, count: 3 }.of(plan.clone()))
            .collect();
        let mut cells = std::collections::HashSet::new();
        for part in &parts {
            for (panel, chunk) in part {
                for c in chunk {
                    assert!(cells.insert((*panel, c.ix, c.iy)), "computed twice");
                }
            }
        }
        assert_eq!(cells.len(), 3 * 17 * 17);
        assert_eq!(Share::default().of(plan.clone()), plan);
        // Balanced: every worker gets about a third.
        for part in &parts {
            let n: usize = part.iter().map(|(_, c)| c.len()).sum();
            assert!((260..=320).contains(&n), "{n}");
        }
    }

    #[test]
    fn every_panel_completes_a_lattice_before_any_starts_the_next() {
        // The demo: three 17×17 panels. Their 2×2 and 3×3 lattices (9 cells each) come first,
        // so after 27 cells each panel has a preview.
        let plan = schedule(&[(17, 17); 3], 4);
        let first: Vec<(usize, Cell)> = plan
            .iter()
            .flat_map(|(p, c)| c.iter().map(move |c| (*p, *c)))
            .take(27)
            .collect();
        for panel in 0..3 {
            let mine: std::collections::HashSet<_> = first
                .iter()
                .filter(|(p, _)| *p == panel)
                .map(|(_, c)| (c.ix, c.iy))
                .collect();
            for ix in [0, 8, 16] {
                for iy in [0, 8, 16] {
                    assert!(mine.contains(&(ix, iy)), "panel {panel} lacks ({ix}, {iy})");
                }
            }
        }
    }

    #[test]
    fn estimates_need_a_positive_rate() {
        assert_eq!(
            estimate_seconds(&[1.0, 1.0, 1.0], 289, 128, 1000.0),
            Some(110.976)
        );
        // A model of 4× the FLOPs takes 4× as long at the same FLOP rate.
        assert_eq!(estimate_seconds(&[4.0], 289, 128, 1000.0), Some(147.968));
        assert_eq!(estimate_seconds(&[1.0], 289, 128, 0.0), None);
    }
}
