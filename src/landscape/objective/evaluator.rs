//! The `Evaluator`: θ-independent data prepared once on the device; the objective's sums, metrics and gradient at one point or K points per forward; read-backs.

use super::*;

#[derive(Clone)]
pub(crate) struct Batch {
    pub(crate) images: Tensor<4>,
    /// Images in the batch.
    pub(crate) size: usize,
    /// Masked patches in the batch (reconstruction losses).
    pub(crate) masked_count: f64,
    pub(crate) labels: Option<Tensor<1, Int>>,
    pub(crate) masked: Option<MaskedBatch>,
}

#[derive(Clone)]
pub(crate) struct MaskedBatch {
    /// The kept patches and the unshuffle as token rows ([`token_rows`]).
    pub(crate) ids_keep: Tensor<1, Int>,
    pub(crate) ids_restore: Tensor<1, Int>,
    pub(crate) target: Tensor<3>,
    pub(crate) mask: Tensor<2>,
    pub(crate) teacher_pred: Option<Tensor<3>>,
    pub(crate) masked_count: f64,
    /// The kept patches, the unshuffle permutation and the mask on the host, `[B, keep]`,
    /// `[B, L]` and `[B, L]`, for the fused gradient.
    pub(crate) host_ids: (Vec<usize>, Vec<usize>, Vec<f32>),
}

/// How a gradient is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GradientMethod {
    /// The fused forward pass and a hand-written backward pass on the host where they apply
    /// ([`Evaluator::fused_gradient_applies`]); burn's autodiff elsewhere.
    #[default]
    Fused,
    /// burn's autodiff everywhere (the reference the fused gradient is held to, and the
    /// benchmarks' anchor).
    Autodiff,
}

/// Evaluates an objective at any point θ* + Σ cᵢ·dᵢ.
#[derive(Clone)]
pub struct Evaluator {
    pub(crate) device: Device,
    pub(crate) config: VitConfig,
    pub(crate) layout: Layout,
    pub(crate) theta: Tensor<1>,
    pub(crate) directions: Vec<Tensor<1>>,
    pub(crate) buffers: HashMap<String, Tensor<1>>,
    pub(crate) batches: Vec<Batch>,
    pub(crate) objective: Objective,
    pub(crate) images: usize,
    pub(crate) masked_total: f64,
}

pub(crate) fn slice_images(
    images: &ImageSet,
    start: usize,
    size: usize,
    device: &Device,
) -> Tensor<4> {
    let per = images.c * images.h * images.w;
    let data = images.pixels[start * per..(start + size) * per].to_vec();
    Tensor::from_data(
        TensorData::new(data, [size, images.c, images.h, images.w]),
        device,
    )
}

/// Per-image token indices uploaded as token rows ([`token_rows`]).
pub fn upload_token_rows(
    ids: &[i64],
    per: usize,
    stride: usize,
    device: &Device,
) -> Tensor<1, Int> {
    let rows = token_rows(ids, per, stride);
    let n = rows.len();
    upload_int(rows, [n], device)
}

