//! Worker → page: the messages a worker posts while it computes.

use super::*;

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
