//! Curvature: the eigen-solvers on matrices with known spectra, and Hessian-vector products on a
//! fixture ViT against second differences of the loss itself (an independent path: loss values,
//! not gradients).

use burn::tensor::Device;
use vitscape::curvature::{
    Dense, Hessian, LinearOperator, PowerSettings, hutchinson_trace, top_eigenvalues,
};
use vitscape::directions::{self, Scope};
use vitscape::objective::{Evaluator, Objective};
use vitscape::spec::Normalisation;

use crate::common::{eval_data, fixture_model};

/// Q·diag(λ)·Qᵀ with Q orthonormal (Gram–Schmidt of fixed vectors).
fn matrix(eigenvalues: &[f64]) -> Dense {
    let n = eigenvalues.len();
    let mut q: Vec<Vec<f64>> = Vec::new();
    for i in 0..n {
        let mut v: Vec<f64> = (0..n)
            .map(|j| ((i * 7 + j * 3) % 11) as f64 - 5.0 + if i == j { 9.0 } else { 0.0 })
            .collect();
        for b in &q {
            let c: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= c * y);
        }
        let nrm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter_mut().for_each(|x| *x /= nrm);
        q.push(v);
    }
    let mut values = vec![0.0; n * n];
    for (k, lambda) in eigenvalues.iter().enumerate() {
        for i in 0..n {
            for j in 0..n {
                values[i * n + j] += lambda * q[k][i] * q[k][j];
            }
        }
    }
    Dense { values, n }
}

#[test]
fn power_iteration_with_deflation_finds_the_known_spectrum() {
    let mut a = matrix(&[5.0, -3.0, 2.0, 1.0, 0.5, 0.1]);
    let settings = PowerSettings {
        k: 3,
        max_iterations: 1000,
        tolerance: 1e-9,
        seed: 1,
    };
    let found = top_eigenvalues(&mut a, settings).unwrap();
    let values: Vec<f64> = found.iter().map(|e| e.value).collect();
    for (got, want) in values.iter().zip([5.0, -3.0, 2.0]) {
        assert!((got - want).abs() < 1e-4, "{values:?}");
    }
    assert!(found.iter().all(|e| e.converged));
    // PyHessian's default rule stops early but within its tolerance.
    let quick = top_eigenvalues(&mut a, PowerSettings::default()).unwrap();
    assert!(
        (quick[0].value - 5.0).abs() / 5.0 < 0.01,
        "{}",
        quick[0].value
    );
    assert!(quick[0].iterations <= 100);
}

#[test]
fn hutchinson_estimates_the_trace() {
    let mut a = matrix(&[5.0, -3.0, 2.0, 1.0, 0.5, 0.1]);
    let (mean, stderr, n) = hutchinson_trace(&mut a, 4000, 3).unwrap();
    assert_eq!(n, 4000);
    assert!(
        (mean - 5.6).abs() < 4.0 * stderr + 1e-9,
        "{mean} ± {stderr}"
    );
    assert!(stderr < 0.2);
}

#[test]
fn hessian_vector_products_match_second_differences_of_the_loss() {
    let model = fixture_model("cls_token");
    let mut d = directions::gaussian(&model.layout, 5, 0);
    let scope = Scope {
        include_rank1: true,
        include_pos_embed: true,
    };
    directions::normalise(
        &mut d,
        &model.theta,
        &model.layout,
        Normalisation::Layer,
        scope,
    );
    let images = eval_data("cls_token").0;
    let ev = Evaluator::new(
        &Device::flex(),
        model.config,
        &model.theta,
        std::slice::from_ref(&d),
        Default::default(),
        &images,
        Objective::Classification,
        64,
        None,
    )
    .unwrap();
    let mut h = Hessian::new(&ev, model.theta.clone());
    let v: Vec<f64> = d.iter().map(|x| f64::from(*x)).collect();
    let hv = h.apply(&v).unwrap();
    assert_eq!(h.gradient_calls, 2);
    let vhv: f64 = hv.iter().zip(&v).map(|(a, b)| a * b).sum();
    // d²/dt² L(θ + t·v) at t = 0 from loss values alone.
    let t = 0.05;
    let l = |c: f64| ev.eval(&[c]).unwrap()["loss"];
    let second = (l(t) - 2.0 * l(0.0) + l(-t)) / (t * t);
    eprintln!("vHv {vhv}, second difference {second}");
    assert!(
        second.abs() > 5e-3,
        "the test needs real curvature: {second}"
    );
    assert!(
        (vhv - second).abs() <= 0.05 * second.abs().max(1e-3),
        "vᵀHv {vhv} vs second difference {second}"
    );
}

#[test]
fn slq_recovers_support_weights_and_moments_of_a_known_spectrum() {
    use vitscape::curvature::{SlqSettings, spectral_density};
    let eigenvalues: Vec<f64> = (0..40)
        .map(|i| -2.0 + 0.25 * i as f64)
        .chain([30.0, 55.0])
        .collect();
    let n = eigenvalues.len();
    let mut a = matrix(&eigenvalues);
    // Full Krylov space: the nodes are the eigenvalues themselves.
    let full = spectral_density(
        &mut a,
        SlqSettings {
            steps: n,
            runs: 1,
            seed: 3,
        },
    )
    .unwrap();
    let (lo, hi) = full.support();
    assert!(
        (lo + 2.0).abs() < 1e-6 && (hi - 55.0).abs() < 1e-6,
        "support {lo}..{hi}"
    );
    let total: f64 = full.nodes.iter().map(|(_, w)| w).sum();
    assert!((total - 1.0).abs() < 1e-9, "weights sum to {total}");
    // Few steps, several runs: the extremes are found (Lanczos converges there first), and the
    // first moment estimates trace/n (Hutchinson through the quadrature).
    let quick = spectral_density(
        &mut a,
        SlqSettings {
            steps: 12,
            runs: 20,
            seed: 4,
        },
    )
    .unwrap();
    let (lo, hi) = quick.support();
    assert!((hi - 55.0).abs() < 1e-3 && lo < -1.5, "support {lo}..{hi}");
    let mean: f64 = quick.nodes.iter().map(|(l, w)| l * w).sum();
    let exact = eigenvalues.iter().sum::<f64>() / n as f64;
    assert!(
        (mean - exact).abs() < 0.25 * exact.abs(),
        "mean {mean} vs {exact}"
    );
    assert!(quick.steps.iter().all(|s| *s == 12));
    // The smoothed density integrates to ~1.
    let grid: Vec<f64> = (0..4000).map(|i| -10.0 + 0.02 * i as f64).collect();
    let density = quick.smoothed(&grid, 0.5);
    let integral: f64 = density.iter().sum::<f64>() * 0.02;
    assert!((integral - 1.0).abs() < 0.01, "{integral}");
}
