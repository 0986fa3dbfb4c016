//! `vitscape sweep --spec`: any output's spec recomputes the same surface, bit for bit — one made
//! by the CLI, one made as the page makes it (the worker's `job` path, demo subset, the page's
//! "Copy CLI command"), one from a permalink and one from the demo verdict — with every file
//! found by path or sha256 and checked.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use vitscape::demo::Manifest;
use vitscape::demo::verdict::{self, TAU_RELATIVE, Verdict};
use vitscape::landscape::job::{self, DataInput};
use vitscape::landscape::setup::Extras;
use vitscape::landscape::surface::Surface;
use vitscape::landscape::sweep::{self, Control};
use vitscape::model::arch::HeadCounts;
use vitscape::spec::permalink;
use vitscape::spec::{Axis, Branch, Inputs, LossChoice, Settings, cli_command};

use crate::common::{fails, fixtures, ok};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn demo() -> PathBuf {
    root().join("static/demo")
}

fn read_surface(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The same spec and the same numbers, bit for bit (both files are written by serde_json from
/// f64s, so equal values are equal JSON numbers).
fn assert_same(made: &Value, again: &Value) {
    assert_eq!(made["spec"], again["spec"]);
    assert!(made["metrics"].as_object().is_some_and(|m| !m.is_empty()));
    assert_eq!(made["metrics"], again["metrics"]);
}

fn small(n: usize, eval_images: usize) -> Settings {
    let axis = Axis {
        min: -0.5,
        max: 0.5,
        n,
    };
    Settings {
        x: axis,
        y: Some(Axis { n: 3, ..axis }),
        seed: 11,
        eval_images,
        ..Settings::default()
    }
}

/// A demo panel computed the way the page computes it: the spec from the page's settings and the
/// demo subset, then the worker's `job` path (bytes in, flex device, coarse-to-fine cells).
fn page_made(file: &str, loss: LossChoice, settings: &Settings) -> Surface {
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(demo().join("manifest.json")).unwrap()).unwrap();
    let bytes = std::fs::read(demo().join(file)).unwrap();
    let rcmae = loss == LossChoice::Rcmae;
    let model = job::load_model(
        &bytes,
        rcmae.then_some(Branch::Student),
        HeadCounts::default(),
    )
    .unwrap();
    let teacher = rcmae
        .then(|| job::load_model(&bytes, Some(Branch::Teacher), HeadCounts::default()).unwrap());
    let data = verdict::demo_data(&manifest.eval_subset, settings.eval_images).unwrap();
    let spec = settings
        .spec(Inputs {
            checkpoint: model.reference(file),
            loss,
            teacher: teacher.as_ref().map(|t| t.reference(file)),
            data,
            directions: None,
        })
        .unwrap();
    let s = &manifest.eval_subset;
    let images_gz = std::fs::read(demo().join(&s.images_file)).unwrap();
    let labels_gz = std::fs::read(demo().join(&s.labels_file)).unwrap();
    let images = job::load_images(
        &spec,
        &model.config,
        DataInput::DemoSubset {
            images_gz: &images_gz,
            labels_gz: &labels_gz,
            subset: s,
        },
    )
    .unwrap();
    let extras = Extras {
        teacher,
        ..Extras::default()
    };
    let device = burn::tensor::Device::flex();
    let mut started = job::start(&spec, &model, &extras, &images, &device, "flex").unwrap();
    let order = sweep::coarse_to_fine(started.surface.x.len(), started.surface.y.len());
    // The worker's pace on the CPU: one cell per forward.
    pollster::block_on(sweep::run(
        &started.prepared.evaluator,
        &mut started.surface,
        &order,
        sweep::Pace::cells(1),
        &mut |_, _| Control::Continue,
    ))
    .unwrap();
    started.surface
}

/// Run the page's "Copy CLI command" line in a shell, from the repository root, with `vitscape`
/// being the binary under test.
fn run_page_command(line: &str) {
    let binary = env!("CARGO_BIN_EXE_vitscape");
    let line = line
        .strip_prefix("vitscape ")
        .expect("the command starts with vitscape");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("'{binary}' {line} --no-plots"))
        .current_dir(root())
        .status()
        .unwrap();
    assert!(status.success(), "{line}");
}

