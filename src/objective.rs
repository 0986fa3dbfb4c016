//! Objectives evaluated at every grid cell (METHODS §3): classification (mean cross-entropy and
//! top-1 accuracy), MAE masked reconstruction and RC-MAE reconstruction + γ·consistency.
//!
//! Everything that does not depend on θ — images, labels, masks, reconstruction targets, the
//! fixed teacher's predictions — is prepared once on the device ([`Evaluator::new`]); a cell
//! then costs one weight update and one forward per batch.

use std::collections::{BTreeMap, HashMap};

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::arch::VitConfig;
use crate::data::ImageSet;
use crate::error::{ArchError, Error};
use crate::model::{Layout, Vit, Weights, upload, upload_int};
use crate::surface::{ACCURACY, LOSS};

/// Metric name of the RC-MAE reconstruction term.
pub const RECONSTRUCTION: &str = "reconstruction";
/// Metric name of the RC-MAE consistency term.
pub const CONSISTENCY: &str = "consistency";

/// Per-image mask noise, `[n, L]` uniform in [0, 1): one fixed mask per image for a whole sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskNoise {
    /// Values, row-major `[n, L]`.
    pub values: Vec<f32>,
    /// Images.
    pub n: usize,
    /// Patches per image.
    pub l: usize,
}

impl MaskNoise {
    /// Seeded noise (ChaCha8, stream 0).
    pub fn seeded(n: usize, l: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let values = (0..n * l).map(|_| rng.random::<f32>()).collect();
        Self { values, n, l }
    }
}

/// Masking derived from noise exactly as MAE's `random_masking`.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskIndices {
    /// Patches kept per image, ⌊L(1 − r)⌋.
    pub keep: usize,
    /// `[n, keep]` indices of kept patches (ascending noise).
    pub ids_keep: Vec<i64>,
    /// `[n, L]` inverse permutation of the argsort.
    pub ids_restore: Vec<i64>,
    /// `[n, L]` 1 on removed patches, 0 on kept ones, in the original patch order.
    pub mask: Vec<f32>,
}

/// Patches kept for a given count and mask ratio, as Python's `int(L * (1 - r))`.
pub fn kept_patches(l: usize, mask_ratio: f64) -> usize {
    (l as f64 * (1.0 - mask_ratio)).floor() as usize
}

/// Argsort each noise row ascending, keep the first ⌊L(1 − r)⌋, build the restore permutation
/// and the binary mask (MAE `random_masking`).
pub fn mask_indices(noise: &MaskNoise, mask_ratio: f64) -> MaskIndices {
    let l = noise.l;
    let keep = kept_patches(l, mask_ratio).min(l);
    let mut ids_keep = Vec::with_capacity(noise.n * keep);
    let mut ids_restore = vec![0_i64; noise.n * l];
    let mut mask = vec![1.0_f32; noise.n * l];
    for i in 0..noise.n {
        let row = &noise.values[i * l..(i + 1) * l];
        // ids_shuffle = argsort(noise): small noise is kept.
        let mut order: Vec<usize> = (0..l).collect();
        order.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
        // ids_restore = argsort(ids_shuffle): the rank of each patch in the shuffle.
        for (rank, &patch) in order.iter().enumerate() {
            ids_restore[i * l + patch] = rank as i64;
        }
        for &patch in &order[..keep] {
            ids_keep.push(patch as i64);
            mask[i * l + patch] = 0.0;
        }
    }
    MaskIndices {
        keep,
        ids_keep,
        ids_restore,
        mask,
    }
}

/// MAE `patchify`: `[n, C, H, W]` → `[n, L, p·p·C]` with values ordered (row in patch, column in
/// patch, channel) — the layout `decoder_pred` predicts. With `norm_pix`, each patch becomes
/// (x − mean)/sqrt(var + 1e-6) with the unbiased variance.
pub fn patchify_targets(images: &ImageSet, p: usize, norm_pix: bool) -> Vec<f32> {
    let (n, c, h, w) = (images.n, images.c, images.h, images.w);
    let (gh, gw) = (h / p, w / p);
    let dim = p * p * c;
    let mut out = Vec::with_capacity(n * gh * gw * dim);
    for i in 0..n {
        for gy in 0..gh {
            for gx in 0..gw {
                let start = out.len();
                for py in 0..p {
                    for px in 0..p {
                        for ch in 0..c {
                            let y = gy * p + py;
                            let x = gx * p + px;
                            out.push(images.pixels[((i * c + ch) * h + y) * w + x]);
                        }
                    }
                }
                if norm_pix {
                    let patch = &mut out[start..];
                    let len = patch.len() as f64;
                    let mean = patch.iter().map(|v| f64::from(*v)).sum::<f64>() / len;
                    let var = patch
                        .iter()
                        .map(|v| (f64::from(*v) - mean).powi(2))
                        .sum::<f64>()
                        / (len - 1.0).max(1.0);
                    let denom = (var + 1e-6).sqrt();
                    for v in patch.iter_mut() {
                        *v = ((f64::from(*v) - mean) / denom) as f32;
                    }
                }
            }
        }
    }
    out
}

