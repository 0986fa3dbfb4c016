//! The page → worker request: its panels, limits and the checks a worker makes before any work.

use super::*;

/// Page → worker: compute one or more panels (a comparison), interleaved coarse-to-fine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRequest {
    /// Job number chosen by the page; every reply carries it.
    pub job: u64,
    /// The panels, in display order.
    pub panels: Vec<PanelRequest>,
    /// Cells evaluated before one read-back (several grid cells per GPU submission).
    pub cells_per_read: usize,
    /// Use WebGPU when the browser has an adapter (else, or when false, burn's CPU backend).
    pub prefer_gpu: bool,
    /// What to compute for the panels (default: their surfaces).
    #[serde(default)]
    pub task: Task,
    /// Which share of the sweep's cells this worker computes, when a pool of workers splits one
    /// (default: all of them).
    #[serde(default)]
    pub share: Share,
    /// Cells of each panel already computed (row-major `iy · nx + ix`), left out of this
    /// request's sweep: what a worker that replaces a crashed one is sent (default: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<Vec<usize>>,
}

/// Most cells one read-back may batch (a request asking more is refused, not obeyed).
pub const MAX_CELLS_PER_READ: usize = 4096;
/// Most points per axis of a convexity map in a request.
pub const MAX_CONVEXITY_POINTS: usize = 101;
/// Most power iterations, trace samples or spectrum batches a request may ask for.
pub const MAX_ITERATIONS: usize = 100_000;
/// The most images per step of a control point's training ([`Task::TrainBend`]).
pub const MAX_BEND_BATCH: usize = 4096;
/// Most cells of one panel's grid in a request (as in a permalink).
pub const MAX_CELLS: usize = 1 << 20;

impl RunRequest {
    /// Read a request's JSON header and [`check`](Self::check) it against the `attachments`
    /// that came with it: what the worker does with every message before any work.
    pub fn from_header(header: &[u8], attachments: usize) -> Result<Self, String> {
        let request: Self =
            serde_json::from_slice(header).map_err(|e| format!("bad message header: {e}"))?;
        request.check(attachments)?;
        Ok(request)
    }

    /// The cells this request's worker computes, in chunks of at most `per_read` per panel:
    /// its share of [`schedule`]'s chunks for the panels' `grids`, less the cells in `skip`.
    pub fn plan(&self, grids: &[(usize, usize)], per_read: usize) -> Vec<(usize, Vec<Cell>)> {
        let skipped: Vec<std::collections::HashSet<usize>> = (0..grids.len())
            .map(|i| {
                self.skip
                    .get(i)
                    .map(|cells| cells.iter().copied().collect())
                    .unwrap_or_default()
            })
            .collect();
        self.share
            .of(schedule(grids, per_read))
            .into_iter()
            .filter_map(|(panel, cells)| {
                let nx = grids[panel].0;
                let cells: Vec<Cell> = cells
                    .into_iter()
                    .filter(|c| !skipped[panel].contains(&(c.iy * nx + c.ix)))
                    .collect();
                (!cells.is_empty()).then_some((panel, cells))
            })
            .collect()
    }

    /// Whether the request can be run as it is: every panel's spec valid, every attachment it
    /// names among the `attachments`, its pool share, batch and task settings in range. The
    /// page builds requests that pass; this stops a damaged one before it allocates anything.
    pub fn check(&self, attachments: usize) -> Result<(), String> {
        if self.panels.is_empty() {
            return Err("the request has no panels".into());
        }
        if !(1..=MAX_CELLS_PER_READ).contains(&self.cells_per_read) {
            return Err(format!(
                "cells_per_read is {}; it must be 1 to {MAX_CELLS_PER_READ}",
                self.cells_per_read
            ));
        }
        if self.share.count == 0 || self.share.index >= self.share.count {
            return Err(format!(
                "pool share {} of {} does not exist",
                self.share.index, self.share.count
            ));
        }
        self.task.check()?;
        if self.skip.len() > self.panels.len() {
            return Err(format!(
                "cells to skip are given for {} panels, but the request has {}",
                self.skip.len(),
                self.panels.len()
            ));
        }
        let present = |index: usize, what: &str| {
            if index < attachments {
                Ok(())
            } else {
                Err(format!(
                    "{what} is attachment {index}, but {attachments} came with the request"
                ))
            }
        };
        for (i, panel) in self.panels.iter().enumerate() {
            let name = format!("panel {} ({})", i + 1, panel.label);
            let fail = |reason: String| format!("{name}: {reason}");
            panel.spec.validate().map_err(|e| fail(e.to_string()))?;
            let cells = panel
                .spec
                .grid
                .x
                .n
                .checked_mul(panel.spec.grid.y.map_or(1, |y| y.n))
                .filter(|c| *c <= MAX_CELLS);
            let Some(cells) = cells else {
                return Err(fail(format!("the grid has more than {MAX_CELLS} cells")));
            };
            if let Some(c) = self
                .skip
                .get(i)
                .and_then(|s| s.iter().find(|c| **c >= cells))
            {
                return Err(fail(format!(
                    "cell {c} to skip is outside its {cells}-cell grid"
                )));
            }
            present(panel.checkpoint, "the checkpoint").map_err(fail)?;
            if let Some(teacher) = panel.teacher {
                present(teacher, "the teacher").map_err(fail)?;
            }
            let expected = SpecFiles::expected(&panel.spec);
            let given = &panel.files;
            if given.target.is_some() != expected.target.is_some()
                || given.bend.is_some() != expected.bend.is_some()
                || given.directions.len() != expected.directions.len()
            {
                return Err(fail(format!(
                    "its spec names {} besides the checkpoint, but {} came",
                    expected.describe(),
                    given.describe()
                )));
            }
            for index in given.target.iter().chain(&given.bend) {
                present(*index, "a path's file").map_err(fail)?;
            }
            for index in &given.directions {
                present(*index, "a direction file").map_err(fail)?;
            }
            match &panel.data {
                DataRef::DemoSubset { images, labels, .. } => {
                    present(*images, "the demo images").map_err(fail)?;
                    present(*labels, "the demo labels").map_err(fail)?;
                }
                DataRef::Files { first, names } => {
                    if names.is_empty() {
                        return Err(fail("no image files are named".into()));
                    }
                    let last = first.checked_add(names.len() - 1).unwrap_or(usize::MAX);
                    present(last, "the last image file").map_err(fail)?;
                }
                DataRef::Zip { index } => present(*index, "the zip archive").map_err(fail)?,
            }
        }
        Ok(())
    }
}
