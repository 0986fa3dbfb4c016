//! `vitscape verdict`: sweep the demo models over several direction seeds, on their pre-training
//! and linear-probe losses, and write the verdict the page shows (`static/demo/verdict.json`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use vitscape::demo::Manifest;
use vitscape::spec::Axis;
use vitscape::spec::Settings;
use vitscape::verdict::{
    self, Answer, DemoFiles, DemoMode, ModeVerdict, TAU_RELATIVE, Verdict, demo_panels,
};

/// Flags of `vitscape verdict`.
#[derive(Args, Debug)]
pub struct VerdictArgs {
    /// The demo folder (manifest, checkpoints, eval subset).
    #[arg(long, default_value = "static/demo")]
    pub demo: PathBuf,
    /// Direction seeds; the first should be the page's default (123) so the live demo is one of
    /// them.
    #[arg(long, num_args = 2.., default_values_t = [123, 1, 2, 3, 4])]
    pub seeds: Vec<u64>,
    /// Points per axis of the [−1, 1]² grid (the page's default is 17).
    #[arg(long, default_value_t = 17)]
    pub grid: usize,
    /// Images per cell (the page's default is 128).
    #[arg(long, default_value_t = 128)]
    pub eval_images: usize,
    /// Output file (default `<demo>/verdict.json`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// `vitscape verdict`.
pub fn run(args: VerdictArgs) -> Result<()> {
    let manifest: Manifest = serde_json::from_slice(&read(&args.demo.join("manifest.json"))?)
        .context("manifest.json is not a vitscape demo manifest")?;
    let images_gz = read(&args.demo.join(&manifest.eval_subset.images_file))?;
    let labels_gz = read(&args.demo.join(&manifest.eval_subset.labels_file))?;
    if args.grid < 3 {
        bail!("--grid must be at least 3 for the summaries");
    }
    let axis = Axis {
        min: -1.0,
        max: 1.0,
        n: args.grid,
    };
    let settings = Settings {
        x: axis,
        y: Some(axis),
        eval_images: args.eval_images,
        ..Settings::default()
    };
    let files = DemoFiles {
        manifest: &manifest,
        images_gz: &images_gz,
        labels_gz: &labels_gz,
    };
    let mut modes = Vec::new();
    for mode in DemoMode::ALL {
        let mut models = Vec::new();
        for panel in demo_panels(&manifest, mode) {
            let bytes = read(&args.demo.join(&panel.file))?;
            let t = std::time::Instant::now();
            let summaries = verdict::panel_summaries(
                &files,
                &panel,
                &bytes,
                &settings,
                &args.seeds,
                &mut |seed| {
                    eprintln!(
                        "{} / {}: seed {seed} done ({:.0} s)",
                        mode.label(),
                        panel.name,
                        t.elapsed().as_secs_f64()
                    )
                },
            )?;
            models.push(summaries);
        }
        let v = ModeVerdict::new(mode, models).map_err(anyhow::Error::msg)?;
        for c in &v.comparisons {
            eprintln!("{}\n  {}", c.question, c.sentence());
        }
        modes.push(v);
    }
    let seeds: Vec<String> = args.seeds.iter().map(u64::to_string).collect();
    let out = Verdict {
        settings,
        seeds: args.seeds.clone(),
        tau_relative: TAU_RELATIVE,
        modes,
        command: format!(
            "vitscape verdict --demo {} --seeds {} --grid {} --eval-images {}",
            args.demo.display(),
            seeds.join(" "),
            args.grid,
            args.eval_images
        ),
        vitscape_version: vitscape::VERSION.to_string(),
    };
    let path = args.out.unwrap_or_else(|| args.demo.join("verdict.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&out)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let unclear = out
        .modes
        .iter()
        .flat_map(|m| &m.comparisons)
        .filter(|c| c.answer == Answer::Unclear)
        .count();
    eprintln!(
        "wrote {} ({unclear} of 6 questions unclear over {} seeds)",
        path.display(),
        out.seeds.len()
    );
    Ok(())
}
