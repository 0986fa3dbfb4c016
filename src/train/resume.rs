//! Continuing a training run that was stopped. After every epoch `vitscape train` writes the whole
//! state of the run to `resume.safetensors` in its output folder: θ (and the RC-MAE teacher) under
//! their timm names, AdamW's two moment vectors and step count, and how far the run's one random
//! stream (shuffling, crops, flips, masks) has been read. `--resume` reads it back and the run goes
//! on exactly as if it had never stopped: the same floats on the same build and device, which the
//! engine tests check against an uninterrupted run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{TrainConfig, TrainState};
use crate::io::checkpoint::StateDict;
use crate::model::arch::VitConfig;

/// The file in a training folder that holds where the run stands.
pub const RESUME_FILE: &str = "resume.safetensors";

/// Metadata key of the run's position and settings.
const META: &str = "vitscape_resume";
/// Tensor names of AdamW's moments (outside the timm names, so no model loader mistakes them for
/// parameters).
const ADAM_M: &str = "vitscape_resume.adam_m";
const ADAM_V: &str = "vitscape_resume.adam_v";

/// Where a run stands after a whole epoch, besides θ: enough to continue it exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Epochs completed.
    pub epochs_done: usize,
    /// AdamW's first moment.
    pub adam_m: Vec<f32>,
    /// AdamW's second moment.
    pub adam_v: Vec<f32>,
    /// AdamW's step count (bias corrections).
    pub adam_step: i32,
    /// 32-bit words of the run's ChaCha8 stream consumed so far.
    pub rng_word_pos: u128,
}

/// The recorded settings of a run (metadata `vitscape_resume`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    epochs_done: usize,
    adam_step: i32,
    /// Decimal text: JSON numbers cannot hold a u128.
    rng_word_pos: String,
    train_config: TrainConfig,
    architecture: VitConfig,
    train_images: usize,
    test_images: usize,
}

/// A training state that cannot be continued, and why.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ResumeError {
    /// The file is not a training state vitscape wrote.
    #[error(
        "not a vitscape training state (no `{META}` metadata): resume needs the {RESUME_FILE} \
         that `vitscape train` writes after each epoch"
    )]
    NotAState,
    /// The state is damaged.
    #[error("damaged training state: {0}")]
    Damaged(String),
    /// The run was started with other settings than the command that tries to continue it.
    #[error(
        "the stopped run was started with other settings; run the same command with --resume. \
         Different: {0}"
    )]
    Settings(String),
    /// Every epoch already ran.
    #[error("the run already finished its {0} epochs")]
    Finished(usize),
}

impl Progress {
    /// The file's contents: `state`'s checkpoint plus the moments and the record of the run.
    pub fn to_state_dict(
        &self,
        state: &TrainState,
        cfg: &TrainConfig,
        images: (usize, usize),
    ) -> Result<StateDict, serde_json::Error> {
        let mut sd = state.state_dict();
        let n = self.adam_m.len();
        sd.insert(ADAM_M, vec![n], self.adam_m.clone());
        sd.insert(ADAM_V, vec![self.adam_v.len()], self.adam_v.clone());
        let record = Record {
            epochs_done: self.epochs_done,
            adam_step: self.adam_step,
            rng_word_pos: self.rng_word_pos.to_string(),
            train_config: cfg.clone(),
            architecture: state.config,
            train_images: images.0,
            test_images: images.1,
        };
        sd.metadata
            .insert(META.into(), serde_json::to_string(&record)?);
        Ok(sd)
    }

    /// The model and progress of a stopped run, checked against the settings of the command
    /// that continues it (`cfg`, and how many training and test images it loaded).
    pub fn from_state_dict(
        mut sd: StateDict,
        cfg: &TrainConfig,
        images: (usize, usize),
    ) -> Result<(TrainState, Progress), ResumeError> {
        let text = sd.metadata.get(META).ok_or(ResumeError::NotAState)?;
        let record: Record = serde_json::from_str(text)
            .map_err(|e| ResumeError::Damaged(format!("`{META}` metadata: {e}")))?;
        let mut differences = settings_differences(&record.train_config, cfg);
        if record.train_images != images.0 {
            differences.push(format!(
                "training images: {} in the run, {} now",
                record.train_images, images.0
            ));
        }
        if record.test_images != images.1 {
            differences.push(format!(
                "test images: {} in the run, {} now",
                record.test_images, images.1
            ));
        }
        if !differences.is_empty() {
            return Err(ResumeError::Settings(differences.join("; ")));
        }
        if record.epochs_done >= cfg.epochs {
            return Err(ResumeError::Finished(cfg.epochs));
        }
        let rng_word_pos = record.rng_word_pos.parse::<u128>().map_err(|e| {
            ResumeError::Damaged(format!(
                "random stream position `{}`: {e}",
                record.rng_word_pos
            ))
        })?;
        let mut moment = |name: &str| {
            sd.tensors
                .remove(name)
                .map(|t| t.data)
                .ok_or_else(|| ResumeError::Damaged(format!("no tensor `{name}`")))
        };
        let adam_m = moment(ADAM_M)?;
        let adam_v = moment(ADAM_V)?;
        let config = record.architecture;
        let state = TrainState::from_state_dict(config, sd)
            .map_err(|e| ResumeError::Damaged(e.to_string()))?;
        let total = state.layout.total;
        if adam_m.len() != total || adam_v.len() != total {
            return Err(ResumeError::Damaged(format!(
                "AdamW moments of {} and {} values for {total} parameters",
                adam_m.len(),
                adam_v.len()
            )));
        }
        Ok((
            state,
            Progress {
                epochs_done: record.epochs_done,
                adam_m,
                adam_v,
                adam_step: record.adam_step,
                rng_word_pos,
            },
        ))
    }
}

/// "field: A in the run, B now" for every setting that differs.
fn settings_differences(run: &TrainConfig, now: &TrainConfig) -> Vec<String> {
    let fields = |c: &TrainConfig| -> BTreeMap<String, serde_json::Value> {
        match serde_json::to_value(c) {
            Ok(serde_json::Value::Object(map)) => map.into_iter().collect(),
            _ => BTreeMap::new(),
        }
    };
    let (a, b) = (fields(run), fields(now));
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, v)| {
            let now = b.get(k).map(|v| v.to_string()).unwrap_or_default();
            format!("{k}: {v} in the run, {now} now")
        })
        .collect()
}
