//! Training the demo models (native only): supervised ViT, MAE and RC-MAE pre-training, and
//! fine-tuning / linear probing of a pre-trained encoder (METHODS §3, issue #3).
//!
//! Parameters are one flat vector (as everywhere in vitscape), so AdamW, the weight-decay mask and
//! the RC-MAE EMA teacher are plain element-wise updates of that vector. Gradients come from
//! burn's autodiff on the same forward functions the landscape uses.

mod probe;
mod resume;

pub use crate::optim::{ADAM_EPS, AdamW, decay_mask, ema_update, trainable_mask};
pub use probe::linear_probe;
pub use resume::{Progress, RESUME_FILE, ResumeError};

use std::collections::HashMap;

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{ArchError, Error};
use crate::io::checkpoint::StateDict;
use crate::io::data::ImageSet;
use crate::landscape::objective::{
    Evaluator, MaskNoise, Objective, classification_sums, mask_indices, masked_mse_sum,
    patchify_targets, read_vec, upload_token_rows,
};
use crate::model::arch::{Head, VitConfig};
use crate::model::{Layout, Vit, Weights, random_state, upload, upload_int};

/// How a model is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// From scratch with cross-entropy.
    Supervised,
    /// MAE pre-training.
    Mae,
    /// MAE + EMA teacher consistency.
    Rcmae,
    /// Pre-trained encoder + new head, all parameters trained.
    Finetune,
    /// Frozen encoder; BatchNorm (no affine) + linear head trained.
    Linprobe,
}

/// Optimisation settings (recorded in every checkpoint's metadata).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainConfig {
    /// Method.
    pub method: Method,
    /// Epochs over the training images.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up length, in epochs.
    pub warmup_epochs: f64,
    /// AdamW weight decay (not applied to rank-1 tensors, tokens and position embeddings).
    pub weight_decay: f64,
    /// AdamW β₁.
    pub beta1: f64,
    /// AdamW β₂.
    pub beta2: f64,
    /// Seed of initialisation, shuffling, augmentation and masks.
    pub seed: u64,
    /// MAE mask ratio.
    pub mask_ratio: f64,
    /// MAE normalised-pixel targets.
    pub norm_pix_loss: bool,
    /// RC-MAE EMA momentum m (θ_t ← m·θ_t + (1 − m)·θ_s).
    pub ema_momentum: f64,
    /// Ramp m from `ema_momentum` to 1 along a cosine instead of keeping it constant.
    pub ema_cosine: bool,
    /// RC-MAE consistency weight γ.
    pub gamma: f64,
    /// Random crop (padding 2) and horizontal flip on training images.
    pub augment: bool,
}

impl TrainConfig {
    /// Defaults per method (AdamW β = (0.9, 0.95), warm-up + cosine).
    pub fn defaults(method: Method) -> Self {
        let (epochs, lr, wd) = match method {
            Method::Supervised => (10, 1e-3, 0.05),
            Method::Mae | Method::Rcmae => (10, 1.5e-3, 0.05),
            Method::Finetune => (5, 5e-4, 0.05),
            Method::Linprobe => (20, 1e-2, 0.0),
        };
        Self {
            method,
            epochs,
            batch_size: 128,
            lr,
            warmup_epochs: 1.0,
            weight_decay: wd,
            beta1: 0.9,
            beta2: 0.95,
            seed: 0,
            mask_ratio: 0.75,
            norm_pix_loss: true,
            ema_momentum: 0.996,
            ema_cosine: false,
            gamma: 1.0,
            augment: true,
        }
    }

    /// Learning rate at fractional epoch `e`: linear warm-up, then cosine to zero.
    pub fn lr_at(&self, e: f64) -> f64 {
        if e < self.warmup_epochs {
            self.lr * e / self.warmup_epochs.max(1e-12)
        } else {
            let span = (self.epochs as f64 - self.warmup_epochs).max(1e-12);
            let p = ((e - self.warmup_epochs) / span).clamp(0.0, 1.0);
            self.lr * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
        }
    }

    /// EMA momentum at step `k` of `total`.
    pub fn momentum_at(&self, k: usize, total: usize) -> f64 {
        if self.ema_cosine {
            let p = k as f64 / total.max(1) as f64;
            1.0 - (1.0 - self.ema_momentum) * ((std::f64::consts::PI * p).cos() + 1.0) / 2.0
        } else {
            self.ema_momentum
        }
    }
}

