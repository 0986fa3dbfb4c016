//! The panels: each canvas with its status, exports, read-out and convexity summary.

use super::*;

#[component]
pub(crate) fn Panels(ctx: Ctx) -> impl IntoView {
    view! {
        <FigureExport ctx=ctx />
        <div id="panels" class="panels">
            <For each={move || (0..ctx.panels.with(Vec::len)).collect::<Vec<_>>()} key={|i: &usize| *i} let:i>
                <PanelView ctx=ctx i=i />
            </For>
        </div>
    }
}

#[component]
pub(crate) fn PanelView(ctx: Ctx, i: usize) -> impl IntoView {
    // Each piece of the caption is a memo of what it shows, read from the panel in place: the
    // panels change with every batch of cells, and a 101 × 101 panel is too big to clone for
    // each caption each time (issue #13: the main thread never blocks > 100 ms).
    let with_panel =
        move |f: &dyn Fn(&PanelState) -> Option<String>| ctx.panels.with(|p| p.get(i).and_then(f));
    let status = Memo::new(move |_| {
        with_panel(&|p| {
            let (done, total) = p.surface.progress();
            Some(match &p.status {
                Status::Computing => format!("computing {done}/{total}"),
                Status::Done => format!("done, {total} cells"),
                Status::Cancelled => format!("cancelled at {done}/{total}"),
                Status::Failed(m) => format!("failed: {m}"),
                Status::Shared => "from a shared link (recompute to check)".into(),
            })
        })
        .unwrap_or_default()
    });
    let agreement = Memo::new(move |_| with_panel(&agreement_text));
    let barrier =
        Memo::new(move |_| with_panel(&|p| p.barrier.clone().map(|b| b.unwrap_or_else(|e| e))));
    let files = Memo::new(move |_| {
        ctx.panels
            .with(|p| p.get(i).map(|p| p.files.clone()))
            .unwrap_or_default()
    });
    let export = move |what: &'static str| {
        let Some(p) = ctx.panels.with_untracked(|p| p.get(i).cloned()) else {
            return;
        };
        let name = slug(&p.label);
        match what {
            "png" => {
                if let Some(c) = canvas_of(i)
                    && let Ok(url) = c.to_data_url()
                {
                    let _ = download_url(&format!("{name}.png"), &url);
                }
            }
            "svg" => {
                let view = ctx.view.get_untracked();
                let range = ctx
                    .panels
                    .with_untracked(|all| ctx.shared_range(all, &view));
                match draw::svg(
                    &p.surface,
                    &view,
                    &draw::options(&view, &p.label, range),
                    CANVAS,
                ) {
                    Ok(svg) => download(&format!("{name}.svg"), svg.as_bytes(), "image/svg+xml"),
                    Err(e) => ctx.error.set(Some(e)),
                }
            }
            "csv" => download(
                &format!("{name}.csv"),
                p.surface.to_csv().as_bytes(),
                "text/csv",
            ),
            _ => match serde_json::to_string_pretty(&p.surface) {
                Ok(json) => download(
                    &format!("{name}.surface.json"),
                    json.as_bytes(),
                    "application/json",
                ),
                Err(e) => ctx.error.set(Some(e.to_string())),
            },
        }
    };
    view! {
        <figure class="panel" id=format!("panel-{i}")>
            <canvas id=format!("canvas-{i}") width=CANVAS.0 height=CANVAS.1
                on:mousemove=move |ev: web_sys::MouseEvent| ctx.on_pointer(i, &ev)
                on:mousedown=move |ev: web_sys::MouseEvent| ctx.on_pointer(i, &ev)
                on:mouseup=move |_| ctx.drag.set_value(None)
                on:mouseleave=move |_| ctx.drag.set_value(None)></canvas>
            <Show when=move || ctx.panels.with(|p| p.get(i).is_some_and(|p| p.convexity.is_some()))>
                <canvas id=format!("convexity-{i}") width=CANVAS.0 height=CANVAS.1></canvas>
                <div class="convexity-summary" id=format!("convexity-summary-{i}")>{move || convexity_summary(ctx, i)}</div>
            </Show>
            <Show when=move || ctx.panels.with(|p| p.get(i).is_some_and(|p| p.summary.as_ref().is_some_and(|s| s.topology.is_some())))>
                <canvas class="barcode" id=format!("barcode-{i}") width=CANVAS.0 height=BARCODE_HEIGHT></canvas>
            </Show>
            <figcaption>
                <div class="readout" id=format!("readout-{i}")>{move || ctx.readouts.with(|r| r.get(i).cloned().unwrap_or_default())}</div>
                <div class="status" id=format!("status-{i}")>{move || status.get()}</div>
                <div class="agreement" id=format!("agreement-{i}")>{move || agreement.get()}</div>
                <div class="barrier" id=format!("barrier-{i}")>{move || barrier.get()}</div>
                <div class="exports">
                    <button on:click=move |_| export("png")>"PNG"</button>
                    <button on:click=move |_| export("svg")>"SVG"</button>
                    <button on:click=move |_| export("csv")>"CSV"</button>
                    <button on:click=move |_| export("json")>"JSON"</button>
                    {move || files.get().into_iter().map(|(n, b)| {
                        let label = n.trim_end_matches(".safetensors").to_string();
                        let url = b.clone();
                        view! { <button class="file" data-file=n.clone() data-url=url on:click=move |_| {
                            if let Err(e) = download_url(&n, &b) {
                                web_sys::console::error_1(&e);
                            }
                        }>{label}</button> }
                    }).collect::<Vec<_>>()}
                </div>
            </figcaption>
        </figure>
    }
}