#[test]
fn page_made_surfaces_recompute_bit_for_bit_from_their_spec_and_their_cli_command() {
    let tmp = tempfile::tempdir().unwrap();
    for (file, loss, settings) in [
        ("mae-vit.safetensors", LossChoice::Mae, small(5, 32)),
        ("rcmae-vit.safetensors", LossChoice::Rcmae, small(3, 16)),
    ] {
        let made = page_made(file, loss, &settings);
        let name = file.trim_end_matches(".safetensors");
        let exported = tmp.path().join(format!("{name}.json"));
        std::fs::write(&exported, serde_json::to_vec_pretty(&made).unwrap()).unwrap();
        let made = read_surface(&exported);

        let out = tmp.path().join(format!("{name}-cli"));
        let search = demo().display().to_string();
        let run = ok(&[
            "sweep",
            "--spec",
            &exported.display().to_string(),
            "--search",
            &search,
            "--no-plots",
            "--out",
            &out.display().to_string(),
        ]);
        let said = String::from_utf8_lossy(&run.stderr);
        assert!(said.contains("sha256 matches"), "{said}");
        assert_same(&made, &read_surface(&out.join("surface.json")));

        let spec = serde_json::from_value(made["spec"].clone()).unwrap();
        let out = tmp.path().join(format!("{name}-command"));
        run_page_command(&cli_command(&spec, &out.display().to_string()).unwrap());
        assert_same(&made, &read_surface(&out.join("surface.json")));
    }
}

#[test]
fn cli_and_permalink_surfaces_recompute_bit_for_bit_and_moved_files_are_found_by_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name).display().to_string();
    let checkpoint = fixtures().join("models/cls_token.safetensors");
    let checkpoint = checkpoint.display().to_string();
    let base = [
        "sweep",
        "--checkpoint",
        &checkpoint,
        "--eval-images",
        "24",
        "--grid",
        "-1:1:3",
        "-0.5:0.5:3",
        "--seed",
        "5",
        "--no-plots",
    ];
    ok(&[&base[..], &["--out", &dir("cli")]].concat());
    let made = read_surface(&tmp.path().join("cli/surface.json"));

    // The surface's own spec, as a file and inline.
    ok(&[
        "sweep",
        "--spec",
        &dir("cli/surface.json"),
        "--no-plots",
        "--out",
        &dir("again"),
    ]);
    assert_same(&made, &read_surface(&tmp.path().join("again/surface.json")));
    let inline = made["spec"].to_string();
    ok(&[
        "sweep",
        "--spec",
        &inline,
        "--no-plots",
        "--out",
        &dir("inline"),
    ]);
    assert_same(
        &made,
        &read_surface(&tmp.path().join("inline/surface.json")),
    );

    // A permalink of two panels: the chosen one is recomputed exactly (the link quantises the
    // values, not the spec).
    let surface: Surface = serde_json::from_value(made.clone()).unwrap();
    let fragment = permalink::encode(
        &permalink::View::default(),
        &[("first".into(), &surface), ("cls".into(), &surface)],
    )
    .unwrap();
    let url = format!("https://example.org/vitscape/#{fragment}");
    let err = fails(&["sweep", "--spec", &url, "--out", &dir("nope")]);
    assert!(err.contains("--panel") && err.contains("\"cls\""), "{err}");
    ok(&[
        "sweep",
        "--spec",
        &url,
        "--panel",
        "cls",
        "--no-plots",
        "--out",
        &dir("link"),
    ]);
    assert_same(&made, &read_surface(&tmp.path().join("link/surface.json")));

    // Direction files named by the spec, moved elsewhere: found by sha256 under --search.
    let x = dir("cli/direction_x.safetensors");
    let y = dir("cli/direction_y.safetensors");
    ok(&[&base[..], &["--directions", &x, &y, "--out", &dir("files")]].concat());
    let from_files = read_surface(&tmp.path().join("files/surface.json"));
    let moved = tmp.path().join("moved");
    std::fs::create_dir_all(moved.join("deeper")).unwrap();
    std::fs::rename(&x, moved.join("deeper/renamed_x.safetensors")).unwrap();
    std::fs::rename(&y, moved.join("direction_y.safetensors")).unwrap();
    let spec_file = dir("files/surface.json");
    let err = fails(&["sweep", "--spec", &spec_file, "--out", &dir("lost")]);
    assert!(
        err.contains("direction x") && err.contains("not found") && err.contains("--search"),
        "{err}"
    );
    let moved_s = moved.display().to_string();
    ok(&[
        "sweep",
        "--spec",
        &spec_file,
        "--search",
        &moved_s,
        "--no-plots",
        "--out",
        &dir("found"),
    ]);
    assert_same(
        &from_files,
        &read_surface(&tmp.path().join("found/surface.json")),
    );

    // A different file under the recorded name is refused by name, never used.
    std::fs::copy(
        moved.join("deeper/renamed_x.safetensors"),
        moved.join("direction_y.safetensors"),
    )
    .unwrap();
    let err = fails(&[
        "sweep",
        "--spec",
        &spec_file,
        "--search",
        &moved_s,
        "--out",
        &dir("wrong"),
    ]);
    assert!(
        err.contains("direction y") && err.contains("is a different file"),
        "{err}"
    );

    // A spec that names a checkpoint nobody has.
    let mut lost = made["spec"].clone();
    lost["checkpoint"]["name"] = Value::from("elsewhere/cls_token.safetensors");
    lost["checkpoint"]["sha256"] = Value::from("0".repeat(64));
    let err = fails(&["sweep", "--spec", &lost.to_string(), "--out", &dir("x")]);
    assert!(
        err.contains("checkpoint `elsewhere/cls_token.safetensors`")
            && err.contains("000000000000"),
        "{err}"
    );
    // Flags that define a landscape cannot be mixed with a spec.
    let err = fails(&[
        "sweep",
        "--spec",
        &inline,
        "--seed",
        "3",
        "--out",
        &dir("x"),
    ]);
    assert!(err.contains("--seed"), "{err}");
}

