//! `vitscape verdict`: sweep the demo models over several direction seeds, on their pre-training
//! and linear-probe losses, and write the verdict the page shows (`static/demo/verdict.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::sweep::ShardFlags;
use vitscape::curvature::{ExtremesMethod, PowerSettings, ProductScheme};
use vitscape::demo::Manifest;
use vitscape::demo::verdict::{
    self, Answer, ConvexitySettings, DemoFiles, DemoMode, ModeVerdict, ModelSummaries,
    PreviousVerdict, TAU_RELATIVE, TrainedModel, Verdict, VerdictPart, verdict_panels,
};
use vitscape::spec::Axis;
use vitscape::spec::Settings;

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
    /// Points per axis of the convexity maps (Li et al.'s |λmin/λmax| over the same plane) of
    /// MAE-ViT and RC-MAE-ViT, for the question on the full Hessian; 0: no maps.
    /// (With two power iterations per cell a 5×5 map of MAE-ViT on 128 images had not finished
    /// after 9 CPU-minutes here, hence the default 3×3; Lanczos takes a fraction of the products.)
    #[arg(long, default_value_t = 3)]
    pub convexity_grid: usize,
    /// How many of the direction seeds (the first ones) get convexity maps.
    #[arg(long, default_value_t = 1)]
    pub convexity_seeds: usize,
    /// Products per map cell at most: Lanczos steps, or power iterations per eigenvalue.
    #[arg(long, default_value_t = 20)]
    pub max_iterations: usize,
    /// Tolerance of the extremes (see `vitscape curvature --tolerance`).
    #[arg(long, default_value_t = 1e-3)]
    pub tolerance: f64,
    /// How each map cell finds λmin and λmax (see `vitscape curvature --extremes`).
    #[arg(long, value_enum, default_value_t = ExtremesMethod::Lanczos)]
    pub extremes: ExtremesMethod,
    /// Output file (default `<demo>/verdict.json`; with --shard, this part's file).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Which shard of the sweeps this process computes; the part goes to --out.
    #[command(flatten)]
    pub sharding: ShardFlags,
    /// With a shard: continue its part file (--out), keeping the sweeps it holds (a part is
    /// saved after every sweep).
    #[arg(long)]
    pub resume: bool,
    /// Join the part files written with --shard into the verdict (--out, default
    /// `<demo>/verdict.json`).
    #[arg(long, num_args = 1.., conflicts_with_all = ["shard", "shards"])]
    pub merge: Vec<PathBuf>,
}

fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// `vitscape verdict`: every sweep here, one shard of them (`--shard`), or the parts joined
/// (`--merge`).
pub fn run(args: VerdictArgs) -> Result<()> {
    let manifest: Manifest = serde_json::from_slice(&read(&args.demo.join("manifest.json"))?)
        .context("manifest.json is not a vitscape demo manifest")?;
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
    let seeds: Vec<String> = args.seeds.iter().map(u64::to_string).collect();
    let convexity = convexity_settings(&args)?;
    let command = format!(
        "vitscape verdict --demo {} --seeds {} --grid {} --eval-images {} --convexity-grid {} --convexity-seeds {} --max-iterations {} --tolerance {:e} --extremes {}",
        args.demo.display(),
        seeds.join(" "),
        args.grid,
        args.eval_images,
        args.convexity_grid,
        args.convexity_seeds,
        args.max_iterations,
        args.tolerance,
        args.extremes.name()
    );
    if !args.merge.is_empty() {
        // Settings, seeds and command are the parts' own, whatever flags the merge was given.
        let (modes, part) = merge_parts(&args, &manifest)?;
        let run = Run {
            settings: part.settings,
            seeds: part.seeds,
            convexity: part.convexity,
            command: part.command,
        };
        return write_verdict(&args, &manifest, run, modes);
    }
    let shard = args.sharding.resolve()?;
    let images_gz = read(&args.demo.join(&manifest.eval_subset.images_file))?;
    let labels_gz = read(&args.demo.join(&manifest.eval_subset.labels_file))?;
    let files = DemoFiles {
        manifest: &manifest,
        images_gz: &images_gz,
        labels_gz: &labels_gz,
    };
    if let Some(shard) = shard {
        let out = args.out.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "shard {shard}: give --out for this part (e.g. parts/verdict-{}.json)",
                shard.index
            )
        })?;
        let mut part = VerdictPart {
            shard,
            settings: settings.clone(),
            seeds: args.seeds.clone(),
            convexity: convexity.clone(),
            command: command.clone(),
            vitscape_version: vitscape::VERSION.to_string(),
            sweeps: Vec::new(),
            total: 0,
            clock: None,
        };
        if out.is_file() {
            if !args.resume {
                bail!(
                    "{} already exists; pass --resume to continue it or choose another --out",
                    out.display()
                );
            }
            let text = std::fs::read_to_string(&out)?;
            let previous: VerdictPart = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a vitscape verdict part", out.display()))?;
            let same = |p: &VerdictPart| {
                serde_json::json!({
                    "shard": p.shard,
                    "settings": p.settings,
                    "seeds": p.seeds,
                    "convexity": p.convexity,
                    "command": p.command,
                    "vitscape_version": p.vitscape_version,
                })
            };
            if let Some((field, a, b)) = vitscape::landscape::sweep::merge::first_difference(
                &same(&previous),
                &same(&part),
                "",
            ) {
                bail!(
                    "{} was written with other settings (`{}`: {a} vs {b}); choose another --out",
                    out.display(),
                    field.trim_start_matches('.')
                );
            }
            eprintln!(
                "resuming {}: {} sweeps kept",
                out.display(),
                previous.sweeps.len()
            );
            part.sweeps = previous.sweeps;
        }
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // The sweeps dealt round-robin, mode × trained model × seed in the verdict's order.
        let mut tasks = Vec::new();
        for mode in DemoMode::ALL {
            for panel in verdict_panels(&manifest, mode) {
                for &seed in &args.seeds {
                    tasks.push((mode, panel.clone(), seed));
                }
            }
        }
        let all = tasks.len();
        let mine: Vec<_> = tasks
            .into_iter()
            .enumerate()
            .filter(|(task, _)| task % shard.count == shard.index)
            .map(|(_, t)| t)
            .collect();
        part.total = mine.len();
        let now = super::sweep::unix_now();
        part.clock = Some(vitscape::landscape::surface::Clock {
            started: now,
            cells_at_start: part.sweeps.len(),
            saved: now,
        });
        for (mode, panel, seed) in mine {
            let done = part.sweeps.iter().any(|(m, s)| {
                *m == mode
                    && s.name == panel.name
                    && s.training_seed == panel.training_seed
                    && s.specs.first().map(|spec| &spec.directions.source)
                        == Some(&vitscape::spec::DirectionSource::Random { seed })
            });
            if done {
                continue;
            }
            let bytes = read(&args.demo.join(&panel.file))?;
            let summaries = verdict::panel_summaries(
                &files,
                &panel,
                &bytes,
                &settings,
                &[seed],
                convexity.as_ref(),
                &mut |seed| {
                    eprintln!(
                        "{} / {} (training seed {}): seed {seed} done",
                        mode.label(),
                        panel.name,
                        panel.training_seed
                    )
                },
            )?;
            part.sweeps.push((mode, summaries));
            // Saved after every sweep: a killed task resumes from here (--resume).
            save_part(&out, &mut part)?;
        }
        save_part(&out, &mut part)?;
        eprintln!(
            "wrote {} (verdict shard {shard}: {} of {all} sweeps); join the parts with `vitscape verdict --merge PART…`",
            out.display(),
            part.sweeps.len()
        );
        return Ok(());
    }
    let mut modes = Vec::new();
    for mode in DemoMode::ALL {
        let mut models = Vec::new();
        for panel in verdict_panels(&manifest, mode) {
            let bytes = read(&args.demo.join(&panel.file))?;
            let t = std::time::Instant::now();
            let summaries = verdict::panel_summaries(
                &files,
                &panel,
                &bytes,
                &settings,
                &args.seeds,
                convexity.as_ref(),
                &mut |seed| {
                    eprintln!(
                        "{} / {} (training seed {}): seed {seed} done ({:.0} s)",
                        mode.label(),
                        panel.name,
                        panel.training_seed,
                        t.elapsed().as_secs_f64()
                    )
                },
            )?;
            models.push(summaries);
        }
        modes.push((mode, models));
    }
    let run = Run {
        settings,
        seeds: args.seeds.clone(),
        convexity,
        command,
    };
    write_verdict(&args, &manifest, run, modes)
}

