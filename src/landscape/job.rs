//! A landscape job from bytes: what the browser worker (and the tests that check it against the
//! CLI) do with a spec and the files it names. Target-neutral — the CLI reads files and calls the
//! same `setup` pieces; the worker receives bytes from the page and calls these.

use burn::tensor::Device;

use crate::demo::{self, EvalSubset};
use crate::error::{Error, SpecError};
use crate::io::checkpoint::{self, StateDict, TensorEntry};
use crate::io::data::{self, DataError, ImageSet};
use crate::landscape::directions;
use crate::landscape::objective::Objective;
use crate::landscape::setup::{self, Extras, Model, Prepared};
use crate::landscape::surface::Surface;
use crate::model::arch::VitConfig;
use crate::spec::{DirectionSource, SweepSpec};

pub use crate::io::inspect::{Inspection, inspect, load_model};

/// Evaluation images as bytes.
#[derive(Debug, Clone, Copy)]
pub enum DataInput<'a> {
    /// The demo's shipped subset (gzip'd IDX images and labels), described by the manifest: a
    /// job takes its first `eval_images`, which are exactly the images the CLI picks with
    /// `--data fashion-mnist --subset-seed <subset seed> --eval-images N`.
    DemoSubset {
        /// `eval-images-idx3-ubyte.gz`.
        images_gz: &'a [u8],
        /// `eval-labels-idx1-ubyte.gz`.
        labels_gz: &'a [u8],
        /// The manifest's description.
        subset: &'a EvalSubset,
    },
    /// Image files `(path, bytes)` (class sub-folders give labels), subset like an image folder.
    Files(&'a [(String, Vec<u8>)]),
}

/// The normalised images a spec asks for.
pub fn load_images(
    spec: &SweepSpec,
    config: &VitConfig,
    input: DataInput<'_>,
) -> Result<ImageSet, Error> {
    let (c, size) = (config.in_chans, config.img_size);
    let raw = match input {
        DataInput::DemoSubset {
            images_gz,
            labels_gz,
            subset,
        } => {
            if spec.data.subset_seed != subset.seed {
                return Err(SpecError::Field {
                    field: "data.subset_seed".into(),
                    reason: format!(
                        "the demo subset was drawn with seed {}, not {}",
                        subset.seed, spec.data.subset_seed
                    ),
                }
                .into());
            }
            let (raw, _) = demo::decode_eval_subset(images_gz, labels_gz, subset)?;
            first(&raw, spec.data.eval_images)?
        }
        DataInput::Files(files) => {
            let raw = data::decode_images(files, c, size, size, &spec.data.preprocess)?;
            // Never fewer than the spec says: a spec must not overstate what was evaluated.
            data::subset(&raw, spec.data.eval_images, spec.data.subset_seed)?
        }
    };
    let set = data::normalise(&raw, &spec.data.mean, &spec.data.std)?;
    data::check_fits(&set, c, size, size)?;
    Ok(set)
}

/// The first `count` images (the demo subset is already a seeded permutation).
fn first(raw: &data::RawImages, count: usize) -> Result<data::RawImages, DataError> {
    if count == 0 || count > raw.n {
        return Err(DataError::Subset {
            count,
            available: raw.n,
        });
    }
    let mut out = raw.clone();
    out.pixels.truncate(count * raw.image_len());
    if let Some(labels) = out.labels.as_mut() {
        labels.truncate(count);
    }
    out.n = count;
    Ok(out)
}

/// A prepared job: the evaluator and the empty surface with every fact filled in. The direction
/// files the page offers for download are [`direction_files`], made by whoever needs them.
pub struct Started {
    /// The evaluator and directions.
    pub prepared: Prepared,
    /// No cell computed yet; `info` holds direction norms, cosine, parameters, architecture, device.
    pub surface: Surface,
}

/// Prepare a job on `device` (named `device_name` in the surface's info).
pub fn start(
    spec: &SweepSpec,
    model: &Model,
    extras: &Extras,
    images: &ImageSet,
    device: &Device,
    device_name: &str,
) -> Result<Started, Error> {
    if spec.checkpoint.sha256 != model.checkpoint.sha256 {
        return Err(SpecError::Field {
            field: "checkpoint.sha256".into(),
            reason: format!(
                "the spec names {} but the file given hashes to {}",
                spec.checkpoint.sha256, model.checkpoint.sha256
            ),
        }
        .into());
    }
    let prepared = setup::prepare(spec, model, extras, images, device)?;
    let mut surface = Surface::empty(spec.clone(), &prepared.evaluator.objective().metric_names());
    setup::record_facts(&mut surface.info, model, &prepared, device_name);
    Ok(Started { prepared, surface })
}

/// The directions as safetensors files keyed by the checkpoint's timm names (PyTorch layout),
/// with metadata naming the checkpoint and the direction settings.
pub fn direction_files(
    spec: &SweepSpec,
    model: &Model,
    prepared: &Prepared,
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    // A curve's two terms are not a plane: it is defined by its checkpoints and control point.
    if let DirectionSource::Bezier { .. } = spec.directions.source {
        return Ok(Vec::new());
    }
    let settings = serde_json::to_string(&spec.directions).map_err(|source| Error::Json {
        context: "direction settings".into(),
        source,
    })?;
    prepared
        .directions
        .vectors
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let axis = if i == 0 { "x" } else { "y" };
            let meta = [
                ("format", "vitscape-direction".to_string()),
                ("axis", axis.to_string()),
                ("checkpoint_sha256", model.checkpoint.sha256.clone()),
                ("spec", settings.clone()),
            ];
            let state = directions::to_state_dict(&model.layout, d, &meta);
            Ok((
                format!("direction_{axis}.safetensors"),
                checkpoint::write_safetensors(&state)?,
            ))
        })
        .collect()
}

/// The per-image mask noise of a reconstruction objective as a safetensors file
/// (`mask_noise`, n×L), or `None` for classification.
pub fn mask_file(objective: &Objective) -> Result<Option<Vec<u8>>, Error> {
    let noise = match objective {
        Objective::Mae { noise, .. } | Objective::RcMae { noise, .. } => noise,
        Objective::Classification => return Ok(None),
    };
    let mut masks = StateDict::default();
    masks.tensors.insert(
        "mask_noise".into(),
        TensorEntry {
            shape: vec![noise.n, noise.l],
            data: noise.values.clone(),
        },
    );
    masks.metadata.insert(
        "about".into(),
        "MAE random_masking noise per eval image: argsort ascending, keep the first floor(L(1-r))"
            .into(),
    );
    Ok(Some(checkpoint::write_safetensors(&masks)?))
}
