//! `vitscape sweep` and `vitscape inspect`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use vitscape::arch::HeadCounts;
use vitscape::checkpoint::{self, LoadedCheckpoint};
use vitscape::data::{self, DEBIAN_FASHION_MNIST, FASHION_MNIST_MEAN, FASHION_MNIST_STD, ImageSet};
use vitscape::job;
use vitscape::objective::{Objective, write_eval_data};
use vitscape::plot::{self, PlotOptions};
use vitscape::setup::{self, Extras, Model};
use vitscape::spec::{
    Axis, Branch, DataSource, DataSpec, DirectionSource, DirectionSpec, FileRef, GridSpec,
    LossSpec, MaskSpec, Normalisation, SPEC_VERSION, Split, SweepSpec,
};
use vitscape::surface::Surface;
use vitscape::sweep::{self, Control};

use super::DeviceChoice;

/// Loss kinds on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LossKind {
    /// Mean cross-entropy and top-1 accuracy (needs a head and labels).
    Classification,
    /// MAE masked reconstruction (needs the decoder).
    Mae,
    /// RC-MAE: reconstruction + γ·consistency with a fixed `--teacher`.
    Rcmae,
}

/// Flags of `vitscape sweep`; every one ends up in the `SweepSpec` stored with the outputs.
#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Checkpoint (.safetensors) with timm / MAE / RC-MAE names.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// For files holding `student.*` and `teacher.*`: which one to use.
    #[arg(long, value_enum)]
    pub branch: Option<BranchArg>,
    /// Encoder attention heads (default: checkpoint metadata `num_heads`, else embed_dim / 64).
    #[arg(long)]
    pub heads: Option<usize>,
    /// Decoder attention heads (default: metadata `decoder_num_heads`, else decoder dim / 32).
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
    pub split: SplitArg,
    /// Images evaluated at every cell.
    #[arg(long, default_value_t = 512)]
    pub eval_images: usize,
    /// Seed of the deterministic eval subset.
    #[arg(long, default_value_t = 0)]
    pub subset_seed: u64,
    /// Normalisation mean per channel (comma-separated; one value is used for every channel).
    #[arg(long, value_delimiter = ',', default_values_t = vec![FASHION_MNIST_MEAN])]
    pub mean: Vec<f32>,
    /// Normalisation std per channel.
    #[arg(long, value_delimiter = ',', default_values_t = vec![FASHION_MNIST_STD])]
    pub std: Vec<f32>,
    /// The objective.
    #[arg(long, value_enum, default_value = "classification")]
    pub loss: LossKind,
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
    pub normalisation: NormArg,
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
    /// Images per forward pass.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Compute device.
    #[arg(long, value_enum, default_value = "flex")]
    pub device: DeviceChoice,
    /// Grid cells evaluated together in one forward pass (default: 1 on the CPU backends, where
    /// batching cells is no faster, and 8 on wgpu).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub cells_per_forward: Option<u16>,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue a partial `surface.json` in `--out` (same settings required).
    #[arg(long)]
    pub resume: bool,
    /// Also write the evaluated images, labels and masks as `eval_data.safetensors`.
    #[arg(long)]
    pub export_data: bool,
    /// Log colour scale in plots.
    #[arg(long)]
    pub log_scale: bool,
    /// Skip the figures (data files only).
    #[arg(long)]
    pub no_plots: bool,
    /// Threshold τ above the centre loss for the basin summaries in `surface.json` (loss units).
    #[arg(long, default_value_t = 0.1)]
    pub tau: f64,
}

/// `--branch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BranchArg {
    /// `student.*`.
    Student,
    /// `teacher.*`.
    Teacher,
}

/// `--split`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitArg {
    /// Training images.
    Train,
    /// Test images.
    Test,
}

/// `--normalisation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NormArg {
    /// Per output filter (Li et al.).
    Filter,
    /// Per tensor.
    Layer,
    /// None.
    None,
}

