//! Hessian-vector products from gradients (METHODS §5): the difference scheme, its
//! step, the points at which gradients are taken and how the gradients combine into H·v.
//!
//! burn has no second-order autodiff, so H·v comes from differences of gradients along v. A
//! central difference D(ε) = (g(θ + εv) − g(θ − εv)) / 2ε has truncation error O(ε²·∇³L) and an
//! f32 round-off error O(u·‖g‖/ε). The default is Richardson extrapolation over two central
//! differences, R = (4·D(ε/2) − D(ε)) / 3, which cancels the ε² term (error O(ε⁴)) for four
//! gradients per product instead of two. The gap between D(ε) and D(ε/2) is checked on every
//! product: while it says the half step is more than `check_target` off, the step is halved
//! (two more gradients) — unless halving made it worse, which means f32 round-off has taken over.
//! The step an operator settles on is kept for its next products, so the adaptation is paid
//! once. No fixed step serves every model: on the trained reference ViT the best relative step
//! was ~5e-4, on the demo MAE-ViT ~3e-5 (BENCHMARKS.md, "Hessian-vector products").
//!
//! Both the native [`super::Hessian`] and the browser worker's asynchronous products drive the
//! same [`ProductBuilder`] (ask for a point, give its gradient, repeat), so they take exactly the
//! same steps.

use serde::{Deserialize, Serialize};

use super::norm;

/// How the gradients are differenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum DifferenceMethod {
    /// (g(θ + εv) − g(θ − εv)) / 2ε: two gradients, error O(ε²), no check.
    Central,
    /// (4·D(ε/2) − D(ε)) / 3 over two central differences: four gradients, error O(ε⁴), the step
    /// checked (and halved while the check fails) on every product.
    Richardson,
}

/// The Hessian-vector product's scheme and step (recorded with every curvature result).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProductScheme {
    /// The difference scheme.
    pub method: DifferenceMethod,
    /// The first step, relative to the weights: ε = `relative_step`·max(‖θ‖, 1)/‖v‖.
    pub relative_step: f64,
    /// Richardson: halve the step while the step check exceeds this (`None`: never).
    #[serde(default)]
    pub check_target: Option<f64>,
}

impl Default for ProductScheme {
    /// Richardson extrapolation from ε = 5e-4·‖θ‖/‖v‖ and ε/2, halved while the step check
    /// exceeds 5e-3 (BENCHMARKS.md).
    fn default() -> Self {
        Self {
            method: DifferenceMethod::Richardson,
            relative_step: DEFAULT_RELATIVE_STEP,
            check_target: Some(DEFAULT_CHECK_TARGET),
        }
    }
}

/// The default first relative step ([`ProductScheme::default`]).
pub const DEFAULT_RELATIVE_STEP: f64 = 5e-4;
/// The default step-check target ([`ProductScheme::default`]).
pub const DEFAULT_CHECK_TARGET: f64 = 5e-3;
/// The next product starts from twice the step when the check was this many times below the
/// target: doubling multiplies a truncation-dominated check by ~4, so it stays well inside the
/// target and the step does not oscillate (each halving costs two gradients).
pub const GROWTH_MARGIN: f64 = 32.0;
/// At most this many halvings of the step per product (a factor of 4 096).
pub const MAX_HALVINGS: usize = 12;

/// Above this step check ([`Product::step_check`]) the half-step difference itself is more than
/// 2 % off and the extrapolation is not to be trusted (the adaptive step could not bring it
/// down: the loss is too rough along v for f32 differences). On the trained reference ViT
/// (BENCHMARKS.md) R's error was ≤ ~10·check² where truncation dominated (large steps, the top
/// eigenvector) and ≈ 3–4·check where f32 round-off did (tiny steps). The CLI warns and the
/// page flags it.
pub const STEP_CHECK_LIMIT: f64 = 2e-2;

