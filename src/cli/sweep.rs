//! `vitscape sweep` and `vitscape inspect`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use vitscape::io::data::DEBIAN_FASHION_MNIST;
use vitscape::landscape::job;
use vitscape::landscape::objective::{Objective, write_eval_data};
use vitscape::landscape::surface::Surface;
use vitscape::landscape::sweep::{self, Control, Pace, Shard};
use vitscape::metrics::Tau;
use vitscape::model::arch::HeadCounts;
use vitscape::plot;
use vitscape::spec::{Branch, LossChoice, Normalisation, Split};

use super::DeviceChoice;
use super::load::{Loaded, load, load_model};
use super::plots::PlotFlags;

/// Flags of `vitscape sweep` (and `vitscape curvature`): either `--spec`, or the flags that
/// define a landscape; either way the spec is stored with every output.
#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Recompute the spec of an earlier output instead of reading the landscape flags: a
    /// surface.json, curvature.json, verdict.json or spec file, inline spec JSON, or a permalink
    /// copied from the page.
    #[arg(long, conflicts_with = "spec-flags")]
    pub spec: Option<String>,
    /// With --spec, which of several specs (a verdict's or a permalink's): its label or its
    /// position from 1.
    #[arg(long, requires = "spec")]
    pub panel: Option<String>,
    /// With --spec, folders searched for the files it names, by sha256 (the spec file's own
    /// folder is searched first).
    #[arg(long, requires = "spec")]
    pub search: Vec<PathBuf>,
    /// The landscape, when there is no --spec.
    #[command(flatten)]
    pub flags: SpecFlags,
    /// Compute device.
    #[arg(long, value_enum, default_value = "flex")]
    pub device: DeviceChoice,
    /// Grid cells evaluated together in one forward pass (default: 1 on the CPU backends, where
    /// batching cells is no faster, and 8 on wgpu).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub cells_per_forward: Option<u16>,
    /// Threads computing cells at once, each on its own chunk (default: one per core on the
    /// CPU backends, 1 on wgpu). Every cell's value is the same whatever the count.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Which shard of the cells this process computes.
    #[command(flatten)]
    pub sharding: ShardFlags,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue a partial `surface.json` in `--out` (same settings required).
    #[arg(long)]
    pub resume: bool,
    /// Seconds between saves of the partial result while computing (what a killed run resumes
    /// from); 0 saves after every batch of cells.
    #[arg(long, default_value_t = 5.0, value_parser = parse_seconds)]
    pub save_every: f64,
    /// Also write the evaluated images, labels and masks as `eval_data.safetensors`.
    #[arg(long)]
    pub export_data: bool,
    #[command(flatten)]
    pub plots: PlotFlags,
    /// Threshold τ above the centre loss for the basin summaries in `surface.json`, in loss
    /// units (default: --tau-relative).
    #[arg(long, conflicts_with = "tau_relative")]
    pub tau: Option<f64>,
    /// τ as a fraction of the surface's own |L(0)|, as the page and the demo verdict use it.
    #[arg(long, default_value_t = vitscape::demo::verdict::TAU_RELATIVE)]
    pub tau_relative: f64,
}

/// Which shard of the work this process computes: `vitscape sweep` and `vitscape curvature
/// --parts convexity` (joined by `vitscape merge`), and `vitscape verdict` (joined by
/// `vitscape verdict --merge`).
#[derive(Args, Debug, Clone, Copy)]
pub struct ShardFlags {
    /// Compute only shard K of N (from 0) into --out: every N-th cell of a sweep in
    /// coarse-to-fine order, every N-th row of a convexity map, every N-th sweep of a verdict
    /// (mode × model × seed). Default: the shard a scheduler gives (SLURM_ARRAY_TASK_ID of
    /// SLURM_ARRAY_TASK_COUNT; JOB_COMPLETION_INDEX with --shards), said on stderr.
    #[arg(long, value_parser = parse_shard, conflicts_with = "shards")]
    pub shard: Option<Shard>,
    /// How many shards, when the index comes from SLURM_ARRAY_TASK_ID or Kubernetes'
    /// JOB_COMPLETION_INDEX.
    #[arg(long)]
    pub shards: Option<usize>,
    /// Compute everything here even inside a Slurm array or a Kubernetes indexed Job (whose
    /// variables would otherwise pick a shard).
    #[arg(long, conflicts_with_all = ["shard", "shards"])]
    pub no_shard: bool,
}