/// Random crop with `pad` pixels of padding (filled with `fill`) and horizontal flip, in place.
pub fn augment(
    images: &mut [f32],
    c: usize,
    h: usize,
    w: usize,
    pad: usize,
    fill: &[f32],
    rng: &mut ChaCha8Rng,
) {
    let per = c * h * w;
    let mut buf = vec![0.0; per];
    for img in images.chunks_mut(per) {
        let dy = rng.random_range(0..=2 * pad) as isize - pad as isize;
        let dx = rng.random_range(0..=2 * pad) as isize - pad as isize;
        let flip = rng.random_bool(0.5);
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let sx = x as isize + dx;
                    let sy = y as isize + dy;
                    let sx = if flip { w as isize - 1 - sx } else { sx };
                    buf[(ch * h + y) * w + x] =
                        if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize {
                            img[(ch * h + sy as usize) * w + sx as usize]
                        } else {
                            fill.get(ch).copied().unwrap_or(0.0)
                        };
                }
            }
        }
        img.copy_from_slice(&buf);
    }
}

/// Per-step progress.
#[derive(Debug, Clone, PartialEq)]
pub struct StepInfo {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Step within the epoch.
    pub step: usize,
    /// Steps per epoch.
    pub steps: usize,
    /// Training loss of the step.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
}

/// End-of-epoch report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// Epoch number (1-based, epochs completed).
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Test metrics (`test_accuracy`, `test_loss` or `test_reconstruction`).
    pub test: std::collections::BTreeMap<String, f64>,
    /// Wall time of the epoch's training steps.
    pub seconds: f64,
    /// Training images per second.
    pub images_per_sec: f64,
}

/// The model being trained.
pub struct TrainState {
    /// Architecture.
    pub config: VitConfig,
    /// Layout of θ.
    pub layout: Layout,
    /// Trainable θ (the student for RC-MAE).
    pub theta: Vec<f32>,
    /// RC-MAE teacher θ.
    pub teacher: Option<Vec<f32>>,
    /// Buffers (linear-probe BatchNorm statistics).
    pub buffers: StateDict,
}

impl TrainState {
    /// θ gathered from a state dict for `config` (no teacher, no buffers).
    pub fn new(config: VitConfig, mut state: StateDict) -> Result<Self, Error> {
        let layout = Layout::new(&config);
        let theta = layout.take(&mut state)?;
        Ok(Self {
            config,
            layout,
            theta,
            teacher: None,
            buffers: StateDict::default(),
        })
    }

    /// The model of a state dict [`TrainState::state_dict`] wrote (without buffers): θ, and for
    /// RC-MAE the teacher from `teacher.*` beside the student's `student.*`.
    pub fn from_state_dict(config: VitConfig, mut state: StateDict) -> Result<Self, Error> {
        if !state.tensors.keys().any(|k| k.starts_with("teacher.")) {
            return Self::new(config, state);
        }
        let mut student = StateDict::default();
        let mut teacher = StateDict::default();
        for (k, t) in std::mem::take(&mut state.tensors) {
            if let Some(name) = k.strip_prefix("student.") {
                student.tensors.insert(name.to_string(), t);
            } else if let Some(name) = k.strip_prefix("teacher.") {
                teacher.tensors.insert(name.to_string(), t);
            }
        }
        let mut out = Self::new(config, student)?;
        out.teacher = Some(Self::new(config, teacher)?.theta);
        Ok(out)
    }

    /// The state dict of θ (plus buffers); for RC-MAE, `student.*` and `teacher.*` together.
    pub fn state_dict(&self) -> StateDict {
        let mut state = self.layout.unflatten(&self.theta);
        for (k, t) in &self.buffers.tensors {
            state.tensors.insert(k.clone(), t.clone());
        }
        if let Some(teacher) = &self.teacher {
            let t = self.layout.unflatten(teacher);
            let mut both = StateDict::default();
            for (k, v) in state.tensors {
                both.tensors.insert(format!("student.{k}"), v);
            }
            for (k, v) in t.tensors {
                both.tensors.insert(format!("teacher.{k}"), v);
            }
            return both;
        }
        state
    }
}

