//! `vitscape demo-pack`: copy the trained demo checkpoints into `static/demo/`, write the eval
//! subset and `manifest.json` with hashes, sizes and metrics (recomputed on the subset).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use vitscape::demo::{DemoModel, EvalSubset, Manifest, decode_eval_subset, subset_metrics};
use vitscape::io::checkpoint::{self, sha256_hex};
use vitscape::io::data::{self, DEBIAN_FASHION_MNIST, FASHION_MNIST_MEAN, FASHION_MNIST_STD};
use vitscape::spec::Split;

/// Flags of `vitscape demo-pack`.
#[derive(Args, Debug)]
pub struct DemoPackArgs {
    /// The training folder of `static/demo/regenerate.sh`.
    #[arg(long)]
    pub work: PathBuf,
    /// Destination (static/demo).
    #[arg(long)]
    pub out: PathBuf,
    /// Images in the eval subset.
    #[arg(long, default_value_t = 512)]
    pub eval_images: usize,
    /// Training folders of other seeds (as --work, fine-tuning optional), packed into
    /// `seed-N/` as the manifest's replicates for the verdict's training seeds.
    #[arg(long, num_args = 1..)]
    pub replicate: Vec<PathBuf>,
    /// Fashion-MNIST folder.
    #[arg(long, default_value = DEBIAN_FASHION_MNIST)]
    pub data_dir: PathBuf,
}

/// (source sub-folder/file, demo file, display name, method, family, stage)
const MODELS: [(&str, &str, &str, &str, &str, &str); 7] = [
    (
        "supervised/supervised",
        "sup-vit",
        "Sup-ViT",
        "supervised",
        "supervised",
        "pretrain",
    ),
    ("mae/mae", "mae-vit", "MAE-ViT", "mae", "mae", "pretrain"),
    (
        "rcmae/rcmae",
        "rcmae-vit",
        "RC-MAE-ViT",
        "rcmae",
        "rcmae",
        "pretrain",
    ),
    (
        "mae-finetune/finetune",
        "mae-vit-finetune",
        "MAE-ViT fine-tuned",
        "finetune",
        "mae",
        "downstream",
    ),
    (
        "mae-linprobe/linprobe",
        "mae-vit-linprobe",
        "MAE-ViT linear probe",
        "linprobe",
        "mae",
        "downstream",
    ),
    (
        "rcmae-finetune/finetune",
        "rcmae-vit-finetune",
        "RC-MAE-ViT fine-tuned",
        "finetune",
        "rcmae",
        "downstream",
    ),
    (
        "rcmae-linprobe/linprobe",
        "rcmae-vit-linprobe",
        "RC-MAE-ViT linear probe",
        "linprobe",
        "rcmae",
        "downstream",
    ),
];

/// Mask seed of the recorded reconstruction losses.
pub const MASK_SEED: u64 = 0;
/// Subset seed of the eval images.
pub const SUBSET_SEED: u64 = 0;

