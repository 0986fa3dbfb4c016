//! Mode connectivity: the loss and accuracy along the straight line and along a trained Bézier
//! curve between two checkpoints, with each path's barrier in words — the demo's pairs
//! (`demo/connect/`, written by `vitscape connect`) and those trained on the page.

use super::*;
use crate::landscape::surface::{ACCURACY, LOSS};
use crate::metrics::barrier::Barrier;

fn height(barriers: &[Barrier], metric: &str) -> Option<f64> {
    barriers
        .iter()
        .find(|b| b.metric == metric)
        .map(|b| b.height)
}

fn number(v: Option<f64>, scale: f64, digits: usize) -> String {
    v.map_or("not measured".into(), |v| {
        format!("{:.*}", digits, v * scale)
    })
}

/// One pair's sentence: the barriers of both paths, and how the curve was trained.
fn sentence(c: &DemoConnection) -> String {
    let r = &c.report;
    format!(
        "Loss barrier {} along the straight line, {} along the Bézier curve; accuracy drops {} points below the line between the ends on the straight line, {} on the curve. \
         The curve's control point was trained for {} steps of {} images from {}; loss on the curve {:.3}.",
        number(height(&r.linear, LOSS), 1.0, 3),
        number(height(&r.bezier, LOSS), 1.0, 3),
        number(height(&r.linear, ACCURACY), 100.0, 1),
        number(height(&r.bezier, ACCURACY), 100.0, 1),
        r.bend.config.steps,
        r.bend.train_batch,
        crate::spec::describe::data_text(&SweepSpec {
            data: r.bend.train_data.clone(),
            ..c.linear.spec.clone()
        }),
        r.bend.final_loss,
    )
}

/// Every pair, each a figure and its numbers.
#[component]
pub(crate) fn ConnectView(ctx: Ctx) -> impl IntoView {
    let pairs = move || {
        ctx.connections.with(|all| {
            all.iter()
                .enumerate()
                .map(|(i, c)| {
                    view! {
                        <div class="connection">
                            <h3>{c.title.clone()}</h3>
                            <canvas id=format!("connect-{i}") class="paths" width="1100" height="360"></canvas>
                            <p class="barriers">{sentence(c)}</p>
                            <p class="verdict-command"><code>{c.report.bend.command.clone()}</code></p>
                        </div>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <Show when=move || ctx.connections.with(|c| !c.is_empty())>
            <section id="connect" class="verdict">
                <h2>"Mode connectivity: are the fine-tuned models joined by a low path?"</h2>
                <p>
                    "Garipov et al. (2018): between two checkpoints, a quadratic Bézier curve whose control point is trained on the loss. "
                    "The barrier is how far the loss rises above (the accuracy falls below) the straight line between the two ends, over t ∈ [0, 1]. "
                    "The demo's pairs were computed natively by "<code>"vitscape connect"</code>"; a path on this page gets its own with \"Train a Bézier curve\" (below its summary). "<code>"vitscape sweep --spec"</code>" recomputes either path from its surface, and each pair's command below retrains its control point."
                </p>
                {pairs}
            </section>
        </Show>
    }
}
