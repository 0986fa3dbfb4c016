//! Small dense linear algebra on `nalgebra` (pure Rust, builds for wasm32): the eigen-decomposition
//! of a small symmetric matrix — Lanczos' tridiagonal matrices (spectral density, convexity
//! extremes) and a trajectory's Gram matrix (PCA) — and least squares for the surface summaries'
//! quadratic fit. m is tens; the callers keep their flat row-major layout.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// Eigenvalues of a symmetric m×m matrix (row-major), in no particular order, and the
/// eigenvectors as the columns of a row-major m×m matrix V (eigenvector k is V[·][k], of unit
/// length). Only the lower triangle is read.
pub(crate) fn symmetric_eigen(a: &[f64], m: usize) -> (Vec<f64>, Vec<f64>) {
    if m == 0 {
        return (Vec::new(), Vec::new());
    }
    let eigen = SymmetricEigen::new(DMatrix::from_row_slice(m, m, a));
    let vectors = eigen.eigenvectors;
    let v = (0..m)
        .flat_map(|i| (0..m).map(move |k| (i, k)))
        .map(|(i, k)| vectors[(i, k)])
        .collect();
    (eigen.eigenvalues.iter().copied().collect(), v)
}

/// [`symmetric_eigen`] of the symmetric tridiagonal matrix with diagonal `alphas` and
/// off-diagonal `betas` (`betas.len() + 1 ≥ alphas.len()`; extra betas are ignored): the Lanczos
/// matrix of the spectral density and of the convexity extremes.
pub(crate) fn tridiagonal_eigen(alphas: &[f64], betas: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let m = alphas.len();
    let mut t = vec![0.0; m * m];
    for i in 0..m {
        t[i * m + i] = alphas[i];
        if i + 1 < m {
            t[i * m + i + 1] = betas[i];
            t[(i + 1) * m + i] = betas[i];
        }
    }
    symmetric_eigen(&t, m)
}

/// The eigenpairs of a symmetric n×n matrix (row-major), largest eigenvalue first, each
/// eigenvector as a vector of unit length.
pub(crate) fn eigenpairs_descending(a: &[f64], n: usize) -> Vec<(f64, Vec<f64>)> {
    let (values, v) = symmetric_eigen(a, n);
    let mut pairs: Vec<(f64, Vec<f64>)> = values
        .iter()
        .enumerate()
        .map(|(k, value)| (*value, (0..n).map(|i| v[i * n + k]).collect()))
        .collect();
    pairs.sort_by(|x, y| y.0.total_cmp(&x.0));
    pairs
}

/// The least-squares solution of `rows` (features, value) by the SVD (the minimum-norm
/// solution: a feature the rows cannot tell apart gets no weight).
pub(crate) fn least_squares(rows: &[(Vec<f64>, f64)]) -> Vec<f64> {
    let k = rows.first().map_or(0, |r| r.0.len());
    if k == 0 {
        return Vec::new();
    }
    let a =
        DMatrix::from_row_iterator(rows.len(), k, rows.iter().flat_map(|r| r.0.iter().copied()));
    let b = DVector::from_iterator(rows.len(), rows.iter().map(|r| r.1));
    let svd = a.svd(true, true);
    let tolerance = svd.singular_values.max() * f64::EPSILON * rows.len().max(k) as f64;
    svd.solve(&b, tolerance)
        .map(|x| x.iter().copied().collect())
        .unwrap_or_else(|_| vec![0.0; k])
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

        let pairs = eigenpairs_descending(&a, n);
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
        let pairs = eigenpairs_descending(&[1.0, 0.0, 0.0, 4.0], 2);
        assert_eq!(pairs[0].0, 4.0);
        assert_eq!(pairs[0].1, vec![0.0, 1.0]);
        assert_eq!(pairs[1].0, 1.0);
        assert!(symmetric_eigen(&[], 0).0.is_empty());
    }

    /// A quadratic recovered exactly; a feature that repeats another shares its weight.
    #[test]
    fn least_squares_fits_a_quadratic() {
        let rows: Vec<(Vec<f64>, f64)> = (0..7)
            .map(|i| {
                let x = f64::from(i) - 3.0;
                (vec![1.0, x, x * x], 2.0 - 0.5 * x + 0.25 * x * x)
            })
            .collect();
        let c = least_squares(&rows);
        for (got, want) in c.iter().zip([2.0, -0.5, 0.25]) {
            assert!((got - want).abs() < 1e-12, "{c:?}");
        }
        let twice: Vec<(Vec<f64>, f64)> = (0..5)
            .map(|i| (vec![1.0, f64::from(i), f64::from(i)], 3.0 * f64::from(i)))
            .collect();
        let c = least_squares(&twice);
        assert!(
            c[0].abs() < 1e-12 && (c[1] - 1.5).abs() < 1e-12 && (c[2] - 1.5).abs() < 1e-12,
            "{c:?}"
        );
        assert!(least_squares(&[]).is_empty());
    }
}
