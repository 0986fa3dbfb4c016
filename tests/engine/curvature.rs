//! Curvature: the eigen-solvers on matrices with known spectra, and Hessian-vector products on a
//! fixture ViT against second differences of the loss itself (an independent path: loss values,
//! not gradients).

use burn::tensor::Device;
use pollster::block_on;
use vitscape::curvature::{
    CONVEXITY, CONVEXITY_CAP, Dense, Extremes, ExtremesMethod, Hessian, LAMBDA_MAX, LAMBDA_MIN,
    LinearOperator, MaxEigenSpectrum, PowerSettings, ProductScheme, SlqSettings, convexity_map,
    convexity_ratio, extreme_eigenvalues, extremes as both_extremes, histogram, hutchinson_trace,
    max_eigen_spectrum, spectral_density, top_eigenvalues,
};
use vitscape::landscape::directions::{self, Scope};
use vitscape::landscape::objective::{Evaluator, Objective};
use vitscape::landscape::surface::Surface;
use vitscape::landscape::sweep::Control;
use vitscape::spec::Axis;
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
        ..PowerSettings::default()
    };
    let found = block_on(top_eigenvalues(&mut a, settings)).unwrap();
    let values: Vec<f64> = found.iter().map(|e| e.value).collect();
    for (got, want) in values.iter().zip([5.0, -3.0, 2.0]) {
        assert!((got - want).abs() < 1e-4, "{values:?}");
    }
    assert!(found.iter().all(|e| e.converged));
    // PyHessian's default rule stops early but within its tolerance.
    let quick = block_on(top_eigenvalues(&mut a, PowerSettings::default())).unwrap();
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
    let (mean, stderr, n) = block_on(hutchinson_trace(&mut a, 4000, 3)).unwrap();
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
    let hv = block_on(h.apply(&v)).unwrap();
    assert_eq!(h.products.check.products, 1);
    assert!(h.products.check.gradients >= 4, "{:?}", h.products.check);
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
    let full = block_on(spectral_density(
        &mut a,
        SlqSettings {
            steps: n,
            runs: 1,
            seed: 3,
        },
    ))
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
    let quick = block_on(spectral_density(
        &mut a,
        SlqSettings {
            steps: 12,
            runs: 20,
            seed: 4,
        },
    ))
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

fn extremes(spectrum: &[f64]) -> Extremes {
    let settings = PowerSettings {
        k: 1,
        max_iterations: 2000,
        tolerance: 1e-10,
        seed: 4,
        ..PowerSettings::default()
    };
    block_on(extreme_eigenvalues(&mut matrix(spectrum), settings)).unwrap()
}

#[test]
fn convexity_ratio_from_the_shifted_power_iteration() {
    // Indefinite, positive-dominant: λmin found through H − 0.51·λmax·I.
    let e = extremes(&[4.0, 2.0, 1.0, -1.0, 0.5]);
    assert!((e.lambda_max - 4.0).abs() < 1e-4, "{e:?}");
    assert!((e.lambda_min.unwrap() + 1.0).abs() < 1e-4, "{e:?}");
    assert!((e.ratio - 0.25).abs() < 1e-4, "{e:?}");
    assert!(e.converged);
    // Positive definite: no negative curvature, ratio 0.
    let e = extremes(&[3.0, 2.0, 1.0, 0.5]);
    assert!((e.lambda_max - 3.0).abs() < 1e-4, "{e:?}");
    assert_eq!(e.ratio, 0.0, "{e:?}");
    // Barely negative: resolved, ratio small but not zero.
    let e = extremes(&[3.0, 1.0, -0.03]);
    assert!((e.lambda_min.unwrap() + 0.03).abs() < 1e-4, "{e:?}");
    assert!((e.ratio - 0.01).abs() < 1e-4, "{e:?}");
    // Negative-dominant saddle: both ends found, ratio capped.
    let e = extremes(&[1.0, 0.5, -4.0]);
    assert!((e.lambda_max - 1.0).abs() < 1e-4, "{e:?}");
    assert!((e.lambda_min.unwrap() + 4.0).abs() < 1e-4, "{e:?}");
    assert_eq!(e.ratio, CONVEXITY_CAP);
    // Concave: capped.
    assert_eq!(extremes(&[-1.0, -2.0, -3.0]).ratio, CONVEXITY_CAP);
    assert_eq!(convexity_ratio(-0.2, 1.0), 0.2);
    assert_eq!(convexity_ratio(0.3, 1.0), 0.0);
    assert_eq!(convexity_ratio(-1.0, 0.0), CONVEXITY_CAP);
}