impl std::fmt::Display for ProductScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.method {
            DifferenceMethod::Central => write!(
                f,
                "central differences of gradients, ε = {:e}·‖θ‖/‖v‖",
                self.relative_step
            ),
            DifferenceMethod::Richardson => {
                write!(
                    f,
                    "Richardson extrapolation of central differences of gradients over \
                     ε and ε/2, ε = {:e}·‖θ‖/‖v‖",
                    self.relative_step
                )?;
                match self.check_target {
                    Some(t) => write!(f, ", halved while the step check exceeds {t:e}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl ProductScheme {
    /// The relative step the next product of the same operator starts from: the step this one
    /// settled on (so an adaptation is paid once), doubled back towards the scheme's when its
    /// check was [`GROWTH_MARGIN`] times below the target (the truncation error, ∝ ε², allows
    /// it; this keeps one rough direction from condemning every later product to round-off).
    pub fn next_step(&self, product: &Product) -> f64 {
        match (self.check_target, product.step_check) {
            (Some(target), Some(check)) if check < target / GROWTH_MARGIN => {
                (2.0 * product.relative_step).min(self.relative_step)
            }
            _ => product.relative_step,
        }
    }

    /// The builder of one product H·v at `theta` (‖θ‖ = `theta_norm`, [`theta_norm`]), starting
    /// from `relative_step` (the scheme's, or the step an operator settled on); `None` for v = 0
    /// (H·0 = 0).
    pub fn product<'a>(
        &self,
        theta: &'a [f32],
        theta_norm: f64,
        relative_step: f64,
        v: &'a [f64],
    ) -> Option<ProductBuilder<'a>> {
        let vn = norm(v);
        if vn == 0.0 || !vn.is_finite() {
            return None;
        }
        Some(ProductBuilder {
            theta,
            v,
            unit: theta_norm.max(1.0) / vn,
            relative_step,
            method: self.method,
            target: match self.method {
                DifferenceMethod::Central => None,
                DifferenceMethod::Richardson => self.check_target,
            },
            level: 0,
            plus: None,
            levels: Vec::new(),
            best: None,
            gradients: 0,
            done: false,
            misses: 0,
        })
    }
}

/// The products of one operator (the Hessian at one θ): its scheme, the step its next product
/// starts from, and the tally of what its products took. The native `Hessian` and the browser
/// worker both hold one, so the step's adaptation and bookkeeping live here once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Products {
    /// How products are formed.
    pub scheme: ProductScheme,
    /// The relative step the next product starts from (the scheme's, then
    /// [`ProductScheme::next_step`] of the last product).
    pub relative_step: f64,
    /// Products so far, their gradients, steps and largest run-time step check.
    pub check: StepCheck,
}

impl Products {
    /// A fresh operator's products, starting at the scheme's step.
    pub fn new(scheme: ProductScheme) -> Self {
        Self {
            scheme,
            relative_step: scheme.relative_step,
            check: StepCheck::default(),
        }
    }

    /// The products of a neighbouring operator (the next cell of a map, the next mini-batch):
    /// the same scheme, starting where this one settled, with an empty tally — so the step's
    /// adaptation is not paid again at every operator.
    pub fn continued(&self) -> Self {
        Self {
            check: StepCheck::default(),
            ..*self
        }
    }

    /// The builder of H·v at `theta` (‖θ‖ = `theta_norm`); `None` for v = 0 (H·0 = 0).
    pub fn begin<'a>(
        &self,
        theta: &'a [f32],
        theta_norm: f64,
        v: &'a [f64],
    ) -> Option<ProductBuilder<'a>> {
        self.scheme
            .product(theta, theta_norm, self.relative_step, v)
    }

    /// H·v from a builder that has taken all its gradients; the next product's step and the
    /// tally are updated.
    pub fn end(&mut self, builder: ProductBuilder<'_>) -> Vec<f64> {
        let product = builder.finish();
        self.relative_step = self.scheme.next_step(&product);
        self.check.record(&product);
        product.hv
    }
}

/// One product in the making: [`next_point`](Self::next_point) says where the next gradient is
/// needed, [`add`](Self::add) takes it, and [`finish`](Self::finish) returns H·v once no point is
/// left. Holds at most four vectors of f32 (a pending gradient and three differences).
pub struct ProductBuilder<'a> {
    theta: &'a [f32],
    v: &'a [f64],
    /// ε per unit of relative step: max(‖θ‖, 1)/‖v‖.
    unit: f64,
    /// Relative step of level 0.
    relative_step: f64,
    method: DifferenceMethod,
    target: Option<f64>,
    /// Level being computed: its step is ε₀/2^level.
    level: usize,
    /// The gradient at θ + ε_level·v, waiting for its partner at θ − ε_level·v.
    plus: Option<Vec<f32>>,
    /// The central differences D(ε₀/2^k) of the last two or three levels, with their level.
    levels: Vec<(usize, Vec<f32>)>,
    /// Richardson: the best pair so far (its first level and its check).
    best: Option<(usize, f64)>,
    gradients: usize,
    done: bool,
    /// Halvings in a row that did not improve the check.
    misses: usize,
}

