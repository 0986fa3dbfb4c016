//! Malformed safetensors files, each built by hand from bytes, must give a specific error whose
//! message names the problem — and no input, however broken, may panic.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vitscape::io::checkpoint::{
    CheckpointError, MAX_HEADER_BYTES, StateDict, read_raw, read_safetensors, write_safetensors,
};

/// Length prefix (u64 little-endian) + header + data.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    file_bytes(header.as_bytes(), data)
}

fn file_bytes(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(data);
    bytes
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The error for `bytes`, with its message.
fn error(bytes: &[u8]) -> (CheckpointError, String) {
    let err = read_safetensors(bytes, None).expect_err("malformed file accepted");
    let message = err.to_string();
    (err, message)
}

fn assert_names(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "message {message:?} lacks {part:?}");
    }
}

/// A valid file: two F32 tensors, one I64 counter, metadata.
fn valid_file() -> Vec<u8> {
    let header = concat!(
        r#"{"__metadata__":{"format":"pt"},"#,
        r#""module.blocks.0.norm1.weight":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"#,
        r#""module.blocks.0.norm1.bias":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]},"#,
        r#""module.head.0.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[32,40]}}"#
    );
    let mut data = f32_bytes(&[1.0, 2.0, 3.0, 4.0, -1.0, -2.0, -3.0, -4.0]);
    data.extend_from_slice(&3i64.to_le_bytes());
    file(header, &data)
}

#[test]
fn the_valid_fixture_loads() {
    let loaded = read_safetensors(&valid_file(), None).unwrap();
    assert_eq!(
        loaded.state.get("blocks.0.norm1.weight").unwrap().data,
        [1.0, 2.0, 3.0, 4.0]
    );
    assert_eq!(
        loaded.state.get("blocks.0.norm1.bias").unwrap().shape,
        [2, 2]
    );
    assert_eq!(loaded.skipped, ["head.0.num_batches_tracked"]);
    assert_eq!(loaded.state.metadata["format"], "pt");
}

#[test]
fn empty_file() {
    let (err, message) = error(&[]);
    assert_eq!(err, CheckpointError::TooShort { len: 0 });
    assert_names(&message, &["0 bytes", "at least 8"]);
}

#[test]
fn five_byte_file() {
    let (err, message) = error(&[1, 2, 3, 4, 5]);
    assert_eq!(err, CheckpointError::TooShort { len: 5 });
    assert_names(&message, &["5 bytes"]);
}

#[test]
fn header_length_larger_than_file() {
    let mut bytes = 1000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    let (err, message) = error(&bytes);
    assert_eq!(
        err,
        CheckpointError::HeaderPastEnd {
            len: 1000,
            file_len: 10
        }
    );
    assert_names(&message, &["1000", "10-byte file"]);
}

#[test]
fn header_length_two_to_the_63() {
    let mut bytes = (1u64 << 63).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    let (err, message) = error(&bytes);
    assert_eq!(
        err,
        CheckpointError::HeaderTooLarge {
            len: 1 << 63,
            max: MAX_HEADER_BYTES
        }
    );
    assert_names(&message, &["9223372036854775808", "100000000"]);
}

#[test]
fn header_just_over_the_limit() {
    let bytes = (MAX_HEADER_BYTES + 1).to_le_bytes();
    let (err, _) = error(&bytes);
    assert!(
        matches!(err, CheckpointError::HeaderTooLarge { len, .. } if len == MAX_HEADER_BYTES + 1)
    );
}

#[test]
fn header_not_utf8() {
    let (err, message) = error(&file_bytes(b"{\"a\xff\":1}", &[]));
    assert_eq!(err, CheckpointError::HeaderNotUtf8 { valid_up_to: 3 });
    assert_names(&message, &["UTF-8", "offset 3"]);
}

