//! `vitscape figure`: several surfaces as one figure for a paper (PNG at a stated resolution and
//! SVG), side by side on one colour scale with one colour bar and a caption from their specs.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use vitscape::landscape::surface::Surface;
use vitscape::plot::{self, ColourMap, PanelKind, PrintSize};

use super::merge::read_surface;

/// What each panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Filled cells with white iso-lines.
    Heatmap,
    /// Labelled iso-lines over pale bands.
    Contour,
}

/// Flags of `vitscape figure`.
#[derive(Args, Debug)]
pub struct FigureArgs {
    /// The surfaces, left to right: sweep output folders or their surface.json.
    #[arg(required = true)]
    pub surfaces: Vec<PathBuf>,
    /// Output path without extension: writes PATH.png and PATH.svg.
    #[arg(long)]
    pub out: PathBuf,
    /// Panel titles, one per surface (default: each checkpoint's file name).
    #[arg(long, num_args = 1..)]
    pub labels: Vec<String>,
    /// What each panel shows.
    #[arg(long, value_enum, default_value = "heatmap")]
    pub kind: Kind,
    /// Metric to draw.
    #[arg(long, default_value = vitscape::landscape::surface::LOSS)]
    pub metric: String,
    /// Printed width in inches (7: a two-column page's full width).
    #[arg(long, default_value_t = 7.0)]
    pub width_in: f64,
    /// Resolution of the PNG in pixels per inch (recorded in the file).
    #[arg(long, default_value_t = 300.0)]
    pub dpi: f64,
    /// Caption text (default: one built from the surfaces' specs; "" for none).
    #[arg(long)]
    pub caption: Option<String>,
    /// Log colour scale.
    #[arg(long)]
    pub log_scale: bool,
    /// Colour map: viridis, magma or cividis (the diverging one has no scale shared by panels).
    #[arg(long, default_value_t = ColourMap::Viridis)]
    pub colour_map: ColourMap,
}

/// `vitscape figure`.
pub fn run(args: FigureArgs) -> Result<()> {
    if !(args.width_in.is_finite() && (1.0..=40.0).contains(&args.width_in)) {
        bail!(
            "--width-in {} is not a printable width (1 to 40 inches)",
            args.width_in
        );
    }
    if !(args.dpi.is_finite() && (72.0..=1200.0).contains(&args.dpi)) {
        bail!("--dpi {} is outside 72 to 1200", args.dpi);
    }
    if !args.labels.is_empty() && args.labels.len() != args.surfaces.len() {
        bail!(
            "{} labels for {} surfaces: give one per surface, in the same order",
            args.labels.len(),
            args.surfaces.len()
        );
    }
    let surfaces: Vec<Surface> = args
        .surfaces
        .iter()
        .map(|p| read_surface(p))
        .collect::<Result<_>>()?;
    for (path, s) in args.surfaces.iter().zip(&surfaces) {
        if s.is_1d() || s.x.len() < 2 || s.y.len() < 2 {
            bail!(
                "{} is a 1-D surface; a comparison figure draws 2-D planes",
                path.display()
            );
        }
        let (done, total) = s.progress();
        if done < total {
            eprintln!(
                "warning: {} has {done} of {total} cells; the missing ones are drawn grey",
                path.display()
            );
        }
    }
    let labels: Vec<String> = if args.labels.is_empty() {
        surfaces
            .iter()
            .map(|s| file_name(&s.spec.checkpoint.name))
            .collect()
    } else {
        args.labels.clone()
    };
    let panels: Vec<(String, &Surface)> = labels.iter().cloned().zip(&surfaces).collect();
    let specs: Vec<(String, &vitscape::spec::SweepSpec)> =
        panels.iter().map(|(l, s)| (l.clone(), &s.spec)).collect();
    let caption = match &args.caption {
        Some(c) => c.clone(),
        None => vitscape::spec::describe::caption(&specs, &args.metric, true),
    };
    let options = plot::PlotOptions {
        metric: args.metric.clone(),
        log_scale: args.log_scale,
        colour_map: args.colour_map,
        ..plot::PlotOptions::default()
    };
    let kind = match args.kind {
        Kind::Heatmap => PanelKind::Heatmap,
        Kind::Contour => PanelKind::Contour,
    };
    let print = PrintSize {
        width_in: args.width_in,
        dpi: args.dpi,
    };
    let written = plot::write_comparison(&args.out, &panels, &options, kind, print, &caption)
        .context("drawing the figure")?;
    if let Some((lo, hi)) = plot::shared_range(surfaces.iter(), &args.metric, args.log_scale) {
        eprintln!(
            "one colour scale for all panels: {} from {lo} to {hi}",
            args.metric
        );
    }
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    let high = inches_high(&panels, print, &caption);
    eprintln!(
        "{} × {high:.2} in at {} dpi; caption: {caption}",
        args.width_in, args.dpi
    );
    Ok(())
}

fn inches_high(panels: &[(String, &Surface)], print: PrintSize, caption: &str) -> f64 {
    let layout = plot::ComparisonLayout::new(
        panels,
        print.width_px(print.dpi),
        PrintSize::text_scale(print.dpi),
        caption,
    );
    f64::from(layout.size.1) / print.dpi
}

fn file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.strip_suffix(".safetensors")
        .or_else(|| base.strip_suffix(".pth"))
        .unwrap_or(base)
        .to_string()
}
