//! The on-disk layout of `DurableStore`: one redb file, `store.redb`, with three tables.
//!
//! - `meta`: the format marker, the current revision, the compaction point and the
//!   base revision.
//! - `base`: every key as it was at the base revision (a snapshot, key → key-value).
//! - `log`: every change after the base revision (revision → event), in order.
//!
//! A write appends one entry to `log` (and bumps `meta.revision`) in the transaction
//! that commits it, so a write costs one small insert however large the keyspace is.
//! The state at any retained revision is the base plus the log up to that revision,
//! which is what reopening rebuilds in memory. Compaction is two steps: moving the
//! compaction point is one `meta` update, and folding the log up to it into `base` is
//! done a bounded slice at a time inside later write transactions, so neither stalls
//! writers. Why not a table of current objects too: the store already keeps its whole
//! current state in memory (for reads and watches), so a second copy on disk would be
//! a second write per change that only reopening would read.
//!
//! Every decoding failure, and a file that is not a redb file or not ours, is a
//! [`StoreError::Corrupt`] naming the file.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use orchestra_core::{KeyValue, Revision, StoreError, WatchEvent};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

/// The file inside the store's directory.
pub(super) const FILE_NAME: &str = "store.redb";

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const BASE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("base");
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");

/// `meta` keys.
const FORMAT: &str = "orchestra_format";
const REVISION: &str = "revision";
const COMPACT: &str = "compact_revision";
const BASE_REVISION: &str = "base_revision";

/// The layout version this code writes and reads.
const FORMAT_VERSION: u64 = 1;

const TAG_PUT: u8 = 0;
const TAG_DELETE: u8 = 1;

/// The store's bookkeeping revisions, as committed.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Marks {
    /// The revision of the latest write.
    pub(super) revision: Revision,
    /// The compaction point: the oldest revision still readable.
    pub(super) compact: Revision,
    /// The revision `base` holds the state of (`<= compact`).
    pub(super) base: Revision,
}

/// What opening found on disk.
pub(super) struct Recovered {
    pub(super) db: Database,
    pub(super) file: PathBuf,
    pub(super) marks: Marks,
    /// The state at `marks.base`.
    pub(super) base: Vec<KeyValue>,
    /// The changes after `marks.base`, in revision order.
    pub(super) log: Vec<WatchEvent>,
}

/// A failure of redb on `file`: corruption is [`StoreError::Corrupt`], anything else
/// (I/O, a full disk, the file locked by another process) is
/// [`StoreError::Unavailable`].
pub(super) fn redb_error(file: &Path, error: impl Into<redb::Error>) -> StoreError {
    let error: redb::Error = error.into();
    match &error {
        redb::Error::Corrupted(_) | redb::Error::UpgradeRequired(_) => {
            corrupt(file, error.to_string())
        }
        redb::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
            ) =>
        {
            corrupt(file, error.to_string())
        }
        _ => StoreError::Unavailable {
            message: format!("{}: {error}", file.display()),
            source: Some(Box::new(error)),
        },
    }
}

pub(super) fn corrupt(file: &Path, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{}: {what}", file.display()))
}

/// Opens (or creates) the store in `dir` and reads back everything it holds.
pub(super) fn open(dir: &Path) -> Result<Recovered, StoreError> {
    // redb asserts on some damaged files (one shorter than its header says, a broken
    // page) instead of returning an error; a damaged file must be an error naming it,
    // never a panic.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| open_unchecked(dir))).unwrap_or_else(
        |_| {
            let file = dir.join(FILE_NAME);
            Err(corrupt(
                &file,
                "damaged store file (redb could not read it)",
            ))
        },
    )
}

fn open_unchecked(dir: &Path) -> Result<Recovered, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable {
        message: format!("cannot create store directory {}", dir.display()),
        source: Some(Box::new(e)),
    })?;
    let file = dir.join(FILE_NAME);
    if !file.exists() {
        create_atomically(dir, &file)?;
    }
    let db = open_file(&file)?;
    let marks = init_or_check(&db, &file)?;
    let (base, log) = read_state(&db, &file, marks)?;
    Ok(Recovered {
        db,
        file,
        marks,
        base,
        log,
    })
}

