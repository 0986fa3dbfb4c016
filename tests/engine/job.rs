//! What the browser worker does with bytes (`vitscape::landscape::job`), checked natively: the demo subset
//! is exactly the CLI's Fashion-MNIST subset, image uploads (files or a zip, class folders =
//! labels) decode, hostile archives are refused, and a spec naming another file is rejected.

use crate::common;

use std::io::Write;
use std::path::Path;

use vitscape::demo::{self, Manifest};
use vitscape::error::Error;
use vitscape::io::data::{self, DataError, MAX_DECOMPRESSED_BYTES};
use vitscape::landscape::job::{self, DataInput};
use vitscape::landscape::setup::Extras;
use vitscape::spec::{Axis, DataSource, DataSpec, Split};

fn demo_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("static/demo")
}

#[test]
fn the_demo_subset_is_the_clis_fashion_mnist_subset() {
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(demo_dir().join("manifest.json")).unwrap()).unwrap();
    let subset = &manifest.eval_subset;
    let images_gz = std::fs::read(demo_dir().join(&subset.images_file)).unwrap();
    let labels_gz = std::fs::read(demo_dir().join(&subset.labels_file)).unwrap();
    let model = common::fixture_model("cls_token");
    let mut spec = common::spec(Axis::parse("-1:1:3").unwrap(), None);
    spec.data = DataSpec {
        source: DataSource::Embedded {
            name: "demo".into(),
            sha256: subset.images_sha256.clone(),
        },
        eval_images: 100,
        subset_seed: subset.seed,
        mean: vec![subset.mean],
        std: vec![subset.std],
        mean_std: None,
        preprocess: Default::default(),
    };
    let input = DataInput::DemoSubset {
        images_gz: &images_gz,
        labels_gz: &labels_gz,
        subset,
    };
    let page = job::load_images(&spec, &model.config, input).unwrap();
    // The CLI: the Debian package's test split, permuted with the same seed, first 100.
    let raw = data::load_fashion_mnist(Path::new(data::DEBIAN_FASHION_MNIST), Split::Test)
        .expect("dataset-fashion-mnist is installed by .ci/setup");
    let cli = data::normalise(
        &data::subset(&raw, 100, subset.seed).unwrap(),
        &[subset.mean],
        &[subset.std],
    )
    .unwrap();
    assert_eq!(page.n, 100);
    assert_eq!(page.labels, cli.labels);
    assert_eq!(page.pixels, cli.pixels);
    // More images than the subset holds, or another seed, are named.
    spec.data.eval_images = 513;
    let err = job::load_images(&spec, &model.config, input)
        .unwrap_err()
        .to_string();
    assert!(err.contains("513") && err.contains("512"), "{err}");
    spec.data.eval_images = 10;
    spec.data.subset_seed = 4;
    let err = job::load_images(&spec, &model.config, input)
        .unwrap_err()
        .to_string();
    assert!(err.contains("seed 0"), "{err}");
    // The eval subset itself decodes to what the demo module reads.
    let (raw_subset, _) = demo::decode_eval_subset(&images_gz, &labels_gz, subset).unwrap();
    assert_eq!(raw_subset.n, 512);
}

