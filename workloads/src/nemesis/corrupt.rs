//! File corruption (`--nemesis corrupt`, shaped by `--corrupt`): Jepsen's file nemesis. A
//! node is killed, one of the files its target names as mattering is corrupted on disk —
//! bits flipped or its end truncated — and the node is restarted on the damaged file.
//!
//! Part of the "run" step. This module says *what* a corruption does and does it to a file
//! ([`corrupt_file`], [`corrupt_in`]); a target names its files as [`CorruptFile`]s
//! (`NemesisSupport::corrupt_files`, the first is the default) — a name the user types, and
//! where that file is in a node's data directory, found when the fault strikes (etcd's newest
//! WAL segment, Redis's newest incremental AOF) — and kills and restarts the node around it
//! (`Primitives::corrupt`). A target that names no files refuses the fault before the run
//! (exit 254). See `docs/nemesis.md`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use checkers::Rng;
use serde_json::{json, Value};

use super::packet::unit;

/// What `--nemesis corrupt` does without `--corrupt`.
pub const DEFAULT_CORRUPT: &str = "truncate=64";

/// A file of a node whose corruption matters, as its target names it: the name `--corrupt
/// file=NAME` takes and the history records, and where the file is in the node's data
/// directory, looked up when the fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorruptFile {
    /// The name users give and histories show (`log.bin`, `aof`, `wal`).
    pub name: &'static str,
    /// Where it is in the node's data directory.
    pub place: Place,
    /// Which bytes of it a corruption hits.
    pub extent: Extent,
}

/// Where a [`CorruptFile`] is, relative to a node's data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// This one path (`log.bin`, `member/snap/db`).
    Path(&'static str),
    /// The newest of the files in directory `dir` whose names end with `suffix`: the one
    /// modified last (ties: the last by name) — the segment a log writes to now
    /// (`member/wal/*.wal`, `appendonlydir/*.incr.aof`).
    Newest {
        /// The directory.
        dir: &'static str,
        /// The end of the files' names (`.wal`).
        suffix: &'static str,
    },
}

/// Which bytes of a file a corruption hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extent {
    /// The whole file: a truncation cuts the end of the file, bit flips land anywhere in it.
    Whole,
    /// What was written of a preallocated file, whose end is zero bytes not written yet
    /// (etcd preallocates each WAL segment to 64 MB): everything up to its last non-zero
    /// byte. A truncation cuts the end of what was written (cutting zeros would change
    /// nothing), bit flips land in what was written.
    Written,
}

impl CorruptFile {
    /// A file at one path.
    pub const fn at(name: &'static str, path: &'static str) -> CorruptFile {
        CorruptFile {
            name,
            place: Place::Path(path),
            extent: Extent::Whole,
        }
    }

    /// The newest file in `dir` whose name ends with `suffix`.
    pub const fn newest(
        name: &'static str,
        dir: &'static str,
        suffix: &'static str,
    ) -> CorruptFile {
        CorruptFile {
            name,
            place: Place::Newest { dir, suffix },
            extent: Extent::Whole,
        }
    }

    /// The same file, preallocated: corruptions hit what was written ([`Extent::Written`]).
    pub const fn preallocated(self) -> CorruptFile {
        CorruptFile {
            extent: Extent::Written,
            ..self
        }
    }

    /// `log.bin`, or `wal (newest member/wal/*.wal)`, for help texts and refusals.
    pub fn describe(&self) -> String {
        match self.place {
            Place::Path(p) if p == self.name => p.to_string(),
            Place::Path(p) => format!("{} ({p})", self.name),
            Place::Newest { dir, suffix } => format!("{} (newest {dir}/*{suffix})", self.name),
        }
    }

    /// The file now in `data_dir`; `None` if there is none (the node never wrote it).
    pub fn locate(&self, data_dir: &Path) -> Result<Option<PathBuf>, CorruptError> {
        match self.place {
            Place::Path(p) => {
                let path = data_dir.join(p);
                Ok(path.exists().then_some(path))
            }
            Place::Newest { dir, suffix } => {
                let dir = data_dir.join(dir);
                let failed = |source| CorruptError {
                    path: dir.clone(),
                    source,
                };
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(failed(e)),
                };
                let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
                for entry in entries {
                    let entry = entry.map_err(failed)?;
                    if !entry.file_name().to_string_lossy().ends_with(suffix) {
                        continue;
                    }
                    let meta = entry.metadata().map_err(failed)?;
                    if !meta.is_file() {
                        continue;
                    }
                    let key = (meta.modified().map_err(failed)?, entry.path());
                    if newest.as_ref().map_or(true, |n| key > *n) {
                        newest = Some(key);
                    }
                }
                Ok(newest.map(|(_, p)| p))
            }
        }
    }
}

