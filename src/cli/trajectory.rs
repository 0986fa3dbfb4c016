//! `vitscape trajectory`: the PCA plane of a training run (Li et al. 2018 §7) as two direction
//! files that carry the run's path, for `vitscape sweep --directions` to draw it over the contours.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;

use vitscape::io::checkpoint::{self, StateDict};
use vitscape::landscape::directions::{self, Scope};
use vitscape::model::arch::HeadCounts;
use vitscape::model::layout::Model;
use vitscape::spec::{Branch, FileRef, Normalisation, shell_quote};
use vitscape::trajectory::{self, Member, TrajectoryAxis};

/// Flags of `vitscape trajectory`.
#[derive(Args, Debug)]
pub struct TrajectoryArgs {
    /// The run's checkpoints in training order, at least 3 (`vitscape train` writes
    /// NAME-e001.safetensors … one per epoch).
    #[arg(required = true, num_args = 3..)]
    pub checkpoints: Vec<PathBuf>,
    /// The plane's centre θ* (default: the last checkpoint given).
    #[arg(long)]
    pub centre: Option<PathBuf>,
    /// Which half of RC-MAE training files.
    #[arg(long, value_enum)]
    pub branch: Option<Branch>,
    /// Let rank-1 tensors (biases, LayerNorm) move the directions too; left out by default, as
    /// for random directions (Li et al.'s `--ignore biasbn`).
    #[arg(long)]
    pub include_rank1: bool,
    /// Let `pos_embed` / `decoder_pos_embed` move the directions too; left out by default.
    #[arg(long)]
    pub include_pos_embed: bool,
    /// Output folder: pca_1.safetensors, pca_2.safetensors and trajectory.json.
    #[arg(long)]
    pub out: PathBuf,
}

/// What `trajectory.json` holds.
#[derive(Serialize)]
struct Report {
    vitscape_version: &'static str,
    centre: FileRef,
    include_rank1: bool,
    include_pos_embed: bool,
    explained_variance_ratio: Vec<f64>,
    /// The checkpoints in training order with their (α, β) on the plane.
    path: Vec<PathRow>,
    direction_files: Vec<FileRef>,
    /// A sweep of the plane whose grid holds the whole path.
    sweep_command: String,
}

#[derive(Serialize)]
struct PathRow {
    name: String,
    sha256: String,
    alpha: f64,
    beta: f64,
}

fn load(path: &Path, branch: Option<Branch>) -> Result<Model> {
    let loaded = checkpoint::read_file(path, branch)
        .with_context(|| format!("reading checkpoint {}", path.display()))?;
    // Head counts do not enter a PCA of the parameters (the sweep that follows states them).
    Model::new(loaded, HeadCounts::default())
        .with_context(|| format!("checkpoint {}", path.display()))
}

