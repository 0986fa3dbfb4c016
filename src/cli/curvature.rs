//! `vitscape curvature`: Hessian eigenvalues, trace and spectral density at θ*, Li et al.'s
//! convexity map over a coarse grid, and Park & Kim's max-eigenvalue spectrum over mini-batches
//! (METHODS §5). Takes the same flags as `vitscape sweep` for the checkpoint, loss, data and
//! directions; writes `curvature.json` (spec, settings and every number) and figures.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pollster::block_on;
use serde::Serialize;

use vitscape::curvature::{
    self, CONVEX_RATIO, DEFAULT_CHECK_TARGET, DEFAULT_RELATIVE_STEP, DifferenceMethod,
    ExtremesMethod, Hessian, MaxEigenSpectrum, PowerSettings, ProductScheme, STEP_CHECK_LIMIT,
    SlqSettings, SpectralDensity, StepCheck,
};
use vitscape::landscape::sweep::{Control, Shard};
use vitscape::plot;
use vitscape::spec::SweepSpec;

use super::load::{Loaded, load};
use super::sweep::SweepArgs;

/// What to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// Top-k eigenvalues at θ* (power iteration with deflation).
    Top,
    /// Hutchinson's trace at θ*.
    Trace,
    /// Spectral density at θ* (stochastic Lanczos quadrature).
    Density,
    /// |λmin/λmax| over a coarse grid of the sweep's plane.
    Convexity,
    /// Top eigenvalue of each mini-batch loss.
    Spectrum,
}

/// Flags of `vitscape curvature`.
#[derive(Args, Debug)]
pub struct CurvatureArgs {
    /// Checkpoint, loss, data, directions, grid ranges, device and `--out`, as for `sweep`.
    #[command(flatten)]
    pub sweep: SweepArgs,
    /// Parts to compute.
    #[arg(long, value_enum, num_args = 1.., default_values = ["top", "trace"])]
    pub parts: Vec<Part>,
    /// Eigenvalues wanted by `top`.
    #[arg(long, default_value_t = 1)]
    pub top_k: usize,
    /// With `top`: write each eigenvector as a direction file, `eigenvector_1.safetensors` …
    /// (unit length, timm names; the sign makes its largest entry positive). `vitscape sweep
    /// --directions eigenvector_1.safetensors eigenvector_2.safetensors` sweeps the plane of the
    /// top two (files are used as they are: not normalised).
    #[arg(long)]
    pub save_eigenvectors: bool,
    /// Power-iteration steps per eigenvalue at most (PyHessian: 100); with `--extremes lanczos`,
    /// Lanczos steps per convexity-map cell at most.
    #[arg(long, default_value_t = 100)]
    pub max_iterations: usize,
    /// Power-iteration tolerance on |Δλ|/(|λ| + 1e-6) (PyHessian: 1e-3); with `--extremes
    /// lanczos`, on both extremes' last change relative to max(|λmin|, |λmax|).
    #[arg(long, default_value_t = 1e-3)]
    pub tolerance: f64,
    /// How the convexity map finds λmin and λmax at each cell: Lanczos (both from one Krylov
    /// space) or Li et al.'s two power iterations (λmax, then H − 0.51·λmax·I).
    #[arg(long, value_enum, default_value_t = ExtremesMethod::Lanczos)]
    pub extremes: ExtremesMethod,
    /// Rademacher samples for `trace`.
    #[arg(long, default_value_t = 100)]
    pub trace_samples: usize,
    /// Lanczos steps for `density` (PyHessian: 100).
    #[arg(long, default_value_t = 100)]
    pub lanczos_steps: usize,
    /// Independent Lanczos runs averaged by `density`.
    #[arg(long, default_value_t = 1)]
    pub lanczos_runs: usize,
    /// Points per axis of the convexity map (over the `--grid` ranges).
    #[arg(long, default_value_t = 11)]
    pub convexity_grid: usize,
    /// Images per mini-batch for `spectrum` (Park & Kim: 16).
    #[arg(long, default_value_t = 16)]
    pub spectrum_batch: usize,
    /// Seed of the random starting vectors.
    #[arg(long, default_value_t = 0)]
    pub curvature_seed: u64,
    /// How Hessian-vector products difference the gradients.
    #[arg(long, value_enum, default_value_t = DifferenceMethod::Richardson)]
    pub hvp_method: DifferenceMethod,
    /// First step of the differences relative to the weights: ε = STEP·‖θ‖/‖v‖ (Richardson also
    /// uses ε/2).
    #[arg(long, default_value_t = DEFAULT_RELATIVE_STEP)]
    pub hvp_step: f64,
    /// Richardson: halve the step while the step check (the half step's estimated relative error)
    /// exceeds this; 0 keeps the step fixed.
    #[arg(long, default_value_t = DEFAULT_CHECK_TARGET)]
    pub hvp_check_target: f64,
}

