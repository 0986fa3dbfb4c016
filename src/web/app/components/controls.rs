//! The controls: the demo and upload boxes, the settings form, the run and view bars.

use super::*;

#[component]
pub(crate) fn Demo(ctx: Ctx) -> impl IntoView {
    let pick = move |which: DemoLoss| {
        ctx.error.set(None);
        ctx.demo_loss.set(which);
        ctx.run_demo();
    };
    view! {
        <div class="box">
            <h2>"Demo: Sup-ViT vs MAE-ViT vs RC-MAE-ViT"</h2>
            <p class="hint">"Three tiny ViTs trained by vitscape on Fashion-MNIST; same directions, same images."</p>
            <div class="toggle">
                <button id="demo-pretraining" class:active=move || ctx.demo_loss.get() == DemoLoss::Pretraining
                    on:click=move |_| pick(DemoLoss::Pretraining)>"Pre-training loss"</button>
                <button id="demo-probe" class:active=move || ctx.demo_loss.get() == DemoLoss::Probe
                    on:click=move |_| pick(DemoLoss::Probe)>"Classification (linear probe)"</button>
            </div>
        </div>
    }
}

#[component]
pub(crate) fn Uploads(ctx: Ctx) -> impl IntoView {
    let on_files = move |files: Vec<web_sys::File>| spawn_local(ctx.add_checkpoints(files));
    let on_images = move |files: Vec<web_sys::File>| spawn_local(ctx.add_images(files));
    let on_directions = move |files: Vec<web_sys::File>| spawn_local(ctx.add_directions(files));
    view! {
        <div class="box">
            <h2>"Your checkpoints"</h2>
            <div id="dropzone" class="dropzone"
                on:dragover=move |ev: web_sys::DragEvent| ev.prevent_default()
                on:drop=move |ev: web_sys::DragEvent| {
                    ev.prevent_default();
                    on_files(files_of(ev.data_transfer().and_then(|d| d.files())));
                }>
                "Drop checkpoints (.safetensors, PyTorch .pth / .bin) here or "
                <label class="filepick">"choose…"
                    <input id="checkpoint-input" type="file" accept=".safetensors,.pth,.pt,.bin" multiple
                        on:change=move |ev| on_files(take_picked(&ev)) />
                </label>
            </div>
            <p class="hint">
                <label>"Encoder heads "
                    <input id="heads" type="text" inputmode="numeric" size="5" placeholder="auto"
                        prop:value=move || ctx.heads.get()
                        on:change=move |ev| { ctx.heads.set(event_target_value(&ev)); ctx.reinspect_uploads() } />
                </label>
                " "
                <label>"decoder heads "
                    <input id="decoder-heads" type="text" inputmode="numeric" size="5" placeholder="auto"
                        prop:value=move || ctx.decoder_heads.get()
                        on:change=move |ev| { ctx.decoder_heads.set(event_target_value(&ev)); ctx.reinspect_uploads() } />
                </label>
                " — shapes do not tell head counts: blank takes the file's metadata, else assumes timm's head dimension (64; 32 for MAE's decoder) and says so below."
            </p>
            <ul id="uploads" class="uploads">
                <For each={move || ctx.uploads.get().into_iter().enumerate().collect::<Vec<_>>()}
                    key={|(i, u): &(usize, Upload)| (*i, u.inspection.sha256.clone(), u.loss, format!("{:?}", u.inspection.branch))}
                    let:item>
                    {
                        let (i, u) = item;
                        let has_decoder = u.inspection.architecture.decoder.is_some();
                        let has_branches = u.inspection.branch.is_some();
                        let has_head = u.inspection.architecture.head.is_some();
                        view! {
                            <li class="upload">
                                <b>{u.inspection.name.clone()}</b>
                                <span class="inspection">{u.inspection.summary()}</span>
                                <span class="sha">"sha256 "{u.inspection.sha256[..16].to_string()}"…"</span>
                                <details><summary>{format!("{} tensors", u.inspection.tensors.len())}</summary>
                                    <pre>{u.inspection.tensors.iter().map(|(n, s)| format!("{n} {s:?}")).collect::<Vec<_>>().join("\n")}</pre>
                                </details>
                                <Show when=move || has_branches>
                                    <label>"Branch "
                                        <select class="branch-select" on:change=move |ev| {
                                            let branch = if event_target_value(&ev) == "student" { Branch::Student } else { Branch::Teacher };
                                            ctx.set_branch(i, branch);
                                        }>
                                            <option value="teacher" selected=u.inspection.branch == Some(Branch::Teacher)>"teacher"</option>
                                            <option value="student" selected=u.inspection.branch == Some(Branch::Student)>"student"</option>
                                        </select>
                                    </label>
                                </Show>
                                <label>"Loss "
                                    <select class="loss-select" on:change=move |ev| {
                                        let choice = match event_target_value(&ev).as_str() {
                                            "mae" => LossChoice::Mae,
                                            "rcmae" => LossChoice::Rcmae,
                                            _ => LossChoice::Classification,
                                        };
                                        ctx.uploads.update(|list| if let Some(x) = list.get_mut(i) { x.loss = choice });
                                    }>
                                        <option value="classification" selected=u.loss == LossChoice::Classification disabled=!has_head>"classification"</option>
                                        <option value="mae" selected=u.loss == LossChoice::Mae disabled=!has_decoder>"MAE reconstruction"</option>
                                        <option value="rcmae" selected=u.loss == LossChoice::Rcmae disabled=!(has_decoder && has_branches)>"RC-MAE (recon + consistency)"</option>
                                    </select>
                                </label>
                                <button class="remove" on:click=move |_| ctx.uploads.update(|l| { if i < l.len() { l.remove(i); } })>"remove"</button>
                            </li>
                        }
                    }
                </For>
            </ul>
            <p>"Images: "
                <b id="images-label">{move || ctx.images.with(|i| i.as_ref().map_or("the demo's Fashion-MNIST subset".to_string(), |i| i.label.clone()))}</b>
                " — "
                <label class="filepick">"use my images (files or a .zip; class sub-folders = labels)…"
                    <input id="images-input" type="file" accept=".png,.jpg,.jpeg,.zip" multiple
                        on:change=move |ev| on_images(take_picked(&ev)) />
                </label>
                <Show when=move || ctx.images.with(Option::is_some)>
                    <button on:click=move |_| ctx.images.set(None)>"use the demo subset"</button>
                </Show>
            </p>
            <p>"Directions: "
                <b id="directions-label">{move || directions_label(ctx)}</b>
                " — "
                <label class="filepick">"use direction files (x, then y)…"
                    <input id="directions-input" type="file" accept=".safetensors" multiple
                        on:change=move |ev| on_directions(take_picked(&ev)) />
                </label>
                <Show when=move || ctx.direction_uploads.with(|d| !d.is_empty())>
                    <button id="random-directions" on:click=move |_| ctx.direction_uploads.set(Vec::new())>"use random directions"</button>
                </Show>
            </p>
            <p>
                <label><input id="path-mode" type="checkbox" prop:checked=move || ctx.path.get()
                    on:change=move |ev| ctx.set_path_mode(event_target_checked(&ev)) />
                    " a path instead of planes: the straight line from the first checkpoint (t = 0) to the second (t = 1), its loss (and accuracy, for classification) along t and the barriers; direction files are not used"</label>
            </p>
            <p class="hint">"Direction files come from "<code>"vitscape curvature --save-eigenvectors"</code>" (Hessian eigenvectors: the top-2 plane, or top-1 with a random y), "
                <code>"vitscape trajectory"</code>" (a training run's PCA plane, its path drawn over the contours) or a sweep's own "<code>"direction_x/y.safetensors"</code>"; they are used as they are."</p>
            <p class="hint preprocess">
                <label>"resize shorter side "
                    <input id="resize" type="text" inputmode="numeric" size="5" placeholder="none"
                        prop:value=move || ctx.resize.get()
                        on:change=move |ev| ctx.resize.set(event_target_value(&ev)) />
                </label>
                <label>" then centre crop "
                    <input id="crop" type="text" inputmode="numeric" size="5" placeholder="none"
                        prop:value=move || ctx.crop.get()
                        on:change=move |ev| ctx.crop.set(event_target_value(&ev)) />
                </label>
                <label>" filter "
                    <select id="interpolation" on:change=move |ev| ctx.interpolation.set(match event_target_value(&ev).as_str() {
                        "bilinear" => Interpolation::Bilinear,
                        "nearest" => Interpolation::Nearest,
                        _ => Interpolation::Bicubic,
                    })>
                        <option value="bicubic" selected=true>"bicubic (timm)"</option>
                        <option value="bilinear">"bilinear"</option>
                        <option value="nearest">"nearest"</option>
                    </select>
                </label>
                <label>" mean/std "
                    <input id="mean-std" type="text" size="14" placeholder="auto"
                        title="a preset (imagenet, fashion-mnist, inception, clip) or numbers: mean / std"
                        prop:value=move || ctx.mean_std.get()
                        on:change=move |ev| ctx.mean_std.set(event_target_value(&ev)) />
                </label>
            </p>
            <p id="preprocess-note" class="hint">{move || preprocess_note(ctx)}</p>
            <button id="run-uploads" class="primary" on:click=move |_| { ctx.error.set(None); ctx.run_uploads() }
                disabled=move || ctx.uploads.with(Vec::is_empty)>"Compute my checkpoints"</button>
        </div>
    }
}

