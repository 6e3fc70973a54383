//! `lose-unfsynced`: a FUSE filesystem of faultline's own that forgets what was never synced
//! (the LazyFS idea), mounted over a node's data directory.
//!
//! Part of the "run" step of run → check → report. [`LazyMount::mount`] mounts a passthrough
//! filesystem at a node's data directory (the mount point) over a backing directory next to
//! it. The filesystem runs in faultline's own process, on a thread of [`fuser`]'s background
//! session: no second program to find, ship or reap, and a node's requests are answered as
//! long as faultline lives (the node dies with faultline anyway, `PR_SET_PDEATHSIG`).
//!
//! What it covers:
//! - **file contents and sizes**: `write` and truncation (`setattr` size, `open` with
//!   `O_TRUNC`) change an in-memory copy of the file only; `fsync`/`fdatasync` on the file writes
//!   the changed range and the size to the backing file and `fdatasync`s it. Reads see the
//!   in-memory copy (every open is `direct_io`, so the kernel's page cache never holds a copy
//!   that could survive a loss).
//! - **namespace operations** (create, mkdir, unlink, rmdir, rename) go straight to the backing
//!   directory: they behave as if every directory were synced at once. So a file created and
//!   written but never synced exists empty after a loss, and a renamed file keeps its new name
//!   but loses its unsynced contents. Hard links, symlinks and extended attributes are not
//!   offered (`ENOSYS`).
//!
//! [`LazyMount::lose_unfsynced`] drops every unsynced change (the node is killed first, so
//! nothing is in flight: a process blocked in a FUSE request cannot exit before the request
//! is answered). Unmounting: dropping the [`LazyMount`] (end of the run, error, Ctrl-C); after
//! a SIGKILL of faultline the mount is left behind, dead, and `faultline heal` finds it in
//! `/proc/self/mountinfo` by its file-system name [`FS_NAME`] ([`leftover_mounts`]) and
//! detaches it ([`unmount`]).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    FileAttr, FileType, Filesystem, MountOption, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow,
};

/// The file-system name (the `source` field of `/proc/self/mountinfo`) and subtype
/// (`fuse.faultline-lazyfs`) of every mount faultline makes, so `faultline heal` finds them.
pub const FS_NAME: &str = "faultline-lazyfs";

/// Attributes and entries are never cached by the kernel: what a loss removes must vanish.
const TTL: Duration = Duration::ZERO;