/// MAE's fixed 2-D sin-cos position embedding (cls position = 0), `[1, 1 + g², dim]` flat.
pub fn sincos_pos_embed(grid: usize, dim: usize) -> Vec<f32> {
    let half = dim / 2;
    let quarter = half / 2;
    let one_d = |pos: f64, out: &mut Vec<f32>| {
        for i in 0..quarter {
            let omega = 1.0 / 10000f64.powf(i as f64 / quarter.max(1) as f64);
            out.push((pos * omega).sin() as f32);
        }
        for i in 0..quarter {
            let omega = 1.0 / 10000f64.powf(i as f64 / quarter.max(1) as f64);
            out.push((pos * omega).cos() as f32);
        }
    };
    let mut out = vec![0.0; dim];
    for y in 0..grid {
        for x in 0..grid {
            let mut row = Vec::with_capacity(dim);
            one_d(y as f64, &mut row);
            one_d(x as f64, &mut row);
            row.resize(dim, 0.0);
            out.extend(row);
        }
    }
    out
}

/// A model initialised from scratch: timm-style random weights and fixed sin-cos position
/// embeddings.
pub fn scratch_state(config: VitConfig, seed: u64) -> Result<TrainState, Error> {
    config.validate()?;
    let mut state = random_state(&config, seed);
    let g = config.grid();
    state.insert(
        "pos_embed",
        vec![1, g * g + 1, config.embed_dim],
        sincos_pos_embed(g, config.embed_dim),
    );
    if let Some(dec) = config.decoder {
        state.insert(
            "decoder_pos_embed",
            vec![1, g * g + 1, dec.embed_dim],
            sincos_pos_embed(g, dec.embed_dim),
        );
    }
    TrainState::new(config, state)
}

/// The encoder of a pre-trained checkpoint (decoder and any head dropped) with a new linear head
/// of `classes` outputs, for fine-tuning or linear probing.
pub fn from_pretrained(
    pretrained: &StateDict,
    classes: usize,
    seed: u64,
) -> Result<TrainState, Error> {
    let mut config =
        crate::model::arch::infer(pretrained, crate::model::arch::HeadCounts::default())?;
    config.decoder = None;
    config.head = Some(Head::Linear {
        num_classes: classes,
    });
    let mut state = StateDict::default();
    for (k, v) in &pretrained.tensors {
        let decoder = k.starts_with("decoder_") || k == "mask_token";
        if !decoder && !k.starts_with("head") {
            state.tensors.insert(k.clone(), v.clone());
        }
    }
    let fresh = random_state(&config, seed);
    for name in ["head.weight", "head.bias"] {
        if let Some(t) = fresh.tensors.get(name) {
            state.tensors.insert(name.into(), t.clone());
        }
    }
    TrainState::new(config, state)
}

pub(crate) fn batch_tensor(
    images: &[f32],
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    device: &Device,
) -> Tensor<4> {
    Tensor::from_data(TensorData::new(images.to_vec(), [b, c, h, w]), device)
}

/// Test metrics of the current θ: accuracy/loss for classifiers, reconstruction loss (fixed
/// masks, seed 0) for MAE-style models.
pub fn evaluate(
    state: &TrainState,
    test: &ImageSet,
    method: Method,
    cfg: &TrainConfig,
    device: &Device,
) -> Result<std::collections::BTreeMap<String, f64>, Error> {
    let buffers: HashMap<String, Tensor<1>> = state
        .buffers
        .tensors
        .iter()
        .map(|(k, t)| (k.clone(), upload(&t.data, device)))
        .collect();
    let objective = match method {
        Method::Mae | Method::Rcmae => Objective::Mae {
            mask_ratio: cfg.mask_ratio,
            norm_pix_loss: cfg.norm_pix_loss,
            noise: MaskNoise::seeded(test.n, state.config.num_patches(), 0),
        },
        _ => Objective::Classification,
    };
    let ev = Evaluator::new(
        device,
        state.config,
        &state.theta,
        &[],
        buffers,
        test,
        objective,
        256,
        None,
    )?;
    let values = ev.eval(&[])?;
    let mut out = std::collections::BTreeMap::new();
    match method {
        Method::Mae | Method::Rcmae => {
            out.insert("test_reconstruction".into(), values["loss"]);
        }
        _ => {
            out.insert("test_loss".into(), values["loss"]);
            out.insert("test_accuracy".into(), values["accuracy"]);
        }
    }
    Ok(out)
}

