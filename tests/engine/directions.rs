//! A plane from one direction file and a random second direction ("top-1 plus a random", issue
//! #15): the file is used as it is, y is the random plane's y for the same seed, said on stderr and
//! recorded in the spec.

use serde_json::Value;

use crate::common::{fixtures, ok};

fn json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn one_direction_file_on_a_plane_gets_the_seeded_random_y() {
    let model = fixtures().join("trajectory/tiny-e006.safetensors");
    let model = model.display().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let random = tmp.path().join("random");
    let random_s = random.display().to_string();
    let grid = ["--grid", "-1:1:3", "-0.5:0.5:3"];
    let common = ["--eval-images", "16", "--no-plots", "--seed", "7"];
    let mut args = vec!["sweep", "--checkpoint", &model, "--out", &random_s];
    args.extend(grid);
    args.extend(common);
    ok(&args);

    // Its x direction from the file it wrote, y drawn again from seed 7: the same plane.
    let x = random.join("direction_x.safetensors").display().to_string();
    let mixed = tmp.path().join("mixed");
    let mixed_s = mixed.display().to_string();
    let mut args = vec![
        "sweep",
        "--checkpoint",
        &model,
        "--directions",
        &x,
        "--out",
        &mixed_s,
    ];
    args.extend(grid);
    args.extend(common);
    let run = ok(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("direction y: random Gaussian (seed 7, --seed), filter normalisation"),
        "{stderr}"
    );
    let (a, b) = (
        json(&random.join("surface.json")),
        json(&mixed.join("surface.json")),
    );
    let source = &b["spec"]["directions"]["source"];
    assert_eq!(source["kind"], "file-and-random");
    assert_eq!(source["seed"], 7);
    assert_eq!(a["metrics"], b["metrics"], "the same plane, cell for cell");

    // The spec recomputes it: the file found by path and hash, y drawn again.
    let again = tmp.path().join("again");
    let again_s = again.display().to_string();
    let spec = mixed.join("surface.json").display().to_string();
    ok(&["sweep", "--spec", &spec, "--out", &again_s]);
    assert_eq!(json(&again.join("surface.json"))["metrics"], b["metrics"]);

    // On a line, one file is the line's direction and nothing is drawn at random.
    let line = tmp.path().join("line");
    let line_s = line.display().to_string();
    let run = ok(&[
        "sweep",
        "--checkpoint",
        &model,
        "--directions",
        &x,
        "--grid",
        "-1:1:3",
        "--eval-images",
        "16",
        "--no-plots",
        "--out",
        &line_s,
    ]);
    assert!(!String::from_utf8_lossy(&run.stderr).contains("direction y"));
    assert_eq!(
        json(&line.join("surface.json"))["spec"]["directions"]["source"]["kind"],
        "files"
    );
}
