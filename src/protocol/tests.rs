use super::*;

/// A 3×3 MAE sweep's spec, as `vitscape sweep` wrote it.
const SPEC: &str = r#"{"version": 1, "checkpoint": {"name": "static/demo/mae-vit.safetensors", "sha256": "b9fecd4200b1e2f0753c8c8d525ad01e7cd10df6c4aefac4948b018e974cae24", "branch": null, "num_heads": 4, "decoder_num_heads": 2}, "data": {"source": {"kind": "fashion-mnist", "dir": "/usr/share/datasets/fashion-mnist", "split": "test"}, "eval_images": 8, "subset_seed": 0, "mean": [0.286], "std": [0.353], "mean_std": "fashion-mnist (assumed: the default for 1-channel images; give --mean/--std to change it)"}, "loss": {"kind": "mae", "mask_ratio": 0.75, "norm_pix_loss": true, "mask_seed": 0}, "directions": {"source": {"kind": "random", "seed": 0}, "normalisation": "filter", "include_rank1": false, "include_pos_embed": false}, "grid": {"x": {"min": -1.0, "max": 1.0, "n": 3}, "y": {"min": -1.0, "max": 1.0, "n": 3}}, "batch_size": 128}"#;

#[test]
fn a_pool_shares_panels_and_convexity_rows_evenly_and_each_exactly_once() {
    // Three panels of three rows over two workers: the nine rows go 5 / 4, each row to one.
    for count in 1..=4 {
        let mut owners = vec![Vec::new(); 9];
        for index in 0..count {
            let share = Share { index, count };
            for panel in 0..3 {
                let shard = share.convexity_rows(panel * 3).unwrap();
                assert_eq!(shard.is_some(), count > 1);
                for iy in 0..3 {
                    if shard.is_none_or(|s| s.rows && s.has_row(iy)) {
                        owners[panel * 3 + iy].push(index);
                    }
                }
            }
        }
        for (row, who) in owners.iter().enumerate() {
            assert_eq!(who, &[row % count], "{count} workers, row {row}");
        }
        let panels: Vec<Vec<usize>> = (0..count)
            .map(|index| {
                (0..5)
                    .filter(|p| Share { index, count }.takes(*p))
                    .collect()
            })
            .collect();
        assert_eq!(panels.iter().map(Vec::len).sum::<usize>(), 5);
        assert!(panels.iter().all(|p| p.len() >= 5 / count));
    }
}

/// A request for one panel, its checkpoint in attachment 0 and its images in 1.
fn request() -> serde_json::Value {
    let spec: serde_json::Value = serde_json::from_str(SPEC).unwrap();
    serde_json::json!({
        "job": 1,
        "panels": [{"label": "a", "spec": spec, "checkpoint": 0, "teacher": null,
                    "data": {"kind": "zip", "index": 1}}],
        "cells_per_read": 4,
        "prefer_gpu": false,
    })
}

