//! The value and gradient of the MAE / RC-MAE reconstruction loss on the host, for one weight
//! set: the forward pass of `Vit::forward_encoder_masked` → `Vit::forward_decoder` with every
//! transformer block run by the fused forward pass keeping a [`BlockTape`], then the backward
//! pass by hand ([`super::backward`]). The tests hold it to burn's autodiff of the same loss.
//!
//! Hessian-vector products take four gradients each (METHODS §5), so curvature spends nearly all
//! its time here; burn's autodiff pays one allocation per operation and one libm call per GELU
//! and softmax element, as its forward pass did before [`super::block`].

use super::backward::{BlockGrads, block_backward, layer_norm_backward, linear_dw, linear_dx};
use super::block::{BlockTape, BlockWeights, block_taped, layer_norm, linear};
use crate::error::ArchError;
use crate::model::Layout;
use crate::model::arch::{PosEmbed, VitConfig};

/// One batch of a reconstruction loss on the host.
pub(crate) struct MaskedImages<'a> {
    /// `[B, C, H, W]`.
    pub(crate) images: &'a [f32],
    /// The kept patches of each image, `[B, keep]`.
    pub(crate) ids_keep: &'a [usize],
    /// The unshuffle permutation, `[B, L]`.
    pub(crate) ids_restore: &'a [usize],
    /// 1 where a patch is masked, `[B, L]`.
    pub(crate) mask: &'a [f32],
    /// The loss is Σ over these of `weight · Σ_masked patches mean_pixels (pred − target)²`;
    /// each target is `[B, L, p²·C]`.
    pub(crate) targets: Vec<(f64, &'a [f32])>,
}

/// Whether [`reconstruction_gradient`] computes this architecture's reconstruction loss: a class
/// token, positions covering it, and a decoder (what `forward_encoder_masked` requires).
pub(crate) fn supports(config: &VitConfig) -> bool {
    config.class_token && config.pos_embed == PosEmbed::WithClass && config.decoder.is_some()
}

/// θ's parameters by timm name.
struct Params<'a> {
    theta: &'a [f32],
    layout: &'a Layout,
}

impl<'a> Params<'a> {
    fn get(&self, name: &str) -> Result<&'a [f32], ArchError> {
        self.layout
            .range(name)
            .and_then(|r| self.theta.get(r))
            .ok_or_else(|| ArchError::Missing {
                name: name.to_string(),
                why: "the reconstruction gradient uses it".into(),
            })
    }

    fn block(&self, prefix: &str, qkv_bias: bool) -> Result<BlockWeights<'a>, ArchError> {
        let get = |name: &str| self.get(&format!("{prefix}.{name}"));
        Ok(BlockWeights {
            norm1: (get("norm1.weight")?, get("norm1.bias")?),
            qkv: (
                get("attn.qkv.weight")?,
                if qkv_bias {
                    Some(get("attn.qkv.bias")?)
                } else {
                    None
                },
            ),
            proj: (get("attn.proj.weight")?, get("attn.proj.bias")?),
            norm2: (get("norm2.weight")?, get("norm2.bias")?),
            fc1: (get("mlp.fc1.weight")?, get("mlp.fc1.bias")?),
            fc2: (get("mlp.fc2.weight")?, get("mlp.fc2.bias")?),
        })
    }
}

/// The gradient in θ's layout, filled parameter by parameter (untouched ones stay 0).
struct Grads<'a> {
    flat: Vec<f32>,
    layout: &'a Layout,
}

