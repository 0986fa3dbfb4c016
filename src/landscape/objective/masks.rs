//! MAE masking (per-image noise, kept and restored patch indices) and reconstruction targets, as the official MAE code computes them.

use super::*;

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

/// Per-image token indices (`[n, per]`, each in `0..stride`) as rows of the `[n·stride, …]`
/// matrix of all images' tokens: image `i`'s index `t` is row `i·stride + t`. What
/// [`Vit::forward_encoder_masked`](crate::model::Vit::forward_encoder_masked) (kept patches,
/// `stride` = L) and [`Vit::forward_decoder`](crate::model::Vit::forward_decoder) (the
/// unshuffle) select: whole rows, copied, where a gather over `[n, per, D]` indices worked out
/// every element's source.
pub fn token_rows(ids: &[i64], per: usize, stride: usize) -> Vec<i64> {
    let per = per.max(1);
    ids.iter()
        .enumerate()
        .map(|(j, &t)| (j / per * stride) as i64 + t)
        .collect()
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
