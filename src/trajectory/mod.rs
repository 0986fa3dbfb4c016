//! Trajectory planes (Li et al. 2018, §7): the two principal directions of a training run's
//! checkpoints around a centre θ* (usually the last), how much of the run's movement they
//! explain, and where each checkpoint falls on their plane.
//!
//! As in Li et al.'s `projection.py`: the rows are dᵢ = θᵢ − θ*, PCA centres them on their mean
//! (as scikit-learn's `PCA` does), the components are unit vectors, and each checkpoint's
//! coordinates are the plain projections ⟨dᵢ, vₖ⟩, so θ* sits at the origin. The directions are
//! written as direction files that carry the path in their metadata; a sweep over the two files
//! (used as they are, not rescaled) draws the path over its contours.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::io::checkpoint::StateDict;

/// The direction files' metadata key that holds a [`TrajectoryAxis`] (JSON).
pub const METADATA_KEY: &str = "trajectory";

/// Why a trajectory cannot be formed or read.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TrajectoryError {
    /// Fewer checkpoints than two principal directions need.
    #[error(
        "a trajectory plane needs at least 3 checkpoints (two directions of movement); {0} given"
    )]
    TooFew(usize),
    /// A checkpoint's parameter count differs from the first one's.
    #[error("checkpoint {index} has {found} parameters where the first has {expected}")]
    Length {
        /// Position in the series, from 1.
        index: usize,
        /// Its parameter count.
        found: usize,
        /// The first one's.
        expected: usize,
    },
    /// A checkpoint holds NaN or infinity.
    #[error("checkpoint {0} holds NaN or infinity")]
    NonFinite(usize),
    /// The checkpoints do not move in two independent directions.
    #[error(
        "the checkpoints move along {0} independent direction(s) around their mean; a plane needs 2 (are some of them the same file?)"
    )]
    Degenerate(usize),
    /// A direction file's `trajectory` metadata is not what vitscape writes.
    #[error("direction file {axis}: metadata `trajectory` is not a vitscape trajectory: {reason}")]
    Metadata {
        /// "x" or "y".
        axis: String,
        /// What is wrong.
        reason: String,
    },
}

/// The principal directions of a series of parameter vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Unit principal directions, the largest variance first; each one's largest entry (in
    /// magnitude) is positive.
    pub components: Vec<Vec<f32>>,
    /// Each component's share of the total variance of the centred rows.
    pub explained_variance_ratio: Vec<f64>,
    /// `coords[i][k]` = ⟨dᵢ, vₖ⟩ for each row in the order given (projections of the rows as
    /// given, not centred, with the f32 components the direction files hold).
    pub coords: Vec<Vec<f64>>,
}

/// The first `k` principal directions of the rows `deltas` (each θᵢ − θ*, all of one length).
///
/// Computed through the rows' centred Gram matrix (n×n for n rows) and its eigenvectors, so the
/// cost is O(n²·P) for P parameters and the memory the rows themselves. Rows are read in f32 and
/// summed in f64.
pub fn pca(deltas: &[Vec<f32>], k: usize) -> Result<Pca, TrajectoryError> {
    let n = deltas.len();
    if n < k + 1 {
        return Err(TrajectoryError::TooFew(n));
    }
    let p = deltas[0].len();
    for (i, d) in deltas.iter().enumerate() {
        if d.len() != p {
            return Err(TrajectoryError::Length {
                index: i + 1,
                found: d.len(),
                expected: p,
            });
        }
        if d.iter().any(|v| !v.is_finite()) {
            return Err(TrajectoryError::NonFinite(i + 1));
        }
    }
    let mut mean = vec![0.0f64; p];
    for d in deltas {
        for (m, &v) in mean.iter_mut().zip(d) {
            *m += f64::from(v);
        }
    }
    for m in &mut mean {
        *m /= n as f64;
    }
    let centred = |i: usize, t: usize| f64::from(deltas[i][t]) - mean[t];
    let mut gram = vec![0.0f64; n * n];
    for i in 0..n {
        for j in i..n {
            let dot: f64 = (0..p).map(|t| centred(i, t) * centred(j, t)).sum();
            gram[i * n + j] = dot;
            gram[j * n + i] = dot;
        }
    }
    let total: f64 = (0..n).map(|i| gram[i * n + i]).sum();
    let pairs = crate::linalg::eigenpairs_descending(&gram, n);
    // Eigenvalues below this are rounding, not movement.
    let floor = total * 1e-12;
    let rank = pairs.iter().filter(|(value, _)| *value > floor).count();
    if total <= 0.0 || rank < k {
        return Err(TrajectoryError::Degenerate(rank));
    }
    let mut components = Vec::with_capacity(k);
    let mut explained_variance_ratio = Vec::with_capacity(k);
    for (value, u) in pairs.iter().take(k) {
        // vₖ ∝ Σᵢ uₖ[i]·cᵢ (the right singular vector); signed_unit normalises it.
        let v: Vec<f64> = (0..p)
            .map(|t| (0..n).map(|i| u[i] * centred(i, t)).sum())
            .collect();
        components.push(crate::curvature::signed_unit(&v));
        explained_variance_ratio.push(value / total);
    }
    let coords = deltas
        .iter()
        .map(|d| {
            components
                .iter()
                .map(|v| {
                    d.iter()
                        .zip(v)
                        .map(|(&a, &b)| f64::from(a) * f64::from(b))
                        .sum()
                })
                .collect()
        })
        .collect();
    Ok(Pca {
        components,
        explained_variance_ratio,
        coords,
    })
}

