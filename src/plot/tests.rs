//! The figures' own tests: levels, iso-lines, layout and every figure drawn to PNG and SVG.

use super::*;
use crate::spec::{Axis, SweepSpec};

fn spec(x: Axis, y: Option<Axis>) -> SweepSpec {
    crate::spec::placeholder(x, y)
}

/// A complete surface with `loss = f(α, β)` and `accuracy = g(α, β)`.
fn surface(
    x: Axis,
    y: Option<Axis>,
    loss: impl Fn(f64, f64) -> f64,
    accuracy: impl Fn(f64, f64) -> f64,
) -> Surface {
    let mut s = Surface::empty(spec(x, y), &[LOSS, ACCURACY]);
    for (iy, beta) in s.y.clone().into_iter().enumerate() {
        for (ix, alpha) in s.x.clone().into_iter().enumerate() {
            s.metrics.get_mut(LOSS).unwrap()[iy][ix] = Some(loss(alpha, beta));
            s.metrics.get_mut(ACCURACY).unwrap()[iy][ix] = Some(accuracy(alpha, beta));
        }
    }
    s
}

fn axis(min: f64, max: f64, n: usize) -> Axis {
    Axis { min, max, n }
}

/// A basin at the centre, a second, shallower basin up right, and a saddle between them.
fn saddle_surface(nx: usize, ny: usize) -> Surface {
    surface(
        axis(-1.0, 1.0, nx),
        Some(axis(-1.0, 1.0, ny)),
        |a, b| {
            0.4 + 1.5 * (a * a + b * b)
                - 1.6 * (-((a - 0.75).powi(2) + (b - 0.6).powi(2)) / 0.06).exp()
                + 0.3 * (3.0 * a).sin() * (2.0 * b).cos().powi(2) * 0.3
        },
        |a, b| (0.92 - 0.35 * (a * a + b * b)).clamp(0.0, 1.0),
    )
}

#[test]
fn contour_levels_are_round_monotone_and_inside() {
    let levels = contour_levels(0.0, 2.0, 12, false);
    let expected: Vec<f64> = (0..=10).map(|k| k as f64 * 0.2).collect();
    assert_eq!(levels.len(), expected.len(), "{levels:?}");
    for (l, e) in levels.iter().zip(&expected) {
        assert!((l - e).abs() < 1e-12, "{levels:?}");
    }
    assert_eq!(
        level_labels(&levels, false)[..4],
        ["0.0", "0.2", "0.4", "0.6"]
    );

    for (lo, hi, n) in [
        (0.37, 5.91, 12),
        (-3.2, 0.05, 7),
        (1e-4, 3e-4, 10),
        (2.30, 2.31, 12),
        (1234.0, 98765.0, 12),
    ] {
        let levels = contour_levels(lo, hi, n, false);
        assert!(
            levels.len() >= n / 2 && levels.len() <= n + 1,
            "{lo}..{hi}: {levels:?}"
        );
        assert!(levels.windows(2).all(|w| w[0] < w[1]), "{levels:?}");
        assert!(levels.iter().all(|v| *v >= lo && *v <= hi), "{levels:?}");
        // Each level is an integer multiple of a step of the form {1, 2, 2.5, 5}·10ᵏ.
        let step = levels[1] - levels[0];
        let mantissa = step / 10f64.powf(step.log10().floor());
        assert!(
            [1.0, 2.0, 2.5, 5.0, 10.0]
                .iter()
                .any(|m| (mantissa - m).abs() < 1e-6),
            "step {step}"
        );
        for v in &levels {
            let k = v / step;
            assert!(
                (k - k.round()).abs() < 1e-6,
                "{v} is not a multiple of {step}"
            );
        }
    }
}

#[test]
fn numbers_are_short() {
    let cases = [
        (0.0, "0"),
        (2.0, "2"),
        (-0.5, "\u{2212}0.5"),
        (0.123456, "0.1235"),
        (1234.5678, "1235"),
        (0.00012, "1.2e\u{2212}4"),
        (250000.0, "2.5e5"),
    ];
    for (v, text) in cases {
        assert_eq!(format_sig(v), text);
    }
    assert_eq!(
        level_labels(&[-0.5, -0.25, 0.0, 0.25], false),
        ["\u{2212}0.50", "\u{2212}0.25", "0.00", "0.25"]
    );
}

