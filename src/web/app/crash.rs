//! A compute worker that crashes (a panic, an allocation that failed, a lost device that
//! aborted it) is replaced: the cells it had sent stay, a new worker in its place is sent its
//! share of the job less every cell already on the page, and the page says what happened. A
//! job whose workers keep crashing stops after [`MAX_RESTARTS`] replacements, its cells kept.

use super::*;
use crate::protocol::Share;

/// Replacements of crashed workers one job may have before it stops.
pub(crate) const MAX_RESTARTS: usize = 3;

impl Ctx {
    /// Worker `k` crashed with `message`.
    pub(crate) fn worker_crashed(self, k: usize, message: String) {
        let running = self.progress.with_untracked(|p| p.running);
        let old = self.pool.try_update_value(|p| {
            let slot = p.slots.get_mut(k)?;
            // Its share is unfinished when the job runs on it and it has not said Done.
            let busy = running && k < p.active && !p.done.get(k).copied().unwrap_or(true);
            let job = p.job.as_mut().filter(|_| busy).map(|job| {
                job.restarts += 1;
                (job.request.clone(), job.files.clone(), job.restarts)
            });
            Some((slot.worker.clone(), job, p.active))
        });
        let Some(Some((worker, job, active))) = old else {
            return;
        };
        worker.terminate();
        let replaced = self.start_worker(k).map(|slot| {
            self.pool.update_value(|p| {
                if let Some(old) = p.slots.get_mut(k) {
                    *old = slot;
                }
            });
        });
        let Some((request, files, restarts)) = job else {
            // Idle (or already done with this job): the pool keeps its size.
            self.notice.set(Some(format!(
                "Compute worker {} stopped ({message}); a new one took its place.",
                k + 1
            )));
            return;
        };
        if let Err(e) = replaced {
            return self.stop_after_crash(format!(
                "Compute worker {} crashed ({message}) and no new one could start ({e}); the \
                 cells computed so far are kept.",
                k + 1
            ));
        }
        if restarts > MAX_RESTARTS {
            return self.stop_after_crash(format!(
                "Compute worker {} crashed ({message}), the {restarts}th crash of this run: \
                 stopped. The cells computed so far are kept; a smaller model, grid or image \
                 set may fit.",
                k + 1
            ));
        }
        // A worker on WebGPU is replaced by one on the CPU: a device that was lost or failed
        // once is not trusted for the rest of the run (the box stays unticked for later runs).
        let on_gpu = self
            .backend
            .with_untracked(|b| b.as_ref().is_some_and(|b| b.1));
        if on_gpu {
            self.gpu_lost.set(Some(message.clone()));
            self.prefer_gpu.set(false);
        }
        // A sweep continues from the cells the page has; curvature starts its panel again.
        let sweeping = request.task == Task::Sweep;
        let (skip, kept) = if sweeping {
            self.panels.with_untracked(|panels| {
                let skip: Vec<Vec<usize>> = panels.iter().map(|p| computed(&p.surface)).collect();
                let kept = skip.iter().map(Vec::len).sum::<usize>();
                (skip, kept)
            })
        } else {
            (Vec::new(), 0)
        };
        let request = RunRequest {
            share: Share {
                index: k,
                count: active,
            },
            skip,
            prefer_gpu: request.prefer_gpu && !on_gpu,
            ..request
        };
        let arrays: Vec<js_sys::Uint8Array> = files
            .iter()
            .map(|f| js_sys::Uint8Array::from(f.as_slice()))
            .collect();
        match crate::web::wire::encode_shared(&request, &arrays) {
            Ok(message) => self.send(k, message),
            Err(e) => return self.stop_after_crash(e),
        }
        let gpu = if on_gpu {
            "WebGPU failed, so the run continues on the CPU. "
        } else {
            ""
        };
        self.notice.set(Some(if sweeping {
            let grids: Vec<(usize, usize)> = self.panels.with_untracked(|panels| {
                panels
                    .iter()
                    .map(|p| (p.surface.x.len(), p.surface.y.len()))
                    .collect()
            });
            let missing: usize = request
                .plan(&grids, request.cells_per_read)
                .iter()
                .map(|(_, cells)| cells.len())
                .sum();
            format!(
                "Compute worker {} crashed ({message}). {gpu}A new worker computes the {missing} \
                 cells of its share still missing; the {kept} cells already computed are kept.",
                k + 1
            )
        } else {
            format!(
                "Compute worker {} crashed ({message}). {gpu}A new worker starts the curvature \
                 again.",
                k + 1
            )
        }));
    }

    /// End the current job after a crash: the message, the panels' cells kept.
    fn stop_after_crash(self, message: String) {
        self.error.set(Some(message.clone()));
        self.panels.update(|panels| {
            for p in panels.iter_mut().filter(|p| p.status == Status::Computing) {
                p.status = Status::Failed(message.clone());
            }
        });
        self.progress.update(|p| p.running = false);
        // Stop the other workers; late messages of this job are ignored.
        self.spawn_pool();
        self.progress.update(|p| p.job += 1);
    }
}

/// The cells of a surface that hold a loss, row-major (`iy · nx + ix`).
fn computed(surface: &Surface) -> Vec<usize> {
    let nx = surface.x.len();
    let Some(loss) = surface.metrics.get(crate::landscape::surface::LOSS) else {
        return Vec::new();
    };
    loss.iter()
        .enumerate()
        .flat_map(|(iy, row)| {
            row.iter()
                .enumerate()
                .filter(|(_, v)| v.is_some())
                .map(move |(ix, _)| iy * nx + ix)
        })
        .collect()
}