/// Everything `curvature.json` holds.
#[derive(Serialize)]
struct Report {
    spec: SweepSpec,
    parameters: usize,
    power: PowerSettings,
    /// How every Hessian-vector product was formed.
    hessian_vector_product: ProductScheme,
    /// How the gradients were taken, in words.
    gradients: &'static str,
    /// The products' run-time step check over all parts.
    step_check: StepCheck,
    parts: Vec<Part>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top: Option<Top>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace: Option<Trace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    density: Option<Density>,
    #[serde(skip_serializing_if = "Option::is_none")]
    convexity: Option<Convexity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spectrum: Option<Spectrum>,
}

#[derive(Serialize)]
struct Top {
    eigenvalues: Vec<f64>,
    iterations: Vec<usize>,
    converged: Vec<bool>,
    hessian_vector_products: usize,
    gradients: usize,
    /// The eigenvectors written as direction files (`--save-eigenvectors`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    eigenvector_files: Vec<vitscape::spec::FileRef>,
}

#[derive(Serialize)]
struct Trace {
    mean: f64,
    standard_error: f64,
    samples: usize,
    seed: u64,
}

#[derive(Serialize)]
struct Density {
    #[serde(flatten)]
    density: SpectralDensity,
    support: (f64, f64),
}

#[derive(Serialize)]
struct Convexity {
    grid: usize,
    /// Cells with |λmin/λmax| < 0.1 over all cells.
    convex_fraction: f64,
    convex_threshold: f64,
    /// The map itself (metrics loss, lambda_max, lambda_min, convexity) is `convexity/surface.json`.
    surface: String,
}

