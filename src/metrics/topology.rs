//! The topology of a surface's sublevel sets: its merge tree, read as 0-dimensional persistence.
//!
//! Cells are added in increasing order of value (ties by row-major index); a cell with no earlier
//! neighbour (4-neighbours on a plane, 2 on a line) starts a component at a minimum; a cell that
//! touches several components joins them, and every one but the oldest (lowest birth, the elder
//! rule) dies at that cell's value. A minimum's persistence is death − birth; the global minimum
//! never dies. Union-find keeps it O(n α(n)) after the sort (Edelsbrunner & Harer, *Computational
//! Topology*, VII.1).
//!
//! Basins: each cell belongs to the component it joined when added, so a minimum's basin is what it
//! floods before spilling over into an older one (the connected cells below its death level), and
//! the higher ground belongs to the older basin it joined. Minima of persistence ≤ τ are merged
//! into the minimum that absorbed them, so a basin is what remains of one significant minimum.
//! Non-finite cells are added last, as +∞: components that only meet through them never die.

use serde::{Deserialize, Serialize};

/// Minima kept in [`Topology::minima`] (the most persistent; the count of all is recorded).
pub const MAX_MINIMA_KEPT: usize = 32;

/// One local minimum of the surface and its bar in the barcode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Minimum {
    /// Column of the minimum.
    pub ix: usize,
    /// Row of the minimum (0 on a line).
    pub iy: usize,
    /// α at the minimum.
    pub alpha: f64,
    /// β at the minimum.
    pub beta: f64,
    /// Its value: where its bar starts.
    pub birth: f64,
    /// The value at which its component joins an older one; `None`: never (the global minimum,
    /// or one that meets the others only through non-finite cells).
    pub death: Option<f64>,
    /// Cells of its basin once the minima of persistence ≤ τ are merged away (0 for those).
    pub basin_cells: usize,
}

impl Minimum {
    /// death − birth; `None` for a bar that never ends.
    pub fn persistence(&self) -> Option<f64> {
        self.death.map(|d| d - self.birth)
    }

    /// Whether this minimum outlives τ (a bar that never ends always does).
    pub fn significant(&self, tau: f64) -> bool {
        self.persistence().is_none_or(|p| p > tau)
    }
}

/// The merge tree of one metric over the grid, summarised at a threshold τ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    /// The persistence threshold (units of the metric): the summary's τ.
    pub tau: f64,
    /// Every local minimum found.
    pub minima_total: usize,
    /// The [`MAX_MINIMA_KEPT`] most persistent minima, most persistent first (ties: lower first).
    pub minima: Vec<Minimum>,
    /// Minima whose persistence exceeds τ (the global minimum counts): the basins.
    pub basins: usize,
    /// Cells in the global minimum's basin over all cells.
    pub main_basin_share: f64,
    /// Whether the centre cell (θ*) lies in the global minimum's basin.
    pub centre_in_main_basin: bool,
    /// The highest finite value on the grid: where bars that never end are drawn to.
    pub top: f64,
}

impl Topology {
    /// One line for the CLI: minima, basins, the main basin's share and the longest finite bars.
    pub fn describe(&self) -> String {
        let bars: Vec<String> = self
            .minima
            .iter()
            .filter_map(|m| m.persistence().filter(|&p| p > self.tau))
            .take(3)
            .map(|p| format!("{p:.4}"))
            .collect();
        format!(
            "merge tree: {}, {} basin{} with persistence > τ = {:.4}{}; main basin {:.1} % of the plane, θ* {}",
            minima_count(self.minima_total),
            self.basins,
            if self.basins == 1 { "" } else { "s" },
            self.tau,
            if bars.is_empty() {
                String::new()
            } else {
                format!(" (the others' persistence: {})", bars.join(", "))
            },
            self.main_basin_share * 100.0,
            if self.centre_in_main_basin {
                "in it"
            } else {
                "in another basin"
            }
        )
    }
}

