//! Evaluation data: Fashion-MNIST IDX `.gz` files and image folders, a deterministic subset,
//! per-channel normalisation. Produces plain host arrays; the sweep uploads them once.
//!
//! The pipeline is `load_* / decode_images / parse_idx_*` → [`RawImages`] (u8 pixels) →
//! [`subset`] → [`normalise`] → [`ImageSet`] (f32, ready for the model) → [`check_fits`].
//! Parsing and decoding are target-neutral (the browser hands us bytes); reading from disk is
//! native-only.

use std::io::Read;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use thiserror::Error;

/// Where the Debian package `dataset-fashion-mnist` puts the files.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST mean of the pixel values scaled to [0, 1].
pub const FASHION_MNIST_MEAN: f32 = 0.2860;
/// Fashion-MNIST standard deviation of the pixel values scaled to [0, 1].
pub const FASHION_MNIST_STD: f32 = 0.3530;

/// Fashion-MNIST class names; the index is the label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Most bytes a gzip'd IDX file may decompress to (the Fashion-MNIST training images are 47 MB),
/// so that a gzip bomb is an error rather than an out-of-memory abort.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

/// IDX magic of an unsigned-byte, three-dimensional file (images).
const IDX3_UBYTE_MAGIC: u32 = 0x0000_0803;
/// IDX magic of an unsigned-byte, one-dimensional file (labels).
const IDX1_UBYTE_MAGIC: u32 = 0x0000_0801;
/// Number of classes an IDX label may name (Fashion-MNIST and MNIST both have 10).
const IDX_CLASSES: usize = 10;
/// How deep an image folder may nest below a class folder; guards against symlink loops.
#[cfg(not(target_arch = "wasm32"))]
const MAX_FOLDER_DEPTH: usize = 8;
/// File extensions read as images (compared case-insensitively).
const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Images ready for the model: normalised, `[n, c, h, w]` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    /// Pixel values after normalisation, `[n, c, h, w]`.
    pub pixels: Vec<f32>,
    /// Class labels, when the source has them.
    pub labels: Option<Vec<i64>>,
    /// Class names (index = label), when known.
    pub class_names: Vec<String>,
    /// Number of images.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

/// Raw images before normalisation: u8 pixels `[n, c, h, w]` row-major, optional labels.
#[derive(Debug, Clone, PartialEq)]
pub struct RawImages {
    /// Pixel values as stored, `[n, c, h, w]`.
    pub pixels: Vec<u8>,
    /// Class labels (one per image), when the source has them.
    pub labels: Option<Vec<i64>>,
    /// Class names (index = label); empty when unknown.
    pub class_names: Vec<String>,
    /// Number of images.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

/// Data that cannot be used. Messages name the file or value and what was expected.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DataError {
    /// A file or directory that should exist does not.
    #[error("{what} `{path}` not found; {hint}")]
    NotFound {
        /// What was looked for, in words ("Fashion-MNIST file").
        what: String,
        /// The path looked at.
        path: String,
        /// How to get it.
        hint: String,
    },
    /// A file or directory exists but could not be read.
    #[error("cannot read `{path}`: {reason}")]
    Io {
        /// The path.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// Bytes that should be gzip'd are not, or the stream is corrupt.
    #[error("not a valid gzip stream: {reason}")]
    Gzip {
        /// The decompressor's reason.
        reason: String,
    },
    /// The decompressed data is larger than [`MAX_DECOMPRESSED_BYTES`].
    #[error("decompressed data exceeds {limit_bytes} bytes (a gzip bomb, or not an IDX file)")]
    TooLarge {
        /// The limit.
        limit_bytes: usize,
    },
    /// The IDX magic number is not the one expected.
    #[error("IDX magic number is 0x{found:08x}; {kind} files start with 0x{expected:08x}")]
    Magic {
        /// Magic found.
        found: u32,
        /// Magic expected.
        expected: u32,
        /// What kind of file was expected ("images (idx3-ubyte)").
        kind: String,
    },
    /// The IDX header is short or its dimensions are unusable.
    #[error("IDX header: {reason}")]
    Header {
        /// What is wrong.
        reason: String,
    },
    /// The IDX payload is not exactly as long as the header says.
    #[error("IDX data is {found} bytes after the header; the dimensions {dims} need {expected}")]
    Length {
        /// Bytes the dimensions call for.
        expected: usize,
        /// Bytes present.
        found: usize,
        /// The dimensions, e.g. "10000×28×28".
        dims: String,
    },
    /// Different numbers of images and labels.
    #[error("{labels} labels for {images} images")]
    LabelCount {
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A label that names no class.
    #[error("label {label} at index {index} is not a class (expected 0..{classes})")]
    Label {
        /// Position in the label file.
        index: usize,
        /// The label.
        label: i64,
        /// Number of classes.
        classes: usize,
    },
    /// An error inside a particular file.
    #[error("{file}: {source}")]
    InFile {
        /// The file.
        file: String,
        /// What is wrong with it.
        source: Box<DataError>,
    },
    /// An image file that cannot be decoded.
    #[error("cannot decode image `{file}`: {reason}")]
    Decode {
        /// The file (path or name as given).
        file: String,
        /// The decoder's reason.
        reason: String,
    },
    /// No image files where some were expected.
    #[error("no images (.png, .jpg, .jpeg) in {place}")]
    NoImages {
        /// Where we looked.
        place: String,
    },
    /// A class folder nests deeper than we follow.
    #[error("`{path}` is nested more than {max_depth} folders deep below its class folder")]
    TooDeep {
        /// The folder.
        path: String,
        /// The limit.
        max_depth: usize,
    },
    /// Images were asked for with a channel count we cannot produce.
    #[error("{channels} channels requested; images can be read as 1 (grayscale) or 3 (RGB)")]
    Channels {
        /// Channels requested.
        channels: usize,
    },
    /// A requested image size that cannot work.
    #[error("image size {h}×{w}: height and width must be between 1 and {max}")]
    Size {
        /// Height requested.
        h: usize,
        /// Width requested.
        w: usize,
        /// Largest side allowed.
        max: u32,
    },
    /// A zip archive of images that cannot be read.
    #[error("zip archive: {reason}")]
    Zip {
        /// What is wrong.
        reason: String,
    },
    /// A subset larger than the data, or empty.
    #[error("a subset of {count} images was asked for, but {available} are available{}",
        if *count == 0 { " (a subset needs at least one image)" } else { "" })]
    Subset {
        /// Images asked for.
        count: usize,
        /// Images available.
        available: usize,
    },
    /// Normalisation statistics of the wrong length.
    #[error("{what} has {len} values for images with {channels} channels (give 1 or {channels})")]
    StatsLength {
        /// "mean" or "std".
        what: String,
        /// Values given.
        len: usize,
        /// Channels of the images.
        channels: usize,
    },
    /// A normalisation statistic that cannot be used.
    #[error("{what}[{index}] = {value}; it must be {expected}")]
    StatsValue {
        /// "mean" or "std".
        what: String,
        /// Channel.
        index: usize,
        /// Value given.
        value: f32,
        /// What it must be.
        expected: String,
    },
    /// Images that do not match what the model takes.
    #[error("images are {found_h}×{found_w} with {}; the model expects {h}×{w} with {}",
        channels_phrase(*found_c), channels_phrase(*c))]
    Shape {
        /// Channels of the images.
        found_c: usize,
        /// Height of the images.
        found_h: usize,
        /// Width of the images.
        found_w: usize,
        /// Channels the model takes.
        c: usize,
        /// Height the model takes.
        h: usize,
        /// Width the model takes.
        w: usize,
    },
    /// A `RawImages` whose fields disagree with each other (built by hand, not by this module).
    #[error("inconsistent images: {reason}")]
    Inconsistent {
        /// What disagrees.
        reason: String,
    },
}

