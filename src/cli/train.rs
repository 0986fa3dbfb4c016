//! `vitscape train`: the demo models' training pipeline (supervised, MAE, RC-MAE, fine-tuning,
//! linear probing) on Fashion-MNIST, with checkpoints, a metrics CSV and a progress bar.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use vitscape::io::checkpoint::{self, StateDict};
use vitscape::io::data::{self, DEBIAN_FASHION_MNIST, FASHION_MNIST_MEAN, FASHION_MNIST_STD};
use vitscape::model::arch::{DecoderConfig, Head, VitConfig};
use vitscape::spec::{Branch, Split};
use vitscape::train::{
    self, EpochReport, Hooks, Method, Progress, RESUME_FILE, TrainConfig, TrainState,
};

use super::DeviceChoice;

/// `--method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// From scratch with cross-entropy.
    Supervised,
    /// MAE pre-training.
    Mae,
    /// MAE + EMA teacher.
    Rcmae,
    /// Pre-trained encoder (`--from`) + new head, everything trained.
    Finetune,
    /// Frozen pre-trained encoder (`--from`), BatchNorm + linear head.
    Linprobe,
}

/// Flags of `vitscape train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training method.
    #[arg(long, value_enum)]
    pub method: MethodArg,
    /// Pre-trained checkpoint (finetune, linprobe; for RC-MAE files the teacher is used).
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Output folder for checkpoints and metrics.
    #[arg(long)]
    pub out: PathBuf,
    /// Epochs (default per method: 10 / 10 / 10 / 5 / 20).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Peak learning rate (default per method).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Warm-up epochs.
    #[arg(long, default_value_t = 1.0)]
    pub warmup_epochs: f64,
    /// AdamW weight decay (default per method).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Seed of everything random.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train on a deterministic subset of this many training images (default: all 60 000).
    #[arg(long)]
    pub train_images: Option<usize>,
    /// Test images evaluated after each epoch (default: all 10 000).
    #[arg(long)]
    pub test_images: Option<usize>,
    /// MAE mask ratio.
    #[arg(long, default_value_t = 0.75)]
    pub mask_ratio: f64,
    /// Raw-pixel MAE targets.
    #[arg(long)]
    pub no_norm_pix: bool,
    /// RC-MAE EMA momentum.
    #[arg(long, default_value_t = 0.996)]
    pub ema_momentum: f64,
    /// Cosine ramp of the EMA momentum to 1.
    #[arg(long)]
    pub ema_cosine: bool,
    /// RC-MAE consistency weight.
    #[arg(long, default_value_t = 1.0)]
    pub gamma: f64,
    /// No random crop / flip.
    #[arg(long)]
    pub no_augment: bool,
    /// Continue the run stopped in `--out` (its `resume.safetensors`, written after every epoch)
    /// where it stopped; the other flags must be the ones it was started with.
    #[arg(long)]
    pub resume: bool,
    /// Write a checkpoint every N epochs (and always at the end).
    #[arg(long, default_value_t = 1)]
    pub checkpoint_every: usize,
    /// Encoder width (from-scratch methods).
    #[arg(long, default_value_t = 64)]
    pub embed_dim: usize,
    /// Encoder depth.
    #[arg(long, default_value_t = 4)]
    pub depth: usize,
    /// Encoder heads.
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Patch size.
    #[arg(long, default_value_t = 7)]
    pub patch_size: usize,
    /// MAE decoder width.
    #[arg(long, default_value_t = 64)]
    pub decoder_dim: usize,
    /// MAE decoder depth.
    #[arg(long, default_value_t = 2)]
    pub decoder_depth: usize,
    /// MAE decoder heads.
    #[arg(long, default_value_t = 2)]
    pub decoder_heads: usize,
    /// Fashion-MNIST folder.
    #[arg(long, default_value = DEBIAN_FASHION_MNIST)]
    pub data_dir: PathBuf,
    /// Compute device.
    #[arg(long, value_enum, default_value = "flex")]
    pub device: DeviceChoice,
}

fn method(m: MethodArg) -> Method {
    match m {
        MethodArg::Supervised => Method::Supervised,
        MethodArg::Mae => Method::Mae,
        MethodArg::Rcmae => Method::Rcmae,
        MethodArg::Finetune => Method::Finetune,
        MethodArg::Linprobe => Method::Linprobe,
    }
}

fn scratch_config(args: &TrainArgs, m: Method) -> VitConfig {
    VitConfig {
        head: (m == Method::Supervised).then_some(Head::Linear { num_classes: 10 }),
        decoder: matches!(m, Method::Mae | Method::Rcmae).then_some(DecoderConfig {
            embed_dim: args.decoder_dim,
            depth: args.decoder_depth,
            num_heads: args.decoder_heads,
            mlp_hidden: 4 * args.decoder_dim,
            qkv_bias: true,
        }),
        ..VitConfig::standard(
            28,
            args.patch_size,
            1,
            args.embed_dim,
            args.depth,
            args.heads,
        )
    }
}