#[test]
fn log_levels_span_decades_with_round_mantissas() {
    let levels = contour_levels(0.05, 20.0, 12, true);
    assert!(levels.len() >= 6 && levels.len() <= 13, "{levels:?}");
    assert!(levels.windows(2).all(|w| w[0] < w[1]), "{levels:?}");
    assert!(levels.iter().all(|v| *v >= 0.05 && *v <= 20.0));
    for v in &levels {
        let mantissa = v / 10f64.powf(v.log10().floor());
        assert!(
            [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
                .iter()
                .any(|m| (mantissa - m).abs() < 1e-9),
            "{v}"
        );
    }
    // Ratios are roughly constant (log spacing), unlike a linear set over the same range.
    let labels = level_labels(&levels, true);
    assert!(labels.iter().all(|l| l.len() <= 4), "{labels:?}");
    // lo ≤ 0 falls back to linear.
    let linear = contour_levels(0.0, 2.0, 12, true);
    assert!((linear[1] - linear[0] - 0.2).abs() < 1e-12);
}

#[test]
fn paraboloid_iso_line_is_a_circle() {
    let s = surface(
        axis(-1.0, 1.0, 21),
        Some(axis(-1.0, 1.0, 21)),
        |a, b| a * a + b * b,
        |_, _| 0.5,
    );
    let lines = iso_lines(&s, LOSS, &[0.5]);
    assert_eq!(lines.len(), 1);
    let (level, polylines) = &lines[0];
    assert_eq!(*level, 0.5);
    assert_eq!(polylines.len(), 1, "one closed ring");
    let ring = &polylines[0];
    assert!(ring.len() > 20);
    let radius = 0.5f64.sqrt();
    for (a, b) in ring {
        let r = a.hypot(*b);
        assert!(
            (r - radius).abs() < 0.02 * radius,
            "vertex ({a}, {b}) at radius {r}"
        );
    }
    // It goes all the way round: every quadrant is visited.
    for (sa, sb) in [(1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)] {
        assert!(ring.iter().any(|(a, b)| a * sa > 0.1 && b * sb > 0.1));
    }
}

#[test]
fn non_square_grid_maps_both_axes() {
    // 11 α points over [-2, 3], 7 β points over [-0.5, 0.5]; loss = α.
    let s = surface(
        axis(-2.0, 3.0, 11),
        Some(axis(-0.5, 0.5, 7)),
        |a, _| a,
        |_, _| 0.5,
    );
    let lines = iso_lines(&s, LOSS, &[0.25, 1.7]);
    for (level, polylines) in &lines {
        assert_eq!(polylines.len(), 1, "level {level}: one straight line");
        let line = &polylines[0];
        for (a, _) in line {
            assert!((a - level).abs() < 1e-9, "vertex α {a} for level {level}");
        }
        let (b_lo, b_hi) = line
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
                (l.min(p.1), h.max(p.1))
            });
        // The line runs the whole β axis and not beyond (no border segments).
        assert!(
            (b_lo + 0.5).abs() < 1e-9 && (b_hi - 0.5).abs() < 1e-9,
            "{b_lo}..{b_hi}"
        );
    }
    // loss = β on the same grid: horizontal lines spanning exactly the α axis.
    let s = surface(
        axis(-2.0, 3.0, 11),
        Some(axis(-0.5, 0.5, 7)),
        |_, b| b,
        |_, _| 0.5,
    );
    let lines = iso_lines(&s, LOSS, &[0.1]);
    let line = &lines[0].1[0];
    let (a_lo, a_hi) = line
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
            (l.min(p.0), h.max(p.0))
        });
    assert!(
        (a_lo + 2.0).abs() < 1e-9 && (a_hi - 3.0).abs() < 1e-9,
        "{a_lo}..{a_hi}"
    );
    assert!(line.iter().all(|p| (p.1 - 0.1).abs() < 1e-9));
}

