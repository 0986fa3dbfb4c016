//! Linear probing (MAE protocol) of a frozen pre-trained encoder.

use std::collections::HashMap;

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    AdamW, EpochReport, Hooks, Method, StepInfo, TrainConfig, TrainState, batch_tensor, evaluate,
};
use crate::error::{ArchError, Error};
use crate::io::checkpoint::StateDict;
use crate::io::data::ImageSet;
use crate::landscape::objective::{classification_sums, read_vec};
use crate::model::arch::{BN_EPS, Head};
use crate::model::{Vit, Weights, upload, upload_int};

/// Pooled features of a frozen encoder for every image.
fn features(state: &TrainState, images: &ImageSet, device: &Device) -> Result<Vec<f32>, Error> {
    let theta = upload(&state.theta, device);
    let weights = Weights::from_flat(&state.layout, &theta, &HashMap::new());
    let vit = Vit {
        config: &state.config,
        weights: &weights,
    };
    let per = images.c * images.h * images.w;
    let mut out = Vec::with_capacity(images.n * state.config.embed_dim);
    for start in (0..images.n).step_by(256) {
        let b = 256.min(images.n - start);
        let x = batch_tensor(
            &images.pixels[start * per..(start + b) * per],
            b,
            images.c,
            images.h,
            images.w,
            device,
        );
        let f = vit.pool(vit.forward_features(x)?)?;
        out.extend(read_vec(f.reshape([b * state.config.embed_dim]))?);
    }
    Ok(out)
}

/// Linear probing (MAE protocol): frozen encoder → BatchNorm without affine → linear head.
/// Features are computed once (no augmentation); the BatchNorm statistics are the exact mean and
/// variance of the training features; only the head trains.
pub fn linear_probe(
    state: &mut TrainState,
    train_set: &ImageSet,
    test_set: &ImageSet,
    cfg: &TrainConfig,
    device: &Device,
    hooks: &mut Hooks<'_>,
) -> Result<(), Error> {
    let labels = train_set
        .labels
        .as_ref()
        .ok_or_else(|| ArchError::Invalid("linear probing needs labelled images".into()))?;
    let classes = state.config.num_classes().unwrap_or(10);
    let d = state.config.embed_dim;
    let feats = features(state, train_set, device)?;
    let n = train_set.n;
    let mut mean = vec![0.0_f64; d];
    let mut var = vec![0.0_f64; d];
    for row in feats.chunks(d) {
        for (j, v) in row.iter().enumerate() {
            mean[j] += f64::from(*v) / n as f64;
        }
    }
    for row in feats.chunks(d) {
        for (j, v) in row.iter().enumerate() {
            var[j] += (f64::from(*v) - mean[j]).powi(2) / n as f64;
        }
    }
    let normed: Vec<f32> = feats
        .chunks(d)
        .flat_map(|row| {
            row.iter()
                .enumerate()
                .map(|(j, v)| ((f64::from(*v) - mean[j]) / (var[j] + BN_EPS).sqrt()) as f32)
                .collect::<Vec<_>>()
        })
        .collect();
    // Head parameters: weight [classes, d] (decayed) then bias [classes].
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut head: Vec<f32> = (0..classes * d)
        .map(|_| (rng.random::<f32>() - 0.5) * 0.02)
        .collect();
    head.extend(vec![0.0; classes]);
    let mut decay = vec![1.0; classes * d];
    decay.extend(vec![0.0; classes]);
    let mut opt = AdamW::new(&decay, cfg.beta1, cfg.beta2, cfg.weight_decay, device);
    let mut params = upload(&head, device);
    let ad = device.clone().autodiff();
    let bs = cfg.batch_size.max(1);
    let steps = n / bs;
    for epoch in 0..cfg.epochs {
        let start = std::time::Instant::now();
        let mut order: Vec<usize> = (0..n).collect();
        rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
        let mut loss_sum = 0.0;
        for step in 0..steps {
            let idx = &order[step * bs..(step + 1) * bs];
            let x: Vec<f32> = idx
                .iter()
                .flat_map(|&i| normed[i * d..(i + 1) * d].iter().copied())
                .collect();
            let y: Vec<i64> = idx.iter().map(|&i| labels[i]).collect();
            let lr = cfg.lr_at(epoch as f64 + step as f64 / steps.max(1) as f64);
            let p = params.clone().autodiff().require_grad();
            let w = p.clone().narrow(0, 0, classes * d).reshape([classes, d]);
            let b = p
                .clone()
                .narrow(0, classes * d, classes)
                .reshape([1, classes]);
            let xt = Tensor::<2>::from_data(TensorData::new(x, [bs, d]), &ad);
            let logits = xt.matmul(w.transpose()) + b;
            let loss = classification_sums(logits, upload_int(y, [bs], &ad), bs)
                .narrow(0, 0, 1)
                .div_scalar(bs as f64);
            let grads = loss.backward();
            let g = p
                .grad(&grads)
                .ok_or_else(|| Error::Backend("no gradient for the head".into()))?;
            params = opt.step(params, g, lr);
            let value = f64::from(read_vec(loss.inner())?.first().copied().unwrap_or(f32::NAN));
            loss_sum += value;
            (hooks.on_step)(&StepInfo {
                epoch,
                step,
                steps,
                loss: value,
                lr,
            });
        }
        let seconds = start.elapsed().as_secs_f64();
        let head_now = read_vec(params.clone())?;
        install_probe_head(state, &head_now, &mean, &var, classes)?;
        let test = evaluate(state, test_set, Method::Linprobe, cfg, device)?;
        let report = EpochReport {
            epoch: epoch + 1,
            train_loss: loss_sum / steps.max(1) as f64,
            test,
            seconds,
            images_per_sec: (steps * bs) as f64 / seconds.max(1e-9),
        };
        (hooks.on_epoch)(&report, state, None)?;
    }
    Ok(())
}

fn install_probe_head(
    state: &mut TrainState,
    head: &[f32],
    mean: &[f64],
    var: &[f64],
    classes: usize,
) -> Result<(), Error> {
    let d = state.config.embed_dim;
    let mut config = state.config;
    config.head = Some(Head::LinearProbe {
        num_classes: classes,
    });
    let old = state.layout.unflatten(&state.theta);
    let mut full = StateDict::default();
    for (k, v) in old.tensors {
        if !k.starts_with("head.") {
            full.tensors.insert(k, v);
        }
    }
    full.insert(
        "head.1.weight",
        vec![classes, d],
        head[..classes * d].to_vec(),
    );
    full.insert("head.1.bias", vec![classes], head[classes * d..].to_vec());
    *state = TrainState::new(config, full)?;
    state.buffers.insert(
        "head.0.running_mean",
        vec![d],
        mean.iter().map(|v| *v as f32).collect(),
    );
    state.buffers.insert(
        "head.0.running_var",
        vec![d],
        var.iter().map(|v| *v as f32).collect(),
    );
    Ok(())
}
