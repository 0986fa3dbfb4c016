//! Reading and writing checkpoints (safetensors) under timm / MAE / RC-MAE names.
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
const LEN_PREFIX_BYTES: usize = 8;

/// The header key holding the string metadata map rather than a tensor.
const METADATA_KEY: &str = "__metadata__";

/// Name prefixes of optimizer state in training files; such tensors are dropped.
const OPTIMIZER_PREFIXES: [&str; 2] = ["optimizer.", "optim."];

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
    /// `num_batches_tracked`, step counters) and optimizer state (`optimizer.*`, `optim.*`).
    pub skipped: Vec<String>,
}

/// A checkpoint file that cannot be read, or a state that cannot be written.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CheckpointError {
    /// Fewer bytes than the 8-byte header length.
    #[error(
        "file is {len} bytes; a safetensors file needs at least 8 (the little-endian header length)"
    )]
    TooShort {
        /// File length in bytes.
        len: usize,
    },
    /// The declared header is larger than [`MAX_HEADER_BYTES`].
    #[error("header length {len} bytes exceeds the {max}-byte limit")]
    HeaderTooLarge {
        /// Declared header length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The declared header runs past the end of the file.
    #[error(
        "header length {len} bytes runs past the end of the {file_len}-byte file \
         (at most {} bytes fit; truncated file?)",
        .file_len.saturating_sub(LEN_PREFIX_BYTES)
    )]
    HeaderPastEnd {
        /// Declared header length.
        len: u64,
        /// File length in bytes.
        file_len: usize,
    },
    /// The header bytes are not UTF-8.
    #[error("header is not UTF-8: invalid byte at header offset {valid_up_to}")]
    HeaderNotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// The header is not JSON.
    #[error("header is not valid JSON: {0}")]
    HeaderJson(String),
    /// The header is JSON but not an object.
    #[error("header is a JSON {found}; expected an object of tensor entries")]
    HeaderNotObject {
        /// The JSON kind found (`array`, `string`, ...).
        found: String,
    },
    /// The header lists the same key twice.
    #[error("header lists `{name}` more than once; expected each name once")]
    HeaderDuplicate {
        /// The repeated key.
        name: String,
    },
    /// A header entry lacks a field or holds an unusable value.
    #[error("header entry `{name}` is malformed: {reason}")]
    Entry {
        /// The entry's key.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor's data offsets point past the end of the data buffer.
    #[error(
        "tensor `{name}` has data_offsets [{start}, {end}] beyond the {data_len} bytes of tensor \
         data (truncated file?)"
    )]
    OffsetsOutOfRange {
        /// Tensor name as written.
        name: String,
        /// Declared start.
        start: u64,
        /// Declared end.
        end: u64,
        /// Bytes after the header.
        data_len: usize,
    },
    /// Tensors overlap or leave a gap between them.
    #[error(
        "tensor `{name}` has data_offsets [{start}, {end}]; expected it to start at byte \
         {expected_start}, where the previous tensor ends (tensors must tile the data buffer \
         without gaps or overlaps)"
    )]
    Layout {
        /// Tensor name as written.
        name: String,
        /// Declared start.
        start: u64,
        /// Declared end.
        end: u64,
        /// Where the previous tensor (in offset order) ends.
        expected_start: u64,
    },
    /// Bytes after the last tensor that no tensor claims.
    #[error(
        "tensors cover {covered} of the {data_len} bytes of tensor data; expected them to cover \
         all of it"
    )]
    Uncovered {
        /// End of the last tensor.
        covered: u64,
        /// Bytes after the header.
        data_len: usize,
    },
    /// A tensor's shape and dtype disagree with the length of its byte span.
    #[error(
        "tensor `{name}` of dtype {dtype} and shape {shape:?} needs {expected_bytes} bytes but its \
         data_offsets span {actual_bytes}"
    )]
    ShapeMismatch {
        /// Tensor name as written.
        name: String,
        /// Declared dtype.
        dtype: String,
        /// Declared shape.
        shape: Vec<usize>,
        /// `product(shape) * size(dtype)`.
        expected_bytes: usize,
        /// `end - start`.
        actual_bytes: u64,
    },
    /// The `safetensors` crate rejected a file that passed our own header checks.
    #[error("safetensors rejected the file: {0}")]
    Format(String),
    /// A float tensor in a dtype we do not convert (or, in [`read_raw`], any non-float tensor).
    #[error("tensor `{name}` has dtype {dtype}; expected F32, F16, BF16 or F64")]
    Dtype {
        /// Tensor name.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// A NaN or infinity (or an f64 beyond the f32 range).
    #[error("tensor `{name}` holds {value} at flat index {index}; expected finite values")]
    NonFinite {
        /// Tensor name.
        name: String,
        /// Row-major index of the first bad value.
        index: usize,
        /// The value as stored in the file.
        value: String,
    },
    /// Nothing left to load.
    #[error(
        "no tensors to load ({skipped} non-float or optimizer tensors skipped); expected model \
         parameters in F32, F16, BF16 or F64"
    )]
    Empty {
        /// How many tensors were skipped.
        skipped: usize,
    },
    /// Two keys become the same name once prefixes are stripped.
    #[error("tensors `{a}` and `{b}` both become `{name}` once prefixes are stripped")]
    Duplicate {
        /// First original key.
        a: String,
        /// Second original key.
        b: String,
        /// The shared adapted name.
        name: String,
    },
    /// The requested RC-MAE branch is absent while the other one is present.
    #[error(
        "requested the `{}.*` tensors but the file only holds `{}.*` tensors",
        branch_prefix(*.requested),
        branch_prefix(*.found)
    )]
    BranchMissing {
        /// Branch asked for.
        requested: Branch,
        /// Branch present.
        found: Branch,
    },
    /// The file system refused.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// An error in a named file.
    #[error("{path}: {inner}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with its contents.
        inner: Box<CheckpointError>,
    },
    /// A tensor to be written whose shape disagrees with its data.
    #[error(
        "cannot write tensor `{name}`: shape {shape:?} holds {elements} elements but the data \
         holds {len}"
    )]
    WriteShape {
        /// Tensor name.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Product of the shape (saturated at `usize::MAX`).
        elements: usize,
        /// Data length.
        len: usize,
    },
    /// Serialising failed.
    #[error("cannot write checkpoint: {0}")]
    Write(String),
}