/// Q·diag(λ)·Qᵀ for a larger n, Q a product of three Householder reflections (orthogonal to
/// rounding whatever n).
fn reflected(eigenvalues: &[f64]) -> Dense {
    let n = eigenvalues.len();
    let mut a = vec![0.0; n * n];
    for (i, l) in eigenvalues.iter().enumerate() {
        a[i * n + i] = *l;
    }
    for r in 0..3 {
        let mut u: Vec<f64> = (0..n)
            .map(|i| ((i * (r + 3) + r) % 13) as f64 - 6.0)
            .collect();
        let nrm = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        u.iter_mut().for_each(|x| *x /= nrm);
        // A ← (I − 2uuᵀ) A (I − 2uuᵀ).
        let au: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| a[i * n + j] * u[j]).sum())
            .collect();
        let uau: f64 = u.iter().zip(&au).map(|(x, y)| x * y).sum();
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] += -2.0 * u[i] * au[j] - 2.0 * au[i] * u[j] + 4.0 * uau * u[i] * u[j];
            }
        }
    }
    Dense { values: a, n }
}

/// diag(λ).
#[derive(Clone)]
struct Diagonal(Vec<f64>);

impl LinearOperator for Diagonal {
    fn dim(&self) -> usize {
        self.0.len()
    }

    async fn apply(&mut self, v: &[f64]) -> Result<Vec<f64>, vitscape::error::Error> {
        Ok(self.0.iter().zip(v).map(|(l, x)| l * x).collect())
    }
}

/// λmin and λmax of the same operator by the two power iterations, then by Lanczos, under the
/// same settings otherwise.
fn power_and_lanczos<A: LinearOperator + Clone>(
    a: &A,
    settings: PowerSettings,
) -> (Extremes, Extremes) {
    let run = |extremes| {
        block_on(both_extremes(
            &mut a.clone(),
            PowerSettings {
                extremes,
                ..settings
            },
        ))
        .unwrap()
    };
    (run(ExtremesMethod::Power), run(ExtremesMethod::Lanczos))
}

#[test]
fn lanczos_finds_both_ends_faster_and_where_the_shifted_power_iteration_stalls() {
    let lanczos = PowerSettings {
        max_iterations: 2000,
        tolerance: 1e-10,
        seed: 4,
        extremes: ExtremesMethod::Lanczos,
        ..PowerSettings::default()
    };
    // The power iteration's cases (small: the Krylov space is exhausted, so exact).
    for (spectrum, max, min) in [
        (&[4.0, 2.0, 1.0, -1.0, 0.5][..], 4.0, -1.0),
        (&[3.0, 2.0, 1.0, 0.5], 3.0, 0.5),
        (&[3.0, 1.0, -0.03], 3.0, -0.03),
        (&[1.0, 0.5, -4.0], 1.0, -4.0),
        (&[-1.0, -2.0, -3.0], -1.0, -3.0),
    ] {
        let e = block_on(both_extremes(&mut matrix(spectrum), lanczos)).unwrap();
        assert!((e.lambda_max - max).abs() < 1e-8, "{spectrum:?}: {e:?}");
        assert!(
            (e.lambda_min.unwrap() - min).abs() < 1e-8,
            "{spectrum:?}: {e:?}"
        );
        let ratio = convexity_ratio(min, max);
        assert!((e.ratio - ratio).abs() < 1e-12, "{spectrum:?}: {e:?}");
        assert!(e.converged && e.products <= spectrum.len(), "{e:?}");
    }
    // A Hessian-like spectrum: 300 eigenvalues, most in a bulk near 0, outliers on both sides.
    let mut spectrum: Vec<f64> = (0..294).map(|i| 0.05 * (i as f64 * 0.37).sin()).collect();
    spectrum.extend([10.0, 7.0, 4.0, 2.5, -0.6, -0.9]);
    let a = reflected(&spectrum);
    let same = PowerSettings {
        max_iterations: 1000,
        tolerance: 1e-8,
        seed: 1,
        ..PowerSettings::default()
    };
    let (power, krylov) = power_and_lanczos(&a, same);
    eprintln!("power {power:?}\nLanczos {krylov:?}");
    for e in [&power, &krylov] {
        assert!((e.lambda_max - 10.0).abs() < 1e-4, "{e:?}");
        assert!((e.lambda_min.unwrap() + 0.9).abs() < 1e-4, "{e:?}");
        assert!((e.ratio - 0.09).abs() < 1e-5, "{e:?}");
        assert!(e.converged, "{e:?}");
    }
    assert!(
        3 * krylov.products < power.products,
        "Lanczos {} products, power {}",
        krylov.products,
        power.products
    );
    // With the maps' tolerance (1e-3) the shifted power iteration stops in the bulk when the
    // dimension is a model's: a random start's component along the negative end is ~1/√n, so
    // its Rayleigh quotient moves by far less than 1e-3 per step long before that end
    // dominates, and it reports no negative curvature (the demo MAE-ViT's maps said "90 %
    // convex" this way; BENCHMARKS.md "Convexity maps by Lanczos"). Lanczos does not stall.
    // (A Gaussian start makes any orthonormal basis alike, so a diagonal operator stands for
    // every matrix with this spectrum.)
    let mut spectrum: Vec<f64> = (0..200_000)
        .map(|i| 0.05 * (i as f64 * 0.37).sin())
        .collect();
    spectrum[..6].copy_from_slice(&[30.0, 22.0, 15.0, 6.0, -3.0, -8.0]);
    let a = Diagonal(spectrum);
    let maps = PowerSettings {
        max_iterations: 100,
        tolerance: 1e-3,
        ..PowerSettings::default()
    };
    let (power, krylov) = power_and_lanczos(&a, maps);
    eprintln!("tolerance 1e-3: power {power:?}\nLanczos {krylov:?}");
    assert!(power.lambda_min.unwrap_or(0.0) > -1.0, "{power:?}");
    assert!(
        (krylov.lambda_min.unwrap() + 8.0).abs() < 0.01,
        "{krylov:?}"
    );
    assert!((krylov.ratio - 8.0 / 30.0).abs() < 1e-3, "{krylov:?}");
}