#[test]
fn partial_surfaces_give_lines_only_over_complete_cells() {
    let mut s = surface(
        axis(-1.0, 1.0, 21),
        Some(axis(-1.0, 1.0, 21)),
        |a, b| a * a + b * b,
        |_, _| 0.5,
    );
    // Only the lower half (β ≤ 0) computed.
    for row in s.metrics.get_mut(LOSS).unwrap().iter_mut().skip(11) {
        row.iter_mut().for_each(|v| *v = None);
    }
    let lines = iso_lines(&s, LOSS, &[0.5]);
    let vertices: Vec<&(f64, f64)> = lines[0].1.iter().flatten().collect();
    assert!(!vertices.is_empty());
    assert!(
        vertices.iter().all(|(_, b)| *b <= 1e-9),
        "lines only where β ≤ 0"
    );
    assert!(
        vertices
            .iter()
            .all(|(a, b)| (a.hypot(*b) - 0.5f64.sqrt()).abs() < 0.015)
    );
    // A single computed row has no complete cell: no lines.
    for row in s.metrics.get_mut(LOSS).unwrap().iter_mut().skip(1) {
        row.iter_mut().for_each(|v| *v = None);
    }
    assert!(iso_lines(&s, LOSS, &[0.5]).is_empty());
}

/// Squared distance between two colours.
fn distance(p: &[u8], c: RGBColor) -> i32 {
    let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
    d(p[0], c.0) + d(p[1], c.1) + d(p[2], c.2)
}

#[test]
fn heatmap_draws_high_beta_at_the_top() {
    // 3 α points × 5 β points, loss = β.
    let s = surface(
        axis(-1.0, 1.0, 3),
        Some(axis(-2.0, 2.0, 5)),
        |_, b| b,
        |_, _| 0.5,
    );
    let (w, h) = (600u32, 480u32);
    let mut buffer = vec![0u8; (w * h * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
        let options = PlotOptions {
            title: Some(String::new()),
            levels: 0,
            ..PlotOptions::default()
        };
        draw_heatmap(&area, &s, &options).unwrap();
    }
    let (top, bottom) = (viridis(1.0), viridis(0.0));
    // A column through the middle of the plane (the colour bar is on the right).
    let x = (w as f64 * 0.3) as usize;
    let rows_near = |c: RGBColor| -> Vec<usize> {
        (0..h as usize)
            .filter(|y| {
                let i = (y * w as usize + x) * 3;
                distance(&buffer[i..i + 3], c) < 30
            })
            .collect()
    };
    let (high, low) = (rows_near(top), rows_near(bottom));
    assert!(
        high.len() > 20 && low.len() > 20,
        "{} {}",
        high.len(),
        low.len()
    );
    let max_high = high.iter().max().unwrap();
    let min_low = low.iter().min().unwrap();
    assert!(max_high < min_low, "highest value must be above the lowest");
    assert!(*high.iter().min().unwrap() < h as usize / 4);
    assert!(*low.iter().max().unwrap() > h as usize / 2);
}

#[test]
fn figures_refuse_what_they_cannot_draw() {
    let one_d = surface(axis(-1.0, 1.0, 5), None, |a, _| a * a, |_, _| 0.5);
    let mut buffer = vec![0u8; 200 * 200 * 3];
    let area = BitMapBackend::with_buffer(&mut buffer, (200, 200)).into_drawing_area();
    let err = draw_contour(&area, &one_d, &PlotOptions::default()).unwrap_err();
    assert!(
        matches!(err, PlotError::Needs2d { nx: 5, ny: 1, .. }),
        "{err}"
    );
    let options = PlotOptions {
        metric: "top5".into(),
        ..PlotOptions::default()
    };
    let err = draw_line(&area, &one_d, &options).unwrap_err();
    assert!(err.to_string().contains("top5") && err.to_string().contains("accuracy, loss"));
    let empty = Surface::empty(spec(axis(-1.0, 1.0, 3), Some(axis(-1.0, 1.0, 3))), &[LOSS]);
    let err = draw_heatmap(&area, &empty, &PlotOptions::default()).unwrap_err();
    assert_eq!(
        err,
        PlotError::NoData {
            metric: LOSS.into()
        }
    );
}

/// The saddle surface's merge tree: two basins, the deeper one up right, so θ* is not in the main
/// one; `write_all` draws its barcode, one blue bar per basin.
#[test]
fn a_summarised_surface_gets_its_barcode() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = saddle_surface(41, 31);
    let summary = crate::metrics::summarise(&s, LOSS, 0.05, 64).unwrap();
    let t = summary.topology.clone().unwrap();
    assert_eq!(t.basins, 2, "{t:?}");
    assert!(!t.centre_in_main_basin);
    assert!(t.main_basin_share > 0.0 && t.main_basin_share < 1.0);
    s.info.summary_loss = Some(summary);
    let written = write_all(&s, dir.path(), &PlotOptions::default()).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(&names[5..], ["barcode.png", "barcode.svg"]);
    let svg = std::fs::read_to_string(dir.path().join("barcode.svg")).unwrap();
    assert!(svg.contains("2 basins (persistence &gt; τ = 0.05"), "{svg}");
    // Rows of the PNG holding the bars' blue: two bands, one per basin.
    let png = image::open(dir.path().join("barcode.png"))
        .unwrap()
        .to_rgb8();
    let blue_rows: Vec<u32> = (0..png.height())
        .filter(|&y| {
            (0..png.width()).any(|x| {
                let p = png.get_pixel(x, y).0;
                p[0].abs_diff(42) < 8 && p[1].abs_diff(111) < 8 && p[2].abs_diff(176) < 8
            })
        })
        .collect();
    let bands = blue_rows.windows(2).filter(|w| w[1] > w[0] + 1).count() + 1;
    assert_eq!(bands, 2, "{blue_rows:?}");
}

