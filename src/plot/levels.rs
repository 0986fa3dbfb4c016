//! Contour levels (linear "nice" steps or log decades) and how level values are written.

/// Most contour levels a figure draws (more than this are not told apart on a screen).
pub const MAX_LEVELS: usize = 50;

/// Pick about `levels` round contour thresholds inside `[lo, hi]`, ascending.
///
/// Linear: multiples of a "nice" step (1, 2, 2.5 or 5 × 10ᵏ), the smallest such step that gives
/// at most `levels + 1` thresholds. Log (when `log_scale` and `lo > 0`): round mantissas per decade
/// (1-2-5 and finer or coarser sets), the set whose count is closest to `levels`; ranges too narrow
/// for that fall back to linear.
pub fn contour_levels(lo: f64, hi: f64, levels: usize, log_scale: bool) -> Vec<f64> {
    // A view read from a link is clamped with a notice; this keeps any other caller bounded too.
    let levels = levels.min(MAX_LEVELS);
    if !(lo.is_finite() && hi.is_finite()) || levels == 0 {
        return Vec::new();
    }
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    if hi == lo {
        return vec![lo];
    }
    if log_scale && lo > 0.0 {
        let log = log_levels(lo, hi, levels);
        if log.len() >= 3 || log.len() >= levels {
            return log;
        }
    }
    linear_levels(lo, hi, levels)
}

/// Multiples of a nice step inside `[lo, hi]`.
pub(crate) fn linear_levels(lo: f64, hi: f64, levels: usize) -> Vec<f64> {
    let step = nice_step((hi - lo) / levels as f64);
    let tolerance = step * 1e-9;
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|k| k as f64 * step)
        .filter(|v| *v >= lo - tolerance && *v <= hi + tolerance)
        .map(|v| v.clamp(lo, hi))
        .collect()
}

/// The smallest of 1, 2, 2.5, 5 × 10ᵏ that is ≥ `raw`.
pub(crate) fn nice_step(raw: f64) -> f64 {
    let exponent = raw.log10().floor();
    let scale = 10f64.powf(exponent);
    let fraction = raw / scale;
    let mantissa = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|m| *m >= fraction * (1.0 - 1e-9))
        .unwrap_or(10.0);
    mantissa * scale
}

/// Round log-spaced values inside `[lo, hi]` (`lo > 0`), about `levels` of them.
pub(crate) fn log_levels(lo: f64, hi: f64, levels: usize) -> Vec<f64> {
    const SETS: [&[f64]; 5] = [
        &[1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0],
        &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0],
        &[1.0, 2.0, 5.0],
        &[1.0, 3.0],
        &[1.0],
    ];
    let first_decade = lo.log10().floor() as i32;
    let last_decade = hi.log10().ceil() as i32;
    let inside = |v: f64| v >= lo * (1.0 - 1e-12) && v <= hi * (1.0 + 1e-12);
    let mut candidates: Vec<Vec<f64>> = SETS
        .iter()
        .map(|set| {
            (first_decade..=last_decade)
                .flat_map(|d| set.iter().map(move |m| m * 10f64.powi(d)))
                .filter(|v| inside(*v))
                .collect()
        })
        .collect();
    // Wide ranges: one level every `stride` decades.
    for stride in [2, 3, 5, 10, 20, 50] {
        candidates.push(
            (first_decade..=last_decade)
                .filter(|d| d.rem_euclid(stride) == 0)
                .map(|d| 10f64.powi(d))
                .filter(|v| inside(*v))
                .collect(),
        );
    }
    // Closest count to `levels`; on a tie the coarser set (later in the list) wins.
    candidates
        .into_iter()
        .rev()
        .min_by_key(|c| c.len().abs_diff(levels))
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.clamp(lo, hi))
        .collect()
}

/// Labels for contour levels: a fixed number of decimals from the step for linear levels,
/// short significant figures for log levels.
pub(crate) fn level_labels(levels: &[f64], log_scale: bool) -> Vec<String> {
    let step = levels
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .fold(f64::INFINITY, f64::min);
    let magnitude = levels.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if log_scale || !step.is_finite() || step < 1e-4 || magnitude >= 1e6 {
        return levels.iter().map(|v| format_sig(*v)).collect();
    }
    let mantissa = step / 10f64.powf(step.log10().floor());
    let extra = usize::from((mantissa - 2.5).abs() < 1e-6);
    let decimals = ((-step.log10().floor()).max(0.0) as usize + extra).min(6);
    levels
        .iter()
        .map(|v| {
            let v = if v.abs() < step * 1e-6 { 0.0 } else { *v };
            with_minus(format!("{v:.decimals$}"))
        })
        .collect()
}

/// A typographic minus sign instead of the hyphen Rust prints.
pub(crate) fn with_minus(text: String) -> String {
    text.replace('-', "\u{2212}")
}

/// Up to four significant figures, trailing zeros removed; scientific outside [1e-3, 1e5); a
/// typographic minus sign.
pub(crate) fn format_sig(v: f64) -> String {
    with_minus(format_sig_ascii(v))
}

/// [`format_sig`] with a hyphen-minus.
pub(crate) fn format_sig_ascii(v: f64) -> String {
    // Below 1e-12 is rounding noise of tick arithmetic (e.g. -0.5 + 0.5 = -5.55e-17), not data.
    if v.abs() < 1e-12 || !v.is_finite() {
        return if v.is_finite() {
            "0".into()
        } else {
            format!("{v}")
        };
    }
    let magnitude = v.abs();
    if !(1e-3..1e5).contains(&magnitude) {
        let text = format!("{v:.2e}");
        return match text.split_once('e') {
            Some((mantissa, exponent)) => format!("{}e{exponent}", trim_zeros(mantissa)),
            None => text,
        };
    }
    let decimals = (3 - magnitude.log10().floor() as i32).clamp(0, 6) as usize;
    let text = trim_zeros(&format!("{v:.decimals$}")).to_string();
    if text == "-0" { "0".into() } else { text }
}

/// "1.500" → "1.5", "2.000" → "2".
pub(crate) fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}
