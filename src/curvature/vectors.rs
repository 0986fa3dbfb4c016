//! Hessian eigenvectors as direction files: what `vitscape curvature --save-eigenvectors` writes
//! and the page's Hessian plane offers for download and sweeps.

use super::{Eigen, PowerSettings, ProductScheme, signed_unit};
use crate::error::Error;
use crate::model::layout::Layout;
use crate::spec::SweepSpec;

/// Each eigenvector as a direction file `eigenvector_K.safetensors` (unit length, its largest
/// entry positive, timm names) with the eigenvalue, the solver's settings, the checkpoint's hash
/// and the spec in its metadata: name and bytes, in rank order.
pub fn eigenvector_files(
    layout: &Layout,
    checkpoint_sha256: &str,
    spec: &SweepSpec,
    found: &[Eigen],
    power: PowerSettings,
    scheme: ProductScheme,
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let json = |context: &str, v: Result<String, serde_json::Error>| {
        v.map_err(|source| Error::Json {
            context: context.into(),
            source,
        })
    };
    let spec_json = json("the spec", serde_json::to_string(spec))?;
    let power_json = json(
        "the power iteration's settings",
        serde_json::to_string(&power),
    )?;
    let mut files = Vec::with_capacity(found.len());
    for (i, e) in found.iter().enumerate() {
        let meta = [
            ("format", "vitscape-direction".to_string()),
            ("source", "hessian-eigenvector".to_string()),
            ("rank", (i + 1).to_string()),
            ("eigenvalue", format!("{:e}", e.value)),
            ("iterations", e.iterations.to_string()),
            ("converged", e.converged.to_string()),
            ("power_iteration", power_json.clone()),
            ("hessian_vector_product", scheme.to_string()),
            ("checkpoint_sha256", checkpoint_sha256.to_string()),
            ("spec", spec_json.clone()),
        ];
        let state =
            crate::landscape::directions::to_state_dict(layout, &signed_unit(&e.vector), &meta);
        let bytes = crate::io::checkpoint::write_safetensors(&state)?;
        files.push((format!("eigenvector_{}.safetensors", i + 1), bytes));
    }
    Ok(files)
}
