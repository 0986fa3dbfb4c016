//! Permalinks: a comparison (every panel's `SweepSpec` and computed surface) and the view
//! settings, carried in a URL fragment, so a link shows the same plot without the checkpoint.
//!
//! Format: `vitscape1.` followed by base64url (no padding) of the deflate-compressed JSON of
//! [`Wire`]. Every metric is quantised to 16 bits between its own minimum and maximum, so a
//! value read back differs from the computed one by at most `(max − min) / 65534 / 2`
//! ([`max_error`]); cells not computed stay missing.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::landscape::surface::{Grid2, Surface};
use crate::spec::SweepSpec;

/// Current permalink format.
pub const VERSION: u32 = 1;
/// What every permalink starts with (after `#`).
pub const PREFIX: &str = "vitscape";
/// Quantisation levels used for values (one code is kept for "missing").
const LEVELS: u16 = u16::MAX - 1;
/// The code of a missing cell.
const MISSING: u16 = u16::MAX;
/// Largest inflated payload accepted (a hostile link cannot fill memory).
const MAX_JSON_BYTES: u64 = 16 * 1024 * 1024;

/// How the page shows the panels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct View {
    /// Which figure.
    pub plot: PlotKind,
    /// Which metric.
    pub metric: String,
    /// Log colour/value scale.
    pub log_scale: bool,
    /// One colour scale for every panel.
    pub shared_scale: bool,
    /// Approximate number of contour levels.
    pub levels: usize,
    /// 3-D view rotation (radians).
    pub yaw: f64,
    /// 3-D view elevation (radians).
    pub pitch: f64,
    /// The colour map (links made before it existed: viridis).
    pub colour_map: crate::plot::ColourMap,
}

impl Default for View {
    fn default() -> Self {
        Self {
            plot: PlotKind::Contour,
            metric: crate::landscape::surface::LOSS.into(),
            log_scale: false,
            shared_scale: true,
            levels: 12,
            yaw: crate::plot::DEFAULT_YAW,
            pitch: crate::plot::DEFAULT_PITCH,
            colour_map: crate::plot::ColourMap::Viridis,
        }
    }
}

impl View {
    /// Bring a view read from a link within what the page draws: at most
    /// [`MAX_LEVELS`](crate::plot::MAX_LEVELS) contour levels, finite angles with the pitch in the
    /// range a drag allows, and a metric that one of the panels (`metrics`) has. Returns one
    /// notice per value changed, naming the value found and the one used.
    pub fn sanitise(&mut self, metrics: &[&str]) -> Vec<String> {
        let mut notices = Vec::new();
        let max = crate::plot::MAX_LEVELS;
        if self.levels > max {
            notices.push(format!(
                "the link asks for {} contour levels; showing {max}, the most the page draws",
                self.levels
            ));
            self.levels = max;
        }
        if !self.yaw.is_finite() {
            notices.push(format!(
                "the link's 3-D rotation ({}) is not a number; using {}",
                self.yaw,
                crate::plot::DEFAULT_YAW
            ));
            self.yaw = crate::plot::DEFAULT_YAW;
        }
        self.yaw = self.yaw.rem_euclid(std::f64::consts::TAU);
        let pitch = if self.pitch.is_finite() {
            self.pitch.clamp(MIN_PITCH, MAX_PITCH)
        } else {
            crate::plot::DEFAULT_PITCH
        };
        if pitch != self.pitch {
            notices.push(format!(
                "the link's 3-D elevation ({}) is outside {MIN_PITCH}–{MAX_PITCH} radians; using {pitch}",
                self.pitch
            ));
            self.pitch = pitch;
        }
        if !metrics.contains(&self.metric.as_str()) {
            let shown: String = self.metric.chars().take(40).collect();
            notices.push(format!(
                "the link shows metric `{shown}`, which none of its panels has; showing `{}`",
                crate::landscape::surface::LOSS
            ));
            self.metric = crate::landscape::surface::LOSS.into();
        }
        notices
    }
}

/// Lowest 3-D elevation (radians) a view may have: what dragging the surface allows.
pub const MIN_PITCH: f64 = 0.05;
/// Highest 3-D elevation (radians).
pub const MAX_PITCH: f64 = 1.5;

