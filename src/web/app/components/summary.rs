//! Under the panels: the summaries table and the demo verdict.

use super::*;

#[component]
pub(crate) fn SummaryTable(ctx: Ctx) -> impl IntoView {
    // A memo: the table's rows are rebuilt only when their text changes, not on every batch of
    // cells a worker sends (issue #13: the main thread never blocks > 100 ms).
    let rows = Memo::new(move |_| {
        ctx.panels.with(|panels| {
            panels
                .iter()
                .map(|p| {
                    // Finished panels only: `PanelState::finish` computed it once.
                    let s = &p.summary;
                    let f = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.3}"));
                    let tau = s.as_ref().map_or("—".into(), |s| format!("{:.4}", s.tau));
                    let trace = p.trace.map_or("—".into(), |(m, se, n)| {
                        format!("{m:.4e} ± {se:.1e} ({n} samples)")
                    });
                    let spectrum = p.spectrum.as_ref().map_or("—".into(), |s| {
                        let mean = s
                            .mean_positive
                            .map_or("none".into(), |m| format!("{m:.4e}"));
                        let values: Vec<String> =
                            s.values.iter().map(|v| format!("{v:.3e}")).collect();
                        format!(
                            "{:.2} negative, mean positive {mean} ({} mini-batches: {})",
                            s.fraction_negative,
                            s.values.len(),
                            values.join(", ")
                        )
                    });
                    let check = p.step_check.and_then(|c| c.max_relative_truncation).map_or(
                        String::new(),
                        |c| {
                            let flag = if c > crate::curvature::STEP_CHECK_LIMIT {
                                " — above the limit, products may be >0.5 % off"
                            } else {
                                ""
                            };
                            format!(", step check {c:.0e}{flag}")
                        },
                    );
                    let eigen = p.eigen.map_or("—".into(), |(v, it, ok)| {
                        format!(
                            "{v:.4e} ({it} it.{}{check})",
                            if ok { "" } else { ", not converged" }
                        )
                    });
                    (
                        p.label.clone(),
                        s.as_ref()
                            .map_or("—".into(), |s| format!("{:.4}", s.centre)),
                        s.as_ref().map_or("—".into(), |s| f(s.radius_mean)),
                        s.as_ref()
                            .map_or("—".into(), |s| format!("{:.3}", s.basin_area)),
                        s.as_ref().map_or("—".into(), |s| {
                            format!("{:.1} %", s.convex_fraction * 100.0)
                        }),
                        s.as_ref().map_or("—".into(), |s| {
                            format!("{:.2e} ({:.3})", s.roughness_rms, s.roughness_relative)
                        }),
                        s.as_ref().map_or("—".into(), |s| {
                            format!("{} / {}", f(s.curvature_x), f(s.curvature_y))
                        }),
                        tau,
                        s.as_ref()
                            .and_then(|s| s.topology.as_ref())
                            .map_or("—".into(), |t| {
                                format!(
                                    "{} of {} minima; main {:.0} % of the plane, θ* {}",
                                    t.basins,
                                    t.minima_total,
                                    t.main_basin_share * 100.0,
                                    if t.centre_in_main_basin {
                                        "in it"
                                    } else {
                                        "in another"
                                    }
                                )
                            }),
                        eigen,
                        trace,
                        spectrum,
                    )
                })
                .collect::<Vec<_>>()
        })
    });
    view! {
        <table id="summary" class="summary">
            <caption>{format!("Landscape summaries of the loss (τ = {:.0} % of each model's L(0); α, β in direction units)", TAU_RELATIVE * 100.0)}</caption>
            <thead><tr><th>"model"</th><th>"L(0)"</th><th>"τ"</th><th>"basin radius (mean of 64 rays)"</th><th>"area below L(0)+τ"</th>
                <th>"locally convex cells"</th><th>"roughness: rms vs quadratic (relative)"</th><th>"curvature α / β at 0"</th><th>"basins: persistence > τ (merge tree)"</th>
                <th>"λmax of the Hessian at θ*"</th><th>"trace (Hutchinson)"</th><th>{format!("max-eigenvalue spectrum (mini-batches of {SPECTRUM_BATCH})")}</th></tr></thead>
            <tbody>
                {move || rows.get().into_iter().map(|(a, b, c, d, e, f, g, t, tp, h, tr, sp)| view! {
                    <tr><td>{a}</td><td>{b}</td><td>{t}</td><td>{c}</td><td>{d}</td><td>{e}</td><td>{f}</td><td>{g}</td><td class="topology">{tp}</td><td class="eigen">{h}</td><td class="trace">{tr}</td><td class="spectrum">{sp}</td></tr>
                }).collect::<Vec<_>>()}
            </tbody>
        </table>
        <p class="hint">
            <button id="eigen" on:click=move |_| { ctx.error.set(None); ctx.eigenvalues() }
                disabled=move || ctx.progress.with(|p| p.running) || ctx.panels.with(Vec::is_empty)>
                "Compute λmax, trace and spectrum at θ*"
            </button>
            {format!(" Power iteration on Hessian-vector products ({}; the step check is the largest estimated relative truncation error of the half step), PyHessian's rule:", ProductScheme::default())}
            {format!(" at most 100 iterations, stop when |Δλ|/(|λ|+1e-6) < 1e-3; then Hutchinson's trace over {TRACE_SAMPLES} Rademacher vectors (± its standard error); then the top eigenvalue of each mini-batch of {SPECTRUM_BATCH} images (Park & Kim's max-eigenvalue spectrum) — the same numbers as ")}
            <code>{format!("vitscape curvature --parts top trace spectrum --trace-samples {TRACE_SAMPLES} --spectrum-batch {SPECTRUM_BATCH}")}</code>"."
        </p>
        <p class="hint">
            <button id="convexity" on:click=move |_| { ctx.error.set(None); ctx.convexity_map() }
                disabled=move || ctx.progress.with(|p| p.running) || ctx.panels.with(Vec::is_empty)>
                "Convexity map"
            </button>
            " on a "
            <input id="convexity-grid" size="2" prop:value=move || ctx.convexity_points.get()
                on:change=move |ev| ctx.convexity_points.set(event_target_value(&ev)) />
            "-point grid of each plane, at most "
            <input id="power-iterations" size="3" prop:value=move || ctx.power_iterations.get()
                on:change=move |ev| ctx.power_iterations.set(event_target_value(&ev)) />
            {format!(" Hessian-vector products per cell (Lanczos: λmin and λmax from one Krylov space, stopping when both moved by less than 1e-3·max(|λ|)), and |λmin/λmax| drawn under each plot; Hessian-vector products by {} (Li et al.'s map; ", ProductScheme::default())}
            <code>"vitscape curvature --parts convexity"</code>
            "). Each cell costs about ten products: expect minutes on the CPU."
        </p>
        <p class="hint">
            <button id="hessian-plane" on:click=move |_| { ctx.error.set(None); ctx.hessian_plane(2) }
                disabled=move || ctx.progress.with(|p| p.running) || ctx.panels.with(Vec::is_empty)>
                "Hessian plane: top-2 eigenvectors"
            </button>
            " "
            <button id="hessian-plane-1" on:click=move |_| { ctx.error.set(None); ctx.hessian_plane(1) }
                disabled=move || ctx.progress.with(|p| p.running) || ctx.panels.with(Vec::is_empty)>
                "top-1 and a random y"
            </button>
            {format!(" Each panel's top Hessian eigenvectors at θ* (power iteration with deflation, stopping at |Δλ|/(|λ|+1e-6) < {HESSIAN_PLANE_TOLERANCE:e} or after the power iterations set above), then each panel swept on its own plane with the same grid and images; the eigenvectors are unit vectors used as they are. As ")}
            <code>{move || format!("vitscape curvature --parts top --top-k 2 --save-eigenvectors --tolerance {HESSIAN_PLANE_TOLERANCE:e} --max-iterations {}", ctx.power_iterations.get().trim())}</code>
            " then "<code>"vitscape sweep --directions eigenvector_1.safetensors eigenvector_2.safetensors"</code>"."
        </p>
        <p class="hint">
            <button id="train-bend" on:click=move |_| { ctx.error.set(None); ctx.train_bends() }
                disabled=move || ctx.progress.with(|p| p.running) || !ctx.panels.with(|ps| {
                    !ps.is_empty() && ps.iter().all(|p| matches!(p.surface.spec.directions.source, DirectionSource::Interpolate { .. }))
                })>
                "Train a Bézier curve"
            </button>
            " along each path between two checkpoints (Garipov et al.): "
            <input id="bend-steps" size="5" prop:value=move || ctx.bend.steps.get()
                on:change=move |ev| ctx.bend.steps.set(event_target_value(&ev)) />
            " Adam steps of "
            <input id="bend-batch" size="4" prop:value=move || ctx.bend.batch.get()
                on:change=move |ev| ctx.bend.batch.set(event_target_value(&ev)) />
            " images at learning rate "
            <input id="bend-lr" size="6" prop:value=move || ctx.bend.lr.get()
                on:change=move |ev| ctx.bend.lr.set(event_target_value(&ev)) />
            " (cosine decay to 0, no weight decay), t ~ U(0, 1) drawn with seed "
            <input id="bend-seed" size="3" prop:value=move || ctx.bend.seed.get()
                on:change=move |ev| ctx.bend.seed.set(event_target_value(&ev)) />
            ". The control point starts at the line's midpoint and trains on the path's own images and loss (the page holds no other training images); then the path is swept along the curve, and both paths are compared under \"Mode connectivity\" with their barriers. As "
            <code>"vitscape connect --train-on eval"</code>
            "."
            <span id="bend-progress">{move || {
                let lines: Vec<String> = ctx.panels.with(|ps| {
                    ps.iter()
                        .filter_map(|p| {
                            p.bend_progress.map(|(done, loss)| {
                                format!(" {}: {done} steps, loss on the curve {loss:.4}.", p.label)
                            })
                        })
                        .collect()
                });
                lines.concat()
            }}</span>
        </p>
    }
}

