//! The convexity map's rows in parallel on a native CPU: each row is an independent chain of
//! cells ([`super::convexity_map`]), so rows go to one thread per core, each running burn on a
//! one-thread pool, and the map is the same bit for bit whatever the thread count.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use super::{
    Error, Evaluator, Extremes, PowerSettings, ProductScheme, Products, StepCheck, convexity_cell,
    convexity_map, convexity_rows, record_products,
};
use crate::surface::Surface;
use crate::sweep::{self, Control, on_one_thread};

/// [`convexity_map`] with its rows on `threads` threads (1: the plain loop on this thread).
/// Cells are recorded and reported on the calling thread as they finish; a cancel or an error
/// stops every thread after its current cell.
#[allow(clippy::too_many_arguments)]
pub fn convexity_map_threads(
    evaluator: &Evaluator,
    theta: &[f32],
    directions: &[Vec<f32>],
    surface: &mut Surface,
    s: PowerSettings,
    scheme: ProductScheme,
    threads: usize,
    on_cell: &mut dyn FnMut(&Surface, &Extremes) -> Control,
) -> Result<StepCheck, Error> {
    if threads <= 1 {
        return pollster::block_on(convexity_map(
            evaluator, theta, directions, surface, s, scheme, on_cell,
        ));
    }
    let rows = convexity_rows(surface);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(rows.len()) {
            let (tx, rows, next, stop) = (tx.clone(), &rows, &next, &stop);
            scope.spawn(move || {
                on_one_thread(|| {
                    while let Some(row) = rows.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let mut products = Products::new(scheme);
                        for (cell, coeffs) in row {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            let result = pollster::block_on(convexity_cell(
                                evaluator, theta, directions, coeffs, s, products,
                            ));
                            let result = result.map(|(values, ex, next)| {
                                products = next;
                                (values, ex, products.check)
                            });
                            let failed = result.is_err();
                            if tx.send((*cell, result)).is_err() || failed {
                                return;
                            }
                        }
                    }
                })
            });
        }
        drop(tx);
        let mut check = StepCheck::default();
        let mut outcome = Ok(());
        for (cell, result) in rx {
            if outcome.is_err() {
                continue;
            }
            match result {
                Ok((values, ex, cell_check)) => {
                    check.add(&cell_check);
                    sweep::record(surface, cell, &values);
                    record_products(surface, scheme, &check);
                    if on_cell(surface, &ex) == Control::Cancel {
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
        outcome.map(|()| check)
    })
}
