//! Specs read back from anything vitscape writes, so that any output recomputes itself: a bare
//! spec, `surface.json`, a convexity map, `curvature.json`, `verdict.json` (one spec per model and
//! seed) and a permalink (the whole URL or its fragment; one spec per panel).

use serde_json::Value;

use super::SweepSpec;
use crate::error::SpecError;
use crate::spec::permalink;

/// A spec and the name it goes by in its file ("Sup-ViT", "pretraining/MAE-ViT/seed 123"...).
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    /// How to choose it ([`select`]).
    pub label: String,
    /// The spec, validated.
    pub spec: SweepSpec,
}

/// Every spec in `text`, validated. JSON text is a spec or an output holding one (`spec`) or
/// several (a verdict's `modes[].models[].specs`); anything else is read as a permalink.
pub fn read_specs(text: &str) -> Result<Vec<Labelled>, SpecError> {
    let text = text.trim();
    let found = if text.starts_with('{') {
        from_json(text)?
    } else {
        from_permalink(text)?
    };
    for l in &found {
        l.spec.validate().map_err(|e| match e {
            SpecError::Field { field, reason } => SpecError::Field {
                field: format!("{}: {field}", l.label),
                reason,
            },
            other => other,
        })?;
    }
    Ok(found)
}

fn spec_from(value: &Value, label: &str) -> Result<SweepSpec, SpecError> {
    if let Some(version) = value.get("version").and_then(Value::as_u64)
        && version != u64::from(super::SPEC_VERSION)
    {
        return Err(SpecError::Version {
            found: u32::try_from(version).unwrap_or(u32::MAX),
            supported: super::SPEC_VERSION,
        });
    }
    serde_json::from_value(value.clone())
        .map_err(|e| SpecError::Source(format!("{label}: not a usable sweep spec: {e}")))
}

fn from_json(text: &str) -> Result<Vec<Labelled>, SpecError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| SpecError::Source(format!("not valid JSON: {e}")))?;
    if value.get("checkpoint").is_some() && value.get("grid").is_some() {
        let spec = spec_from(&value, "spec")?;
        return Ok(vec![Labelled {
            label: "spec".into(),
            spec,
        }]);
    }
    if let Some(spec) = value.get("spec") {
        let label = if value.get("metrics").is_some() {
            "surface"
        } else {
            "curvature"
        };
        return Ok(vec![Labelled {
            label: label.into(),
            spec: spec_from(spec, label)?,
        }]);
    }
    if let Some(modes) = value.get("modes").and_then(Value::as_array) {
        return from_verdict(&value, modes);
    }
    Err(SpecError::Source(
        "this JSON holds no sweep spec: expected a spec, a surface.json, a curvature.json or a \
         verdict.json"
            .into(),
    ))
}

fn from_verdict(value: &Value, modes: &[Value]) -> Result<Vec<Labelled>, SpecError> {
    let seeds: Vec<u64> = value
        .get("seeds")
        .and_then(Value::as_array)
        .map(|s| s.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    // With several training seeds, each model appears once per seed: the label names it.
    let several = value
        .get("training_seeds")
        .and_then(Value::as_array)
        .is_some_and(|t| t.len() > 1);
    let mut out = Vec::new();
    for mode in modes {
        let mode_name = mode.get("mode").and_then(Value::as_str).unwrap_or("mode");
        let models = mode.get("models").and_then(Value::as_array);
        for model in models.into_iter().flatten() {
            let name = model.get("name").and_then(Value::as_str).unwrap_or("model");
            let specs = model
                .get("specs")
                .and_then(Value::as_array)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    SpecError::Source(format!(
                        "this verdict records no specs for {mode_name}/{name} (it predates them): \
                         regenerate it with `vitscape verdict`"
                    ))
                })?;
            if specs.len() != seeds.len() {
                return Err(SpecError::Source(format!(
                    "{mode_name}/{name}: {} specs for {} seeds",
                    specs.len(),
                    seeds.len()
                )));
            }
            let trained = match model.get("training_seed").and_then(Value::as_u64) {
                Some(t) if several => format!("/training seed {t}"),
                _ => String::new(),
            };
            for (seed, spec) in seeds.iter().zip(specs) {
                let label = format!("{mode_name}/{name}{trained}/seed {seed}");
                out.push(Labelled {
                    spec: spec_from(spec, &label)?,
                    label,
                });
            }
        }
    }
    if out.is_empty() {
        return Err(SpecError::Source("this verdict has no models".into()));
    }
    Ok(out)
}

fn from_permalink(text: &str) -> Result<Vec<Labelled>, SpecError> {
    let fragment = text.rsplit_once('#').map_or(text, |(_, f)| f);
    let shared = permalink::decode(fragment).map_err(|e| {
        SpecError::Source(format!(
            "neither JSON nor a vitscape permalink ({e}); give a surface.json, a spec, a \
             verdict.json or a link copied from the page"
        ))
    })?;
    Ok(shared
        .panels
        .into_iter()
        .map(|p| Labelled {
            label: p.label,
            spec: p.surface.spec,
        })
        .collect())
}