#[test]
fn max_eigen_spectrum_statistics_and_histogram() {
    let s = MaxEigenSpectrum::new(
        vec![-1.0, 2.0, 4.0, -0.5, 3.0],
        16,
        PowerSettings::default(),
    );
    assert_eq!(s.fraction_negative, 0.4);
    assert_eq!(s.mean_positive, Some(3.0));
    let h = s.histogram(5);
    assert_eq!(h.len(), 5);
    assert_eq!(h[0].0, -1.0);
    assert_eq!(h[4].1, 4.0);
    // Bins [-1, 0), [0, 1), [1, 2), [2, 3), [3, 4]: the maximum falls in the last one.
    assert_eq!(
        h.iter().map(|b| b.2).collect::<Vec<_>>(),
        vec![2, 0, 0, 1, 2]
    );
    let none = MaxEigenSpectrum::new(vec![-1.0, -2.0], 16, PowerSettings::default());
    assert_eq!(none.mean_positive, None);
    assert_eq!(none.fraction_negative, 1.0);
    assert_eq!(histogram(&[2.0, 2.0], 10), vec![(2.0, 3.0, 2)]);
}

/// The committed PyTorch reference (`tests/reference/curvature_reference.py`): the exact Hessian of
/// a 1-block ViT (float64) and PyHessian's numbers.
fn curvature_reference() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(crate::common::fixtures().join("curvature_reference.json"))
            .unwrap(),
    )
    .unwrap()
}

fn tiny_evaluator(model: &vitscape::landscape::setup::Model, batch: usize) -> Evaluator {
    Evaluator::new(
        &Device::flex(),
        model.config,
        &model.theta,
        &[],
        Default::default(),
        &eval_data("cls_token").0,
        Objective::Classification,
        batch,
        None,
    )
    .unwrap()
}

