//! The fused path against the burn composition it replaces, its exp/erf against f64, and the
//! fused reconstruction gradient against burn's autodiff.

use std::collections::HashMap;

use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};

use super::math;
use crate::io::data::ImageSet;
use crate::landscape::objective::{Evaluator, GradientMethod, MaskNoise, Objective, Teacher};
use crate::model::arch::{DecoderConfig, Head, PosEmbed, VitConfig};
use crate::model::{Layout, Vit, Weights};

fn random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * scale)
        .collect()
}

/// erf in f64 by its Maclaurin series (|x| ≤ 4: the largest term is ~1e5, so ~1e-11 is left).
fn erf_reference(x: f64) -> f64 {
    let (mut term, mut sum) = (x, x);
    for n in 1..200 {
        term *= -x * x / n as f64;
        let add = term / (2 * n + 1) as f64;
        sum += add;
        if add.abs() < 1e-17 {
            break;
        }
    }
    sum * std::f64::consts::FRAC_2_SQRT_PI
}

#[test]
fn exp_is_within_three_ulp_of_f64_and_keeps_nan() {
    let mut worst = 0.0_f64;
    for i in -87_000..88_000 {
        let x = i as f32 * 1e-3;
        let want = (x as f64).exp();
        worst = worst.max(((math::exp(x) as f64 - want) / want).abs());
    }
    assert!(
        worst <= 3.0 * f32::EPSILON as f64,
        "worst relative error {worst:e}"
    );
    assert!(math::exp(f32::NAN).is_nan());
    assert!(math::exp(-1e4) <= 1.2e-38 && math::exp(-1e4) >= 0.0);
    assert_eq!(math::exp(0.0), 1.0);
}

#[test]
fn erf_is_within_a_few_ulp_of_f64() {
    let mut worst = 0.0_f64;
    for i in -4_000..=4_000 {
        let x = i as f32 * 1e-3;
        let want = erf_reference(x as f64);
        let err = (math::erf(x) as f64 - want).abs() / want.abs().max(1e-3);
        worst = worst.max(err);
    }
    assert!(worst <= 4.0 * f32::EPSILON as f64, "worst error {worst:e}");
    for x in [4.5_f32, 10.0, 1e30, f32::INFINITY] {
        assert!((math::erf(x) - 1.0).abs() <= f32::EPSILON, "erf({x})");
        assert!((math::erf(-x) + 1.0).abs() <= f32::EPSILON, "erf(-{x})");
    }
    assert!(math::erf(f32::NAN).is_nan());
}

#[test]
fn gelu_matches_burns_exact_gelu() {
    let values = random(20_000, 3, 8.0);
    let device = Device::flex();
    let burn: Vec<f32> = gelu(Tensor::<1>::from_data(
        TensorData::new(values.clone(), [values.len()]),
        &device,
    ))
    .into_data()
    .try_into_vec::<f32>()
    .unwrap();
    let mut ours = values.clone();
    math::gelu(&mut ours);
    // GELU(x) = x·½·(1 + erf(x/√2)): erf's few ulp (≤ 4.8e-7 near ±1) come out scaled by |x|/2.
    for ((a, b), x) in ours.iter().zip(&burn).zip(&values) {
        assert!(
            (a - b).abs() <= 3e-7 * (1.0 + x.abs()),
            "GELU({x}): {a} vs {b}"
        );
    }
}

/// The largest `|fused − composed| / (1 + |composed|)` of one block over random weights and
/// activations, with `sets` weight sets of `images` images each.
fn block_difference(config: &VitConfig, sets: usize, images: usize) -> f32 {
    let device = Device::flex();
    let layout = Layout::new(config);
    let flat = Tensor::<2>::from_data(
        TensorData::new(random(sets * layout.total, 1, 0.3), [sets, layout.total]),
        &device,
    );
    let weights = Weights::from_sets(&layout, &flat, &HashMap::new());
    let vit = Vit {
        config,
        weights: &weights,
    };
    let (n, d) = (config.num_patches() + 1, config.embed_dim);
    let x = Tensor::<3>::from_data(
        TensorData::new(random(sets * images * n * d, 2, 2.0), [sets * images, n, d]),
        &device,
    );
    assert!(super::applies(&x));
    let heads = config.num_heads;
    let fused = vit.block(x.clone(), "blocks.0", heads, config.qkv_bias);
    let composed = vit.block_composed(x, "blocks.0", heads, config.qkv_bias);
    let fused: Vec<f32> = fused.unwrap().into_data().try_into_vec::<f32>().unwrap();
    let composed: Vec<f32> = composed.unwrap().into_data().try_into_vec::<f32>().unwrap();
    assert_eq!(fused.len(), composed.len());
    fused
        .iter()
        .zip(&composed)
        .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
        .fold(0.0, f32::max)
}

