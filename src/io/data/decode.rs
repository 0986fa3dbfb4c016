//! Image files (PNG, JPEG) and zip archives decoded from bytes, target-neutral: class sub-folders give labels.

use super::*;

/// Whether `name` ends in one of [`IMAGE_EXTENSIONS`], ignoring case.
pub(crate) fn is_image_name(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| {
        IMAGE_EXTENSIONS
            .iter()
            .any(|known| ext.eq_ignore_ascii_case(known))
    })
}

/// Longest side of an image read or asked for. The image crate measures in u32; this keeps far
/// below that so `n·c·h·w` stays sane too.
pub(crate) const MAX_SIDE: u32 = 1 << 14;

/// Checks the requested channels and size before any decoding; returns the size as `u32`s.
pub(crate) fn check_target(channels: usize, h: usize, w: usize) -> Result<(u32, u32), DataError> {
    if channels != 1 && channels != 3 {
        return Err(DataError::Channels { channels });
    }
    let side = |s: usize| {
        u32::try_from(s)
            .ok()
            .filter(|&s| (1..=MAX_SIDE).contains(&s))
    };
    match (side(h), side(w)) {
        (Some(h32), Some(w32)) => Ok((h32, w32)),
        _ => Err(DataError::Size {
            h,
            w,
            max: MAX_SIDE,
        }),
    }
}

/// Most bytes one decoded image may take: a small file that declares a huge canvas fails with a
/// message instead of allocating it.
pub const MAX_IMAGE_BYTES: u64 = 128 * 1024 * 1024;
/// Most pixels one image may have (a 4096 × 4096 photo; decoding costs time in proportion).
pub const MAX_IMAGE_PIXELS: u64 = 1 << 24;
/// Most pixels per byte of file, above a first megapixel: no real photo compresses that far,
/// while a 248-byte JPEG can declare 31 megapixels and take seconds to decode (found by fuzzing).
pub const MAX_PIXELS_PER_BYTE: u64 = 8192;

/// Refuses a PNG whose palette (`PLTE`) is not a whole number of RGB entries, which the PNG
/// specification forbids and the `png` crate (0.18.1) panics on while decoding (found by
/// fuzzing: a 686-byte palette). Other files, and anything past the chunks read, are left to the
/// decoder.
fn check_png_palette(file: &str, bytes: &[u8]) -> Result<(), DataError> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    let Some(mut rest) = bytes.strip_prefix(SIGNATURE) else {
        return Ok(());
    };
    while rest.len() >= 8 {
        let length = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind = &rest[4..8];
        if kind == b"PLTE" && !length.is_multiple_of(3) {
            return Err(DataError::Decode {
                file: file.to_owned(),
                reason: format!(
                    "its palette (PLTE chunk) is {length} bytes, not a whole number of 3-byte RGB \
                     entries: the file is damaged"
                ),
            });
        }
        if kind == b"IDAT" || kind == b"IEND" {
            break;
        }
        // Length, type, data and CRC.
        rest = rest.get(length.saturating_add(12)..).unwrap_or(&[]);
    }
    Ok(())
}

/// Decodes an image file within [`MAX_IMAGE_BYTES`], [`MAX_IMAGE_PIXELS`] (and
/// [`MAX_PIXELS_PER_BYTE`] of the file) and sides of at most `MAX_SIDE` pixels. The size is read
/// from the header first, so nothing is decoded past the limits.
fn load(file: &str, bytes: &[u8]) -> Result<image::DynamicImage, DataError> {
    let fail = |e: image::ImageError| DataError::Decode {
        file: file.to_owned(),
        reason: e.to_string(),
    };
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| fail(e.into()))
    };
    check_png_palette(file, bytes)?;
    let (w, h) = reader()?.into_dimensions().map_err(fail)?;
    let pixels = u64::from(w) * u64::from(h);
    let allowed = MAX_IMAGE_PIXELS.min(
        (1 << 20) + MAX_PIXELS_PER_BYTE.saturating_mul(u64::try_from(bytes.len()).unwrap_or(0)),
    );
    if pixels > allowed {
        return Err(DataError::Decode {
            file: file.to_owned(),
            reason: format!(
                "it declares {w} × {h} pixels, past the limit of {allowed} for a file of {} bytes                  (at most {MAX_IMAGE_PIXELS}, and {MAX_PIXELS_PER_BYTE} per byte past the first                  1 048 576): resize it first, or it is damaged",
                bytes.len()
            ),
        });
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_BYTES);
    let mut reader = reader()?;
    reader.limits(limits);
    reader.decode().map_err(fail)
}

/// Decodes one image, converts it to `channels`, resizes and crops it as `pre` says (it must
/// then be `h×w`) and appends it to `out` in `[c, h, w]` order. Errors name `file`.
pub(crate) fn decode_one(
    file: &str,
    bytes: &[u8],
    channels: usize,
    size: (u32, u32),
    pre: &Preprocess,
    out: &mut Vec<u8>,
) -> Result<(), DataError> {
    let img = load(file, bytes)?;
    if channels == 1 {
        let gray = prepare(file, img.to_luma8(), size, pre)?;
        out.extend_from_slice(gray.as_raw());
    } else {
        let rgb = prepare(file, img.to_rgb8(), size, pre)?;
        // Interleaved `[h, w, 3]` → planar `[3, h, w]`.
        let interleaved = rgb.as_raw();
        for channel in 0..3 {
            out.extend(interleaved.iter().skip(channel).step_by(3));
        }
    }
    Ok(())
}

