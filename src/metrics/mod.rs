//! Quantitative summaries of a loss surface (METHODS §6): basin radius along rays, basin area
//! below L(0) + τ, the fraction of locally convex cells, roughness against the best quadratic fit
//! and the curvature along each axis at the centre. Pure functions of a computed [`Surface`]
//! metric; every number states its units and τ. [`topology`]: the merge tree of the sublevel sets
//! (minima, basins, persistence). [`barrier`]: how far a path between two checkpoints rises above
//! the line between its ends.

pub mod barrier;
#[cfg(test)]
mod tests;
pub mod topology;

use serde::{Deserialize, Serialize};

use crate::landscape::surface::Surface;

/// Summaries of one metric of one surface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The metric summarised (e.g. `loss`).
    pub metric: String,
    /// The threshold τ above the centre value (units of the metric).
    pub tau: f64,
    /// The centre value L(0) (nearest grid point to α = β = 0).
    pub centre: f64,
    /// Rays cast from the centre (2-D: evenly spaced angles; 1-D: the two directions).
    pub rays: usize,
    /// Mean basin radius over the rays that leave the basin inside the grid (units of α, β).
    pub radius_mean: Option<f64>,
    /// Smallest radius found.
    pub radius_min: Option<f64>,
    /// Rays that stay below L(0) + τ up to the edge of the grid (their radius is at least the
    /// distance to the edge).
    pub rays_censored: usize,
    /// Area (2-D, units α·β) or length (1-D, units α) of the connected region around the centre
    /// where L < L(0) + τ.
    pub basin_area: f64,
    /// Fraction of interior cells whose discrete Hessian is positive semi-definite.
    pub convex_fraction: f64,
    /// RMS residual of the best quadratic fit (units of the metric).
    pub roughness_rms: f64,
    /// `roughness_rms` divided by the standard deviation of the surface (dimensionless).
    pub roughness_relative: f64,
    /// ∂²L/∂α² at the centre (central difference; units metric/α²).
    pub curvature_x: Option<f64>,
    /// ∂²L/∂β² at the centre.
    pub curvature_y: Option<f64>,
    /// The merge tree of the sublevel sets, basins merged at persistence ≤ τ (absent from
    /// summaries written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<topology::Topology>,
}

/// Why a summary cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// The metric is absent.
    #[error("surface has no metric `{0}`")]
    Unknown(String),
    /// Cells are missing.
    #[error("surface is incomplete: {missing} of {total} cells not computed")]
    Incomplete {
        /// Missing cells.
        missing: usize,
        /// All cells.
        total: usize,
    },
    /// Too few points.
    #[error("need at least 3 points along every axis, got {nx}×{ny}")]
    TooSmall {
        /// Columns.
        nx: usize,
        /// Rows.
        ny: usize,
    },
    /// Bad τ.
    #[error("τ = {0} must be a positive number")]
    Tau(f64),
}

struct Grid<'a> {
    x: &'a [f64],
    y: &'a [f64],
    v: Vec<Vec<f64>>,
}

impl Grid<'_> {
    fn nx(&self) -> usize {
        self.x.len()
    }
    fn ny(&self) -> usize {
        self.y.len()
    }

    /// Bilinear interpolation at (a, b); None outside the grid.
    fn at(&self, a: f64, b: f64) -> Option<f64> {
        let fx = locate(self.x, a)?;
        let (ix, tx) = fx;
        let (iy, ty) = if self.ny() == 1 {
            (0, 0.0)
        } else {
            locate(self.y, b)?
        };
        let v = |iy: usize, ix: usize| self.v[iy][ix];
        let ix1 = (ix + 1).min(self.nx() - 1);
        let iy1 = (iy + 1).min(self.ny() - 1);
        let top = v(iy, ix) * (1.0 - tx) + v(iy, ix1) * tx;
        let bottom = v(iy1, ix) * (1.0 - tx) + v(iy1, ix1) * tx;
        Some(top * (1.0 - ty) + bottom * ty)
    }
}