/// Finds the file named `name` among a target's `files`.
pub fn find<'a>(files: &'a [CorruptFile], name: &str) -> Option<&'a CorruptFile> {
    files.iter().find(|f| f.name == name)
}

/// A file could not be read, found or written back.
#[derive(Debug, thiserror::Error)]
#[error("cannot corrupt {}: {source}", path.display())]
pub struct CorruptError {
    /// The file (or the directory searched).
    pub path: PathBuf,
    /// What the operating system said.
    pub source: std::io::Error,
}

/// One corruption of a file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CorruptKind {
    /// Flip every bit of the file with this probability (Jepsen's `bitflip`).
    Bitflip(f64),
    /// Cut this many bytes off the end of the file (all of it if it is shorter).
    Truncate(u64),
}

impl CorruptKind {
    /// `bitflip` or `truncate`.
    pub fn name(self) -> &'static str {
        match self {
            CorruptKind::Bitflip(_) => "bitflip",
            CorruptKind::Truncate(_) => "truncate",
        }
    }
}

/// What `--corrupt` asks for: the kinds to draw from and, optionally, the one file to hit.
#[derive(Debug, Clone, PartialEq)]
pub struct CorruptSpec {
    /// The kinds given (each corruption draws one).
    pub kinds: Vec<CorruptKind>,
    /// The file to corrupt (a name the target declares); `None`: the target's first file.
    pub file: Option<String>,
}

impl Default for CorruptSpec {
    fn default() -> Self {
        CorruptSpec::parse(DEFAULT_CORRUPT).unwrap_or(CorruptSpec {
            kinds: vec![CorruptKind::Truncate(64)],
            file: None,
        })
    }
}

/// Why a `--corrupt` spec could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorruptSpecError {
    /// Not `key=value`, or an unknown key.
    #[error(
        "{0:?} is not a corruption setting; expected a comma-separated list of bitflip=P \
         (each bit flipped with probability P), truncate=BYTES (that many bytes cut off the \
         end) and file=NAME (one of the files the target names), e.g. truncate=64 or \
         bitflip=0.001,file=log.bin"
    )]
    Setting(String),
    /// A bad number.
    #[error("{key}={value}: expected {expected}")]
    Value {
        /// The key.
        key: &'static str,
        /// The text.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// Neither bitflip nor truncate.
    #[error("the corruption does nothing: give bitflip=P or truncate=BYTES (or both)")]
    Nothing,
}

impl CorruptSpec {
    /// Parses `bitflip=0.001,truncate=64,file=log.bin`.
    pub fn parse(text: &str) -> Result<CorruptSpec, CorruptSpecError> {
        let mut spec = CorruptSpec {
            kinds: Vec::new(),
            file: None,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| CorruptSpecError::Setting(part.to_string()))?;
            let (key, value) = (key.trim(), value.trim());
            match key {
                "bitflip" => {
                    let p: f64 = value.parse().map_err(|_| CorruptSpecError::Value {
                        key: "bitflip",
                        value: value.to_string(),
                        expected: "a probability per bit, above 0 and at most 1 (e.g. 0.001)",
                    })?;
                    if !(p > 0.0 && p <= 1.0) {
                        return Err(CorruptSpecError::Value {
                            key: "bitflip",
                            value: value.to_string(),
                            expected: "a probability per bit, above 0 and at most 1 (e.g. 0.001)",
                        });
                    }
                    spec.kinds.push(CorruptKind::Bitflip(p));
                }
                "truncate" => {
                    let n: u64 = value
                        .strip_suffix('B')
                        .unwrap_or(value)
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| CorruptSpecError::Value {
                            key: "truncate",
                            value: value.to_string(),
                            expected: "a number of bytes above 0 (e.g. 64)",
                        })?;
                    spec.kinds.push(CorruptKind::Truncate(n));
                }
                "file" if !value.is_empty() && !value.contains('/') => {
                    spec.file = Some(value.to_string());
                }
                "file" => return Err(CorruptSpecError::Value {
                    key: "file",
                    value: value.to_string(),
                    expected:
                        "a file name the target names (no directories), e.g. log.bin, aof or wal",
                }),
                _ => return Err(CorruptSpecError::Setting(part.to_string())),
            }
        }
        if spec.kinds.is_empty() {
            return Err(CorruptSpecError::Nothing);
        }
        Ok(spec)
    }

    /// One of the kinds, drawn.
    pub fn draw(&self, rng: &mut Rng) -> CorruptKind {
        match self.kinds.len() {
            0 => CorruptKind::Truncate(64),
            n => self.kinds[rng.below(n as u64) as usize],
        }
    }

    /// `truncate 64 B or bitflip p=0.001 on log.bin`, for logs.
    pub fn describe(&self) -> String {
        let kinds: Vec<String> = self.kinds.iter().map(|k| describe_kind(*k)).collect();
        match &self.file {
            Some(f) => format!("{} on {f}", kinds.join(" or ")),
            None => kinds.join(" or "),
        }
    }
}

