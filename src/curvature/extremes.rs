//! Both ends of a symmetric operator's spectrum, λmax and λmin, and Li et al.'s convexity ratio
//! |λmin/λmax| built from them (METHODS §5): by Lanczos (both extremes from one Krylov space,
//! the default) or by Li et al.'s two power iterations (λmax, then the shifted operator
//! H − 0.51·λmax·I).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::{
    CONVEXITY, Eigen, LAMBDA_MAX, LAMBDA_MIN, LinearOperator, PowerSettings, dot, norm,
    top_eigenvalues,
};
use crate::error::Error;

/// How a convexity map finds λmin and λmax at a cell (recorded in its power-iteration settings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum ExtremesMethod {
    /// Li et al.'s two power iterations: λmax, then the dominant eigenvalue of
    /// H − 0.51·λmax·I ([`extreme_eigenvalues`]). What every map recorded before Lanczos
    /// existed holds (a recorded setting without this field reads as this).
    #[default]
    Power,
    /// Lanczos from one random unit vector: both extreme Ritz values of one Krylov space
    /// ([`lanczos_extremes`]), `max_iterations` products at most in all.
    Lanczos,
}

impl ExtremesMethod {
    /// The name used by the CLI flag and in the spec.
    pub fn name(self) -> &'static str {
        match self {
            Self::Power => "power",
            Self::Lanczos => "lanczos",
        }
    }

    /// What `max_iterations` bounds, in words: "at most 20 Lanczos steps per cell".
    pub fn budget(self, max_iterations: usize) -> String {
        match self {
            Self::Power => format!(
                "at most {max_iterations} power iterations per eigenvalue (λmax, then λmin from H − 0.51·λmax·I)"
            ),
            Self::Lanczos => format!(
                "at most {max_iterations} Lanczos steps per cell (λmin and λmax from one Krylov space)"
            ),
        }
    }
}

/// λmax and λmin by the method the settings name.
pub async fn extremes<O: LinearOperator + ?Sized>(
    op: &mut O,
    s: PowerSettings,
) -> Result<Extremes, Error> {
    match s.extremes {
        ExtremesMethod::Power => extreme_eigenvalues(op, s).await,
        ExtremesMethod::Lanczos => lanczos_extremes(op, s).await,
    }
}

