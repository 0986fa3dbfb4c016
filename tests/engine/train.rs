//! Training pipeline: optimizer and EMA formulas on known numbers, that a few steps of every
//! method reduce its loss on a tiny Fashion-MNIST subset, and that checkpoints round-trip.

use burn::tensor::Device;
use vitscape::error::Error;
use vitscape::io::checkpoint::{read_raw, write_safetensors};
use vitscape::io::data::{self, FASHION_MNIST_MEAN, FASHION_MNIST_STD, ImageSet};
use vitscape::landscape::objective::read_vec;
use vitscape::landscape::setup::Model;
use vitscape::model::arch::{DecoderConfig, Head, HeadCounts, VitConfig};
use vitscape::model::upload;
use vitscape::spec::Split;
use vitscape::train::{self, AdamW, Hooks, Method, Progress, ResumeError, TrainConfig, TrainState};

use crate::common::{fails, ok};

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
    train::train(
        state,
        &set,
        &set,
        &c,
        &device,
        None,
        &mut Hooks {
            on_step: &mut |_| {},
            on_epoch: &mut |_, _, _| {
                epochs += 1;
                Ok(())
            },
        },
    )
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
    vitscape::io::checkpoint::write_file(&path, &sd).unwrap();
    for (branch, theta) in [
        (vitscape::spec::Branch::Student, rc.theta.clone()),
        (vitscape::spec::Branch::Teacher, rc.teacher.clone().unwrap()),
    ] {
        let loaded = vitscape::io::checkpoint::read_file(&path, Some(branch)).unwrap();
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

/// The error of a resume that must be refused.
fn refusal(r: Result<(TrainState, Progress), ResumeError>) -> ResumeError {
    match r {
        Ok(_) => panic!("resumed where it should have been refused"),
        Err(e) => e,
    }
}

/// Train `state` from `resume` (or from the start) to the end, returning the epochs reported.
fn run_to_end(
    state: &mut TrainState,
    set: &ImageSet,
    c: &TrainConfig,
    resume: Option<&Progress>,
) -> Vec<usize> {
    let mut epochs = Vec::new();
    let on_epoch = &mut |r: &train::EpochReport, _: &TrainState, _: Option<&Progress>| {
        epochs.push(r.epoch);
        Ok(())
    };
    let hooks = &mut Hooks {
        on_step: &mut |_| {},
        on_epoch,
    };
    train::train(state, set, set, c, &Device::flex(), resume, hooks).unwrap();
    epochs
}

/// A run stopped after its first epoch and continued from the resume file's bytes ends with the
/// same floats as a run that never stopped: θ, the RC-MAE teacher, AdamW's moments and the random
/// stream (shuffles, crops, flips, masks) all carry over. Each method that resumes is checked.
#[test]
fn a_stopped_run_resumes_to_the_same_floats() {
    let set = images(64);
    let device = Device::flex();
    for method in [Method::Rcmae, Method::Supervised] {
        let mut c = cfg(method);
        c.epochs = 3;
        c.augment = true;
        let config = tiny(method == Method::Supervised, method == Method::Rcmae);
        let mut whole = train::scratch_state(config, 5).unwrap();
        assert_eq!(run_to_end(&mut whole, &set, &c, None), [1, 2, 3]);

        let mut saved = None;
        let mut stopped = train::scratch_state(config, 5).unwrap();
        let on_epoch = &mut |_: &train::EpochReport, ts: &TrainState, p: Option<&Progress>| {
            let sd = p.unwrap().to_state_dict(ts, &c, (64, 64)).unwrap();
            saved = Some(write_safetensors(&sd).unwrap());
            Err(Error::Cancelled)
        };
        let hooks = &mut Hooks {
            on_step: &mut |_| {},
            on_epoch,
        };
        let r = train::train(&mut stopped, &set, &set, &c, &device, None, hooks);
        assert!(matches!(r, Err(Error::Cancelled)), "{method:?}");
        let bytes = saved.expect("the first epoch's state");

        let (mut resumed, progress) =
            Progress::from_state_dict(read_raw(&bytes).unwrap(), &c, (64, 64)).unwrap();
        assert_eq!(progress.epochs_done, 1);
        assert_eq!(run_to_end(&mut resumed, &set, &c, Some(&progress)), [2, 3]);
        assert_eq!(resumed.theta, whole.theta, "{method:?}: θ");
        assert_eq!(resumed.teacher, whole.teacher, "{method:?}: teacher");
        assert_eq!(method == Method::Rcmae, whole.teacher.is_some());
        // Without the random stream's position the run would differ: the check can fail.
        let mut fresh_stream = progress.clone();
        fresh_stream.rng_word_pos = 0;
        let (mut other, _) =
            Progress::from_state_dict(read_raw(&bytes).unwrap(), &c, (64, 64)).unwrap();
        run_to_end(&mut other, &set, &c, Some(&fresh_stream));
        assert_ne!(other.theta, whole.theta, "{method:?}");

        // Other settings, other image counts, a finished run and a plain checkpoint are refused
        // with what differs.
        let mut longer = c.clone();
        longer.epochs = 4;
        longer.lr = 1e-3;
        let e = refusal(Progress::from_state_dict(
            read_raw(&bytes).unwrap(),
            &longer,
            (64, 64),
        ));
        let text = e.to_string();
        assert!(text.contains("epochs: 3 in the run, 4 now"), "{text}");
        assert!(text.contains("lr: 0.005 in the run, 0.001 now"), "{text}");
        let e = refusal(Progress::from_state_dict(
            read_raw(&bytes).unwrap(),
            &c,
            (64, 32),
        ));
        assert!(
            e.to_string().contains("test images: 64 in the run, 32 now"),
            "{e}"
        );
        let mut at_end = progress.clone();
        at_end.epochs_done = 3;
        let sd = at_end.to_state_dict(&resumed, &c, (64, 64)).unwrap();
        assert_eq!(
            refusal(Progress::from_state_dict(sd, &c, (64, 64))),
            ResumeError::Finished(3)
        );
        let plain = whole.state_dict();
        assert_eq!(
            refusal(Progress::from_state_dict(plain, &c, (64, 64))),
            ResumeError::NotAState
        );
    }
}

/// `vitscape train --resume` as a user meets it: a run that failed after its first epoch (here
/// its epoch-2 checkpoint could not be written) is continued by the same command plus `--resume`
/// and ends with the tensors and metrics of a run that never stopped.
#[test]
fn vitscape_train_resume_continues_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, broken) = (dir.path().join("whole"), dir.path().join("broken"));
    let flags = |out: &std::path::Path| -> Vec<String> {
        [
            "train",
            "--method",
            "rcmae",
            "--epochs",
            "2",
            "--train-images",
            "128",
            "--test-images",
            "32",
            "--batch-size",
            "32",
            "--embed-dim",
            "16",
            "--depth",
            "1",
            "--heads",
            "2",
            "--decoder-dim",
            "16",
            "--decoder-depth",
            "1",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect()
    };
    let args = |out: &std::path::Path, extra: &[&str]| -> Vec<String> {
        flags(out)
            .into_iter()
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |a: &[String]| ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let refused = |a: &[String]| fails(&a.iter().map(String::as_str).collect::<Vec<_>>());
    run(&args(&whole, &[]));
    assert!(
        !whole.join("resume.safetensors").exists(),
        "a finished run leaves no resume file"
    );

    // A folder where the second epoch's checkpoint cannot be written.
    std::fs::create_dir_all(broken.join("rcmae-e002.safetensors")).unwrap();
    refused(&args(&broken, &[]));
    assert!(broken.join("resume.safetensors").exists());
    std::fs::remove_dir(broken.join("rcmae-e002.safetensors")).unwrap();
    let e = refused(&args(&broken, &["--resume", "--seed", "4"]));
    assert!(e.contains("seed: 0 in the run, 4 now"), "{e}");
    let out = run(&args(&broken, &["--resume"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("resuming rcmae after epoch 1 of 2"),
        "{stderr}"
    );
    assert!(!broken.join("resume.safetensors").exists());

    let tensors = |p: std::path::PathBuf| read_raw(&std::fs::read(p).unwrap()).unwrap().tensors;
    let (a, b) = (
        tensors(whole.join("rcmae.safetensors")),
        tensors(broken.join("rcmae.safetensors")),
    );
    assert!(a.keys().any(|k| k.starts_with("teacher.")));
    assert_eq!(a, b, "the resumed run's student and teacher");
    // The metrics agree but for the seconds each epoch took.
    let rows = |p: std::path::PathBuf| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| l.split(',').take(5).collect::<Vec<_>>().join(","))
            .collect()
    };
    let (ra, rb) = (
        rows(whole.join("metrics.csv")),
        rows(broken.join("metrics.csv")),
    );
    assert_eq!(ra.len(), 3);
    assert_eq!(ra, rb);
    // Nothing left to continue.
    let e = refused(&args(&broken, &["--resume"]));
    assert!(e.contains("resume.safetensors"), "{e}");
}
