//! Dtypes: float tensors converted to f32 (f16 and bf16 by the `half` crate), and the f32 view written back.

use super::*;

// Dtypes.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DtypeKind {
    /// Converted to f32.
    Float,
    /// Integers and booleans: counters and buffers, skipped.
    NonFloat,
    /// Floats we do not convert (fp8, fp6, fp4).
    Unsupported,
}

pub(crate) fn dtype_kind(dtype: Dtype) -> DtypeKind {
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
pub(crate) fn decode_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
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

/// IEEE 754 binary16 to f32 (exact: every f16 is an f32), by the `half` crate.
pub(crate) fn f16_to_f32(bits: u16) -> f32 {
    half::f16::from_bits(bits).to_f32()
}

/// bfloat16 to f32 (the upper half of an f32), by the `half` crate.
pub(crate) fn bf16_to_f32(bits: u16) -> f32 {
    half::bf16::from_bits(bits).to_f32()
}

/// An f32 tensor to serialise.
pub(crate) struct F32View<'a> {
    pub(crate) shape: &'a [usize],
    pub(crate) bytes: Vec<u8>,
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