#[test]
fn eigenvalues_and_trace_match_the_exact_hessian_and_pyhessian() {
    let reference = curvature_reference();
    let exact = &reference["exact"];
    let pyh = &reference["pyhessian"];
    let model = fixture_model("hessian_tiny");
    assert_eq!(
        model.layout.total as u64,
        reference["parameters"].as_u64().unwrap()
    );
    let ev = tiny_evaluator(&model, 64);
    let loss = ev.eval(&[]).unwrap()["loss"];
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    assert!(
        rel(loss, exact["loss"].as_f64().unwrap()) < 1e-5,
        "loss {loss}"
    );

    // Top eigenvalue with PyHessian's settings: within 2 % of PyHessian and of the exact one.
    let mut h = Hessian::new(&ev, model.theta.clone());
    let top = block_on(top_eigenvalues(&mut h, PowerSettings::default())).unwrap();
    let dominant = exact["largest_magnitude"].as_f64().unwrap();
    let ours = top[0].value;
    assert!(rel(ours, dominant) < 0.02, "top {ours} vs exact {dominant}");
    let theirs = pyh["top_eigenvalue"].as_f64().unwrap();
    assert!(rel(ours, theirs) < 0.02, "top {ours} vs PyHessian {theirs}");

    // Both ends of the spectrum (convexity ratio) against the exact eigenvalues.
    let e = block_on(extreme_eigenvalues(
        &mut h,
        PowerSettings {
            max_iterations: 1000,
            tolerance: 1e-7,
            ..PowerSettings::default()
        },
    ))
    .unwrap();
    let (lmax, lmin) = (
        exact["lambda_max"].as_f64().unwrap(),
        exact["lambda_min"].as_f64().unwrap(),
    );
    assert!(rel(e.lambda_max, lmax) < 0.02, "λmax {e:?} vs {lmax}");
    assert!(
        rel(e.lambda_min.unwrap(), lmin) < 0.05,
        "λmin {e:?} vs {lmin}"
    );
    assert!(
        (e.ratio - convexity_ratio(lmin, lmax)).abs() < 0.01,
        "ratio {e:?}"
    );

    // Trace: Σ eᵢᵀHeᵢ over all 1 250 unit vectors with our Hessian-vector products is within 2 %
    // of the exact trace; Hutchinson's estimate is within 4 standard errors of it and of
    // PyHessian's (2 000 samples).
    let exact_trace = exact["trace"].as_f64().unwrap();
    let n = model.layout.total;
    let mut by_columns = 0.0;
    for i in 0..n {
        let mut e = vec![0.0; n];
        e[i] = 1.0;
        by_columns += block_on(h.apply(&e)).unwrap()[i];
    }
    assert!(
        rel(by_columns, exact_trace) < 0.02,
        "trace {by_columns} vs exact {exact_trace}"
    );
    let pyh_trace = pyh["trace_mean"].as_f64().unwrap();
    assert!(
        rel(by_columns, pyh_trace) < 0.02,
        "trace {by_columns} vs PyHessian {pyh_trace}"
    );
    let (mean, se, _) = block_on(hutchinson_trace(&mut h, 200, 3)).unwrap();
    assert!(
        (mean - exact_trace).abs() < 4.0 * se + 0.01 * exact_trace.abs(),
        "Hutchinson {mean} ± {se} vs exact {exact_trace}"
    );
    let pyh_se = pyh["trace_standard_error"].as_f64().unwrap();
    assert!(
        (mean - pyh_trace).abs() < 4.0 * (se * se + pyh_se * pyh_se).sqrt(),
        "Hutchinson {mean} ± {se} vs PyHessian {pyh_trace} ± {pyh_se}"
    );

    // The spectral density's support brackets the exact extremes once Lanczos has run long.
    let density = block_on(spectral_density(
        &mut h,
        SlqSettings {
            steps: 60,
            runs: 1,
            seed: 2,
        },
    ))
    .unwrap();
    let (lo, hi) = density.support();
    assert!(rel(hi, lmax) < 0.02, "support top {hi} vs {lmax}");
    assert!(rel(lo, lmin) < 0.05, "support bottom {lo} vs {lmin}");
}