/// Creates a new, empty store file: built under a temporary name and renamed into
/// place, so a crash while creating it leaves either no store or a complete empty one
/// (redb's first write of a new file is not crash-safe on its own).
fn create_atomically(dir: &Path, file: &Path) -> Result<(), StoreError> {
    let unavailable = |what: &str, e: std::io::Error| StoreError::Unavailable {
        message: format!("{what} {}", file.display()),
        source: Some(Box::new(e)),
    };
    let temporary = dir.join(format!("{FILE_NAME}.new"));
    match std::fs::remove_file(&temporary) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(unavailable("cannot remove a leftover beside", e));
        }
        _ => {}
    }
    let db = open_file(&temporary)?;
    init_or_check(&db, &temporary)?;
    drop(db);
    std::fs::rename(&temporary, file).map_err(|e| unavailable("cannot create", e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| unavailable("cannot sync the directory of", e))
}

/// Opens a redb file, mapping every failure to an error naming it.
fn open_file(file: &Path) -> Result<Database, StoreError> {
    Database::create(file).map_err(|e| match e {
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() != std::io::ErrorKind::UnexpectedEof
                && io.kind() != std::io::ErrorKind::InvalidData =>
        {
            redb_error(file, redb::StorageError::Io(io))
        }
        redb::DatabaseError::DatabaseAlreadyOpen => redb_error(file, e),
        // A file redb cannot make sense of: not a redb file, or a damaged one.
        other => corrupt(file, format!("not a readable store file: {other}")),
    })
}

/// Writes the format marker into a new file, or checks an existing file is ours; returns
/// the committed marks.
fn init_or_check(db: &Database, file: &Path) -> Result<Marks, StoreError> {
    let err = |e: redb::Error| redb_error(file, e);
    let txn = db.begin_write().map_err(|e| err(e.into()))?;
    let marks = {
        let mut meta = txn.open_table(META).map_err(|e| err(e.into()))?;
        let format = meta
            .get(FORMAT)
            .map_err(|e| err(e.into()))?
            .map(|v| v.value());
        let empty = meta.len().map_err(|e| err(e.into()))? == 0;
        match format {
            Some(FORMAT_VERSION) => {
                let get = |name: &str| -> Result<Revision, StoreError> {
                    meta.get(name)
                        .map_err(|e| err(e.into()))?
                        .map(|v| v.value())
                        .ok_or_else(|| corrupt(file, format!("missing {name} mark")))
                };
                let marks = Marks {
                    revision: get(REVISION)?,
                    compact: get(COMPACT)?,
                    base: get(BASE_REVISION)?,
                };
                if !(marks.base <= marks.compact && marks.compact <= marks.revision) {
                    return Err(corrupt(file, format!("inconsistent marks {marks:?}")));
                }
                marks
            }
            Some(other) => {
                return Err(corrupt(
                    file,
                    format!("store format {other}, this build reads {FORMAT_VERSION}"),
                ));
            }
            None if empty && txn.list_tables().map_err(|e| err(e.into()))?.count() <= 1 => {
                meta.insert(FORMAT, FORMAT_VERSION)
                    .map_err(|e| err(e.into()))?;
                let marks = Marks::default();
                write_marks(&mut meta, marks).map_err(err)?;
                marks
            }
            None => return Err(corrupt(file, "a redb file, but not an orchestra store")),
        }
    };
    txn.open_table(BASE).map_err(|e| err(e.into()))?;
    txn.open_table(LOG).map_err(|e| err(e.into()))?;
    txn.commit().map_err(|e| err(e.into()))?;
    Ok(marks)
}

// redb's own error, converted to a StoreError by the one caller right away.
#[allow(clippy::result_large_err)]
fn write_marks(
    meta: &mut redb::Table<'_, &'static str, u64>,
    marks: Marks,
) -> Result<(), redb::Error> {
    meta.insert(REVISION, marks.revision)?;
    meta.insert(COMPACT, marks.compact)?;
    meta.insert(BASE_REVISION, marks.base)?;
    Ok(())
}

