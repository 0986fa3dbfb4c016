//! PyTorch checkpoints (`torch.save`, `.pth` / `.bin`), read with the restricted unpickler.
//!
//! Two containers:
//! - the zip format (PyTorch ≥ 1.6): `<archive>/data.pkl` plus one stored entry
//!   `<archive>/data/<key>` per storage, which is borrowed from the file bytes, not copied;
//! - the legacy format: five pickles in a row (magic number, protocol, system info, the object,
//!   the storage keys) followed by each storage as an 8-byte element count and its bytes.
//!
//! The state dict is then found in the layouts researchers' files use: a plain state dict
//! (`torch.save(model.state_dict())`, HF `pytorch_model.bin`), `{'model': …}` (MAE, DeiT, timm),
//! `{'state_dict': …}` (DDP saves, Lightning), `{'student': …, 'teacher': …}` (RC-MAE; the branch
//! is chosen afterwards like a safetensors file's `student.*` / `teacher.*` keys).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::io::Cursor;

use safetensors::Dtype;

use super::pickle::{Id, Pickle, TensorRef, Value, unpickle};
use super::{CheckpointError, RawTensor, checked_product};

/// The magic number opening a legacy `torch.save` file (its first pickle).
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// The protocol version the legacy format's second pickle holds.
const LEGACY_PROTOCOL: i64 = 1001;

/// Keys under which checkpoints keep their weights, most specific first.
const STATE_DICT_KEYS: [&str; 8] = [
    "model",
    "state_dict",
    "model_state_dict",
    "module",
    "net",
    "network",
    "model_ema",
    "state_dict_ema",
];

/// Deepest nesting of dicts followed inside a state dict (a cycle or a bomb stops here).
const MAX_DEPTH: usize = 16;

/// The tensors of a PyTorch checkpoint and where in it they were found.
pub(crate) struct TorchFile<'a> {
    /// Tensors, named with dots as in `state_dict()` (RC-MAE files: `student.…`, `teacher.…`).
    pub(crate) tensors: Vec<RawTensor<'a>>,
    /// Values in the state dict that are not tensors (skipped).
    pub(crate) skipped: Vec<String>,
    /// The container and where the state dict was, for the user ("PyTorch zip checkpoint, state
    /// dict under 'model' (not read: 'args', 'epoch')").
    pub(crate) source: String,
}

/// True when `bytes` open like a zip archive (the current `torch.save` format).
pub(crate) fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// True when `bytes` open like a pickle (`PROTO n`), as the legacy `torch.save` format does.
pub(crate) fn is_pickle(bytes: &[u8]) -> bool {
    matches!(bytes, [0x80, version, ..] if *version <= 5)
}

fn torch_error(reason: impl Into<String>) -> CheckpointError {
    CheckpointError::Torch(reason.into())
}

/// Reads a zip-format PyTorch checkpoint.
pub(crate) fn read_zip(bytes: &[u8]) -> Result<TorchFile<'_>, CheckpointError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| torch_error(format!("a zip archive that cannot be read: {e}")))?;
    let pickle_name = archive
        .file_names()
        .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .map(str::to_owned)
        .ok_or_else(|| CheckpointError::NotACheckpoint {
            looks_like: "a zip archive without `<name>/data.pkl`, so not a PyTorch checkpoint \
                         (a zipped image folder or a NumPy .npz is a zip too)"
                .into(),
        })?;
    let prefix = pickle_name.trim_end_matches("data.pkl").to_owned();
    if let Ok(order) = stored(&mut archive, bytes, &format!("{prefix}byteorder"))
        && order.trim_ascii() != b"little"
    {
        return Err(torch_error(format!(
            "byteorder is `{}`; only little-endian checkpoints are read",
            String::from_utf8_lossy(order).trim()
        )));
    }
    let pickle = unpickle(stored(&mut archive, bytes, &pickle_name)?)?;
    let mut storages = HashMap::new();
    assemble(&pickle, bytes.len(), "PyTorch zip checkpoint", |_, key| {
        if let Some(&data) = storages.get(key) {
            return Ok(data);
        }
        let data = stored(&mut archive, bytes, &format!("{prefix}data/{key}"))?;
        storages.insert(key.to_owned(), data);
        Ok(data)
    })
}

