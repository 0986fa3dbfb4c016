//! Curvature of an objective at θ (METHODS §5): Hessian-vector products from differences of
//! gradients ([`ProductScheme`], in `product`); top eigenvalues by
//! power iteration with deflation (PyHessian's stopping rule); Hutchinson's trace estimate;
//! stochastic Lanczos quadrature; Li et al.'s convexity ratio |λmin/λmax| at every cell of a grid;
//! Park & Kim's max-eigenvalue spectrum over mini-batches.
//! The solvers work on any [`LinearOperator`], so they are tested on matrices with known spectra.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::Error;
#[cfg(feature = "engine")]
use crate::landscape::objective::Evaluator;

mod product;
#[cfg(all(feature = "engine", not(target_arch = "wasm32")))]
mod threads;
pub use product::{
    DEFAULT_CHECK_TARGET, DEFAULT_RELATIVE_STEP, DifferenceMethod, MAX_HALVINGS, Product,
    ProductBuilder, ProductScheme, Products, STEP_CHECK_LIMIT, StepCheck, theta_norm,
};
#[cfg(all(feature = "engine", not(target_arch = "wasm32")))]
pub use threads::convexity_map_threads;
mod vectors;
pub use vectors::eigenvector_files;
mod extremes;
pub use extremes::{
    CONVEX_RATIO, CONVEXITY_CAP, CONVEXITY_SHIFT, Extremes, ExtremesMethod, Shifted,
    convex_fraction, convexity_ratio, convexity_values, extreme_eigenvalues, extremes,
    extremes_from, lanczos_extremes, shifted_settings,
};

/// A symmetric linear map on ℝⁿ. `apply` is async because a Hessian's products wait for gradient
/// read-backs, which the browser's worker awaits; native code drives the solvers with `pollster`.
/// The solvers take it by generic parameter (single-threaded: no `Send` bound is wanted).
#[allow(async_fn_in_trait)]
pub trait LinearOperator {
    /// n.
    fn dim(&self) -> usize;
    /// y = A·v.
    async fn apply(&mut self, v: &[f64]) -> Result<Vec<f64>, Error>;
}

/// The Hessian of an evaluator's objective at θ, applied by differences of gradients
/// ([`ProductScheme`]), the gradients read back asynchronously.
#[cfg(feature = "engine")]
pub struct Hessian<'a> {
    evaluator: &'a Evaluator,
    theta: Vec<f32>,
    theta_norm: f64,
    /// The scheme, the step the next product starts from, and what the products took.
    pub products: Products,
}

#[cfg(feature = "engine")]
impl<'a> Hessian<'a> {
    /// The Hessian at `theta` with the default [`ProductScheme`].
    pub fn new(evaluator: &'a Evaluator, theta: Vec<f32>) -> Self {
        Self::with_scheme(evaluator, theta, ProductScheme::default())
    }

    /// The Hessian at `theta` with products formed by `scheme`.
    pub fn with_scheme(evaluator: &'a Evaluator, theta: Vec<f32>, scheme: ProductScheme) -> Self {
        Self::with_products(evaluator, theta, Products::new(scheme))
    }

    /// The Hessian at `theta`, its products continuing `products` (see [`Products::continued`]).
    pub fn with_products(evaluator: &'a Evaluator, theta: Vec<f32>, products: Products) -> Self {
        let theta_norm = theta_norm(&theta);
        Self {
            evaluator,
            theta,
            theta_norm,
            products,
        }
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(feature = "engine")]
impl LinearOperator for Hessian<'_> {
    fn dim(&self) -> usize {
        self.theta.len()
    }

    async fn apply(&mut self, v: &[f64]) -> Result<Vec<f64>, Error> {
        let Some(mut product) = self.products.begin(&self.theta, self.theta_norm, v) else {
            return Ok(vec![0.0; v.len()]);
        };
        while let Some(point) = product.next_point() {
            product.add(&self.evaluator.gradient_at(&point).await?);
        }
        Ok(self.products.end(product))
    }
}

