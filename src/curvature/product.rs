//! Hessian-vector products from autodiff gradients (METHODS §5): the difference scheme, its
//! step, the points at which gradients are taken and how the gradients combine into H·v.
//!
//! burn has no second-order autodiff, so H·v comes from differences of gradients along v. A
//! central difference D(ε) = (g(θ + εv) − g(θ − εv)) / 2ε has truncation error O(ε²·∇³L) and an
//! f32 round-off error O(u·‖g‖/ε). The default is Richardson extrapolation over two central
//! differences, R = (4·D(ε/2) − D(ε)) / 3, which cancels the ε² term (error O(ε⁴)) for four
//! gradients per product instead of two; the gap between D(ε) and D(ε/2) is the run-time check of
//! the step: it estimates the truncation error of D(ε/2), and R's is far below it. The choice and
//! the step are justified by measurements against exact double-backward products of a trained
//! ViT (BENCHMARKS.md, "Hessian-vector products").
//!
//! Both the native [`super::Hessian`] and the browser worker's asynchronous products go through
//! [`ProductScheme::stencil`] and [`Accumulator`], so they take exactly the same steps.

use serde::{Deserialize, Serialize};

/// How the gradients are differenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum DifferenceMethod {
    /// (g(θ + εv) − g(θ − εv)) / 2ε: two gradients, error O(ε²).
    Central,
    /// (4·D(ε/2) − D(ε)) / 3 over two central differences: four gradients, error O(ε⁴).
    Richardson,
}

/// The Hessian-vector product's scheme and step (recorded with every curvature result).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProductScheme {
    /// The difference scheme.
    pub method: DifferenceMethod,
    /// ε = `relative_step`·max(‖θ‖, 1)/‖v‖: the largest step, relative to the weights.
    pub relative_step: f64,
}

impl Default for ProductScheme {
    /// Richardson extrapolation from ε = 5e-4·‖θ‖/‖v‖ and ε/2 (BENCHMARKS.md).
    fn default() -> Self {
        Self {
            method: DifferenceMethod::Richardson,
            relative_step: DEFAULT_RELATIVE_STEP,
        }
    }
}

/// The default relative step ([`ProductScheme::default`]).
pub const DEFAULT_RELATIVE_STEP: f64 = 5e-4;

/// Above this step check ([`Product::step_check`]) the half-step difference itself is more than
/// 2 % off and the extrapolation is not to be trusted. On the trained reference ViT
/// (BENCHMARKS.md), where truncation dominated (large steps, the top eigenvector) R's error was
/// ≤ ~10·check²; where f32 round-off dominated (tiny steps, or directions of little curvature)
/// it was ≈ 3–4·check. The CLI warns and the page flags it.
pub const STEP_CHECK_LIMIT: f64 = 2e-2;

impl std::fmt::Display for ProductScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.method {
            DifferenceMethod::Central => write!(
                f,
                "central differences of autodiff gradients, ε = {:e}·‖θ‖/‖v‖",
                self.relative_step
            ),
            DifferenceMethod::Richardson => write!(
                f,
                "Richardson extrapolation of central differences of autodiff gradients over \
                 ε and ε/2, ε = {:e}·‖θ‖/‖v‖",
                self.relative_step
            ),
        }
    }
}

impl ProductScheme {
    /// Gradients per product.
    pub fn gradients(&self) -> usize {
        match self.method {
            DifferenceMethod::Central => 2,
            DifferenceMethod::Richardson => 4,
        }
    }

    /// The points at which H·v at `theta` needs gradients; `None` for v = 0 (H·0 = 0).
    /// `theta_norm` is ‖θ‖ ([`theta_norm`]).
    pub fn stencil<'a>(
        &self,
        theta: &'a [f32],
        theta_norm: f64,
        v: &'a [f64],
    ) -> Option<Stencil<'a>> {
        let vn = norm(v);
        if vn == 0.0 || !vn.is_finite() {
            return None;
        }
        let eps = self.relative_step * theta_norm.max(1.0) / vn;
        let steps = match self.method {
            DifferenceMethod::Central => vec![eps, -eps],
            DifferenceMethod::Richardson => vec![eps, -eps, eps / 2.0, -eps / 2.0],
        };
        Some(Stencil {
            theta,
            v,
            eps,
            steps,
            method: self.method,
        })
    }
}