/// The key prefix (without the dot) of an RC-MAE branch.
fn branch_prefix(branch: Branch) -> &'static str {
    match branch {
        Branch::Student => "student",
        Branch::Teacher => "teacher",
    }
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
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
    let parsed = parse(bytes)?;
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
        sha256: sha256_hex(bytes),
        branch: taken,
        skipped,
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

/// Reads and adapts a checkpoint file (see [`read_safetensors`]); every error names the path.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_file(
    path: &std::path::Path,
    branch: Option<Branch>,
) -> Result<LoadedCheckpoint, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|e| CheckpointError::Io {
        path: path.display().to_string(),
        message: format!("cannot read: {e}"),
    })?;
    read_safetensors(&bytes, branch).map_err(|e| CheckpointError::File {
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
    std::fs::write(path, bytes).map_err(|e| CheckpointError::Io {
        path: path.display().to_string(),
        message: format!("cannot write: {e}"),
    })
}

// ---------------------------------------------------------------------------------------------
// Parsing and validation.
// ---------------------------------------------------------------------------------------------

/// A validated file: metadata plus tensors (views into the file bytes), sorted by name.
struct Parsed<'a> {
    metadata: BTreeMap<String, String>,
    tensors: Vec<RawTensor<'a>>,
}

/// One tensor as written in the file.
struct RawTensor<'a> {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: &'a [u8],
}

