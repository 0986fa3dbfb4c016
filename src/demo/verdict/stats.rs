//! A verdict question's statistics: the paired differences over training seeds × direction seeds,
//! the nested percentile bootstrap of their mean, the effect size, and the answer they give.

use serde::{Deserialize, Serialize};

use crate::metrics::mean_sd;

/// A yes/no question answered from the 95 % interval of the mean difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// The whole interval lies on the asked side of zero.
    Yes,
    /// The whole interval lies on the other side of zero.
    No,
    /// The interval holds zero: the difference is within what the seeds give by chance.
    Unclear,
}

impl Answer {
    /// "Yes", "No", "Unclear".
    pub fn word(self) -> &'static str {
        match self {
            Answer::Yes => "Yes",
            Answer::No => "No",
            Answer::Unclear => "Unclear",
        }
    }
}

/// How a question is answered, said wherever the answers are shown.
pub const RULE: &str = "Each method is trained with several training seeds and each trained model is swept on several random planes (direction seeds); a question's difference is model − baseline, paired by training seed and direction seed. \
     Its 95 % interval is a nested percentile bootstrap of the mean difference: the training seeds resampled with replacement, then each chosen seed's direction seeds (100 000 seeded resamples; with one training seed, the exact bootstrap of its direction seeds, every one of the nⁿ resamples). \
     Yes when the whole interval lies on the asked side of zero, No when it lies on the other side, Unclear when it holds zero (or when there is a single value, which has no spread to compare with). \
     The effect size d is the mean difference over the standard deviation of the training seeds' mean differences (with one training seed, of the direction seeds' differences). \
     The training seed is the unit of replication: with three of them a Yes needs, roughly, all three to agree, which happens by chance with probability 1/8 each way when there is no effect, so read the interval and d, not the word alone.";

/// Largest sample whose bootstrap is enumerated exactly (7⁷ = 823 543 resamples).
const EXACT_BOOTSTRAP: usize = 7;
/// Resamples of a larger single sample's bootstrap (seeded, so a verdict reads the same every time).
const BOOTSTRAP_RESAMPLES: usize = 20_000;
/// Resamples of a nested bootstrap over several training seeds.
pub const NESTED_RESAMPLES: usize = 100_000;

/// One comparison of two models on one summary, over training seeds × direction seeds.
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
    /// The training seeds, in the order of the values' groups (empty in verdicts written before
    /// training seeds were recorded: one group).
    #[serde(default)]
    pub training_seeds: Vec<u64>,
    /// The summary of `model`: for each training seed in turn, one value per direction seed.
    pub model_values: Vec<f64>,
    /// The summary of `baseline`, in the same order.
    pub baseline_values: Vec<f64>,
    /// Whether a larger value means "yes" (else a smaller one does).
    pub larger_is_yes: bool,
    /// Pairs (training seed, direction seed) whose difference points the asked way.
    pub seeds_agreeing: usize,
    /// Training seeds whose mean difference over the direction seeds points the asked way.
    #[serde(default)]
    pub training_seeds_agreeing: usize,
    /// Mean over all pairs of (model − baseline).
    pub mean_difference: f64,
    /// Sample standard deviation of the replicates: the training seeds' mean differences, or with
    /// one training seed the direction seeds' differences.
    pub sd_difference: f64,
    /// The 95 % interval of the mean difference ([`nested_bootstrap_interval`]).
    #[serde(default)]
    pub interval: Option<(f64, f64)>,
    /// The answer.
    pub answer: Answer,
}

impl Comparison {
    /// Compare per-seed values grouped by training seed (`model_groups[t][d]`, the same shape
    /// for both, paired by position) and answer from the interval ([`RULE`]).
    pub fn new(
        question: String,
        measure: String,
        (model, model_groups): (String, Vec<Vec<f64>>),
        (baseline, baseline_groups): (String, Vec<Vec<f64>>),
        training_seeds: Vec<u64>,
        larger_is_yes: bool,
    ) -> Self {
        let groups: Vec<Vec<f64>> = model_groups
            .iter()
            .zip(&baseline_groups)
            .map(|(m, b)| m.iter().zip(b).map(|(a, b)| a - b).collect())
            .collect();
        let towards = |d: f64| if larger_is_yes { d > 0.0 } else { d < 0.0 };
        let seeds_agreeing = groups.iter().flatten().filter(|d| towards(**d)).count();
        let group_means: Vec<f64> = groups.iter().map(|g| mean_sd(g).0).collect();
        let training_seeds_agreeing = group_means.iter().filter(|d| towards(**d)).count();
        let all: Vec<f64> = groups.iter().flatten().copied().collect();
        let mean_difference = mean_sd(&all).0;
        let sd_difference = match groups.as_slice() {
            [one] => mean_sd(one).1,
            _ => mean_sd(&group_means).1,
        };
        let interval = nested_bootstrap_interval(&groups);
        let answer = answer_from(interval, larger_is_yes, all.len());
        Self {
            question,
            measure,
            model,
            baseline,
            training_seeds,
            model_values: model_groups.into_iter().flatten().collect(),
            baseline_values: baseline_groups.into_iter().flatten().collect(),
            larger_is_yes,
            seeds_agreeing,
            training_seeds_agreeing,
            mean_difference,
            sd_difference,
            interval,
            answer,
        }
    }

