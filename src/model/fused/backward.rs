//! The backward pass of one fused transformer block ([`super::block`]) on host memory: from the
//! gradient of the block's output and its [`BlockTape`], the gradient of its input and of each of
//! its weights. The same linear layers as the forward pass (`nalgebra`'s `gemm`; its small-matrix
//! path is safe here, every operand it walks by column being contiguous), LayerNorm's backward
//! recomputing each row's mean and deviation, attention's through the kept probabilities, and
//! GELU's derivative from the vectorisable erf/exp of [`super::math`].

use nalgebra::{DMatrixView, DMatrixViewMut};

use super::block::{BlockTape, BlockWeights, centre};
use super::math::{dot, gelu_backward, lane_sum};

/// `dx[rows, input] = dy[rows, out] · W[out, input]` (row-major; W in PyTorch layout).
pub(super) fn linear_dx(dy: &[f32], w: &[f32], input: usize, dx: &mut [f32]) {
    let out = w.len() / input.max(1);
    let rows = dy.len() / out.max(1);
    dx.fill(0.0);
    // Column-major views: dxᵀ (input × rows) = Wᵀ (input × out) · dyᵀ (out × rows).
    let wt = DMatrixView::from_slice(w, input, out);
    let dyt = DMatrixView::from_slice(dy, out, rows);
    let mut dxt = DMatrixViewMut::from_slice(dx, input, rows);
    dxt.gemm(1.0, &wt, &dyt, 1.0);
}

/// `dW[out, input] += dyᵀ · x` and `db[out] += Σ_rows dy`.
pub(super) fn linear_dw(
    dy: &[f32],
    x: &[f32],
    input: usize,
    dw: &mut [f32],
    db: Option<&mut [f32]>,
) {
    let out = dw.len() / input.max(1);
    let rows = x.len() / input.max(1);
    // Column-major views: dWᵀ (input × out) += xᵀ (input × rows) · dy (rows × out).
    let xt = DMatrixView::from_slice(x, input, rows);
    let dy_m = DMatrixView::from_slice_with_strides(dy, rows, out, out, 1);
    let mut dwt = DMatrixViewMut::from_slice(dw, input, out);
    dwt.gemm(1.0, &xt, &dy_m, 1.0);
    if let Some(db) = db {
        for row in dy.chunks_exact(out.max(1)) {
            db.iter_mut().zip(row).for_each(|(b, g)| *b += g);
        }
    }
}

/// LayerNorm's backward pass over `d`-wide rows: `dx += ∂/∂x`, `dγ += Σ dy·x̂`, `dβ += Σ dy`, with
/// x̂ = (x − mean)/√(var + ε) recomputed from x by the forward pass's formula (its sums taken in
/// SIMD lanes here, so equal to f32 round-off).
#[inline(always)]
pub(super) fn layer_norm_backward(
    x: &[f32],
    gamma: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    (dgamma, dbeta): (&mut [f32], &mut [f32]),
) {
    let d = gamma.len();
    let inv_d = 1.0 / d as f32;
    // x̂ and dy·γ of the current row.
    let (mut xhat, mut gy) = (vec![0.0_f32; d], vec![0.0_f32; d]);
    for ((row, dyr), dxr) in x
        .chunks_exact(d)
        .zip(dy.chunks_exact(d))
        .zip(dx.chunks_exact_mut(d))
    {
        let inv_sd = 1.0 / centre(row, &mut xhat);
        xhat.iter_mut().for_each(|c| *c *= inv_sd);
        for (((g, &dy), &w), db) in gy.iter_mut().zip(dyr).zip(gamma).zip(dbeta.iter_mut()) {
            *g = dy * w;
            *db += dy;
        }
        dgamma
            .iter_mut()
            .zip(dyr)
            .zip(&xhat)
            .for_each(|((dg, dy), xh)| *dg += dy * xh);
        let m1 = lane_sum(&gy) * inv_d;
        let m2 = dot(&gy, &xhat) * inv_d;
        for ((dx, &g), &xh) in dxr.iter_mut().zip(&gy).zip(&xhat) {
            *dx += inv_sd * (g - m1 - xh * m2);
        }
    }
}

