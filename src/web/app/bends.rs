//! A Bézier curve along a path on the page (Garipov et al.): the worker trains each path panel's
//! control point ([`Task::TrainBend`], the library's `connect::train_bend`), then each path is
//! swept along its curve, and both paths join the mode-connectivity section with their barriers
//! — what `vitscape connect --train-on eval` computes and writes.

use super::*;
use crate::connect::{BendConfig, BendRecord, ConnectReport};
use crate::protocol::MAX_BEND_BATCH;

/// The name a trained control point is offered under (as `vitscape connect` writes it).
pub(crate) const BEND_FILE: &str = "bend.safetensors";

/// A path whose curve is being swept: joined to its straight line once the sweep is done.
#[derive(Clone, Debug)]
pub(crate) struct PendingConnection {
    /// The path's label.
    pub(crate) title: String,
    /// The straight line, as computed before the curve was trained.
    pub(crate) linear: Surface,
    /// The curve's spec (its panel is the one with this spec).
    pub(crate) bezier: SweepSpec,
    /// How the control point was trained, and its file.
    pub(crate) record: BendRecord,
    pub(crate) file: FileRef,
}

/// The fields of the curve's training, as typed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BendFields {
    pub(crate) steps: RwSignal<String>,
    pub(crate) lr: RwSignal<String>,
    pub(crate) batch: RwSignal<String>,
    pub(crate) seed: RwSignal<String>,
}

impl BendFields {
    /// `vitscape connect`'s defaults: 400 steps of 64 images at lr 1e-3, t drawn with seed 0.
    pub(crate) fn new() -> Self {
        Self {
            steps: RwSignal::new("400".into()),
            lr: RwSignal::new("1e-3".into()),
            batch: RwSignal::new("64".into()),
            seed: RwSignal::new("0".into()),
        }
    }

    /// The optimiser's settings and the images per step, or what is wrong with a field.
    fn parse(&self) -> Result<(BendConfig, usize), String> {
        let steps = whole_number(
            &self.steps.get_untracked(),
            "Bézier training steps",
            1..=crate::protocol::MAX_ITERATIONS,
        )?;
        let batch = whole_number(
            &self.batch.get_untracked(),
            "images per step",
            1..=MAX_BEND_BATCH,
        )?;
        let lr = self
            .lr
            .get_untracked()
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0 && *v <= 1.0)
            .ok_or("the learning rate must be a number above 0 and at most 1 (e.g. 1e-3)")?;
        let seed = self
            .seed
            .get_untracked()
            .trim()
            .parse::<u64>()
            .map_err(|_| "the seed of the t draws must be a whole number ≥ 0".to_string())?;
        Ok((BendConfig::new(steps, lr, seed), batch))
    }
}

impl Ctx {
    /// Train the control point of every path panel on screen, on its own images.
    pub(crate) fn train_bends(self) {
        let (config, train_batch) = match self.bend.parse() {
            Ok(v) => v,
            Err(e) => return self.error.set(Some(e)),
        };
        let not_path = self.panels.with_untracked(|panels| {
            panels
                .iter()
                .find(|p| {
                    !matches!(
                        p.surface.spec.directions.source,
                        DirectionSource::Interpolate { .. }
                    )
                })
                .map(|p| p.label.clone())
        });
        if let Some(label) = not_path {
            return self.error.set(Some(format!(
                "{label}: a Bézier curve bends a straight path between two checkpoints; drop two, choose \"path\" and compute it first"
            )));
        }
        self.run_on_panels(
            Task::TrainBend {
                config,
                train_batch,
            },
            "a curve bends a computed path between two checkpoints",
        );
    }

    /// A panel's training so far ([`FromWorker::BendProgress`]).
    pub(crate) fn bend_progress(self, panel: usize, done: usize, loss: f64, elapsed: f64) {
        let mut total = 0;
        self.panels.update(|panels| {
            if let Some(p) = panels.get_mut(panel) {
                p.bend_progress = Some((done, loss));
            }
            total = panels
                .iter()
                .filter_map(|p| p.bend_progress.map(|(d, _)| d))
                .sum();
        });
        self.progress.update(|p| {
            p.done = total;
            p.elapsed = elapsed;
        });
    }