    /// Training seeds (at least one group, also for verdicts that recorded none).
    pub fn training_seed_count(&self) -> usize {
        self.training_seeds.len().max(1)
    }

    /// The per-pair differences (model − baseline), grouped by training seed.
    pub fn differences(&self) -> Vec<Vec<f64>> {
        let all: Vec<f64> = self
            .model_values
            .iter()
            .zip(&self.baseline_values)
            .map(|(a, b)| a - b)
            .collect();
        let per = all.len().div_ceil(self.training_seed_count()).max(1);
        all.chunks(per).map(<[f64]>::to_vec).collect()
    }

    /// The effect size d: the mean difference over the replicates' standard deviation (0 when
    /// the replicates differ but average to no difference; infinite when every replicate gives
    /// the same nonzero difference; `None` with fewer than two replicates, or when every
    /// replicate's difference is zero).
    pub fn effect_size(&self) -> Option<f64> {
        let groups = self.differences();
        let replicates = match groups.as_slice() {
            [one] => one.len(),
            many => many.len(),
        };
        (replicates >= 2 && (self.mean_difference != 0.0 || self.sd_difference > 0.0))
            .then(|| self.mean_difference / self.sd_difference)
    }

    /// One sentence with the numbers: "Yes — 95 % bootstrap interval 0.12 to 0.40, above 0: …".
    pub fn sentence(&self) -> String {
        let (m, ms) = mean_sd(&self.model_values);
        let (b, bs) = mean_sd(&self.baseline_values);
        let groups = self.differences();
        let t = groups.len();
        let pairs = self.model_values.len();
        let per = pairs / t.max(1);
        let interval = self.interval.map_or(
            "no interval (a value is not finite)".to_string(),
            |(lo, hi)| format!("95 % bootstrap interval {} to {}", sig(lo), sig(hi)),
        );
        let effect = self.effect_size().map_or(String::new(), |d| {
            if d.is_finite() {
                format!("; effect size d = {d:.2}")
            } else {
                "; effect size d unbounded (the same difference in every replicate)".into()
            }
        });
        format!(
            "{} — {interval} of the difference {}: {} {} ± {} vs {} {} ± {} ({}), over {t} training seed{} × {per} direction seed{}; {} of {t} training seeds and {} of {pairs} planes point the asked way{effect}.",
            self.answer.word(),
            sig(self.mean_difference),
            self.model,
            sig(m),
            sig(ms),
            self.baseline,
            sig(b),
            sig(bs),
            self.measure,
            if t == 1 { "" } else { "s" },
            if per == 1 { "" } else { "s" },
            self.training_seeds_agreeing,
            self.seeds_agreeing,
        )
    }
}

/// Yes, No or Unclear from the interval of `values` paired differences ([`RULE`]): one value has
/// no spread to compare the difference with, so it answers nothing.
pub fn answer_from(interval: Option<(f64, f64)>, larger_is_yes: bool, values: usize) -> Answer {
    if values < 2 {
        return Answer::Unclear;
    }
    match interval {
        Some((lo, _)) if lo > 0.0 => {
            if larger_is_yes {
                Answer::Yes
            } else {
                Answer::No
            }
        }
        Some((_, hi)) if hi < 0.0 => {
            if larger_is_yes {
                Answer::No
            } else {
                Answer::Yes
            }
        }
        _ => Answer::Unclear,
    }
}

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
    let means: Vec<f64> = if n <= EXACT_BOOTSTRAP {
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
    Some(percentiles(means))
}