/// The flags that define a landscape; every one ends up in the `SweepSpec`.
#[derive(Args, Debug)]
#[group(id = "spec-flags", multiple = true)]
pub struct SpecFlags {
    /// Checkpoint (.safetensors) with timm / MAE / RC-MAE names.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// For files holding `student.*` and `teacher.*`: which one to use.
    #[arg(long, value_enum)]
    pub branch: Option<Branch>,
    /// Encoder attention heads (default: checkpoint metadata `num_heads`, else timm's head dim 64
    /// — assumed with a warning and recorded in the spec as `heads_assumed`; refused when 64 does
    /// not divide the width).
    #[arg(long)]
    pub heads: Option<usize>,
    /// Decoder attention heads (default: metadata `decoder_num_heads`, else decoder dim / 32,
    /// assumed likewise).
    #[arg(long)]
    pub decoder_heads: Option<usize>,
    /// `fashion-mnist`, or a folder of images (class sub-folders for labels).
    #[arg(long, default_value = "fashion-mnist")]
    pub data: String,
    /// Where the Fashion-MNIST `.gz` files are.
    #[arg(long, default_value = DEBIAN_FASHION_MNIST)]
    pub data_dir: PathBuf,
    /// Fashion-MNIST split.
    #[arg(long, value_enum, default_value = "test")]
    pub split: Split,
    /// Images evaluated at every cell.
    #[arg(long, default_value_t = 512)]
    pub eval_images: usize,
    /// Seed of the deterministic eval subset.
    #[arg(long, default_value_t = 0)]
    pub subset_seed: u64,
    /// Normalisation mean: a preset (imagenet, fashion-mnist, inception, clip) or numbers per
    /// channel, comma-separated (one value is used for every channel). Default: fashion-mnist
    /// for 1-channel models, imagenet for 3 — said on stderr and recorded in the spec.
    #[arg(long)]
    pub mean: Option<String>,
    /// Normalisation std: numbers per channel (with numeric --mean), or the preset's name.
    #[arg(long)]
    pub std: Option<String>,
    /// Resize image files so that their shorter side is N pixels, keeping the aspect ratio
    /// (timm's eval pipeline: --resize 248 --crop 224 for a 224 model).
    #[arg(long, value_name = "N")]
    pub resize: Option<usize>,
    /// Centre crop image files to N×N (after --resize).
    #[arg(long, value_name = "N")]
    pub crop: Option<usize>,
    /// Filter for --resize.
    #[arg(long, value_enum, default_value = "bicubic")]
    pub interpolation: vitscape::io::data::Interpolation,
    /// The objective.
    #[arg(long, value_enum, default_value = "classification")]
    pub loss: LossChoice,
    /// MAE mask ratio.
    #[arg(long, default_value_t = 0.75)]
    pub mask_ratio: f64,
    /// Use raw pixel targets instead of per-patch normalised ones.
    #[arg(long)]
    pub no_norm_pix: bool,
    /// Seed of the fixed per-image masks.
    #[arg(long, default_value_t = 0)]
    pub mask_seed: u64,
    /// RC-MAE teacher checkpoint (fixed during the sweep).
    #[arg(long)]
    pub teacher: Option<PathBuf>,
    /// Weight of the RC-MAE consistency term.
    #[arg(long, default_value_t = 1.0)]
    pub gamma: f32,
    /// Grid axes MIN:MAX:N — one for a 1-D sweep, two (α then β) for 2-D.
    #[arg(long, num_args = 1, action = clap::ArgAction::Append, allow_hyphen_values = true, default_values = ["-1:1:21", "-1:1:21"])]
    pub grid: Vec<String>,
    /// Seed of the random directions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Direction normalisation.
    #[arg(long, value_enum, default_value = "filter")]
    pub normalisation: Normalisation,
    /// Also perturb rank-1 tensors (biases, LayerNorm); zeroed by default.
    #[arg(long)]
    pub include_rank1: bool,
    /// Also perturb `pos_embed` / `decoder_pos_embed`; zeroed by default.
    #[arg(long)]
    pub include_pos_embed: bool,
    /// Reuse directions from safetensors files (x, then y for 2-D).
    #[arg(long, num_args = 1..=2)]
    pub directions: Vec<PathBuf>,
    /// Interpolate towards this checkpoint: d = θ_target − θ* (1-D; default grid -0.5:1.5:41).
    #[arg(long)]
    pub interpolate: Option<PathBuf>,
    /// With --interpolate: bend the path into Garipov et al.'s quadratic Bézier curve through this
    /// control point (a `bend.safetensors` from `vitscape connect`); t = α runs from θ* (0) to the
    /// target (1).
    #[arg(long, requires = "interpolate")]
    pub bend: Option<PathBuf>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
}

