//! The embedded demo files: every checkpoint in `static/demo/manifest.json` is the file it names
//! (sha256), decodes into the current architecture, and reproduces the metrics recorded for it on
//! the shipped eval subset, which is the stated subset of the Fashion-MNIST test set.

use std::path::{Path, PathBuf};

use vitscape::checkpoint::sha256_hex;
use vitscape::data::{self, ImageSet, RawImages};
use vitscape::demo::{Manifest, decode_eval_subset, subset_metrics};
use vitscape::spec::Split;

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("static/demo")
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(demo_dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn eval_subset(m: &Manifest) -> (RawImages, ImageSet) {
    let s = &m.eval_subset;
    let images = std::fs::read(demo_dir().join(&s.images_file)).unwrap();
    let labels = std::fs::read(demo_dir().join(&s.labels_file)).unwrap();
    assert_eq!(sha256_hex(&images), s.images_sha256);
    assert_eq!(sha256_hex(&labels), s.labels_sha256);
    let (raw, set) = decode_eval_subset(&images, &labels, s).unwrap();
    assert_eq!((raw.n, raw.h, raw.w), (s.n, 28, 28));
    (raw, set)
}

#[test]
fn eval_subset_is_the_stated_part_of_the_test_set() {
    let m = manifest();
    let (raw, _) = eval_subset(&m);
    let test =
        data::load_fashion_mnist(Path::new(data::DEBIAN_FASHION_MNIST), Split::Test).unwrap();
    let expected = data::subset(&test, m.eval_subset.n, m.eval_subset.seed).unwrap();
    assert_eq!(raw.pixels, expected.pixels);
    assert_eq!(raw.labels, expected.labels);
}

#[test]
fn demo_models_decode_and_reproduce_their_recorded_metrics() {
    let m = manifest();
    let (_, images) = eval_subset(&m);
    let mut total = 0;
    assert_eq!(m.models.len(), 7);
    for entry in &m.models {
        let bytes = std::fs::read(demo_dir().join(&entry.file)).unwrap();
        total += bytes.len() as u64;
        assert_eq!(sha256_hex(&bytes), entry.sha256, "{}", entry.file);
        let now = subset_metrics(&bytes, &images, m.eval_subset.mask_seed)
            .unwrap_or_else(|e| panic!("{} no longer decodes or evaluates: {e}", entry.file));
        let recorded = &entry.eval_subset_metrics;
        assert_eq!(
            now.keys().collect::<Vec<_>>(),
            recorded.keys().collect::<Vec<_>>(),
            "{}",
            entry.file
        );
        for (name, value) in &now {
            let r = recorded[name];
            if name.starts_with("accuracy") {
                assert!(
                    (value - r).abs() < 0.5 / images.n as f64,
                    "{}: accuracy {value} vs recorded {r}",
                    entry.file
                );
                // Classifiers must actually classify (chance is 10 %).
                assert!(r > 0.6, "{} accuracy {r}", entry.file);
            } else {
                assert!(
                    (value - r).abs() < 1e-4 * r,
                    "{}: {name} {value} vs recorded {r}",
                    entry.file
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
