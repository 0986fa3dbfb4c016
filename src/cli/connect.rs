//! `vitscape connect`: mode connectivity between two checkpoints (Garipov et al. 2018). Trains
//! the control point of a quadratic Bézier curve between them, then sweeps the straight line and
//! the curve with the same spec and draws the loss and accuracy along both, with their barriers.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser};
use indicatif::{ProgressBar, ProgressStyle};

use vitscape::connect::{
    self, BendConfig, BendRecord, BendStep, ConnectReport, RecentLoss, TrainOn,
};
use vitscape::io::checkpoint;
use vitscape::landscape::surface::Surface;
use vitscape::metrics::barrier::Barrier;
use vitscape::plot::{self, PathCurve};
use vitscape::spec::{DataSource, DirectionSource, FileRef, SweepSpec, cli_command};

use super::load::{Loaded, images_of, load};
use super::sweep::SweepArgs;

/// Flags of `vitscape connect`.
#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// The path: `--checkpoint A --interpolate B` (t = 0 is A, t = 1 is B) with the loss, data
    /// and grid of the sweeps (default grid -0.5:1.5:41), or `--spec` of an earlier linear path.
    #[command(flatten)]
    pub sweep: SweepArgs,
    /// Adam steps training the control point (one mini-batch and one t ~ U(0, 1) each).
    #[arg(long, default_value_t = 400)]
    pub steps: usize,
    /// Peak learning rate (cosine decay to 0).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Seed of the t draws.
    #[arg(long, default_value_t = 0)]
    pub bend_seed: u64,
    /// Training images for the control point (with `--train-on split`): from Fashion-MNIST's
    /// training split when the sweep evaluates Fashion-MNIST, else from the same image folder
    /// (said on stderr).
    #[arg(long, default_value_t = 4096)]
    pub train_images: usize,
    /// Train the control point on the dataset's training split (`split`), or on exactly the
    /// images the sweeps evaluate (`eval`, as the page does).
    #[arg(long, value_enum, default_value_t = TrainOn::Split)]
    pub train_on: TrainOn,
    /// Images per training step.
    #[arg(long, default_value_t = 64)]
    pub train_batch: usize,
}

/// A `vitscape sweep` run inside this command.
#[derive(Parser)]
struct Sub {
    #[command(flatten)]
    args: SweepArgs,
}

/// `vitscape connect`.
pub fn run(args: ConnectArgs) -> Result<()> {
    let out = args.sweep.out.clone();
    super::output_folder(&out)?;
    let report_path = out.join("connect.json");
    if report_path.exists() && !args.sweep.resume {
        bail!(
            "{} already exists; choose another --out (or --resume, which continues with the control point written there and the sweeps)",
            report_path.display()
        );
    }
    let Loaded {
        spec,
        model,
        extras,
        prepared,
        ..
    } = load(&args.sweep, None)?;
    drop(prepared);
    let DirectionSource::Interpolate { target: end_ref } = &spec.directions.source else {
        bail!(
            "vitscape connect joins two checkpoints: give --checkpoint A --interpolate B (or --spec of a linear path)"
        );
    };
    let end = extras
        .target
        .as_ref()
        .context("the path's end checkpoint was not loaded")?;

    // The control point is trained on other images than the sweeps evaluate where there are any
    // (or, with --train-on eval, on those very images).
    let mut train_spec = spec.clone();
    train_spec.batch_size = args.train_batch;
    match (args.train_on, &mut train_spec.data.source) {
        (TrainOn::Eval, _) => eprintln!(
            "note: the control point is trained on the {} images the sweeps evaluate (--train-on eval; --train-images is not used)",
            spec.data.eval_images
        ),
        (TrainOn::Split, DataSource::FashionMnist { split, .. }) => {
            train_spec.data.eval_images = args.train_images;
            *split = vitscape::spec::Split::Train;
        }
        (TrainOn::Split, DataSource::ImageFolder { dir }) => {
            train_spec.data.eval_images = args.train_images;
            eprintln!(
                "note: the control point is trained on {} images of {dir}, the folder the sweeps evaluate (Fashion-MNIST has a separate training split; a folder does not)",
                args.train_images
            )
        }
        (TrainOn::Split, DataSource::Embedded { name, .. }) => bail!(
            "the images `{name}` are the page's; give the sweep's data with --data (Fashion-MNIST or a folder)"
        ),
    }
    train_spec.validate()?;
    let config = BendConfig::new(args.steps, args.lr, args.bend_seed);
    let bend_path = out.join("bend.safetensors");
    let wanted = BendRecord::new(
        &spec,
        end_ref.clone(),
        train_spec.data.clone(),
        args.train_batch,
        config,
        // As typed, whatever path the binary was run by.
        std::iter::once("vitscape".to_string())
            .chain(std::env::args().skip(1).map(|a| quoted(&a)))
            .collect::<Vec<_>>()
            .join(" "),
    );
    let (bytes, record) = if args.sweep.resume && bend_path.exists() {
        resumed_bend(&bend_path, &wanted)?
    } else {
        let train_images = images_of(&train_spec, &model)?;
        eprintln!(
            "training the control point: {} steps of {} images from {}, lr {} (cosine), t ~ U(0, 1) seed {}",
            args.steps,
            args.train_batch,
            vitscape::spec::describe::data_text(&train_spec),
            args.lr,
            args.bend_seed
        );
        let device = args.sweep.device.device()?;
        let trainer = vitscape::landscape::setup::prepare(
            &train_spec,
            &model,
            &extras,
            &train_images,
            &device,
        )?;
        let bend = train(
            &trainer.evaluator.minibatches(),
            &model.theta,
            &end.theta,
            &wanted,
        )?;
        let record = BendRecord {
            final_loss: bend.final_loss(0.1),
            ..wanted
        };
        let bytes = connect::bend_file(&model.layout, &bend.theta, &record)?;
        vitscape::io::atomic::write(&bend_path, &bytes)
            .with_context(|| format!("writing {}", bend_path.display()))?;
        eprintln!(
            "wrote {} (mean loss on the curve over the last 10 % of steps {:.4})",
            bend_path.display(),
            record.final_loss
        );
        (bytes, record)
    };
    let bend_file = FileRef::of_bytes(bend_path.display().to_string(), &bytes);

    let mut curve_spec = spec.clone();
    curve_spec.directions.source = DirectionSource::Bezier {
        target: end_ref.clone(),
        bend: bend_file.clone(),
    };
    let linear = sweep_path(&args.sweep, &spec, &out.join("linear"), "the straight line")?;
    let bezier = sweep_path(
        &args.sweep,
        &curve_spec,
        &out.join("bezier"),
        "the Bézier curve",
    )?;

    let curves = [
        PathCurve {
            surface: &linear,
            label: "linear".into(),
        },
        PathCurve {
            surface: &bezier,
            label: "Bézier".into(),
        },
    ];
    if !args.sweep.plots.no_plots {
        plot::write_paths(&curves, &out)?;
    }
    let report = ConnectReport {
        bend: record,
        bend_file,
        linear: linear.info.barrier.clone(),
        bezier: bezier.info.barrier.clone(),
        commands: [
            cli_command(&spec, &out.join("linear").display().to_string())?,
            cli_command(&curve_spec, &out.join("bezier").display().to_string())?,
        ],
    };
    vitscape::io::atomic::write(
        &report_path,
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )
    .with_context(|| format!("writing {}", report_path.display()))?;
    let height = |b: &[Barrier]| {
        b.iter()
            .find(|b| b.metric == vitscape::landscape::surface::LOSS)
            .map_or("not measured".to_string(), |b| format!("{:.4}", b.height))
    };
    eprintln!(
        "loss barrier: linear {}, Bézier {}; wrote {}",
        height(&linear.info.barrier),
        height(&bezier.info.barrier),
        out.display()
    );
    Ok(())
}

