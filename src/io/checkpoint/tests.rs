//! The checkpoint reader's own tests: hand-built and hostile files, names, dtypes.

use super::*;

/// Hand-builds a safetensors file: length prefix, header, data.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// One F32 tensor per name, each of shape [1] holding its index.
fn named(names: &[&str]) -> Vec<u8> {
    let entries: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                r#""{n}":{{"dtype":"F32","shape":[1],"data_offsets":[{},{}]}}"#,
                4 * i,
                4 * i + 4
            )
        })
        .collect();
    let values: Vec<f32> = (0..names.len()).map(|i| i as f32).collect();
    file(&format!("{{{}}}", entries.join(",")), &f32_bytes(&values))
}

fn sample_state() -> StateDict {
    let mut state = StateDict::default();
    state.insert("cls_token", vec![1, 1, 3], vec![0.5, -1.25, 3.0e-7]);
    state.insert(
        "blocks.0.attn.qkv.weight",
        vec![2, 2],
        vec![1.0, -2.0, f32::MIN_POSITIVE, f32::MAX],
    );
    state.insert("scalar", vec![], vec![42.0]);
    state.metadata.insert("format".to_owned(), "pt".to_owned());
    state
        .metadata
        .insert("num_heads".to_owned(), "3".to_owned());
    state
}

#[test]
fn sha256_matches_the_fips_180_vector() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn write_then_read_returns_the_input() {
    let state = sample_state();
    let bytes = write_safetensors(&state).unwrap();
    assert_eq!(read_raw(&bytes).unwrap(), state);
    let loaded = read_safetensors(&bytes, None).unwrap();
    assert_eq!(loaded.state, state);
    assert_eq!(loaded.branch, None);
    assert!(loaded.skipped.is_empty());
    assert_eq!(loaded.sha256, sha256_hex(&bytes));
    // A hash the caller has (the page's store) is taken as it is; the rest is the same read.
    let known = read_checkpoint_known(&bytes, None, "given").unwrap();
    assert_eq!(known.sha256, "given");
    assert_eq!(known.state, loaded.state);
    assert_eq!(read_checkpoint(&bytes, None).unwrap().sha256, loaded.sha256);
}

#[test]
fn written_bytes_follow_the_safetensors_layout() {
    let mut state = StateDict::default();
    state.insert("w", vec![2], vec![1.0, -2.0]);
    let bytes = write_safetensors(&state).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert!(header_len.is_multiple_of(8), "header padded to 8 bytes");
    let header: Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    assert_eq!(header["w"]["dtype"], "F32");
    assert_eq!(header["w"]["data_offsets"], serde_json::json!([0, 8]));
    // 1.0 = 0x3F800000, -2.0 = 0xC0000000, little-endian.
    assert_eq!(&bytes[8 + header_len..], &[0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0]);
}

#[test]
fn empty_state_round_trips_through_read_raw() {
    let bytes = write_safetensors(&StateDict::default()).unwrap();
    assert_eq!(read_raw(&bytes).unwrap(), StateDict::default());
    assert_eq!(
        read_safetensors(&bytes, None),
        Err(CheckpointError::Empty { skipped: 0 })
    );
}

#[test]
fn write_rejects_bad_shape_nan_and_reserved_name() {
    let mut state = StateDict::default();
    state.insert("w", vec![2, 2], vec![1.0; 3]);
    let err = write_safetensors(&state).unwrap_err();
    assert!(matches!(
        err,
        CheckpointError::WriteShape {
            elements: 4,
            len: 3,
            ..
        }
    ));

    let mut state = StateDict::default();
    state.insert("w", vec![2], vec![1.0, f32::NAN]);
    let err = write_safetensors(&state).unwrap_err();
    assert!(matches!(err, CheckpointError::NonFinite { index: 1, .. }));

    let mut state = StateDict::default();
    state.insert(METADATA_KEY, vec![1], vec![1.0]);
    assert!(matches!(
        write_safetensors(&state),
        Err(CheckpointError::Write(_))
    ));
}

#[test]
fn module_and_model_prefixes_are_stripped_in_any_order() {
    let bytes = named(&["module.cls_token", "model.module.pos_embed", "norm.weight"]);
    let loaded = read_safetensors(&bytes, None).unwrap();
    let names: Vec<&str> = loaded.state.tensors.keys().map(String::as_str).collect();
    assert_eq!(names, ["cls_token", "norm.weight", "pos_embed"]);
    assert_eq!(loaded.branch, None);
    // read_raw keeps names as written.
    let raw = read_raw(&bytes).unwrap();
    assert!(raw.get("module.cls_token").is_some());
}

#[test]
fn rc_mae_files_default_to_the_teacher() {
    let bytes = named(&[
        "optimizer.state.0.exp_avg",
        "student.module.cls_token",
        "teacher.cls_token",
    ]);
    let loaded = read_safetensors(&bytes, None).unwrap();
    assert_eq!(loaded.branch, Some(Branch::Teacher));
    // The teacher's value is its index in the file, 2.
    assert_eq!(loaded.state.get("cls_token").unwrap().data, [2.0]);
    assert_eq!(loaded.state.tensors.len(), 1);
    assert_eq!(loaded.skipped, ["optimizer.state.0.exp_avg"]);

    let student = read_safetensors(&bytes, Some(Branch::Student)).unwrap();
    assert_eq!(student.branch, Some(Branch::Student));
    assert_eq!(student.state.get("cls_token").unwrap().data, [1.0]);
}

