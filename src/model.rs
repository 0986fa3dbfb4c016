//! The ViT and MAE forward passes in burn, written as functions of named weights so that any
//! point θ = θ* + α·d₁ + β·d₂ of a landscape is evaluated without rebuilding a module.
//!
//! All parameters of a model live in one flat vector in canonical [`VitConfig::params`] order and
//! PyTorch layout ([`Layout`]); [`Weights`] slices a device copy of that vector into named tensors.
//! Stages follow timm / MAE: `forward_features` → `forward_head` for classification and
//! `forward_encoder_masked` → `forward_decoder` for reconstruction.

use std::collections::HashMap;
use std::ops::Range;

use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::arch::{BN_EPS, Head, LN_EPS, ParamSpec, Pool, PosEmbed, VitConfig};
use crate::checkpoint::{StateDict, TensorEntry};
use crate::error::ArchError;

/// Where each parameter sits in the flat vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Parameters in canonical order.
    pub params: Vec<ParamSpec>,
    /// Start offset of each parameter.
    pub offsets: Vec<usize>,
    /// Total number of values.
    pub total: usize,
    index: HashMap<String, usize>,
}

impl Layout {
    /// The layout of a config's trainable parameters.
    pub fn new(config: &VitConfig) -> Self {
        let params = config.params();
        let mut offsets = Vec::with_capacity(params.len());
        let mut total = 0;
        for p in &params {
            offsets.push(total);
            total += p.numel();
        }
        let index = params
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), i))
            .collect();
        Self {
            params,
            offsets,
            total,
            index,
        }
    }

    /// Range of a parameter in the flat vector.
    pub fn range(&self, name: &str) -> Option<Range<usize>> {
        let i = *self.index.get(name)?;
        Some(self.offsets[i]..self.offsets[i] + self.params[i].numel())
    }

    /// Ranges of every parameter, in order, with their specs.
    pub fn slots(&self) -> impl Iterator<Item = (&ParamSpec, Range<usize>)> {
        self.params
            .iter()
            .zip(&self.offsets)
            .map(|(p, &o)| (p, o..o + p.numel()))
    }

    /// Gather a state dict's parameters into one flat vector (checked by name and shape).
    pub fn flatten(&self, state: &StateDict) -> Result<Vec<f32>, ArchError> {
        let mut flat = Vec::with_capacity(self.total);
        for p in &self.params {
            let t = state
                .tensors
                .get(&p.name)
                .ok_or_else(|| ArchError::Missing {
                    name: p.name.clone(),
                    why: "the architecture needs it".into(),
                })?;
            if t.shape != p.shape {
                return Err(ArchError::Shape {
                    name: p.name.clone(),
                    found: t.shape.clone(),
                    expected: format!("{:?}", p.shape),
                });
            }
            flat.extend_from_slice(&t.data);
        }
        Ok(flat)
    }

    /// Split a flat vector back into named tensors (PyTorch layout).
    pub fn unflatten(&self, flat: &[f32]) -> StateDict {
        let mut state = StateDict::default();
        for (p, range) in self.slots() {
            let data = flat.get(range).map(<[f32]>::to_vec).unwrap_or_default();
            state.tensors.insert(
                p.name.clone(),
                TensorEntry {
                    shape: p.shape.clone(),
                    data,
                },
            );
        }
        state
    }
}

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

/// A model's weights on a device, by timm name.
#[derive(Clone)]
pub struct Weights {
    tensors: HashMap<String, Tensor<1>>,
}

impl Weights {
    /// Slice a flat parameter vector (device) into named tensors; `buffers` are added as they are.
    pub fn from_flat(
        layout: &Layout,
        flat: &Tensor<1>,
        buffers: &HashMap<String, Tensor<1>>,
    ) -> Self {
        let mut tensors: HashMap<String, Tensor<1>> = layout
            .slots()
            .map(|(p, r)| (p.name.clone(), flat.clone().narrow(0, r.start, r.len())))
            .collect();
        for (name, t) in buffers {
            tensors.insert(name.clone(), t.clone());
        }
        Self { tensors }
    }

