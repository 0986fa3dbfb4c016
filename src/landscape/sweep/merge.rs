//! Merging shards: the parts of one sweep, computed by separate processes, into the surface a
//! single process would have written. Parts must share the spec and the vitscape version; a cell
//! computed twice must have the same value; whatever is missing is listed by shard and cell.

use std::collections::BTreeMap;

use serde_json::Value;

use super::shard::Shard;
use crate::landscape::surface::{Cell, Surface};

/// Why parts cannot be merged. Every message names the files and the field.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no parts to merge")]
    Empty,
    /// Two parts disagree on a field that must be the same.
    #[error("{first} and {other} differ in `{field}`: {a} vs {b} (parts of one sweep share it)")]
    Mismatch {
        /// The first part's name.
        first: String,
        /// The disagreeing part's name.
        other: String,
        /// Dotted path of the field.
        field: String,
        /// The first part's value.
        a: String,
        /// The other's.
        b: String,
    },
    /// A cell computed twice with different values.
    #[error(
        "cell (ix {ix}, iy {iy}) of `{metric}` is {a} in {first} but {b} in {other}: the same cell computed twice must agree"
    )]
    Conflict {
        /// The part that gave the value first.
        first: String,
        /// The disagreeing part.
        other: String,
        /// Metric name.
        metric: String,
        /// Column.
        ix: usize,
        /// Row.
        iy: usize,
        /// First value.
        a: f64,
        /// Other value.
        b: f64,
    },
}

/// The merged surface and what it lacks.
#[derive(Debug, Clone)]
pub struct Merged {
    /// Every computed cell of every part; `info.shard` cleared.
    pub surface: Surface,
    /// Shard count the parts were computed with (`None`: no part was a shard).
    pub shards: Option<usize>,
    /// Shards none of the parts is.
    pub missing_shards: Vec<usize>,
    /// Cells with no value, with the shard that computes each (when sharded).
    pub missing_cells: Vec<(Option<usize>, Cell)>,
}

impl Merged {
    /// Whether every cell has its value.
    pub fn complete(&self) -> bool {
        self.missing_cells.is_empty()
    }
}

/// The first dotted path where two JSON values differ, with both values (`path` names the
/// root).
pub fn first_difference(a: &Value, b: &Value, path: &str) -> Option<(String, String, String)> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                first_difference(va, vb, &format!("{path}.{k}"))
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (va, vb))| first_difference(va, vb, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some((path.to_string(), a.to_string(), b.to_string())),
    }
}

/// The fields of a part that every part must share: its spec, version, axes, metric names and
/// the facts of the run (θ's norm, the directions, the architecture) — not the shard, the
/// device, the clock or summaries.
fn shared(surface: &Surface) -> Vec<(&'static str, Value)> {
    let mut info = serde_json::to_value(&surface.info).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut info {
        // Each part's own: the merge recomputes or combines them.
        for volatile in [
            "shard",
            "clock",
            "device",
            "summary_loss",
            "summary_tau",
            "step_check",
            "convex_fraction",
        ] {
            map.remove(volatile);
        }
    }
    // In this order, so a part of another sweep is named by its spec first.
    vec![
        (
            "spec",
            serde_json::to_value(&surface.spec).unwrap_or(Value::Null),
        ),
        ("vitscape_version", surface.vitscape_version.clone().into()),
        ("x", serde_json::json!(surface.x)),
        ("y", serde_json::json!(surface.y)),
        (
            "metrics",
            serde_json::json!(surface.metrics.keys().collect::<Vec<_>>()),
        ),
        ("info", info),
    ]
}

/// Merge `parts` (name, surface), in order: the first part's facts are kept.
pub fn merge(parts: &[(String, Surface)]) -> Result<Merged, MergeError> {
    let ((first_name, first), rest) = parts.split_first().ok_or(MergeError::Empty)?;
    let reference = shared(first);
    let mut shards: Option<(Shard, String)> = first.info.shard.map(|s| (s, first_name.clone()));
    for (name, part) in rest {
        let difference = reference
            .iter()
            .zip(shared(part))
            .find_map(|((key, a), (_, b))| first_difference(a, &b, key));
        if let Some((field, a, b)) = difference {
            return Err(MergeError::Mismatch {
                first: first_name.clone(),
                other: name.clone(),
                field,
                a,
                b,
            });
        }
        match (&shards, part.info.shard) {
            (Some((first, from)), Some(s)) if (s.count, s.rows) != (first.count, first.rows) => {
                let describe = |s: &Shard| {
                    format!("{} shards{}", s.count, if s.rows { " by rows" } else { "" })
                };
                return Err(MergeError::Mismatch {
                    first: from.clone(),
                    other: name.clone(),
                    field: "info.shard".into(),
                    a: describe(first),
                    b: describe(&s),
                });
            }
            (None, Some(s)) => shards = Some((s, name.clone())),
            _ => {}
        }
    }
    let mut surface = first.clone();
    surface.info.shard = None;
    surface.info.clock = None;
    surface.info.summary_loss = None;
    surface.info.summary_tau = None;
    // A convexity map's step check covers every part's products.
    if parts.iter().any(|(_, p)| p.info.step_check.is_some()) {
        let mut check = crate::curvature::StepCheck::default();
        for (_, p) in parts {
            if let Some(c) = &p.info.step_check {
                check.add(c);
            }
        }
        surface.info.step_check = Some(check);
    }
    // Who gave each value, to name both parts of a conflict.
    let mut given: BTreeMap<(String, usize, usize), usize> = BTreeMap::new();
    for (p, (name, part)) in parts.iter().enumerate() {
        for (metric, grid) in &part.metrics {
            let Some(target) = surface.metrics.get_mut(metric) else {
                continue;
            };
            for (iy, row) in grid.iter().enumerate() {
                for (ix, value) in row.iter().enumerate() {
                    let Some(v) = value else { continue };
                    let Some(slot) = target.get_mut(iy).and_then(|r| r.get_mut(ix)) else {
                        continue;
                    };
                    let key = (metric.clone(), ix, iy);
                    match slot {
                        Some(old) if old.to_bits() != v.to_bits() => {
                            let by = given.get(&key).copied().unwrap_or(0);
                            return Err(MergeError::Conflict {
                                first: parts[by].0.clone(),
                                other: name.clone(),
                                metric: metric.clone(),
                                ix,
                                iy,
                                a: *old,
                                b: *v,
                            });
                        }
                        Some(_) => {}
                        None => {
                            *slot = Some(*v);
                            given.insert(key, p);
                        }
                    }
                }
            }
        }
    }
    let count = shards.as_ref().map(|(s, _)| s.count);
    let (nx, ny) = (surface.x.len(), surface.y.len());
    let owners = shards
        .as_ref()
        .map(|(s, _)| Shard::owners(nx, ny, s.count, s.rows));
    let present: std::collections::BTreeSet<usize> = parts
        .iter()
        .filter_map(|(_, p)| p.info.shard.map(|s| s.index))
        .collect();
    let missing_shards = count
        .map(|c| (0..c).filter(|k| !present.contains(k)).collect())
        .unwrap_or_default();
    let loss = surface.loss();
    let missing_cells = super::row_major(nx, ny)
        .into_iter()
        .filter(|c| {
            loss.get(c.iy)
                .and_then(|r| r.get(c.ix))
                .is_none_or(Option::is_none)
        })
        .map(|c| {
            (
                owners
                    .as_ref()
                    .and_then(|o| o.get(c.iy * nx + c.ix).copied()),
                c,
            )
        })
        .collect();
    Ok(Merged {
        surface,
        shards: count,
        missing_shards,
        missing_cells,
    })
}