/// λmax and λmin as the extreme Ritz values of the Lanczos process (Lanczos 1950; Golub & Van
/// Loan §10.1) started from a random unit vector drawn with the settings' seed. The Ritz values
/// of a Krylov space lie inside the spectrum and approach both of its ends at once, much faster
/// than a power iteration approaches one (Kaniel–Paige), so one Krylov space replaces the two power
/// iterations of [`extreme_eigenvalues`].
///
/// Each step takes one product. The three-term recurrence keeps only two Lanczos vectors, so the
/// memory is that of a power iteration whatever the model's size; without re-orthogonalisation
/// against older vectors a converged extreme may reappear as a copy ("ghost") in later steps, which
/// leaves the extremes themselves unchanged. The tridiagonal matrix is diagonalised after every
/// step. It stops when both extreme Ritz values moved by less than `tolerance` times
/// max(|λmin|, |λmax|) in the last step (the scale of the convexity ratio's error), when the
/// Krylov space is exhausted, or after `max_iterations` products.
pub async fn lanczos_extremes<O: LinearOperator + ?Sized>(
    op: &mut O,
    s: PowerSettings,
) -> Result<Extremes, Error> {
    let n = op.dim();
    if n == 0 {
        return Err(Error::Backend("Lanczos on an empty operator".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let mut v: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
    let start = norm(&v);
    v.iter_mut().for_each(|x| *x /= start);
    let mut previous: Vec<f64> = vec![0.0; n];
    let (mut alphas, mut betas) = (Vec::new(), Vec::<f64>::new());
    let mut last: Option<(f64, f64)> = None;
    let mut converged = false;
    let limit = s.max_iterations.clamp(1, n);
    while alphas.len() < limit {
        let mut w = op.apply(&v).await?;
        let alpha = dot(&w, &v);
        let beta_before = betas.last().copied().unwrap_or(0.0);
        w.iter_mut()
            .zip(&v)
            .zip(&previous)
            .for_each(|((w, v), p)| *w -= alpha * v + beta_before * p);
        // One local re-orthogonalisation against the current vector keeps the recurrence stable.
        let c = dot(&w, &v);
        w.iter_mut().zip(&v).for_each(|(w, v)| *w -= c * v);
        alphas.push(alpha + c);
        let (lo, hi) = ritz_extremes(&alphas, &betas);
        if let Some((last_lo, last_hi)) = last {
            let scale = lo.abs().max(hi.abs()).max(f64::MIN_POSITIVE);
            converged = (lo - last_lo).abs() <= s.tolerance * scale
                && (hi - last_hi).abs() <= s.tolerance * scale;
        }
        last = Some((lo, hi));
        let beta = norm(&w);
        if converged || beta <= 1e-10 * (alpha.abs() + beta_before + f64::MIN_POSITIVE) {
            // Converged, or an invariant subspace: its Ritz values are exact eigenvalues.
            converged = true;
            break;
        }
        betas.push(beta);
        w.iter_mut().for_each(|x| *x /= beta);
        previous = std::mem::replace(&mut v, w);
    }
    let (lambda_min, lambda_max) = last.unwrap_or((0.0, 0.0));
    Ok(Extremes {
        lambda_max,
        lambda_min: Some(lambda_min),
        ratio: convexity_ratio(lambda_min, lambda_max),
        products: alphas.len(),
        converged,
    })
}

/// The smallest and largest eigenvalue of the symmetric tridiagonal matrix with diagonal `alphas`
/// and off-diagonal `betas` (`betas.len() + 1 ≥ alphas.len()`).
fn ritz_extremes(alphas: &[f64], betas: &[f64]) -> (f64, f64) {
    let (values, _) = crate::linalg::tridiagonal_eigen(alphas, betas);
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        })
}

/// `A − shift·I` for any operator.
pub struct Shifted<'a, O: LinearOperator + ?Sized> {
    /// The operator A.
    pub op: &'a mut O,
    /// The shift.
    pub shift: f64,
}

impl<O: LinearOperator + ?Sized> LinearOperator for Shifted<'_, O> {
    fn dim(&self) -> usize {
        self.op.dim()
    }

    async fn apply(&mut self, v: &[f64]) -> Result<Vec<f64>, Error> {
        let mut y = self.op.apply(v).await?;
        y.iter_mut().zip(v).for_each(|(y, x)| *y -= self.shift * x);
        Ok(y)
    }
}

/// Li et al.'s shift: λmin is sought as the dominant eigenvalue of H − 0.51·λ₁·I.
pub const CONVEXITY_SHIFT: f64 = 0.51;
/// The convexity ratio is capped here (METHODS §5): 0 = locally convex, 0.5 = strongly saddle.
pub const CONVEXITY_CAP: f64 = 0.5;
/// Below this ratio a cell counts as locally convex (METHODS §6).
pub const CONVEX_RATIO: f64 = 0.1;

/// The fraction of a convexity map's computed cells with |λmin/λmax| below [`CONVEX_RATIO`]
/// (`None`: the surface has no convexity metric).
pub fn convex_fraction(
    surface: &crate::landscape::surface::Surface,
) -> Option<crate::landscape::surface::ConvexFraction> {
    let ratios: Vec<f64> = surface
        .metrics
        .get(CONVEXITY)?
        .iter()
        .flatten()
        .flatten()
        .copied()
        .collect();
    let convex = ratios.iter().filter(|r| **r < CONVEX_RATIO).count();
    Some(crate::landscape::surface::ConvexFraction {
        threshold: CONVEX_RATIO,
        fraction: convex as f64 / ratios.len().max(1) as f64,
    })
}

