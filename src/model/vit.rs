//! The ViT and MAE forward passes in burn, written as functions of named weights so that any
//! point θ = θ* + α·d₁ + β·d₂ of a landscape is evaluated without rebuilding a module.
//!
//! All parameters of a model live in one flat vector in canonical [`VitConfig::params`] order and
//! PyTorch layout ([`Layout`]); [`Weights`] slices a device copy of that vector into named tensors.
//! Stages follow timm / MAE: `forward_features` → `forward_head` for classification and
//! `forward_encoder_masked` → `forward_decoder` for reconstruction.

use std::collections::HashMap;

use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::ArchError;
use crate::io::checkpoint::{StateDict, TensorEntry};
use crate::model::arch::{BN_EPS, Head, LN_EPS, Pool, PosEmbed, VitConfig};
pub use crate::model::layout::Layout;

/// Upload host values as a 1-D tensor.
pub fn upload(values: &[f32], device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

/// Upload host indices as an integer tensor of the given shape.
pub fn upload_int<const D: usize>(
    values: Vec<i64>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// A model's weights on a device, by timm name: one or several *sets* of weights (K points θ₁…θ_K
/// of a landscape) evaluated together, each parameter stored as a `[K, numel]` tensor.
///
/// With K sets, [`Vit`] runs the same images through all K networks in one forward pass:
/// activations are `[K·B, …]` (set-major) and every linear layer is one batched matmul, so a GPU
/// evaluates K grid cells per dispatch instead of K small forwards.
#[derive(Clone)]
pub struct Weights {
    tensors: HashMap<String, Tensor<2>>,
    sets: usize,
}

impl Weights {
    /// Slice a flat parameter vector (device) into named tensors; `buffers` are added as they are.
    pub fn from_flat(
        layout: &Layout,
        flat: &Tensor<1>,
        buffers: &HashMap<String, Tensor<1>>,
    ) -> Self {
        Self::from_sets(layout, &flat.clone().reshape([1, layout.total]), buffers)
    }

    /// Slice K flat parameter vectors (`[K, total]`, device) into named `[K, numel]` tensors;
    /// `buffers` (not perturbed) are shared by every set.
    pub fn from_sets(
        layout: &Layout,
        flat: &Tensor<2>,
        buffers: &HashMap<String, Tensor<1>>,
    ) -> Self {
        let sets = flat.dims()[0].max(1);
        let mut tensors: HashMap<String, Tensor<2>> = layout
            .slots()
            .map(|(p, r)| (p.name.clone(), flat.clone().narrow(1, r.start, r.len())))
            .collect();
        for (name, t) in buffers {
            let n = t.dims()[0];
            tensors.insert(name.clone(), t.clone().reshape([1, n]));
        }
        Self { tensors, sets }
    }

    /// Number of weight sets K.
    pub fn sets(&self) -> usize {
        self.sets
    }

    /// `[K, numel]` (`[1, numel]` for a buffer).
    pub(crate) fn get(&self, name: &str) -> Result<Tensor<2>, ArchError> {
        self.tensors
            .get(name)
            .cloned()
            .ok_or_else(|| ArchError::Missing {
                name: name.to_string(),
                why: "the forward pass uses it".into(),
            })
    }
}

/// Upload a state dict's buffers (e.g. linear-probe BatchNorm statistics).
pub fn upload_buffers(
    config: &VitConfig,
    state: &StateDict,
    device: &Device,
) -> Result<HashMap<String, Tensor<1>>, ArchError> {
    let mut out = HashMap::new();
    for b in config.buffers() {
        let t = state
            .tensors
            .get(&b.name)
            .ok_or_else(|| ArchError::Missing {
                name: b.name.clone(),
                why: "the linear-probe head normalises with it".into(),
            })?;
        out.insert(b.name.clone(), upload(&t.data, device));
    }
    Ok(out)
}

/// A ViT evaluated with given weights.
pub struct Vit<'a> {
    /// Architecture.
    pub config: &'a VitConfig,
    /// Weights.
    pub weights: &'a Weights,
}

/// Rows per weight set of a set-major `[K·B, …]` activation.
fn per_set(rows: usize, sets: usize) -> Result<usize, ArchError> {
    if sets == 0 || !rows.is_multiple_of(sets) {
        return Err(ArchError::Invalid(format!(
            "{rows} activation rows do not split into {sets} weight sets"
        )));
    }
    Ok(rows / sets)
}

/// `x + t` where `t` is `[K, 1, N, D]` (one tensor per weight set, or K = 1 for all) and `x` is
/// the set-major `[K·B, N, D]`.
fn add_per_set(x: Tensor<3>, t: Tensor<4>) -> Result<Tensor<3>, ArchError> {
    let [r, n, d] = x.dims();
    let k = t.dims()[0];
    let b = per_set(r, k)?;
    Ok((x.reshape([k, b, n, d]) + t).reshape([r, n, d]))
}

impl Vit<'_> {
    /// `x @ Wᵀ + b` over the last axis; W is PyTorch `[out, in]`, one per weight set (a batched
    /// matmul over the K sets).
    ///
    /// # Shapes
    /// `[K·B, N, in]` → `[K·B, N, out]`.
    fn linear(&self, x: Tensor<3>, name: &str, bias: bool) -> Result<Tensor<3>, ArchError> {
        let [r, n, input] = x.dims();
        let w = self.weights.get(&format!("{name}.weight"))?;
        let [k, numel] = w.dims();
        let out = numel / input.max(1);
        let rows = per_set(r, k)? * n;
        let w = w.reshape([k, out, input]).swap_dims(1, 2);
        let mut y = x.reshape([k, rows, input]).matmul(w);
        if bias {
            y = y + self
                .weights
                .get(&format!("{name}.bias"))?
                .reshape([k, 1, out]);
        }
        Ok(y.reshape([r, n, out]))
    }

    /// LayerNorm over the last axis (biased variance, eps 1e-6).
    fn layer_norm(&self, x: Tensor<3>, name: &str) -> Result<Tensor<3>, ArchError> {
        let [r, n, d] = x.dims();
        let w = self.weights.get(&format!("{name}.weight"))?;
        let k = w.dims()[0];
        let b = per_set(r, k)?;
        let w = w.reshape([k, 1, 1, d]);
        let bias = self
            .weights
            .get(&format!("{name}.bias"))?
            .reshape([k, 1, 1, d]);
        let (var, mean) = x.clone().var_mean_bias(2);
        let normed = ((x - mean) / var.add_scalar(LN_EPS).sqrt()).reshape([k, b, n, d]);
        Ok((normed * w + bias).reshape([r, n, d]))
    }

    /// Multi-head self-attention with fused `qkv` (rows ordered q, k, v × heads × head_dim).
    ///
    /// # Shapes
    /// `[B, N, D]` → `[B, N, D]`.
    fn attention(
        &self,
        x: Tensor<3>,
        prefix: &str,
        heads: usize,
        qkv_bias: bool,
    ) -> Result<Tensor<3>, ArchError> {
        let [b, n, d] = x.dims();
        let hd = d / heads;
        let qkv = self
            .linear(x, &format!("{prefix}.qkv"), qkv_bias)?
            .reshape([b, n, 3, heads, hd])
            .permute([2, 0, 3, 1, 4]); // [3, B, H, N, hd]
        let part = |i: usize| qkv.clone().narrow(0, i, 1).reshape([b, heads, n, hd]);
        let (q, k, v) = (part(0), part(1), part(2));
        let scale = (hd as f64).powf(-0.5);
        let attn = softmax(q.mul_scalar(scale).matmul(k.swap_dims(2, 3)), 3); // [B, H, N, N]
        let out = attn.matmul(v).swap_dims(1, 2).reshape([b, n, d]);
        self.linear(out, &format!("{prefix}.proj"), true)
    }

    /// Pre-LN transformer block: `x + attn(norm1(x))`, then `x + mlp(norm2(x))`. On burn's
    /// `flex` CPU device without autodiff (natively and in the browser worker's CPU fallback) it
    /// runs fused on the host ([`super::fused`]); elsewhere as burn ops.
    pub(crate) fn block(
        &self,
        x: Tensor<3>,
        prefix: &str,
        heads: usize,
        qkv_bias: bool,
    ) -> Result<Tensor<3>, ArchError> {
        if super::fused::applies(&x) {
            return super::fused::block(self.weights, x, prefix, heads, qkv_bias);
        }
        self.block_composed(x, prefix, heads, qkv_bias)
    }

    /// The block as burn operations (autodiff and GPUs; the reference of the fused path).
    pub(crate) fn block_composed(
        &self,
        x: Tensor<3>,
        prefix: &str,
        heads: usize,
        qkv_bias: bool,
    ) -> Result<Tensor<3>, ArchError> {
        let h = self.layer_norm(x.clone(), &format!("{prefix}.norm1"))?;
        let x = x + self.attention(h, &format!("{prefix}.attn"), heads, qkv_bias)?;
        let h = self.layer_norm(x.clone(), &format!("{prefix}.norm2"))?;
        let h = self.linear(h, &format!("{prefix}.mlp.fc1"), true)?;
        let h = self.linear(gelu(h), &format!("{prefix}.mlp.fc2"), true)?;
        Ok(x + h)
    }

    /// Patch embedding (a stride-p convolution written as a matmul over flattened patches), the
    /// same images for every weight set.
    ///
    /// # Shapes
    /// `[B, C, H, W]` → `[K·B, L, D]`.
    pub fn embed(&self, images: Tensor<4>) -> Result<Tensor<3>, ArchError> {
        let c = self.config;
        let [b, ch, h, w] = images.dims();
        if ch != c.in_chans || h != c.img_size || w != c.img_size {
            return Err(ArchError::Invalid(format!(
                "images are {h}×{w} with {ch} channel(s); the model expects {s}×{s} with {} channel(s)",
                c.in_chans,
                s = c.img_size
            )));
        }
        let (g, p) = (c.grid(), c.patch_size);
        // [B, C, g, p, g, p] → [B, g, g, C, p, p]: the conv weight's (C, kh, kw) order.
        let patches: Tensor<6> = images.reshape([b, ch, g, p, g, p]);
        let patches = patches
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([b, g * g, ch * p * p]);
        let k = self.weights.sets();
        let patches = if k > 1 {
            patches
                .unsqueeze_dim::<4>(0)
                .expand([k, b, g * g, ch * p * p])
                .reshape([k * b, g * g, ch * p * p])
        } else {
            patches
        };
        self.linear(patches, "patch_embed.proj", c.patch_bias)
    }

    /// Positions `start..start + len` of `pos_embed`, `[K, 1, len, D]`.
    fn pos_slice(&self, start: usize, len: usize) -> Result<Tensor<4>, ArchError> {
        let d = self.config.embed_dim;
        let tokens = match self.config.pos_embed {
            PosEmbed::WithClass => self.config.num_patches() + 1,
            _ => self.config.num_patches(),
        };
        let pos = self.weights.get("pos_embed")?;
        let k = pos.dims()[0];
        Ok(pos.reshape([k, 1, tokens, d]).narrow(2, start, len))
    }

    /// A learned token (`[K, D]`) repeated for each of `batch` images per set: `[K·batch, n, D]`.
    fn token(&self, name: &str, batch: usize, n: usize, d: usize) -> Result<Tensor<3>, ArchError> {
        let t = self.weights.get(name)?;
        let k = t.dims()[0];
        Ok(t.reshape([k, 1, 1, d])
            .expand([k, batch, n, d])
            .reshape([k * batch, n, d]))
    }

    fn cls(&self, batch: usize) -> Result<Tensor<3>, ArchError> {
        self.token("cls_token", batch, 1, self.config.embed_dim)
    }

    fn encoder_blocks(&self, mut x: Tensor<3>) -> Result<Tensor<3>, ArchError> {
        let c = self.config;
        for i in 0..c.depth {
            x = self.block(x, &format!("blocks.{i}"), c.num_heads, c.qkv_bias)?;
        }
        if c.final_norm {
            x = self.layer_norm(x, "norm")?;
        }
        Ok(x)
    }

    /// timm `forward_features`: embed, add class token and positions, blocks, final norm.
    ///
    /// # Shapes
    /// `[B, C, H, W]` → `[K·B, T, D]` with T = L (+1 with a class token).
    pub fn forward_features(&self, images: Tensor<4>) -> Result<Tensor<3>, ArchError> {
        let c = self.config;
        let l = c.num_patches();
        let b = images.dims()[0];
        let mut x = self.embed(images)?;
        x = match (c.pos_embed, c.class_token) {
            (PosEmbed::None, false) => x,
            (PosEmbed::None, true) => Tensor::cat(vec![self.cls(b)?, x], 1),
            (PosEmbed::PatchesOnly, false) => add_per_set(x, self.pos_slice(0, l)?)?,
            (PosEmbed::PatchesOnly, true) => Tensor::cat(
                vec![self.cls(b)?, add_per_set(x, self.pos_slice(0, l)?)?],
                1,
            ),
            (PosEmbed::WithClass, _) => add_per_set(
                Tensor::cat(vec![self.cls(b)?, x], 1),
                self.pos_slice(0, l + 1)?,
            )?,
        };
        self.encoder_blocks(x)
    }

    /// Pool one feature vector per image (and apply `fc_norm` when present).
    ///
    /// # Shapes
    /// `[K·B, T, D]` → `[K·B, D]`.
    pub fn pool(&self, x: Tensor<3>) -> Result<Tensor<2>, ArchError> {
        let c = self.config;
        let [b, t, d] = x.dims();
        let prefix = usize::from(c.class_token);
        let pooled = match c.pool {
            Pool::Token => x.narrow(1, 0, 1),
            Pool::Avg => x.narrow(1, prefix, t - prefix).mean_dim(1),
        };
        let pooled = if c.fc_norm {
            self.layer_norm(pooled, "fc_norm")?
        } else {
            pooled
        };
        Ok(pooled.reshape([b, d]))
    }

    /// timm `forward_head`: pooling, `fc_norm`, classifier.
    ///
    /// # Shapes
    /// `[K·B, T, D]` → logits `[K·B, classes]`.
    pub fn forward_head(&self, x: Tensor<3>) -> Result<Tensor<2>, ArchError> {
        let d = self.config.embed_dim;
        let pooled = self.pool(x)?;
        let b = pooled.dims()[0];
        let (features, name) = match self.config.head {
            None => {
                return Err(ArchError::Missing {
                    name: "head.weight".into(),
                    why: "the classification loss needs a classifier head".into(),
                });
            }
            Some(Head::Linear { .. }) => (pooled, "head"),
            Some(Head::LinearProbe { .. }) => {
                // Buffers: one copy shared by every weight set.
                let mean = self.weights.get("head.0.running_mean")?.narrow(0, 0, 1);
                let var = self.weights.get("head.0.running_var")?.narrow(0, 0, 1);
                ((pooled - mean) / var.add_scalar(BN_EPS).sqrt(), "head.1")
            }
        };
        let logits = self.linear(features.reshape([b, 1, d]), name, true)?;
        let k = logits.dims()[2];
        Ok(logits.reshape([b, k]))
    }

    /// Logits for a batch of images, `[K·B, classes]` (set-major).
    pub fn forward(&self, images: Tensor<4>) -> Result<Tensor<2>, ArchError> {
        let x = self.forward_features(images)?;
        self.forward_head(x)
    }

    /// MAE `forward_encoder` on the visible patches only.
    ///
    /// `keep_rows`: the kept patches as rows of the `[B·L, D]` patch tokens, `b·L + patch`
    /// (`[B·keep]`, [`token_rows`](crate::landscape::objective::token_rows); the same masks for
    /// every weight set).
    ///
    /// # Shapes
    /// `[B, C, H, W]` → `[K·B, 1 + keep, D]`.
    pub fn forward_encoder_masked(
        &self,
        images: Tensor<4>,
        keep_rows: Tensor<1, Int>,
    ) -> Result<Tensor<3>, ArchError> {
        let c = self.config;
        let l = c.num_patches();
        if !c.class_token || c.pos_embed != PosEmbed::WithClass {
            return Err(ArchError::Invalid(
                "MAE reconstruction needs a cls_token and a pos_embed covering it (1, L+1, D)"
                    .into(),
            ));
        }
        let b = images.dims()[0];
        let x = add_per_set(self.embed(images)?, self.pos_slice(1, l)?)?;
        let x = self.select_tokens(x, keep_rows, b)?;
        let cls = add_per_set(self.cls(b)?, self.pos_slice(0, 1)?)?;
        let x = Tensor::cat(vec![cls, x], 1);
        self.encoder_blocks(x)
    }

    /// MAE `forward_decoder`: embed, append mask tokens, unshuffle, blocks, predict pixels.
    ///
    /// `restore_rows`: the unshuffle permutation as rows of the `[B·L, Dd]` kept-then-masked
    /// tokens, `b·L + rank` (`[B·L]`, [`token_rows`](crate::landscape::objective::token_rows)).
    ///
    /// # Shapes
    /// `[K·B, 1 + keep, D]` → `[K·B, L, p²·C]`.
    pub fn forward_decoder(
        &self,
        latent: Tensor<3>,
        restore_rows: Tensor<1, Int>,
    ) -> Result<Tensor<3>, ArchError> {
        let c = self.config;
        let dec = c.decoder.ok_or_else(|| ArchError::Missing {
            name: "decoder_embed.weight".into(),
            why: "the reconstruction loss needs the MAE decoder (a `_full` / pre-training checkpoint)".into(),
        })?;
        let dd = dec.embed_dim;
        let l = c.num_patches();
        let x = self.linear(latent, "decoder_embed", true)?;
        let [r, t, _] = x.dims();
        let keep = t - 1;
        let b = per_set(r, self.weights.sets())?;
        let mask_tokens = self.token("mask_token", b, l - keep, dd)?;
        let patches = Tensor::cat(vec![x.clone().narrow(1, 1, keep), mask_tokens], 1);
        let patches = self.select_tokens(patches, restore_rows, b)?;
        let pos = self.weights.get("decoder_pos_embed")?;
        let k = pos.dims()[0];
        let pos = pos.reshape([k, 1, l + 1, dd]);
        let mut x = add_per_set(Tensor::cat(vec![x.narrow(1, 0, 1), patches], 1), pos)?;
        for i in 0..dec.depth {
            x = self.block(
                x,
                &format!("decoder_blocks.{i}"),
                dec.num_heads,
                dec.qkv_bias,
            )?;
        }
        let x = self.layer_norm(x, "decoder_norm")?;
        let x = self.linear(x, "decoder_pred", true)?;
        Ok(x.narrow(1, 1, l))
    }

    /// The tokens `rows` picks from each image's (`[B·n]` rows of the `[B·L, D]` tokens of one
    /// weight set, [`token_rows`](crate::landscape::objective::token_rows)), for every weight
    /// set of the set-major `x` (`[K·B, L, D]` → `[K·B, n, D]`): whole rows copied.
    fn select_tokens(
        &self,
        x: Tensor<3>,
        rows: Tensor<1, Int>,
        b: usize,
    ) -> Result<Tensor<3>, ArchError> {
        let [r, l, d] = x.dims();
        let sets = self.weights.sets();
        let picked = rows.dims()[0];
        if b == 0 || r != sets * b || !picked.is_multiple_of(b) {
            return Err(ArchError::Invalid(format!(
                "{picked} token rows for {r} activation rows of {sets} weight set(s) × {b} images"
            )));
        }
        let rows = match sets {
            1 => rows,
            k => Tensor::cat(
                (0..k)
                    .map(|set| rows.clone().add_scalar((set * b * l) as i64))
                    .collect(),
                0,
            ),
        };
        Ok(x.reshape([r * l, d])
            .select(0, rows)
            .reshape([r, picked / b, d]))
    }
}

/// A freshly initialised state dict for `config` (timm-style: weights N(0, 0.02²), biases 0,
/// LayerNorm weights 1, BatchNorm statistics 0/1), seeded. Used for benchmarks and training.
pub fn random_state(config: &VitConfig, seed: u64) -> StateDict {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0_f64, 0.02).ok();
    let mut state = StateDict::default();
    for p in config.params().into_iter().chain(config.buffers()) {
        let n = p.numel();
        let is_norm = p.name.contains("norm") && p.name.ends_with(".weight") && p.shape.len() == 1;
        let data: Vec<f32> = if is_norm || p.name.ends_with("running_var") {
            vec![1.0; n]
        } else if p.shape.len() == 1 {
            vec![0.0; n]
        } else {
            (0..n)
                .map(|_| normal.map(|d| d.sample(&mut rng) as f32).unwrap_or(0.0))
                .collect()
        };
        state.tensors.insert(
            p.name.clone(),
            TensorEntry {
                shape: p.shape,
                data,
            },
        );
    }
    state
        .metadata
        .insert("num_heads".into(), config.num_heads.to_string());
    if let Some(d) = config.decoder {
        state
            .metadata
            .insert("decoder_num_heads".into(), d.num_heads.to_string());
    }
    state
}
