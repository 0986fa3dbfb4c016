//! Invariants of the sweep that need no reference implementation: the centre of a sweep is the
//! unperturbed loss (checked against PyTorch's number), a non-square grid is stored `[iy][ix]`
//! with α along columns, cells are computed from pristine weights whatever the visiting order,
//! and directions survive a safetensors round trip.

use burn::tensor::Device;
use pollster::block_on;
use vitscape::io::checkpoint;
use vitscape::landscape::directions::{self, Scope};
use vitscape::landscape::objective::{Evaluator, Objective};
use vitscape::landscape::setup::Model;
use vitscape::landscape::surface::Surface;
use vitscape::landscape::sweep::{self, Control, Pace};
use vitscape::spec::*;

use crate::common::{eval_data, fixture_model, fixtures, spec};

fn evaluator(model: &Model) -> Evaluator {
    let scope = Scope {
        include_rank1: false,
        include_pos_embed: false,
    };
    let dirs: Vec<Vec<f32>> = (0..2)
        .map(|axis| {
            let mut d = directions::gaussian(&model.layout, 9, axis);
            directions::normalise(
                &mut d,
                &model.theta,
                &model.layout,
                Normalisation::Filter,
                scope,
            );
            d
        })
        .collect();
    Evaluator::new(
        &Device::flex(),
        model.config,
        &model.theta,
        &dirs,
        Default::default(),
        &eval_data("cls_token").0,
        Objective::Classification,
        32,
        None,
    )
    .unwrap()
}

#[test]
fn three_by_five_grid_orientation_and_centre() {
    let model = fixture_model("cls_token");
    let ev = evaluator(&model);
    let x = Axis {
        min: -1.0,
        max: 1.0,
        n: 5,
    };
    let y = Axis {
        min: -0.5,
        max: 0.5,
        n: 3,
    };
    let mut surface = Surface::empty(spec(x, Some(y)), &ev.objective().metric_names());
    // Visit coarse-to-fine: the order must not matter, every cell starts from pristine θ*.
    let order = sweep::coarse_to_fine(5, 3);
    block_on(sweep::run(
        &ev,
        &mut surface,
        &order,
        Pace::cells(1),
        &mut |_, _| Control::Continue,
    ))
    .unwrap();
    let loss = surface.loss();
    assert_eq!(loss.len(), 3, "rows are β");
    assert_eq!(loss[0].len(), 5, "columns are α");
    // Centre = unperturbed loss, as PyTorch computed it for this model and these images.
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("reference_losses.json")).unwrap(),
    )
    .unwrap();
    let torch_centre = reference["models"]["cls_token"][0]["loss"]
        .as_f64()
        .unwrap();
    let centre = loss[1][2].unwrap();
    assert!(
        (centre - torch_centre).abs() / torch_centre < 1e-4,
        "{centre} vs {torch_centre}"
    );
    // Cell (ix = 4, iy = 0) is α = 1, β = −0.5, and not the transposed point.
    let corner = ev.eval(&[1.0, -0.5]).unwrap()["loss"];
    let transposed = ev.eval(&[-0.5, 1.0]).unwrap()["loss"];
    assert_eq!(loss[0][4], Some(corner));
    assert!(
        (corner - transposed).abs() > 1e-4,
        "test would not see a transpose"
    );
    assert_eq!(surface.x, vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
    assert_eq!(surface.y, vec![-0.5, 0.0, 0.5]);
    // Re-evaluating a cell later gives the same number (nothing accumulated in θ).
    assert_eq!(ev.eval(&[1.0, -0.5]).unwrap()["loss"], corner);
}

