//! Shards: one of N interleaved parts of a sweep's cells, computed by its own process (a Slurm
//! array task, a Kubernetes indexed pod) into its own folder. Cells are dealt in coarse-to-fine
//! order, so every shard sees the whole plane from its first cells on, and shards are balanced to
//! within one cell. A convexity map is dealt by rows instead: each row is one chain of Hessian
//! products, so whole rows keep the single run's numbers.

use serde::{Deserialize, Serialize};

use crate::error::SpecError;
use crate::landscape::surface::Cell;

/// Shard `index` of `count` (from 0). Read from a file, it is checked as `--shard` is (a count of
/// 0 or an index past it is refused, not divided by).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ShardFields")]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// How many shards the sweep is split into.
    pub count: usize,
    /// Whole rows (every `count`-th from `index`), as a convexity map is split, instead of
    /// interleaved cells.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rows: bool,
}

/// A shard as written, before it is checked.
#[derive(Deserialize)]
struct ShardFields {
    index: usize,
    count: usize,
    #[serde(default)]
    rows: bool,
}

impl TryFrom<ShardFields> for Shard {
    type Error = SpecError;

    fn try_from(f: ShardFields) -> Result<Self, SpecError> {
        let shard = Shard::new(f.index, f.count)?;
        Ok(if f.rows { shard.by_rows() } else { shard })
    }
}

/// At most this many shards (a cell each on a 101×101 grid is ~10⁴).
pub const MAX_SHARDS: usize = 1 << 20;

fn shard_error(reason: String) -> SpecError {
    SpecError::Field {
        field: "shard".into(),
        reason,
    }
}

impl Shard {
    /// Shard `index` of `count`, checked.
    pub fn new(index: usize, count: usize) -> Result<Self, SpecError> {
        if count == 0 || count > MAX_SHARDS {
            return Err(shard_error(format!(
                "{count} shards: give between 1 and {MAX_SHARDS}"
            )));
        }
        if index >= count {
            return Err(shard_error(format!(
                "shard {index} of {count}: shards are numbered from 0 to {}",
                count - 1
            )));
        }
        Ok(Self {
            index,
            count,
            rows: false,
        })
    }

    /// The same shard, dealing whole rows.
    pub fn by_rows(self) -> Self {
        Self { rows: true, ..self }
    }

    /// Whether row `iy` is this shard's (for a shard by rows).
    pub fn has_row(&self, iy: usize) -> bool {
        iy % self.count.max(1) == self.index
    }