#[test]
fn write_all_writes_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let two_d = saddle_surface(21, 15);
    let written = write_all(&two_d, &dir.path().join("two"), &PlotOptions::default()).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "contour.png",
            "contour.svg",
            "heatmap.png",
            "heatmap.svg",
            "surface.png"
        ]
    );
    let one_d = surface(
        axis(-1.0, 1.5, 26),
        None,
        |a, _| 0.3 + a * a,
        |a, _| 0.9 - 0.3 * a * a,
    );
    let written = write_all(&one_d, &dir.path().join("one"), &PlotOptions::default()).unwrap();
    assert_eq!(written.len(), 2);
    for path in dir
        .path()
        .join("two")
        .read_dir()
        .unwrap()
        .chain(dir.path().join("one").read_dir().unwrap())
    {
        let path = path.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes.len() > 1000,
            "{} is {} bytes",
            path.display(),
            bytes.len()
        );
        if path.extension().unwrap() == "png" {
            assert_eq!(&bytes[1..4], b"PNG");
            let image = image::load_from_memory(&bytes).unwrap().to_rgb8();
            assert!(image.width() == 900 && (image.height() == 720 || image.height() == 560));
            // What a reader sees: the landscape's colours fill a good part of a map, and the
            // curves of a 1-D figure are drawn in their own colours.
            let pixels = image.pixels().count() as f64;
            let share = |keep: &dyn Fn(&image::Rgb<u8>) -> bool| {
                image.pixels().filter(|p| keep(p)).count() as f64 / pixels
            };
            let coloured = share(&|p| {
                let (lo, hi) = (p.0.iter().min().unwrap(), p.0.iter().max().unwrap());
                hi - lo > 20
            });
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name == "line.png" {
                let near = |c: RGBColor| {
                    move |p: &image::Rgb<u8>| {
                        (0..3)
                            .all(|k| (i32::from(p.0[k]) - i32::from([c.0, c.1, c.2][k])).abs() < 40)
                    }
                };
                assert!(share(&near(LOSS_COLOUR)) > 0.001, "{name}: no loss curve");
                assert!(
                    share(&near(ACCURACY_COLOUR)) > 0.001,
                    "{name}: no accuracy curve"
                );
            } else {
                // The 3-D surface stands in a perspective box; the maps fill their plane.
                let least = if name == "surface.png" { 0.1 } else { 0.25 };
                assert!(
                    (least..0.95).contains(&coloured),
                    "{name}: {coloured:.3} of the pixels are coloured"
                );
            }
        } else {
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.starts_with("<svg") && text.contains("α (direction x)"));
        }
    }
}