/// Settings of the eigenvalue solver (recorded with every result).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PowerSettings {
    /// Eigenvalues wanted.
    pub k: usize,
    /// Iterations per eigenvalue at most (PyHessian: 100).
    pub max_iterations: usize,
    /// Stop when |Δλ|/(|λ| + 1e-6) < tolerance (PyHessian: 1e-3).
    pub tolerance: f64,
    /// Seed of the starting vectors.
    pub seed: u64,
    /// How a convexity map's cells find λmin and λmax (top eigenvalues and spectra always use
    /// power iteration).
    #[serde(default)]
    pub extremes: ExtremesMethod,
}

impl Default for PowerSettings {
    fn default() -> Self {
        Self {
            k: 1,
            max_iterations: 100,
            tolerance: 1e-3,
            seed: 0,
            extremes: ExtremesMethod::Power,
        }
    }
}

/// One eigenpair found by power iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Eigen {
    /// The eigenvalue (Rayleigh quotient at the last iterate).
    pub value: f64,
    /// Iterations used.
    pub iterations: usize,
    /// Whether the tolerance was reached.
    pub converged: bool,
    /// The unit eigenvector.
    #[serde(skip)]
    pub vector: Vec<f64>,
}

fn orthonormalise(v: &mut [f64], basis: &[Vec<f64>]) {
    for b in basis {
        let c = dot(v, b);
        for (x, y) in v.iter_mut().zip(b) {
            *x -= c * y;
        }
    }
    let n = norm(v);
    if n > 0.0 {
        for x in v.iter_mut() {
            *x /= n;
        }
    }
}

/// Power iteration for one eigenvalue as a step-by-step state machine, so that the products can
/// come from anywhere, e.g. the browser's asynchronous GPU read-backs: ask [`vector`], multiply,
/// [`feed`] the product, until `feed` returns the eigenpair. PyHessian's stopping rule.
///
/// [`vector`]: PowerIteration::vector
/// [`feed`]: PowerIteration::feed
pub struct PowerIteration {
    settings: PowerSettings,
    basis: Vec<Vec<f64>>,
    v: Vec<f64>,
    value: Option<f64>,
    iterations: usize,
}

impl PowerIteration {
    /// Start from a random unit vector (drawn from `rng`) orthogonal to `basis`.
    pub fn new(n: usize, basis: Vec<Vec<f64>>, rng: &mut ChaCha8Rng, s: PowerSettings) -> Self {
        let mut v: Vec<f64> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
        orthonormalise(&mut v, &basis);
        Self {
            settings: s,
            basis,
            v,
            value: None,
            iterations: 0,
        }
    }

    /// Start a single top eigenvalue from the settings' seed (what [`top_eigenvalues`] does for
    /// its first one).
    pub fn seeded(n: usize, s: PowerSettings) -> Self {
        Self::new(n, Vec::new(), &mut ChaCha8Rng::seed_from_u64(s.seed), s)
    }

    /// The vector to multiply next.
    pub fn vector(&self) -> &[f64] {
        &self.v
    }

    /// Iterations so far.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// Take the product A·v; the eigenpair once the tolerance or the iteration limit is reached.
    pub fn feed(&mut self, mut hv: Vec<f64>) -> Option<Eigen> {
        self.iterations += 1;
        let lambda = dot(&hv, &self.v);
        orthonormalise(&mut hv, &self.basis);
        self.v = hv;
        let converged = self.value.is_some_and(|prev| {
            (lambda - prev).abs() / (prev.abs() + 1e-6) < self.settings.tolerance
        });
        self.value = Some(lambda);
        (converged || self.iterations >= self.settings.max_iterations).then(|| Eigen {
            value: lambda,
            iterations: self.iterations,
            converged,
            vector: self.v.clone(),
        })
    }
}

