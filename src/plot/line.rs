//! 1-D curves (loss and accuracy against α) and their legend.

use super::*;

/// A curve to draw: runs of computed points (uncomputed points break the line).
pub(crate) struct Curve {
    pub(crate) runs: Vec<Vec<(f64, f64)>>,
    pub(crate) lo: f64,
    pub(crate) hi: f64,
}

/// The row `iy` of a metric as a curve over α, or `None` when nothing in it is computed.
pub(crate) fn curve(s: &Surface, metric: &str, iy: usize, positive_only: bool) -> Option<Curve> {
    let row = s.metrics.get(metric)?.get(iy)?;
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for (x, v) in s.x.iter().zip(row) {
        match v.filter(|v| v.is_finite() && (!positive_only || *v > 0.0)) {
            Some(v) => run.push((*x, v)),
            None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
            None => {}
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    let (lo, hi) = runs
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    lo.is_finite().then_some(Curve { runs, lo, hi })
}

/// 1-D curves over α: the metric on the left axis and, when the surface has it, accuracy on a
/// secondary right axis, with a legend above the plot. For a 2-D surface, the row nearest β = 0.
pub fn draw_line<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Surface,
    o: &PlotOptions,
) -> Result<(), PlotError> {
    let field = prepare(s, o)?; // validates the metric and colour range
    let iy = s.centre_cell().1;
    let main = curve(s, &o.metric, iy, o.log_scale).ok_or_else(|| PlotError::NoData {
        metric: o.metric.clone(),
    })?;
    let accuracy = if o.metric == ACCURACY {
        None
    } else {
        curve(s, ACCURACY, iy, false)
    };
    let suffix = if s.is_1d() {
        String::new()
    } else {
        format!(" (β = {})", format_sig(s.y[iy]))
    };
    let sz = Sizes::of(area);
    let body = start_figure(area, &title_text(s, o, &suffix), sz)?;
    let (lo, hi) = match o.color_range {
        Some(range) => range,
        None => (main.lo, main.hi),
    };
    if field.log {
        let hi = if hi > 0.0 { hi } else { main.hi };
        let (lo, hi) = (lo.max(main.lo.min(hi)), hi);
        let (lo, hi) = if hi / lo < 1.0 + 1e-9 {
            (lo / 1.5, hi * 1.5)
        } else {
            (lo, hi)
        };
        let pad = (hi / lo).powf(0.05);
        let range = (lo / pad..hi * pad).log_scale();
        let ticks = log_ticks(lo / pad, hi * pad, 8);
        line_chart(
            &body,
            s,
            o,
            &main,
            accuracy.as_ref(),
            range.with_key_points(ticks),
            sz,
        )?;
    } else {
        let pad = if hi > lo {
            (hi - lo) * 0.05
        } else {
            lo.abs().max(1.0) * 0.05
        };
        line_chart(
            &body,
            s,
            o,
            &main,
            accuracy.as_ref(),
            lo - pad..hi + pad,
            sz,
        )?;
    }
    area.present().or_backend()
}

/// [`draw_line`] for a linear or logarithmic left axis.
pub(crate) fn line_chart<DB, YR>(
    area: &DrawingArea<DB, Shift>,
    s: &Surface,
    o: &PlotOptions,
    main: &Curve,
    accuracy: Option<&Curve>,
    y_range: YR,
    sz: Sizes,
) -> Result<(), PlotError>
where
    DB: DrawingBackend,
    YR: AsRangedCoord<Value = f64>,
    YR::CoordDescType: ValueFormatter<f64>,
{
    let (mut x0, mut x1) = (s.x[0], s.x[s.x.len() - 1]);
    if x1 <= x0 {
        x0 -= 0.5;
        x1 += 0.5;
    }
    let legend_height = sz.px(34.0);
    let (legend, plot) = area.split_vertically(legend_height);
    let mut chart = ChartBuilder::on(&plot)
        .margin_top(sz.px(6.0))
        .margin_bottom(sz.px(10.0))
        .margin_left(sz.px(12.0))
        .margin_right(if accuracy.is_some() {
            sz.px(6.0)
        } else {
            sz.px(30.0)
        })
        .x_label_area_size(sz.px(58.0))
        .y_label_area_size(sz.px(78.0))
        .right_y_label_area_size(if accuracy.is_some() { sz.px(78.0) } else { 0 })
        .build_cartesian_2d(x0..x1, y_range)
        .or_backend()?;
    let format = |v: &f64| format_sig(*v);
    let y_label = scale_label(o);
    // A path between two checkpoints runs along t (0 at θ*, 1 at the other end).
    let x_label = match &s.spec.directions.source {
        crate::spec::DirectionSource::Interpolate { .. } => {
            "t (0: this checkpoint, 1: the other end; straight line)"
        }
        crate::spec::DirectionSource::Bezier { .. } => {
            "t (0: this checkpoint, 1: the other end; Bézier curve)"
        }
        _ => "α (direction x)",
    };
    draw_axes(
        &mut chart,
        sz,
        Axes {
            x: x_label,
            y: y_label.as_str(),
            ticks: (9, 8),
            grid: true,
        },
    )?;
    if accuracy.is_some() {
        // The primary mesh labels every y label area; clear the right one for the accuracy axis.
        // Down to just below the plot, so the last α tick label stays.
        let (x_pixels, y_pixels) = chart.plotting_area().get_pixel_range();
        let (base, (w, _)) = (plot.get_base_pixel(), plot.dim_in_pixel());
        plot.draw(&Rectangle::new(
            [
                (x_pixels.end + 1 - base.0, 0),
                (w as i32, y_pixels.end + 3 - base.1),
            ],
            WHITE.filled(),
        ))
        .or_backend()?;
    }
    let y = chart.y_range();
    if x0 < 0.0 && 0.0 < x1 {
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(0.0, y.start), (0.0, y.end)],
                sz.px(5.0),
                sz.px(4.0),
                BLACK.mix(0.35).stroke_width(1),
            )))
            .or_backend()?;
    }
    let width = sz.px(2.5);
    let markers = s.x.len() <= 41;
    draw_runs(&mut chart, main, LOSS_COLOUR, markers, sz)?;
    let mut entries = vec![(o.metric.clone(), LOSS_COLOUR, false)];
    let plot_left = chart.plotting_area().get_pixel_range().0.start;
    if let Some(acc) = accuracy {
        let pad = ((acc.hi - acc.lo) * 0.05).max(0.01);
        let (a0, a1) = ((acc.lo - pad).max(0.0), (acc.hi + pad).min(1.0));
        let (a0, a1) = if a1 > a0 { (a0, a1) } else { (0.0, 1.0) };
        let mut dual = chart.set_secondary_coord(x0..x1, a0..a1);
        dual.configure_secondary_axes()
            .y_desc(ACCURACY)
            .label_style(sz.tick())
            .axis_desc_style(sz.desc())
            .y_labels(8)
            .y_label_formatter(&format)
            .set_all_tick_mark_size(sz.px(5.0))
            .draw()
            .or_backend()?;
        for run in &acc.runs {
            dual.draw_secondary_series(std::iter::once(DashedPathElement::new(
                run.clone(),
                sz.px(9.0),
                sz.px(5.0),
                ACCURACY_COLOUR.stroke_width(width),
            )))
            .or_backend()?;
            if markers {
                dual.draw_secondary_series(
                    run.iter()
                        .map(|p| TriangleMarker::new(*p, sz.px(4.0), ACCURACY_COLOUR.filled())),
                )
                .or_backend()?;
            }
        }
        entries.push((ACCURACY.to_string(), ACCURACY_COLOUR, true));
    }
    draw_legend(&legend, &entries, plot_left - legend.get_base_pixel().0, sz)
}