/// "n of m cells locally convex (|λmin/λmax| < 0.1); λmax at the centre …" for a panel's map.
pub(crate) fn convexity_summary(ctx: Ctx, i: usize) -> String {
    ctx.panels.with(|panels| {
        let Some(map) = panels.get(i).and_then(|p| p.convexity.as_ref()) else {
            return String::new();
        };
        let ratios: Vec<f64> = map
            .metrics
            .get(crate::curvature::CONVEXITY)
            .map(|g| g.iter().flatten().flatten().copied().collect())
            .unwrap_or_default();
        let convex = ratios
            .iter()
            .filter(|r| **r < crate::curvature::CONVEX_RATIO)
            .count();
        let centre = map.x.iter().position(|v| *v == 0.0).and_then(|ix| {
            let iy = map.y.iter().position(|v| *v == 0.0)?;
            map.metrics.get(crate::curvature::LAMBDA_MAX)?[iy][ix]
        });
        let (done, total) = map.progress();
        // How the products were formed and their step check, as the worker recorded them.
        let check = map
            .info
            .step_check
            .and_then(|c| c.max_relative_truncation)
            .map_or(String::new(), |c| {
                let flag = if c > crate::curvature::STEP_CHECK_LIMIT {
                    " (above the limit: products may be >0.5 % off)"
                } else {
                    ""
                };
                format!(" step check {c:.0e}{flag};")
            });
        format!(
            "{convex} of {done} cells locally convex (|λmin/λmax| < {}), {done}/{total} computed;{check} λmax at the centre: {}",
            crate::curvature::CONVEX_RATIO,
            centre.map_or("—".into(), |v| format!("{v:.4e}"))
        )
    })
}

/// "Figure for a paper": the finished 2-D panels side by side on one colour scale with a caption
/// from their specs, as a 300-dpi PNG or an SVG (`vitscape figure` does the same natively).
#[component]
pub(crate) fn FigureExport(ctx: Ctx) -> impl IntoView {
    let ready = move || {
        ctx.panels
            .with(|all| all.iter().filter(|p| figure_ready(&p.surface)).count())
    };
    let export = move |png: bool| {
        let view = ctx.view.get_untracked();
        let result = ctx.panels.with_untracked(|all| {
            let panels: Vec<(String, &Surface)> = all
                .iter()
                .filter(|p| figure_ready(&p.surface))
                .map(|p| (p.label.clone(), &p.surface))
                .collect();
            let specs: Vec<(String, &crate::spec::SweepSpec)> =
                panels.iter().map(|(l, s)| (l.clone(), &s.spec)).collect();
            let caption = crate::spec::describe::caption(&specs, &view.metric, true);
            if png {
                draw::comparison_png(&panels, &view, &caption)
                    .map(|bytes| download("comparison.png", &bytes, "image/png"))
            } else {
                draw::comparison_svg(&panels, &view, &caption)
                    .map(|svg| download("comparison.svg", svg.as_bytes(), "image/svg+xml"))
            }
        });
        if let Err(e) = result {
            ctx.error.set(Some(format!("figure: {e}")));
        }
    };
    view! {
        <Show when=move || { ready() > 0 }>
            <div class="figure-export" id="figure-export">
                <span>{move || format!("Figure for a paper ({} panels, one colour scale, caption from the specs):", ready())}</span>
                <button id="figure-png" on:click=move |_| export(true)>"PNG, 300 dpi"</button>
                <button id="figure-svg" on:click=move |_| export(false)>"SVG"</button>
            </div>
        </Show>
    }
}

/// A complete 2-D surface: what a comparison figure draws.
fn figure_ready(s: &Surface) -> bool {
    let (done, total) = s.progress();
    !s.is_1d() && s.x.len() > 1 && s.y.len() > 1 && done == total
}

/// "Recomputed: largest difference from the link …" for a finished panel that came from a link.
fn agreement_text(p: &PanelState) -> Option<String> {
    let shared = p.shared_values.as_ref()?;
    if p.status != Status::Done {
        return None;
    }
    let mut worst: f64 = 0.0;
    let mut bound: f64 = 0.0;
    for (name, grid) in &p.surface.metrics {
        let Some(other) = shared.metrics.get(name) else {
            continue;
        };
        bound = bound.max(permalink::max_error(grid));
        for (a, b) in grid.iter().flatten().zip(other.iter().flatten()) {
            if let (Some(a), Some(b)) = (a, b) {
                worst = worst.max((a - b).abs());
            }
        }
    }
    Some(format!(
        "Recomputed: largest difference from the link {worst:.2e} (the link stores values to ±{bound:.2e}) — {}",
        if worst <= bound * 1.01 + 1e-9 {
            "the numbers agree"
        } else {
            "the numbers DIFFER"
        }
    ))
}
