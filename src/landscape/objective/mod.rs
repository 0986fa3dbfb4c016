//! Objectives evaluated at every grid cell (METHODS §3): classification (mean cross-entropy and
//! top-1 accuracy), MAE masked reconstruction and RC-MAE reconstruction + γ·consistency.
//!
//! Everything that does not depend on θ — images, labels, masks, reconstruction targets, the
//! fixed teacher's predictions — is prepared once on the device ([`Evaluator::new`]); a cell
//! then costs one weight update and one forward per batch.

use std::collections::{BTreeMap, HashMap};

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{ArchError, Error};
use crate::io::data::ImageSet;
use crate::landscape::surface::{ACCURACY, LOSS};
use crate::model::arch::VitConfig;
use crate::model::{Layout, Vit, Weights, upload, upload_int};

/// Metric name of the RC-MAE reconstruction term.
pub const RECONSTRUCTION: &str = "reconstruction";
/// Metric name of the RC-MAE consistency term.
pub const CONSISTENCY: &str = "consistency";

/// The objective with its θ-independent settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Objective {
    /// Mean cross-entropy and accuracy; needs labels and a head.
    Classification,
    /// MAE reconstruction with fixed masks.
    Mae {
        /// Mask ratio r.
        mask_ratio: f64,
        /// Normalised-pixel targets.
        norm_pix_loss: bool,
        /// The fixed mask noise, one row per image.
        noise: MaskNoise,
    },
    /// RC-MAE: reconstruction + γ·consistency with a fixed teacher.
    RcMae {
        /// Mask ratio r.
        mask_ratio: f64,
        /// Normalised-pixel targets.
        norm_pix_loss: bool,
        /// The fixed mask noise.
        noise: MaskNoise,
        /// Consistency weight.
        gamma: f64,
    },
}

impl Objective {
    /// Names of the metrics a cell reports, [`LOSS`] first.
    pub fn metric_names(&self) -> Vec<&'static str> {
        match self {
            Objective::Classification => vec![LOSS, ACCURACY],
            Objective::Mae { .. } => vec![LOSS],
            Objective::RcMae { .. } => vec![LOSS, RECONSTRUCTION, CONSISTENCY],
        }
    }
}

/// A fixed teacher network for RC-MAE.
pub struct Teacher {
    /// Its architecture (must match the student's).
    pub config: VitConfig,
    /// Its flat parameters.
    pub theta: Vec<f32>,
}

mod evaluator;
mod export;
mod masks;
mod sums;
#[cfg(test)]
mod tests;

pub use evaluator::*;
pub use export::*;
pub use masks::*;
pub use sums::*;
