//! The demo verdict (issue #5, METHODS §6): with the landscape summaries of the three demo models
//! over several training seeds and direction seeds, is MAE-ViT's landscape wider and smoother
//! than Sup-ViT's, and is RC-MAE-ViT's convex region wider than MAE-ViT's (by the discrete
//! Hessian of the surface, and by the full Hessian's eigenvalues on a convexity map) — on the
//! pre-training losses and on the linear-probe losses — and is the difference real?
//!
//! `vitscape verdict` computes it natively ([`panel_summaries`]) and writes
//! `static/demo/verdict.json`; the page shows it beside the live demo, with what changed since
//! the verdict before it ([`changes`]). The statistics are in [`stats`]. Everything but the
//! computation is target-neutral.

mod changes;
#[cfg(all(feature = "engine", not(target_arch = "wasm32")))]
mod compute;
pub mod stats;

use serde::{Deserialize, Serialize};

use crate::curvature::{PowerSettings, ProductScheme};
use crate::demo::{DemoModel, Manifest};
use crate::metrics::Summary;
use crate::spec::{LossChoice, Settings, SweepSpec};

pub use changes::{PreviousAnswer, PreviousVerdict, changes};
#[cfg(all(feature = "engine", not(target_arch = "wasm32")))]
pub use compute::panel_summaries;
pub use stats::{Answer, Comparison, RULE, bootstrap_interval, nested_bootstrap_interval};

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
    /// The seed the model was trained with.
    pub training_seed: u64,
}

fn panels_of(models: &[DemoModel], mode: DemoMode) -> Vec<DemoPanel> {
    models
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
                training_seed: m.seed,
            })
        })
        .collect()
}

/// The demo comparison the page shows, in display order: Sup-ViT, MAE-ViT and RC-MAE-ViT on
/// their pre-training losses, or Sup-ViT and the two linear probes on classification.
pub fn demo_panels(manifest: &Manifest, mode: DemoMode) -> Vec<DemoPanel> {
    panels_of(&manifest.models, mode)
}

/// Every panel of the verdict: the page's ([`demo_panels`]), then the same models trained with
/// the manifest's other seeds (`replicates`), each seed's in display order.
pub fn verdict_panels(manifest: &Manifest, mode: DemoMode) -> Vec<DemoPanel> {
    let mut panels = demo_panels(manifest, mode);
    let mut replicates = panels_of(&manifest.replicates, mode);
    replicates.sort_by_key(|p| p.training_seed);
    panels.extend(replicates);
    panels
}

/// The families a convexity-map question compares (RC-MAE-ViT against MAE-ViT); Sup-ViT's maps
/// are not computed.
pub const MAP_FAMILIES: [&str; 2] = ["mae", "rcmae"];

/// How the verdict's convexity maps are computed (`vitscape verdict --convexity-grid …`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvexitySettings {
    /// Points per axis of the map over the sweep's plane.
    pub grid: usize,
    /// The direction seeds whose planes get a map (the first of the verdict's seeds).
    pub seeds: Vec<u64>,
    /// Power iterations at each cell (λmax, then λmin by Li et al.'s shift).
    pub power: PowerSettings,
    /// The Hessian-vector product.
    pub scheme: ProductScheme,
}

/// One convexity map's summary (Li et al.'s |λmin/λmax| at every cell of a coarse grid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapSummary {
    /// The direction seed of the plane.
    pub seed: u64,
    /// Cells with |λmin/λmax| < [`crate::curvature::CONVEX_RATIO`] over all cells.
    pub convex_fraction: f64,
    /// Cells of the map.
    pub cells: usize,
    /// Cells whose extremes reached the tolerance.
    pub converged_cells: usize,
    /// Hessian-vector products over the whole map.
    pub products: usize,
}

/// One trained model's summaries, one per direction seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummaries {
    /// Display name.
    pub name: String,
    /// Pre-training family.
    pub family: String,
    /// The loss evaluated.
    pub loss: LossChoice,
    /// The seed the model was trained with (0 in verdicts written before training seeds).
    #[serde(default)]
    pub training_seed: u64,
    /// Landscape summaries of the loss, one per direction seed (τ = `tau_relative` × its own
    /// L(0)).
    pub summaries: Vec<Summary>,
    /// The spec of each seed's surface, in the same order: `vitscape sweep --spec verdict.json
    /// --panel "<mode>/<name>/seed <seed>"` recomputes it (with several training seeds,
    /// `"<mode>/<name>/training seed <t>/seed <seed>"`).
    #[serde(default)]
    pub specs: Vec<SweepSpec>,
    /// Convexity maps on the planes of [`ConvexitySettings::seeds`] (families [`MAP_FAMILIES`]
    /// only; empty when not computed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub convexity_maps: Vec<MapSummary>,
}

