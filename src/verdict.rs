//! The demo verdict (issue #5, METHODS §6): with the landscape summaries of the three demo models
//! over several direction seeds, is MAE-ViT's landscape wider and smoother than Sup-ViT's, and is
//! RC-MAE-ViT's convex region wider than MAE-ViT's — on the pre-training losses and on the
//! linear-probe losses — and is the difference real (the same sign for every seed)?
//!
//! `vitscape verdict` computes it natively and writes `static/demo/verdict.json`; the page shows it
//! beside the live demo. Everything here is target-neutral.

use serde::{Deserialize, Serialize};

use crate::demo::Manifest;
use crate::metrics::{Summary, mean_sd};
use crate::spec::{LossChoice, Settings, SweepSpec};

/// Which losses the demo compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DemoMode {
    /// Each model's own pre-training task loss (CE for Sup-ViT, masked reconstruction for
    /// MAE-ViT, reconstruction + consistency for RC-MAE-ViT).
    Pretraining,
    /// Classification through a linear probe (Sup-ViT's own head, the probes of MAE and RC-MAE).
    Probe,
}

impl DemoMode {
    /// Both modes, pre-training first.
    pub const ALL: [DemoMode; 2] = [DemoMode::Pretraining, DemoMode::Probe];

    /// Human label.
    pub fn label(self) -> &'static str {
        match self {
            DemoMode::Pretraining => "pre-training loss",
            DemoMode::Probe => "linear-probe loss",
        }
    }
}

/// One panel of the demo comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoPanel {
    /// Display name.
    pub name: String,
    /// File in `static/demo/`.
    pub file: String,
    /// sha256 of the file.
    pub sha256: String,
    /// Pre-training family (`supervised`, `mae`, `rcmae`).
    pub family: String,
    /// The loss the panel evaluates.
    pub loss: LossChoice,
}

/// The demo comparison in display order: Sup-ViT, MAE-ViT and RC-MAE-ViT on their pre-training
/// losses, or Sup-ViT and the two linear probes on classification.
pub fn demo_panels(manifest: &Manifest, mode: DemoMode) -> Vec<DemoPanel> {
    manifest
        .models
        .iter()
        .filter_map(|m| {
            let loss = match (mode, m.method.as_str()) {
                (_, "supervised") => LossChoice::Classification,
                (DemoMode::Pretraining, "mae") => LossChoice::Mae,
                (DemoMode::Pretraining, "rcmae") => LossChoice::Rcmae,
                (DemoMode::Probe, "linprobe") => LossChoice::Classification,
                _ => return None,
            };
            Some(DemoPanel {
                name: m.name.clone(),
                file: m.file.clone(),
                sha256: m.sha256.clone(),
                family: m.family.clone(),
                loss,
            })
        })
        .collect()
}

/// A yes/no question answered over direction seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// Every seed's difference points the asked way.
    Yes,
    /// No seed's difference points the asked way (ties included).
    No,
    /// The seeds disagree: the difference is within the spread of random directions.
    Unclear,
}

/// One comparison of two models on one summary, over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The question, e.g. "Is MAE-ViT's landscape wider than Sup-ViT's?".
    pub question: String,
    /// The summary compared and its units.
    pub measure: String,
    /// The model asked about.
    pub model: String,
    /// The model it is compared with.
    pub baseline: String,
    /// The summary of `model`, per seed.
    pub model_values: Vec<f64>,
    /// The summary of `baseline`, per seed.
    pub baseline_values: Vec<f64>,
    /// Whether a larger value means "yes" (else a smaller one does).
    pub larger_is_yes: bool,
    /// Seeds whose difference points the asked way.
    pub seeds_agreeing: usize,
    /// Mean over seeds of (model − baseline).
    pub mean_difference: f64,
    /// Sample standard deviation over seeds of (model − baseline).
    pub sd_difference: f64,
    /// The answer.
    pub answer: Answer,
}