/// Flags of `vitscape inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Checkpoint file.
    pub checkpoint: PathBuf,
    /// Branch of an RC-MAE file.
    #[arg(long, value_enum)]
    pub branch: Option<Branch>,
    /// Encoder heads.
    #[arg(long)]
    pub heads: Option<usize>,
    /// Decoder heads.
    #[arg(long)]
    pub decoder_heads: Option<usize>,
}

/// `vitscape inspect`.
pub fn inspect(args: InspectArgs) -> Result<()> {
    let heads = HeadCounts {
        encoder: args.heads,
        decoder: args.decoder_heads,
    };
    let model = load_model(&args.checkpoint, args.branch, heads)?;
    let report = serde_json::json!({
        "file": args.checkpoint.display().to_string(),
        "sha256": model.checkpoint.sha256,
        "branch": model.checkpoint.branch,
        "architecture": model.config,
        "parameters": model.layout.total,
        "tensors": model.layout.params.iter().map(|p| format!("{} {:?}", p.name, p.shape)).collect::<Vec<_>>(),
        "skipped": model.checkpoint.skipped,
        "metadata": model.checkpoint.state.metadata,
        "heads_assumed": model.heads_assumed,
        "source": model.checkpoint.source,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    // Whole or not at all: a full disk or a kill leaves the previous file.
    Ok(vitscape::io::atomic::write(path, bytes)?)
}

/// Write `value` as JSON to a temporary file renamed over `path` ([`vitscape::io::atomic`]): a
/// process killed mid-write leaves the last complete file, never a truncated one.
pub(crate) fn save_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    write(path, serde_json::to_string_pretty(value)?.as_bytes())
}

/// Save the surface and its CSV atomically (write then rename), so an interrupted run never
/// leaves a truncated `surface.json`.
fn save_surface(out: &Path, surface: &Surface) -> Result<()> {
    let mut surface = surface.clone();
    if let Some(clock) = surface.info.clock.as_mut() {
        clock.saved = unix_now();
    }
    save_json(&out.join("surface.json"), &surface)?;
    write(&out.join("surface.csv"), surface.to_csv().as_bytes())
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A number of seconds ≥ 0.
fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("`{text}` is not a number of seconds ≥ 0")),
    }
}

pub(crate) fn parse_shard(text: &str) -> Result<Shard, String> {
    Shard::parse(text).map_err(|e| e.to_string())
}

impl ShardFlags {
    /// `--shard`, else (unless `--no-shard`) the scheduler's variables with `--shards`, said on
    /// stderr with how to opt out.
    pub(crate) fn resolve(&self) -> Result<Option<Shard>> {
        let (shard, shards, no_shard) = (self.shard, self.shards, self.no_shard);
        if let Some(shard) = shard {
            return Ok(Some(shard));
        }
        if no_shard {
            return Ok(None);
        }
        match Shard::from_env(|k| std::env::var(k).ok(), shards)? {
            Some((shard, why)) => {
                eprintln!("shard {shard} ({why}; --no-shard computes everything here)");
                Ok(Some(shard))
            }
            None if shards.is_some() => bail!(
                "--shards gives the count, not which shard this is: give --shard K/N, or run it as a \
             Slurm array task (SLURM_ARRAY_TASK_ID) or a Kubernetes indexed Job (JOB_COMPLETION_INDEX)"
            ),
            None => Ok(None),
        }
    }
}