/// An eigenvector as f32 of unit length, its sign fixed so that its largest entry (in magnitude)
/// is positive: the same vector whatever sign the solver ended on.
pub fn signed_unit(v: &[f64]) -> Vec<f32> {
    let n = norm(v);
    let largest = v
        .iter()
        .copied()
        .max_by(|a, b| a.abs().total_cmp(&b.abs()))
        .unwrap_or(0.0);
    let scale = if n > 0.0 { largest.signum() / n } else { 0.0 };
    v.iter().map(|x| (x * scale) as f32).collect()
}

/// The `k` eigenvalues of largest magnitude, by power iteration from random unit vectors with
/// deflation (Gram–Schmidt against the vectors already found), PyHessian's stopping rule.
pub async fn top_eigenvalues<O: LinearOperator + ?Sized>(
    op: &mut O,
    s: PowerSettings,
) -> Result<Vec<Eigen>, Error> {
    let n = op.dim();
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let mut found: Vec<Eigen> = Vec::new();
    for _ in 0..s.k.min(n) {
        let basis: Vec<Vec<f64>> = found.iter().map(|e| e.vector.clone()).collect();
        let mut it = PowerIteration::new(n, basis, &mut rng, s);
        let eigen = loop {
            let hv = op.apply(it.vector()).await?;
            if let Some(e) = it.feed(hv) {
                break e;
            }
        };
        found.push(eigen);
    }
    Ok(found)
}

/// Hutchinson's trace estimate with Rademacher vectors: (mean, standard error, samples).
pub async fn hutchinson_trace<O: LinearOperator + ?Sized>(
    op: &mut O,
    samples: usize,
    seed: u64,
) -> Result<(f64, f64, usize), Error> {
    let n = op.dim();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(samples);
    for _ in 0..samples.max(1) {
        let z = rademacher(n, &mut rng);
        values.push(quadratic_form(&z, &op.apply(&z).await?));
    }
    Ok(mean_and_error(&values))
}

/// A Rademacher vector (±1 with equal probability), as [`hutchinson_trace`] draws them from a
/// `ChaCha8Rng` seeded with its seed.
pub fn rademacher(n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..n)
        .map(|_| if rng.random_bool(0.5) { 1.0 } else { -1.0 })
        .collect()
}

/// zᵀ·(Hz).
pub fn quadratic_form(z: &[f64], hz: &[f64]) -> f64 {
    dot(z, hz)
}

/// (mean, standard error of the mean, count) of Hutchinson samples zᵀHz.
pub fn mean_and_error(values: &[f64]) -> (f64, f64, usize) {
    let (mean, sd) = crate::metrics::mean_sd(values);
    (mean, sd / (values.len().max(1) as f64).sqrt(), values.len())
}

/// An explicit dense symmetric matrix (tests, small models).
#[derive(Clone)]
pub struct Dense {
    /// Row-major n×n.
    pub values: Vec<f64>,
    /// n.
    pub n: usize,
}

impl LinearOperator for Dense {
    fn dim(&self) -> usize {
        self.n
    }

    async fn apply(&mut self, v: &[f64]) -> Result<Vec<f64>, Error> {
        Ok(self.values.chunks(self.n).map(|row| dot(row, v)).collect())
    }
}

/// Settings of stochastic Lanczos quadrature.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SlqSettings {
    /// Lanczos steps per run (PyHessian: 100); capped at the dimension.
    pub steps: usize,
    /// Independent runs averaged (PyHessian: 1).
    pub runs: usize,
    /// Seed of the Rademacher starting vectors.
    pub seed: u64,
}

impl Default for SlqSettings {
    fn default() -> Self {
        Self {
            steps: 100,
            runs: 1,
            seed: 0,
        }
    }
}

/// A spectral density estimate: Gauss quadrature nodes (Ritz values) and weights summing to 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectralDensity {
    /// `(eigenvalue, weight)` for every node of every run (weights already divided by runs).
    pub nodes: Vec<(f64, f64)>,
    /// Lanczos steps actually taken per run (fewer when the Krylov space is exhausted).
    pub steps: Vec<usize>,
    /// Settings used.
    pub settings: SlqSettings,
}