impl ProductBuilder<'_> {
    fn eps(&self, level: usize) -> f64 {
        self.relative_step * self.unit / f64::powi(2.0, level as i32)
    }

    /// The point of the next gradient (θ ± ε·v, summed in f64 and rounded once to f32), or
    /// `None` when the product is complete.
    pub fn next_point(&self) -> Option<Vec<f32>> {
        if self.done {
            return None;
        }
        let s = if self.plus.is_none() { 1.0 } else { -1.0 } * self.eps(self.level);
        Some(
            self.theta
                .iter()
                .zip(self.v)
                .map(|(t, d)| (f64::from(*t) + s * d) as f32)
                .collect(),
        )
    }

    /// Take the gradient at the point [`next_point`](Self::next_point) gave.
    pub fn add(&mut self, gradient: &[f32]) {
        self.gradients += 1;
        let Some(plus) = self.plus.take() else {
            self.plus = Some(gradient.to_vec());
            return;
        };
        let scale = 1.0 / (2.0 * self.eps(self.level));
        let d: Vec<f32> = plus
            .iter()
            .zip(gradient)
            .map(|(p, m)| ((f64::from(*p) - f64::from(*m)) * scale) as f32)
            .collect();
        self.levels.push((self.level, d));
        self.level += 1;
        if self.method == DifferenceMethod::Central {
            self.done = true;
            return;
        }
        if self.levels.len() < 2 {
            return;
        }
        // Richardson over the last two levels.
        let n = self.levels.len();
        let check = pair_check(&self.levels[n - 2].1, &self.levels[n - 1].1);
        let (first, latest) = (self.levels[n - 2].0, self.levels[n - 1].0);
        let improved = self.best.is_none_or(|(_, c)| check < c);
        if improved {
            self.best = Some((first, check));
            self.misses = 0;
        } else {
            self.misses += 1;
        }
        let best = self.best.map_or(f64::INFINITY, |b| b.1);
        // Halve again while the best check misses the target. A halving that made it worse
        // means f32 round-off has taken over (a smaller step only adds noise) — except far
        // from the quadratic regime (beyond the limit), where the check need not improve at
        // once: there up to two halvings in a row may fail before giving up.
        let patience = if best > STEP_CHECK_LIMIT { 2 } else { 0 };
        let more = self.target.is_some_and(|t| best > t)
            && self.misses <= patience
            && self.level <= MAX_HALVINGS + 1;
        let keep = self.best.map_or(first, |b| b.0);
        if more {
            // The best pair's two levels and the newest one (the next pair's first).
            self.levels
                .retain(|(l, _)| *l == keep || *l == keep + 1 || *l == latest);
        } else {
            self.done = true;
            self.levels.retain(|(l, _)| *l == keep || *l == keep + 1);
        }
    }

    /// The product (call once [`next_point`](Self::next_point) returns `None`).
    pub fn finish(self) -> Product {
        match self.method {
            DifferenceMethod::Central => Product {
                hv: self
                    .levels
                    .first()
                    .map(|(_, d)| d.iter().map(|x| f64::from(*x)).collect())
                    .unwrap_or_default(),
                step_check: None,
                relative_step: self.relative_step,
                gradients: self.gradients,
            },
            DifferenceMethod::Richardson => {
                let (first, check) = self.best.unwrap_or((0, f64::NAN));
                let pair: Vec<&Vec<f32>> = self
                    .levels
                    .iter()
                    .filter(|(l, _)| *l == first || *l == first + 1)
                    .map(|(_, d)| d)
                    .collect();
                let hv = match pair.as_slice() {
                    [full, half] => full
                        .iter()
                        .zip(half.iter())
                        .map(|(a, b)| (4.0 * f64::from(*b) - f64::from(*a)) / 3.0)
                        .collect(),
                    _ => Vec::new(),
                };
                Product {
                    hv,
                    step_check: Some(check),
                    relative_step: self.relative_step / f64::powi(2.0, first as i32),
                    gradients: self.gradients,
                }
            }
        }
    }
}