/// The figures the page draws.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PlotKind {
    /// Filled contours with labelled levels.
    #[default]
    Contour,
    /// Heat map with colour bar.
    Heatmap,
    /// 3-D surface.
    Surface,
    /// 1-D curves.
    Line,
}

/// One panel of a shared comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Display label.
    pub label: String,
    /// The surface as read back (values within [`max_error`] of the computed ones).
    pub surface: Surface,
}

/// A decoded permalink.
#[derive(Debug, Clone, PartialEq)]
pub struct Shared {
    /// View settings.
    pub view: View,
    /// The panels.
    pub panels: Vec<Panel>,
    /// What was changed in the view to show it ([`View::sanitise`]), for the page to say.
    pub notices: Vec<String>,
}

/// The serialised form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Wire {
    /// [`VERSION`].
    pub v: u32,
    /// View settings (defaults when absent).
    #[serde(default)]
    pub view: View,
    /// Panels.
    pub panels: Vec<WirePanel>,
}

/// A panel on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WirePanel {
    /// Display label.
    pub label: String,
    /// The full spec.
    pub spec: SweepSpec,
    /// vitscape version that computed it.
    pub vitscape_version: String,
    /// The surface's facts (norms, cosine, summaries...).
    pub info: crate::landscape::surface::SurfaceInfo,
    /// Quantised metrics.
    pub metrics: BTreeMap<String, Quantised>,
}

/// One metric, quantised: `value = lo + code · (hi − lo) / 65534`, code 65535 = missing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Quantised {
    /// Smallest value.
    pub lo: f64,
    /// Largest value.
    pub hi: f64,
    /// Codes, row-major (`iy` outer).
    pub q: Vec<u16>,
}

/// Why a link could not be read.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum PermalinkError {
    /// The fragment is not a vitscape permalink at all.
    #[error(
        "this link does not hold a vitscape plot (its fragment should start with `{PREFIX}{VERSION}.`)"
    )]
    Foreign,
    /// A permalink from another format version.
    #[error(
        "this link was made by a vitscape with permalink format {found}; this page reads format {VERSION}"
    )]
    Version {
        /// Version found.
        found: String,
    },
    /// The payload is not base64url.
    #[error("the link is damaged (not valid base64: {0}) — was it cut short when copied?")]
    Base64(String),
    /// The payload does not inflate.
    #[error(
        "the link is damaged (compressed data is corrupt: {0}) — was it cut short when copied?"
    )]
    Inflate(String),
    /// The payload is too large.
    #[error("the link's data inflates to more than {MAX_JSON_BYTES} bytes; refusing to read it")]
    TooLarge,
    /// The JSON does not describe a comparison.
    #[error("the link's data is not a vitscape comparison: {0}")]
    Json(String),
    /// The comparison is inconsistent.
    #[error("the link's panel {panel}: {reason}")]
    Invalid {
        /// Panel index (from 1).
        panel: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Largest difference between a value and its permalink copy, for one metric of a surface.
pub fn max_error(grid: &Grid2) -> f64 {
    let (lo, hi) = range(grid);
    if hi > lo {
        (hi - lo) / f64::from(LEVELS) / 2.0
    } else {
        0.0
    }
}

fn range(grid: &Grid2) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in grid.iter().flatten().flatten() {
        if v.is_finite() {
            lo = lo.min(*v);
            hi = hi.max(*v);
        }
    }
    if lo > hi { (0.0, 0.0) } else { (lo, hi) }
}

fn quantise(grid: &Grid2) -> Quantised {
    let (lo, hi) = range(grid);
    let span = hi - lo;
    let q = grid
        .iter()
        .flatten()
        .map(|v| match v {
            Some(v) if v.is_finite() => {
                if span > 0.0 {
                    (((v - lo) / span) * f64::from(LEVELS))
                        .round()
                        .clamp(0.0, f64::from(LEVELS)) as u16
                } else {
                    0
                }
            }
            _ => MISSING,
        })
        .collect();
    Quantised { lo, hi, q }
}

