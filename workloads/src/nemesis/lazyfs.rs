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
//! - **file contents and sizes**: `write`, truncation (`setattr` size, `open` with `O_TRUNC`)
//!   and `fallocate` (plain, `KEEP_SIZE`, `PUNCH_HOLE`, `ZERO_RANGE`) change an in-memory copy
//!   of the file only; `fsync`/`fdatasync` on the file writes the changed byte range and the
//!   size to the backing file and `fdatasync`s it. Reads (and `mmap`, which etcd's bbolt uses)
//!   see the in-memory copy. Files are opened without `FOPEN_KEEP_CACHE`, so the kernel drops
//!   its page cache of a file at every open: after a loss the killed node's restart reads what
//!   was synced, not a page the kernel kept. `sync_file_range` never reaches a FUSE
//!   filesystem and syncs nothing here (it promises no durability either).
//! - **namespace operations** (create, mkdir, unlink, rmdir, rename, hard links, symlinks)
//!   go straight to the backing directory: they behave as if every directory were fsynced at
//!   once (so `fsyncdir` has nothing left to do). A file created and written but never synced
//!   exists empty after a loss, and a renamed file keeps its new name but loses its unsynced
//!   contents. This is the simpler rule than "durable after the directory's fsync": it can
//!   only lose less than a real disk would, never more, so it never invents a loss.
//! - **metadata**: `chmod` and `chown` go to the backing file at once; files and directories
//!   are created owned by the calling process's uid and gid (when faultline is root), so a
//!   server running as its own user (PostgreSQL) owns what it creates. Times are the backing
//!   file's. `statfs` reports the backing filesystem. Extended attributes are not offered
//!   (`ENOSYS`). `flock` and POSIX locks are the kernel's own (local to this machine, which is
//!   all one node needs). Hard links made through the mount share one in-memory copy; names
//!   that were already hard links in the backing directory before the mount are seen as
//!   separate files.
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
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
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
    /// if missing; it keeps the synced state). Only faultline's own user can use it.
    pub fn mount(mountpoint: &Path, backing: &Path) -> Result<LazyMount, LazyFsError> {
        Self::mount_with(mountpoint, backing, false)
    }

    /// Like [`LazyMount::mount`], but other users can use the mount too (FUSE `allow_other`):
    /// for a server faultline runs as another user (PostgreSQL as `postgres`). Needs root, or
    /// `user_allow_other` in `/etc/fuse.conf`.
    pub fn mount_shared(mountpoint: &Path, backing: &Path) -> Result<LazyMount, LazyFsError> {
        Self::mount_with(mountpoint, backing, true)
    }

    fn mount_with(
        mountpoint: &Path,
        backing: &Path,
        others: bool,
    ) -> Result<LazyMount, LazyFsError> {
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
        let mut options = vec![
            MountOption::FSName(FS_NAME.into()),
            MountOption::Subtype(FS_NAME.into()),
            MountOption::NoDev,
            MountOption::NoSuid,
        ];
        if others {
            options.push(MountOption::AllowOther);
        }
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
            .filter_map(|c| c.first_change().map(|d| c.data.len() as u64 - d))
            .sum()
    }
}

