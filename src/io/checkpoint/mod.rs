//! Reading and writing checkpoints (safetensors; PyTorch `.pth` / `.bin` read through a restricted
//! unpickler) under timm / MAE / RC-MAE names.
//!
//! This is the one module that knows where weights come from: it strips wrapper prefixes
//! (`module.`, `model.`), selects `student.*` / `teacher.*` in RC-MAE files, converts dtypes to
//! f32, and rejects malformed files with an error naming what is wrong — never a panic, and never
//! an allocation larger than the file can back.
//!
//! Reading goes in three steps:
//! 1. [`parse`] checks the length prefix and the JSON header itself (sizes, UTF-8, one entry per
//!    name, offsets that tile the data buffer, shapes that match their byte spans), so every
//!    later size is bounded by the file, and only then hands the bytes to the `safetensors` crate.
//! 2. [`read_safetensors`] adapts names (branch selection, prefix stripping, optimizer state
//!    dropped); [`read_raw`] keeps them as written.
//! 3. Float tensors are converted to f32 and checked for non-finite values.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use safetensors::tensor::View;
use safetensors::{Dtype, SafeTensors};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::spec::Branch;

/// Largest header accepted, in bytes (the limit the `safetensors` crate itself applies).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Bytes of the little-endian u64 header length that opens every safetensors file.
pub(crate) const LEN_PREFIX_BYTES: usize = 8;

/// The header key holding the string metadata map rather than a tensor.
pub(crate) const METADATA_KEY: &str = "__metadata__";

/// Name prefixes of optimizer state in training files; such tensors are dropped.
pub(crate) const OPTIMIZER_PREFIXES: [&str; 2] = ["optimizer.", "optim."];

/// One tensor in PyTorch layout (row-major, PyTorch's shape).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorEntry {
    /// PyTorch shape.
    pub shape: Vec<usize>,
    /// Values, row-major; `data.len() == shape.iter().product()`.
    pub data: Vec<f32>,
}

/// Named tensors plus the file's string metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateDict {
    /// timm-named tensors (prefixes already stripped).
    pub tensors: BTreeMap<String, TensorEntry>,
    /// The safetensors `__metadata__` map.
    pub metadata: BTreeMap<String, String>,
}

impl StateDict {
    /// The tensor called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&TensorEntry> {
        self.tensors.get(name)
    }

    /// Adds (or replaces) a tensor and returns the one it replaced. The shape is not checked
    /// here; [`write_safetensors`] rejects a shape that disagrees with the data length.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        shape: Vec<usize>,
        data: Vec<f32>,
    ) -> Option<TensorEntry> {
        self.tensors
            .insert(name.into(), TensorEntry { shape, data })
    }
}

/// A checkpoint read from bytes, with what was done to adapt it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedCheckpoint {
    /// The adapted tensors.
    pub state: StateDict,
    /// Hex sha256 of the file bytes.
    pub sha256: String,
    /// The half taken from an RC-MAE file (keys `student.*` / `teacher.*`); `None` when the file
    /// has neither prefix.
    pub branch: Option<Branch>,
    /// Tensors skipped, by adapted name and sorted: non-float tensors (e.g.
    /// `num_batches_tracked`, step counters), optimizer state (`optimizer.*`, `optim.*`) and a
    /// PyTorch state dict's non-tensor values.
    pub skipped: Vec<String>,
    /// For a PyTorch file, its container and where the state dict was found ("PyTorch zip
    /// checkpoint, state dict under 'model' (not read: 'args', 'epoch')"); `None` for safetensors.
    pub source: Option<String>,
}

/// The key prefix (without the dot) of an RC-MAE branch.
pub(crate) fn branch_prefix(branch: Branch) -> &'static str {
    match branch {
        Branch::Student => "student",
        Branch::Teacher => "teacher",
    }
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The first 12 characters of a hash, as messages show it; cut at a character boundary, since a
/// hash read from a spec or a file's metadata may be any text.
pub fn short_hash(hash: &str) -> &str {
    hash.char_indices()
        .nth(12)
        .map_or(hash, |(i, _)| &hash[..i])
}

/// Parses safetensors bytes into a [`LoadedCheckpoint`], adapting names to timm's.
///
/// `branch` picks which half of an RC-MAE file to take when it holds both `student.*` and
/// `teacher.*` keys (`None` = teacher, what downstream work uses). A file with only one of them
/// yields that one (asking for the other is an error); a file with neither ignores `branch`.
/// Wrapper prefixes `module.` / `model.` are stripped (repeatedly, before and after the branch
/// prefix), optimizer state and non-float tensors are skipped and listed in `skipped`.
pub fn read_safetensors(
    bytes: &[u8],
    branch: Option<Branch>,
) -> Result<LoadedCheckpoint, CheckpointError> {
    read_safetensors_known(bytes, branch, None)
}

/// [`read_safetensors`], with the bytes' sha256 taken as `known` when the caller has it.
pub fn read_safetensors_known(
    bytes: &[u8],
    branch: Option<Branch>,
    known: Option<&str>,
) -> Result<LoadedCheckpoint, CheckpointError> {
    adapt(parse(bytes)?, bytes, branch, known)
}

