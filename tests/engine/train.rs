//! Training pipeline: optimizer and EMA formulas on known numbers, that a few steps of every
//! method reduce its loss on a tiny Fashion-MNIST subset, and that checkpoints round-trip.

use burn::tensor::Device;
use vitscape::arch::{DecoderConfig, Head, HeadCounts, VitConfig};
use vitscape::data::{self, FASHION_MNIST_MEAN, FASHION_MNIST_STD, ImageSet};
use vitscape::model::upload;
use vitscape::objective::read_vec;
use vitscape::setup::Model;
use vitscape::spec::Split;
use vitscape::train::{self, AdamW, Method, TrainConfig, TrainState};

fn tiny(head: bool, decoder: bool) -> VitConfig {
    VitConfig {
        head: head.then_some(Head::Linear { num_classes: 10 }),
        decoder: decoder.then_some(DecoderConfig {
            embed_dim: 16,
            depth: 1,
            num_heads: 2,
            mlp_hidden: 32,
            qkv_bias: true,
        }),
        ..VitConfig::standard(28, 7, 1, 16, 1, 2)
    }
}

fn images(n: usize) -> ImageSet {
    let raw = data::load_fashion_mnist(
        std::path::Path::new(data::DEBIAN_FASHION_MNIST),
        Split::Train,
    )
    .expect("Fashion-MNIST (apt-get install dataset-fashion-mnist, done by .ci/setup)");
    let raw = data::subset(&raw, n, 1).unwrap();
    data::normalise(&raw, &[FASHION_MNIST_MEAN], &[FASHION_MNIST_STD]).unwrap()
}

fn metric(report: &std::collections::BTreeMap<String, f64>) -> f64 {
    report
        .get("test_loss")
        .or(report.get("test_reconstruction"))
        .copied()
        .unwrap()
}

fn cfg(method: Method) -> TrainConfig {
    let mut cfg = TrainConfig::defaults(method);
    cfg.epochs = 6;
    cfg.batch_size = 32;
    cfg.warmup_epochs = 0.0;
    cfg.lr = 5e-3;
    cfg.augment = false;
    cfg
}

