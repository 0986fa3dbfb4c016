//! A permalink opened from the address bar: the fragment's prefix, base64, deflate, the
//! comparison's JSON (specs, surfaces, quantised metrics) and the view, then the contour levels
//! the page computes from that view.
//!
//! Mode byte 0: the input is the fragment text. Otherwise the input is the JSON inside, deflated
//! and base64'd here, so that mutations reach the view and the panels.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use vitscape::plot::contour_levels;
use vitscape::spec::permalink::{PREFIX, VERSION, decode};

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = vitscape_fuzz::mode(data) else {
        return;
    };
    let fragment = if mode == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let payload = URL_SAFE_NO_PAD.encode(vitscape_fuzz::deflate(rest));
        format!("#{PREFIX}{VERSION}.{payload}")
    };
    match decode(&fragment) {
        Ok(shared) => {
            let view = &shared.view;
            for panel in &shared.panels {
                for grid in panel.surface.metrics.values() {
                    let values = grid.iter().flatten().flatten().copied();
                    let lo = values.clone().fold(f64::INFINITY, f64::min);
                    let hi = values.fold(f64::NEG_INFINITY, f64::max);
                    drop(contour_levels(lo, hi, view.levels, view.log_scale));
                }
            }
            drop(shared.notices);
        }
        Err(e) => drop(e.to_string()),
    }
});
