//! IDX files (gzip'd `idx3` images, `idx1` labels) read and written, target-neutral.

use super::*;

/// Decompresses gzip'd bytes, failing once the output passes [`MAX_DECOMPRESSED_BYTES`].
pub(crate) fn gunzip_capped(gz_bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::new();
    // One byte more than the limit tells "exactly at the limit" from "over it".
    let cap = u64::try_from(MAX_DECOMPRESSED_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    flate2::read::GzDecoder::new(gz_bytes)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip {
            reason: e.to_string(),
        })?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err(DataError::TooLarge {
            limit_bytes: MAX_DECOMPRESSED_BYTES,
        });
    }
    Ok(out)
}

/// Splits an IDX file into its dimensions and payload, checking the magic number.
pub(crate) fn idx_header<'a>(
    data: &'a [u8],
    magic: u32,
    kind: &str,
    rank: usize,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let header_len = 4 * (1 + rank);
    let Some((header, payload)) = data.split_at_checked(header_len) else {
        return Err(DataError::Header {
            reason: format!(
                "{} bytes is shorter than the {header_len}-byte header of {kind} files",
                data.len()
            ),
        });
    };
    let mut words = header
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let found = words.next().unwrap_or(0);
    if found != magic {
        return Err(DataError::Magic {
            found,
            expected: magic,
            kind: kind.to_owned(),
        });
    }
    let dims = words
        .map(|d| {
            usize::try_from(d).map_err(|_| DataError::Header {
                reason: format!("dimension {d} does not fit in memory on this platform"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if dims.contains(&0) {
        return Err(DataError::Header {
            reason: format!("dimensions {} include a zero", dims_text(&dims)),
        });
    }
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::Header {
            reason: format!("dimensions {} overflow", dims_text(&dims)),
        })?;
    if payload.len() != expected {
        return Err(DataError::Length {
            expected,
            found: payload.len(),
            dims: dims_text(&dims),
        });
    }
    Ok((dims, payload))
}

/// "10000×28×28".
pub(crate) fn dims_text(dims: &[usize]) -> String {
    dims.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("×")
}

/// Parses a gzip'd IDX image file (idx3-ubyte, magic `0x00000803`, big-endian dimensions).
///
/// Returns `(n, h, w, pixels)` with `pixels` row-major `[n, h, w]`. The dimensions must be nonzero
/// and the payload exactly `n·h·w` bytes.
pub fn parse_idx_images(gz_bytes: &[u8]) -> Result<(usize, usize, usize, Vec<u8>), DataError> {
    let data = gunzip_capped(gz_bytes)?;
    let (dims, payload) = idx_header(&data, IDX3_UBYTE_MAGIC, "images (idx3-ubyte)", 3)?;
    let &[n, h, w] = dims.as_slice() else {
        return Err(DataError::Header {
            reason: format!("expected 3 dimensions, got {}", dims.len()),
        });
    };
    Ok((n, h, w, payload.to_vec()))
}

/// Parses a gzip'd IDX label file (idx1-ubyte, magic `0x00000801`). Every label must be below 10.
pub fn parse_idx_labels(gz_bytes: &[u8]) -> Result<Vec<i64>, DataError> {
    let data = gunzip_capped(gz_bytes)?;
    let (_, payload) = idx_header(&data, IDX1_UBYTE_MAGIC, "labels (idx1-ubyte)", 1)?;
    payload
        .iter()
        .enumerate()
        .map(|(index, &label)| {
            if usize::from(label) < IDX_CLASSES {
                Ok(i64::from(label))
            } else {
                Err(DataError::Label {
                    index,
                    label: i64::from(label),
                    classes: IDX_CLASSES,
                })
            }
        })
        .collect()
}

/// Gzip'd IDX files (`idx3` images, `idx1` labels) for single-channel images — the format
/// [`parse_idx_images`] / [`parse_idx_labels`] read, used for the demo's eval subset.
pub fn write_idx(raw: &RawImages) -> Result<(Vec<u8>, Option<Vec<u8>>), DataError> {
    use std::io::Write;
    raw.validate()?;
    if raw.c != 1 {
        return Err(DataError::Channels { channels: raw.c });
    }
    let gz = |bytes: &[u8]| -> Result<Vec<u8>, DataError> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(bytes)
            .and_then(|_| enc.finish())
            .map_err(|e| DataError::Gzip {
                reason: e.to_string(),
            })
    };
    let mut images = Vec::with_capacity(16 + raw.pixels.len());
    images.extend_from_slice(&0x0000_0803_u32.to_be_bytes());
    for d in [raw.n, raw.h, raw.w] {
        images.extend_from_slice(&(d as u32).to_be_bytes());
    }
    images.extend_from_slice(&raw.pixels);
    let labels = match &raw.labels {
        Some(labels) => {
            let mut out = Vec::with_capacity(8 + labels.len());
            out.extend_from_slice(&0x0000_0801_u32.to_be_bytes());
            out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
            out.extend(labels.iter().map(|l| (*l).clamp(0, 255) as u8));
            Some(gz(&out)?)
        }
        None => None,
    };
    Ok((gz(&images)?, labels))
}