#[test]
fn fused_blocks_match_the_burn_composition_to_1e_5() {
    let bench = VitConfig {
        head: Some(Head::Linear { num_classes: 10 }),
        ..VitConfig::standard(28, 7, 1, 64, 4, 4)
    };
    let no_qkv_bias = VitConfig {
        qkv_bias: false,
        ..VitConfig::standard(16, 4, 3, 48, 1, 3)
    };
    let wide = VitConfig::standard(32, 8, 3, 192, 1, 3);
    // One image of five tokens: five rows, where nalgebra's gemm leaves matrixmultiply.
    let five_tokens = VitConfig::standard(8, 4, 1, 16, 1, 2);
    for (config, sets, images) in [
        (&five_tokens, 1, 1),
        (&five_tokens, 2, 1),
        (&bench, 1, 8),
        (&bench, 3, 2),
        (&no_qkv_bias, 1, 4),
        (&wide, 2, 2),
    ] {
        let worst = block_difference(config, sets, images);
        assert!(
            worst <= 1e-5,
            "width {}, {sets} set(s): {worst:e}",
            config.embed_dim
        );
    }
}

#[test]
fn autodiff_and_other_devices_keep_the_burn_composition() {
    let x = Tensor::<3>::zeros([1, 2, 4], &Device::flex().autodiff());
    assert!(!super::applies(&x));
    assert!(super::applies(&Tensor::<3>::zeros(
        [1, 2, 4],
        &Device::flex()
    )));
}

/// An evaluator of a reconstruction loss over random images and a random θ (every parameter,
/// LayerNorm weights included, drawn from ±0.5), in batches of 4.
fn reconstruction_evaluator(
    config: VitConfig,
    images: usize,
    rc_mae: bool,
    norm_pix_loss: bool,
) -> (Evaluator, Vec<f32>) {
    let layout = Layout::new(&config);
    let theta = random(layout.total, 11, 0.5);
    let set = ImageSet {
        pixels: random(images * config.in_chans * config.img_size.pow(2), 12, 1.5),
        labels: None,
        class_names: Vec::new(),
        n: images,
        c: config.in_chans,
        h: config.img_size,
        w: config.img_size,
    };
    let noise = MaskNoise::seeded(images, config.num_patches(), 13);
    let objective = if rc_mae {
        Objective::RcMae {
            mask_ratio: 0.5,
            norm_pix_loss,
            noise,
            gamma: 0.7,
        }
    } else {
        Objective::Mae {
            mask_ratio: 0.75,
            norm_pix_loss,
            noise,
        }
    };
    let teacher = Teacher {
        config,
        theta: random(layout.total, 14, 0.5),
    };
    let evaluator = Evaluator::new(
        &Device::flex(),
        config,
        &theta,
        &[],
        HashMap::new(),
        &set,
        objective,
        4,
        rc_mae.then_some(&teacher),
    )
    .unwrap();
    (evaluator, theta)
}

#[test]
fn fused_reconstruction_gradients_match_burns_autodiff() {
    let decoder = |qkv_bias| DecoderConfig {
        embed_dim: 12,
        depth: 2,
        num_heads: 3,
        mlp_hidden: 20,
        qkv_bias,
    };
    let rgb = VitConfig {
        decoder: Some(decoder(true)),
        ..VitConfig::standard(8, 4, 3, 16, 2, 2)
    };
    let bare = VitConfig {
        qkv_bias: false,
        patch_bias: false,
        final_norm: false,
        head: Some(Head::Linear { num_classes: 3 }),
        decoder: Some(decoder(false)),
        ..VitConfig::standard(12, 4, 1, 8, 1, 2)
    };
    for (config, rc_mae, norm_pix) in [
        (rgb, false, false),
        (rgb, true, true),
        (bare, false, true),
        (bare, true, false),
    ] {
        let (evaluator, theta) = reconstruction_evaluator(config, 6, rc_mae, norm_pix);
        assert!(evaluator.fused_gradient_applies());
        let (value, fused) =
            pollster::block_on(evaluator.fused_value_and_gradient(&theta)).unwrap();
        let (want, autodiff) =
            pollster::block_on(evaluator.autodiff_value_and_gradient(&theta)).unwrap();
        let scale = autodiff.iter().fold(0.0_f32, |m, g| m.max(g.abs()));
        let worst = fused
            .iter()
            .zip(&autodiff)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0_f32, f32::max);
        let label = format!(
            "rc-mae {rc_mae}, norm_pix {norm_pix}, width {}",
            config.embed_dim
        );
        assert!(
            scale > 1e-3,
            "{label}: a gradient of {scale:e} tests nothing"
        );
        assert!(
            (value - want).abs() <= 1e-5 * want.abs(),
            "{label}: loss {value} vs {want}"
        );
        assert!(
            worst <= 1e-5 * scale,
            "{label}: worst difference {worst:e} of a largest entry {scale:e}"
        );
        // Parameters the loss does not use (the head) get exactly 0, as from autodiff.
        let layout = Layout::new(&config);
        if let Some(r) = layout.range("head.weight") {
            assert!(fused[r].iter().all(|&g| g == 0.0), "{label}: head");
        }
    }
}

