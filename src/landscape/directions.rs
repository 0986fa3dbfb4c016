//! Directions in parameter space (METHODS §4, Li et al. 2018): seeded Gaussian draws, filter /
//! layer normalisation, the zeroing of rank-1 tensors and position embeddings, the difference of
//! two checkpoints, and the safetensors form (timm names, PyTorch layout) other tools can read.
//!
//! A direction is a flat vector in the model's [`Layout`] order; the same seed and architecture
//! give the same raw draw for every model compared.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::DirectionError;
use crate::io::checkpoint::StateDict;
use crate::model::layout::Layout;
use crate::spec::Normalisation;

/// Added to a direction's norm before dividing, as in Li et al.
pub const NORM_EPS: f64 = 1e-10;

/// Which tensors a random direction moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// Move rank-1 tensors (biases, LayerNorm); default false: zeroed.
    pub include_rank1: bool,
    /// Move `pos_embed` / `decoder_pos_embed`; default false: zeroed.
    pub include_pos_embed: bool,
}

/// True for the fixed-position tensors zeroed by default.
pub fn is_pos_embed(name: &str) -> bool {
    name == "pos_embed" || name == "decoder_pos_embed"
}

/// A seeded standard-normal draw with every parameter's shape, in layout order.
///
/// `stream` separates independent directions from one seed (x uses 0, y uses 1).
pub fn gaussian(layout: &Layout, seed: u64, stream: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    (0..layout.total)
        .map(|_| {
            let v: f64 = StandardNormal.sample(&mut rng);
            v as f32
        })
        .collect()
}

fn norm(values: &[f32]) -> f64 {
    values
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
}

fn rescale(d: &mut [f32], w: &[f32]) {
    let factor = norm(w) / (norm(d) + NORM_EPS);
    for v in d.iter_mut() {
        *v = (f64::from(*v) * factor) as f32;
    }
}

/// Normalise a direction against the weights θ* and zero what the scope excludes.
///
/// - Filter: for tensors of rank ≥ 2, each slice along the PyTorch output axis (axis 0) is scaled
///   to the norm of the same slice of θ*: dᵢ ← dᵢ·‖wᵢ‖/(‖dᵢ‖ + 1e-10). `cls_token` and
///   `mask_token` (shape (1, 1, D)) are therefore one filter each.
/// - Layer: each tensor scaled to the norm of the weight tensor.
/// - None: left as drawn.
///
/// Rank-1 tensors are zeroed unless `scope.include_rank1`; then, as in Li et al.'s code, filter
/// normalisation sets them to the weights themselves (d = w) and layer normalisation rescales them.
pub fn normalise(d: &mut [f32], theta: &[f32], layout: &Layout, how: Normalisation, scope: Scope) {
    for (p, range) in layout.slots() {
        let (Some(dir), Some(w)) = (d.get_mut(range.clone()), theta.get(range)) else {
            continue;
        };
        let rank1 = p.shape.len() <= 1;
        if (is_pos_embed(&p.name) && !scope.include_pos_embed) || (rank1 && !scope.include_rank1) {
            dir.fill(0.0);
            continue;
        }
        match how {
            Normalisation::None => {}
            Normalisation::Layer => rescale(dir, w),
            Normalisation::Filter if rank1 => dir.copy_from_slice(w),
            Normalisation::Filter => {
                let rows = p.shape.first().copied().unwrap_or(1).max(1);
                let width = dir.len() / rows;
                for (drow, wrow) in dir.chunks_mut(width.max(1)).zip(w.chunks(width.max(1))) {
                    rescale(drow, wrow);
                }
            }
        }
    }
}

/// Cosine similarity of two directions (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    let denom = norm(a) * norm(b);
    if denom > 0.0 { dot / denom } else { 0.0 }
}

/// Euclidean norm of a direction.
pub fn l2_norm(values: &[f32]) -> f64 {
    norm(values)
}

/// θ_target − θ*, the direction of a 1-D interpolation (not normalised).
pub fn difference(target: &[f32], theta: &[f32]) -> Vec<f32> {
    target.iter().zip(theta).map(|(t, w)| t - w).collect()
}