/// The gradient points of one product: θ + sᵢ·v for each step sᵢ.
pub struct Stencil<'a> {
    theta: &'a [f32],
    v: &'a [f64],
    eps: f64,
    steps: Vec<f64>,
    method: DifferenceMethod,
}

impl Stencil<'_> {
    /// Gradients needed.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Never empty (a stencil exists only for v ≠ 0); for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The largest step ε.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The `i`-th point, θ + sᵢ·v, summed in f64 and rounded once to f32.
    pub fn point(&self, i: usize) -> Vec<f32> {
        let s = self.steps.get(i).copied().unwrap_or(0.0);
        self.theta
            .iter()
            .zip(self.v)
            .map(|(t, d)| (f64::from(*t) + s * d) as f32)
            .collect()
    }

    /// An accumulator for this stencil's gradients.
    pub fn accumulator(&self) -> Accumulator {
        Accumulator {
            method: self.method,
            eps: self.eps,
            full: vec![0.0; self.v.len()],
            half: match self.method {
                DifferenceMethod::Central => Vec::new(),
                DifferenceMethod::Richardson => vec![0.0; self.v.len()],
            },
            seen: 0,
        }
    }
}

/// Takes the stencil's gradients one at a time (in order, so that only two f64 vectors are held,
/// whatever the model size) and returns the product.
pub struct Accumulator {
    method: DifferenceMethod,
    eps: f64,
    /// Σ ± g at ±ε.
    full: Vec<f64>,
    /// Σ ± g at ±ε/2 (Richardson).
    half: Vec<f64>,
    seen: usize,
}

/// One Hessian-vector product and its run-time check.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// H·v.
    pub hv: Vec<f64>,
    /// Richardson: ‖D(ε) − D(ε/2)‖ / (3·‖R‖), the estimated relative truncation error of the
    /// half-step difference (R's own is of higher order); `None` for a plain central difference.
    pub step_check: Option<f64>,
}

impl Accumulator {
    /// Add the gradient at the next point of the stencil.
    pub fn add(&mut self, gradient: &[f32]) {
        let (target, sign) = match self.seen {
            0 => (&mut self.full, 1.0),
            1 => (&mut self.full, -1.0),
            2 => (&mut self.half, 1.0),
            _ => (&mut self.half, -1.0),
        };
        for (acc, g) in target.iter_mut().zip(gradient) {
            *acc += sign * f64::from(*g);
        }
        self.seen += 1;
    }

    /// The product, once every gradient of the stencil has been added.
    pub fn finish(self) -> Product {
        let d_full = 1.0 / (2.0 * self.eps);
        match self.method {
            DifferenceMethod::Central => Product {
                hv: self.full.into_iter().map(|x| x * d_full).collect(),
                step_check: None,
            },
            DifferenceMethod::Richardson => {
                let d_half = 1.0 / self.eps;
                let mut gap = 0.0;
                let hv: Vec<f64> = self
                    .full
                    .iter()
                    .zip(&self.half)
                    .map(|(f, h)| {
                        let (a, b) = (f * d_full, h * d_half);
                        gap += (a - b) * (a - b);
                        (4.0 * b - a) / 3.0
                    })
                    .collect();
                let n = norm(&hv);
                let step_check = if n > 0.0 { gap.sqrt() / (3.0 * n) } else { 0.0 };
                Product {
                    hv,
                    step_check: Some(step_check),
                }
            }
        }
    }
}

/// The largest step check seen over many products (what a result reports).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StepCheck {
    /// Products formed.
    pub products: usize,
    /// The largest [`Product::step_check`]; `None` for central differences.
    pub max_relative_truncation: Option<f64>,
}

impl StepCheck {
    /// Record one product.
    pub fn record(&mut self, p: &Product) {
        self.products += 1;
        if let Some(c) = p.step_check {
            self.note(c);
        }
    }