/// `truncate 64 B`, `bitflip p=0.001`.
pub fn describe_kind(kind: CorruptKind) -> String {
    match kind {
        CorruptKind::Bitflip(p) => format!("bitflip p={p}"),
        CorruptKind::Truncate(n) => format!("truncate {n} B"),
    }
}

/// The history's settings of one corruption: `{"kind": "truncate", "bytes": 64}` or
/// `{"kind": "bitflip", "probability": 0.001}`.
pub fn kind_value(kind: CorruptKind) -> Value {
    match kind {
        CorruptKind::Bitflip(p) => json!({"kind": "bitflip", "probability": p}),
        CorruptKind::Truncate(n) => json!({"kind": "truncate", "bytes": n}),
    }
}

/// What a corruption did to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupted {
    /// The file's size before.
    pub size: u64,
    /// Of a preallocated file ([`Extent::Written`]): how many bytes of it were written, up
    /// to its last non-zero byte; `None` for [`Extent::Whole`].
    pub written: Option<u64>,
    /// Bytes cut off its end (truncate).
    pub cut: u64,
    /// Bits flipped (bitflip).
    pub flipped: u64,
    /// The offsets of the first few flipped bytes.
    pub offsets: Vec<u64>,
}

impl Corrupted {
    /// The history's record of it: `{"size": 5234, "cut": 64}` / `{"size", "flipped",
    /// "offsets"}`, with `"written"` for a preallocated file; a missing file: `{"size": 0,
    /// "missing": true}`.
    pub fn value(&self, kind: CorruptKind) -> Value {
        let mut v = match kind {
            CorruptKind::Truncate(_) => json!({"size": self.size, "cut": self.cut}),
            CorruptKind::Bitflip(_) => {
                json!({"size": self.size, "flipped": self.flipped, "offsets": self.offsets})
            }
        };
        if let Some(w) = self.written {
            v["written"] = json!(w);
        }
        v
    }
}

/// Finds `file` in the node's `data_dir` and corrupts it as `kind` says (flips drawn from
/// `seed`); returns the history's record: what [`Corrupted::value`] says plus `"path"`, the
/// file hit relative to the data directory (`member/wal/0000000000000000-0000000000000000.wal`).
/// A file the node never wrote is left alone: `{"size": 0, "missing": true}`.
pub fn corrupt_in(
    data_dir: &Path,
    file: &CorruptFile,
    kind: CorruptKind,
    seed: u64,
) -> Result<Value, CorruptError> {
    let missing = json!({"size": 0, "missing": true});
    let Some(path) = file.locate(data_dir)? else {
        return Ok(missing);
    };
    let failed = |source| CorruptError {
        path: path.clone(),
        source,
    };
    match corrupt_file(&path, file.extent, kind, seed).map_err(failed)? {
        Some(done) => {
            let mut v = done.value(kind);
            let shown = path.strip_prefix(data_dir).unwrap_or(&path);
            v["path"] = json!(shown.to_string_lossy());
            Ok(v)
        }
        None => Ok(missing),
    }
}

