//! One pre-LN transformer block on host memory, fused: the same arithmetic as
//! `Vit::block_composed` (LayerNorm, fused-qkv attention, projection, GELU MLP, residuals) with
//! the four linear layers as single-threaded matmuls (`nalgebra`'s `gemm`, which hands matrices
//! this size to `matrixmultiply`'s SIMD kernels), attention in tiles of query rows × SIMD lanes
//! whose sums stay in registers, and five scratch buffers per call instead of one allocation per
//! operation. With a [`BlockTape`] the same pass also keeps what the hand-written backward pass
//! ([`super::backward`]) needs.

use std::cell::RefCell;

use nalgebra::{DMatrixView, DMatrixViewMut};

use super::math::{dot, gelu, lane_sum, mul_add, softmax_rows};
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

/// nalgebra's `gemm` hands a product to `matrixmultiply` only when every dimension exceeds this;
/// below it, its column-by-column path takes a strided column's covering slice for its length
/// (nalgebra 0.34.2, `axcpy_uninit`) and runs past the output with our row-major `W`, so
/// [`linear`] computes such products itself.
const NALGEBRA_SMALL_DIM: usize = 5;

/// `y[rows, out] = x[rows, input] · Wᵀ + b` in row-major storage, W `[out, input]`.
pub(super) fn linear(x: &[f32], input: usize, (w, b): (&[f32], Option<&[f32]>), y: &mut [f32]) {
    let out = w.len() / input.max(1);
    let rows = x.len() / input.max(1);
    match b {
        Some(b) => y
            .chunks_exact_mut(out)
            .for_each(|row| row.copy_from_slice(b)),
        None => y.fill(0.0),
    }
    if rows.min(out).min(input) <= NALGEBRA_SMALL_DIM {
        for (xr, yr) in x.chunks_exact(input).zip(y.chunks_exact_mut(out)) {
            for (yo, wr) in yr.iter_mut().zip(w.chunks_exact(input)) {
                *yo += xr.iter().zip(wr).map(|(a, b)| a * b).sum::<f32>();
            }
        }
        return;
    }
    // Column-major views: yᵀ (out × rows) = W (out × input) · xᵀ (input × rows).
    let w = DMatrixView::from_slice_with_strides(w, out, input, input, 1);
    let xt = DMatrixView::from_slice(x, input, rows);
    let mut yt = DMatrixViewMut::from_slice(y, out, rows);
    yt.gemm(1.0, &w, &xt, 1.0);
}

/// `out = row − mean(row)`; returns LayerNorm's √(biased variance + ε). Both sums run in SIMD
/// lanes (a plain f32 `sum` is sequential). The forward pass and the backward pass's
/// recomputation share it, so they see the same statistics.
#[inline(always)]
pub(super) fn centre(row: &[f32], out: &mut [f32]) -> f32 {
    let inv_d = 1.0 / row.len().max(1) as f32;
    let mean = lane_sum(row) * inv_d;
    out.iter_mut().zip(row).for_each(|(o, &v)| *o = v - mean);
    let var = dot(out, out) * inv_d;
    (var + LN_EPS as f32).sqrt()
}

/// LayerNorm of each `d`-wide row (biased variance), as burn's `var_mean_bias` composes it.
#[inline(always)]
pub(super) fn layer_norm(x: &[f32], (w, b): (&[f32], &[f32]), out: &mut [f32]) {
    let d = w.len();
    for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let sd = centre(row, o);
        for ((o, &w), &b) in o.iter_mut().zip(w).zip(b) {
            *o = *o / sd * w + b;
        }
    }
}

