//! The barcode of a surface's merge tree ([`crate::metrics::topology`]): one bar per minimum, from
//! its value to the level at which it joins an older basin, most persistent at the top. Bars
//! longer than τ (the basins) are blue, the rest grey; a bar that never ends runs to the highest
//! value on the grid and ends in an arrow.

use super::*;
use crate::metrics::topology::{Minimum, Topology};

/// Bars drawn at most; the caption counts the rest.
pub const MAX_BARS: usize = 24;

/// Draw the barcode of `t` under `title`; `x_desc` names the metric (the bars' units).
pub fn draw_barcode<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: &Topology,
    title: &str,
    x_desc: &str,
) -> Result<(), PlotError> {
    let sz = Sizes::of(area);
    let body = start_figure(area, title, sz)?;
    // Minima born at a non-finite value (cells where the loss overflowed) have no bar to draw.
    let bars: Vec<&Minimum> = t
        .minima
        .iter()
        .filter(|m| m.birth.is_finite())
        .take(MAX_BARS)
        .collect();
    let Some(lo) = bars.iter().map(|m| m.birth).reduce(f64::min) else {
        return Err(PlotError::Backend("no finite minima to draw".into()));
    };
    let mut hi = t.top.max(lo);
    if hi - lo <= 0.0 {
        hi = lo + 1.0;
    }
    let pad = (hi - lo) * 0.04;
    let rows = bars.len() as f64;
    let (_, h) = body.dim_in_pixel();
    let (chart_area, caption) = body.split_vertically(h.saturating_sub(sz.px(22.0).min(h / 3)));
    let mut chart = ChartBuilder::on(&chart_area)
        .margin(sz.px(10.0))
        .x_label_area_size(sz.px(46.0))
        .y_label_area_size(sz.px(34.0))
        .build_cartesian_2d(lo - pad..hi + pad, 0.0..rows)
        .or_backend()?;
    let format = |v: &f64| format_sig(*v);
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(x_desc)
        .y_desc("minima")
        .label_style(sz.tick())
        .axis_desc_style(sz.small())
        .x_label_formatter(&format)
        .draw()
        .or_backend()?;
    let basin = RGBColor(42, 111, 176);
    let noise = RGBColor(160, 160, 160);
    let thickness = 0.32;
    for (i, m) in bars.iter().enumerate() {
        let y = rows - i as f64 - 0.5;
        let colour = if m.significant(t.tau) { basin } else { noise };
        let end = m.death.unwrap_or(hi);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(m.birth, y - thickness), (end.max(m.birth), y + thickness)],
                colour.filled(),
            )))
            .or_backend()?;
        if m.death.is_none() {
            // An arrow head past the top: this basin never merges.
            let w = (hi - lo) * 0.025;
            chart
                .draw_series(std::iter::once(Polygon::new(
                    vec![(end, y - 0.45), (end + w, y), (end, y + 0.45)],
                    colour.filled(),
                )))
                .or_backend()?;
        }
    }
    let shown = if t.minima_total > bars.len() {
        format!("; {} shorter bars not drawn", t.minima_total - bars.len())
    } else {
        String::new()
    };
    let text = format!(
        "{}, {} basin{} (persistence > τ = {}, blue); main basin {:.0} % of the plane, θ* {}{shown}",
        crate::metrics::topology::minima_count(t.minima_total),
        t.basins,
        if t.basins == 1 { "" } else { "s" },
        format_sig(t.tau),
        t.main_basin_share * 100.0,
        if t.centre_in_main_basin {
            "in it"
        } else {
            "in another"
        },
    );
    caption
        .draw(&Text::new(
            text,
            (sz.px(8.0) as i32, 0),
            sz.small().pos(Pos::new(HPos::Left, VPos::Top)),
        ))
        .or_backend()?;
    area.present().or_backend()
}
