//! Figure files (native only): PNG and SVG of every figure a surface fits.

use super::*;

/// Write every figure that fits the surface into `dir` (created if needed): a 2-D surface gives
/// `contour.png/.svg`, `heatmap.png/.svg` and `surface.png` (900×720); a 1-D surface gives
/// `line.png/.svg` (900×560); a surface with a loss summary also gets `barcode.png/.svg` (the
/// merge tree of its loss, [`draw_barcode`]). Returns the written paths.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_all(
    s: &Surface,
    dir: &std::path::Path,
    o: &PlotOptions,
) -> Result<Vec<std::path::PathBuf>, PlotError> {
    create_dir(dir)?;
    let mut written = Vec::new();
    // A "2-D" grid with a single row or column is a curve.
    if s.is_1d() || s.x.len() < 2 || s.y.len() < 2 {
        written.push(save_png(dir, "line", LINE_SIZE, |a| draw_line(a, s, o))?);
        written.push(save_svg(dir, "line", LINE_SIZE, |a| draw_line(a, s, o))?);
    } else {
        written.push(save_png(dir, "contour", FIGURE_SIZE, |a| {
            draw_contour(a, s, o).map(drop)
        })?);
        written.push(save_svg(dir, "contour", FIGURE_SIZE, |a| {
            draw_contour(a, s, o).map(drop)
        })?);
        written.push(save_png(dir, "heatmap", FIGURE_SIZE, |a| {
            draw_heatmap(a, s, o).map(drop)
        })?);
        written.push(save_svg(dir, "heatmap", FIGURE_SIZE, |a| {
            draw_heatmap(a, s, o).map(drop)
        })?);
        written.push(save_png(dir, "surface", FIGURE_SIZE, |a| {
            draw_surface3d(a, s, o, DEFAULT_YAW, DEFAULT_PITCH)
        })?);
    }
    if let Some(t) = s
        .info
        .summary_loss
        .as_ref()
        .and_then(|s| s.topology.as_ref())
    {
        let title = title_text(
            s,
            &PlotOptions {
                metric: LOSS.into(),
                ..o.clone()
            },
            " — merge tree",
        );
        written.push(save_png(dir, "barcode", LINE_SIZE, |a| {
            draw_barcode(a, t, &title, LOSS)
        })?);
        written.push(save_svg(dir, "barcode", LINE_SIZE, |a| {
            draw_barcode(a, t, &title, LOSS)
        })?);
    }
    Ok(written)
}

/// Write `spectrum.png` and `spectrum.svg` ([`draw_histogram`]) into `dir`.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_histogram(
    bins: &[(f64, f64, usize)],
    title: &str,
    x_desc: &str,
    dir: &std::path::Path,
    name: &str,
) -> Result<Vec<std::path::PathBuf>, PlotError> {
    Ok(vec![
        save_png(dir, name, LINE_SIZE, |a| {
            draw_histogram(a, bins, title, x_desc)
        })?,
        save_svg(dir, name, LINE_SIZE, |a| {
            draw_histogram(a, bins, title, x_desc)
        })?,
    ])
}

/// Write `paths.png` and `paths.svg` ([`draw_paths`]) into `dir`: the loss and accuracy along
/// each path between the same two checkpoints.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_paths(
    paths: &[PathCurve<'_>],
    dir: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>, PlotError> {
    let size = (LINE_SIZE.0 * 2, LINE_SIZE.1);
    Ok(vec![
        save_png(dir, "paths", size, |a| draw_paths(a, paths))?,
        save_svg(dir, "paths", size, |a| draw_paths(a, paths))?,
    ])
}

/// Write `convexity.png` and `convexity.svg` ([`draw_convexity`]) into `dir`.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_convexity(
    s: &Surface,
    dir: &std::path::Path,
    o: &PlotOptions,
) -> Result<Vec<std::path::PathBuf>, PlotError> {
    create_dir(dir)?;
    let size = (FIGURE_SIZE.0 * 2, FIGURE_SIZE.1);
    Ok(vec![
        save_png(dir, "convexity", size, |a| draw_convexity(a, s, o))?,
        save_svg(dir, "convexity", size, |a| draw_convexity(a, s, o))?,
    ])
}

/// Create the output folder (and its parents).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn create_dir(dir: &std::path::Path) -> Result<(), PlotError> {
    std::fs::create_dir_all(dir).map_err(|e| PlotError::Io {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })
}