impl Evaluator {
    /// Prepare data, masks, targets and (for RC-MAE) the teacher's predictions on `device`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        device: &Device,
        config: VitConfig,
        theta: &[f32],
        directions: &[Vec<f32>],
        buffers: HashMap<String, Tensor<1>>,
        images: &ImageSet,
        objective: Objective,
        batch_size: usize,
        teacher: Option<&Teacher>,
    ) -> Result<Self, Error> {
        let layout = Layout::new(&config);
        if theta.len() != layout.total {
            return Err(ArchError::Invalid(format!(
                "θ has {} values, the architecture {}",
                theta.len(),
                layout.total
            ))
            .into());
        }
        for (i, d) in directions.iter().enumerate() {
            if d.len() != layout.total {
                return Err(ArchError::Invalid(format!(
                    "direction {i} has {} values, the model {}",
                    d.len(),
                    layout.total
                ))
                .into());
            }
        }
        if images.c != config.in_chans || images.h != config.img_size || images.w != config.img_size
        {
            return Err(ArchError::Invalid(format!(
                "images are {}×{} with {} channel(s); the model expects {s}×{s} with {} channel(s)",
                images.h,
                images.w,
                images.c,
                config.in_chans,
                s = config.img_size
            ))
            .into());
        }
        let batch_size = batch_size.max(1);
        let mut masked_total = 0.0;
        let (masking, targets) = match &objective {
            Objective::Classification => {
                if images.labels.is_none() {
                    return Err(Error::Spec(crate::error::SpecError::Field {
                        field: "loss".into(),
                        reason: "the classification loss needs labelled images (class sub-folders)"
                            .into(),
                    }));
                }
                if config.head.is_none() {
                    return Err(ArchError::Missing {
                        name: "head.weight".into(),
                        why: "the classification loss needs a classifier head".into(),
                    }
                    .into());
                }
                (None, None)
            }
            Objective::Mae {
                mask_ratio,
                norm_pix_loss,
                noise,
            }
            | Objective::RcMae {
                mask_ratio,
                norm_pix_loss,
                noise,
                ..
            } => {
                if config.decoder.is_none() {
                    return Err(ArchError::Missing {
                        name: "decoder_embed.weight".into(),
                        why: "the reconstruction loss needs the MAE decoder (a pre-training checkpoint)".into(),
                    }
                    .into());
                }
                if noise.n != images.n || noise.l != config.num_patches() {
                    return Err(ArchError::Invalid(format!(
                        "mask noise is {}×{}, expected {}×{} (images × patches)",
                        noise.n,
                        noise.l,
                        images.n,
                        config.num_patches()
                    ))
                    .into());
                }
                let idx = mask_indices(noise, *mask_ratio);
                if idx.keep == 0 || idx.keep == noise.l {
                    return Err(ArchError::Invalid(format!(
                        "mask ratio {mask_ratio} keeps {} of {} patches; at least one must be kept and one masked",
                        idx.keep, noise.l
                    ))
                    .into());
                }
                let targets = patchify_targets(images, config.patch_size, *norm_pix_loss);
                (Some(idx), Some(targets))
            }
        };
        let teacher_weights = match (&objective, teacher) {
            (Objective::RcMae { .. }, Some(t)) => {
                if t.config != config {
                    return Err(ArchError::Invalid(
                        "the RC-MAE teacher's architecture differs from the student's".into(),
                    )
                    .into());
                }
                Some(Weights::from_flat(
                    &layout,
                    &upload(&t.theta, device),
                    &HashMap::new(),
                ))
            }
            (Objective::RcMae { .. }, None) => {
                return Err(ArchError::Missing {
                    name: "teacher".into(),
                    why: "the RC-MAE loss needs a teacher checkpoint".into(),
                }
                .into());
            }
            _ => None,
        };
        let mut batches = Vec::new();
        let l = config.num_patches();
        let pd = config.patch_dim();
        let mut start = 0;
        while start < images.n {
            let size = batch_size.min(images.n - start);
            let images_t = slice_images(images, start, size, device);
            let labels = images
                .labels
                .as_ref()
                .map(|labels| upload_int(labels[start..start + size].to_vec(), [size], device));
            let masked = match (&masking, &targets) {
                (Some(idx), Some(targets)) => {
                    let keep = idx.keep;
                    let ids_keep = upload_token_rows(
                        &idx.ids_keep[start * keep..(start + size) * keep],
                        keep,
                        l,
                        device,
                    );
                    let ids_restore = upload_token_rows(
                        &idx.ids_restore[start * l..(start + size) * l],
                        l,
                        l,
                        device,
                    );
                    let target = Tensor::from_data(
                        TensorData::new(
                            targets[start * l * pd..(start + size) * l * pd].to_vec(),
                            [size, l, pd],
                        ),
                        device,
                    );
                    let mask_rows = idx.mask[start * l..(start + size) * l].to_vec();
                    let as_usize = |ids: &[i64]| -> Vec<usize> {
                        ids.iter()
                            .map(|&i| usize::try_from(i).unwrap_or(usize::MAX))
                            .collect()
                    };
                    let host_ids = (
                        as_usize(&idx.ids_keep[start * keep..(start + size) * keep]),
                        as_usize(&idx.ids_restore[start * l..(start + size) * l]),
                        mask_rows.clone(),
                    );
                    let masked_count: f64 = mask_rows.iter().map(|v| f64::from(*v)).sum();
                    masked_total += masked_count;
                    let mask = Tensor::from_data(TensorData::new(mask_rows, [size, l]), device);
                    let teacher_pred = match &teacher_weights {
                        Some(w) => {
                            let vit = Vit {
                                config: &config,
                                weights: w,
                            };
                            let latent =
                                vit.forward_encoder_masked(images_t.clone(), ids_keep.clone())?;
                            Some(vit.forward_decoder(latent, ids_restore.clone())?)
                        }
                        None => None,
                    };
                    Some(MaskedBatch {
                        ids_keep,
                        ids_restore,
                        target,
                        mask,
                        teacher_pred,
                        masked_count,
                        host_ids,
                    })
                }
                _ => None,
            };
            let masked_count = masked
                .as_ref()
                .map_or(0.0, |m: &MaskedBatch| m.masked_count);
            batches.push(Batch {
                images: images_t,
                size,
                masked_count,
                labels,
                masked,
            });
            start += size;
        }
        Ok(Self {
            device: device.clone(),
            theta: upload(theta, device),
            directions: directions.iter().map(|d| upload(d, device)).collect(),
            layout,
            config,
            buffers,
            batches,
            objective,
            images: images.n,
            masked_total,
        })
    }

    /// Whether [`GradientMethod::Fused`] takes the fused host backward pass here: on burn's
    /// `flex` CPU device, for a reconstruction loss of an architecture it supports (a class
    /// token, positions covering it, a decoder). Elsewhere it is burn's autodiff.
    pub fn fused_gradient_applies(&self) -> bool {
        self.device == Device::flex()
            && matches!(
                self.objective,
                Objective::Mae { .. } | Objective::RcMae { .. }
            )
            && crate::model::fused::gradient::supports(&self.config)
    }

    /// How gradients are taken here, in words (for reports).
    pub fn gradient_engine(&self) -> &'static str {
        if self.fused_gradient_applies() {
            "the fused forward pass and a hand-written backward pass on the host"
        } else {
            "burn's autodiff"
        }
    }

    /// The objective.
    pub fn objective(&self) -> &Objective {
        &self.objective
    }

    /// The architecture.
    pub fn config(&self) -> &VitConfig {
        &self.config
    }

    /// Number of images per cell.
    pub fn images(&self) -> usize {
        self.images
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// One evaluator per image batch (the `batch_size` it was built with): each one's objective
    /// is that mini-batch's own mean loss. Shares the device tensors, copies nothing.
    pub fn minibatches(&self) -> Vec<Evaluator> {
        self.batches
            .iter()
            .map(|b| Evaluator {
                batches: vec![b.clone()],
                images: b.size,
                masked_total: b.masked_count,
                ..self.clone()
            })
            .collect()
    }

    /// θ* + Σ cᵢ·dᵢ on the device (always from the pristine θ*).
    pub fn point(&self, coeffs: &[f64]) -> Tensor<1> {
        let mut theta = self.theta.clone();
        for (c, d) in coeffs.iter().zip(&self.directions) {
            if *c != 0.0 {
                theta = theta + d.clone().mul_scalar(*c);
            }
        }
        theta
    }

    /// Evaluate the raw sums at a point, left on the device (for asynchronous read-back):
    /// classification `[Σ CE, Σ correct]`, MAE `[Σ masked patch MSE]`, RC-MAE
    /// `[Σ masked recon MSE, Σ masked consistency MSE]`.
    pub fn sums_at(&self, coeffs: &[f64]) -> Result<Tensor<1>, Error> {
        let sums = self.sums_at_many(&[coeffs.to_vec()])?;
        let width = sums.dims()[1];
        Ok(sums.reshape([width]))
    }

    /// The raw sums at K points in one forward pass per batch (K weight sets, batched matmuls):
    /// `[K, width]`, row i for `points[i]`. Each point is built exactly as [`Evaluator::point`]
    /// builds it, so a row equals [`Evaluator::sums_at`] up to the rounding of the reductions.
    pub fn sums_at_many(&self, points: &[Vec<f64>]) -> Result<Tensor<2>, Error> {
        if points.is_empty() {
            return Err(ArchError::Invalid("no points to evaluate".into()).into());
        }
        let rows: Vec<Tensor<1>> = points.iter().map(|c| self.point(c)).collect();
        self.sums_with(&Tensor::stack(rows, 0))
    }

    /// Same as [`Evaluator::sums_at_many`] for explicit flat parameter vectors `[K, total]` on
    /// the device.
    pub fn sums_with(&self, flat: &Tensor<2>) -> Result<Tensor<2>, Error> {
        let weights = Weights::from_sets(&self.layout, flat, &self.buffers);
        let vit = Vit {
            config: &self.config,
            weights: &weights,
        };
        let mut totals: Option<Tensor<2>> = None;
        for batch in &self.batches {
            let sums = self.batch_sums(&vit, batch, false)?;
            totals = Some(match totals {
                Some(t) => t + sums,
                None => sums,
            });
        }
        totals.ok_or_else(|| ArchError::Invalid("no images to evaluate".into()).into())
    }

    /// Raw sums of one batch; with `autodiff`, the batch's constants are moved to the autodiff
    /// device so gradients can flow to the weights.
    /// `[K, width]` for K weight sets.
    pub(crate) fn batch_sums(
        &self,
        vit: &Vit<'_>,
        batch: &Batch,
        autodiff: bool,
    ) -> Result<Tensor<2>, Error> {
        let lift3 = |t: &Tensor<3>| {
            if autodiff {
                t.clone().autodiff()
            } else {
                t.clone()
            }
        };
        let images = if autodiff {
            batch.images.clone().autodiff()
        } else {
            batch.images.clone()
        };
        Ok(match (&self.objective, &batch.masked, &batch.labels) {
            (Objective::Classification, _, Some(labels)) => {
                let logits = vit.forward(images)?;
                let labels = if autodiff {
                    labels.clone().autodiff()
                } else {
                    labels.clone()
                };
                classification_sums_per_set(logits, labels)
            }
            (Objective::Mae { .. } | Objective::RcMae { .. }, Some(m), _) => {
                let (keep, restore) = if autodiff {
                    (
                        m.ids_keep.clone().autodiff(),
                        m.ids_restore.clone().autodiff(),
                    )
                } else {
                    (m.ids_keep.clone(), m.ids_restore.clone())
                };
                let mask = if autodiff {
                    m.mask.clone().autodiff()
                } else {
                    m.mask.clone()
                };
                let latent = vit.forward_encoder_masked(images, keep)?;
                let pred = vit.forward_decoder(latent, restore)?;
                let recon = masked_mse_sum_per_set(pred.clone(), lift3(&m.target), mask.clone());
                match &m.teacher_pred {
                    Some(t) => {
                        Tensor::cat(vec![recon, masked_mse_sum_per_set(pred, lift3(t), mask)], 1)
                    }
                    None => recon,
                }
            }
            _ => {
                return Err(ArchError::Invalid(
                    "batch was prepared for a different objective".into(),
                )
                .into());
            }
        })
    }

    /// The objective's value ([`LOSS`]) and its gradient with respect to θ at a host θ (one
    /// backward pass per batch, accumulated: [`Evaluator::value_and_gradient_at`]), driven to
    /// completion (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn gradient(&self, theta: &[f32]) -> Result<(f64, Vec<f32>), Error> {
        pollster::block_on(self.value_and_gradient_at(theta))
    }

    /// [`Evaluator::gradient`] without blocking. The fused host backward pass where it applies
    /// ([`Evaluator::fused_gradient_applies`]); otherwise burn's autodiff: the batches' gradients summed on the device in
    /// order and their values read back with them in one asynchronous read (a real wait for
    /// the browser's GPU); the value is the batches' values summed in f64.
    pub async fn value_and_gradient_at(&self, theta: &[f32]) -> Result<(f64, Vec<f32>), Error> {
        if self.fused_gradient_applies() {
            return self.fused_value_and_gradient(theta).await;
        }
        self.autodiff_value_and_gradient(theta).await
    }

    /// [`Evaluator::value_and_gradient_at`] by burn's autodiff.
    pub(crate) async fn autodiff_value_and_gradient(
        &self,
        theta: &[f32],
    ) -> Result<(f64, Vec<f32>), Error> {
        let (leaf, buffers) = self.leaf(theta);
        let mut values = Vec::with_capacity(self.batches.len());
        let mut total: Option<Tensor<1>> = None;
        for batch in &self.batches {
            let (scalar, g) = self.batch_gradient(&leaf, &buffers, batch)?;
            values.push(scalar.reshape([1]));
            total = Some(match total {
                Some(t) => t + g,
                None => g,
            });
        }
        let grad = total.ok_or_else(|| ArchError::Invalid("no images to evaluate".into()))?;
        let n = self.layout.total;
        let mut read = read_async(Tensor::cat([vec![grad], values].concat(), 0)).await?;
        let value = read.split_off(n).into_iter().map(f64::from).sum();
        Ok((value, read))
    }

    /// The gradient by burn's autodiff, left on the device (summed over batches in the same
    /// order as [`Evaluator::autodiff_value_and_gradient`], so the values are the same), for an
    /// asynchronous read-back in the browser.
    pub fn gradient_on_device(&self, theta: &[f32]) -> Result<Tensor<1>, Error> {
        let (leaf, buffers) = self.leaf(theta);
        let mut total: Option<Tensor<1>> = None;
        for batch in &self.batches {
            let (_, g) = self.batch_gradient(&leaf, &buffers, batch)?;
            total = Some(match total {
                Some(t) => t + g,
                None => g,
            });
        }
        total.ok_or_else(|| ArchError::Invalid("no images to evaluate".into()).into())
    }

    /// [`Evaluator::value_and_gradient_at`] by the fused host backward pass
    /// ([`Evaluator::fused_gradient_applies`]): the batches' gradients summed in order, their values in
    /// f64.
    pub(crate) async fn fused_value_and_gradient(
        &self,
        theta: &[f32],
    ) -> Result<(f64, Vec<f32>), Error> {
        use crate::model::fused::gradient::{MaskedImages, reconstruction_gradient};
        let m = self.masked_total.max(1.0);
        // The consistency term's weight; only RC-MAE batches hold the teacher's predictions
        // (`Evaluator::new` refuses RC-MAE without a teacher).
        let gamma = match self.objective {
            Objective::RcMae { gamma, .. } => gamma,
            _ => 0.0,
        };
        let mut value = 0.0;
        let mut total: Option<Vec<f32>> = None;
        for batch in &self.batches {
            let masked = batch.masked.as_ref().ok_or_else(|| {
                ArchError::Invalid("batch was prepared for a different objective".into())
            })?;
            let images = read_async(batch.images.clone()).await?;
            let target = read_async(masked.target.clone()).await?;
            let teacher = match &masked.teacher_pred {
                Some(t) => Some(read_async(t.clone()).await?),
                None => None,
            };
            let mut targets = vec![(1.0 / m, target.as_slice())];
            if let Some(t) = &teacher {
                targets.push((gamma / m, t.as_slice()));
            }
            let (keep, restore, mask) = &masked.host_ids;
            let (v, g) = reconstruction_gradient(
                &self.config,
                &self.layout,
                theta,
                &MaskedImages {
                    images: &images,
                    ids_keep: keep,
                    ids_restore: restore,
                    mask,
                    targets,
                },
            )?;
            value += v;
            total = Some(match total {
                Some(mut t) => {
                    t.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
                    t
                }
                None => g,
            });
        }
        let grad = total.ok_or_else(|| ArchError::Invalid("no images to evaluate".into()))?;
        Ok((value, grad))
    }

    /// θ as an autodiff leaf and the buffers on the autodiff device.
    pub(crate) fn leaf(&self, theta: &[f32]) -> (Tensor<1>, HashMap<String, Tensor<1>>) {
        let ad = self.device.clone().autodiff();
        let leaf = upload(theta, &ad).require_grad();
        let buffers = self
            .buffers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().autodiff()))
            .collect();
        (leaf, buffers)
    }

    /// One batch's contribution to the objective (its share of the mean, `[1]`) and to the
    /// gradient, both on the (non-autodiff) device.
    pub(crate) fn batch_gradient(
        &self,
        leaf: &Tensor<1>,
        buffers: &HashMap<String, Tensor<1>>,
        batch: &Batch,
    ) -> Result<(Tensor<1>, Tensor<1>), Error> {
        let n = self.images as f64;
        let m = self.masked_total.max(1.0);
        // A fresh graph per batch: burn consumes the tape on backward.
        let weights = Weights::from_flat(&self.layout, leaf, buffers);
        let vit = Vit {
            config: &self.config,
            weights: &weights,
        };
        let sums = self.batch_sums(&vit, batch, true)?;
        let width = sums.dims()[1];
        let sums = sums.reshape([width]);
        let scalar = match &self.objective {
            Objective::Classification => sums.narrow(0, 0, 1).div_scalar(n),
            Objective::Mae { .. } => sums.div_scalar(m),
            Objective::RcMae { gamma, .. } => {
                let parts = sums.div_scalar(m);
                parts.clone().narrow(0, 0, 1) + parts.narrow(0, 1, 1).mul_scalar(*gamma)
            }
        };
        let grads = scalar.backward();
        let g = leaf
            .grad(&grads)
            .ok_or_else(|| Error::Backend("autodiff returned no gradient for θ".into()))?;
        Ok((scalar.inner(), g))
    }

    /// Turn read-back sums into named metrics (means).
    pub fn finish(&self, sums: &[f32]) -> BTreeMap<String, f64> {
        let s = |i: usize| sums.get(i).map(|v| f64::from(*v)).unwrap_or(f64::NAN);
        let n = self.images as f64;
        let m = self.masked_total.max(1.0);
        let mut out = BTreeMap::new();
        match &self.objective {
            Objective::Classification => {
                out.insert(LOSS.to_string(), s(0) / n);
                out.insert(ACCURACY.to_string(), s(1) / n);
            }
            Objective::Mae { .. } => {
                out.insert(LOSS.to_string(), s(0) / m);
            }
            Objective::RcMae { gamma, .. } => {
                let recon = s(0) / m;
                let cons = s(1) / m;
                out.insert(RECONSTRUCTION.to_string(), recon);
                out.insert(CONSISTENCY.to_string(), cons);
                out.insert(LOSS.to_string(), recon + gamma * cons);
            }
        }
        out
    }

    /// The metrics at `points`: forward passes of `per_forward` points each (K weight sets,
    /// batched matmuls), all issued before one read-back. The read-back is awaited, so the
    /// browser's GPU works through every forward before the worker waits; natively it is ready
    /// at once (driven by `pollster`).
    pub async fn eval_points(
        &self,
        points: &[Vec<f64>],
        per_forward: usize,
    ) -> Result<Vec<BTreeMap<String, f64>>, Error> {
        if points.is_empty() {
            return Ok(Vec::new());
        }
        let sums = points
            .chunks(per_forward.max(1))
            .map(|chunk| self.sums_at_many(chunk))
            .collect::<Result<Vec<_>, _>>()?;
        let width = sums.first().map_or(1, |s| s.dims()[1]).max(1);
        let values = read_async(Tensor::cat(sums, 0).reshape([points.len() * width])).await?;
        Ok(values.chunks(width).map(|v| self.finish(v)).collect())
    }

    /// The metrics at one point ([`Evaluator::eval_points`]).
    pub async fn eval_at(&self, coeffs: &[f64]) -> Result<BTreeMap<String, f64>, Error> {
        self.eval_points(&[coeffs.to_vec()], 1)
            .await?
            .pop()
            .ok_or_else(|| Error::Backend("no result for the point".into()))
    }

    /// The gradient at a host θ by the default [`GradientMethod`] ([`Evaluator::gradient_by`]).
    pub async fn gradient_at(&self, theta: &[f32]) -> Result<Vec<f32>, Error> {
        self.gradient_by(theta, GradientMethod::default()).await
    }

    /// The gradient at a host θ: the fused host backward pass for [`GradientMethod::Fused`]
    /// where it applies ([`Evaluator::fused_gradient_applies`]), else burn's autodiff
    /// ([`Evaluator::gradient_on_device`], read back asynchronously).
    pub async fn gradient_by(
        &self,
        theta: &[f32],
        method: GradientMethod,
    ) -> Result<Vec<f32>, Error> {
        if method == GradientMethod::Fused && self.fused_gradient_applies() {
            return Ok(self.fused_value_and_gradient(theta).await?.1);
        }
        read_async(self.gradient_on_device(theta)?).await
    }

    /// [`Evaluator::eval_at`], driven to completion (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn eval(&self, coeffs: &[f64]) -> Result<BTreeMap<String, f64>, Error> {
        pollster::block_on(self.eval_at(coeffs))
    }

    /// [`Evaluator::eval_points`] in one forward pass per image batch, driven to completion
    /// (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn eval_many(&self, points: &[Vec<f64>]) -> Result<Vec<BTreeMap<String, f64>>, Error> {
        pollster::block_on(self.eval_points(points, points.len()))
    }

    /// How many points to evaluate per forward pass: as many as `wanted`, capped so that the K
    /// weight sets stay within `max_values` floats on the device (and at least one).
    pub fn points_per_forward(&self, wanted: usize, max_values: usize) -> usize {
        (max_values / self.layout.total.max(1)).clamp(1, wanted.max(1))
    }
}

/// Read a tensor back to the host without blocking: a real wait for a GPU read-back in the
/// browser, ready at once on the CPU.
pub async fn read_async<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, Error> {
    t.into_data_async()
        .await
        .map_err(|e| Error::Backend(format!("reading results: {e:?}")))?
        .try_to_vec::<f32>()
        .map_err(|e| Error::Backend(format!("reading results: {e:?}")))
}

/// Read a small tensor back to the host synchronously.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_vec(t: Tensor<1>) -> Result<Vec<f32>, Error> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Backend(format!("{e:?}")))
}
