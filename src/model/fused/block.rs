//! One pre-LN transformer block on host memory, fused: the same arithmetic as
//! `Vit::block_composed` (LayerNorm, fused-qkv attention, projection, GELU MLP, residuals) with
//! the four linear layers as single-threaded matmuls (`nalgebra`'s `gemm`, which hands matrices
//! this size to `matrixmultiply`'s SIMD kernels), attention as row updates the compiler
//! vectorises, and five scratch buffers per call instead of one allocation per operation.

use nalgebra::{DMatrixView, DMatrixViewMut};

use super::math::{gelu, softmax_rows};
use crate::model::arch::LN_EPS;

/// One weight set of a block, each slice in PyTorch layout (`[out, in]` for a weight).
pub(crate) struct BlockWeights<'a> {
    pub(crate) norm1: (&'a [f32], &'a [f32]),
    pub(crate) qkv: (&'a [f32], Option<&'a [f32]>),
    pub(crate) proj: (&'a [f32], &'a [f32]),
    pub(crate) norm2: (&'a [f32], &'a [f32]),
    pub(crate) fc1: (&'a [f32], &'a [f32]),
    pub(crate) fc2: (&'a [f32], &'a [f32]),
}

/// `y[rows, out] = x[rows, input] · Wᵀ + b` in row-major storage, W `[out, input]`.
fn linear(x: &[f32], input: usize, (w, b): (&[f32], Option<&[f32]>), y: &mut [f32]) {
    let out = w.len() / input.max(1);
    let rows = x.len() / input.max(1);
    match b {
        Some(b) => y
            .chunks_exact_mut(out)
            .for_each(|row| row.copy_from_slice(b)),
        None => y.fill(0.0),
    }
    // Column-major views: yᵀ (out × rows) = W (out × input) · xᵀ (input × rows).
    let w = DMatrixView::from_slice_with_strides(w, out, input, input, 1);
    let xt = DMatrixView::from_slice(x, input, rows);
    let mut yt = DMatrixViewMut::from_slice(y, out, rows);
    yt.gemm(1.0, &w, &xt, 1.0);
}

/// LayerNorm of each `d`-wide row (biased variance), as burn's `var_mean_bias` composes it.
#[inline(always)]
fn layer_norm(x: &[f32], (w, b): (&[f32], &[f32]), out: &mut [f32]) {
    let d = w.len();
    let inv_d = 1.0 / d as f32;
    for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let mean = row.iter().sum::<f32>() * inv_d;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() * inv_d;
        let sd = (var + LN_EPS as f32).sqrt();
        for (((o, &v), &w), &b) in o.iter_mut().zip(row).zip(w).zip(b) {
            *o = (v - mean) / sd * w + b;
        }
    }
}

/// Multi-head attention of one image's tokens: `qkv` is `[n, 3, heads, hd]`, `out` `[n, heads·hd]`.
#[inline(always)]
fn attend(qkv: &[f32], n: usize, heads: usize, out: &mut [f32], scratch: &mut Scratch) {
    let d = qkv.len() / (3 * n);
    let hd = d / heads;
    let scale = (hd as f64).powf(-0.5) as f32;
    out.fill(0.0);
    for h in 0..heads {
        // kᵀ `[hd, n]` so that each score row is a sum of contiguous row updates.
        for t in 0..n {
            for e in 0..hd {
                scratch.kt[e * n + t] = qkv[t * 3 * d + d + h * hd + e];
            }
        }
        let scores = &mut scratch.scores[..n * n];
        scores.fill(0.0);
        for a in 0..n {
            let q = &qkv[a * 3 * d + h * hd..a * 3 * d + (h + 1) * hd];
            let row = &mut scores[a * n..(a + 1) * n];
            for (e, &qe) in q.iter().enumerate() {
                let qe = qe * scale;
                for (s, &k) in row.iter_mut().zip(&scratch.kt[e * n..(e + 1) * n]) {
                    *s += qe * k;
                }
            }
        }
        softmax_rows(scores, n);
        for a in 0..n {
            let o = &mut out[a * d + h * hd..a * d + (h + 1) * hd];
            for c in 0..n {
                let p = scores[a * n + c];
                let v = &qkv[c * 3 * d + 2 * d + h * hd..c * 3 * d + 2 * d + (h + 1) * hd];
                for (o, &v) in o.iter_mut().zip(v) {
                    *o += p * v;
                }
            }
        }
    }
}

/// Per-image attention buffers.
struct Scratch {
    kt: Vec<f32>,
    scores: Vec<f32>,
}

/// `x + attn(norm1(x))`, then `x + mlp(norm2(x))`, in place on `x` (`[images·n, d]`).
///
/// The loops are compiled for the best SIMD level the CPU has (AVX2 + FMA where present):
/// `pulp` detects it once and calls [`Fused::with_simd`] inside a function built with those
/// features, into which everything below is inlined, so the compiler vectorises it for them.
pub(crate) fn block(x: &mut [f32], n: usize, heads: usize, w: &BlockWeights) {
    pulp::Arch::new().dispatch(Fused { x, n, heads, w });
}

/// [`block`]'s arguments, for `pulp`'s dispatch.
struct Fused<'a, 'w> {
    x: &'a mut [f32],
    n: usize,
    heads: usize,
    w: &'a BlockWeights<'w>,
}

impl pulp::WithSimd for Fused<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        block_body(self.x, self.n, self.heads, self.w);
    }
}

#[inline(always)]
fn block_body(x: &mut [f32], n: usize, heads: usize, w: &BlockWeights) {
    let d = w.norm1.0.len();
    let rows = x.len() / d.max(1);
    let hidden = w.fc1.0.len() / d.max(1);
    let mut normed = vec![0.0; rows * d];
    let mut qkv = vec![0.0; rows * 3 * d];
    let mut mixed = vec![0.0; rows * d];
    let mut scratch = Scratch {
        kt: vec![0.0; d / heads.max(1) * n],
        scores: vec![0.0; n * n],
    };
    layer_norm(x, w.norm1, &mut normed);
    linear(&normed, d, w.qkv, &mut qkv);
    for (image, out) in qkv
        .chunks_exact(n * 3 * d)
        .zip(mixed.chunks_exact_mut(n * d))
    {
        attend(image, n, heads, out, &mut scratch);
    }
    linear(&mixed, d, (w.proj.0, Some(w.proj.1)), &mut normed);
    x.iter_mut().zip(&normed).for_each(|(x, y)| *x += y);
    layer_norm(x, w.norm2, &mut normed);
    let mut hid = vec![0.0; rows * hidden];
    linear(&normed, d, (w.fc1.0, Some(w.fc1.1)), &mut hid);
    gelu(&mut hid);
    linear(&hid, hidden, (w.fc2.0, Some(w.fc2.1)), &mut normed);
    x.iter_mut().zip(&normed).for_each(|(x, y)| *x += y);
}
