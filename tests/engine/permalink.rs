//! Permalinks: a comparison survives the URL fragment within the stated quantisation error, and
//! damaged, foreign or hostile links give a message naming what is wrong.

use crate::common;

use vitscape::landscape::surface::Surface;
use vitscape::spec::Axis;
use vitscape::spec::permalink::{self, PermalinkError, PlotKind, View};

fn surface() -> Surface {
    let spec = common::spec(
        Axis::parse("-1:1:9").unwrap(),
        Some(Axis::parse("-0.5:1.5:7").unwrap()),
    );
    let mut s = Surface::empty(spec, &["loss", "accuracy"]);
    for (iy, y) in s.y.clone().iter().enumerate() {
        for (ix, x) in s.x.clone().iter().enumerate() {
            if (ix + iy) % 5 == 3 {
                continue; // leave some cells missing
            }
            s.metrics.get_mut("loss").unwrap()[iy][ix] =
                Some(0.3 + x * x + 2.0 * y * y + 0.01 * x * y);
            s.metrics.get_mut("accuracy").unwrap()[iy][ix] = Some(0.9 - 0.1 * x.abs());
        }
    }
    s.info.direction_cosine = Some(0.0012);
    s
}

#[test]
fn round_trip_keeps_spec_view_and_values_within_the_stated_error() {
    let s = surface();
    let view = View {
        plot: PlotKind::Heatmap,
        log_scale: true,
        yaw: 1.1,
        colour_map: vitscape::plot::ColourMap::Cividis,
        ..View::default()
    };
    let link = permalink::encode(&view, &[("Sup-ViT".into(), &s), ("MAE-ViT".into(), &s)]).unwrap();
    assert!(link.starts_with("vitscape1."));
    assert!(link.len() < 2000, "link is {} characters", link.len());
    let shared = permalink::decode(&format!("#{link}")).unwrap();
    assert_eq!(shared.view, view);
    assert_eq!(shared.panels.len(), 2);
    assert_eq!(shared.panels[1].label, "MAE-ViT");
    let back = &shared.panels[0].surface;
    assert_eq!(back.spec, s.spec);
    assert_eq!((back.x.clone(), back.y.clone()), (s.x.clone(), s.y.clone()));
    assert_eq!(back.info, s.info);
    for (name, grid) in &s.metrics {
        let tol = permalink::max_error(grid);
        // (max − min) / 65534 / 2 for this metric.
        let values: Vec<f64> = grid.iter().flatten().flatten().copied().collect();
        let span = values.iter().cloned().fold(f64::MIN, f64::max)
            - values.iter().cloned().fold(f64::MAX, f64::min);
        assert!((tol - span / 65534.0 / 2.0).abs() < 1e-15);
        for (row, row_back) in grid.iter().zip(&back.metrics[name]) {
            for (a, b) in row.iter().zip(row_back) {
                match (a, b) {
                    (None, None) => {}
                    (Some(a), Some(b)) => {
                        assert!((a - b).abs() <= tol * 1.0001, "{name}: {a} vs {b}")
                    }
                    _ => panic!("{name}: missing cells must stay missing ({a:?} vs {b:?})"),
                }
            }
        }
    }
}

#[test]
fn damaged_and_foreign_links_are_named() {
    let s = surface();
    let link = permalink::encode(&View::default(), &[("a".into(), &s)]).unwrap();
    let cut = &link[..link.len() / 2];
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "does not hold a vitscape plot"),
        ("#section-2".into(), "does not hold a vitscape plot"),
        (
            link.replacen("vitscape1.", "vitscape7.", 1),
            "permalink format 7",
        ),
        (cut.to_string(), "damaged"),
        (link.replacen('.', ".!!", 1), "not valid base64"),
        (
            format!(
                "vitscape1.{}",
                base64_of_deflate(b"{\"v\":1,\"panels\":[]}")
            ),
            "no panels",
        ),
        (
            format!("vitscape1.{}", base64_of_deflate(b"[1,2,3]")),
            "not a vitscape comparison",
        ),
    ];
    for (text, expected) in cases {
        let err = permalink::decode(&text).unwrap_err().to_string();
        assert!(
            err.contains(expected),
            "{text:.40}: `{err}` lacks `{expected}`"
        );
    }
}

