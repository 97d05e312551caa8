//! Damaged block files give errors, never panics: every truncation of the golden index, chunk segment and
//! tombstones fails, and a flipped byte either fails or (in bytes no reader looks at: padding, the legacy label
//! indices) leaves what is read unchanged.

use std::fs;
use std::path::Path;

use super::super::*;
use super::{GOLDEN_ULID, bits, copy_dir, golden_block_root};

type Read = Result<Vec<(String, Vec<(i64, u64)>)>, crate::Error>;

/// Opens the block and reads everything the querier can: all series, samples, label names and values.
fn read_everything(dir: &Path) -> Read {
    let block = Block::open(dir)?;
    let ix = block.index();
    for name in ix.label_names() {
        for value in ix.label_values(&name) {
            for r in ix.postings(&name, &value)? {
                ix.series(r)?;
            }
        }
    }
    Ok(bits(&block.read_all()?))
}

fn check_file(file: &str, truncation_must_fail: bool) {
    let Some(root) = golden_block_root() else { return };
    let golden = root.join(GOLDEN_ULID);
    let want = read_everything(&golden).expect("golden block reads");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(GOLDEN_ULID);
    copy_dir(&golden, &dir);
    let original = fs::read(golden.join(file)).expect("read golden file");
    let path = dir.join(file);

    for cut in 0..original.len() {
        fs::write(&path, &original[..cut]).expect("write truncated file");
        let got = read_everything(&dir);
        if truncation_must_fail {
            let err = got.expect_err(&format!("{file} truncated to {cut} bytes must fail"));
            assert!(
                matches!(err, crate::Error::BlockCorruption { .. }),
                "{file} truncated to {cut}: {err}"
            );
        }
    }
    let mut undetected = 0;
    for i in 0..original.len() {
        for mask in [0x01u8, 0x80] {
            let mut bad = original.clone();
            bad[i] ^= mask;
            fs::write(&path, &bad).expect("write damaged file");
            match read_everything(&dir) {
                Ok(got) => {
                    assert_eq!(got, want, "{file}: flipping {mask:#x} at {i} changed what is read");
                    undetected += 1;
                }
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
    println!(
        "{file}: {undetected} of {} byte flips land in bytes nobody reads",
        original.len() * 2
    );
    assert!(undetected < original.len(), "most flips must be detected");
}

#[test]
fn damaged_index_gives_errors() {
    check_file("index", true);
}

#[test]
fn damaged_chunk_segment_gives_errors() {
    check_file("chunks/000001", true);
}

#[test]
fn damaged_tombstones_give_errors() {
    check_file("tombstones", true);
}

#[test]
fn garbled_files_give_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    fs::create_dir_all(dir.join("chunks")).expect("mkdir");
    assert!(IndexReader::open(&dir.join("missing")).is_err());
    for junk in
        [vec![], vec![0u8; 100], vec![0xff; 4096], (0..=255u8).cycle().take(10_000).collect()]
    {
        fs::write(dir.join("index"), &junk).expect("write");
        assert!(IndexReader::open(&dir.join("index")).is_err());
        fs::write(dir.join("chunks/000001"), &junk).expect("write");
        assert!(ChunkReader::open(&dir.join("chunks")).is_err());
        assert!(Tombstones::decode(&dir.join("tombstones"), &junk).is_err());
    }
    // A chunk segment with a valid header and a chunk that claims to be huge.
    let mut seg = vec![0x85, 0xbd, 0x40, 0xdd, 1, 0, 0, 0];
    seg.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 0, 0]);
    fs::write(dir.join("chunks/000001"), &seg).expect("write");
    let r = ChunkReader::open(&dir.join("chunks")).expect("header is valid");
    let err = r.chunk(8).expect_err("length past the end");
    assert!(err.to_string().contains("unexpected end of data"), "{err}");
}
