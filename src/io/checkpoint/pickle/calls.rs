//! "Calling" an allowed name: the value it would return, built without running anything (tensors, OrderedDict, Namespace attributes, storages from persistent ids).

use super::*;

/// Most dimensions a tensor may have (PyTorch itself allows 64).
const MAX_DIMS: usize = 64;

/// Longest storage key read (PyTorch writes small integers).
const MAX_KEY_LEN: usize = 256;

impl Machine<'_> {
    pub(super) fn args(&self, at: usize, args: Id, what: &str) -> Result<Vec<Id>, CheckpointError> {
        match &self.arena[args] {
            Value::Tuple(items) => {
                self.charge(at, items.len())?;
                Ok(items.clone())
            }
            _ => Err(self.error(at, format!("{what} called without an argument tuple"))),
        }
    }

    pub(super) fn int(&self, at: usize, id: Id, what: &str) -> Result<i64, CheckpointError> {
        match self.arena[id] {
            Value::Int(v) => Ok(v),
            _ => Err(self.error(at, format!("{what} is not an integer"))),
        }
    }

    pub(super) fn dims(
        &self,
        at: usize,
        id: Id,
        what: &str,
    ) -> Result<Vec<usize>, CheckpointError> {
        let (Value::Tuple(items) | Value::List(items)) = &self.arena[id] else {
            return Err(self.error(at, format!("{what} is not a tuple of integers")));
        };
        if items.len() > MAX_DIMS {
            return Err(self.error(
                at,
                format!("{what} has {} dimensions (at most {MAX_DIMS})", items.len()),
            ));
        }
        self.charge(at, items.len())?;
        items
            .iter()
            .map(|&i| {
                let v = self.int(at, i, what)?;
                usize::try_from(v).map_err(|_| self.error(at, format!("{what} holds {v}")))
            })
            .collect()
    }

    /// "Calls" an allowed name: builds the value it would return, running nothing.
    pub(super) fn reduce(
        &mut self,
        at: usize,
        callable: Id,
        args: Id,
    ) -> Result<Value, CheckpointError> {
        let Value::Global(global) = self.arena[callable] else {
            return Err(self.error(at, "REDUCE calls something that is not an allowed function"));
        };
        let args = self.args(at, args, "a function")?;
        match global {
            Global::OrderedDict => match args.as_slice() {
                [] => Ok(Value::Dict(Vec::new())),
                [items] => {
                    let Value::List(items) = &self.arena[*items] else {
                        return Err(self.error(
                            at,
                            "OrderedDict(...) of something other than a list of pairs",
                        ));
                    };
                    let items = items.clone();
                    self.charge(at, items.len())?;
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
                Ok(Value::Tensor(Box::new(TensorRef {
                    storage,
                    offset,
                    shape,
                    stride,
                })))
            }
            Global::RebuildParameter => match args.first().map(|&t| &self.arena[t]) {
                Some(tensor @ Value::Tensor(t)) => {
                    self.charge(at, t.shape.len() * 2 + t.storage.key.len())?;
                    Ok(tensor.clone())
                }
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

    pub(super) fn str_at(&self, id: Id) -> Option<&str> {
        match &self.arena[id] {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// BUILD: a Namespace takes its attributes; an OrderedDict's `_metadata` and a parameter's
    /// extra state are not needed and dropped.
    pub(super) fn build(
        &mut self,
        at: usize,
        target: Id,
        state: Id,
    ) -> Result<(), CheckpointError> {
        let attributes = match (&self.arena[target], &self.arena[state]) {
            (Value::Namespace(_), Value::Dict(pairs)) => pairs.clone(),
            _ => Vec::new(),
        };
        self.charge(at, attributes.len())?;
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
    pub(super) fn persistent(&self, at: usize, pid: Id) -> Result<Value, CheckpointError> {
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
        if rest.len() > 1 {
            return Err(bad("more than 6 fields"));
        }
        let key = match &self.arena[*key] {
            Value::Str(key) if key.len() <= MAX_KEY_LEN => key.clone(),
            Value::Str(_) => return Err(bad("its key is longer than 256 characters")),
            Value::Int(key) => key.to_string(),
            _ => return Err(bad("its key is not a string")),
        };
        self.charge(at, key.len())?;
        let numel = self.int(at, *numel, "a storage's size")?;
        let numel = u64::try_from(numel).map_err(|_| bad("negative size"))?;
        if rest.iter().any(|&v| self.arena[v] != Value::None) {
            return Err(bad("a storage view (legacy format) is not read"));
        }
        Ok(Value::Storage(StorageRef { dtype, key, numel }))
    }
}