/// A direction as a state dict: one tensor per parameter, timm names, PyTorch layout.
pub fn to_state_dict(layout: &Layout, d: &[f32], metadata: &[(&str, String)]) -> StateDict {
    let mut state = layout.unflatten(d);
    for (k, v) in metadata {
        state.metadata.insert((*k).to_string(), v.clone());
    }
    state
}

/// Read a direction back from a state dict, checking names and shapes against the layout.
pub fn from_state_dict(layout: &Layout, state: &StateDict) -> Result<Vec<f32>, DirectionError> {
    let mut flat = Vec::with_capacity(layout.total);
    for p in &layout.params {
        let t = state
            .tensors
            .get(&p.name)
            .ok_or_else(|| DirectionError::Missing(p.name.clone()))?;
        if t.shape != p.shape {
            return Err(DirectionError::Shape {
                name: p.name.clone(),
                found: t.shape.clone(),
                expected: p.shape.clone(),
            });
        }
        flat.extend_from_slice(&t.data);
    }
    let unexpected: Vec<String> = state
        .tensors
        .keys()
        .filter(|k| layout.range(k).is_none())
        .cloned()
        .collect();
    if !unexpected.is_empty() {
        return Err(DirectionError::Unexpected(unexpected));
    }
    if flat.iter().all(|v| *v == 0.0) {
        return Err(DirectionError::Unusable(
            "file".into(),
            "every value is zero, the sweep would be flat".into(),
        ));
    }
    Ok(flat)
}