/// τ of the basin summaries: `--tau` in loss units, else `--tau-relative` × |L(0)|.
pub(crate) fn tau_of(tau: Option<f64>, tau_relative: f64) -> Tau {
    match tau {
        Some(t) => Tau::Absolute(t),
        None => Tau::Relative(tau_relative),
    }
}

/// `vitscape sweep`.
pub fn run(args: SweepArgs) -> Result<()> {
    let Loaded {
        spec,
        model,
        images,
        prepared,
        ..
    } = load(&args, None)?;
    super::output_folder(&args.out)?;
    let shard = args.sharding.resolve()?;
    let surface_path = args.out.join("surface.json");
    let previous = if surface_path.exists() {
        if !args.resume {
            bail!(
                "{} already exists; pass --resume to continue it or choose another --out",
                surface_path.display()
            );
        }
        let text = std::fs::read_to_string(&surface_path)?;
        let previous: Surface = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a vitscape surface", surface_path.display()))?;
        sweep::check_resumable(&previous, &spec)?;
        if previous.info.shard != shard {
            let name =
                |s: Option<Shard>| s.map_or("the whole grid".to_string(), |s| format!("shard {s}"));
            bail!(
                "{} holds {}, not {}: resume each shard in its own --out",
                surface_path.display(),
                name(previous.info.shard),
                name(shard)
            );
        }
        Some(previous)
    } else {
        None
    };

    let evaluator = &prepared.evaluator;

    // Directions and masks first: they define the plane, whatever happens to the sweep.
    for (name, bytes) in job::direction_files(&spec, &model, &prepared)? {
        write(&args.out.join(name), &bytes)?;
    }
    if let Some(bytes) = job::mask_file(evaluator.objective())? {
        write(&args.out.join("masks.safetensors"), &bytes)?;
    }
    let noise = match evaluator.objective() {
        Objective::Mae { noise, .. } | Objective::RcMae { noise, .. } => Some(noise),
        Objective::Classification => None,
    };
    if args.export_data {
        write(
            &args.out.join("eval_data.safetensors"),
            &write_eval_data(&images, noise)?,
        )?;
    }

    let mut surface = match previous {
        Some(mut s) => {
            s.spec = spec.clone();
            s
        }
        None => Surface::empty(spec.clone(), &evaluator.objective().metric_names()),
    };
    let device = format!("{:?}", args.device).to_lowercase();
    vitscape::landscape::setup::record_facts(&mut surface.info, &model, &prepared, &device);
    if let Some(c) = surface.info.direction_cosine {
        eprintln!("cosine(direction x, direction y) = {c}");
    }
    if let Some(path) = &surface.info.trajectory {
        let [px, py] = path.explained_variance_ratio;
        eprintln!(
            "training path: {} checkpoints, drawn over the contours (the directions explain {:.1} % + {:.1} % of the run's variance)",
            path.points.len(),
            px * 100.0,
            py * 100.0
        );
        let outside = plot::path_points_outside(&surface, path);
        if outside > 0 {
            eprintln!(
                "warning: {outside} of the path's {} checkpoints lie outside the grid and are not drawn; widen --grid to see them",
                path.points.len()
            );
        }
    }

    let (nx, ny) = (surface.x.len(), surface.y.len());
    let order = match shard {
        Some(s) => s.cells(nx, ny),
        None => sweep::row_major(nx, ny),
    };
    let (done, _) = surface.progress();
    let total = order.len();
    surface.info.shard = shard;
    surface.info.clock = Some(vitscape::landscape::surface::Clock {
        started: unix_now(),
        cells_at_start: done,
        saved: unix_now(),
    });
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} cells  {per_sec}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(done as u64);
    bar.reset_eta();
    let mut last_save = std::time::Instant::now();
    let mut save_error = None;
    let wanted = match (args.cells_per_forward, args.device) {
        (Some(k), _) => usize::from(k),
        (None, DeviceChoice::Wgpu) => sweep::GPU_CELLS_PER_FORWARD,
        (None, _) => 1,
    };
    let pace = Pace::cells(evaluator.points_per_forward(wanted, sweep::MAX_WEIGHT_VALUES));
    let threads = args
        .threads
        .map_or_else(|| default_threads(args.device), usize::from);
    if threads > 1 {
        eprintln!(
            "computing cells on {threads} threads{}",
            if args.threads.is_none() {
                " (one per core; --threads sets it)"
            } else {
                ""
            }
        );
    }
    let result = sweep::run_threads(
        evaluator,
        &mut surface,
        &order,
        pace,
        threads,
        &mut |s, p| {
            bar.set_position(p.done as u64);
            if let Some(loss) = p.values.get("loss") {
                bar.set_message(format!("loss {loss:.4}"));
            }
            if last_save.elapsed().as_secs_f64() >= args.save_every {
                if let Err(e) = save_surface(&args.out, s) {
                    save_error = Some(e);
                    return Control::Cancel;
                }
                last_save = std::time::Instant::now();
            }
            Control::Continue
        },
    );
    bar.finish();
    let tau = tau_of(args.tau, args.tau_relative);
    // A shard's cells are scattered over the plane: summaries and figures come with the merge.
    let summary = (result.is_ok() && shard.is_none())
        .then(|| vitscape::metrics::summarise(&surface, "loss", tau, 64));
    if let Some(Ok(summary)) = &summary {
        surface.info.summary_loss = Some(summary.clone());
    }
    // The summary's τ; a shard's is the one the merge summarises with (unless given its own).
    if shard.is_some() || matches!(summary, Some(Ok(_))) {
        surface.info.summary_tau = Some(tau);
    }
    if summary.is_some() {
        super::record_barrier(&mut surface);
    }
    save_surface(&args.out, &surface)?;
    if let Some(e) = save_error {
        return Err(e);
    }
    result?;
    match summary {
        Some(Ok(summary)) => {
            let rule = match (args.tau, tau) {
                (None, Tau::Relative(_)) => format!("{tau}, the default; --tau sets loss units"),
                _ => tau.to_string(),
            };
            eprintln!(
                "basin (τ = {:.4}: {rule}): mean radius {}, area {:.4}, convex fraction {:.3}, roughness {:.3e}",
                summary.tau,
                summary
                    .radius_mean
                    .map(|r| format!("{r:.4}"))
                    .unwrap_or_else(|| "beyond the grid".into()),
                summary.basin_area,
                summary.convex_fraction,
                summary.roughness_rms
            );
            if let Some(t) = &summary.topology {
                eprintln!("{}", t.describe());
            }
        }
        Some(Err(e)) => eprintln!("no landscape summary: {e}"),
        None => {}
    }
    if let Some(s) = shard {
        eprintln!(
            "wrote {} (shard {s}: {total} of {} cells); join the parts with `vitscape merge --out DIR PART…`",
            args.out.display(),
            nx * ny
        );
        return Ok(());
    }
    if !args.plots.no_plots {
        plot::write_all(&surface, &args.out, &args.plots.options())?;
    }
    let centre = surface_centre(&surface);
    eprintln!(
        "wrote {} ({} cells){}",
        args.out.display(),
        total,
        centre
            .map(|v| format!("; loss at the origin {v:.6}"))
            .unwrap_or_default()
    );
    Ok(())
}

/// Threads for cells when `--threads` is not given: one per core on the CPU backends; a GPU runs
/// one stream of forward passes.
pub fn default_threads(device: DeviceChoice) -> usize {
    match device {
        DeviceChoice::Wgpu => 1,
        _ => std::thread::available_parallelism().map_or(1, usize::from),
    }
}

fn surface_centre(surface: &Surface) -> Option<f64> {
    let ix = surface.x.iter().position(|v| *v == 0.0)?;
    let iy = surface.y.iter().position(|v| *v == 0.0)?;
    surface.loss()[iy][ix]
}