/// The bytes of a stored (uncompressed) zip entry, borrowed from the file.
fn stored<'a>(
    archive: &mut zip::ZipArchive<Cursor<&'a [u8]>>,
    bytes: &'a [u8],
    name: &str,
) -> Result<&'a [u8], CheckpointError> {
    let entry = archive
        .by_name(name)
        .map_err(|e| torch_error(format!("entry `{name}`: {e}")))?;
    if entry.compression() != zip::CompressionMethod::Stored {
        return Err(torch_error(format!(
            "entry `{name}` is compressed ({}); torch.save stores entries uncompressed, so \
             re-save the file with torch.save rather than re-zipping it",
            entry.compression()
        )));
    }
    let start = usize::try_from(entry.data_start()).ok();
    let len = usize::try_from(entry.size()).ok();
    start
        .zip(len)
        .and_then(|(s, n)| bytes.get(s..s.checked_add(n)?))
        .ok_or_else(|| {
            torch_error(format!(
                "entry `{name}` runs past the end of the file (truncated file?)"
            ))
        })
}

/// Reads a legacy (pre-1.6, non-zip) PyTorch checkpoint.
pub(crate) fn read_legacy(bytes: &[u8]) -> Result<TorchFile<'_>, CheckpointError> {
    let not_torch = || CheckpointError::NotACheckpoint {
        looks_like: "a Python pickle that torch.save did not write (no PyTorch magic number)"
            .into(),
    };
    // A refused or malformed first pickle says so (a hostile plain pickle is refused by name).
    let magic = unpickle(bytes)?;
    if !matches!(magic.get(magic.root), Value::BigInt(b) if b.as_slice() == LEGACY_MAGIC) {
        return Err(not_torch());
    }
    let mut pos = magic.len;
    let mut next = |what: &str| -> Result<Pickle, CheckpointError> {
        let pickle = unpickle(&bytes[pos..]).map_err(|e| match e {
            refused @ CheckpointError::Refused { .. } => refused,
            e => torch_error(format!("legacy format, {what} (at byte {pos}): {e}")),
        })?;
        pos += pickle.len;
        Ok(pickle)
    };
    let protocol = next("protocol version")?;
    if protocol.get(protocol.root) != &Value::Int(LEGACY_PROTOCOL) {
        return Err(torch_error(format!(
            "legacy format with protocol version {:?}; expected {LEGACY_PROTOCOL}",
            protocol.get(protocol.root)
        )));
    }
    let info = next("system info")?;
    if let Value::Dict(pairs) = info.get(info.root) {
        let little = pairs
            .iter()
            .find(|(k, _)| info.str(*k) == Some("little_endian"))
            .map(|(_, v)| info.get(*v));
        if little == Some(&Value::Bool(false)) {
            return Err(torch_error("written on a big-endian machine; not read"));
        }
    }
    let pickle = next("the saved object")?;
    let keys = next("storage keys")?;
    let Value::List(key_ids) = keys.get(keys.root) else {
        return Err(torch_error(
            "legacy format: the storage keys are not a list",
        ));
    };
    let dtypes: HashMap<&str, Dtype> = pickle
        .storages()
        .map(|s| (s.key.as_str(), s.dtype))
        .collect();
    let mut storages: HashMap<String, &[u8]> = HashMap::new();
    let mut at = pos;
    for &id in key_ids {
        let key = keys
            .str(id)
            .ok_or_else(|| torch_error("legacy format: a storage key is not a string"))?;
        let dtype = dtypes.get(key).ok_or_else(|| {
            torch_error(format!("legacy format: storage `{key}` has no known dtype"))
        })?;
        let count = bytes
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| torch_error(format!("storage `{key}` is cut off (truncated file?)")))?;
        let len = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(dtype.bitsize() / 8));
        let data = len
            .and_then(|n| bytes.get(at + 8..(at + 8).checked_add(n)?))
            .ok_or_else(|| {
                torch_error(format!(
                    "storage `{key}` declares {count} elements, past the end of the file \
                     (truncated file?)"
                ))
            })?;
        at += 8 + data.len();
        storages.insert(key.to_owned(), data);
    }
    assemble(
        &pickle,
        bytes.len(),
        "legacy PyTorch checkpoint",
        |name, key| {
            storages.get(key).copied().ok_or_else(|| {
                torch_error(format!(
                    "tensor `{name}` uses storage `{key}`, which the file does not hold"
                ))
            })
        },
    )
}

