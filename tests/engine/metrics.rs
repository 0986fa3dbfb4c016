//! Landscape summaries on analytic surfaces with known answers: a paraboloid, a saddle, a double
//! well and a rough bowl.

use crate::common;

use vitscape::landscape::surface::Surface;
use vitscape::metrics::{MetricsError, summarise};
use vitscape::spec::Axis;

fn surface(x: Axis, y: Option<Axis>, f: impl Fn(f64, f64) -> f64) -> Surface {
    let spec = common::spec(x, y);
    let mut s = Surface::empty(spec, &["loss"]);
    let (xs, ys) = (s.x.clone(), s.y.clone());
    let grid = s.metrics.get_mut("loss").unwrap();
    for (iy, b) in ys.iter().enumerate() {
        for (ix, a) in xs.iter().enumerate() {
            grid[iy][ix] = Some(f(*a, *b));
        }
    }
    s
}

fn axis(min: f64, max: f64, n: usize) -> Axis {
    Axis { min, max, n }
}

#[test]
fn paraboloid_radius_area_convexity_and_curvature() {
    // L = α² + β²: basin of τ = 0.25 is the disc of radius 0.5, area π/4.
    let s = surface(axis(-1.0, 1.0, 101), Some(axis(-1.0, 1.0, 101)), |a, b| {
        a * a + b * b
    });
    let m = summarise(&s, "loss", 0.25, 64).unwrap();
    assert_eq!(m.rays_censored, 0);
    assert!((m.radius_mean.unwrap() - 0.5).abs() < 0.005, "{m:?}");
    assert!((m.radius_min.unwrap() - 0.5).abs() < 0.01);
    assert!(
        (m.basin_area - std::f64::consts::PI / 4.0).abs() < 0.03,
        "{}",
        m.basin_area
    );
    assert_eq!(m.convex_fraction, 1.0);
    assert!(m.roughness_rms < 1e-9, "a quadratic fits exactly");
    assert!((m.curvature_x.unwrap() - 2.0).abs() < 1e-6);
    assert!((m.curvature_y.unwrap() - 2.0).abs() < 1e-6);
    assert_eq!(m.centre, 0.0);

    // Anisotropic: L = α² + 4β² has semi-axes 0.5 and 0.25 for τ = 0.25: area π·0.5·0.25.
    let s = surface(axis(-1.0, 1.0, 161), Some(axis(-0.6, 0.6, 97)), |a, b| {
        a * a + 4.0 * b * b
    });
    let m = summarise(&s, "loss", 0.25, 64).unwrap();
    assert!(
        (m.basin_area - std::f64::consts::PI * 0.125).abs() < 0.02,
        "{}",
        m.basin_area
    );
    assert!((m.radius_min.unwrap() - 0.25).abs() < 0.01);
    assert!((m.curvature_y.unwrap() - 8.0).abs() < 1e-6);
}

#[test]
fn saddle_is_nowhere_convex_and_its_basin_escapes_the_grid() {
    let s = surface(axis(-1.0, 1.0, 41), Some(axis(-1.0, 1.0, 41)), |a, b| {
        a * a - b * b
    });
    let m = summarise(&s, "loss", 0.25, 16).unwrap();
    assert_eq!(m.convex_fraction, 0.0);
    // Rays along ±β never rise: censored; rays along ±α cross at 0.5.
    assert!(m.rays_censored >= 2);
    assert!((m.radius_min.unwrap() - 0.5).abs() < 0.01);
}

#[test]
fn double_well_convex_fraction_matches_closed_form() {
    // L = (α² − 1)² + β²: ∂²L/∂α² = 12α² − 4 ≥ 0 iff |α| ≥ 1/√3. On α ∈ [−2, 2] the interior
    // fraction is (2 − 1/√3)/2 ≈ 0.711.
    let s = surface(axis(-2.0, 2.0, 201), Some(axis(-1.0, 1.0, 21)), |a, b| {
        (a * a - 1.0).powi(2) + b * b
    });
    let m = summarise(&s, "loss", 0.1, 32).unwrap();
    let expected = (2.0 - 1.0 / 3f64.sqrt()) / 2.0;
    assert!(
        (m.convex_fraction - expected).abs() < 0.02,
        "{} vs {expected}",
        m.convex_fraction
    );
    // The centre (α = 0) is a local maximum along α: the α-curvature is −4.
    assert!((m.curvature_x.unwrap() + 4.0).abs() < 1e-3);
    assert!(m.roughness_relative > 0.1, "a quartic is not a quadratic");
}

#[test]
fn roughness_measures_what_the_quadratic_cannot_fit() {
    let smooth = surface(axis(-1.0, 1.0, 41), Some(axis(-1.0, 1.0, 41)), |a, b| {
        a * a + b * b
    });
    let rough = surface(axis(-1.0, 1.0, 41), Some(axis(-1.0, 1.0, 41)), |a, b| {
        a * a + b * b + 0.01 * (40.0 * a).sin() * (40.0 * b).cos()
    });
    let m0 = summarise(&smooth, "loss", 0.2, 16).unwrap();
    let m1 = summarise(&rough, "loss", 0.2, 16).unwrap();
    // RMS of 0.01·sin·cos is 0.005 (almost orthogonal to the quadratic basis).
    assert!(m0.roughness_rms < 1e-9);
    assert!(
        (m1.roughness_rms - 0.005).abs() < 0.001,
        "{}",
        m1.roughness_rms
    );
}

#[test]
fn one_d_curves_and_bad_inputs() {
    let s = surface(axis(-1.0, 1.0, 201), None, |a, _| 3.0 * a * a);
    let m = summarise(&s, "loss", 0.75, 0).unwrap();
    assert_eq!(m.rays, 2);
    assert!((m.radius_mean.unwrap() - 0.5).abs() < 0.01);
    assert!(
        (m.basin_area - 1.0).abs() < 0.02,
        "basin length {}",
        m.basin_area
    );
    assert!((m.curvature_x.unwrap() - 6.0).abs() < 1e-6);
    assert_eq!(m.curvature_y, None);

    assert_eq!(
        summarise(&s, "accuracy", 0.1, 8).unwrap_err(),
        MetricsError::Unknown("accuracy".into())
    );
    assert_eq!(
        summarise(&s, "loss", 0.0, 8).unwrap_err(),
        MetricsError::Tau(0.0)
    );
    let mut partial = s.clone();
    partial.metrics.get_mut("loss").unwrap()[0][3] = None;
    assert!(matches!(
        summarise(&partial, "loss", 0.1, 8),
        Err(MetricsError::Incomplete { missing: 1, .. })
    ));
}
