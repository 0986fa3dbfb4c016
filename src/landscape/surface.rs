//! A computed landscape as explicit data: the spec that produced it, its axes, and every named
//! metric stored `[iy][ix]` with `None` for cells not yet computed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::spec::{Axis, SweepSpec};

/// One metric over the grid, `[iy][ix]`; `None` = not computed yet.
pub type Grid2 = Vec<Vec<Option<f64>>>;

/// Name of the metric every surface carries: the objective's value.
pub const LOSS: &str = "loss";
/// Top-1 accuracy (fraction in [0, 1]), present when the data has labels and the loss classifies.
pub const ACCURACY: &str = "accuracy";

/// A (possibly partial) loss surface: what `surface.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Surface {
    /// Everything needed to recompute this surface.
    pub spec: SweepSpec,
    /// vitscape version that computed it.
    pub vitscape_version: String,
    /// The α values (x axis, columns).
    pub x: Vec<f64>,
    /// The β values (y axis, rows); a single `0.0` for a 1-D sweep.
    pub y: Vec<f64>,
    /// Named metrics, each `[iy][ix]`. Always holds [`LOSS`].
    pub metrics: BTreeMap<String, Grid2>,
    /// Facts about the run that are not per cell.
    pub info: SurfaceInfo,
}

/// A run's progress in time: seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Clock {
    /// When this process started computing.
    pub started: f64,
    /// Cells already computed then (a resumed run's).
    pub cells_at_start: usize,
    /// When the file was last saved.
    pub saved: f64,
}

/// Facts recorded with a surface beside its spec: what was evaluated, on what, and how its
/// summaries and curvature were formed. Every field is optional (a partial or page-made surface
/// has fewer); keys other versions wrote are kept in `other`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SurfaceInfo {
    /// Parameters in θ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<usize>,
    /// The architecture inferred from the checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<crate::model::arch::VitConfig>,
    /// The compute device ("flex", "wgpu", the browser worker's backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// ‖θ*‖.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta_norm: Option<f64>,
    /// ‖d_x‖ after normalisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction_x_norm: Option<f64>,
    /// ‖d_y‖ after normalisation (2-D sweeps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction_y_norm: Option<f64>,
    /// cos(d_x, d_y) (2-D sweeps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction_cosine: Option<f64>,
    /// The landscape summaries of the loss, once the surface is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_loss: Option<crate::metrics::Summary>,
    /// The τ rule of those summaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_tau: Option<crate::metrics::Tau>,
    /// The training path on the plane, when both directions are principal components of one run
    /// (`vitscape trajectory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<crate::trajectory::TrajectoryPath>,
    /// A convexity map's Hessian-vector product scheme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hessian_vector_product: Option<crate::curvature::ProductScheme>,
    /// A convexity map's step check over every product so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_check: Option<crate::curvature::StepCheck>,
    /// A convexity map's power-iteration settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_iteration: Option<crate::curvature::PowerSettings>,
    /// A convexity map's share of locally convex cells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convex_fraction: Option<ConvexFraction>,
    /// The shard of the sweep this surface holds (`vitscape sweep --shard K/N`); cleared by
    /// `vitscape merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::landscape::sweep::Shard>,
    /// Along a path between two checkpoints: the loss's (and accuracy's) barrier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub barrier: Vec<crate::metrics::barrier::Barrier>,
    /// When the run that wrote this started and last saved, for `vitscape status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<Clock>,
    /// Keys this version does not know (from files written by others).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// The share of a convexity map's cells below the convexity threshold.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ConvexFraction {
    /// |λmin/λmax| below this counts as locally convex.
    pub threshold: f64,
    /// The share of computed cells below it.
    pub fraction: f64,
}

impl Surface {
    /// An empty surface (no cell computed) for the given spec and metric names.
    pub fn empty(spec: SweepSpec, metric_names: &[&str]) -> Self {
        let x = spec.grid.x.values();
        let y = match &spec.grid.y {
            Some(axis) => axis.values(),
            None => vec![0.0],
        };
        let metrics = metric_names
            .iter()
            .map(|name| (name.to_string(), vec![vec![None; x.len()]; y.len()]))
            .collect();
        Self {
            spec,
            vitscape_version: crate::VERSION.to_string(),
            x,
            y,
            metrics,
            info: SurfaceInfo::default(),
        }
    }

    /// The cell nearest θ* (α = β = 0) as (ix, iy); the first of equally near ones.
    pub fn centre_cell(&self) -> (usize, usize) {
        let nearest = |axis: &[f64]| {
            axis.iter()
                .enumerate()
                .min_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .map_or(0, |(i, _)| i)
        };
        (nearest(&self.x), nearest(&self.y))
    }

    /// True for a 1-D sweep (a single row).
    pub fn is_1d(&self) -> bool {
        self.spec.grid.y.is_none()
    }

    /// The loss grid.
    pub fn loss(&self) -> &Grid2 {
        &self.metrics[LOSS]
    }

    /// Number of computed cells / total cells.
    pub fn progress(&self) -> (usize, usize) {
        let grid = self.loss();
        let total = self.x.len() * self.y.len();
        let done = grid.iter().flatten().filter(|v| v.is_some()).count();
        (done, total)
    }

    /// Finite (min, max) of a metric over computed cells.
    pub fn range(&self, metric: &str) -> Option<(f64, f64)> {
        let grid = self.metrics.get(metric)?;
        let mut it = grid
            .iter()
            .flatten()
            .flatten()
            .copied()
            .filter(|v| v.is_finite());
        let first = it.next()?;
        Some(it.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v))))
    }

    /// CSV with one row per cell: `alpha,beta,<metric>...` (empty field = not computed).
    pub fn to_csv(&self) -> String {
        let names: Vec<&String> = self.metrics.keys().collect();
        let mut out = String::from("alpha,beta");
        for name in &names {
            out.push(',');
            out.push_str(name);
        }
        out.push('\n');
        for (iy, beta) in self.y.iter().enumerate() {
            for (ix, alpha) in self.x.iter().enumerate() {
                out.push_str(&format!("{alpha},{beta}"));
                for name in &names {
                    out.push(',');
                    if let Some(v) = self.metrics[*name][iy][ix] {
                        out.push_str(&format!("{v}"));
                    }
                }
                out.push('\n');
            }
        }
        out
    }
}

/// Cell coordinates on a grid, row-major.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// Column (α index).
    pub ix: usize,
    /// Row (β index).
    pub iy: usize,
}

/// Values of an axis, helper used by plots.
pub fn axis_values(axis: &Axis) -> Vec<f64> {
    axis.values()
}
