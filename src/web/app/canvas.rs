//! Drawing the panels onto their canvases (one shared colour range, throttled redraws) and the read-out under the cursor.

use super::*;

impl Ctx {
    /// Colour range shared by every panel (when the view asks for it).
    pub(crate) fn shared_range(&self, panels: &[PanelState], view: &View) -> Option<(f64, f64)> {
        if !view.shared_scale || panels.len() < 2 {
            return None;
        }
        crate::plot::shared_range(
            panels.iter().map(|p| &p.surface),
            &view.metric,
            view.log_scale,
        )
    }

    /// Redraw every panel soon: coalesced, and at most every [`REDRAW_INTERVAL`] so streaming
    /// results never starve the page of its main thread.
    pub(crate) fn schedule_draw(self) {
        if self.draw_queued.get_value() {
            return;
        }
        self.draw_queued.set_value(true);
        let since =
            window().performance().map_or(f64::INFINITY, |p| p.now()) - self.last_draw.get_value();
        let wait = (REDRAW_INTERVAL - since).max(0.0);
        set_timeout(
            move || {
                request_animation_frame(move || {
                    self.draw_queued.set_value(false);
                    self.last_draw
                        .set_value(window().performance().map_or(0.0, |p| p.now()));
                    self.draw_now();
                });
            },
            std::time::Duration::from_millis(wait as u64),
        );
    }

    pub(crate) fn draw_now(self) {
        let panels = self.panels.get_untracked();
        let view = self.view.get_untracked();
        let range = self.shared_range(&panels, &view);
        let mut frames = Vec::with_capacity(panels.len());
        for (i, p) in panels.iter().enumerate() {
            let Some(canvas) = canvas_of(i) else {
                frames.push(None);
                continue;
            };
            // A partial surface is drawn from its finest complete coarse lattice, interpolated,
            // with every computed cell on top; the title says so.
            let preview = crate::preview::preview(&p.surface);
            let (shown, label) = match &preview {
                Some(preview) => (
                    &preview.surface,
                    format!("{} — {}", p.label, preview.caption()),
                ),
                None => (&p.surface, p.label.clone()),
            };
            let o = draw::options(&view, &label, range);
            match draw::canvas(&canvas, shown, &view, &o) {
                Ok(frame) => frames.push(frame),
                Err(message) => {
                    frames.push(None);
                    note_on_canvas(&canvas, &format!("{}: {message}", p.label));
                }
            }
        }
        self.frames.set_value(frames);
        for (i, p) in panels.iter().enumerate() {
            let Some(map) = &p.convexity else { continue };
            let canvas = canvas_by_id(&format!("convexity-{i}"));
            let Some(canvas) = canvas else { continue };
            let o = crate::plot::PlotOptions {
                metric: crate::curvature::CONVEXITY.into(),
                log_scale: false,
                levels: 0,
                title: Some(format!(
                    "{} — |λmin/λmax| (0 = convex, capped at 0.5)",
                    p.label
                )),
                color_range: Some((0.0, crate::curvature::CONVEXITY_CAP)),
                colour_map: view.colour_map.sequential(),
                ..crate::plot::PlotOptions::default()
            };
            let heat = View {
                plot: PlotKind::Heatmap,
                ..view.clone()
            };
            if let Err(message) = draw::canvas(&canvas, map, &heat, &o) {
                note_on_canvas(&canvas, &format!("{}: {message}", p.label));
            }
        }
        for (i, p) in panels.iter().enumerate() {
            let Some(t) = p.summary.as_ref().and_then(|s| s.topology.as_ref()) else {
                continue;
            };
            let canvas = canvas_by_id(&format!("barcode-{i}"));
            let Some(canvas) = canvas else { continue };
            let title = format!("{} — merge tree of the loss", p.label);
            if let Err(message) = draw::barcode(&canvas, t, &title) {
                note_on_canvas(&canvas, &format!("{}: {message}", p.label));
            }
        }
        self.connections.with_untracked(|all| {
            for (i, c) in all.iter().enumerate() {
                let canvas = canvas_by_id(&format!("connect-{i}"));
                let Some(canvas) = canvas else { continue };
                if let Err(message) = draw::paths(&canvas, &c.linear, &c.bezier) {
                    note_on_canvas(&canvas, &format!("{}: {message}", c.title));
                }
            }
        });
        self.trajectories.with_untracked(|all| {
            let view = View::default();
            for (i, t) in all.iter().enumerate() {
                let canvas = canvas_by_id(&format!("trajectory-{i}"));
                let Some(canvas) = canvas else { continue };
                let title = format!("{} — its training run's plane", t.title);
                let options = draw::options(&view, &title, None);
                if let Err(message) = draw::canvas(&canvas, &t.surface, &view, &options) {
                    note_on_canvas(&canvas, &format!("{}: {message}", t.title));
                }
            }
        });
    }

    pub(crate) fn on_pointer(self, i: usize, ev: &web_sys::MouseEvent) {
        let Some(canvas) = canvas_of(i) else { return };
        let scale_x = f64::from(canvas.width()) / f64::from(canvas.client_width().max(1));
        let scale_y = f64::from(canvas.height()) / f64::from(canvas.client_height().max(1));
        let (u, v) = (
            f64::from(ev.offset_x()) * scale_x,
            f64::from(ev.offset_y()) * scale_y,
        );
        let view = self.view.get_untracked();
        if view.plot == PlotKind::Surface && ev.buttons() & 1 == 1 {
            if let Some((x0, y0)) = self.drag.get_value() {
                let (dx, dy) = (u - x0, v - y0);
                self.view.update(|view| {
                    view.yaw += dx * 0.01;
                    view.pitch = (view.pitch + dy * 0.01)
                        .clamp(crate::permalink::MIN_PITCH, crate::permalink::MAX_PITCH);
                });
                self.schedule_draw();
            }
            self.drag.set_value(Some((u, v)));
            return;
        }
        self.drag.set_value(None);
        let frame = self.frames.with_value(|f| f.get(i).copied().flatten());
        let text = frame.and_then(|f| f.coordinates(u, v)).and_then(|(a, b)| {
            self.panels
                .with_untracked(|p| p.get(i).and_then(|p| draw::readout(&p.surface, a, b)))
        });
        self.readouts.update(|r| {
            r.resize(i + 1, String::new());
            r[i] = text.unwrap_or_default();
        });
    }
}