/// The verdict on one kind of loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeVerdict {
    /// Which losses.
    pub mode: DemoMode,
    /// The models' summaries, one entry per model and training seed.
    pub models: Vec<ModelSummaries>,
    /// The questions: three on the surfaces, and a fourth on the convexity maps when they were
    /// computed.
    pub comparisons: Vec<Comparison>,
}

impl ModeVerdict {
    /// Ask the questions of the summaries: families `supervised`, `mae` and `rcmae` must all be
    /// there, trained with the same seeds, each with the same direction seeds; differences are
    /// paired by training seed and direction seed.
    pub fn new(mode: DemoMode, models: Vec<ModelSummaries>) -> Result<Self, String> {
        let family = |family: &str| -> Result<Vec<&ModelSummaries>, String> {
            let mut found: Vec<&ModelSummaries> =
                models.iter().filter(|m| m.family == family).collect();
            if found.is_empty() {
                return Err(format!("no {family} model among the summaries"));
            }
            found.sort_by_key(|m| m.training_seed);
            Ok(found)
        };
        let (sup, mae, rc) = (family("supervised")?, family("mae")?, family("rcmae")?);
        let seeds = |f: &[&ModelSummaries]| f.iter().map(|m| m.training_seed).collect::<Vec<_>>();
        let training_seeds = seeds(&sup);
        for other in [&mae, &rc] {
            if seeds(other) != training_seeds {
                return Err(format!(
                    "{} was trained with seeds {:?} but {} with {:?}: the differences are paired by training seed",
                    other[0].name,
                    seeds(other),
                    sup[0].name,
                    training_seeds
                ));
            }
        }
        let directions = sup[0].summaries.len();
        if let Some(m) = [&sup, &mae, &rc]
            .iter()
            .flat_map(|f| f.iter())
            .find(|m| m.summaries.len() != directions)
        {
            return Err(format!(
                "{} (training seed {}) has {} direction seeds, {} has {directions}",
                m.name,
                m.training_seed,
                m.summaries.len(),
                sup[0].name
            ));
        }
        let values = |f: &[&ModelSummaries], v: fn(&Summary) -> f64| {
            (
                f[0].name.clone(),
                f.iter()
                    .map(|m| m.summaries.iter().map(v).collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
            )
        };
        let on = mode.label();
        let question = |q: String, measure: &str, a, b, larger_is_yes| {
            Comparison::new(
                q,
                measure.into(),
                a,
                b,
                training_seeds.clone(),
                larger_is_yes,
            )
        };
        let mut comparisons = vec![
            question(
                format!(
                    "On the {on}, is {}'s landscape wider than {}'s?",
                    mae[0].name, sup[0].name
                ),
                "basin area below L(0) + τ, in α·β units",
                values(&mae, |s| s.basin_area),
                values(&sup, |s| s.basin_area),
                true,
            ),
            question(
                format!(
                    "On the {on}, is {}'s landscape smoother than {}'s?",
                    mae[0].name, sup[0].name
                ),
                "roughness: RMS residual of the best quadratic fit / the surface's standard deviation (lower = smoother)",
                values(&mae, |s| s.roughness_relative),
                values(&sup, |s| s.roughness_relative),
                false,
            ),
            question(
                format!(
                    "On the {on}, is {}'s convex region wider than {}'s?",
                    rc[0].name, mae[0].name
                ),
                "fraction of cells whose discrete Hessian is positive semi-definite",
                values(&rc, |s| s.convex_fraction),
                values(&mae, |s| s.convex_fraction),
                true,
            ),
        ];
        // The convexity-map question, when every MAE and RC-MAE model has its maps.
        let maps = |f: &[&ModelSummaries]| {
            (
                f[0].name.clone(),
                f.iter()
                    .map(|m| {
                        m.convexity_maps
                            .iter()
                            .map(|s| s.convex_fraction)
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>(),
            )
        };
        let (map_rc, map_mae) = (maps(&rc), maps(&mae));
        let counts: Vec<usize> = map_rc.1.iter().chain(&map_mae.1).map(Vec::len).collect();
        if counts.iter().all(|c| *c > 0 && *c == counts[0]) {
            comparisons.push(question(
                format!(
                    "On the {on}, by the Hessian's extreme eigenvalues, is {}'s convex region wider than {}'s?",
                    rc[0].name, mae[0].name
                ),
                "fraction of convexity-map cells with |λmin/λmax| < 0.1 (Li et al.'s map of the full Hessian's extreme eigenvalues)",
                map_rc,
                map_mae,
                true,
            ));
        } else if counts.iter().any(|c| *c > 0) {
            return Err(format!(
                "on the {on}, some {} / {} models have convexity maps and some do not (or not on the same planes)",
                mae[0].name, rc[0].name
            ));
        }
        Ok(Self {
            mode,
            models,
            comparisons,
        })
    }
}

/// One trained model the verdict compared: what the page's "what changed" reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedModel {
    /// Display name.
    pub name: String,
    /// Pre-training family.
    pub family: String,
    /// Training seed.
    pub training_seed: u64,
    /// Epochs trained (in its last stage).
    pub epochs: usize,
    /// Its metrics on the full Fashion-MNIST test set after training.
    pub test_metrics: std::collections::BTreeMap<String, f64>,
    /// sha256 of the checkpoint.
    pub sha256: String,
}

impl TrainedModel {
    /// From the manifest's entry.
    pub fn of(m: &DemoModel) -> Self {
        Self {
            name: m.name.clone(),
            family: m.family.clone(),
            training_seed: m.seed,
            epochs: m.epochs,
            test_metrics: m.test_metrics.clone(),
            sha256: m.sha256.clone(),
        }
    }

    /// The entries of `known` whose checkpoint the specs of `modes` name by hash.
    pub fn named_by<'a>(
        modes: &[ModeVerdict],
        known: impl IntoIterator<Item = &'a DemoModel>,
    ) -> Vec<Self> {
        let hashes: Vec<&str> = modes
            .iter()
            .flat_map(|m| &m.models)
            .flat_map(|m| &m.specs)
            .map(|s| s.checkpoint.sha256.as_str())
            .collect();
        known
            .into_iter()
            .filter(|m| hashes.contains(&m.sha256.as_str()))
            .map(Self::of)
            .collect()
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
    /// Training seeds (empty in verdicts written before them: one model per method).
    #[serde(default)]
    pub training_seeds: Vec<u64>,
    /// τ of the summaries as a fraction of each surface's own centre loss L(0), so that losses of
    /// different scales are compared on the same footing.
    pub tau_relative: f64,
    /// The convexity maps' settings (absent: no maps, no fourth question).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convexity: Option<ConvexitySettings>,
    /// Per mode.
    pub modes: Vec<ModeVerdict>,
    /// The trained models compared, as the manifest describes them.
    #[serde(default)]
    pub trained: Vec<TrainedModel>,
    /// How the questions were answered ([`RULE`] when written).
    #[serde(default = "changes::sign_test_rule")]
    pub rule: String,
    /// The verdict this one replaced, in brief (its answers, settings and models), so the page
    /// can say what changed and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Box<PreviousVerdict>>,
    /// The command that wrote this file.
    pub command: String,
    /// vitscape version.
    pub vitscape_version: String,
}

/// One shard of a verdict (`vitscape verdict --shard K/N`): the sweeps it computed, each one
/// trained model on one kind of loss at one direction seed (with its convexity map when it has
/// one). `vitscape verdict --merge` joins the parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictPart {
    /// Which shard of the sweeps (mode × trained model × seed, dealt round-robin in that order).
    pub shard: crate::landscape::sweep::Shard,
    /// The settings of every sweep, as [`Verdict::settings`].
    pub settings: Settings,
    /// Every seed of the verdict (not only this shard's).
    pub seeds: Vec<u64>,
    /// The convexity maps' settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convexity: Option<ConvexitySettings>,
    /// The verdict's command, without the shard.
    pub command: String,
    /// vitscape version.
    pub vitscape_version: String,
    /// This shard's sweeps: mode, and one model's summaries at one seed.
    pub sweeps: Vec<(DemoMode, ModelSummaries)>,
    /// How many sweeps this shard computes in all (0 in parts written before it was recorded),
    /// for `vitscape status`.
    #[serde(default)]
    pub total: usize,
    /// The part's progress in time, for `vitscape status` (`cells_at_start` counts sweeps here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<crate::landscape::surface::Clock>,
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
    surface: &crate::landscape::surface::Surface,
    tau_relative: f64,
) -> Result<Summary, crate::metrics::MetricsError> {
    crate::metrics::summarise(
        surface,
        crate::landscape::surface::LOSS,
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