#[test]
fn hostile_payloads_are_refused_without_allocating_them() {
    // A grid of 10⁹ cells.
    let mut wire: serde_json::Value = serde_json::from_slice(&inflate_of(
        &permalink::encode(&View::default(), &[("a".into(), &surface())]).unwrap(),
    ))
    .unwrap();
    wire["panels"][0]["spec"]["grid"]["x"]["n"] = serde_json::json!(1_000_000_000u64);
    let link = format!(
        "vitscape1.{}",
        base64_of_deflate(&serde_json::to_vec(&wire).unwrap())
    );
    let err = permalink::decode(&link).unwrap_err();
    assert!(
        matches!(err, PermalinkError::Invalid { panel: 1, .. }),
        "{err}"
    );
    // Wrong number of codes for the grid.
    let mut wire2 = wire.clone();
    wire2["panels"][0]["spec"]["grid"]["x"]["n"] = serde_json::json!(10);
    let link = format!(
        "vitscape1.{}",
        base64_of_deflate(&serde_json::to_vec(&wire2).unwrap())
    );
    let err = permalink::decode(&link).unwrap_err().to_string();
    assert!(err.contains("63 values for a 7×10 grid"), "{err}");
    // A deflate bomb: 64 MiB of zeros.
    let bomb = base64_of_deflate(&vec![b' '; 64 << 20]);
    assert_eq!(
        permalink::decode(&format!("vitscape1.{bomb}")).unwrap_err(),
        PermalinkError::TooLarge
    );
}

fn base64_of_deflate(bytes: &[u8]) -> String {
    use base64::Engine;
    use std::io::Write;
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(bytes).unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(z.finish().unwrap())
}

fn inflate_of(link: &str) -> Vec<u8> {
    use base64::Engine;
    use std::io::Read;
    let payload = link.split_once('.').unwrap().1;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn a_hostile_view_is_clamped_with_a_notice_for_each_value() {
    let s = surface();
    let view = View {
        plot: PlotKind::Surface,
        levels: 1_000_000_000,
        yaw: f64::NAN,
        pitch: 40.0,
        metric: "<script>".into(),
        ..View::default()
    };
    // JSON has no NaN (serde_json writes null, which no link can carry as a number): the link
    // gets an absurd finite yaw, and NaN is tried on the view directly below.
    let link = permalink::encode(
        &View {
            yaw: 1e300,
            ..view.clone()
        },
        &[("a".into(), &s)],
    )
    .unwrap();
    let started = std::time::Instant::now();
    let shared = permalink::decode(&link).unwrap();
    assert!(started.elapsed().as_secs_f64() < 5.0);
    assert_eq!(shared.view.levels, vitscape::plot::MAX_LEVELS);
    assert_eq!(shared.view.metric, "loss");
    assert_eq!(shared.view.pitch, permalink::MAX_PITCH);
    assert!(shared.view.yaw.is_finite() && (0.0..std::f64::consts::TAU).contains(&shared.view.yaw));
    let notices = shared.notices.join("\n");
    assert_eq!(shared.notices.len(), 3, "{notices}");
    assert!(
        notices.contains("1000000000 contour levels; showing 50"),
        "{notices}"
    );
    assert!(notices.contains("metric `<script>`"), "{notices}");
    assert!(notices.contains("elevation (40)"), "{notices}");

    let mut v = view;
    let notices = v.sanitise(&["loss"]);
    assert_eq!(v.yaw, vitscape::plot::DEFAULT_YAW);
    assert!(
        notices.iter().any(|n| n.contains("rotation (NaN)")),
        "{notices:?}"
    );
    // A view the page made itself passes unchanged, without a word.
    let mut plain = View::default();
    assert!(plain.sanitise(&["loss", "accuracy"]).is_empty());
    assert_eq!(plain, View::default());
    // And the levels stay bounded whoever asks.
    assert!(vitscape::plot::contour_levels(0.0, 1.0, usize::MAX, false).len() <= 51);
}

#[test]
fn a_view_from_before_colour_maps_is_viridis_and_an_unknown_map_is_named() {
    let old: View = serde_json::from_str(r#"{"plot":"heatmap","levels":8}"#).unwrap();
    assert_eq!(old.colour_map, vitscape::plot::ColourMap::Viridis);
    assert_eq!(old.levels, 8);
    let err = serde_json::from_str::<View>(r#"{"colour_map":"jet"}"#).unwrap_err();
    assert!(
        err.to_string().contains("jet") && err.to_string().contains("cividis"),
        "{err}"
    );
    for m in vitscape::plot::ColourMap::ALL {
        let json = serde_json::to_string(&View {
            colour_map: m,
            ..View::default()
        })
        .unwrap();
        assert!(
            json.contains(&format!(r#""colour_map":"{}""#, m.name())),
            "{json}"
        );
        assert_eq!(m.name().parse::<vitscape::plot::ColourMap>(), Ok(m));
    }
}
