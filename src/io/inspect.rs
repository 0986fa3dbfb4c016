//! What a checkpoint holds, shown before anything runs: the page's description of an upload and
//! `vitscape inspect`'s. No burn.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::io::checkpoint;
use crate::model::arch::{Head, HeadCounts, HeadsAssumed, VitConfig};
use crate::model::layout::{Layout, Model};
use crate::spec::Branch;

/// What a checkpoint holds, shown before anything runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Inspection {
    /// File name as given.
    pub name: String,
    /// Hex sha256 of the file.
    pub sha256: String,
    /// File size in bytes.
    pub bytes: usize,
    /// The half taken from a file with `student.*` / `teacher.*` keys.
    pub branch: Option<Branch>,
    /// The inferred architecture.
    pub architecture: VitConfig,
    /// Parameters in the landscape's θ.
    pub parameters: usize,
    /// Every parameter, timm name and shape, in canonical order.
    pub tensors: Vec<(String, Vec<usize>)>,
    /// Tensors the reader skipped (optimizer state, integer buffers).
    pub skipped: Vec<String>,
    /// The file's metadata.
    pub metadata: BTreeMap<String, String>,
    /// Head counts assumed from timm's convention (neither given nor in the file).
    #[serde(default)]
    pub heads_assumed: HeadsAssumed,
    /// For a PyTorch file: its container and where the state dict was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Inspection {
    /// One line for people: "ViT 28×28/7, D=64, depth 4, 4 heads, cls token, 10-class head,
    /// MAE decoder 64/2 — 219 466 parameters".
    pub fn summary(&self) -> String {
        let a = &self.architecture;
        let mut parts = vec![format!(
            "ViT {0}×{0}/{1}, {2} channel{3}, D={4}, depth {5}, {6} heads{8}, MLP {7}",
            a.img_size,
            a.patch_size,
            a.in_chans,
            if a.in_chans == 1 { "" } else { "s" },
            a.embed_dim,
            a.depth,
            a.num_heads,
            a.mlp_hidden,
            if self.heads_assumed.encoder {
                " (ASSUMED: the file does not say; head dim 64 as timm — give the count if wrong)"
            } else {
                ""
            }
        )];
        parts.push(
            if a.class_token {
                "cls token"
            } else {
                "no cls token"
            }
            .into(),
        );
        parts.push(match &a.head {
            Some(Head::Linear { num_classes }) => format!("{num_classes}-class head"),
            Some(Head::LinearProbe { num_classes }) => {
                format!("{num_classes}-class linear probe (BatchNorm + linear)")
            }
            None => "no classifier head".into(),
        });
        if let Some(d) = &a.decoder {
            parts.push(format!(
                "MAE decoder D={}, depth {}, {} heads{}",
                d.embed_dim,
                d.depth,
                d.num_heads,
                if self.heads_assumed.decoder {
                    " (ASSUMED: head dim 32 as MAE — give the count if wrong)"
                } else {
                    ""
                }
            ));
        }
        if let Some(b) = self.branch {
            parts.push(format!("{b:?} branch").to_lowercase());
        }
        let source = self
            .source
            .as_ref()
            .map(|s| format!(" — from a {s}"))
            .unwrap_or_default();
        format!(
            "{} — {} parameters{source}",
            parts.join(", "),
            self.parameters
        )
    }
}

/// Read a checkpoint (safetensors or PyTorch) from bytes and infer its model.
pub fn load_model(bytes: &[u8], branch: Option<Branch>, heads: HeadCounts) -> Result<Model, Error> {
    let loaded = checkpoint::read_checkpoint(bytes, branch)?;
    Model::new(loaded, heads)
}

/// Read a checkpoint and report what it holds.
pub fn inspect(
    name: &str,
    bytes: &[u8],
    branch: Option<Branch>,
    heads: HeadCounts,
) -> Result<Inspection, Error> {
    inspect_known(name, bytes, branch, heads, &checkpoint::sha256_hex(bytes))
}

/// [`inspect`] of bytes whose sha256 the caller has already computed: the page hashes a dropped
/// file a slice per task (a ViT-B's 346 MB in one task held its main thread for seconds) and
/// re-inspects the files it holds by their hashes.
pub fn inspect_known(
    name: &str,
    bytes: &[u8],
    branch: Option<Branch>,
    heads: HeadCounts,
    sha256: &str,
) -> Result<Inspection, Error> {
    // What `load_model` checks, without gathering θ: a page inspecting a ViT-B holds the file
    // and its tensors, not a third copy.
    let loaded = checkpoint::read_checkpoint_known(bytes, branch, sha256)?;
    let (architecture, heads_assumed) = crate::model::arch::infer_noting(&loaded.state, heads)?;
    let layout = Layout::new(&architecture);
    layout.check(&loaded.state)?;
    Ok(Inspection {
        name: name.to_owned(),
        sha256: loaded.sha256,
        bytes: bytes.len(),
        branch: loaded.branch,
        architecture,
        parameters: layout.total,
        tensors: layout
            .params
            .iter()
            .map(|p| (p.name.clone(), p.shape.clone()))
            .collect(),
        skipped: loaded.skipped,
        metadata: loaded.state.metadata,
        heads_assumed,
        source: loaded.source,
    })
}