/// The uploads' directions in words: seeded random, or each file and what it is.
fn directions_label(ctx: Ctx) -> String {
    let seed = ctx.settings.with(|s| s.seed);
    ctx.direction_uploads.with(|list| match list.as_slice() {
        [] => format!("seeded random (seed {seed}), normalised as set below"),
        [x] => format!(
            "x = {} ({}); on a plane y is seeded random (seed {seed})",
            x.name, x.about
        ),
        [x, y, ..] => format!("x = {} ({}); y = {} ({})", x.name, x.about, y.name, y.about),
    })
}

/// What each upload needs and what will be done to the images, said before anything runs.
fn preprocess_note(ctx: Ctx) -> String {
    let uploads = ctx.uploads.get();
    let _ = (
        ctx.resize.get(),
        ctx.crop.get(),
        ctx.interpolation.get(),
        ctx.mean_std.get(),
    );
    if uploads.is_empty() {
        return String::new();
    }
    let pre = ctx.preprocess();
    let demo = ctx.images.with(Option::is_none);
    let mut lines = Vec::new();
    for u in &uploads {
        let a = &u.inspection.architecture;
        let kind = if a.in_chans == 3 { "RGB" } else { "grayscale" };
        let stats = match ctx.mean_std(a.in_chans) {
            Ok(s) => s
                .note
                .unwrap_or_else(|| format!("mean {:?}, std {:?}", s.mean, s.std)),
            Err(e) => e,
        };
        lines.push(format!(
            "{} takes {s}×{s} {kind} images; mean/std: {stats}",
            u.inspection.name,
            s = a.img_size
        ));
    }
    let pre = match pre {
        _ if demo => "the demo images are 28×28 grayscale".to_string(),
        Ok(p) if p.is_none() => {
            "your images must already have that size (none is resized)".to_string()
        }
        Ok(p) => format!("your images: {}", p.describe()),
        Err(e) => e,
    };
    format!("{}. {pre}.", lines.join("; "))
}

