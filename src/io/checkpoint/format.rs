//! Which kind of file a checkpoint is (safetensors, PyTorch zip, legacy PyTorch), and what a file
//! that is neither looks like, so the message can say so.

use super::*;

/// The container of a checkpoint file, told from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// safetensors (`.safetensors`).
    Safetensors,
    /// `torch.save`'s zip format (`.pth`, `.pt`, `.bin`; PyTorch ≥ 1.6).
    TorchZip,
    /// A pickle: `torch.save`'s legacy format, or some other pickle.
    Pickle,
}

/// The container of `bytes`: zip and pickle by their magic bytes, everything else is read as
/// safetensors (whose errors then describe what is wrong).
pub fn format_of(bytes: &[u8]) -> Format {
    // A safetensors header length can begin with byte 0x80 (128, 384, …: the pickle PROTO
    // opcode), so a plausible safetensors opening wins.
    let plausible_safetensors = header_opens_json(bytes)
        && bytes
            .first_chunk::<LEN_PREFIX_BYTES>()
            .is_some_and(|n| u64::from_le_bytes(*n) <= (bytes.len() - LEN_PREFIX_BYTES) as u64);
    if plausible_safetensors {
        Format::Safetensors
    } else if torch::is_zip(bytes) {
        Format::TorchZip
    } else if torch::is_pickle(bytes) {
        Format::Pickle
    } else {
        Format::Safetensors
    }
}

/// What a file that is not a checkpoint looks like, from its magic bytes or its text.
pub fn looks_like(bytes: &[u8]) -> String {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]);
    let lower = text.trim_start().to_lowercase();
    let known = if bytes.is_empty() {
        "an empty file"
    } else if lower.starts_with("version https://git-lfs") {
        "a Git LFS pointer, not the file itself (run `git lfs pull`, or download the file)"
    } else if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        "an HTML page (a failed download, or a login page saved in place of the file?)"
    } else if starts(b"\x1f\x8b") {
        "a gzip file (decompress it first)"
    } else if starts(b"\x89HDF\r\n\x1a\n") {
        "an HDF5 file (Keras/TensorFlow weights?)"
    } else if starts(b"\x93NUMPY") {
        "a NumPy .npy array"
    } else if starts(b"GGUF") {
        "a GGUF file (llama.cpp)"
    } else if starts(b"\x89PNG") || starts(b"\xff\xd8\xff") || starts(b"GIF8") {
        "an image"
    } else if bytes.get(257..262) == Some(b"ustar") {
        "a tar archive (unpack it first)"
    } else if lower.starts_with('{') || lower.starts_with('[') {
        "JSON text"
    } else if text.chars().all(|c| !c.is_control() || c.is_whitespace()) {
        "a text file"
    } else {
        ""
    };
    let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    if known.is_empty() {
        format!("an unknown format (first bytes {})", head.join(" "))
    } else {
        known.to_owned()
    }
}

/// Reads a checkpoint of any supported kind — safetensors, or a PyTorch `.pth` / `.bin` (zip or
/// legacy) through the restricted unpickler — and adapts its names like [`read_safetensors`].
pub fn read_checkpoint(
    bytes: &[u8],
    branch: Option<Branch>,
) -> Result<LoadedCheckpoint, CheckpointError> {
    read_checkpoint_inner(bytes, branch, None)
}

/// [`read_checkpoint`] of bytes whose sha256 the caller has already computed (and checked): it is
/// taken as is instead of hashing the file again (the page holds its files by their hashes).
pub fn read_checkpoint_known(
    bytes: &[u8],
    branch: Option<Branch>,
    sha256: &str,
) -> Result<LoadedCheckpoint, CheckpointError> {
    read_checkpoint_inner(bytes, branch, Some(sha256))
}

fn read_checkpoint_inner(
    bytes: &[u8],
    branch: Option<Branch>,
    known: Option<&str>,
) -> Result<LoadedCheckpoint, CheckpointError> {
    let torch = match format_of(bytes) {
        Format::Safetensors => {
            return read_safetensors_known(bytes, branch, known).map_err(|e| match e {
                // The first 8 bytes are no safetensors header length: say what the file is.
                CheckpointError::TooShort { len: 0 }
                | CheckpointError::HeaderTooLarge { .. }
                | CheckpointError::HeaderNotUtf8 { .. }
                | CheckpointError::HeaderPastEnd { .. }
                    if !header_opens_json(bytes) =>
                {
                    if maybe_text_pickle(bytes)
                        && let Err(e) = torch::read_legacy(bytes)
                        && !matches!(e, CheckpointError::Pickle { .. })
                    {
                        // A protocol-0 pickle (no PROTO opcode): refused by name, or not torch's.
                        return e;
                    }
                    CheckpointError::NotACheckpoint {
                        looks_like: looks_like(bytes),
                    }
                }
                other => other,
            });
        }
        Format::TorchZip => torch::read_zip(bytes)?,
        Format::Pickle => torch::read_legacy(bytes)?,
    };
    let parsed = Parsed {
        metadata: BTreeMap::new(),
        tensors: torch.tensors,
    };
    let mut loaded = adapt(parsed, bytes, branch, known)?;
    loaded.skipped.extend(torch.skipped);
    loaded.skipped.sort();
    loaded.source = Some(torch.source);
    Ok(loaded)
}

/// Whether the bytes could be a protocol-0 pickle, which has no PROTO opcode: it opens with one
/// of the opcodes such pickles start with and ends with STOP.
fn maybe_text_pickle(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|b| b"(c}]lNIFSVd".contains(b)) && bytes.last() == Some(&b'.')
}

/// Whether byte 8 opens a JSON object, as a safetensors header does.
fn header_opens_json(bytes: &[u8]) -> bool {
    bytes.get(LEN_PREFIX_BYTES) == Some(&b'{')
}
