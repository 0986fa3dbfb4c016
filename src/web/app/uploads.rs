//! Dropped checkpoints (inspected at once) and images (a folder or a zip).

use super::*;

impl Ctx {
    pub(crate) async fn add_checkpoints(self, files: Vec<web_sys::File>) {
        for file in files {
            // The contents decide (safetensors, PyTorch zip or legacy); anything else is
            // refused by the reader with what it looks like.
            let name = file.name();
            let bytes = match read_file(&file).await {
                Ok(b) => b,
                Err(e) => {
                    self.error.set(Some(e));
                    continue;
                }
            };
            let heads = match self.head_counts() {
                Ok(h) => h,
                Err(e) => return self.error.set(Some(e)),
            };
            let sha256 = sha256_in_steps(&bytes).await;
            match inspect::inspect_known(&name, &bytes, None, heads, &sha256) {
                Ok(inspection) => {
                    let sha = inspection.sha256.clone();
                    self.store.update_value(|s| {
                        s.insert(sha, Arc::new(bytes));
                    });
                    let loss = match (&inspection.architecture.decoder, inspection.branch) {
                        (Some(_), Some(_)) => LossChoice::Rcmae,
                        (Some(_), None) => LossChoice::Mae,
                        _ => LossChoice::Classification,
                    };
                    self.uploads.update(|u| {
                        u.retain(|x| x.inspection.sha256 != inspection.sha256);
                        u.push(Upload { inspection, loss });
                    });
                    self.error.set(None);
                }
                Err(e) => self.error.set(Some(format!("{name}: {e}"))),
            }
        }
    }

    /// The head counts typed in (blank fields: from the file, else assumed and said so).
    pub(crate) fn head_counts(self) -> Result<HeadCounts, String> {
        let parse = |text: String, what: &str| -> Result<Option<usize>, String> {
            let text = text.trim().to_string();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<usize>()
                .ok()
                .filter(|h| *h >= 1)
                .map(Some)
                .ok_or_else(|| format!("{what} must be a whole number of at least 1, or blank"))
        };
        Ok(HeadCounts {
            encoder: parse(self.heads.get_untracked(), "encoder heads")?,
            decoder: parse(self.decoder_heads.get_untracked(), "decoder heads")?,
        })
    }

    /// Inspect every upload again with the head counts now typed in.
    pub(crate) fn reinspect_uploads(self) {
        let heads = match self.head_counts() {
            Ok(h) => h,
            Err(e) => return self.error.set(Some(e)),
        };
        let mut failures = Vec::new();
        let mut uploads = self.uploads.get_untracked();
        for u in uploads.iter_mut() {
            let bytes = self
                .store
                .with_value(|s| s.get(&u.inspection.sha256).cloned());
            let Some(bytes) = bytes else { continue };
            // Held by its hash: not hashed again.
            match inspect::inspect_known(
                &u.inspection.name,
                &bytes,
                u.inspection.branch,
                heads,
                &u.inspection.sha256,
            ) {
                Ok(inspection) => u.inspection = inspection,
                Err(e) => failures.push(format!("{}: {e}", u.inspection.name)),
            }
        }
        self.uploads.set(uploads);
        self.error
            .set((!failures.is_empty()).then(|| failures.join("; ")));
    }

    /// Take the other half of an RC-MAE file (`student.*` / `teacher.*`) for upload `index`.
    pub(crate) fn set_branch(self, index: usize, branch: Branch) {
        let Some(u) = self.uploads.with_untracked(|l| l.get(index).cloned()) else {
            return;
        };
        let Some(bytes) = self
            .store
            .with_value(|s| s.get(&u.inspection.sha256).cloned())
        else {
            return;
        };
        let heads = match self.head_counts() {
            Ok(h) => h,
            Err(e) => return self.error.set(Some(e)),
        };
        match inspect::inspect_known(
            &u.inspection.name,
            &bytes,
            Some(branch),
            heads,
            &u.inspection.sha256,
        ) {
            Ok(inspection) => self.uploads.update(|l| {
                if let Some(x) = l.get_mut(index) {
                    x.inspection = inspection;
                }
            }),
            Err(e) => self.error.set(Some(format!("{}: {e}", u.inspection.name))),
        }
    }