#[test]
fn convexity_map_and_minibatch_spectrum_on_a_tiny_vit() {
    let model = fixture_model("hessian_tiny");
    let ev = tiny_evaluator(&model, 16);
    let settings = PowerSettings {
        max_iterations: 60,
        ..PowerSettings::default()
    };
    // Four mini-batches of 16: each one's own top eigenvalue, sign kept.
    let (spectrum, check) = block_on(max_eigen_spectrum(
        &ev,
        &model.theta,
        16,
        settings,
        ProductScheme::default(),
        &mut |_, _| {},
    ))
    .unwrap();
    assert!(check.products >= 4 && check.max_relative_truncation.is_some());
    assert_eq!(spectrum.values.len(), 4);
    for (mb, value) in ev.minibatches().iter().zip(&spectrum.values) {
        assert_eq!(mb.images(), 16);
        let mut h = Hessian::new(mb, model.theta.clone());
        let again = block_on(top_eigenvalues(&mut h, PowerSettings { k: 1, ..settings })).unwrap();
        assert_eq!(again[0].value, *value, "deterministic per mini-batch");
    }
    // The mini-batch losses average to the full-batch loss.
    let full = ev.eval(&[]).unwrap()["loss"];
    let mean: f64 = ev
        .minibatches()
        .iter()
        .map(|mb| mb.eval(&[]).unwrap()["loss"])
        .sum::<f64>()
        / 4.0;
    assert!((full - mean).abs() < 1e-5 * full, "{full} vs {mean}");

    // A 3×3 convexity map: the centre cell is the Hessian at θ*, every cell has a loss equal to
    // the sweep's and a ratio in [0, 0.5].
    let dirs: Vec<Vec<f32>> = (0..2)
        .map(|axis| {
            let mut d = directions::gaussian(&model.layout, 5, axis);
            directions::normalise(
                &mut d,
                &model.theta,
                &model.layout,
                Normalisation::Filter,
                Scope {
                    include_rank1: false,
                    include_pos_embed: false,
                },
            );
            d
        })
        .collect();
    let ev = Evaluator::new(
        &Device::flex(),
        model.config,
        &model.theta,
        &dirs,
        Default::default(),
        &eval_data("cls_token").0,
        Objective::Classification,
        64,
        None,
    )
    .unwrap();
    let axis = Axis {
        min: -0.5,
        max: 0.5,
        n: 3,
    };
    let mut names = ev.objective().metric_names();
    names.extend([LAMBDA_MAX, LAMBDA_MIN, CONVEXITY]);
    let mut map = Surface::empty(crate::common::spec(axis, Some(axis)), &names);
    let mut cells = 0;
    let scheme = ProductScheme::default();
    let check = block_on(convexity_map(
        &ev,
        &model.theta,
        &dirs,
        &mut map,
        settings,
        scheme,
        &mut |_, _| {
            cells += 1;
            Control::Continue
        },
    ))
    .unwrap();
    // Every product of the nine cells' two power iterations is counted.
    assert!(
        check.products >= 18 && check.gradients >= 4 * check.products,
        "{check:?}"
    );
    assert_eq!(cells, 9);
    for (iy, row) in map.metrics[CONVEXITY].iter().enumerate() {
        for (ix, r) in row.iter().enumerate() {
            let r = r.unwrap();
            assert!((0.0..=CONVEXITY_CAP).contains(&r), "{r}");
            let loss = ev.eval(&[map.x[ix], map.y[iy]]).unwrap()["loss"];
            assert_eq!(map.metrics["loss"][iy][ix], Some(loss));
        }
    }
    let reference = curvature_reference();
    let lmax = reference["exact"]["lambda_max"].as_f64().unwrap();
    let centre = map.metrics[LAMBDA_MAX][1][1].unwrap();
    assert!(
        (centre - lmax).abs() / lmax < 0.02,
        "centre λmax {centre} vs exact {lmax}"
    );
    // Rows in parallel: the same map bit for bit, and the same products counted.
    let mut parallel = Surface::empty(map.spec.clone(), &names);
    let parallel_check = vitscape::curvature::convexity_map_threads(
        &ev,
        &model.theta,
        &dirs,
        &mut parallel,
        settings,
        scheme,
        2,
        &mut |_, _| Control::Continue,
    )
    .unwrap();
    assert_eq!(parallel.metrics, map.metrics);
    assert_eq!(parallel_check.products, check.products);
    assert_eq!(parallel_check.gradients, check.gradients);
}

/// The committed exact curvature of a trained ViT (`tests/reference/curvature_trained.py`): a
/// timm ViT trained on Fashion-MNIST, its Hessian formed column by column from float64
/// double-backward products; the curvature is large enough (λmax ≥ 100) to expose a too-large
/// finite-difference step.
fn trained_reference() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(crate::common::fixtures().join("curvature_trained.json")).unwrap(),
    )
    .unwrap()
}

/// `which` ∈ {v, hv, top} of the reference's `products.safetensors`, in the layout's order.
fn reference_vector(model: &vitscape::landscape::setup::Model, which: &str) -> Vec<f64> {
    let bytes =
        std::fs::read(crate::common::fixtures().join("exports/trained_vit/products.safetensors"))
            .unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out = Vec::with_capacity(model.layout.total);
    for p in &model.layout.params {
        let t = st.tensor(&format!("{which}.{}", p.name)).unwrap();
        assert_eq!(t.shape(), p.shape.as_slice(), "{which}.{}", p.name);
        out.extend(
            t.data()
                .chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        );
    }
    out
}

fn trained_evaluator(model: &vitscape::landscape::setup::Model) -> Evaluator {
    trained_evaluator_on(model, &Device::flex())
}

fn trained_evaluator_on(model: &vitscape::landscape::setup::Model, device: &Device) -> Evaluator {
    let images = eval_data("trained_vit").0;
    let n = images.n;
    Evaluator::new(
        device,
        model.config,
        &model.theta,
        &[],
        Default::default(),
        &images,
        Objective::Classification,
        n,
        None,
    )
    .unwrap()
}

