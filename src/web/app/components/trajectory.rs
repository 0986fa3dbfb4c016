//! The demo models' training trajectories (`demo/trajectory/<model>/`, written by `vitscape
//! trajectory` and `vitscape sweep --directions pca_1 pca_2`): each run's PCA plane with the path
//! of its epoch checkpoints drawn over the contours of its pre-training loss.

use super::*;

/// One model's sentence: how much of the run its plane holds, and whether θ* is the shipped
/// model (`shipped`) or the last checkpoint of a re-run of its training command.
fn sentence(t: &DemoTrajectory, shipped: bool) -> String {
    let Some(path) = &t.surface.info.trajectory else {
        return "this surface holds no training path".into();
    };
    let [a, b] = path.explained_variance_ratio;
    let centre = if shipped {
        format!("θ* is the demo's {}", t.title)
    } else {
        format!(
            "θ* is the last checkpoint of a re-run of {}'s training command (same seed, epoch checkpoints kept; training is not bit-for-bit reproducible across vitscape builds, so it is not the shipped file)",
            t.title
        )
    };
    format!(
        "PC1 holds {:.1} % of the run's movement, PC2 {:.1} % ({:.1} % together), over its {} epoch checkpoints; the path runs from \"start\" (epoch 1) to θ* (the red cross). {centre}.",
        a * 100.0,
        b * 100.0,
        (a + b) * 100.0,
        path.points.len(),
    )
}

/// The three demo runs side by side.
#[component]
pub(crate) fn TrajectoryView(ctx: Ctx) -> impl IntoView {
    let runs = move || {
        ctx.trajectories.with(|all| {
            all.iter()
                .enumerate()
                .map(|(i, t)| {
                    let sha256 = &t.surface.spec.checkpoint.sha256;
                    let shipped = ctx.manifest.with(|m| {
                        m.as_ref()
                            .is_some_and(|m| m.models.iter().any(|x| &x.sha256 == sha256))
                    });
                    view! {
                        <div class="trajectory">
                            <h3>{t.title.clone()}</h3>
                            <canvas id=format!("trajectory-{i}") width=CANVAS.0 height=CANVAS.1></canvas>
                            <p class="hint">{sentence(t, shipped)}</p>
                        </div>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <Show when=move || ctx.trajectories.with(|t| !t.is_empty())>
            <section id="trajectories" class="verdict">
                <h2>"Training trajectories: where each demo model travelled"</h2>
                <p>
                    "Li et al. (2018) §7: the two principal directions of a run's epoch checkpoints around its last one (θ*), each checkpoint projected onto them, over the run's own pre-training loss on that plane. "
                    "The directions are used as they are (unit vectors, not normalised), so the axes are distances in parameter space. Computed natively by "
                    <code>"vitscape trajectory"</code>" and "<code>"vitscape sweep --directions pca_1.safetensors pca_2.safetensors"</code>
                    "; drop a run's two files beside its last checkpoint above to draw your own."
                </p>
                <div class="trajectory-row">{runs}</div>
            </section>
        </Show>
    }
}