impl RawTensor<'_> {
    /// Converts a float tensor to f32, rejecting non-finite values.
    fn to_entry(&self) -> Result<TensorEntry, CheckpointError> {
        let data = decode_f32(self.dtype, self.bytes).ok_or_else(|| self.dtype_error())?;
        if let Some(index) = data.iter().position(|v| !v.is_finite()) {
            return Err(CheckpointError::NonFinite {
                name: self.name.clone(),
                index,
                value: self.describe_value(index),
            });
        }
        Ok(TensorEntry {
            shape: self.shape.clone(),
            data,
        })
    }

    fn dtype_error(&self) -> CheckpointError {
        CheckpointError::Dtype {
            name: self.name.clone(),
            dtype: self.dtype.to_string(),
        }
    }

    /// The value at `index` as stored (an f64 that overflows f32 is shown as the f64).
    fn describe_value(&self, index: usize) -> String {
        if self.dtype == Dtype::F64
            && let Some(chunk) = self.bytes.as_chunks::<8>().0.get(index)
        {
            let value = f64::from_le_bytes(*chunk);
            if value.is_finite() {
                return format!("{value:e} (outside the f32 range)");
            }
            return value.to_string();
        }
        decode_f32(self.dtype, self.bytes)
            .and_then(|d| d.get(index).map(f32::to_string))
            .unwrap_or_default()
    }
}

/// Checks the header ourselves (so no size can exceed what the file backs and every error names
/// the offending entry), then lets the `safetensors` crate parse it.
fn parse(bytes: &[u8]) -> Result<Parsed<'_>, CheckpointError> {
    let file_len = bytes.len();
    let Some((len_prefix, rest)) = bytes.split_first_chunk::<LEN_PREFIX_BYTES>() else {
        return Err(CheckpointError::TooShort { len: file_len });
    };
    let header_len = u64::from_le_bytes(*len_prefix);
    if header_len > MAX_HEADER_BYTES {
        return Err(CheckpointError::HeaderTooLarge {
            len: header_len,
            max: MAX_HEADER_BYTES,
        });
    }
    let header_bytes = usize::try_from(header_len)
        .ok()
        .and_then(|n| rest.get(..n))
        .ok_or(CheckpointError::HeaderPastEnd {
            len: header_len,
            file_len,
        })?;
    let data_len = rest.len() - header_bytes.len();
    let text = std::str::from_utf8(header_bytes).map_err(|e| CheckpointError::HeaderNotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    let header = parse_header(text, data_len)?;

    let file =
        SafeTensors::deserialize(bytes).map_err(|e| CheckpointError::Format(e.to_string()))?;
    let mut tensors = Vec::with_capacity(header.names.len());
    for name in header.names {
        let view = file
            .tensor(&name)
            .map_err(|e| CheckpointError::Format(e.to_string()))?;
        tensors.push(RawTensor {
            name,
            dtype: view.dtype(),
            shape: view.shape().to_vec(),
            bytes: view.data(),
        });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Parsed {
        metadata: header.metadata,
        tensors,
    })
}

/// What our own header check returns: the metadata and the tensor names.
struct Header {
    metadata: BTreeMap<String, String>,
    names: Vec<String>,
}

/// One header entry's layout, as declared.
struct Span {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    start: u64,
    end: u64,
}