#[test]
fn a_request_is_checked_against_its_attachments_and_ranges() {
    let bytes = |v: &serde_json::Value| serde_json::to_vec(v).unwrap();
    let good = request();
    assert!(RunRequest::from_header(&bytes(&good), 2).is_ok());
    let fails = |v: serde_json::Value, attachments: usize, says: &str| {
        let e = RunRequest::from_header(&bytes(&v), attachments).unwrap_err();
        assert!(e.contains(says), "{e}");
    };
    fails(
        good.clone(),
        1,
        "the zip archive is attachment 1, but 1 came",
    );
    let mut v = good.clone();
    v["panels"][0]["teacher"] = 7.into();
    fails(v, 2, "the teacher is attachment 7");
    let mut v = good.clone();
    v["panels"][0]["data"] =
        serde_json::json!({"kind": "files", "first": usize::MAX, "names": ["a.png", "b.png"]});
    fails(v, 2, "the last image file is attachment");
    let mut v = good.clone();
    v["panels"] = serde_json::json!([]);
    fails(v, 2, "no panels");
    let mut v = good.clone();
    v["cells_per_read"] = 0.into();
    fails(v, 2, "cells_per_read is 0");
    let mut v = good.clone();
    v["share"] = serde_json::json!({"index": 2, "count": 2});
    fails(v, 2, "pool share 2 of 2");
    let mut v = good.clone();
    v["panels"][0]["spec"]["grid"]["x"]["n"] = 0.into();
    fails(v, 2, "panel 1 (a): ");
    let mut v = good.clone();
    v["panels"][0]["spec"]["grid"]["x"]["n"] = 4096.into();
    v["panels"][0]["spec"]["grid"]["y"] = serde_json::json!({"min": -1.0, "max": 1.0, "n": 4096});
    fails(v, 2, "more than 1048576 cells");
    let mut v = good.clone();
    v["task"] = serde_json::json!({"kind": "convexity-map", "points": 1000000,
        "settings": {"k": 1, "max_iterations": 10, "tolerance": 0.001, "seed": 0}});
    fails(v, 2, "1000000 points per axis");
    let mut v = good.clone();
    v["skip"] = serde_json::json!([[0], [1]]);
    fails(v, 2, "cells to skip are given for 2 panels");
    let mut v = good.clone();
    v["skip"] = serde_json::json!([[8, 9]]);
    fails(v, 2, "cell 9 to skip is outside its 9-cell grid");
    // Direction files named by the spec must come, and only they.
    let mut v = good.clone();
    v["panels"][0]["spec"]["directions"]["source"] = serde_json::json!({"kind": "files",
        "x": {"name": "pca_1.safetensors", "sha256": "ab".repeat(32)},
        "y": {"name": "pca_2.safetensors", "sha256": "cd".repeat(32)}});
    fails(
        v.clone(),
        2,
        "its spec names 2 direction file(s) besides the checkpoint, but no other file came",
    );
    v["panels"][0]["files"] = serde_json::json!({"directions": [1, 5]});
    fails(v.clone(), 2, "a direction file is attachment 5");
    v["panels"][0]["files"] = serde_json::json!({"directions": [1, 0]});
    assert!(RunRequest::from_header(&bytes(&v), 2).is_ok());
    let mut v = good.clone();
    v["panels"][0]["files"] = serde_json::json!({"target": 1});
    fails(
        v,
        2,
        "names no other file besides the checkpoint, but the path's other end came",
    );
    let mut v = good;
    v["task"] = serde_json::json!({"kind": "top-eigenvalue",
        "settings": {"k": 1, "max_iterations": 0, "tolerance": 0.001, "seed": 0}});
    fails(v, 2, "max_iterations is 0");
    assert!(
        RunRequest::from_header(b"{\"job\": ", 2)
            .unwrap_err()
            .starts_with("bad message header")
    );
}

#[test]
fn a_replacement_worker_plans_only_its_share_of_the_missing_cells() {
    let grids = [(5, 4), (3, 3)];
    let mut request: RunRequest = serde_json::from_value(request()).unwrap();
    request.share = Share { index: 1, count: 2 };
    let full: Vec<(usize, Cell)> = request
        .plan(&grids, 3)
        .into_iter()
        .flat_map(|(p, cells)| cells.into_iter().map(move |c| (p, c)))
        .collect();
    // Skip every other cell of the share's panel-0 cells and all of panel 1's.
    let skip0: Vec<usize> = full
        .iter()
        .filter(|(p, _)| *p == 0)
        .step_by(2)
        .map(|(_, c)| c.iy * 5 + c.ix)
        .collect();
    request.skip = vec![skip0.clone(), (0..9).collect()];
    let plan = request.plan(&grids, 3);
    assert!(plan.iter().all(|(p, cells)| *p == 0 && !cells.is_empty()));
    let left: Vec<usize> = plan
        .iter()
        .flat_map(|(_, cells)| cells.iter().map(|c| c.iy * 5 + c.ix))
        .collect();
    let expected: Vec<usize> = full
        .iter()
        .filter(|(p, c)| *p == 0 && !skip0.contains(&(c.iy * 5 + c.ix)))
        .map(|(_, c)| c.iy * 5 + c.ix)
        .collect();
    assert_eq!(left, expected);
    // The default request plans what the share alone gives.
    request.skip.clear();
    assert_eq!(
        request.plan(&grids, 3).len(),
        request.share.of(schedule(&grids, 3)).len()
    );
}