impl Comparison {
    /// Compare per-seed values (same seeds, same order). Yes when every seed's difference points
    /// the asked way, No when none does, else Unclear (a sign test: with 5 seeds, all five
    /// agreeing by chance has probability 2/32).
    pub fn new(
        question: String,
        measure: String,
        (model, model_values): (String, Vec<f64>),
        (baseline, baseline_values): (String, Vec<f64>),
        larger_is_yes: bool,
    ) -> Self {
        let diffs: Vec<f64> = model_values
            .iter()
            .zip(&baseline_values)
            .map(|(a, b)| a - b)
            .collect();
        let towards = |d: f64| if larger_is_yes { d > 0.0 } else { d < 0.0 };
        let seeds_agreeing = diffs.iter().filter(|d| towards(**d)).count();
        // A tie is not "wider": a seed with equal values counts against Yes, and No needs every
        // seed not to point the asked way.
        let answer = if diffs.is_empty() {
            Answer::Unclear
        } else if seeds_agreeing == diffs.len() {
            Answer::Yes
        } else if seeds_agreeing == 0 {
            Answer::No
        } else {
            Answer::Unclear
        };
        let (mean_difference, sd_difference) = mean_sd(&diffs);
        Self {
            question,
            measure,
            model,
            baseline,
            model_values,
            baseline_values,
            larger_is_yes,
            seeds_agreeing,
            mean_difference,
            sd_difference,
            answer,
        }
    }

    /// The per-seed differences (model − baseline).
    pub fn differences(&self) -> Vec<f64> {
        self.model_values
            .iter()
            .zip(&self.baseline_values)
            .map(|(a, b)| a - b)
            .collect()
    }

    /// The effect size: Cohen's d_z, the mean of the per-seed differences over their sample
    /// standard deviation (infinite when every seed gives the same nonzero difference; `None`
    /// with fewer than two seeds, or when every difference is zero).
    pub fn effect_size(&self) -> Option<f64> {
        (self.model_values.len() >= 2 && self.mean_difference != 0.0)
            .then(|| self.mean_difference / self.sd_difference)
    }

    /// The 95 % percentile-bootstrap interval of the mean difference ([`bootstrap_interval`]).
    pub fn interval(&self) -> Option<(f64, f64)> {
        bootstrap_interval(&self.differences())
    }

    /// One sentence with the numbers: "Yes — 5 of 5 seeds: 0.83 ± 0.05 vs 0.41 ± 0.03 …".
    pub fn sentence(&self) -> String {
        let (m, ms) = mean_sd(&self.model_values);
        let (b, bs) = mean_sd(&self.baseline_values);
        let n = self.model_values.len();
        let answer = match self.answer {
            Answer::Yes => "Yes",
            Answer::No => "No",
            Answer::Unclear => "Unclear",
        };
        let interval = self.interval().map_or(String::new(), |(lo, hi)| {
            format!(", 95 % bootstrap interval {} to {}", sig(lo), sig(hi))
        });
        let effect = self.effect_size().map_or(String::new(), |d| {
            if d.is_finite() {
                format!("; effect size d_z = {d:.2}")
            } else {
                "; effect size d_z unbounded (the same difference at every seed)".into()
            }
        });
        format!(
            "{answer} — {} of {n} direction seeds point that way: {} {} ± {} vs {} {} ± {} ({}). Difference {}{interval}{effect}.",
            self.seeds_agreeing,
            self.model,
            sig(m),
            sig(ms),
            self.baseline,
            sig(b),
            sig(bs),
            self.measure,
            sig(self.mean_difference),
        )
    }
}

/// How a question is answered, said wherever the answers are shown.
pub const RULE: &str = "Yes when every direction seed's difference points the asked way, No when none does, Unclear otherwise (a sign test: five seeds all agreeing by chance has probability 1/32 each way). \
     Beside it, the mean difference with its 95 % percentile-bootstrap interval (exact: every one of the nⁿ resamples of the n seeds) and the effect size d_z = mean / standard deviation of the differences. \
     The seeds are directions, not training runs: the interval says how much the answer depends on the random plane, not on the training seed.";