pub(crate) fn number_input<
    T: std::str::FromStr + std::fmt::Display + Clone + Send + Sync + 'static,
>(
    ctx: Ctx,
    id: &'static str,
    label: &'static str,
    get: fn(&Settings) -> T,
    set: fn(&mut Settings, T),
) -> impl IntoView {
    view! {
        <label>{label}
            <input id=id type="number" step="any" prop:value={move || ctx.settings.with(|s| get(s).to_string())}
                on:change={move |ev| match event_target_value(&ev).trim().parse::<T>() {
                    Ok(v) => ctx.settings.update(|s| set(s, v)),
                    Err(_) => ctx.error.set(Some(format!("{label}: not a valid number"))),
                }} />
        </label>
    }
}

#[component]
pub(crate) fn SettingsForm(ctx: Ctx) -> impl IntoView {
    // The checkpoints dropped (what "Compute my checkpoints" would run), else the demo's panels;
    // each costs its own model's FLOPs, so a ViT-B's estimate is a ViT-B's.
    let estimate = move || {
        // read_settings reads untracked; the estimate follows every field it depends on.
        ctx.axis_x.track();
        ctx.axis_y.track();
        ctx.settings.track();
        let settings = ctx.read_settings().ok()?;
        let uploads: Vec<f64> = ctx.uploads.with(|u| {
            u.iter()
                .map(|u| u.inspection.architecture.flops_per_image())
                .collect()
        });
        let models = if uploads.is_empty() {
            vec![demo_flops_per_image(); ctx.panels.with(|p| p.len()).max(1)]
        } else {
            uploads
        };
        estimate_seconds(
            &models,
            settings.cells(),
            settings.eval_images,
            ctx.rate.get(),
        )
    };
    view! {
        <details class="box settings" open>
            <summary><h2>"Settings"</h2></summary>
            <div class="grid-form">
                <label>"α axis (min:max:n)"
                    <input id="axis-x" type="text" prop:value=move || ctx.axis_x.get()
                        on:change=move |ev| ctx.axis_x.set(event_target_value(&ev)) />
                </label>
                <label>"β axis (empty = 1-D)"
                    <input id="axis-y" type="text" prop:value=move || ctx.axis_y.get()
                        on:change=move |ev| ctx.axis_y.set(event_target_value(&ev)) />
                </label>
                {number_input(ctx, "seed", "direction seed", |s| s.seed, |s, v| s.seed = v)}
                <label>"normalisation"
                    <select id="normalisation" on:change=move |ev| {
                        let n = match event_target_value(&ev).as_str() {
                            "layer" => Normalisation::Layer,
                            "none" => Normalisation::None,
                            _ => Normalisation::Filter,
                        };
                        ctx.settings.update(|s| s.normalisation = n);
                    }>
                        <option value="filter" selected>"filter"</option>
                        <option value="layer">"layer"</option>
                        <option value="none">"none"</option>
                    </select>
                </label>
                <label class="check"><input type="checkbox" prop:checked=move || ctx.settings.with(|s| s.include_rank1)
                    on:change=move |ev| { let c = event_target_checked(&ev); ctx.settings.update(|s| s.include_rank1 = c) } />
                    "perturb biases & LayerNorm"</label>
                <label class="check"><input type="checkbox" prop:checked=move || ctx.settings.with(|s| s.include_pos_embed)
                    on:change=move |ev| { let c = event_target_checked(&ev); ctx.settings.update(|s| s.include_pos_embed = c) } />
                    "perturb position embeddings"</label>
                {number_input(ctx, "mask-ratio", "mask ratio", |s| s.mask_ratio, |s, v| s.mask_ratio = v)}
                {number_input(ctx, "mask-seed", "mask seed", |s| s.mask_seed, |s, v| s.mask_seed = v)}
                <label class="check"><input type="checkbox" prop:checked=move || ctx.settings.with(|s| s.norm_pix_loss)
                    on:change=move |ev| { let c = event_target_checked(&ev); ctx.settings.update(|s| s.norm_pix_loss = c) } />
                    "normalised-pixel targets"</label>
                {number_input(ctx, "gamma", "RC-MAE γ", |s| s.gamma, |s, v| s.gamma = v)}
                {number_input(ctx, "eval-images", "images per cell", |s| s.eval_images, |s, v| s.eval_images = v)}
                {number_input(ctx, "subset-seed", "subset seed (your images)", |s| s.subset_seed, |s, v| s.subset_seed = v)}
                {number_input(ctx, "batch-size", "batch size", |s| s.batch_size, |s, v| s.batch_size = v)}
                <label class="check"><input id="prefer-gpu" type="checkbox" prop:checked=move || ctx.prefer_gpu.get()
                    on:change=move |ev| ctx.prefer_gpu.set(event_target_checked(&ev)) />
                    "use WebGPU when available"</label>
            </div>
            <p id="estimate" class="hint">{move || match estimate() {
                Some(s) => format!("Estimated time for this comparison: about {} (at {:.2} GFLOP/s{}).",
                    format_seconds(s), ctx.rate.get() / 1e9,
                    if ctx.progress.with(|p| p.done) == 0 { ", a guess until a run measures it" } else { ", measured" }),
                None => "Check the axes: min:max:n, e.g. -1:1:17.".into(),
            }}</p>
        </details>
    }
}