/// The state dict's tensors as views of their storages (`storage_of(tensor, key)` finds a
/// storage's bytes), checked against the file's size; `container` names the format for the user.
fn assemble<'a>(
    pickle: &Pickle,
    file_len: usize,
    container: &str,
    mut storage_of: impl FnMut(&str, &str) -> Result<&'a [u8], CheckpointError>,
) -> Result<TorchFile<'a>, CheckpointError> {
    let located = locate(pickle)?;
    check_total(&located.tensors, file_len)?;
    let mut tensors = Vec::with_capacity(located.tensors.len());
    for (name, tensor) in located.tensors {
        let data = storage_of(&name, &tensor.storage.key)?;
        tensors.push(view(name, &tensor, data)?);
    }
    Ok(TorchFile {
        tensors,
        skipped: located.skipped,
        source: format!("{container}, {}", located.place),
    })
}

/// Refuses tensors that add up to far more than the file (one storage viewed again and again
/// under many names would decode to gigabytes).
fn check_total(tensors: &[(String, TensorRef)], file_len: usize) -> Result<(), CheckpointError> {
    let limit = file_len.saturating_mul(2).saturating_add(1 << 20);
    let mut total = 0usize;
    for (_, t) in tensors {
        let bytes = checked_product(&t.shape)
            .and_then(|n| n.checked_mul(t.storage.dtype.bitsize() / 8))
            .unwrap_or(usize::MAX);
        total = total.saturating_add(bytes);
        if total > limit {
            return Err(torch_error(format!(
                "its tensors add up to more than {limit} bytes, over twice the {file_len}-byte \
                 file (the same storage viewed under many names?)"
            )));
        }
    }
    Ok(())
}

/// A tensor's bytes: a slice of its storage when contiguous, else gathered (never more elements
/// than the storage holds, so a hostile stride cannot make it allocate beyond the file).
fn view<'a>(
    name: String,
    tensor: &TensorRef,
    storage: &'a [u8],
) -> Result<RawTensor<'a>, CheckpointError> {
    let dtype = tensor.storage.dtype;
    let size = dtype.bitsize() / 8;
    let available = storage.len() / size;
    let bad = |reason: String| torch_error(format!("tensor `{name}`: {reason}"));
    let numel = checked_product(&tensor.shape)
        .ok_or_else(|| bad(format!("size {:?} overflows", tensor.shape)))?;
    let offset = usize::try_from(tensor.offset).unwrap_or(usize::MAX);
    let bytes = if numel == 0 {
        Cow::Owned(Vec::new())
    } else {
        let last = tensor
            .shape
            .iter()
            .zip(&tensor.stride)
            .try_fold(offset, |acc, (&d, &s)| {
                acc.checked_add((d - 1).checked_mul(s)?)
            })
            .filter(|&last| last < available)
            .ok_or_else(|| {
                bad(format!(
                    "size {:?}, stride {:?} and offset {} reach past its {available}-element \
                     storage",
                    tensor.shape, tensor.stride, tensor.offset
                ))
            })?;
        if contiguous(&tensor.shape, &tensor.stride) {
            Cow::Borrowed(&storage[offset * size..(last + 1) * size])
        } else if numel > available {
            return Err(bad(format!(
                "{numel} elements from a {available}-element storage (an expanded view); save \
                 it with .contiguous()"
            )));
        } else {
            Cow::Owned(gather(tensor, offset, size, storage, numel))
        }
    };
    Ok(RawTensor {
        name,
        dtype,
        shape: tensor.shape.clone(),
        bytes,
    })
}