#[test]
fn a_lone_branch_is_taken_and_the_missing_one_is_an_error() {
    let bytes = named(&["student.module.blocks.0.norm1.weight"]);
    let loaded = read_safetensors(&bytes, None).unwrap();
    assert_eq!(loaded.branch, Some(Branch::Student));
    assert!(loaded.state.get("blocks.0.norm1.weight").is_some());
    let err = read_safetensors(&bytes, Some(Branch::Teacher)).unwrap_err();
    assert_eq!(
        err,
        CheckpointError::BranchMissing {
            requested: Branch::Teacher,
            found: Branch::Student
        }
    );
    assert!(err.to_string().contains("`teacher.*`"));
}

#[test]
fn branch_is_ignored_without_branch_prefixes() {
    let bytes = named(&["cls_token"]);
    let loaded = read_safetensors(&bytes, Some(Branch::Student)).unwrap();
    assert_eq!(loaded.branch, None);
}

#[test]
fn f16_conversion_matches_hand_computed_values() {
    assert_eq!(f16_to_f32(0x3C00), 1.0);
    assert_eq!(f16_to_f32(0xC000), -2.0);
    // 0x3555: exponent 13, mantissa 341 → (1 + 341/1024) · 2^-2 = 1365/4096.
    assert_eq!(f16_to_f32(0x3555), 1365.0 / 4096.0);
    assert_eq!(f16_to_f32(0x7BFF), 65504.0, "largest finite f16");
    assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14), "smallest normal");
    assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24), "smallest subnormal");
    assert_eq!(
        f16_to_f32(0x03FF),
        1023.0 * 2f32.powi(-24),
        "largest subnormal"
    );
    assert_eq!(f16_to_f32(0x8001), -(2f32.powi(-24)));
    assert_eq!(f16_to_f32(0x0000).to_bits(), 0);
    assert_eq!(f16_to_f32(0x8000).to_bits(), 0x8000_0000, "negative zero");
    assert_eq!(f16_to_f32(0x7C00), f32::INFINITY);
    assert_eq!(f16_to_f32(0xFC00), f32::NEG_INFINITY);
    assert!(f16_to_f32(0x7E00).is_nan());
    assert!(f16_to_f32(0x7C01).is_nan(), "signalling NaN stays NaN");
}

#[test]
fn bf16_conversion_matches_hand_computed_values() {
    assert_eq!(bf16_to_f32(0x3F80), 1.0);
    assert_eq!(bf16_to_f32(0xC000), -2.0);
    // 0x4049 → f32 bits 0x40490000 = 1.5703125 · 2 = 3.140625.
    assert_eq!(bf16_to_f32(0x4049), 3.140625);
    assert_eq!(bf16_to_f32(0x0001), 2f32.powi(-133), "subnormal");
    assert_eq!(bf16_to_f32(0x7F80), f32::INFINITY);
    assert!(bf16_to_f32(0x7FC0).is_nan());
}

#[test]
fn f16_bf16_f64_tensors_load_as_f32() {
    let header = r#"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"b":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},"c":{"dtype":"BF16","shape":[1],"data_offsets":[22,24]}}"#;
    let mut data = Vec::new();
    data.extend_from_slice(&0.1f64.to_le_bytes());
    data.extend_from_slice(&(-2.5f64).to_le_bytes());
    for h in [0x3C00u16, 0xC000, 0x0001] {
        data.extend_from_slice(&h.to_le_bytes());
    }
    data.extend_from_slice(&0x3F80u16.to_le_bytes());
    let loaded = read_safetensors(&file(header, &data), None).unwrap();
    let s = &loaded.state;
    // 0.1 rounds to the nearest f32, 0x3DCCCCCD.
    assert_eq!(s.get("a").unwrap().data[0].to_bits(), 0x3DCC_CCCD);
    assert_eq!(s.get("a").unwrap().data[1], -2.5);
    assert_eq!(s.get("b").unwrap().data, [1.0, -2.0, 2f32.powi(-24)]);
    assert_eq!(s.get("c").unwrap().data, [1.0]);
}

#[test]
fn f64_beyond_f32_range_is_reported_as_written() {
    let header = r#"{"big":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}"#;
    let mut data = 1.0f64.to_le_bytes().to_vec();
    data.extend_from_slice(&1e300f64.to_le_bytes());
    let err = read_safetensors(&file(header, &data), None).unwrap_err();
    assert!(matches!(err, CheckpointError::NonFinite { index: 1, .. }));
    let message = err.to_string();
    assert!(
        message.contains("`big`") && message.contains("1e300"),
        "{message}"
    );
}

#[test]
fn integer_buffers_are_skipped_by_adapted_name() {
    let header = r#"{"module.head.0.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"module.head.0.running_mean":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
    let mut data = 7i64.to_le_bytes().to_vec();
    data.extend_from_slice(&0.5f32.to_le_bytes());
    let loaded = read_safetensors(&file(header, &data), None).unwrap();
    assert_eq!(loaded.skipped, ["head.0.num_batches_tracked"]);
    assert_eq!(loaded.state.get("head.0.running_mean").unwrap().data, [0.5]);
    // read_raw has nowhere to report a skip, so it refuses.
    assert!(matches!(
        read_raw(&file(header, &data)),
        Err(CheckpointError::Dtype { .. })
    ));
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn file_round_trip_and_io_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let state = sample_state();
    write_file(&path, &state).unwrap();
    assert_eq!(read_file(&path, None).unwrap().state, state);

    let missing = dir.path().join("missing.safetensors");
    let err = read_file(&missing, None).unwrap_err();
    assert!(matches!(err, CheckpointError::Io { .. }));
    assert!(err.to_string().contains("missing.safetensors"));

    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, [1, 2, 3]).unwrap();
    let err = read_file(&bad, None).unwrap_err();
    assert!(matches!(
        &err,
        CheckpointError::File { inner, .. } if **inner == CheckpointError::TooShort { len: 3 }
    ));
    assert!(err.to_string().contains("bad.safetensors"), "{err}");
}
