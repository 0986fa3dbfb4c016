//! What a run computes, and one worker's share of it in a pool.

use super::*;

impl Task {
    /// Whether a pool hands out whole panels for this task (the eigenvalues and eigenvectors at
    /// θ*), rather than cells or rows of every panel.
    pub fn by_whole_panels(self) -> bool {
        matches!(
            self,
            Task::TopEigenvalue { .. } | Task::HessianPlane { .. } | Task::TrainBend { .. }
        )
    }

    /// Whether the task's settings are in range.
    pub(super) fn check(&self) -> Result<(), String> {
        let power = |s: &crate::curvature::PowerSettings| {
            if !(1..=MAX_ITERATIONS).contains(&s.max_iterations) {
                Err(format!(
                    "max_iterations is {}; it must be 1 to {MAX_ITERATIONS}",
                    s.max_iterations
                ))
            } else if !(s.tolerance.is_finite() && s.tolerance >= 0.0) {
                Err(format!("tolerance {} is not a number ≥ 0", s.tolerance))
            } else {
                Ok(())
            }
        };
        match self {
            Task::Sweep => Ok(()),
            Task::TopEigenvalue {
                settings,
                trace_samples,
                spectrum_batch,
                ..
            } => {
                power(settings)?;
                if *trace_samples > MAX_ITERATIONS || *spectrum_batch > MAX_ITERATIONS {
                    return Err(format!(
                        "trace_samples and spectrum_batch must be at most {MAX_ITERATIONS}"
                    ));
                }
                Ok(())
            }
            Task::HessianPlane { settings, .. } => {
                power(settings)?;
                if !(1..=2).contains(&settings.k) {
                    return Err(format!(
                        "a Hessian plane takes the top 1 or 2 eigenvectors, not {}",
                        settings.k
                    ));
                }
                Ok(())
            }
            Task::TrainBend {
                config,
                train_batch,
            } => {
                if !(1..=MAX_ITERATIONS).contains(&config.steps) {
                    return Err(format!(
                        "a control point of {} steps; it must be 1 to {MAX_ITERATIONS}",
                        config.steps
                    ));
                }
                if !(config.lr.is_finite() && config.lr > 0.0 && config.lr <= 1.0) {
                    return Err(format!(
                        "learning rate {}: it must be above 0 and at most 1",
                        config.lr
                    ));
                }
                let beta = |b: f64| (0.0..1.0).contains(&b);
                if !(beta(config.beta1) && beta(config.beta2)) {
                    return Err(format!(
                        "Adam's β ({}, {}) must be in [0, 1)",
                        config.beta1, config.beta2
                    ));
                }
                if !(1..=MAX_BEND_BATCH).contains(train_batch) {
                    return Err(format!(
                        "{train_batch} images per step; it must be 1 to {MAX_BEND_BATCH}"
                    ));
                }
                Ok(())
            }
            Task::ConvexityMap {
                settings, points, ..
            } => {
                power(settings)?;
                if !(1..=MAX_CONVEXITY_POINTS).contains(points) {
                    return Err(format!(
                        "a convexity map of {points} points per axis; it must be 1 to {MAX_CONVEXITY_POINTS}"
                    ));
                }
                Ok(())
            }
        }
    }
}

/// One worker's share of a sweep split over a pool: the chunks of [`schedule`] whose position
/// modulo `count` is `index`. Every worker prepares every panel (the same spec gives the same
/// directions, masks and images), so the shares add up to the one sweep.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Share {
    /// This worker's place in the pool, from 0.
    pub index: usize,
    /// Workers in the pool.
    pub count: usize,
}

impl Default for Share {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl Share {
    /// This share's part of `plan` (every chunk when `count` ≤ 1).
    pub fn of<T>(self, plan: Vec<T>) -> Vec<T> {
        plan.into_iter()
            .enumerate()
            .filter(|(j, _)| self.takes(*j))
            .map(|(_, chunk)| chunk)
            .collect()
    }