fn png(value: u8) -> Vec<u8> {
    let img = image::GrayImage::from_pixel(28, 28, image::Luma([value]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        w.start_file(*name, options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn uploaded_images_and_zips_decode_with_folder_labels() {
    let archive = zip_of(&[
        ("upload/bag/1.png", png(10)),
        ("upload/bag/2.png", png(20)),
        ("upload/shirt/3.png", png(200)),
        ("upload/readme.txt", b"not an image".to_vec()),
    ]);
    let files = data::unzip(&archive).unwrap();
    assert_eq!(files.len(), 3, "the text file is skipped");
    let model = common::fixture_model("cls_token");
    let mut spec = common::spec(Axis::parse("-1:1:3").unwrap(), None);
    spec.data.eval_images = 3;
    spec.data.subset_seed = 0;
    spec.data.mean = vec![0.0];
    spec.data.std = vec![1.0];
    let set = job::load_images(&spec, &model.config, DataInput::Files(&files)).unwrap();
    assert_eq!(set.n, 3);
    let mut labels = set.labels.clone().unwrap();
    labels.sort();
    assert_eq!(labels, vec![0, 0, 1], "bag = 0, shirt = 1");
    // Every pixel is one of the three grey levels, scaled to [0, 1].
    for v in &set.pixels {
        assert!(
            [10.0f32, 20.0, 200.0]
                .iter()
                .any(|g| (v - g / 255.0).abs() < 1e-6),
            "{v}"
        );
    }
    // Asking for more images than uploaded is refused by count: a spec never overstates what
    // was evaluated.
    spec.data.eval_images = 50;
    let err = job::load_images(&spec, &model.config, DataInput::Files(&files))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("50") && err.contains("3 are available"),
        "{err}"
    );
    spec.data.eval_images = 1;
    // A wrong-size image is refused, naming the file and the fix (never squashed silently);
    // with the spec's resize and crop it fits, and another channel count is converted.
    let small = vec![("a.png".to_string(), {
        let img = image::RgbImage::from_pixel(14, 20, image::Rgb([255, 0, 0]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    })];
    let err = job::load_images(&spec, &model.config, DataInput::Files(&small))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a.png is 14×20") && err.contains("--resize"),
        "{err}"
    );
    spec.data.preprocess = vitscape::io::data::Preprocess {
        resize: Some(28),
        crop: Some(28),
        interpolation: vitscape::io::data::Interpolation::Bicubic,
    };
    assert_eq!(
        job::load_images(&spec, &model.config, DataInput::Files(&small))
            .unwrap()
            .n,
        1
    );
}

#[test]
fn hostile_or_broken_archives_are_refused() {
    // Not a zip.
    let err = data::unzip(b"PK\x03\x04 but then nothing").unwrap_err();
    assert!(matches!(err, DataError::Zip { .. }), "{err}");
    // A zip bomb: one entry inflating past the limit (it compresses to a few hundred KB).
    let bomb = zip_of(&[("big.png", vec![0u8; MAX_DECOMPRESSED_BYTES + 10])]);
    assert!(bomb.len() < 1 << 20);
    assert_eq!(
        data::unzip(&bomb).unwrap_err(),
        DataError::TooLarge {
            limit_bytes: MAX_DECOMPRESSED_BYTES
        }
    );
    // No images inside.
    let err = data::unzip(&zip_of(&[("notes.txt", b"hi".to_vec())]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no") || err.contains("No"), "{err}");
}

#[test]
fn a_spec_naming_another_checkpoint_is_rejected_and_inspection_reports_the_file() {
    let bytes = std::fs::read(common::fixtures().join("models/mae.safetensors")).unwrap();
    let inspection = job::inspect("mae.safetensors", &bytes, None, Default::default()).unwrap();
    assert!(
        inspection.summary().contains("MAE decoder"),
        "{}",
        inspection.summary()
    );
    assert_eq!(
        inspection.tensors.len(),
        inspection
            .tensors
            .iter()
            .filter(|(n, _)| !n.is_empty())
            .count()
    );
    let model = job::load_model(&bytes, None, Default::default()).unwrap();
    let (images, _) = common::eval_data("cls_token");
    let mut spec = common::spec(Axis::parse("-1:1:3").unwrap(), None);
    spec.checkpoint = model.reference("mae.safetensors");
    spec.checkpoint.sha256 = "0".repeat(64);
    let err = job::start(
        &spec,
        &model,
        &Extras::default(),
        &images,
        &burn::tensor::Device::flex(),
        "CPU",
    )
    .err()
    .unwrap();
    assert!(
        matches!(err, Error::Spec(_)) && err.to_string().contains("hashes to"),
        "{err}"
    );
    // A corrupt file is named, not a panic.
    assert!(job::inspect("x.safetensors", &bytes[..100], None, Default::default()).is_err());
}
