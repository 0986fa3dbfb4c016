//! Specs in words, for figure captions: what was evaluated, along what, on which grid and data.
//! Where the panels of a comparison agree a part is said once; where they differ, per panel.

use super::{DataSource, DirectionSource, LossSpec, Normalisation, SweepSpec};

/// The objective in words.
pub fn loss_text(spec: &SweepSpec) -> String {
    let mask = |m: &super::MaskSpec| {
        format!(
            "mask ratio {}, {} targets, mask seed {}",
            m.mask_ratio,
            if m.norm_pix_loss {
                "per-patch normalised"
            } else {
                "raw pixel"
            },
            m.mask_seed
        )
    };
    match &spec.loss {
        LossSpec::Classification => "cross-entropy".to_string(),
        LossSpec::Mae(m) => format!("MAE reconstruction loss ({})", mask(m)),
        LossSpec::RcMae { mask: m, gamma, .. } => format!(
            "RC-MAE loss, reconstruction + {gamma} × consistency with the fixed teacher ({})",
            mask(m)
        ),
    }
}

/// The directions in words.
pub fn directions_text(spec: &SweepSpec) -> String {
    let d = &spec.directions;
    let fixed = match (d.include_rank1, d.include_pos_embed) {
        (false, false) => "; biases, LayerNorm and position embeddings fixed",
        (false, true) => "; biases and LayerNorm fixed",
        (true, false) => "; position embeddings fixed",
        (true, true) => "",
    };
    let norm = match d.normalisation {
        Normalisation::Filter => "filter-normalised",
        Normalisation::Layer => "layer-normalised",
        Normalisation::None => "not normalised",
    };
    match &d.source {
        DirectionSource::Random { seed } => {
            format!("random Gaussian directions (seed {seed}), {norm}{fixed}")
        }
        DirectionSource::FileAndRandom { x, seed } => format!(
            "direction x from file {}, y random Gaussian (seed {seed}), {norm}{fixed}",
            x.name
        ),
        DirectionSource::Files { x, y } => match y {
            Some(y) => format!("directions from files {} and {}", x.name, y.name),
            None => format!("direction from file {}", x.name),
        },
        DirectionSource::Interpolate { target } => {
            format!("the line from θ* to {}", target.name)
        }
        DirectionSource::Bezier { target, bend } => format!(
            "the quadratic Bézier curve from θ* to {} through the control point {}",
            target.name, bend.name
        ),
    }
}

/// The grid in words.
pub fn grid_text(spec: &SweepSpec) -> String {
    let g = &spec.grid;
    match &g.y {
        Some(y) => format!(
            "{}×{} grid over α ∈ [{}, {}], β ∈ [{}, {}]",
            g.x.n, y.n, g.x.min, g.x.max, y.min, y.max
        ),
        None => format!("{} points over α ∈ [{}, {}]", g.x.n, g.x.min, g.x.max),
    }
}

/// The data in words.
pub fn data_text(spec: &SweepSpec) -> String {
    let d = &spec.data;
    let source = match &d.source {
        DataSource::FashionMnist { split, .. } => format!(
            "Fashion-MNIST {} images",
            match split {
                super::Split::Test => "test",
                super::Split::Train => "training",
            }
        ),
        DataSource::ImageFolder { dir } => format!("images from {dir}"),
        DataSource::Embedded { name, .. } => format!("images of {name}"),
    };
    format!("{} {source} (subset seed {})", d.eval_images, d.subset_seed)
}

/// A caption for panels `(label, spec)`: one sentence per part, said once where every panel
/// agrees and per panel where they differ.
pub fn caption(panels: &[(String, &SweepSpec)], metric: &str, shared_scale: bool) -> String {
    let labels: Vec<&str> = panels.iter().map(|p| p.0.as_str()).collect();
    let part = |what: &str, text: &dyn Fn(&SweepSpec) -> String| {
        let texts: Vec<String> = panels.iter().map(|p| text(p.1)).collect();
        if texts.windows(2).all(|w| w[0] == w[1]) {
            format!("{what}: {}.", texts.first().cloned().unwrap_or_default())
        } else {
            let each: Vec<String> = labels
                .iter()
                .zip(&texts)
                .map(|(l, t)| format!("{l}: {t}"))
                .collect();
            format!("{what}: {}.", each.join("; "))
        }
    };
    let scale = if shared_scale {
        ", on one colour scale for all panels"
    } else {
        ""
    };
    [
        format!(
            "Loss landscapes around {} ({metric}{scale}; θ* at the origin).",
            labels.join(", ")
        ),
        part("Objective", &loss_text),
        part("Directions", &directions_text),
        part("Grid", &grid_text),
        part("Data", &data_text),
        format!("Computed by vitscape {}.", crate::VERSION),
    ]
    .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Axis, LossSpec, MaskSpec};

    #[test]
    fn shared_parts_are_said_once_and_differences_per_panel() {
        let axis = Axis {
            min: -1.0,
            max: 1.0,
            n: 21,
        };
        let sup = crate::spec::placeholder(axis, Some(axis));
        let mut mae = sup.clone();
        mae.loss = LossSpec::Mae(MaskSpec {
            mask_ratio: 0.75,
            norm_pix_loss: true,
            mask_seed: 0,
        });
        let text = caption(
            &[("Sup-ViT".into(), &sup), ("MAE".into(), &mae)],
            "loss",
            true,
        );
        assert!(
            text.contains("around Sup-ViT, MAE (loss, on one colour scale"),
            "{text}"
        );
        assert!(
            text.contains("Objective: Sup-ViT: cross-entropy; MAE: MAE reconstruction loss (mask ratio 0.75, per-patch normalised targets, mask seed 0)."),
            "{text}"
        );
        assert!(
            text.contains("Grid: 21×21 grid over α ∈ [-1, 1], β ∈ [-1, 1]."),
            "{text}"
        );
        assert_eq!(text.matches("Directions:").count(), 1, "{text}");
        assert!(!text.contains("Directions: Sup-ViT"), "{text}");
    }
}