    pub(crate) async fn add_images(self, files: Vec<web_sys::File>) {
        let mut loaded = Vec::new();
        for file in &files {
            let path = js_sys::Reflect::get(file, &JsValue::from_str("webkitRelativePath"))
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default();
            let name = if path.is_empty() { file.name() } else { path };
            match read_file(file).await {
                Ok(b) => loaded.push((name, Arc::new(b))),
                Err(e) => {
                    self.error.set(Some(e));
                    return;
                }
            }
        }
        if loaded.is_empty() {
            return;
        }
        let zip = loaded.len() == 1 && loaded[0].0.to_lowercase().ends_with(".zip");
        // Check the files decode before accepting them (size is checked per model at run time).
        let check = if zip {
            crate::io::data::unzip(&loaded[0].1)
                .map(|f| f.len())
                .map_err(|e| e.to_string())
        } else {
            let plain: Vec<(String, Vec<u8>)> = loaded
                .iter()
                .map(|(n, b)| (n.clone(), b.to_vec()))
                .collect();
            crate::io::data::count_decodable(&plain).map_err(|e| e.to_string())
        };
        let count = match check {
            Ok(n) => n,
            Err(e) => {
                self.error.set(Some(format!("images: {e}")));
                return;
            }
        };
        // A zip is named by its own hash, so `vitscape sweep --spec --search` can find the
        // same archive; loose files by their names and bytes together.
        let sha256 = if zip {
            sha256_in_steps(&loaded[0].1).await
        } else {
            let mut all = Vec::new();
            for (n, b) in &loaded {
                all.extend_from_slice(n.as_bytes());
                all.extend_from_slice(b);
            }
            sha256_in_steps(&all).await
        };
        let label = if zip {
            loaded[0].0.clone()
        } else {
            format!("{count} uploaded images")
        };
        self.images.set(Some(UserImages {
            label,
            sha256,
            files: loaded,
            zip,
        }));
        self.settings
            .update(|s| s.eval_images = s.eval_images.min(count));
        self.error.set(None);
    }

    /// Direction files for the uploads' sweeps: the first is x, the second y (a third starts
    /// over). Two principal components of one training run set the axes to cover its path,
    /// and the notice says so.
    pub(crate) async fn add_directions(self, files: Vec<web_sys::File>) {
        for file in files {
            let name = file.name();
            let bytes = match read_file(&file).await {
                Ok(b) => b,
                Err(e) => return self.error.set(Some(e)),
            };
            let sha256 = sha256_in_steps(&bytes).await;
            let state =
                match crate::io::checkpoint::read_safetensors_known(&bytes, None, Some(&sha256)) {
                    Ok(loaded) => loaded.state,
                    Err(e) => {
                        return self
                            .error
                            .set(Some(format!("{name} is not a direction file: {e}")));
                    }
                };
            if crate::connect::is_bend_file(&state) {
                // A curve's control point: held for the specs that name it, not a direction.
                self.store.update_value(|s| {
                    s.insert(sha256, Arc::new(bytes));
                });
                self.notice.set(Some(format!(
                    "{name}: a Bézier curve's control point, kept for the curve that names it (Recompute a shared curve with it and both ends dropped in); it is not used as a direction."
                )));
                continue;
            }
            let trajectory = match crate::trajectory::axis_of(&state, "x") {
                Ok(t) => t,
                Err(e) => return self.error.set(Some(format!("{name}: {e}"))),
            };
            let upload = DirectionUpload {
                name,
                sha256,
                centre: state.metadata.get("checkpoint_sha256").cloned(),
                about: crate::landscape::directions::describe_file(&state),
                trajectory,
            };
            self.store.update_value(|s| {
                s.insert(upload.sha256.clone(), Arc::new(bytes));
            });
            self.direction_uploads.update(|list| {
                if list.len() >= 2 {
                    list.clear();
                }
                list.push(upload);
            });
        }
        self.error.set(None);
        self.cover_trajectory();
    }