/// What a direction file is, from the metadata vitscape writes into it: a Hessian
/// eigenvector (rank, λ), a principal component of a training run (its share of the run's
/// variance), or a sweep's own direction; "a direction file of N tensors" otherwise.
pub fn describe_file(state: &StateDict) -> String {
    let meta = |k: &str| state.metadata.get(k).map(String::as_str);
    let at = meta("checkpoint_sha256")
        .map(|s| {
            format!(
                ", made at checkpoint {}…",
                crate::io::checkpoint::short_hash(s)
            )
        })
        .unwrap_or_default();
    match meta("source") {
        Some("hessian-eigenvector") => format!(
            "Hessian eigenvector {} (λ = {}{}){at}",
            meta("rank").unwrap_or("?"),
            meta("eigenvalue").unwrap_or("?"),
            if meta("converged") == Some("false") {
                ", not converged"
            } else {
                ""
            }
        ),
        Some("trajectory-pca") => {
            let share = meta("explained_variance_ratio")
                .and_then(|v| v.parse::<f64>().ok())
                .map_or("?".into(), |v| format!("{:.1} %", v * 100.0));
            let members = crate::trajectory::axis_of(state, "x")
                .ok()
                .flatten()
                .map_or(0, |a| a.members.len());
            format!(
                "principal component {} of a training run of {members} checkpoints ({share} of its movement){at}",
                meta("component").unwrap_or("?"),
            )
        }
        _ if crate::connect::is_bend_file(state) => {
            "a Bézier curve's control point (from `vitscape connect` or the page), not a direction"
                .into()
        }
        _ => format!("a direction file of {} tensors{at}", state.tensors.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::arch::{Head, VitConfig};

    #[test]
    fn a_direction_file_says_what_it_is() {
        let layout = Layout::new(&tiny());
        let d = vec![1.0; layout.total];
        let eigen = to_state_dict(
            &layout,
            &d,
            &[
                ("source", "hessian-eigenvector".into()),
                ("rank", "2".into()),
                ("eigenvalue", "3.5e1".into()),
                ("converged", "true".into()),
                ("checkpoint_sha256", "0123456789abcdef".into()),
            ],
        );
        assert_eq!(
            describe_file(&eigen),
            "Hessian eigenvector 2 (λ = 3.5e1), made at checkpoint 0123456789ab…"
        );
        let plain = to_state_dict(&layout, &d, &[]);
        assert_eq!(
            describe_file(&plain),
            format!("a direction file of {} tensors", layout.params.len())
        );
        // Metadata from a hostile file: characters, not bytes, are cut.
        let odd = to_state_dict(
            &layout,
            &d,
            &[("checkpoint_sha256", "ééééééééééééé".into())],
        );
        assert!(describe_file(&odd).ends_with("made at checkpoint éééééééééééé…"));
    }

    fn tiny() -> VitConfig {
        VitConfig {
            mlp_hidden: 2,
            head: Some(Head::Linear { num_classes: 2 }),
            ..VitConfig::standard(4, 2, 1, 2, 1, 1)
        }
    }

    #[test]
    fn filter_normalisation_matches_hand_computation() {
        // Weights rows [3, 4] (norm 5) and [0, 2] (norm 2); direction rows [1, 0] and [0, -1].
        let layout = Layout::new(&tiny());
        let r = layout.range("head.weight").unwrap();
        let mut theta = vec![1.0_f32; layout.total];
        theta[r.clone()].copy_from_slice(&[3.0, 4.0, 0.0, 2.0]);
        let mut d = vec![1.0_f32; layout.total];
        d[r.clone()].copy_from_slice(&[1.0, 0.0, 0.0, -1.0]);
        let scope = Scope {
            include_rank1: false,
            include_pos_embed: false,
        };
        normalise(&mut d, &theta, &layout, Normalisation::Filter, scope);
        let got = &d[r];
        let expected = [5.0 / (1.0 + 1e-10), 0.0, 0.0, -2.0 / (1.0 + 1e-10)];
        for (g, e) in got.iter().zip(expected) {
            assert!((f64::from(*g) - e).abs() < 1e-6, "{got:?}");
        }
        // Rank-1 tensors and the position embedding are zeroed.
        assert!(
            d[layout.range("head.bias").unwrap()]
                .iter()
                .all(|v| *v == 0.0)
        );
        assert!(
            d[layout.range("pos_embed").unwrap()]
                .iter()
                .all(|v| *v == 0.0)
        );
        // cls_token (1, 1, 2) is one filter: scaled to ‖w‖ = sqrt(2) from ‖d‖ = sqrt(2).
        let cls = &d[layout.range("cls_token").unwrap()];
        assert!((cls[0] - 1.0).abs() < 1e-6 && (cls[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn layer_normalisation_scales_whole_tensor() {
        let layout = Layout::new(&tiny());
        let r = layout.range("head.weight").unwrap();
        let mut theta = vec![0.0_f32; layout.total];
        theta[r.clone()].copy_from_slice(&[3.0, 4.0, 0.0, 0.0]);
        let mut d = vec![0.0_f32; layout.total];
        d[r.clone()].copy_from_slice(&[0.0, 0.0, 0.0, 2.0]);
        let scope = Scope {
            include_rank1: true,
            include_pos_embed: true,
        };
        normalise(&mut d, &theta, &layout, Normalisation::Layer, scope);
        assert!((d[r.start + 3] - 5.0).abs() < 1e-6);
    }

    #[test]
    fn gaussian_is_seeded_and_streams_are_independent() {
        let layout = Layout::new(&tiny());
        let a = gaussian(&layout, 7, 0);
        assert_eq!(a, gaussian(&layout, 7, 0));
        let b = gaussian(&layout, 7, 1);
        assert_ne!(a, b);
        assert!(cosine(&a, &b).abs() < 0.5);
        let mean = a.iter().map(|v| f64::from(*v)).sum::<f64>() / a.len() as f64;
        assert!(mean.abs() < 0.5);
    }

    #[test]
    fn state_dict_round_trip_and_errors() {
        let layout = Layout::new(&tiny());
        let d = gaussian(&layout, 1, 0);
        let state = to_state_dict(&layout, &d, &[("seed", "1".into())]);
        assert_eq!(from_state_dict(&layout, &state).unwrap(), d);
        let mut missing = state.clone();
        missing.tensors.remove("head.weight");
        assert_eq!(
            from_state_dict(&layout, &missing).unwrap_err(),
            DirectionError::Missing("head.weight".into())
        );
        let mut extra = state.clone();
        let t = extra.tensors["head.bias"].clone();
        extra.tensors.insert("blocks.9.foo".into(), t);
        assert!(
            from_state_dict(&layout, &extra)
                .unwrap_err()
                .to_string()
                .contains("blocks.9.foo")
        );
    }
}
