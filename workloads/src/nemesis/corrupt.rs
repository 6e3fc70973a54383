//! File corruption (`--nemesis corrupt`, shaped by `--corrupt`): Jepsen's file nemesis. A
//! node is killed, one of the files its target names as mattering is corrupted on disk —
//! bits flipped or its end truncated — and the node is restarted on the damaged file.
//!
//! Part of the "run" step. This module says *what* a corruption does and does it to a file
//! ([`corrupt_file`]); a target names its files (`NemesisSupport::corrupt_files`, the first is
//! the default) and kills and restarts the node around it (`Primitives::corrupt`). A target
//! that names no files refuses the fault before the run (exit 254). See `docs/nemesis.md`.

use std::path::Path;

use checkers::Rng;
use serde_json::{json, Value};

use super::packet::unit;

/// What `--nemesis corrupt` does without `--corrupt`.
pub const DEFAULT_CORRUPT: &str = "truncate=64";

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
                "file" => {
                    return Err(CorruptSpecError::Value {
                        key: "file",
                        value: value.to_string(),
                        expected: "a file name the target names (no directories), e.g. log.bin",
                    })
                }
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
    /// Bytes cut off its end (truncate).
    pub cut: u64,
    /// Bits flipped (bitflip).
    pub flipped: u64,
    /// The offsets of the first few flipped bytes.
    pub offsets: Vec<u64>,
}

impl Corrupted {
    /// The history's record of it: `{"size": 5234, "cut": 64}` / `{"size", "flipped",
    /// "offsets"}`; a missing file: `{"size": 0, "missing": true}`.
    pub fn value(&self, kind: CorruptKind) -> Value {
        match kind {
            CorruptKind::Truncate(_) => json!({"size": self.size, "cut": self.cut}),
            CorruptKind::Bitflip(_) => {
                json!({"size": self.size, "flipped": self.flipped, "offsets": self.offsets})
            }
        }
    }
}

/// Corrupts `path` as `kind` says, drawing flips from a generator seeded with `seed`. A file
/// that does not exist (the node never wrote it) is left alone: `Ok(None)`.
pub fn corrupt_file(
    path: &Path,
    kind: CorruptKind,
    seed: u64,
) -> Result<Option<Corrupted>, std::io::Error> {
    let mut bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let size = bytes.len() as u64;
    let mut done = Corrupted {
        size,
        cut: 0,
        flipped: 0,
        offsets: Vec::new(),
    };
    match kind {
        CorruptKind::Truncate(n) => {
            done.cut = n.min(size);
            let file = std::fs::OpenOptions::new().write(true).open(path)?;
            file.set_len(size - done.cut)?;
            file.sync_all()?;
        }
        CorruptKind::Bitflip(p) => {
            let mut rng = Rng::new(seed);
            for (i, byte) in bytes.iter_mut().enumerate() {
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
            std::fs::write(path, &bytes)?;
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
        let t = corrupt_file(&path, CorruptKind::Truncate(64), 1)
            .unwrap()
            .unwrap();
        assert_eq!((t.size, t.cut), (1000, 64));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 936);
        let b = corrupt_file(&path, CorruptKind::Bitflip(0.01), 7)
            .unwrap()
            .unwrap();
        let ones: u64 = std::fs::read(&path)
            .unwrap()
            .iter()
            .map(|b| u64::from(b.count_ones()))
            .sum();
        assert!(b.flipped > 0 && ones == b.flipped, "{b:?}, {ones} bits set");
        assert_eq!(
            corrupt_file(&dir.join("absent"), CorruptKind::Truncate(1), 1).unwrap(),
            None
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
