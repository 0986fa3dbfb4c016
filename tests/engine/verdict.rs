//! The committed demo verdict (`static/demo/verdict.json`, written by `vitscape verdict`): its
//! answers follow from its own numbers, it covers both kinds of loss and the page's default seed,
//! and one of its rows is recomputed here from the demo files.

use std::path::{Path, PathBuf};

use vitscape::demo::Manifest;
use vitscape::demo::verdict::stats::answer_from;
use vitscape::demo::verdict::{
    Comparison, DemoFiles, DemoMode, MAP_FAMILIES, ModeVerdict, RULE, TAU_RELATIVE, Verdict,
    demo_panels, nested_bootstrap_interval, panel_summaries,
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
    assert_eq!(v.rule, RULE);
    let training = v.training_seeds.len().max(1);
    let modes: Vec<DemoMode> = v.modes.iter().map(|m| m.mode).collect();
    assert_eq!(modes, DemoMode::ALL.to_vec());
    for m in &v.modes {
        assert_eq!(m.models.len(), 3 * training);
        for model in &m.models {
            assert_eq!(model.summaries.len(), v.seeds.len());
            assert_eq!(model.specs.len(), v.seeds.len());
            for s in &model.summaries {
                assert!((s.tau - TAU_RELATIVE * s.centre.abs()).abs() < 1e-9 * s.centre.abs());
                assert!(s.topology.is_some(), "{} lacks the merge tree", model.name);
            }
            // The convexity maps: MAE and RC-MAE only, one per planned plane.
            let maps = v.convexity.as_ref().map_or(0, |c| c.seeds.len());
            let want = if MAP_FAMILIES.contains(&model.family.as_str()) {
                maps
            } else {
                0
            };
            assert_eq!(model.convexity_maps.len(), want, "{}", model.name);
            for map in &model.convexity_maps {
                assert!((0.0..=1.0).contains(&map.convex_fraction));
                assert!(map.converged_cells <= map.cells && map.products >= 2 * map.cells);
            }
        }
        // Recompute the comparisons from the summaries: the same questions, intervals and
        // answers (serde_json reads the floats exactly, and the bootstrap is seeded).
        let again = ModeVerdict::new(m.mode, m.models.clone()).unwrap();
        assert_eq!(
            again.comparisons.len(),
            3 + usize::from(v.convexity.is_some())
        );
        assert_eq!(again.comparisons, m.comparisons);
        for c in &m.comparisons {
            assert_eq!(
                c.answer,
                answer_from(c.interval, c.larger_is_yes, c.model_values.len())
            );
            assert_eq!(c.training_seeds.len(), v.training_seeds.len());
        }
    }
}

