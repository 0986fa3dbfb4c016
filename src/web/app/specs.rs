//! From the settings form to the panels' specs: the demo, the uploads, a recomputed permalink.

use super::*;

impl Ctx {
    pub(crate) fn read_settings(self) -> Result<Settings, String> {
        let mut s = self.settings.get_untracked();
        s.x = Axis::parse(self.axis_x.get_untracked().trim()).map_err(|e| e.to_string())?;
        let y = self.axis_y.get_untracked();
        s.y = if y.trim().is_empty() {
            None
        } else {
            Some(Axis::parse(y.trim()).map_err(|e| e.to_string())?)
        };
        Ok(s)
    }

    /// The reference a spec records for a file in the store: from the upload's `Inspection`
    /// when there is one (the file is not parsed again), else from the file.
    pub(crate) fn reference(
        self,
        sha256: &str,
        name: &str,
        branch: Option<Branch>,
    ) -> Result<crate::spec::CheckpointRef, String> {
        let inspected = self.uploads.with_untracked(|u| {
            u.iter()
                .find(|u| u.inspection.sha256 == sha256)
                .map(|u| u.inspection.clone())
        });
        if let Some(i) = inspected {
            // Both halves of an RC-MAE file share one architecture.
            return Ok(crate::spec::CheckpointRef {
                name: name.to_string(),
                sha256: i.sha256,
                branch: branch.or(i.branch),
                num_heads: i.architecture.num_heads,
                decoder_num_heads: i.architecture.decoder.map(|d| d.num_heads),
                heads_assumed: i.heads_assumed.any(),
            });
        }
        // A demo file is read (parsed and hashed) once per branch and head choice: reading the
        // demo's four references on every run was a 117 ms task on the main thread (issue #13).
        let heads = self.head_counts()?;
        let key = (sha256.to_string(), branch, heads);
        let known = self.references.with_value(|r| {
            r.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, reference)| reference.clone())
        });
        if let Some(reference) = known {
            return Ok(crate::spec::CheckpointRef {
                name: name.to_string(),
                ..reference
            });
        }
        let bytes = self
            .store
            .with_value(|s| s.get(sha256).cloned())
            .ok_or_else(|| format!("{name} is not loaded"))?;
        // The store holds files by their sha256 (checked when they came in): not hashed again.
        let model = crate::io::checkpoint::read_checkpoint_known(&bytes, branch, sha256)
            .map_err(crate::error::Error::from)
            .and_then(|loaded| crate::model::layout::Model::new(loaded, heads))
            .map_err(|e| format!("{name}: {e}"))?;
        let reference = model.reference(name);
        self.references
            .update_value(|r| r.push((key, reference.clone())));
        Ok(reference)
    }

    /// The demo's comparison as chosen on the page.
    pub(crate) fn demo_mode(self) -> DemoMode {
        match self.demo_loss.get_untracked() {
            DemoLoss::Probe => DemoMode::Probe,
            DemoLoss::Pretraining => DemoMode::Pretraining,
        }
    }

    pub(crate) fn demo_data(self, settings: &Settings) -> Result<DataSpec, String> {
        let manifest = self
            .manifest
            .get_untracked()
            .ok_or("the demo files are not loaded yet")?;
        verdict::demo_data(&manifest.eval_subset, settings.eval_images).map_err(|e| e.to_string())
    }

    /// Read the references the demo's runs will ask of a demo file just loaded (the RC-MAE
    /// file's two halves), each in a task of its own: the first run then finds them read
    /// instead of reading four checkpoints in one main-thread task (issue #13).
    pub(crate) async fn read_demo_references(self, manifest: &Manifest, sha256: &str) {
        for mode in [DemoMode::Pretraining, DemoMode::Probe] {
            for m in verdict::demo_panels(manifest, mode) {
                if m.sha256 != sha256 {
                    continue;
                }
                let branches: &[Option<Branch>] = if m.loss == LossChoice::Rcmae {
                    &[Some(Branch::Student), Some(Branch::Teacher)]
                } else {
                    &[None]
                };
                for branch in branches {
                    gloo_timers::future::TimeoutFuture::new(0).await;
                    // An unreadable file is reported when a run asks for it.
                    let _ = self.reference(&m.sha256, &m.file, *branch);
                }
            }
        }
    }

    /// The demo comparison: Sup-ViT, MAE-ViT, RC-MAE-ViT on their pre-training losses, or
    /// Sup-ViT and the two linear probes on classification.
    /// A demo asked for before its files are here waits for them (the loader starts it, see
    /// `demo.rs`), and the page says so.
    pub(crate) fn run_demo(self) {
        let mode = self.demo_mode();
        let queued = self.demo_queued.get_value();
        self.demo_queued.set_value(false);
        // The panels' files not here yet (sha256, name); `None` while the manifest itself loads.
        let files: Option<Vec<(String, String)>> = self.manifest.with_untracked(|m| {
            m.as_ref().map(|m| {
                verdict::demo_panels(m, mode)
                    .into_iter()
                    .filter(|p| !self.has_file(&p.sha256))
                    .map(|p| (p.sha256, p.name))
                    .collect()
            })
        });
        let waiting_for = match files {
            None => Some(String::new()),
            Some(files) => {
                let failed = self.demo_failed.with_value(|failed| {
                    files.iter().find_map(|(sha, _)| {
                        failed
                            .iter()
                            .find(|(f, _)| f == sha)
                            .map(|(_, e)| e.clone())
                    })
                });
                if let Some(e) = failed {
                    self.error.set(Some(format!("The demo cannot run: {e}")));
                    return;
                }
                let names: Vec<String> = files.into_iter().map(|(_, name)| name).collect();
                (!names.is_empty()).then(|| format!(" ({})", names.join(", ")))
            }
        };
        if let Some(which) = waiting_for {
            self.demo_queued.set_value(true);
            self.notice.set(Some(format!(
                "Waiting for the demo's files{which}: the run starts as soon as they are here."
            )));
            return;
        }
        if queued {
            self.notice.set(None);
        }
        let result = (|| -> Result<Vec<(String, SweepSpec)>, String> {
            let manifest = self
                .manifest
                .get_untracked()
                .ok_or("the demo files are not loaded yet")?;
            let settings = self.read_settings()?;
            let data = self.demo_data(&settings)?;
            let mut out = Vec::new();
            for m in verdict::demo_panels(&manifest, mode) {
                let loss = m.loss;
                let (branch, teacher) = if loss == LossChoice::Rcmae {
                    (
                        Some(Branch::Student),
                        Some(self.reference(&m.sha256, &m.file, Some(Branch::Teacher))?),
                    )
                } else {
                    (None, None)
                };
                let reference = self.reference(&m.sha256, &m.file, branch)?;
                let spec = settings
                    .spec(Inputs {
                        checkpoint: reference,
                        loss,
                        teacher,
                        data: data.clone(),
                        directions: None,
                    })
                    .map_err(|e| e.to_string())?;
                out.push((m.name.clone(), spec));
            }
            Ok(out)
        })();
        match result {
            Ok(specs) => self.run(specs, None, Task::Sweep),
            Err(e) => self.error.set(Some(e)),
        }
    }

    /// The uploaded checkpoints, compared on the chosen data.
    pub(crate) fn run_uploads(self) {
        let result = (|| -> Result<(Labelled, Option<UserImages>), String> {
            let uploads = self.uploads.get_untracked();
            if uploads.is_empty() {
                return Err(
                    "drop one or more checkpoints (.safetensors, .pth or .bin) first".into(),
                );
            }
            let settings = self.read_settings()?;
            let images = self.images.get_untracked();
            let data = match &images {
                Some(user) => DataSpec {
                    source: DataSource::Embedded {
                        name: user.label.clone(),
                        sha256: user.sha256.clone(),
                    },
                    eval_images: settings.eval_images,
                    subset_seed: settings.subset_seed,
                    // Per model below (the statistics follow its channels).
                    mean: Vec::new(),
                    std: Vec::new(),
                    mean_std: None,
                    preprocess: self.preprocess()?,
                },
                None => self.demo_data(&settings)?,
            };
            let path = self.path.get_untracked();
            if path && uploads.len() != 2 {
                return Err(format!(
                    "a path joins two checkpoints: drop exactly two ({} now), the first is t = 0, the second t = 1",
                    uploads.len()
                ));
            }
            if path && settings.y.is_some() {
                return Err(
                    "a path is 1-D (t along α): clear the β axis, e.g. α -0.5:1.5:41".into(),
                );
            }
            let mut out = Vec::new();
            for u in uploads.iter().take(if path { 1 } else { uploads.len() }) {
                let i = &u.inspection;
                let (branch, teacher) = if u.loss == LossChoice::Rcmae {
                    (
                        Some(Branch::Student),
                        Some(self.reference(&i.sha256, &i.name, Some(Branch::Teacher))?),
                    )
                } else {
                    (i.branch, None)
                };
                let mut data = data.clone();
                let a = &i.architecture;
                if images.is_none() && (a.in_chans, a.img_size) != (1, DEMO_IMAGE_SIZE) {
                    return Err(format!(
                        "{}: the model takes {s}×{s} {} images, and the demo images are \
                         {d}×{d} grayscale (Fashion-MNIST). Drop images for it (a folder or a \
                         .zip; set resize and crop below when their size differs, e.g. 248 and \
                         224 as timm does)",
                        i.name,
                        if a.in_chans == 3 { "RGB" } else { "1-channel" },
                        s = a.img_size,
                        d = DEMO_IMAGE_SIZE,
                    ));
                }
                if images.is_some() {
                    let stats = self.mean_std(a.in_chans)?;
                    data.mean = stats.mean;
                    data.std = stats.std;
                    data.mean_std = stats.note;
                }
                let reference = self.reference(&i.sha256, &i.name, branch)?;
                // A path: the straight line to the second upload (same branch).
                let (label, directions) = match uploads.get(1).filter(|_| path) {
                    Some(end) => {
                        let e = &end.inspection;
                        (
                            format!("{} → {}", i.name, e.name),
                            Some(DirectionSource::Interpolate {
                                target: self.reference(&e.sha256, &e.name, branch)?,
                            }),
                        )
                    }
                    None => (i.name.clone(), self.direction_source(&settings)),
                };
                let spec = settings
                    .spec(Inputs {
                        checkpoint: reference,
                        loss: u.loss,
                        teacher,
                        data,
                        directions,
                    })
                    .map_err(|e| format!("{}: {e}", i.name))?;
                out.push((label, spec));
            }
            Ok((out, images))
        })();
        match result {
            Ok((specs, images)) => self.run(specs, images, Task::Sweep),
            Err(e) => self.error.set(Some(e)),
        }
    }

    /// The resize / crop / interpolation fields.
    pub(crate) fn preprocess(self) -> Result<Preprocess, String> {
        let side = |text: String, what: &str| -> Result<Option<usize>, String> {
            let text = text.trim().to_string();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<usize>()
                .ok()
                .filter(|n| (1..=4096).contains(n))
                .map(Some)
                .ok_or_else(|| {
                    format!("{what} must be a number of pixels from 1 to 4096, or blank")
                })
        };
        Ok(Preprocess {
            resize: side(self.resize.get_untracked(), "resize")?,
            crop: side(self.crop.get_untracked(), "crop")?,
            interpolation: self.interpolation.get_untracked(),
        })
    }

    /// The mean/std field: blank (the preset for the channels, assumed and said), a preset's
    /// name, or `mean / std` numbers.
    pub(crate) fn mean_std(self, channels: usize) -> Result<MeanStd, String> {
        let text = self.mean_std.get_untracked();
        let text = text.trim();
        let (mean, std) = match text.split_once('/') {
            _ if text.is_empty() => (None, None),
            Some((m, s)) => (Some(m.trim()), Some(s.trim())),
            None => (Some(text), None),
        };
        crate::io::data::mean_std(mean, std, channels).map_err(|e| e.to_string())
    }

    /// Recompute the panels of a permalink with their own specs.
    pub(crate) fn recompute(self) {
        let specs: Vec<(String, SweepSpec)> = self
            .panels
            .get_untracked()
            .into_iter()
            .map(|p| (p.label, p.surface.spec))
            .collect();
        let images = self.images.get_untracked();
        self.run(specs, images, Task::Sweep);
    }
}
