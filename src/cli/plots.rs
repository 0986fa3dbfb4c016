//! The figure flags shared by `vitscape sweep`, `vitscape curvature` and `vitscape merge`.

use clap::Args;
use vitscape::plot::{ColourMap, PlotOptions};

/// How the figures are drawn (none of it changes a number).
#[derive(Args, Debug, Clone, Copy)]
pub struct PlotFlags {
    /// Log colour scale in plots.
    #[arg(long)]
    pub log_scale: bool,
    /// Colour map of the figures: viridis, magma, cividis, or diverging (blue below the loss at
    /// θ*, white at it, red above: the colours show L − L(0)).
    #[arg(long, default_value_t = ColourMap::Viridis)]
    pub colour_map: ColourMap,
    /// Skip the figures (data files only).
    #[arg(long)]
    pub no_plots: bool,
}

impl PlotFlags {
    /// The figures' options.
    pub fn options(&self) -> PlotOptions {
        PlotOptions {
            log_scale: self.log_scale,
            colour_map: self.colour_map,
            ..PlotOptions::default()
        }
    }
}