/// Renders the gallery used to judge the figures by eye: `cargo test --lib plot -- --ignored`,
/// then look at /tmp/plots.
#[test]
#[ignore = "writes figures for inspection"]
fn render_gallery() {
    let root = std::env::temp_dir().join("plots");
    let s = saddle_surface(41, 31);
    write_all(&s, &root, &PlotOptions::default()).unwrap();
    let log = PlotOptions {
        log_scale: true,
        ..PlotOptions::default()
    };
    write_all(&s, &root.join("log"), &log).unwrap();
    let mut partial = s.clone();
    for (iy, row) in partial
        .metrics
        .get_mut(LOSS)
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        for (ix, v) in row.iter_mut().enumerate() {
            if iy * 41 + ix > 41 * 18 + 7 {
                *v = None;
            }
        }
    }
    write_all(&partial, &root.join("partial"), &PlotOptions::default()).unwrap();
    let one_d = surface(
        axis(-1.0, 1.5, 51),
        None,
        |a, _| 0.35 + 2.0 * a * a - 0.8 * (-(a - 1.0).powi(2) / 0.02).exp(),
        |a, _| (0.91 - 0.4 * a * a).clamp(0.0, 1.0),
    );
    write_all(&one_d, &root.join("line"), &PlotOptions::default()).unwrap();
    write_all(&one_d, &root.join("line-log"), &log).unwrap();
    std::fs::create_dir_all(root.join("turn")).unwrap();
    for (name, yaw, pitch) in [("a", -0.7, 0.35), ("b", 2.3, 0.6), ("c", 3.9, 0.15)] {
        save_png(&root.join("turn"), name, FIGURE_SIZE, |a| {
            draw_surface3d(a, &s, &PlotOptions::default(), yaw, pitch)
        })
        .unwrap();
    }
    save_png(&root, "row", LINE_SIZE, |a| {
        draw_line(a, &s, &PlotOptions::default())
    })
    .unwrap();
}

/// The diverging map is white at L(0), blue below it and red above, with its range symmetric
/// around L(0) and its colour bar labelled L − L(0); magma and cividis are their own maps.
#[test]
fn colour_maps_and_the_diverging_one_centred_on_the_loss_at_theta_star() {
    let white = ColourMap::Diverging.at(0.5);
    assert!(white.0 > 230 && white.1 > 230 && white.2 > 230, "{white:?}");
    let (low, high) = (ColourMap::Diverging.at(0.0), ColourMap::Diverging.at(1.0));
    assert!(low.2 > low.0 + 40, "low values are blue: {low:?}");
    assert!(high.0 > high.2 + 40, "high values are red: {high:?}");
    assert_eq!(ColourMap::Magma.at(0.0), RGBColor(0, 0, 4));
    assert_eq!(ColourMap::Magma.at(1.0), RGBColor(252, 253, 191));
    for m in [ColourMap::Magma, ColourMap::Cividis] {
        assert_ne!(m.at(0.3), ColourMap::Viridis.at(0.3), "{m}");
    }
    assert_eq!(ColourMap::Diverging.sequential(), ColourMap::Viridis);
    assert_eq!(ColourMap::Magma.sequential(), ColourMap::Magma);

    // A tilted bowl: L(0) = 0.5 is neither the lowest nor the highest value.
    let s = surface(
        axis(-1.0, 1.0, 21),
        Some(axis(-1.0, 1.0, 21)),
        |a, b| 0.5 + a + 0.3 * b * b,
        |_, _| 0.5,
    );
    let diverging = PlotOptions {
        colour_map: ColourMap::Diverging,
        levels: 0,
        ..PlotOptions::default()
    };
    let field = prepare(&s, &diverging).unwrap();
    assert_eq!(field.centre, Some(0.5));
    assert!((field.unit(0.5) - 0.5).abs() < 1e-12);
    assert!((field.hi - 0.5 - (0.5 - field.lo)).abs() < 1e-12);
    assert!((field.hi - 1.8).abs() < 1e-12, "{}", field.hi);
    let plain = prepare(&s, &PlotOptions::default()).unwrap();
    assert_eq!(plain.centre, None);
    assert!((plain.lo + 0.5).abs() < 1e-12);

    let dir = tempfile::tempdir().unwrap();
    write_all(&s, dir.path(), &diverging).unwrap();
    let svg = std::fs::read_to_string(dir.path().join("heatmap.svg")).unwrap();
    assert!(
        svg.contains("loss − loss(0)"),
        "the colour bar says what it shows"
    );
    let texts: Vec<&str> = svg
        .split("</text>")
        .filter_map(|t| t.rsplit('>').next())
        .map(str::trim)
        .collect();
    assert!(
        texts.contains(&"+1") && (texts.contains(&"-1") || texts.contains(&"−1")),
        "ticks of L − L(0): {texts:?}"
    );
    // The cell at the centre is white, the left edge (L < L(0)) blue, the right edge red.
    let png = image::open(dir.path().join("heatmap.png"))
        .unwrap()
        .to_rgb8();
    let frame = {
        let mut buffer = vec![0u8; 900 * 720 * 3];
        let area = BitMapBackend::with_buffer(&mut buffer, (900, 720)).into_drawing_area();
        draw_heatmap(&area, &s, &diverging).unwrap()
    };
    let pixel = |a: f64, b: f64| {
        let x = frame.px.0 as f64
            + (a - frame.x.0) / (frame.x.1 - frame.x.0) * (frame.px.1 - frame.px.0) as f64;
        let y = frame.py.1 as f64
            - (b - frame.y.0) / (frame.y.1 - frame.y.0) * (frame.py.1 - frame.py.0) as f64;
        png.get_pixel(x as u32, y as u32).0
    };
    let c = pixel(0.0, 0.02);
    assert!(c.iter().all(|&v| v > 225), "centre {c:?}");
    let left = pixel(-0.95, 0.5);
    assert!(left[2] > left[0] + 40, "left {left:?}");
    let right = pixel(0.95, 0.5);
    assert!(right[0] > right[2] + 40, "right {right:?}");
}