/// Whether strides are row-major for the shape (size-1 dimensions may have any stride).
fn contiguous(shape: &[usize], stride: &[usize]) -> bool {
    let mut expected = 1usize;
    for (&d, &s) in shape.iter().zip(stride).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(d);
    }
    true
}

/// Copies a strided view into row-major order; every index was checked against the storage.
fn gather(tensor: &TensorRef, offset: usize, size: usize, storage: &[u8], numel: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(numel * size);
    let mut index = vec![0usize; tensor.shape.len()];
    for _ in 0..numel {
        let element: usize = offset
            + index
                .iter()
                .zip(&tensor.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        out.extend_from_slice(&storage[element * size..(element + 1) * size]);
        for axis in (0..index.len()).rev() {
            index[axis] += 1;
            if index[axis] < tensor.shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

/// The state dict inside an unpickled checkpoint.
struct Located {
    tensors: Vec<(String, TensorRef)>,
    /// Dicts already flattened.
    visited: std::collections::HashSet<Id>,
    skipped: Vec<String>,
    /// "state dict under 'model' (not read: 'args', 'epoch')".
    place: String,
}

impl Pickle {
    /// Every storage referenced anywhere in the pickle.
    pub(crate) fn storages(&self) -> impl Iterator<Item = &super::pickle::StorageRef> {
        self.values().filter_map(|v| match v {
            Value::Storage(s) => Some(s),
            Value::Tensor(t) => Some(&t.storage),
            _ => None,
        })
    }

    fn dict(&self, id: Id) -> Option<&[(Id, Id)]> {
        match self.get(id) {
            Value::Dict(pairs) => Some(pairs),
            _ => None,
        }
    }

    /// Tensors in a dict, directly or in nested dicts. `known` remembers every dict already
    /// looked at (a dict shared or nested in itself costs nothing the second time), so the
    /// work is bounded by the pickle's size.
    fn holds_tensors(&self, id: Id, depth: usize, known: &mut HashMap<Id, bool>) -> bool {
        if let Some(&answer) = known.get(&id) {
            return answer;
        }
        // In progress: a cycle back to this dict adds nothing.
        known.insert(id, false);
        let answer = depth < MAX_DEPTH
            && self.dict(id).is_some_and(|pairs| {
                pairs.iter().any(|&(_, v)| {
                    matches!(self.get(v), Value::Tensor(_))
                        || self.holds_tensors(v, depth + 1, known)
                })
            });
        known.insert(id, answer);
        answer
    }

    /// Collects a state dict's tensors under dotted names.
    fn flatten(
        &self,
        id: Id,
        prefix: &str,
        depth: usize,
        out: &mut Located,
    ) -> Result<(), CheckpointError> {
        if depth >= MAX_DEPTH {
            return Err(torch_error(format!(
                "dicts nested more than {MAX_DEPTH} deep under `{prefix}`"
            )));
        }
        // A state dict is a tree: the same dict twice would name its tensors twice (and a
        // chain of shared dicts, exponentially many times).
        if !out.visited.insert(id) {
            return Err(torch_error(format!(
                "the state dict holds the same dict twice (again under `{prefix}`); expected \
                 a tree of names"
            )));
        }
        for &(k, v) in self.dict(id).unwrap_or_default() {
            let key = match self.get(k) {
                Value::Str(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                _ => {
                    return Err(torch_error(format!(
                        "the state dict has a {} key under `{prefix}`; expected names",
                        self.kind(k)
                    )));
                }
            };
            let name = format!("{prefix}{key}");
            match self.get(v) {
                Value::Tensor(t) => out.tensors.push((name, (**t).clone())),
                Value::Dict(_) => self.flatten(v, &format!("{name}."), depth + 1, out)?,
                _ => out.skipped.push(name),
            }
        }
        Ok(())
    }
}

/// Finds the state dict: the top level when it holds tensors, both RC-MAE branches, or the
/// first of [`STATE_DICT_KEYS`] (or the only key) that holds tensors.
fn locate(pickle: &Pickle) -> Result<Located, CheckpointError> {
    let root = pickle.root;
    let Some(pairs) = pickle.dict(root) else {
        return Err(CheckpointError::NoStateDict {
            found: format!("the file holds a {}, not a dict", pickle.kind(root)),
        });
    };
    let mut out = Located {
        tensors: Vec::new(),
        visited: std::collections::HashSet::new(),
        skipped: Vec::new(),
        place: String::new(),
    };
    let key_of = |(k, _): &(Id, Id)| pickle.str(*k).unwrap_or("?");
    let mut known = HashMap::new();
    // Optimizer and scaler state hold tensors too, but never the weights.
    let holding: Vec<&(Id, Id)> = pairs
        .iter()
        .filter(|p| !is_training_state(key_of(p)))
        .filter(|(_, v)| pickle.holds_tensors(*v, 0, &mut known))
        .collect();

    let chosen: Vec<&(Id, Id)> = if pairs
        .iter()
        .any(|(_, v)| matches!(pickle.get(*v), Value::Tensor(_)))
    {
        pickle.flatten(root, "", 0, &mut out)?;
        out.place = "a plain state dict".into();
        return finish(out);
    } else if ["student", "teacher"]
        .iter()
        .all(|b| holding.iter().any(|p| key_of(p) == *b))
    {
        holding
            .iter()
            .copied()
            .filter(|p| matches!(key_of(p), "student" | "teacher"))
            .collect()
    } else if let Some(key) = STATE_DICT_KEYS
        .iter()
        .find(|k| holding.iter().any(|p| key_of(p) == **k))
    {
        holding
            .iter()
            .copied()
            .filter(|p| key_of(p) == *key)
            .collect()
    } else if let [only] = holding.as_slice() {
        vec![*only]
    } else {
        let describe = |p: &&(Id, Id)| format!("'{}' ({})", key_of(p), pickle.kind(p.1));
        return Err(CheckpointError::NoStateDict {
            found: if holding.is_empty() {
                format!(
                    "no tensors anywhere; its top-level keys are {}",
                    list(pairs.iter().map(|p| describe(&p)))
                )
            } else {
                format!(
                    "tensors under several keys ({}) and none is one of {}",
                    list(holding.iter().map(describe)),
                    STATE_DICT_KEYS.join(", ")
                )
            },
        });
    };

    let branches = chosen.len() > 1;
    for &(k, v) in &chosen {
        let prefix = if branches {
            format!("{}.", key_of(&(*k, *v)))
        } else {
            String::new()
        };
        pickle.flatten(*v, &prefix, 0, &mut out)?;
    }
    let names: Vec<String> = chosen.iter().map(|p| format!("'{}'", key_of(p))).collect();
    let unused: BTreeSet<String> = pairs
        .iter()
        .filter(|p| !chosen.contains(p))
        .map(|p| format!("'{}'", key_of(p)))
        .collect();
    out.place = format!(
        "state dict under {}{}",
        names.join(" and "),
        if unused.is_empty() {
            String::new()
        } else {
            format!(
                " (not read: {})",
                unused.into_iter().collect::<Vec<_>>().join(", ")
            )
        }
    );
    finish(out)
}

/// Top-level keys of training state saved beside the weights (optimizer moments, AMP scaler,
/// scheduler), never taken for the state dict.
fn is_training_state(key: &str) -> bool {
    key.starts_with("optim") || key.contains("scaler") || key.contains("scheduler")
}

fn finish(mut out: Located) -> Result<Located, CheckpointError> {
    if out.tensors.is_empty() {
        return Err(CheckpointError::NoStateDict {
            found: "the state dict holds no tensors".into(),
        });
    }
    out.tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// `a, b, c` (at most 12, then how many more).
fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    let shown = items
        .iter()
        .take(12)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > 12 {
        format!("{shown} and {} more", items.len() - 12)
    } else {
        shown
    }
}
