//! Evaluation data: Fashion-MNIST IDX `.gz` files and image folders, a deterministic subset,
//! per-channel normalisation. Produces plain host arrays; the sweep uploads them once.
//!
//! The pipeline is `load_* / decode_images / parse_idx_*` (with [`Preprocess`]: timm's resize
//! and centre crop) → [`RawImages`] (u8 pixels) →
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
pub(crate) const IDX3_UBYTE_MAGIC: u32 = 0x0000_0803;
/// IDX magic of an unsigned-byte, one-dimensional file (labels).
pub(crate) const IDX1_UBYTE_MAGIC: u32 = 0x0000_0801;
/// Number of classes an IDX label may name (Fashion-MNIST and MNIST both have 10).
pub(crate) const IDX_CLASSES: usize = 10;
/// How deep an image folder may nest below a class folder; guards against symlink loops.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) const MAX_FOLDER_DEPTH: usize = 8;
/// File extensions read as images (compared case-insensitively).
pub(crate) const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Images `[n, c, h, w]` row-major with optional labels; the pixel type says which stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Images<P> {
    /// Pixel values, `[n, c, h, w]`.
    pub pixels: Vec<P>,
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

/// Images ready for the model: normalised f32 pixels.
pub type ImageSet = Images<f32>;

/// Images before normalisation: u8 pixels as stored.
pub type RawImages = Images<u8>;

/// "1 channel" / "3 channels".
pub(crate) fn channels_phrase(c: usize) -> String {
    if c == 1 {
        "1 channel".to_owned()
    } else {
        format!("{c} channels")
    }
}

impl<P> Images<P> {
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

mod decode;
mod error;
#[cfg(not(target_arch = "wasm32"))]
mod files;
mod idx;
mod preprocess;
mod subset;
#[cfg(test)]
mod tests;

pub use decode::*;
pub use error::*;
#[cfg(not(target_arch = "wasm32"))]
pub use files::*;
pub use idx::*;
pub use preprocess::*;
pub use subset::*;
