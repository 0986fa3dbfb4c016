//! Architecture: the ViT / MAE hyper-parameters a checkpoint implies, inferred from tensor shapes
//! (plus head counts, which shapes cannot tell), and the canonical list of parameters with their
//! PyTorch shapes. Comparing that list with a checkpoint reports missing, unexpected and
//! mis-shaped tensors by name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ArchError;
use crate::io::checkpoint::StateDict;

/// LayerNorm epsilon used by timm ViTs and MAE.
pub const LN_EPS: f64 = 1e-6;
/// BatchNorm epsilon of MAE's linear-probe head (`BatchNorm1d(affine=False, eps=1e-6)`).
pub const BN_EPS: f64 = 1e-6;
/// Default head width when a checkpoint does not say how many heads it has (timm's ViTs).
pub const DEFAULT_HEAD_DIM: usize = 64;
/// Default decoder head width when an MAE checkpoint does not say (MAE's 512 / 16).
pub const DEFAULT_DECODER_HEAD_DIM: usize = 32;

/// How the class-token / patch-token features become one vector per image.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// The class token (`x[:, 0]`).
    Token,
    /// Mean of the patch tokens (`x[:, prefix:]`).
    Avg,
}

/// Where the position embedding sits relative to the class token.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PosEmbed {
    /// No position embedding.
    None,
    /// `pos_embed` covers the class token too (timm default, MAE): shape (1, N+1, D).
    WithClass,
    /// `pos_embed` covers patch tokens only (timm `no_embed_class`): shape (1, N, D).
    PatchesOnly,
}

/// The classifier on top of the encoder.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Head {
    /// `head.{weight,bias}`.
    Linear {
        /// Number of classes.
        num_classes: usize,
    },
    /// MAE linear probe: `head.0` BatchNorm1d(affine=False) running stats, then `head.1` Linear.
    LinearProbe {
        /// Number of classes.
        num_classes: usize,
    },
}

/// The MAE decoder's shape.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Decoder width Dd (default MAE: 512).
    pub embed_dim: usize,
    /// Number of decoder blocks.
    pub depth: usize,
    /// Decoder attention heads.
    pub num_heads: usize,
    /// Hidden width of the decoder MLPs.
    pub mlp_hidden: usize,
    /// Whether decoder `qkv` has a bias.
    pub qkv_bias: bool,
}

/// A timm-compatible ViT (and optional MAE decoder).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct VitConfig {
    /// Square input size in pixels.
    pub img_size: usize,
    /// Square patch size in pixels.
    pub patch_size: usize,
    /// Input channels.
    pub in_chans: usize,
    /// Token width D.
    pub embed_dim: usize,
    /// Number of encoder blocks.
    pub depth: usize,
    /// Encoder attention heads.
    pub num_heads: usize,
    /// Hidden width of the encoder MLPs (D × mlp_ratio).
    pub mlp_hidden: usize,
    /// Whether encoder `qkv` has a bias.
    pub qkv_bias: bool,
    /// Whether the patch embedding has a bias.
    pub patch_bias: bool,
    /// Whether there is a class token.
    pub class_token: bool,
    /// Position embedding layout.
    pub pos_embed: PosEmbed,
    /// Whether the encoder ends with `norm` (absent with global pooling + `fc_norm`).
    pub final_norm: bool,
    /// Whether a LayerNorm `fc_norm` follows pooling.
    pub fc_norm: bool,
    /// Feature pooling.
    pub pool: Pool,
    /// The classifier, if the checkpoint has one.
    pub head: Option<Head>,
    /// The MAE decoder, if the checkpoint has one.
    pub decoder: Option<DecoderConfig>,
}

/// A parameter's name and PyTorch shape, in canonical (timm state-dict) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    /// timm name.
    pub name: String,
    /// PyTorch shape.
    pub shape: Vec<usize>,
}