    /// Whether item `j` of a list handed round the pool is this worker's: a sweep's chunks, or
    /// the panels of a task that hands out whole panels ([`Task::by_whole_panels`]).
    pub fn takes(self, j: usize) -> bool {
        j % self.count.max(1) == self.index
    }

    /// This worker's rows of a convexity map, as the shard by rows the library's map computes
    /// ([`crate::landscape::sweep::Shard`]; `None` for a pool of one). The rows of all panels go round the
    /// pool as one list, so that the workers get equal numbers however many rows a panel has:
    /// `rows_before` is the rows of the panels ahead of this one.
    pub fn convexity_rows(
        self,
        rows_before: usize,
    ) -> Result<Option<crate::landscape::sweep::Shard>, crate::error::SpecError> {
        let count = self.count.max(1);
        if count == 1 {
            return Ok(None);
        }
        // Row iy of this panel is row `rows_before + iy` of the list, the worker's when that is
        // `index` mod `count`: iy ≡ index − rows_before.
        let index = (self.index + count - rows_before % count) % count;
        Ok(Some(
            crate::landscape::sweep::Shard::new(index, count)?.by_rows(),
        ))
    }
}

/// What a run computes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Task {
    /// Every cell of each panel's grid.
    #[default]
    Sweep,
    /// The dominant Hessian eigenvalue of each panel's loss at θ* (power iteration on
    /// Hessian-vector products formed by `product`, as `vitscape curvature --parts top`).
    TopEigenvalue {
        /// Power-iteration settings (k is 1).
        settings: crate::curvature::PowerSettings,
        /// How the Hessian-vector products are formed (absent: the default scheme).
        #[serde(default)]
        product: crate::curvature::ProductScheme,
        /// Rademacher samples of Hutchinson's trace after the eigenvalue (0 = none), seeded
        /// with `settings.seed` as `vitscape curvature --parts trace --curvature-seed`.
        #[serde(default)]
        trace_samples: usize,
        /// Images per mini-batch of the max-eigenvalue spectrum (0 = none): the top eigenvalue
        /// of each mini-batch's loss, as `vitscape curvature --parts spectrum`.
        #[serde(default)]
        spectrum_batch: usize,
    },
    /// Li et al.'s convexity map: |λmin/λmax| on a coarse `points`×`points` grid over each
    /// panel's plane (λmax, then λmin from the shifted operator), as `vitscape curvature --parts
    /// convexity --convexity-grid points`.
    ConvexityMap {
        /// Power-iteration settings of both iterations per cell.
        settings: crate::curvature::PowerSettings,
        /// How the Hessian-vector products are formed (absent: the default scheme).
        #[serde(default)]
        product: crate::curvature::ProductScheme,
        /// Points per axis.
        points: usize,
    },
    /// The top `settings.k` (1 or 2) Hessian eigenvectors at each panel's θ*, sent back as
    /// direction files ([`FromWorker::Eigenvectors`]) for the page to sweep their plane, as
    /// `vitscape curvature --top-k K --save-eigenvectors`.
    HessianPlane {
        /// Power-iteration settings (k: how many eigenvectors).
        settings: crate::curvature::PowerSettings,
        /// How the Hessian-vector products are formed (absent: the default scheme).
        #[serde(default)]
        product: crate::curvature::ProductScheme,
    },
    /// The control point of a quadratic Bézier curve along each path panel (a straight line
    /// between two checkpoints), trained on the panel's images in mini-batches of
    /// `train_batch` ([`crate::connect::train_bend`], as `vitscape connect --train-on eval`);
    /// progress in [`FromWorker::BendProgress`], the file in [`FromWorker::Bend`].
    TrainBend {
        /// Adam steps, learning rate, seed of the t draws.
        config: crate::connect::BendConfig,
        /// Images per step.
        train_batch: usize,
    },
}