    /// `K/N`, as `--shard` takes it.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| shard_error(format!("{text:?}: expected K/N, e.g. 0/4")))?;
        let number = |s: &str, what: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| shard_error(format!("{text:?}: {what} {s:?} is not a whole number")))
        };
        Self::new(number(k, "K")?, number(n, "N")?)
    }

    /// The shard a scheduler gives this process, and where it came from: Slurm's array
    /// (`SLURM_ARRAY_TASK_ID` less `SLURM_ARRAY_TASK_MIN`, of `SLURM_ARRAY_TASK_COUNT` or
    /// `shards`) or a Kubernetes indexed Job (`JOB_COMPLETION_INDEX`, of `shards`). `None`
    /// when neither is set. `var` reads an environment variable.
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
        shards: Option<usize>,
    ) -> Result<Option<(Self, String)>, SpecError> {
        let number = |name: &str| -> Result<Option<usize>, SpecError> {
            var(name)
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| shard_error(format!("{name}={v:?} is not a whole number")))
                })
                .transpose()
        };
        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = id.checked_sub(min).ok_or_else(|| {
                shard_error(format!(
                    "SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"
                ))
            })?;
            let (count, from) = match (shards, number("SLURM_ARRAY_TASK_COUNT")?) {
                (Some(n), _) => (n, "--shards"),
                (None, Some(n)) => (n, "SLURM_ARRAY_TASK_COUNT"),
                (None, None) => {
                    return Err(shard_error(
                        "SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT: give --shards N"
                            .into(),
                    ));
                }
            };
            let shard = Self::new(index, count)?;
            let why = format!(
                "SLURM_ARRAY_TASK_ID={id}{}, {count} shards from {from}",
                if min > 0 {
                    format!(" − SLURM_ARRAY_TASK_MIN={min}")
                } else {
                    String::new()
                }
            );
            return Ok(Some((shard, why)));
        }
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = shards.ok_or_else(|| {
                shard_error(
                    "JOB_COMPLETION_INDEX is set (a Kubernetes indexed Job) but not how many \
                     shards there are: give --shards N (the Job's completions)"
                        .into(),
                )
            })?;
            let shard = Self::new(index, count)?;
            return Ok(Some((
                shard,
                format!("JOB_COMPLETION_INDEX={index}, {count} shards from --shards"),
            )));
        }
        Ok(None)
    }

    /// Which shard computes each cell of an `nx`×`ny` grid (indexed `iy * nx + ix`): the
    /// coarse-to-fine order dealt round-robin, or whole rows.
    pub fn owners(nx: usize, ny: usize, count: usize, rows: bool) -> Vec<usize> {
        if rows {
            return (0..ny)
                .flat_map(|iy| std::iter::repeat_n(iy % count.max(1), nx))
                .collect();
        }
        let mut owner = vec![0; nx * ny];
        for (position, cell) in super::coarse_to_fine(nx, ny).into_iter().enumerate() {
            if let Some(o) = owner.get_mut(cell.iy * nx + cell.ix) {
                *o = position % count.max(1);
            }
        }
        owner
    }

    /// This shard's cells: coarse to fine, or its rows' cells row by row.
    pub fn cells(&self, nx: usize, ny: usize) -> Vec<Cell> {
        if self.rows {
            return super::row_major(nx, ny)
                .into_iter()
                .filter(|c| self.has_row(c.iy))
                .collect();
        }
        super::coarse_to_fine(nx, ny)
            .into_iter()
            .enumerate()
            .filter(|(position, _)| position % self.count == self.index)
            .map(|(_, cell)| cell)
            .collect()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)?;
        if self.rows {
            write!(f, " (rows)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn shards_partition_the_grid_and_each_spans_the_plane() {
        let (nx, ny) = (11, 7);
        for count in [1, 2, 3, 5, 77, 100] {
            let mut seen = HashSet::new();
            let mut sizes = Vec::new();
            for index in 0..count {
                let cells = Shard::new(index, count).unwrap().cells(nx, ny);
                sizes.push(cells.len());
                for c in cells {
                    assert!(seen.insert((c.ix, c.iy)), "{c:?} twice");
                }
            }
            assert_eq!(seen.len(), nx * ny, "{count} shards");
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(hi - lo <= 1, "{count} shards: sizes {sizes:?}");
        }
        // Each of 4 shards starts on the coarse lattice: corners of the plane are spread.
        let first: Vec<Cell> = (0..4)
            .map(|k| Shard::new(k, 4).unwrap().cells(nx, ny)[0])
            .collect();
        assert_eq!(first.len(), 4);
        for rows in [false, true] {
            let owners = Shard::owners(nx, ny, 3, rows);
            let mut total = 0;
            for k in 0..3 {
                let shard = Shard::new(k, 3).unwrap();
                let shard = if rows { shard.by_rows() } else { shard };
                for c in shard.cells(nx, ny) {
                    assert_eq!(owners[c.iy * nx + c.ix], k);
                    total += 1;
                    if rows {
                        assert!(shard.has_row(c.iy));
                    }
                }
            }
            assert_eq!(total, nx * ny);
        }
    }

    #[test]
    fn shard_flags_and_scheduler_variables() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard::new(2, 4).unwrap());
        for bad in ["4/4", "1/0", "x/2", "3", "-1/2", ""] {
            let e = Shard::parse(bad).unwrap_err().to_string();
            assert!(e.contains("shard"), "{bad}: {e}");
        }
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Shard::from_env(env(&[]), Some(4)).unwrap(), None);
        let (s, why) = Shard::from_env(
            env(&[
                ("SLURM_ARRAY_TASK_ID", "3"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ]),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(s, Shard::new(3, 4).unwrap());
        assert!(why.contains("SLURM_ARRAY_TASK_ID=3"), "{why}");
        // --array=1-4: ids from 1.
        let (s, _) = Shard::from_env(
            env(&[
                ("SLURM_ARRAY_TASK_ID", "4"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ]),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(s, Shard::new(3, 4).unwrap());
        let (s, _) = Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "0")]), Some(2))
            .unwrap()
            .unwrap();
        assert_eq!(s, Shard::new(0, 2).unwrap());
        let e = Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "0")]), None).unwrap_err();
        assert!(e.to_string().contains("--shards"), "{e}");
        let e = Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "x")]), Some(2)).unwrap_err();
        assert!(e.to_string().contains("SLURM_ARRAY_TASK_ID"), "{e}");
        let e = Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "5")]), Some(2)).unwrap_err();
        assert!(e.to_string().contains("from 0 to 1"), "{e}");
        // Read back from a file, a shard is checked too.
        let s: Shard = serde_json::from_str(r#"{"index": 1, "count": 3, "rows": true}"#).unwrap();
        assert_eq!(s, Shard::new(1, 3).unwrap().by_rows());
        for bad in [r#"{"index": 0, "count": 0}"#, r#"{"index": 3, "count": 3}"#] {
            let e = serde_json::from_str::<Shard>(bad).unwrap_err().to_string();
            assert!(e.contains("shard"), "{bad}: {e}");
        }
    }
}