fn relative_error(got: &[f64], want: &[f64]) -> f64 {
    let diff: f64 = got.iter().zip(want).map(|(a, b)| (a - b).powi(2)).sum();
    let norm: f64 = want.iter().map(|b| b * b).sum();
    (diff / norm).sqrt()
}

#[test]
fn trained_vit_products_match_exact_double_backward() {
    let reference = trained_reference();
    let exact = &reference["exact"];
    let model = fixture_model("trained_vit");
    assert_eq!(
        model.layout.total as u64,
        reference["parameters"].as_u64().unwrap()
    );
    let ev = trained_evaluator(&model);
    let loss = ev.eval(&[]).unwrap()["loss"];
    let want = exact["loss"].as_f64().unwrap();
    assert!((loss - want).abs() < 1e-5 * want, "loss {loss} vs {want}");
    let lambda1 = exact["eigenvalues"][0].as_f64().unwrap();
    assert!(
        lambda1 >= 100.0,
        "the reference needs large curvature: {lambda1}"
    );

    let mut h = Hessian::new(&ev, model.theta.clone());
    // A fixed Gaussian direction: its product within 0.5 % of the exact one.
    let v = reference_vector(&model, "v");
    let hv = block_on(h.apply(&v)).unwrap();
    let err = relative_error(&hv, &reference_vector(&model, "hv"));
    eprintln!("Gaussian v: relative error {err:.2e}");
    assert!(err < 5e-3, "‖Hv − H_exact v‖/‖H_exact v‖ = {err}");
    // The top eigenvector: H·u = λ₁·u within 0.5 % (the direction where a too-large step fails).
    let u = reference_vector(&model, "top");
    let hu = block_on(h.apply(&u)).unwrap();
    let lu: Vec<f64> = u.iter().map(|x| lambda1 * x).collect();
    let err = relative_error(&hu, &lu);
    eprintln!("top eigenvector: relative error {err:.2e}");
    assert!(err < 5e-3, "‖Hu − λ₁u‖/‖λ₁u‖ = {err}");
    // The run-time check saw steps small enough.
    let check = h.products.check.max_relative_truncation.unwrap();
    assert!(check < 5e-3, "step check {check}");
}