#[component]
pub(crate) fn RunBar(ctx: Ctx) -> impl IntoView {
    let fraction = move || {
        ctx.progress.with(|p| {
            if p.total == 0 {
                0.0
            } else {
                p.done as f64 / p.total as f64
            }
        })
    };
    view! {
        <div class="box runbar">
            <progress id="progress" max="1" value=move || fraction().to_string()></progress>
            <span id="progress-text">{move || ctx.progress.with(|p| {
                if p.total == 0 { return "Idle".to_string(); }
                let eta = if p.done > 0 && p.running {
                    format!(", about {} left", format_seconds(p.elapsed / p.done as f64 * (p.total - p.done) as f64))
                } else { String::new() };
                let state = if p.running { "computing" } else if p.done == p.total { "done" } else { "stopped" };
                format!("{}/{} {} {state} in {}{eta}", p.done, p.total, p.unit, format_seconds(p.elapsed))
            })}</span>
            <button id="cancel" on:click=move |_| ctx.cancel() disabled=move || !ctx.progress.with(|p| p.running)>"Cancel"</button>
            <Show when=move || ctx.panels.with(|p| p.iter().any(|p| p.status == Status::Shared))>
                <button id="recompute" class="primary" on:click=move |_| { ctx.error.set(None); ctx.recompute() }>"Recompute from the checkpoints"</button>
            </Show>
        </div>
    }
}