/// Index of the interval holding `value` and the fraction within it.
fn locate(axis: &[f64], value: f64) -> Option<(usize, f64)> {
    let first = *axis.first()?;
    let last = *axis.last()?;
    if value < first - 1e-12 || value > last + 1e-12 {
        return None;
    }
    if axis.len() == 1 {
        return Some((0, 0.0));
    }
    let i = axis
        .partition_point(|&a| a <= value)
        .clamp(1, axis.len() - 1)
        - 1;
    let span = axis[i + 1] - axis[i];
    Some((i, ((value - axis[i]) / span).clamp(0.0, 1.0)))
}

/// Mean and sample standard deviation (n − 1 in the denominator; 0 for fewer than two values).
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// The threshold of the basin summaries: L(0) + τ.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tau {
    /// τ in loss units.
    Absolute(f64),
    /// τ as a fraction of the surface's own |L(0)|, so that losses of different scales are
    /// compared on the same footing (the page, the verdict and the CLI's default: 0.1).
    Relative(f64),
}

impl From<f64> for Tau {
    fn from(t: f64) -> Self {
        Tau::Absolute(t)
    }
}

impl std::fmt::Display for Tau {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tau::Absolute(t) => write!(f, "τ = {t}"),
            Tau::Relative(r) => write!(f, "τ = {} % of |L(0)|", r * 100.0),
        }
    }
}