/// `vitscape demo-pack`.
pub fn run(args: DemoPackArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let test = data::load_fashion_mnist(&args.data_dir, Split::Test)?;
    let raw = data::subset(&test, args.eval_images, SUBSET_SEED)?;
    let (images_gz, labels_gz) = data::write_idx(&raw)?;
    let labels_gz = labels_gz.context("the test split has labels")?;
    let subset = EvalSubset {
        images_file: "eval-images-idx3-ubyte.gz".into(),
        labels_file: "eval-labels-idx1-ubyte.gz".into(),
        n: raw.n,
        seed: SUBSET_SEED,
        mean: FASHION_MNIST_MEAN,
        std: FASHION_MNIST_STD,
        images_sha256: sha256_hex(&images_gz),
        labels_sha256: sha256_hex(&labels_gz),
        mask_seed: MASK_SEED,
    };
    vitscape::io::atomic::write(&args.out.join(&subset.images_file), &images_gz)?;
    vitscape::io::atomic::write(&args.out.join(&subset.labels_file), &labels_gz)?;
    let mut total = (images_gz.len() + labels_gz.len()) as u64;
    let (_, images) = decode_eval_subset(&images_gz, &labels_gz, &subset)?;
    let models = pack(&args.work, &args.out, None, &images, &mut total)?;
    let seed0: Vec<u64> = models.iter().map(|m| m.seed).collect();
    let mut replicates: Vec<DemoModel> = Vec::new();
    for dir in &args.replicate {
        let packed = pack(dir, &args.out, Some(&seed0), &images, &mut total)?;
        let seed = packed.first().map(|m| m.seed);
        if let Some(m) = replicates.iter().find(|m| Some(m.seed) == seed) {
            anyhow::bail!(
                "{} holds seed {}, already packed from another --replicate ({})",
                dir.display(),
                m.seed,
                m.file
            );
        }
        replicates.extend(packed);
    }
    let manifest = Manifest {
        dataset: "Fashion-MNIST (Zalando, MIT licence), Debian package dataset-fashion-mnist"
            .into(),
        eval_subset: subset,
        models,
        replicates,
        total_bytes: total,
        regenerate: "bash static/demo/regenerate.sh".into(),
        vitscape_version: vitscape::VERSION.into(),
    };
    vitscape::io::atomic::write(
        &args.out.join("manifest.json"),
        (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes(),
    )?;
    eprintln!(
        "wrote {} ({} bytes in all)",
        args.out.join("manifest.json").display(),
        total
    );
    Ok(())
}

/// Copy the models of one training folder into `out` (a replicate's into `seed-N/`, N its
/// seed, which must differ from every seed in `replicate_of`, the main folder's) with their
/// metrics on the eval subset. The main folder needs all of [`MODELS`]; a replicate the five the
/// verdict compares (the fine-tuned models are optional).
fn pack(
    work: &std::path::Path,
    out: &std::path::Path,
    replicate_of: Option<&[u64]>,
    images: &vitscape::io::data::ImageSet,
    total: &mut u64,
) -> Result<Vec<DemoModel>> {
    let mut models = Vec::new();
    let mut seed: Option<u64> = None;
    for (src, file, name, method, family, stage) in MODELS {
        let path = work.join(format!("{src}.safetensors"));
        if replicate_of.is_some() && method == "finetune" && !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let loaded = checkpoint::read_safetensors(&bytes, None)?;
        let meta = &loaded.state.metadata;
        let report: serde_json::Value = meta
            .get("metrics")
            .map(|m| serde_json::from_str(m))
            .transpose()?
            .unwrap_or_default();
        let test_metrics: BTreeMap<String, f64> =
            serde_json::from_value(report["test"].clone()).unwrap_or_default();
        let this_seed: u64 = meta
            .get("seed")
            .and_then(|e| e.parse().ok())
            .with_context(|| format!("{} records no training seed", path.display()))?;
        match seed {
            Some(s) if s != this_seed => anyhow::bail!(
                "{} was trained with seed {this_seed}, the folder's other models with {s}",
                path.display()
            ),
            _ => seed = Some(this_seed),
        }
        let file_name = match replicate_of {
            None => format!("{file}.safetensors"),
            Some(main_seeds) => {
                if main_seeds.contains(&this_seed) {
                    anyhow::bail!(
                        "{} was trained with seed {this_seed}, as the --work models: a replicate needs another seed",
                        path.display()
                    );
                }
                format!("seed-{this_seed}/{file}.safetensors")
            }
        };
        let dest = out.join(&file_name);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        vitscape::io::atomic::write(&dest, &bytes)?;
        *total += bytes.len() as u64;
        models.push(DemoModel {
            file: file_name,
            name: name.into(),
            method: method.into(),
            family: family.into(),
            stage: stage.into(),
            epochs: meta.get("epoch").and_then(|e| e.parse().ok()).unwrap_or(0),
            seed: this_seed,
            sha256: sha256_hex(&bytes),
            bytes: bytes.len() as u64,
            test_metrics,
            eval_subset_metrics: subset_metrics(&bytes, images, MASK_SEED)?,
            command: meta.get("command").cloned().unwrap_or_default(),
        });
        eprintln!("packed {name} (seed {this_seed})");
    }
    Ok(models)
}
