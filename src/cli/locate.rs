//! Finding the files a spec names: by the path it records, then by sha256 under the `--search`
//! folders. Every file is hashed before use, so a spec never runs on a different file than the one
//! it was made with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use vitscape::demo::Manifest;
use vitscape::io::checkpoint::sha256_hex;

/// Folders deeper than this below a search root are not walked.
const MAX_DEPTH: usize = 6;

/// A file found for a reference.
pub struct Located {
    /// Where it was found.
    pub path: PathBuf,
    /// Its bytes (their sha256 is the one asked for).
    pub bytes: Vec<u8>,
}

/// The demo subset a spec's embedded data names, found through a demo manifest.
pub struct DemoData {
    /// The manifest beside the files.
    pub manifest: Manifest,
    /// `eval-images-idx3-ubyte.gz`.
    pub images_gz: Located,
    /// `eval-labels-idx1-ubyte.gz`.
    pub labels_gz: Located,
}

/// Finds files for references, remembering every hash it computed.
pub struct Locator {
    roots: Vec<PathBuf>,
    hashes: BTreeMap<PathBuf, String>,
}

impl Locator {
    /// Search `roots` (in order) after the recorded paths.
    pub fn new(roots: Vec<PathBuf>) -> Self {
        Self {
            roots,
            hashes: BTreeMap::new(),
        }
    }

    fn roots_text(&self) -> String {
        if self.roots.is_empty() {
            "no --search folder given".into()
        } else {
            self.roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    /// Read `path` if it hashes to `sha256`; `Err(found hash)` otherwise.
    fn try_path(&mut self, path: &Path, sha256: &str) -> Result<Option<Located>, String> {
        if let Some(h) = self.hashes.get(path)
            && h != sha256
        {
            return Err(h.clone());
        }
        let Ok(bytes) = std::fs::read(path) else {
            return Ok(None);
        };
        let hash = sha256_hex(&bytes);
        self.hashes.insert(path.to_path_buf(), hash.clone());
        if hash == sha256 {
            Ok(Some(Located {
                path: path.to_path_buf(),
                bytes,
            }))
        } else {
            Err(hash)
        }
    }

    /// The file `what` recorded as `name` with hash `sha256`: at `name` itself, at `name` or its
    /// file name under a search folder, else any file with that hash (and the same extension)
    /// below a search folder.
    pub fn file(&mut self, what: &str, name: &str, sha256: &str) -> Result<Located> {
        let given = Path::new(name);
        let mut candidates = vec![given.to_path_buf()];
        for root in &self.roots {
            candidates.push(root.join(given));
            if let Some(file) = given.file_name() {
                candidates.push(root.join(file));
            }
        }
        let mut different = Vec::new();
        for path in candidates.into_iter().filter(|p| p.is_file()) {
            match self.try_path(&path, sha256) {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => {}
                Err(hash) => different.push(format!(
                    "{} is a different file (sha256 {}…)",
                    path.display(),
                    vitscape::io::checkpoint::short_hash(&hash)
                )),
            }
        }
        let extension = given.extension().map(|e| e.to_ascii_lowercase());
        for root in self.roots.clone() {
            for path in walk(&root) {
                let same_kind = extension.is_none()
                    || path.extension().map(|e| e.to_ascii_lowercase()) == extension;
                if same_kind && let Ok(Some(found)) = self.try_path(&path, sha256) {
                    return Ok(found);
                }
            }
        }
        different.dedup();
        bail!(
            "{what} `{name}` (sha256 {}…) was not found{}; nothing below the search folders ({}) \
             has that hash. Pass --search DIR with the folder that holds it",
            vitscape::io::checkpoint::short_hash(sha256),
            if different.is_empty() {
                String::new()
            } else {
                format!(": {}", different.join("; "))
            },
            self.roots_text()
        )
    }

    /// The demo subset whose images hash to `sha256`, through a `manifest.json` below a search
    /// folder.
    pub fn demo_subset(&mut self, name: &str, sha256: &str) -> Result<Option<DemoData>> {
        for root in self.roots.clone() {
            for path in walk(&root).filter(|p| p.file_name() == Some("manifest.json".as_ref())) {
                let Ok(text) = std::fs::read(&path) else {
                    continue;
                };
                let Ok(manifest) = serde_json::from_slice::<Manifest>(&text) else {
                    continue;
                };
                if manifest.eval_subset.images_sha256 != sha256 {
                    continue;
                }
                let folder = path.parent().unwrap_or(Path::new("."));
                let s = &manifest.eval_subset;
                let images_gz = self
                    .file(
                        &format!("images of `{name}`"),
                        &folder.join(&s.images_file).display().to_string(),
                        &s.images_sha256,
                    )
                    .with_context(|| format!("the demo manifest {}", path.display()))?;
                let labels_gz = self
                    .file(
                        &format!("labels of `{name}`"),
                        &folder.join(&s.labels_file).display().to_string(),
                        &s.labels_sha256,
                    )
                    .with_context(|| format!("the demo manifest {}", path.display()))?;
                return Ok(Some(DemoData {
                    manifest,
                    images_gz,
                    labels_gz,
                }));
            }
        }
        Ok(None)
    }
}

/// Every regular file below `root` (depth ≤ [`MAX_DEPTH`]), skipping hidden folders and build
/// output (`target`, `node_modules`), in a stable order.
fn walk(root: &Path) -> impl Iterator<Item = PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries.into_iter().rev() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let skipped = name
                .to_str()
                .is_none_or(|n| n.starts_with('.') || n == "target" || n == "node_modules");
            if kind.is_dir() && !skipped && depth < MAX_DEPTH {
                stack.push((path, depth + 1));
            } else if kind.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    out.into_iter()
}