impl ParamSpec {
    fn new(name: impl Into<String>, shape: &[usize]) -> Self {
        Self {
            name: name.into(),
            shape: shape.to_vec(),
        }
    }

    /// Number of values.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Which head counts neither the user nor the file gave, so that timm's convention was assumed
/// (head dim [`DEFAULT_HEAD_DIM`], decoder [`DEFAULT_DECODER_HEAD_DIM`]). Said by the CLI, shown
/// by the page and recorded in the spec (`heads_assumed`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadsAssumed {
    /// The encoder's count was assumed.
    pub encoder: bool,
    /// The decoder's count was assumed.
    pub decoder: bool,
}

impl HeadsAssumed {
    /// Either count was assumed.
    pub fn any(self) -> bool {
        self.encoder || self.decoder
    }
}

/// Head-count choices that shapes cannot reveal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadCounts {
    /// Encoder heads (None: metadata `num_heads`, else D / 64).
    pub encoder: Option<usize>,
    /// Decoder heads (None: metadata `decoder_num_heads`, else Dd / 32 as in MAE's 512/16).
    pub decoder: Option<usize>,
}

impl VitConfig {
    /// timm's standard ViT (`VisionTransformer` defaults): MLP ratio 4, biases on `qkv` and the
    /// patch embedding, a class token with its own position embedding, a final `norm`, class
    /// token pooling; `head` and `decoder` as given.
    pub fn standard(
        img_size: usize,
        patch_size: usize,
        in_chans: usize,
        embed_dim: usize,
        depth: usize,
        num_heads: usize,
    ) -> Self {
        Self {
            img_size,
            patch_size,
            in_chans,
            embed_dim,
            depth,
            num_heads,
            mlp_hidden: 4 * embed_dim,
            qkv_bias: true,
            patch_bias: true,
            class_token: true,
            pos_embed: PosEmbed::WithClass,
            final_norm: true,
            fc_norm: false,
            pool: Pool::Token,
            head: None,
            decoder: None,
        }
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.img_size / self.patch_size
    }

    /// Number of patches L.
    pub fn num_patches(&self) -> usize {
        self.grid() * self.grid()
    }

    /// Values per patch (p²·C).
    pub fn patch_dim(&self) -> usize {
        self.patch_size * self.patch_size * self.in_chans
    }

    /// Number of classes, if there is a head.
    pub fn num_classes(&self) -> Option<usize> {
        match self.head? {
            Head::Linear { num_classes } | Head::LinearProbe { num_classes } => Some(num_classes),
        }
    }