fn format_error(e: impl std::fmt::Display) -> Error {
    Error::Checkpoint(crate::checkpoint::CheckpointError::Format(e.to_string()))
}

/// The evaluated images (normalised, f32 `[n, c, h, w]`), labels (i64 `[n]`) and mask noise
/// (f32 `[n, L]`) as safetensors (`eval_data.safetensors`), so another tool can evaluate exactly
/// the same data and masks.
pub fn write_eval_data(images: &ImageSet, noise: Option<&MaskNoise>) -> Result<Vec<u8>, Error> {
    use safetensors::tensor::{Dtype, TensorView};
    let pixels: Vec<u8> = images.pixels.iter().flat_map(|v| v.to_le_bytes()).collect();
    let labels: Option<Vec<u8>> = images
        .labels
        .as_ref()
        .map(|l| l.iter().flat_map(|v| v.to_le_bytes()).collect());
    let noise_bytes: Option<Vec<u8>> =
        noise.map(|n| n.values.iter().flat_map(|v| v.to_le_bytes()).collect());
    let mut views = vec![(
        "images".to_string(),
        TensorView::new(
            Dtype::F32,
            vec![images.n, images.c, images.h, images.w],
            &pixels,
        )
        .map_err(format_error)?,
    )];
    if let Some(bytes) = &labels {
        views.push((
            "labels".to_string(),
            TensorView::new(Dtype::I64, vec![images.n], bytes).map_err(format_error)?,
        ));
    }
    if let (Some(bytes), Some(n)) = (&noise_bytes, noise) {
        views.push((
            "mask_noise".to_string(),
            TensorView::new(Dtype::F32, vec![n.n, n.l], bytes).map_err(format_error)?,
        ));
    }
    let meta =
        std::collections::HashMap::from([("format".to_string(), "vitscape-eval-data".to_string())]);
    safetensors::serialize(views, Some(meta)).map_err(format_error)
}

/// Read what [`write_eval_data`] wrote, checking dtypes and shapes.
pub fn read_eval_data(bytes: &[u8]) -> Result<(ImageSet, Option<MaskNoise>), Error> {
    use safetensors::tensor::Dtype;
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(format_error)?;
    let images = st.tensor("images").map_err(format_error)?;
    let &[n, c, h, w] = images.shape() else {
        return Err(format_error(format!(
            "`images` has shape {:?}; expected [n, c, h, w]",
            images.shape()
        )));
    };
    if images.dtype() != Dtype::F32 {
        return Err(format_error(format!(
            "`images` is {:?}; expected F32",
            images.dtype()
        )));
    }
    let f32s = |data: &[u8]| -> Vec<f32> {
        data.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    let labels = match st.tensor("labels") {
        Err(_) => None,
        Ok(t) if t.dtype() == Dtype::I64 && t.shape() == [n] => Some(
            t.data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect(),
        ),
        Ok(t) => {
            return Err(format_error(format!(
                "`labels` is {:?} {:?}; expected I64 [{n}]",
                t.dtype(),
                t.shape()
            )));
        }
    };
    let noise = match st.tensor("mask_noise") {
        Err(_) => None,
        Ok(t) => match (t.dtype(), t.shape()) {
            (Dtype::F32, &[rows, l]) if rows == n => Some(MaskNoise {
                values: f32s(t.data()),
                n,
                l,
            }),
            (dtype, shape) => {
                return Err(format_error(format!(
                    "`mask_noise` is {dtype:?} {shape:?}; expected F32 [{n}, L]"
                )));
            }
        },
    };
    let set = ImageSet {
        pixels: f32s(images.data()),
        labels,
        class_names: Vec::new(),
        n,
        c,
        h,
        w,
    };
    Ok((set, noise))
}

/// The objective with its θ-independent settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Objective {
    /// Mean cross-entropy and accuracy; needs labels and a head.
    Classification,
    /// MAE reconstruction with fixed masks.
    Mae {
        /// Mask ratio r.
        mask_ratio: f64,
        /// Normalised-pixel targets.
        norm_pix_loss: bool,
        /// The fixed mask noise, one row per image.
        noise: MaskNoise,
    },
    /// RC-MAE: reconstruction + γ·consistency with a fixed teacher.
    RcMae {
        /// Mask ratio r.
        mask_ratio: f64,
        /// Normalised-pixel targets.
        norm_pix_loss: bool,
        /// The fixed mask noise.
        noise: MaskNoise,
        /// Consistency weight.
        gamma: f64,
    },
}

