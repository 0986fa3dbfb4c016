//! Mode connectivity (Garipov et al. 2018): the Bézier curve's cells are the points
//! (1−t)²θ₀ + 2t(1−t)θ_c + t²θ₁, training the control point lowers the loss along the curve,
//! and `vitscape connect` writes both paths, their barriers and a figure, each reproducible.

use std::path::Path;

use serde_json::Value;
use vitscape::connect::{self, BendConfig};
use vitscape::io::checkpoint;
use vitscape::io::data::{self, DEBIAN_FASHION_MNIST, ImageSet};
use vitscape::landscape::directions;
use vitscape::landscape::job;
use vitscape::landscape::objective::Evaluator;
use vitscape::landscape::setup::{self, Extras, Model};
use vitscape::landscape::surface::{LOSS, Surface};
use vitscape::landscape::sweep::{self, Control, Pace};
use vitscape::model::arch::HeadCounts;
use vitscape::spec::*;

use crate::common::{fails, fixtures, ok, spec};

fn tiny(epoch: usize) -> (Model, String) {
    let path = fixtures().join(format!("trajectory/tiny-e{epoch:03}.safetensors"));
    let model = Model::new(
        checkpoint::read_file(&path, None).unwrap(),
        HeadCounts::default(),
    )
    .unwrap();
    (model, path.display().to_string())
}

fn images(n: usize, split: Split, s: &SweepSpec) -> ImageSet {
    let raw = data::load_fashion_mnist(Path::new(DEBIAN_FASHION_MNIST), split).unwrap();
    let subset = data::subset(&raw, n, 3).unwrap();
    data::normalise(&subset, &s.data.mean, &s.data.std).unwrap()
}

/// The path from e001 to e006 over `t`, as `source` draws it.
fn path_spec(a: &Model, b: &Model, t: Axis, bend: Option<FileRef>) -> SweepSpec {
    let mut s = spec(t, None);
    s.checkpoint = a.reference("a");
    let target = b.reference("b");
    s.directions.source = match bend {
        Some(bend) => DirectionSource::Bezier { target, bend },
        None => DirectionSource::Interpolate { target },
    };
    s
}

fn sweep_of(s: &SweepSpec, a: &Model, extras: &Extras, set: &ImageSet) -> Surface {
    let device = Default::default();
    let mut started = job::start(s, a, extras, set, &device, "flex").unwrap();
    let order = sweep::row_major(started.surface.x.len(), 1);
    sweep::run_threads(
        &started.prepared.evaluator,
        &mut started.surface,
        &order,
        Pace::cells(1),
        1,
        &mut |_, _| Control::Continue,
    )
    .unwrap();
    started.surface
}

/// The loss at an explicit parameter vector θ, evaluated by an evaluator centred there.
fn loss_at(model: &Model, theta: &[f32], set: &ImageSet, s: &SweepSpec) -> f64 {
    let device = Default::default();
    let buffers =
        vitscape::model::upload_buffers(&model.config, &model.checkpoint.state, &device).unwrap();
    let evaluator = Evaluator::new(
        &device,
        model.config,
        theta,
        &[],
        buffers,
        set,
        setup::objective(s, &model.config, set.n),
        s.batch_size,
        None,
    )
    .unwrap();
    evaluator.eval(&[]).unwrap()[LOSS]
}

