//! PyTorch `.pth` / `.bin` checkpoints (issue #12), against the files PyTorch itself wrote
//! (`tests/reference/pth_files.py` → `tests/fixtures/pth`): every layout loads to exactly the
//! tensors of its safetensors twin; real exploits (each proven to run under `torch.load`) are
//! refused with the global they name and nothing runs; other files say what they look like; cut
//! or corrupted files fail with a message, never a panic.

use std::path::PathBuf;

use serde_json::Value;
use vitscape::io::checkpoint::{self, CheckpointError, read_checkpoint};
use vitscape::spec::Branch;

use crate::common::{fails, fixtures, ok};

fn pth(name: &str) -> PathBuf {
    fixtures().join("pth").join(name)
}

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(pth("manifest.json")).unwrap()).unwrap()
}

fn twin(name: &str) -> checkpoint::StateDict {
    let path = if name == "cls_token_fp16" {
        pth("cls_token_fp16.safetensors")
    } else {
        fixtures().join(format!("models/{name}.safetensors"))
    };
    checkpoint::read_file(&path, None).unwrap().state
}

#[test]
fn every_layout_loads_to_the_tensors_of_its_safetensors_twin() {
    let manifest = manifest();
    let files = manifest["files"].as_object().unwrap();
    assert!(files.len() >= 12, "{}", files.len());
    for (name, entry) in files {
        let bytes = std::fs::read(pth(name)).unwrap();
        let branch = match entry["branch"].as_str() {
            Some("teacher") => Some(Branch::Teacher),
            Some("student") => Some(Branch::Student),
            _ => None,
        };
        let loaded = read_checkpoint(&bytes, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = twin(entry["equals"].as_str().unwrap());
        assert_eq!(
            loaded.state.tensors.keys().collect::<Vec<_>>(),
            expected.tensors.keys().collect::<Vec<_>>(),
            "{name}"
        );
        assert!(
            loaded.state.tensors == expected.tensors,
            "{name}: values differ"
        );
        assert_eq!(loaded.branch, branch, "{name}");
        assert_eq!(loaded.source.as_deref(), entry["source"].as_str(), "{name}");
        assert_eq!(loaded.sha256, checkpoint::sha256_hex(&bytes));
    }
}

#[test]
fn rcmae_files_offer_both_branches_and_buffers_are_skipped_by_name() {
    let bytes = std::fs::read(pth("rcmae.pth")).unwrap();
    let student = read_checkpoint(&bytes, Some(Branch::Student)).unwrap();
    assert_eq!(student.branch, Some(Branch::Student));
    assert!(student.state.tensors == twin("mae").tensors);
    let teacher = read_checkpoint(&bytes, Some(Branch::Teacher)).unwrap();
    assert!(teacher.state.tensors == twin("mae_teacher").tensors);

    let buffers = read_checkpoint(&std::fs::read(pth("buffers.pth")).unwrap(), None).unwrap();
    assert_eq!(buffers.skipped, vec!["fc_norm.num_batches_tracked"]);
}

#[test]
fn hostile_pickles_are_refused_by_name_and_nothing_runs() {
    let manifest = manifest();
    let markers = PathBuf::from(manifest["marker_dir"].as_str().unwrap());
    let hostile = manifest["hostile"].as_object().unwrap();
    assert!(hostile.len() >= 20, "{}", hostile.len());
    // Each payload creates a file in the marker folder when Python loads it (the generator
    // checked that it does); start from an empty folder so a marker can only come from here.
    let _ = std::fs::remove_dir_all(&markers);
    for (name, entry) in hostile {
        assert_eq!(entry["python_ran"], true, "{name} is not a live exploit");
        let bytes = std::fs::read(pth("hostile").join(name)).unwrap();
        let error = read_checkpoint(&bytes, None)
            .err()
            .unwrap_or_else(|| panic!("{name} was accepted"));
        let message = error.to_string();
        let named = entry["names"].as_str().unwrap();
        assert!(message.contains(named), "{name}: {message}");
        match error {
            CheckpointError::Refused { .. } => assert!(
                message.contains("Nothing in the file was run"),
                "{name}: {message}"
            ),
            CheckpointError::Pickle { .. } => assert!(message.contains("refused"), "{message}"),
            other => panic!("{name}: unexpected error kind {other:?}"),
        }
    }
    assert!(
        !markers.exists() || std::fs::read_dir(&markers).unwrap().next().is_none(),
        "a payload ran: {}",
        markers.display()
    );
}

#[test]
fn files_that_are_no_checkpoint_say_what_they_look_like() {
    let mut zip_bytes = Vec::new();
    {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(&mut zip_bytes));
        zip.start_file("img/0.png", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, b"not really").unwrap();
        zip.finish().unwrap();
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "an empty file"),
        ("gzip", vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3], "gzip"),
        (
            "html",
            b"<!DOCTYPE html><html><body>Sign in</body></html>".to_vec(),
            "HTML page",
        ),
        (
            "lfs",
            b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 343\n".to_vec(),
            "Git LFS pointer",
        ),
        (
            "npy",
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4'}".to_vec(),
            "NumPy",
        ),
        ("zip", zip_bytes, "without `<name>/data.pkl`"),
        ("json", br#"{"model": "vit"}"#.to_vec(), "JSON"),
        (
            "pickle",
            b"\x80\x02}q\x00.".to_vec(),
            "torch.save did not write",
        ),
        (
            "binary",
            vec![0x50, 0x4b, 0x07, 0x08, 0xde, 0xad, 0xbe, 0xef, 1, 2],
            "first bytes 50 4b 07 08",
        ),
    ];
    for (what, bytes, expected) in cases {
        let message = read_checkpoint(&bytes, None).unwrap_err().to_string();
        assert!(message.contains("not a checkpoint"), "{what}: {message}");
        assert!(message.contains(expected), "{what}: {message}");
    }
    // A cut safetensors file still gets the safetensors message.
    let real = std::fs::read(fixtures().join("models/cls_token.safetensors")).unwrap();
    let message = read_checkpoint(&real[..200], None).unwrap_err().to_string();
    assert!(message.contains("truncated"), "{message}");
}