/// Pixel size of the 2-D figures written by [`write_all`].
#[cfg(not(target_arch = "wasm32"))]
pub(crate) const FIGURE_SIZE: (u32, u32) = (900, 720);
/// Pixel size of the 1-D figure written by [`write_all`].
#[cfg(not(target_arch = "wasm32"))]
pub(crate) const LINE_SIZE: (u32, u32) = (900, 560);

/// Draw into `dir/name.png`. The figure is drawn at twice the size and scaled down, because the
/// bitmap backend does not anti-alias lines wider than one pixel; every size in a figure is
/// relative to the area, so the result matches a direct drawing, only smoother.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn save_png(
    dir: &std::path::Path,
    name: &str,
    (w, h): (u32, u32),
    draw: impl Fn(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<std::path::PathBuf, PlotError> {
    const SUPERSAMPLE: u32 = 2;
    let path = dir.join(format!("{name}.png"));
    let (big_w, big_h) = (w * SUPERSAMPLE, h * SUPERSAMPLE);
    let mut pixels = vec![0u8; (big_w * big_h * 3) as usize];
    draw(&BitMapBackend::with_buffer(&mut pixels, (big_w, big_h)).into_drawing_area())?;
    let big = image::RgbImage::from_raw(big_w, big_h, pixels)
        .ok_or_else(|| PlotError::Backend("bitmap buffer has the wrong size".into()))?;
    let mut png = std::io::Cursor::new(Vec::new());
    image::imageops::resize(&big, w, h, image::imageops::FilterType::Triangle)
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| PlotError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    save(&path, png.get_ref())?;
    Ok(path)
}

/// Draw into `dir/name.svg`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn save_svg(
    dir: &std::path::Path,
    name: &str,
    size: (u32, u32),
    draw: impl Fn(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<std::path::PathBuf, PlotError> {
    let path = dir.join(format!("{name}.svg"));
    let mut svg = String::new();
    draw(&SVGBackend::with_string(&mut svg, size).into_drawing_area())?;
    save(&path, svg.as_bytes())?;
    Ok(path)
}

/// Write a figure's bytes whole or not at all ([`crate::io::atomic`]).
#[cfg(not(target_arch = "wasm32"))]
fn save(path: &std::path::Path, bytes: &[u8]) -> Result<(), PlotError> {
    crate::io::atomic::write(path, bytes).map_err(|e| PlotError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Write a comparison figure ([`draw_comparison`]) as `base.png` at `print.dpi` (the resolution
/// recorded in the PNG, [`with_resolution`], so page-layout programs size it at `print.width_in`) and
/// `base.svg` ([`comparison_svg`]). Returns both paths.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_comparison(
    base: &std::path::Path,
    panels: &[(String, &Surface)],
    o: &PlotOptions,
    kind: PanelKind,
    print: PrintSize,
    caption: &str,
) -> Result<Vec<std::path::PathBuf>, PlotError> {
    let with_ext = |ext: &str| {
        let mut name = base.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{ext}"));
        base.with_file_name(name)
    };
    if let Some(dir) = base.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir(dir)?;
    }
    let io = |path: &std::path::Path, e: &dyn std::fmt::Display| PlotError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    };

    let png_path = with_ext("png");
    let scale = PrintSize::text_scale(print.dpi);
    let layout = ComparisonLayout::new(panels, print.width_px(print.dpi), scale, caption);
    let (w, h) = layout.size;
    let mut pixels = vec![0u8; (w as usize) * (h as usize) * 3];
    let options = PlotOptions {
        text_scale: Some(scale),
        ..o.clone()
    };
    draw_comparison(
        &BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area(),
        &layout,
        panels,
        &options,
        kind,
    )?;
    let image = image::RgbImage::from_raw(w, h, pixels)
        .ok_or_else(|| PlotError::Backend("bitmap buffer has the wrong size".into()))?;
    let mut encoded = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut encoded, image::ImageFormat::Png)
        .map_err(|e| io(&png_path, &e))?;
    let png_bytes = with_resolution(encoded.get_ref(), print.dpi)?;
    save(&png_path, &png_bytes)?;

    let svg_path = with_ext("svg");
    let svg = comparison_svg(panels, o, kind, print.width_in, caption)?;
    save(&svg_path, svg.as_bytes())?;
    Ok(vec![png_path, svg_path])
}