impl Grads<'_> {
    fn add(&mut self, name: &str, values: &[f32]) -> Result<(), ArchError> {
        let slot = self
            .layout
            .range(name)
            .and_then(|r| self.flat.get_mut(r))
            .filter(|s| s.len() == values.len())
            .ok_or_else(|| {
                ArchError::Invalid(format!(
                    "{name}: {} gradient values do not fit the layout",
                    values.len()
                ))
            })?;
        slot.iter_mut().zip(values).for_each(|(s, v)| *s += v);
        Ok(())
    }

    /// A linear layer `name` (`.weight`, and `.bias` with `bias`) that mapped `x` (`[rows,
    /// input]`) to an output whose gradient is `dy`.
    fn linear(
        &mut self,
        name: &str,
        dy: &[f32],
        x: &[f32],
        input: usize,
        bias: bool,
    ) -> Result<(), ArchError> {
        let w = format!("{name}.weight");
        let numel = self.layout.range(&w).map_or(0, |r| r.len());
        let mut dw = vec![0.0; numel];
        let mut db = bias.then(|| vec![0.0; numel / input.max(1)]);
        linear_dw(dy, x, input, &mut dw, db.as_deref_mut());
        self.add(&w, &dw)?;
        match db {
            Some(db) => self.add(&format!("{name}.bias"), &db),
            None => Ok(()),
        }
    }

    fn weight_and_bias(
        &mut self,
        name: &str,
        (dw, db): (Vec<f32>, Vec<f32>),
    ) -> Result<(), ArchError> {
        self.add(&format!("{name}.weight"), &dw)?;
        self.add(&format!("{name}.bias"), &db)
    }

    fn block(&mut self, prefix: &str, g: BlockGrads) -> Result<(), ArchError> {
        self.weight_and_bias(&format!("{prefix}.norm1"), g.norm1)?;
        self.add(&format!("{prefix}.attn.qkv.weight"), &g.qkv.0)?;
        if let Some(b) = &g.qkv.1 {
            self.add(&format!("{prefix}.attn.qkv.bias"), b)?;
        }
        self.weight_and_bias(&format!("{prefix}.attn.proj"), g.proj)?;
        self.weight_and_bias(&format!("{prefix}.norm2"), g.norm2)?;
        self.weight_and_bias(&format!("{prefix}.mlp.fc1"), g.fc1)?;
        self.weight_and_bias(&format!("{prefix}.mlp.fc2"), g.fc2)
    }
}

/// A stack of transformer blocks (`blocks.0…`, `decoder_blocks.0…`) over `tokens` tokens per
/// image.
struct Stack {
    prefix: &'static str,
    depth: usize,
    heads: usize,
    qkv_bias: bool,
    tokens: usize,
}

impl Stack {
    /// Every block over `x` in place, keeping each one's tape.
    fn forward(&self, p: &Params, x: &mut [f32]) -> Result<Vec<BlockTape>, ArchError> {
        (0..self.depth)
            .map(|i| {
                let w = p.block(&format!("{}.{i}", self.prefix), self.qkv_bias)?;
                let mut tape = BlockTape::default();
                block_taped(x, self.tokens, self.heads, &w, &mut tape);
                Ok(tape)
            })
            .collect()
    }

    /// The blocks' backward passes, last first: `dx` from the gradient of the stack's output to
    /// that of its input, the weights' gradients into `grads`.
    fn backward(
        &self,
        p: &Params,
        grads: &mut Grads,
        tapes: &[BlockTape],
        dx: &mut [f32],
    ) -> Result<(), ArchError> {
        for (i, tape) in tapes.iter().enumerate().rev() {
            let prefix = format!("{}.{i}", self.prefix);
            let w = p.block(&prefix, self.qkv_bias)?;
            grads.block(
                &prefix,
                block_backward(tape, self.tokens, self.heads, &w, dx),
            )?;
        }
        Ok(())
    }
}

/// LayerNorm `name` over `x` (`[rows, d]`): the normalised rows.
fn norm_forward(p: &Params, name: &str, x: &[f32]) -> Result<Vec<f32>, ArchError> {
    let mut out = vec![0.0; x.len()];
    layer_norm(
        x,
        (
            p.get(&format!("{name}.weight"))?,
            p.get(&format!("{name}.bias"))?,
        ),
        &mut out,
    );
    Ok(out)
}

/// LayerNorm `name`'s backward pass: the gradient of its input `x` from that of its output `dy`.
fn norm_backward(
    p: &Params,
    g: &mut Grads,
    name: &str,
    x: &[f32],
    dy: &[f32],
) -> Result<Vec<f32>, ArchError> {
    let gamma = p.get(&format!("{name}.weight"))?;
    let mut dx = vec![0.0; x.len()];
    let (mut dw, mut db) = (vec![0.0; gamma.len()], vec![0.0; gamma.len()]);
    layer_norm_backward(x, gamma, dy, &mut dx, (&mut dw, &mut db));
    g.weight_and_bias(name, (dw, db))?;
    Ok(dx)
}

/// `x += t` row by row, `t` one `d`-wide row.
fn add_row(x: &mut [f32], t: &[f32]) {
    x.iter_mut().zip(t).for_each(|(x, t)| *x += t);
}