/// Validates the JSON header against a data buffer of `data_len` bytes.
fn parse_header(text: &str, data_len: usize) -> Result<Header, CheckpointError> {
    let entries = match serde_json::from_str::<Entries>(text) {
        Ok(Entries(entries)) => entries,
        // Parse again as any JSON value to tell "not JSON" (with the syntax error's position)
        // from "JSON but not an object".
        Err(e) => {
            return Err(match serde_json::from_str::<Value>(text) {
                Ok(value) if !value.is_object() => CheckpointError::HeaderNotObject {
                    found: json_kind(&value).to_owned(),
                },
                Ok(_) => CheckpointError::HeaderJson(e.to_string()),
                Err(syntax) => CheckpointError::HeaderJson(syntax.to_string()),
            });
        }
    };

    let mut seen = HashSet::with_capacity(entries.len());
    let mut metadata = BTreeMap::new();
    let mut spans = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        if !seen.insert(name.clone()) {
            return Err(CheckpointError::HeaderDuplicate { name });
        }
        if name == METADATA_KEY {
            metadata = parse_metadata(value)?;
        } else {
            spans.push(parse_span(name, &value)?);
        }
    }

    // Offsets must tile [0, data_len) in order; check in offset order, as safetensors does.
    spans.sort_by_key(|s| (s.start, s.end));
    let data_len_u64 = data_len as u64;
    let mut covered = 0u64;
    for span in &spans {
        if span.end < span.start {
            return Err(CheckpointError::Entry {
                name: span.name.clone(),
                reason: format!(
                    "data_offsets [{}, {}] end before they start",
                    span.start, span.end
                ),
            });
        }
        if span.end > data_len_u64 {
            return Err(CheckpointError::OffsetsOutOfRange {
                name: span.name.clone(),
                start: span.start,
                end: span.end,
                data_len,
            });
        }
        if span.start != covered {
            return Err(CheckpointError::Layout {
                name: span.name.clone(),
                start: span.start,
                end: span.end,
                expected_start: covered,
            });
        }
        let expected_bytes = byte_len(span)?;
        if expected_bytes as u64 != span.end - span.start {
            return Err(CheckpointError::ShapeMismatch {
                name: span.name.clone(),
                dtype: span.dtype.to_string(),
                shape: span.shape.clone(),
                expected_bytes,
                actual_bytes: span.end - span.start,
            });
        }
        covered = span.end;
    }
    if covered != data_len_u64 {
        return Err(CheckpointError::Uncovered { covered, data_len });
    }
    Ok(Header {
        metadata,
        names: spans.into_iter().map(|s| s.name).collect(),
    })
}

/// The `__metadata__` entry: an object of strings (or null).
fn parse_metadata(value: Value) -> Result<BTreeMap<String, String>, CheckpointError> {
    let bad = |reason: String| CheckpointError::Entry {
        name: METADATA_KEY.to_owned(),
        reason,
    };
    match value {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                other => Err(bad(format!(
                    "key `{k}` holds a JSON {}; expected a string",
                    json_kind(&other)
                ))),
            })
            .collect(),
        other => Err(bad(format!(
            "it is a JSON {}; expected an object of strings",
            json_kind(&other)
        ))),
    }
}

/// One tensor entry: `{"dtype": "F32", "shape": [..], "data_offsets": [start, end]}`.
fn parse_span(name: String, value: &Value) -> Result<Span, CheckpointError> {
    let bad = |reason: String| CheckpointError::Entry {
        name: name.clone(),
        reason,
    };
    let Some(object) = value.as_object() else {
        return Err(bad(format!(
            "it is a JSON {}; expected an object with dtype, shape and data_offsets",
            json_kind(value)
        )));
    };
    let field = |key: &str| {
        object
            .get(key)
            .ok_or_else(|| bad(format!("field `{key}` is missing")))
    };

    let dtype_value = field("dtype")?;
    let dtype = serde_json::from_value::<Dtype>(dtype_value.clone())
        .map_err(|_| bad(format!("dtype {dtype_value} is not a safetensors dtype")))?;

    let shape_value = field("shape")?;
    let shape = shape_value
        .as_array()
        .and_then(|dims| {
            dims.iter()
                .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                .collect::<Option<Vec<usize>>>()
        })
        .ok_or_else(|| {
            bad(format!(
                "shape {shape_value} is not a list of non-negative integers"
            ))
        })?;

    let offsets_value = field("data_offsets")?;
    let offsets = offsets_value.as_array().and_then(|o| match o.as_slice() {
        [start, end] => Some((start.as_u64()?, end.as_u64()?)),
        _ => None,
    });
    let Some((start, end)) = offsets else {
        return Err(bad(format!(
            "data_offsets {offsets_value} is not two non-negative integers [start, end]"
        )));
    };
    Ok(Span {
        name,
        dtype,
        shape,
        start,
        end,
    })
}

/// Bytes a span's shape and dtype need, or an error when that overflows or is not whole bytes.
fn byte_len(span: &Span) -> Result<usize, CheckpointError> {
    let bad = |reason: String| CheckpointError::Entry {
        name: span.name.clone(),
        reason,
    };
    let bits = checked_product(&span.shape)
        .and_then(|n| n.checked_mul(span.dtype.bitsize()))
        .ok_or_else(|| {
            bad(format!(
                "shape {:?} of dtype {} is larger than memory can hold",
                span.shape, span.dtype
            ))
        })?;
    if !bits.is_multiple_of(8) {
        return Err(bad(format!(
            "shape {:?} of dtype {} is not a whole number of bytes",
            span.shape, span.dtype
        )));
    }
    Ok(bits / 8)
}

