//! `vitscape merge` (the parts of a sharded sweep into one surface) and `vitscape status` (how
//! far each part is).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use vitscape::demo::verdict::VerdictPart;
use vitscape::landscape::surface::Surface;
use vitscape::landscape::sweep::{self, Shard};
use vitscape::metrics::Tau;
use vitscape::plot;

use super::sweep::unix_now;

/// Flags of `vitscape merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Output folder for the merged surface.json, CSV and figures.
    #[arg(long)]
    pub out: PathBuf,
    /// The parts: each a folder (or its surface.json) written by `vitscape sweep --shard`.
    #[arg(required = true)]
    pub parts: Vec<PathBuf>,
    #[command(flatten)]
    pub plots: super::plots::PlotFlags,
    /// τ in loss units for the basin summary (default: the τ the parts were swept with, as
    /// `vitscape sweep --tau/--tau-relative` recorded it).
    #[arg(long, conflicts_with = "tau_relative")]
    pub tau: Option<f64>,
    /// τ as a fraction of |L(0)| (default: the parts' τ; for parts that recorded none, 0.1).
    #[arg(long)]
    pub tau_relative: Option<f64>,
}

/// Flags of `vitscape status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Output folders of running or finished sweeps and convexity maps (shards or whole grids),
    /// and verdict part files (`vitscape verdict --shard K/N --out FILE`).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
}

fn surface_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("surface.json")
    } else {
        path.to_path_buf()
    }
}

pub(super) fn read_surface(path: &Path) -> Result<Surface> {
    let file = surface_file(path);
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a vitscape surface", file.display()))
}

/// τ of the merged summary: the merge's flags, else the one the parts were swept with (they
/// must agree), else the default relative τ.
fn merge_tau(args: &MergeArgs, parts: &[(String, Surface)]) -> Result<Tau> {
    if args.tau.is_some() || args.tau_relative.is_some() {
        return Ok(super::sweep::tau_of(
            args.tau,
            args.tau_relative
                .unwrap_or(vitscape::demo::verdict::TAU_RELATIVE),
        ));
    }
    let mut recorded: Option<(Tau, &str)> = None;
    for (name, part) in parts {
        match (part.info.summary_tau, recorded) {
            (Some(t), Some((first, first_name))) if t != first => bail!(
                "the parts were swept with different τ ({first} in {first_name}, {t} in {name}): \
                 give the merge --tau or --tau-relative"
            ),
            (Some(t), None) => recorded = Some((t, name.as_str())),
            _ => {}
        }
    }
    let tau = recorded.map_or(
        Tau::Relative(vitscape::demo::verdict::TAU_RELATIVE),
        |(t, _)| t,
    );
    eprintln!(
        "basin summary τ: {tau} ({}; --tau or --tau-relative sets another)",
        if recorded.is_some() {
            "the parts' own"
        } else {
            "the default: the parts recorded none"
        }
    );
    Ok(tau)
}

/// `(ix, iy)` lists, shortened past `max`.
fn cell_list(cells: &[vitscape::landscape::surface::Cell], max: usize) -> String {
    let mut out: Vec<String> = cells
        .iter()
        .take(max)
        .map(|c| format!("({}, {})", c.ix, c.iy))
        .collect();
    if cells.len() > max {
        out.push(format!("… {} more", cells.len() - max));
    }
    out.join(" ")
}

/// `vitscape merge`.
pub fn run(args: MergeArgs) -> Result<()> {
    let mut parts = Vec::new();
    for path in &args.parts {
        parts.push((
            surface_file(path).display().to_string(),
            read_surface(path)?,
        ));
    }
    let merged = sweep::merge(&parts)?;
    let mut surface = merged.surface.clone();
    let (nx, ny) = (surface.x.len(), surface.y.len());
    super::output_folder(&args.out)?;
    let target = args.out.join("surface.json");
    // Compared as the same file (./p0, p0/../p0 and links are one folder), not as text.
    let out_dir = std::fs::canonicalize(&args.out)
        .with_context(|| format!("resolving {}", args.out.display()))?;
    for path in &args.parts {
        let part_dir = std::fs::canonicalize(surface_file(path))
            .ok()
            .and_then(|f| f.parent().map(Path::to_path_buf));
        if part_dir.as_deref() == Some(out_dir.as_path()) {
            bail!(
                "--out {} is the part {}; merge into another folder",
                args.out.display(),
                path.display()
            );
        }
    }
    // A convexity map (`vitscape curvature --parts convexity --shard`) gets its convex fraction
    // and its own figure, as `vitscape curvature` writes them; a landscape its basin summary.
    let convexity = vitscape::curvature::convex_fraction(&surface);
    if merged.complete()
        && let Some(fraction) = convexity
    {
        eprintln!(
            "convexity map: {:.3} of cells have |λmin/λmax| < {}",
            fraction.fraction, fraction.threshold
        );
        surface.info.convex_fraction = Some(fraction);
    } else if merged.complete() {
        let tau = merge_tau(&args, &parts)?;
        match vitscape::metrics::summarise(&surface, "loss", tau, 64) {
            Ok(summary) => {
                if let Some(t) = &summary.topology {
                    eprintln!("{}", t.describe());
                }
                surface.info.summary_loss = Some(summary);
                surface.info.summary_tau = Some(tau);
            }
            Err(e) => eprintln!("no landscape summary: {e}"),
        }
        super::record_barrier(&mut surface);
    } else {
        eprintln!(
            "partial: {} of {} cells missing",
            merged.missing_cells.len(),
            nx * ny
        );
        if let Some(count) = merged.shards {
            if !merged.missing_shards.is_empty() {
                let list: Vec<String> = merged
                    .missing_shards
                    .iter()
                    .map(|k| format!("{k}/{count}"))
                    .collect();
                eprintln!("  shards with no part: {}", list.join(", "));
            }
            for k in 0..count {
                let cells: Vec<_> = merged
                    .missing_cells
                    .iter()
                    .filter(|(owner, _)| *owner == Some(k))
                    .map(|(_, c)| *c)
                    .collect();
                if !cells.is_empty() {
                    eprintln!(
                        "  shard {k}/{count}: {} cells missing (ix, iy): {}",
                        cells.len(),
                        cell_list(&cells, 12)
                    );
                }
            }
        } else {
            let cells: Vec<_> = merged.missing_cells.iter().map(|(_, c)| *c).collect();
            eprintln!("  cells missing (ix, iy): {}", cell_list(&cells, 24));
        }
    }
    super::sweep::save_json(&target, &surface)?;
    vitscape::io::atomic::write(&args.out.join("surface.csv"), surface.to_csv().as_bytes())?;
    if !args.plots.no_plots && merged.complete() {
        let options = args.plots.options();
        if convexity.is_some() {
            plot::write_convexity(&surface, &args.out, &options)?;
        } else {
            plot::write_all(&surface, &args.out, &options)?;
        }
    }
    let done = nx * ny - merged.missing_cells.len();
    eprintln!(
        "merged {} parts into {} ({done} of {} cells)",
        parts.len(),
        args.out.display(),
        nx * ny
    );
    // A partial surface is written, but a scheduler's merge job must not look successful.
    if !merged.complete() {
        bail!(
            "the merge is partial ({} of {} cells missing, listed above); {} holds what there is",
            merged.missing_cells.len(),
            nx * ny,
            target.display()
        );
    }
    Ok(())
}

