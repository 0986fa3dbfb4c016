//! The verdict's sweeps and convexity maps, natively on burn `flex`.

use super::{
    ConvexitySettings, DemoFiles, DemoPanel, MAP_FAMILIES, MapSummary, ModelSummaries,
    TAU_RELATIVE, demo_data, summarise_relative,
};
use crate::spec::{LossChoice, Settings};

/// Sweep one trained model for each direction seed (native, burn `flex`, one thread per core)
/// and summarise each surface with τ = [`TAU_RELATIVE`] × L(0); with `convexity`, also the
/// convexity map of each of its seeds' planes for the families [`MAP_FAMILIES`]. `settings`
/// gives everything but the seed. `on_seed` is told after each seed.
pub fn panel_summaries(
    files: &DemoFiles<'_>,
    panel: &DemoPanel,
    checkpoint: &[u8],
    settings: &Settings,
    seeds: &[u64],
    convexity: Option<&ConvexitySettings>,
    on_seed: &mut dyn FnMut(u64),
) -> Result<ModelSummaries, crate::error::Error> {
    use crate::landscape::job::{self, DataInput};
    use crate::landscape::setup::Extras;
    use crate::landscape::sweep::{self, Control};
    use crate::model::arch::HeadCounts;
    use crate::spec::Branch;

    let rcmae = panel.loss == LossChoice::Rcmae;
    let branch = rcmae.then_some(Branch::Student);
    let model = job::load_model(checkpoint, branch, HeadCounts::default())?;
    let teacher = if rcmae {
        Some(job::load_model(
            checkpoint,
            Some(Branch::Teacher),
            HeadCounts::default(),
        )?)
    } else {
        None
    };
    let data = demo_data(&files.manifest.eval_subset, settings.eval_images)?;
    let device = burn::tensor::Device::flex();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut summaries = Vec::with_capacity(seeds.len());
    let mut specs = Vec::with_capacity(seeds.len());
    let mut convexity_maps = Vec::new();
    for &seed in seeds {
        let settings = Settings {
            seed,
            ..settings.clone()
        };
        let spec = settings.spec(crate::spec::Inputs {
            checkpoint: model.reference(&panel.file),
            loss: panel.loss,
            teacher: teacher.as_ref().map(|t| t.reference(&panel.file)),
            data: data.clone(),
            directions: None,
        })?;
        let images = job::load_images(
            &spec,
            &model.config,
            DataInput::DemoSubset {
                images_gz: files.images_gz,
                labels_gz: files.labels_gz,
                subset: &files.manifest.eval_subset,
            },
        )?;
        let extras = Extras {
            teacher: teacher.clone(),
            ..Extras::default()
        };
        let mut started = job::start(&spec, &model, &extras, &images, &device, "flex")?;
        let order = sweep::row_major(started.surface.x.len(), started.surface.y.len());
        // One thread per core, each on its own cells (the values do not depend on it).
        sweep::run_threads(
            &started.prepared.evaluator,
            &mut started.surface,
            &order,
            sweep::Pace::cells(1),
            threads,
            &mut |_, _| Control::Continue,
        )?;
        let summary = summarise_relative(&started.surface, TAU_RELATIVE).map_err(|e| {
            crate::error::Error::Backend(format!("{} (seed {seed}): {e}", panel.name))
        })?;
        if let Some(c) = convexity
            .filter(|c| c.seeds.contains(&seed) && MAP_FAMILIES.contains(&panel.family.as_str()))
        {
            convexity_maps.push(convexity_map(
                &started.prepared,
                &model.theta,
                (&spec, seed),
                c,
                threads,
            )?);
        }
        summaries.push(summary);
        specs.push(spec);
        on_seed(seed);
    }
    Ok(ModelSummaries {
        name: panel.name.clone(),
        family: panel.family.clone(),
        loss: panel.loss,
        training_seed: panel.training_seed,
        summaries,
        specs,
        convexity_maps,
    })
}

/// Li et al.'s convexity map over the sweep's plane, as `vitscape curvature --parts convexity`
/// computes it, summarised.
fn convexity_map(
    prepared: &crate::landscape::setup::Prepared,
    theta: &[f32],
    (spec, seed): (&crate::spec::SweepSpec, u64),
    c: &ConvexitySettings,
    threads: usize,
) -> Result<MapSummary, crate::error::Error> {
    use crate::curvature::{self, PowerSettings};
    use crate::landscape::sweep::Control;

    let names = prepared.evaluator.objective().metric_names();
    let mut map = curvature::convexity_surface(spec, &names, c.grid);
    let mut converged_cells = 0;
    let mut products = 0;
    curvature::convexity_map_threads(
        &prepared.evaluator,
        theta,
        &prepared.directions.vectors,
        &mut map,
        PowerSettings { k: 1, ..c.power },
        c.scheme,
        threads,
        &mut |_, ex| {
            converged_cells += usize::from(ex.converged);
            products += ex.products;
            Control::Continue
        },
    )?;
    let fraction = curvature::convex_fraction(&map).ok_or_else(|| {
        crate::error::Error::Backend("the convexity map has no convexity metric".into())
    })?;
    Ok(MapSummary {
        seed,
        convex_fraction: fraction.fraction,
        cells: map.x.len() * map.y.len(),
        converged_cells,
        products,
    })
}
