//! From a `SweepSpec` and loaded inputs to a ready [`Evaluator`]: the model's architecture and
//! θ*, the directions (drawn, read or interpolated), the objective with its fixed masks, and the
//! facts every output records (direction cosine and norms, parameter count...). Target-neutral:
//! the CLI and the browser worker both call it with bytes they obtained their own way.

use burn::tensor::Device;

use crate::error::{ArchError, DirectionError, Error};
use crate::io::checkpoint::StateDict;
use crate::io::data::ImageSet;
use crate::landscape::directions::{self, Scope};
use crate::landscape::objective::{Evaluator, MaskNoise, Objective, Teacher};
use crate::landscape::surface::SurfaceInfo;
use crate::model::arch::VitConfig;
pub use crate::model::layout::Model;
use crate::model::upload_buffers;
use crate::spec::{DirectionSource, LossSpec, SweepSpec};

/// The facts every surface of a prepared run records (the CLI's and the worker's alike): the
/// directions' norms and cosine, a trajectory's path, the parameter count, the architecture and
/// the device. Fields a
/// surface already holds for other reasons (summaries, curvature) are kept.
pub fn record_facts(info: &mut SurfaceInfo, model: &Model, prepared: &Prepared, device: &str) {
    let d = &prepared.directions.info;
    info.theta_norm = d.theta_norm;
    info.direction_x_norm = d.direction_x_norm;
    info.direction_y_norm = d.direction_y_norm;
    info.direction_cosine = d.direction_cosine;
    info.trajectory.clone_from(&d.trajectory);
    info.parameters = Some(model.layout.total);
    info.architecture = Some(model.config);
    info.device = Some(device.to_string());
}

/// Inputs a sweep may need besides the centre model.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// RC-MAE teacher (fixed).
    pub teacher: Option<Model>,
    /// The other end of a path (linear interpolation or Bézier curve).
    pub target: Option<Model>,
    /// A Bézier curve's control point (every parameter, timm names), already parsed.
    pub bend: Option<StateDict>,
    /// Direction files (x, optional y), already parsed.
    pub direction_files: Option<(StateDict, Option<StateDict>)>,
}

/// Directions plus facts about them.
#[derive(Debug, Clone)]
pub struct Directions {
    /// One flat vector per axis.
    pub vectors: Vec<Vec<f32>>,
    /// Facts for `surface.info`: ‖θ*‖, the directions' norms and cosine.
    pub info: SurfaceInfo,
}

/// A direction file's vector; a Bézier curve's control point ([`crate::connect::is_bend_file`])
/// is refused by name: it is a point in parameter space, not a direction.
fn direction_of(
    layout: &crate::model::Layout,
    file: &StateDict,
    axis: &str,
) -> Result<Vec<f32>, DirectionError> {
    if crate::connect::is_bend_file(file) {
        return Err(DirectionError::Unusable(
            axis.into(),
            "the file is a Bézier curve's control point (bend.safetensors), not a direction: give it to --bend with --interpolate".into(),
        ));
    }
    directions::from_state_dict(layout, file)
}

/// Build the directions a spec asks for.
pub fn directions(spec: &SweepSpec, model: &Model, extras: &Extras) -> Result<Directions, Error> {
    let axes = if spec.grid.y.is_some() { 2 } else { 1 };
    let layout = &model.layout;
    let scope = Scope {
        include_rank1: spec.directions.include_rank1,
        include_pos_embed: spec.directions.include_pos_embed,
    };
    // The seeded Gaussian of an axis, normalised (axis 1 is y).
    let random = |seed: u64, axis: usize| {
        let mut d = directions::gaussian(layout, seed, axis as u64);
        directions::normalise(
            &mut d,
            &model.theta,
            layout,
            spec.directions.normalisation,
            scope,
        );
        d
    };
    let vectors: Vec<Vec<f32>> = match &spec.directions.source {
        DirectionSource::Random { seed } => (0..axes).map(|axis| random(*seed, axis)).collect(),
        DirectionSource::FileAndRandom { seed, .. } => {
            let (x, _) = extras.direction_files.as_ref().ok_or_else(|| {
                DirectionError::Unusable("x".into(), "no direction file was given".into())
            })?;
            let mut out = vec![direction_of(layout, x, "x")?];
            if axes == 2 {
                out.push(random(*seed, 1));
            }
            out
        }
        DirectionSource::Files { .. } => {
            let (x, y) = extras.direction_files.as_ref().ok_or_else(|| {
                DirectionError::Unusable("x".into(), "no direction file was given".into())
            })?;
            let mut out = vec![direction_of(layout, x, "x")?];
            if axes == 2 {
                let y = y.as_ref().ok_or_else(|| {
                    DirectionError::Unusable(
                        "y".into(),
                        "a 2-D sweep needs a second direction file".into(),
                    )
                })?;
                out.push(direction_of(layout, y, "y")?);
            }
            out
        }
        DirectionSource::Interpolate { .. } => {
            let target = path_target(model, extras)?;
            vec![directions::difference(&target.theta, &model.theta)]
        }
        DirectionSource::Bezier { .. } => {
            let target = path_target(model, extras)?;
            let bend = extras.bend.as_ref().ok_or_else(|| {
                DirectionError::Unusable("bend".into(), "no control point file was given".into())
            })?;
            let bend = directions::from_state_dict(layout, bend)?;
            let (first, second) = bezier_terms(&model.theta, &bend, &target.theta);
            vec![first, second]
        }
    };
    for (i, v) in vectors.iter().enumerate() {
        if v.iter().any(|x| !x.is_finite()) {
            return Err(DirectionError::Unusable(
                axis_name(i).into(),
                "holds NaN or infinity".into(),
            )
            .into());
        }
        if v.iter().all(|x| *x == 0.0) {
            return Err(DirectionError::Unusable(
                axis_name(i).into(),
                "is zero everywhere (nothing to perturb with these settings)".into(),
            )
            .into());
        }
    }
    let trajectory = match (&spec.directions.source, &extras.direction_files) {
        (DirectionSource::Files { .. }, Some((x, Some(y)))) if axes == 2 => {
            crate::trajectory::path_of(x, y)?
        }
        _ => None,
    };
    let info = SurfaceInfo {
        trajectory,
        theta_norm: Some(directions::l2_norm(&model.theta)),
        direction_x_norm: vectors.first().map(|v| directions::l2_norm(v)),
        direction_y_norm: vectors.get(1).map(|v| directions::l2_norm(v)),
        // A plane's two directions (not a Bézier curve's two terms).
        direction_cosine: (axes == 2).then(|| directions::cosine(&vectors[0], &vectors[1])),
        ..SurfaceInfo::default()
    };
    Ok(Directions { vectors, info })
}