    fn get(&self, name: &str) -> Result<Tensor<1>, ArchError> {
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

impl Vit<'_> {
    /// `x @ Wᵀ + b` over the last axis; W is PyTorch `[out, in]`.
    ///
    /// # Shapes
    /// `[B, N, in]` → `[B, N, out]`.
    fn linear(&self, x: Tensor<3>, name: &str, bias: bool) -> Result<Tensor<3>, ArchError> {
        let [b, n, input] = x.dims();
        let w = self.weights.get(&format!("{name}.weight"))?;
        let out = w.dims()[0] / input.max(1);
        let w = w.reshape([out, input]).transpose();
        let mut y = x.reshape([b * n, input]).matmul(w);
        if bias {
            y = y + self.weights.get(&format!("{name}.bias"))?.reshape([1, out]);
        }
        Ok(y.reshape([b, n, out]))
    }

    /// LayerNorm over the last axis (biased variance, eps 1e-6).
    fn layer_norm(&self, x: Tensor<3>, name: &str) -> Result<Tensor<3>, ArchError> {
        let d = x.dims()[2];
        let w = self
            .weights
            .get(&format!("{name}.weight"))?
            .reshape([1, 1, d]);
        let b = self
            .weights
            .get(&format!("{name}.bias"))?
            .reshape([1, 1, d]);
        let (var, mean) = x.clone().var_mean_bias(2);
        Ok((x - mean) / var.add_scalar(LN_EPS).sqrt() * w + b)
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

    /// Pre-LN transformer block: `x + attn(norm1(x))`, then `x + mlp(norm2(x))`.
    fn block(
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

    /// Patch embedding (a stride-p convolution written as a matmul over flattened patches).
    ///
    /// # Shapes
    /// `[B, C, H, W]` → `[B, L, D]`.
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
        self.linear(patches, "patch_embed.proj", c.patch_bias)
    }

    fn pos_slice(&self, start: usize, len: usize) -> Result<Tensor<3>, ArchError> {
        let d = self.config.embed_dim;
        let tokens = match self.config.pos_embed {
            PosEmbed::WithClass => self.config.num_patches() + 1,
            _ => self.config.num_patches(),
        };
        let pos = self.weights.get("pos_embed")?.reshape([1, tokens, d]);
        Ok(pos.narrow(1, start, len))
    }

    fn cls(&self, batch: usize) -> Result<Tensor<3>, ArchError> {
        let d = self.config.embed_dim;
        Ok(self
            .weights
            .get("cls_token")?
            .reshape([1, 1, d])
            .expand([batch, 1, d]))
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
    /// `[B, C, H, W]` → `[B, T, D]` with T = L (+1 with a class token).
    pub fn forward_features(&self, images: Tensor<4>) -> Result<Tensor<3>, ArchError> {
        let c = self.config;
        let l = c.num_patches();
        let mut x = self.embed(images)?;
        let b = x.dims()[0];
        x = match (c.pos_embed, c.class_token) {
            (PosEmbed::None, false) => x,
            (PosEmbed::None, true) => Tensor::cat(vec![self.cls(b)?, x], 1),
            (PosEmbed::PatchesOnly, false) => x + self.pos_slice(0, l)?,
            (PosEmbed::PatchesOnly, true) => {
                Tensor::cat(vec![self.cls(b)?, x + self.pos_slice(0, l)?], 1)
            }
            (PosEmbed::WithClass, _) => {
                Tensor::cat(vec![self.cls(b)?, x], 1) + self.pos_slice(0, l + 1)?
            }
        };
        self.encoder_blocks(x)
    }

    /// Pool one feature vector per image (and apply `fc_norm` when present).
    ///
    /// # Shapes
    /// `[B, T, D]` → `[B, D]`.
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
    /// `[B, T, D]` → logits `[B, classes]`.
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
                let mean = self.weights.get("head.0.running_mean")?.reshape([1, d]);
                let var = self.weights.get("head.0.running_var")?.reshape([1, d]);
                ((pooled - mean) / var.add_scalar(BN_EPS).sqrt(), "head.1")
            }
        };
        let logits = self.linear(features.reshape([b, 1, d]), name, true)?;
        let k = logits.dims()[2];
        Ok(logits.reshape([b, k]))
    }

    /// Logits for a batch of images.
    pub fn forward(&self, images: Tensor<4>) -> Result<Tensor<2>, ArchError> {
        let x = self.forward_features(images)?;
        self.forward_head(x)
    }

    /// MAE `forward_encoder` on the visible patches only.
    ///
    /// `ids_keep`: indices of the kept patches, already expanded to `[B, keep, D]`.
    ///
    /// # Shapes
    /// `[B, C, H, W]` → `[B, 1 + keep, D]`.
    pub fn forward_encoder_masked(
        &self,
        images: Tensor<4>,
        ids_keep: Tensor<3, Int>,
    ) -> Result<Tensor<3>, ArchError> {
        let c = self.config;
        let l = c.num_patches();
        if !c.class_token || c.pos_embed != PosEmbed::WithClass {
            return Err(ArchError::Invalid(
                "MAE reconstruction needs a cls_token and a pos_embed covering it (1, L+1, D)"
                    .into(),
            ));
        }
        let x = self.embed(images)? + self.pos_slice(1, l)?;
        let x = x.gather(1, ids_keep);
        let b = x.dims()[0];
        let cls = self.cls(b)? + self.pos_slice(0, 1)?;
        let x = Tensor::cat(vec![cls, x], 1);
        self.encoder_blocks(x)
    }

    /// MAE `forward_decoder`: embed, append mask tokens, unshuffle, blocks, predict pixels.
    ///
    /// `ids_restore`: the unshuffle permutation expanded to `[B, L, Dd]`.
    ///
    /// # Shapes
    /// `[B, 1 + keep, D]` → `[B, L, p²·C]`.
    pub fn forward_decoder(
        &self,
        latent: Tensor<3>,
        ids_restore: Tensor<3, Int>,
    ) -> Result<Tensor<3>, ArchError> {
        let c = self.config;
        let dec = c.decoder.ok_or_else(|| ArchError::Missing {
            name: "decoder_embed.weight".into(),
            why: "the reconstruction loss needs the MAE decoder (a `_full` / pre-training checkpoint)".into(),
        })?;
        let dd = dec.embed_dim;
        let l = c.num_patches();
        let x = self.linear(latent, "decoder_embed", true)?;
        let [b, t, _] = x.dims();
        let keep = t - 1;
        let mask_tokens =
            self.weights
                .get("mask_token")?
                .reshape([1, 1, dd])
                .expand([b, l - keep, dd]);
        let patches = Tensor::cat(vec![x.clone().narrow(1, 1, keep), mask_tokens], 1);
        let patches = patches.gather(1, ids_restore);
        let pos = self
            .weights
            .get("decoder_pos_embed")?
            .reshape([1, l + 1, dd]);
        let mut x = Tensor::cat(vec![x.narrow(1, 0, 1), patches], 1) + pos;
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