/// Multi-head attention of one image's tokens: `qkv` is `[n, 3, heads, hd]`, `out` `[n, heads·hd]`;
/// `probs` (`[heads, n, n]`), when given, receives the attention probabilities.
#[inline(always)]
fn attend(
    qkv: &[f32],
    n: usize,
    heads: usize,
    out: &mut [f32],
    scratch: &mut Scratch,
    mut probs: Option<&mut [f32]>,
) {
    let d = qkv.len() / (3 * n);
    let hd = d / heads;
    let scale = (hd as f64).powf(-0.5) as f32;
    for h in 0..heads {
        // kᵀ `[hd, n]` so that each score row is a sum of contiguous row updates, and q · scale
        // `[n, hd]` (burn scales q before the product too), each in one pass.
        for (t, ((token, q), qs)) in qkv
            .chunks_exact(3 * d)
            .map(|token| (token, &token[h * hd..(h + 1) * hd]))
            .zip(scratch.q.chunks_exact_mut(hd))
            .enumerate()
        {
            let k = &token[d + h * hd..d + (h + 1) * hd];
            for (e, &k) in k.iter().enumerate() {
                scratch.kt[e * n + t] = k;
            }
            qs.iter_mut().zip(q).for_each(|(s, &q)| *s = q * scale);
        }
        // Both products keep running sums in SIMD registers over the whole reduction (e for the
        // scores, c for the mix), for `ROWS` query rows at once so that the additions do not wait
        // on each other, each sum in the order of a plain loop; edges go one row or lane at a time. (No
        // closures here: they would be compiled apart, without the SIMD features of `block`.)
        let head = Head { qkv, n, d, hd, h };
        let mut a0 = 0;
        while a0 < n {
            let rows = if n - a0 >= ROWS { ROWS } else { 1 };
            let mut c0 = 0;
            while c0 < n {
                let lanes = if n - c0 >= LANES { LANES } else { 1 };
                match (rows, lanes) {
                    (ROWS, LANES) => head.scores::<ROWS, LANES>(scratch, a0, c0),
                    (ROWS, _) => head.scores::<ROWS, 1>(scratch, a0, c0),
                    (_, LANES) => head.scores::<1, LANES>(scratch, a0, c0),
                    _ => head.scores::<1, 1>(scratch, a0, c0),
                }
                c0 += lanes;
            }
            a0 += rows;
        }
        let scores = &mut scratch.scores[..n * n];
        softmax_rows(scores, n);
        if let Some(p) = probs.as_deref_mut() {
            p[h * n * n..(h + 1) * n * n].copy_from_slice(scores);
        }
        let mut a0 = 0;
        while a0 < n {
            let rows = if n - a0 >= ROWS { ROWS } else { 1 };
            let mut e0 = 0;
            while e0 < hd {
                let lanes = if hd - e0 >= LANES { LANES } else { 1 };
                match (rows, lanes) {
                    (ROWS, LANES) => head.mix::<ROWS, LANES>(scores, out, a0, e0),
                    (ROWS, _) => head.mix::<ROWS, 1>(scores, out, a0, e0),
                    (_, LANES) => head.mix::<1, LANES>(scores, out, a0, e0),
                    _ => head.mix::<1, 1>(scores, out, a0, e0),
                }
                e0 += lanes;
            }
            a0 += rows;
        }
    }
}

/// One head of one image's attention: `qkv` is `[n, 3, heads, hd]` (`d = heads · hd`).
struct Head<'a> {
    qkv: &'a [f32],
    n: usize,
    d: usize,
    hd: usize,
    h: usize,
}

