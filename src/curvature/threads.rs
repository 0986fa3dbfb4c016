//! The convexity map's rows in parallel on a native CPU: each row is an independent chain of
//! cells ([`super::convexity_map`]), so rows go to one thread per core, each running burn on a
//! one-thread pool, and the map is the same bit for bit whatever the thread count.

use super::{
    Error, Evaluator, Extremes, PowerSettings, ProductScheme, Products, StepCheck, convexity_cell,
    convexity_map, convexity_rows, record_products,
};
use crate::landscape::surface::Surface;
use crate::landscape::sweep::{self, Control, in_parallel};

/// [`convexity_map`] with its rows on `threads` threads (1: the plain loop on this thread).
/// Cells are recorded and reported on the calling thread as they finish; a cancel or an error
/// stops every thread after its current cell ([`in_parallel`]).
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
    let mut check = surface.info.step_check.unwrap_or_default();
    in_parallel(
        &rows,
        threads,
        |_, row, emit| {
            // A row is one chain of products.
            let mut products = Products::new(scheme);
            for (cell, coeffs) in row {
                let result = pollster::block_on(convexity_cell(
                    evaluator, theta, directions, coeffs, s, products,
                ))
                .map(|(values, ex, next)| {
                    products = next;
                    (*cell, values, ex, products.check)
                });
                if !emit(result) {
                    return;
                }
            }
        },
        &mut |(cell, values, ex, cell_check)| {
            check.add(&cell_check);
            sweep::record(surface, cell, &values);
            record_products(surface, scheme, &check);
            on_cell(surface, &ex)
        },
    )?;
    Ok(check)
}
