//! Architecture inference on the PyTorch-built fixtures (whose hyper-parameters are known from
//! tests/reference/reference.py) and on checkpoints that do not fit a timm ViT.

use std::path::Path;

use vitscape::io::checkpoint::{self, StateDict, TensorEntry};
use vitscape::model::arch::{self, HeadCounts, Pool, PosEmbed};

fn state(name: &str) -> StateDict {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/models/{name}.safetensors"));
    checkpoint::read_file(&path, None).unwrap().state
}

#[test]
fn fixture_architectures_are_inferred() {
    let c = arch::infer(&state("cls_token"), HeadCounts::default()).unwrap();
    assert_eq!(
        (c.img_size, c.patch_size, c.in_chans, c.embed_dim, c.depth),
        (28, 7, 1, 32, 2)
    );
    assert_eq!(
        (c.num_heads, c.mlp_hidden, c.qkv_bias, c.class_token),
        (2, 64, true, true)
    );
    assert_eq!(
        (c.pos_embed, c.pool, c.final_norm, c.fc_norm),
        (PosEmbed::WithClass, Pool::Token, true, false)
    );
    assert_eq!(c.num_classes(), Some(10));
    assert_eq!(c.num_params(), 19658);

    let c = arch::infer(&state("avgpool_fcnorm"), HeadCounts::default()).unwrap();
    assert_eq!((c.pool, c.final_norm, c.fc_norm), (Pool::Avg, false, true));

    let c = arch::infer(&state("no_qkv_bias"), HeadCounts::default()).unwrap();
    assert_eq!(
        (c.qkv_bias, c.class_token, c.pos_embed, c.pool),
        (false, false, PosEmbed::PatchesOnly, Pool::Avg)
    );
    assert_eq!(c.num_params(), 19402);

    let c = arch::infer(&state("mae"), HeadCounts::default()).unwrap();
    let d = c.decoder.unwrap();
    assert_eq!(
        (d.embed_dim, d.depth, d.num_heads, d.mlp_hidden),
        (24, 1, 2, 48)
    );
    assert_eq!(c.head, None);
    assert_eq!(c.num_params(), 26697);
}

#[test]
fn head_counts_come_from_flags_then_metadata_then_head_dim_64() {
    let mut s = state("cls_token");
    let forced = HeadCounts {
        encoder: Some(4),
        decoder: None,
    };
    assert_eq!(arch::infer(&s, forced).unwrap().num_heads, 4);
    let (c, assumed) = arch::infer_noting(&s, HeadCounts::default()).unwrap();
    assert_eq!(
        (c.num_heads, assumed.any()),
        (2, false),
        "from the metadata"
    );
    s.metadata.remove("num_heads");
    // Width 32 is not a multiple of 64: no count can be assumed; the message says how to give it.
    let err = arch::infer(&s, HeadCounts::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("num_heads") && err.contains("--heads") && err.contains("heads field"),
        "{err}"
    );
    // Given, it is not assumed.
    let (c, assumed) = arch::infer_noting(&s, forced).unwrap();
    assert_eq!((c.num_heads, assumed.encoder), (4, false));
    // A width of 64 without metadata: one head of 64, assumed and said so.
    let mut wide = vitscape::model::random_state(&arch::VitConfig::standard(28, 7, 1, 64, 1, 1), 0);
    wide.metadata.clear();
    let (c, assumed) = arch::infer_noting(&wide, HeadCounts::default()).unwrap();
    assert_eq!(
        (c.num_heads, assumed.encoder, assumed.decoder),
        (1, true, false)
    );
    s.metadata.insert("num_heads".into(), "two".into());
    let err = arch::infer(&s, HeadCounts::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("num_heads") && err.contains("two"), "{err}");
}