/// Largest sample whose bootstrap is enumerated exactly (7⁷ = 823 543 resamples).
const EXACT_BOOTSTRAP: usize = 7;
/// Resamples of a larger sample's bootstrap (seeded, so a verdict reads the same every time).
const BOOTSTRAP_RESAMPLES: usize = 20_000;

/// The 95 % percentile-bootstrap interval of the mean of `values`: the 2.5th and 97.5th
/// percentiles (inverse of the empirical distribution function, numpy's `inverted_cdf`) of the
/// means of resamples drawn with replacement. Exact up to [`EXACT_BOOTSTRAP`] values, every one
/// of the nⁿ equally likely ordered resamples counted; beyond that, [`BOOTSTRAP_RESAMPLES`]
/// resamples from a generator seeded with 0. `None` for no values or any that is not finite.
pub fn bootstrap_interval(values: &[f64]) -> Option<(f64, f64)> {
    use rand::{Rng, SeedableRng};
    let n = values.len();
    if n == 0 || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mut means: Vec<f64> = if n <= EXACT_BOOTSTRAP {
        let total = (0..n).fold(1usize, |t, _| t * n);
        let mut index = vec![0usize; n];
        let mut out = Vec::with_capacity(total);
        for _ in 0..total {
            out.push(index.iter().map(|&i| values[i]).sum::<f64>() / n as f64);
            // The next resample, as an odometer in base n.
            for digit in index.iter_mut() {
                *digit += 1;
                if *digit < n {
                    break;
                }
                *digit = 0;
            }
        }
        out
    } else {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        (0..BOOTSTRAP_RESAMPLES)
            .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
            .collect()
    };
    means.sort_by(f64::total_cmp);
    let quantile = |p: f64| {
        let k = ((p * means.len() as f64).ceil() as usize).clamp(1, means.len());
        means[k - 1]
    };
    Some((quantile(0.025), quantile(0.975)))
}

fn sig(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (3 - v.abs().log10().floor() as i32 - 1).clamp(0, 6) as usize;
    format!("{v:.digits$}")
}

/// One model's summaries, one per seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummaries {
    /// Display name.
    pub name: String,
    /// Pre-training family.
    pub family: String,
    /// The loss evaluated.
    pub loss: LossChoice,
    /// Landscape summaries of the loss, one per seed (τ = `tau_relative` × its own L(0)).
    pub summaries: Vec<Summary>,
    /// The spec of each seed's surface, in the same order: `vitscape sweep --spec verdict.json
    /// --panel "<mode>/<name>/seed <seed>"` recomputes it.
    #[serde(default)]
    pub specs: Vec<SweepSpec>,
}

/// The verdict on one kind of loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeVerdict {
    /// Which losses.
    pub mode: DemoMode,
    /// The models' summaries.
    pub models: Vec<ModelSummaries>,
    /// The three questions.
    pub comparisons: Vec<Comparison>,
}

impl ModeVerdict {
    /// Ask the questions of the summaries (families `supervised`, `mae`, `rcmae` must be there).
    pub fn new(mode: DemoMode, models: Vec<ModelSummaries>) -> Result<Self, String> {
        let find = |family: &str| {
            models
                .iter()
                .find(|m| m.family == family)
                .ok_or_else(|| format!("no {family} model among the summaries"))
        };
        let (sup, mae, rc) = (find("supervised")?, find("mae")?, find("rcmae")?);
        let values = |m: &ModelSummaries, f: fn(&Summary) -> f64| {
            (
                m.name.clone(),
                m.summaries.iter().map(f).collect::<Vec<_>>(),
            )
        };
        let on = mode.label();
        let comparisons = vec![
            Comparison::new(
                format!("On the {on}, is {}'s landscape wider than {}'s?", mae.name, sup.name),
                "basin area below L(0) + τ, in α·β units".into(),
                values(mae, |s| s.basin_area),
                values(sup, |s| s.basin_area),
                true,
            ),
            Comparison::new(
                format!("On the {on}, is {}'s landscape smoother than {}'s?", mae.name, sup.name),
                "roughness: RMS residual of the best quadratic fit / the surface's standard deviation (lower = smoother)".into(),
                values(mae, |s| s.roughness_relative),
                values(sup, |s| s.roughness_relative),
                false,
            ),
            Comparison::new(
                format!(
                    "On the {on}, is {}'s convex region wider than {}'s?",
                    rc.name, mae.name
                ),
                "fraction of cells whose discrete Hessian is positive semi-definite".into(),
                values(rc, |s| s.convex_fraction),
                values(mae, |s| s.convex_fraction),
                true,
            ),
        ];
        Ok(Self {
            mode,
            models,
            comparisons,
        })
    }
}