    /// Every trainable parameter in canonical order (what directions perturb). BatchNorm running
    /// statistics are buffers and are listed by [`VitConfig::buffers`] instead.
    pub fn params(&self) -> Vec<ParamSpec> {
        let d = self.embed_dim;
        let p = self.patch_size;
        let mut out = Vec::new();
        if self.class_token {
            out.push(ParamSpec::new("cls_token", &[1, 1, d]));
        }
        let tokens = self.num_patches() + usize::from(self.class_token);
        match self.pos_embed {
            PosEmbed::None => {}
            PosEmbed::WithClass => out.push(ParamSpec::new("pos_embed", &[1, tokens, d])),
            PosEmbed::PatchesOnly => {
                out.push(ParamSpec::new("pos_embed", &[1, self.num_patches(), d]))
            }
        }
        out.push(ParamSpec::new(
            "patch_embed.proj.weight",
            &[d, self.in_chans, p, p],
        ));
        if self.patch_bias {
            out.push(ParamSpec::new("patch_embed.proj.bias", &[d]));
        }
        blocks(
            &mut out,
            "blocks",
            self.depth,
            d,
            self.mlp_hidden,
            self.qkv_bias,
        );
        if self.final_norm {
            out.push(ParamSpec::new("norm.weight", &[d]));
            out.push(ParamSpec::new("norm.bias", &[d]));
        }
        if self.fc_norm {
            out.push(ParamSpec::new("fc_norm.weight", &[d]));
            out.push(ParamSpec::new("fc_norm.bias", &[d]));
        }
        match self.head {
            None => {}
            Some(Head::Linear { num_classes }) => {
                out.push(ParamSpec::new("head.weight", &[num_classes, d]));
                out.push(ParamSpec::new("head.bias", &[num_classes]));
            }
            Some(Head::LinearProbe { num_classes }) => {
                out.push(ParamSpec::new("head.1.weight", &[num_classes, d]));
                out.push(ParamSpec::new("head.1.bias", &[num_classes]));
            }
        }
        if let Some(dec) = &self.decoder {
            let dd = dec.embed_dim;
            out.push(ParamSpec::new("mask_token", &[1, 1, dd]));
            out.push(ParamSpec::new(
                "decoder_pos_embed",
                &[1, self.num_patches() + 1, dd],
            ));
            out.push(ParamSpec::new("decoder_embed.weight", &[dd, d]));
            out.push(ParamSpec::new("decoder_embed.bias", &[dd]));
            blocks(
                &mut out,
                "decoder_blocks",
                dec.depth,
                dd,
                dec.mlp_hidden,
                dec.qkv_bias,
            );
            out.push(ParamSpec::new("decoder_norm.weight", &[dd]));
            out.push(ParamSpec::new("decoder_norm.bias", &[dd]));
            out.push(ParamSpec::new(
                "decoder_pred.weight",
                &[self.patch_dim(), dd],
            ));
            out.push(ParamSpec::new("decoder_pred.bias", &[self.patch_dim()]));
        }
        out
    }

    /// Non-trainable tensors the forward pass needs (never perturbed).
    pub fn buffers(&self) -> Vec<ParamSpec> {
        match self.head {
            Some(Head::LinearProbe { .. }) => vec![
                ParamSpec::new("head.0.running_mean", &[self.embed_dim]),
                ParamSpec::new("head.0.running_var", &[self.embed_dim]),
            ],
            _ => Vec::new(),
        }
    }

    /// Total number of trainable parameters.
    pub fn num_params(&self) -> usize {
        self.params().iter().map(ParamSpec::numel).sum()
    }

    /// Multiply-accumulate count ×2 of one classification forward for one image (matmuls only).
    pub fn flops_per_image(&self) -> f64 {
        let d = self.embed_dim as f64;
        let n = (self.num_patches() + usize::from(self.class_token)) as f64;
        let per_block = |tokens: f64, width: f64, hidden: f64| {
            // qkv + proj + fc1 + fc2, then QKᵀ and AV.
            2.0 * tokens * (3.0 * width * width + width * width + 2.0 * width * hidden)
                + 2.0 * 2.0 * tokens * tokens * width
        };
        let patch = 2.0 * self.num_patches() as f64 * self.patch_dim() as f64 * d;
        let head = 2.0 * d * self.num_classes().unwrap_or(0) as f64;
        patch + self.depth as f64 * per_block(n, d, self.mlp_hidden as f64) + head
    }

    /// Check head counts divide the widths.
    pub fn validate(&self) -> Result<(), ArchError> {
        if self.num_heads == 0 || !self.embed_dim.is_multiple_of(self.num_heads) {
            return Err(ArchError::Invalid(format!(
                "{} attention heads do not divide embed dim {}",
                self.num_heads, self.embed_dim
            )));
        }
        if let Some(dec) = &self.decoder
            && (dec.num_heads == 0 || !dec.embed_dim.is_multiple_of(dec.num_heads))
        {
            return Err(ArchError::Invalid(format!(
                "{} decoder heads do not divide decoder embed dim {}",
                dec.num_heads, dec.embed_dim
            )));
        }
        if self.patch_size == 0 || !self.img_size.is_multiple_of(self.patch_size) {
            return Err(ArchError::Invalid(format!(
                "patch size {} does not divide image size {}",
                self.patch_size, self.img_size
            )));
        }
        if self.decoder.is_some() && !self.class_token {
            return Err(ArchError::Invalid(
                "an MAE decoder needs the encoder's cls_token".into(),
            ));
        }
        Ok(())
    }
}

