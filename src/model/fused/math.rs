//! exp, erf and GELU in f32 as branch-free polynomials over slices, so that the compiler turns
//! each loop into SIMD (burn's CPU backend calls libm once per element: 46 % of a landscape cell).
//!
//! `exp` is Cephes' `expf` (range reduction by ln 2 in two parts, a degree-6 polynomial, the power
//! of two built from the exponent bits), within 2 ulp. `erf` is the rational approximation Eigen
//! and XLA use for f32 (odd degree-13 numerator over an even degree-8 denominator, the input
//! clamped to ±4, where erf rounds to ±1 in f32), within a few ulp. Both are checked against f64
//! references in the tests.

/// `a · b + c`: one fused multiply-add natively (inside `pulp`'s dispatch the block is built
/// with FMA), a multiply and an add in wasm, where `mul_add` is a software routine.
#[inline(always)]
pub(crate) fn mul_add(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(target_arch = "wasm32")]
    {
        a * b + c
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        a.mul_add(b, c)
    }
}

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// 1.5 · 2²³: adding and subtracting it rounds an f32 of magnitude < 2²² to the nearest integer.
const ROUND: f32 = 12_582_912.0;
/// ln 2 split so that `n · LN2_HI` is exact for the `n` that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// eˣ; inputs below −87.3 give 2⁻¹²⁶ (≈ 1.2e-38, not 0) and above 88.7 give f32::MAX-ish, NaN
/// stays NaN.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.336_55, 88.722_83);
    let n = (x * LOG2_E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_2e-4_f32;
    p = mul_add(p, r, 1.398_199_9e-3);
    p = mul_add(p, r, 8.333_452e-3);
    p = mul_add(p, r, 4.166_579_6e-2);
    p = mul_add(p, r, 1.666_666_5e-1);
    p = mul_add(p, r, 0.5);
    let e = mul_add(p * r, r, r + 1.0);
    // n ∈ [−126, 128] after the clamp: a normal power of two (128 only at the clamp's top).
    let bits = ((n as i32 + 127).clamp(1, 254) as u32) << 23;
    e * f32::from_bits(bits)
}

/// erf(x) (the Gauss error function).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = mul_add(p, x2, 2.770_681_4e-8);
    p = mul_add(p, x2, -2.101_024e-6);
    p = mul_add(p, x2, -5.692_506_4e-5);
    p = mul_add(p, x2, -7.349_906_3e-4);
    p = mul_add(p, x2, -2.954_6e-3);
    p = mul_add(p, x2, -1.609_603_3e-2);
    let mut q = -1.456_607_2e-5_f32;
    q = mul_add(q, x2, -2.133_740_6e-4);
    q = mul_add(q, x2, -1.682_827e-3);
    q = mul_add(q, x2, -7.373_329e-3);
    q = mul_add(q, x2, -1.426_474e-2);
    x * p / q
}

/// The exact GELU, `x · ½ · (1 + erf(x / √2))` (timm's `nn.GELU()`, burn's `gelu`), in place.
#[inline(always)]
pub(crate) fn gelu(values: &mut [f32]) {
    for v in values {
        let x = *v;
        *v = x * 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// Softmax of each `width`-long row of `rows`, in place (max subtracted first, as burn and
/// PyTorch do).
#[inline(always)]
pub(crate) fn softmax_rows(rows: &mut [f32], width: usize) {
    for row in rows.chunks_exact_mut(width.max(1)) {
        // Eight running maxima (one SIMD register), then the largest of them. A comparison
        // rather than `f32::max`, whose NaN rule keeps the compiler from vectorising it; a NaN
        // score still makes its row NaN through the exponentials.
        let mut maxima = [f32::NEG_INFINITY; 8];
        let chunks = row.chunks_exact(8);
        let tail = chunks
            .remainder()
            .iter()
            .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        for chunk in chunks {
            for (m, &v) in maxima.iter_mut().zip(chunk) {
                *m = if v > *m { v } else { *m };
            }
        }
        let max = maxima.iter().fold(tail, |m, &v| if v > m { v } else { m });
        for v in row.iter_mut() {
            *v = exp(*v - max);
        }
        let inv = 1.0 / lane_sum(row);
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

/// 1/√(2π), the standard normal density at 0.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// The backward pass of [`gelu`]: each incoming gradient times GELU's derivative at its input `u`,
/// Φ(u) + u·φ(u), in place.
#[inline(always)]
pub(crate) fn gelu_backward(u: &[f32], grad: &mut [f32]) {
    for (g, &x) in grad.iter_mut().zip(u) {
        let cdf = 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
        let pdf = exp(-0.5 * x * x) * FRAC_1_SQRT_2PI;
        *g *= cdf + x * pdf;
    }
}

/// Σ vᵢ in eight running sums (one SIMD register) added at the end, so that the compiler
/// vectorises the reduction (a plain `sum` is sequential in f32).
#[inline(always)]
pub(crate) fn lane_sum(v: &[f32]) -> f32 {
    let mut lanes = [0.0_f32; 8];
    let chunks = v.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        lanes.iter_mut().zip(c).for_each(|(l, x)| *l += x);
    }
    lanes.iter().sum::<f32>() + tail
}

/// Σ aᵢ·bᵢ in eight running sums (one SIMD register) added at the end.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0_f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for ((l, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *l += x * y;
        }
    }
    lanes.iter().sum::<f32>() + tail
}