impl SpectralDensity {
    /// The density broadened by Gaussians of width `sigma`, at `points` (PyHessian's plot).
    pub fn smoothed(&self, points: &[f64], sigma: f64) -> Vec<f64> {
        let norm = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
        points
            .iter()
            .map(|x| {
                self.nodes
                    .iter()
                    .map(|(l, w)| w * norm * (-(x - l).powi(2) / (2.0 * sigma * sigma)).exp())
                    .sum()
            })
            .collect()
    }

    /// Smallest and largest node: the estimated support of the spectrum.
    pub fn support(&self) -> (f64, f64) {
        self.nodes
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (l, _)| {
                (lo.min(*l), hi.max(*l))
            })
    }
}

/// Stochastic Lanczos quadrature (Ghorbani et al. 2019; PyHessian's `density`): Lanczos from a
/// Rademacher vector with full re-orthogonalisation against every previous Lanczos vector, the
/// tridiagonal matrix diagonalised (Jacobi), nodes = its eigenvalues, weights = squared first
/// components of its eigenvectors; averaged over runs.
pub async fn spectral_density<O: LinearOperator + ?Sized>(
    op: &mut O,
    s: SlqSettings,
) -> Result<SpectralDensity, Error> {
    let n = op.dim();
    let runs = s.runs.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let mut nodes = Vec::new();
    let mut steps_taken = Vec::new();
    for _ in 0..runs {
        let mut v: Vec<f64> = (0..n)
            .map(|_| if rng.random_bool(0.5) { 1.0 } else { -1.0 })
            .collect();
        orthonormalise(&mut v, &[]);
        let mut basis: Vec<Vec<f64>> = Vec::new();
        let mut alphas = Vec::new();
        let mut betas: Vec<f64> = Vec::new();
        for _ in 0..s.steps.clamp(1, n) {
            let mut w = op.apply(&v).await?;
            let alpha = dot(&w, &v);
            alphas.push(alpha);
            basis.push(v.clone());
            // Full re-orthogonalisation (twice is enough in floating point).
            for _ in 0..2 {
                for b in &basis {
                    let c = dot(&w, b);
                    w.iter_mut().zip(b).for_each(|(x, y)| *x -= c * y);
                }
            }
            let beta = norm(&w);
            if beta < 1e-10 * (alpha.abs() + 1.0) || basis.len() == n {
                break;
            }
            betas.push(beta);
            v = w.iter().map(|x| x / beta).collect();
        }
        let m = alphas.len();
        let (values, vectors) = crate::linalg::tridiagonal_eigen(&alphas, &betas);
        for k in 0..m {
            // Column k of V is eigenvector k; its first component is V[0][k].
            nodes.push((values[k], vectors[k].powi(2) / runs as f64));
        }
        steps_taken.push(m);
    }
    Ok(SpectralDensity {
        nodes,
        steps: steps_taken,
        settings: s,
    })
}

/// θ + Σ cᵢ·dᵢ on the host (f64 sums, rounded once to f32).
pub fn point_on_plane(theta: &[f32], directions: &[Vec<f32>], coeffs: &[f64]) -> Vec<f32> {
    theta
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let shift: f64 = coeffs
                .iter()
                .zip(directions)
                .map(|(c, d)| c * f64::from(d[i]))
                .sum();
            (f64::from(*t) + shift) as f32
        })
        .collect()
}

/// Park & Kim's max-eigenvalue spectrum: the top eigenvalue (sign kept) of each of many small
/// mini-batch losses, and what they say together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaxEigenSpectrum {
    /// Dominant eigenvalue of each mini-batch's Hessian, in batch order.
    pub values: Vec<f64>,
    /// Images per mini-batch.
    pub batch_size: usize,
    /// Fraction of negative values (non-convexity).
    pub fraction_negative: f64,
    /// Mean of the positive values (sharpness); `None` when none is positive.
    pub mean_positive: Option<f64>,
    /// Power-iteration settings used for every mini-batch.
    pub settings: PowerSettings,
}