#[test]
fn trained_vit_eigenvalues_trace_and_convexity_match_the_exact_hessian() {
    let reference = trained_reference();
    let exact = &reference["exact"];
    let model = fixture_model("trained_vit");
    let ev = trained_evaluator(&model);
    let mut h = Hessian::new(&ev, model.theta.clone());
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();

    // λ1..3 within 1 %.
    let settings = PowerSettings {
        k: 3,
        max_iterations: 300,
        tolerance: 1e-6,
        seed: 0,
        ..PowerSettings::default()
    };
    let top = block_on(top_eigenvalues(&mut h, settings)).unwrap();
    for (i, e) in top.iter().enumerate() {
        let want = exact["eigenvalues"][i].as_f64().unwrap();
        eprintln!(
            "λ{} = {} (exact {want}, {} iterations)",
            i + 1,
            e.value,
            e.iterations
        );
        assert!(
            rel(e.value, want) < 0.01,
            "λ{} = {} vs exact {want}",
            i + 1,
            e.value
        );
    }

    // Hutchinson's trace within 5 %, with enough samples that 5 % is more than three standard
    // deviations of the estimate (the exact variance is the reference's 2·Σ_{i≠j} H_ij²): a
    // product 5 % off would fail it, and the products themselves are checked to 0.5 % above.
    // The spread of the samples is the exact one within 25 % (about four standard errors of a
    // sample variance over this many): products that were right on average but noisy, or a
    // wrong H_ij off the diagonal, would change it. (3 000 samples for a 2 % bound took 230 s
    // of CI's 2 cores; 480 take 40 s.)
    let samples = TRAINED_TRACE_SAMPLES;
    let trace = exact["trace"].as_f64().unwrap();
    let variance = exact["hutchinson_variance"].as_f64().unwrap();
    let sd = (variance / samples as f64).sqrt();
    assert!(
        3.0 * sd <= 0.05 * trace.abs(),
        "σ {sd} is too large for a 5 % test of {trace}"
    );
    // Two halves with their own seeds on the two cores: the mean of two Hutchinson estimates of
    // equal size is a Hutchinson estimate over all their samples.
    let halves: Vec<(f64, f64, usize)> = std::thread::scope(|scope| {
        let jobs: Vec<_> = [1, 2]
            .map(|seed| {
                let (ev, theta) = (&ev, &model.theta);
                scope.spawn(move || {
                    let mut h = Hessian::new(ev, theta.clone());
                    block_on(hutchinson_trace(&mut h, samples / 2, seed)).unwrap()
                })
            })
            .into_iter()
            .collect();
        jobs.into_iter().map(|j| j.join().unwrap()).collect()
    });
    let mean = (halves[0].0 + halves[1].0) / 2.0;
    let se = (halves[0].1.powi(2) + halves[1].1.powi(2)).sqrt() / 2.0;
    eprintln!("trace {mean} ± {se} (exact {trace}, σ {sd})");
    assert!(
        rel(mean, trace) < 0.05,
        "trace {mean} ± {se} vs exact {trace}"
    );
    let spread = se * se * samples as f64;
    assert!(
        rel(spread, variance) < 0.25,
        "sample variance {spread} vs exact {variance}"
    );

    // The convexity ratio |λmin/λmax| at θ* within 0.01.
    let e = block_on(extreme_eigenvalues(
        &mut h,
        PowerSettings {
            k: 1,
            max_iterations: 300,
            tolerance: 1e-6,
            seed: 0,
            ..PowerSettings::default()
        },
    ))
    .unwrap();
    let ratio = exact["convexity_ratio"].as_f64().unwrap();
    eprintln!("convexity {e:?} (exact ratio {ratio})");
    assert!(
        (e.ratio - ratio).abs() < 0.01,
        "ratio {e:?} vs exact {ratio} (λmin {})",
        exact["lambda_min"]
    );
    // Lanczos, as the convexity map runs it by default (tolerance 1e-3): the same ratio, and
    // λmax within 1 %, from one Krylov space.
    let lanczos = block_on(both_extremes(
        &mut h,
        PowerSettings {
            max_iterations: 100,
            extremes: ExtremesMethod::Lanczos,
            ..PowerSettings::default()
        },
    ))
    .unwrap();
    let lmax = exact["lambda_max"].as_f64().unwrap();
    eprintln!("Lanczos {lanczos:?} (exact λmax {lmax}, ratio {ratio})");
    assert!(lanczos.converged, "{lanczos:?}");
    assert!(
        rel(lanczos.lambda_max, lmax) < 0.01,
        "{lanczos:?} vs {lmax}"
    );
    assert!(
        (lanczos.ratio - ratio).abs() < 0.01,
        "{lanczos:?} vs exact ratio {ratio}"
    );
}

/// Rademacher samples of the trained ViT's trace test.
const TRAINED_TRACE_SAMPLES: usize = 480;

/// The measurements behind the default [`ProductScheme`] (BENCHMARKS.md, "Hessian-vector
/// products"): the relative error of H·v against the exact product on the trained ViT, for each
/// scheme and step, along a Gaussian direction and along the top eigenvector, with the run-time
/// step check and the time per product. Run with
/// `cargo test --release --test engine -- --ignored --nocapture hessian_step_scan`; on a GPU,
/// `VITSCAPE_TEST_DEVICE=wgpu cargo test --release --features wgpu …` measures the wgpu path.
#[test]
#[ignore = "a measurement, not a check: prints the table of BENCHMARKS.md"]
fn hessian_step_scan() {
    use vitscape::curvature::DifferenceMethod;
    let reference = trained_reference();
    let lambda1 = reference["exact"]["eigenvalues"][0].as_f64().unwrap();
    let model = fixture_model("trained_vit");
    let device = scan_device();
    println!("device: {device:?}");
    let ev = trained_evaluator_on(&model, &device);
    let v = reference_vector(&model, "v");
    let hv_exact = reference_vector(&model, "hv");
    let u = reference_vector(&model, "top");
    let lu: Vec<f64> = u.iter().map(|x| lambda1 * x).collect();
    println!(
        "| method | relative step: first → smallest used | error along v (Gaussian) | error along u₁ (top eigenvector) | step check: along v / max of both | gradients (both products) | ms per product |"
    );
    println!("|---|---|---|---|---|---|---|");
    let fixed = |method| ProductScheme {
        method,
        relative_step: 0.0,
        check_target: None,
    };
    let schemes = [
        fixed(DifferenceMethod::Central),
        fixed(DifferenceMethod::Richardson),
        ProductScheme::default(),
    ];
    for scheme in schemes {
        for step in [
            1e-2, 3e-3, 1e-3, 5e-4, 3e-4, 2e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6,
        ] {
            let scheme = ProductScheme {
                relative_step: step,
                ..scheme
            };
            let method = match scheme.check_target {
                Some(t) => format!("{:?}, halved to check ≤ {t:e}", scheme.method),
                None => format!("{:?}", scheme.method),
            };
            let mut h = Hessian::with_scheme(&ev, model.theta.clone(), scheme);
            let t = std::time::Instant::now();
            let a = relative_error(&block_on(h.apply(&v)).unwrap(), &hv_exact);
            let check_v = h.products.check.max_relative_truncation;
            let b = relative_error(&block_on(h.apply(&u)).unwrap(), &lu);
            let ms = t.elapsed().as_secs_f64() * 1e3 / 2.0;
            let check = match (check_v, h.products.check.max_relative_truncation) {
                (Some(cv), Some(c)) => format!("{cv:.1e} / {c:.1e}"),
                _ => "—".into(),
            };
            let smallest = h.products.check.min_relative_step.unwrap_or(step);
            let gradients = h.products.check.gradients;
            println!(
                "| {method} | {step:.0e} → {smallest:.1e} | {a:.2e} | {b:.2e} | {check} | {gradients} | {ms:.0} |"
            );
        }
    }
}