/// Gradients of one block's weights, shaped as [`BlockWeights`].
pub(crate) struct BlockGrads {
    pub(crate) norm1: (Vec<f32>, Vec<f32>),
    pub(crate) qkv: (Vec<f32>, Option<Vec<f32>>),
    pub(crate) proj: (Vec<f32>, Vec<f32>),
    pub(crate) norm2: (Vec<f32>, Vec<f32>),
    pub(crate) fc1: (Vec<f32>, Vec<f32>),
    pub(crate) fc2: (Vec<f32>, Vec<f32>),
}

impl BlockGrads {
    fn zeros(w: &BlockWeights) -> Self {
        let z = |s: &[f32]| vec![0.0; s.len()];
        Self {
            norm1: (z(w.norm1.0), z(w.norm1.1)),
            qkv: (z(w.qkv.0), w.qkv.1.map(z)),
            proj: (z(w.proj.0), z(w.proj.1)),
            norm2: (z(w.norm2.0), z(w.norm2.1)),
            fc1: (z(w.fc1.0), z(w.fc1.1)),
            fc2: (z(w.fc2.0), z(w.fc2.1)),
        }
    }
}

/// The backward pass of one block: `dx` holds the gradient of the block's output on entry and
/// that of its input on return; the weights' gradients are returned.
pub(crate) fn block_backward(
    tape: &BlockTape,
    n: usize,
    heads: usize,
    w: &BlockWeights,
    dx: &mut [f32],
) -> BlockGrads {
    pulp::Arch::new().dispatch(Backward {
        tape,
        n,
        heads,
        w,
        dx,
    })
}

/// [`block_backward`]'s arguments, for `pulp`'s dispatch (as the forward pass's `Fused`).
struct Backward<'a, 'w> {
    tape: &'a BlockTape,
    n: usize,
    heads: usize,
    w: &'a BlockWeights<'w>,
    dx: &'a mut [f32],
}

impl pulp::WithSimd for Backward<'_, '_> {
    type Output = BlockGrads;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> BlockGrads {
        backward_body(self.tape, self.n, self.heads, self.w, self.dx)
    }
}

/// [`block_backward`]'s work, inlined into `pulp`'s SIMD function. The forward pass was
/// `x1 = x + proj(attn(norm1(x)))`, `x2 = x1 + fc2(gelu(fc1(norm2(x1))))`.
#[inline(always)]
fn backward_body(
    t: &BlockTape,
    n: usize,
    heads: usize,
    w: &BlockWeights,
    dx: &mut [f32],
) -> BlockGrads {
    let d = w.norm1.0.len();
    let rows = dx.len() / d.max(1);
    let hidden = w.fc1.0.len() / d.max(1);
    let mut g = BlockGrads::zeros(w);
    // The MLP branch: dx holds ∂/∂x2, the gradient of both the residual and fc2's output.
    linear_dw(dx, &t.act, hidden, &mut g.fc2.0, Some(&mut g.fc2.1));
    let mut du = vec![0.0; rows * hidden];
    linear_dx(dx, w.fc2.0, hidden, &mut du);
    gelu_backward(&t.u, &mut du);
    linear_dw(&du, &t.h2, d, &mut g.fc1.0, Some(&mut g.fc1.1));
    let mut dh = vec![0.0; rows * d];
    linear_dx(&du, w.fc1.0, d, &mut dh);
    layer_norm_backward(&t.x1, w.norm2.0, &dh, dx, (&mut g.norm2.0, &mut g.norm2.1));
    // The attention branch: dx now holds ∂/∂x1.
    linear_dw(dx, &t.mixed, d, &mut g.proj.0, Some(&mut g.proj.1));
    let mut dmixed = vec![0.0; rows * d];
    linear_dx(dx, w.proj.0, d, &mut dmixed);
    let mut dqkv = vec![0.0; rows * 3 * d];
    let mut dprobs = vec![0.0; n * n];
    let per_image = heads * n * n;
    for (i, (dq, dout)) in dqkv
        .chunks_exact_mut(n * 3 * d)
        .zip(dmixed.chunks_exact(n * d))
        .enumerate()
    {
        let image = Image {
            qkv: &t.qkv[i * n * 3 * d..(i + 1) * n * 3 * d],
            probs: &t.probs[i * per_image..(i + 1) * per_image],
            n,
            d,
            heads,
        };
        image.attend_backward(dout, dq, &mut dprobs);
    }
    linear_dw(&dqkv, &t.h1, d, &mut g.qkv.0, g.qkv.1.as_deref_mut());
    linear_dx(&dqkv, w.qkv.0, d, &mut dh);
    layer_norm_backward(&t.x, w.norm1.0, &dh, dx, (&mut g.norm1.0, &mut g.norm1.1));
    g
}