/// An MAE-ViT of 8×8 greyscale images in four patches, width 8, one block each side.
fn small_mae() -> VitConfig {
    VitConfig {
        decoder: Some(DecoderConfig {
            embed_dim: 8,
            depth: 1,
            num_heads: 2,
            mlp_hidden: 16,
            qkv_bias: true,
        }),
        ..VitConfig::standard(8, 4, 1, 8, 1, 2)
    }
}

#[test]
fn the_fused_gradient_applies_only_where_it_is_written() {
    let config = small_mae();
    let (evaluator, theta) = reconstruction_evaluator(config, 2, false, false);
    assert!(evaluator.fused_gradient_applies());
    assert_eq!(
        evaluator.gradient_engine(),
        "the fused forward pass and a hand-written backward pass on the host"
    );
    let by = |method| pollster::block_on(evaluator.gradient_by(&theta, method)).unwrap();
    let (fused, autodiff) = (by(GradientMethod::Fused), by(GradientMethod::Autodiff));
    assert_ne!(
        fused, autodiff,
        "two implementations agree only to round-off"
    );
    let worst = fused
        .iter()
        .zip(&autodiff)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0_f32, f32::max);
    assert!(worst <= 1e-5 * autodiff.iter().fold(0.0_f32, |m, g| m.max(g.abs())));
    // Classification keeps burn's autodiff.
    let classifier = VitConfig {
        head: Some(Head::Linear { num_classes: 2 }),
        ..config
    };
    let labelled = ImageSet {
        pixels: random(2 * 64, 15, 1.0),
        labels: Some(vec![0, 1]),
        class_names: vec!["a".into(), "b".into()],
        n: 2,
        c: 1,
        h: 8,
        w: 8,
    };
    let layout = Layout::new(&classifier);
    let classify = Evaluator::new(
        &Device::flex(),
        classifier,
        &random(layout.total, 16, 0.5),
        &[],
        HashMap::new(),
        &labelled,
        Objective::Classification,
        2,
        None,
    )
    .unwrap();
    assert!(!classify.fused_gradient_applies());
    assert_eq!(classify.gradient_engine(), "burn's autodiff");
    // Without positions covering the class token MAE cannot run; neither path is offered.
    let no_cls_pos = VitConfig {
        pos_embed: PosEmbed::PatchesOnly,
        ..config
    };
    assert!(!super::gradient::supports(&no_cls_pos));
}

#[test]
fn a_reconstruction_batch_that_does_not_fit_is_an_error_not_a_panic() {
    use super::gradient::{MaskedImages, reconstruction_gradient};
    let config = small_mae();
    let layout = Layout::new(&config);
    let theta = random(layout.total, 17, 0.5);
    let images = random(64, 18, 1.0);
    let target = random(4 * 16, 19, 1.0);
    let (images, target) = (images.as_slice(), target.as_slice());
    let batch = move |keep: &'static [usize], restore: &'static [usize], mask: &'static [f32]| {
        MaskedImages {
            images,
            ids_keep: keep,
            ids_restore: restore,
            mask,
            targets: vec![(1.0, target)],
        }
    };
    let good = batch(&[2], &[1, 2, 0, 3], &[1.0, 1.0, 0.0, 1.0]);
    assert!(reconstruction_gradient(&config, &layout, &theta, &good).is_ok());
    for (bad, why) in [
        (
            batch(&[7], &[1, 2, 0, 3], &[1.0, 1.0, 0.0, 1.0]),
            "a kept id past L",
        ),
        (
            batch(&[2], &[1, 2, 9, 3], &[1.0, 1.0, 0.0, 1.0]),
            "a restore id past L",
        ),
        (
            batch(&[2], &[1, 2, 0, 3], &[1.0, 1.0, 0.0, 1.0, 1.0]),
            "a mask too long",
        ),
        (
            batch(&[2], &[1, 2, 0], &[1.0, 1.0, 0.0, 1.0]),
            "a permutation too short",
        ),
    ] {
        assert!(
            reconstruction_gradient(&config, &layout, &theta, &bad).is_err(),
            "{why}"
        );
    }
    assert!(reconstruction_gradient(&config, &layout, &theta[1..], &good).is_err());
    let other = Layout::new(&VitConfig { depth: 2, ..config });
    assert!(reconstruction_gradient(&config, &other, &theta, &good).is_err());
    let no_heads = VitConfig {
        num_heads: 0,
        ..config
    };
    assert!(reconstruction_gradient(&no_heads, &layout, &theta, &good).is_err());
}
