//! Parsing and validation before the `safetensors` crate sees the bytes: the length prefix, the JSON header (sizes, UTF-8, one entry per name, offsets that tile the data buffer, shapes that match their byte spans), so every later size is bounded by the file.

use super::*;

// Parsing and validation.
// ---------------------------------------------------------------------------------------------

/// A validated file: metadata plus tensors (views into the file bytes), sorted by name.
pub(crate) struct Parsed<'a> {
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) tensors: Vec<RawTensor<'a>>,
}

/// One tensor as written in the file.
pub(crate) struct RawTensor<'a> {
    pub(crate) name: String,
    pub(crate) dtype: Dtype,
    pub(crate) shape: Vec<usize>,
    /// Borrowed from the file, or gathered from a strided PyTorch view.
    pub(crate) bytes: std::borrow::Cow<'a, [u8]>,
}

impl RawTensor<'_> {
    /// Converts a float tensor to f32, rejecting non-finite values.
    pub(crate) fn to_entry(&self) -> Result<TensorEntry, CheckpointError> {
        let data = decode_f32(self.dtype, &self.bytes).ok_or_else(|| self.dtype_error())?;
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

    pub(crate) fn dtype_error(&self) -> CheckpointError {
        CheckpointError::Dtype {
            name: self.name.clone(),
            dtype: self.dtype.to_string(),
        }
    }

    /// The value at `index` as stored (an f64 that overflows f32 is shown as the f64).
    pub(crate) fn describe_value(&self, index: usize) -> String {
        if self.dtype == Dtype::F64
            && let Some(chunk) = self.bytes.as_chunks::<8>().0.get(index)
        {
            let value = f64::from_le_bytes(*chunk);
            if value.is_finite() {
                return format!("{value:e} (outside the f32 range)");
            }
            return value.to_string();
        }
        decode_f32(self.dtype, &self.bytes)
            .and_then(|d| d.get(index).map(f32::to_string))
            .unwrap_or_default()
    }
}

/// Checks the header ourselves (so no size can exceed what the file backs and every error names
/// the offending entry), then lets the `safetensors` crate parse it.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed<'_>, CheckpointError> {
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
            bytes: std::borrow::Cow::Borrowed(view.data()),
        });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Parsed {
        metadata: header.metadata,
        tensors,
    })
}

/// What our own header check returns: the metadata and the tensor names.
pub(crate) struct Header {
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) names: Vec<String>,
}

/// One header entry's layout, as declared.
pub(crate) struct Span {
    pub(crate) name: String,
    pub(crate) dtype: Dtype,
    pub(crate) shape: Vec<usize>,
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// Validates the JSON header against a data buffer of `data_len` bytes.
pub(crate) fn parse_header(text: &str, data_len: usize) -> Result<Header, CheckpointError> {
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
pub(crate) fn parse_metadata(value: Value) -> Result<BTreeMap<String, String>, CheckpointError> {
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
pub(crate) fn parse_span(name: String, value: &Value) -> Result<Span, CheckpointError> {
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
pub(crate) fn byte_len(span: &Span) -> Result<usize, CheckpointError> {
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
pub(crate) fn checked_product(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// The JSON kind of a value, for messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
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
pub(crate) struct Entries(Vec<(String, Value)>);

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
