//! Training the control point (natively for `vitscape connect`, in the browser's worker for the
//! page; awaited, so the GPU read-backs never block): each step draws t ~ U(0, 1) and a mini-batch, and
//! moves θ_c along ∂L(φ(t))/∂θ_c = 2t(1−t)·∇L(φ(t)) with Adam (the training module's, without
//! weight decay). It starts from the midpoint, where the curve is the straight line.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{BendConfig, BendRecord, BendStep};

use crate::error::{ArchError, Error};
use crate::landscape::objective::{Evaluator, read_async};
use crate::model::{Layout, upload};
use crate::optim::AdamW;

/// A trained control point.
#[derive(Debug, Clone)]
pub struct Bend {
    /// θ_c, flat in the layout's order.
    pub theta: Vec<f32>,
    /// Every step's t and loss.
    pub steps: Vec<BendStep>,
}

impl Bend {
    /// The mean mini-batch loss of the last `fraction` of the steps (at least one).
    pub fn final_loss(&self, fraction: f64) -> f64 {
        let n = ((self.steps.len() as f64 * fraction).ceil() as usize).clamp(1, self.steps.len());
        let tail = &self.steps[self.steps.len() - n..];
        tail.iter().map(|s| s.loss).sum::<f64>() / n as f64
    }
}

/// φ(t) for flat parameter vectors.
pub fn bezier_point(start: &[f32], bend: &[f32], end: &[f32], t: f64) -> Vec<f32> {
    let (a, b, c) = ((1.0 - t).powi(2), 2.0 * t * (1.0 - t), t * t);
    start
        .iter()
        .zip(bend)
        .zip(end)
        .map(|((s, m), e)| (a * f64::from(*s) + b * f64::from(*m) + c * f64::from(*e)) as f32)
        .collect()
}

/// Train the control point between `start` (t = 0) and `end` (t = 1) on the mini-batches
/// `batches` (taken in turn). `progress` hears each step (index from 0, and its record).
pub async fn train_bend(
    batches: &[Evaluator],
    start: &[f32],
    end: &[f32],
    config: &BendConfig,
    mut progress: impl FnMut(usize, BendStep),
) -> Result<Bend, Error> {
    let first = batches
        .first()
        .ok_or_else(|| ArchError::Invalid("no training images to train the bend on".into()))?;
    if start.len() != end.len() {
        return Err(ArchError::Invalid(format!(
            "the ends have {} and {} parameters",
            start.len(),
            end.len()
        ))
        .into());
    }
    if config.steps == 0 || !(config.lr > 0.0 && config.lr.is_finite()) {
        return Err(ArchError::Invalid(format!(
            "the bend needs steps ≥ 1 and a positive learning rate (got {} steps, lr {})",
            config.steps, config.lr
        ))
        .into());
    }
    let device = first.device().clone();
    let mut theta: Vec<f32> = start.iter().zip(end).map(|(a, b)| 0.5 * (a + b)).collect();
    let mut on_device = upload(&theta, &device);
    let no_decay = vec![0.0_f32; theta.len()];
    let mut adam = AdamW::new(&no_decay, config.beta1, config.beta2, 0.0, &device);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut steps = Vec::with_capacity(config.steps);
    for k in 0..config.steps {
        let t: f64 = rng.random();
        let batch = &batches[k % batches.len()];
        let point = bezier_point(start, &theta, end, t);
        let (loss, grad) = batch.value_and_gradient_at(&point).await?;
        if !loss.is_finite() {
            return Err(ArchError::Invalid(format!(
                "the loss on the curve became {loss} at step {k} (t = {t:.3}); lower --lr"
            ))
            .into());
        }
        let weight = (2.0 * t * (1.0 - t)) as f32;
        let grad: Vec<f32> = grad.iter().map(|g| g * weight).collect();
        on_device = adam.step(on_device, upload(&grad, &device), config.lr_at(k));
        theta = read_async(on_device.clone()).await?;
        let step = BendStep { t, loss };
        steps.push(step);
        progress(k, step);
    }
    Ok(Bend { theta, steps })
}

/// The control point as a safetensors file under timm names, with its record in the metadata
/// (`format` = `vitscape-bend`, `bend` = the [`BendRecord`] as JSON), as `vitscape connect` and
/// the page write it.
pub fn bend_file(layout: &Layout, theta: &[f32], record: &BendRecord) -> Result<Vec<u8>, Error> {
    let json = serde_json::to_string(record).map_err(|source| Error::Json {
        context: "the control point's record".into(),
        source,
    })?;
    let meta = [("format", super::BEND_FORMAT.to_string()), ("bend", json)];
    let state = crate::landscape::directions::to_state_dict(layout, theta, &meta);
    Ok(crate::io::checkpoint::write_safetensors(&state)?)
}