#[component]
pub(crate) fn ViewBar(ctx: Ctx) -> impl IntoView {
    let plot_button = move |kind: PlotKind, id: &'static str, label: &'static str| {
        view! {
            <button id=id class:active=move || ctx.view.with(|v| v.plot == kind)
                on:click=move |_| ctx.view.update(|v| v.plot = kind)>{label}</button>
        }
    };
    // A memo: the metric list is rebuilt when the names change, not with every batch of cells.
    let metrics = Memo::new(move |_| {
        let mut names: Vec<String> = ctx.panels.with(|p| {
            p.iter()
                .flat_map(|p| p.surface.metrics.keys().cloned())
                .collect()
        });
        names.sort();
        names.dedup();
        names
    });
    view! {
        <div class="viewbar">
            {plot_button(PlotKind::Contour, "plot-contour", "Contour")}
            {plot_button(PlotKind::Heatmap, "plot-heatmap", "Heat map")}
            {plot_button(PlotKind::Surface, "plot-surface", "3-D")}
            {plot_button(PlotKind::Line, "plot-line", "1-D")}
            <select id="metric" on:change=move |ev| { let m = event_target_value(&ev); ctx.view.update(|v| v.metric = m) }>
                {move || metrics.get().into_iter().map(|m| {
                    let selected = ctx.view.with_untracked(|v| v.metric == m);
                    view! { <option value=m.clone() selected=selected>{m.clone()}</option> }
                }).collect::<Vec<_>>()}
            </select>
            <label class="check"><input id="log-scale" type="checkbox" prop:checked=move || ctx.view.with(|v| v.log_scale)
                on:change=move |ev| { let c = event_target_checked(&ev); ctx.view.update(|v| v.log_scale = c) } />"log scale"</label>
            <label class="check">"colours "<select id="colour-map" title="diverging: blue below the loss at θ*, white at it, red above (L − L(0))"
                on:change=move |ev| {
                    if let Some(m) = crate::plot::ColourMap::from_name(&event_target_value(&ev)) {
                        ctx.view.update(|v| v.colour_map = m)
                    }
                }>
                {crate::plot::ColourMap::ALL.into_iter().map(|m| view! {
                    <option value=m.name() selected=move || ctx.view.with(|v| v.colour_map == m)>{m.name()}</option>
                }).collect::<Vec<_>>()}
            </select></label>
            <label class="check" title=move || if ctx.view.with(|v| v.colour_map.centred()) {
                    "the diverging map is centred on each model's own L(0): each panel has its own scale"
                } else {
                    "one colour range for every panel"
                }><input id="shared-scale" type="checkbox" prop:checked=move || ctx.view.with(|v| v.shared_scale)
                disabled=move || ctx.view.with(|v| v.colour_map.centred())
                on:change=move |ev| { let c = event_target_checked(&ev); ctx.view.update(|v| v.shared_scale = c) } />"one colour scale"</label>
            <button id="copy-link" on:click=move |_| ctx.copy_link() disabled=move || ctx.panels.with(Vec::is_empty)>"Copy link"</button>
            <input id="permalink" type="text" readonly prop:value=move || ctx.link.get() placeholder="permalink appears here" />
            <button id="copy-command" on:click=move |_| ctx.copy_command() disabled=move || ctx.panels.with(Vec::is_empty)
                title="vitscape sweep --spec … for each panel: the same surfaces from the command line">"Copy CLI command"</button>
            <textarea id="cli-command" readonly rows="2" prop:value=move || ctx.command.get()
                style:display=move || if ctx.command.with(String::is_empty) { "none" } else { "block" }></textarea>
        </div>
    }
}