#[test]
fn the_cpu_pool_shrinks_with_the_model_size() {
    // The demo's tiny ViTs and a ViT-Ti/16 use every core.
    assert_eq!(cpu_workers(4, &[28_000, 28_000, 28_000]), (4, None));
    assert_eq!(cpu_workers(4, &[5_717_416]), (4, None));
    // A ViT-S/16 on 4 cores: 3 copies fit.
    let (n, note) = cpu_workers(4, &[22_050_664]);
    assert_eq!(n, 3);
    assert!(note.unwrap().starts_with("3 of 4 CPU workers"));
    // A ViT-B/16: one worker, and the note says how much each would hold.
    let (n, note) = cpu_workers(2, &[86_567_656]);
    assert_eq!(n, 1);
    let note = note.unwrap();
    assert!(
        note.contains("2.4 GB") && note.contains("86.6 M parameters"),
        "{note}"
    );
    // Too big for even one: still one worker (the run may fail, but says why).
    assert_eq!(cpu_workers(2, &[1 << 30]).0, 1);
    assert_eq!(cpu_workers(4, &[usize::MAX, usize::MAX]).0, 1);
    assert_eq!(cpu_workers(1, &[]), (1, None));
}

#[test]
fn schedule_interleaves_panels_and_covers_every_cell_once() {
    let plan = schedule(&[(5, 5), (5, 5), (3, 1)], 4);
    // Round one: a chunk of each panel, in panel order.
    assert_eq!(
        plan.iter().take(3).map(|(p, _)| *p).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    for (panel, total) in [(0, 25), (1, 25), (2, 3)] {
        let cells: Vec<Cell> = plan
            .iter()
            .filter(|(p, _)| *p == panel)
            .flat_map(|(_, c)| c.clone())
            .collect();
        assert_eq!(cells.len(), total);
        let unique: std::collections::HashSet<_> = cells.iter().map(|c| (c.ix, c.iy)).collect();
        assert_eq!(unique.len(), total);
    }
    assert!(plan.iter().all(|(_, c)| c.len() <= 4 && !c.is_empty()));
}

#[test]
fn shares_split_a_plan_into_disjoint_parts_that_cover_it() {
    let plan = schedule(&[(17, 17); 3], 4);
    let parts: Vec<_> = (0..3)
        .map(|index| Share { index, count: 3 }.of(plan.clone()))
        .collect();
    let mut cells = std::collections::HashSet::new();
    for part in &parts {
        for (panel, chunk) in part {
            for c in chunk {
                assert!(cells.insert((*panel, c.ix, c.iy)), "computed twice");
            }
        }
    }
    assert_eq!(cells.len(), 3 * 17 * 17);
    assert_eq!(Share::default().of(plan.clone()), plan);
    // Balanced: every worker gets about a third.
    for part in &parts {
        let n: usize = part.iter().map(|(_, c)| c.len()).sum();
        assert!((260..=320).contains(&n), "{n}");
    }
}

#[test]
fn every_panel_completes_a_lattice_before_any_starts_the_next() {
    // The demo: three 17×17 panels. Their 2×2 and 3×3 lattices (9 cells each) come first,
    // so after 27 cells each panel has a preview.
    let plan = schedule(&[(17, 17); 3], 4);
    let first: Vec<(usize, Cell)> = plan
        .iter()
        .flat_map(|(p, c)| c.iter().map(move |c| (*p, *c)))
        .take(27)
        .collect();
    for panel in 0..3 {
        let mine: std::collections::HashSet<_> = first
            .iter()
            .filter(|(p, _)| *p == panel)
            .map(|(_, c)| (c.ix, c.iy))
            .collect();
        for ix in [0, 8, 16] {
            for iy in [0, 8, 16] {
                assert!(mine.contains(&(ix, iy)), "panel {panel} lacks ({ix}, {iy})");
            }
        }
    }
}

#[test]
fn estimates_need_a_positive_rate() {
    assert_eq!(
        estimate_seconds(&[1.0, 1.0, 1.0], 289, 128, 1000.0),
        Some(110.976)
    );
    // A model of 4× the FLOPs takes 4× as long at the same FLOP rate.
    assert_eq!(estimate_seconds(&[4.0], 289, 128, 1000.0), Some(147.968));
    assert_eq!(estimate_seconds(&[1.0], 289, 128, 0.0), None);
}