/// Initial state: from scratch (sin-cos position embeddings) or from a pre-trained encoder.
fn initial_state(args: &TrainArgs, m: Method) -> Result<TrainState> {
    if matches!(m, Method::Finetune | Method::Linprobe) {
        let path = args
            .from
            .as_ref()
            .context("--method finetune/linprobe needs --from CHECKPOINT")?;
        let loaded = checkpoint::read_file(path, Some(Branch::Teacher))
            .with_context(|| format!("reading {}", path.display()))?;
        return train::from_pretrained(&loaded.state, 10, args.seed)
            .with_context(|| format!("checkpoint {}", path.display()));
    }
    if args.from.is_some() {
        bail!("--from is for finetune and linprobe; {m:?} trains from scratch");
    }
    Ok(train::scratch_state(scratch_config(args, m), args.seed)?)
}

fn metadata(
    state: &mut StateDict,
    ts: &TrainState,
    cfg: &TrainConfig,
    report: &EpochReport,
    command: &str,
) -> Result<()> {
    let m = &mut state.metadata;
    m.insert(
        "format".into(),
        if ts.config.decoder.is_some() {
            "mae".into()
        } else {
            "timm".into()
        },
    );
    m.insert(
        "method".into(),
        serde_json::to_value(cfg.method)?
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    m.insert("epoch".into(), report.epoch.to_string());
    m.insert("seed".into(), cfg.seed.to_string());
    m.insert("num_heads".into(), ts.config.num_heads.to_string());
    if let Some(d) = ts.config.decoder {
        m.insert("decoder_num_heads".into(), d.num_heads.to_string());
    }
    m.insert("architecture".into(), serde_json::to_string(&ts.config)?);
    m.insert("train_config".into(), serde_json::to_string(cfg)?);
    m.insert("metrics".into(), serde_json::to_string(report)?);
    m.insert("command".into(), command.to_string());
    m.insert("vitscape_version".into(), vitscape::VERSION.to_string());
    Ok(())
}

/// `vitscape train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let m = method(args.method);
    let mut cfg = TrainConfig::defaults(m);
    if let Some(e) = args.epochs {
        cfg.epochs = e;
    }
    if let Some(lr) = args.lr {
        cfg.lr = lr;
    }
    if let Some(wd) = args.weight_decay {
        cfg.weight_decay = wd;
    }
    cfg.batch_size = args.batch_size;
    cfg.warmup_epochs = args.warmup_epochs;
    cfg.seed = args.seed;
    cfg.mask_ratio = args.mask_ratio;
    cfg.norm_pix_loss = !args.no_norm_pix;
    cfg.ema_momentum = args.ema_momentum;
    cfg.ema_cosine = args.ema_cosine;
    cfg.gamma = args.gamma;
    cfg.augment = !args.no_augment;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    if args.resume && m == Method::Linprobe {
        bail!(
            "--resume: linear probing does not resume (it takes seconds per epoch); run it again without --resume"
        );
    }
    let load = |split, count: Option<usize>| -> Result<data::ImageSet> {
        let raw = data::load_fashion_mnist(&args.data_dir, split)?;
        let raw = match count {
            Some(c) => data::subset(&raw, c, args.seed)?,
            None => raw,
        };
        Ok(data::normalise(
            &raw,
            &[FASHION_MNIST_MEAN],
            &[FASHION_MNIST_STD],
        )?)
    };
    let train_set = load(Split::Train, args.train_images)?;
    let test_set = load(Split::Test, args.test_images)?;
    let resume_path = args.out.join(RESUME_FILE);
    let images = (train_set.n, test_set.n);
    let (mut state, progress) = if args.resume {
        let bytes = std::fs::read(&resume_path).with_context(|| {
            format!(
                "--resume: reading {} (written after each epoch of a run in this folder)",
                resume_path.display()
            )
        })?;
        let sd = checkpoint::read_raw(&bytes)
            .with_context(|| format!("--resume: {}", resume_path.display()))?;
        let (state, progress) = Progress::from_state_dict(sd, &cfg, images)
            .with_context(|| format!("--resume: {}", resume_path.display()))?;
        if let Some(from) = &args.from {
            eprintln!(
                "note: --from {} is not read when resuming: the weights come from {}",
                from.display(),
                resume_path.display()
            );
        }
        (state, Some(progress))
    } else {
        if resume_path.exists() {
            eprintln!(
                "note: {} holds a stopped run; this run starts over and replaces it (add --resume \
                 to continue that one instead)",
                resume_path.display()
            );
        }
        (initial_state(&args, m)?, None)
    };
    let done = progress.as_ref().map_or(0, |p| p.epochs_done);
    super::output_folder(&args.out)?;
    let device = args.device.device()?;
    let name = serde_json::to_value(m)?
        .as_str()
        .unwrap_or("model")
        .to_string();
    let csv_path = args.out.join("metrics.csv");
    let mut csv = String::from(
        "epoch,train_loss,test_accuracy,test_loss,test_reconstruction,seconds,images_per_sec\n",
    );
    if done > 0 {
        // The stopped run's rows up to the epoch it continues from.
        let old = std::fs::read_to_string(&csv_path).unwrap_or_default();
        for line in old.lines().skip(1) {
            let epoch = line.split(',').next().and_then(|e| e.parse::<usize>().ok());
            if epoch.is_some_and(|e| e <= done) {
                csv.push_str(line);
                csv.push('\n');
            }
        }
        eprintln!(
            "resuming {name} after epoch {done} of {} from {}",
            cfg.epochs,
            resume_path.display()
        );
    }
    eprintln!(
        "training {name}: {} parameters, {} training / {} test images, {} epochs",
        state.layout.total, train_set.n, test_set.n, cfg.epochs
    );
    let steps = (train_set.n / cfg.batch_size.max(1)).max(1);
    let bar = ProgressBar::new((steps * cfg.epochs) as u64);
    bar.set_position((steps * done) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {per_sec}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let out = args.out.clone();
    let every = args.checkpoint_every.max(1);
    let epochs = cfg.epochs;
    let cfg_for_meta = cfg.clone();
    let mut io_error: Option<anyhow::Error> = None;
    let trained = train::train(
        &mut state,
        &train_set,
        &test_set,
        &cfg,
        &device,
        progress.as_ref(),
        &mut Hooks {
            on_step: &mut |s| {
                bar.inc(1);
                if s.step % 10 == 0 {
                    bar.set_message(format!(
                        "epoch {} loss {:.4} lr {:.2e}",
                        s.epoch + 1,
                        s.loss,
                        s.lr
                    ));
                }
            },
            on_epoch: &mut |report, ts, progress| {
                let t = &report.test;
                let field = |k: &str| t.get(k).map(|v| v.to_string()).unwrap_or_default();
                let _ = writeln!(
                    csv,
                    "{},{},{},{},{},{:.1},{:.1}",
                    report.epoch,
                    report.train_loss,
                    field("test_accuracy"),
                    field("test_loss"),
                    field("test_reconstruction"),
                    report.seconds,
                    report.images_per_sec
                );
                let result = (|| -> Result<()> {
                    vitscape::io::atomic::write(&csv_path, csv.as_bytes())?;
                    if report.epoch % every == 0 || report.epoch == epochs {
                        let mut sd = ts.state_dict();
                        metadata(&mut sd, ts, &cfg_for_meta, report, &command)?;
                        checkpoint::write_file(
                            &out.join(format!("{name}-e{:03}.safetensors", report.epoch)),
                            &sd,
                        )?;
                        if report.epoch == epochs {
                            checkpoint::write_file(&out.join(format!("{name}.safetensors")), &sd)?;
                        }
                    }
                    let resume_file = out.join(RESUME_FILE);
                    match progress {
                        Some(p) if report.epoch < epochs => {
                            let sd = p.to_state_dict(ts, &cfg_for_meta, images)?;
                            checkpoint::write_file(&resume_file, &sd)?;
                        }
                        _ if resume_file.exists() => std::fs::remove_file(&resume_file)
                            .with_context(|| format!("removing {}", resume_file.display()))?,
                        _ => {}
                    }
                    Ok(())
                })();
                let line = format!(
                    "epoch {}: train loss {:.4}, {:?}, {:.0} images/s",
                    report.epoch, report.train_loss, report.test, report.images_per_sec
                );
                if bar.is_hidden() {
                    eprintln!("{line}");
                } else {
                    bar.println(line);
                }
                if let Err(e) = result {
                    let msg = format!("{e:#}");
                    io_error = Some(e);
                    return Err(vitscape::error::Error::Backend(msg));
                }
                Ok(())
            },
        },
    );
    bar.finish();
    // A checkpoint that could not be written stops the run: say that, not "compute backend".
    if let Some(e) = io_error {
        return Err(e);
    }
    trained?;
    let _ = std::io::stderr().flush();
    eprintln!(
        "wrote {}",
        Path::new(&args.out)
            .join(format!("{name}.safetensors"))
            .display()
    );
    Ok(())
}
