//! Dense linear algebra too small for a crate: the eigen-decomposition of a small symmetric
//! matrix by cyclic Jacobi rotations, for Lanczos' tridiagonal matrices (spectral density) and a
//! trajectory's Gram matrix (PCA). O(m³) per sweep, accurate to rounding for every eigenvalue,
//! small ones included; m is tens.

/// Eigenvalues of a symmetric m×m matrix (row-major, destroyed) by cyclic Jacobi rotations, in the
/// order of the diagonal they end on, and the eigenvectors as the columns of a row-major m×m
/// matrix V (eigenvector k is V[·][k], of unit length).
pub(crate) fn jacobi_eigen(a: &mut [f64], m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; m * m];
    for i in 0..m {
        v[i * m + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..m)
            .flat_map(|i| (0..m).filter(move |j| *j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * m + j].powi(2))
            .sum();
        let scale: f64 = (0..m).map(|i| a[i * m + i].powi(2)).sum::<f64>() + off;
        if off <= 1e-30 * scale.max(1e-300) {
            break;
        }
        for p in 0..m {
            for q in p + 1..m {
                let apq = a[p * m + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * m + q] - a[p * m + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..m {
                    let (akp, akq) = (a[k * m + p], a[k * m + q]);
                    a[k * m + p] = c * akp - s * akq;
                    a[k * m + q] = s * akp + c * akq;
                }
                for k in 0..m {
                    let (apk, aqk) = (a[p * m + k], a[q * m + k]);
                    a[p * m + k] = c * apk - s * aqk;
                    a[q * m + k] = s * apk + c * aqk;
                }
                for k in 0..m {
                    let (vkp, vkq) = (v[k * m + p], v[k * m + q]);
                    v[k * m + p] = c * vkp - s * vkq;
                    v[k * m + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let values = (0..m).map(|i| a[i * m + i]).collect();
    (values, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eigenpairs, largest value first.
    fn sorted(a: &[f64], n: usize) -> Vec<(f64, Vec<f64>)> {
        let (values, v) = jacobi_eigen(&mut a.to_vec(), n);
        let mut pairs: Vec<(f64, Vec<f64>)> = values
            .iter()
            .enumerate()
            .map(|(k, value)| (*value, (0..n).map(|i| v[i * n + k]).collect()))
            .collect();
        pairs.sort_by(|x, y| y.0.total_cmp(&x.0));
        pairs
    }

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

        let pairs = sorted(&a, n);
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
        let pairs = sorted(&[1.0, 0.0, 0.0, 4.0], 2);
        assert_eq!(pairs[0].0, 4.0);
        assert_eq!(pairs[0].1, vec![0.0, 1.0]);
        assert_eq!(pairs[1].0, 1.0);
        assert!(jacobi_eigen(&mut [], 0).0.is_empty());
    }
}
