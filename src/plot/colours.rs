//! Colour maps: viridis (the default, plotters' own), magma and cividis (perceptually uniform, the
//! second readable with colour-vision deficiency) and a diverging red–blue map centred on L(0), so
//! that a figure shows L − L(0): blue below the centre's value, red above, white at it.
//!
//! magma, cividis and red–blue come from `colorous` (d3-scale-chromatic's tables, no dependencies).

use super::*;

/// The colour map of a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColourMap {
    /// matplotlib's viridis.
    #[default]
    Viridis,
    /// matplotlib's magma.
    Magma,
    /// cividis (Nuñez, Anderton & Renslow), for colour-vision deficiency.
    Cividis,
    /// Red–blue, white at the value at the centre θ*: the colours show L − L(0).
    Diverging,
}

impl ColourMap {
    /// Every map, in the order the page offers them.
    pub const ALL: [ColourMap; 4] = [
        ColourMap::Viridis,
        ColourMap::Magma,
        ColourMap::Cividis,
        ColourMap::Diverging,
    ];

    /// The name used by the CLI flag, the permalink and the page.
    pub fn name(self) -> &'static str {
        match self {
            ColourMap::Viridis => "viridis",
            ColourMap::Magma => "magma",
            ColourMap::Cividis => "cividis",
            ColourMap::Diverging => "diverging",
        }
    }

    /// The map called `name`.
    pub fn from_name(name: &str) -> Option<ColourMap> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The colour at `t` ∈ [0, 1] (clamped): low values first. The diverging map runs from blue
    /// (below L(0)) through white (t = ½) to red (above).
    pub fn at(self, t: f64) -> RGBColor {
        let t = t.clamp(0.0, 1.0);
        let from = |c: colorous::Color| RGBColor(c.r, c.g, c.b);
        match self {
            ColourMap::Viridis => ViridisRGB::get_color(t),
            ColourMap::Magma => from(colorous::MAGMA.eval_continuous(t)),
            ColourMap::Cividis => from(colorous::CIVIDIS.eval_continuous(t)),
            // d3's RdBu runs red → blue; reversed, so that low losses are blue.
            ColourMap::Diverging => from(colorous::RED_BLUE.eval_continuous(1.0 - t)),
        }
    }

    /// This map, or viridis in place of the diverging one: for figures with no L(0) to centre on
    /// (the convexity ratio).
    pub fn sequential(self) -> ColourMap {
        if self.centred() {
            ColourMap::Viridis
        } else {
            self
        }
    }

    /// Whether the map is centred on the value at θ* (its colour range symmetric around it).
    pub fn centred(self) -> bool {
        self == ColourMap::Diverging
    }

    /// The colour of contour lines and bands at `t`: a sequential map stops short of its lightest
    /// end (pale yellow lines vanish on white); the diverging one keeps its centre at ½.
    pub(crate) fn line(self, t: f64) -> RGBColor {
        if self.centred() {
            self.at(t)
        } else {
            self.at(0.88 * t)
        }
    }
}

impl std::fmt::Display for ColourMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ColourMap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ColourMap::from_name(s).ok_or_else(|| {
            let names: Vec<&str> = ColourMap::ALL.iter().map(|m| m.name()).collect();
            format!("unknown colour map `{s}`; one of {}", names.join(", "))
        })
    }
}
