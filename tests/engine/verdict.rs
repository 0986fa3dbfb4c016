//! The committed demo verdict (`static/demo/verdict.json`, written by `vitscape verdict`): its
//! answers follow from its own numbers, it covers both kinds of loss and the page's default seed,
//! and one of its rows is recomputed here from the demo files.

use std::path::{Path, PathBuf};

use vitscape::demo::Manifest;
use vitscape::verdict::{
    Comparison, DemoFiles, DemoMode, ModeVerdict, TAU_RELATIVE, Verdict, demo_panels,
    panel_summaries,
};

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("static/demo")
}

fn committed() -> Verdict {
    serde_json::from_slice(&std::fs::read(demo().join("verdict.json")).unwrap()).unwrap()
}

#[test]
fn committed_verdict_answers_follow_from_its_numbers() {
    let v = committed();
    assert!(v.seeds.len() >= 5, "{:?}", v.seeds);
    assert_eq!(v.seeds[0], vitscape::spec::Settings::default().seed);
    assert_eq!(v.tau_relative, TAU_RELATIVE);
    let modes: Vec<DemoMode> = v.modes.iter().map(|m| m.mode).collect();
    assert_eq!(modes, DemoMode::ALL.to_vec());
    for m in &v.modes {
        assert_eq!(m.models.len(), 3);
        for model in &m.models {
            assert_eq!(model.summaries.len(), v.seeds.len());
            for s in &model.summaries {
                assert!((s.tau - TAU_RELATIVE * s.centre.abs()).abs() < 1e-9 * s.centre.abs());
            }
        }
        // Recompute the comparisons from the summaries: the same questions and answers.
        // (JSON keeps the values to within an ulp, so the derived floats are compared loosely.)
        let again = ModeVerdict::new(m.mode, m.models.clone()).unwrap();
        assert_eq!(again.comparisons.len(), m.comparisons.len());
        for (a, c) in again.comparisons.iter().zip(&m.comparisons) {
            assert_eq!(
                (&a.question, &a.measure, a.answer, a.seeds_agreeing),
                (&c.question, &c.measure, c.answer, c.seeds_agreeing)
            );
            assert_eq!(a.model_values, c.model_values);
            assert!((a.mean_difference - c.mean_difference).abs() < 1e-12);
            assert!((a.sd_difference - c.sd_difference).abs() < 1e-12);
        }
        for c in &m.comparisons {
            let re = Comparison::new(
                c.question.clone(),
                c.measure.clone(),
                (c.model.clone(), c.model_values.clone()),
                (c.baseline.clone(), c.baseline_values.clone()),
                c.larger_is_yes,
            );
            assert_eq!(re.answer, c.answer);
        }
    }
}

/// The verdict's statistics against numpy (`tests/reference/verdict_bootstrap.py`): each
/// comparison's exact 95 % bootstrap interval of the mean difference and its effect size d_z.
#[test]
fn committed_verdict_intervals_and_effect_sizes_match_numpy() {
    let reference: serde_json::Value = serde_json::from_slice(
        &std::fs::read(crate::common::fixtures().join("verdict_bootstrap.json")).unwrap(),
    )
    .unwrap();
    let rows = reference["comparisons"].as_array().unwrap();
    let v = committed();
    let ours: Vec<&Comparison> = v.modes.iter().flat_map(|m| &m.comparisons).collect();
    assert_eq!(ours.len(), rows.len());
    for (c, row) in ours.iter().zip(rows) {
        assert_eq!(c.question, row["question"].as_str().unwrap());
        let (lo, hi) = c.interval().unwrap();
        let want = row["interval"].as_array().unwrap();
        for (got, want) in [lo, hi].iter().zip(want) {
            let want = want.as_f64().unwrap();
            assert!(
                (got - want).abs() <= 1e-12,
                "{}: {got} vs {want}",
                c.question
            );
        }
        match (c.effect_size(), row["effect_size"].as_f64()) {
            (Some(d), Some(want)) => {
                assert!(
                    (d - want).abs() <= 1e-9 * want.abs().max(1.0),
                    "{d} vs {want}"
                )
            }
            (got, want) => assert!(
                got.is_none_or(|d| !d.is_finite()) && want.is_none(),
                "{}: {got:?} vs {want:?}",
                c.question
            ),
        }
    }
}

#[test]
fn a_committed_verdict_row_is_reproduced_from_the_demo_files() {
    let v = committed();
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(demo().join("manifest.json")).unwrap()).unwrap();
    let images_gz = std::fs::read(demo().join(&manifest.eval_subset.images_file)).unwrap();
    let labels_gz = std::fs::read(demo().join(&manifest.eval_subset.labels_file)).unwrap();
    let files = DemoFiles {
        manifest: &manifest,
        images_gz: &images_gz,
        labels_gz: &labels_gz,
    };
    // Sup-ViT on its pre-training loss, the page's default seed.
    let panel = demo_panels(&manifest, DemoMode::Pretraining)
        .into_iter()
        .find(|p| p.family == "supervised")
        .unwrap();
    let bytes = std::fs::read(demo().join(&panel.file)).unwrap();
    let seed = v.seeds[0];
    let got = panel_summaries(&files, &panel, &bytes, &v.settings, &[seed], &mut |_| {}).unwrap();
    let want = &v.modes[0]
        .models
        .iter()
        .find(|m| m.family == "supervised")
        .unwrap()
        .summaries[0];
    let s = &got.summaries[0];
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1e-3);
    assert!(
        close(s.centre, want.centre),
        "{} vs {}",
        s.centre,
        want.centre
    );
    assert!(close(s.basin_area, want.basin_area), "{s:?} vs {want:?}");
    assert!(
        close(s.roughness_relative, want.roughness_relative),
        "{s:?} vs {want:?}"
    );
    assert_eq!(s.convex_fraction, want.convex_fraction);
}
