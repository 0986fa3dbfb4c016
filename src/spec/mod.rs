//! `SweepSpec`: the one description of a landscape run. CLI flags build it, worker messages and
//! permalinks carry it, and every output file embeds it. Configuration never lives in file names.

use serde::{Deserialize, Serialize};

use crate::error::SpecError;

mod command;
pub mod describe;
pub mod permalink;
#[cfg(test)]
mod placeholder;
#[cfg(test)]
pub(crate) use placeholder::placeholder;
mod read;
mod settings;

pub use command::{cli_command, shell_quote, spec_flags};
pub use read::{Labelled, read_specs, select};
pub use settings::{Inputs, LossChoice, Settings};

/// Version of the serialised spec; bump when a field changes meaning.
pub const SPEC_VERSION: u32 = 1;

/// Everything that determines a landscape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SweepSpec {
    /// Serialisation version ([`SPEC_VERSION`]).
    pub version: u32,
    /// The model whose landscape is drawn (the centre θ*).
    pub checkpoint: CheckpointRef,
    /// Evaluation data.
    pub data: DataSpec,
    /// The objective evaluated at every cell.
    pub loss: LossSpec,
    /// Which parameters move, and along what.
    pub directions: DirectionSpec,
    /// Grid of (α, β).
    pub grid: GridSpec,
    /// Images per forward pass (affects speed only, not the numbers beyond float rounding).
    pub batch_size: usize,
}

/// A checkpoint identified by content, so a surface can be matched to a file later.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckpointRef {
    /// File name as the user gave it (informational).
    pub name: String,
    /// Hex sha256 of the file bytes.
    pub sha256: String,
    /// For files holding `student.*` and `teacher.*`: which one (default teacher).
    pub branch: Option<Branch>,
    /// Attention heads of the encoder (not inferable from shapes).
    pub num_heads: usize,
    /// Attention heads of the MAE decoder, when there is one.
    pub decoder_num_heads: Option<usize>,
    /// True when neither the user nor the file gave the head counts and timm's convention
    /// (encoder head dim 64, decoder 32) was assumed. Absent (false) otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub heads_assumed: bool,
}

/// Which half of an RC-MAE training file.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum Branch {
    /// The online network (keys `student.*`).
    Student,
    /// The EMA network (keys `teacher.*`), what downstream work uses.
    Teacher,
}

/// Evaluation data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataSpec {
    /// Where the images come from.
    pub source: DataSource,
    /// Number of images evaluated at every cell.
    pub eval_images: usize,
    /// Seed of the deterministic subset (a seeded permutation; its first `eval_images`).
    pub subset_seed: u64,
    /// Per-channel normalisation mean (after scaling pixels to [0, 1]).
    pub mean: Vec<f32>,
    /// Per-channel normalisation standard deviation.
    pub std: Vec<f32>,
    /// Where `mean`/`std` came from when they were not given as numbers: a preset's name
    /// (`imagenet`), with "(assumed …)" when it was the default for the model's channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_std: Option<String>,
    /// Resize and centre crop applied to image files before normalisation (none: every image
    /// must already have the model's input size).
    #[serde(default, skip_serializing_if = "crate::io::data::Preprocess::is_none")]
    pub preprocess: crate::io::data::Preprocess,
}

/// Data sources.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DataSource {
    /// Fashion-MNIST IDX `.gz` files in `dir` (default: the Debian package's location).
    FashionMnist {
        /// Directory holding `{t10k,train}-{images-idx3,labels-idx1}-ubyte.gz`.
        dir: String,
        /// `test` or `train`.
        split: Split,
    },
    /// A folder of images: one sub-folder per class (labelled) or images directly (unlabelled).
    ImageFolder {
        /// Root directory.
        dir: String,
    },
    /// Images supplied in memory (the browser's embedded demo subset or an upload), identified by hash.
    Embedded {
        /// What it is, for people.
        name: String,
        /// sha256 of the raw bytes.
        sha256: String,
    },
}

/// Fashion-MNIST split.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum Split {
    /// 60 000 training images.
    Train,
    /// 10 000 test images.
    Test,
}

/// The objective.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LossSpec {
    /// Mean cross-entropy (+ top-1 accuracy).
    Classification,
    /// MAE masked reconstruction.
    Mae(MaskSpec),
    /// MAE reconstruction + γ·consistency with a fixed teacher.
    RcMae {
        /// The masks (shared by student and teacher).
        #[serde(flatten)]
        mask: MaskSpec,
        /// The fixed teacher network.
        teacher: CheckpointRef,
        /// Weight of the consistency term (default 1).
        gamma: f32,
    },
}

