//! The barrier along a path between two checkpoints (a linear interpolation or a Bézier curve):
//! how far the loss rises above, or the accuracy falls below, the straight line between its two
//! ends (Frankle et al. 2020's definition; Garipov et al. 2018 connect modes by making it ≈ 0).

use serde::{Deserialize, Serialize};

use crate::landscape::surface::{ACCURACY, LOSS, Surface};

/// A metric's barrier along a path, over the grid points with 0 ≤ t ≤ 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Barrier {
    /// The metric (`loss`, or `accuracy`).
    pub metric: String,
    /// For the loss: max over t of L(t) − ((1−t)·L(0) + t·L(1)); for the accuracy the largest
    /// drop below the line, max over t of ((1−t)·A(0) + t·A(1)) − A(t). Units of the metric;
    /// 0 when the path never leaves the line's bad side.
    pub height: f64,
    /// Where the barrier is highest (t of the grid point).
    pub t: f64,
    /// The metric at the two ends, t = 0 and t = 1.
    pub ends: [f64; 2],
    /// The metric's worst value on the path (the loss's maximum, the accuracy's minimum).
    pub worst: f64,
    /// Grid points between the ends, both included.
    pub points: usize,
}

/// Why a path's barrier cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BarrierError {
    /// Not a 1-D path between two checkpoints.
    #[error("a barrier belongs to a path between two checkpoints (1-D, --interpolate)")]
    NotAPath,
    /// The grid misses an end.
    #[error("the grid must hold t = 0 and t = 1 exactly (e.g. --grid 0:1:21 or -0.5:1.5:41)")]
    Ends,
    /// A point between the ends is not computed or not finite.
    #[error("`{metric}` is not computed (or not finite) at t = {t}")]
    Missing {
        /// The metric.
        metric: String,
        /// The grid point.
        t: f64,
    },
}

/// The loss's barrier and, when the surface has it, the accuracy's.
pub fn of_path(surface: &Surface) -> Result<Vec<Barrier>, BarrierError> {
    let mut out = vec![barrier(surface, LOSS)?];
    if surface.metrics.contains_key(ACCURACY) {
        out.push(barrier(surface, ACCURACY)?);
    }
    Ok(out)
}

/// One metric's barrier along the path the surface samples.
pub fn barrier(surface: &Surface, metric: &str) -> Result<Barrier, BarrierError> {
    if !surface.is_1d() || surface.spec.directions.source.path_target().is_none() {
        return Err(BarrierError::NotAPath);
    }
    let row = surface
        .metrics
        .get(metric)
        .and_then(|grid| grid.first())
        .ok_or(BarrierError::Missing {
            metric: metric.to_string(),
            t: 0.0,
        })?;
    let value = |ix: usize| {
        row.get(ix)
            .copied()
            .flatten()
            .filter(|v| v.is_finite())
            .ok_or_else(|| BarrierError::Missing {
                metric: metric.to_string(),
                t: surface.x[ix],
            })
    };
    let exactly = |target: f64| surface.x.iter().position(|t| (t - target).abs() < 1e-9);
    let (start, end) = exactly(0.0).zip(exactly(1.0)).ok_or(BarrierError::Ends)?;
    let ends = [value(start)?, value(end)?];
    // The loss is bad when high; the accuracy when low.
    let sign = if metric == ACCURACY { -1.0 } else { 1.0 };
    let mut best = Barrier {
        metric: metric.to_string(),
        height: 0.0,
        t: 0.0,
        ends,
        worst: ends[0],
        points: 0,
    };
    for ix in start..=end {
        let t = surface.x[ix];
        let v = value(ix)?;
        let line = (1.0 - t) * ends[0] + t * ends[1];
        let above = sign * (v - line);
        if above > best.height {
            best.height = above;
            best.t = t;
        }
        if sign * (v - best.worst) > 0.0 {
            best.worst = v;
        }
        best.points += 1;
    }
    Ok(best)
}