/// "1 channel" / "3 channels".
fn channels_phrase(c: usize) -> String {
    if c == 1 {
        "1 channel".to_owned()
    } else {
        format!("{c} channels")
    }
}

impl RawImages {
    /// Checks that the fields agree: `pixels.len() == n·c·h·w`, one label per image, and
    /// `c`, `h`, `w` nonzero. Everything this module returns passes; hand-built values may not.
    pub fn validate(&self) -> Result<(), DataError> {
        let inconsistent = |reason: String| Err(DataError::Inconsistent { reason });
        if self.c == 0 || self.h == 0 || self.w == 0 {
            return inconsistent(format!(
                "c, h, w must be nonzero, got c={} h={} w={}",
                self.c, self.h, self.w
            ));
        }
        // `n` last, so that an overflowing `c·h·w` is caught even when `n == 0`.
        let expected = [self.c, self.h, self.w, self.n]
            .into_iter()
            .try_fold(1, usize::checked_mul);
        if expected != Some(self.pixels.len()) {
            return inconsistent(format!(
                "{} pixel values for n×c×h×w = {}×{}×{}×{}",
                self.pixels.len(),
                self.n,
                self.c,
                self.h,
                self.w
            ));
        }
        if let Some(labels) = &self.labels
            && labels.len() != self.n
        {
            return Err(DataError::LabelCount {
                images: self.n,
                labels: labels.len(),
            });
        }
        Ok(())
    }

    /// Values in one image (`c·h·w`).
    pub fn image_len(&self) -> usize {
        self.c * self.h * self.w
    }
}

// ---------------------------------------------------------------------------------------------
// IDX (target-neutral)
// ---------------------------------------------------------------------------------------------

