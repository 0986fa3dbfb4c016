//! One panel of a request: its spec, and which attachments hold its checkpoint, files and images.

use super::*;

/// One panel of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PanelRequest {
    /// Display label ("Sup-ViT", a file name...).
    pub label: String,
    /// What to compute.
    pub spec: SweepSpec,
    /// Attachment holding the checkpoint.
    pub checkpoint: usize,
    /// Attachment holding the RC-MAE teacher, when the loss has one.
    pub teacher: Option<usize>,
    /// Attachments of the spec's other files ([`PanelRequest::expected_files`]): a path's
    /// other end, a Bézier curve's control point, the direction files (x, then y).
    #[serde(default)]
    pub files: SpecFiles,
    /// Where the images are.
    pub data: DataRef,
}

/// The files a panel's directions need, each an attachment (or, from
/// [`SpecFiles::expected`], a placeholder 0).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SpecFiles {
    /// The other end of a linear path or Bézier curve.
    #[serde(default)]
    pub target: Option<usize>,
    /// A Bézier curve's control point.
    #[serde(default)]
    pub bend: Option<usize>,
    /// Direction files: x, then y.
    #[serde(default)]
    pub directions: Vec<usize>,
}

impl SpecFiles {
    /// Which files a spec's directions read, as placeholders.
    pub fn expected(spec: &SweepSpec) -> Self {
        let Ok(files) = Self::attach(spec, |_, _, _| Ok::<_, std::convert::Infallible>(0));
        files
    }

    /// Each file the spec's directions read, given its attachment by `index_of(role, name,
    /// sha256)`, in the order a request sends them.
    pub fn attach<E>(
        spec: &SweepSpec,
        mut index_of: impl FnMut(FileRole, &str, &str) -> Result<usize, E>,
    ) -> Result<Self, E> {
        let mut out = Self::default();
        for (role, name, sha256) in Self::named(spec) {
            let index = index_of(role, name, sha256)?;
            match role {
                FileRole::Target => out.target = Some(index),
                FileRole::Bend => out.bend = Some(index),
                FileRole::Direction => out.directions.push(index),
            }
        }
        Ok(out)
    }

    /// The files a spec's directions read, in the order a request sends them: what each is,
    /// its name and its sha256.
    pub fn named(spec: &SweepSpec) -> Vec<(FileRole, &str, &str)> {
        use crate::spec::DirectionSource as D;
        let two_d = spec.grid.y.is_some();
        fn file(role: FileRole, f: &crate::spec::FileRef) -> (FileRole, &str, &str) {
            (role, f.name.as_str(), f.sha256.as_str())
        }
        match &spec.directions.source {
            D::Random { .. } => Vec::new(),
            D::Files { x, y } => std::iter::once(x)
                .chain(y.as_ref().filter(|_| two_d))
                .map(|f| file(FileRole::Direction, f))
                .collect(),
            D::FileAndRandom { x, .. } => vec![file(FileRole::Direction, x)],
            D::Interpolate { target } => {
                vec![(
                    FileRole::Target,
                    target.name.as_str(),
                    target.sha256.as_str(),
                )]
            }
            D::Bezier { target, bend } => vec![
                (
                    FileRole::Target,
                    target.name.as_str(),
                    target.sha256.as_str(),
                ),
                file(FileRole::Bend, bend),
            ],
        }
    }

    pub(super) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.target.is_some() {
            parts.push("the path's other end".to_string());
        }
        if self.bend.is_some() {
            parts.push("the control point".to_string());
        }
        if !self.directions.is_empty() {
            parts.push(format!("{} direction file(s)", self.directions.len()));
        }
        if parts.is_empty() {
            "no other file".into()
        } else {
            parts.join(" and ")
        }
    }
}

/// What a file named by a spec's directions is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// The other end of a path (a checkpoint).
    Target,
    /// A Bézier control point.
    Bend,
    /// A direction file.
    Direction,
}

impl FileRole {
    /// The file called `name` in this role, for people ("the control point bend.safetensors").
    pub fn describe(self, name: &str) -> String {
        match self {
            Self::Target => format!("the path's other end {name}"),
            Self::Bend => format!("the control point {name}"),
            Self::Direction => format!("direction file {name}"),
        }
    }
}

/// Evaluation data among the attachments.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DataRef {
    /// The demo's subset: two gzip'd IDX files.
    DemoSubset {
        /// Attachment with the images.
        images: usize,
        /// Attachment with the labels.
        labels: usize,
        /// The manifest's description.
        subset: EvalSubset,
    },
    /// Image files; `names[i]` is the path of attachment `first + i`.
    Files {
        /// First attachment.
        first: usize,
        /// Paths (class sub-folders give labels).
        names: Vec<String>,
    },
    /// A zip archive of images.
    Zip {
        /// Attachment with the archive.
        index: usize,
    },
}