/// The loss of one batch and its gradient with respect to θ (in `layout`).
pub(crate) fn reconstruction_gradient(
    config: &VitConfig,
    layout: &Layout,
    theta: &[f32],
    batch: &MaskedImages,
) -> Result<(f64, Vec<f32>), ArchError> {
    let c = config;
    let dec = match c.decoder {
        Some(dec) if supports(c) => dec,
        _ => {
            return Err(ArchError::Invalid(
                "the host reconstruction gradient needs a class token, positions covering it \
                 and a decoder"
                    .into(),
            ));
        }
    };
    c.validate()?;
    if [
        c.embed_dim,
        c.mlp_hidden,
        c.in_chans,
        dec.embed_dim,
        dec.mlp_hidden,
    ]
    .contains(&0)
    {
        return Err(ArchError::Invalid(
            "a width, MLP width or channel count of 0".into(),
        ));
    }
    if layout.params != c.params() {
        return Err(ArchError::Invalid(
            "θ's layout is not the architecture's".into(),
        ));
    }
    let p = Params { theta, layout };
    let (d, dd, ps, g, ch, img) = (
        c.embed_dim,
        dec.embed_dim,
        c.patch_size,
        c.grid(),
        c.in_chans,
        c.img_size,
    );
    let l = g * g;
    let pin = ch * ps * ps;
    let pd = c.patch_dim();
    let b = batch.mask.len() / l.max(1);
    let keep = batch.ids_keep.len() / b.max(1);
    if b == 0
        || batch.mask.len() != b * l
        || layout.total != theta.len()
        || batch.images.len() != b * ch * img * img
        || batch.ids_keep.len() != b * keep
        || keep == 0
        || batch.ids_restore.len() != b * l
        || batch
            .ids_keep
            .iter()
            .chain(batch.ids_restore)
            .any(|&i| i >= l)
        || batch.targets.iter().any(|(_, t)| t.len() != b * l * pd)
    {
        return Err(ArchError::Invalid(format!(
            "a reconstruction batch of {} mask values, {} kept ids, {} restore ids and {} pixels \
             does not fit {l} patches of {pd} values",
            batch.mask.len(),
            batch.ids_keep.len(),
            batch.ids_restore.len(),
            batch.images.len()
        )));
    }

    // Encoder: patches (the conv weight's (C, kh, kw) order), embedding, positions, the kept
    // patches behind the class token, blocks, final norm.
    let mut patches = vec![0.0; b * l * pin];
    for bi in 0..b {
        for ci in 0..ch {
            for py in 0..g * ps {
                let (gy, ky) = (py / ps, py % ps);
                for px in 0..g * ps {
                    let (gx, kx) = (px / ps, px % ps);
                    patches[(bi * l + gy * g + gx) * pin + (ci * ps + ky) * ps + kx] =
                        batch.images[((bi * ch + ci) * img + py) * img + px];
                }
            }
        }
    }
    let mut e = vec![0.0; b * l * d];
    let patch_bias = if c.patch_bias {
        Some(p.get("patch_embed.proj.bias")?)
    } else {
        None
    };
    linear(
        &patches,
        pin,
        (p.get("patch_embed.proj.weight")?, patch_bias),
        &mut e,
    );
    let pos = p.get("pos_embed")?;
    for row in e.chunks_exact_mut(l * d) {
        add_row(row, &pos[d..]);
    }
    let cls = p.get("cls_token")?;
    let n = 1 + keep;
    let mut x = vec![0.0; b * n * d];
    for bi in 0..b {
        let rows = &mut x[bi * n * d..(bi + 1) * n * d];
        rows[..d].copy_from_slice(cls);
        add_row(&mut rows[..d], &pos[..d]);
        for j in 0..keep {
            let src = (bi * l + batch.ids_keep[bi * keep + j]) * d;
            rows[(1 + j) * d..(2 + j) * d].copy_from_slice(&e[src..src + d]);
        }
    }
    let encoder = Stack {
        prefix: "blocks",
        depth: c.depth,
        heads: c.num_heads,
        qkv_bias: c.qkv_bias,
        tokens: n,
    };
    let tapes = encoder.forward(&p, &mut x)?;
    let pre_norm = if c.final_norm {
        let normed = norm_forward(&p, "norm", &x)?;
        Some(std::mem::replace(&mut x, normed))
    } else {
        None
    };

    // Decoder: embedding, mask tokens, unshuffle, positions, blocks, norm, pixels.
    let mut y = vec![0.0; b * n * dd];
    linear(
        &x,
        d,
        (
            p.get("decoder_embed.weight")?,
            Some(p.get("decoder_embed.bias")?),
        ),
        &mut y,
    );
    let dpos = p.get("decoder_pos_embed")?;
    let mask_token = p.get("mask_token")?;
    let n2 = 1 + l;
    let mut z = vec![0.0; b * n2 * dd];
    for bi in 0..b {
        let rows = &mut z[bi * n2 * dd..(bi + 1) * n2 * dd];
        rows[..dd].copy_from_slice(&y[bi * n * dd..bi * n * dd + dd]);
        for li in 0..l {
            let r = batch.ids_restore[bi * l + li];
            let src = if r < keep {
                &y[(bi * n + 1 + r) * dd..(bi * n + 2 + r) * dd]
            } else {
                mask_token
            };
            rows[(1 + li) * dd..(2 + li) * dd].copy_from_slice(src);
        }
        add_row(rows, dpos);
    }
    let decoder = Stack {
        prefix: "decoder_blocks",
        depth: dec.depth,
        heads: dec.num_heads,
        qkv_bias: dec.qkv_bias,
        tokens: n2,
    };
    let dtapes = decoder.forward(&p, &mut z)?;
    let zn = norm_forward(&p, "decoder_norm", &z)?;
    let mut pred = vec![0.0; b * n2 * pd];
    let w_pred = p.get("decoder_pred.weight")?;
    linear(
        &zn,
        dd,
        (w_pred, Some(p.get("decoder_pred.bias")?)),
        &mut pred,
    );

    // The loss over masked patches, and its gradient with respect to the prediction.
    let mut value = 0.0_f64;
    let mut dpred = vec![0.0; b * n2 * pd];
    for (weight, target) in &batch.targets {
        for bi in 0..b {
            for li in 0..l {
                let m = batch.mask[bi * l + li];
                if m == 0.0 {
                    continue;
                }
                let at = (bi * n2 + 1 + li) * pd;
                let t = &target[(bi * l + li) * pd..(bi * l + li + 1) * pd];
                let sq: f32 = pred[at..at + pd]
                    .iter()
                    .zip(t)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum();
                value += weight * f64::from(m * sq / pd as f32);
                let scale = (weight * f64::from(m) * 2.0 / pd as f64) as f32;
                for ((gr, a), b) in dpred[at..at + pd].iter_mut().zip(&pred[at..]).zip(t) {
                    *gr += scale * (a - b);
                }
            }
        }
    }

    // Backward through the decoder.
    let mut grads = Grads {
        flat: vec![0.0; layout.total],
        layout,
    };
    grads.linear("decoder_pred", &dpred, &zn, dd, true)?;
    let mut dzn = vec![0.0; b * n2 * dd];
    linear_dx(&dpred, w_pred, dd, &mut dzn);
    let mut dz = norm_backward(&p, &mut grads, "decoder_norm", &z, &dzn)?;
    decoder.backward(&p, &mut grads, &dtapes, &mut dz)?;
    let mut dy = vec![0.0; b * n * dd];
    let mut ddpos = vec![0.0; n2 * dd];
    let mut dmask = vec![0.0; dd];
    for bi in 0..b {
        let rows = &dz[bi * n2 * dd..(bi + 1) * n2 * dd];
        add_row(&mut ddpos, rows);
        add_row(&mut dy[bi * n * dd..bi * n * dd + dd], &rows[..dd]);
        for li in 0..l {
            let r = batch.ids_restore[bi * l + li];
            let src = &rows[(1 + li) * dd..(2 + li) * dd];
            if r < keep {
                add_row(&mut dy[(bi * n + 1 + r) * dd..(bi * n + 2 + r) * dd], src);
            } else {
                add_row(&mut dmask, src);
            }
        }
    }
    grads.add("decoder_pos_embed", &ddpos)?;
    grads.add("mask_token", &dmask)?;
    grads.linear("decoder_embed", &dy, &x, d, true)?;
    let mut dx = vec![0.0; b * n * d];
    linear_dx(&dy, p.get("decoder_embed.weight")?, d, &mut dx);

    // Backward through the encoder and the embedding.
    if let Some(pre) = &pre_norm {
        dx = norm_backward(&p, &mut grads, "norm", pre, &dx)?;
    }
    encoder.backward(&p, &mut grads, &tapes, &mut dx)?;
    let mut dcls = vec![0.0; d];
    let mut dpos_all = vec![0.0; n2 * d];
    let mut de = vec![0.0; b * l * d];
    for bi in 0..b {
        let rows = &dx[bi * n * d..(bi + 1) * n * d];
        add_row(&mut dcls, &rows[..d]);
        for j in 0..keep {
            let to = (bi * l + batch.ids_keep[bi * keep + j]) * d;
            add_row(&mut de[to..to + d], &rows[(1 + j) * d..(2 + j) * d]);
        }
    }
    add_row(&mut dpos_all[..d], &dcls);
    for rows in de.chunks_exact(l * d) {
        add_row(&mut dpos_all[d..], rows);
    }
    grads.add("cls_token", &dcls)?;
    grads.add("pos_embed", &dpos_all)?;
    grads.linear("patch_embed.proj", &de, &patches, pin, c.patch_bias)?;
    Ok((value, grads.flat))
}
