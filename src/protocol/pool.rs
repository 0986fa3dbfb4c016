//! The page's side of a pool of workers: the coarse-to-fine schedule, time estimates and how many CPU workers fit in memory.

use super::*;

/// Interleave the panels' coarse-to-fine orders lattice by lattice, in chunks of at most `chunk`
/// cells: every panel completes a lattice before any starts the next one, so each panel of a
/// comparison shows a picture ([`crate::landscape::preview`]) as early as possible and all sharpen evenly.
pub fn schedule(grids: &[(usize, usize)], chunk: usize) -> Vec<(usize, Vec<Cell>)> {
    let chunk = chunk.max(1);
    let levels: Vec<Vec<Vec<Cell>>> = grids
        .iter()
        .map(|&(nx, ny)| sweep::coarse_to_fine_levels(nx, ny))
        .collect();
    let depth = levels.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::new();
    for level in 0..depth {
        let pieces: Vec<Vec<&[Cell]>> = levels
            .iter()
            .map(|l| {
                l.get(level)
                    .map_or(Vec::new(), |c| c.chunks(chunk).collect())
            })
            .collect();
        let rounds = pieces.iter().map(Vec::len).max().unwrap_or(0);
        for round in 0..rounds {
            for (panel, p) in pieces.iter().enumerate() {
                if let Some(cells) = p.get(round) {
                    out.push((panel, cells.to_vec()));
                }
            }
        }
    }
    out
}

/// Seconds a run will take: `cells × images` forward passes through each panel's model, of
/// `flops_per_image[panel]` FLOPs each, at `flops_per_second` (so a rate measured on one model
/// size estimates another).
pub fn estimate_seconds(
    flops_per_image: &[f64],
    cells: usize,
    images: usize,
    flops_per_second: f64,
) -> Option<f64> {
    (flops_per_second > 0.0 && flops_per_second.is_finite())
        .then(|| flops_per_image.iter().sum::<f64>() * (cells * images) as f64 / flops_per_second)
}

/// Bytes a CPU worker holds per model parameter while it sweeps: θ, the two directions and the
/// engine's copies of all three, and the weight set being evaluated (f32 each).
pub const WORKER_BYTES_PER_PARAMETER: u64 = 7 * 4;

/// How much the CPU pool's copies of the models may take together before it runs on fewer
/// workers: each worker is a wasm engine of its own, holding every panel's model.
pub const POOL_MEMORY_BUDGET: u64 = 2 << 30;

/// Workers for a CPU sweep of panels whose models have `parameters` each, out of a pool of
/// `pool`: all of them while their copies fit [`POOL_MEMORY_BUDGET`], else as many as fit (at
/// least one), with a note that says so and why — a ViT-B/16 sweeps on one worker, not one per
/// core holding 2.4 GB each.
pub fn cpu_workers(pool: usize, parameters: &[usize]) -> (usize, Option<String>) {
    // u64: a ViT-L's copies pass wasm32's usize.
    let total = parameters
        .iter()
        .fold(0u64, |sum, &p| sum.saturating_add(p as u64));
    let per_worker = total.saturating_mul(WORKER_BYTES_PER_PARAMETER);
    let fit = POOL_MEMORY_BUDGET
        .checked_div(per_worker)
        .unwrap_or(u64::MAX);
    if fit >= pool as u64 {
        return (pool, None);
    }
    let workers = (fit as usize).max(1);
    let gb = |b: u64| b as f64 / 1e9;
    let note = format!(
        "{workers} of {pool} CPU workers: each holds about {:.1} GB for these models ({:.1} M parameters), and the pool keeps its copies under {:.1} GB",
        gb(per_worker),
        total as f64 / 1e6,
        gb(POOL_MEMORY_BUDGET),
    );
    (workers, Some(note))
}