/// Decompresses gzip'd bytes, failing once the output passes [`MAX_DECOMPRESSED_BYTES`].
fn gunzip_capped(gz_bytes: &[u8]) -> Result<Vec<u8>, DataError> {
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
fn idx_header<'a>(
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
fn dims_text(dims: &[usize]) -> String {
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

// ---------------------------------------------------------------------------------------------
// Image decoding (target-neutral)
// ---------------------------------------------------------------------------------------------

/// Whether `name` ends in one of [`IMAGE_EXTENSIONS`], ignoring case.
fn is_image_name(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| {
        IMAGE_EXTENSIONS
            .iter()
            .any(|known| ext.eq_ignore_ascii_case(known))
    })
}

/// Checks the requested channels and size before any decoding; returns the size as `u32`s.
fn check_target(channels: usize, h: usize, w: usize) -> Result<(u32, u32), DataError> {
    if channels != 1 && channels != 3 {
        return Err(DataError::Channels { channels });
    }
    // The image crate measures in u32; keep far below that so `n·c·h·w` stays sane too.
    const MAX_SIDE: u32 = 1 << 14;
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

/// Decodes one image, converts it to `channels`, resizes it to `h×w` and appends it to `out` in
/// `[c, h, w]` order. Errors name `file`.
fn decode_one(
    file: &str,
    bytes: &[u8],
    channels: usize,
    (h, w): (u32, u32),
    out: &mut Vec<u8>,
) -> Result<(), DataError> {
    use image::imageops::{FilterType, resize};
    let img = image::load_from_memory(bytes).map_err(|e| DataError::Decode {
        file: file.to_owned(),
        reason: e.to_string(),
    })?;
    if channels == 1 {
        let mut gray = img.to_luma8();
        if gray.dimensions() != (w, h) {
            gray = resize(&gray, w, h, FilterType::Triangle);
        }
        out.extend_from_slice(gray.as_raw());
    } else {
        let mut rgb = img.to_rgb8();
        if rgb.dimensions() != (w, h) {
            rgb = resize(&rgb, w, h, FilterType::Triangle);
        }
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
/// is converted to grayscale (`channels == 1`) or RGB (`channels == 3`) and resized to `h×w`
/// (triangle filter) when its size differs.
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
        decode_one(path, bytes, channels, size, &mut pixels)?;
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
// Native only: reading from disk
// =============================================================================================

/// Reads a whole file; a missing file becomes [`DataError::NotFound`] with `what` and `hint`.
#[cfg(not(target_arch = "wasm32"))]
fn read_file(path: &std::path::Path, what: &str, hint: &str) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DataError::NotFound {
                what: what.to_owned(),
                path: path.display().to_string(),
                hint: hint.to_owned(),
            }
        } else {
            DataError::Io {
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        }
    })
}

/// Loads one split of Fashion-MNIST from `dir` (the four `*-ubyte.gz` files of the original
/// distribution, as installed by Debian's `dataset-fashion-mnist` in [`DEBIAN_FASHION_MNIST`]).
///
/// Returns `c = 1`, 28×28 images with labels and [`FASHION_MNIST_CLASSES`] as class names.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_fashion_mnist(
    dir: &std::path::Path,
    split: crate::spec::Split,
) -> Result<RawImages, DataError> {
    let hint = format!(
        "install it with `apt-get install dataset-fashion-mnist` (files go to \
         {DEBIAN_FASHION_MNIST}) or pass --data-dir DIR holding the four *-ubyte.gz files"
    );
    if !dir.is_dir() {
        return Err(DataError::NotFound {
            what: "Fashion-MNIST directory".to_owned(),
            path: dir.display().to_string(),
            hint,
        });
    }
    let prefix = match split {
        crate::spec::Split::Train => "train",
        crate::spec::Split::Test => "t10k",
    };
    let images_path = dir.join(format!("{prefix}-images-idx3-ubyte.gz"));
    let labels_path = dir.join(format!("{prefix}-labels-idx1-ubyte.gz"));
    let in_file = |path: &std::path::Path| {
        let file = path.display().to_string();
        move |e: DataError| DataError::InFile {
            file,
            source: Box::new(e),
        }
    };
    let images_gz = read_file(&images_path, "Fashion-MNIST file", &hint)?;
    let labels_gz = read_file(&labels_path, "Fashion-MNIST file", &hint)?;
    let (n, h, w, pixels) = parse_idx_images(&images_gz).map_err(in_file(&images_path))?;
    let labels = parse_idx_labels(&labels_gz).map_err(in_file(&labels_path))?;
    if labels.len() != n {
        return Err(in_file(&labels_path)(DataError::LabelCount {
            images: n,
            labels: labels.len(),
        }));
    }
    Ok(RawImages {
        pixels,
        labels: Some(labels),
        class_names: FASHION_MNIST_CLASSES.map(str::to_owned).to_vec(),
        n,
        c: 1,
        h,
        w,
    })
}

