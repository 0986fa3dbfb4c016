//! The model a landscape is drawn around, as plain data: a checkpoint's inferred architecture, the
//! [`Layout`] of its parameters in one flat vector, and θ* in that vector. No burn: the page uses
//! it to describe uploads, the engine to build its tensors from it.

use std::collections::HashMap;
use std::ops::Range;

use crate::error::{ArchError, Error};
use crate::io::checkpoint::{LoadedCheckpoint, StateDict, TensorEntry};
use crate::model::arch::{self, HeadCounts, ParamSpec, VitConfig};
use crate::spec::CheckpointRef;

/// Where each parameter sits in the flat vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Parameters in canonical order.
    pub params: Vec<ParamSpec>,
    /// Start offset of each parameter.
    pub offsets: Vec<usize>,
    /// Total number of values.
    pub total: usize,
    index: HashMap<String, usize>,
}

impl Layout {
    /// The layout of a config's trainable parameters.
    pub fn new(config: &VitConfig) -> Self {
        let params = config.params();
        let mut offsets = Vec::with_capacity(params.len());
        let mut total = 0;
        for p in &params {
            offsets.push(total);
            total += p.numel();
        }
        let index = params
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), i))
            .collect();
        Self {
            params,
            offsets,
            total,
            index,
        }
    }

    /// Range of a parameter in the flat vector.
    pub fn range(&self, name: &str) -> Option<Range<usize>> {
        let i = *self.index.get(name)?;
        Some(self.offsets[i]..self.offsets[i] + self.params[i].numel())
    }

    /// Ranges of every parameter, in order, with their specs.
    pub fn slots(&self) -> impl Iterator<Item = (&ParamSpec, Range<usize>)> {
        self.params
            .iter()
            .zip(&self.offsets)
            .map(|(p, &o)| (p, o..o + p.numel()))
    }

    /// θ in this layout, each parameter *moved* out of `state` (its memory freed once copied),
    /// so a model is never held as both a state dict and θ after loading (a ViT-B is 346 MB per
    /// copy). Buffers and metadata stay in `state`. Every name and shape is
    /// checked before anything is moved: on error `state` is unchanged.
    pub fn take(&self, state: &mut StateDict) -> Result<Vec<f32>, ArchError> {
        self.check(state)?;
        let mut flat = Vec::with_capacity(self.total);
        for p in &self.params {
            if let Some(t) = state.tensors.remove(&p.name) {
                flat.extend_from_slice(&t.data);
            }
        }
        Ok(flat)
    }

    /// Whether `state` holds every parameter of this layout, in its shape.
    pub fn check(&self, state: &StateDict) -> Result<(), ArchError> {
        for p in &self.params {
            let t = state
                .tensors
                .get(&p.name)
                .ok_or_else(|| ArchError::Missing {
                    name: p.name.clone(),
                    why: "the architecture needs it".into(),
                })?;
            if t.shape != p.shape {
                return Err(ArchError::Shape {
                    name: p.name.clone(),
                    found: t.shape.clone(),
                    expected: format!("{:?}", p.shape),
                });
            }
        }
        Ok(())
    }

    /// Split a flat vector back into named tensors (PyTorch layout).
    pub fn unflatten(&self, flat: &[f32]) -> StateDict {
        let mut state = StateDict::default();
        for (p, range) in self.slots() {
            let data = flat.get(range).map(<[f32]>::to_vec).unwrap_or_default();
            state.tensors.insert(
                p.name.clone(),
                TensorEntry {
                    shape: p.shape.clone(),
                    data,
                },
            );
        }
        state
    }
}

/// A checkpoint turned into an architecture and a flat θ.
#[derive(Debug, Clone)]
pub struct Model {
    /// The adapted checkpoint, less the parameters moved into `theta`: its buffers (a linear
    /// probe's running statistics), metadata, hash and where it was found.
    pub checkpoint: LoadedCheckpoint,
    /// Its inferred architecture.
    pub config: VitConfig,
    /// Parameter layout.
    pub layout: Layout,
    /// θ*, flat.
    pub theta: Vec<f32>,
    /// Head counts that were assumed (neither given nor in the file).
    pub heads_assumed: arch::HeadsAssumed,
}

impl Model {
    /// Infer the architecture (head counts from `heads`, else metadata, else defaults) and flatten.
    /// The parameters are moved out of `checkpoint.state` into θ (see [`Layout::take`]).
    pub fn new(mut checkpoint: LoadedCheckpoint, heads: HeadCounts) -> Result<Self, Error> {
        let (config, heads_assumed) = arch::infer_noting(&checkpoint.state, heads)?;
        let layout = Layout::new(&config);
        let theta = layout.take(&mut checkpoint.state)?;
        Ok(Self {
            checkpoint,
            config,
            layout,
            theta,
            heads_assumed,
        })
    }

    /// The reference a spec records for this model.
    pub fn reference(&self, name: &str) -> CheckpointRef {
        CheckpointRef {
            name: name.to_string(),
            sha256: self.checkpoint.sha256.clone(),
            branch: self.checkpoint.branch,
            num_heads: self.config.num_heads,
            decoder_num_heads: self.config.decoder.map(|d| d.num_heads),
            heads_assumed: self.heads_assumed.any(),
        }
    }

    /// Head counts as recorded in a reference.
    pub fn heads_of(reference: &CheckpointRef) -> HeadCounts {
        HeadCounts {
            encoder: Some(reference.num_heads),
            decoder: reference.decoder_num_heads,
        }
    }
}