/// `static/demo/verdict.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The demo settings of every sweep (grid, images, masks); the seed is replaced by each of
    /// `seeds`.
    pub settings: Settings,
    /// Direction seeds.
    pub seeds: Vec<u64>,
    /// τ of the summaries as a fraction of each surface's own centre loss L(0), so that losses of
    /// different scales are compared on the same footing.
    pub tau_relative: f64,
    /// Per mode.
    pub modes: Vec<ModeVerdict>,
    /// The command that wrote this file.
    pub command: String,
    /// vitscape version.
    pub vitscape_version: String,
}

/// One shard of a verdict (`vitscape verdict --shard K/N`): the sweeps it computed, each one
/// model on one kind of loss at one seed. `vitscape verdict --merge` joins the parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictPart {
    /// Which shard of the sweeps (mode × model × seed, dealt round-robin in that order).
    pub shard: crate::sweep::Shard,
    /// The settings of every sweep, as [`Verdict::settings`].
    pub settings: Settings,
    /// Every seed of the verdict (not only this shard's).
    pub seeds: Vec<u64>,
    /// The verdict's command, without the shard.
    pub command: String,
    /// vitscape version.
    pub vitscape_version: String,
    /// This shard's sweeps: mode, and one model's summaries at one seed.
    pub sweeps: Vec<(DemoMode, ModelSummaries)>,
}

/// The relative τ of the demo verdict: 10 % of L(0).
pub const TAU_RELATIVE: f64 = 0.1;

/// The data spec of the demo subset, as the page builds it.
pub fn demo_data(
    subset: &crate::demo::EvalSubset,
    eval_images: usize,
) -> Result<crate::spec::DataSpec, crate::error::SpecError> {
    if eval_images == 0 || eval_images > subset.n {
        return Err(crate::error::SpecError::Field {
            field: "data.eval_images".into(),
            reason: format!(
                "the demo subset has {} images; ask for 1 to {}",
                subset.n, subset.n
            ),
        });
    }
    Ok(crate::spec::DataSpec {
        source: crate::spec::DataSource::Embedded {
            name: format!("Fashion-MNIST test, demo subset (seed {})", subset.seed),
            sha256: subset.images_sha256.clone(),
        },
        eval_images,
        subset_seed: subset.seed,
        mean: vec![subset.mean],
        std: vec![subset.std],
        mean_std: None,
        preprocess: Default::default(),
    })
}

/// Summarise the loss of a complete surface with τ = `tau_relative` × its own centre loss.
pub fn summarise_relative(
    surface: &crate::surface::Surface,
    tau_relative: f64,
) -> Result<Summary, crate::metrics::MetricsError> {
    crate::metrics::summarise(
        surface,
        crate::surface::LOSS,
        crate::metrics::Tau::Relative(tau_relative),
        64,
    )
}

/// The demo files a verdict needs, read by the caller.
pub struct DemoFiles<'a> {
    /// The manifest.
    pub manifest: &'a Manifest,
    /// `eval-images-idx3-ubyte.gz`.
    pub images_gz: &'a [u8],
    /// `eval-labels-idx1-ubyte.gz`.
    pub labels_gz: &'a [u8],
}

