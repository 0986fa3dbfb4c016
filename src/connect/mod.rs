//! Mode connectivity (Garipov et al. 2018): the quadratic Bézier curve
//! φ(t) = (1−t)²θ₀ + 2t(1−t)θ_c + t²θ₁ between two checkpoints, its control point θ_c trained so
//! that the whole curve has a low loss ([`train_bend`], native), and the record `vitscape connect`
//! keeps of it (target-neutral: the page reads the demo's).

use serde::{Deserialize, Serialize};

use crate::spec::{CheckpointRef, DataSpec, FileRef, LossSpec};

#[cfg(all(feature = "engine", not(target_arch = "wasm32")))]
mod train;
#[cfg(all(feature = "engine", not(target_arch = "wasm32")))]
pub use train::*;

/// How the control point is trained (recorded in the control point's metadata).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
