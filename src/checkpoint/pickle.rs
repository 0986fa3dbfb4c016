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
    Tensor(TensorRef),
}

/// An unpickled object graph.
#[derive(Debug)]
pub(crate) struct Pickle {
    arena: Vec<Value>,
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
fn resolve(module: &str, name: &str) -> Option<Global> {
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
fn refusal_hint(module: &str, name: &str) -> String {
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
    }
    .run()
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    arena: Vec<Value>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
}

/// Opcode names for messages about opcodes refused outright.
fn refused_opcode(op: u8) -> Option<&'static str> {
    Some(match op {
        b'o' => "OBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        b'P' => "PERSID",
        _ => return None,
    })
}

impl Machine<'_> {
    fn error(&self, at: usize, reason: impl Into<String>) -> CheckpointError {
        CheckpointError::Pickle {
            offset: at,
            reason: reason.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], CheckpointError> {
        let start = self.pos;
        let end = start
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                self.error(
                    start,
                    format!(
                        "needs {n} more bytes but {} are left (truncated file?)",
                        self.data.len() - start
                    ),
                )
            })?;
        self.pos = end;
        Ok(&self.data[start..end])
    }

    fn byte(&mut self) -> Result<u8, CheckpointError> {
        Ok(self.take(1)?[0])
    }

    fn le<const N: usize>(&mut self) -> Result<[u8; N], CheckpointError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A length field, checked against the bytes left before anything is allocated.
    fn len_of(&mut self, width: usize) -> Result<usize, CheckpointError> {
        let at = self.pos;
        let n: u64 = match width {
            1 => u64::from(self.byte()?),
            4 => {
                let v = i32::from_le_bytes(self.le::<4>()?);
                u64::try_from(v).map_err(|_| self.error(at, format!("negative length {v}")))?
            }
            _ => u64::from_le_bytes(self.le::<8>()?),
        };
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.data.len() - self.pos)
            .ok_or_else(|| {
                self.error(
                    at,
                    format!(
                        "declares {n} bytes but {} are left (truncated file?)",
                        self.data.len() - self.pos
                    ),
                )
            })
    }

    /// A protocol-0 text argument: the bytes up to the next newline.
    fn line(&mut self) -> Result<&str, CheckpointError> {
        let start = self.pos;
        let rest = &self.data[start..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.error(start, "text argument without its newline"))?;
        self.pos = start + end + 1;
        std::str::from_utf8(&rest[..end])
            .map_err(|_| self.error(start, "text argument is not UTF-8"))
    }

    fn push(&mut self, value: Value) {
        self.arena.push(value);
        self.stack.push(self.arena.len() - 1);
    }

    fn pop(&mut self, at: usize) -> Result<Id, CheckpointError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.error(at, "pops from an empty stack"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.error(at, "pops from an empty stack"))
    }

    fn top(&self, at: usize) -> Result<Id, CheckpointError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        self.stack
            .last()
            .copied()
            .filter(|_| self.stack.len() > floor)
            .ok_or_else(|| self.error(at, "reads an empty stack"))
    }

    /// The objects pushed since the last MARK, which is removed.
    fn pop_mark(&mut self, at: usize) -> Result<Vec<Id>, CheckpointError> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| self.error(at, "needs a MARK but none is open"))?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn memo_put(&mut self, at: usize, key: u64) -> Result<(), CheckpointError> {
        let top = self.top(at)?;
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, at: usize, key: u64) -> Result<(), CheckpointError> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| self.error(at, format!("fetches memo entry {key}, never stored")))?;
        self.stack.push(id);
        Ok(())
    }

    fn text_int(&self, at: usize, text: &str) -> Result<Value, CheckpointError> {
        let text = text.trim_end_matches('L');
        match text {
            "00" => Ok(Value::Bool(false)),
            "01" => Ok(Value::Bool(true)),
            _ => text
                .parse::<i64>()
                .map(Value::Int)
                .map_err(|_| self.error(at, format!("`{text}` is not an integer"))),
        }
    }

    fn long(bytes: &[u8]) -> Value {
        if bytes.len() > 8 {
            return Value::BigInt(bytes.to_vec());
        }
        let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
        let mut full = [if negative { 0xff } else { 0 }; 8];
        full[..bytes.len()].copy_from_slice(bytes);
        Value::Int(i64::from_le_bytes(full))
    }

    fn string(&self, at: usize, bytes: &[u8]) -> Result<Value, CheckpointError> {
        std::str::from_utf8(bytes)
            .map(|s| Value::Str(s.to_owned()))
            .map_err(|_| self.error(at, "string is not UTF-8"))
    }

    fn run(mut self) -> Result<Pickle, CheckpointError> {
        loop {
            let at = self.pos;
            let op = self
                .byte()
                .map_err(|_| self.error(at, "ends without a STOP opcode (truncated file?)"))?;
            match op {
                0x80 => {
                    let version = self.byte()?;
                    if version > 5 {
                        return Err(
                            self.error(at, format!("pickle protocol {version} (expected 0 to 5)"))
                        );
                    }
                }
                0x95 => {
                    self.le::<8>()?;
                }
                b'.' => {
                    let root = self.top(at)?;
                    return Ok(Pickle {
                        arena: self.arena,
                        root,
                        len: self.pos,
                    });
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    let floor = self.marks.last().copied();
                    if floor.is_some_and(|m| self.stack.len() <= m) {
                        self.marks.pop();
                    } else {
                        self.pop(at)?;
                    }
                }
                b'1' => {
                    self.pop_mark(at)?;
                }
                b'2' => {
                    let top = self.top(at)?;
                    self.stack.push(top);
                }
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'I' | b'L' => {
                    let text = self.line()?.to_owned();
                    let value = self.text_int(at, &text)?;
                    self.push(value);
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.le::<4>()?);
                    self.push(Value::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.byte()?;
                    self.push(Value::Int(i64::from(v)));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.le::<2>()?);
                    self.push(Value::Int(i64::from(v)));
                }
                0x8a | 0x8b => {
                    let n = self.len_of(if op == 0x8a { 1 } else { 4 })?;
                    let value = Self::long(self.take(n)?);
                    self.push(value);
                }
                b'F' => {
                    let text = self.line()?.to_owned();
                    let v = text
                        .parse::<f64>()
                        .map_err(|_| self.error(at, format!("`{text}` is not a float")))?;
                    self.push(Value::Float(v));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.le::<8>()?);
                    self.push(Value::Float(v));
                }
                b'X' | 0x8c | 0x8d => {
                    let width = match op {
                        b'X' => 4,
                        0x8c => 1,
                        _ => 8,
                    };
                    let n = self.len_of(width)?;
                    let bytes = self.take(n)?.to_vec();
                    let value = self.string(at, &bytes)?;
                    self.push(value);
                }
                // Python 2 `str` (BINSTRING, SHORT_BINSTRING): bytes read as Latin-1.
                b'T' | b'U' => {
                    let n = self.len_of(if op == b'T' { 4 } else { 1 })?;
                    let text = self.take(n)?.iter().map(|&b| char::from(b)).collect();
                    self.push(Value::Str(text));
                }
                b'V' | b'S' => {
                    let text = self.line()?.to_owned();
                    let text = if op == b'S' {
                        text.trim_matches(|c| c == '\'' || c == '"').to_owned()
                    } else {
                        text
                    };
                    if text.contains('\\') {
                        return Err(self.error(at, "escaped protocol-0 strings are not read; re-save the file with torch.save"));
                    }
                    self.push(Value::Str(text));
                }
                b'B' | b'C' | 0x8e => {
                    let width = match op {
                        b'B' => 4,
                        b'C' => 1,
                        _ => 8,
                    };
                    let n = self.len_of(width)?;
                    let bytes = self.take(n)?.to_vec();
                    self.push(Value::Bytes(bytes));
                }
                b']' => self.push(Value::List(Vec::new())),
                b')' => self.push(Value::Tuple(Vec::new())),
                b'}' => self.push(Value::Dict(Vec::new())),
                0x8f => self.push(Value::Set(Vec::new())),
                b'l' => {
                    let items = self.pop_mark(at)?;
                    self.push(Value::List(items));
                }
                b't' => {
                    let items = self.pop_mark(at)?;
                    self.push(Value::Tuple(items));
                }
                0x91 => {
                    let items = self.pop_mark(at)?;
                    self.push(Value::Set(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop(at)?);
                    }
                    items.reverse();
                    self.push(Value::Tuple(items));
                }
                b'd' => {
                    let items = self.pop_mark(at)?;
                    let pairs = self.pairs(at, &items)?;
                    self.push(Value::Dict(pairs));
                }
                b'a' => {
                    let item = self.pop(at)?;
                    self.extend(at, vec![item])?;
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark(at)?;
                    self.extend(at, items)?;
                }
                b's' => {
                    let value = self.pop(at)?;
                    let key = self.pop(at)?;
                    self.set_items(at, vec![(key, value)])?;
                }
                b'u' => {
                    let items = self.pop_mark(at)?;
                    let pairs = self.pairs(at, &items)?;
                    self.set_items(at, pairs)?;
                }
                // INST builds an instance of any class: refused, by the name it gives.
                b'i' => {
                    let module = self.line()?.to_owned();
                    let name = self.line()?.to_owned();
                    return Err(CheckpointError::Refused {
                        global: format!("{module}.{name}"),
                        offset: at,
                        hint: format!(
                            "its INST opcode would build an instance of it; {}",
                            refusal_hint(&module, &name)
                        ),
                    });
                }
                b'c' => {
                    let module = self.line()?.to_owned();
                    let name = self.line()?.to_owned();
                    self.global(at, &module, &name)?;
                }
                0x93 => {
                    let name = self.pop(at)?;
                    let module = self.pop(at)?;
                    let (Value::Str(module), Value::Str(name)) =
                        (self.arena[module].clone(), self.arena[name].clone())
                    else {
                        return Err(self.error(at, "STACK_GLOBAL needs two strings"));
                    };
                    self.global(at, &module, &name)?;
                }
                b'R' => {
                    let args = self.pop(at)?;
                    let callable = self.pop(at)?;
                    let value = self.reduce(at, callable, args)?;
                    self.push(value);
                }
                0x81 | 0x92 => {
                    if op == 0x92 {
                        let kwargs = self.pop(at)?;
                        if !matches!(&self.arena[kwargs], Value::Dict(d) if d.is_empty()) {
                            return Err(self.error(at, "NEWOBJ_EX with keyword arguments"));
                        }
                    }
                    let _args = self.pop(at)?;
                    let class = self.pop(at)?;
                    let value = match self.arena[class] {
                        Value::Global(Global::Namespace) => Value::Namespace(Vec::new()),
                        Value::Global(Global::OrderedDict) => Value::Dict(Vec::new()),
                        _ => {
                            return Err(self.error(
                                at,
                                "NEWOBJ of something other than argparse.Namespace or OrderedDict",
                            ));
                        }
                    };
                    self.push(value);
                }
                b'b' => {
                    let state = self.pop(at)?;
                    let target = self.top(at)?;
                    self.build(at, target, state)?;
                }
                b'Q' => {
                    let pid = self.pop(at)?;
                    let value = self.persistent(at, pid)?;
                    self.push(value);
                }
                b'p' | b'g' => {
                    let text = self.line()?.to_owned();
                    let key = text
                        .parse::<u64>()
                        .map_err(|_| self.error(at, format!("memo key `{text}`")))?;
                    if op == b'p' {
                        self.memo_put(at, key)?;
                    } else {
                        self.memo_get(at, key)?;
                    }
                }
                b'q' => {
                    let key = u64::from(self.byte()?);
                    self.memo_put(at, key)?;
                }
                b'r' => {
                    let key = u64::from(u32::from_le_bytes(self.le::<4>()?));
                    self.memo_put(at, key)?;
                }
                0x94 => {
                    let key = self.memo.len() as u64;
                    self.memo_put(at, key)?;
                }
                b'h' => {
                    let key = u64::from(self.byte()?);
                    self.memo_get(at, key)?;
                }
                b'j' => {
                    let key = u64::from(u32::from_le_bytes(self.le::<4>()?));
                    self.memo_get(at, key)?;
                }
                other => {
                    return Err(match refused_opcode(other) {
                        Some(name) => self.error(
                            at,
                            format!("opcode {name} is refused: a state dict never needs it"),
                        ),
                        None => self.error(
                            at,
                            format!(
                                "unknown opcode 0x{other:02x} (not a pickle, or a corrupt one)"
                            ),
                        ),
                    });
                }
            }
        }
    }

    fn pairs(&self, at: usize, items: &[Id]) -> Result<Vec<(Id, Id)>, CheckpointError> {
        let (pairs, rest) = items.as_chunks::<2>();
        if !rest.is_empty() {
            return Err(self.error(at, "a dict's items are not key-value pairs"));
        }
        Ok(pairs.iter().map(|[k, v]| (*k, *v)).collect())
    }

    fn extend(&mut self, at: usize, items: Vec<Id>) -> Result<(), CheckpointError> {
        let target = self.top(at)?;
        match &mut self.arena[target] {
            Value::List(list) | Value::Set(list) => {
                list.extend(items);
                Ok(())
            }
            _ => Err(self.error(at, "appends to something other than a list or set")),
        }
    }

    fn set_items(&mut self, at: usize, pairs: Vec<(Id, Id)>) -> Result<(), CheckpointError> {
        let target = self.top(at)?;
        match &mut self.arena[target] {
            Value::Dict(dict) | Value::Namespace(dict) => {
                dict.extend(pairs);
                Ok(())
            }
            _ => Err(self.error(at, "sets items on something other than a dict")),
        }
    }

    fn global(&mut self, at: usize, module: &str, name: &str) -> Result<(), CheckpointError> {
        let global = resolve(module, name).ok_or_else(|| CheckpointError::Refused {
            global: format!("{module}.{name}"),
            offset: at,
            hint: refusal_hint(module, name),
        })?;
        self.push(Value::Global(global));
        Ok(())
    }

    fn args(&self, at: usize, args: Id, what: &str) -> Result<Vec<Id>, CheckpointError> {
        match &self.arena[args] {
            Value::Tuple(items) => Ok(items.clone()),
            _ => Err(self.error(at, format!("{what} called without an argument tuple"))),
        }
    }

    fn int(&self, at: usize, id: Id, what: &str) -> Result<i64, CheckpointError> {
        match self.arena[id] {
            Value::Int(v) => Ok(v),
            _ => Err(self.error(at, format!("{what} is not an integer"))),
        }
    }

    fn dims(&self, at: usize, id: Id, what: &str) -> Result<Vec<usize>, CheckpointError> {
        let (Value::Tuple(items) | Value::List(items)) = &self.arena[id] else {
            return Err(self.error(at, format!("{what} is not a tuple of integers")));
        };
        items
            .iter()
            .map(|&i| {
                let v = self.int(at, i, what)?;
                usize::try_from(v).map_err(|_| self.error(at, format!("{what} holds {v}")))
            })
            .collect()
    }

    /// "Calls" an allowed name: builds the value it would return, running nothing.
    fn reduce(&mut self, at: usize, callable: Id, args: Id) -> Result<Value, CheckpointError> {
        let Value::Global(global) = self.arena[callable] else {
            return Err(self.error(at, "REDUCE calls something that is not an allowed function"));
        };
        let args = self.args(at, args, "a function")?;
        match global {
            Global::OrderedDict => match args.as_slice() {
                [] => Ok(Value::Dict(Vec::new())),
                [items] => {
                    let Value::List(items) = self.arena[*items].clone() else {
                        return Err(self.error(
                            at,
                            "OrderedDict(...) of something other than a list of pairs",
                        ));
                    };
                    let mut pairs = Vec::with_capacity(items.len());
                    for item in items {
                        match &self.arena[item] {
                            Value::Tuple(kv) if kv.len() == 2 => pairs.push((kv[0], kv[1])),
                            _ => return Err(self.error(at, "OrderedDict(...) item is not a pair")),
                        }
                    }
                    Ok(Value::Dict(pairs))
                }
                _ => Err(self.error(at, "OrderedDict(...) with more than one argument")),
            },
            Global::RebuildTensor => {
                let [storage, offset, size, stride, ..] = args.as_slice() else {
                    return Err(self.error(at, "_rebuild_tensor with fewer than 4 arguments"));
                };
                let Value::Storage(storage) = self.arena[*storage].clone() else {
                    return Err(self.error(at, "_rebuild_tensor of something other than a storage"));
                };
                let offset = self.int(at, *offset, "a tensor's storage offset")?;
                let offset = u64::try_from(offset)
                    .map_err(|_| self.error(at, format!("storage offset {offset}")))?;
                let shape = self.dims(at, *size, "a tensor's size")?;
                let stride = self.dims(at, *stride, "a tensor's stride")?;
                if shape.len() != stride.len() {
                    return Err(self.error(
                        at,
                        format!("a tensor of size {shape:?} has stride {stride:?}"),
                    ));
                }
                Ok(Value::Tensor(TensorRef {
                    storage,
                    offset,
                    shape,
                    stride,
                }))
            }
            Global::RebuildParameter => match args.first().map(|&t| &self.arena[t]) {
                Some(tensor @ Value::Tensor(_)) => Ok(tensor.clone()),
                _ => Err(self.error(at, "_rebuild_parameter of something other than a tensor")),
            },
            Global::Encode => match args.as_slice() {
                [text, encoding] => {
                    let (Value::Str(text), Some("latin1" | "latin-1")) =
                        (&self.arena[*text], self.str_at(*encoding))
                    else {
                        return Err(
                            self.error(at, "_codecs.encode(...) other than (str, 'latin1')")
                        );
                    };
                    text.chars()
                        .map(|c| u8::try_from(u32::from(c)).ok())
                        .collect::<Option<Vec<u8>>>()
                        .map(Value::Bytes)
                        .ok_or_else(|| self.error(at, "_codecs.encode of a non-Latin-1 string"))
                }
                _ => Err(self.error(at, "_codecs.encode with other than 2 arguments")),
            },
            Global::Storage(_) | Global::Namespace => Err(self.error(
                at,
                "REDUCE calls a class that is only read as data (a storage type or Namespace)",
            )),
        }
    }

    fn str_at(&self, id: Id) -> Option<&str> {
        match &self.arena[id] {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// BUILD: a Namespace takes its attributes; an OrderedDict's `_metadata` and a parameter's
    /// extra state are not needed and dropped.
    fn build(&mut self, at: usize, target: Id, state: Id) -> Result<(), CheckpointError> {
        let attributes = match &self.arena[state] {
            Value::Dict(pairs) => pairs.clone(),
            _ => Vec::new(),
        };
        match &mut self.arena[target] {
            Value::Namespace(fields) => {
                fields.extend(attributes);
                Ok(())
            }
            Value::Dict(_) | Value::Tensor(_) => Ok(()),
            _ => Err(self.error(
                at,
                "BUILD on something other than a Namespace, dict or tensor",
            )),
        }
    }

    /// PyTorch's persistent id: `('storage', torch.XStorage, key, location, numel[, view])`.
    fn persistent(&self, at: usize, pid: Id) -> Result<Value, CheckpointError> {
        let bad = |what: &str| {
            self.error(
                at,
                format!(
                    "persistent id is not a PyTorch storage reference ('storage', type, key, \
                     location, size): {what}"
                ),
            )
        };
        let Value::Tuple(items) = &self.arena[pid] else {
            return Err(bad("not a tuple"));
        };
        let [tag, class, key, _location, numel, rest @ ..] = items.as_slice() else {
            return Err(bad("fewer than 5 fields"));
        };
        if self.str_at(*tag) != Some("storage") {
            return Err(bad("its tag is not 'storage'"));
        }
        let Value::Global(Global::Storage(dtype)) = self.arena[*class] else {
            return Err(bad("its type is not a typed storage"));
        };
        let key = match &self.arena[*key] {
            Value::Str(key) => key.clone(),
            Value::Int(key) => key.to_string(),
            _ => return Err(bad("its key is not a string")),
        };
        let numel = self.int(at, *numel, "a storage's size")?;
        let numel = u64::try_from(numel).map_err(|_| bad("negative size"))?;
        if rest.iter().any(|&v| self.arena[v] != Value::None) {
            return Err(bad("a storage view (legacy format) is not read"));
        }
        Ok(Value::Storage(StorageRef { dtype, key, numel }))
    }
}