/// `vitscape status`: for each sweep or convexity-map folder, the cells done; for each verdict
/// part file (`vitscape verdict --shard`), the sweeps done; each with an ETA from its clock.
pub fn status(args: StatusArgs) -> Result<()> {
    let now = unix_now();
    for dir in &args.dirs {
        let file = surface_file(dir);
        let value = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))
            .and_then(|text| {
                serde_json::from_str::<serde_json::Value>(&text)
                    .with_context(|| format!("{} is not JSON", file.display()))
            });
        let value = match value {
            Ok(v) => v,
            Err(e) => {
                println!("{}: not started ({e:#})", dir.display());
                continue;
            }
        };
        // A file that is neither is named, and the others are still reported.
        let line = if value.get("sweeps").is_some() && value.get("shard").is_some() {
            let part: VerdictPart = match serde_json::from_value(value) {
                Ok(p) => p,
                Err(e) => {
                    println!("{}: not a vitscape verdict part ({e})", file.display());
                    continue;
                }
            };
            let total = (part.total > 0).then_some(part.total);
            progress(
                format!("verdict shard {}", part.shard),
                (part.sweeps.len(), total),
                "sweeps",
                part.clock,
                now,
            )
        } else {
            let surface: Surface = match serde_json::from_value(value) {
                Ok(s) => s,
                Err(e) => {
                    println!("{}: not a vitscape surface ({e})", file.display());
                    continue;
                }
            };
            let (nx, ny) = (surface.x.len(), surface.y.len());
            let (done, _) = surface.progress();
            let (what, total) = match surface.info.shard {
                Some(s) => (format!("shard {s}"), Shard::cells(&s, nx, ny).len()),
                None => ("whole grid".to_string(), nx * ny),
            };
            progress(what, (done, Some(total)), "cells", surface.info.clock, now)
        };
        println!("{}: {line}", dir.display());
    }
    Ok(())
}

/// "shard 1/4, 12/40 cells, 0.50 cells/s, ETA 56 s after its last save, last saved 3 s ago":
/// `done` of `total` units (unknown for a verdict part written before totals were recorded),
/// the rate and ETA from the clock.
fn progress(
    what: String,
    (done, total): (usize, Option<usize>),
    unit: &str,
    clock: Option<vitscape::landscape::surface::Clock>,
    now: f64,
) -> String {
    let mut line = match total {
        Some(total) => format!("{what}, {done}/{total} {unit}"),
        None => format!("{what}, {done} {unit} (its total is not recorded)"),
    };
    if let Some(clock) = clock {
        let computed = done.saturating_sub(clock.cells_at_start);
        let elapsed = (clock.saved - clock.started).max(0.0);
        let idle = (now - clock.saved).max(0.0);
        match total {
            Some(total) if done >= total => line.push_str(", done"),
            Some(total) if computed > 0 && elapsed > 0.0 => {
                let eta = elapsed / computed as f64 * (total - done) as f64;
                // A sweep takes minutes, a cell seconds.
                let (rate, per) = match unit {
                    "sweeps" => (computed as f64 / elapsed * 60.0, "min"),
                    _ => (computed as f64 / elapsed, "s"),
                };
                line.push_str(&format!(
                    ", {rate:.2} {unit}/{per}, ETA {} after its last save",
                    duration(eta)
                ));
            }
            _ => {}
        }
        line.push_str(&format!(", last saved {} ago", duration(idle)));
    }
    line
}

fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}
