//! From the command line to a prepared evaluator, one way or the other: flags fill the page's
//! [`Settings`] and [`Settings::spec`] builds the spec, or `--spec` reads one back from any output
//! and its files are located by path and sha256. Either way the rest is the same.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use vitscape::io::checkpoint::{self, StateDict};
use vitscape::io::data::{self, ImageSet};
use vitscape::landscape::job::{self, DataInput};
use vitscape::landscape::setup::{self, Extras, Model};
use vitscape::model::arch::HeadCounts;
use vitscape::spec::{
    self, Axis, Branch, DataSource, DataSpec, DirectionSource, FileRef, Inputs, LossChoice,
    LossSpec, Settings, SweepSpec,
};

use super::locate::{DemoData, Locator};
use super::sweep::{SpecFlags, SweepArgs};

/// Everything a sweep (or a curvature analysis) at the spec's point needs, prepared on the device.
pub struct Loaded {
    /// The full spec.
    pub spec: SweepSpec,
    /// The checkpoint.
    pub model: Model,
    /// The evaluated images.
    pub images: ImageSet,
    /// Directions and the evaluator.
    pub prepared: setup::Prepared,
    /// The other files the spec names (teacher, path target, control point, direction files).
    pub extras: Extras,
}

/// Where the images of a spec come from.
enum Images {
    /// Fashion-MNIST or an image folder, as the spec's data source says.
    FromSpec,
    /// The page's demo subset, found through its manifest.
    Demo(Box<DemoData>),
    /// A zip archive the page was given, found by its hash.
    Zip(Vec<u8>),
}

/// The loaded files of a spec.
struct Files {
    model: Model,
    teacher: Option<Model>,
    target: Option<Model>,
    bend: Option<StateDict>,
    direction_files: Option<(StateDict, Option<StateDict>)>,
    images: Images,
}

/// Read the spec (from `--spec` or the flags) and its files, load the images and prepare the
/// evaluator. `batch_size` replaces the spec's images per forward pass (the curvature spectrum's
/// mini-batches).
pub fn load(args: &SweepArgs, batch_size: Option<usize>) -> Result<Loaded> {
    let (mut spec, files) = match &args.spec {
        Some(source) => from_spec(source, args.panel.as_deref(), &args.search)?,
        None if args.panel.is_some() || !args.search.is_empty() => {
            bail!("--panel and --search choose and find the files of a --spec; there is none")
        }
        None => from_flags(&args.flags)?,
    };
    if let Some(b) = batch_size {
        spec.batch_size = b;
        spec.validate()?;
    }
    let images = load_images(&spec, &files.model, &files.images)?;
    let device = args.device.device()?;
    let extras = Extras {
        teacher: files.teacher,
        target: files.target,
        bend: files.bend,
        direction_files: files.direction_files,
    };
    let prepared = setup::prepare(&spec, &files.model, &extras, &images, &device)?;
    Ok(Loaded {
        spec,
        model: files.model,
        images,
        prepared,
        extras,
    })
}

/// Read a checkpoint file and infer its model.
pub fn load_model(path: &Path, branch: Option<Branch>, heads: HeadCounts) -> Result<Model> {
    let loaded = checkpoint::read_file(path, branch)
        .with_context(|| format!("reading checkpoint {}", path.display()))?;
    let model =
        Model::new(loaded, heads).with_context(|| format!("checkpoint {}", path.display()))?;
    if let Some(source) = &model.checkpoint.source {
        eprintln!("{}: {source}", path.display());
    }
    say_assumed_heads(&path.display().to_string(), &model);
    Ok(model)
}

/// Nothing assumed silently: a warning for each head count that neither the flags nor the file
/// gave (the spec records it as `heads_assumed`).
fn say_assumed_heads(name: &str, model: &Model) {
    if model.heads_assumed.encoder {
        eprintln!(
            "warning: {name} does not say how many attention heads it has (no `num_heads` metadata); assuming timm's head dim {}: {} heads for width {}. Give --heads N if that is wrong; the spec records heads_assumed.",
            vitscape::model::arch::DEFAULT_HEAD_DIM,
            model.config.num_heads,
            model.config.embed_dim
        );
    }
    if let Some(d) = model.config.decoder.filter(|_| model.heads_assumed.decoder) {
        eprintln!(
            "warning: {name} does not say how many heads its MAE decoder has (no `decoder_num_heads` metadata); assuming head dim {}: {} heads for width {}. Give --decoder-heads N if that is wrong; the spec records heads_assumed.",
            vitscape::model::arch::DEFAULT_DECODER_HEAD_DIM,
            d.num_heads,
            d.embed_dim
        );
    }
}

