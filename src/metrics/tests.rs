//! The merge tree on analytic surfaces whose persistence is known, and against an independent
//! definition (minimax paths) on random ones.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::f64::consts::PI;

use super::topology::{Topology, topology};

fn axis(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
        .collect()
}

fn sample(x: &[f64], y: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<Vec<f64>> {
    y.iter()
        .map(|&b| x.iter().map(|&a| f(a, b)).collect())
        .collect()
}

fn centre_of(x: &[f64], y: &[f64]) -> (usize, usize) {
    (x.len() / 2, y.len() / 2)
}

#[test]
fn a_bowl_has_one_basin_covering_the_plane() {
    let (x, y) = (axis(-1.0, 1.0, 41), axis(-1.0, 1.0, 41));
    let v = sample(&x, &y, |a, b| a * a + 2.0 * b * b);
    let t = topology(&v, &x, &y, centre_of(&x, &y), 1e-6);
    assert_eq!(t.minima_total, 1);
    assert_eq!(t.basins, 1);
    assert_eq!(t.minima[0].death, None);
    assert_eq!((t.minima[0].ix, t.minima[0].iy), (20, 20));
    assert_eq!(t.minima[0].birth, 0.0);
    assert_eq!(t.main_basin_share, 1.0);
    assert!(t.centre_in_main_basin);
    assert!((t.top - 3.0).abs() < 1e-12);
}

/// (a² − 1)² + b² + c·a: two wells at a ≈ ±1 separated by a saddle near a = 0; the left well is
/// the lower (c > 0). Its known persistence on the grid: the saddle's value, the lowest value on
/// the column a = 0 (reached at b = 0), minus the right well's grid minimum.
#[test]
fn a_tilted_double_well_has_two_basins_until_tau_passes_the_barrier() {
    let c = 0.2;
    let f = |a: f64, b: f64| (a * a - 1.0).powi(2) + b * b + c * a;
    let (x, y) = (axis(-2.0, 2.0, 81), axis(-1.0, 1.0, 41));
    let v = sample(&x, &y, f);
    let t = topology(&v, &x, &y, centre_of(&x, &y), 0.1);
    assert_eq!(t.minima_total, 2);
    let (main, other) = (&t.minima[0], &t.minima[1]);
    assert_eq!(main.death, None);
    assert!(main.alpha < -0.9 && main.alpha > -1.1, "{main:?}");
    assert!(other.alpha > 0.9 && other.alpha < 1.1, "{other:?}");
    // The barrier crossed on the grid: the lowest of the columns near the saddle.
    let right_min = v
        .iter()
        .flatten()
        .zip(x.iter().cycle())
        .filter(|(_, a)| **a > 0.0)
        .map(|(v, _)| *v)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(other.birth, right_min);
    // The saddle of the continuous function is near a = −c/4 (4a(a² − 1) + c = 0); on the grid
    // the pass is the lowest column maximum between the wells, at b = 0.
    let row0 = &v[20];
    let (il, ir) = (
        x.iter().position(|&a| (a + 1.0).abs() < 1e-9).unwrap(),
        x.iter().position(|&a| (a - 1.0).abs() < 1e-9).unwrap(),
    );
    let pass = row0[il..=ir]
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let persistence = other.persistence().unwrap();
    assert!(
        (other.death.unwrap() - pass).abs() < 1e-12,
        "{other:?} vs pass {pass}"
    );
    // Analytic: f(saddle) − f(right well) = 1 − c to first order in c.
    assert!((persistence - (1.0 - c)).abs() < 0.02, "{persistence}");
    assert_eq!(t.basins, 2);
    // The right basin is what the right well floods before it spills over the pass: the cells
    // below the pass connected to it. Everything else, the higher ground included, is the main
    // basin's.
    let below = flood(&v, (other.ix, other.iy), other.death.unwrap());
    assert_eq!(other.basin_cells, below);
    assert_eq!(main.basin_cells + other.basin_cells, 81 * 41);
    assert!((t.main_basin_share - (1.0 - below as f64 / (81.0 * 41.0))).abs() < 1e-12);
    assert!(
        t.main_basin_share > 0.5 && t.main_basin_share < 0.9,
        "{}",
        t.main_basin_share
    );
    // Past the barrier the right well is noise: one basin, the whole plane.
    let t = topology(&v, &x, &y, centre_of(&x, &y), persistence + 1e-9);
    assert_eq!(t.basins, 1);
    assert_eq!(t.main_basin_share, 1.0);
    assert_eq!(t.minima[1].basin_cells, 0);
}

/// sin a · sin b on [0, 4π]²: eight wells of depth −1 (sin a = ±1, sin b = ∓1) in a
/// checkerboard whose negative squares touch only at corners of value 0: every well but the first
/// dies at 0, so seven bars of persistence 1 and one that never ends.
#[test]
fn an_egg_crate_has_eight_wells_of_persistence_one() {
    let (x, y) = (axis(0.0, 4.0 * PI, 65), axis(0.0, 4.0 * PI, 65));
    let v = sample(&x, &y, |a, b| a.sin() * b.sin());
    let t = topology(&v, &x, &y, centre_of(&x, &y), 0.5);
    assert_eq!(t.basins, 8, "{:?}", t.minima);
    assert_eq!(t.minima[0].death, None);
    let (wells, flat) = t.minima.split_at(8);
    for m in wells {
        assert!((m.birth + 1.0).abs() < 1e-12, "{m:?}");
        assert!((m.alpha.sin() * m.beta.sin() + 1.0).abs() < 1e-12);
    }
    for m in &wells[1..] {
        let p = m.persistence().unwrap();
        assert!((p - 1.0).abs() < 1e-9, "{m:?}");
    }
    // Rounding on the zero lines (sin kπ ≈ 1e-16) makes a few minima of persistence ~1e-16.
    for m in flat {
        assert!(m.persistence().unwrap() < 1e-12, "{m:?}");
        assert_eq!(m.basin_cells, 0);
    }
    // Each well's basin is its quarter-period square and its share of the zero lines.
    let total: usize = t.minima.iter().map(|m| m.basin_cells).sum();
    assert_eq!(total, 65 * 65);
    for m in wells {
        assert!(m.basin_cells >= 16 * 16 - 2 * 16, "{m:?}");
    }
    // Above persistence 1, the wells are one basin.
    let t = topology(&v, &x, &y, centre_of(&x, &y), 1.5);
    assert_eq!(t.basins, 1);
    assert_eq!(t.main_basin_share, 1.0);
}

/// −cos(πa)·(1 − a/10) on [−3, 3]: wells at a = −2, 0, 2 (−1.2, −1, −0.8) between peaks at
/// a = −1 (1.1) and a = 1 (0.9). The right well joins the centre one at 0.9 (persistence 1.7),
/// which joins the left one at 1.1 (persistence 2.1); θ* (a = 0) is not in the main basin.
#[test]
fn a_line_has_three_wells_and_the_centre_is_not_in_the_main_one() {
    let x = axis(-3.0, 3.0, 61);
    let y = vec![0.0];
    let v = sample(&x, &y, |a, _| -(PI * a).cos() * (1.0 - a / 10.0));
    let t = topology(&v, &x, &y, (30, 0), 0.01);
    assert_eq!(t.minima_total, 3, "{:?}", t.minima);
    assert_eq!(t.basins, 3);
    let alphas: Vec<f64> = t.minima.iter().map(|m| m.alpha).collect();
    assert_eq!(alphas, vec![-2.0, 0.0, 2.0]);
    assert_eq!(t.minima[0].death, None);
    assert!(
        (t.minima[1].persistence().unwrap() - 2.1).abs() < 1e-9,
        "{:?}",
        t.minima
    );
    assert!(
        (t.minima[2].persistence().unwrap() - 1.7).abs() < 1e-9,
        "{:?}",
        t.minima
    );
    let cells: Vec<usize> = t.minima.iter().map(|m| m.basin_cells).collect();
    assert_eq!(cells, vec![21, 20, 20]);
    assert!((t.main_basin_share - 21.0 / 61.0).abs() < 1e-12);
    assert!(!t.centre_in_main_basin);
    // τ between the two: the right well is merged into the centre's basin.
    let t = topology(&v, &x, &y, (30, 0), 1.8);
    assert_eq!(t.basins, 2);
    let cells: Vec<usize> = t.minima.iter().map(|m| m.basin_cells).collect();
    assert_eq!(cells, vec![21, 40, 0]);
}

#[test]
fn non_finite_cells_are_walls_that_never_join() {
    let x = axis(0.0, 4.0, 5);
    let y = vec![0.0];
    let v = vec![vec![0.0, 1.0, f64::NAN, 0.5, 2.0]];
    let t = topology(&v, &x, &y, (0, 0), 0.1);
    assert_eq!(t.minima_total, 2);
    assert_eq!(t.basins, 2);
    assert!(t.minima.iter().all(|m| m.death.is_none()));
    assert_eq!(t.top, 2.0);
    let json = serde_json::to_string(&t).unwrap();
    let back: Topology = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);
}