/// A trajectory's path is drawn over the contours (and the heat map): dark on the contour's pale
/// bands along each segment, and left out where it leaves the plotted range.
#[test]
fn a_training_path_is_drawn_over_the_plane() {
    use crate::trajectory::{PathPoint, TrajectoryPath};
    let mut s = surface(
        axis(-1.0, 1.0, 9),
        Some(axis(-1.0, 1.0, 9)),
        |a, b| a * a + b * b,
        |_, _| 0.5,
    );
    let point = |alpha: f64, beta: f64| PathPoint {
        name: format!("e{alpha}"),
        sha256: String::new(),
        alpha,
        beta,
    };
    // Starts outside the plane (left out), then walks to θ*.
    let path = TrajectoryPath {
        explained_variance_ratio: [0.9, 0.05],
        points: vec![
            point(-1.6, -0.7),
            point(-0.8, -0.6),
            point(-0.4, 0.3),
            point(0.0, 0.0),
        ],
    };
    assert_eq!(path_points_outside(&s, &path), 1);
    let (w, h) = (700u32, 600u32);
    let render = |s: &Surface, heat: bool| {
        let mut buffer = vec![0u8; (w * h * 3) as usize];
        let frame = {
            let area = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
            let options = PlotOptions::default();
            if heat {
                draw_heatmap(&area, s, &options).unwrap()
            } else {
                draw_contour(&area, s, &options).unwrap()
            }
        };
        (buffer, frame)
    };
    // The pixel of (α, β), from the frame's mapping.
    let pixel = |f: &Frame, a: f64, b: f64| {
        let u = f64::from(f.px.0) + (a - f.x.0) / (f.x.1 - f.x.0) * f64::from(f.px.1 - f.px.0);
        let v = f64::from(f.py.1) - (b - f.y.0) / (f.y.1 - f.y.0) * f64::from(f.py.1 - f.py.0);
        (u.round() as usize, v.round() as usize)
    };
    // Dark pixels within 2 px of the midpoint of each drawn segment.
    let dark_near = |buffer: &[u8], (u, v): (usize, usize), c: RGBColor| {
        (v - 2..=v + 2)
            .flat_map(|y| (u - 2..=u + 2).map(move |x| (x, y)))
            .filter(|(x, y)| {
                let i = (y * w as usize + x) * 3;
                distance(&buffer[i..i + 3], c) < 40
            })
            .count()
    };
    let line = RGBColor(25, 25, 25);
    let (plain, frame) = render(&s, false);
    s.info.trajectory = Some(path.clone());
    let (with_path, frame_p) = render(&s, false);
    for (a, b) in [(-0.6, -0.15), (-0.2, 0.15)] {
        let at = pixel(&frame_p, a, b);
        assert!(
            dark_near(&with_path, at, line) >= 3,
            "segment at ({a}, {b})"
        );
        assert_eq!(dark_near(&plain, pixel(&frame, a, b), line), 0);
    }
    // The left-out first segment: nothing drawn at its in-range end's far side.
    let outside_mid = pixel(&frame_p, -0.95, -0.62);
    assert_eq!(dark_near(&with_path, outside_mid, line), 0);
    // The heat map draws it in white.
    let (heat, frame_h) = render(&s, true);
    let at = pixel(&frame_h, -0.6, -0.15);
    assert!(dark_near(&heat, at, WHITE) >= 3);
}