/// Product of the dimensions, `None` on overflow.
fn checked_product(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// The JSON kind of a value, for messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A JSON object's entries in file order, duplicates kept (serde_json's map keeps only the last).
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Names.
// ---------------------------------------------------------------------------------------------

/// Strips leading `module.` (DistributedDataParallel) and `model.` wrappers, in any order.
fn strip_wrappers(mut name: &str) -> &str {
    while let Some(rest) = name
        .strip_prefix("module.")
        .or_else(|| name.strip_prefix("model."))
    {
        name = rest;
    }
    name
}

/// The RC-MAE branch of a key (after any wrappers) and the rest of the key.
fn split_branch(name: &str) -> Option<(Branch, &str)> {
    let name = strip_wrappers(name);
    if let Some(rest) = name.strip_prefix("student.") {
        Some((Branch::Student, rest))
    } else {
        name.strip_prefix("teacher.")
            .map(|rest| (Branch::Teacher, rest))
    }
}

/// Which half to take: the requested (default teacher) when both are present, the only one
/// present otherwise, none when the file has no branch prefixes.
fn select_branch(
    tensors: &[RawTensor<'_>],
    requested: Option<Branch>,
) -> Result<Option<Branch>, CheckpointError> {
    let has = |b: Branch| {
        tensors
            .iter()
            .any(|t| split_branch(&t.name).is_some_and(|(found, _)| found == b))
    };
    let (student, teacher) = (has(Branch::Student), has(Branch::Teacher));
    let only = match (student, teacher) {
        (true, true) => return Ok(Some(requested.unwrap_or(Branch::Teacher))),
        (false, false) => return Ok(None),
        (true, false) => Branch::Student,
        (false, true) => Branch::Teacher,
    };
    match requested {
        Some(r) if r != only => Err(CheckpointError::BranchMissing {
            requested: r,
            found: only,
        }),
        _ => Ok(Some(only)),
    }
}

// ---------------------------------------------------------------------------------------------
// Dtypes.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DtypeKind {
    /// Converted to f32.
    Float,
    /// Integers and booleans: counters and buffers, skipped.
    NonFloat,
    /// Floats we do not convert (fp8, fp6, fp4).
    Unsupported,
}

fn dtype_kind(dtype: Dtype) -> DtypeKind {
    match dtype {
        Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64 => DtypeKind::Float,
        Dtype::BOOL
        | Dtype::U8
        | Dtype::I8
        | Dtype::U16
        | Dtype::I16
        | Dtype::U32
        | Dtype::I32
        | Dtype::U64
        | Dtype::I64 => DtypeKind::NonFloat,
        _ => DtypeKind::Unsupported,
    }
}

/// Little-endian bytes of a float dtype as f32 (`None` for other dtypes). Allocates at most
/// twice the input's bytes (f16 / bf16).
fn decode_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    let data = match dtype {
        Dtype::F32 => bytes
            .as_chunks::<4>()
            .0
            .iter()
            .map(|c| f32::from_le_bytes(*c))
            .collect(),
        Dtype::F16 => bytes
            .as_chunks::<2>()
            .0
            .iter()
            .map(|c| f16_to_f32(u16::from_le_bytes(*c)))
            .collect(),
        Dtype::BF16 => bytes
            .as_chunks::<2>()
            .0
            .iter()
            .map(|c| bf16_to_f32(u16::from_le_bytes(*c)))
            .collect(),
        // Rounds to nearest; values beyond the f32 range become infinite and are then rejected.
        Dtype::F64 => bytes
            .as_chunks::<8>()
            .0
            .iter()
            .map(|c| f64::from_le_bytes(*c) as f32)
            .collect(),
        _ => return None,
    };
    Some(data)
}

