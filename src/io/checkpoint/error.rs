//! Why a checkpoint cannot be read or written: every message names the tensor, key or byte range.

use super::*;

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
    /// A file that is neither safetensors nor a PyTorch checkpoint.
    #[error(
        "not a checkpoint vitscape reads (safetensors, or a PyTorch .pth / .bin): it looks like \
         {looks_like}"
    )]
    NotACheckpoint {
        /// What the file looks like.
        looks_like: String,
    },
    /// A pickle (in a PyTorch checkpoint) that is malformed.
    #[error("PyTorch checkpoint: its pickle is malformed at byte {offset}: {reason}")]
    Pickle {
        /// Byte offset of the opcode in the pickle.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A pickle that names something a state dict does not need (and that Python would import
    /// and may call). Nothing is run.
    #[error(
        "PyTorch checkpoint refused: its pickle names `{global}` (at byte {offset}); {hint}. \
         Nothing in the file was run"
    )]
    Refused {
        /// `module.name`.
        global: String,
        /// Byte offset of the opcode in the pickle.
        offset: usize,
        /// Why, and what to do.
        hint: String,
    },
    /// A PyTorch checkpoint whose container is malformed.
    #[error("PyTorch checkpoint: {0}")]
    Torch(String),
    /// A PyTorch checkpoint without a recognisable state dict.
    #[error(
        "PyTorch checkpoint without a state dict: {found}; expected a state dict, or one under \
         'model', 'state_dict' or 'student'/'teacher'"
    )]
    NoStateDict {
        /// What the file holds instead.
        found: String,
    },
    /// Serialising failed.
    #[error("cannot write checkpoint: {0}")]
    Write(String),
}