#[test]
fn a_verdict_surface_recomputes_from_the_verdicts_spec() {
    let verdict: Verdict =
        serde_json::from_slice(&std::fs::read(demo().join("verdict.json")).unwrap()).unwrap();
    let model = &verdict.modes[0].models[0];
    assert_eq!(model.specs.len(), verdict.seeds.len());
    // With several training seeds the label names the model's.
    let trained = if verdict.training_seeds.len() > 1 {
        format!("/training seed {}", model.training_seed)
    } else {
        String::new()
    };
    let label = format!(
        "pretraining/{}{trained}/seed {}",
        model.name, verdict.seeds[0]
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("verdict");
    ok(&[
        "sweep",
        "--spec",
        &demo().join("verdict.json").display().to_string(),
        "--panel",
        &label,
        "--search",
        &demo().display().to_string(),
        "--no-plots",
        "--out",
        &out.display().to_string(),
    ]);
    let surface: Surface =
        serde_json::from_slice(&std::fs::read(out.join("surface.json")).unwrap()).unwrap();
    assert_eq!(surface.spec, model.specs[0]);
    assert_eq!(surface.progress().0, surface.progress().1);
    let again = verdict::summarise_relative(&surface, TAU_RELATIVE).unwrap();
    assert!(again.topology.is_some());
    // The committed verdict was computed with burn's composed CPU forward, the recomputation runs
    // the fused one (`model::fused`): the losses agree to f32 round-off (~2e-7 relative), the
    // curvatures (second differences of losses) to ~1e-5; every count, cell and flag exactly.
    let (again, committed) = (
        serde_json::to_value(&again).unwrap(),
        serde_json::to_value(&model.summaries[0]).unwrap(),
    );
    close(&again, &committed, "summary");
}

/// `a` equals `b` in every string, flag, count and shape, and in every other number to 1e-4
/// relative.
fn close(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if !(x.is_f64() || y.is_f64()) => {
            assert_eq!(x, y, "{at}")
        }
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-4 * y.abs().max(1e-6),
                "{at}: {x} vs {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                close(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{at}"
            );
            for (k, x) in x {
                close(x, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}