fn blocks(
    out: &mut Vec<ParamSpec>,
    prefix: &str,
    depth: usize,
    d: usize,
    hidden: usize,
    qkv_bias: bool,
) {
    for i in 0..depth {
        let b = format!("{prefix}.{i}");
        out.push(ParamSpec::new(format!("{b}.norm1.weight"), &[d]));
        out.push(ParamSpec::new(format!("{b}.norm1.bias"), &[d]));
        out.push(ParamSpec::new(format!("{b}.attn.qkv.weight"), &[3 * d, d]));
        if qkv_bias {
            out.push(ParamSpec::new(format!("{b}.attn.qkv.bias"), &[3 * d]));
        }
        out.push(ParamSpec::new(format!("{b}.attn.proj.weight"), &[d, d]));
        out.push(ParamSpec::new(format!("{b}.attn.proj.bias"), &[d]));
        out.push(ParamSpec::new(format!("{b}.norm2.weight"), &[d]));
        out.push(ParamSpec::new(format!("{b}.norm2.bias"), &[d]));
        out.push(ParamSpec::new(format!("{b}.mlp.fc1.weight"), &[hidden, d]));
        out.push(ParamSpec::new(format!("{b}.mlp.fc1.bias"), &[hidden]));
        out.push(ParamSpec::new(format!("{b}.mlp.fc2.weight"), &[d, hidden]));
        out.push(ParamSpec::new(format!("{b}.mlp.fc2.bias"), &[d]));
    }
}

fn shape_of<'a>(state: &'a StateDict, name: &str) -> Option<&'a [usize]> {
    state.tensors.get(name).map(|t| t.shape.as_slice())
}

fn require<'a>(state: &'a StateDict, name: &str, why: &str) -> Result<&'a [usize], ArchError> {
    shape_of(state, name).ok_or_else(|| ArchError::Missing {
        name: name.into(),
        why: why.into(),
    })
}

fn count_blocks(state: &StateDict, prefix: &str) -> usize {
    let mut depth = 0;
    while state
        .tensors
        .contains_key(&format!("{prefix}.{depth}.attn.qkv.weight"))
    {
        depth += 1;
    }
    depth
}

fn isqrt(n: usize) -> Option<usize> {
    let r = (n as f64).sqrt().round() as usize;
    (r * r == n).then_some(r)
}

fn metadata_usize(state: &StateDict, keys: &[&str]) -> Result<Option<usize>, ArchError> {
    for key in keys {
        if let Some(text) = state.metadata.get(*key) {
            return text.trim().parse().map(Some).map_err(|_| {
                ArchError::Invalid(format!("metadata `{key}` = {text:?} is not a whole number"))
            });
        }
    }
    Ok(None)
}

/// Infer the architecture from a state dict, then check every tensor against it.
pub fn infer(state: &StateDict, heads: HeadCounts) -> Result<VitConfig, ArchError> {
    infer_noting(state, heads).map(|(config, _)| config)
}

/// A head count: given, else from the metadata `keys`, else `width / head_dim` — assumed, and
/// refused when it does not divide (with the flag that fixes it).
fn head_count(
    state: &StateDict,
    given: Option<usize>,
    keys: &[&str],
    (width, head_dim): (usize, usize),
    (what, flag): (&str, &str),
) -> Result<(usize, bool), ArchError> {
    if let Some(h) = given {
        return Ok((h, false));
    }
    if let Some(h) = metadata_usize(state, keys)? {
        return Ok((h, false));
    }
    if width >= head_dim && width.is_multiple_of(head_dim) {
        return Ok((width / head_dim, true));
    }
    Err(ArchError::Invalid(format!(
        "the file does not say how many attention heads its {what} has (no `{}` metadata), and its width {width} is not a multiple of {head_dim}, timm's head dimension, so no count can be assumed: give it ({flag} in the CLI, the heads field on the page; timm's ViT-Ti/S/B, widths 192/384/768, have 3/6/12)",
        keys.first().copied().unwrap_or("num_heads")
    )))
}