/// Masking for reconstruction losses (METHODS §3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MaskSpec {
    /// Fraction of patches removed (default 0.75).
    pub mask_ratio: f64,
    /// Normalise each target patch by its mean and unbiased variance (default true).
    pub norm_pix_loss: bool,
    /// Seed of the per-image mask noise; one fixed mask per image for the whole sweep.
    pub mask_seed: u64,
}

/// Where the two directions come from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DirectionSpec {
    /// The source of the direction tensors.
    pub source: DirectionSource,
    /// Rescaling applied to random directions.
    pub normalisation: Normalisation,
    /// Perturb rank-1 tensors (biases, LayerNorm) too; default false (they are zeroed).
    pub include_rank1: bool,
    /// Perturb `pos_embed` / `decoder_pos_embed` too; default false (zeroed).
    pub include_pos_embed: bool,
}

/// Direction sources.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DirectionSource {
    /// Seeded Gaussian; the y direction uses a generator derived from the same seed.
    Random {
        /// Seed of the generator.
        seed: u64,
    },
    /// Directions read from safetensors files (keyed by parameter name, PyTorch layout).
    Files {
        /// x direction file (name and sha256).
        x: FileRef,
        /// y direction file, for 2-D sweeps.
        y: Option<FileRef>,
    },
    /// x from a file used as it is (e.g. the top Hessian eigenvector), y seeded Gaussian and
    /// normalised as `normalisation` says: the same y as [`DirectionSource::Random`] with this
    /// seed (2-D only).
    FileAndRandom {
        /// x direction file (name and sha256).
        x: FileRef,
        /// Seed of y's generator.
        seed: u64,
    },
    /// d = θ_target − θ* (1-D interpolation; not normalised).
    Interpolate {
        /// The other end of the line.
        target: CheckpointRef,
    },
    /// Garipov et al.'s quadratic Bézier curve from θ* to `target` bent through the control point
    /// `bend` (trained by `vitscape connect`): θ(t) = (1−t)²θ* + 2t(1−t)θ_bend + t²θ_target,
    /// with t the grid's α (1-D; t = 0 is θ*, t = 1 the target; not normalised).
    Bezier {
        /// The other end of the curve.
        target: CheckpointRef,
        /// The control point: every parameter of the model, as a safetensors file.
        bend: FileRef,
    },
}

impl DirectionSource {
    /// Directions from one or two files: both axes from files, or on a plane with one file its
    /// x and the seeded random y (`seed`); a 1-D sweep uses x alone.
    pub fn of_files(x: FileRef, y: Option<FileRef>, seed: u64, two_d: bool) -> Self {
        match y {
            Some(y) if two_d => Self::Files { x, y: Some(y) },
            None if two_d => Self::FileAndRandom { x, seed },
            _ => Self::Files { x, y: None },
        }
    }

    /// The other end of a path between two checkpoints (linear or Bézier).
    pub fn path_target(&self) -> Option<&CheckpointRef> {
        match self {
            Self::Interpolate { target } | Self::Bezier { target, .. } => Some(target),
            Self::Random { .. } | Self::Files { .. } | Self::FileAndRandom { .. } => None,
        }
    }
}

/// A file identified by name and content hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileRef {
    /// Path or name as given.
    pub name: String,
    /// Hex sha256 of its bytes.
    pub sha256: String,
}

impl FileRef {
    /// A reference to `bytes` under `name`, hashing them.
    pub fn of_bytes(name: impl Into<String>, bytes: &[u8]) -> Self {
        Self {
            name: name.into(),
            sha256: crate::io::checkpoint::sha256_hex(bytes),
        }
    }
}

/// Direction normalisation (Li et al. 2018).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum Normalisation {
    /// Each output filter rescaled to the norm of the same filter of the weights.
    Filter,
    /// Each tensor rescaled to the norm of the weight tensor.
    Layer,
    /// Raw direction.
    None,
}

/// The (α, β) grid. `y = None` is a 1-D sweep.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GridSpec {
    /// α axis (columns).
    pub x: Axis,
    /// β axis (rows), absent for 1-D.
    pub y: Option<Axis>,
}

/// An evenly spaced axis `min..=max` with `n` points.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Axis {
    /// First value.
    pub min: f64,
    /// Last value.
    pub max: f64,
    /// Number of points (≥ 1; 1 means just `min`).
    pub n: usize,
}

impl Axis {
    /// The axis values, `min` and `max` included. A value within rounding of zero (e.g.
    /// `-0.5 + 2·0.25` evaluating to `-5.55e-17`) is exactly 0, so the centre cell is θ* itself.
    pub fn values(&self) -> Vec<f64> {
        if self.n <= 1 {
            return vec![self.min];
        }
        let step = (self.max - self.min) / (self.n - 1) as f64;
        let tiny = 1e-12 * (self.max - self.min).abs();
        (0..self.n)
            .map(|i| self.min + step * i as f64)
            .map(|v| if v.abs() <= tiny { 0.0 } else { v })
            .collect()
    }

