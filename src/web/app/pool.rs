//! The compute workers: a pool sized by `navigator.hardwareConcurrency`, each worker a wasm
//! engine of its own. On the CPU a sweep's chunks are split over the pool ([`Share`]); on WebGPU,
//! and for curvature (one Krylov run per panel), one worker does the whole job.

use super::*;
use crate::protocol::Share;

/// Most workers in the pool: each holds its own copy of the models and images.
pub(crate) const MAX_WORKERS: usize = 4;

/// One worker and the message waiting for it to be ready.
pub(crate) struct Slot {
    pub(crate) worker: Worker,
    pub(crate) ready: bool,
    pub(crate) pending: Option<js_sys::Array>,
}

/// The workers, and how the current job is spread over them.
#[derive(Default)]
pub(crate) struct Pool {
    pub(crate) slots: Vec<Slot>,
    /// Workers the current job runs on (the first `active` slots).
    pub(crate) active: usize,
    /// Of those, how many have said `Done`.
    pub(crate) finished: usize,
    /// Each worker's last measured rate (images per second); the pool's is their sum.
    pub(crate) rates: Vec<f64>,
    /// Which workers have said `Done` (a replaced worker's share is not done until its
    /// replacement says so).
    pub(crate) done: Vec<bool>,
    /// What the current job was sent, kept until it ends so that a crashed worker's share can
    /// be sent to its replacement ([`Ctx::worker_crashed`]).
    pub(crate) job: Option<PoolJob>,
}

/// The current job as dispatched: the request (before each worker's share) and its files,
/// shared with the page's store (no copy).
pub(crate) struct PoolJob {
    pub(crate) request: RunRequest,
    pub(crate) files: Vec<Arc<Vec<u8>>>,
    /// Workers replaced during this job.
    pub(crate) restarts: usize,
}

/// Workers the browser's cores allow, from 1 to [`MAX_WORKERS`].
pub(crate) fn pool_size() -> usize {
    let cores = window().navigator().hardware_concurrency();
    if cores.is_finite() && cores >= 1.0 {
        (cores as usize).clamp(1, MAX_WORKERS)
    } else {
        1
    }
}

/// Whether the browser offers a WebGPU adapter (`navigator.gpu.requestAdapter()` resolves to one).
/// Asked by the page itself, which links no WebGPU code, to size the pool: a GPU job runs on one
/// worker.
pub(crate) async fn has_gpu_adapter() -> bool {
    let navigator = window().navigator();
    let Ok(gpu) = js_sys::Reflect::get(&navigator, &"gpu".into()) else {
        return false;
    };
    if gpu.is_undefined() || gpu.is_null() {
        return false;
    }
    let request = js_sys::Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call0(&gpu).ok())
        .and_then(|p| p.dyn_into::<js_sys::Promise>().ok());
    match request {
        Some(promise) => JsFuture::from(promise)
            .await
            .is_ok_and(|adapter| !adapter.is_null() && !adapter.is_undefined()),
        None => false,
    }
}

impl Ctx {
    /// Start (or restart) the pool: every old worker is terminated, `pool_size()` new ones start
    /// loading.
    pub(crate) fn spawn_pool(self) {
        let old = self
            .pool
            .try_update_value(std::mem::take)
            .unwrap_or_default();
        for slot in old.slots {
            slot.worker.terminate();
        }
        mark("pool");
        let mut slots = Vec::new();
        for k in 0..pool_size() {
            match self.start_worker(k) {
                Ok(slot) => slots.push(slot),
                Err(e) => {
                    self.error.set(Some(e));
                    break;
                }
            }
        }
        let rates = vec![0.0; slots.len()];
        self.pool.set_value(Pool {
            done: vec![false; slots.len()],
            slots,
            active: 0,
            finished: 0,
            rates,
            job: None,
        });
    }