/// ‖D(ε) − D(ε/2)‖ / (3·‖R‖): the estimated relative truncation error of D(ε/2).
fn pair_check(full: &[f32], half: &[f32]) -> f64 {
    let (mut gap, mut r) = (0.0, 0.0);
    for (a, b) in full.iter().zip(half) {
        let (a, b) = (f64::from(*a), f64::from(*b));
        gap += (a - b) * (a - b);
        let x = (4.0 * b - a) / 3.0;
        r += x * x;
    }
    if r > 0.0 {
        gap.sqrt() / (3.0 * r.sqrt())
    } else if gap > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

/// One Hessian-vector product and its run-time check.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// H·v.
    pub hv: Vec<f64>,
    /// Richardson: ‖D(ε) − D(ε/2)‖ / (3·‖R‖) of the pair used, the estimated relative
    /// truncation error of the half-step difference (R's own is of higher order); `None` for a
    /// plain central difference.
    pub step_check: Option<f64>,
    /// The relative step ε·‖v‖/max(‖θ‖, 1) of the (larger step of the) pair used.
    pub relative_step: f64,
    /// Gradients taken.
    pub gradients: usize,
}

/// What a result reports about its products: how many, at what steps, and the worst check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StepCheck {
    /// Products formed.
    pub products: usize,
    /// Gradients taken for them.
    #[serde(default)]
    pub gradients: usize,
    /// The largest [`Product::step_check`]; `None` for central differences.
    pub max_relative_truncation: Option<f64>,
    /// The smallest relative step used.
    #[serde(default)]
    pub min_relative_step: Option<f64>,
}

impl StepCheck {
    /// Record one product.
    pub fn record(&mut self, p: &Product) {
        self.add(&StepCheck {
            products: 1,
            gradients: p.gradients,
            max_relative_truncation: p.step_check,
            min_relative_step: Some(p.relative_step),
        });
    }

    /// Add another tally (e.g. one mini-batch's operator).
    pub fn add(&mut self, other: &StepCheck) {
        self.products += other.products;
        self.gradients += other.gradients;
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let min = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max_relative_truncation =
            max(self.max_relative_truncation, other.max_relative_truncation);
        self.min_relative_step = min(self.min_relative_step, other.min_relative_step);
    }
}