/// The one spec `choice` names: a label (case-insensitive) or a 1-based position. Without a
/// choice, a source must hold exactly one spec.
pub fn select(found: Vec<Labelled>, choice: Option<&str>) -> Result<Labelled, SpecError> {
    let listing = |found: &[Labelled]| {
        found
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{} = \"{}\"", i + 1, l.label))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(choice) = choice else {
        if found.len() == 1 {
            return Ok(found.into_iter().next().expect("one spec"));
        }
        return Err(SpecError::Source(format!(
            "this holds {} specs; choose one with --panel: {}",
            found.len(),
            listing(&found)
        )));
    };
    let wanted = choice.trim();
    let position = wanted
        .parse::<usize>()
        .ok()
        .filter(|i| (1..=found.len()).contains(i));
    let index = found
        .iter()
        .position(|l| l.label.eq_ignore_ascii_case(wanted))
        .or(position.map(|i| i - 1));
    match index {
        Some(i) => Ok(found.into_iter().nth(i).expect("index in range")),
        None => Err(SpecError::Source(format!(
            "--panel `{choice}` names none of the {} specs here: {}",
            found.len(),
            listing(&found)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::landscape::surface::Surface;
    use crate::spec::{Inputs, LossChoice, Settings};

    fn spec(seed: u64) -> SweepSpec {
        Settings {
            seed,
            ..Settings::default()
        }
        .spec(Inputs {
            checkpoint: crate::spec::CheckpointRef {
                name: "m.safetensors".into(),
                sha256: "ab".repeat(32),
                branch: None,
                num_heads: 4,
                decoder_num_heads: None,
                heads_assumed: false,
            },
            loss: LossChoice::Classification,
            teacher: None,
            data: crate::spec::DataSpec {
                source: crate::spec::DataSource::FashionMnist {
                    dir: "/d".into(),
                    split: crate::spec::Split::Test,
                },
                eval_images: 1,
                subset_seed: 0,
                mean: vec![0.5],
                std: vec![0.25],
                mean_std: None,
                preprocess: Default::default(),
            },
            directions: None,
        })
        .unwrap()
    }

    #[test]
    fn a_spec_a_surface_and_a_permalink_give_back_their_specs() {
        let s = spec(5);
        let bare = read_specs(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(bare.len(), 1);
        assert_eq!(bare[0].spec, s);
        let surface = Surface::empty(s.clone(), &["loss"]);
        let text = serde_json::to_string_pretty(&surface).unwrap();
        assert_eq!(read_specs(&text).unwrap()[0].spec, s);
        let other = Surface::empty(spec(6), &["loss"]);
        let fragment = permalink::encode(
            &permalink::View::default(),
            &[("A".into(), &surface), ("B".into(), &other)],
        )
        .unwrap();
        let url = format!("https://example.org/vitscape/#{fragment}");
        let both = read_specs(&url).unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(select(both.clone(), Some("b")).unwrap().spec, spec(6));
        assert_eq!(select(both.clone(), Some("1")).unwrap().spec, s);
        let err = select(both.clone(), None).unwrap_err().to_string();
        assert!(err.contains("--panel") && err.contains("\"A\""), "{err}");
        let err = select(both, Some("C")).unwrap_err().to_string();
        assert!(err.contains("`C`") && err.contains("2 = \"B\""), "{err}");
    }

    #[test]
    fn a_verdict_gives_one_spec_per_model_and_seed() {
        let text = serde_json::json!({
            "seeds": [1, 2],
            "modes": [{"mode": "pretraining", "models": [
                {"name": "Sup-ViT", "specs": [spec(1), spec(2)]},
            ]}],
        })
        .to_string();
        let found = read_specs(&text).unwrap();
        let labels: Vec<_> = found.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(
            labels,
            ["pretraining/Sup-ViT/seed 1", "pretraining/Sup-ViT/seed 2"]
        );
        assert_eq!(found[1].spec, spec(2));
        // Several training seeds: each model's label names its training seed.
        let text = serde_json::json!({
            "seeds": [1],
            "training_seeds": [0, 7],
            "modes": [{"mode": "pretraining", "models": [
                {"name": "Sup-ViT", "training_seed": 0, "specs": [spec(1)]},
                {"name": "Sup-ViT", "training_seed": 7, "specs": [spec(2)]},
            ]}],
        })
        .to_string();
        let labels: Vec<_> = read_specs(&text)
            .unwrap()
            .into_iter()
            .map(|l| l.label)
            .collect();
        assert_eq!(
            labels,
            [
                "pretraining/Sup-ViT/training seed 0/seed 1",
                "pretraining/Sup-ViT/training seed 7/seed 1"
            ]
        );
        let old = r#"{"seeds": [1], "modes": [{"mode": "probe", "models": [{"name": "X"}]}]}"#;
        let err = read_specs(old).unwrap_err().to_string();
        assert!(err.contains("regenerate"), "{err}");
    }

    #[test]
    fn garbage_is_named_not_panicked_on() {
        for (text, expect) in [
            ("", "permalink"),
            ("{", "not valid JSON"),
            ("{\"a\": 1}", "holds no sweep spec"),
            ("#vs1.!!!", "permalink"),
            ("https://x.org/#vitscape9.abc", "permalink"),
        ] {
            let err = read_specs(text).unwrap_err().to_string();
            assert!(err.contains(expect), "{text:?}: {err}");
        }
        let mut bad = serde_json::to_value(spec(1)).unwrap();
        bad["grid"]["x"]["n"] = serde_json::json!(0);
        let err = read_specs(&bad.to_string()).unwrap_err().to_string();
        assert!(err.contains("grid.x"), "{err}");
        bad["version"] = serde_json::json!(7);
        let err = read_specs(&bad.to_string()).unwrap_err().to_string();
        assert!(err.contains("version 7"), "{err}");
    }
}