fn read_state(
    db: &Database,
    file: &Path,
    marks: Marks,
) -> Result<(Vec<KeyValue>, Vec<WatchEvent>), StoreError> {
    let err = |e: redb::Error| redb_error(file, e);
    let txn = db.begin_read().map_err(|e| err(e.into()))?;
    let base_table = txn.open_table(BASE).map_err(|e| err(e.into()))?;
    let mut base = Vec::new();
    for entry in base_table.iter().map_err(|e| err(e.into()))? {
        let (key, value) = entry.map_err(|e| err(e.into()))?;
        let kv = decode_kv(Bytes::copy_from_slice(key.value()), value.value())
            .ok_or_else(|| corrupt(file, "undecodable base entry"))?;
        base.push(kv);
    }
    let log_table = txn.open_table(LOG).map_err(|e| err(e.into()))?;
    let mut log = Vec::new();
    let mut expected = marks.base + 1;
    for entry in log_table.iter().map_err(|e| err(e.into()))? {
        let (revision, bytes) = entry.map_err(|e| err(e.into()))?;
        let revision = revision.value();
        let event = decode_event(bytes.value())
            .filter(|event| event.revision() == revision && revision == expected)
            .ok_or_else(|| corrupt(file, format!("bad log entry at revision {revision}")))?;
        log.push(event);
        expected += 1;
    }
    if expected != marks.revision + 1 {
        return Err(corrupt(
            file,
            format!(
                "log ends at revision {}, the store is at {}",
                expected - 1,
                marks.revision
            ),
        ));
    }
    Ok((base, log))
}

/// Records `events` and `marks` in `txn`, and folds at most `fold_step` log entries up
/// to the compaction point into `base`; returns the marks as written.
// redb's own error, converted to a StoreError by the one caller right away.
#[allow(clippy::result_large_err)]
pub(super) fn record(
    txn: &WriteTransaction,
    events: &[WatchEvent],
    mut marks: Marks,
    fold_step: u64,
) -> Result<Marks, redb::Error> {
    let mut log = txn.open_table(LOG)?;
    let mut buf = Vec::new();
    for event in events {
        buf.clear();
        encode_event(event, &mut buf);
        log.insert(event.revision(), buf.as_slice())?;
    }
    let fold_to = marks.compact.min(marks.base.saturating_add(fold_step));
    if fold_to > marks.base {
        let mut base = txn.open_table(BASE)?;
        loop {
            let first = log.first()?.map(|(revision, bytes)| {
                let revision = revision.value();
                (revision, decode_event(bytes.value()))
            });
            let Some((revision, event)) = first else {
                break;
            };
            if revision > fold_to {
                break;
            }
            let event = event.ok_or_else(|| {
                redb::Error::Corrupted(format!("bad log entry at revision {revision}"))
            })?;
            match event {
                WatchEvent::Put { kv } => {
                    buf.clear();
                    encode_kv_fields(&kv, &mut buf);
                    base.insert(kv.key.as_ref(), buf.as_slice())?;
                }
                WatchEvent::Delete { prev, .. } => {
                    base.remove(prev.key.as_ref())?;
                }
            }
            log.remove(revision)?;
        }
        marks.base = fold_to;
    }
    let mut meta = txn.open_table(META)?;
    write_marks(&mut meta, marks)?;
    Ok(marks)
}

/// A key-value's fields other than its key: three revisions, then the value.
fn encode_kv_fields(kv: &KeyValue, out: &mut Vec<u8>) {
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.mod_revision.to_le_bytes());
    out.extend_from_slice(&kv.version.to_le_bytes());
    out.extend_from_slice(&kv.value);
}

fn decode_kv(key: Bytes, bytes: &[u8]) -> Option<KeyValue> {
    let (create_revision, rest) = take_u64(bytes)?;
    let (mod_revision, rest) = take_u64(rest)?;
    let (version, rest) = take_u64(rest)?;
    Some(KeyValue {
        key,
        value: Bytes::copy_from_slice(rest),
        create_revision,
        mod_revision,
        version,
    })
}

