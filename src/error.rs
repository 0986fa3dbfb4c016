//! Library errors. Each module owns its error type; [`Error`] gathers them for callers that do
//! not care which stage failed. Messages name the offending value and what was expected.

use thiserror::Error;

pub use crate::io::checkpoint::CheckpointError;
pub use crate::io::data::DataError;
pub use crate::trajectory::TrajectoryError;

/// A value in a `SweepSpec` (or a flag that builds one) that cannot work.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SpecError {
    /// An axis written as text could not be used.
    #[error("grid axis `{text}`: {reason}")]
    Axis {
        /// The text given.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// A field holds an unusable value.
    #[error("{field}: {reason}")]
    Field {
        /// Dotted field path.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Text that holds no usable spec (not a spec, surface, curvature result, verdict or
    /// permalink), or a choice among several specs that matches none.
    #[error("{0}")]
    Source(String),
    /// The spec was written by a newer or older vitscape.
    #[error(
        "sweep spec version {found} is not supported (this vitscape reads version {supported})"
    )]
    Version {
        /// Version found.
        found: u32,
        /// Version supported.
        supported: u32,
    },
}

/// The architecture implied by a checkpoint cannot be used.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ArchError {
    /// A required tensor is absent.
    #[error("missing tensor `{name}`: {why}")]
    Missing {
        /// timm name.
        name: String,
        /// Why it is needed.
        why: String,
    },
    /// A tensor's shape disagrees with the rest of the model.
    #[error("tensor `{name}` has shape {found:?}, expected {expected}")]
    Shape {
        /// timm name.
        name: String,
        /// Shape found.
        found: Vec<usize>,
        /// What was expected, in words.
        expected: String,
    },
    /// Anything else inconsistent.
    #[error("{0}")]
    Invalid(String),
}

/// Directions that cannot be used with a model.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DirectionError {
    /// A parameter has no direction tensor.
    #[error("direction file has no tensor `{0}` (the model has it)")]
    Missing(String),
    /// Shape mismatch.
    #[error("direction tensor `{name}` has shape {found:?}, the model's is {expected:?}")]
    Shape {
        /// Name.
        name: String,
        /// Direction shape.
        found: Vec<usize>,
        /// Model shape.
        expected: Vec<usize>,
    },
    /// Names not in the model.
    #[error("direction file has tensors the model does not: {}", .0.join(", "))]
    Unexpected(Vec<String>),
    /// All-zero or non-finite direction.
    #[error("direction `{0}` is unusable: {1}")]
    Unusable(String, String),
}

/// Anything that can stop a landscape run.
#[derive(Debug, Error)]
pub enum Error {
    /// Bad spec.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Bad checkpoint file.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Checkpoint that is not a usable ViT.
    #[error(transparent)]
    Arch(#[from] ArchError),
    /// Bad data.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Bad directions.
    #[error(transparent)]
    Direction(#[from] DirectionError),
    /// A trajectory that cannot be formed, or trajectory metadata that cannot be read.
    #[error(transparent)]
    Trajectory(#[from] TrajectoryError),
    /// The compute backend failed.
    #[error("compute backend: {0}")]
    Backend(String),
    /// The user cancelled the run.
    #[error("cancelled")]
    Cancelled,
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// JSON (de)serialisation.
    #[error("{context}: {source}")]
    Json {
        /// What was being read.
        context: String,
        /// The cause.
        source: serde_json::Error,
    },
}
