//! Runs: each request's byte attachments, what the workers send back, and the curvature tasks.

use super::*;

/// The byte attachments of one request, each file once.
pub(crate) struct Attachments {
    pub(crate) store: HashMap<String, Arc<Vec<u8>>>,
    pub(crate) list: Vec<Arc<Vec<u8>>>,
    pub(crate) index_of: HashMap<String, usize>,
}

impl Attachments {
    pub(crate) fn new(store: HashMap<String, Arc<Vec<u8>>>) -> Self {
        Self {
            store,
            list: Vec::new(),
            index_of: HashMap::new(),
        }
    }

    /// Index of the file with this sha256, attaching it on first use.
    pub(crate) fn attach(&mut self, sha256: &str, what: &str) -> Result<usize, String> {
        if let Some(i) = self.index_of.get(sha256) {
            return Ok(*i);
        }
        let bytes = self.store.get(sha256).ok_or_else(|| {
            format!(
                "{what} (sha256 {}…) is not loaded: drop the same file in first",
                crate::io::checkpoint::short_hash(sha256)
            )
        })?;
        self.list.push(bytes.clone());
        self.index_of
            .insert(sha256.to_string(), self.list.len() - 1);
        Ok(self.list.len() - 1)
    }
}

impl Ctx {
    /// A message from worker `k` of the pool.
    pub(crate) fn on_worker_message(self, k: usize, data: JsValue) {
        let (message, attachments) = match crate::web::wire::decode_js::<FromWorker>(&data) {
            Ok(m) => m,
            Err(e) => {
                self.error
                    .set(Some(format!("unreadable message from the worker: {e}")));
                return;
            }
        };
        let current = self.progress.with_untracked(|p| p.job);
        match message {
            FromWorker::Ready { .. } => {
                mark("worker-ready");
                self.worker_ready(k)
            }
            FromWorker::Crashed { message } => self.worker_crashed(k, message),
            FromWorker::Backend {
                job,
                name,
                gpu,
                detail,
            } if job == current => {
                mark("backend");
                self.backend.set(Some((name, gpu, detail)));
            }
            FromWorker::Started {
                job,
                panel,
                surface,
                files,
            } if job == current => {
                mark("panel-started");
                // Every worker of the pool starts every panel; the cells other workers sent
                // before are kept, the files come from the first.
                self.panels.update(|panels| {
                    if let Some(p) = panels.get_mut(panel) {
                        let mut started = *surface;
                        for (name, grid) in &p.surface.metrics {
                            for (iy, row) in grid.iter().enumerate() {
                                for (ix, v) in row.iter().enumerate() {
                                    if let Some(v) = v {
                                        let cell = crate::landscape::surface::Cell { ix, iy };
                                        let values = [(name.clone(), *v)].into_iter().collect();
                                        sweep::record(&mut started, cell, &values);
                                    }
                                }
                            }
                        }
                        p.surface = started;
                        // Only the pool's first worker sends files: the others leave them.
                        if !files.is_empty() || p.files.is_empty() {
                            let mut urls: Vec<(String, String)> = files
                                .into_iter()
                                .zip(&attachments)
                                .filter_map(|(n, b)| Some((n, blob_url(b)?)))
                                .collect();
                            // Direction files given to the sweep (eigenvectors, a trajectory's
                            // components) and a curve's control point are offered as they are:
                            // their hashes are the spec's.
                            for (role, name, sha256) in SpecFiles::named(&p.surface.spec) {
                                let bytes = self.store.with_value(|s| s.get(sha256).cloned());
                                let offered = matches!(role, FileRole::Direction | FileRole::Bend);
                                if let (true, Some(bytes)) = (offered, bytes) {
                                    let array = js_sys::Uint8Array::from(bytes.as_slice());
                                    urls.extend(blob_url(&array).map(|u| (name.to_string(), u)));
                                }
                            }
                            for (_, old) in std::mem::replace(&mut p.files, urls) {
                                let _ = web_sys::Url::revoke_object_url(&old);
                            }
                        }
                        p.status = Status::Computing;
                    }
                });
                self.schedule_draw();
            }
            FromWorker::Cells {
                job,
                panel,
                cells,
                elapsed,
                images_per_second,
                flops_per_image,
            } if job == current => {
                mark("cells");
                let n = cells.len();
                self.panels.update(|panels| {
                    if let Some(p) = panels.get_mut(panel) {
                        for c in &cells {
                            sweep::record(
                                &mut p.surface,
                                crate::landscape::surface::Cell { ix: c.ix, iy: c.iy },
                                &c.values,
                            );
                        }
                    }
                });
                self.rate
                    .set(self.worker_rate(k, images_per_second * flops_per_image));
                self.progress.update(|p| {
                    p.done += n;
                    p.elapsed = elapsed;
                });
                self.schedule_draw();
            }
            FromWorker::Eigenvalue {
                job,
                panel,
                value,
                iterations,
                converged,
                trace,
                spectrum,
                step_check,
                elapsed,
            } if job == current => {
                self.panels.update(|panels| {
                    if let Some(p) = panels.get_mut(panel) {
                        p.eigen = Some((value, iterations, converged));
                        p.trace = trace;
                        p.spectrum = spectrum;
                        p.step_check = Some(step_check);
                    }
                });
                self.progress.update(|p| {
                    p.done += 1;
                    p.elapsed = elapsed;
                });
            }
            FromWorker::Eigenvectors {
                job,
                panel,
                eigen,
                files,
                step_check,
                elapsed,
            } if job == current => {
                // Hashed by the worker: the store takes them by the hashes it sent.
                let mut refs = Vec::new();
                for (file, bytes) in files.into_iter().zip(attachments) {
                    self.store.update_value(|s| {
                        s.insert(file.sha256.clone(), Arc::new(bytes.to_vec()));
                    });
                    refs.push(file);
                }
                self.panels.update(|panels| {
                    if let Some(p) = panels.get_mut(panel) {
                        p.hessian = refs.into_iter().zip(eigen).collect();
                        p.step_check = Some(step_check);
                    }
                });
                self.progress.update(|p| {
                    p.done += 1;
                    p.elapsed = elapsed;
                });
            }
            FromWorker::Convexity {
                job,
                panel,
                surface,
                elapsed,
            } if job == current => {
                // A pool computes the map's rows in parts, one per worker: the panel shows
                // their merge.
                let merged = self.panels.try_update(|panels| {
                    panels
                        .get_mut(panel)
                        .map_or(Ok(()), |p| p.convexity_part(k, *surface))
                });
                if let Some(Err(e)) = merged {
                    self.error.set(Some(e));
                }
                self.progress.update(|p| {
                    p.done += 1;
                    p.elapsed = elapsed;
                });
                self.schedule_draw();
            }
            FromWorker::BendProgress {
                job,
                panel,
                done,
                loss,
                elapsed,
            } if job == current => self.bend_progress(panel, done, loss, elapsed),
            FromWorker::Bend {
                job,
                panel,
                record,
                sha256,
                elapsed,
            } if job == current => {
                let Some(bytes) = attachments.first() else {
                    self.error.set(Some(
                        "the worker sent a control point without its file".into(),
                    ));
                    return;
                };
                self.bend_received(panel, *record, sha256, bytes.to_vec());
                self.progress.update(|p| p.elapsed = elapsed);
            }
            FromWorker::Done { job, elapsed } if job == current => {
                if !self.worker_done(k) {
                    return; // other workers of the pool are still computing their shares
                }
                self.panels.update(|panels| {
                    // Panels this job computed (a curvature job leaves the surfaces as they are).
                    for p in panels.iter_mut().filter(|p| p.status == Status::Computing) {
                        p.finish(Status::Done);
                        p.surface.info.summary_loss = p.summary.clone();
                        p.surface.info.summary_tau =
                            Some(crate::metrics::Tau::Relative(TAU_RELATIVE));
                    }
                });
                self.progress.update(|p| {
                    p.running = false;
                    p.elapsed = elapsed;
                });
                self.schedule_draw();
                match self.progress.with_untracked(|p| p.task) {
                    Task::HessianPlane { .. } => self.sweep_hessian_planes(),
                    Task::TrainBend { .. } => self.sweep_bends(),
                    Task::Sweep => self.connect_done(),
                    _ => {}
                }
            }
            FromWorker::Failed {
                job,
                panel,
                message,
            } if job == current || job == 0 => {
                // On WebGPU a failure mid-run (a lost device among them) falls back to the CPU.
                let on_gpu = self
                    .backend
                    .with_untracked(|b| b.as_ref().is_some_and(|b| b.1));
                if on_gpu && job == current && self.progress.with_untracked(|p| p.running) {
                    return self.worker_crashed(k, message);
                }
                self.error.set(Some(message.clone()));
                self.panels.update(|panels| {
                    for (i, p) in panels.iter_mut().enumerate() {
                        if panel.is_none_or(|k| k == i) && p.status == Status::Computing {
                            p.status = Status::Failed(message.clone());
                        }
                    }
                });
                self.progress.update(|p| p.running = false);
                if job == current && job != 0 {
                    // Stop the pool's other workers; late messages of this job are ignored.
                    self.spawn_pool();
                    self.progress.update(|p| p.job += 1);
                }
            }
            _ => {} // a message of an older job
        }
    }