/// Corrupts the bytes of `path` that `extent` says as `kind` says, drawing flips from a
/// generator seeded with `seed`, and syncs the file. A file that does not exist (the node
/// never wrote it) is left alone: `Ok(None)`.
pub fn corrupt_file(
    path: &Path,
    extent: Extent,
    kind: CorruptKind,
    seed: u64,
) -> Result<Option<Corrupted>, std::io::Error> {
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let size = bytes.len() as u64;
    let end = match extent {
        Extent::Whole => bytes.len(),
        Extent::Written => bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1),
    };
    let mut done = Corrupted {
        size,
        written: (extent == Extent::Written).then_some(end as u64),
        cut: 0,
        flipped: 0,
        offsets: Vec::new(),
    };
    match kind {
        CorruptKind::Truncate(n) => {
            done.cut = n.min(end as u64);
            file.set_len(end as u64 - done.cut)?;
            file.sync_all()?;
        }
        CorruptKind::Bitflip(p) => {
            let mut rng = Rng::new(seed);
            for (i, byte) in bytes[..end].iter_mut().enumerate() {
                let mut mask = 0u8;
                for bit in 0..8 {
                    if unit(&mut rng) < p {
                        mask |= 1 << bit;
                    }
                }
                if mask != 0 {
                    *byte ^= mask;
                    done.flipped += u64::from(mask.count_ones());
                    if done.offsets.len() < 8 {
                        done.offsets.push(i as u64);
                    }
                }
            }
            // Written back in place: the file keeps its length (and a preallocated file its
            // zero tail).
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&bytes[..end])?;
            file.sync_all()?;
        }
    }
    Ok(Some(done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_specs_parse_and_refuse_nonsense() {
        let s = CorruptSpec::parse("bitflip=0.01,truncate=64,file=log.bin").unwrap();
        assert_eq!(
            s.kinds,
            vec![CorruptKind::Bitflip(0.01), CorruptKind::Truncate(64)]
        );
        assert_eq!(s.file.as_deref(), Some("log.bin"));
        assert_eq!(
            CorruptSpec::parse("file=log.bin"),
            Err(CorruptSpecError::Nothing)
        );
        assert!(CorruptSpec::parse("bitflip=0").is_err());
        assert!(CorruptSpec::parse("truncate=-3").is_err());
        assert!(CorruptSpec::parse("file=../etc/passwd,truncate=1").is_err());
        assert!(CorruptSpec::parse("shred=1").is_err());
        assert_eq!(
            CorruptSpec::default().kinds,
            vec![CorruptKind::Truncate(64)]
        );
    }

    #[test]
    fn truncate_cuts_the_end_and_bitflip_flips_bits_of_a_real_file() {
        let dir = std::env::temp_dir().join(format!("faultline-corrupt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.bin");
        std::fs::write(&path, vec![0u8; 1000]).unwrap();
        let t = corrupt_file(&path, Extent::Whole, CorruptKind::Truncate(64), 1)
            .unwrap()
            .unwrap();
        assert_eq!((t.size, t.cut), (1000, 64));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 936);
        let b = corrupt_file(&path, Extent::Whole, CorruptKind::Bitflip(0.01), 7)
            .unwrap()
            .unwrap();
        let ones: u64 = std::fs::read(&path)
            .unwrap()
            .iter()
            .map(|b| u64::from(b.count_ones()))
            .sum();
        assert!(b.flipped > 0 && ones == b.flipped, "{b:?}, {ones} bits set");
        assert_eq!(
            corrupt_file(
                &dir.join("absent"),
                Extent::Whole,
                CorruptKind::Truncate(1),
                1
            )
            .unwrap(),
            None
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_preallocated_file_is_corrupted_in_what_was_written_and_the_newest_segment_is_found() {
        let dir = std::env::temp_dir().join(format!("faultline-prealloc-{}", std::process::id()));
        let wal = dir.join("member/wal");
        std::fs::create_dir_all(&wal).unwrap();
        let mut data = vec![7u8; 300];
        data.resize(4096, 0);
        std::fs::write(wal.join("0000-0000.wal"), [1u8; 10]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(wal.join("0000-0001.wal"), &data).unwrap();
        std::fs::write(wal.join("0.tmp"), [9u8; 10]).unwrap();
        let file = CorruptFile::newest("wal", "member/wal", ".wal").preallocated();
        let found = file.locate(&dir).unwrap().unwrap();
        assert!(found.ends_with("0000-0001.wal"), "{found:?}");
        let v = corrupt_in(&dir, &file, CorruptKind::Truncate(100), 1).unwrap();
        assert_eq!(v["size"], 4096);
        assert_eq!(v["written"], 300);
        assert_eq!(v["cut"], 100);
        assert_eq!(v["path"], "member/wal/0000-0001.wal");
        assert_eq!(std::fs::read(&found).unwrap(), vec![7u8; 200]);
        // Bit flips land in what was written; the zero tail stays zero.
        std::fs::write(&found, &data).unwrap();
        let v = corrupt_in(&dir, &file, CorruptKind::Bitflip(0.5), 3).unwrap();
        let after = std::fs::read(&found).unwrap();
        assert_eq!(after.len(), 4096);
        assert!(after[300..].iter().all(|&b| b == 0));
        assert!(v["flipped"].as_u64().unwrap() > 0);
        let db = CorruptFile::at("db", "member/snap/db");
        assert_eq!(
            corrupt_in(&dir, &db, CorruptKind::Truncate(1), 1).unwrap()["missing"],
            true
        );
        assert_eq!(find(&[db, file], "wal"), Some(&file));
        assert_eq!(file.describe(), "wal (newest member/wal/*.wal)");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