/// Decodes in-memory image files (the browser's uploads or embedded demo set) into `[n, c, h, w]`.
///
/// `files` are `(path, bytes)`; paths use `/` (a `\` is read as `/`). Only `.png`, `.jpg` and
/// `.jpeg` names (any case) are decoded; others are skipped. Files are sorted by path. Each image
/// is converted to grayscale (`channels == 1`) or RGB (`channels == 3`), resized and cropped as
/// `pre` says, and must then be `h×w`.
///
/// Labels: the folders shared by every path are dropped first (a folder upload arrives as
/// `root/...`); if every remaining path still has a folder, its first folder is the class
/// (ImageFolder semantics: classes sorted by name, label = index). Otherwise the images are
/// unlabelled — so a single class folder on its own reads as unlabelled images.
pub fn decode_images(
    files: &[(String, Vec<u8>)],
    channels: usize,
    h: usize,
    w: usize,
    pre: &Preprocess,
) -> Result<RawImages, DataError> {
    let size = check_target(channels, h, w)?;
    let mut entries: Vec<(Vec<&str>, &str, &[u8])> = files
        .iter()
        .filter(|(path, _)| is_image_name(path))
        .map(|(path, bytes)| {
            let parts = path
                .split(['/', '\\'])
                .filter(|p| !p.is_empty() && *p != ".")
                .collect::<Vec<_>>();
            (parts, path.as_str(), bytes.as_slice())
        })
        .collect();
    if entries.is_empty() {
        return Err(DataError::NoImages {
            place: format!("the {} files given", files.len()),
        });
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    // Folders (not file names) common to every path.
    let folders = |parts: &[&str]| parts.len().saturating_sub(1);
    let mut common = entries.iter().map(|e| folders(&e.0)).min().unwrap_or(0);
    if let Some((first, _, _)) = entries.first() {
        for (parts, _, _) in &entries {
            common = common.min(first.iter().zip(parts).take_while(|(a, b)| a == b).count());
        }
    }
    let labelled = entries.iter().all(|e| folders(&e.0) > common);
    let class_of = |parts: &[&str]| parts.get(common).map(|s| (*s).to_owned());
    let mut class_names: Vec<String> = if labelled {
        entries.iter().filter_map(|e| class_of(&e.0)).collect()
    } else {
        Vec::new()
    };
    class_names.dedup(); // entries are sorted, so equal classes are adjacent

    let image_len = channels * h * w;
    let mut pixels = Vec::with_capacity(image_len.saturating_mul(entries.len()));
    let mut labels = Vec::with_capacity(if labelled { entries.len() } else { 0 });
    for (parts, path, bytes) in &entries {
        decode_one(path, bytes, channels, size, pre, &mut pixels)?;
        if labelled {
            let class = class_of(parts).unwrap_or_default();
            let label = class_names.binary_search(&class).unwrap_or(0);
            labels.push(i64::try_from(label).unwrap_or(i64::MAX));
        }
    }
    Ok(RawImages {
        pixels,
        labels: labelled.then_some(labels),
        class_names,
        n: entries.len(),
        c: channels,
        h,
        w,
    })
}

/// How many of `files` are images, each decoded once (nothing resized): the check an upload gets
/// before its size is known to fit a model.
pub fn count_decodable(files: &[(String, Vec<u8>)]) -> Result<usize, DataError> {
    let mut count = 0;
    for (path, bytes) in files.iter().filter(|(p, _)| is_image_name(p)) {
        load(path, bytes)?;
        count += 1;
    }
    if count == 0 {
        return Err(DataError::NoImages {
            place: format!("the {} files given", files.len()),
        });
    }
    Ok(count)
}

/// The files of a zip archive as `(path, bytes)`, directories left out, for [`decode_images`].
///
/// Every entry is read with a cap: the archive's total uncompressed size may not pass
/// [`MAX_DECOMPRESSED_BYTES`] (a hostile archive fails with [`DataError::TooLarge`] instead of
/// filling memory), and entries that are not images are skipped without being inflated.
pub fn unzip(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, DataError> {
    let zip_error = |e: zip::result::ZipError| DataError::Zip {
        reason: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(zip_error)?;
    let mut out = Vec::new();
    let mut total = 0usize;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(zip_error)?;
        let name = entry.name().to_owned();
        if entry.is_dir() || !is_image_name(&name) {
            continue;
        }
        let left = MAX_DECOMPRESSED_BYTES.saturating_sub(total);
        let mut data = Vec::new();
        entry
            .take(u64::try_from(left).unwrap_or(u64::MAX).saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| DataError::Zip {
                reason: format!("{name}: {e}"),
            })?;
        total = total.saturating_add(data.len());
        if total > MAX_DECOMPRESSED_BYTES {
            return Err(DataError::TooLarge {
                limit_bytes: MAX_DECOMPRESSED_BYTES,
            });
        }
        out.push((name, data));
    }
    if out.is_empty() {
        return Err(DataError::NoImages {
            place: format!("the zip archive ({} entries)", archive.len()),
        });
    }
    Ok(out)
}

// =============================================================================================