/// `vitscape trajectory`.
pub fn run(args: TrajectoryArgs) -> Result<()> {
    let centre_path = match &args.centre {
        Some(c) => c.clone(),
        None => args
            .checkpoints
            .last()
            .cloned()
            .context("no checkpoints given")?,
    };
    let centre = load(&centre_path, args.branch)?;
    let scope = Scope {
        include_rank1: args.include_rank1,
        include_pos_embed: args.include_pos_embed,
    };
    let mut deltas = Vec::with_capacity(args.checkpoints.len());
    let mut members = Vec::with_capacity(args.checkpoints.len());
    for path in &args.checkpoints {
        let model = load(path, args.branch)?;
        let same = model.layout.params.len() == centre.layout.params.len()
            && model
                .layout
                .params
                .iter()
                .zip(&centre.layout.params)
                .all(|(a, b)| a.name == b.name && a.shape == b.shape);
        if !same {
            bail!(
                "{} has another architecture than the centre {} ({} vs {} parameters, or other tensor names or shapes)",
                path.display(),
                centre_path.display(),
                model.layout.total,
                centre.layout.total
            );
        }
        // θᵢ − θ*, with what the scope leaves out zeroed (normalisation "none" only zeroes).
        let mut d = directions::difference(&model.theta, &centre.theta);
        directions::normalise(
            &mut d,
            &centre.theta,
            &centre.layout,
            Normalisation::None,
            scope,
        );
        deltas.push(d);
        members.push(Member {
            name: path.display().to_string(),
            sha256: model.checkpoint.sha256.clone(),
        });
    }
    let pca = trajectory::pca(&deltas, 2).context("the trajectory's PCA")?;
    drop(deltas);
    let series = trajectory::series_id(&members, &centre.checkpoint.sha256);

    super::output_folder(&args.out)?;
    let mut files = Vec::new();
    for (k, component) in pca.components.iter().enumerate() {
        let axis = TrajectoryAxis {
            series: series.clone(),
            component: k + 1,
            explained_variance_ratio: pca.explained_variance_ratio[k],
            members: members.clone(),
            coords: pca.coords.iter().map(|c| c[k]).collect(),
        };
        let meta = [
            ("format", "vitscape-direction".to_string()),
            ("source", "trajectory-pca".to_string()),
            ("component", (k + 1).to_string()),
            (
                "explained_variance_ratio",
                format!("{}", pca.explained_variance_ratio[k]),
            ),
            ("checkpoint_sha256", centre.checkpoint.sha256.clone()),
            (trajectory::METADATA_KEY, serde_json::to_string(&axis)?),
        ];
        let state: StateDict = directions::to_state_dict(&centre.layout, component, &meta);
        let bytes = checkpoint::write_safetensors(&state)?;
        let name = format!("pca_{}.safetensors", k + 1);
        let path = args.out.join(&name);
        // The error names the file.
        vitscape::io::atomic::write(&path, &bytes)?;
        eprintln!("wrote {}", path.display());
        files.push(FileRef::of_bytes(name, &bytes));
    }

    let [r1, r2] = [
        pca.explained_variance_ratio[0],
        pca.explained_variance_ratio[1],
    ];
    eprintln!(
        "PC1 explains {:.1} % of the run's variance, PC2 {:.1} % ({:.1} % together), over {} checkpoints",
        r1 * 100.0,
        r2 * 100.0,
        (r1 + r2) * 100.0,
        members.len()
    );
    let axis = |k: usize| trajectory::covering(pca.coords.iter().map(|c| c[k]));
    // The half of an RC-MAE file the directions were taken from is the one to sweep.
    let branch = match args.branch {
        Some(Branch::Student) => " --branch student",
        Some(Branch::Teacher) => " --branch teacher",
        None => "",
    };
    let sweep_command = format!(
        "vitscape sweep --checkpoint {}{branch} --directions {} {} --grid {} {} --out {}",
        shell_quote(&centre_path.display().to_string()),
        shell_quote(&args.out.join(&files[0].name).display().to_string()),
        shell_quote(&args.out.join(&files[1].name).display().to_string()),
        axis(0),
        axis(1),
        shell_quote(&args.out.join("sweep").display().to_string()),
    );
    eprintln!("sweep the plane with the path drawn over it:\n  {sweep_command}");
    let report = Report {
        vitscape_version: vitscape::VERSION,
        centre: FileRef {
            name: centre_path.display().to_string(),
            sha256: centre.checkpoint.sha256.clone(),
        },
        include_rank1: args.include_rank1,
        include_pos_embed: args.include_pos_embed,
        explained_variance_ratio: pca.explained_variance_ratio.clone(),
        path: members
            .iter()
            .zip(&pca.coords)
            .map(|(m, c)| PathRow {
                name: m.name.clone(),
                sha256: m.sha256.clone(),
                alpha: c[0],
                beta: c[1],
            })
            .collect(),
        direction_files: files,
        sweep_command,
    };
    let json = args.out.join("trajectory.json");
    vitscape::io::atomic::write(&json, serde_json::to_string_pretty(&report)?.as_bytes())?;
    eprintln!("wrote {}", json.display());
    Ok(())
}