/// The convexity maps' settings from the flags (`None` with `--convexity-grid 0`).
fn convexity_settings(args: &VerdictArgs) -> Result<Option<ConvexitySettings>> {
    if args.convexity_grid == 0 {
        return Ok(None);
    }
    if args.convexity_grid < 2 {
        bail!("--convexity-grid must be 0 (no maps) or at least 2");
    }
    if args.convexity_seeds == 0 || args.convexity_seeds > args.seeds.len() {
        bail!(
            "--convexity-seeds must be 1 to {} (the direction seeds given)",
            args.seeds.len()
        );
    }
    if !(args.tolerance.is_finite() && args.tolerance > 0.0) || args.max_iterations == 0 {
        bail!("--max-iterations must be at least 1 and --tolerance a positive number");
    }
    Ok(Some(ConvexitySettings {
        grid: args.convexity_grid,
        seeds: args.seeds[..args.convexity_seeds].to_vec(),
        power: PowerSettings {
            k: 1,
            max_iterations: args.max_iterations,
            tolerance: args.tolerance,
            seed: 0,
            extremes: args.extremes,
        },
        scheme: ProductScheme::default(),
    }))
}

/// Writes a verdict part with the time of this save on its clock.
fn save_part(out: &Path, part: &mut VerdictPart) -> Result<()> {
    if let Some(clock) = part.clock.as_mut() {
        clock.saved = super::sweep::unix_now();
    }
    super::sweep::save_json(out, part)
}

/// What every sweep of a verdict shared: from the flags, or from the parts of a sharded one.
struct Run {
    settings: Settings,
    seeds: Vec<u64>,
    convexity: Option<ConvexitySettings>,
    command: String,
}

/// Ask the questions and write `verdict.json`, with a brief of the verdict it replaces.
fn write_verdict(args: &VerdictArgs, manifest: &Manifest, run: Run, modes: Modes) -> Result<()> {
    let mut verdicts = Vec::new();
    eprintln!("{}", vitscape::demo::verdict::RULE);
    for (mode, models) in modes {
        let v = ModeVerdict::new(mode, models).map_err(anyhow::Error::msg)?;
        for c in &v.comparisons {
            eprintln!("{}\n  {}", c.question, c.sentence());
        }
        verdicts.push(v);
    }
    let mut training_seeds: Vec<u64> = verdicts
        .iter()
        .flat_map(|m| &m.models)
        .map(|m| m.training_seed)
        .collect();
    training_seeds.sort_unstable();
    training_seeds.dedup();
    let trained = TrainedModel::named_by(
        &verdicts,
        manifest.models.iter().chain(&manifest.replicates),
    );
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| args.demo.join("verdict.json"));
    // The verdict this one replaces (one level: its own previous is not kept).
    let previous = match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<Verdict>(&bytes) {
            Ok(old) => Some(Box::new(PreviousVerdict::of(&old, &manifest.models))),
            Err(e) => {
                eprintln!(
                    "note: {} is not a verdict this vitscape reads ({e}); the new one records no previous verdict",
                    path.display()
                );
                None
            }
        },
        Err(_) => None,
    };
    let out = Verdict {
        settings: run.settings,
        seeds: run.seeds,
        training_seeds,
        tau_relative: TAU_RELATIVE,
        convexity: run.convexity,
        modes: verdicts,
        trained,
        rule: vitscape::demo::verdict::RULE.to_string(),
        previous,
        command: run.command,
        vitscape_version: vitscape::VERSION.to_string(),
    };
    for line in vitscape::demo::verdict::changes(&out) {
        eprintln!("changed: {line}");
    }
    super::sweep::save_json(&path, &out)?;
    let questions = out.modes.iter().map(|m| m.comparisons.len()).sum::<usize>();
    let unclear = out
        .modes
        .iter()
        .flat_map(|m| &m.comparisons)
        .filter(|c| c.answer == Answer::Unclear)
        .count();
    eprintln!(
        "wrote {} ({unclear} of {questions} questions unclear over {} training seeds × {} direction seeds)",
        path.display(),
        out.training_seeds.len(),
        out.seeds.len()
    );
    Ok(())
}