/// The 95 % nested percentile-bootstrap interval of the mean of `groups` (one group per training
/// seed, each with its direction seeds' values): each resample draws as many groups as there
/// are with replacement, then within each drawn group as many values as it has with
/// replacement, and takes the mean of the drawn groups' means. One group: its exact
/// [`bootstrap_interval`]. Several: [`NESTED_RESAMPLES`] resamples from a generator seeded with
/// 0. `None` for no groups, an empty group, or a value that is not finite.
pub fn nested_bootstrap_interval(groups: &[Vec<f64>]) -> Option<(f64, f64)> {
    use rand::{Rng, SeedableRng};
    match groups {
        [] => None,
        [one] => bootstrap_interval(one),
        _ => {
            if groups
                .iter()
                .any(|g| g.is_empty() || g.iter().any(|v| !v.is_finite()))
            {
                return None;
            }
            let t = groups.len();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
            let means = (0..NESTED_RESAMPLES)
                .map(|_| {
                    (0..t)
                        .map(|_| {
                            let g = &groups[rng.random_range(0..t)];
                            (0..g.len())
                                .map(|_| g[rng.random_range(0..g.len())])
                                .sum::<f64>()
                                / g.len() as f64
                        })
                        .sum::<f64>()
                        / t as f64
                })
                .collect();
            Some(percentiles(means))
        }
    }
}

/// The 2.5th and 97.5th percentiles of `means` by the inverse of the empirical distribution
/// function (numpy's `inverted_cdf`).
fn percentiles(mut means: Vec<f64>) -> (f64, f64) {
    means.sort_by(f64::total_cmp);
    let quantile = |p: f64| {
        let k = ((p * means.len() as f64).ceil() as usize).clamp(1, means.len());
        means[k - 1]
    };
    (quantile(0.025), quantile(0.975))
}