#[test]
fn cancelling_keeps_computed_cells_and_resume_completes_them() {
    let model = fixture_model("cls_token");
    let ev = evaluator(&model);
    let x = Axis {
        min: 0.0,
        max: 1.0,
        n: 4,
    };
    let mut partial = Surface::empty(spec(x, None), &ev.objective().metric_names());
    let order = sweep::row_major(4, 1);
    let result = block_on(sweep::run(
        &ev,
        &mut partial,
        &order,
        Pace::cells(1),
        &mut |_, p| {
            if p.done == 2 {
                Control::Cancel
            } else {
                Control::Continue
            }
        },
    ));
    assert!(matches!(result, Err(vitscape::error::Error::Cancelled)));
    assert_eq!(partial.progress(), (2, 4));
    // A range may start at 0; the first cell is then the unperturbed model.
    assert_eq!(partial.x[0], 0.0);
    let text = serde_json::to_string(&partial).unwrap();
    let mut resumed: Surface = serde_json::from_str(&text).unwrap();
    sweep::check_resumable(&resumed, &partial.spec).unwrap();
    let mut calls = 0;
    block_on(sweep::run(
        &ev,
        &mut resumed,
        &order,
        Pace::cells(3),
        &mut |_, _| {
            calls += 1;
            Control::Continue
        },
    ))
    .unwrap();
    assert_eq!(calls, 2, "only the missing cells are computed");
    let mut full = Surface::empty(partial.spec.clone(), &ev.objective().metric_names());
    block_on(sweep::run(
        &ev,
        &mut full,
        &order,
        Pace::cells(1),
        &mut |_, _| Control::Continue,
    ))
    .unwrap();
    assert_eq!(resumed.metrics, full.metrics);
    // Threads: every cell bit for bit the one-thread loop's, and a cancel stops them all.
    for threads in [2, 3] {
        let mut parallel = Surface::empty(partial.spec.clone(), &ev.objective().metric_names());
        sweep::run_threads(
            &ev,
            &mut parallel,
            &order,
            Pace::cells(1),
            threads,
            &mut |_, _| Control::Continue,
        )
        .unwrap();
        assert_eq!(parallel.metrics, full.metrics, "{threads} threads");
        let mut cancelled = Surface::empty(partial.spec.clone(), &ev.objective().metric_names());
        let result = sweep::run_threads(
            &ev,
            &mut cancelled,
            &order,
            Pace::cells(1),
            threads,
            &mut |_, p| {
                if p.done == 1 {
                    Control::Cancel
                } else {
                    Control::Continue
                }
            },
        );
        assert!(matches!(result, Err(vitscape::error::Error::Cancelled)));
        assert_eq!(
            cancelled.progress().0,
            1,
            "cells after the cancel are dropped"
        );
    }
    // A different spec cannot resume.
    let mut other = partial.spec.clone();
    other.directions.source = DirectionSource::Random { seed: 10 };
    let err = sweep::check_resumable(&resumed, &other)
        .unwrap_err()
        .to_string();
    assert!(err.contains("directions"), "{err}");
}

#[test]
fn directions_round_trip_through_safetensors_files() {
    let model = fixture_model("mae");
    let mut d = directions::gaussian(&model.layout, 4, 0);
    let scope = Scope {
        include_rank1: true,
        include_pos_embed: false,
    };
    directions::normalise(
        &mut d,
        &model.theta,
        &model.layout,
        Normalisation::Filter,
        scope,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.safetensors");
    let state = directions::to_state_dict(&model.layout, &d, &[("axis", "x".into())]);
    checkpoint::write_file(&path, &state).unwrap();
    let back = checkpoint::read_file(&path, None).unwrap();
    assert_eq!(
        back.state.metadata.get("axis").map(String::as_str),
        Some("x")
    );
    assert_eq!(
        directions::from_state_dict(&model.layout, &back.state).unwrap(),
        d
    );
    // Names and PyTorch shapes are the checkpoint's own.
    let shapes: std::collections::BTreeMap<_, _> = model
        .layout
        .params
        .iter()
        .map(|p| (p.name.clone(), p.shape.clone()))
        .collect();
    let original = checkpoint::read_file(&fixtures().join("models/mae.safetensors"), None).unwrap();
    for (name, tensor) in &back.state.tensors {
        assert_eq!(&shapes[name], &tensor.shape, "{name}");
        assert_eq!(&original.state.tensors[name].shape, &tensor.shape, "{name}");
    }
}

/// Autodiff gradients against central differences of the loss along a direction: the training
/// pipeline and the curvature code both stand on them.
#[test]
fn gradients_match_central_differences() {
    for (name, mae) in [("cls_token", false), ("mae", true)] {
        let model = fixture_model(name);
        let mut d = directions::gaussian(&model.layout, 21, 0);
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
        let objective = if mae {
            Objective::Mae {
                mask_ratio: 0.75,
                norm_pix_loss: true,
                noise: vitscape::landscape::objective::MaskNoise::seeded(images.n, 16, 2),
            }
        } else {
            Objective::Classification
        };
        let ev = Evaluator::new(
            &Device::flex(),
            model.config,
            &model.theta,
            &[d.clone()],
            Default::default(),
            &images,
            objective,
            32,
            None,
        )
        .unwrap();
        let (value, grad) = ev.gradient(&model.theta).unwrap();
        let centre = ev.eval(&[0.0]).unwrap()["loss"];
        assert!(
            (value - centre).abs() < 1e-5 * centre,
            "{value} vs {centre}"
        );
        let analytic: f64 = grad
            .iter()
            .zip(&d)
            .map(|(g, v)| f64::from(*g) * f64::from(*v))
            .sum();
        let eps = 1e-3;
        let numeric =
            (ev.eval(&[eps]).unwrap()["loss"] - ev.eval(&[-eps]).unwrap()["loss"]) / (2.0 * eps);
        assert!(
            (analytic - numeric).abs() <= 0.02 * numeric.abs().max(1e-3),
            "{name}: autodiff {analytic} vs central difference {numeric}"
        );
    }
}