#[test]
fn header_not_json() {
    let (err, message) = error(&file(r#"{"w": {"dtype": "F32",,}"#, &[]));
    assert!(matches!(err, CheckpointError::HeaderJson(_)), "{err:?}");
    assert_names(&message, &["not valid JSON", "column"]);
}

#[test]
fn header_nested_too_deep() {
    let header = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let (err, message) = error(&file(&header, &[]));
    assert!(matches!(err, CheckpointError::HeaderJson(_)), "{err:?}");
    assert_names(&message, &["recursion limit"]);
}

#[test]
fn header_is_a_json_array() {
    let (err, message) = error(&file(r#"[{"dtype":"F32"}]"#, &[]));
    assert_eq!(
        err,
        CheckpointError::HeaderNotObject {
            found: "array".into()
        }
    );
    assert_names(&message, &["JSON array", "expected an object"]);
}

#[test]
fn header_lists_a_name_twice() {
    let header = concat!(
        r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#,
        r#""w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
    );
    let (err, message) = error(&file(header, &f32_bytes(&[1.0, 2.0])));
    assert_eq!(err, CheckpointError::HeaderDuplicate { name: "w".into() });
    assert_names(&message, &["`w`", "more than once"]);
}

#[test]
fn data_offsets_beyond_the_file() {
    let header = r#"{"pos_embed":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
    let (err, message) = error(&file(header, &f32_bytes(&[1.0, 2.0])));
    assert_eq!(
        err,
        CheckpointError::OffsetsOutOfRange {
            name: "pos_embed".into(),
            start: 0,
            end: 16,
            data_len: 8
        }
    );
    assert_names(&message, &["`pos_embed`", "[0, 16]", "8 bytes"]);
}

#[test]
fn huge_data_offsets_do_not_overflow() {
    let header = r#"{"w":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,18446744073709551615]}}"#;
    let (err, message) = error(&file(header, &[0; 4]));
    assert!(
        matches!(err, CheckpointError::OffsetsOutOfRange { .. }),
        "{err:?}"
    );
    assert_names(&message, &["`w`", "18446744073709551615"]);
}

#[test]
fn overlapping_offsets() {
    let header = concat!(
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#,
        r#""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
    );
    let (err, message) = error(&file(header, &f32_bytes(&[1.0, 2.0, 3.0])));
    assert_eq!(
        err,
        CheckpointError::Layout {
            name: "b".into(),
            start: 4,
            end: 12,
            expected_start: 8
        }
    );
    assert_names(&message, &["`b`", "[4, 12]", "byte 8", "overlaps"]);
}

#[test]
fn offsets_not_covering_the_buffer() {
    let header = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let (err, message) = error(&file(header, &f32_bytes(&[1.0, 2.0, 3.0])));
    assert_eq!(
        err,
        CheckpointError::Uncovered {
            covered: 8,
            data_len: 12
        }
    );
    assert_names(&message, &["8 of the 12 bytes"]);
}

#[test]
fn offsets_leaving_a_gap_at_the_start() {
    let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    let (err, message) = error(&file(header, &f32_bytes(&[1.0, 2.0])));
    assert!(
        matches!(
            err,
            CheckpointError::Layout {
                expected_start: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&message, &["`a`", "[4, 8]", "byte 0"]);
}

#[test]
fn offsets_ending_before_they_start() {
    let header = r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#;
    let (err, message) = error(&file(header, &f32_bytes(&[1.0, 2.0])));
    assert!(
        matches!(err, CheckpointError::Entry { ref name, .. } if name == "a"),
        "{err:?}"
    );
    assert_names(&message, &["`a`", "[8, 4]", "end before they start"]);
}

#[test]
fn shape_disagreeing_with_offsets() {
    let header =
        r#"{"blocks.0.attn.qkv.weight":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}}"#;
    let (err, message) = error(&file(header, &f32_bytes(&[1.0; 4])));
    assert_eq!(
        err,
        CheckpointError::ShapeMismatch {
            name: "blocks.0.attn.qkv.weight".into(),
            dtype: "F32".into(),
            shape: vec![3, 2],
            expected_bytes: 24,
            actual_bytes: 16
        }
    );
    assert_names(
        &message,
        &[
            "`blocks.0.attn.qkv.weight`",
            "[3, 2]",
            "24 bytes",
            "span 16",
        ],
    );
}

#[test]
fn shape_product_overflow() {
    let header = r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,4]}}"#;
    let (err, message) = error(&file(header, &f32_bytes(&[1.0])));
    assert!(
        matches!(err, CheckpointError::Entry { ref name, .. } if name == "w"),
        "{err:?}"
    );
    assert_names(&message, &["`w`", "4294967296", "larger than memory"]);
}

#[test]
fn unknown_dtype_string() {
    let header = r#"{"w":{"dtype":"Q4_K","shape":[1],"data_offsets":[0,4]}}"#;
    let (err, message) = error(&file(header, &f32_bytes(&[1.0])));
    assert!(
        matches!(err, CheckpointError::Entry { ref name, .. } if name == "w"),
        "{err:?}"
    );
    assert_names(&message, &["`w`", "\"Q4_K\"", "not a safetensors dtype"]);
}

#[test]
fn entry_missing_a_field() {
    let header = r#"{"w":{"dtype":"F32","data_offsets":[0,4]}}"#;
    let (err, message) = error(&file(header, &f32_bytes(&[1.0])));
    assert!(matches!(err, CheckpointError::Entry { .. }), "{err:?}");
    assert_names(&message, &["`w`", "`shape` is missing"]);
}

#[test]
fn metadata_with_a_non_string_value() {
    let header = concat!(
        r#"{"__metadata__":{"num_heads":12},"#,
        r#""w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
    );
    let (err, message) = error(&file(header, &f32_bytes(&[1.0])));
    assert!(matches!(err, CheckpointError::Entry { ref name, .. } if name == "__metadata__"));
    assert_names(&message, &["`num_heads`", "number", "expected a string"]);
}

#[test]
fn i8_and_bool_tensors_are_skipped() {
    let header = concat!(
        r#"{"blocks.0.mlp.fc1.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#,
        r#""blocks.0.mlp.fc1.quantized":{"dtype":"I8","shape":[2],"data_offsets":[4,6]},"#,
        r#""mask":{"dtype":"BOOL","shape":[2],"data_offsets":[6,8]}}"#
    );
    let mut data = f32_bytes(&[0.5]);
    data.extend_from_slice(&[0xFF, 0x01, 0x00, 0x01]);
    let loaded = read_safetensors(&file(header, &data), None).unwrap();
    assert_eq!(loaded.skipped, ["blocks.0.mlp.fc1.quantized", "mask"]);
    assert!(loaded.state.get("blocks.0.mlp.fc1.quantized").is_none());
    assert!(loaded.state.get("mask").is_none());
    assert_eq!(
        loaded.state.get("blocks.0.mlp.fc1.weight").unwrap().data,
        [0.5]
    );
}

#[test]
fn i8_tensor_in_a_raw_file_is_an_error() {
    let header = r#"{"blocks.0.attn.qkv.weight":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}}"#;
    let err = read_raw(&file(header, &[1, 2])).unwrap_err();
    assert_eq!(
        err,
        CheckpointError::Dtype {
            name: "blocks.0.attn.qkv.weight".into(),
            dtype: "I8".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "tensor `blocks.0.attn.qkv.weight` has dtype I8; expected F32, F16, BF16 or F64"
    );
}

#[test]
fn fp8_parameter_tensor() {
    let header = r#"{"head.weight":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}"#;
    let (err, message) = error(&file(header, &[0x38, 0x40]));
    assert_eq!(
        err,
        CheckpointError::Dtype {
            name: "head.weight".into(),
            dtype: "F8_E4M3".into()
        }
    );
    assert_names(
        &message,
        &["`head.weight`", "F8_E4M3", "expected F32, F16, BF16 or F64"],
    );
}

#[test]
fn nan_value() {
    let header = r#"{"cls_token":{"dtype":"F32","shape":[1,1,3],"data_offsets":[0,12]}}"#;
    let (err, message) = error(&file(header, &f32_bytes(&[0.0, 1.0, f32::NAN])));
    assert_eq!(
        err,
        CheckpointError::NonFinite {
            name: "cls_token".into(),
            index: 2,
            value: "NaN".into()
        }
    );
    assert_names(&message, &["`cls_token`", "NaN", "index 2"]);
}

#[test]
fn infinite_f16_value() {
    let header = r#"{"norm.weight":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#;
    let (err, message) = error(&file(header, &[0x00, 0x3C, 0x00, 0xFC]));
    assert!(
        matches!(err, CheckpointError::NonFinite { index: 1, .. }),
        "{err:?}"
    );
    assert_names(&message, &["`norm.weight`", "-inf"]);
}

#[test]
fn duplicate_name_after_stripping() {
    let header = concat!(
        r#"{"module.x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#,
        r#""x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
    );
    let (err, message) = error(&file(header, &f32_bytes(&[1.0, 2.0])));
    assert_eq!(
        err,
        CheckpointError::Duplicate {
            a: "module.x".into(),
            b: "x".into(),
            name: "x".into()
        }
    );
    assert_names(&message, &["`module.x`", "`x`"]);
}

#[test]
fn zero_tensors() {
    let (err, message) = error(&file(r#"{"__metadata__":{"format":"pt"}}"#, &[]));
    assert_eq!(err, CheckpointError::Empty { skipped: 0 });
    assert_names(&message, &["no tensors"]);
}

#[test]
fn only_optimizer_state() {
    let header = r#"{"optimizer.state.0.step":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let (err, message) = error(&file(header, &f32_bytes(&[10.0])));
    assert_eq!(err, CheckpointError::Empty { skipped: 1 });
    assert_names(&message, &["no tensors", "1 non-float or optimizer"]);
}

#[test]
fn truncated_copy_of_a_valid_file() {
    let full = valid_file();
    let (err, message) = error(&full[..full.len() / 2]);
    // The half cut keeps the header but loses tensor data.
    assert!(
        matches!(
            err,
            CheckpointError::HeaderPastEnd { .. } | CheckpointError::OffsetsOutOfRange { .. }
        ),
        "{err:?}"
    );
    assert_names(&message, &["truncated file?"]);

    // Cut just after the header: the first tensor (in offset order) is the one out of range.
    let header_end = 8 + u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
    let (err, message) = error(&full[..header_end + 20]);
    assert_eq!(
        err,
        CheckpointError::OffsetsOutOfRange {
            name: "module.blocks.0.norm1.bias".into(),
            start: 16,
            end: 32,
            data_len: 20
        }
    );
    assert_names(
        &message,
        &["`module.blocks.0.norm1.bias`", "truncated file?"],
    );
}

#[test]
fn written_file_truncated_by_one_byte() {
    let mut state = StateDict::default();
    state.insert("w", vec![3], vec![1.0, 2.0, 3.0]);
    let bytes = write_safetensors(&state).unwrap();
    let (err, message) = error(&bytes[..bytes.len() - 1]);
    assert!(
        matches!(err, CheckpointError::OffsetsOutOfRange { ref name, end: 12, .. } if name == "w")
    );
    assert_names(&message, &["`w`"]);
}

#[test]
fn every_prefix_truncation_returns_without_panicking() {
    for bytes in [valid_file(), write_valid()] {
        for len in 0..bytes.len() {
            let result = read_safetensors(&bytes[..len], None);
            assert!(result.is_err(), "prefix of {len} bytes accepted");
            let _ = read_raw(&bytes[..len]);
        }
        assert!(read_safetensors(&bytes, None).is_ok());
    }
}

#[test]
fn random_byte_flips_return_without_panicking() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5AFE_7E45);
    for original in [valid_file(), write_valid()] {
        for _ in 0..400 {
            let mut bytes = original.clone();
            let flips = rng.random_range(1..=4);
            for _ in 0..flips {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
            // Ok or Err; only a panic fails the test.
            let _ = read_safetensors(&bytes, None);
            let _ = read_raw(&bytes);
        }
    }
}

/// A file from our own writer, so fuzzing also covers its header layout and padding.
fn write_valid() -> Vec<u8> {
    let mut state = StateDict::default();
    state.insert("student.cls_token", vec![1, 1, 2], vec![0.25, -0.5]);
    state.insert("teacher.cls_token", vec![1, 1, 2], vec![1.5, 2.5]);
    state.metadata.insert("num_heads".into(), "1".into());
    write_safetensors(&state).unwrap()
}
