//! The pickle opcodes: a stack machine over an arena of values, every length checked against the bytes left.

use std::collections::HashMap;

use super::*;

/// Most objects one pickle may build (~50 bytes each; a ViT-B state dict needs ~2 000).
const MAX_OBJECTS: usize = 8_000_000;

/// The unpickler's state: the input, the arena of values built so far, the stack, the MARK
/// positions and the memo.
pub(super) struct Machine<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
    pub(super) arena: Vec<Value>,
    pub(super) stack: Vec<Id>,
    pub(super) marks: Vec<usize>,
    pub(super) memo: HashMap<u64, Id>,
    /// Elements the pickle may still copy (see [`Machine::charge`]).
    pub(super) budget: std::cell::Cell<usize>,
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
    pub(super) fn error(&self, at: usize, reason: impl Into<String>) -> CheckpointError {
        CheckpointError::Pickle {
            offset: at,
            reason: reason.into(),
        }
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&[u8], CheckpointError> {
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

    pub(super) fn byte(&mut self) -> Result<u8, CheckpointError> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn le<const N: usize>(&mut self) -> Result<[u8; N], CheckpointError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A length field, checked against the bytes left before anything is allocated.
    pub(super) fn len_of(&mut self, width: usize) -> Result<usize, CheckpointError> {
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
    pub(super) fn line(&mut self) -> Result<&str, CheckpointError> {
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

    pub(super) fn push(&mut self, value: Value) {
        self.arena.push(value);
        self.stack.push(self.arena.len() - 1);
    }

    /// Charges `n` copied elements (or new objects) against a budget proportional to the
    /// input, so that a few opcodes repeated (BUILD of a memoised dict, a memoised size tuple
    /// rebuilt again and again) cannot turn a small file into gigabytes.
    pub(super) fn charge(&self, at: usize, n: usize) -> Result<(), CheckpointError> {
        let left = self.budget.get();
        if n > left {
            return Err(self.error(
                at,
                format!(
                    "it builds far more than its {} bytes can hold (a pickle bomb?)",
                    self.data.len()
                ),
            ));
        }
        self.budget.set(left - n);
        Ok(())
    }

    pub(super) fn pop(&mut self, at: usize) -> Result<Id, CheckpointError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.error(at, "pops from an empty stack"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.error(at, "pops from an empty stack"))
    }

    pub(super) fn top(&self, at: usize) -> Result<Id, CheckpointError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        self.stack
            .last()
            .copied()
            .filter(|_| self.stack.len() > floor)
            .ok_or_else(|| self.error(at, "reads an empty stack"))
    }

    /// The objects pushed since the last MARK, which is removed.
    pub(super) fn pop_mark(&mut self, at: usize) -> Result<Vec<Id>, CheckpointError> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| self.error(at, "needs a MARK but none is open"))?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    pub(super) fn memo_put(&mut self, at: usize, key: u64) -> Result<(), CheckpointError> {
        let top = self.top(at)?;
        self.memo.insert(key, top);
        Ok(())
    }

    pub(super) fn memo_get(&mut self, at: usize, key: u64) -> Result<(), CheckpointError> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| self.error(at, format!("fetches memo entry {key}, never stored")))?;
        self.stack.push(id);
        Ok(())
    }

    pub(super) fn text_int(&self, at: usize, text: &str) -> Result<Value, CheckpointError> {
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

    pub(super) fn long(bytes: &[u8]) -> Value {
        if bytes.len() > 8 {
            return Value::BigInt(bytes.to_vec());
        }
        let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
        let mut full = [if negative { 0xff } else { 0 }; 8];
        full[..bytes.len()].copy_from_slice(bytes);
        Value::Int(i64::from_le_bytes(full))
    }

    pub(super) fn string(&self, at: usize, bytes: &[u8]) -> Result<Value, CheckpointError> {
        std::str::from_utf8(bytes)
            .map(|s| Value::Str(s.to_owned()))
            .map_err(|_| self.error(at, "string is not UTF-8"))
    }

    pub(super) fn run(mut self) -> Result<Pickle, CheckpointError> {
        loop {
            let at = self.pos;
            if self.arena.len() > MAX_OBJECTS {
                return Err(self.error(
                    at,
                    format!("more than {MAX_OBJECTS} objects; a state dict needs a few per tensor"),
                ));
            }
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
                        (&self.arena[module], &self.arena[name])
                    else {
                        return Err(self.error(at, "STACK_GLOBAL needs two strings"));
                    };
                    let (module, name) = (module.clone(), name.clone());
                    self.charge(at, module.len() + name.len())?;
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

    pub(super) fn pairs(&self, at: usize, items: &[Id]) -> Result<Vec<(Id, Id)>, CheckpointError> {
        let (pairs, rest) = items.as_chunks::<2>();
        if !rest.is_empty() {
            return Err(self.error(at, "a dict's items are not key-value pairs"));
        }
        Ok(pairs.iter().map(|[k, v]| (*k, *v)).collect())
    }

    pub(super) fn extend(&mut self, at: usize, items: Vec<Id>) -> Result<(), CheckpointError> {
        let target = self.top(at)?;
        match &mut self.arena[target] {
            Value::List(list) | Value::Set(list) => {
                list.extend(items);
                Ok(())
            }
            _ => Err(self.error(at, "appends to something other than a list or set")),
        }
    }

    pub(super) fn set_items(
        &mut self,
        at: usize,
        pairs: Vec<(Id, Id)>,
    ) -> Result<(), CheckpointError> {
        let target = self.top(at)?;
        match &mut self.arena[target] {
            Value::Dict(dict) | Value::Namespace(dict) => {
                dict.extend(pairs);
                Ok(())
            }
            _ => Err(self.error(at, "sets items on something other than a dict")),
        }
    }

    pub(super) fn global(
        &mut self,
        at: usize,
        module: &str,
        name: &str,
    ) -> Result<(), CheckpointError> {
        let global = resolve(module, name).ok_or_else(|| CheckpointError::Refused {
            global: format!("{module}.{name}"),
            offset: at,
            hint: refusal_hint(module, name),
        })?;
        self.push(Value::Global(global));
        Ok(())
    }
}