    /// Parse `min:max:n` (e.g. `-1:1:41`).
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let parts: Vec<&str> = text.split(':').collect();
        let bad = || SpecError::Axis {
            text: text.to_string(),
            reason: "expected MIN:MAX:N, e.g. -1:1:41".into(),
        };
        if parts.len() != 3 {
            return Err(bad());
        }
        let min: f64 = parts[0].trim().parse().map_err(|_| bad())?;
        let max: f64 = parts[1].trim().parse().map_err(|_| bad())?;
        let n: usize = parts[2].trim().parse().map_err(|_| bad())?;
        let axis = Self { min, max, n };
        axis.validate().map_err(|reason| SpecError::Axis {
            text: text.to_string(),
            reason,
        })?;
        Ok(axis)
    }

    /// Check the axis is usable.
    pub fn validate(&self) -> Result<(), String> {
        if !self.min.is_finite() || !self.max.is_finite() {
            return Err("bounds must be finite numbers".into());
        }
        if self.n == 0 {
            return Err("needs at least one point".into());
        }
        if self.n > 4096 {
            return Err(format!(
                "{} points is more than the 4096 allowed per axis",
                self.n
            ));
        }
        if self.n > 1 && self.max <= self.min {
            return Err(format!(
                "max {} must be greater than min {}",
                self.max, self.min
            ));
        }
        Ok(())
    }
}

impl SweepSpec {
    /// Check the whole spec for values that cannot work, naming the offending one.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.version != SPEC_VERSION {
            return Err(SpecError::Version {
                found: self.version,
                supported: SPEC_VERSION,
            });
        }
        self.grid.x.validate().map_err(|reason| SpecError::Field {
            field: "grid.x".into(),
            reason,
        })?;
        if let Some(y) = &self.grid.y {
            y.validate().map_err(|reason| SpecError::Field {
                field: "grid.y".into(),
                reason,
            })?;
        }
        if self.batch_size == 0 {
            return Err(SpecError::Field {
                field: "batch_size".into(),
                reason: "must be at least 1".into(),
            });
        }
        if self.data.eval_images == 0 {
            return Err(SpecError::Field {
                field: "data.eval_images".into(),
                reason: "must be at least 1".into(),
            });
        }
        if self.data.mean.len() != self.data.std.len() || self.data.mean.is_empty() {
            return Err(SpecError::Field {
                field: "data.mean/std".into(),
                reason: format!(
                    "need one value per channel and the same count ({} means, {} stds)",
                    self.data.mean.len(),
                    self.data.std.len()
                ),
            });
        }
        if let Some(s) = self.data.std.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
            return Err(SpecError::Field {
                field: "data.std".into(),
                reason: format!("{s} is not a positive number"),
            });
        }
        let mask = match &self.loss {
            LossSpec::Classification => None,
            LossSpec::Mae(m) => Some(m),
            LossSpec::RcMae { mask, gamma, .. } => {
                if !gamma.is_finite() {
                    return Err(SpecError::Field {
                        field: "loss.gamma".into(),
                        reason: "must be finite".into(),
                    });
                }
                Some(mask)
            }
        };
        if let Some(m) = mask
            && !(m.mask_ratio > 0.0 && m.mask_ratio < 1.0)
        {
            return Err(SpecError::Field {
                field: "loss.mask_ratio".into(),
                reason: format!("{} is not in (0, 1)", m.mask_ratio),
            });
        }
        if let DirectionSource::FileAndRandom { .. } = self.directions.source
            && self.grid.y.is_none()
        {
            return Err(SpecError::Field {
                field: "grid.y".into(),
                reason: "a file direction with a random second one is a 2-D sweep".into(),
            });
        }
        if self.directions.source.path_target().is_some() && self.grid.y.is_some() {
            return Err(SpecError::Field {
                field: "grid.y".into(),
                reason: "a path between two checkpoints is a 1-D sweep".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_values_include_both_ends_and_may_start_at_zero() {
        let axis = Axis::parse("0:1:5").unwrap();
        assert_eq!(axis.values(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(
            Axis::parse("-1:1:3").unwrap().values(),
            vec![-1.0, 0.0, 1.0]
        );
        assert_eq!(Axis::parse("0.5:0.5:1").unwrap().values(), vec![0.5]);
    }

    #[test]
    fn bad_axes_are_named() {
        for text in ["1:0:5", "a:1:3", "0:1", "0:1:0", "0:inf:3"] {
            let err = Axis::parse(text).unwrap_err().to_string();
            assert!(err.contains(text), "{err}");
        }
    }
}