/// The extreme eigenvalues at one point and the convexity ratio derived from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extremes {
    /// The largest eigenvalue.
    pub lambda_max: f64,
    /// The smallest eigenvalue. By Lanczos always; by power iteration when the shifted
    /// iteration resolved it, `None` when every eigenvalue is above 0.02·λ₁ (the shifted
    /// operator's dominant end is then λ₁'s own), i.e. no negative curvature was found.
    pub lambda_min: Option<f64>,
    /// |min(λmin, 0)| / λmax capped at [`CONVEXITY_CAP`] (the cap also when λmax ≤ 0).
    pub ratio: f64,
    /// Operator applications (Hessian-vector products) used (both power iterations together).
    pub products: usize,
    /// Whether the tolerance was reached (by both power iterations).
    pub converged: bool,
}

/// |min(λmin, 0)| / λmax, capped at [`CONVEXITY_CAP`]; the cap when λmax ≤ 0.
pub fn convexity_ratio(lambda_min: f64, lambda_max: f64) -> f64 {
    if lambda_max <= 0.0 {
        return CONVEXITY_CAP;
    }
    // max(−λmin, 0) rather than −min(λmin, 0): no negative zero for convex cells.
    ((-lambda_min).max(0.0) / lambda_max).min(CONVEXITY_CAP)
}

/// λmax and λmin by two power iterations (Li et al. 2018, METHODS §5): the dominant eigenvalue
/// λ₁, then the dominant eigenvalue μ of `A − 0.51·λ₁·I`, whose other end gives λ₂ = μ + 0.51·λ₁.
/// With λ₁ > 0 the shifted spectrum is [λmin − 0.51λ₁, 0.49λ₁], so μ reveals λmin whenever
/// λmin < 0.02·λ₁; otherwise μ = 0.49λ₁ and there is no negative curvature to report.
/// (A dominant negative λ₁ is handled symmetrically.)
pub async fn extreme_eigenvalues<O: LinearOperator + ?Sized>(
    op: &mut O,
    s: PowerSettings,
) -> Result<Extremes, Error> {
    let first = top_eigenvalues(op, PowerSettings { k: 1, ..s })
        .await?
        .pop()
        .ok_or_else(|| Error::Backend("power iteration on an empty operator".into()))?;
    let shift = CONVEXITY_SHIFT * first.value;
    let mut shifted = Shifted { op, shift };
    let second = top_eigenvalues(&mut shifted, shifted_settings(s))
        .await?
        .pop()
        .ok_or_else(|| Error::Backend("power iteration on an empty operator".into()))?;
    Ok(extremes_from(&first, &second, shift))
}

/// The settings of the second, shifted power iteration of [`extreme_eigenvalues`] (its own seed).
pub fn shifted_settings(s: PowerSettings) -> PowerSettings {
    PowerSettings {
        k: 1,
        seed: s.seed.wrapping_add(1),
        ..s
    }
}

/// [`Extremes`] from the dominant eigenpair `first` and the dominant eigenpair `second` of the
/// operator shifted by `shift` = 0.51·λ₁ (see [`extreme_eigenvalues`]).
pub fn extremes_from(first: &Eigen, second: &Eigen, shift: f64) -> Extremes {
    let other = second.value + shift;
    // Resolved when the shifted iteration found the far end of the spectrum, not λ₁'s end.
    let resolved = (other - first.value).abs() > 0.01 * first.value.abs();
    let (lambda_max, lambda_min) = match (first.value >= 0.0, resolved) {
        (true, true) => (first.value, Some(other.min(first.value))),
        (true, false) => (first.value, None),
        (false, true) => (other.max(first.value), Some(first.value)),
        // Dominant negative and nothing found above −0.02|λ₁|: no positive curvature.
        (false, false) => (first.value.max(other), Some(first.value)),
    };
    let ratio = match lambda_min {
        Some(min) => convexity_ratio(min, lambda_max),
        None => convexity_ratio(0.0, lambda_max),
    };
    Extremes {
        lambda_max,
        lambda_min,
        ratio,
        products: first.iterations + second.iterations,
        converged: first.converged && second.converged,
    }
}

/// The values a convexity-map cell records besides the loss.
pub fn convexity_values(ex: &Extremes, values: &mut std::collections::BTreeMap<String, f64>) {
    values.insert(LAMBDA_MAX.into(), ex.lambda_max);
    if let Some(min) = ex.lambda_min {
        values.insert(LAMBDA_MIN.into(), min);
    }
    values.insert(CONVEXITY.into(), ex.ratio);
}
