//! Drawing the panels onto their canvases (one shared colour range, throttled redraws) and the read-out under the cursor.

use super::*;

/// The drawing of one canvas, run in its own animation frame.
/// Whether it drew (a canvas that already shows its drawing is left as it is).
type DrawJob = Box<dyn FnOnce() -> bool>;

/// What a canvas last showed: the element (a re-rendered view makes a new, blank one), its
/// size (resizing clears it) and a hash of everything its drawing read.
pub(crate) struct Shown {
    canvas: HtmlCanvasElement,
    size: (u32, u32),
    inputs: u64,
}

/// Whether a surface already shows a landscape without a preview: a 1-D one with a cell, a 2-D
/// one complete.
fn shows_picture(surface: &Surface) -> bool {
    let mut cells = surface.metrics.values().flatten().flatten();
    if surface.is_1d() {
        cells.any(Option::is_some)
    } else {
        cells.all(Option::is_some)
    }
}

/// A hash of everything a drawing reads, through its `Debug` rendering (written straight into
/// the hasher, nothing allocated).
fn fingerprint(inputs: &impl std::fmt::Debug) -> u64 {
    use std::hash::Hasher;
    struct Hashing(std::hash::DefaultHasher);
    impl std::fmt::Write for Hashing {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let mut hashing = Hashing(std::hash::DefaultHasher::new());
    let _ = std::fmt::Write::write_fmt(&mut hashing, format_args!("{inputs:?}"));
    hashing.0.finish()
}

impl Ctx {
    /// Colour range shared by every panel (when the view asks for it). None under the diverging
    /// map, centred on each model's own L(0): a shared range would centre a panel on its L(0)
    /// with a half-width set by the others (as the figure export, it does not share one).
    pub(crate) fn shared_range(&self, panels: &[PanelState], view: &View) -> Option<(f64, f64)> {
        if !view.shared_scale || panels.len() < 2 || view.colour_map.centred() {
            return None;
        }
        crate::plot::shared_range(
            panels.iter().map(|p| &p.surface),
            &view.metric,
            view.log_scale,
        )
    }

    /// Redraw every canvas soon: coalesced, and [`REDRAW_INTERVAL`] after the last redraw
    /// ended, so streaming results never starve the page of its main thread. A redraw asked for
    /// while one is going through its canvases follows it.
    pub(crate) fn schedule_draw(self) {
        if self.draw_queued.get_value() {
            self.draw_again.set_value(true);
            return;
        }
        self.draw_queued.set_value(true);
        let since =
            window().performance().map_or(f64::INFINITY, |p| p.now()) - self.last_draw.get_value();
        let wait = (REDRAW_INTERVAL - since).max(0.0);
        set_timeout(
            move || {
                request_animation_frame(move || {
                    // This redraw reads the state as it is now: what was asked before is in it.
                    self.draw_again.set_value(false);
                    let jobs = self.draw_jobs();
                    self.run_draw_jobs(jobs.into_iter());
                });
            },
            std::time::Duration::from_millis(wait as u64),
        );
    }

    /// One canvas per animation frame (issue #13: the main thread never blocks > 100 ms; three
    /// 101 × 101 contour panels in one frame took up to 117 ms); a canvas that already shows what
    /// it would draw takes no frame. Then the redraw asked for meanwhile.
    fn run_draw_jobs(self, mut jobs: std::vec::IntoIter<DrawJob>) {
        for job in jobs.by_ref() {
            if job() {
                break;
            }
        }
        if jobs.len() > 0 {
            request_animation_frame(move || self.run_draw_jobs(jobs));
            return;
        }
        mark("drawn");
        // The pause before the next redraw counts from the end of this one: drawing takes at
        // most draw time / (draw time + REDRAW_INTERVAL) of the main thread while cells stream
        // in, and the workers sharing its cores keep the rest.
        self.last_draw
            .set_value(window().performance().map_or(0.0, |p| p.now()));
        self.draw_queued.set_value(false);
        if self.draw_again.get_value() {
            self.draw_again.set_value(false);
            self.schedule_draw();
        }
    }

    /// Draw onto the canvas `id` with `draw`, unless it already shows what a drawing from
    /// `inputs` (everything the drawing reads) would: the same element, at the same size, last
    /// drawn from the same inputs. Whether it drew.
    fn draw_if_changed(
        self,
        id: &str,
        inputs: &impl std::fmt::Debug,
        draw: impl FnOnce(&HtmlCanvasElement),
    ) -> bool {
        let Some(canvas) = canvas_by_id(id) else {
            return false;
        };
        let inputs = fingerprint(inputs);
        let unchanged = self.shown.with_value(|shown| {
            shown.get(id).is_some_and(|s| {
                s.inputs == inputs
                    && s.size == (canvas.width(), canvas.height())
                    && js_sys::Object::is(&s.canvas, &canvas)
            })
        });
        if unchanged {
            return false;
        }
        draw(&canvas);
        let size = (canvas.width(), canvas.height());
        self.shown.update_value(|shown| {
            shown.insert(
                id.to_string(),
                Shown {
                    canvas,
                    size,
                    inputs,
                },
            );
        });
        true
    }

    /// The drawing of each canvas the page shows, from the current state: the panels, their
    /// convexity maps and merge-tree barcodes, the paths and the training trajectories. While a
    /// sweep's panel still waits for its first picture, only the panels are drawn: the other
    /// figures wait for a later redraw rather than take the cores its workers need.
    fn draw_jobs(self) -> Vec<DrawJob> {
        let panels = Arc::new(self.panels.get_untracked());
        let view = Arc::new(self.view.get_untracked());
        let range = self.shared_range(&panels, &view);
        self.frames.update_value(|f| f.resize(panels.len(), None));
        let previews: Arc<Vec<Option<crate::landscape::preview::Preview>>> = Arc::new(
            panels
                .iter()
                .map(|p| crate::landscape::preview::preview(&p.surface))
                .collect(),
        );
        let mut jobs: Vec<DrawJob> = Vec::new();
        for i in 0..panels.len() {
            let (panels, view, previews) = (panels.clone(), view.clone(), previews.clone());
            jobs.push(Box::new(move || {
                let p = &panels[i];
                // Nothing computed yet: say that it is coming, not that there is nothing.
                // (Only a running panel's cells are looked at, not every finished one's on each
                // redraw.)
                let waiting =
                    matches!(p.status, Status::Computing)
                        && !p.surface.metrics.get(&view.metric).is_some_and(|grid| {
                            grid.iter().flatten().flatten().any(|v| v.is_finite())
                        });
                let inputs = (&p.label, waiting, &p.surface, &*view, range);
                self.draw_if_changed(&format!("canvas-{i}"), &inputs, |canvas| {
                    let frame = if waiting {
                        note_on_canvas(
                            canvas,
                            &format!("{}: computing, the first cells are on their way…", p.label),
                        );
                        None
                    } else {
                        // A partial surface is drawn from its finest complete coarse lattice,
                        // interpolated, with every computed cell on top; the title says so.
                        let (shown, label) = match &previews[i] {
                            Some(preview) => (
                                &preview.surface,
                                format!("{} — {}", p.label, preview.caption()),
                            ),
                            None => (&p.surface, p.label.clone()),
                        };
                        let o = draw::options(&view, &label, range);
                        draw::canvas(canvas, shown, &view, &o).unwrap_or_else(|message| {
                            note_on_canvas(canvas, &format!("{}: {message}", p.label));
                            None
                        })
                    };
                    self.frames.update_value(|f| {
                        if let Some(slot) = f.get_mut(i) {
                            *slot = frame;
                        }
                    });
                })
            }));
        }
        let first_pictures_pending = panels.iter().zip(previews.iter()).any(|(p, preview)| {
            p.status == Status::Computing && preview.is_none() && !shows_picture(&p.surface)
        });
        if first_pictures_pending {
            return jobs;
        }
        if !panels.is_empty() {
            self.first_pictures.set_value(true);
        }
        for i in 0..panels.len() {
            let (for_map, view) = (panels.clone(), view.clone());
            jobs.push(Box::new(move || {
                let p = &for_map[i];
                let Some(map) = &p.convexity else {
                    return false;
                };
                let inputs = (&p.label, map, &view.colour_map);
                self.draw_if_changed(&format!("convexity-{i}"), &inputs, |canvas| {
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
                        ..(*view).clone()
                    };
                    if let Err(message) = draw::canvas(canvas, map, &heat, &o) {
                        note_on_canvas(canvas, &format!("{}: {message}", p.label));
                    }
                })
            }));
            let panels = panels.clone();
            jobs.push(Box::new(move || {
                let p = &panels[i];
                let Some(t) = p.summary.as_ref().and_then(|s| s.topology.as_ref()) else {
                    return false;
                };
                self.draw_if_changed(&format!("barcode-{i}"), &(&p.label, t), |canvas| {
                    let title = format!("{} — merge tree of the loss", p.label);
                    if let Err(message) = draw::barcode(canvas, t, &title) {
                        note_on_canvas(canvas, &format!("{}: {message}", p.label));
                    }
                })
            }));
        }
        for (i, c) in self.connections.get_untracked().into_iter().enumerate() {
            jobs.push(Box::new(move || {
                let inputs = (&c.title, &c.linear, &c.bezier);
                self.draw_if_changed(&format!("connect-{i}"), &inputs, |canvas| {
                    if let Err(message) = draw::paths(canvas, &c.linear, &c.bezier) {
                        note_on_canvas(canvas, &format!("{}: {message}", c.title));
                    }
                })
            }));
        }
        for (i, t) in self.trajectories.get_untracked().into_iter().enumerate() {
            jobs.push(Box::new(move || {
                let inputs = (&t.title, &t.surface);
                self.draw_if_changed(&format!("trajectory-{i}"), &inputs, |canvas| {
                    let view = View::default();
                    let title = format!("{} — its training run's plane", t.title);
                    let options = draw::options(&view, &title, None);
                    if let Err(message) = draw::canvas(canvas, &t.surface, &view, &options) {
                        note_on_canvas(canvas, &format!("{}: {message}", t.title));
                    }
                })
            }));
        }
        jobs
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
                    view.pitch = (view.pitch + dy * 0.01).clamp(
                        crate::spec::permalink::MIN_PITCH,
                        crate::spec::permalink::MAX_PITCH,
                    );
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
