//! Mode connectivity (Garipov et al. 2018): the quadratic Bézier curve
//! φ(t) = (1−t)²θ₀ + 2t(1−t)θ_c + t²θ₁ between two checkpoints, its control point θ_c trained so
//! that the whole curve has a low loss ([`train_bend`], natively and in the browser's worker), and
//! the record kept of it (target-neutral: the page reads the demo's and writes its own).

use serde::{Deserialize, Serialize};

use crate::io::checkpoint::StateDict;
use crate::spec::{CheckpointRef, DataSpec, FileRef, LossSpec, SweepSpec, shell_quote, spec_flags};

#[cfg(feature = "engine")]
mod train;
#[cfg(feature = "engine")]
pub use train::*;

/// The `format` metadata of a control point's file ([`bend_file`]).
pub const BEND_FORMAT: &str = "vitscape-bend";

/// Whether a file's tensors are a Bézier curve's control point (a point in parameter space,
/// not a direction).
pub fn is_bend_file(state: &StateDict) -> bool {
    state.metadata.get("format").map(String::as_str) == Some(BEND_FORMAT)
}

/// The mean mini-batch loss of the last [`RecentLoss::WINDOW`] steps, as the CLI's progress bar
/// and the page's progress line show it.
#[derive(Debug, Clone, Default)]
pub struct RecentLoss(std::collections::VecDeque<f64>);

impl RecentLoss {
    /// Steps averaged.
    pub const WINDOW: usize = 20;

    /// Add a step's loss; the mean over the window.
    pub fn push(&mut self, loss: f64) -> f64 {
        if self.0.len() == Self::WINDOW {
            self.0.pop_front();
        }
        self.0.push_back(loss);
        self.0.iter().sum::<f64>() / self.0.len() as f64
    }
}

/// One step's record.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct BendStep {
    /// The curve parameter drawn.
    pub t: f64,
    /// The mini-batch's loss at φ(t) before the step.
    pub loss: f64,
}

/// How the control point is trained (recorded in the control point's metadata).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct BendConfig {
    /// Adam steps, one mini-batch and one t each.
    pub steps: usize,
    /// Peak learning rate (cosine decay to 0 over the steps).
    pub lr: f64,
    /// Seed of the t draws.
    pub seed: u64,
    /// Adam β₁.
    pub beta1: f64,
    /// Adam β₂.
    pub beta2: f64,
}

impl BendConfig {
    /// `steps` steps at `lr`, Adam's usual β = (0.9, 0.999).
    pub fn new(steps: usize, lr: f64, seed: u64) -> Self {
        Self {
            steps,
            lr,
            seed,
            beta1: 0.9,
            beta2: 0.999,
        }
    }

    /// The learning rate of step `k` (from 0): lr·½(1 + cos(πk/steps)).
    pub fn lr_at(&self, k: usize) -> f64 {
        let frac = k as f64 / self.steps.max(1) as f64;
        self.lr * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos())
    }
}

/// Where the control point's training images come from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum TrainOn {
    /// The dataset's training split where it has one (Fashion-MNIST), else the image folder the
    /// sweeps evaluate.
    #[default]
    Split,
    /// The images the sweeps evaluate, in their batches of `--train-batch` (the page's only
    /// choice: it holds no training split).
    Eval,
}

/// The `vitscape connect` command training the same control point as the page did for the path
/// `spec` (a linear path; its images are the training images, `--train-on eval`).
pub fn connect_command(
    spec: &SweepSpec,
    config: &BendConfig,
    train_batch: usize,
    out: &str,
) -> Result<String, crate::error::SpecError> {
    Ok(format!(
        "vitscape connect {} --train-on eval --train-batch {train_batch} --steps {} --lr {} --bend-seed {} --out {}",
        spec_flags(spec)?,
        config.steps,
        config.lr,
        config.seed,
        shell_quote(out)
    ))
}

/// How a control point was trained: kept in its file's metadata (key `bend`) and in
/// `connect.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BendRecord {
    /// vitscape version that trained it.
    pub vitscape_version: String,
    /// The curve's start, t = 0.
    pub start: CheckpointRef,
    /// The curve's end, t = 1.
    pub end: CheckpointRef,
    /// The loss trained on (the sweeps' loss).
    pub loss: LossSpec,
    /// The images it was trained on.
    pub train_data: DataSpec,
    /// Images per step.
    pub train_batch: usize,
    /// The optimiser's settings.
    pub config: BendConfig,
    /// Mean mini-batch loss on the curve over the last 10 % of the steps.
    pub final_loss: f64,
    /// The command that trained it.
    pub command: String,
}

impl BendRecord {
    /// The record of a control point trained from `spec`'s checkpoint to `end` on `spec`'s loss
    /// with `train_data` (`final_loss` NaN until it has trained).
    pub fn new(
        spec: &SweepSpec,
        end: CheckpointRef,
        train_data: DataSpec,
        train_batch: usize,
        config: BendConfig,
        command: String,
    ) -> Self {
        Self {
            vitscape_version: crate::VERSION.to_string(),
            start: spec.checkpoint.clone(),
            end,
            loss: spec.loss.clone(),
            train_data,
            train_batch,
            config,
            final_loss: f64::NAN,
            command,
        }
    }
}

/// What `vitscape connect` writes as `connect.json` beside `linear/` and `bezier/`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConnectReport {
    /// How the control point was trained.
    pub bend: BendRecord,
    /// The control point's file.
    pub bend_file: FileRef,
    /// Barriers along the straight line (as in `linear/surface.json`).
    pub linear: Vec<crate::metrics::barrier::Barrier>,
    /// Barriers along the curve (as in `bezier/surface.json`).
    pub bezier: Vec<crate::metrics::barrier::Barrier>,
    /// `vitscape sweep` commands recomputing the line, then the curve.
    pub commands: [String; 2],
}
