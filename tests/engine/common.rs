//! Helpers shared by the integration tests: the committed fixtures (tiny PyTorch-built models and
//! the data vitscape exported for the PyTorch reference) and a spec for hand-made surfaces.
#![allow(dead_code)] // not every helper is used by every configuration of the tests

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vitscape::io::checkpoint;
use vitscape::io::data::ImageSet;
use vitscape::landscape::objective::{MaskNoise, read_eval_data};
use vitscape::landscape::setup::Model;
use vitscape::model::arch::HeadCounts;
use vitscape::spec::*;

/// `tests/fixtures`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fixture model (`tests/fixtures/models/<name>.safetensors`), architecture inferred.
pub fn fixture_model(name: &str) -> Model {
    let path = fixtures().join(format!("models/{name}.safetensors"));
    Model::new(
        checkpoint::read_file(&path, None).unwrap(),
        HeadCounts::default(),
    )
    .unwrap()
}

/// The images, labels and mask noise exported for a reference case
/// (`tests/fixtures/exports/<case>/eval_data.safetensors`).
pub fn eval_data(case: &str) -> (ImageSet, Option<MaskNoise>) {
    let bytes = std::fs::read(fixtures().join(format!("exports/{case}/eval_data.safetensors")));
    read_eval_data(&bytes.unwrap()).unwrap()
}

/// A complete spec for surfaces built by hand (analytic or from an `Evaluator`).
pub fn spec(x: Axis, y: Option<Axis>) -> SweepSpec {
    SweepSpec {
        version: SPEC_VERSION,
        checkpoint: CheckpointRef {
            name: "test".into(),
            sha256: String::new(),
            branch: None,
            num_heads: 2,
            decoder_num_heads: None,
            heads_assumed: false,
        },
        data: DataSpec {
            source: DataSource::Embedded {
                name: "fixture".into(),
                sha256: String::new(),
            },
            eval_images: 64,
            subset_seed: 5,
            mean: vec![0.286],
            std: vec![0.353],
            mean_std: None,
            preprocess: Default::default(),
        },
        loss: LossSpec::Classification,
        directions: DirectionSpec {
            source: DirectionSource::Random { seed: 9 },
            normalisation: Normalisation::Filter,
            include_rank1: false,
            include_pos_embed: false,
        },
        grid: GridSpec { x, y },
        batch_size: 32,
    }
}

/// Run the `vitscape` binary.
pub fn vitscape(args: &[&str]) -> Output {
    // Run inside a Slurm array or a Kubernetes indexed Job, the CLI would take its shard from
    // these; the tests say which shard they mean.
    Command::new(env!("CARGO_BIN_EXE_vitscape"))
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .expect("run vitscape")
}

/// Run it and require success.
pub fn ok(args: &[&str]) -> Output {
    let out = vitscape(args);
    assert!(
        out.status.success(),
        "vitscape {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run it, require failure without a panic, and return stderr.
pub fn fails(args: &[&str]) -> String {
    let out = vitscape(args);
    assert!(!out.status.success(), "vitscape {args:?} should fail");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}
