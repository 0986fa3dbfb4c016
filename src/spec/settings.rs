//! The one way to a [`SweepSpec`]: the settings every front end shares (the page's form, the CLI's
//! flags, the demo verdict) plus the files and data of one panel. The CLI flags fill a
//! [`Settings`] and call [`Settings::spec`], exactly as the page does.

use serde::{Deserialize, Serialize};

use super::{
    Axis, CheckpointRef, DataSpec, DirectionSource, DirectionSpec, GridSpec, LossSpec, MaskSpec,
    Normalisation, SPEC_VERSION, SweepSpec,
};
use crate::error::SpecError;

/// Which objective a panel evaluates.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum LossChoice {
    /// Mean cross-entropy and accuracy.
    Classification,
    /// MAE masked reconstruction.
    Mae,
    /// RC-MAE: reconstruction + γ·consistency with the file's teacher branch.
    Rcmae,
}

/// The files and data of one panel, which the settings do not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    /// The centre checkpoint.
    pub checkpoint: CheckpointRef,
    /// The objective.
    pub loss: LossChoice,
    /// The RC-MAE teacher (required for [`LossChoice::Rcmae`], ignored otherwise).
    pub teacher: Option<CheckpointRef>,
    /// Where the images come from, their subset and normalisation (`eval_images` is the
    /// settings').
    pub data: DataSpec,
    /// Directions from files or towards a checkpoint; `None` = seeded random directions
    /// ([`Settings::seed`]).
    pub directions: Option<DirectionSource>,
}

/// Everything the settings panel sets (the page's form, the defaults of a run).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    /// α axis.
    pub x: Axis,
    /// β axis; `None` = 1-D.
    pub y: Option<Axis>,
    /// Direction seed.
    pub seed: u64,
    /// Direction normalisation.
    pub normalisation: Normalisation,
    /// Perturb biases and LayerNorm too.
    pub include_rank1: bool,
    /// Perturb position embeddings too.
    pub include_pos_embed: bool,
    /// Mask ratio of reconstruction losses.
    pub mask_ratio: f64,
    /// Normalised-pixel targets.
    pub norm_pix_loss: bool,
    /// Mask seed.
    pub mask_seed: u64,
    /// RC-MAE consistency weight.
    pub gamma: f32,
    /// Images evaluated per cell.
    pub eval_images: usize,
    /// Subset seed (image uploads; the demo subset is fixed).
    pub subset_seed: u64,
    /// Images per forward pass.
    pub batch_size: usize,
}

impl Default for Settings {
    /// The demo's defaults: a 17×17 grid over [−1, 1]², filter normalisation, seed 123, 128
    /// images, standard MAE masking.
    fn default() -> Self {
        Self {
            x: Axis {
                min: -1.0,
                max: 1.0,
                n: 17,
            },
            y: Some(Axis {
                min: -1.0,
                max: 1.0,
                n: 17,
            }),
            seed: 123,
            normalisation: Normalisation::Filter,
            include_rank1: false,
            include_pos_embed: false,
            mask_ratio: 0.75,
            norm_pix_loss: true,
            mask_seed: 0,
            gamma: 1.0,
            eval_images: 128,
            subset_seed: 0,
            batch_size: 64,
        }
    }
}

impl Settings {
    /// The spec of one panel: these settings applied to `inputs`. Validated.
    pub fn spec(&self, inputs: Inputs) -> Result<SweepSpec, SpecError> {
        let Inputs {
            checkpoint,
            loss,
            teacher,
            data,
            directions,
        } = inputs;
        let mask = MaskSpec {
            mask_ratio: self.mask_ratio,
            norm_pix_loss: self.norm_pix_loss,
            mask_seed: self.mask_seed,
        };
        let loss = match loss {
            LossChoice::Classification => LossSpec::Classification,
            LossChoice::Mae => LossSpec::Mae(mask),
            LossChoice::Rcmae => LossSpec::RcMae {
                mask,
                teacher: teacher.ok_or_else(|| SpecError::Field {
                    field: "loss.teacher".into(),
                    reason: "the RC-MAE loss needs a teacher: a file with student.* and \
                             teacher.* weights, or --teacher"
                        .into(),
                })?,
                gamma: self.gamma,
            },
        };
        let spec = SweepSpec {
            version: SPEC_VERSION,
            checkpoint,
            data: DataSpec {
                eval_images: self.eval_images,
                ..data
            },
            loss,
            directions: DirectionSpec {
                source: directions.unwrap_or(DirectionSource::Random { seed: self.seed }),
                normalisation: self.normalisation,
                include_rank1: self.include_rank1,
                include_pos_embed: self.include_pos_embed,
            },
            grid: GridSpec {
                x: self.x,
                y: self.y,
            },
            batch_size: self.batch_size,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Cells of one panel.
    pub fn cells(&self) -> usize {
        self.x.n * self.y.map_or(1, |y| y.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::DataSource;

    fn inputs(loss: LossChoice) -> Inputs {
        Inputs {
            checkpoint: CheckpointRef {
                name: "m".into(),
                sha256: "00".into(),
                branch: None,
                num_heads: 4,
                decoder_num_heads: None,
                heads_assumed: false,
            },
            loss,
            teacher: None,
            data: DataSpec {
                source: DataSource::Embedded {
                    name: "x".into(),
                    sha256: "11".into(),
                },
                eval_images: 1,
                subset_seed: 7,
                mean: vec![0.5],
                std: vec![0.25],
                mean_std: None,
                preprocess: Default::default(),
            },
            directions: None,
        }
    }

    #[test]
    fn settings_build_valid_specs_and_reject_bad_ones() {
        let s = Settings::default();
        let spec = s.spec(inputs(LossChoice::Mae)).unwrap();
        assert_eq!(spec.data.eval_images, 128);
        assert_eq!(spec.data.subset_seed, 7);
        assert_eq!(
            spec.directions.source,
            DirectionSource::Random { seed: 123 }
        );
        assert!(matches!(spec.loss, LossSpec::Mae(ref m) if m.mask_ratio == 0.75));
        let err = s.spec(inputs(LossChoice::Rcmae)).unwrap_err().to_string();
        assert!(err.contains("teacher"), "{err}");
        let bad = Settings {
            mask_ratio: 1.5,
            ..Settings::default()
        };
        let err = bad.spec(inputs(LossChoice::Mae)).unwrap_err().to_string();
        assert!(err.contains("mask_ratio"), "{err}");
    }

    #[test]
    fn given_directions_replace_the_random_ones() {
        let target = inputs(LossChoice::Mae).checkpoint;
        let one_d = Settings {
            y: None,
            ..Settings::default()
        };
        let spec = one_d
            .spec(Inputs {
                directions: Some(DirectionSource::Interpolate {
                    target: target.clone(),
                }),
                ..inputs(LossChoice::Classification)
            })
            .unwrap();
        assert_eq!(
            spec.directions.source,
            DirectionSource::Interpolate { target }
        );
        // An interpolation is 1-D: the 2-D default grid is refused by name.
        let err = Settings::default()
            .spec(Inputs {
                directions: spec.directions.source.clone().into(),
                ..inputs(LossChoice::Classification)
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("grid.y"), "{err}");
    }
}