    /// When the two direction files are components of one run, set the axes to a 21×21 grid
    /// that holds its whole path and θ* (as `vitscape trajectory` suggests), and say so.
    fn cover_trajectory(self) {
        let list = self.direction_uploads.get_untracked();
        let [x, y] = list.as_slice() else { return };
        let (Some(tx), Some(ty)) = (&x.trajectory, &y.trajectory) else {
            return;
        };
        if !crate::trajectory::same_run(tx, ty) {
            return self.notice.set(Some(format!(
                "{} and {} are not two components of one training run: no path is drawn",
                x.name, y.name
            )));
        }
        if self.path.get_untracked() {
            return self.notice.set(Some(
                "Direction files are for planes: turn off \"a path instead of planes\" to sweep them"
                    .into(),
            ));
        }
        let ax = crate::trajectory::covering(tx.coords.iter().copied());
        let ay = crate::trajectory::covering(ty.coords.iter().copied());
        self.axis_x.set(ax.clone());
        self.axis_y.set(ay.clone());
        // The path is the run's around its centre: say so when another checkpoint is loaded.
        let centre = x.centre.clone().unwrap_or_default();
        let loaded = self
            .uploads
            .with_untracked(|u| u.iter().any(|u| u.inspection.sha256 == centre));
        let warning = if loaded {
            String::new()
        } else {
            format!(
                " They were made around checkpoint {}…, which is not among the checkpoints loaded: drop the run's last checkpoint (the path is drawn relative to it).",
                crate::io::checkpoint::short_hash(&centre)
            )
        };
        self.notice.set(Some(format!(
            "Axes set to α {ax}, β {ay}: the plane of the run's {} checkpoints, whose path is drawn over the contours (x is PC{} with {:.1} %, y PC{} with {:.1} % of its movement). The directions are used as they are, not normalised.{warning}",
            tx.members.len(),
            tx.component,
            tx.explained_variance_ratio * 100.0,
            ty.component,
            ty.explained_variance_ratio * 100.0
        )));
    }

    /// The uploads' direction source: none (seeded random) without direction files; x from a
    /// file and a seeded random y on a plane with one; both from files with two.
    pub(crate) fn direction_source(self, settings: &Settings) -> Option<DirectionSource> {
        let list = self.direction_uploads.get_untracked();
        let file = |u: &DirectionUpload| FileRef {
            name: u.name.clone(),
            sha256: u.sha256.clone(),
        };
        let x = list.first().map(file)?;
        Some(DirectionSource::of_files(
            x,
            list.get(1).map(file),
            settings.seed,
            settings.y.is_some(),
        ))
    }

    /// Sweep paths (the straight line between two uploads) or planes. A path is 1-D: turning
    /// it on sets the axes to t ∈ [−0.5, 1.5] in 41 points, as `vitscape sweep --interpolate`
    /// does on the default grid, and says so.
    pub(crate) fn set_path_mode(self, on: bool) {
        self.path.set(on);
        if on {
            self.axis_x.set(PATH_AXIS.into());
            self.axis_y.set(String::new());
            self.notice.set(Some(format!(
                "Axes set to t {PATH_AXIS} (a path is 1-D; t = 0 is the first checkpoint, t = 1 the second), as vitscape sweep --interpolate does."
            )));
        } else {
            self.axis_x.set(PLANE_AXIS.into());
            self.axis_y.set(PLANE_AXIS.into());
            self.notice.set(Some(format!(
                "Axes back to the plane's α {PLANE_AXIS}, β {PLANE_AXIS}."
            )));
        }
    }
}