/// Sweep one demo panel for each seed (native, burn `flex`) and summarise each surface with
/// τ = [`TAU_RELATIVE`] × L(0). `settings` gives everything but the seed. `on_seed` is told
/// after each seed.
#[cfg(all(feature = "engine", not(target_arch = "wasm32")))]
pub fn panel_summaries(
    files: &DemoFiles<'_>,
    panel: &DemoPanel,
    checkpoint: &[u8],
    settings: &Settings,
    seeds: &[u64],
    on_seed: &mut dyn FnMut(u64),
) -> Result<ModelSummaries, crate::error::Error> {
    use crate::arch::HeadCounts;
    use crate::job::{self, DataInput};
    use crate::setup::Extras;
    use crate::spec::Branch;
    use crate::sweep::{self, Control};

    let rcmae = panel.loss == LossChoice::Rcmae;
    let branch = rcmae.then_some(Branch::Student);
    let model = job::load_model(checkpoint, branch, HeadCounts::default())?;
    let teacher = if rcmae {
        Some(job::load_model(
            checkpoint,
            Some(Branch::Teacher),
            HeadCounts::default(),
        )?)
    } else {
        None
    };
    let data = demo_data(&files.manifest.eval_subset, settings.eval_images)?;
    let device = burn::tensor::Device::flex();
    let mut summaries = Vec::with_capacity(seeds.len());
    let mut specs = Vec::with_capacity(seeds.len());
    for &seed in seeds {
        let settings = Settings {
            seed,
            ..settings.clone()
        };
        let spec = settings.spec(crate::spec::Inputs {
            checkpoint: model.reference(&panel.file),
            loss: panel.loss,
            teacher: teacher.as_ref().map(|t| t.reference(&panel.file)),
            data: data.clone(),
            directions: None,
        })?;
        let images = job::load_images(
            &spec,
            &model.config,
            DataInput::DemoSubset {
                images_gz: files.images_gz,
                labels_gz: files.labels_gz,
                subset: &files.manifest.eval_subset,
            },
        )?;
        let extras = Extras {
            teacher: teacher.clone(),
            ..Extras::default()
        };
        let mut started = job::start(&spec, &model, &extras, &images, &device, "flex")?;
        let order = sweep::row_major(started.surface.x.len(), started.surface.y.len());
        // One thread per core, each on its own cells (the values do not depend on it).
        sweep::run_threads(
            &started.prepared.evaluator,
            &mut started.surface,
            &order,
            sweep::Pace::cells(1),
            std::thread::available_parallelism().map_or(1, usize::from),
            &mut |_, _| Control::Continue,
        )?;
        let summary = summarise_relative(&started.surface, TAU_RELATIVE).map_err(|e| {
            crate::error::Error::Backend(format!("{} (seed {seed}): {e}", panel.name))
        })?;
        summaries.push(summary);
        specs.push(spec);
        on_seed(seed);
    }
    Ok(ModelSummaries {
        name: panel.name.clone(),
        family: panel.family.clone(),
        loss: panel.loss,
        summaries,
        specs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compare(a: &[f64], b: &[f64], larger_is_yes: bool) -> Comparison {
        Comparison::new(
            "q".into(),
            "m".into(),
            ("A".into(), a.to_vec()),
            ("B".into(), b.to_vec()),
            larger_is_yes,
        )
    }

    #[test]
    fn answers_need_every_seed_to_agree() {
        let yes = compare(&[2.0, 3.0, 4.0], &[1.0, 1.0, 1.0], true);
        assert_eq!(yes.answer, Answer::Yes);
        assert_eq!(yes.seeds_agreeing, 3);
        assert_eq!(yes.mean_difference, 2.0);
        assert_eq!(yes.sd_difference, 1.0);
        let no = compare(&[0.5, 0.2, 0.1], &[1.0, 1.0, 1.0], true);
        assert_eq!(no.answer, Answer::No);
        let mixed = compare(&[2.0, 0.5, 3.0], &[1.0, 1.0, 1.0], true);
        assert_eq!(mixed.answer, Answer::Unclear);
        assert_eq!(mixed.seeds_agreeing, 2);
        // Smaller is "yes" for roughness.
        assert_eq!(compare(&[0.1, 0.2], &[0.3, 0.4], false).answer, Answer::Yes);
        // Ties are not "wider": all equal is No, one tie among agreeing seeds is Unclear.
        assert_eq!(compare(&[1.0, 1.0], &[1.0, 1.0], true).answer, Answer::No);
        assert_eq!(
            compare(&[2.0, 1.0], &[1.0, 1.0], true).answer,
            Answer::Unclear
        );
        assert_eq!(compare(&[], &[], true).answer, Answer::Unclear);
        let sentence = yes.sentence();
        assert!(sentence.starts_with("Yes — 3 of 3"), "{sentence}");
        assert!(
            sentence.contains("A 3.00 ± 1.00 vs B 1.00 ± 0"),
            "{sentence}"
        );
    }

    #[test]
    fn the_bootstrap_interval_is_exact_for_small_samples() {
        // Two values: resample means 0 (1 in 4), 0.5 (2 in 4), 1 (1 in 4).
        assert_eq!(bootstrap_interval(&[0.0, 1.0]), Some((0.0, 1.0)));
        // One value, or all equal: the interval is that value.
        assert_eq!(bootstrap_interval(&[2.5]), Some((2.5, 2.5)));
        assert_eq!(bootstrap_interval(&[3.0; 5]), Some((3.0, 3.0)));
        assert_eq!(bootstrap_interval(&[]), None);
        assert_eq!(bootstrap_interval(&[1.0, f64::NAN]), None);
        // Three values 0, 0, 3: means 0 (8 of 27), 1 (12), 2 (6), 3 (1); the 2.5th percentile is
        // 0 and the 97.5th is the 27th of 27 sorted means (26.3 → 27), 3.
        assert_eq!(bootstrap_interval(&[0.0, 0.0, 3.0]), Some((0.0, 3.0)));
        // Five values: inside the range, around the mean, ordered.
        let (lo, hi) = bootstrap_interval(&[1.0, 2.0, 3.0, 4.0, 10.0]).unwrap();
        assert!(
            (1.0..4.0).contains(&lo) && hi > 4.0 && hi <= 10.0,
            "{lo} {hi}"
        );
        // Past the exact limit: seeded resampling, the same interval every time.
        let many: Vec<f64> = (0..12).map(f64::from).collect();
        let (a, b) = (bootstrap_interval(&many), bootstrap_interval(&many));
        assert_eq!(a, b);
        let (lo, hi) = a.unwrap();
        assert!(lo < 5.5 && 5.5 < hi, "{lo} {hi}");
    }

    #[test]
    fn a_comparison_gives_its_effect_size_and_interval() {
        let c = compare(&[2.0, 3.0, 4.0], &[1.0, 1.0, 1.0], true);
        assert_eq!(c.effect_size(), Some(2.0));
        assert_eq!(c.interval(), Some((1.0, 3.0)));
        let sentence = c.sentence();
        assert!(
            sentence.ends_with(
                "Difference 2.00, 95 % bootstrap interval 1.00 to 3.00; effect size d_z = 2.00."
            ),
            "{sentence}"
        );
        let same = compare(&[2.0, 2.0], &[1.0, 1.0], true);
        assert_eq!(same.effect_size(), Some(f64::INFINITY));
        assert!(same.sentence().contains("unbounded"));
        assert_eq!(compare(&[2.0], &[1.0], true).effect_size(), None);
    }

    #[test]
    fn a_mode_needs_all_three_families() {
        let err = ModeVerdict::new(DemoMode::Probe, Vec::new()).unwrap_err();
        assert!(err.contains("supervised"), "{err}");
    }
}