    /// A new worker for slot `k`, loading. Its messages and its crash (the `error` event of an
    /// uncaught error) come back tagged with `k`.
    pub(crate) fn start_worker(self, k: usize) -> Result<Slot, String> {
        let worker = Worker::new("./worker_loader.js")
            .map_err(|e| format!("cannot start a compute worker: {}", js_error(e)))?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            self.on_worker_message(k, e.data());
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        let on_error =
            Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |e: web_sys::ErrorEvent| {
                e.prevent_default();
                self.worker_crashed(k, e.message());
            });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        Ok(Slot {
            worker,
            ready: false,
            pending: None,
        })
    }

    /// Workers a job runs on: one on WebGPU; on the CPU the whole pool while every worker's
    /// copy of the models (`parameters` per panel) fits the pool's memory budget, fewer when not
    /// — said in `pool_note`. A sweep shares out chunks of cells, a convexity map the rows of
    /// every panel's map, and the eigenvalues or eigenvectors at θ* whole panels (so no more
    /// workers than `panels`).
    pub(crate) fn workers_for(self, task: Task, parameters: &[usize], panels: usize) -> usize {
        let size = self.pool.with_value(|p| p.slots.len());
        let gpu =
            self.prefer_gpu.get_untracked() && self.gpu_adapter.get_untracked() != Some(false);
        if gpu {
            self.pool_note.set(None);
            return size.min(1);
        }
        let (workers, note) = crate::protocol::cpu_workers(size, parameters);
        self.pool_note.set(note);
        if task.by_whole_panels() {
            workers.min(panels.max(1))
        } else {
            workers
        }
    }

    /// Send `request` to the first `workers` workers, each with its share of the cells.
    pub(crate) fn dispatch(
        self,
        request: &RunRequest,
        files: Vec<Arc<Vec<u8>>>,
        workers: usize,
    ) -> Result<(), String> {
        if workers == 0 {
            return Err("no compute worker could be started".into());
        }
        let arrays: Vec<js_sys::Uint8Array> = files
            .iter()
            .map(|f| js_sys::Uint8Array::from(f.as_slice()))
            .collect();
        let mut messages = Vec::with_capacity(workers);
        for index in 0..workers {
            let request = RunRequest {
                share: Share {
                    index,
                    count: workers,
                },
                ..request.clone()
            };
            messages.push(crate::web::wire::encode_shared(&request, &arrays)?);
        }
        self.pool.update_value(|p| {
            p.active = workers;
            p.finished = 0;
            p.rates = vec![0.0; p.slots.len()];
            p.done = vec![false; p.slots.len()];
            p.job = Some(PoolJob {
                request: request.clone(),
                files,
                restarts: 0,
            });
        });
        self.workers.set(workers);
        for name in ["cells", "drawn"] {
            clear_marks(name);
        }
        mark("dispatched");
        for (k, message) in messages.into_iter().enumerate() {
            self.send(k, message);
        }
        Ok(())
    }

    /// Post to worker `k` now, or once it says it is ready.
    pub(crate) fn send(self, k: usize, message: js_sys::Array) {
        let failure = self.pool.try_update_value(|p| {
            let slot = p.slots.get_mut(k)?;
            if !slot.ready {
                slot.pending = Some(message);
                return None;
            }
            slot.worker.post_message(&message).err()
        });
        if let Some(Some(e)) = failure {
            self.error
                .set(Some(format!("cannot reach the worker: {}", js_error(e))));
        }
    }

    /// Worker `k` has loaded: send what waits for it.
    pub(crate) fn worker_ready(self, k: usize) {
        let pending = self
            .pool
            .try_update_value(|p| {
                let slot = p.slots.get_mut(k)?;
                slot.ready = true;
                slot.pending.take()
            })
            .flatten();
        if let Some(message) = pending {
            self.send(k, message);
        }
    }

    /// Worker `k` measured `rate` images per second; the pool's rate is the sum over its active
    /// workers.
    pub(crate) fn worker_rate(self, k: usize, rate: f64) -> f64 {
        self.pool
            .try_update_value(|p| {
                if let Some(r) = p.rates.get_mut(k) {
                    *r = rate;
                }
                p.rates.iter().take(p.active.max(1)).sum()
            })
            .unwrap_or(rate)
    }

    /// Worker `k` finished the current job; true once every active worker has (the job's
    /// files are then let go).
    pub(crate) fn worker_done(self, k: usize) -> bool {
        self.pool
            .try_update_value(|p| {
                if let Some(done) = p.done.get_mut(k).filter(|d| !**d) {
                    *done = true;
                    p.finished += 1;
                }
                let all = p.finished >= p.active;
                if all {
                    p.job = None;
                }
                all
            })
            .unwrap_or(true)
    }
}
