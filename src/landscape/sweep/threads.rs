//! Cells in parallel on a native CPU. The cells of a sweep are independent (each is evaluated
//! from the pristine θ*), and at these models' shapes burn's CPU backend keeps barely more than
//! one core busy, so the sweep's chunks go to one thread per core instead, each running burn on
//! a one-thread rayon pool of its own. The chunks and the evaluation are [`super::run`]'s; only
//! who evaluates a chunk differs, so a cell's value does not depend on the thread count.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use super::{Cell, Control, Pace, Progress, Surface, coefficients, deliver, missing};
use crate::error::Error;
use crate::landscape::objective::Evaluator;

/// [`super::run`] on `threads` threads sharing `evaluator` (1: the plain loop, on this thread).
/// Chunks are handed out in `order`, results are recorded and reported on the calling thread as
/// they arrive; a cancel or an error stops every thread after its current chunk.
pub fn run_threads(
    evaluator: &Evaluator,
    surface: &mut Surface,
    order: &[Cell],
    pace: Pace,
    threads: usize,
    on_cell: &mut dyn FnMut(&Surface, &Progress) -> Control,
) -> Result<(), Error> {
    if threads <= 1 {
        return pollster::block_on(super::run(evaluator, surface, order, pace, on_cell));
    }
    let cells: Vec<Vec<Cell>> = missing(surface, order)
        .chunks(pace.per_read.max(1))
        .map(<[Cell]>::to_vec)
        .collect();
    let points: Vec<Vec<Vec<f64>>> = cells
        .iter()
        .map(|chunk| chunk.iter().map(|c| coefficients(surface, *c)).collect())
        .collect();
    let (mut done, total) = surface.progress();
    eval_parallel(
        evaluator,
        &points,
        pace.per_forward,
        threads,
        &mut |j, values| deliver(surface, &cells[j], values, &mut done, total, on_cell),
    )
}

/// Evaluate `chunks` of points (each point a cell's direction coefficients, `per_forward` per
/// forward pass) on `threads` threads, each with its own one-thread rayon pool. `on_chunk`
/// receives each chunk's index and metrics on the calling thread, in the order they finish; a
/// `Cancel` from it, or an error, stops every thread after its current chunk.
pub fn eval_parallel(
    evaluator: &Evaluator,
    chunks: &[Vec<Vec<f64>>],
    per_forward: usize,
    threads: usize,
    on_chunk: &mut dyn FnMut(usize, Vec<BTreeMap<String, f64>>) -> Control,
) -> Result<(), Error> {
    in_parallel(
        chunks,
        threads,
        |j, points, emit| {
            let result = pollster::block_on(evaluator.eval_points(points, per_forward));
            emit(result.map(|values| (j, values)));
        },
        &mut |(j, values)| on_chunk(j, values),
    )
}

/// Run `jobs` on `threads` threads, each running burn on a one-thread pool ([`on_one_thread`]).
/// `work(index, job, emit)` runs one job on a worker thread and hands each of its results to
/// `emit`, which says whether to go on. `on_result` gets every result on the calling thread as
/// it arrives; a `Cancel` from it, or an `Err` result, stops every thread at its next `emit`
/// (the results still in flight are dropped).
pub(crate) fn in_parallel<J: Sync, T: Send>(
    jobs: &[J],
    threads: usize,
    work: impl Fn(usize, &J, &mut dyn FnMut(Result<T, Error>) -> bool) + Sync,
    on_result: &mut dyn FnMut(T) -> Control,
) -> Result<(), Error> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(jobs.len()) {
            let (tx, next, stop, work) = (tx.clone(), &next, &stop, &work);
            scope.spawn(move || {
                on_one_thread(|| {
                    let mut going = true;
                    while going && !stop.load(Ordering::Relaxed) {
                        let j = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(j) else {
                            break;
                        };
                        work(j, job, &mut |result| {
                            let failed = result.is_err();
                            going = going
                                && tx.send(result).is_ok()
                                && !failed
                                && !stop.load(Ordering::Relaxed);
                            going
                        });
                    }
                })
            });
        }
        drop(tx);
        let mut outcome = Ok(());
        // Every result is received (the threads never block on a full channel); after a cancel
        // or an error the rest are dropped.
        for result in rx {
            if outcome.is_err() {
                continue;
            }
            match result {
                Ok(value) => {
                    if on_result(value) == Control::Cancel {
                        stop.store(true, Ordering::Relaxed);
                        outcome = Err(Error::Cancelled);
                    }
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    outcome = Err(e);
                }
            }
        }
        outcome
    })
}

/// Run `work` with burn's CPU ops on a one-thread rayon pool of its own (on the calling thread's
/// pool if one cannot be made): several such threads side by side each keep one core busy.
fn on_one_thread<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    }
}