    /// Send panels to the worker. `specs`: label and spec; the files come from the store.
    pub(crate) fn run(
        self,
        specs: Vec<(String, SweepSpec)>,
        images: Option<UserImages>,
        task: Task,
    ) {
        // A run on the demo's images asked for while they still load waits for them.
        let on_demo_images = specs.iter().any(|(_, s)| match &s.data.source {
            DataSource::Embedded { sha256, .. } => {
                images.as_ref().is_none_or(|u| &u.sha256 != sha256)
            }
            _ => false,
        });
        if on_demo_images && self.manifest.with_untracked(Option::is_none) {
            self.waiting_run.set_value(Some((specs, images, task)));
            self.notice.set(Some(
                "The demo's images are still loading: the run starts as soon as they are here."
                    .into(),
            ));
            return;
        }
        let mut files = Attachments::new(self.store.get_value());
        let manifest = self.manifest.get_untracked();
        let mut panels = Vec::new();
        for (label, spec) in &specs {
            let result = (|| -> Result<PanelRequest, String> {
                let checkpoint = files.attach(
                    &spec.checkpoint.sha256,
                    &format!("checkpoint {}", spec.checkpoint.name),
                )?;
                let teacher = match &spec.loss {
                    LossSpec::RcMae { teacher, .. } => {
                        Some(files.attach(&teacher.sha256, &format!("teacher {}", teacher.name))?)
                    }
                    _ => None,
                };
                let data = match &spec.data.source {
                    DataSource::Embedded { sha256, name } => {
                        let demo = manifest.as_ref().map(|m| &m.eval_subset);
                        if let Some(subset) = demo.filter(|s| &s.images_sha256 == sha256) {
                            DataRef::DemoSubset {
                                images: files.attach(&subset.images_sha256, "demo images")?,
                                labels: files.attach(&subset.labels_sha256, "demo labels")?,
                                subset: subset.clone(),
                            }
                        } else if let Some(user) = images.as_ref().filter(|u| &u.sha256 == sha256) {
                            let first = files.list.len();
                            files.list.extend(user.files.iter().map(|(_, b)| b.clone()));
                            if user.zip {
                                DataRef::Zip { index: first }
                            } else {
                                DataRef::Files {
                                    first,
                                    names: user.files.iter().map(|(n, _)| n.clone()).collect(),
                                }
                            }
                        } else {
                            return Err(format!(
                                "the evaluation images `{name}` are not loaded: drop the same images in first"
                            ));
                        }
                    }
                    other => {
                        return Err(format!(
                            "this page evaluates the demo subset or images you drop in; {other:?} is for the CLI"
                        ));
                    }
                };
                let extra = SpecFiles::attach(spec, |role, name, sha256| {
                    files.attach(sha256, &role.describe(name))
                })?;
                Ok(PanelRequest {
                    label: label.clone(),
                    spec: spec.clone(),
                    checkpoint,
                    teacher,
                    data,
                    files: extra,
                })
            })();
            match result {
                Ok(p) => panels.push(p),
                Err(e) => {
                    self.error.set(Some(format!("{label}: {e}")));
                    return;
                }
            }
        }
        if self.progress.with_untracked(|p| p.running) {
            // One job at a time: the old one is stopped by replacing the workers.
            self.spawn_pool();
        }
        let job = self.progress.with_untracked(|p| p.job) + 1;
        let request = RunRequest {
            job,
            panels,
            cells_per_read: if self
                .backend
                .with_untracked(|b| b.as_ref().is_some_and(|b| b.1))
            {
                16
            } else {
                4
            },
            prefer_gpu: self.prefer_gpu.get_untracked(),
            task,
            share: crate::protocol::Share::default(),
            skip: Vec::new(),
        };
        // Each panel's model size, as inspected when it was dropped (the demo's are tiny): its
        // checkpoint's, plus an RC-MAE teacher's, which every worker holds beside it.
        let parameters: Vec<usize> = self.uploads.with_untracked(|uploads| {
            let size = |sha256: &str| {
                uploads
                    .iter()
                    .find(|u| u.inspection.sha256 == sha256)
                    .map_or(0, |u| u.inspection.parameters)
            };
            specs
                .iter()
                .map(|(_, spec)| {
                    let teacher = match &spec.loss {
                        LossSpec::RcMae { teacher, .. } => size(&teacher.sha256),
                        _ => 0,
                    };
                    size(&spec.checkpoint.sha256).saturating_add(teacher)
                })
                .filter(|&p| p > 0)
                .collect()
        });
        self.gpu_lost.set(None);
        let workers = self.workers_for(task, &parameters, specs.len());
        if task != Task::Sweep {
            // Curvature of the panels on screen: their surfaces stay.
            let (total, unit) = match task {
                Task::ConvexityMap { points, .. } => (
                    specs
                        .iter()
                        .map(|(_, s)| points.max(2).pow(if s.grid.y.is_some() { 2 } else { 1 }))
                        .sum(),
                    "convexity cells",
                ),
                Task::HessianPlane { .. } => (specs.len(), "eigenvector sets"),
                Task::TrainBend { config, .. } => (specs.len() * config.steps, "training steps"),
                _ => (specs.len(), "eigenvalue sets"),
            };
            self.panels.update(|panels| {
                for p in panels.iter_mut() {
                    if let Task::ConvexityMap { .. } = task {
                        p.convexity = None;
                        p.convexity_parts.clear();
                    } else if let Task::TrainBend { .. } = task {
                        // The last control point leaves the store.
                        if let Some((_, f)) = p.bend.take() {
                            self.store.update_value(|s| {
                                s.remove(&f.sha256);
                            });
                        }
                        p.bend_progress = None;
                    } else if let Task::HessianPlane { .. } = task {
                        // The last plane's eigenvectors leave the store (a ViT-B's are 692 MB).
                        for (f, _) in std::mem::take(&mut p.hessian) {
                            self.store.update_value(|s| {
                                s.remove(&f.sha256);
                            });
                        }
                    } else {
                        p.eigen = None;
                        p.trace = None;
                        p.spectrum = None;
                        p.step_check = None;
                    }
                }
            });
            self.progress.set(Progress {
                job,
                total,
                done: 0,
                elapsed: 0.0,
                running: true,
                unit,
                task,
            });
            if let Err(e) = self.dispatch(&request, files.list, workers) {
                self.error.set(Some(e));
                self.progress.update(|p| p.running = false);
            }
            return;
        }
        let total = specs
            .iter()
            .map(|(_, s)| s.grid.x.n * s.grid.y.map_or(1, |y| y.n))
            .sum();
        let previous = self.panels.get_untracked();
        // The old panels' direction files go with them (a ViT-B's are 692 MB of blobs).
        for (_, url) in previous.iter().flat_map(|p| &p.files) {
            let _ = web_sys::Url::revoke_object_url(url);
        }
        self.panels.set(
            specs
                .into_iter()
                .map(|(label, spec)| {
                    let shared_values = previous
                        .iter()
                        .find(|p| p.surface.spec == spec && p.status == Status::Shared)
                        .map(|p| p.surface.clone())
                        .or_else(|| {
                            previous
                                .iter()
                                .find(|p| p.surface.spec == spec)
                                .and_then(|p| p.shared_values.clone())
                        });
                    PanelState::new(label, Surface::empty(spec, &["loss"]), shared_values)
                })
                .collect(),
        );
        self.progress.set(Progress {
            job,
            total,
            done: 0,
            elapsed: 0.0,
            running: true,
            unit: "cells",
            task,
        });
        self.schedule_draw();
        if let Err(e) = self.dispatch(&request, files.list, workers) {
            self.error.set(Some(e));
            self.progress.update(|p| p.running = false);
        }
    }

