//! Fashion-MNIST's gzip'd IDX files (the demo's subset and `--data fashion-mnist`): images and
//! labels. Mode byte 0: the input is the `.gz` file; otherwise the IDX bytes, gzip'd here.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vitscape::io::data::{parse_idx_images, parse_idx_labels};

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = vitscape_fuzz::mode(data) else {
        return;
    };
    let gz = if mode == 0 {
        rest.to_vec()
    } else {
        vitscape_fuzz::gzip(rest)
    };
    if let Err(e) = parse_idx_images(&gz) {
        drop(e.to_string());
    }
    if let Err(e) = parse_idx_labels(&gz) {
        drop(e.to_string());
    }
});