/// An event: a tag, for a delete its revision, the key's length and the key, then the
/// key-value's fields.
fn encode_event(event: &WatchEvent, out: &mut Vec<u8>) {
    let kv = match event {
        WatchEvent::Put { kv } => {
            out.push(TAG_PUT);
            kv
        }
        WatchEvent::Delete { prev, revision } => {
            out.push(TAG_DELETE);
            out.extend_from_slice(&revision.to_le_bytes());
            prev
        }
    };
    out.extend_from_slice(&(kv.key.len() as u64).to_le_bytes());
    out.extend_from_slice(&kv.key);
    encode_kv_fields(kv, out);
}

fn decode_event(bytes: &[u8]) -> Option<WatchEvent> {
    let (&tag, rest) = bytes.split_first()?;
    let (revision, rest) = match tag {
        TAG_PUT => (None, rest),
        TAG_DELETE => {
            let (revision, rest) = take_u64(rest)?;
            (Some(revision), rest)
        }
        _ => return None,
    };
    let (key_len, rest) = take_u64(rest)?;
    let key_len = usize::try_from(key_len).ok()?;
    if rest.len() < key_len {
        return None;
    }
    let (key, rest) = rest.split_at(key_len);
    let kv = decode_kv(Bytes::copy_from_slice(key), rest)?;
    Some(match revision {
        None => WatchEvent::Put { kv },
        Some(revision) => WatchEvent::Delete { prev: kv, revision },
    })
}

fn take_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*head), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_garbage_does_not_decode() {
        let kv = KeyValue {
            key: Bytes::from_static(b"/a/b"),
            value: Bytes::from_static(b"value"),
            create_revision: 3,
            mod_revision: 7,
            version: 2,
        };
        for event in [
            WatchEvent::Put { kv: kv.clone() },
            WatchEvent::Delete {
                prev: kv,
                revision: 9,
            },
        ] {
            let mut buf = Vec::new();
            encode_event(&event, &mut buf);
            assert_eq!(decode_event(&buf), Some(event));
            assert_eq!(decode_event(&buf[..buf.len() / 2]), None);
        }
        assert_eq!(decode_event(&[7, 1, 2]), None);
    }

    #[test]
    fn another_programs_redb_file_is_not_taken_for_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        let db = Database::create(&file).unwrap();
        let txn = db.begin_write().unwrap();
        let other: TableDefinition<u64, u64> = TableDefinition::new("accounts");
        txn.open_table(other).unwrap().insert(1, 2).unwrap();
        txn.commit().unwrap();
        drop(db);
        match open(dir.path()) {
            Err(StoreError::Corrupt(message)) => {
                assert!(message.contains(&file.display().to_string()), "{message}");
                assert!(message.contains("not an orchestra store"), "{message}");
            }
            Err(other) => panic!("expected Corrupt, got {other}"),
            Ok(_) => panic!("a foreign file opened as a store"),
        }
    }

    #[test]
    fn folding_moves_the_compacted_log_into_the_base_a_slice_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let recovered = open(dir.path()).unwrap();
        let kv = |key: &'static [u8], revision| KeyValue {
            key: Bytes::from_static(key),
            value: Bytes::from_static(b"v"),
            create_revision: revision,
            mod_revision: revision,
            version: 1,
        };
        let events = [
            WatchEvent::Put { kv: kv(b"a", 1) },
            WatchEvent::Put { kv: kv(b"b", 2) },
            WatchEvent::Delete {
                prev: kv(b"a", 1),
                revision: 3,
            },
        ];
        let mut marks = Marks {
            revision: 3,
            compact: 3,
            base: 0,
        };
        for (step, expected_base) in [(2, 2), (2, 3)] {
            let txn = recovered.db.begin_write().unwrap();
            let written = if expected_base == 2 { &events[..] } else { &[] };
            marks = record(&txn, written, marks, step).unwrap();
            txn.commit().unwrap();
            assert_eq!(marks.base, expected_base);
        }
        drop(recovered);
        let reopened = open(dir.path()).unwrap();
        assert_eq!((reopened.marks.base, reopened.marks.revision), (3, 3));
        assert_eq!(reopened.base, vec![kv(b"b", 2)]);
        assert!(reopened.log.is_empty());
    }
}