/// IEEE 754 binary16 to f32 (exact: every f16 is an f32), subnormals, infinities and NaN
/// payloads included.
fn f16_to_f32(bits: u16) -> f32 {
    // 2^-24, the value of the least significant bit of a subnormal f16.
    const SUBNORMAL_UNIT: f32 = 1.0 / 16_777_216.0;
    let sign = u32::from(bits >> 15) << 31;
    let exponent = u32::from((bits >> 10) & 0x1F);
    let mantissa = bits & 0x3FF;
    match exponent {
        // Zero and subnormals: mantissa × 2^-24, exact in f32.
        0 => {
            let magnitude = f32::from(mantissa) * SUBNORMAL_UNIT;
            if sign == 0 { magnitude } else { -magnitude }
        }
        // Infinity (mantissa 0) or NaN (payload kept in the high mantissa bits).
        0x1F => f32::from_bits(sign | 0x7F80_0000 | (u32::from(mantissa) << 13)),
        // Normal: rebias the exponent from 15 to 127.
        _ => f32::from_bits(sign | ((exponent + 112) << 23) | (u32::from(mantissa) << 13)),
    }
}

/// bfloat16 to f32: bf16 is the upper half of an f32.
fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// An f32 tensor to serialise.
struct F32View<'a> {
    shape: &'a [usize],
    bytes: Vec<u8>,
}

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-builds a safetensors file: length prefix, header, data.
    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// One F32 tensor per name, each of shape [1] holding its index.
    fn named(names: &[&str]) -> Vec<u8> {
        let entries: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                format!(
                    r#""{n}":{{"dtype":"F32","shape":[1],"data_offsets":[{},{}]}}"#,
                    4 * i,
                    4 * i + 4
                )
            })
            .collect();
        let values: Vec<f32> = (0..names.len()).map(|i| i as f32).collect();
        file(&format!("{{{}}}", entries.join(",")), &f32_bytes(&values))
    }

    fn sample_state() -> StateDict {
        let mut state = StateDict::default();
        state.insert("cls_token", vec![1, 1, 3], vec![0.5, -1.25, 3.0e-7]);
        state.insert(
            "blocks.0.attn.qkv.weight",
            vec![2, 2],
            vec![1.0, -2.0, f32::MIN_POSITIVE, f32::MAX],
        );
        state.insert("scalar", vec![], vec![42.0]);
        state.metadata.insert("format".to_owned(), "pt".to_owned());
        state
            .metadata
            .insert("num_heads".to_owned(), "3".to_owned());
        state
    }

    #[test]
    fn sha256_matches_the_fips_180_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn write_then_read_returns_the_input() {
        let state = sample_state();
        let bytes = write_safetensors(&state).unwrap();
        assert_eq!(read_raw(&bytes).unwrap(), state);
        let loaded = read_safetensors(&bytes, None).unwrap();
        assert_eq!(loaded.state, state);
        assert_eq!(loaded.branch, None);
        assert!(loaded.skipped.is_empty());
        assert_eq!(loaded.sha256, sha256_hex(&bytes));
    }

    #[test]
    fn written_bytes_follow_the_safetensors_layout() {
        let mut state = StateDict::default();
        state.insert("w", vec![2], vec![1.0, -2.0]);
        let bytes = write_safetensors(&state).unwrap();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert!(header_len.is_multiple_of(8), "header padded to 8 bytes");
        let header: Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
        assert_eq!(header["w"]["dtype"], "F32");
        assert_eq!(header["w"]["data_offsets"], serde_json::json!([0, 8]));
        // 1.0 = 0x3F800000, -2.0 = 0xC0000000, little-endian.
        assert_eq!(&bytes[8 + header_len..], &[0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0]);
    }

    #[test]
    fn empty_state_round_trips_through_read_raw() {
        let bytes = write_safetensors(&StateDict::default()).unwrap();
        assert_eq!(read_raw(&bytes).unwrap(), StateDict::default());
        assert_eq!(
            read_safetensors(&bytes, None),
            Err(CheckpointError::Empty { skipped: 0 })
        );
    }

    #[test]
    fn write_rejects_bad_shape_nan_and_reserved_name() {
        let mut state = StateDict::default();
        state.insert("w", vec![2, 2], vec![1.0; 3]);
        let err = write_safetensors(&state).unwrap_err();
        assert!(matches!(
            err,
            CheckpointError::WriteShape {
                elements: 4,
                len: 3,
                ..
            }
        ));

        let mut state = StateDict::default();
        state.insert("w", vec![2], vec![1.0, f32::NAN]);
        let err = write_safetensors(&state).unwrap_err();
        assert!(matches!(err, CheckpointError::NonFinite { index: 1, .. }));

        let mut state = StateDict::default();
        state.insert(METADATA_KEY, vec![1], vec![1.0]);
        assert!(matches!(
            write_safetensors(&state),
            Err(CheckpointError::Write(_))
        ));
    }

    #[test]
    fn module_and_model_prefixes_are_stripped_in_any_order() {
        let bytes = named(&["module.cls_token", "model.module.pos_embed", "norm.weight"]);
        let loaded = read_safetensors(&bytes, None).unwrap();
        let names: Vec<&str> = loaded.state.tensors.keys().map(String::as_str).collect();
        assert_eq!(names, ["cls_token", "norm.weight", "pos_embed"]);
        assert_eq!(loaded.branch, None);
        // read_raw keeps names as written.
        let raw = read_raw(&bytes).unwrap();
        assert!(raw.get("module.cls_token").is_some());
    }

    #[test]
    fn rc_mae_files_default_to_the_teacher() {
        let bytes = named(&[
            "optimizer.state.0.exp_avg",
            "student.module.cls_token",
            "teacher.cls_token",
        ]);
        let loaded = read_safetensors(&bytes, None).unwrap();
        assert_eq!(loaded.branch, Some(Branch::Teacher));
        // The teacher's value is its index in the file, 2.
        assert_eq!(loaded.state.get("cls_token").unwrap().data, [2.0]);
        assert_eq!(loaded.state.tensors.len(), 1);
        assert_eq!(loaded.skipped, ["optimizer.state.0.exp_avg"]);

        let student = read_safetensors(&bytes, Some(Branch::Student)).unwrap();
        assert_eq!(student.branch, Some(Branch::Student));
        assert_eq!(student.state.get("cls_token").unwrap().data, [1.0]);
    }

    #[test]
    fn a_lone_branch_is_taken_and_the_missing_one_is_an_error() {
        let bytes = named(&["student.module.blocks.0.norm1.weight"]);
        let loaded = read_safetensors(&bytes, None).unwrap();
        assert_eq!(loaded.branch, Some(Branch::Student));
        assert!(loaded.state.get("blocks.0.norm1.weight").is_some());
        let err = read_safetensors(&bytes, Some(Branch::Teacher)).unwrap_err();
        assert_eq!(
            err,
            CheckpointError::BranchMissing {
                requested: Branch::Teacher,
                found: Branch::Student
            }
        );
        assert!(err.to_string().contains("`teacher.*`"));
    }

    #[test]
    fn branch_is_ignored_without_branch_prefixes() {
        let bytes = named(&["cls_token"]);
        let loaded = read_safetensors(&bytes, Some(Branch::Student)).unwrap();
        assert_eq!(loaded.branch, None);
    }

    #[test]
    fn f16_conversion_matches_hand_computed_values() {
        assert_eq!(f16_to_f32(0x3C00), 1.0);
        assert_eq!(f16_to_f32(0xC000), -2.0);
        // 0x3555: exponent 13, mantissa 341 → (1 + 341/1024) · 2^-2 = 1365/4096.
        assert_eq!(f16_to_f32(0x3555), 1365.0 / 4096.0);
        assert_eq!(f16_to_f32(0x7BFF), 65504.0, "largest finite f16");
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14), "smallest normal");
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24), "smallest subnormal");
        assert_eq!(
            f16_to_f32(0x03FF),
            1023.0 * 2f32.powi(-24),
            "largest subnormal"
        );
        assert_eq!(f16_to_f32(0x8001), -(2f32.powi(-24)));
        assert_eq!(f16_to_f32(0x0000).to_bits(), 0);
        assert_eq!(f16_to_f32(0x8000).to_bits(), 0x8000_0000, "negative zero");
        assert_eq!(f16_to_f32(0x7C00), f32::INFINITY);
        assert_eq!(f16_to_f32(0xFC00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7E00).is_nan());
        assert!(f16_to_f32(0x7C01).is_nan(), "signalling NaN stays NaN");
    }

    #[test]
    fn bf16_conversion_matches_hand_computed_values() {
        assert_eq!(bf16_to_f32(0x3F80), 1.0);
        assert_eq!(bf16_to_f32(0xC000), -2.0);
        // 0x4049 → f32 bits 0x40490000 = 1.5703125 · 2 = 3.140625.
        assert_eq!(bf16_to_f32(0x4049), 3.140625);
        assert_eq!(bf16_to_f32(0x0001), 2f32.powi(-133), "subnormal");
        assert_eq!(bf16_to_f32(0x7F80), f32::INFINITY);
        assert!(bf16_to_f32(0x7FC0).is_nan());
    }

    #[test]
    fn f16_bf16_f64_tensors_load_as_f32() {
        let header = r#"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"b":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},"c":{"dtype":"BF16","shape":[1],"data_offsets":[22,24]}}"#;
        let mut data = Vec::new();
        data.extend_from_slice(&0.1f64.to_le_bytes());
        data.extend_from_slice(&(-2.5f64).to_le_bytes());
        for h in [0x3C00u16, 0xC000, 0x0001] {
            data.extend_from_slice(&h.to_le_bytes());
        }
        data.extend_from_slice(&0x3F80u16.to_le_bytes());
        let loaded = read_safetensors(&file(header, &data), None).unwrap();
        let s = &loaded.state;
        // 0.1 rounds to the nearest f32, 0x3DCCCCCD.
        assert_eq!(s.get("a").unwrap().data[0].to_bits(), 0x3DCC_CCCD);
        assert_eq!(s.get("a").unwrap().data[1], -2.5);
        assert_eq!(s.get("b").unwrap().data, [1.0, -2.0, 2f32.powi(-24)]);
        assert_eq!(s.get("c").unwrap().data, [1.0]);
    }

    #[test]
    fn f64_beyond_f32_range_is_reported_as_written() {
        let header = r#"{"big":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}"#;
        let mut data = 1.0f64.to_le_bytes().to_vec();
        data.extend_from_slice(&1e300f64.to_le_bytes());
        let err = read_safetensors(&file(header, &data), None).unwrap_err();
        assert!(matches!(err, CheckpointError::NonFinite { index: 1, .. }));
        let message = err.to_string();
        assert!(
            message.contains("`big`") && message.contains("1e300"),
            "{message}"
        );
    }

    #[test]
    fn integer_buffers_are_skipped_by_adapted_name() {
        let header = r#"{"module.head.0.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"module.head.0.running_mean":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
        let mut data = 7i64.to_le_bytes().to_vec();
        data.extend_from_slice(&0.5f32.to_le_bytes());
        let loaded = read_safetensors(&file(header, &data), None).unwrap();
        assert_eq!(loaded.skipped, ["head.0.num_batches_tracked"]);
        assert_eq!(loaded.state.get("head.0.running_mean").unwrap().data, [0.5]);
        // read_raw has nowhere to report a skip, so it refuses.
        assert!(matches!(
            read_raw(&file(header, &data)),
            Err(CheckpointError::Dtype { .. })
        ));
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn file_round_trip_and_io_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let state = sample_state();
        write_file(&path, &state).unwrap();
        assert_eq!(read_file(&path, None).unwrap().state, state);

        let missing = dir.path().join("missing.safetensors");
        let err = read_file(&missing, None).unwrap_err();
        assert!(matches!(err, CheckpointError::Io { .. }));
        assert!(err.to_string().contains("missing.safetensors"));

        let bad = dir.path().join("bad.safetensors");
        std::fs::write(&bad, [1, 2, 3]).unwrap();
        let err = read_file(&bad, None).unwrap_err();
        assert!(matches!(
            &err,
            CheckpointError::File { inner, .. } if **inner == CheckpointError::TooShort { len: 3 }
        ));
        assert!(err.to_string().contains("bad.safetensors"), "{err}");
    }
}