/// A curve's runs as solid lines of `colour`, with a dot at every point when `markers`.
pub(crate) fn draw_runs<DB, CT>(
    chart: &mut ChartContext<'_, DB, CT>,
    curve: &Curve,
    colour: RGBColor,
    markers: bool,
    sz: Sizes,
) -> Result<(), PlotError>
where
    DB: DrawingBackend,
    CT: CoordTranslate<From = (f64, f64)>,
{
    for run in &curve.runs {
        chart
            .draw_series(std::iter::once(PathElement::new(
                run.clone(),
                colour.stroke_width(sz.px(2.5)),
            )))
            .or_backend()?;
        if markers {
            chart
                .draw_series(
                    run.iter()
                        .map(|p| Circle::new(*p, sz.px(3.0), colour.filled())),
                )
                .or_backend()?;
        }
    }
    Ok(())
}

/// A one-row legend: a line sample and a name per entry, starting at pixel `x`.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, RGBColor, bool)],
    x: i32,
    sz: Sizes,
) -> Result<(), PlotError> {
    let (_, h) = area.dim_in_pixel();
    let y = h as i32 / 2 + sz.px(4.0) as i32;
    let sample = sz.px(34.0) as i32;
    let mut at = x + sz.px(8.0) as i32;
    let style = sz.tick().pos(Pos::new(HPos::Left, VPos::Center));
    for (name, colour, dashed) in entries {
        let line_style = colour.stroke_width(sz.px(2.5));
        if *dashed {
            area.draw(&DashedPathElement::new(
                vec![(at, y), (at + sample, y)],
                sz.px(9.0),
                sz.px(5.0),
                line_style,
            ))
            .or_backend()?;
        } else {
            area.draw(&PathElement::new(
                vec![(at, y), (at + sample, y)],
                line_style,
            ))
            .or_backend()?;
        }
        at += sample + sz.px(8.0) as i32;
        area.draw(&Text::new(name.clone(), (at, y), style.clone()))
            .or_backend()?;
        let (w, _) = area.estimate_text_size(name, &style).or_backend()?;
        at += w as i32 + sz.px(26.0) as i32;
    }
    Ok(())
}