/// Train the control point with a progress bar.
fn train(
    batches: &[vitscape::landscape::objective::Evaluator],
    start: &[f32],
    end: &[f32],
    record: &BendRecord,
) -> Result<connect::Bend> {
    let bar = ProgressBar::new(record.config.steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} steps  {per_sec}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut recent = RecentLoss::default();
    let training = connect::train_bend(batches, start, end, &record.config, |k, step: BendStep| {
        let mean = recent.push(step.loss);
        bar.set_position(k as u64 + 1);
        bar.set_message(format!("loss on the curve {mean:.4}"));
    });
    let bend = pollster::block_on(training)?;
    bar.finish();
    Ok(bend)
}

/// With --resume, the control point a killed run already wrote, if it was trained as these flags
/// ask (same ends, loss, training images and optimiser); otherwise the difference is named.
fn resumed_bend(path: &Path, wanted: &BendRecord) -> Result<(Vec<u8>, BendRecord)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let state = checkpoint::read_safetensors(&bytes, None)
        .with_context(|| format!("{} is not a control point", path.display()))?
        .state;
    let text = state
        .metadata
        .get("bend")
        .with_context(|| format!("{} has no `bend` record", path.display()))?;
    let found: BendRecord = serde_json::from_str(text)
        .with_context(|| format!("{}: its `bend` record", path.display()))?;
    let differs = [
        ("the start checkpoint", found.start != wanted.start),
        ("the end checkpoint", found.end != wanted.end),
        ("the loss", found.loss != wanted.loss),
        ("the training images", found.train_data != wanted.train_data),
        ("--train-batch", found.train_batch != wanted.train_batch),
        (
            "--steps, --lr or --bend-seed",
            found.config != wanted.config,
        ),
    ];
    if let Some((what, _)) = differs.iter().find(|(_, d)| *d) {
        bail!(
            "--resume: {} was trained with other settings ({what} differs); remove it or choose another --out",
            path.display()
        );
    }
    eprintln!(
        "resuming with the control point in {} (trained by `{}`)",
        path.display(),
        found.command
    );
    Ok((bytes, found))
}

/// A command-line word as a POSIX shell reads it back: quoted only when it has to be.
fn quoted(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        vitscape::spec::shell_quote(word)
    }
}

/// Sweep one path with the parent's compute and figure flags, as `vitscape sweep --spec` would.
fn sweep_path(parent: &SweepArgs, spec: &SweepSpec, out: &Path, what: &str) -> Result<Surface> {
    eprintln!("sweeping {what} into {}", out.display());
    let json = serde_json::to_string(spec)?;
    let argv: Vec<String> = vec![
        "sweep".into(),
        "--spec".into(),
        json,
        "--out".into(),
        out.display().to_string(),
    ];
    let mut sub = Sub::try_parse_from(argv)
        .context("building the path's sweep")?
        .args;
    sub.device = parent.device;
    sub.threads = parent.threads;
    sub.cells_per_forward = parent.cells_per_forward;
    sub.plots = parent.plots;
    sub.tau = parent.tau;
    sub.tau_relative = parent.tau_relative;
    sub.save_every = parent.save_every;
    sub.resume = parent.resume;
    sub.search = parent.search.clone();
    super::sweep::run(sub)?;
    let path: PathBuf = out.join("surface.json");
    let text = std::fs::read_to_string(&path)?;
    serde_json::from_str(&text).with_context(|| format!("reading back {}", path.display()))
}