fn display_name(path: &Path) -> String {
    path.display().to_string()
}

/// The flags' spec: a [`Settings`] and the panel's [`Inputs`], as the page builds it.
fn from_flags(flags: &SpecFlags) -> Result<(SweepSpec, Files)> {
    let checkpoint = flags.checkpoint.as_deref().context(
        "--checkpoint FILE is required (or --spec to recompute an earlier surface, curvature \
         result, verdict or permalink)",
    )?;
    let heads = HeadCounts {
        encoder: flags.heads,
        decoder: flags.decoder_heads,
    };
    let model = load_model(checkpoint, flags.branch, heads)?;
    let teacher = match (&flags.teacher, flags.loss) {
        (Some(path), LossChoice::Rcmae) => Some(load_model(path, Some(Branch::Teacher), heads)?),
        (Some(_), _) => bail!("--teacher is only used with --loss rcmae"),
        (None, _) => None,
    };
    let target = flags
        .interpolate
        .as_deref()
        .map(|p| load_model(p, flags.branch, heads))
        .transpose()?;
    if target.is_some() && !flags.directions.is_empty() {
        bail!("--interpolate and --directions are alternatives; give one");
    }
    // The control point is read once: its hash goes into the spec, its tensors into the sweep.
    let bend = match (&flags.bend, &target) {
        (Some(path), Some(_)) => Some(
            checkpoint::read_file(path, None)
                .with_context(|| format!("reading the control point {}", path.display()))?,
        ),
        (Some(_), None) => {
            bail!("--bend is the control point of a curve to --interpolate's checkpoint; give both")
        }
        (None, _) => None,
    };
    // Each direction file is read once: its hash goes into the spec, its tensors into the sweep.
    let direction_files = flags
        .directions
        .iter()
        .map(|p| {
            checkpoint::read_file(p, None)
                .with_context(|| format!("reading direction file {}", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;

    if flags.grid.len() > 2 {
        bail!(
            "--grid takes one axis (1-D) or two (2-D), got {}",
            flags.grid.len()
        );
    }
    let mut axes = flags
        .grid
        .iter()
        .map(|t| Axis::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    if target.is_some() && axes.len() == 2 && flags.grid == ["-1:1:21", "-1:1:21"] {
        axes = vec![Axis {
            min: -0.5,
            max: 1.5,
            n: 41,
        }];
    }
    let settings = Settings {
        x: axes[0],
        y: axes.get(1).copied(),
        seed: flags.seed,
        normalisation: flags.normalisation,
        include_rank1: flags.include_rank1,
        include_pos_embed: flags.include_pos_embed,
        mask_ratio: flags.mask_ratio,
        norm_pix_loss: !flags.no_norm_pix,
        mask_seed: flags.mask_seed,
        gamma: flags.gamma,
        eval_images: flags.eval_images,
        subset_seed: flags.subset_seed,
        batch_size: flags.batch_size,
    };
    let source = if flags.data == "fashion-mnist" {
        DataSource::FashionMnist {
            dir: display_name(&flags.data_dir),
            split: flags.split,
        }
    } else {
        DataSource::ImageFolder {
            dir: flags.data.clone(),
        }
    };
    let stats = data::mean_std(
        flags.mean.as_deref(),
        flags.std.as_deref(),
        model.config.in_chans,
    )?;
    if let Some(note) = &stats.note {
        eprintln!(
            "mean/std: {note}: mean {:?}, std {:?}",
            stats.mean, stats.std
        );
    }
    let preprocess = data::Preprocess {
        resize: flags.resize,
        crop: flags.crop,
        interpolation: flags.interpolation,
    };
    if !preprocess.is_none() {
        eprintln!(
            "preprocessing: {}, to the model's {}×{}",
            preprocess.describe(),
            model.config.img_size,
            model.config.img_size
        );
    }
    let directions = if let Some(target) = &target {
        let name = flags.interpolate.as_deref().map(display_name);
        let target = target.reference(&name.unwrap_or_default());
        Some(match (&bend, &flags.bend) {
            (Some(loaded), Some(path)) => DirectionSource::Bezier {
                target,
                bend: FileRef {
                    name: display_name(path),
                    sha256: loaded.sha256.clone(),
                },
            },
            _ => DirectionSource::Interpolate { target },
        })
    } else if direction_files.is_empty() {
        None
    } else {
        let file_ref = |i: usize| {
            flags
                .directions
                .get(i)
                .zip(direction_files.get(i))
                .map(|(path, loaded)| FileRef {
                    name: display_name(path),
                    sha256: loaded.sha256.clone(),
                })
        };
        let x = file_ref(0).context("--directions needs at least one file")?;
        match file_ref(1) {
            Some(y) => Some(DirectionSource::Files { x, y: Some(y) }),
            // One file on a plane: y is random, said here and recorded in the spec.
            None if axes.len() == 2 => {
                let norm = format!("{:?}", flags.normalisation).to_lowercase();
                eprintln!(
                    "direction y: random Gaussian (seed {}, --seed), {norm} normalisation (--normalisation); give --directions a second file for another",
                    flags.seed
                );
                Some(DirectionSource::FileAndRandom {
                    x,
                    seed: flags.seed,
                })
            }
            None => Some(DirectionSource::Files { x, y: None }),
        }
    };
    let teacher_name = flags.teacher.as_deref().map(display_name);
    let spec = settings.spec(Inputs {
        checkpoint: model.reference(&display_name(checkpoint)),
        loss: flags.loss,
        teacher: teacher
            .as_ref()
            .map(|t| t.reference(teacher_name.as_deref().unwrap_or_default())),
        data: DataSpec {
            source,
            eval_images: flags.eval_images,
            subset_seed: flags.subset_seed,
            mean: stats.mean,
            std: stats.std,
            mean_std: stats.note,
            preprocess,
        },
        directions,
    })?;
    let mut states = direction_files.into_iter().map(|c| c.state);
    let direction_files = states.next().map(|x| (x, states.next()));
    Ok((
        spec,
        Files {
            model,
            teacher,
            target,
            bend: bend.map(|b| b.state),
            direction_files,
            images: Images::FromSpec,
        },
    ))
}

/// The spec `source` holds (a file, inline JSON or a permalink) and its files, each located by
/// path or sha256 and checked.
fn from_spec(source: &str, panel: Option<&str>, search: &[PathBuf]) -> Result<(SweepSpec, Files)> {
    let path = Path::new(source);
    let mut roots = Vec::new();
    let text = if path.is_file() {
        if let Some(parent) = path.parent() {
            roots.push(if parent.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                parent.to_path_buf()
            });
        }
        std::fs::read_to_string(path).with_context(|| format!("reading --spec {source}"))?
    } else {
        source.to_string()
    };
    roots.extend(search.iter().cloned());
    let shown: String = source.chars().take(80).collect();
    let found = spec::read_specs(&text).with_context(|| format!("--spec {shown}"))?;
    let chosen = spec::select(found, panel).with_context(|| format!("--spec {shown}"))?;
    let spec = chosen.spec;
    eprintln!("spec: {} from {shown}", chosen.label);

    let mut locator = Locator::new(roots);
    let mut checkpoint = |what: &str, reference: &spec::CheckpointRef| -> Result<Model> {
        let found = locator.file(what, &reference.name, &reference.sha256)?;
        eprintln!("{what}: {} (sha256 matches)", found.path.display());
        job::load_model(&found.bytes, reference.branch, Model::heads_of(reference))
            .with_context(|| format!("{what} {}", found.path.display()))
    };
    if spec.checkpoint.heads_assumed {
        eprintln!(
            "note: the spec records that its head counts ({} encoder{}) were assumed, not given by the file",
            spec.checkpoint.num_heads,
            spec.checkpoint
                .decoder_num_heads
                .map(|d| format!(", {d} decoder"))
                .unwrap_or_default()
        );
    }
    let model = checkpoint("checkpoint", &spec.checkpoint)?;
    let teacher = match &spec.loss {
        LossSpec::RcMae { teacher, .. } => Some(checkpoint("teacher", teacher)?),
        _ => None,
    };
    let target = match spec.directions.source.path_target() {
        Some(target) => Some(checkpoint("path target", target)?),
        None => None,
    };
    let mut read = |what: &str, file: &FileRef| -> Result<StateDict> {
        let found = locator.file(what, &file.name, &file.sha256)?;
        eprintln!("{what}: {} (sha256 matches)", found.path.display());
        Ok(checkpoint::read_safetensors(&found.bytes, None)
            .with_context(|| format!("{what} {}", found.path.display()))?
            .state)
    };
    let bend = match &spec.directions.source {
        DirectionSource::Bezier { bend, .. } => Some(read("control point", bend)?),
        _ => None,
    };
    let direction_files = match &spec.directions.source {
        DirectionSource::FileAndRandom { x, .. } => Some((read("direction x", x)?, None)),
        DirectionSource::Files { x, y } => {
            let x = read("direction x", x)?;
            let y = y.as_ref().map(|y| read("direction y", y)).transpose()?;
            Some((x, y))
        }
        _ => None,
    };
    let images = match &spec.data.source {
        DataSource::Embedded { name, sha256 } => {
            if let Some(demo) = locator.demo_subset(name, sha256)? {
                eprintln!(
                    "images: `{name}` = {} (sha256 matches)",
                    demo.images_gz.path.display()
                );
                Images::Demo(Box::new(demo))
            } else {
                let zip = locator.file(&format!("the images `{name}`"), name, sha256).context(
                    "the page's images are the demo subset (pass --search with the demo folder, \
                     static/demo in a vitscape checkout) or a zip archive you gave it (pass \
                     --search with its folder); loose image files dropped on the page cannot be \
                     matched, so zip them or run with --data DIR",
                )?;
                eprintln!("images: {} (sha256 matches)", zip.path.display());
                Images::Zip(zip.bytes)
            }
        }
        DataSource::FashionMnist { .. } | DataSource::ImageFolder { .. } => Images::FromSpec,
    };
    Ok((
        spec,
        Files {
            model,
            teacher,
            target,
            bend,
            direction_files,
            images,
        },
    ))
}

/// Load, subset and normalise the images of a spec whose data are Fashion-MNIST or a folder.
pub(crate) fn images_of(spec: &SweepSpec, model: &Model) -> Result<ImageSet> {
    load_images(spec, model, &Images::FromSpec)
}

/// Load, subset and normalise the evaluation images a spec describes.
fn load_images(spec: &SweepSpec, model: &Model, images: &Images) -> Result<ImageSet> {
    let c = &model.config;
    let set = match images {
        Images::FromSpec => {
            let raw = match &spec.data.source {
                DataSource::FashionMnist { dir, split } => {
                    data::load_fashion_mnist(Path::new(dir), *split)?
                }
                DataSource::ImageFolder { dir } => data::load_image_folder(
                    Path::new(dir),
                    c.in_chans,
                    c.img_size,
                    c.img_size,
                    &spec.data.preprocess,
                )?,
                DataSource::Embedded { name, .. } => {
                    bail!("the images `{name}` were given to the page; use --spec to find them")
                }
            };
            let subset = data::subset(&raw, spec.data.eval_images, spec.data.subset_seed)?;
            let set = data::normalise(&subset, &spec.data.mean, &spec.data.std)?;
            data::check_fits(&set, c.in_chans, c.img_size, c.img_size)?;
            set
        }
        Images::Demo(demo) => job::load_images(
            spec,
            c,
            DataInput::DemoSubset {
                images_gz: &demo.images_gz.bytes,
                labels_gz: &demo.labels_gz.bytes,
                subset: &demo.manifest.eval_subset,
            },
        )?,
        Images::Zip(bytes) => {
            let files = data::unzip(bytes)?;
            job::load_images(spec, c, DataInput::Files(&files))?
        }
    };
    Ok(set)
}