impl MaxEigenSpectrum {
    /// Summarise per-mini-batch dominant eigenvalues.
    pub fn new(values: Vec<f64>, batch_size: usize, settings: PowerSettings) -> Self {
        let n = values.len().max(1) as f64;
        let negative = values.iter().filter(|v| **v < 0.0).count() as f64;
        let positive: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
        let mean_positive =
            (!positive.is_empty()).then(|| positive.iter().sum::<f64>() / positive.len() as f64);
        Self {
            fraction_negative: negative / n,
            mean_positive,
            values,
            batch_size,
            settings,
        }
    }

    /// Histogram with `bins` equal bins over [min, max] of the values: `(lower, upper, count)`.
    pub fn histogram(&self, bins: usize) -> Vec<(f64, f64, usize)> {
        histogram(&self.values, bins)
    }
}

/// Equal-width histogram over the range of `values` (one bin when they are all equal).
pub fn histogram(values: &[f64], bins: usize) -> Vec<(f64, f64, usize)> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let (Some(lo), Some(hi)) = (
        finite.iter().copied().reduce(f64::min),
        finite.iter().copied().reduce(f64::max),
    ) else {
        return Vec::new();
    };
    let bins = if hi > lo { bins.max(1) } else { 1 };
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let mut counts = vec![0usize; bins];
    for v in finite {
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| (lo + i as f64 * width, lo + (i + 1) as f64 * width, c))
        .collect()
}

/// Metric names of a convexity map (besides the loss).
pub const LAMBDA_MAX: &str = "lambda_max";
/// Smallest eigenvalue (NaN-free: the cell is left empty when unresolved).
pub const LAMBDA_MIN: &str = "lambda_min";
/// |λmin/λmax| capped at 0.5.
pub const CONVEXITY: &str = "convexity";

/// The empty convexity map of a sweep's plane: the spec's axes with `points` points each, the
/// objective's metrics and [`LAMBDA_MAX`], [`LAMBDA_MIN`], [`CONVEXITY`].
pub fn convexity_surface(
    spec: &crate::spec::SweepSpec,
    objective_metrics: &[&str],
    points: usize,
) -> crate::landscape::surface::Surface {
    let mut spec = spec.clone();
    let n = points.max(2);
    spec.grid.x.n = n;
    if let Some(y) = spec.grid.y.as_mut() {
        y.n = n;
    }
    let mut names = objective_metrics.to_vec();
    names.extend([LAMBDA_MAX, LAMBDA_MIN, CONVEXITY]);
    crate::landscape::surface::Surface::empty(spec, &names)
}

/// Li et al.'s convexity map over a surface's grid (METHODS §5): at every missing cell, the loss,
/// λmax, λmin and |λmin/λmax| of the Hessian at θ* + α·d₁ + β·d₂ (`theta`, `directions` on the
/// host, as the evaluator's). After each cell the map's `info` records the products so far
/// ([`record_products`]; a resumed map's count goes on from the `info.step_check` it holds) and
/// `on_cell` sees it and may cancel. Returns the map's whole step check.
///
/// Neighbouring cells have similar curvature, so each cell continues the products of the cell
/// before it in its row; every row starts afresh, which makes rows independent (natively they
/// run in parallel, [`convexity_map_threads`], with the same numbers).
#[allow(clippy::too_many_arguments)]
#[cfg(feature = "engine")]
pub async fn convexity_map(
    evaluator: &Evaluator,
    theta: &[f32],
    directions: &[Vec<f32>],
    surface: &mut crate::landscape::surface::Surface,
    s: PowerSettings,
    scheme: ProductScheme,
    on_cell: &mut dyn FnMut(
        &crate::landscape::surface::Surface,
        &Extremes,
    ) -> crate::landscape::sweep::Control,
) -> Result<StepCheck, Error> {
    use crate::landscape::sweep::{self, Control};
    // A resumed map goes on from the products recorded so far.
    let mut check = surface.info.step_check.unwrap_or_default();
    for row in convexity_rows(surface) {
        let mut products = Products::new(scheme);
        for (cell, coeffs) in row {
            let (values, ex, next) =
                convexity_cell(evaluator, theta, directions, &coeffs, s, products).await?;
            products = next;
            check.add(&products.check);
            sweep::record(surface, cell, &values);
            record_products(surface, scheme, &check);
            if on_cell(surface, &ex) == Control::Cancel {
                return Err(Error::Cancelled);
            }
        }
    }
    Ok(check)
}