#[test]
fn bezier_cells_are_the_curve_points_and_a_midpoint_bend_is_the_straight_line() {
    let ((a, _), (b, _)) = (tiny(1), tiny(6));
    let t = Axis {
        min: -0.5,
        max: 1.5,
        n: 5,
    };
    let linear_spec = path_spec(&a, &b, t, None);
    let set = images(32, Split::Test, &linear_spec);
    let extras = Extras {
        target: Some(b.clone()),
        ..Extras::default()
    };
    let linear = sweep_of(&linear_spec, &a, &extras, &set);

    // The control point at the midpoint: the curve is the line, cell for cell.
    let mid: Vec<f32> = a
        .theta
        .iter()
        .zip(&b.theta)
        .map(|(x, y)| 0.5 * (x + y))
        .collect();
    let file = |name: &str| FileRef {
        name: name.into(),
        sha256: "0".repeat(64),
    };
    let curve_of = |bend: &[f32]| {
        let extras = Extras {
            target: Some(b.clone()),
            bend: Some(directions::to_state_dict(&a.layout, bend, &[])),
            ..Extras::default()
        };
        sweep_of(&path_spec(&a, &b, t, Some(file("bend"))), &a, &extras, &set)
    };
    let straight = curve_of(&mid);
    for (u, v) in linear.loss()[0].iter().zip(&straight.loss()[0]) {
        let (u, v) = (u.unwrap(), v.unwrap());
        assert!((u - v).abs() < 1e-5 * (1.0 + u.abs()), "{u} vs {v}");
    }

    // Another control point: each cell t is the loss at (1−t)²θ₀ + 2t(1−t)θ_c + t²θ₁, built
    // here point by point (t outside [0, 1] too).
    let bend: Vec<f32> = mid
        .iter()
        .enumerate()
        .map(|(i, m)| m + 0.05 * ((i % 7) as f32 - 3.0))
        .collect();
    let bent = curve_of(&bend);
    assert!(
        bent.info.barrier.is_empty(),
        "barriers are the CLI's record"
    );
    for (ix, t) in bent.x.iter().enumerate() {
        let theta = connect::bezier_point(&a.theta, &bend, &b.theta, *t);
        let want = loss_at(&a, &theta, &set, &linear_spec);
        let got = bent.loss()[0][ix].unwrap();
        assert!(
            (got - want).abs() < 1e-4 * (1.0 + want.abs()),
            "t = {t}: {got} vs {want}"
        );
    }
    // The ends are the two checkpoints whatever the bend.
    let at = |s: &Surface, t: f64| s.loss()[0][s.x.iter().position(|x| *x == t).unwrap()].unwrap();
    for t in [0.0, 1.0] {
        assert!((at(&bent, t) - at(&linear, t)).abs() < 1e-5, "t = {t}");
    }
    assert!(
        (at(&bent, 0.5) - at(&linear, 0.5)).abs() > 1e-3,
        "the bend moved the curve"
    );
}