/// Summarise `metric` of a complete surface with threshold τ, casting `rays` rays (2-D).
pub fn summarise(
    s: &Surface,
    metric: &str,
    tau: impl Into<Tau>,
    rays: usize,
) -> Result<Summary, MetricsError> {
    let tau = tau.into();
    if let Tau::Absolute(t) | Tau::Relative(t) = tau
        && !(t > 0.0 && t.is_finite())
    {
        return Err(MetricsError::Tau(t));
    }
    let raw = s
        .metrics
        .get(metric)
        .ok_or_else(|| MetricsError::Unknown(metric.to_string()))?;
    let total = s.x.len() * s.y.len();
    let missing = raw.iter().flatten().filter(|v| v.is_none()).count();
    if missing > 0 {
        return Err(MetricsError::Incomplete { missing, total });
    }
    let one_d = s.y.len() == 1;
    if s.x.len() < 3 || (!one_d && s.y.len() < 3) {
        return Err(MetricsError::TooSmall {
            nx: s.x.len(),
            ny: s.y.len(),
        });
    }
    let g = Grid {
        x: &s.x,
        y: &s.y,
        v: raw
            .iter()
            .map(|row| row.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
            .collect(),
    };
    let (cx, cy) = s.centre_cell();
    let (a0, b0) = (s.x[cx], s.y[cy]);
    let centre = g.v[cy][cx];
    let tau = match tau {
        Tau::Absolute(t) => t,
        Tau::Relative(r) => r * centre.abs(),
    };
    if !(tau > 0.0 && tau.is_finite()) {
        return Err(MetricsError::Tau(tau));
    }
    let limit = centre + tau;

    // Rays: march in small steps, bilinear values, linear interpolation of the crossing.
    let dx = (s.x[1] - s.x[0]).abs();
    let dy = if one_d { dx } else { (s.y[1] - s.y[0]).abs() };
    let step = dx.min(dy) / 8.0;
    let angles: Vec<(f64, f64)> = if one_d {
        vec![(1.0, 0.0), (-1.0, 0.0)]
    } else {
        let k = rays.max(4);
        (0..k)
            .map(|i| {
                let t = 2.0 * std::f64::consts::PI * i as f64 / k as f64;
                (t.cos(), t.sin())
            })
            .collect()
    };
    let mut radii = Vec::new();
    let mut censored = 0;
    for (ca, sb) in &angles {
        let mut prev = (0.0, centre);
        let mut found = None;
        let mut r = step;
        while let Some(v) = g.at(a0 + r * ca, b0 + r * sb) {
            if v - centre > tau {
                let (r0, v0) = prev;
                let t = if v > v0 { (limit - v0) / (v - v0) } else { 1.0 };
                found = Some(r0 + t.clamp(0.0, 1.0) * (r - r0));
                break;
            }
            prev = (r, v);
            r += step;
        }
        match found {
            Some(r) => radii.push(r),
            None => censored += 1,
        }
    }
    let radius_mean = (!radii.is_empty()).then(|| radii.iter().sum::<f64>() / radii.len() as f64);
    let radius_min = radii.iter().copied().reduce(f64::min);

    // Connected basin (4-neighbour flood fill from the centre).
    let (nx, ny) = (g.nx(), g.ny());
    let mut inside = vec![vec![false; nx]; ny];
    let mut stack = vec![(cy, cx)];
    let mut count = 0usize;
    while let Some((iy, ix)) = stack.pop() {
        if inside[iy][ix] || g.v[iy][ix] >= limit {
            continue;
        }
        inside[iy][ix] = true;
        count += 1;
        if ix > 0 {
            stack.push((iy, ix - 1));
        }
        if ix + 1 < nx {
            stack.push((iy, ix + 1));
        }
        if iy > 0 {
            stack.push((iy - 1, ix));
        }
        if iy + 1 < ny {
            stack.push((iy + 1, ix));
        }
    }
    let basin_area = count as f64 * dx * if one_d { 1.0 } else { dy };

    // Discrete Hessian at interior cells.
    let mut convex = 0usize;
    let mut interior = 0usize;
    let tol = 1e-9;
    let lxx =
        |iy: usize, ix: usize| (g.v[iy][ix + 1] - 2.0 * g.v[iy][ix] + g.v[iy][ix - 1]) / (dx * dx);
    let lyy =
        |iy: usize, ix: usize| (g.v[iy + 1][ix] - 2.0 * g.v[iy][ix] + g.v[iy - 1][ix]) / (dy * dy);
    for iy in 0..ny {
        for ix in 1..nx - 1 {
            if one_d {
                interior += 1;
                convex += usize::from(lxx(iy, ix) >= -tol);
                continue;
            }
            if iy == 0 || iy + 1 == ny {
                continue;
            }
            interior += 1;
            let (a, c) = (lxx(iy, ix), lyy(iy, ix));
            let b = (g.v[iy + 1][ix + 1] - g.v[iy + 1][ix - 1] - g.v[iy - 1][ix + 1]
                + g.v[iy - 1][ix - 1])
                / (4.0 * dx * dy);
            let scale = a.abs().max(c.abs()).max(1e-12);
            if a >= -tol * scale && c >= -tol * scale && a * c - b * b >= -tol * scale * scale {
                convex += 1;
            }
        }
    }
    let convex_fraction = convex as f64 / interior.max(1) as f64;

    // Least-squares quadratic fit.
    let mut rows = Vec::with_capacity(nx * ny);
    for (iy, &b) in s.y.iter().enumerate() {
        for (ix, &a) in s.x.iter().enumerate() {
            let features = if one_d {
                vec![1.0, a, a * a]
            } else {
                vec![1.0, a, b, a * a, a * b, b * b]
            };
            rows.push((features, g.v[iy][ix]));
        }
    }
    let coef = crate::linalg::least_squares(&rows);
    let residuals: Vec<f64> = rows
        .iter()
        .map(|(f, v)| v - f.iter().zip(&coef).map(|(x, c)| x * c).sum::<f64>())
        .collect();
    let n = residuals.len() as f64;
    let roughness_rms = (residuals.iter().map(|r| r * r).sum::<f64>() / n).sqrt();
    let mean = rows.iter().map(|(_, v)| v).sum::<f64>() / n;
    let std = (rows.iter().map(|(_, v)| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let roughness_relative = if std > 0.0 { roughness_rms / std } else { 0.0 };

    let curvature_x = (cx > 0 && cx + 1 < nx).then(|| lxx(cy, cx));
    let curvature_y = (!one_d && cy > 0 && cy + 1 < ny).then(|| lyy(cy, cx));
    let topology = topology::topology(&g.v, &s.x, &s.y, (cx, cy), tau);
    Ok(Summary {
        metric: metric.to_string(),
        tau,
        centre,
        rays: angles.len(),
        radius_mean,
        radius_min,
        rays_censored: censored,
        basin_area,
        convex_fraction,
        roughness_rms,
        roughness_relative,
        curvature_x,
        curvature_y,
        topology: Some(topology),
    })
}