/// The merge tree of `values` (`[iy][ix]`, rectangular, at least one cell) on the axes `x`, `y`,
/// with basins merged at persistence ≤ `tau`; `centre` is the (ix, iy) of θ*.
pub fn topology(
    values: &[Vec<f64>],
    x: &[f64],
    y: &[f64],
    centre: (usize, usize),
    tau: f64,
) -> Topology {
    let ny = values.len();
    let nx = values.first().map_or(0, Vec::len);
    let n = nx * ny;
    let key: Vec<f64> = values
        .iter()
        .flatten()
        .map(|&v| if v.is_finite() { v } else { f64::INFINITY })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| key[a].total_cmp(&key[b]).then(a.cmp(&b)));

    const ABSENT: usize = usize::MAX;
    let mut parent = vec![ABSENT; n];
    // The minimum (index into `births`) of each root; minima are numbered in order of birth, so
    // a lower number is older.
    let mut minimum_of = vec![0usize; n];
    let mut label = vec![0usize; n];
    let mut births: Vec<usize> = Vec::new();
    let mut death: Vec<Option<f64>> = Vec::new();
    let mut killer: Vec<usize> = Vec::new();
    let mut roots: Vec<usize> = Vec::with_capacity(4);
    for &k in &order {
        let (ix, iy) = (k % nx.max(1), k / nx.max(1));
        roots.clear();
        let mut visit = |q: usize, parent: &mut Vec<usize>| {
            if parent[q] != ABSENT {
                let r = find(parent, q);
                if !roots.contains(&r) {
                    roots.push(r);
                }
            }
        };
        if ix > 0 {
            visit(k - 1, &mut parent);
        }
        if ix + 1 < nx {
            visit(k + 1, &mut parent);
        }
        if iy > 0 {
            visit(k - nx, &mut parent);
        }
        if iy + 1 < ny {
            visit(k + nx, &mut parent);
        }
        parent[k] = k;
        let Some(&elder) = roots.iter().min_by_key(|&&r| minimum_of[r]) else {
            // A new component: a local minimum.
            minimum_of[k] = births.len();
            label[k] = births.len();
            births.push(k);
            death.push(None);
            killer.push(0);
            continue;
        };
        let oldest = minimum_of[elder];
        label[k] = oldest;
        parent[k] = elder;
        for &r in roots.iter().filter(|&&r| r != elder) {
            let m = minimum_of[r];
            death[m] = key[k].is_finite().then_some(key[k]);
            killer[m] = oldest;
            parent[r] = elder;
        }
    }

    // Each minimum stands for itself if it outlives τ, else for what its killer stands for
    // (always an older minimum, so already known).
    let persistence = |m: usize| death[m].map(|d| d - key[births[m]]);
    let mut stands_for = vec![0usize; births.len()];
    for m in 0..births.len() {
        stands_for[m] = if persistence(m).is_none_or(|p| p > tau) {
            m
        } else {
            stands_for[killer[m]]
        };
    }
    let mut basin_cells = vec![0usize; births.len()];
    for &l in &label {
        basin_cells[stands_for[l]] += 1;
    }
    let centre_cell = centre.1.min(ny.saturating_sub(1)) * nx + centre.0.min(nx.saturating_sub(1));
    let mut minima: Vec<Minimum> = births
        .iter()
        .enumerate()
        .map(|(m, &k)| Minimum {
            ix: k % nx,
            iy: k / nx,
            alpha: x.get(k % nx).copied().unwrap_or(f64::NAN),
            beta: y.get(k / nx).copied().unwrap_or(0.0),
            birth: key[k],
            death: death[m],
            basin_cells: basin_cells[m],
        })
        .collect();
    let basins = minima.iter().filter(|m| m.significant(tau)).count();
    let main_basin_share = basin_cells
        .first()
        .map_or(0.0, |&c| c as f64 / n.max(1) as f64);
    let centre_in_main_basin = n > 0 && stands_for[label[centre_cell]] == 0;
    let minima_total = minima.len();
    // Most persistent first (bars that never end before all others), then the lower birth.
    minima.sort_by(|a, b| {
        let p = |m: &Minimum| m.persistence().unwrap_or(f64::INFINITY);
        p(b).total_cmp(&p(a)).then(a.birth.total_cmp(&b.birth))
    });
    minima.truncate(MAX_MINIMA_KEPT);
    let top = key
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    Topology {
        tau,
        minima_total,
        minima,
        basins,
        main_basin_share,
        centre_in_main_basin,
        top,
    }
}

/// The root of `q`'s component, compressing the path behind it.
fn find(parent: &mut [usize], q: usize) -> usize {
    let mut root = q;
    while parent[root] != root {
        root = parent[root];
    }
    let mut p = q;
    while parent[p] != root {
        let next = parent[p];
        parent[p] = root;
        p = next;
    }
    root
}

/// "1 minimum", "3 minima".
pub(crate) fn minima_count(n: usize) -> String {
    if n == 1 {
        "1 minimum".into()
    } else {
        format!("{n} minima")
    }
}