/// The demo verdict over training seeds × direction seeds (`demo/verdict.json`, written by
/// `vitscape verdict`): each question answered on both kinds of loss, with the numbers, and what
/// changed since the verdict before it.
#[component]
pub(crate) fn VerdictView(ctx: Ctx) -> impl IntoView {
    let body = move || {
        ctx.verdict.with(|v| {
            v.as_ref().map(|v| {
                let list = |s: &[u64]| s.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
                let trained = match v.training_seeds.len() {
                    0 | 1 => format!(
                        "One training seed ({}) per method",
                        v.training_seeds.first().copied().unwrap_or_default()
                    ),
                    n => format!("{n} training seeds ({}) per method", list(&v.training_seeds)),
                };
                let maps = v.convexity.as_ref().map_or(String::new(), |c| {
                    format!(
                        " Convexity maps: {}×{} cells over the planes of direction seed{} {}, {} (tolerance {:e}).",
                        c.grid,
                        c.grid,
                        if c.seeds.len() == 1 { "" } else { "s" },
                        list(&c.seeds),
                        c.power.extremes.budget(c.power.max_iterations),
                        c.power.tolerance
                    )
                });
                let header = format!(
                    "{trained} × {} direction seeds ({}), {}×{} grids over [−1, 1]², {} images, τ = {:.0} % of each model's L(0); training seed {}, direction seed {} is the demo above.{maps} {}",
                    v.seeds.len(),
                    list(&v.seeds),
                    v.settings.x.n,
                    v.settings.y.map_or(1, |y| y.n),
                    v.settings.eval_images,
                    v.tau_relative * 100.0,
                    v.training_seeds.first().copied().unwrap_or_default(),
                    v.seeds.first().copied().unwrap_or_default(),
                    v.rule,
                );
                let changes = verdict::changes(v);
                let changed = (!changes.is_empty()).then(|| {
                    let since = v.previous.as_ref().map_or(String::new(), |p| {
                        format!(" (`{}`, vitscape {})", p.command, p.vitscape_version)
                    });
                    view! {
                        <h3>"What changed since the last verdict, and why"</h3>
                        <p class="verdict-since">{format!("The verdict before this one{since}:")}</p>
                        <ul class="verdict-changes">
                            {changes.into_iter().map(|c| view! { <li>{c}</li> }).collect::<Vec<_>>()}
                        </ul>
                    }
                });
                let modes = v
                    .modes
                    .iter()
                    .map(|m| {
                        let items = m
                            .comparisons
                            .iter()
                            .map(|c| {
                                let class = match c.answer {
                                    verdict::Answer::Yes => "answer yes",
                                    verdict::Answer::No => "answer no",
                                    verdict::Answer::Unclear => "answer unclear",
                                };
                                view! {
                                    <li><span class="question">{c.question.clone()}</span>" "
                                        <span class=class>{c.sentence()}</span></li>
                                }
                            })
                            .collect::<Vec<_>>();
                        view! {
                            <h3>{format!("On the {}", m.mode.label())}</h3>
                            <ul>{items}</ul>
                        }
                    })
                    .collect::<Vec<_>>();
                view! {
                    <p class="verdict-setup">{header}</p>
                    {modes}
                    {changed}
                    <p class="verdict-command">{format!("Computed natively by `{}` (vitscape {}).", v.command, v.vitscape_version)}</p>
                }
            })
        })
    };
    view! {
        <Show when=move || ctx.verdict.with(Option::is_some)>
            <section id="verdict" class="verdict">
                <h2>"Verdict: is the self-supervised landscape wider, smoother, more convex?"</h2>
                {body}
            </section>
        </Show>
    }
}