impl Drop for LazyMount {
    fn drop(&mut self) {
        // Detach first (umount2 MNT_DETACH as root, else fusermount3 -u -z): fuser's own
        // unmount is a plain umount, which fails (EBUSY) while a process of the node still
        // has a file or its working directory in the mount, and would leave the mount behind.
        let _ = unmount(&self.mountpoint);
        // Dropping the session ends its thread (the mount is gone or detached already).
        drop(self.session.take());
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A file's contents in memory since its first write, truncation or allocation.
struct Cached {
    /// The file's current contents.
    data: Vec<u8>,
    /// The backing file's length (as of the last sync, or the load).
    synced_len: u64,
    /// The shortest the file was since the last sync (a truncation below `synced_len`).
    cut: u64,
    /// The bytes written since the last sync: `[from, to)` (`None`: none).
    written: Option<(u64, u64)>,
}

impl Cached {
    fn load(data: Vec<u8>) -> Cached {
        let len = data.len() as u64;
        Cached {
            data,
            synced_len: len,
            cut: len,
            written: None,
        }
    }

    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// The first byte that differs from the backing file (`None`: in step with it).
    fn first_change(&self) -> Option<u64> {
        let mut first = self.written.map(|(from, _)| from);
        if self.cut < self.synced_len || self.len() != self.synced_len {
            let size = self.cut.min(self.len()).min(self.synced_len);
            first = Some(first.map_or(size, |f| f.min(size)));
        }
        first.map(|f| f.min(self.len()))
    }

    /// Sets the length (zeros past the old end).
    fn resize(&mut self, size: u64) {
        self.data.resize(size as usize, 0);
        self.cut = self.cut.min(size);
    }

    /// Records that `[from, to)` changed.
    fn mark(&mut self, from: u64, to: u64) {
        if from >= to {
            return;
        }
        self.written = Some(match self.written {
            Some((a, b)) => (a.min(from), b.max(to)),
            None => (from, to),
        });
    }

    /// Writes `data` at `offset` (growing the file).
    fn write(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        if self.len() < end {
            self.resize(end);
        }
        self.data[offset as usize..end as usize].copy_from_slice(data);
        self.mark(offset, end);
    }

    /// Zeros `[from, to)` (clipped to the file).
    fn zero(&mut self, from: u64, to: u64) {
        let to = to.min(self.len());
        if from < to {
            self.data[from as usize..to as usize].fill(0);
            self.mark(from, to);
        }
    }

    /// `fallocate(2)` with `mode` over `[offset, offset + length)`; `Err(errno)` for a mode
    /// the filesystem does not do.
    fn fallocate(&mut self, offset: u64, length: u64, mode: i32) -> Result<(), i32> {
        let end = offset.checked_add(length).ok_or(libc::EFBIG)?;
        let keep_size = mode & libc::FALLOC_FL_KEEP_SIZE != 0;
        match mode & !libc::FALLOC_FL_KEEP_SIZE {
            // Allocation: the blocks are the backing filesystem's business; only a growing
            // size is visible (and unsynced until fsync).
            0 => {
                if !keep_size && end > self.len() {
                    self.resize(end);
                }
                Ok(())
            }
            libc::FALLOC_FL_PUNCH_HOLE if keep_size => {
                self.zero(offset, end);
                Ok(())
            }
            libc::FALLOC_FL_ZERO_RANGE => {
                if !keep_size && end > self.len() {
                    self.resize(end);
                }
                self.zero(offset, end);
                Ok(())
            }
            _ => Err(libc::EOPNOTSUPP),
        }
    }
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
        let dirty: Vec<(u64, u64)> = self
            .files
            .iter()
            .filter_map(|(&i, c)| c.first_change().map(|f| (i, c.len() - f)))
            .collect();
        for (ino, bytes) in dirty {
            self.files.remove(&ino);
            let name = self
                .paths
                .get(&ino)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| format!("(unlinked inode {ino})"));
            lost.0.insert(name, bytes.max(1));
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

    /// `rel` no longer names a file: its inode keeps another name it has (a hard link), or
    /// is gone (its unsynced contents with it, if `drop_contents`).
    fn forget_path(&mut self, rel: &Path, drop_contents: bool) {
        let Some(i) = self.inodes.remove(rel) else {
            return;
        };
        if self.paths.get(&i).map(PathBuf::as_path) != Some(rel) {
            return;
        }
        match self
            .inodes
            .iter()
            .find(|(_, &j)| j == i)
            .map(|(p, _)| p.clone())
        {
            Some(other) => {
                self.paths.insert(i, other);
            }
            None => {
                self.paths.remove(&i);
                if drop_contents {
                    self.files.remove(&i);
                }
            }
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
            self.files.insert(ino, Cached::load(data));
        }
        self.files.get_mut(&ino).ok_or(libc::EIO)
    }

    fn truncate(&mut self, ino: u64, size: u64) -> Result<(), i32> {
        self.cached(ino)?.resize(size);
        Ok(())
    }

    fn sync(&mut self, ino: u64) -> Result<(), i32> {
        let real = self.real(ino);
        let Some(c) = self.files.get_mut(&ino) else {
            return Ok(());
        };
        if c.first_change().is_none() {
            return Ok(());
        }
        let done = |c: &mut Cached| {
            let len = c.len();
            c.synced_len = len;
            c.cut = len;
            c.written = None;
        };
        let Ok(real) = real else {
            // Unlinked: nothing to keep.
            done(c);
            return Ok(());
        };
        let file = OpenOptions::new().write(true).open(real).map_err(errno)?;
        // A cut first, so bytes past it that the file regrew over are not the old ones.
        if c.cut < c.synced_len {
            file.set_len(c.cut).map_err(errno)?;
        }
        file.set_len(c.len()).map_err(errno)?;
        if let Some((from, to)) = c.written {
            let (from, to) = (from.min(c.len()), to.min(c.len()));
            file.write_all_at(&c.data[from as usize..to as usize], from)
                .map_err(errno)?;
        }
        file.sync_data().map_err(errno)?;
        done(c);
        Ok(())
    }

    /// Gives a new file or directory to the process that made it (as root; otherwise it is
    /// the caller's already).
    fn own(&self, rel: &Path, uid: u32, gid: u32) {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let _ = std::os::unix::fs::lchown(self.backing.join(rel), Some(uid), Some(gid));
        }
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
                st.forget_path(rel, false);
                reply.error(e)
            }
        }
    }

    /// unlink and rmdir: `remove` the backing path of `parent`/`name`, then forget it.
    fn remove(
        &self,
        parent: u64,
        name: &OsStr,
        remove: fn(&Path) -> std::io::Result<()>,
        reply: ReplyEmpty,
    ) {
        let mut st = self.st();
        let rel = match st.child(parent, name) {
            Ok(r) => r,
            Err(e) => return reply.error(e),
        };
        match remove(&st.backing.join(&rel)) {
            Ok(()) => {
                st.forget_path(&rel, false);
                reply.ok()
            }
            Err(e) => reply.error(errno(e)),
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
        uid: Option<u32>,
        gid: Option<u32>,
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
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::lchown(st.real(ino)?, uid, gid).map_err(errno)?;
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
        req: &Request<'_>,
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
            st.own(&rel, req.uid(), req.gid());
            rel
        };
        self.entry_of(&rel, reply);
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, |p| fs::remove_file(p), reply);
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, |p| fs::remove_dir(p), reply);
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
        let (a, b) = (st.inodes.get(&from), st.inodes.get(&to));
        if a.is_some() && a == b {
            // Two names of one file: rename(2) does nothing.
            return reply.ok();
        }
        // The replaced file loses this name (and, its last, its contents); the moved one (and
        // anything under it) takes the new path.
        st.forget_path(&to, true);
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
        // No FOPEN_KEEP_CACHE: the kernel drops its cached pages of the file now (module docs);
        // no FOPEN_DIRECT_IO: a shared mmap (bbolt) needs the page cache.
        reply.opened(0, 0)
    }

    fn create(
        &mut self,
        req: &Request<'_>,
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
        // A file that existed (no O_EXCL) keeps its owner.
        let existed = fs::symlink_metadata(st.backing.join(&rel)).is_ok();
        if let Err(e) = open.open(st.backing.join(&rel)) {
            return reply.error(errno(e));
        }
        if !existed {
            st.own(&rel, req.uid(), req.gid());
        }
        let ino = st.ino_of(&rel);
        if flags & libc::O_TRUNC != 0 {
            if let Err(e) = st.truncate(ino, 0) {
                return reply.error(e);
            }
        }
        match st.attr(ino) {
            Ok(a) => reply.created(&TTL, &a, 0, 0, 0),
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
                c.write(offset as u64, data);
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

    fn symlink(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let rel = {
            let st = self.st();
            let rel = match st.child(parent, link_name) {
                Ok(r) => r,
                Err(e) => return reply.error(e),
            };
            if let Err(e) = std::os::unix::fs::symlink(target, st.backing.join(&rel)) {
                return reply.error(errno(e));
            }
            st.own(&rel, req.uid(), req.gid());
            rel
        };
        self.entry_of(&rel, reply);
    }

    fn readlink(&mut self, _req: &Request<'_>, ino: u64, reply: ReplyData) {
        use std::os::unix::ffi::OsStrExt;
        match self
            .st()
            .real(ino)
            .and_then(|p| fs::read_link(p).map_err(errno))
        {
            Ok(t) => reply.data(t.as_os_str().as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn link(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        newparent: u64,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let mut st = self.st();
        let (real, rel) = match (st.real(ino), st.child(newparent, newname)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return reply.error(e),
        };
        if let Err(e) = fs::hard_link(real, st.backing.join(&rel)) {
            return reply.error(errno(e));
        }
        // One file, two names: one inode, one in-memory copy.
        st.inodes.insert(rel, ino);
        match st.attr(ino) {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if offset < 0 || length <= 0 {
            return reply.error(libc::EINVAL);
        }
        let mut st = self.st();
        match st
            .cached(ino)
            .and_then(|c| c.fallocate(offset as u64, length as u64, mode))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        use std::os::unix::ffi::OsStrExt;
        let backing = self.st().backing.clone();
        let Ok(c) = std::ffi::CString::new(backing.as_os_str().as_bytes()) else {
            return reply.error(libc::EINVAL);
        };
        // SAFETY: an all-zero statvfs is a valid value to be overwritten.
        let mut v: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a valid NUL-terminated path and `v` a valid statvfs to fill.
        if unsafe { libc::statvfs(c.as_ptr(), &mut v) } != 0 {
            return reply.error(errno(io::Error::last_os_error()));
        }
        reply.statfs(
            v.f_blocks,
            v.f_bfree,
            v.f_bavail,
            v.f_files,
            v.f_ffree,
            v.f_bsize as u32,
            v.f_namemax as u32,
            v.f_frsize as u32,
        );
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

    /// A mount in a fresh temporary directory, or `None` (the test is skipped) where this
    /// machine cannot mount FUSE.
    fn mounted() -> Option<(tempfile::TempDir, LazyMount, PathBuf, PathBuf)> {
        if let Err(e) = check_available() {
            eprintln!("skipped: {e}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (mnt, backing) = (dir.path().join("m"), dir.path().join("m.disk"));
        let mount = LazyMount::mount(&mnt, &backing).unwrap();
        Some((dir, mount, mnt, backing))
    }

    fn fallocate(f: &File, mode: i32, offset: i64, len: i64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor; fallocate(2) only reads its arguments.
        match unsafe { libc::fallocate(f.as_raw_fd(), mode, offset, len) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }

    #[test]
    fn fallocate_grows_zeroes_and_punches_unsynced_until_fsync() {
        let Some((_dir, mount, mnt, backing)) = mounted() else {
            return;
        };
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(mnt.join("wal"))
            .unwrap();
        f.write_all_at(b"abcdefgh", 0).unwrap();
        f.sync_data().unwrap();
        // Plain allocation grows the file (etcd's WAL preallocation); KEEP_SIZE does not.
        fallocate(&f, 0, 0, 64).unwrap();
        assert_eq!(fs::metadata(mnt.join("wal")).unwrap().len(), 64);
        fallocate(&f, libc::FALLOC_FL_KEEP_SIZE, 0, 4096).unwrap();
        assert_eq!(fs::metadata(mnt.join("wal")).unwrap().len(), 64);
        // A punched hole reads as zeros, the size stays.
        fallocate(
            &f,
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            2,
            2,
        )
        .unwrap();
        let mut buf = [0u8; 8];
        f.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"ab\0\0efgh");
        // Collapsing is not offered.
        let e = fallocate(&f, libc::FALLOC_FL_COLLAPSE_RANGE, 0, 4096).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP));
        drop(f);
        // Nothing of that was synced: the loss restores the 8 synced bytes.
        let lost = mount.lose_unfsynced();
        assert_eq!(lost.0.get("wal"), Some(&(64 - 2)), "{lost:?}");
        assert_eq!(fs::read(mnt.join("wal")).unwrap(), b"abcdefgh");
        // Synced, the allocation and the hole stay.
        let f = OpenOptions::new()
            .write(true)
            .open(mnt.join("wal"))
            .unwrap();
        fallocate(&f, 0, 0, 16).unwrap();
        fallocate(
            &f,
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            0,
            1,
        )
        .unwrap();
        f.sync_all().unwrap();
        drop(f);
        assert!(mount.lose_unfsynced().0.is_empty());
        assert_eq!(
            fs::read(backing.join("wal")).unwrap(),
            b"\0bcdefgh\0\0\0\0\0\0\0\0"
        );
    }

    #[test]
    fn a_cut_then_regrown_file_syncs_zeros_past_the_cut_not_the_old_bytes() {
        let Some((_dir, mount, mnt, backing)) = mounted() else {
            return;
        };
        let f = File::create(mnt.join("t")).unwrap();
        f.write_all_at(&[7u8; 100], 0).unwrap();
        f.sync_data().unwrap();
        f.set_len(10).unwrap();
        f.set_len(50).unwrap();
        f.write_all_at(b"x", 49).unwrap();
        f.sync_data().unwrap();
        drop(f);
        assert!(mount.lose_unfsynced().0.is_empty());
        let mut want = vec![7u8; 10];
        want.extend([0u8; 39]);
        want.push(b'x');
        assert_eq!(fs::read(backing.join("t")).unwrap(), want);
    }

    #[test]
    fn fsync_writes_only_the_changed_bytes_not_the_whole_file_tail() {
        let Some((_dir, mount, mnt, backing)) = mounted() else {
            return;
        };
        let f = File::create(mnt.join("seg")).unwrap();
        f.write_all_at(&[1u8; 8192], 0).unwrap();
        f.sync_data().unwrap();
        // Behind the mount's back: the backing file's second page changes. A sync that
        // rewrote everything from the first changed byte to the end would undo this.
        let b = OpenOptions::new()
            .write(true)
            .open(backing.join("seg"))
            .unwrap();
        b.write_all_at(&[9u8; 4096], 4096).unwrap();
        f.write_all_at(b"x", 10).unwrap();
        assert_eq!(mount.unsynced_bytes(), 8192 - 10);
        f.sync_data().unwrap();
        let on_disk = fs::read(backing.join("seg")).unwrap();
        assert_eq!(on_disk[10], b'x');
        assert_eq!(
            &on_disk[4096..],
            &[9u8; 4096][..],
            "only byte 10 was written"
        );
        assert_eq!(mount.unsynced_bytes(), 0);
    }

    #[test]
    fn an_overwrite_in_place_is_forgotten_by_a_reopen_after_a_loss_and_mmap_reads_it() {
        let Some((_dir, mount, mnt, _backing)) = mounted() else {
            return;
        };
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(mnt.join("db"))
            .unwrap();
        f.write_all_at(&[1u8; 8192], 0).unwrap();
        f.sync_data().unwrap();
        f.write_all_at(&[2u8; 4096], 4096).unwrap();
        // bbolt reads its file through a shared read-only mapping.
        {
            use std::os::fd::AsRawFd;
            // SAFETY: maps 8192 bytes of an open file of that size read-only, unmapped below.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    8192,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    f.as_raw_fd(),
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED, "{}", io::Error::last_os_error());
            // SAFETY: `p` maps 8192 readable bytes.
            let seen = unsafe { std::slice::from_raw_parts(p as *const u8, 8192) }.to_vec();
            // SAFETY: unmaps the mapping made above.
            unsafe { libc::munmap(p, 8192) };
            assert_eq!(&seen[..4096], &[1u8; 4096][..]);
            assert_eq!(&seen[4096..], &[2u8; 4096][..]);
        }
        // flock is the kernel's (bbolt locks its file).
        {
            use std::os::fd::AsRawFd;
            // SAFETY: a valid open descriptor.
            assert_eq!(
                unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
                0
            );
        }
        drop(f);
        let lost = mount.lose_unfsynced();
        assert_eq!(lost.0.get("db"), Some(&4096), "{lost:?}");
        // Same size, other bytes: only the reopen's cache drop shows the synced ones.
        assert_eq!(fs::read(mnt.join("db")).unwrap(), vec![1u8; 8192]);
    }

    #[test]
    fn hard_links_share_one_unsynced_copy_and_keep_it_past_the_first_name() {
        let Some((_dir, mount, mnt, backing)) = mounted() else {
            return;
        };
        fs::write(mnt.join("a"), b"old").unwrap();
        File::open(mnt.join("a")).unwrap().sync_all().unwrap();
        fs::hard_link(mnt.join("a"), mnt.join("b")).unwrap();
        assert_eq!(fs::metadata(mnt.join("b")).unwrap().nlink(), 2);
        let f = OpenOptions::new().write(true).open(mnt.join("b")).unwrap();
        f.write_all_at(b"new", 0).unwrap();
        drop(f);
        assert_eq!(fs::read(mnt.join("a")).unwrap(), b"new");
        fs::remove_file(mnt.join("a")).unwrap();
        assert_eq!(fs::read(mnt.join("b")).unwrap(), b"new");
        File::open(mnt.join("b")).unwrap().sync_all().unwrap();
        assert!(mount.lose_unfsynced().0.is_empty());
        assert_eq!(fs::read(backing.join("b")).unwrap(), b"new");
        // A link is a namespace operation: durable at once, even unsynced contents aside.
        fs::hard_link(mnt.join("b"), mnt.join("c")).unwrap();
        fs::write(mnt.join("c"), b"lost").unwrap();
        let lost = mount.lose_unfsynced();
        assert_eq!(lost.0.len(), 1, "{lost:?}");
        assert_eq!(fs::read(mnt.join("c")).unwrap(), b"new");
        assert_eq!(fs::read(mnt.join("b")).unwrap(), b"new");
        // Renaming one name over the other does nothing (rename(2)).
        fs::rename(mnt.join("b"), mnt.join("c")).unwrap();
        assert!(mnt.join("b").exists() && mnt.join("c").exists());
    }

    #[test]
    fn symlinks_chmod_chown_statfs_and_rename_over_an_unsynced_file() {
        use std::os::unix::fs::symlink;
        let Some((_dir, mount, mnt, backing)) = mounted() else {
            return;
        };
        symlink("target/file", mnt.join("ln")).unwrap();
        assert_eq!(
            fs::read_link(mnt.join("ln")).unwrap(),
            PathBuf::from("target/file")
        );
        assert!(fs::symlink_metadata(backing.join("ln"))
            .unwrap()
            .file_type()
            .is_symlink());
        fs::create_dir(mnt.join("d")).unwrap();
        fs::write(mnt.join("d/f"), b"x").unwrap();
        fs::set_permissions(mnt.join("d/f"), fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            fs::metadata(backing.join("d/f")).unwrap().mode() & 0o777,
            0o600
        );
        let me = fs::metadata(mnt.join("d/f")).unwrap();
        std::os::unix::fs::chown(mnt.join("d/f"), Some(me.uid()), Some(me.gid())).unwrap();
        // Directories take fsync (PostgreSQL and etcd sync them after renames).
        File::open(mnt.join("d")).unwrap().sync_all().unwrap();
        // statfs is the backing filesystem's.
        let path = std::ffi::CString::new(mnt.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a zeroed statvfs filled by statvfs(3) on a valid path.
        let mut v: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut v) }, 0);
        assert!(v.f_blocks > 0 && v.f_bsize > 0);
        // A file renamed over another: the replaced one's unsynced bytes go with it.
        fs::write(mnt.join("d/tmp"), b"synced").unwrap();
        File::open(mnt.join("d/tmp")).unwrap().sync_all().unwrap();
        fs::rename(mnt.join("d/tmp"), mnt.join("d/f")).unwrap();
        let lost = mount.lose_unfsynced();
        assert!(lost.0.is_empty(), "{lost:?}");
        assert_eq!(fs::read(mnt.join("d/f")).unwrap(), b"synced");
    }

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