#[test]
fn training_the_bend_lowers_the_loss_along_the_curve() {
    let ((a, _), (b, _)) = (tiny(1), tiny(6));
    let s = path_spec(
        &a,
        &b,
        Axis {
            min: 0.0,
            max: 1.0,
            n: 5,
        },
        None,
    );
    let mut train = s.clone();
    train.batch_size = 32;
    let set = images(128, Split::Train, &train);
    let extras = Extras {
        target: Some(b.clone()),
        ..Extras::default()
    };
    let device = Default::default();
    let prepared = setup::prepare(&train, &a, &extras, &set, &device).unwrap();
    let batches = prepared.evaluator.minibatches();
    assert_eq!(batches.len(), 4);
    let config = BendConfig::new(40, 3e-3, 1);
    let mut heard = 0;
    let bend = pollster::block_on(connect::train_bend(
        &batches,
        &a.theta,
        &b.theta,
        &config,
        |k, step| {
            assert_eq!(k, heard);
            assert!((0.0..1.0).contains(&step.t));
            heard += 1;
        },
    ))
    .unwrap();
    assert_eq!((heard, bend.steps.len()), (40, 40));
    // The mean loss over t ∈ {¼, ½, ¾} on the training images: the curve below the line.
    let mean_on = |c: &[f32]| {
        [0.25, 0.5, 0.75]
            .iter()
            .map(|t| {
                loss_at(
                    &a,
                    &connect::bezier_point(&a.theta, c, &b.theta, *t),
                    &set,
                    &train,
                )
            })
            .sum::<f64>()
            / 3.0
    };
    let mid: Vec<f32> = a
        .theta
        .iter()
        .zip(&b.theta)
        .map(|(x, y)| 0.5 * (x + y))
        .collect();
    let (before, after) = (mean_on(&mid), mean_on(&bend.theta));
    assert!(after < before - 1e-3, "{after} vs the line's {before}");
    // Bad settings are named.
    let err = pollster::block_on(connect::train_bend(
        &batches,
        &a.theta,
        &b.theta,
        &BendConfig::new(0, 1e-3, 0),
        |_, _| {},
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("steps ≥ 1"), "{err}");
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn connect_writes_both_paths_their_barriers_and_a_figure_and_each_path_recomputes() {
    let ((_, a), (_, b)) = (tiny(1), tiny(6));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("connect");
    let out_s = out.display().to_string();
    let flags = [
        "connect",
        "--checkpoint",
        &a,
        "--interpolate",
        &b,
        "--eval-images",
        "32",
        "--grid",
        "0:1:5",
        "--train-images",
        "64",
        "--train-batch",
        "32",
        "--out",
        &out_s,
    ];
    let run = ok(&[flags.as_slice(), &["--steps", "20"]].concat());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("training the control point: 20 steps"),
        "{stderr}"
    );
    assert!(stderr.contains("Fashion-MNIST training images"), "{stderr}");
    assert!(stderr.contains("loss barrier: linear"), "{stderr}");

    let bend = checkpoint::read_file(&out.join("bend.safetensors"), None).unwrap();
    assert_eq!(bend.state.metadata["format"], "vitscape-bend");
    let record: Value = serde_json::from_str(&bend.state.metadata["bend"]).unwrap();
    assert_eq!(record["config"]["steps"], 20);
    assert_eq!(record["train_data"]["source"]["split"], "train");

    let linear = json(&out.join("linear/surface.json"));
    let bezier = json(&out.join("bezier/surface.json"));
    assert_eq!(
        linear["spec"]["directions"]["source"]["kind"],
        "interpolate"
    );
    let source = &bezier["spec"]["directions"]["source"];
    assert_eq!(source["kind"], "bezier");
    assert_eq!(
        source["bend"]["sha256"],
        checkpoint::sha256_hex(&std::fs::read(out.join("bend.safetensors")).unwrap())
    );
    for surface in [&linear, &bezier] {
        let barriers = surface["info"]["barrier"].as_array().unwrap();
        let metrics: Vec<&str> = barriers
            .iter()
            .map(|b| b["metric"].as_str().unwrap())
            .collect();
        assert_eq!(metrics, ["loss", "accuracy"]);
        assert!(barriers[0]["height"].as_f64().unwrap() >= 0.0);
        assert_eq!(barriers[0]["points"], 5);
    }
    // The same ends: t = 0 and t = 1 are the two checkpoints on both paths.
    let row = |s: &Value| -> Vec<f64> {
        s["metrics"]["loss"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (l, c) = (row(&linear), row(&bezier));
    assert!(
        (l[0] - c[0]).abs() < 1e-5 && (l[4] - c[4]).abs() < 1e-5,
        "{l:?} {c:?}"
    );

    let report = json(&out.join("connect.json"));
    assert_eq!(report["bezier"], bezier["info"]["barrier"]);
    assert!(
        report["commands"][1]
            .as_str()
            .unwrap()
            .contains("\"bezier\"")
    );
    let png = std::fs::read(out.join("paths.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let svg = std::fs::read_to_string(out.join("paths.svg")).unwrap();
    assert!(
        svg.contains("Bézier: barrier"),
        "the legend names each path's barrier"
    );

    // --resume continues with the control point already written (a killed run's), refusing one
    // trained otherwise.
    let resumed = ok(&[flags.as_slice(), &["--resume", "--steps", "20"]].concat());
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(
        stderr.contains("resuming with the control point"),
        "{stderr}"
    );
    assert_eq!(row(&json(&out.join("bezier/surface.json"))), c);
    let err = fails(&[flags.as_slice(), &["--resume", "--steps", "21"]].concat());
    assert!(err.contains("--steps, --lr or --bend-seed"), "{err}");

    // The curve's surface is its own recipe: --spec finds the bend by path and hash.
    let again = tmp.path().join("again");
    let again_s = again.display().to_string();
    let spec_file = out.join("bezier/surface.json").display().to_string();
    ok(&[
        "sweep",
        "--spec",
        &spec_file,
        "--no-plots",
        "--out",
        &again_s,
    ]);
    assert_eq!(row(&json(&again.join("surface.json"))), c);

    // A control point that is not the one the spec names is refused by name.
    let other = out.join("bezier_other.json");
    let mut tampered = bezier["spec"].clone();
    tampered["directions"]["source"]["bend"]["sha256"] = Value::String("1".repeat(64));
    std::fs::write(&other, tampered.to_string()).unwrap();
    let err = fails(&[
        "sweep",
        "--spec",
        &other.display().to_string(),
        "--out",
        &tmp.path().join("x").display().to_string(),
    ]);
    assert!(err.contains("control point"), "{err}");
    // connect joins two checkpoints.
    let err = fails(&[
        "connect",
        "--checkpoint",
        &a,
        "--out",
        &tmp.path().join("y").display().to_string(),
    ]);
    assert!(err.contains("--interpolate B"), "{err}");
    // A control point is no direction.
    let err = fails(&[
        "sweep",
        "--checkpoint",
        &a,
        "--directions",
        &out.join("bend.safetensors").display().to_string(),
        "--out",
        &tmp.path().join("z").display().to_string(),
    ]);
    assert!(err.contains("not a direction"), "{err}");
}

/// `--train-on eval` (what the page does): the control point trains on exactly the images the
/// sweeps evaluate, in batches of `--train-batch`, and is the library's `train_bend` on them.
#[test]
fn connect_can_train_on_the_evaluated_images_as_the_page_does() {
    let ((ma, a), (mb, b)) = (tiny(1), tiny(6));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("connect");
    let run = ok(&[
        "connect",
        "--checkpoint",
        &a,
        "--interpolate",
        &b,
        "--eval-images",
        "24",
        "--grid",
        "0:1:3",
        "--train-on",
        "eval",
        "--train-batch",
        "8",
        "--steps",
        "6",
        "--no-plots",
        "--out",
        &out.display().to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("trained on the 24 images the sweeps evaluate"),
        "{stderr}"
    );
    let bend = checkpoint::read_file(&out.join("bend.safetensors"), None).unwrap();
    let record: Value = serde_json::from_str(&bend.state.metadata["bend"]).unwrap();
    let linear = json(&out.join("linear/surface.json"));
    assert_eq!(record["train_data"], linear["spec"]["data"]);
    assert_eq!(record["train_data"]["source"]["split"], "test");
    assert_eq!(record["train_batch"], 8);

    // The same steps by the library on the sweep's images in batches of 8.
    let mut s: SweepSpec = serde_json::from_value(linear["spec"].clone()).unwrap();
    s.batch_size = 8;
    let raw = data::load_fashion_mnist(Path::new(DEBIAN_FASHION_MNIST), Split::Test).unwrap();
    let seed = s.data.subset_seed;
    let set = data::normalise(
        &data::subset(&raw, 24, seed).unwrap(),
        &s.data.mean,
        &s.data.std,
    )
    .unwrap();
    let extras = Extras {
        target: Some(mb.clone()),
        ..Extras::default()
    };
    let prepared = setup::prepare(&s, &ma, &extras, &set, &Default::default()).unwrap();
    let batches = prepared.evaluator.minibatches();
    assert_eq!(batches.len(), 3);
    let config = BendConfig::new(6, 1e-3, 0);
    let ours = pollster::block_on(connect::train_bend(
        &batches,
        &ma.theta,
        &mb.theta,
        &config,
        |_, _| {},
    ))
    .unwrap();
    let cli: Vec<f32> = ma
        .layout
        .slots()
        .flat_map(|(p, _)| bend.state.tensors[&p.name].data.clone())
        .collect();
    assert_eq!(cli, ours.theta, "the CLI's control point is the library's");
    assert!((record["final_loss"].as_f64().unwrap() - ours.final_loss(0.1)).abs() < 1e-12);
}