/// [`infer`], also saying which head counts were assumed ([`HeadsAssumed`]).
pub fn infer_noting(
    state: &StateDict,
    heads: HeadCounts,
) -> Result<(VitConfig, HeadsAssumed), ArchError> {
    let mut assumed = HeadsAssumed::default();
    let pe = require(
        state,
        "patch_embed.proj.weight",
        "the patch embedding defines the model",
    )?;
    let &[d, in_chans, p, p2] = pe else {
        return Err(ArchError::Shape {
            name: "patch_embed.proj.weight".into(),
            found: pe.to_vec(),
            expected: "(embed_dim, in_chans, patch, patch)".into(),
        });
    };
    if p != p2 || p == 0 || d == 0 || in_chans == 0 {
        return Err(ArchError::Shape {
            name: "patch_embed.proj.weight".into(),
            found: pe.to_vec(),
            expected: "a square non-empty patch kernel".into(),
        });
    }
    let depth = count_blocks(state, "blocks");
    if depth == 0 {
        return Err(ArchError::Missing {
            name: "blocks.0.attn.qkv.weight".into(),
            why: "a ViT needs at least one transformer block".into(),
        });
    }
    let fc1 = require(state, "blocks.0.mlp.fc1.weight", "every block has an MLP")?;
    let mlp_hidden = fc1.first().copied().unwrap_or(0);
    let class_token = state.tensors.contains_key("cls_token");
    let num_patches_meta = metadata_usize(state, &["img_size"])?.map(|s| (s / p) * (s / p));
    let (pos_embed, num_patches) = match shape_of(state, "pos_embed") {
        None => {
            let n = num_patches_meta.ok_or_else(|| ArchError::Missing {
                name: "pos_embed".into(),
                why: "without it the image size must be given as metadata `img_size`".into(),
            })?;
            (PosEmbed::None, n)
        }
        Some(shape) => {
            let tokens = match shape {
                [1, t, w] if *w == d => *t,
                _ => {
                    return Err(ArchError::Shape {
                        name: "pos_embed".into(),
                        found: shape.to_vec(),
                        expected: format!("(1, tokens, {d})"),
                    });
                }
            };
            let with_class = class_token && tokens >= 1 && isqrt(tokens - 1).is_some();
            match (num_patches_meta, with_class) {
                (Some(n), _) if class_token && tokens == n + 1 => (PosEmbed::WithClass, n),
                (Some(n), _) if tokens == n => (PosEmbed::PatchesOnly, n),
                (Some(n), _) => {
                    return Err(ArchError::Shape {
                        name: "pos_embed".into(),
                        found: shape.to_vec(),
                        expected: format!("{n} patch positions (from metadata img_size)"),
                    });
                }
                (None, true) => (PosEmbed::WithClass, tokens - 1),
                (None, false) if isqrt(tokens).is_some() => (PosEmbed::PatchesOnly, tokens),
                (None, false) if !class_token && tokens >= 1 && isqrt(tokens - 1).is_some() => {
                    return Err(ArchError::Missing {
                        name: "cls_token".into(),
                        why: format!(
                            "pos_embed has {tokens} positions, one more than the {} patches",
                            tokens - 1
                        ),
                    });
                }
                (None, false) => {
                    return Err(ArchError::Shape {
                        name: "pos_embed".into(),
                        found: shape.to_vec(),
                        expected: "a square number of patch positions".into(),
                    });
                }
            }
        }
    };
    let grid = isqrt(num_patches).ok_or_else(|| {
        ArchError::Invalid(format!("{num_patches} patches do not form a square image"))
    })?;
    let fc_norm = state.tensors.contains_key("fc_norm.weight");
    let final_norm = state.tensors.contains_key("norm.weight");
    let pool = match state.metadata.get("global_pool").map(String::as_str) {
        Some("token") => Pool::Token,
        Some("avg") => Pool::Avg,
        Some(other) => {
            return Err(ArchError::Invalid(format!(
                "metadata global_pool = {other:?}; expected \"token\" or \"avg\""
            )));
        }
        None if fc_norm || !class_token => Pool::Avg,
        None => Pool::Token,
    };
    let head = if let Some(shape) = shape_of(state, "head.1.weight") {
        Some(Head::LinearProbe {
            num_classes: shape.first().copied().unwrap_or(0),
        })
    } else {
        shape_of(state, "head.weight").map(|shape| Head::Linear {
            num_classes: shape.first().copied().unwrap_or(0),
        })
    };
    let decoder = match shape_of(state, "decoder_embed.weight") {
        None => None,
        Some(shape) => {
            let dd = shape.first().copied().unwrap_or(0);
            let depth = count_blocks(state, "decoder_blocks");
            let hidden = shape_of(state, "decoder_blocks.0.mlp.fc1.weight")
                .and_then(|s| s.first().copied())
                .unwrap_or(4 * dd);
            let (num_heads, guessed) = head_count(
                state,
                heads.decoder,
                &["decoder_num_heads"],
                (dd, DEFAULT_DECODER_HEAD_DIM),
                ("MAE decoder", "--decoder-heads"),
            )?;
            assumed.decoder = guessed;
            Some(DecoderConfig {
                embed_dim: dd,
                depth,
                num_heads,
                mlp_hidden: hidden,
                qkv_bias: state.tensors.contains_key("decoder_blocks.0.attn.qkv.bias"),
            })
        }
    };
    let (num_heads, guessed) = head_count(
        state,
        heads.encoder,
        &["num_heads", "heads"],
        (d, DEFAULT_HEAD_DIM),
        ("encoder", "--heads"),
    )?;
    assumed.encoder = guessed;
    let config = VitConfig {
        img_size: grid * p,
        patch_size: p,
        in_chans,
        embed_dim: d,
        depth,
        num_heads,
        mlp_hidden,
        qkv_bias: state.tensors.contains_key("blocks.0.attn.qkv.bias"),
        patch_bias: state.tensors.contains_key("patch_embed.proj.bias"),
        class_token,
        pos_embed,
        final_norm,
        fc_norm,
        pool,
        head,
        decoder,
    };
    config.validate()?;
    check_tensors(state, &config)?;
    Ok((config, assumed))
}

/// Compare a state dict with the tensors a config needs: every problem is reported by name.
pub fn check_tensors(state: &StateDict, config: &VitConfig) -> Result<(), ArchError> {
    let expected: BTreeMap<String, Vec<usize>> = config
        .params()
        .into_iter()
        .chain(config.buffers())
        .map(|p| (p.name, p.shape))
        .collect();
    let mut problems = Vec::new();
    for (name, shape) in &expected {
        match state.tensors.get(name) {
            None => problems.push(format!("missing `{name}` {shape:?}")),
            Some(t) if &t.shape != shape => problems.push(format!(
                "`{name}` has shape {:?}, expected {shape:?}",
                t.shape
            )),
            Some(_) => {}
        }
    }
    let unexpected: Vec<String> = state
        .tensors
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .cloned()
        .collect();
    if !unexpected.is_empty() {
        problems.push(format!(
            "unexpected {} (not part of a timm ViT / MAE model)",
            unexpected
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ArchError::Invalid(format!(
            "checkpoint does not match the inferred architecture: {}",
            problems.join("; ")
        )))
    }
}