fn err_of(s: &StateDict) -> String {
    arch::infer(s, HeadCounts::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn mismatched_checkpoints_are_reported_by_name() {
    // A tensor with the wrong shape.
    let mut s = state("cls_token");
    s.tensors.insert(
        "blocks.1.mlp.fc2.weight".into(),
        TensorEntry {
            shape: vec![32, 65],
            data: vec![0.0; 32 * 65],
        },
    );
    let err = err_of(&s);
    assert!(
        err.contains("blocks.1.mlp.fc2.weight") && err.contains("[32, 65]"),
        "{err}"
    );

    // Unexpected tensors (LayerScale is not supported) are listed.
    let mut s = state("cls_token");
    s.tensors.insert(
        "blocks.0.ls1.gamma".into(),
        TensorEntry {
            shape: vec![32],
            data: vec![1.0; 32],
        },
    );
    let err = err_of(&s);
    assert!(
        err.contains("blocks.0.ls1.gamma") && err.contains("unexpected"),
        "{err}"
    );

    // A missing tensor inside a block.
    let mut s = state("cls_token");
    s.tensors.remove("blocks.1.norm2.bias");
    let err = err_of(&s);
    assert!(err.contains("missing `blocks.1.norm2.bias`"), "{err}");

    // No patch embedding at all.
    let mut s = state("cls_token");
    s.tensors.remove("patch_embed.proj.weight");
    assert!(err_of(&s).contains("patch_embed.proj.weight"));

    // A position embedding whose length is no square grid.
    let mut s = state("no_qkv_bias");
    s.tensors.insert(
        "pos_embed".into(),
        TensorEntry {
            shape: vec![1, 15, 32],
            data: vec![0.0; 15 * 32],
        },
    );
    assert!(err_of(&s).contains("pos_embed"));

    // A rectangular patch kernel.
    let mut s = state("cls_token");
    s.tensors.insert(
        "patch_embed.proj.weight".into(),
        TensorEntry {
            shape: vec![32, 1, 7, 6],
            data: vec![0.0; 32 * 42],
        },
    );
    assert!(err_of(&s).contains("square"));

    // Heads that do not divide the width.
    let err = arch::infer(
        &state("cls_token"),
        HeadCounts {
            encoder: Some(3),
            decoder: None,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("3 attention heads do not divide embed dim 32"),
        "{err}"
    );

    // A decoder without the encoder's class token.
    let mut s = state("mae");
    s.tensors.remove("cls_token");
    assert!(err_of(&s).contains("cls_token"));
}

/// θ takes the parameters out of the state dict (a ViT-B is not kept twice); the probe's
/// running statistics and the metadata stay; a missing parameter leaves the state untouched.
#[test]
fn layout_take_moves_parameters_and_keeps_buffers() {
    let mut full = state("avgpool_fcnorm");
    let config = arch::infer(&full, HeadCounts::default()).unwrap();
    // A tensor that is not a parameter (as a probe's running statistics are) is left in place.
    full.tensors.insert(
        "head.0.running_mean".into(),
        TensorEntry {
            shape: vec![config.embed_dim],
            data: vec![0.5; config.embed_dim],
        },
    );
    let layout = vitscape::model::layout::Layout::new(&config);
    let mut left = full.clone();
    let theta = layout.take(&mut left).unwrap();
    assert_eq!(theta.len(), layout.total);
    let first = &layout.params[0];
    assert_eq!(
        &theta[..full.tensors[&first.name].data.len()],
        &full.tensors[&first.name].data[..]
    );
    assert_eq!(
        left.tensors.keys().collect::<Vec<_>>(),
        ["head.0.running_mean"]
    );
    assert!(
        layout
            .params
            .iter()
            .all(|p| !left.tensors.contains_key(&p.name))
    );
    assert_eq!(left.metadata, full.metadata);
    // Round trip: θ back into tensors gives the parameters read from the file.
    let back = layout.unflatten(&theta);
    for p in &layout.params {
        assert_eq!(back.tensors[&p.name], full.tensors[&p.name], "{}", p.name);
    }
    let mut broken = full.clone();
    broken.tensors.remove(&layout.params[3].name);
    let before = broken.clone();
    assert!(layout.take(&mut broken).is_err());
    assert_eq!(broken, before, "a failed take moved something");
}