impl Objective {
    /// Names of the metrics a cell reports, [`LOSS`] first.
    pub fn metric_names(&self) -> Vec<&'static str> {
        match self {
            Objective::Classification => vec![LOSS, ACCURACY],
            Objective::Mae { .. } => vec![LOSS],
            Objective::RcMae { .. } => vec![LOSS, RECONSTRUCTION, CONSISTENCY],
        }
    }
}

/// A fixed teacher network for RC-MAE.
pub struct Teacher {
    /// Its architecture (must match the student's).
    pub config: VitConfig,
    /// Its flat parameters.
    pub theta: Vec<f32>,
}

#[derive(Clone)]
struct Batch {
    images: Tensor<4>,
    /// Images in the batch.
    size: usize,
    /// Masked patches in the batch (reconstruction losses).
    masked_count: f64,
    labels: Option<Tensor<1, Int>>,
    masked: Option<MaskedBatch>,
}

#[derive(Clone)]
struct MaskedBatch {
    ids_keep: Tensor<3, Int>,
    ids_restore: Tensor<3, Int>,
    target: Tensor<3>,
    mask: Tensor<2>,
    teacher_pred: Option<Tensor<3>>,
    masked_count: f64,
}

/// Evaluates an objective at any point θ* + Σ cᵢ·dᵢ.
#[derive(Clone)]
pub struct Evaluator {
    device: Device,
    config: VitConfig,
    layout: Layout,
    theta: Tensor<1>,
    directions: Vec<Tensor<1>>,
    buffers: HashMap<String, Tensor<1>>,
    batches: Vec<Batch>,
    objective: Objective,
    images: usize,
    masked_total: f64,
}

fn slice_images(images: &ImageSet, start: usize, size: usize, device: &Device) -> Tensor<4> {
    let per = images.c * images.h * images.w;
    let data = images.pixels[start * per..(start + size) * per].to_vec();
    Tensor::from_data(
        TensorData::new(data, [size, images.c, images.h, images.w]),
        device,
    )
}

fn expand_ids(ids: &[i64], b: usize, k: usize, width: usize, device: &Device) -> Tensor<3, Int> {
    upload_int(ids.to_vec(), [b, k, 1], device).expand([b, k, width])
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
                    let ids_keep = expand_ids(
                        &idx.ids_keep[start * keep..(start + size) * keep],
                        size,
                        keep,
                        config.embed_dim,
                        device,
                    );
                    let dd = config.decoder.map(|d| d.embed_dim).unwrap_or(1);
                    let ids_restore = expand_ids(
                        &idx.ids_restore[start * l..(start + size) * l],
                        size,
                        l,
                        dd,
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
    fn batch_sums(&self, vit: &Vit<'_>, batch: &Batch, autodiff: bool) -> Result<Tensor<2>, Error> {
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

    /// The objective's value ([`LOSS`]) and its gradient with respect to θ at a host θ, by
    /// burn's autodiff (one backward per batch, accumulated).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn gradient(&self, theta: &[f32]) -> Result<(f64, Vec<f32>), Error> {
        let (leaf, buffers) = self.leaf(theta);
        let mut grad = vec![0.0_f32; self.layout.total];
        let mut value = 0.0;
        for batch in &self.batches {
            let (scalar, g) = self.batch_gradient(&leaf, &buffers, batch)?;
            for (acc, v) in grad.iter_mut().zip(read_vec(g)?) {
                *acc += v;
            }
            value += f64::from(read_vec(scalar)?.first().copied().unwrap_or(f32::NAN));
        }
        Ok((value, grad))
    }

    /// The gradient of [`Evaluator::gradient`] left on the device (summed over batches in the
    /// same order, so the values are the same), for an asynchronous read-back in the browser.
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

    /// θ as an autodiff leaf and the buffers on the autodiff device.
    fn leaf(&self, theta: &[f32]) -> (Tensor<1>, HashMap<String, Tensor<1>>) {
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
    fn batch_gradient(
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

    /// Evaluate and read back synchronously (native only; the browser reads asynchronously).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn eval(&self, coeffs: &[f64]) -> Result<BTreeMap<String, f64>, Error> {
        let sums = read_vec(self.sums_at(coeffs)?)?;
        Ok(self.finish(&sums))
    }

    /// Evaluate K points in one batched forward per image batch and read back once (native).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn eval_many(&self, points: &[Vec<f64>]) -> Result<Vec<BTreeMap<String, f64>>, Error> {
        let sums = self.sums_at_many(points)?;
        let width = sums.dims()[1].max(1);
        let values = read_vec(sums.reshape([points.len() * width]))?;
        Ok(values.chunks(width).map(|v| self.finish(v)).collect())
    }

    /// How many points to evaluate per forward pass: as many as `wanted`, capped so that the K
    /// weight sets stay within `max_values` floats on the device (and at least one).
    pub fn points_per_forward(&self, wanted: usize, max_values: usize) -> usize {
        (max_values / self.layout.total.max(1)).clamp(1, wanted.max(1))
    }
}

/// Read a small tensor back to the host synchronously.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_vec(t: Tensor<1>) -> Result<Vec<f32>, Error> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Backend(format!("{e:?}")))
}