/// The verdict's statistics against numpy (`tests/reference/verdict_bootstrap.py`): each
/// comparison's 95 % bootstrap interval of the mean difference (exact with one training seed;
/// nested, by numpy's own resampling, with several, within four of the Monte Carlo standard
/// deviations the script measured) and its effect size; and the nested bootstrap of a fixed
/// three-seed example.
#[test]
fn committed_verdict_intervals_and_effect_sizes_match_numpy() {
    let reference: serde_json::Value = serde_json::from_slice(
        &std::fs::read(crate::common::fixtures().join("verdict_bootstrap.json")).unwrap(),
    )
    .unwrap();
    let check = |(lo, hi): (f64, f64), row: &serde_json::Value, what: &str| {
        let want = row["interval"].as_array().unwrap();
        let sd = row["interval_mc_sd"].as_array();
        for (k, got) in [lo, hi].into_iter().enumerate() {
            let w = want[k].as_f64().unwrap();
            let tolerance = sd.map_or(1e-12, |s| 4.0 * s[k].as_f64().unwrap() + 1e-12);
            assert!(
                (got - w).abs() <= tolerance,
                "{what}: endpoint {k}: {got} vs numpy {w} (tolerance {tolerance})"
            );
        }
    };
    for case in reference["nested_cases"].as_array().unwrap() {
        let groups: Vec<Vec<f64>> = serde_json::from_value(case["groups"].clone()).unwrap();
        check(
            nested_bootstrap_interval(&groups).unwrap(),
            case,
            "fixed example",
        );
    }
    let rows = reference["comparisons"].as_array().unwrap();
    let v = committed();
    let ours: Vec<&Comparison> = v.modes.iter().flat_map(|m| &m.comparisons).collect();
    assert_eq!(ours.len(), rows.len());
    for (c, row) in ours.iter().zip(rows) {
        assert_eq!(c.question, row["question"].as_str().unwrap());
        check(c.interval.unwrap(), row, &c.question);
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
    let got = panel_summaries(
        &files,
        &panel,
        &bytes,
        &v.settings,
        &[seed],
        None,
        &mut |_| {},
    )
    .unwrap();
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

/// A verdict over two training seeds: a copy of the demo whose manifest lists every model again
/// as trained with seed 1 (the same files under `seed-1/`, so each training seed's values must be
/// the other's), with convexity maps, written over the committed verdict, which it then names
/// as the one it replaced.
#[test]
fn a_verdict_over_training_seeds_pairs_them_and_says_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut manifest: Manifest =
        serde_json::from_slice(&std::fs::read(demo().join("manifest.json")).unwrap()).unwrap();
    std::fs::create_dir_all(dir.join("seed-1")).unwrap();
    for f in [
        &manifest.eval_subset.images_file,
        &manifest.eval_subset.labels_file,
    ] {
        std::fs::copy(demo().join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(demo().join("verdict.json"), dir.join("verdict.json")).unwrap();
    let mut replicates = Vec::new();
    for m in &manifest.models {
        std::fs::copy(demo().join(&m.file), dir.join(&m.file)).unwrap();
        if m.method == "finetune" {
            continue;
        }
        let mut r = m.clone();
        r.seed = 1;
        r.file = format!("seed-1/{}", m.file);
        std::fs::copy(demo().join(&m.file), dir.join(&r.file)).unwrap();
        replicates.push(r);
    }
    manifest.replicates = replicates;
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string(&manifest).unwrap(),
    )
    .unwrap();
    let out = crate::common::ok(&[
        "verdict",
        "--demo",
        &dir.display().to_string(),
        "--seeds",
        "1",
        "2",
        "--grid",
        "3",
        "--eval-images",
        "16",
        "--convexity-grid",
        "2",
        "--convexity-seeds",
        "1",
        "--max-iterations",
        "3",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let v: Verdict =
        serde_json::from_slice(&std::fs::read(dir.join("verdict.json")).unwrap()).unwrap();
    assert_eq!(v.training_seeds, [0, 1]);
    assert_eq!(v.trained.len(), 10, "{:?}", v.trained);
    for m in &v.modes {
        assert_eq!(m.models.len(), 6);
        assert_eq!(
            m.comparisons.len(),
            4,
            "the convexity-map question is asked"
        );
        for c in &m.comparisons {
            assert_eq!(c.training_seeds, [0, 1]);
            let d = c.differences();
            assert_eq!(d.len(), 2);
            // The same files under both seeds: the same values, bit for bit.
            assert_eq!(d[0], d[1], "{}", c.question);
            assert_eq!(c.training_seeds_agreeing % 2, 0);
            assert_eq!(
                c.answer,
                answer_from(c.interval, c.larger_is_yes, c.model_values.len())
            );
            assert!(
                c.sentence().contains("over 2 training seeds"),
                "{}",
                c.sentence()
            );
        }
        for model in m.models.iter().filter(|m| m.family == "rcmae") {
            assert_eq!(model.convexity_maps.len(), 1);
            assert_eq!(model.convexity_maps[0].seed, 1);
            assert_eq!(model.convexity_maps[0].cells, 4);
        }
    }
    // What changed: said on stderr and recorded from the committed verdict it replaced.
    let previous = v
        .previous
        .as_ref()
        .expect("the replaced verdict is recorded");
    assert_eq!(previous.seeds, committed().seeds);
    let changes = vitscape::demo::verdict::changes(&v);
    let all = changes.join("\n");
    assert!(
        all.contains("Training seeds:") && all.contains("(0, 1)"),
        "{all}"
    );
    assert!(
        all.contains("Direction seeds:") && all.contains("Sweeps:"),
        "{all}"
    );
    // The committed verdict's Sup-ViTs (one per training seed it had) before; two now.
    let sup = &manifest.models[0];
    let before: Vec<_> = committed()
        .trained
        .into_iter()
        .filter(|m| m.name == sup.name)
        .collect();
    let accuracy = before
        .iter()
        .map(|m| m.test_metrics["test_accuracy"])
        .sum::<f64>()
        / before.len() as f64
        * 100.0;
    let said = match before.len() {
        1 => format!(
            "{}: one training seed, {} epochs, test accuracy {accuracy:.1} % before; 2 training seeds",
            sup.name, before[0].epochs
        ),
        n => format!(
            "{}: {n} training seeds, {} epochs, test accuracy {accuracy:.1} % (mean) before; 2 training seeds",
            sup.name, before[0].epochs
        ),
    };
    assert!(all.contains(&said), "{said} not in {all}");
    // Each model named once, whatever order the seeds list them in.
    for (i, line) in changes.iter().enumerate() {
        assert!(!changes[..i].contains(line), "said twice: {line}");
    }
    for line in &changes {
        assert!(stderr.contains(line.as_str()), "{line} not on stderr");
    }
    // Each surface's spec reads back under a label naming its training seed.
    let labels =
        vitscape::spec::read_specs(&std::fs::read_to_string(dir.join("verdict.json")).unwrap())
            .unwrap();
    assert!(
        labels
            .iter()
            .any(|l| l.label == "pretraining/Sup-ViT/training seed 1/seed 2"),
        "{:?}",
        labels.iter().map(|l| &l.label).collect::<Vec<_>>()
    );
}
