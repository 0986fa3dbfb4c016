//! The embedded demo's manifest (`static/demo/manifest.json`): which checkpoint is which model,
//! how it was trained, its metrics and hash, and the eval subset they are evaluated on. The CLI
//! writes it (`vitscape demo-pack`); the tests and the web app read it.

use serde::{Deserialize, Serialize};

/// Manifest of the demo files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Where the data came from and its licence.
    pub dataset: String,
    /// The eval subset shipped with the demo.
    pub eval_subset: EvalSubset,
    /// The models.
    pub models: Vec<DemoModel>,
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
    pub test_metrics: std::collections::BTreeMap<String, f64>,
    /// Metrics on the shipped eval subset (what the tests recompute).
    pub eval_subset_metrics: std::collections::BTreeMap<String, f64>,
    /// The command that trained it.
    pub command: String,
}