/// One image's attention as the forward pass left it: `qkv` `[n, 3, heads, hd]`, the
/// probabilities `[heads, n, n]`.
struct Image<'a> {
    qkv: &'a [f32],
    probs: &'a [f32],
    n: usize,
    d: usize,
    heads: usize,
}

impl Image<'_> {
    /// `dqkv` (zeros on entry, `[n, 3, heads, hd]`) from the gradient of the heads' outputs
    /// `dout` (`[n, heads·hd]`); `dp` is `n × n` scratch.
    #[inline(always)]
    fn attend_backward(&self, dout: &[f32], dqkv: &mut [f32], dp: &mut [f32]) {
        let (n, d, heads) = (self.n, self.d, self.heads);
        let hd = d / heads.max(1);
        let scale = (hd as f64).powf(-0.5) as f32;
        let at = |token: usize, part: usize, h: usize| token * 3 * d + part * d + h * hd;
        for h in 0..heads {
            let p = &self.probs[h * n * n..(h + 1) * n * n];
            // out = P·V: ∂P[a][c] = Σₑ ∂out[a][e]·v[c][e], ∂V[c] += Σ_a P[a][c]·∂out[a].
            for a in 0..n {
                let go = &dout[a * d + h * hd..a * d + (h + 1) * hd];
                for c in 0..n {
                    let v = &self.qkv[at(c, 2, h)..at(c, 2, h) + hd];
                    dp[a * n + c] = dot(go, v);
                    let pac = p[a * n + c];
                    let dv = &mut dqkv[at(c, 2, h)..at(c, 2, h) + hd];
                    dv.iter_mut().zip(go).for_each(|(o, g)| *o += pac * g);
                }
            }
            // P = softmax(S) by rows: ∂S[a][c] = P[a][c]·(∂P[a][c] − Σ_c' P[a][c']·∂P[a][c']).
            for a in 0..n {
                let row = &p[a * n..(a + 1) * n];
                let grad = &mut dp[a * n..(a + 1) * n];
                let dot: f32 = row.iter().zip(grad.iter()).map(|(x, y)| x * y).sum();
                grad.iter_mut()
                    .zip(row)
                    .for_each(|(gr, &pr)| *gr = pr * (*gr - dot));
            }
            // S = (q·scale)·kᵀ: ∂q[a] = scale·Σ_c ∂S[a][c]·k[c], ∂k[c] = scale·Σ_a ∂S[a][c]·q[a].
            for a in 0..n {
                let q = &self.qkv[at(a, 0, h)..at(a, 0, h) + hd];
                for c in 0..n {
                    let s = dp[a * n + c] * scale;
                    let k = &self.qkv[at(c, 1, h)..at(c, 1, h) + hd];
                    let dq = &mut dqkv[at(a, 0, h)..at(a, 0, h) + hd];
                    dq.iter_mut().zip(k).for_each(|(o, k)| *o += s * k);
                    let dk = &mut dqkv[at(c, 1, h)..at(c, 1, h) + hd];
                    dk.iter_mut().zip(q).for_each(|(o, q)| *o += s * q);
                }
            }
        }
    }
}