/// Train on 64 images and measure the loss on the same images before and after.
fn reduces_loss(state: &mut TrainState, method: Method) {
    let set = images(64);
    let device = Device::flex();
    let c = cfg(method);
    let before = metric(&train::evaluate(state, &set, method, &c, &device).unwrap());
    let mut epochs = 0;
    train::train(state, &set, &set, &c, &device, &mut |_| {}, &mut |_, _| {
        epochs += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(epochs, 6);
    let after = metric(&train::evaluate(state, &set, method, &c, &device).unwrap());
    assert!(after < before * 0.97, "{method:?}: loss {before} → {after}");
}

#[test]
fn every_method_reduces_its_loss() {
    let mut sup = train::scratch_state(tiny(true, false), 0).unwrap();
    reduces_loss(&mut sup, Method::Supervised);

    let mut mae = train::scratch_state(tiny(false, true), 0).unwrap();
    reduces_loss(&mut mae, Method::Mae);

    let mut rc = train::scratch_state(tiny(false, true), 0).unwrap();
    reduces_loss(&mut rc, Method::Rcmae);
    let teacher = rc.teacher.clone().expect("RC-MAE keeps a teacher");
    assert_ne!(teacher, rc.theta, "the teacher lags the student");
    // Position embeddings stay at their fixed sin-cos values.
    let r = rc.layout.range("pos_embed").unwrap();
    let fresh = train::scratch_state(tiny(false, true), 0).unwrap();
    assert_eq!(rc.theta[r.clone()], fresh.theta[r]);

    // A state dict made from θ has no metadata: the head counts go with it, as a saved
    // checkpoint's do (width 32 is not a multiple of 64, so nothing could be assumed).
    let mut pretrained = mae.layout.unflatten(&mae.theta);
    pretrained
        .metadata
        .insert("num_heads".into(), mae.config.num_heads.to_string());
    if let Some(d) = mae.config.decoder {
        pretrained
            .metadata
            .insert("decoder_num_heads".into(), d.num_heads.to_string());
    }
    let mut ft = train::from_pretrained(&pretrained, 10, 0).unwrap();
    reduces_loss(&mut ft, Method::Finetune);
    let mut lp = train::from_pretrained(&pretrained, 10, 0).unwrap();
    let encoder_before = lp.theta[lp.layout.range("blocks.0.attn.qkv.weight").unwrap()].to_vec();
    // The probe starts from an untrained head: its first evaluation is the "before".
    reduces_loss(&mut lp, Method::Linprobe);
    assert_eq!(lp.config.head, Some(Head::LinearProbe { num_classes: 10 }));
    let r = lp.layout.range("blocks.0.attn.qkv.weight").unwrap();
    assert_eq!(
        lp.theta[r],
        encoder_before[..],
        "linear probing keeps the encoder frozen"
    );
}

#[test]
fn adamw_first_step_and_ema_match_their_formulas() {
    let device = Device::flex();
    // Step 1: m̂ = g, v̂ = g², so θ ← θ − lr·(g/(|g| + ε) + wd·mask·θ).
    let mut opt = AdamW::new(&[1.0, 0.0, 1.0], 0.9, 0.95, 0.1, &device);
    let theta = upload(&[1.0, 2.0, -3.0], &device);
    let grad = upload(&[0.5, -4.0, 0.0], &device);
    let got = read_vec(opt.step(theta, grad, 0.01)).unwrap();
    let expect = [
        1.0 - 0.01 * (0.5 / (0.5 + 1e-8) + 0.1),
        2.0 + 0.01, // g < 0: the step is +lr
        -3.0 - 0.01 * (0.0 + 0.1 * -3.0),
    ];
    for (g, e) in got.iter().zip(expect) {
        assert!((f64::from(*g) - e).abs() < 1e-6, "{got:?} vs {expect:?}");
    }
    let ema = read_vec(train::ema_update(
        upload(&[1.0, 0.0], &device),
        upload(&[0.0, 2.0], &device),
        0.996,
    ))
    .unwrap();
    assert!(
        (ema[0] - 0.996).abs() < 1e-7 && (ema[1] - 0.008).abs() < 1e-7,
        "{ema:?}"
    );
    let mut c = TrainConfig::defaults(Method::Rcmae);
    c.ema_cosine = true;
    assert!((c.momentum_at(0, 100) - 0.996).abs() < 1e-12);
    assert!((c.momentum_at(100, 100) - 1.0).abs() < 1e-12);
    c.epochs = 10;
    c.warmup_epochs = 1.0;
    assert_eq!(c.lr_at(0.5), c.lr * 0.5);
    assert!((c.lr_at(1.0) - c.lr).abs() < 1e-15);
    assert!(c.lr_at(10.0).abs() < 1e-15);
}

#[test]
fn checkpoints_round_trip_with_identical_outputs() {
    let device = Device::flex();
    let set = images(16);
    let mut rc = train::scratch_state(tiny(false, true), 3).unwrap();
    rc.teacher = Some(rc.theta.iter().map(|v| v * 0.5).collect());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rc.safetensors");
    let mut sd = rc.state_dict();
    sd.metadata.insert("num_heads".into(), "2".into());
    sd.metadata.insert("decoder_num_heads".into(), "2".into());
    vitscape::checkpoint::write_file(&path, &sd).unwrap();
    for (branch, theta) in [
        (vitscape::spec::Branch::Student, rc.theta.clone()),
        (vitscape::spec::Branch::Teacher, rc.teacher.clone().unwrap()),
    ] {
        let loaded = vitscape::checkpoint::read_file(&path, Some(branch)).unwrap();
        let model = Model::new(loaded, HeadCounts::default()).unwrap();
        assert_eq!(model.theta, theta, "{branch:?}");
        let original = TrainState {
            theta,
            ..train::scratch_state(tiny(false, true), 3).unwrap()
        };
        let c = cfg(Method::Mae);
        let a = train::evaluate(&original, &set, Method::Mae, &c, &device).unwrap();
        let reread = TrainState {
            theta: model.theta.clone(),
            ..train::scratch_state(model.config, 3).unwrap()
        };
        let b = train::evaluate(&reread, &set, Method::Mae, &c, &device).unwrap();
        assert_eq!(a, b);
    }
}