    /// A panel's trained control point ([`FromWorker::Bend`]): its file joins the store under
    /// the hash the worker sent.
    pub(crate) fn bend_received(
        self,
        panel: usize,
        record: BendRecord,
        sha256: String,
        bytes: Vec<u8>,
    ) {
        let file = FileRef {
            name: BEND_FILE.into(),
            sha256,
        };
        self.store.update_value(|s| {
            s.insert(file.sha256.clone(), Arc::new(bytes));
        });
        self.panels.update(|panels| {
            if let Some(p) = panels.get_mut(panel) {
                p.bend_progress = Some((record.config.steps, record.final_loss));
                p.bend = Some((record, file));
            }
        });
    }

    /// Every path panel swept along its trained curve (same grid, images and loss), to be
    /// compared with its straight line once done ([`Self::connect_done`]).
    pub(crate) fn sweep_bends(self) {
        let panels = self.panels.get_untracked();
        let mut specs = Vec::new();
        let mut pending = Vec::new();
        let mut said = Vec::new();
        for p in &panels {
            let (Some((record, file)), DirectionSource::Interpolate { target }) =
                (&p.bend, &p.surface.spec.directions.source)
            else {
                return self
                    .error
                    .set(Some(format!("{}: no control point came back", p.label)));
            };
            let mut spec = p.surface.spec.clone();
            spec.directions.source = DirectionSource::Bezier {
                target: target.clone(),
                bend: file.clone(),
            };
            said.push(format!(
                "{}: mean loss on the curve {:.4} over the last 10 % of {} steps",
                p.label, record.final_loss, record.config.steps
            ));
            pending.push(PendingConnection {
                title: p.label.clone(),
                linear: p.surface.clone(),
                bezier: spec.clone(),
                record: record.clone(),
                file: file.clone(),
            });
            specs.push((format!("{} (Bézier)", p.label), spec));
        }
        let batch = pending.first().map_or(0, |c| c.record.train_batch);
        self.notice.set(Some(format!(
            "Control points trained ({}), on the images the path evaluates in batches of {batch} (the page has no separate training split; the CLI trains on Fashion-MNIST's unless told --train-on eval). Each path is now swept along its curve; both paths are compared under \"Mode connectivity\", and {BEND_FILE} is offered below the panel.",
            said.join("; ")
        )));
        self.run(specs, self.images.get_untracked(), Task::Sweep);
        self.pending_connections.set_value(pending);
    }

    /// After a sweep: each curve that was waiting for it joins its straight line in the
    /// mode-connectivity section, newest first.
    pub(crate) fn connect_done(self) {
        let mut pending = Vec::new();
        self.pending_connections
            .update_value(|v| pending = std::mem::take(v));
        if pending.is_empty() {
            return;
        }
        let panels = self.panels.get_untracked();
        let mut joined = Vec::new();
        for c in pending {
            let Some(p) = panels
                .iter()
                .find(|p| p.surface.spec == c.bezier && p.status == Status::Done)
            else {
                continue;
            };
            let commands = [
                crate::spec::cli_command(&c.linear.spec, "connect/linear"),
                crate::spec::cli_command(&c.bezier, "connect/bezier"),
            ];
            let [Ok(linear_command), Ok(bezier_command)] = commands else {
                continue;
            };
            joined.push(DemoConnection {
                title: format!("{} — trained on this page", c.title),
                report: ConnectReport {
                    bend: c.record,
                    bend_file: c.file,
                    linear: c.linear.info.barrier.clone(),
                    bezier: p.surface.info.barrier.clone(),
                    commands: [linear_command, bezier_command],
                },
                linear: c.linear,
                bezier: p.surface.clone(),
            });
        }
        if !joined.is_empty() {
            self.connections.update(|all| {
                for c in joined.into_iter().rev() {
                    all.insert(0, c);
                }
            });
            self.schedule_draw();
        }
    }
}