/// Three significant digits (more for small numbers), for sentences.
pub fn sig(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (3 - v.abs().log10().floor() as i32 - 1).clamp(0, 6) as usize;
    format!("{v:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compare(a: &[&[f64]], b: &[&[f64]], larger_is_yes: bool) -> Comparison {
        let groups = |v: &[&[f64]]| v.iter().map(|g| g.to_vec()).collect::<Vec<_>>();
        Comparison::new(
            "q".into(),
            "m".into(),
            ("A".into(), groups(a)),
            ("B".into(), groups(b)),
            (0..a.len() as u64).collect(),
            larger_is_yes,
        )
    }

    #[test]
    fn answers_follow_the_interval() {
        // One training seed, three direction seeds, differences 1, 2, 3: exact interval 1 to 3.
        let yes = compare(&[&[2.0, 3.0, 4.0]], &[&[1.0, 1.0, 1.0]], true);
        assert_eq!(yes.interval, Some((1.0, 3.0)));
        assert_eq!(yes.answer, Answer::Yes);
        assert_eq!((yes.seeds_agreeing, yes.training_seeds_agreeing), (3, 1));
        assert_eq!(yes.mean_difference, 2.0);
        assert_eq!(yes.sd_difference, 1.0);
        assert_eq!(yes.effect_size(), Some(2.0));
        let no = compare(&[&[0.5, 0.2, 0.1]], &[&[1.0, 1.0, 1.0]], true);
        assert_eq!(no.answer, Answer::No);
        // Differences 1, −0.5, 2: the interval holds zero.
        let mixed = compare(&[&[2.0, 0.5, 3.0]], &[&[1.0, 1.0, 1.0]], true);
        assert_eq!(mixed.answer, Answer::Unclear);
        assert_eq!(mixed.seeds_agreeing, 2);
        // Smaller is "yes" for roughness.
        assert_eq!(
            compare(&[&[0.1, 0.2]], &[&[0.3, 0.4]], false).answer,
            Answer::Yes
        );
        // All ties: the interval is [0, 0], which holds zero.
        assert_eq!(
            compare(&[&[1.0, 1.0]], &[&[1.0, 1.0]], true).answer,
            Answer::Unclear
        );
        assert_eq!(compare(&[], &[], true).answer, Answer::Unclear);
        // A single value is its own interval, but answers nothing.
        let one = compare(&[&[2.0]], &[&[1.0]], true);
        assert_eq!(
            (one.interval, one.answer),
            (Some((1.0, 1.0)), Answer::Unclear)
        );
        let sentence = yes.sentence();
        assert!(
            sentence.starts_with(
                "Yes — 95 % bootstrap interval 1.00 to 3.00 of the difference 2.00: A 3.00 ± 1.00 vs B 1.00 ± 0 (m), over 1 training seed × 3 direction seeds; 1 of 1 training seeds and 3 of 3 planes"
            ),
            "{sentence}"
        );
        assert!(sentence.ends_with("effect size d = 2.00."), "{sentence}");
    }

    #[test]
    fn training_seeds_are_the_replicates() {
        // Three training seeds × two direction seeds. Seed means 1, 2, 3 (grand mean 2).
        let c = compare(
            &[&[1.5, 2.5], &[3.0, 3.0], &[3.5, 4.5]],
            &[&[1.0, 1.0], &[1.0, 1.0], &[1.0, 1.0]],
            true,
        );
        assert_eq!(c.training_seed_count(), 3);
        assert_eq!(c.mean_difference, 2.0);
        assert_eq!(c.sd_difference, 1.0);
        assert_eq!(c.effect_size(), Some(2.0));
        assert_eq!((c.seeds_agreeing, c.training_seeds_agreeing), (6, 3));
        assert_eq!(
            c.differences(),
            vec![vec![0.5, 1.5], vec![2.0, 2.0], vec![2.5, 3.5]]
        );
        let (lo, hi) = c.interval.unwrap();
        // Every resample's mean lies within the values' range, and the interval around 2.
        assert!(
            (0.5..2.0).contains(&lo) && hi > 2.0 && hi <= 3.5,
            "{lo} {hi}"
        );
        assert_eq!(c.answer, Answer::Yes);
        assert!(
            c.sentence()
                .contains("over 3 training seeds × 2 direction seeds; 3 of 3")
        );
        // One training seed disagreeing by far: the interval reaches below zero.
        let split = compare(
            &[&[1.5, 2.5], &[3.0, 3.0], &[-9.0, -8.0]],
            &[&[1.0, 1.0], &[1.0, 1.0], &[1.0, 1.0]],
            true,
        );
        assert_eq!(split.training_seeds_agreeing, 2);
        assert_eq!(split.answer, Answer::Unclear);
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
    fn the_nested_bootstrap_reduces_to_the_plain_one_and_rejects_bad_groups() {
        assert_eq!(
            nested_bootstrap_interval(&[vec![0.0, 0.0, 3.0]]),
            bootstrap_interval(&[0.0, 0.0, 3.0])
        );
        assert_eq!(nested_bootstrap_interval(&[]), None);
        assert_eq!(nested_bootstrap_interval(&[vec![1.0], vec![]]), None);
        assert_eq!(
            nested_bootstrap_interval(&[vec![1.0], vec![f64::INFINITY]]),
            None
        );
        // Equal groups of equal values: no spread at all.
        assert_eq!(
            nested_bootstrap_interval(&[vec![2.0, 2.0], vec![2.0, 2.0]]),
            Some((2.0, 2.0))
        );
        // Seeded: the same every time.
        let g = vec![
            vec![0.1, 0.4, 0.2],
            vec![0.5, 0.3, 0.9],
            vec![-0.2, 0.0, 0.1],
        ];
        assert_eq!(nested_bootstrap_interval(&g), nested_bootstrap_interval(&g));
    }

    #[test]
    fn effect_sizes_need_two_replicates() {
        let same = compare(&[&[2.0, 2.0]], &[&[1.0, 1.0]], true);
        assert_eq!(same.effect_size(), Some(f64::INFINITY));
        assert!(same.sentence().contains("unbounded"));
        assert_eq!(compare(&[&[2.0]], &[&[1.0]], true).effect_size(), None);
        // Two training seeds of one direction seed each: two replicates.
        let two = compare(&[&[2.0], &[4.0]], &[&[1.0], &[1.0]], true);
        assert_eq!(two.sd_difference, std::f64::consts::SQRT_2);
        assert!((two.effect_size().unwrap() - 2.0 / std::f64::consts::SQRT_2).abs() < 1e-12);
        // Differences that cancel: no effect, d = 0 (numpy's reference says so too); none at
        // all: no effect size.
        let cancel = compare(&[&[2.0], &[1.0], &[0.0]], &[&[1.0], &[1.0], &[1.0]], true);
        assert_eq!(cancel.effect_size(), Some(0.0));
        let nothing = compare(&[&[1.0], &[1.0]], &[&[1.0], &[1.0]], true);
        assert_eq!(nothing.effect_size(), None);
    }
}
