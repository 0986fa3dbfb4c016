//! Eigenvalues and eigenvectors of a small dense symmetric matrix by cyclic Jacobi rotations.
//!
//! A trajectory's Gram matrix is n×n for n checkpoints (tens, rarely hundreds), so the
//! O(n³)-per-sweep method is instant, needs no dependency, and is accurate to rounding for
//! every eigenvalue, small ones included (the explained-variance ratios divide by their sum).

/// Largest number of Jacobi sweeps; each sweep zeroes every off-diagonal entry once, and the
/// off-diagonal mass falls quadratically once it is small (rarely more than 10 are needed).
const MAX_SWEEPS: usize = 100;

/// The eigenpairs of the symmetric `n`×`n` matrix `a` (row-major), largest eigenvalue first; each
/// eigenvector has unit length. Only the upper triangle's values matter (the matrix is assumed
/// symmetric).
pub(crate) fn symmetric_eigen(a: &[f64], n: usize) -> Vec<(f64, Vec<f64>)> {
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        for j in i..n {
            let v = a.get(i * n + j).copied().unwrap_or(0.0);
            m[i * n + j] = v;
            m[j * n + i] = v;
        }
    }
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _ in 0..MAX_SWEEPS {
        let off: f64 = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .map(|(i, j)| m[i * n + j] * m[i * n + j])
            .sum();
        let diag: f64 = (0..n).map(|i| m[i * n + i] * m[i * n + i]).sum();
        if off <= f64::EPSILON * f64::EPSILON * diag || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                rotate(&mut m, &mut v, n, p, q);
            }
        }
    }
    let mut pairs: Vec<(f64, Vec<f64>)> = (0..n)
        .map(|k| (m[k * n + k], (0..n).map(|i| v[i * n + k]).collect()))
        .collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    pairs
}

/// One Jacobi rotation in the (p, q) plane that zeroes `m[p][q]`: m ← JᵀmJ, v ← vJ, with J the
/// identity but for J_pp = J_qq = c, J_pq = s, J_qp = −s (the numerically stable choice of t =
/// tan of the angle, the smaller root).
fn rotate(m: &mut [f64], v: &mut [f64], n: usize, p: usize, q: usize) {
    let apq = m[p * n + q];
    if apq == 0.0 {
        return;
    }
    let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
    let sign = if theta >= 0.0 { 1.0 } else { -1.0 };
    let t = sign / (theta.abs() + (theta * theta + 1.0).sqrt());
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    for k in 0..n {
        let (kp, kq) = (m[k * n + p], m[k * n + q]);
        m[k * n + p] = c * kp - s * kq;
        m[k * n + q] = s * kp + c * kq;
    }
    for k in 0..n {
        let (pk, qk) = (m[p * n + k], m[q * n + k]);
        m[p * n + k] = c * pk - s * qk;
        m[q * n + k] = s * pk + c * qk;
    }
    for k in 0..n {
        let (kp, kq) = (v[k * n + p], v[k * n + q]);
        v[k * n + p] = c * kp - s * kq;
        v[k * n + q] = s * kp + c * kq;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A = V Λ Vᵀ and VᵀV = I to rounding, for a matrix with a repeated and a zero eigenvalue.
    #[test]
    fn reconstructs_the_matrix_from_orthonormal_eigenvectors() {
        // A random-ish symmetric 5×5 built from known eigenpairs: Q Λ Qᵀ with Q a product of
        // two reflections (orthogonal), Λ = diag(7, 3, 3, 0, -2).
        let n = 5;
        let u = [0.3, -0.5, 0.2, 0.7, 0.1];
        let w = [0.6, 0.1, -0.4, 0.2, -0.65];
        let reflect = |x: &[f64]| {
            let norm2: f64 = x.iter().map(|v| v * v).sum();
            let mut h = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    h[i * n + j] = f64::from(u8::from(i == j)) - 2.0 * x[i] * x[j] / norm2;
                }
            }
            h
        };
        let mul = |a: &[f64], b: &[f64]| {
            let mut c = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    c[i * n + j] = (0..n).map(|k| a[i * n + k] * b[k * n + j]).sum();
                }
            }
            c
        };
        let q = mul(&reflect(&u), &reflect(&w));
        let lambda = [7.0, 3.0, 3.0, 0.0, -2.0];
        let mut ql = q.clone();
        for i in 0..n {
            for j in 0..n {
                ql[i * n + j] *= lambda[j];
            }
        }
        let mut qt = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                qt[i * n + j] = q[j * n + i];
            }
        }
        let a = mul(&ql, &qt);

        let pairs = symmetric_eigen(&a, n);
        let values: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        for (got, want) in values.iter().zip(lambda) {
            assert!((got - want).abs() < 1e-12, "{values:?}");
        }
        for (i, (li, vi)) in pairs.iter().enumerate() {
            // A v = λ v.
            for r in 0..n {
                let av: f64 = (0..n).map(|k| a[r * n + k] * vi[k]).sum();
                assert!((av - li * vi[r]).abs() < 1e-12);
            }
            for (j, (_, vj)) in pairs.iter().enumerate() {
                let dot: f64 = vi.iter().zip(vj).map(|(x, y)| x * y).sum();
                let want = f64::from(u8::from(i == j));
                assert!((dot - want).abs() < 1e-12, "v{i}·v{j} = {dot}");
            }
        }
    }

    #[test]
    fn diagonal_and_empty_matrices() {
        let pairs = symmetric_eigen(&[1.0, 0.0, 0.0, 4.0], 2);
        assert_eq!(pairs[0].0, 4.0);
        assert_eq!(pairs[0].1, vec![0.0, 1.0]);
        assert_eq!(pairs[1].0, 1.0);
        assert!(symmetric_eigen(&[], 0).is_empty());
    }
}