/// The barriers in words, one line each.
pub fn describe(barriers: &[Barrier]) -> String {
    barriers
        .iter()
        .map(|b| {
            let (what, worst) = if b.metric == ACCURACY {
                ("drops below", "lowest")
            } else {
                ("rises above", "highest")
            };
            format!(
                "{} barrier {:.4} at t = {}: {what} the line between the ends ({:.4}, {:.4}); {worst} {:.4} over {} points",
                b.metric,
                b.height,
                (b.t * 1e6).round() / 1e6,
                b.ends[0],
                b.ends[1],
                b.worst,
                b.points
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Axis, DirectionSource, placeholder};

    /// A path over `axis` whose loss and accuracy are given functions of t.
    fn path(axis: Axis, loss: impl Fn(f64) -> f64, accuracy: impl Fn(f64) -> f64) -> Surface {
        let mut spec = placeholder(axis, None);
        spec.directions.source = DirectionSource::Interpolate {
            target: spec.checkpoint.clone(),
        };
        let mut s = Surface::empty(spec, &[LOSS, ACCURACY]);
        let xs = s.x.clone();
        s.metrics.insert(
            LOSS.into(),
            vec![xs.iter().map(|t| Some(loss(*t))).collect()],
        );
        s.metrics.insert(
            ACCURACY.into(),
            vec![xs.iter().map(|t| Some(accuracy(*t))).collect()],
        );
        s
    }

    #[test]
    fn a_bump_over_a_sloped_line_is_measured_from_the_line_not_the_ends() {
        // L(t) = 1 + t + 4t(1−t): the line from 1 to 2 plus a bump of height 1 at t = 1/2. The
        // accuracy 0.9 − 0.2·t(1−t)·4 drops 0.2 below its flat line at the same place. Points
        // outside [0, 1] (the grid runs −0.5..1.5) do not count, however high.
        let axis = Axis {
            min: -0.5,
            max: 1.5,
            n: 41,
        };
        let s = path(
            axis,
            |t| 1.0 + t + 4.0 * t * (1.0 - t),
            |t| 0.9 - 0.8 * t * (1.0 - t),
        );
        let b = of_path(&s).unwrap();
        assert_eq!(b.len(), 2);
        let (loss, acc) = (&b[0], &b[1]);
        assert!((loss.height - 1.0).abs() < 1e-12, "{loss:?}");
        assert!((loss.t - 0.5).abs() < 1e-12);
        assert_eq!(loss.ends, [1.0, 2.0]);
        assert_eq!(loss.points, 21);
        // The worst loss is where 1 + 5t − 4t² peaks: t = 5/8 lies between the grid points 0.6
        // and 0.65 (steps of 0.05), which both give 2.56.
        assert!((loss.worst - 2.56).abs() < 1e-9, "{loss:?}");
        assert!((acc.height - 0.2).abs() < 1e-12, "{acc:?}");
        assert!((acc.worst - 0.7).abs() < 1e-12);
    }

    #[test]
    fn a_path_below_its_line_has_no_barrier() {
        let axis = Axis {
            min: 0.0,
            max: 1.0,
            n: 11,
        };
        let s = path(axis, |t| 1.0 - t * (1.0 - t), |_| 0.5);
        let b = barrier(&s, LOSS).unwrap();
        assert_eq!(b.height, 0.0);
        assert_eq!(b.worst, 1.0);
    }

    #[test]
    fn what_cannot_be_measured_is_named() {
        let off = Axis {
            min: 0.1,
            max: 1.0,
            n: 10,
        };
        assert_eq!(
            barrier(&path(off, |t| t, |t| t), LOSS),
            Err(BarrierError::Ends)
        );
        let axis = Axis {
            min: 0.0,
            max: 1.0,
            n: 5,
        };
        let mut s = path(axis, |t| t, |t| t);
        s.metrics.get_mut(LOSS).unwrap()[0][2] = None;
        let err = barrier(&s, LOSS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`loss` is not computed (or not finite) at t = 0.5"
        );
        s.spec.directions.source = DirectionSource::Random { seed: 0 };
        assert_eq!(barrier(&s, LOSS), Err(BarrierError::NotAPath));
    }
}
