//! The embedded demo files: every checkpoint in `static/demo/manifest.json` is the file it names
//! (sha256), decodes into the current architecture, and reproduces the metrics recorded for it on
//! the shipped eval subset, which is the stated subset of the Fashion-MNIST test set.

use std::path::{Path, PathBuf};

use vitscape::arch::HeadCounts;
use vitscape::checkpoint::{self, sha256_hex};
use vitscape::data::{self, ImageSet};
use vitscape::demo::Manifest;
use vitscape::objective::{Evaluator, MaskNoise, Objective};
use vitscape::setup::Model;
use vitscape::spec::{Branch, Split};

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("static/demo")
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(demo_dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn eval_subset(m: &Manifest) -> (ImageSet, data::RawImages) {
    let s = &m.eval_subset;
    let images = std::fs::read(demo_dir().join(&s.images_file)).unwrap();
    let labels = std::fs::read(demo_dir().join(&s.labels_file)).unwrap();
    assert_eq!(sha256_hex(&images), s.images_sha256);
    assert_eq!(sha256_hex(&labels), s.labels_sha256);
    let (n, h, w, pixels) = data::parse_idx_images(&images).unwrap();
    let raw = data::RawImages {
        pixels,
        labels: Some(data::parse_idx_labels(&labels).unwrap()),
        class_names: vec![],
        n,
        c: 1,
        h,
        w,
    };
    assert_eq!((n, h, w), (s.n, 28, 28));
    (data::normalise(&raw, &[s.mean], &[s.std]).unwrap(), raw)
}

#[test]
fn eval_subset_is_the_stated_part_of_the_test_set() {
    let m = manifest();
    let (_, raw) = eval_subset(&m);
    let test =
        data::load_fashion_mnist(Path::new(data::DEBIAN_FASHION_MNIST), Split::Test).unwrap();
    let expected = data::subset(&test, m.eval_subset.n, m.eval_subset.seed).unwrap();
    assert_eq!(raw.pixels, expected.pixels);
    assert_eq!(raw.labels, expected.labels);
}

#[test]
fn demo_models_decode_and_reproduce_their_recorded_metrics() {
    let m = manifest();
    let (images, _) = eval_subset(&m);
    let device = burn::tensor::Device::flex();
    let mut total = 0;
    assert_eq!(m.models.len(), 7);
    for model_entry in &m.models {
        let bytes = std::fs::read(demo_dir().join(&model_entry.file)).unwrap();
        total += bytes.len() as u64;
        assert_eq!(
            sha256_hex(&bytes),
            model_entry.sha256,
            "{}",
            model_entry.file
        );
        let two = checkpoint::read_safetensors(&bytes, None)
            .unwrap()
            .branch
            .is_some();
        let branches = if two {
            vec![Some(Branch::Student), Some(Branch::Teacher)]
        } else {
            vec![None]
        };
        for branch in branches {
            let suffix = match branch {
                Some(Branch::Student) => "_student",
                Some(Branch::Teacher) => "_teacher",
                None => "",
            };
            let model = Model::new(
                checkpoint::read_safetensors(&bytes, branch).unwrap(),
                HeadCounts::default(),
            )
            .unwrap_or_else(|e| panic!("{} no longer decodes: {e}", model_entry.file));
            let buffers =
                vitscape::model::upload_buffers(&model.config, &model.checkpoint.state, &device)
                    .unwrap();
            let recorded = &model_entry.eval_subset_metrics;
            if model.config.head.is_some() {
                let ev = Evaluator::new(
                    &device,
                    model.config,
                    &model.theta,
                    &[],
                    buffers,
                    &images,
                    Objective::Classification,
                    128,
                    None,
                )
                .unwrap();
                let v = ev.eval(&[]).unwrap();
                let acc = recorded[&format!("accuracy{suffix}")];
                assert!(
                    (v["accuracy"] - acc).abs() < 0.5 / images.n as f64,
                    "{}: accuracy {} vs recorded {acc}",
                    model_entry.file,
                    v["accuracy"]
                );
                let loss = recorded[&format!("loss{suffix}")];
                assert!(
                    (v["loss"] - loss).abs() < 1e-4 * loss,
                    "{}: loss {} vs {loss}",
                    model_entry.file,
                    v["loss"]
                );
                // Classifiers must actually classify (chance is 10 %).
                assert!(acc > 0.6, "{} accuracy {acc}", model_entry.file);
            } else {
                let objective = Objective::Mae {
                    mask_ratio: 0.75,
                    norm_pix_loss: true,
                    noise: MaskNoise::seeded(
                        images.n,
                        model.config.num_patches(),
                        m.eval_subset.mask_seed,
                    ),
                };
                let ev = Evaluator::new(
                    &device,
                    model.config,
                    &model.theta,
                    &[],
                    buffers,
                    &images,
                    objective,
                    128,
                    None,
                )
                .unwrap();
                let v = ev.eval(&[]).unwrap()["loss"];
                let r = recorded[&format!("reconstruction{suffix}")];
                assert!(
                    (v - r).abs() < 1e-4 * r,
                    "{}: reconstruction {v} vs {r}",
                    model_entry.file
                );
            }
        }
    }
    let s = &m.eval_subset;
    total += std::fs::metadata(demo_dir().join(&s.images_file))
        .unwrap()
        .len()
        + std::fs::metadata(demo_dir().join(&s.labels_file))
            .unwrap()
            .len();
    assert_eq!(total, m.total_bytes, "manifest total size");
}