impl Head<'_> {
    /// `scores[a][c] = Σₑ (q[a][e] · scale) · k[c][e]` for the `R × L` tile at (`a0`, `c0`);
    /// `scratch` holds kᵀ (`[hd, n]`) and q · scale (`[n, hd]`) of this head.
    #[inline(always)]
    fn scores<const R: usize, const L: usize>(&self, scratch: &mut Scratch, a0: usize, c0: usize) {
        let (n, hd) = (self.n, self.hd);
        let Scratch { kt, q, scores } = scratch;
        let mut acc = [[0.0_f32; L]; R];
        for e in 0..hd {
            let k = &kt[e * n + c0..e * n + c0 + L];
            for (r, acc) in acc.iter_mut().enumerate() {
                let qe = q[(a0 + r) * hd + e];
                for (s, &k) in acc.iter_mut().zip(k) {
                    *s = mul_add(qe, k, *s);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let at = (a0 + r) * n + c0;
            scores[at..at + L].copy_from_slice(acc);
        }
    }

    /// `out[a][h·hd + e] = Σ_c p[a][c] · v[c][e]` for the `R × L` tile at (`a0`, `e0`).
    #[inline(always)]
    fn mix<const R: usize, const L: usize>(
        &self,
        p: &[f32],
        out: &mut [f32],
        a0: usize,
        e0: usize,
    ) {
        let (n, d, hd, h) = (self.n, self.d, self.hd, self.h);
        let mut acc = [[0.0_f32; L]; R];
        for c in 0..n {
            let at = c * 3 * d + 2 * d + h * hd + e0;
            let v = &self.qkv[at..at + L];
            for (r, acc) in acc.iter_mut().enumerate() {
                let p = p[(a0 + r) * n + c];
                for (o, &v) in acc.iter_mut().zip(v) {
                    *o = mul_add(p, v, *o);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let at = (a0 + r) * d + h * hd + e0;
            out[at..at + L].copy_from_slice(acc);
        }
    }
}

/// f32 lanes of an AVX2 register: the attention products' unit of work.
const LANES: usize = 8;
/// Query rows of the attention products computed together.
const ROWS: usize = 4;

/// Per-image attention buffers.
#[derive(Default)]
struct Scratch {
    kt: Vec<f32>,
    q: Vec<f32>,
    scores: Vec<f32>,
}

/// A block's working buffers, kept by each thread from one call to the next: fresh buffers of
/// this size on every block cost page faults (the allocator returns them to the system between
/// calls; 5 % of a landscape cell in `perf`). Every element is written before it is read.
#[derive(Default)]
struct Buffers {
    normed: Vec<f32>,
    qkv: Vec<f32>,
    mixed: Vec<f32>,
    hid: Vec<f32>,
    scratch: Scratch,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::default();
}

/// What a block's backward pass needs from its forward pass over one weight set, each row-major
/// over the `[images·n, …]` rows.
#[derive(Default)]
pub(crate) struct BlockTape {
    /// The block's input.
    pub(crate) x: Vec<f32>,
    /// `norm1(x)`.
    pub(crate) h1: Vec<f32>,
    /// The fused `qkv` projection, `[rows, 3, heads, hd]`.
    pub(crate) qkv: Vec<f32>,
    /// Attention probabilities, `[images, heads, n, n]`.
    pub(crate) probs: Vec<f32>,
    /// The heads' outputs side by side, before `proj`.
    pub(crate) mixed: Vec<f32>,
    /// `x + attn(norm1(x))`.
    pub(crate) x1: Vec<f32>,
    /// `norm2(x1)`.
    pub(crate) h2: Vec<f32>,
    /// `fc1(h2)`, before GELU.
    pub(crate) u: Vec<f32>,
    /// `gelu(u)`.
    pub(crate) act: Vec<f32>,
}

/// `x + attn(norm1(x))`, then `x + mlp(norm2(x))`, in place on `x` (`[images·n, d]`).
///
/// The loops are compiled for the best SIMD level the CPU has (AVX2 + FMA where present):
/// `pulp` detects it once and calls [`Fused::with_simd`] inside a function built with those
/// features, into which everything below is inlined, so the compiler vectorises it for them. In
/// the browser's wasm worker pulp has no levels to choose from and calls it as plain code, which
/// the compiler vectorises for the `simd128` the build enables (`.cargo/config.toml`).
pub(crate) fn block(x: &mut [f32], n: usize, heads: usize, w: &BlockWeights) {
    BUFFERS.with_borrow_mut(|buffers| {
        pulp::Arch::new().dispatch(Fused {
            x,
            n,
            heads,
            w,
            tape: None,
            buffers,
        })
    });
}

/// [`block`], keeping its intermediate values in `tape` for the backward pass.
pub(crate) fn block_taped(
    x: &mut [f32],
    n: usize,
    heads: usize,
    w: &BlockWeights,
    tape: &mut BlockTape,
) {
    BUFFERS.with_borrow_mut(|buffers| {
        pulp::Arch::new().dispatch(Fused {
            x,
            n,
            heads,
            w,
            tape: Some(tape),
            buffers,
        })
    });
}

/// [`block`]'s arguments, for `pulp`'s dispatch.
struct Fused<'a, 'w> {
    x: &'a mut [f32],
    n: usize,
    heads: usize,
    w: &'a BlockWeights<'w>,
    tape: Option<&'a mut BlockTape>,
    buffers: &'a mut Buffers,
}

impl pulp::WithSimd for Fused<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        block_body(self.x, self.n, self.heads, self.w, self.tape, self.buffers);
    }
}

/// [`block`]'s work, inlined into `pulp`'s SIMD function.
#[inline(always)]
fn block_body(
    x: &mut [f32],
    n: usize,
    heads: usize,
    w: &BlockWeights,
    mut tape: Option<&mut BlockTape>,
    buffers: &mut Buffers,
) {
    let d = w.norm1.0.len();
    let rows = x.len() / d.max(1);
    let hidden = w.fc1.0.len() / d.max(1);
    let Buffers {
        normed,
        qkv,
        mixed,
        hid,
        scratch,
    } = buffers;
    normed.resize(rows * d, 0.0);
    qkv.resize(rows * 3 * d, 0.0);
    mixed.resize(rows * d, 0.0);
    hid.resize(rows * hidden, 0.0);
    scratch.kt.resize(d / heads.max(1) * n, 0.0);
    scratch.q.resize(d / heads.max(1) * n, 0.0);
    scratch.scores.resize(n * n, 0.0);
    if let Some(t) = tape.as_deref_mut() {
        t.x = x.to_vec();
        t.probs = vec![0.0; rows / n.max(1) * heads * n * n];
    }
    layer_norm(x, w.norm1, normed);
    linear(normed, d, w.qkv, qkv);
    let per_image = heads * n * n;
    for (i, (image, out)) in qkv
        .chunks_exact(n * 3 * d)
        .zip(mixed.chunks_exact_mut(n * d))
        .enumerate()
    {
        let probs = tape
            .as_deref_mut()
            .map(|t| &mut t.probs[i * per_image..(i + 1) * per_image]);
        attend(image, n, heads, out, scratch, probs);
    }
    if let Some(t) = tape.as_deref_mut() {
        t.h1 = normed.clone();
        t.qkv = std::mem::take(qkv);
    }
    linear(mixed, d, (w.proj.0, Some(w.proj.1)), normed);
    x.iter_mut().zip(normed.iter()).for_each(|(x, y)| *x += y);
    if let Some(t) = tape.as_deref_mut() {
        t.mixed = std::mem::take(mixed);
        t.x1 = x.to_vec();
    }
    layer_norm(x, w.norm2, normed);
    linear(normed, d, (w.fc1.0, Some(w.fc1.1)), hid);
    if let Some(t) = tape.as_deref_mut() {
        t.h2 = normed.clone();
        t.u = hid.clone();
    }
    gelu(hid);
    linear(hid, hidden, (w.fc2.0, Some(w.fc2.1)), normed);
    if let Some(t) = tape {
        t.act = std::mem::take(hid);
    }
    x.iter_mut().zip(normed.iter()).for_each(|(x, y)| *x += y);
}