/// The entries of `dir`, sorted by path, without hidden ones (names starting with `.`).
#[cfg(not(target_arch = "wasm32"))]
fn sorted_entries(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, DataError> {
    let io_err = |e: std::io::Error| DataError::Io {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let path = entry.map_err(io_err)?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// Image files under `dir` (recursively, at most [`MAX_FOLDER_DEPTH`] deep), sorted by path.
#[cfg(not(target_arch = "wasm32"))]
fn image_files(
    dir: &std::path::Path,
    depth: usize,
    out: &mut Vec<std::path::PathBuf>,
) -> Result<(), DataError> {
    if depth > MAX_FOLDER_DEPTH {
        return Err(DataError::TooDeep {
            path: dir.display().to_string(),
            max_depth: MAX_FOLDER_DEPTH,
        });
    }
    for path in sorted_entries(dir)? {
        if path.is_dir() {
            image_files(&path, depth + 1, out)?;
        } else if is_image_name(&path.to_string_lossy()) {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads a folder of images.
///
/// If `dir` has sub-folders, each (sorted by name) is a class and its images — searched
/// recursively — carry its index as label (torchvision's ImageFolder); loose files next to the
/// class folders are ignored. Without sub-folders, the images directly in `dir` are unlabelled.
/// Hidden entries (`.name`) are skipped. Accepts `.png`, `.jpg`, `.jpeg` (any case), sorted by
/// path; each image is converted to `channels` (1 = grayscale, 3 = RGB) and resized to `h×w`
/// (triangle filter) when its size differs. Errors name the file that failed.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_image_folder(
    dir: &std::path::Path,
    channels: usize,
    h: usize,
    w: usize,
) -> Result<RawImages, DataError> {
    let size = check_target(channels, h, w)?;
    if !dir.is_dir() {
        return Err(DataError::NotFound {
            what: "image folder".to_owned(),
            path: dir.display().to_string(),
            hint: "pass a directory holding .png/.jpg images, or one sub-folder of them per class"
                .to_owned(),
        });
    }
    let entries = sorted_entries(dir)?;
    let class_dirs: Vec<_> = entries.iter().filter(|p| p.is_dir()).collect();
    // (path, label) in the order the images will have.
    let mut files: Vec<(std::path::PathBuf, Option<i64>)> = Vec::new();
    let mut class_names = Vec::new();
    if class_dirs.is_empty() {
        files.extend(
            entries
                .iter()
                .filter(|p| is_image_name(&p.to_string_lossy()))
                .map(|p| (p.clone(), None)),
        );
    } else {
        for (label, class_dir) in (0i64..).zip(&class_dirs) {
            let mut found = Vec::new();
            image_files(class_dir, 0, &mut found)?;
            files.extend(found.into_iter().map(|p| (p, Some(label))));
            let name = class_dir.file_name().unwrap_or_default();
            class_names.push(name.to_string_lossy().into_owned());
        }
    }
    if files.is_empty() {
        return Err(DataError::NoImages {
            place: format!("`{}`", dir.display()),
        });
    }

    let mut pixels = Vec::with_capacity((channels * h * w).saturating_mul(files.len()));
    for (path, _) in &files {
        let file = path.display().to_string();
        let bytes = read_file(path, "image", "it disappeared while reading the folder")?;
        decode_one(&file, &bytes, channels, size, &mut pixels)?;
    }
    let labels = files
        .iter()
        .map(|(_, label)| *label)
        .collect::<Option<Vec<_>>>();
    Ok(RawImages {
        pixels,
        labels,
        class_names,
        n: files.len(),
        c: channels,
        h,
        w,
    })
}

// ---------------------------------------------------------------------------------------------
// Subset and normalisation (target-neutral)
// ---------------------------------------------------------------------------------------------

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

/// A deterministic subset of `count` images.
///
/// Shuffles `0..n` (Fisher-Yates, `ChaCha8Rng::seed_from_u64(seed)`) and keeps the first `count`
/// indices, in that permuted order. The same `(n, count, seed)` always picks the same images, on
/// every platform.
pub fn subset(raw: &RawImages, count: usize, seed: u64) -> Result<RawImages, DataError> {
    raw.validate()?;
    if count == 0 || count > raw.n {
        return Err(DataError::Subset {
            count,
            available: raw.n,
        });
    }
    let mut order: Vec<usize> = (0..raw.n).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    order.truncate(count);

    let images: Vec<&[u8]> = raw.pixels.chunks_exact(raw.image_len()).collect();
    let mut pixels = Vec::with_capacity(count * raw.image_len());
    let mut labels = raw.labels.as_ref().map(|_| Vec::with_capacity(count));
    for &i in &order {
        // `validate` guarantees both lookups succeed; stay panic-free regardless.
        let image = images.get(i).ok_or_else(|| DataError::Inconsistent {
            reason: format!("image {i} missing"),
        })?;
        pixels.extend_from_slice(image);
        if let (Some(out), Some(all)) = (labels.as_mut(), raw.labels.as_ref()) {
            out.push(all.get(i).copied().unwrap_or_default());
        }
    }
    Ok(RawImages {
        pixels,
        labels,
        class_names: raw.class_names.clone(),
        n: count,
        c: raw.c,
        h: raw.h,
        w: raw.w,
    })
}

/// Per-channel statistics: one value broadcast to every channel, or exactly one per channel.
fn per_channel(what: &str, values: &[f32], channels: usize) -> Result<Vec<f32>, DataError> {
    match values {
        [v] => Ok(vec![*v; channels]),
        _ if values.len() == channels => Ok(values.to_vec()),
        _ => Err(DataError::StatsLength {
            what: what.to_owned(),
            len: values.len(),
            channels,
        }),
    }
}

/// Scales pixels to [0, 1], then normalises per channel: `(v / 255 − mean[c]) / std[c]`.
///
/// `mean` and `std` hold one value per channel, or a single value for all. Every mean must be
/// finite and every std finite and positive.
pub fn normalise(raw: &RawImages, mean: &[f32], std: &[f32]) -> Result<ImageSet, DataError> {
    raw.validate()?;
    let mean = per_channel("mean", mean, raw.c)?;
    let std = per_channel("std", std, raw.c)?;
    let bad = |what: &str, index: usize, value: f32, expected: &str| DataError::StatsValue {
        what: what.to_owned(),
        index,
        value,
        expected: expected.to_owned(),
    };
    if let Some((i, &m)) = mean.iter().enumerate().find(|(_, m)| !m.is_finite()) {
        return Err(bad("mean", i, m, "finite"));
    }
    if let Some((i, &s)) = std
        .iter()
        .enumerate()
        .find(|(_, s)| !(s.is_finite() && **s > 0.0))
    {
        return Err(bad("std", i, s, "finite and positive"));
    }

    // Planes of `h·w` values cycle through the channels: plane k is channel k mod c.
    let plane = raw.h * raw.w;
    let mut pixels = Vec::with_capacity(raw.pixels.len());
    for (values, (&m, &s)) in raw
        .pixels
        .chunks_exact(plane)
        .zip(mean.iter().zip(&std).cycle())
    {
        pixels.extend(values.iter().map(|&v| (f32::from(v) / 255.0 - m) / s));
    }
    Ok(ImageSet {
        pixels,
        labels: raw.labels.clone(),
        class_names: raw.class_names.clone(),
        n: raw.n,
        c: raw.c,
        h: raw.h,
        w: raw.w,
    })
}

/// Checks that `set` has the `c` channels and `h×w` size a model takes.
pub fn check_fits(set: &ImageSet, c: usize, h: usize, w: usize) -> Result<(), DataError> {
    if (set.c, set.h, set.w) == (c, h, w) {
        Ok(())
    } else {
        Err(DataError::Shape {
            found_c: set.c,
            found_h: set.h,
            found_w: set.w,
            c,
            h,
            w,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// gzip'd `bytes`, built independently of the reader.
    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// An IDX file: big-endian magic and dimensions, then `payload`.
    fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    /// A PNG of `w×h` pixels all of gray level `v`.
    fn gray_png(w: u32, h: u32, v: u8) -> Vec<u8> {
        let img = image::GrayImage::from_pixel(w, h, image::Luma([v]));
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageLuma8(img)
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    fn raw_1x1(values: &[u8]) -> RawImages {
        RawImages {
            pixels: values.to_vec(),
            labels: Some(values.iter().map(|&v| i64::from(v)).collect()),
            class_names: vec![],
            n: values.len(),
            c: 1,
            h: 1,
            w: 1,
        }
    }

    #[test]
    fn idx_images_parse_known_values() {
        // Hand-written header: magic 0x00000803, n=2, h=2, w=3.
        let mut file = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        file.extend([0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
        let (n, h, w, pixels) = parse_idx_images(&gz(&file)).unwrap();
        assert_eq!((n, h, w), (2, 2, 3));
        assert_eq!(pixels, [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
    }

    #[test]
    fn idx_labels_parse_known_values() {
        let file = [0, 0, 8, 1, 0, 0, 0, 4, 9, 0, 3, 7];
        assert_eq!(parse_idx_labels(&gz(&file)).unwrap(), [9, 0, 3, 7]);
    }

    #[test]
    fn idx_bad_magic() {
        let labels = gz(&idx(IDX1_UBYTE_MAGIC, &[1, 1, 1], &[0]));
        let err = parse_idx_images(&labels).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Magic {
                    found: 0x801,
                    expected: 0x803,
                    ..
                }
            ),
            "{err}"
        );
        let images = gz(&idx(IDX3_UBYTE_MAGIC, &[1], &[0]));
        let err = parse_idx_labels(&images).unwrap_err();
        assert!(
            matches!(err, DataError::Magic { found: 0x803, .. }),
            "{err}"
        );
    }

    #[test]
    fn idx_truncated_and_overlong_data() {
        let short = gz(&idx(IDX3_UBYTE_MAGIC, &[2, 2, 3], &[7; 11]));
        let err = parse_idx_images(&short).unwrap_err();
        assert_eq!(
            err,
            DataError::Length {
                expected: 12,
                found: 11,
                dims: "2×2×3".into()
            }
        );
        assert!(err.to_string().contains("2×2×3"), "{err}");
        let long = gz(&idx(IDX1_UBYTE_MAGIC, &[2], &[1, 2, 3]));
        assert!(matches!(
            parse_idx_labels(&long),
            Err(DataError::Length {
                expected: 2,
                found: 3,
                ..
            })
        ));
        // A header cut short.
        let err = parse_idx_images(&gz(&[0, 0, 8, 3, 0, 0])).unwrap_err();
        assert!(matches!(err, DataError::Header { .. }), "{err}");
    }

    #[test]
    fn idx_dims_overflow_and_zero() {
        let huge = gz(&idx(IDX3_UBYTE_MAGIC, &[u32::MAX; 3], &[0; 4]));
        let err = parse_idx_images(&huge).unwrap_err();
        assert!(
            matches!(&err, DataError::Header { reason } if reason.contains("overflow")),
            "{err}"
        );
        let zero = gz(&idx(IDX3_UBYTE_MAGIC, &[0, 28, 28], &[]));
        let err = parse_idx_images(&zero).unwrap_err();
        assert!(
            matches!(&err, DataError::Header { reason } if reason.contains("zero")),
            "{err}"
        );
    }

    #[test]
    fn idx_label_out_of_range() {
        let file = gz(&idx(IDX1_UBYTE_MAGIC, &[3], &[1, 10, 2]));
        assert_eq!(
            parse_idx_labels(&file).unwrap_err(),
            DataError::Label {
                index: 1,
                label: 10,
                classes: 10
            }
        );
    }

    #[test]
    fn not_gzip_and_gzip_bomb() {
        let err = parse_idx_labels(b"plain bytes").unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. }), "{err}");

        // One byte over the limit of zeros compresses to ~64 KiB.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&zeros).unwrap();
        }
        enc.write_all(&[0]).unwrap();
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 1 << 20);
        assert_eq!(
            parse_idx_images(&bomb).unwrap_err(),
            DataError::TooLarge {
                limit_bytes: MAX_DECOMPRESSED_BYTES
            }
        );
    }

    #[cfg(not(target_arch = "wasm32"))] // reads files
    #[test]
    fn fashion_mnist_label_count_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let images = idx(IDX3_UBYTE_MAGIC, &[2, 1, 1], &[5, 6]);
        let labels = idx(IDX1_UBYTE_MAGIC, &[3], &[0, 1, 2]);
        std::fs::write(dir.path().join("t10k-images-idx3-ubyte.gz"), gz(&images)).unwrap();
        std::fs::write(dir.path().join("t10k-labels-idx1-ubyte.gz"), gz(&labels)).unwrap();
        let err = load_fashion_mnist(dir.path(), crate::spec::Split::Test).unwrap_err();
        let DataError::InFile { file, source } = &err else {
            panic!("{err}");
        };
        assert!(file.ends_with("t10k-labels-idx1-ubyte.gz"), "{file}");
        assert_eq!(
            **source,
            DataError::LabelCount {
                images: 2,
                labels: 3
            }
        );
        assert!(err.to_string().contains("3 labels for 2 images"), "{err}");
    }

    #[cfg(not(target_arch = "wasm32"))] // reads files
    #[test]
    fn fashion_mnist_missing_dir_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("nowhere");
        let err = load_fashion_mnist(&gone, crate::spec::Split::Test).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("nowhere") && text.contains("apt-get install dataset-fashion-mnist"));
        assert!(text.contains("--data-dir"), "{text}");

        let err = load_fashion_mnist(dir.path(), crate::spec::Split::Train).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, DataError::NotFound { .. }), "{text}");
        assert!(text.contains("train-images-idx3-ubyte.gz"), "{text}");
        assert!(
            text.contains("apt-get install dataset-fashion-mnist"),
            "{text}"
        );
    }

    #[cfg(not(target_arch = "wasm32"))] // reads files
    #[test]
    fn fashion_mnist_debian_test_split() {
        let dir = std::path::Path::new(DEBIAN_FASHION_MNIST);
        if !dir.is_dir() {
            eprintln!("note: {DEBIAN_FASHION_MNIST} absent; skipping the Fashion-MNIST test");
            return;
        }
        let raw = load_fashion_mnist(dir, crate::spec::Split::Test).unwrap();
        assert_eq!((raw.n, raw.c, raw.h, raw.w), (10_000, 1, 28, 28));
        assert_eq!(raw.pixels.len(), 10_000 * 28 * 28);
        let labels = raw.labels.as_deref().unwrap();
        assert_eq!(labels.len(), 10_000);
        assert!(labels.iter().all(|l| (0..10).contains(l)));
        // The first test image is an ankle boot (class 9), and the test split is balanced.
        assert_eq!(labels[0], 9);
        assert_eq!(raw.class_names[9], "Ankle boot");
        assert_eq!(labels.iter().filter(|&&l| l == 9).count(), 1000);
    }

    #[test]
    fn subset_is_deterministic_permutation_and_seeded() {
        let values: Vec<u8> = (0..200).collect();
        let raw = raw_1x1(&values);
        let a = subset(&raw, 50, 7).unwrap();
        assert_eq!(a, subset(&raw, 50, 7).unwrap());
        assert_eq!((a.n, a.c, a.h, a.w, a.pixels.len()), (50, 1, 1, 1, 50));
        // Each image keeps its own label.
        let labels = a.labels.clone().unwrap();
        assert!(
            a.pixels
                .iter()
                .zip(&labels)
                .all(|(&p, &l)| i64::from(p) == l)
        );
        // No repeats.
        let mut seen = a.pixels.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 50);
        // Another seed picks differently.
        assert_ne!(a.pixels, subset(&raw, 50, 8).unwrap().pixels);
        // All of them: a permutation, not the identity.
        let all = subset(&raw, 200, 7).unwrap();
        let mut sorted = all.pixels.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, values);
        assert_ne!(all.pixels, values);
        // The first `count` of the full permutation are the smaller subset.
        assert_eq!(all.pixels[..50], a.pixels[..]);
    }

    #[test]
    fn subset_too_large_or_empty() {
        let raw = raw_1x1(&[1, 2, 3]);
        let err = subset(&raw, 4, 0).unwrap_err();
        assert_eq!(
            err,
            DataError::Subset {
                count: 4,
                available: 3
            }
        );
        let text = err.to_string();
        assert!(text.contains('4') && text.contains('3'), "{text}");
        assert!(subset(&raw, 0, 0).is_err());
        let mut broken = raw;
        broken.pixels.pop();
        assert!(matches!(
            subset(&broken, 1, 0),
            Err(DataError::Inconsistent { .. })
        ));
    }

    #[test]
    fn normalise_known_values() {
        // 0/255 = 0, 51/255 = 0.2, 255/255 = 1; (x - 0.5) / 0.25.
        let set = normalise(&raw_1x1(&[0, 51, 255]), &[0.5], &[0.25]).unwrap();
        assert_eq!(set.pixels[0], -2.0);
        assert!((set.pixels[1] - -1.2).abs() < 1e-6, "{}", set.pixels[1]);
        assert_eq!(set.pixels[2], 2.0);
        assert_eq!(set.labels, Some(vec![0, 51, 255]));

        // Per channel: one 1×2 RGB image, planes [255, 0], [0, 255], [255, 255].
        let rgb = RawImages {
            pixels: vec![255, 0, 0, 255, 255, 255],
            labels: None,
            class_names: vec![],
            n: 1,
            c: 3,
            h: 1,
            w: 2,
        };
        let set = normalise(&rgb, &[0.0, 0.5, 1.0], &[1.0, 0.5, 2.0]).unwrap();
        assert_eq!(set.pixels, [1.0, 0.0, -1.0, 1.0, 0.0, 0.0]);
        assert_eq!((set.n, set.c, set.h, set.w), (1, 3, 1, 2));
    }

    #[test]
    fn normalise_rejects_bad_statistics() {
        let rgb = RawImages {
            pixels: vec![0; 3],
            labels: None,
            class_names: vec![],
            n: 1,
            c: 3,
            h: 1,
            w: 1,
        };
        let err = normalise(&rgb, &[0.1, 0.2], &[1.0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mean has 2 values for images with 3 channels (give 1 or 3)"
        );
        let err = normalise(&rgb, &[0.1], &[1.0, 0.0, 1.0]).unwrap_err();
        assert!(
            matches!(&err, DataError::StatsValue { what, index: 1, .. } if what == "std"),
            "{err}"
        );
        assert!(normalise(&rgb, &[f32::NAN], &[1.0]).is_err());
    }

    #[test]
    fn check_fits_message() {
        let set = ImageSet {
            pixels: vec![0.0; 3 * 32 * 32],
            labels: None,
            class_names: vec![],
            n: 1,
            c: 3,
            h: 32,
            w: 32,
        };
        assert!(check_fits(&set, 3, 32, 32).is_ok());
        assert_eq!(
            check_fits(&set, 1, 28, 28).unwrap_err().to_string(),
            "images are 32×32 with 3 channels; the model expects 28×28 with 1 channel"
        );
    }

    #[cfg(not(target_arch = "wasm32"))] // reads files
    #[test]
    fn image_folder_with_class_subfolders() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("ankle"), dir.path().join("bag"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        // 6 wide × 4 high, constant gray levels so the resized values are known.
        std::fs::write(b.join("x.png"), gray_png(6, 4, 30)).unwrap();
        std::fs::write(a.join("2.PNG"), gray_png(6, 4, 20)).unwrap();
        std::fs::write(a.join("1.png"), gray_png(6, 4, 10)).unwrap();
        std::fs::write(a.join("notes.txt"), "not an image").unwrap();
        std::fs::write(a.join(".hidden.png"), "skipped").unwrap();
        std::fs::write(dir.path().join("loose.png"), "ignored next to classes").unwrap();

        let raw = load_image_folder(dir.path(), 1, 2, 3).unwrap();
        assert_eq!((raw.n, raw.c, raw.h, raw.w), (3, 1, 2, 3));
        assert_eq!(raw.labels, Some(vec![0, 0, 1]));
        assert_eq!(raw.class_names, ["ankle", "bag"]);
        let expected: Vec<u8> = [10u8, 20, 30].iter().flat_map(|&v| [v; 6]).collect();
        assert_eq!(raw.pixels, expected);

        // RGB: gray replicated to three planes, size kept when it already matches.
        let rgb = load_image_folder(dir.path(), 3, 4, 6).unwrap();
        assert_eq!((rgb.n, rgb.c, rgb.pixels.len()), (3, 3, 3 * 3 * 24));
        assert!(rgb.pixels[..72].iter().all(|&v| v == 10));
    }

    #[cfg(not(target_arch = "wasm32"))] // reads files
    #[test]
    fn image_folder_without_subfolders_is_unlabelled() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.jpeg.png"), gray_png(2, 2, 1)).unwrap();
        std::fs::write(dir.path().join("a.png"), gray_png(2, 2, 2)).unwrap();
        let raw = load_image_folder(dir.path(), 1, 2, 2).unwrap();
        assert_eq!(raw.labels, None);
        assert!(raw.class_names.is_empty());
        assert_eq!(raw.pixels, [2, 2, 2, 2, 1, 1, 1, 1]);

        let empty = tempfile::tempdir().unwrap();
        let err = load_image_folder(empty.path(), 1, 2, 2).unwrap_err();
        assert!(matches!(err, DataError::NoImages { .. }), "{err}");
        let err = load_image_folder(&empty.path().join("missing"), 1, 2, 2).unwrap_err();
        assert!(matches!(err, DataError::NotFound { .. }), "{err}");
    }

    #[cfg(not(target_arch = "wasm32"))] // reads files
    #[test]
    fn corrupt_png_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.png"), gray_png(2, 2, 0)).unwrap();
        std::fs::write(
            dir.path().join("broken.png"),
            b"\x89PNG\r\n\x1a\nnot really",
        )
        .unwrap();
        let err = load_image_folder(dir.path(), 1, 2, 2).unwrap_err();
        let DataError::Decode { file, .. } = &err else {
            panic!("{err}");
        };
        assert!(file.ends_with("broken.png"), "{file}");
        assert!(err.to_string().contains("broken.png"), "{err}");
    }

    #[test]
    fn decode_images_rgb_is_planar() {
        // One row of two pixels: (10, 20, 30), (40, 50, 60).
        let img = image::RgbImage::from_raw(2, 1, vec![10, 20, 30, 40, 50, 60]).unwrap();
        let mut png = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut png, image::ImageFormat::Png)
            .unwrap();
        let raw = decode_images(&[("one.png".into(), png.into_inner())], 3, 1, 2).unwrap();
        assert_eq!(raw.pixels, [10, 40, 20, 50, 30, 60]);
        assert_eq!(raw.labels, None);
    }

    #[test]
    fn decode_images_labels_from_path_prefix() {
        let files = vec![
            ("upload/dogs/b.png".to_owned(), gray_png(1, 1, 2)),
            ("upload/cats/a.png".to_owned(), gray_png(1, 1, 1)),
            ("upload/cats/readme.md".to_owned(), b"skip".to_vec()),
            ("upload/dogs/c.JPG".to_owned(), gray_png(1, 1, 3)),
        ];
        let raw = decode_images(&files, 1, 1, 1).unwrap();
        assert_eq!(raw.pixels, [1, 2, 3]);
        assert_eq!(raw.labels, Some(vec![0, 1, 1]));
        assert_eq!(raw.class_names, ["cats", "dogs"]);

        // Bare `class/file` paths label too; a shared folder alone does not.
        let bare = vec![
            ("b/x.png".to_owned(), gray_png(1, 1, 2)),
            ("a\\y.png".to_owned(), gray_png(1, 1, 1)),
        ];
        assert_eq!(
            decode_images(&bare, 1, 1, 1).unwrap().labels,
            Some(vec![0, 1])
        );
        let flat = vec![
            ("root/x.png".to_owned(), gray_png(1, 1, 2)),
            ("root/y.png".to_owned(), gray_png(1, 1, 1)),
        ];
        let raw = decode_images(&flat, 1, 1, 1).unwrap();
        assert_eq!((raw.labels, raw.pixels), (None, vec![2, 1]));
        // Mixed: not every file has a class, so none are labelled.
        let mixed = vec![
            ("a/x.png".to_owned(), gray_png(1, 1, 2)),
            ("y.png".to_owned(), gray_png(1, 1, 1)),
        ];
        assert_eq!(decode_images(&mixed, 1, 1, 1).unwrap().labels, None);

        let err = decode_images(&[("bad.jpg".into(), vec![1, 2, 3])], 1, 1, 1).unwrap_err();
        assert!(err.to_string().contains("bad.jpg"), "{err}");
    }

    #[test]
    fn decode_images_rejects_bad_targets() {
        let files = vec![("x.png".to_owned(), gray_png(1, 1, 0))];
        assert_eq!(
            decode_images(&files, 2, 1, 1).unwrap_err(),
            DataError::Channels { channels: 2 }
        );
        assert!(matches!(
            decode_images(&files, 1, 0, 1),
            Err(DataError::Size { .. })
        ));
        assert!(matches!(
            decode_images(&[], 1, 1, 1),
            Err(DataError::NoImages { .. })
        ));
    }
}