/// burn `flex`, or native wgpu over Vulkan with `--features wgpu` and `VITSCAPE_TEST_DEVICE=wgpu`.
fn scan_device() -> Device {
    #[cfg(feature = "wgpu")]
    if std::env::var("VITSCAPE_TEST_DEVICE").as_deref() == Ok("wgpu") {
        let (device, _) = Device::wgpu_options()
            .graphics_api(burn::tensor::wgpu::WgpuBackend::Vulkan)
            .init_with_setup()
            .expect("wgpu over Vulkan");
        return device;
    }
    Device::flex()
}

/// Hessian-eigenvector directions (issue #15): the top two eigenvectors found by power iteration
/// with deflation, written as direction files, against the exact Hessian's eigenvectors
/// (`tests/reference/hessian_eigenvectors.py`, numpy's eigh in float64): |cosine| ≥ 0.99.
#[test]
fn eigenvector_directions_match_the_exact_hessian() {
    let model = fixture_model("hessian_tiny");
    let ev = tiny_evaluator(&model, 64);
    let mut h = Hessian::new(&ev, model.theta.clone());
    let settings = PowerSettings {
        k: 2,
        max_iterations: 1000,
        tolerance: 1e-8,
        seed: 0,
        ..PowerSettings::default()
    };
    let found = block_on(top_eigenvalues(&mut h, settings)).unwrap();
    // Our files, as `vitscape curvature --save-eigenvectors` and the page write them, read back
    // as any direction file is.
    let spec = crate::common::spec(vitscape::spec::Axis::parse("-1:1:3").unwrap(), None);
    let files = vitscape::curvature::eigenvector_files(
        &model.layout,
        &model.checkpoint.sha256,
        &spec,
        &found,
        settings,
        Default::default(),
    )
    .unwrap();
    for ((i, e), (name, bytes)) in found.iter().enumerate().zip(&files) {
        assert_eq!(name, &format!("eigenvector_{}.safetensors", i + 1));
        let path =
            crate::common::fixtures().join(format!("hessian_eigenvector_{}.safetensors", i + 1));
        let reference = vitscape::io::checkpoint::read_file(&path, None)
            .unwrap()
            .state;
        let exact: f64 = reference.metadata["eigenvalue"].parse().unwrap();
        let expected = directions::from_state_dict(&model.layout, &reference).unwrap();
        let back = vitscape::io::checkpoint::read_checkpoint(bytes, None)
            .unwrap()
            .state;
        assert_eq!(back.metadata["source"], "hessian-eigenvector");
        assert_eq!(back.metadata["rank"], (i + 1).to_string());
        assert_eq!(back.metadata["checkpoint_sha256"], model.checkpoint.sha256);
        let ours = directions::from_state_dict(&model.layout, &back).unwrap();
        assert!((directions::l2_norm(&ours) - 1.0).abs() < 1e-5);
        let cosine = directions::cosine(&ours, &expected);
        assert!(
            cosine.abs() >= 0.99,
            "eigenvector {}: |cos| = {cosine} (λ {} vs exact {exact})",
            i + 1,
            e.value
        );
        // The sign convention is the reference's: the same vector, not its negative.
        assert!(cosine > 0.0, "eigenvector {}: cos = {cosine}", i + 1);
        assert!(
            (e.value - exact).abs() < 0.01 * exact.abs(),
            "λ{} {} vs {exact}",
            i + 1,
            e.value
        );
    }
}