/// Cells below `level` 4-connected to `start`.
fn flood(v: &[Vec<f64>], start: (usize, usize), level: f64) -> usize {
    let (ny, nx) = (v.len(), v[0].len());
    let mut seen = vec![vec![false; nx]; ny];
    let mut stack = vec![start];
    let mut count = 0;
    while let Some((ix, iy)) = stack.pop() {
        if seen[iy][ix] || v[iy][ix] >= level {
            continue;
        }
        seen[iy][ix] = true;
        count += 1;
        if ix > 0 {
            stack.push((ix - 1, iy));
        }
        if ix + 1 < nx {
            stack.push((ix + 1, iy));
        }
        if iy > 0 {
            stack.push((ix, iy - 1));
        }
        if iy + 1 < ny {
            stack.push((ix, iy + 1));
        }
    }
    count
}

/// Independent definition: a minimum (a cell earlier in the order than all its neighbours) dies
/// at the lowest level at which a path joins it to a cell earlier in the order; that level is the
/// minimax of the path (a bottleneck search, Dijkstra on the maximum rank along the path).
fn deaths_by_paths(v: &[Vec<f64>]) -> Vec<(usize, Option<f64>)> {
    let (ny, nx) = (v.len(), v[0].len());
    let flat: Vec<f64> = v.iter().flatten().copied().collect();
    let mut order: Vec<usize> = (0..flat.len()).collect();
    order.sort_by(|&a, &b| flat[a].total_cmp(&flat[b]).then(a.cmp(&b)));
    let mut rank = vec![0; flat.len()];
    for (r, &k) in order.iter().enumerate() {
        rank[k] = r;
    }
    let neighbours = |k: usize| {
        let (ix, iy) = (k % nx, k / nx);
        let mut out = Vec::new();
        if ix > 0 {
            out.push(k - 1);
        }
        if ix + 1 < nx {
            out.push(k + 1);
        }
        if iy > 0 {
            out.push(k - nx);
        }
        if iy + 1 < ny {
            out.push(k + nx);
        }
        out
    };
    let mut out = Vec::new();
    for k in 0..flat.len() {
        if neighbours(k).iter().any(|&q| rank[q] < rank[k]) {
            continue;
        }
        let mut best = vec![usize::MAX; flat.len()];
        let mut heap = BinaryHeap::new();
        best[k] = rank[k];
        heap.push(Reverse((rank[k], k)));
        let mut death = None;
        while let Some(Reverse((level, q))) = heap.pop() {
            if level > best[q] {
                continue;
            }
            if rank[q] < rank[k] {
                death = Some(flat[order[level]]);
                break;
            }
            for n in neighbours(q) {
                let l = level.max(rank[n]);
                if l < best[n] {
                    best[n] = l;
                    heap.push(Reverse((l, n)));
                }
            }
        }
        out.push((k, death));
    }
    out
}