fn dequantise(q: &Quantised, nx: usize, ny: usize) -> Result<Grid2, String> {
    if q.q.len() != nx * ny {
        return Err(format!("{} values for a {ny}×{nx} grid", q.q.len()));
    }
    if !(q.lo.is_finite() && q.hi.is_finite() && q.lo <= q.hi) {
        return Err(format!("value range ({}, {}) is not usable", q.lo, q.hi));
    }
    let step = (q.hi - q.lo) / f64::from(LEVELS);
    Ok(q.q
        .chunks(nx.max(1))
        .map(|row| {
            row.iter()
                .map(|&c| (c != MISSING).then(|| q.lo + f64::from(c) * step))
                .collect()
        })
        .collect())
}

/// The fragment text (without `#`) of a comparison.
pub fn encode(view: &View, panels: &[(String, &Surface)]) -> Result<String, PermalinkError> {
    let wire = Wire {
        v: VERSION,
        view: view.clone(),
        panels: panels
            .iter()
            .map(|(label, s)| WirePanel {
                label: label.clone(),
                spec: s.spec.clone(),
                vitscape_version: s.vitscape_version.clone(),
                info: s.info.clone(),
                metrics: s
                    .metrics
                    .iter()
                    .map(|(k, g)| (k.clone(), quantise(g)))
                    .collect(),
            })
            .collect(),
    };
    let json = serde_json::to_vec(&wire).map_err(|e| PermalinkError::Json(e.to_string()))?;
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&json)
        .and_then(|_| z.finish())
        .map(|bytes| format!("{PREFIX}{VERSION}.{}", URL_SAFE_NO_PAD.encode(bytes)))
        .map_err(|e| PermalinkError::Inflate(e.to_string()))
}

/// Read a fragment (with or without the leading `#`).
pub fn decode(fragment: &str) -> Result<Shared, PermalinkError> {
    let text = fragment.trim().trim_start_matches('#');
    let rest = text.strip_prefix(PREFIX).ok_or(PermalinkError::Foreign)?;
    let (version, payload) = rest.split_once('.').ok_or(PermalinkError::Foreign)?;
    if version != VERSION.to_string() {
        return Err(PermalinkError::Version {
            found: version.chars().take(12).collect(),
        });
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| PermalinkError::Base64(e.to_string()))?;
    let mut json = Vec::new();
    flate2::read::DeflateDecoder::new(bytes.as_slice())
        .take(MAX_JSON_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| PermalinkError::Inflate(e.to_string()))?;
    if json.len() as u64 > MAX_JSON_BYTES {
        return Err(PermalinkError::TooLarge);
    }
    let wire: Wire =
        serde_json::from_slice(&json).map_err(|e| PermalinkError::Json(e.to_string()))?;
    if wire.v != VERSION {
        return Err(PermalinkError::Version {
            found: wire.v.to_string(),
        });
    }
    if wire.panels.is_empty() {
        return Err(PermalinkError::Json("it has no panels".into()));
    }
    let mut panels = Vec::with_capacity(wire.panels.len());
    for (i, p) in wire.panels.into_iter().enumerate() {
        let invalid = |reason: String| PermalinkError::Invalid {
            panel: i + 1,
            reason,
        };
        p.spec.validate().map_err(|e| invalid(e.to_string()))?;
        let cells = p
            .spec
            .grid
            .x
            .n
            .checked_mul(p.spec.grid.y.map_or(1, |y| y.n))
            .filter(|c| *c <= 1 << 20)
            .ok_or_else(|| invalid("the grid is too large".into()))?;
        let mut surface = Surface::empty(p.spec, &[]);
        let (nx, ny) = (surface.x.len(), surface.y.len());
        debug_assert_eq!(nx * ny, cells);
        if !p.metrics.contains_key(crate::landscape::surface::LOSS) {
            return Err(invalid("it has no loss values".into()));
        }
        for (name, q) in &p.metrics {
            let grid =
                dequantise(q, nx, ny).map_err(|r| invalid(format!("metric `{name}`: {r}")))?;
            surface.metrics.insert(name.clone(), grid);
        }
        surface.vitscape_version = p.vitscape_version;
        surface.info = p.info;
        panels.push(Panel {
            label: p.label,
            surface,
        });
    }
    let mut view = wire.view;
    let metrics: Vec<&str> = panels
        .iter()
        .flat_map(|p| p.surface.metrics.keys().map(String::as_str))
        .collect();
    let notices = view.sanitise(&metrics);
    Ok(Shared {
        view,
        panels,
        notices,
    })
}
