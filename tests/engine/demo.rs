//! The embedded demo files: every checkpoint in `static/demo/manifest.json` is the file it names
//! (sha256), decodes into the current architecture, and reproduces the metrics recorded for it on
//! the shipped eval subset, which is the stated subset of the Fashion-MNIST test set.

use std::path::{Path, PathBuf};

use vitscape::demo::{Manifest, decode_eval_subset, subset_metrics};
use vitscape::io::checkpoint::sha256_hex;
use vitscape::io::data::{self, ImageSet, RawImages};
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
    // The page's models and the verdict's replicates (other training seeds) alike.
    for entry in m.models.iter().chain(&m.replicates) {
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

/// The demo files as `static/demo/regenerate.sh`'s training folder lays them out
/// (`<run>/<name>.safetensors`): `(run/name, demo file stem)`.
const TRAINING_LAYOUT: [(&str, &str); 7] = [
    ("supervised/supervised", "sup-vit"),
    ("mae/mae", "mae-vit"),
    ("rcmae/rcmae", "rcmae-vit"),
    ("mae-finetune/finetune", "mae-vit-finetune"),
    ("mae-linprobe/linprobe", "mae-vit-linprobe"),
    ("rcmae-finetune/finetune", "rcmae-vit-finetune"),
    ("rcmae-linprobe/linprobe", "rcmae-vit-linprobe"),
];

/// The same safetensors file with its `__metadata__.seed` replaced (tensors untouched).
fn with_seed(bytes: &[u8], seed: u64) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["__metadata__"]["seed"] = serde_json::Value::String(seed.to_string());
    let mut text = serde_json::to_vec(&header).unwrap();
    // safetensors pads the header to 8 bytes with spaces.
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// `vitscape demo-pack --replicate`: another seed's training folder (fine-tuning left out) is
/// packed into `seed-N/` as the manifest's replicates, each with its hash and metrics; a folder
/// trained with the main seed is refused.
#[test]
fn demo_pack_packs_other_seeds_as_replicates() {
    if !Path::new(vitscape::io::data::DEBIAN_FASHION_MNIST).is_dir() {
        panic!(
            "{} is missing: apt-get install dataset-fashion-mnist",
            vitscape::io::data::DEBIAN_FASHION_MNIST
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let (work, replicate, out) = (
        tmp.path().join("work"),
        tmp.path().join("seed-1"),
        tmp.path().join("demo"),
    );
    for (run, stem) in TRAINING_LAYOUT {
        let bytes = std::fs::read(demo_dir().join(format!("{stem}.safetensors"))).unwrap();
        let main = work.join(format!("{run}.safetensors"));
        std::fs::create_dir_all(main.parent().unwrap()).unwrap();
        std::fs::write(&main, &bytes).unwrap();
        if !run.ends_with("finetune") {
            let other = replicate.join(format!("{run}.safetensors"));
            std::fs::create_dir_all(other.parent().unwrap()).unwrap();
            std::fs::write(&other, with_seed(&bytes, 1)).unwrap();
        }
    }
    let path = |p: &Path| p.display().to_string();
    crate::common::ok(&[
        "demo-pack",
        "--work",
        &path(&work),
        "--replicate",
        &path(&replicate),
        "--out",
        &path(&out),
    ]);
    let packed: Manifest =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(packed.models.len(), 7);
    assert!(packed.models.iter().all(|m| m.seed == 0));
    let methods: Vec<&str> = packed
        .replicates
        .iter()
        .map(|m| m.method.as_str())
        .collect();
    assert_eq!(
        methods,
        ["supervised", "mae", "rcmae", "linprobe", "linprobe"]
    );
    for r in &packed.replicates {
        assert_eq!(r.seed, 1);
        assert!(r.file.starts_with("seed-1/"), "{}", r.file);
        let bytes = std::fs::read(out.join(&r.file)).unwrap();
        assert_eq!(sha256_hex(&bytes), r.sha256);
        // The same weights as the seed-0 model of that name: the same metrics on the subset.
        let main = packed.models.iter().find(|m| m.name == r.name).unwrap();
        assert_eq!(r.eval_subset_metrics, main.eval_subset_metrics);
    }
    let err = crate::common::fails(&[
        "demo-pack",
        "--work",
        &path(&work),
        "--replicate",
        &path(&work),
        "--out",
        &path(&tmp.path().join("again")),
    ]);
    assert!(err.contains("a replicate needs another seed"), "{err}");
}