/// The missing cells of a convexity map, row by row, each with its direction coefficients; of a
/// map that is one shard of several (`info.shard`, by rows), only that shard's rows.
#[cfg(feature = "engine")]
pub(crate) fn convexity_rows(
    surface: &crate::landscape::surface::Surface,
) -> Vec<Vec<(crate::landscape::surface::Cell, Vec<f64>)>> {
    use crate::landscape::sweep;
    (0..surface.y.len())
        .filter(|iy| surface.info.shard.is_none_or(|s| s.has_row(*iy)))
        .map(|iy| {
            (0..surface.x.len())
                .map(|ix| crate::landscape::surface::Cell { ix, iy })
                .filter(|c| !sweep::is_done(surface, *c))
                .map(|c| (c, sweep::coefficients(surface, c)))
                .collect::<Vec<_>>()
        })
        .filter(|row| !row.is_empty())
        .collect()
}

/// One cell of the convexity map at `coeffs`: the objective's metrics there with λmax, λmin and
/// |λmin/λmax|, its extremes, and the products (continued from `products`) for the next cell.
#[cfg(feature = "engine")]
pub async fn convexity_cell(
    evaluator: &Evaluator,
    theta: &[f32],
    directions: &[Vec<f32>],
    coeffs: &[f64],
    s: PowerSettings,
    products: Products,
) -> Result<(std::collections::BTreeMap<String, f64>, Extremes, Products), Error> {
    let point = point_on_plane(theta, directions, coeffs);
    let mut values = evaluator.eval_at(coeffs).await?;
    let mut hessian = Hessian::with_products(evaluator, point, products.continued());
    let ex = extremes(&mut hessian, s).await?;
    convexity_values(&ex, &mut values);
    Ok((values, ex, hessian.products))
}

/// The max-eigenvalue spectrum at `theta`: one power iteration per mini-batch of `evaluator`
/// (built with the mini-batch size as its batch size). `on_batch` sees (done, total).
#[cfg(feature = "engine")]
pub async fn max_eigen_spectrum(
    evaluator: &Evaluator,
    theta: &[f32],
    batch_size: usize,
    s: PowerSettings,
    scheme: ProductScheme,
    on_batch: &mut dyn FnMut(usize, usize),
) -> Result<(MaxEigenSpectrum, StepCheck), Error> {
    let batches = evaluator.minibatches();
    let mut values = Vec::with_capacity(batches.len());
    let mut check = StepCheck::default();
    let mut products = Products::new(scheme);
    for (i, mb) in batches.iter().enumerate() {
        // Each mini-batch continues the last one's products (see `convexity_map`).
        let mut hessian = Hessian::with_products(mb, theta.to_vec(), products.continued());
        let top = top_eigenvalues(&mut hessian, PowerSettings { k: 1, ..s }).await?;
        products = hessian.products;
        check.add(&products.check);
        values.push(top.first().map_or(f64::NAN, |e| e.value));
        on_batch(i + 1, batches.len());
    }
    Ok((
        MaxEigenSpectrum::new(values, batch_size, PowerSettings { k: 1, ..s }),
        check,
    ))
}

/// Record in a convexity map's `info` how its Hessian-vector products were formed and their step
/// check so far (the CLI's `convexity/surface.json` and the page's map alike).
pub fn record_products(
    surface: &mut crate::landscape::surface::Surface,
    scheme: ProductScheme,
    check: &StepCheck,
) {
    surface.info.hessian_vector_product = Some(scheme);
    surface.info.step_check = Some(*check);
}