/// Adapts parsed tensors (of a safetensors or PyTorch file) to timm's names: branch selection,
/// wrapper prefixes stripped, optimizer state and non-float tensors skipped, floats to f32.
/// `known` is the bytes' sha256 when the caller already has it (else it is computed here).
pub(crate) fn adapt(
    parsed: Parsed<'_>,
    bytes: &[u8],
    branch: Option<Branch>,
    known: Option<&str>,
) -> Result<LoadedCheckpoint, CheckpointError> {
    let taken = select_branch(&parsed.tensors, branch)?;

    let mut state = StateDict {
        tensors: BTreeMap::new(),
        metadata: parsed.metadata,
    };
    let mut skipped = Vec::new();
    // Adapted name -> original key, to name both keys of a collision.
    let mut origin: HashMap<&str, &str> = HashMap::new();
    for tensor in &parsed.tensors {
        let adapted = match split_branch(&tensor.name) {
            Some((b, rest)) if Some(b) == taken => strip_wrappers(rest),
            // The other half of an RC-MAE file.
            Some(_) => continue,
            None => strip_wrappers(&tensor.name),
        };
        if OPTIMIZER_PREFIXES.iter().any(|p| adapted.starts_with(p)) {
            skipped.push(adapted.to_owned());
            continue;
        }
        if let Some(first) = origin.insert(adapted, &tensor.name) {
            return Err(CheckpointError::Duplicate {
                a: first.to_owned(),
                b: tensor.name.clone(),
                name: adapted.to_owned(),
            });
        }
        match dtype_kind(tensor.dtype) {
            DtypeKind::Float => {
                let entry = tensor.to_entry()?;
                state.tensors.insert(adapted.to_owned(), entry);
            }
            DtypeKind::NonFloat => skipped.push(adapted.to_owned()),
            DtypeKind::Unsupported => return Err(tensor.dtype_error()),
        }
    }
    if state.tensors.is_empty() {
        return Err(CheckpointError::Empty {
            skipped: skipped.len(),
        });
    }
    skipped.sort();
    Ok(LoadedCheckpoint {
        state,
        sha256: known.map_or_else(|| sha256_hex(bytes), str::to_owned),
        branch: taken,
        skipped,
        source: None,
    })
}

/// Parses safetensors bytes without any name adaptation (direction files, mask and data
/// exports): the inverse of [`write_safetensors`]. Every tensor must be F32, F16, BF16 or F64 and
/// finite; a file with no tensors gives an empty [`StateDict`].
pub fn read_raw(bytes: &[u8]) -> Result<StateDict, CheckpointError> {
    let parsed = parse(bytes)?;
    let mut state = StateDict {
        tensors: BTreeMap::new(),
        metadata: parsed.metadata,
    };
    for tensor in &parsed.tensors {
        if dtype_kind(tensor.dtype) != DtypeKind::Float {
            return Err(tensor.dtype_error());
        }
        state
            .tensors
            .insert(tensor.name.clone(), tensor.to_entry()?);
    }
    Ok(state)
}

/// Serialises a state as f32 little-endian safetensors, with its metadata map. Rejects shapes
/// that disagree with the data, non-finite values and the reserved name `__metadata__`.
pub fn write_safetensors(state: &StateDict) -> Result<Vec<u8>, CheckpointError> {
    let mut views = Vec::with_capacity(state.tensors.len());
    for (name, entry) in &state.tensors {
        if name == METADATA_KEY {
            return Err(CheckpointError::Write(format!(
                "`{METADATA_KEY}` is reserved for the metadata map; expected another tensor name"
            )));
        }
        let elements = checked_product(&entry.shape).unwrap_or(usize::MAX);
        if elements != entry.data.len() {
            return Err(CheckpointError::WriteShape {
                name: name.clone(),
                shape: entry.shape.clone(),
                elements,
                len: entry.data.len(),
            });
        }
        if let Some(index) = entry.data.iter().position(|v| !v.is_finite()) {
            return Err(CheckpointError::NonFinite {
                name: name.clone(),
                index,
                value: entry.data[index].to_string(),
            });
        }
        let bytes = entry.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        views.push((
            name.as_str(),
            F32View {
                shape: &entry.shape,
                bytes,
            },
        ));
    }
    let metadata = (!state.metadata.is_empty()).then(|| {
        state
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<HashMap<_, _>>()
    });
    safetensors::serialize(views, metadata).map_err(|e| CheckpointError::Write(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Native only: files on disk.
// ---------------------------------------------------------------------------------------------

/// Reads and adapts a checkpoint file of any supported kind (see [`read_checkpoint`]); every
/// error names the path.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_file(
    path: &std::path::Path,
    branch: Option<Branch>,
) -> Result<LoadedCheckpoint, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|e| CheckpointError::Io {
        path: path.display().to_string(),
        message: format!("cannot read: {e}"),
    })?;
    read_checkpoint(&bytes, branch).map_err(|e| CheckpointError::File {
        path: path.display().to_string(),
        inner: Box::new(e),
    })
}

/// Writes a state as a safetensors file (see [`write_safetensors`]); every error names the path.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_file(path: &std::path::Path, state: &StateDict) -> Result<(), CheckpointError> {
    let bytes = write_safetensors(state).map_err(|e| CheckpointError::File {
        path: path.display().to_string(),
        inner: Box::new(e),
    })?;
    #[cfg(not(target_arch = "wasm32"))]
    let written = crate::io::atomic::write(path, &bytes);
    #[cfg(target_arch = "wasm32")]
    let written = std::fs::write(path, bytes);
    written.map_err(|e| CheckpointError::Io {
        path: path.display().to_string(),
        message: format!("cannot write: {e}"),
    })
}

mod dtype;
mod error;
mod format;
mod names;
mod parse;
mod pickle;
#[cfg(test)]
mod tests;
mod torch;

#[allow(unused_imports)]
pub use dtype::*;
pub use error::*;
pub use format::*;
#[allow(unused_imports)]
pub use names::*;
#[allow(unused_imports)]
pub use parse::*;