/// ‖θ‖ in f64.
pub fn theta_norm(theta: &[f32]) -> f64 {
    theta
        .iter()
        .map(|x| f64::from(*x).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// g(θ) = ∇L for L(θ) = Σ aᵢθᵢ⁴/12 + bᵢθᵢ²/2 (diagonal Hessian aᵢθᵢ² + bᵢ).
    fn quartic(theta: &[f32], a: &[f64], b: &[f64]) -> Vec<f32> {
        theta
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let t = f64::from(*t);
                (a[i] * t.powi(3) / 3.0 + b[i] * t) as f32
            })
            .collect()
    }

    fn product(
        scheme: ProductScheme,
        theta: &[f32],
        v: &[f64],
        gradient: &dyn Fn(&[f32]) -> Vec<f32>,
    ) -> Product {
        let mut p = scheme
            .product(theta, theta_norm(theta), scheme.relative_step, v)
            .unwrap();
        while let Some(point) = p.next_point() {
            p.add(&gradient(&point));
        }
        p.finish()
    }

    fn error(hv: &[f64], exact: &[f64]) -> f64 {
        hv.iter()
            .zip(exact)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt()
            / norm(exact)
    }

    #[test]
    fn richardson_cancels_the_second_order_error_of_central_differences() {
        let theta = [0.5_f32, -1.0, 2.0];
        let (a, b) = ([3.0, 1.0, 0.5], [1.0, 2.0, -1.0]);
        let g = |t: &[f32]| quartic(t, &a, &b);
        let v = [1.0, 0.5, -0.25];
        let exact: Vec<f64> = (0..3)
            .map(|i| (a[i] * f64::from(theta[i]).powi(2) + b[i]) * v[i])
            .collect();
        let step = 0.05;
        let central = product(
            ProductScheme {
                method: DifferenceMethod::Central,
                relative_step: step,
                check_target: None,
            },
            &theta,
            &v,
            &g,
        );
        let fixed = ProductScheme {
            method: DifferenceMethod::Richardson,
            relative_step: step,
            check_target: None,
        };
        let rich = product(fixed, &theta, &v, &g);
        assert_eq!((central.gradients, rich.gradients), (2, 4));
        assert!(central.step_check.is_none());
        // The central difference of a quartic is off by aᵢ·ε²·vᵢ³/3; Richardson removes it (the
        // quartic has no higher-order term), leaving f32 round-off.
        assert!(
            error(&central.hv, &exact) > 1e-3,
            "{}",
            error(&central.hv, &exact)
        );
        assert!(
            error(&rich.hv, &exact) < 1e-4,
            "{}",
            error(&rich.hv, &exact)
        );
        // The step check estimates the half step's error, a quarter of the full step's.
        let check = rich.step_check.unwrap();
        let quarter = error(&central.hv, &exact) / 4.0;
        assert!((check / quarter - 1.0).abs() < 0.05, "{check} vs {quarter}");
        assert_eq!(rich.relative_step, step);
        let mut seen = StepCheck::default();
        seen.record(&rich);
        seen.record(&central);
        assert_eq!((seen.products, seen.gradients), (2, 6));
        assert_eq!(seen.max_relative_truncation, Some(check));
        assert_eq!(seen.min_relative_step, Some(step));
    }

    #[test]
    fn the_step_is_halved_until_the_check_passes_and_not_into_round_off() {
        // L = Σ cos(k·θᵢ): the truncation error of a step ε grows like (kε)², so a step that is
        // fine for k = 1 is far too large for k = 40.
        let theta = [0.3_f32, -0.2, 0.1];
        let v = [1.0, -0.5, 0.25];
        let run = |k: f64, target: Option<f64>| {
            let g = move |t: &[f32]| -> Vec<f32> {
                t.iter()
                    .map(|x| (-k * (k * f64::from(*x)).sin()) as f32)
                    .collect()
            };
            let exact: Vec<f64> = theta
                .iter()
                .zip(&v)
                .map(|(t, d)| -k * k * (k * f64::from(*t)).cos() * d)
                .collect();
            let p = product(
                ProductScheme {
                    method: DifferenceMethod::Richardson,
                    relative_step: 0.06,
                    check_target: target,
                },
                &theta,
                &v,
                &g,
            );
            (error(&p.hv, &exact), p)
        };
        let (fixed_error, fixed) = run(40.0, None);
        let (adapted_error, adapted) = run(40.0, Some(DEFAULT_CHECK_TARGET));
        assert!(fixed.step_check.unwrap() > DEFAULT_CHECK_TARGET);
        assert!(fixed_error > 1e-2, "{fixed_error}");
        // Halved until the check passed: more gradients, a smaller step, an accurate product.
        assert!(
            adapted.step_check.unwrap() <= DEFAULT_CHECK_TARGET,
            "{adapted:?}"
        );
        assert!(
            adapted.relative_step < 0.02 && adapted.gradients > 4,
            "{adapted:?}"
        );
        assert!(adapted_error < 1e-3, "{adapted_error}");
        // A smooth direction needs no halving.
        let (_, smooth) = run(1.0, Some(DEFAULT_CHECK_TARGET));
        assert_eq!((smooth.gradients, smooth.relative_step), (4, 0.06));
        // An unreachable target stops where halving stops helping (f32 round-off), within the
        // halving limit, and keeps the best pair.
        let (floor_error, floor) = run(40.0, Some(1e-12));
        assert!(floor.gradients <= 2 * (MAX_HALVINGS + 2), "{floor:?}");
        assert!(floor_error < 1e-2, "{floor_error}");
        assert!(floor.step_check.unwrap() <= adapted.step_check.unwrap());
    }

    #[test]
    fn zero_vector_has_no_product_and_steps_scale_with_the_weights() {
        let s = ProductScheme::default();
        assert!(s.product(&[1.0], 1.0, s.relative_step, &[0.0]).is_none());
        let theta = vec![3.0_f32, 4.0];
        let p = s
            .product(&theta, theta_norm(&theta), s.relative_step, &[0.0, 2.0])
            .unwrap();
        let eps = DEFAULT_RELATIVE_STEP * 5.0 / 2.0;
        assert_eq!(p.next_point(), Some(vec![3.0, (4.0 + 2.0 * eps) as f32]));
    }
}