/// A comparison figure: panels on one colour scale (the lower surface's top is mid-scale, not the
/// map's end), one colour bar right of the panels, the caption's text under them.
#[test]
fn a_comparison_shares_one_colour_scale_and_one_bar_with_a_caption_below() {
    let low = surface(
        axis(-1.0, 1.0, 11),
        Some(axis(-1.0, 1.0, 11)),
        |a, _| (a + 1.0) / 2.0, // 0 … 1 left to right
        |_, _| 0.5,
    );
    let high = surface(
        axis(-1.0, 1.0, 11),
        Some(axis(-1.0, 1.0, 11)),
        |a, _| a + 1.0, // 0 … 2
        |_, _| 0.5,
    );
    assert_eq!(shared_range([&low, &high], LOSS, false), Some((0.0, 2.0)));
    let print = PrintSize {
        width_in: 7.0,
        dpi: 150.0,
    };
    let scale = PrintSize::text_scale(print.dpi);
    let caption = "Loss landscapes around A, B. ".repeat(12);
    let layout = ComparisonLayout::new(
        &[("A".into(), &low), ("B".into(), &high)],
        print.width_px(print.dpi),
        scale,
        &caption,
    );
    assert_eq!(layout.size.0, 1050);
    assert!(layout.caption.len() >= 2, "{:?}", layout.caption);
    let (w, h) = layout.size;
    let mut buffer = vec![0u8; (w * h * 3) as usize];
    let frames = {
        let area = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
        let o = PlotOptions {
            levels: 0,
            text_scale: Some(scale),
            ..PlotOptions::default()
        };
        draw_comparison(
            &area,
            &layout,
            &[("A".into(), &low), ("B".into(), &high)],
            &o,
            PanelKind::Heatmap,
        )
        .unwrap();
        // Where each panel's plane lies, drawn again alone at the same size.
        (0..2)
            .map(|i| {
                let x0 = i * layout.panel_width;
                let mut scratch = vec![0u8; (w * h * 3) as usize];
                let again = BitMapBackend::with_buffer(&mut scratch, (w, h)).into_drawing_area();
                let again =
                    again.margin(0, h - layout.panels_height, x0, w - x0 - layout.panel_width);
                draw_heatmap(
                    &again,
                    if i == 0 { &low } else { &high },
                    &PlotOptions {
                        title: Some(if i == 0 { "A" } else { "B" }.into()),
                        color_range: Some((0.0, 2.0)),
                        colour_bar: false,
                        levels: 0,
                        text_scale: Some(scale),
                        ..PlotOptions::default()
                    },
                )
                .unwrap()
            })
            .collect::<Vec<_>>()
    };
    let at = |u: i32, v: i32| {
        let i = (v as usize * w as usize + u as usize) * 3;
        &buffer[i..i + 3]
    };
    // The right edge of each plane, vertically centred: A (max 1) is mid-scale, B (max 2) the top.
    for (frame, t) in frames.iter().zip([0.5, 1.0]) {
        let (u, v) = (frame.px.1 - 6, (frame.py.0 + frame.py.1) / 2);
        let d = distance(at(u, v), viridis(t));
        assert!(d < 900, "panel edge {:?} vs viridis({t})", at(u, v));
    }
    // One colour bar right of the last panel: its top is viridis' end, its bottom the start.
    let bar_u = (2 * layout.panel_width) as i32 + (layout.bar_width as i32) / 4;
    let column: Vec<&[u8]> = (0..layout.panels_height as i32)
        .map(|v| at(bar_u, v))
        .collect();
    let near = |c: RGBColor| column.iter().filter(|p| distance(p, c) < 300).count();
    assert!(
        near(viridis(1.0)) > 3 && near(viridis(0.0)) > 3,
        "no colour bar at x = {bar_u}"
    );
    // The caption: dark text pixels below the panels.
    let caption_dark = (layout.panels_height..h)
        .flat_map(|v| (0..w).map(move |u| (u, v)))
        .filter(|&(u, v)| distance(at(u as i32, v as i32), BLACK) < 3000)
        .count();
    assert!(
        caption_dark > 500,
        "{caption_dark} dark pixels in the caption band"
    );
    // The diverging map has no one scale to share.
    let mut scratch = vec![0u8; (w * h * 3) as usize];
    let area = BitMapBackend::with_buffer(&mut scratch, (w, h)).into_drawing_area();
    let diverging = PlotOptions {
        colour_map: ColourMap::Diverging,
        ..PlotOptions::default()
    };
    let err = draw_comparison(
        &area,
        &layout,
        &[("A".into(), &low)],
        &diverging,
        PanelKind::Heatmap,
    )
    .unwrap_err();
    assert!(err.to_string().contains("no one scale"), "{err}");
}

