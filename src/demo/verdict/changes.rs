//! What changed since the verdict before: `vitscape verdict` keeps a brief of the verdict it
//! replaces ([`PreviousVerdict`]), and [`changes`] says, for the page and the CLI, which models,
//! seeds, settings and rule changed (the why) and which answers moved (the what).

use serde::{Deserialize, Serialize};

use super::stats::{Answer, RULE, sig};
use super::{ConvexitySettings, DemoMode, TrainedModel, Verdict};
use crate::demo::DemoModel;
use crate::spec::Settings;

/// The rule of the verdicts written before the rule was recorded in the file: every one of them
/// was answered by this sign test over direction seeds.
pub const SIGN_TEST_RULE: &str = "Yes when every direction seed's difference points the asked way, No when none does, Unclear otherwise (a sign test over direction seeds).";

/// [`SIGN_TEST_RULE`], the rule of a verdict that does not record one.
pub fn sign_test_rule() -> String {
    SIGN_TEST_RULE.into()
}

/// One answer of the previous verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousAnswer {
    /// The kind of loss.
    pub mode: DemoMode,
    /// The question.
    pub question: String,
    /// Its answer.
    pub answer: Answer,
    /// Its mean difference.
    pub mean_difference: f64,
}

/// The verdict a new one replaced, in brief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousVerdict {
    /// Its command.
    pub command: String,
    /// The vitscape that wrote it.
    pub vitscape_version: String,
    /// Its rule.
    pub rule: String,
    /// Its sweep settings.
    pub settings: Settings,
    /// Its direction seeds.
    pub seeds: Vec<u64>,
    /// Its training seeds (empty: one model per method).
    pub training_seeds: Vec<u64>,
    /// Its convexity maps' settings.
    pub convexity: Option<ConvexitySettings>,
    /// Its trained models (empty when they are not known).
    pub trained: Vec<TrainedModel>,
    /// Its answers.
    pub answers: Vec<PreviousAnswer>,
}

impl PreviousVerdict {
    /// The brief of `v`. Its trained models are `v.trained`; a verdict written before those were
    /// recorded (one model per method) gets the entries of `known` (the manifest's page models)
    /// whose checkpoint its specs name by hash, and none when no hash matches.
    pub fn of(v: &Verdict, known: &[DemoModel]) -> Self {
        let trained = if v.trained.is_empty() {
            TrainedModel::named_by(&v.modes, known)
        } else {
            v.trained.clone()
        };
        Self {
            command: v.command.clone(),
            vitscape_version: v.vitscape_version.clone(),
            rule: v.rule.clone(),
            settings: v.settings.clone(),
            seeds: v.seeds.clone(),
            training_seeds: v.training_seeds.clone(),
            convexity: v.convexity.clone(),
            trained,
            answers: v
                .modes
                .iter()
                .flat_map(|m| {
                    m.comparisons.iter().map(|c| PreviousAnswer {
                        mode: m.mode,
                        question: c.question.clone(),
                        answer: c.answer,
                        mean_difference: c.mean_difference,
                    })
                })
                .collect(),
        }
    }
}

/// The checkpoints' hashes, sorted.
fn hashes<'a>(models: impl IntoIterator<Item = &'a TrainedModel>) -> Vec<&'a str> {
    let mut h: Vec<&str> = models.into_iter().map(|m| m.sha256.as_str()).collect();
    h.sort_unstable();
    h
}