#[test]
fn random_surfaces_agree_with_minimax_paths() {
    // A small linear congruential generator: the test needs no crate for its noise.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for (nx, ny) in [(17, 13), (31, 1), (9, 23), (19, 17)] {
        let (x, y) = (
            axis(-1.0, 1.0, nx),
            if ny == 1 {
                vec![0.0]
            } else {
                axis(-1.0, 1.0, ny)
            },
        );
        let v: Vec<Vec<f64>> = (0..ny).map(|_| (0..nx).map(|_| next()).collect()).collect();
        let t = topology(&v, &x, &y, (nx / 2, ny / 2), 0.0);
        let mut expected = deaths_by_paths(&v);
        assert_eq!(t.minima_total, expected.len());
        // The kept minima are the most persistent, in the same order.
        let flat: Vec<f64> = v.iter().flatten().copied().collect();
        let persistence = |(k, d): &(usize, Option<f64>)| d.map_or(f64::INFINITY, |d| d - flat[*k]);
        expected.sort_by(|a, b| persistence(b).total_cmp(&persistence(a)));
        expected.truncate(super::topology::MAX_MINIMA_KEPT);
        let got: Vec<(usize, Option<f64>)> = t
            .minima
            .iter()
            .map(|m| (m.iy * nx + m.ix, m.death))
            .collect();
        assert_eq!(got, expected, "{nx}×{ny}");
        // τ = 0: every minimum is its own basin (random values have no ties).
        assert_eq!(t.basins, t.minima_total);
    }
}
