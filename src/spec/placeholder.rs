//! A spec for tests that need one but not its files: everything but the grid is a placeholder.

use super::*;

/// A spec over the given axes; its checkpoint and data name nothing that exists.
pub(crate) fn placeholder(x: Axis, y: Option<Axis>) -> SweepSpec {
    SweepSpec {
        version: SPEC_VERSION,
        checkpoint: CheckpointRef {
            name: "test.safetensors".into(),
            sha256: "0".repeat(64),
            branch: None,
            num_heads: 3,
            decoder_num_heads: None,
            heads_assumed: false,
        },
        data: DataSpec {
            source: DataSource::FashionMnist {
                dir: "/nonexistent".into(),
                split: Split::Test,
            },
            eval_images: 16,
            subset_seed: 0,
            mean: vec![0.5],
            std: vec![0.5],
            mean_std: None,
            preprocess: Default::default(),
        },
        loss: LossSpec::Classification,
        directions: DirectionSpec {
            source: DirectionSource::Random { seed: 0 },
            normalisation: Normalisation::Filter,
            include_rank1: false,
            include_pos_embed: false,
        },
        grid: GridSpec { x, y },
        batch_size: 8,
    }
}