/// Why a mount could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LazyFsError {
    /// `/dev/fuse` is missing or cannot be opened.
    #[error(
        "lose-unfsynced needs FUSE: /dev/fuse is missing (load the fuse module; in a container, \
         pass --device /dev/fuse)"
    )]
    NoDevFuse,
    /// The backing or mount directory could not be made.
    #[error("cannot prepare {path} for the FUSE mount: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The mount itself failed (no permission, no fusermount3, …).
    #[error(
        "cannot mount faultline's FUSE filesystem at {path}: {source} (it needs /dev/fuse and \
         root, or fusermount3 from Debian's fuse3 package)"
    )]
    Mount {
        /// The mount point.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// Whether this machine can mount faultline's FUSE filesystem: `/dev/fuse` exists and, when
/// not root, `fusermount3` is on the PATH. The refusal says what is missing.
pub fn check_available() -> Result<(), LazyFsError> {
    if !Path::new("/dev/fuse").exists() {
        return Err(LazyFsError::NoDevFuse);
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root && !on_path("fusermount3") {
        return Err(LazyFsError::Mount {
            path: PathBuf::from("/dev/fuse"),
            source: io::Error::new(io::ErrorKind::NotFound, "fusermount3 is not on the PATH"),
        });
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// What one [`LazyMount::lose_unfsynced`] dropped: per file (relative to the mount), how many
/// bytes of the file were unsynced: from the first unsynced change to the file's end, at least
/// 1 (a truncation alone, which leaves nothing after its cut, counts 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lost(pub BTreeMap<String, u64>);

impl Lost {
    /// `log.bin 1234 B, meta.json 30 B` or `nothing unsynced`.
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "nothing unsynced".into();
        }
        self.0
            .iter()
            .map(|(f, b)| format!("{f} {b} B"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The history's form: `{"log.bin": 1234, …}`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(f, &b)| (f.clone(), serde_json::Value::from(b)))
                .collect(),
        )
    }
}

/// The mounts of one run's nodes (node index from 0), shared by the launcher, which unmounts
/// them when it stops the servers, and the fault primitives, which make them lose.
#[derive(Clone, Default)]
pub struct LazyMounts(Arc<Mutex<Vec<LazyMount>>>);

impl LazyMounts {
    /// Shares `mounts`.
    pub fn new(mounts: Vec<LazyMount>) -> LazyMounts {
        LazyMounts(Arc::new(Mutex::new(mounts)))
    }

    /// Drops what node `node`'s mount had not synced (`None`: no such mount, or unmounted).
    pub fn lose(&self, node: usize) -> Option<Lost> {
        let mounts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        mounts.get(node).map(LazyMount::lose_unfsynced)
    }

    /// Unmounts every mount (once the processes using them are dead).
    pub fn unmount_all(&self) {
        let taken = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        drop(taken);
    }
}

/// A mounted lazy filesystem; dropping it unmounts (lazily: `MNT_DETACH`).
pub struct LazyMount {
    state: Arc<Mutex<State>>,
    mountpoint: PathBuf,
    session: Option<fuser::BackgroundSession>,
}

impl LazyMount {
    /// Mounts the lazy filesystem at `mountpoint` (created if missing) over `backing` (created
    /// if missing; it keeps the synced state).
    pub fn mount(mountpoint: &Path, backing: &Path) -> Result<LazyMount, LazyFsError> {
        check_available()?;
        for dir in [mountpoint, backing] {
            fs::create_dir_all(dir).map_err(|source| LazyFsError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let backing = fs::canonicalize(backing).map_err(|source| LazyFsError::Dir {
            path: backing.to_path_buf(),
            source,
        })?;
        let state = Arc::new(Mutex::new(State::new(backing)));
        let fs = LazyFs {
            state: state.clone(),
        };
        let options = [
            MountOption::FSName(FS_NAME.into()),
            MountOption::Subtype(FS_NAME.into()),
            MountOption::NoDev,
            MountOption::NoSuid,
        ];
        let session =
            fuser::spawn_mount2(fs, mountpoint, &options).map_err(|source| LazyFsError::Mount {
                path: mountpoint.to_path_buf(),
                source,
            })?;
        Ok(LazyMount {
            state,
            mountpoint: mountpoint.to_path_buf(),
            session: Some(session),
        })
    }

    /// The mount point.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Drops every change not yet synced (files revert to their backing copy); says what was
    /// dropped.
    pub fn lose_unfsynced(&self) -> Lost {
        lock(&self.state).lose()
    }

    /// Bytes not yet synced, over every file.
    pub fn unsynced_bytes(&self) -> u64 {
        lock(&self.state)
            .files
            .values()
            .filter_map(|c| {
                c.dirty_from
                    .map(|d| c.data.len() as u64 - d.min(c.data.len() as u64))
            })
            .sum()
    }
}

impl Drop for LazyMount {
    fn drop(&mut self) {
        // Dropping the session unmounts (umount2 MNT_DETACH as root, else fusermount3 -u -z);
        // the session's thread then ends.
        drop(self.session.take());
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A file's contents in memory since its first write or truncation.
struct Cached {
    /// The file's current contents.
    data: Vec<u8>,
    /// The first byte changed since the last sync (`None`: in step with the backing file).
    dirty_from: Option<u64>,
}

/// The filesystem's state, shared with [`LazyMount`].
struct State {
    backing: PathBuf,
    /// Inode → path relative to the backing directory (the root is inode 1, path "").
    paths: HashMap<u64, PathBuf>,
    inodes: HashMap<PathBuf, u64>,
    next: u64,
    /// Files changed in memory.
    files: HashMap<u64, Cached>,
}

impl State {
    fn new(backing: PathBuf) -> State {
        let mut s = State {
            backing,
            paths: HashMap::new(),
            inodes: HashMap::new(),
            next: 2,
            files: HashMap::new(),
        };
        s.paths.insert(fuser::FUSE_ROOT_ID, PathBuf::new());
        s.inodes.insert(PathBuf::new(), fuser::FUSE_ROOT_ID);
        s
    }

    fn lose(&mut self) -> Lost {
        let mut lost = Lost::default();
        let dirty: Vec<u64> = self
            .files
            .iter()
            .filter(|(_, c)| c.dirty_from.is_some())
            .map(|(&i, _)| i)
            .collect();
        for ino in dirty {
            if let Some(c) = self.files.remove(&ino) {
                let from = c.dirty_from.unwrap_or(0).min(c.data.len() as u64);
                let name = self
                    .paths
                    .get(&ino)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| format!("(unlinked inode {ino})"));
                lost.0.insert(name, (c.data.len() as u64 - from).max(1));
            }
        }
        lost
    }

    fn rel(&self, ino: u64) -> Result<&PathBuf, i32> {
        self.paths.get(&ino).ok_or(libc::ENOENT)
    }

    fn real(&self, ino: u64) -> Result<PathBuf, i32> {
        Ok(self.backing.join(self.rel(ino)?))
    }

    fn child(&self, parent: u64, name: &OsStr) -> Result<PathBuf, i32> {
        Ok(self.rel(parent)?.join(name))
    }

    fn ino_of(&mut self, rel: &Path) -> u64 {
        if let Some(&i) = self.inodes.get(rel) {
            return i;
        }
        let i = self.next;
        self.next += 1;
        self.paths.insert(i, rel.to_path_buf());
        self.inodes.insert(rel.to_path_buf(), i);
        i
    }

    fn forget_path(&mut self, rel: &Path) {
        if let Some(i) = self.inodes.remove(rel) {
            self.paths.remove(&i);
        }
    }

    fn attr(&self, ino: u64) -> Result<FileAttr, i32> {
        let meta = fs::symlink_metadata(self.real(ino)?).map_err(errno)?;
        let mut attr = to_attr(ino, &meta);
        if let Some(c) = self.files.get(&ino) {
            attr.size = c.data.len() as u64;
            attr.blocks = attr.size.div_ceil(512);
        }
        Ok(attr)
    }

    /// The file's cached copy, loaded from the backing file on first use.
    fn cached(&mut self, ino: u64) -> Result<&mut Cached, i32> {
        if !self.files.contains_key(&ino) {
            let data = fs::read(self.real(ino)?).map_err(errno)?;
            self.files.insert(
                ino,
                Cached {
                    data,
                    dirty_from: None,
                },
            );
        }
        self.files.get_mut(&ino).ok_or(libc::EIO)
    }

    fn truncate(&mut self, ino: u64, size: u64) -> Result<(), i32> {
        let c = self.cached(ino)?;
        c.data.resize(size as usize, 0);
        c.dirty_from = Some(c.dirty_from.map_or(size, |d| d.min(size)));
        Ok(())
    }

    fn sync(&mut self, ino: u64) -> Result<(), i32> {
        let real = self.real(ino);
        let Some(c) = self.files.get_mut(&ino) else {
            return Ok(());
        };
        let Some(from) = c.dirty_from else {
            return Ok(());
        };
        let Ok(real) = real else {
            // Unlinked: nothing to keep.
            c.dirty_from = None;
            return Ok(());
        };
        let file = OpenOptions::new().write(true).open(real).map_err(errno)?;
        let from = from.min(c.data.len() as u64);
        file.set_len(c.data.len() as u64).map_err(errno)?;
        file.write_all_at(&c.data[from as usize..], from)
            .map_err(errno)?;
        file.sync_data().map_err(errno)?;
        c.dirty_from = None;
        Ok(())
    }
}

fn errno(e: io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn time(secs: i64, nanos: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos as u32)
    } else {
        UNIX_EPOCH
    }
}

fn kind(meta: &fs::Metadata) -> FileType {
    let t = meta.file_type();
    if t.is_dir() {
        FileType::Directory
    } else if t.is_symlink() {
        FileType::Symlink
    } else {
        FileType::RegularFile
    }
}

fn to_attr(ino: u64, meta: &fs::Metadata) -> FileAttr {
    FileAttr {
        ino,
        size: meta.size(),
        blocks: meta.blocks(),
        atime: time(meta.atime(), meta.atime_nsec()),
        mtime: time(meta.mtime(), meta.mtime_nsec()),
        ctime: time(meta.ctime(), meta.ctime_nsec()),
        crtime: time(meta.ctime(), meta.ctime_nsec()),
        kind: kind(meta),
        perm: (meta.mode() & 0o7777) as u16,
        nlink: meta.nlink() as u32,
        uid: meta.uid(),
        gid: meta.gid(),
        rdev: meta.rdev() as u32,
        blksize: 4096,
        flags: 0,
    }
}

/// The [`fuser::Filesystem`] over the shared [`State`].
struct LazyFs {
    state: Arc<Mutex<State>>,
}

impl LazyFs {
    fn st(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn entry_of(&self, rel: &Path, reply: ReplyEntry) {
        let mut st = self.st();
        let ino = st.ino_of(rel);
        match st.attr(ino) {
            Ok(attr) => reply.entry(&TTL, &attr, 0),
            Err(e) => {
                st.forget_path(rel);
                reply.error(e)
            }
        }
    }
}

impl Filesystem for LazyFs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let rel = match self.st().child(parent, name) {
            Ok(r) => r,
            Err(e) => return reply.error(e),
        };
        self.entry_of(&rel, reply);
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        match self.st().attr(ino) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let mut st = self.st();
        let done = (|| {
            if let Some(mode) = mode {
                fs::set_permissions(st.real(ino)?, fs::Permissions::from_mode(mode))
                    .map_err(errno)?;
            }
            if let Some(size) = size {
                st.truncate(ino, size)?;
            }
            st.attr(ino)
        })();
        match done {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let rel = {
            let st = self.st();
            let rel = match st.child(parent, name) {
                Ok(r) => r,
                Err(e) => return reply.error(e),
            };
            let real = st.backing.join(&rel);
            if let Err(e) = fs::create_dir(&real) {
                return reply.error(errno(e));
            }
            let _ = fs::set_permissions(&real, fs::Permissions::from_mode(mode & !umask));
            rel
        };
        self.entry_of(&rel, reply);
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.st();
        let rel = match st.child(parent, name) {
            Ok(r) => r,
            Err(e) => return reply.error(e),
        };
        match fs::remove_file(st.backing.join(&rel)) {
            Ok(()) => {
                st.forget_path(&rel);
                reply.ok()
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.st();
        let rel = match st.child(parent, name) {
            Ok(r) => r,
            Err(e) => return reply.error(e),
        };
        match fs::remove_dir(st.backing.join(&rel)) {
            Ok(()) => {
                st.forget_path(&rel);
                reply.ok()
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        if flags != 0 {
            return reply.error(libc::EINVAL);
        }
        let mut st = self.st();
        let (from, to) = match (st.child(parent, name), st.child(newparent, newname)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return reply.error(e),
        };
        if let Err(e) = fs::rename(st.backing.join(&from), st.backing.join(&to)) {
            return reply.error(errno(e));
        }
        // The replaced file's inode is gone; the moved one (and anything under it) takes the
        // new path.
        if let Some(old) = st.inodes.remove(&to) {
            st.paths.remove(&old);
            st.files.remove(&old);
        }
        let moved: Vec<(PathBuf, u64)> = st
            .inodes
            .iter()
            .filter(|(p, _)| p.starts_with(&from))
            .map(|(p, &i)| (p.clone(), i))
            .collect();
        for (p, i) in moved {
            let rest = p
                .strip_prefix(&from)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let new = if rest.as_os_str().is_empty() {
                to.clone()
            } else {
                to.join(rest)
            };
            st.inodes.remove(&p);
            st.inodes.insert(new.clone(), i);
            st.paths.insert(i, new);
        }
        reply.ok()
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let mut st = self.st();
        if flags & libc::O_TRUNC != 0 {
            if let Err(e) = st.truncate(ino, 0) {
                return reply.error(e);
            }
        } else if let Err(e) = st.real(ino).and_then(|p| fs::metadata(p).map_err(errno)) {
            return reply.error(e);
        }
        reply.opened(0, fuser::consts::FOPEN_DIRECT_IO)
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut st = self.st();
        let rel = match st.child(parent, name) {
            Ok(r) => r,
            Err(e) => return reply.error(e),
        };
        let mut open = OpenOptions::new();
        open.write(true).create(true).mode(mode & !umask);
        if flags & libc::O_EXCL != 0 {
            open.create_new(true);
        }
        if let Err(e) = open.open(st.backing.join(&rel)) {
            return reply.error(errno(e));
        }
        let ino = st.ino_of(&rel);
        if flags & libc::O_TRUNC != 0 {
            if let Err(e) = st.truncate(ino, 0) {
                return reply.error(e);
            }
        }
        match st.attr(ino) {
            Ok(a) => reply.created(&TTL, &a, 0, 0, fuser::consts::FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock: Option<u64>,
        reply: ReplyData,
    ) {
        let st = self.st();
        let offset = offset.max(0) as u64;
        if let Some(c) = st.files.get(&ino) {
            let start = (offset as usize).min(c.data.len());
            let end = (start + size as usize).min(c.data.len());
            return reply.data(&c.data[start..end]);
        }
        let read = st.real(ino).and_then(|p| {
            let f = File::open(p).map_err(errno)?;
            let mut buf = vec![0; size as usize];
            let mut got = 0;
            while got < buf.len() {
                match f.read_at(&mut buf[got..], offset + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(errno(e)),
                }
            }
            buf.truncate(got);
            Ok(buf)
        });
        match read {
            Ok(b) => reply.data(&b),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock: Option<u64>,
        reply: ReplyWrite,
    ) {
        let mut st = self.st();
        let offset = offset.max(0) as usize;
        match st.cached(ino) {
            Ok(c) => {
                let end = offset + data.len();
                if c.data.len() < end {
                    c.data.resize(end, 0);
                }
                c.data[offset..end].copy_from_slice(data);
                let from = offset as u64;
                c.dirty_from = Some(c.dirty_from.map_or(from, |d| d.min(from)));
                reply.written(data.len() as u32)
            }
            Err(e) => reply.error(e),
        }
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lock: u64, reply: ReplyEmpty) {
        reply.ok()
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _fh: u64,
        _flags: i32,
        _lock: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok()
    }

    fn fsync(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.st().sync(ino) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&mut self, _req: &Request<'_>, _ino: u64, _flags: i32, reply: ReplyOpen) {
        reply.opened(0, 0)
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let mut st = self.st();
        let Ok(rel) = st.rel(ino).cloned() else {
            return reply.error(libc::ENOENT);
        };
        let read = match fs::read_dir(st.backing.join(&rel)) {
            Ok(r) => r,
            Err(e) => return reply.error(errno(e)),
        };
        let mut entries: Vec<(u64, FileType, std::ffi::OsString)> = vec![
            (ino, FileType::Directory, ".".into()),
            (fuser::FUSE_ROOT_ID, FileType::Directory, "..".into()),
        ];
        let mut names: Vec<(std::ffi::OsString, FileType)> = read
            .flatten()
            .map(|e| {
                let k = match e.file_type() {
                    Ok(t) if t.is_dir() => FileType::Directory,
                    Ok(t) if t.is_symlink() => FileType::Symlink,
                    _ => FileType::RegularFile,
                };
                (e.file_name(), k)
            })
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, k) in names {
            let i = st.ino_of(&rel.join(&name));
            entries.push((i, k, name));
        }
        for (k, (i, t, name)) in entries.into_iter().enumerate().skip(offset.max(0) as usize) {
            if reply.add(i, (k + 1) as i64, t, &name) {
                break;
            }
        }
        reply.ok()
    }

    fn releasedir(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _fh: u64,
        _flags: i32,
        reply: ReplyEmpty,
    ) {
        reply.ok()
    }

    fn fsyncdir(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _fh: u64,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Namespace operations are durable at once (module docs).
        reply.ok()
    }
}

/// A faultline FUSE mount left behind (faultline killed before it could unmount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// Its mount point.
    pub mountpoint: PathBuf,
}

/// Every mount of faultline's FUSE filesystem in this mount namespace (from
/// `/proc/self/mountinfo`, by its source [`FS_NAME`] or type `fuse.faultline-lazyfs`).
pub fn leftover_mounts() -> io::Result<Vec<Leftover>> {
    let text = fs::read_to_string("/proc/self/mountinfo")?;
    Ok(parse_mountinfo(&text))
}

/// The faultline mounts in a `mountinfo` text.
fn parse_mountinfo(text: &str) -> Vec<Leftover> {
    let mut out = Vec::new();
    for line in text.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        let (fstype, source) = (r.next().unwrap_or(""), r.next().unwrap_or(""));
        let ours = source == FS_NAME || fstype == format!("fuse.{FS_NAME}");
        let Some(mp) = left.split(' ').nth(4) else {
            continue;
        };
        if ours {
            out.push(Leftover {
                mountpoint: PathBuf::from(unescape(mp)),
            });
        }
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut k = 0;
    while k < b.len() {
        if b[k] == b'\\' && k + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[k + 1..k + 4], 8) {
                out.push(v);
                k += 4;
                continue;
            }
        }
        out.push(b[k]);
        k += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Detaches a (possibly dead) faultline mount: `umount2(MNT_DETACH)` as root, else
/// `fusermount3 -u -z`.
pub fn unmount(mountpoint: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(mountpoint.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
        return Ok(());
    }
    let status = std::process::Command::new("fusermount3")
        .args(["-u", "-z", "--"])
        .arg(mountpoint)
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "fusermount3 -u -z {} failed ({status})",
            mountpoint.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_finds_faultline_mounts_by_name_and_unescapes_paths() {
        let text = "36 35 98:0 / /mnt1 rw,noatime master:1 - ext3 /dev/root rw\n\
                    40 30 0:50 / /tmp/run\\040dir/n1 rw,nosuid,nodev - fuse.faultline-lazyfs \
                    faultline-lazyfs rw,user_id=0,group_id=0\n\
                    41 30 0:51 / /tmp/other rw - fuse.sshfs host: rw\n";
        let found = parse_mountinfo(text);
        assert_eq!(
            found,
            vec![Leftover {
                mountpoint: PathBuf::from("/tmp/run dir/n1")
            }]
        );
    }
}
