//! `vitscape figure`: a comparison as a 300-dpi PNG (the resolution recorded in the file) and an
//! SVG, with a caption from the specs; and what it refuses.

use std::path::Path;

use vitscape::landscape::surface::{LOSS, Surface};
use vitscape::spec::{Axis, LossSpec, MaskSpec};

use crate::common::{fails, ok, spec};

/// A complete bowl `scale·(α² + β²)` written as `dir/surface.json`.
fn bowl(dir: &Path, name: &str, scale: f64, mae: bool) {
    let axis = Axis {
        min: -1.0,
        max: 1.0,
        n: 9,
    };
    let mut sp = spec(axis, Some(axis));
    sp.checkpoint.name = format!("{name}.safetensors");
    if mae {
        sp.loss = LossSpec::Mae(MaskSpec {
            mask_ratio: 0.75,
            norm_pix_loss: true,
            mask_seed: 0,
        });
    }
    let mut s = Surface::empty(sp, &[LOSS]);
    for (iy, b) in s.y.clone().into_iter().enumerate() {
        for (ix, a) in s.x.clone().into_iter().enumerate() {
            s.metrics.get_mut(LOSS).unwrap()[iy][ix] = Some(scale * (a * a + b * b) + 0.1);
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("surface.json"), serde_json::to_string(&s).unwrap()).unwrap();
}

#[test]
fn a_comparison_figure_is_written_at_300_dpi_with_its_caption() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("sup"), tmp.path().join("mae"));
    bowl(&a, "sup-vit", 1.0, false);
    bowl(&b, "mae-vit", 3.0, true);
    let out = tmp.path().join("fig/comparison");
    let run = ok(&[
        "figure",
        &a.display().to_string(),
        &b.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("one colour scale for all panels: loss from 0.1 to 6.1"),
        "{stderr}"
    );

    let png = std::fs::read(tmp.path().join("fig/comparison.png")).unwrap();
    let (w, h) = image::ImageReader::new(std::io::Cursor::new(&png))
        .with_guessed_format()
        .unwrap()
        .into_dimensions()
        .unwrap();
    assert_eq!(w, 2100, "7 in at 300 dpi");
    assert!(h > 1000 && h < 2100, "{h}");
    let (dpi_x, dpi_y) = vitscape::plot::resolution_of(&png).expect("a pHYs chunk");
    assert!(
        (dpi_x - 300.0).abs() < 0.01 && (dpi_y - 300.0).abs() < 0.01,
        "{dpi_x}"
    );

    let svg = std::fs::read_to_string(tmp.path().join("fig/comparison.svg")).unwrap();
    assert!(svg.contains("width=\"672\""), "7 in at 96 per inch");
    // plotters writes each text on its own line inside its <text> element.
    assert!(svg.contains("\nsup-vit\n</text>") && svg.contains("\nmae-vit\n</text>"));
    for text in [
        "Objective: sup-vit: cross-entropy; mae-vit: MAE reconstruction loss",
        "Directions: random Gaussian directions (seed 9), filter-normalised",
    ] {
        // Caption lines wrap, so look for each piece's words in order.
        let words: Vec<&str> = text.split(' ').collect();
        let mut from = 0;
        for w in words {
            let at = svg[from..]
                .find(w)
                .unwrap_or_else(|| panic!("{w:?} of {text:?} not in the SVG"));
            from += at + w.len();
        }
    }

    // Labels and a caption of one's own.
    ok(&[
        "figure",
        &a.display().to_string(),
        &b.display().to_string(),
        "--labels",
        "Sup-ViT",
        "MAE",
        "--caption",
        "Figure 2.",
        "--kind",
        "contour",
        "--out",
        &out.display().to_string(),
    ]);
    let svg = std::fs::read_to_string(tmp.path().join("fig/comparison.svg")).unwrap();
    assert!(
        svg.contains("\nSup-ViT\n</text>") && svg.contains("\nFigure 2.\n</text>"),
        "labels and caption"
    );
    assert!(!svg.contains("Objective"));
}

#[test]
fn figure_refuses_what_it_cannot_draw_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    bowl(&a, "a", 1.0, false);
    let a = a.display().to_string();
    let out = tmp.path().join("f").display().to_string();
    let err = fails(&["figure", &a, "--labels", "x", "y", "--out", &out]);
    assert!(err.contains("2 labels for 1 surfaces"), "{err}");
    let err = fails(&["figure", &a, "--dpi", "5000", "--out", &out]);
    assert!(err.contains("--dpi 5000"), "{err}");
    let err = fails(&["figure", &a, "--colour-map", "diverging", "--out", &out]);
    assert!(err.contains("no one scale to share"), "{err}");
    let missing = tmp.path().join("nothing").display().to_string();
    let err = fails(&["figure", &missing, "--out", &out]);
    assert!(err.contains("nothing"), "{err}");
}