#[derive(Serialize)]
struct Spectrum {
    #[serde(flatten)]
    spectrum: MaxEigenSpectrum,
    histogram: Vec<(f64, f64, usize)>,
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!("{{bar:40}} {{pos}}/{{len}} {what}  ETA {{eta}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// `vitscape curvature`.
pub fn run(args: CurvatureArgs) -> Result<()> {
    // The convexity map splits by rows (each row is one chain of products, so whole rows keep
    // the single run's numbers); the other parts are one computation at θ*.
    let shard = if args.parts == [Part::Convexity] || args.sweep.sharding.shard.is_some() {
        args.sweep.sharding.resolve()?.map(Shard::by_rows)
    } else {
        if !args.sweep.sharding.no_shard
            && ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"]
                .iter()
                .any(|v| std::env::var_os(v).is_some())
        {
            eprintln!(
                "note: a scheduler's array variables are set, but only `--parts convexity` is \
                 split into shards; every part is computed here"
            );
        }
        None
    };
    if let Some(s) = shard
        && args.parts != [Part::Convexity]
    {
        anyhow::bail!(
            "shard {s}: only the convexity map is split into shards; run `--parts convexity` \
             alone (the other parts are one computation at θ*)"
        );
    }
    let out = args.sweep.out.clone();
    super::output_folder(&out)?;
    // One evaluator batch per mini-batch of the spectrum.
    let batch_size = args
        .parts
        .contains(&Part::Spectrum)
        .then(|| args.spectrum_batch.max(1));
    let Loaded {
        spec,
        model,
        prepared,
        ..
    } = load(&args.sweep, batch_size)?;
    if let (Some(s), None) = (shard, &spec.grid.y) {
        anyhow::bail!("shard {s}: a 1-D convexity map is one row; it is not split");
    }
    let evaluator = &prepared.evaluator;
    let power = PowerSettings {
        k: args.top_k.max(1),
        max_iterations: args.max_iterations.max(1),
        tolerance: args.tolerance,
        seed: args.curvature_seed,
        extremes: args.extremes,
    };
    if !(args.hvp_step.is_finite() && args.hvp_step > 0.0) {
        anyhow::bail!("--hvp-step {} must be a positive number", args.hvp_step);
    }
    if !(args.hvp_check_target.is_finite() && args.hvp_check_target >= 0.0) {
        anyhow::bail!(
            "--hvp-check-target {} must be 0 (fixed step) or a positive number",
            args.hvp_check_target
        );
    }
    let scheme = ProductScheme {
        method: args.hvp_method,
        relative_step: args.hvp_step,
        check_target: (args.hvp_check_target > 0.0).then_some(args.hvp_check_target),
    };
    eprintln!("Hessian-vector products: {scheme}");
    eprintln!("Gradients: {}", evaluator.gradient_engine());
    let mut check = StepCheck::default();
    let mut report = Report {
        spec: spec.clone(),
        parameters: model.layout.total,
        power,
        hessian_vector_product: scheme,
        gradients: evaluator.gradient_engine(),
        step_check: StepCheck::default(),
        parts: args.parts.clone(),
        top: None,
        trace: None,
        density: None,
        convexity: None,
        spectrum: None,
    };
    let theta = model.theta.clone();
    if args.parts.contains(&Part::Top) {
        let mut h = Hessian::with_scheme(evaluator, theta.clone(), scheme);
        let found = block_on(curvature::top_eigenvalues(&mut h, power))?;
        for (i, e) in found.iter().enumerate() {
            eprintln!(
                "λ{} = {:.6e} ({} iterations{})",
                i + 1,
                e.value,
                e.iterations,
                if e.converged { "" } else { ", NOT converged" }
            );
        }
        let eigenvector_files = if args.save_eigenvectors {
            save_eigenvectors(&out, &spec, &model, &found, power, scheme)?
        } else {
            Vec::new()
        };
        report.top = Some(Top {
            eigenvalues: found.iter().map(|e| e.value).collect(),
            iterations: found.iter().map(|e| e.iterations).collect(),
            converged: found.iter().map(|e| e.converged).collect(),
            hessian_vector_products: h.products.check.products,
            gradients: h.products.check.gradients,
            eigenvector_files,
        });
        check.add(&h.products.check);
    }
    if args.parts.contains(&Part::Trace) {
        let mut h = Hessian::with_scheme(evaluator, theta.clone(), scheme);
        let (mean, se, samples) = block_on(curvature::hutchinson_trace(
            &mut h,
            args.trace_samples,
            args.curvature_seed,
        ))?;
        eprintln!("trace = {mean:.6e} ± {se:.2e} (standard error, {samples} Rademacher samples)");
        check.add(&h.products.check);
        report.trace = Some(Trace {
            mean,
            standard_error: se,
            samples,
            seed: args.curvature_seed,
        });
    }
    if args.parts.contains(&Part::Density) {
        let mut h = Hessian::with_scheme(evaluator, theta.clone(), scheme);
        let density = block_on(curvature::spectral_density(
            &mut h,
            SlqSettings {
                steps: args.lanczos_steps,
                runs: args.lanczos_runs,
                seed: args.curvature_seed,
            },
        ))?;
        check.add(&h.products.check);
        let support = density.support();
        eprintln!(
            "spectral density: support [{:.4e}, {:.4e}] ({} nodes)",
            support.0,
            support.1,
            density.nodes.len()
        );
        report.density = Some(Density { density, support });
    }
    if args.parts.contains(&Part::Convexity) {
        let (map, map_check) = convexity(
            &out,
            &spec,
            &model.theta,
            &prepared,
            args.convexity_grid,
            (power, scheme),
            // Rows of the map on one thread per core (each row is one chain of products).
            args.sweep.threads.map_or_else(
                || super::sweep::default_threads(args.sweep.device),
                usize::from,
            ),
            MapRun {
                shard,
                resume: args.sweep.resume,
                save_every: args.sweep.save_every,
                plots: args.sweep.plots,
            },
        )?;
        check.add(&map_check);
        if map.is_none() {
            return Ok(()); // a shard writes its part of the map, nothing else
        }
        report.convexity = map;
    }
    if args.parts.contains(&Part::Spectrum) {
        let batches = evaluator.minibatches().len();
        let pb = bar(batches, "mini-batches");
        let (spectrum, spectrum_check) = block_on(curvature::max_eigen_spectrum(
            evaluator,
            &theta,
            args.spectrum_batch,
            power,
            scheme,
            &mut |done, _| pb.set_position(done as u64),
        ))?;
        pb.finish();
        check.add(&spectrum_check);
        eprintln!(
            "max-eigenvalue spectrum ({} mini-batches of {}): fraction negative {:.3}, mean positive {}",
            spectrum.values.len(),
            spectrum.batch_size,
            spectrum.fraction_negative,
            spectrum
                .mean_positive
                .map(|m| format!("{m:.4e}"))
                .unwrap_or_else(|| "none positive".into())
        );
        let histogram = spectrum.histogram(20);
        if !args.sweep.plots.no_plots {
            plot::write_histogram(
                &histogram,
                &format!(
                    "Max-eigenvalue spectrum — {} mini-batches of {} (fraction negative {:.2})",
                    spectrum.values.len(),
                    spectrum.batch_size,
                    spectrum.fraction_negative
                ),
                "top Hessian eigenvalue of the mini-batch loss",
                &out,
                "spectrum",
            )?;
        }
        report.spectrum = Some(Spectrum {
            spectrum,
            histogram,
        });
    }
    if let Some(worst) = check.max_relative_truncation {
        eprintln!(
            "step check: {} products, {} gradients, relative steps down to {:.1e}; the half step's \
             estimated relative truncation error is at most {worst:.1e}",
            check.products,
            check.gradients,
            check.min_relative_step.unwrap_or(scheme.relative_step)
        );
        if worst > STEP_CHECK_LIMIT {
            eprintln!(
                "warning: that is above {STEP_CHECK_LIMIT:e}, so some products may be off by more \
                 than 0.5 %: halving the step did not bring the check down, so along some \
                 direction the loss is too rough for f32 differences or its curvature is so small \
                 that round-off dominates (try more images, or --hvp-step {:e})",
                scheme.relative_step * 4.0
            );
        }
    }
    report.step_check = check;
    let path = out.join("curvature.json");
    super::sweep::save_json(&path, &report)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// How a convexity map is run and written.
#[derive(Debug, Clone, Copy)]
struct MapRun {
    /// The rows of one shard, or the whole map.
    shard: Option<Shard>,
    /// Continue `convexity/surface.json` in `--out`.
    resume: bool,
    /// Seconds between saves of the partial map.
    save_every: f64,
    plots: super::plots::PlotFlags,
}

#[allow(clippy::too_many_arguments)]
fn convexity(
    out: &Path,
    spec: &SweepSpec,
    theta: &[f32],
    prepared: &vitscape::landscape::setup::Prepared,
    grid: usize,
    (power, scheme): (PowerSettings, ProductScheme),
    threads: usize,
    run: MapRun,
) -> Result<(Option<Convexity>, StepCheck)> {
    let MapRun {
        shard,
        resume,
        save_every,
        plots,
    } = run;
    let n = grid.max(2);
    let names = prepared.evaluator.objective().metric_names();
    let mut surface = curvature::convexity_surface(spec, &names, n);
    surface.info.shard = shard;
    let dir = out.join("convexity");
    super::output_folder(&dir)?;
    let path = dir.join("surface.json");
    if resume && path.is_file() {
        let text = std::fs::read_to_string(&path)?;
        let previous: vitscape::landscape::surface::Surface = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a vitscape surface", path.display()))?;
        vitscape::landscape::sweep::check_resumable(&previous, &surface.spec)?;
        if previous.info.shard != shard {
            anyhow::bail!(
                "{} holds {}, not {}: resume each shard in its own --out",
                path.display(),
                previous
                    .info
                    .shard
                    .map_or("the whole map".into(), |s| format!("shard {s}")),
                shard.map_or("the whole map".into(), |s| format!("shard {s}"))
            );
        }
        // The products' scheme and the power iterations are not in the spec: a map continues
        // only with the ones its cells were computed with.
        let power_now = PowerSettings { k: 1, ..power };
        if previous
            .info
            .hessian_vector_product
            .is_some_and(|p| p != scheme)
            || previous
                .info
                .power_iteration
                .is_some_and(|p| p != power_now)
        {
            anyhow::bail!(
                "{} was computed with other Hessian-product or eigenvalue settings (--hvp-method, \
                 --hvp-step, --hvp-check-target, --max-iterations, --tolerance, --extremes): resume \
                 it with the same flags, or choose another --out",
                path.display()
            );
        }
        // Each row is one chain of products: a row cut short is computed again from its start,
        // so a resumed map has the uninterrupted map's numbers. Its step check goes on from the
        // products the stopped runs formed (those of rows cut short included).
        surface.metrics = previous.metrics;
        surface.info.hessian_vector_product = previous.info.hessian_vector_product;
        surface.info.step_check = previous.info.step_check;
        let nx = surface.x.len();
        for iy in 0..surface.y.len() {
            let done = (0..nx)
                .filter(|&ix| {
                    vitscape::landscape::sweep::is_done(
                        &surface,
                        vitscape::landscape::surface::Cell { ix, iy },
                    )
                })
                .count();
            if done < nx {
                for grid in surface.metrics.values_mut() {
                    if let Some(row) = grid.get_mut(iy) {
                        row.iter_mut().for_each(|v| *v = None);
                    }
                }
            }
        }
        eprintln!(
            "resuming {}: {} of {} cells in complete rows kept",
            path.display(),
            surface.progress().0,
            surface.progress().1
        );
    }
    // Facts every part records, even one with no rows to compute (so parts always merge).
    surface.info.power_iteration = Some(PowerSettings { k: 1, ..power });
    if surface.info.hessian_vector_product.is_none() {
        curvature::record_products(&mut surface, scheme, &StepCheck::default());
    }
    let (_, total) = surface.progress();
    let pb = bar(total, "cells");
    pb.set_position(surface.progress().0 as u64);
    let mut last_save = std::time::Instant::now();
    let mut save_error = None;
    let check = curvature::convexity_map_threads(
        &prepared.evaluator,
        theta,
        &prepared.directions.vectors,
        &mut surface,
        PowerSettings { k: 1, ..power },
        scheme,
        threads,
        &mut |s, _| {
            pb.set_position(s.progress().0 as u64);
            // Saved as it goes, so a killed shard resumes (--resume).
            if last_save.elapsed().as_secs_f64() >= save_every {
                if let Err(e) = super::sweep::save_json(&path, s) {
                    save_error = Some(e);
                    return Control::Cancel;
                }
                last_save = std::time::Instant::now();
            }
            Control::Continue
        },
    );
    if let Some(e) = save_error {
        return Err(e);
    }
    let check = check?;
    pb.finish();
    surface.info.power_iteration = Some(PowerSettings { k: 1, ..power });
    if let Some(shard) = shard {
        // A part: its rows only; the merge computes the fraction and draws the map.
        super::sweep::save_json(&dir.join("surface.json"), &surface)?;
        eprintln!(
            "wrote {} (convexity map shard {shard}: {} of {} rows); join the parts with `vitscape merge --out DIR PART/convexity…`",
            dir.display(),
            (0..n).filter(|iy| shard.has_row(*iy)).count(),
            n
        );
        return Ok((None, check));
    }
    let convex_fraction = curvature::convex_fraction(&surface).map_or(0.0, |c| c.fraction);
    surface.info.convex_fraction = curvature::convex_fraction(&surface);
    super::sweep::save_json(&dir.join("surface.json"), &surface)?;
    if !plots.no_plots && surface.y.len() > 1 {
        plot::write_convexity(&surface, &dir, &plots.options())?;
    }
    eprintln!(
        "convexity map ({n}×{n}): {:.3} of cells have |λmin/λmax| < {CONVEX_RATIO}",
        convex_fraction
    );
    Ok((
        Some(Convexity {
            grid: n,
            convex_fraction,
            convex_threshold: CONVEX_RATIO,
            surface: "convexity/surface.json".into(),
        }),
        check,
    ))
}

/// Write each eigenvector as a direction file in `out` (`eigenvector_K.safetensors`), with the
/// eigenvalue, the solver's settings and the spec in its metadata.
fn save_eigenvectors(
    out: &Path,
    spec: &SweepSpec,
    model: &vitscape::model::layout::Model,
    found: &[curvature::Eigen],
    power: PowerSettings,
    scheme: ProductScheme,
) -> Result<Vec<vitscape::spec::FileRef>> {
    let written = curvature::eigenvector_files(
        &model.layout,
        &model.checkpoint.sha256,
        spec,
        found,
        power,
        scheme,
    )?;
    let mut files = Vec::new();
    for ((name, bytes), e) in written.into_iter().zip(found) {
        let path = out.join(&name);
        // The error names the file.
        vitscape::io::atomic::write(&path, &bytes)?;
        eprintln!(
            "wrote {} (λ{} = {:.6e})",
            path.display(),
            files.len() + 1,
            e.value
        );
        files.push(vitscape::spec::FileRef::of_bytes(name, &bytes));
    }
    Ok(files)
}