type Modes = Vec<(DemoMode, Vec<ModelSummaries>)>;

/// The parts of a sharded verdict, checked against each other (settings, seeds, command,
/// version, shard count; a sweep in two parts must agree) and assembled in the verdict's order.
/// Every sweep must be there: a verdict with a seed missing answers nothing, so the missing
/// ones are listed with the shard that computes each.
fn merge_parts(args: &VerdictArgs, manifest: &Manifest) -> Result<(Modes, VerdictPart)> {
    if let Some(out) = &args.out
        && let Ok(out) = std::fs::canonicalize(out)
    {
        for path in &args.merge {
            if std::fs::canonicalize(path).is_ok_and(|p| p == out) {
                bail!(
                    "--out {} is one of the parts; write the verdict elsewhere",
                    out.display()
                );
            }
        }
    }
    let mut parts: Vec<(String, VerdictPart)> = Vec::new();
    for path in &args.merge {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let part: VerdictPart = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a vitscape verdict part", path.display()))?;
        parts.push((path.display().to_string(), part));
    }
    let ((first_name, first), rest) = parts
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no parts to merge"))?;
    let shared = |p: &VerdictPart| {
        serde_json::json!({
            "settings": p.settings,
            "seeds": p.seeds,
            "convexity": p.convexity,
            "command": p.command,
            "vitscape_version": p.vitscape_version,
            "shards": p.shard.count,
        })
    };
    for (name, part) in rest {
        if let Some((field, a, b)) =
            vitscape::landscape::sweep::merge::first_difference(&shared(first), &shared(part), "")
        {
            bail!(
                "{first_name} and {name} differ in `{}`: {a} vs {b} (parts of one verdict share it)",
                field.trim_start_matches('.')
            );
        }
    }
    type Key = (String, String, u64, u64);
    let mut found: BTreeMap<Key, (ModelSummaries, String)> = BTreeMap::new();
    for (name, part) in &parts {
        for (mode, sweep) in &part.sweeps {
            let seed = match sweep.specs.first().map(|s| &s.directions.source) {
                Some(vitscape::spec::DirectionSource::Random { seed }) => *seed,
                _ => bail!("{name}: a sweep of {} has no seeded spec", sweep.name),
            };
            let key = (
                mode.label().to_string(),
                sweep.name.clone(),
                sweep.training_seed,
                seed,
            );
            if let Some((old, from)) = found.get(&key)
                && old != sweep
            {
                bail!(
                    "{} / {} (training seed {}) seed {seed} differs between {from} and {name}: the same sweep computed twice must agree",
                    key.0,
                    key.1,
                    key.2
                );
            }
            found.insert(key, (sweep.clone(), name.clone()));
        }
    }
    let mut modes = Vec::new();
    let mut missing = Vec::new();
    let mut task = 0usize;
    for mode in DemoMode::ALL {
        let mut models = Vec::new();
        for panel in verdict_panels(manifest, mode) {
            let mut model: Option<ModelSummaries> = None;
            for &seed in &first.seeds {
                task += 1;
                let key = (
                    mode.label().to_string(),
                    panel.name.clone(),
                    panel.training_seed,
                    seed,
                );
                match found.get(&key) {
                    Some((sweep, _)) => match model.as_mut() {
                        Some(m) => {
                            m.summaries.extend(sweep.summaries.iter().cloned());
                            m.specs.extend(sweep.specs.iter().cloned());
                            m.convexity_maps
                                .extend(sweep.convexity_maps.iter().cloned());
                        }
                        None => model = Some(sweep.clone()),
                    },
                    None => missing.push(format!(
                        "{} / {} (training seed {}) seed {seed} (shard {}/{})",
                        key.0,
                        key.1,
                        key.2,
                        (task - 1) % first.shard.count,
                        first.shard.count
                    )),
                }
            }
            models.extend(model);
        }
        modes.push((mode, models));
    }
    if !missing.is_empty() {
        bail!(
            "{} of {task} sweeps are in no part, so no verdict is written:\n  {}",
            missing.len(),
            missing.join("\n  ")
        );
    }
    Ok((
        modes,
        VerdictPart {
            sweeps: Vec::new(),
            ..first.clone()
        },
    ))
}