/// Called after every epoch with the model and (except for linear probing) the [`Progress`] that
/// continues the run from there.
pub type OnEpoch<'a> =
    dyn FnMut(&EpochReport, &TrainState, Option<&Progress>) -> Result<(), Error> + 'a;

/// What [`train`] tells its caller as it goes.
pub struct Hooks<'a> {
    /// After every step.
    pub on_step: &'a mut dyn FnMut(&StepInfo),
    /// After every epoch, with the model and (except for linear probing) the [`Progress`] that
    /// continues the run from here; may write checkpoints and the resume file.
    pub on_epoch: &'a mut OnEpoch<'a>,
}

/// Train `state` in place for `cfg.epochs`, or for the epochs after `resume.epochs_done` when a
/// stopped run continues (`state` is then the one read with its [`Progress`]). Linear probing
/// goes through [`linear_probe`].
pub fn train(
    state: &mut TrainState,
    train_set: &ImageSet,
    test_set: &ImageSet,
    cfg: &TrainConfig,
    device: &Device,
    resume: Option<&Progress>,
    hooks: &mut Hooks<'_>,
) -> Result<(), Error> {
    if cfg.method == Method::Linprobe {
        if resume.is_some() {
            return Err(ArchError::Invalid(
                "linear probing does not resume (it takes seconds per epoch): run it again".into(),
            )
            .into());
        }
        return linear_probe(state, train_set, test_set, cfg, device, hooks);
    }
    let config = state.config;
    let reconstruct = matches!(cfg.method, Method::Mae | Method::Rcmae);
    if reconstruct && config.decoder.is_none() {
        return Err(ArchError::Missing {
            name: "decoder_embed.weight".into(),
            why: "MAE training needs a decoder".into(),
        }
        .into());
    }
    if !reconstruct && (config.head.is_none() || train_set.labels.is_none()) {
        return Err(ArchError::Invalid(
            "supervised training needs a head and labelled images".into(),
        )
        .into());
    }
    let ad = device.clone().autodiff();
    let layout = &state.layout;
    let mut theta = upload(&state.theta, device);
    let mut teacher = state.teacher.as_ref().map(|t| upload(t, device));
    if cfg.method == Method::Rcmae && teacher.is_none() {
        teacher = Some(theta.clone());
    }
    let mut opt = AdamW::new(
        &decay_mask(layout),
        cfg.beta1,
        cfg.beta2,
        cfg.weight_decay,
        device,
    );
    let trainable = upload(&trainable_mask(layout), device);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut first_epoch = 0;
    if let Some(p) = resume {
        opt.restore(&p.adam_m, &p.adam_v, p.adam_step, device)?;
        rng.set_word_pos(p.rng_word_pos);
        first_epoch = p.epochs_done;
    }
    let (c, h, w) = (train_set.c, train_set.h, train_set.w);
    let per = c * h * w;
    let bs = cfg.batch_size.max(1);
    let steps = train_set.n / bs;
    if steps == 0 {
        return Err(ArchError::Invalid(format!(
            "{} training images are fewer than one batch of {bs}",
            train_set.n
        ))
        .into());
    }
    let total_steps = steps * cfg.epochs;
    // Background value of the normalised images (pixel 0), used to fill crop padding.
    let fill: Vec<f32> = (0..c)
        .map(|ch| {
            let vals = train_set
                .pixels
                .chunks(per)
                .take(64)
                .map(|img| img[ch * h * w]);
            vals.fold(f32::INFINITY, f32::min)
        })
        .collect();
    let l = config.num_patches();
    let pd = config.patch_dim();
    for epoch in first_epoch..cfg.epochs {
        let start = std::time::Instant::now();
        let mut order: Vec<usize> = (0..train_set.n).collect();
        rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
        let mut loss_sum = 0.0;
        for step in 0..steps {
            let idx = &order[step * bs..(step + 1) * bs];
            let mut pixels = Vec::with_capacity(bs * per);
            for &i in idx {
                pixels.extend_from_slice(&train_set.pixels[i * per..(i + 1) * per]);
            }
            if cfg.augment {
                augment(&mut pixels, c, h, w, 2, &fill, &mut rng);
            }
            let lr = cfg.lr_at(epoch as f64 + step as f64 / steps as f64);
            let theta_ad = theta.clone().autodiff().require_grad();
            let weights = Weights::from_flat(layout, &theta_ad, &HashMap::new());
            let vit = Vit {
                config: &config,
                weights: &weights,
            };
            let images = batch_tensor(&pixels, bs, c, h, w, &ad);
            let loss = if reconstruct {
                let noise = MaskNoise {
                    values: (0..bs * l).map(|_| rng.random::<f32>()).collect(),
                    n: bs,
                    l,
                };
                let m = mask_indices(&noise, cfg.mask_ratio);
                let keep_ids = upload_token_rows(&m.ids_keep, m.keep, l, &ad);
                let restore = upload_token_rows(&m.ids_restore, l, l, &ad);
                let batch_set = ImageSet {
                    pixels: pixels.clone(),
                    labels: None,
                    class_names: vec![],
                    n: bs,
                    c,
                    h,
                    w,
                };
                let target = Tensor::<3>::from_data(
                    TensorData::new(
                        patchify_targets(&batch_set, config.patch_size, cfg.norm_pix_loss),
                        [bs, l, pd],
                    ),
                    &ad,
                );
                let mask = Tensor::<2>::from_data(TensorData::new(m.mask.clone(), [bs, l]), &ad);
                let masked: f64 = m.mask.iter().map(|v| f64::from(*v)).sum();
                let latent = vit.forward_encoder_masked(images.clone(), keep_ids.clone())?;
                let pred = vit.forward_decoder(latent, restore.clone())?;
                let mut loss =
                    masked_mse_sum(pred.clone(), target, mask.clone()).div_scalar(masked);
                if let (Method::Rcmae, Some(t)) = (cfg.method, &teacher) {
                    let tw = Weights::from_flat(layout, &t.clone().autodiff(), &HashMap::new());
                    let tv = Vit {
                        config: &config,
                        weights: &tw,
                    };
                    let t_latent = tv.forward_encoder_masked(images, keep_ids)?;
                    let t_pred = tv.forward_decoder(t_latent, restore)?.detach();
                    loss = loss
                        + masked_mse_sum(pred, t_pred, mask)
                            .div_scalar(masked)
                            .mul_scalar(cfg.gamma);
                }
                loss
            } else {
                let labels: Vec<i64> = match &train_set.labels {
                    Some(all) => idx.iter().map(|&i| all[i]).collect(),
                    None => Vec::new(),
                };
                let labels: Tensor<1, Int> = upload_int(labels, [bs], &ad);
                let logits = vit.forward(images)?;
                classification_sums(logits, labels, bs)
                    .narrow(0, 0, 1)
                    .div_scalar(bs as f64)
            };
            let grads = loss.backward();
            let grad = theta_ad
                .grad(&grads)
                .ok_or_else(|| Error::Backend("no gradient for θ".into()))?;
            theta = opt.step(theta, grad * trainable.clone(), lr);
            if let Some(t) = teacher.take() {
                let m = cfg.momentum_at(epoch * steps + step, total_steps);
                teacher = Some(ema_update(t, theta.clone(), m));
            }
            let loss_value =
                f64::from(read_vec(loss.inner())?.first().copied().unwrap_or(f32::NAN));
            if !loss_value.is_finite() {
                return Err(Error::Backend(format!(
                    "training diverged: loss {loss_value} at epoch {epoch} step {step}"
                )));
            }
            loss_sum += loss_value;
            (hooks.on_step)(&StepInfo {
                epoch,
                step,
                steps,
                loss: loss_value,
                lr,
            });
        }
        let seconds = start.elapsed().as_secs_f64();
        state.theta = read_vec(theta.clone())?;
        if let Some(t) = &teacher {
            state.teacher = Some(read_vec(t.clone())?);
        }
        let test = evaluate(state, test_set, cfg.method, cfg, device)?;
        let report = EpochReport {
            epoch: epoch + 1,
            train_loss: loss_sum / steps as f64,
            test,
            seconds,
            images_per_sec: (steps * bs) as f64 / seconds.max(1e-9),
        };
        let (adam_m, adam_v, adam_step) = opt.moments()?;
        let progress = Progress {
            epochs_done: epoch + 1,
            adam_m,
            adam_v,
            adam_step,
            rng_word_pos: rng.get_word_pos(),
        };
        (hooks.on_epoch)(&report, state, Some(&progress))?;
    }
    Ok(())
}
