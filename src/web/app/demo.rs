//! Loading the embedded demo: its manifest, then its files, all asked for at once and read in the
//! order the demo's first run needs them. The run starts as soon as its own files are here; the
//! linear probes and fine-tuned models are read once its first pictures show, beside the verdict,
//! the paths and the training trajectories.

use super::*;

impl Ctx {
    pub(crate) async fn load_demo(self, shared: bool) {
        let manifest = match fetch_bytes("demo/manifest.json").await.and_then(|b| {
            serde_json::from_slice::<Manifest>(&b).map_err(|e| format!("demo/manifest.json: {e}"))
        }) {
            Ok(m) => m,
            Err(e) => {
                self.error.set(Some(format!("cannot load the demo: {e}")));
                return;
            }
        };
        mark("manifest");
        let first = first_run_files(&manifest, self.demo_mode());
        let mut wanted: Vec<(String, String)> = manifest
            .models
            .iter()
            .map(|m| (m.file.clone(), m.sha256.clone()))
            .collect();
        wanted.push((
            manifest.eval_subset.images_file.clone(),
            manifest.eval_subset.images_sha256.clone(),
        ));
        wanted.push((
            manifest.eval_subset.labels_file.clone(),
            manifest.eval_subset.labels_sha256.clone(),
        ));
        // Stable: the first run's files in the manifest's order, then the others in theirs.
        wanted.sort_by_key(|(_, sha)| !first.contains(sha));
        let requests: Vec<_> = wanted
            .into_iter()
            .map(|(file, sha)| (Fetching::start(&format!("demo/{file}")), file, sha))
            .collect();
        let mut started = false;
        for (request, file, sha) in requests {
            let read = match request.bytes().await {
                Ok(bytes) => {
                    if sha256_in_steps(&bytes).await == sha {
                        Ok(bytes)
                    } else {
                        Err(format!(
                            "demo/{file}: does not match its hash in the manifest"
                        ))
                    }
                }
                Err(e) => Err(e),
            };
            let bytes = match read {
                Ok(bytes) => bytes,
                // Without its first run's files there is no demo; without another file, only the
                // runs that need it wait (and say so), and the rest of the demo still loads.
                Err(e) if !started => {
                    self.error.set(Some(format!("cannot load the demo: {e}")));
                    return;
                }
                Err(e) => {
                    self.error.set(Some(format!("cannot load {e}")));
                    self.demo_failed
                        .update_value(|failed| failed.push((sha, e)));
                    self.run_queued_demo();
                    continue;
                }
            };
            mark("demo-file");
            self.store.update_value(|s| {
                s.insert(sha.clone(), Arc::new(bytes));
            });
            self.read_demo_references(&manifest, &sha).await;
            if started {
                self.run_queued_demo();
            } else if first.iter().all(|sha| self.has_file(sha)) {
                started = true;
                mark("demo-loaded");
                self.manifest.set(Some(manifest.clone()));
                self.start_first_run(shared);
                // The other models (hashed here, on the page's main thread) and the figures
                // wait for the first pictures, then load side by side.
                self.after_first_pictures().await;
                spawn_local(self.load_demo_figures());
            }
        }
    }

    /// The demo's verdict, its paths between the fine-tuned models and its training
    /// trajectories.
    async fn load_demo_figures(self) {
        // The verdict is extra: without it the demo still runs, and the page says why it is absent.
        match fetch_bytes("demo/verdict.json").await.and_then(|b| {
            serde_json::from_slice::<Verdict>(&b).map_err(|e| format!("demo/verdict.json: {e}"))
        }) {
            Ok(v) => self.verdict.set(Some(v)),
            Err(e) => self.notice.set(Some(format!("no demo verdict: {e}"))),
        }
        // So are the paths between the fine-tuned models.
        for (dir, title) in DEMO_CONNECTIONS {
            match demo_connection(dir, title).await {
                Ok(c) => self.connections.update(|all| all.push(c)),
                Err(e) => self.notice.set(Some(format!("no demo path {dir}: {e}"))),
            }
        }
        // And the training trajectories.
        for (dir, title) in DEMO_TRAJECTORIES {
            let url = format!("demo/trajectory/{dir}/surface.json");
            match fetch_bytes(&url).await.and_then(|b| {
                serde_json::from_slice::<Surface>(&b).map_err(|e| format!("{url}: {e}"))
            }) {
                Ok(surface) => self.trajectories.update(|all| {
                    all.push(DemoTrajectory {
                        title: title.to_string(),
                        surface,
                    })
                }),
                Err(e) => self
                    .notice
                    .set(Some(format!("no demo trajectory {dir}: {e}"))),
            }
        }
        self.schedule_draw();
    }

    /// Until every panel shows a picture (at most [`FIRST_PICTURES_WAIT_MS`]).
    async fn after_first_pictures(self) {
        let since = js_sys::Date::now();
        while !self.first_pictures.get_value()
            && js_sys::Date::now() - since < FIRST_PICTURES_WAIT_MS
        {
            gloo_timers::future::TimeoutFuture::new(50).await;
        }
    }

    pub(crate) fn has_file(self, sha256: &str) -> bool {
        self.store.with_value(|s| s.contains_key(sha256))
    }

    /// The first run once its files are here: a run asked for while the demo loaded, else the
    /// demo (unless a permalink is shown and the demo was not asked for).
    fn start_first_run(self, shared: bool) {
        let mut waiting = None;
        self.waiting_run.update_value(|w| waiting = w.take());
        match waiting {
            Some((specs, images, task)) => {
                self.demo_queued.set_value(false);
                self.notice.set(None);
                self.run(specs, images, task);
            }
            None if !shared || self.demo_queued.get_value() => self.run_demo(),
            None => {}
        }
    }

    /// A demo asked for before its files were here, tried again as each file comes in or fails:
    /// [`Ctx::run_demo`] starts it once its files are here, reports one that failed, or waits on.
    fn run_queued_demo(self) {
        if self.demo_queued.get_value() {
            self.run_demo();
        }
    }
}

/// The longest the demo's other files and figures wait for the first pictures (ms): a run that
/// shows none (an error, a slow machine) does not hold them back for longer.
const FIRST_PICTURES_WAIT_MS: f64 = 10_000.0;

/// The sha256 of every file a demo run in `mode` reads: its models, the images and labels.
pub(crate) fn first_run_files(manifest: &Manifest, mode: DemoMode) -> Vec<String> {
    verdict::demo_panels(manifest, mode)
        .into_iter()
        .map(|m| m.sha256)
        .chain([
            manifest.eval_subset.images_sha256.clone(),
            manifest.eval_subset.labels_sha256.clone(),
        ])
        .collect()
}

/// Fetch one demo path pair.
async fn demo_connection(dir: &str, title: &str) -> Result<DemoConnection, String> {
    async fn json<T: serde::de::DeserializeOwned>(url: String) -> Result<T, String> {
        let bytes = fetch_bytes(&url).await?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{url}: {e}"))
    }
    Ok(DemoConnection {
        title: title.to_string(),
        report: json(format!("demo/connect/{dir}/connect.json")).await?,
        linear: json(format!("demo/connect/{dir}/linear/surface.json")).await?,
        bezier: json(format!("demo/connect/{dir}/bezier/surface.json")).await?,
    })
}