    /// The dominant Hessian eigenvalue at θ* of every panel on screen (PyHessian's power
    /// iteration), computed by the worker from the same files and images.
    pub(crate) fn eigenvalues(self) {
        self.run_on_panels(
            Task::TopEigenvalue {
                settings: PowerSettings::default(),
                product: ProductScheme::default(),
                trace_samples: TRACE_SAMPLES,
                spectrum_batch: SPECTRUM_BATCH,
            },
            "λmax is taken at its θ*",
        );
    }

    /// The plane of the top Hessian eigenvectors at θ* of every panel on screen (or the top one
    /// and the panel's seeded random y): the worker finds them, then each panel is swept on its
    /// own plane ([`Self::sweep_hessian_planes`]).
    pub(crate) fn hessian_plane(self, k: usize) {
        let max_iterations = match self.power_iterations() {
            Ok(n) => n,
            Err(e) => return self.error.set(Some(e)),
        };
        self.run_on_panels(
            Task::HessianPlane {
                settings: PowerSettings {
                    k,
                    max_iterations,
                    tolerance: HESSIAN_PLANE_TOLERANCE,
                    ..PowerSettings::default()
                },
                product: ProductScheme::default(),
            },
            "the plane is taken at its θ*",
        );
    }

    /// Each panel swept on the plane of its own Hessian eigenvectors, with its grid, images and
    /// loss; the directions are unit vectors used as they are (the notice says so).
    pub(crate) fn sweep_hessian_planes(self) {
        let panels = self.panels.get_untracked();
        let mut specs = Vec::new();
        let mut said = Vec::new();
        for p in &panels {
            let mut spec = p.surface.spec.clone();
            let two_d = spec.grid.y.is_some();
            if spec.directions.source.path_target().is_some() {
                return self.error.set(Some(format!(
                    "{}: a Hessian plane is taken at one checkpoint; this panel is a path between two",
                    p.label
                )));
            }
            let seed = match spec.directions.source {
                DirectionSource::Random { seed } | DirectionSource::FileAndRandom { seed, .. } => {
                    seed
                }
                _ => self.settings.with_untracked(|s| s.seed),
            };
            let mut files = p.hessian.iter().map(|(f, _)| f.clone());
            let Some(x) = files.next() else {
                return self.error.set(Some(format!(
                    "{}: no Hessian eigenvectors came back",
                    p.label
                )));
            };
            spec.directions.source = DirectionSource::of_files(x, files.next(), seed, two_d);
            said.push(format!(
                "{}: {}",
                p.label,
                p.hessian
                    .iter()
                    .enumerate()
                    .map(|(i, (_, e))| format!(
                        "λ{} = {:.4} ({} iterations{})",
                        i + 1,
                        e.value,
                        e.iterations,
                        if e.converged { "" } else { ", not converged" }
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            specs.push((p.label.clone(), spec));
        }
        self.notice.set(Some(format!(
            "Hessian planes: {}. Each panel is swept along its own unit eigenvectors, used as they are (not normalised: α = 1 moves θ by 1 in ℓ2){}; the eigenvectors are offered below each panel.",
            said.join("; "),
            if panels.iter().any(|p| p.hessian.len() == 1) {
                ", y seeded random and normalised as set"
            } else {
                ""
            }
        )));
        self.run(specs, self.images.get_untracked(), Task::Sweep);
    }

    /// Run a curvature `task` on the specs of the panels on screen, with the loaded images; an
    /// error (`why` says what needs a landscape) when there are none.
    pub(crate) fn run_on_panels(self, task: Task, why: &str) {
        let specs: Vec<(String, SweepSpec)> = self.panels.with_untracked(|panels| {
            panels
                .iter()
                .map(|p| (p.label.clone(), p.surface.spec.clone()))
                .collect()
        });
        if specs.is_empty() {
            self.error
                .set(Some(format!("compute a landscape first: {why}")));
            return;
        }
        self.run(specs, self.images.get_untracked(), task);
    }

    /// Li et al.'s convexity map of every panel on screen, on a coarse grid of its plane.
    pub(crate) fn convexity_map(self) {
        let settings = whole_number(
            &self.convexity_points.get_untracked(),
            "convexity grid",
            2..=21,
        )
        .and_then(|points| self.power_iterations().map(|n| (points, n)));
        let (points, max_iterations) = match settings {
            Ok(v) => v,
            Err(e) => return self.error.set(Some(e)),
        };
        self.run_on_panels(
            Task::ConvexityMap {
                settings: PowerSettings {
                    max_iterations,
                    extremes: ExtremesMethod::Lanczos,
                    ..PowerSettings::default()
                },
                product: ProductScheme::default(),
                points,
            },
            "the map covers its plane",
        );
    }

    /// The products field: at most this many power iterations per eigenvalue (the Hessian plane)
    /// or Lanczos steps per cell (the convexity map), 1 to 1000.
    fn power_iterations(self) -> Result<usize, String> {
        whole_number(
            &self.power_iterations.get_untracked(),
            "power iterations",
            1..=1000,
        )
    }

    /// Stop the worker now (terminated and replaced); the partial surfaces stay.
    pub(crate) fn cancel(self) {
        if !self.progress.with_untracked(|p| p.running) {
            return;
        }
        self.spawn_pool();
        self.progress.update(|p| {
            p.running = false;
            p.job += 1; // late messages of the cancelled job are ignored
        });
        self.panels.update(|panels| {
            for p in panels.iter_mut() {
                if p.status == Status::Computing {
                    p.finish(Status::Cancelled);
                }
            }
        });
        self.notice.set(Some(
            "Cancelled: the workers were stopped; the cells computed so far are kept.".into(),
        ));
    }
}

/// A text field's whole number within `range`, or a message naming the field and the range.
pub(crate) fn whole_number(
    text: &str,
    what: &str,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| {
            format!(
                "{what} must be a whole number from {} to {}",
                range.start(),
                range.end()
            )
        })
}