#[test]
fn cut_and_corrupted_pth_files_fail_with_a_message_never_a_panic() {
    for name in ["plain.pth", "plain_legacy.pth", "rcmae.pth", "deit.pth"] {
        let bytes = std::fs::read(pth(name)).unwrap();
        for cut in (0..bytes.len()).step_by(61) {
            let result = read_checkpoint(&bytes[..cut], None);
            assert!(result.is_err(), "{name} cut at {cut} was accepted");
        }
        // Corrupting any byte gives an error or a (different) checkpoint, never a panic.
        let mut corrupt = bytes.clone();
        for at in (0..bytes.len()).step_by(37) {
            corrupt[at] ^= 0x5a;
            let _ = read_checkpoint(&corrupt, None);
            corrupt[at] = bytes[at];
        }
    }
}

#[test]
fn the_cli_inspects_a_pth_and_says_where_the_state_dict_was() {
    let file = pth("deit.pth").display().to_string();
    let run = ok(&["inspect", &file, "--heads", "2"]);
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        report["source"],
        "PyTorch zip checkpoint, state dict under 'model' (not read: 'args', 'epoch', \
         'lr_scheduler', 'optimizer')"
    );
    assert_eq!(report["parameters"], 19_658);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("state dict under 'model'"), "{stderr}");

    let hostile = pth("hostile/os_system.pth").display().to_string();
    let message = fails(&["inspect", &hostile]);
    assert!(message.contains("posix.system"), "{message}");
    assert!(message.contains("Nothing in the file was run"), "{message}");
}

#[test]
fn pickle_bombs_and_optimizer_only_files_are_refused_with_their_reason() {
    let manifest = manifest();
    let bombs = manifest["bombs"].as_object().unwrap();
    assert_eq!(bombs.len(), 4);
    for (name, says) in bombs {
        let bytes = std::fs::read(pth("hostile").join(name)).unwrap();
        let message = read_checkpoint(&bytes, None)
            .err()
            .unwrap_or_else(|| panic!("{name} was accepted"))
            .to_string();
        assert!(
            message.contains(says.as_str().unwrap()),
            "{name}: {message}"
        );
    }
}

#[test]
fn a_safetensors_header_of_128_bytes_is_not_taken_for_a_pickle() {
    // Its first byte is 0x80, as a pickle's PROTO opcode.
    for k in 1..200 {
        let mut state = checkpoint::StateDict::default();
        state.insert("w".repeat(k), vec![1], vec![0.5]);
        let bytes = checkpoint::write_safetensors(&state).unwrap();
        if bytes[..8] == [0x80, 0, 0, 0, 0, 0, 0, 0] {
            let loaded = read_checkpoint(&bytes, None).unwrap();
            assert_eq!(loaded.state.tensors.len(), 1);
            assert_eq!(loaded.source, None);
            return;
        }
    }
    panic!("no name length gave a 128-byte header");
}