/// One checkpoint of a trajectory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Member {
    /// File name as given.
    pub name: String,
    /// Hex sha256 of its bytes.
    pub sha256: String,
}

/// What a trajectory direction file records about its axis: which run, which component, and
/// each checkpoint's coordinate along it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrajectoryAxis {
    /// Identifies the run and its centre: sha256 of the members' and the centre's hashes.
    pub series: String,
    /// Principal component, from 1.
    pub component: usize,
    /// Its share of the run's variance.
    pub explained_variance_ratio: f64,
    /// The checkpoints in training order.
    pub members: Vec<Member>,
    /// Each member's coordinate along this component.
    pub coords: Vec<f64>,
}

/// The identity of a run around a centre, for [`TrajectoryAxis::series`].
pub fn series_id(members: &[Member], centre_sha256: &str) -> String {
    let mut h = Sha256::new();
    for m in members {
        h.update(m.sha256.as_bytes());
        h.update(b"\n");
    }
    h.update(b"centre ");
    h.update(centre_sha256.as_bytes());
    hex::encode(h.finalize())
}

/// A training path on a plane, as a surface records it (`info.trajectory`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrajectoryPath {
    /// The x and y components' shares of the run's variance.
    pub explained_variance_ratio: [f64; 2],
    /// The checkpoints in training order.
    pub points: Vec<PathPoint>,
}

/// One checkpoint's place on the plane.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PathPoint {
    /// File name as given when the directions were made.
    pub name: String,
    /// Hex sha256 of the checkpoint.
    pub sha256: String,
    /// Coordinate along the x direction.
    pub alpha: f64,
    /// Coordinate along the y direction.
    pub beta: f64,
}

/// The trajectory axis a direction file records, if any.
pub fn axis_of(file: &StateDict, axis: &str) -> Result<Option<TrajectoryAxis>, TrajectoryError> {
    let Some(text) = file.metadata.get(METADATA_KEY) else {
        return Ok(None);
    };
    let bad = |reason: String| TrajectoryError::Metadata {
        axis: axis.to_string(),
        reason,
    };
    let parsed: TrajectoryAxis = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if parsed.coords.len() != parsed.members.len() {
        return Err(bad(format!(
            "{} coordinates for {} checkpoints",
            parsed.coords.len(),
            parsed.members.len()
        )));
    }
    if parsed.coords.iter().any(|c| !c.is_finite()) {
        return Err(bad("a coordinate is not finite".into()));
    }
    Ok(Some(parsed))
}

/// Whether two axes are different components of one run around one centre (their files make a
/// plane with a path).
pub fn same_run(x: &TrajectoryAxis, y: &TrajectoryAxis) -> bool {
    x.series == y.series && x.members == y.members && x.component != y.component
}

/// The path of a run on the plane of two direction files: present when both are components of
/// the same run (the same `series`), different ones. Directions from elsewhere have no path.
pub fn path_of(x: &StateDict, y: &StateDict) -> Result<Option<TrajectoryPath>, TrajectoryError> {
    let (Some(ax), Some(ay)) = (axis_of(x, "x")?, axis_of(y, "y")?) else {
        return Ok(None);
    };
    if !same_run(&ax, &ay) {
        return Ok(None);
    }
    let points = ax
        .members
        .iter()
        .zip(ax.coords.iter().zip(&ay.coords))
        .map(|(m, (&alpha, &beta))| PathPoint {
            name: m.name.clone(),
            sha256: m.sha256.clone(),
            alpha,
            beta,
        })
        .collect();
    Ok(Some(TrajectoryPath {
        explained_variance_ratio: [ax.explained_variance_ratio, ay.explained_variance_ratio],
        points,
    }))
}

/// A 21-point grid axis `MIN:MAX:21` that holds every coordinate and 0 (θ*), with a fifth of the
/// span to spare on each side, rounded outwards to two significant digits of the span.
pub fn covering(coords: impl Iterator<Item = f64>) -> String {
    let (lo, hi) = coords.fold((0.0f64, 0.0f64), |(lo, hi), c| (lo.min(c), hi.max(c)));
    let span = (hi - lo).max(1e-6);
    let exponent = span.log10().floor() - 1.0;
    let step = 10f64.powf(exponent);
    // The 1e-9 keeps rounding noise (0.18 / 0.01 = 18.000000000000004) from adding a step.
    let lo = ((lo - 0.2 * span) / step + 1e-9).floor() * step;
    let hi = ((hi + 0.2 * span) / step - 1e-9).ceil() * step;
    let decimals = (-exponent).max(0.0) as usize;
    format!("{lo:.decimals$}:{hi:.decimals$}:21")
}

#[cfg(test)]
mod tests;
