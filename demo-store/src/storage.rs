//! Durable state of a sync-mode replica: current term, vote and the log, in `data_dir`.
//!
//! Run side only. With `--fsync never` (the default) a completed `write()` counts as durable:
//! the page cache survives a SIGKILL of the process, but not a power cut, nor faultline's
//! `lose-unfsynced` fault, which drops everything not fsynced. With `--fsync always` every
//! change is fsynced before the node acts on it (log: `fdatasync` after the append or
//! truncation; `meta.json`: `fsync` of the temporary file, the rename, `fsync` of the
//! directory). A `meta.json` that exists but is empty (created, never synced, then lost) reads
//! as a fresh start: term 0, no vote. Files:
//! - `meta.json`: `{"term": t, "vote": id|null}`, replaced atomically (write a temporary file,
//!   then rename);
//! - `log.bin`: one record per entry, a 4-byte little-endian length then the entry as JSON.
//!   Appends are one `write()` per batch; truncation cuts the file at the entry's offset. A torn
//!   record at the end (killed mid-write, never acknowledged) is cut off on recovery.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::msg::Entry;
use crate::Fsync;

/// The log file and where each entry starts in it.
pub struct Storage {
    dir: PathBuf,
    log: File,
    /// `offsets[i]` is the file offset of entry `i + 1`; the last element is the file's end.
    offsets: Vec<u64>,
    /// Whether every change is fsynced before returning.
    fsync: Fsync,
}

/// What [`Storage::open`] recovered.
pub struct Recovered {
    /// The persisted term (0 on a fresh start).
    pub term: u64,
    /// The persisted vote in that term.
    pub vote: Option<usize>,
    /// The persisted log, entry 1 first.
    pub entries: Vec<Entry>,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

impl Storage {
    /// Opens (or creates) the files in `dir` and recovers what they hold.
    pub fn open(dir: &Path, fsync: Fsync) -> Result<(Storage, Recovered), String> {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let meta_path = dir.join("meta.json");
        let (term, vote) = match fs::read(&meta_path) {
            Ok(bytes) if bytes.is_empty() => {
                eprintln!(
                    "{}: empty (its contents were never synced): term 0, no vote",
                    meta_path.display()
                );
                (0, None)
            }
            Ok(bytes) => {
                let v: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| io_err(&meta_path, e))?;
                let term = v["term"].as_u64().unwrap_or(0);
                let vote = v["vote"].as_u64().map(|x| x as usize);
                (term, vote)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (0, None),
            Err(e) => return Err(io_err(&meta_path, e)),
        };
        let log_path = dir.join("log.bin");
        let mut log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(|e| io_err(&log_path, e))?;
        let mut bytes = Vec::new();
        log.read_to_end(&mut bytes)
            .map_err(|e| io_err(&log_path, e))?;
        let mut entries = Vec::new();
        let mut offsets = vec![0u64];
        let mut pos = 0usize;
        while pos + 4 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            let Some(record) = bytes.get(pos + 4..pos + 4 + len) else {
                break;
            };
            let Ok(entry) = serde_json::from_slice::<Entry>(record) else {
                break;
            };
            entries.push(entry);
            pos += 4 + len;
            offsets.push(pos as u64);
        }
        if pos != bytes.len() {
            eprintln!(
                "{}: cutting a torn record at byte {pos} of {}",
                log_path.display(),
                bytes.len()
            );
            log.set_len(pos as u64).map_err(|e| io_err(&log_path, e))?;
        }
        log.seek(SeekFrom::Start(pos as u64))
            .map_err(|e| io_err(&log_path, e))?;
        let storage = Storage {
            dir: dir.to_path_buf(),
            log,
            offsets,
            fsync,
        };
        Ok((
            storage,
            Recovered {
                term,
                vote,
                entries,
            },
        ))
    }

    /// Persists the current term and vote.
    pub fn save_meta(&self, term: u64, vote: Option<usize>) -> Result<(), String> {
        let tmp = self.dir.join("meta.json.tmp");
        let body = json!({"term": term, "vote": vote}).to_string();
        let mut file = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        file.write_all(body.as_bytes())
            .map_err(|e| io_err(&tmp, e))?;
        if self.fsync == Fsync::Always {
            file.sync_all().map_err(|e| io_err(&tmp, e))?;
        }
        drop(file);
        fs::rename(&tmp, self.dir.join("meta.json")).map_err(|e| io_err(&tmp, e))?;
        if self.fsync == Fsync::Always {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_err(&self.dir, e))?;
        }
        Ok(())
    }

    /// Fsyncs the log's data when `--fsync always`.
    fn sync_log(&self) -> Result<(), String> {
        if self.fsync == Fsync::Always {
            self.log
                .sync_data()
                .map_err(|e| io_err(&self.dir.join("log.bin"), e))?;
        }
        Ok(())
    }

    /// Appends entries (the next indexes after the last stored one) in one write.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), String> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        let mut end = *self.offsets.last().expect("offsets start with 0");
        let mut new_offsets = Vec::with_capacity(entries.len());
        for entry in entries {
            let start = buf.len();
            buf.extend_from_slice(&[0; 4]);
            serde_json::to_writer(&mut buf, entry).map_err(|e| e.to_string())?;
            let len = (buf.len() - start - 4) as u32;
            buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
            end += (buf.len() - start) as u64;
            new_offsets.push(end);
        }
        self.log
            .write_all(&buf)
            .map_err(|e| io_err(&self.dir.join("log.bin"), e))?;
        self.sync_log()?;
        self.offsets.extend(new_offsets);
        Ok(())
    }

    /// Removes entries `index` and later.
    pub fn truncate(&mut self, index: u64) -> Result<(), String> {
        let keep = (index as usize).saturating_sub(1);
        if keep + 1 >= self.offsets.len() {
            return Ok(());
        }
        self.offsets.truncate(keep + 1);
        let end = self.offsets[keep];
        let path = self.dir.join("log.bin");
        self.log.set_len(end).map_err(|e| io_err(&path, e))?;
        self.log
            .seek(SeekFrom::Start(end))
            .map_err(|e| io_err(&path, e))?;
        self.sync_log()
    }
}
