//! Why data cannot be used: every message names the file or value and what was expected.

use super::*;

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
    /// `--mean` / `--std` that cannot be read.
    #[error("normalisation: {reason}")]
    MeanStd {
        /// What is wrong, and the fix.
        reason: String,
    },
    /// An image whose size does not fit the model after the preprocessing asked for.
    #[error("{file} is {width}×{height}: {reason}")]
    ImageSize {
        /// The image file.
        file: String,
        /// Its width as decoded.
        width: usize,
        /// Its height as decoded.
        height: usize,
        /// What does not fit, and the fix.
        reason: String,
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
