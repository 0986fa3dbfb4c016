//! AdamW on the flat parameter vector, its weight-decay and trainable masks, and the RC-MAE EMA
//! update: plain element-wise updates, because parameters are one vector everywhere in vitscape.
//! Target-neutral: training runs natively, the Bézier control point also in the browser's worker.

use burn::tensor::{Device, Tensor};

use crate::error::Error;
use crate::landscape::directions::is_pos_embed;
#[cfg(not(target_arch = "wasm32"))]
use crate::landscape::objective::read_vec;
use crate::model::{Layout, upload};

/// 1 where AdamW decays the parameter, 0 elsewhere: rank-1 tensors (biases, norms), tokens and
/// position embeddings are not decayed (timm's `no_weight_decay`).
pub fn decay_mask(layout: &Layout) -> Vec<f32> {
    let mut mask = vec![0.0; layout.total];
    for (p, range) in layout.slots() {
        let token = p.name.ends_with("_token") || is_pos_embed(&p.name);
        if p.shape.len() >= 2 && !token {
            mask[range].fill(1.0);
        }
    }
    mask
}

/// 1 where parameters train, 0 for the fixed sin-cos position embeddings (as in MAE, for every
/// method, so the three demo models differ only in how they were trained).
pub fn trainable_mask(layout: &Layout) -> Vec<f32> {
    let mut mask = vec![1.0; layout.total];
    for (p, range) in layout.slots() {
        if is_pos_embed(&p.name) {
            mask[range].fill(0.0);
        }
    }
    mask
}

/// AdamW on a flat parameter vector.
pub struct AdamW {
    m: Tensor<1>,
    v: Tensor<1>,
    decay: Tensor<1>,
    step: i32,
    beta1: f64,
    beta2: f64,
    weight_decay: f64,
}

/// Added to √v̂.
pub const ADAM_EPS: f64 = 1e-8;

impl AdamW {
    /// Zero moments; `decay` from [`decay_mask`].
    pub fn new(decay: &[f32], beta1: f64, beta2: f64, weight_decay: f64, device: &Device) -> Self {
        let zeros = Tensor::<1>::zeros([decay.len()], device);
        Self {
            m: zeros.clone(),
            v: zeros,
            decay: upload(decay, device),
            step: 0,
            beta1,
            beta2,
            weight_decay,
        }
    }

    /// The moments and step count, to continue later ([`AdamW::restore`]; native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn moments(&self) -> Result<(Vec<f32>, Vec<f32>, i32), Error> {
        Ok((
            read_vec(self.m.clone())?,
            read_vec(self.v.clone())?,
            self.step,
        ))
    }

    /// Moments and step count saved by [`AdamW::moments`].
    pub fn restore(
        &mut self,
        m: &[f32],
        v: &[f32],
        step: i32,
        device: &Device,
    ) -> Result<(), Error> {
        let n = self.m.dims()[0];
        if m.len() != n || v.len() != n {
            return Err(Error::Backend(format!(
                "AdamW moments of {} and {} values for {n} parameters",
                m.len(),
                v.len()
            )));
        }
        self.m = upload(m, device);
        self.v = upload(v, device);
        self.step = step;
        Ok(())
    }

    /// One update: θ ← θ − lr·(m̂/(√v̂ + ε) + wd·mask·θ).
    pub fn step(&mut self, theta: Tensor<1>, grad: Tensor<1>, lr: f64) -> Tensor<1> {
        self.step += 1;
        self.m = self.m.clone().mul_scalar(self.beta1) + grad.clone().mul_scalar(1.0 - self.beta1);
        self.v = self.v.clone().mul_scalar(self.beta2)
            + grad.powi_scalar(2).mul_scalar(1.0 - self.beta2);
        let c1 = 1.0 - self.beta1.powi(self.step);
        let c2 = 1.0 - self.beta2.powi(self.step);
        let update = self.m.clone().div_scalar(c1)
            / self.v.clone().div_scalar(c2).sqrt().add_scalar(ADAM_EPS);
        let decay = self.decay.clone() * theta.clone().mul_scalar(self.weight_decay);
        theta - (update + decay).mul_scalar(lr)
    }
}

/// θ_t ← m·θ_t + (1 − m)·θ_s.
pub fn ema_update(teacher: Tensor<1>, student: Tensor<1>, m: f64) -> Tensor<1> {
    teacher.mul_scalar(m) + student.mul_scalar(1.0 - m)
}