/// The other end of a path, checked to be the same architecture as the centre.
fn path_target<'a>(model: &Model, extras: &'a Extras) -> Result<&'a Model, Error> {
    let target = extras.target.as_ref().ok_or_else(|| {
        DirectionError::Unusable("x".into(), "no target checkpoint was given".into())
    })?;
    if target.config != model.config {
        return Err(ArchError::Invalid(format!(
            "cannot join different architectures ({} vs {} parameters)",
            model.layout.total, target.layout.total
        ))
        .into());
    }
    Ok(target)
}

/// The quadratic Bézier curve (1−t)²θ₀ + 2t(1−t)θ_c + t²θ₁ written as θ₀ + t·d₁ + t²·d₂:
/// d₁ = 2(θ_c − θ₀), d₂ = θ₁ − 2θ_c + θ₀. A sweep's cell t evaluates the coefficients (t, t²)
/// ([`crate::landscape::sweep::coefficients`]).
pub fn bezier_terms(start: &[f32], bend: &[f32], end: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let first = bend.iter().zip(start).map(|(c, a)| 2.0 * (c - a)).collect();
    let second = end
        .iter()
        .zip(bend)
        .zip(start)
        .map(|((b, c), a)| b - 2.0 * c + a)
        .collect();
    (first, second)
}

fn axis_name(i: usize) -> &'static str {
    if i == 0 { "x" } else { "y" }
}

/// The objective a spec asks for, with masks drawn for `n` images.
pub fn objective(spec: &SweepSpec, config: &VitConfig, n: usize) -> Objective {
    match &spec.loss {
        LossSpec::Classification => Objective::Classification,
        LossSpec::Mae(m) => Objective::Mae {
            mask_ratio: m.mask_ratio,
            norm_pix_loss: m.norm_pix_loss,
            noise: MaskNoise::seeded(n, config.num_patches(), m.mask_seed),
        },
        LossSpec::RcMae { mask, gamma, .. } => Objective::RcMae {
            mask_ratio: mask.mask_ratio,
            norm_pix_loss: mask.norm_pix_loss,
            noise: MaskNoise::seeded(n, config.num_patches(), mask.mask_seed),
            gamma: f64::from(*gamma),
        },
    }
}

/// Everything a sweep needs, prepared.
pub struct Prepared {
    /// The evaluator (data, masks, targets on the device).
    pub evaluator: Evaluator,
    /// The directions used.
    pub directions: Directions,
}

/// Validate the spec, build directions and objective, and prepare the evaluator on `device`.
pub fn prepare(
    spec: &SweepSpec,
    model: &Model,
    extras: &Extras,
    images: &ImageSet,
    device: &Device,
) -> Result<Prepared, Error> {
    spec.validate()?;
    let directions = directions(spec, model, extras)?;
    let objective = objective(spec, &model.config, images.n);
    let teacher = extras.teacher.as_ref().map(|t| Teacher {
        config: t.config,
        theta: t.theta.clone(),
    });
    let buffers = upload_buffers(&model.config, &model.checkpoint.state, device)?;
    let evaluator = Evaluator::new(
        device,
        model.config,
        &model.theta,
        &directions.vectors,
        buffers,
        images,
        objective,
        spec.batch_size,
        teacher.as_ref(),
    )?;
    Ok(Prepared {
        evaluator,
        directions,
    })
}
