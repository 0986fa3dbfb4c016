//! The embedded demo's manifest (`static/demo/manifest.json`): which checkpoint is which model,
//! how it was trained, its metrics and hash, and the eval subset they are evaluated on. The CLI
//! writes it (`vitscape demo-pack`); the tests and the web app read it.

pub mod verdict;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::io::data::{self, ImageSet, RawImages};

/// Manifest of the demo files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Where the data came from and its licence.
    pub dataset: String,
    /// The eval subset shipped with the demo.
    pub eval_subset: EvalSubset,
    /// The models the page shows.
    pub models: Vec<DemoModel>,
    /// The same models trained with other seeds, for the verdict's training seeds (files in
    /// `seed-N/`); the page does not show them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicates: Vec<DemoModel>,
    /// Sum of all file sizes in bytes (models and eval subset).
    pub total_bytes: u64,
    /// The command that regenerates everything.
    pub regenerate: String,
    /// vitscape version that packed the files.
    pub vitscape_version: String,
}

/// A fixed subset of the Fashion-MNIST test set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EvalSubset {
    /// Gzip'd IDX images file.
    pub images_file: String,
    /// Gzip'd IDX labels file.
    pub labels_file: String,
    /// Number of images.
    pub n: usize,
    /// Subset seed (a seeded permutation of the 10 000 test images, first `n`).
    pub seed: u64,
    /// Normalisation mean.
    pub mean: f32,
    /// Normalisation std.
    pub std: f32,
    /// sha256 of the images file.
    pub images_sha256: String,
    /// sha256 of the labels file.
    pub labels_sha256: String,
    /// Mask seed used for the recorded reconstruction losses.
    pub mask_seed: u64,
}

/// One demo checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DemoModel {
    /// File name in `static/demo/`.
    pub file: String,
    /// Display name (Sup-ViT, MAE-ViT, RC-MAE-ViT, ...).
    pub name: String,
    /// Training method (`supervised`, `mae`, `rcmae`, `finetune`, `linprobe`).
    pub method: String,
    /// Pre-training family the encoder comes from (`supervised`, `mae`, `rcmae`).
    pub family: String,
    /// `pretrain` or `downstream`.
    pub stage: String,
    /// Epochs trained (in this stage).
    pub epochs: usize,
    /// Seed.
    pub seed: u64,
    /// sha256 of the file.
    pub sha256: String,
    /// File size.
    pub bytes: u64,
    /// Metrics on the full Fashion-MNIST test set after training (from the checkpoint metadata).
    pub test_metrics: BTreeMap<String, f64>,
    /// Metrics on the shipped eval subset (what the tests recompute).
    pub eval_subset_metrics: BTreeMap<String, f64>,
    /// The command that trained it.
    pub command: String,
}

/// Decode the shipped eval subset from its two gzip'd IDX files: the raw images and the
/// normalised set the metrics are computed on.
pub fn decode_eval_subset(
    images_gz: &[u8],
    labels_gz: &[u8],
    subset: &EvalSubset,
) -> Result<(RawImages, ImageSet), Error> {
    let (n, h, w, pixels) = data::parse_idx_images(images_gz)?;
    let raw = RawImages {
        pixels,
        labels: Some(data::parse_idx_labels(labels_gz)?),
        class_names: data::FASHION_MNIST_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        n,
        c: 1,
        h,
        w,
    };
    let set = data::normalise(&raw, &[subset.mean], &[subset.std])?;
    Ok((raw, set))
}

/// Metrics of one demo checkpoint on the eval subset: accuracy and loss for classifiers, the
/// masked reconstruction loss (mask ratio 0.75, normalised pixels, `mask_seed`) for pre-trained
/// MAEs; for files holding `student.*` and `teacher.*`, each branch with a `_student` /
/// `_teacher` suffix. These are the `eval_subset_metrics` of the manifest.
#[cfg(all(feature = "engine", not(target_arch = "wasm32")))]
pub fn subset_metrics(
    bytes: &[u8],
    images: &ImageSet,
    mask_seed: u64,
) -> Result<BTreeMap<String, f64>, Error> {
    use crate::io::checkpoint;
    use crate::landscape::objective::{Evaluator, MaskNoise, Objective};
    use crate::landscape::setup::Model;
    use crate::model::arch::HeadCounts;
    use crate::spec::Branch;

    let device = burn::tensor::Device::flex();
    let branches: Vec<Option<Branch>> =
        if checkpoint::read_safetensors(bytes, None)?.branch.is_some() {
            vec![Some(Branch::Student), Some(Branch::Teacher)]
        } else {
            vec![None]
        };
    let mut out = BTreeMap::new();
    for branch in branches {
        let model = Model::new(
            checkpoint::read_safetensors(bytes, branch)?,
            HeadCounts::default(),
        )?;
        let buffers =
            crate::model::upload_buffers(&model.config, &model.checkpoint.state, &device)?;
        let suffix = match branch {
            Some(Branch::Student) => "_student",
            Some(Branch::Teacher) => "_teacher",
            None => "",
        };
        let classifier = model.config.head.is_some();
        let objective = if classifier {
            Objective::Classification
        } else {
            Objective::Mae {
                mask_ratio: 0.75,
                norm_pix_loss: true,
                noise: MaskNoise::seeded(images.n, model.config.num_patches(), mask_seed),
            }
        };
        let ev = Evaluator::new(
            &device,
            model.config,
            &model.theta,
            &[],
            buffers,
            images,
            objective,
            256,
            None,
        )?;
        let v = ev.eval(&[])?;
        if classifier {
            out.insert(format!("accuracy{suffix}"), v["accuracy"]);
            out.insert(format!("loss{suffix}"), v["loss"]);
        } else {
            out.insert(format!("reconstruction{suffix}"), v["loss"]);
        }
    }
    Ok(out)
}
