//! A restricted unpickler: reads the pickles inside PyTorch checkpoints as data and executes
//! nothing.
//!
//! Python's `pickle` is a small stack machine whose `GLOBAL` and `REDUCE` opcodes import and call
//! anything (`os.system` included). This one runs the same opcodes, but a `GLOBAL` resolves only
//! to the handful of names a state dict needs ([`Global`]): the tensor-rebuild functions,
//! PyTorch's typed storages, `OrderedDict`, `argparse.Namespace` (training arguments saved beside
//! the weights) and `_codecs.encode` (how protocol 2 writes `bytes`). Anything else is refused at
//! the `GLOBAL` itself, with its name. Nothing is ever imported or called: "calling" an allowed
//! name builds a [`Value`].
//!
//! Objects live in an arena and the stack and memo hold indices, so a memoised object that is
//! fetched many times costs nothing and later mutation (`SETITEMS` after `BINPUT`) is seen by
//! every reference, as in Python. Every opcode consumes at least one byte and every length is
//! checked against the bytes left, so the work and memory are bounded by the input's size.

use std::collections::HashMap;

use safetensors::Dtype;

use super::CheckpointError;
use machine::Machine;

mod calls;
mod machine;

/// Index of an object in a [`Pickle`]'s arena.
pub(crate) type Id = usize;

/// A name a `GLOBAL` may resolve to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Global {
    /// `collections.OrderedDict`.
    OrderedDict,
    /// `torch._utils._rebuild_tensor_v2` and `_rebuild_tensor`.
    RebuildTensor,
    /// `torch._utils._rebuild_parameter` and `_rebuild_parameter_with_state`.
    RebuildParameter,
    /// `torch.FloatStorage` and the other typed storages (only inside a persistent id).
    Storage(Dtype),
    /// `argparse.Namespace`.
    Namespace,
    /// `_codecs.encode` (protocol 2's `bytes`).
    Encode,
}

/// A storage named by a persistent id: its dtype, archive key and length in elements.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StorageRef {
    pub(crate) dtype: Dtype,
    pub(crate) key: String,
    pub(crate) numel: u64,
}

/// A tensor: a strided view of a storage.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TensorRef {
    pub(crate) storage: StorageRef,
    /// Offset into the storage, in elements.
    pub(crate) offset: u64,
    pub(crate) shape: Vec<usize>,
    /// Strides in elements.
    pub(crate) stride: Vec<usize>,
}

/// An unpickled object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer wider than 64 bits, as its little-endian two's-complement bytes.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Id>),
    Tuple(Vec<Id>),
    Set(Vec<Id>),
    /// A dict or `OrderedDict`, entries in insertion order.
    Dict(Vec<(Id, Id)>),
    /// An `argparse.Namespace` and its attributes.
    Namespace(Vec<(Id, Id)>),
    Global(Global),
    Storage(StorageRef),
    /// Boxed: it is the one large variant.
    Tensor(Box<TensorRef>),
}

/// An unpickled object graph.
#[derive(Debug)]
pub(crate) struct Pickle {
    pub(super) arena: Vec<Value>,
    /// The object `STOP` returned.
    pub(crate) root: Id,
    /// Bytes the pickle took (a file may hold several pickles in a row).
    pub(crate) len: usize,
}

impl Pickle {
    /// The object at `id`.
    pub(crate) fn get(&self, id: Id) -> &Value {
        // Ids come from this pickle's own arena; an unknown id reads as None.
        self.arena.get(id).unwrap_or(&Value::None)
    }

    /// Every object, in creation order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Value> {
        self.arena.iter()
    }

    /// The string at `id`, if it is one.
    pub(crate) fn str(&self, id: Id) -> Option<&str> {
        match self.get(id) {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The Python type of the object at `id`, for messages.
    pub(crate) fn kind(&self, id: Id) -> &'static str {
        match self.get(id) {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Set(_) => "set",
            Value::Dict(_) => "dict",
            Value::Namespace(_) => "argparse.Namespace",
            Value::Global(_) => "class",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
        }
    }
}

/// Dtype of PyTorch's typed storage class `torch.<name>`.
fn storage_dtype(name: &str) -> Option<Dtype> {
    Some(match name {
        "FloatStorage" => Dtype::F32,
        "DoubleStorage" => Dtype::F64,
        "HalfStorage" => Dtype::F16,
        "BFloat16Storage" => Dtype::BF16,
        "LongStorage" => Dtype::I64,
        "IntStorage" => Dtype::I32,
        "ShortStorage" => Dtype::I16,
        "CharStorage" => Dtype::I8,
        "ByteStorage" => Dtype::U8,
        "BoolStorage" => Dtype::BOOL,
        _ => return None,
    })
}

/// What a `GLOBAL module name` may resolve to, or `None` when it is refused.
pub(super) fn resolve(module: &str, name: &str) -> Option<Global> {
    Some(match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => Global::RebuildTensor,
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            Global::RebuildParameter
        }
        ("torch", storage) => Global::Storage(storage_dtype(storage)?),
        ("argparse", "Namespace") => Global::Namespace,
        ("_codecs", "encode") => Global::Encode,
        _ => return None,
    })
}

/// Why a refused name is not read, with what to do when it is a common case.
pub(super) fn refusal_hint(module: &str, name: &str) -> String {
    let root = module.split('.').next().unwrap_or(module);
    if matches!(
        root,
        "timm" | "models_mae" | "models_vit" | "transformers" | "torchvision" | "__main__"
    ) || module.starts_with("torch.nn")
    {
        format!(
            "the file holds a pickled Python object (`{module}.{name}`), not a state dict; save \
             the weights with `torch.save(model.state_dict(), path)` (or load it in Python and \
             save its state_dict)"
        )
    } else {
        format!(
            "a state dict never needs `{module}.{name}`; vitscape reads only tensors, storages, \
             OrderedDict, argparse.Namespace and plain values, and executes nothing"
        )
    }
}

/// Unpickles one pickle from the start of `bytes` (PyTorch's persistent ids become
/// [`StorageRef`]s).
pub(crate) fn unpickle(bytes: &[u8]) -> Result<Pickle, CheckpointError> {
    Machine {
        data: bytes,
        pos: 0,
        arena: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        budget: std::cell::Cell::new(bytes.len().saturating_mul(4).saturating_add(4096)),
    }
    .run()
}