/// `[Σ cross-entropy, Σ correct]` over a batch.
pub fn classification_sums(logits: Tensor<2>, labels: Tensor<1, Int>, size: usize) -> Tensor<1> {
    classification_sums_per_set(logits, labels.reshape([size])).reshape([2])
}

/// `[Σ cross-entropy, Σ correct]` over a batch for each of K weight sets: logits `[K·B, classes]`
/// (set-major), labels `[B]` → `[K, 2]`.
pub fn classification_sums_per_set(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<2> {
    let rows = logits.dims()[0];
    let b = labels.dims()[0].max(1);
    let k = (rows / b).max(1);
    let labels = if k > 1 {
        labels.repeat_dim(0, k)
    } else {
        labels
    };
    let log_probs = burn::tensor::activation::log_softmax(logits.clone(), 1);
    let picked = log_probs.gather(1, labels.clone().reshape([rows, 1]));
    let ce = picked.reshape([k, b]).sum_dim(1).neg();
    let predicted = logits.argmax(1).reshape([rows]);
    let correct = predicted.equal(labels).float().reshape([k, b]).sum_dim(1);
    Tensor::cat(vec![ce, correct], 1)
}

/// Σ over masked patches of the per-patch mean squared error.
pub fn masked_mse_sum(pred: Tensor<3>, target: Tensor<3>, mask: Tensor<2>) -> Tensor<1> {
    masked_mse_sum_per_set(pred, target, mask).reshape([1])
}

/// Σ over masked patches of the per-patch mean squared error for each of K weight sets:
/// pred `[K·B, L, P]` (set-major), target `[B, L, P]` or `[K·B, L, P]`, mask `[B, L]` → `[K, 1]`.
pub fn masked_mse_sum_per_set(pred: Tensor<3>, target: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let [rows, l, p] = pred.dims();
    let [b, _] = mask.dims();
    let b = b.max(1);
    let k = (rows / b).max(1);
    let tk = (target.dims()[0] / b).max(1);
    let diff = pred.reshape([k, b, l, p]) - target.reshape([tk, b, l, p]);
    let per_patch = diff.powi_scalar(2).mean_dim(3).reshape([k, b * l]);
    (per_patch * mask.reshape([1, b * l])).sum_dim(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_floor_and_restores_order() {
        let noise = MaskNoise::seeded(5, 16, 3);
        let idx = mask_indices(&noise, 0.75);
        assert_eq!(idx.keep, 4);
        for i in 0..5 {
            let row = &idx.mask[i * 16..(i + 1) * 16];
            assert_eq!(row.iter().filter(|v| **v == 0.0).count(), 4);
            // Kept ids are unmasked and have the smallest noise.
            for &k in &idx.ids_keep[i * 4..(i + 1) * 4] {
                assert_eq!(row[k as usize], 0.0);
            }
            // restore ∘ shuffle = identity: the patch at shuffled rank r has restore value r.
            let restore = &idx.ids_restore[i * 16..(i + 1) * 16];
            let mut seen = restore.to_vec();
            seen.sort();
            assert_eq!(seen, (0..16).collect::<Vec<i64>>());
            for (rank, &k) in idx.ids_keep[i * 4..(i + 1) * 4].iter().enumerate() {
                assert_eq!(restore[k as usize], rank as i64);
            }
        }
        assert_eq!(kept_patches(49, 0.75), 12);
        // Same float rounding as MAE's `int(L * (1 - r))`: 10 * (1 - 0.9) = 0.999… → 0.
        assert_eq!(kept_patches(10, 0.9), 0);
        assert_eq!(kept_patches(196, 0.75), 49);
    }

    #[test]
    fn patchify_order_and_norm_pix() {
        // One 2-channel 2×2 image, patch 2: values ordered (row, col, channel).
        let images = ImageSet {
            pixels: vec![1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0],
            labels: None,
            class_names: vec![],
            n: 1,
            c: 2,
            h: 2,
            w: 2,
        };
        assert_eq!(
            patchify_targets(&images, 2, false),
            vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0]
        );
        let normed = patchify_targets(&images, 2, true);
        let mean: f32 = normed.iter().sum::<f32>() / 8.0;
        let var: f32 = normed.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 7.0;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
            "{mean} {var}"
        );
    }
}