fn seed_list(seeds: &[u64]) -> String {
    match seeds {
        [] => "one (unrecorded)".into(),
        _ => format!(
            "{} ({})",
            seeds.len(),
            seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// How a family's trained models read: "6 epochs, test accuracy 82.2 %" (means over seeds).
fn training_of(models: &[&TrainedModel]) -> String {
    let n = models.len().max(1) as f64;
    let mut epochs: Vec<usize> = models.iter().map(|m| m.epochs).collect();
    epochs.dedup();
    let epochs = epochs
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("/");
    let mean = |key: &str| {
        let values: Vec<f64> = models
            .iter()
            .filter_map(|m| m.test_metrics.get(key).copied())
            .collect();
        (values.len() == models.len() && !values.is_empty()).then(|| values.iter().sum::<f64>() / n)
    };
    let metric = if let Some(a) = mean("test_accuracy") {
        format!(", test accuracy {:.1} %", a * 100.0)
    } else if let Some(r) = mean("test_reconstruction") {
        format!(", test reconstruction loss {}", sig(r))
    } else {
        String::new()
    };
    let seeds = if models.len() > 1 {
        format!("{} training seeds, ", models.len())
    } else {
        "one training seed, ".into()
    };
    let mean_word = if models.len() > 1 { " (mean)" } else { "" };
    format!("{seeds}{epochs} epochs{metric}{mean_word}")
}

/// What changed since the verdict `v` replaced, as sentences: first why (models, seeds,
/// settings, rule), then what (each answer that moved, each new question). Empty when `v`
/// records no previous verdict.
pub fn changes(v: &Verdict) -> Vec<String> {
    let Some(p) = v.previous.as_deref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // The models.
    if p.trained.is_empty() {
        out.push(
            "The models of the previous verdict are not known (none of its checkpoints is in the manifest).".into(),
        );
    } else if hashes(&p.trained) == hashes(&v.trained) {
        out.push(format!(
            "The same {} trained models (the same checkpoint files).",
            v.trained.len()
        ));
    } else {
        // Each name once, in the order of first appearance (the models come seed by seed).
        let mut names: Vec<&str> = Vec::new();
        for m in &v.trained {
            if !names.contains(&m.name.as_str()) {
                names.push(&m.name);
            }
        }
        for name in names {
            let of = |t: &'_ [TrainedModel]| -> Vec<TrainedModel> {
                t.iter().filter(|m| m.name == name).cloned().collect()
            };
            let (before, now) = (of(&p.trained), of(&v.trained));
            let (before, now): (Vec<&TrainedModel>, Vec<&TrainedModel>) =
                (before.iter().collect(), now.iter().collect());
            if before.is_empty() {
                out.push(format!("{name}: new, {}.", training_of(&now)));
            } else if hashes(before.iter().copied()) != hashes(now.iter().copied()) {
                out.push(format!(
                    "{name}: {} before; {} now.",
                    training_of(&before),
                    training_of(&now)
                ));
            }
        }
    }
    // A verdict that did not record its training seeds had its models' (when they are known).
    let mut before_seeds = p.training_seeds.clone();
    if before_seeds.is_empty() {
        before_seeds = p.trained.iter().map(|m| m.training_seed).collect();
        before_seeds.sort_unstable();
        before_seeds.dedup();
    }
    if before_seeds != v.training_seeds {
        out.push(format!(
            "Training seeds: {} → {}.",
            seed_list(&before_seeds),
            seed_list(&v.training_seeds)
        ));
    }
    if p.seeds != v.seeds {
        out.push(format!(
            "Direction seeds: {} → {}.",
            seed_list(&p.seeds),
            seed_list(&v.seeds)
        ));
    }
    let grid = |s: &Settings| {
        format!(
            "{}×{} grid, {} images",
            s.x.n,
            s.y.map_or(1, |y| y.n),
            s.eval_images
        )
    };
    if grid(&p.settings) != grid(&v.settings) {
        out.push(format!(
            "Sweeps: {} → {}.",
            grid(&p.settings),
            grid(&v.settings)
        ));
    }
    match (&p.convexity, &v.convexity) {
        (None, Some(c)) => out.push(format!(
            "New: convexity maps ({}×{} cells, {}, on the planes of direction seed{} {}) answer a question on the full Hessian beside the discrete-Hessian one.",
            c.grid,
            c.grid,
            c.power.extremes.budget(c.power.max_iterations),
            if c.seeds.len() == 1 { "" } else { "s" },
            c.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        )),
        (Some(_), None) => out.push("The convexity maps are no longer computed.".into()),
        (Some(a), Some(b)) if a.power.extremes != b.power.extremes => out.push(format!(
            "Convexity maps: λmin and λmax by {} → {}.",
            a.power.extremes.budget(a.power.max_iterations),
            b.power.extremes.budget(b.power.max_iterations)
        )),
        (Some(a), Some(b)) if a != b => out.push(format!(
            "Convexity maps: {}×{} on {} plane(s) → {}×{} on {} plane(s).",
            a.grid,
            a.grid,
            a.seeds.len(),
            b.grid,
            b.grid,
            b.seeds.len()
        )),
        _ => {}
    }
    if p.rule != v.rule {
        out.push(format!(
            "The rule changed. Before: {} Now: {}",
            p.rule,
            if v.rule == RULE {
                "Yes or No only when the 95 % interval of the mean difference (training seeds, then direction seeds, resampled) excludes zero."
                    .to_string()
            } else {
                v.rule.clone()
            }
        ));
    }
    // The answers.
    let before = out.len();
    for m in &v.modes {
        for c in &m.comparisons {
            match p
                .answers
                .iter()
                .find(|a| a.mode == m.mode && a.question == c.question)
            {
                None => out.push(format!("New question — {} {}", c.question, c.answer.word())),
                Some(a) if a.answer != c.answer => out.push(format!(
                    "{} {} → {} (mean difference {} → {}).",
                    c.question,
                    a.answer.word(),
                    c.answer.word(),
                    sig(a.mean_difference),
                    sig(c.mean_difference)
                )),
                Some(_) => {}
            }
        }
    }
    if out.len() == before {
        out.push("Every answer is as before.".into());
    }
    out
}