#[test]
fn captions_wrap_at_spaces() {
    assert_eq!(
        figure::wrap("one two three four", 9),
        vec!["one two", "three", "four"]
    );
    assert_eq!(figure::wrap("a\nb", 9), vec!["a", "b"]);
    assert_eq!(
        figure::wrap("supercalifragilistic x", 5),
        vec!["supercalifragilistic", "x"]
    );
}

/// A plane wider than tall (Δα = 2, Δβ = 1) is drawn with equal units on both axes, so the
/// comparison gives its row of panels less height: as little empty height as a square plane has.
#[test]
fn a_wide_grid_leaves_no_more_empty_height_in_a_comparison_than_a_square_one() {
    let square = surface(
        axis(-1.0, 1.0, 11),
        Some(axis(-1.0, 1.0, 11)),
        |a, b| a * a + b * b,
        |_, _| 0.5,
    );
    let wide = surface(
        axis(-1.0, 1.0, 11),
        Some(axis(-0.5, 0.5, 6)),
        |a, b| a * a + b * b,
        |_, _| 0.5,
    );
    let scale = PrintSize::text_scale(150.0);
    let slack = |s: &Surface| {
        let layout = ComparisonLayout::new(&[("A".into(), s)], 1050, scale, "");
        let (w, h) = layout.size;
        let mut buffer = vec![0u8; (w * h * 3) as usize];
        let area = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
        let panel = area.margin(0, h - layout.panels_height, 0, w - layout.panel_width);
        let frame = draw_heatmap(
            &panel,
            s,
            &PlotOptions {
                title: Some("A".into()),
                colour_bar: false,
                levels: 0,
                text_scale: Some(scale),
                ..PlotOptions::default()
            },
        )
        .unwrap();
        let plane = frame.py.1 - frame.py.0;
        (layout.panels_height, layout.panels_height as i32 - plane)
    };
    let ((square_h, square_slack), (wide_h, wide_slack)) = (slack(&square), slack(&wide));
    assert!(wide_h + 300 < square_h, "{wide_h} vs {square_h}");
    assert!(
        (wide_slack - square_slack).abs() <= 3,
        "empty height {wide_slack} px vs {square_slack} px for a square plane"
    );
}

#[test]
fn a_3d_mesh_keeps_every_point_up_to_its_limit_then_strides_through_the_last() {
    assert_eq!(mesh_indices(5, 64), vec![0, 1, 2, 3, 4]);
    assert_eq!(mesh_indices(65, 64), (0..65).collect::<Vec<_>>());
    let m = mesh_indices(101, 64);
    assert_eq!(m.len(), 51);
    assert_eq!((m[0], m[1], m[50]), (0, 2, 100));
    // 66 points: step 2 ends at 64, and the last point is kept.
    let m = mesh_indices(66, 64);
    assert_eq!(m.last(), Some(&65));
    assert!(m.windows(2).all(|w| w[1] - w[0] <= 2) && m.len() - 1 <= 64);
    assert_eq!(mesh_indices(1, 64), vec![0]);
    assert!(mesh_indices(0, 64).is_empty());
}