    /// Add another tally (e.g. one mini-batch's operator).
    pub fn merge(&mut self, other: &StepCheck) {
        self.add(other.products, other.max_relative_truncation);
    }

    /// Add `products` products whose largest step check was `worst`.
    pub fn add(&mut self, products: usize, worst: Option<f64>) {
        self.products += products;
        if let Some(c) = worst {
            self.note(c);
        }
    }

    fn note(&mut self, c: f64) {
        self.max_relative_truncation = Some(self.max_relative_truncation.map_or(c, |m| m.max(c)));
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

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// g(θ) = ∇L for L(θ) = Σ aᵢθᵢ⁴/12 + bᵢθᵢ²/2 (diagonal Hessian aᵢθᵢ² + bᵢ, third derivative
    /// 2aᵢθᵢ, fourth 2aᵢ): exact for the comparison.
    fn gradient(theta: &[f32], a: &[f64], b: &[f64]) -> Vec<f32> {
        theta
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let t = f64::from(*t);
                (a[i] * t.powi(3) / 3.0 + b[i] * t) as f32
            })
            .collect()
    }

    fn product(scheme: ProductScheme, theta: &[f32], v: &[f64], a: &[f64], b: &[f64]) -> Product {
        let st = scheme.stencil(theta, theta_norm(theta), v).unwrap();
        let mut acc = st.accumulator();
        for i in 0..st.len() {
            acc.add(&gradient(&st.point(i), a, b));
        }
        acc.finish()
    }

    #[test]
    fn richardson_cancels_the_second_order_error_of_central_differences() {
        let theta = [0.5_f32, -1.0, 2.0];
        let (a, b) = ([3.0, 1.0, 0.5], [1.0, 2.0, -1.0]);
        let v = [1.0, 0.5, -0.25];
        let exact: Vec<f64> = (0..3)
            .map(|i| (a[i] * f64::from(theta[i]).powi(2) + b[i]) * v[i])
            .collect();
        let err = |hv: &[f64]| {
            hv.iter()
                .zip(&exact)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f64>()
                .sqrt()
                / norm(&exact)
        };
        let step = 0.05;
        let central = product(
            ProductScheme {
                method: DifferenceMethod::Central,
                relative_step: step,
            },
            &theta,
            &v,
            &a,
            &b,
        );
        let rich = product(
            ProductScheme {
                method: DifferenceMethod::Richardson,
                relative_step: step,
            },
            &theta,
            &v,
            &a,
            &b,
        );
        assert!(central.step_check.is_none());
        // The central difference of a quartic is off by aᵢ·ε²·vᵢ³/3; Richardson removes it (the
        // quartic has no higher-order term), leaving f32 round-off.
        assert!(err(&central.hv) > 1e-3, "{}", err(&central.hv));
        assert!(err(&rich.hv) < 1e-4, "{}", err(&rich.hv));
        // The step check estimates the half step's error.
        let check = rich.step_check.unwrap();
        assert!(check > 0.0 && check < err(&central.hv), "{check}");
        let mut seen = StepCheck::default();
        seen.record(&rich);
        seen.record(&central);
        assert_eq!(seen.products, 2);
        assert_eq!(seen.max_relative_truncation, Some(check));
    }

    #[test]
    fn zero_vector_has_no_stencil_and_steps_scale_with_the_weights() {
        let s = ProductScheme::default();
        assert!(s.stencil(&[1.0], 1.0, &[0.0]).is_none());
        let theta = vec![3.0_f32, 4.0];
        let st = s.stencil(&theta, theta_norm(&theta), &[0.0, 2.0]).unwrap();
        assert_eq!(st.len(), 4);
        assert!((st.eps() - DEFAULT_RELATIVE_STEP * 5.0 / 2.0).abs() < 1e-15);
        assert_eq!(st.point(0), vec![3.0, (4.0 + 2.0 * st.eps()) as f32]);
        assert_eq!(st.point(3), vec![3.0, (4.0 - st.eps()) as f32]);
    }
}