/// Flags of `vitscape inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Checkpoint file.
    pub checkpoint: PathBuf,
    /// Branch of an RC-MAE file.
    #[arg(long, value_enum)]
    pub branch: Option<BranchArg>,
    /// Encoder heads.
    #[arg(long)]
    pub heads: Option<usize>,
    /// Decoder heads.
    #[arg(long)]
    pub decoder_heads: Option<usize>,
}

fn branch(arg: Option<BranchArg>) -> Option<Branch> {
    arg.map(|b| match b {
        BranchArg::Student => Branch::Student,
        BranchArg::Teacher => Branch::Teacher,
    })
}

/// Read a checkpoint and infer its model.
pub fn load_model(path: &Path, branch: Option<Branch>, heads: HeadCounts) -> Result<Model> {
    let loaded = checkpoint::read_file(path, branch)
        .with_context(|| format!("reading checkpoint {}", path.display()))?;
    Model::new(loaded, heads).with_context(|| format!("checkpoint {}", path.display()))
}

/// `vitscape inspect`.
pub fn inspect(args: InspectArgs) -> Result<()> {
    let heads = HeadCounts {
        encoder: args.heads,
        decoder: args.decoder_heads,
    };
    let model = load_model(&args.checkpoint, branch(args.branch), heads)?;
    let report = serde_json::json!({
        "file": args.checkpoint.display().to_string(),
        "sha256": model.checkpoint.sha256,
        "branch": model.checkpoint.branch,
        "architecture": model.config,
        "parameters": model.layout.total,
        "tensors": model.layout.params.iter().map(|p| format!("{} {:?}", p.name, p.shape)).collect::<Vec<_>>(),
        "skipped": model.checkpoint.skipped,
        "metadata": model.checkpoint.state.metadata,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Build the spec from flags (and the loaded model, whose hash and heads it records).
fn build_spec(
    args: &SweepArgs,
    model: &Model,
    direction_files: &[LoadedCheckpoint],
    teacher: Option<&Model>,
    target: Option<&Model>,
) -> Result<SweepSpec> {
    if args.grid.len() > 2 {
        bail!(
            "--grid takes one axis (1-D) or two (2-D), got {}",
            args.grid.len()
        );
    }
    let mut axes = args
        .grid
        .iter()
        .map(|t| Axis::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    if target.is_some() && axes.len() == 2 && args.grid == ["-1:1:21", "-1:1:21"] {
        axes = vec![Axis {
            min: -0.5,
            max: 1.5,
            n: 41,
        }];
    }
    let grid = GridSpec {
        x: axes[0],
        y: axes.get(1).copied(),
    };
    let source = if args.data == "fashion-mnist" {
        DataSource::FashionMnist {
            dir: args.data_dir.display().to_string(),
            split: match args.split {
                SplitArg::Train => Split::Train,
                SplitArg::Test => Split::Test,
            },
        }
    } else {
        DataSource::ImageFolder {
            dir: args.data.clone(),
        }
    };
    let channels = model.config.in_chans;
    let per_channel = |v: &[f32]| -> Vec<f32> {
        if v.len() == 1 {
            vec![v[0]; channels]
        } else {
            v.to_vec()
        }
    };
    let mask = MaskSpec {
        mask_ratio: args.mask_ratio,
        norm_pix_loss: !args.no_norm_pix,
        mask_seed: args.mask_seed,
    };
    let loss = match args.loss {
        LossKind::Classification => LossSpec::Classification,
        LossKind::Mae => LossSpec::Mae(mask),
        LossKind::Rcmae => {
            let teacher = teacher.context("--loss rcmae needs --teacher CHECKPOINT")?;
            LossSpec::RcMae {
                mask,
                teacher: teacher.reference(&display_name(args.teacher.as_deref())),
                gamma: args.gamma,
            }
        }
    };
    let source_dirs = if let Some(target) = target {
        DirectionSource::Interpolate {
            target: target.reference(&display_name(args.interpolate.as_deref())),
        }
    } else if !args.directions.is_empty() {
        let file_ref = |i: usize| {
            args.directions
                .get(i)
                .zip(direction_files.get(i))
                .map(|(path, loaded)| FileRef {
                    name: path.display().to_string(),
                    sha256: loaded.sha256.clone(),
                })
        };
        DirectionSource::Files {
            x: file_ref(0).context("--directions needs at least one file")?,
            y: file_ref(1),
        }
    } else {
        DirectionSource::Random { seed: args.seed }
    };
    let spec = SweepSpec {
        version: SPEC_VERSION,
        checkpoint: model.reference(&display_name(Some(&args.checkpoint))),
        data: DataSpec {
            source,
            eval_images: args.eval_images,
            subset_seed: args.subset_seed,
            mean: per_channel(&args.mean),
            std: per_channel(&args.std),
        },
        loss,
        directions: DirectionSpec {
            source: source_dirs,
            normalisation: match args.normalisation {
                NormArg::Filter => Normalisation::Filter,
                NormArg::Layer => Normalisation::Layer,
                NormArg::None => Normalisation::None,
            },
            include_rank1: args.include_rank1,
            include_pos_embed: args.include_pos_embed,
        },
        grid,
        batch_size: args.batch_size,
    };
    spec.validate()?;
    Ok(spec)
}

fn display_name(path: Option<&Path>) -> String {
    path.map(|p| p.display().to_string()).unwrap_or_default()
}

/// Load, subset and normalise the evaluation images a spec describes.
pub fn load_images(spec: &SweepSpec, model: &Model) -> Result<ImageSet> {
    let c = &model.config;
    let raw = match &spec.data.source {
        DataSource::FashionMnist { dir, split } => {
            data::load_fashion_mnist(Path::new(dir), *split)?
        }
        DataSource::ImageFolder { dir } => {
            data::load_image_folder(Path::new(dir), c.in_chans, c.img_size, c.img_size)?
        }
        DataSource::Embedded { name, .. } => {
            bail!("embedded data `{name}` exists only in the browser")
        }
    };
    let subset = data::subset(&raw, spec.data.eval_images, spec.data.subset_seed)?;
    let set = data::normalise(&subset, &spec.data.mean, &spec.data.std)?;
    data::check_fits(&set, c.in_chans, c.img_size, c.img_size)?;
    Ok(set)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Save the surface atomically (write then rename), so an interrupted run never leaves a
/// truncated `surface.json`.
fn save_surface(out: &Path, surface: &Surface) -> Result<()> {
    let tmp = out.join("surface.json.tmp");
    write(&tmp, serde_json::to_string_pretty(surface)?.as_bytes())?;
    std::fs::rename(&tmp, out.join("surface.json")).context("saving surface.json")?;
    write(&out.join("surface.csv"), surface.to_csv().as_bytes())
}

/// `vitscape sweep`.
/// Everything a sweep (or a curvature analysis) at the flags' point needs, prepared on the device.
pub struct Loaded {
    /// The full spec.
    pub spec: SweepSpec,
    /// The checkpoint.
    pub model: Model,
    /// The evaluated images.
    pub images: ImageSet,
    /// Directions and the evaluator.
    pub prepared: setup::Prepared,
}

/// Read the checkpoint(s), build the spec, load the images and prepare the evaluator.
pub fn load(args: &SweepArgs) -> Result<Loaded> {
    let heads = HeadCounts {
        encoder: args.heads,
        decoder: args.decoder_heads,
    };
    let model = load_model(&args.checkpoint, branch(args.branch), heads)?;
    let teacher = match (&args.teacher, args.loss) {
        (Some(path), LossKind::Rcmae) => Some(load_model(path, Some(Branch::Teacher), heads)?),
        (Some(_), _) => bail!("--teacher is only used with --loss rcmae"),
        (None, _) => None,
    };
    let target = args
        .interpolate
        .as_deref()
        .map(|p| load_model(p, branch(args.branch), heads))
        .transpose()?;
    if target.is_some() && !args.directions.is_empty() {
        bail!("--interpolate and --directions are alternatives; give one");
    }
    // Each direction file is read once: its hash goes into the spec, its tensors into the sweep.
    let loaded_directions = args
        .directions
        .iter()
        .map(|p| {
            checkpoint::read_file(p, None)
                .with_context(|| format!("reading direction file {}", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let spec = build_spec(
        args,
        &model,
        &loaded_directions,
        teacher.as_ref(),
        target.as_ref(),
    )?;
    let mut loaded_directions = loaded_directions.into_iter().map(|c| c.state);
    let direction_files = loaded_directions
        .next()
        .map(|x| (x, loaded_directions.next()));
    let images = load_images(&spec, &model)?;
    let device = args.device.device()?;
    let extras = Extras {
        teacher,
        target,
        direction_files,
    };
    let prepared = setup::prepare(&spec, &model, &extras, &images, &device)?;
    Ok(Loaded {
        spec,
        model,
        images,
        prepared,
    })
}

/// `vitscape sweep`.
pub fn run(args: SweepArgs) -> Result<()> {
    let Loaded {
        spec,
        model,
        images,
        prepared,
    } = load(&args)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
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
    surface.info.extend(prepared.directions.info.clone());
    surface
        .info
        .insert("parameters".into(), serde_json::json!(model.layout.total));
    surface
        .info
        .insert("architecture".into(), serde_json::to_value(model.config)?);
    surface.info.insert(
        "device".into(),
        serde_json::json!(format!("{:?}", args.device).to_lowercase()),
    );
    if let Some(c) = surface.info.get("direction_cosine") {
        eprintln!("cosine(direction x, direction y) = {c}");
    }

    let order = sweep::row_major(surface.x.len(), surface.y.len());
    let (done, total) = surface.progress();
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
        (None, DeviceChoice::Wgpu) => 8,
        (None, _) => 1,
    };
    // At most 2²⁶ parameter values (256 MiB) for the K weight sets.
    let per_forward = evaluator.points_per_forward(wanted, 1 << 26);
    let result = sweep::run(evaluator, &mut surface, &order, per_forward, &mut |s, p| {
        bar.set_position(p.done as u64);
        if let Some(loss) = p.values.get("loss") {
            bar.set_message(format!("loss {loss:.4}"));
        }
        if last_save.elapsed() > Duration::from_secs(5) {
            if let Err(e) = save_surface(&args.out, s) {
                save_error = Some(e);
                return Control::Cancel;
            }
            last_save = std::time::Instant::now();
        }
        Control::Continue
    });
    bar.finish();
    let summary = result
        .is_ok()
        .then(|| vitscape::metrics::summarise(&surface, "loss", args.tau, 64));
    if let Some(Ok(summary)) = &summary {
        surface
            .info
            .insert("summary_loss".into(), serde_json::to_value(summary)?);
    }
    save_surface(&args.out, &surface)?;
    if let Some(e) = save_error {
        return Err(e);
    }
    result?;
    match summary {
        Some(Ok(summary)) => {
            eprintln!(
                "basin (τ = {}): mean radius {}, area {:.4}, convex fraction {:.3}, roughness {:.3e}",
                summary.tau,
                summary
                    .radius_mean
                    .map(|r| format!("{r:.4}"))
                    .unwrap_or_else(|| "beyond the grid".into()),
                summary.basin_area,
                summary.convex_fraction,
                summary.roughness_rms
            );
        }
        Some(Err(e)) => eprintln!("no landscape summary: {e}"),
        None => {}
    }
    if !args.no_plots {
        let options = PlotOptions {
            log_scale: args.log_scale,
            ..PlotOptions::default()
        };
        plot::write_all(&surface, &args.out, &options)?;
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

fn surface_centre(surface: &Surface) -> Option<f64> {
    let ix = surface.x.iter().position(|v| *v == 0.0)?;
    let iy = surface.y.iter().position(|v| *v == 0.0)?;
    surface.loss()[iy][ix]
}
