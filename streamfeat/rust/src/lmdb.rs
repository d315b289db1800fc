//! The LMDB file of the embedded online store (`streamfeat/online/lmdb_store.py`): a whole
//! batch of upserts in write transactions without the GIL, and point reads.
//!
//! One key per (view, fingerprint, entity): `view \0 fingerprint \0 entity` in UTF-8. The
//! value (row layout 2, marked under `FORMAT_KEY`): eight little-endian 64-bit integers —
//! version, event_time, valid_from, valid_until, state_version (`i64::MIN`: none, the state
//! belongs to `version`), the length of the cached values (-1: none), the length of the
//! state bytes, and `seq` — then those values, then the state bytes, then room to spare.
//!
//! A row is written where it lies when it fits there (with `MDB_WRITEMAP`), instead of
//! LMDB copying its whole page: `seq` is odd while that happens, so a reader in another
//! process copies the row again when it finds `seq` odd or changed (a seqlock). A row
//! written anew gets a quarter more room than it needs, for its next versions. The Python
//! fallback (`py-lmdb`) writes and reads the same layout (always through LMDB's copies).

use crate::{sort_by_key, UpdateValues, Upsert};
use pyo3::create_exception;
use pyo3::pybacked::PyBackedBytes;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::ptr;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Mutex;

create_exception!(
    _store_native,
    LmdbError,
    PyException,
    "LMDB refused an operation."
);

#[repr(C)]
struct MdbEnv {
    _private: [u8; 0],
}
#[repr(C)]
struct MdbTxn {
    _private: [u8; 0],
}
#[repr(C)]
struct MdbVal {
    size: usize,
    data: *mut c_void,
}

#[repr(C)]
struct MdbStat {
    psize: c_uint,
    depth: c_uint,
    branch_pages: usize,
    leaf_pages: usize,
    overflow_pages: usize,
    entries: usize,
}

#[repr(C)]
struct MdbEnvInfo {
    mapaddr: *mut c_void,
    mapsize: usize,
    last_pgno: usize,
    last_txnid: usize,
    maxreaders: c_uint,
    numreaders: c_uint,
}

extern "C" {
    fn mdb_env_create(env: *mut *mut MdbEnv) -> c_int;
    fn mdb_env_set_mapsize(env: *mut MdbEnv, size: usize) -> c_int;
    fn mdb_env_info(env: *mut MdbEnv, stat: *mut MdbEnvInfo) -> c_int;
    fn mdb_env_get_fd(env: *mut MdbEnv, fd: *mut c_int) -> c_int;
    // glibc (off_t is 64-bit on the 64-bit targets this builds for)
    fn fallocate(fd: c_int, mode: c_int, offset: i64, len: i64) -> c_int;
    fn mdb_env_set_maxreaders(env: *mut MdbEnv, readers: c_uint) -> c_int;
    fn mdb_env_open(env: *mut MdbEnv, path: *const c_char, flags: c_uint, mode: c_uint) -> c_int;
    fn mdb_env_close(env: *mut MdbEnv);
    fn mdb_reader_check(env: *mut MdbEnv, dead: *mut c_int) -> c_int;
    fn mdb_txn_begin(
        env: *mut MdbEnv,
        parent: *mut MdbTxn,
        flags: c_uint,
        txn: *mut *mut MdbTxn,
    ) -> c_int;
    fn mdb_txn_commit(txn: *mut MdbTxn) -> c_int;
    fn mdb_txn_abort(txn: *mut MdbTxn);
    fn mdb_dbi_open(
        txn: *mut MdbTxn,
        name: *const c_char,
        flags: c_uint,
        dbi: *mut c_uint,
    ) -> c_int;
    fn mdb_get(txn: *mut MdbTxn, dbi: c_uint, key: *mut MdbVal, data: *mut MdbVal) -> c_int;
    fn mdb_put(
        txn: *mut MdbTxn,
        dbi: c_uint,
        key: *mut MdbVal,
        data: *mut MdbVal,
        flags: c_uint,
    ) -> c_int;
    fn mdb_strerror(err: c_int) -> *const c_char;
    fn mdb_stat(txn: *mut MdbTxn, dbi: c_uint, stat: *mut MdbStat) -> c_int;
}

const MDB_NOSUBDIR: c_uint = 0x4000;
const MDB_NOSYNC: c_uint = 0x10000;
const MDB_RDONLY: c_uint = 0x20000;
const MDB_NOMETASYNC: c_uint = 0x40000;
const MDB_NOTLS: c_uint = 0x200000;
const MDB_WRITEMAP: c_uint = 0x80000;
const MDB_RESERVE: c_uint = 0x10000;
const MDB_NOTFOUND: c_int = -30798;
const MDB_MAP_FULL: c_int = -30792;
const MDB_MAP_RESIZED: c_int = -30785;

const HEADER: usize = 64;
/// Where a row's `seq` lies: the header's last field.
const SEQ_AT: usize = 56;
/// The key of the file's layout version (no view's key starts with a NUL byte) and the
/// version this code reads and writes: 2, rows with a `state_len` and a `seq` and room to
/// grow in place. Files of layout 1 (no marker, a 48-byte header) are refused.
const FORMAT_KEY: &[u8] = b"\0streamfeat\0layout";
const FORMAT: &[u8] = b"2";

/// A full row borrowed from where it came from (Python rows, or a packed buffer — so the
/// writer copies each row once, into the map): (view, fingerprint, entity, state, version,
/// event_time, vals, valid_from, valid_until).
type UpsertRef<'a> = (&'a str, &'a str, &'a str, &'a [u8], i64, i64, Option<&'a [u8]>, i64, i64);
/// A values-only row, borrowed: (version, event_time, vals, valid_from, valid_until, view,
/// fingerprint, entity).
type UpdateRef<'a> = (i64, i64, &'a [u8], i64, i64, &'a str, &'a str, &'a str);
/// Rows per write transaction. A transaction keeps a copy of every page it touches in
/// memory until it commits (and LMDB keeps those buffers for reuse), so a batch of 150,000
/// entities in one transaction held some 600 MB (measured at stop 22: 2,204 MB of anonymous
/// memory over 1M W1 events with 556,658 users). Rows are versioned per entity, so a batch
/// needs no single transaction: readers see each row's newest written version either way.
const ROWS_PER_TXN: usize = 8192;
const NO_STATE_VERSION: i64 = i64::MIN;

fn message(rc: c_int) -> String {
    // SAFETY: mdb_strerror returns a static NUL-terminated string for any code.
    unsafe { CStr::from_ptr(mdb_strerror(rc)) }
        .to_string_lossy()
        .into_owned()
}

fn check(rc: c_int, what: &str) -> Result<(), String> {
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("{what}: {} (code {rc})", message(rc)))
    }
}

/// A row read back: (state or None, version, event_time, vals or None, valid_from, valid_until, state_version or None).
type Found<'py> = (
    Option<Bound<'py, PyBytes>>,
    i64,
    i64,
    Option<Bound<'py, PyBytes>>,
    i64,
    i64,
    Option<i64>,
);

fn key(view: &str, fp: &str, entity: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(view.len() + fp.len() + entity.len() + 2);
    key_into(view, fp, entity, &mut k);
    k
}

fn key_into(view: &str, fp: &str, entity: &str, k: &mut Vec<u8>) {
    k.clear();
    k.extend_from_slice(view.as_bytes());
    k.push(0);
    k.extend_from_slice(fp.as_bytes());
    k.push(0);
    k.extend_from_slice(entity.as_bytes());
}

struct Header {
    version: i64,
    event_time: i64,
    valid_from: i64,
    valid_until: i64,
    state_version: i64,
    vals_len: i64,
    state_len: i64,
    /// Odd while a writer rewrites the row in place (module docstring).
    seq: u64,
}

fn field(v: &[u8], i: usize) -> i64 {
    i64::from_le_bytes(v[i * 8..i * 8 + 8].try_into().unwrap())
}

fn read_header(v: &[u8]) -> Option<Header> {
    read_header_of(v, v.len())
}

/// The header at the start of `v`, a copy of the first bytes of a row `total` bytes long.
fn read_header_of(v: &[u8], total: usize) -> Option<Header> {
    if v.len() < HEADER || total < v.len() {
        return None;
    }
    let h = Header {
        version: field(v, 0),
        event_time: field(v, 1),
        valid_from: field(v, 2),
        valid_until: field(v, 3),
        state_version: field(v, 4),
        vals_len: field(v, 5),
        state_len: field(v, 6),
        seq: field(v, 7) as u64,
    };
    let used = (HEADER as i64)
        .checked_add(h.vals_len.max(0))
        .and_then(|n| n.checked_add(h.state_len));
    if h.vals_len < -1 || h.state_len < 0 || used.is_none_or(|n| n > total as i64) {
        return None;
    }
    Some(h)
}

/// The odd `seq` of a row left half written by a writer that died in the middle of it
/// (read before the rest of its header, which may be half written too), or `None`.
fn torn_seq(v: &[u8]) -> Option<u64> {
    let seq = (v.len() >= HEADER).then(|| field(v, 7) as u64)?;
    (seq & 1 == 1).then_some(seq)
}

/// The bytes a row uses.
fn encoded_len(vals: Option<&[u8]>, state: &[u8]) -> usize {
    HEADER + vals.map_or(0, <[u8]>::len) + state.len()
}

/// The space a row written anew gets: what it uses and a quarter more (at least 32 bytes),
/// so that the next versions of the row, a little longer as its state grows, are written
/// over it in place (`write_in_place`) rather than into a copy of its page.
fn padded(len: usize) -> usize {
    (len + (len / 4).max(32) + 15) & !15
}

/// Write a row but its `seq` into `out` (`encoded_len(vals, state)` bytes or more; any
/// rest is left as it was).
fn encode_into(h: &Header, vals: Option<&[u8]>, state: &[u8], out: &mut [u8]) {
    let fields = [
        h.version,
        h.event_time,
        h.valid_from,
        h.valid_until,
        h.state_version,
        vals.map_or(-1i64, |v| v.len() as i64),
        state.len() as i64,
    ];
    for (i, x) in fields.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&x.to_le_bytes());
    }
    let mut at = HEADER;
    if let Some(v) = vals {
        out[at..at + v.len()].copy_from_slice(v);
        at += v.len();
    }
    out[at..at + state.len()].copy_from_slice(state);
}

/// The `seq` of the row at `row`, read as it may be changing (another process may be
/// rewriting the row in place).
///
/// # Safety
/// `row` points at a row of at least `HEADER` bytes.
unsafe fn load_seq(row: *const u8) -> u64 {
    u64::from_le_bytes(ptr::read_volatile(row.add(SEQ_AT) as *const [u8; 8]))
}

/// # Safety
/// `row` points at a writable row of at least `HEADER` bytes.
unsafe fn store_seq(row: *mut u8, seq: u64) {
    ptr::write_volatile(row.add(SEQ_AT) as *mut [u8; 8], seq.to_le_bytes());
}

/// Rewrite a stored row where it lies in the map (`MDB_WRITEMAP`) inside a seqlock: `seq`
/// made odd, the row written, `seq` made even and higher. A reader that finds `seq` odd, or
/// changed once it has copied the row, copies it again (`LmdbFile::get`).
///
/// # Safety
/// `row` points at the stored value, `cap` bytes, writable through the map; this process
/// holds the file's write transaction (so no other writer touches the row); and
/// `encoded_len(vals, state) <= cap`.
unsafe fn write_in_place(row: *mut u8, cap: usize, old_seq: u64, h: &Header, vals: Option<&[u8]>, state: &[u8]) {
    let writing = old_seq | 1;
    store_seq(row, writing);
    fence(Ordering::SeqCst);
    encode_into(h, vals, state, std::slice::from_raw_parts_mut(row, cap));
    fence(Ordering::SeqCst);
    store_seq(row, writing.wrapping_add(1));
}

struct Env {
    env: *mut MdbEnv,
    dbi: c_uint,
    map_size: usize,
    writemap: bool,
    /// Rows may be written over the stored ones (`write_in_place`): with MDB_WRITEMAP, and
    /// not when `durable` — a machine crash must then leave each row's last committed version
    /// whole, which LMDB's page copies guarantee and a row half flushed to disk would not.
    in_place: bool,
    /// Why the map is unusable: LMDB unmaps it to resize it, and a failed resize leaves
    /// its address dangling, so no transaction may touch it again (nor may closing).
    broken: Option<String>,
    /// The map grew but its disk blocks could not be allocated: no write until they are.
    unreserved: bool,
    /// Rows written since opened: (over the stored row, in place; moved to a new place,
    /// grown past their room; new).
    counts: (u64, u64, u64),
}

// SAFETY: the environment is opened with MDB_NOTLS and used only under the Mutex below;
// LMDB environments may be shared by threads.
unsafe impl Send for Env {}

impl Env {
    /// The size of the map this process has now (another process may have grown it).
    fn current_map_size(&self) -> usize {
        let mut info = MdbEnvInfo {
            mapaddr: ptr::null_mut(),
            mapsize: 0,
            last_pgno: 0,
            last_txnid: 0,
            maxreaders: 0,
            numreaders: 0,
        };
        // SAFETY: self.env is open; info is a plain out struct.
        if unsafe { mdb_env_info(self.env, &mut info) } == 0 {
            info.mapsize
        } else {
            self.map_size
        }
    }

    /// With MDB_WRITEMAP, allocate the disk blocks of the whole map now. A page of a
    /// sparse file gets its block when first written through the map, and on a full disk
    /// that write kills the process with SIGBUS; reserved, a full disk is this clear error
    /// instead (and first writes fault faster). A file system that cannot reserve keeps
    /// the sparse file.
    fn reserve(&mut self) -> Result<(), String> {
        if !self.writemap {
            return Ok(());
        }
        let size = self.current_map_size();
        let mut fd: c_int = -1;
        // SAFETY: self.env is open; fd is an out parameter; fallocate only extends the file.
        unsafe {
            check(
                mdb_env_get_fd(self.env, &mut fd),
                "finding the store's file",
            )?;
            if fallocate(fd, 0, 0, size as i64) != 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() == Some(95) {
                    self.unreserved = false;
                    return Ok(()); // EOPNOTSUPP
                }
                self.unreserved = true;
                return Err(format!(
                    "cannot reserve {size} bytes of disk for the store's map: {err}"
                ));
            }
        }
        self.unreserved = false;
        Ok(())
    }

    /// Resize the map (0: adopt the size another process gave it). A failure marks the
    /// environment broken (see `broken`).
    fn set_map_size(&mut self, size: usize) -> Result<(), String> {
        // SAFETY: self.env is open and no transaction of this process is active (all run
        // under the Mutex).
        let rc = unsafe { mdb_env_set_mapsize(self.env, size) };
        if rc != 0 {
            let to = if size == 0 {
                "the size another process gave it".to_string()
            } else {
                format!("{size} bytes")
            };
            let msg = format!(
                "cannot resize the store's map to {to}: {} (code {rc}); this process \
                 cannot use the store until it opens it again",
                message(rc)
            );
            self.broken = Some(msg.clone());
            return Err(msg);
        }
        Ok(())
    }

    /// Begin a transaction, adopting a map another process grew meanwhile.
    fn begin(&mut self, flags: c_uint) -> Result<*mut MdbTxn, String> {
        if let Some(msg) = &self.broken {
            return Err(msg.clone());
        }
        let mut txn = ptr::null_mut();
        // SAFETY: self.env is open; txn is an out pointer.
        let mut rc = unsafe { mdb_txn_begin(self.env, ptr::null_mut(), flags, &mut txn) };
        if rc == MDB_MAP_RESIZED {
            self.set_map_size(0)?;
            // SAFETY: as above.
            rc = unsafe { mdb_txn_begin(self.env, ptr::null_mut(), flags, &mut txn) };
        }
        check(rc, "beginning a transaction")?;
        Ok(txn)
    }

    /// `try_write`, growing the map (doubling it) while it is full.
    fn write_growing(
        &mut self,
        upserts: &[UpsertRef<'_>],
        updates: &[UpdateRef<'_>],
    ) -> PyResult<usize> {
        if self.unreserved {
            self.reserve().map_err(LmdbError::new_err)?;
        }
        loop {
            match self.try_write(upserts, updates) {
                Ok(changed) => return Ok(changed),
                Err(Some(msg)) => return Err(LmdbError::new_err(msg)),
                Err(None) => {
                    // No transaction of this process is active (all run under the Mutex).
                    // Double the map in use, which another process may have grown past
                    // ours: with MDB_WRITEMAP a smaller size would cut its file short.
                    let bigger = self.map_size.max(self.current_map_size()).saturating_mul(2);
                    self.set_map_size(bigger).map_err(LmdbError::new_err)?;
                    self.map_size = bigger;
                    self.reserve().map_err(LmdbError::new_err)?;
                }
            }
        }
    }

    /// Refuse a file of another row layout (`FORMAT_KEY`); mark an empty one (a writer).
    fn check_layout(&mut self, readonly: bool) -> Result<(), String> {
        let txn = self.begin(if readonly { MDB_RDONLY } else { 0 })?;
        let mut k = FORMAT_KEY.to_vec();
        let outcome = (|| -> Result<bool, String> {
            if let Some(found) = get(txn, self.dbi, &mut k)? {
                if found == FORMAT {
                    return Ok(false);
                }
                return Err(format!(
                    "its rows are in layout {}, and this streamfeat reads layout {}",
                    String::from_utf8_lossy(found),
                    String::from_utf8_lossy(FORMAT)
                ));
            }
            let mut stat = MdbStat {
                psize: 0,
                depth: 0,
                branch_pages: 0,
                leaf_pages: 0,
                overflow_pages: 0,
                entries: 0,
            };
            // SAFETY: txn is live; stat is a plain out struct.
            check(unsafe { mdb_stat(txn, self.dbi, &mut stat) }, "reading the store's size")?;
            if stat.entries > 0 {
                return Err(format!(
                    "its rows are in layout 1 (written by an earlier streamfeat), and this streamfeat \
                     reads layout {}",
                    String::from_utf8_lossy(FORMAT)
                ));
            }
            if readonly {
                return Ok(false);
            }
            let mut kv = MdbVal {
                size: k.len(),
                data: k.as_mut_ptr().cast(),
            };
            let mut vv = MdbVal {
                size: FORMAT.len(),
                data: FORMAT.as_ptr() as *mut c_void,
            };
            // SAFETY: txn is a live write transaction; both buffers outlive the call.
            check(unsafe { mdb_put(txn, self.dbi, &mut kv, &mut vv, 0) }, "marking the row layout")?;
            Ok(true)
        })();
        match outcome {
            // SAFETY: txn is live; commit frees it.
            Ok(true) => check(unsafe { mdb_txn_commit(txn) }, "marking the row layout"),
            Ok(false) => {
                // SAFETY: txn is live; abort frees it.
                unsafe { mdb_txn_abort(txn) };
                Ok(())
            }
            Err(e) => {
                // SAFETY: as above.
                unsafe { mdb_txn_abort(txn) };
                Err(format!(
                    "{e}: rebuild it — remove it (and its -lock file) with the state directory beside it \
                     and bootstrap both again (`streamfeat backfill FEATURES.py --bootstrap-servers ... \
                     --state-dir DIR`), or run the flow on a new --state-dir"
                ))
            }
        }
    }

    /// One write transaction over the batch; `Err(None)` when the map is full.
    fn try_write(
        &mut self,
        upserts: &[UpsertRef<'_>],
        updates: &[UpdateRef<'_>],
    ) -> Result<usize, Option<String>> {
        let txn = self.begin(0).map_err(Some)?;
        let result = self.apply(txn, upserts, updates);
        match result {
            Ok(changed) => {
                // SAFETY: txn is live; commit frees it.
                let rc = unsafe { mdb_txn_commit(txn) };
                if rc == MDB_MAP_FULL {
                    return Err(None);
                }
                check(rc, "committing").map_err(Some)?;
                Ok(changed)
            }
            Err(e) => {
                // SAFETY: txn is live; abort frees it.
                unsafe { mdb_txn_abort(txn) };
                Err(e)
            }
        }
    }

    fn apply(
        &mut self,
        txn: *mut MdbTxn,
        upserts: &[UpsertRef<'_>],
        updates: &[UpdateRef<'_>],
    ) -> Result<usize, Option<String>> {
        let mut changed = 0;
        let mut k = Vec::new();
        let mut old_state = Vec::new();
        let (dbi, in_place) = (self.dbi, self.in_place);
        let counts = &mut self.counts;
        // Write the row over the stored one when it fits there (with MDB_WRITEMAP), else
        // reserve room for it (padded) in the map and write it there: one copy of each row.
        let mut write = |k: &mut Vec<u8>,
                         old: Option<(&[u8], u64)>,
                         h: &Header,
                         vals: Option<&[u8]>,
                         state: &[u8]|
         -> Result<(), Option<String>> {
            let len = encoded_len(vals, state);
            if let Some((old, seq)) = old {
                if in_place && len <= old.len() {
                    // SAFETY: with MDB_WRITEMAP the map is writable and `old` lies in it
                    // (a page of this transaction or the last committed one); this
                    // transaction holds the writer's lock; the row fits.
                    unsafe { write_in_place(old.as_ptr() as *mut u8, old.len(), seq, h, vals, state) };
                    counts.0 += 1;
                    return Ok(());
                }
            }
            let cap = padded(len);
            let mut kv = MdbVal {
                size: k.len(),
                data: k.as_mut_ptr().cast(),
            };
            let mut vv = MdbVal {
                size: cap,
                data: ptr::null_mut(),
            };
            // SAFETY: txn is a live write transaction; the key buffer outlives the call.
            let rc = unsafe { mdb_put(txn, dbi, &mut kv, &mut vv, MDB_RESERVE) };
            if rc == MDB_MAP_FULL {
                return Err(None);
            }
            check(rc, "writing a row").map_err(Some)?;
            // SAFETY: on success LMDB reserved `cap` writable bytes at vv.data in this
            // transaction's page, valid until the next operation on it.
            let out = unsafe { std::slice::from_raw_parts_mut(vv.data as *mut u8, cap) };
            encode_into(h, vals, state, out);
            // A new place: readers of the old one are not disturbed; `seq` goes on rising.
            let seq = old.map_or(0, |(_, seq)| (seq | 1).wrapping_add(1));
            out[SEQ_AT..HEADER].copy_from_slice(&seq.to_le_bytes());
            if old.is_some() {
                counts.1 += 1;
            } else {
                counts.2 += 1;
            }
            Ok(())
        };
        for &(view, fp, entity, state, version, event_time, vals, from, until) in upserts {
            key_into(view, fp, entity, &mut k);
            let old = match get(txn, dbi, &mut k).map_err(Some)? {
                None => None,
                // A row left half written (odd seq: its writer died in the middle, maybe
                // within its header) is written again whatever its header says.
                Some(old) => match torn_seq(old) {
                    Some(seq) => Some((old, seq)),
                    None => {
                        let h = read_header(old).ok_or_else(|| Some(damaged(&k)))?;
                        if !(version > h.version
                            || (version == h.version && h.state_version != NO_STATE_VERSION))
                        {
                            continue;
                        }
                        Some((old, h.seq))
                    }
                },
            };
            let h = Header {
                version,
                event_time,
                valid_from: from,
                valid_until: until,
                state_version: NO_STATE_VERSION,
                vals_len: 0,
                state_len: 0,
                seq: 0,
            };
            write(&mut k, old, &h, vals, state)?;
            changed += 1;
        }
        for &(version, event_time, vals, from, until, view, fp, entity) in updates {
            key_into(view, fp, entity, &mut k);
            let Some(old) = get(txn, dbi, &mut k).map_err(Some)? else {
                continue;
            };
            // A half-written row's state cannot be kept: its full row follows (the runtime
            // writes one at its next commit for each entity it published values-only).
            if torn_seq(old).is_some() {
                continue;
            }
            let h = read_header(old).ok_or_else(|| Some(damaged(&k)))?;
            if !(h.version < version
                    || (h.version == version && h.state_version != NO_STATE_VERSION))
            {
                continue;
            }
            let state_start = HEADER + h.vals_len.max(0) as usize;
            old_state.clear();
            // Copied out: the row is written over (in place, or its page copied).
            old_state.extend_from_slice(&old[state_start..state_start + h.state_len as usize]);
            let new = Header {
                version,
                event_time,
                valid_from: from,
                valid_until: until,
                state_version: if h.state_version == NO_STATE_VERSION {
                    h.version
                } else {
                    h.state_version
                },
                vals_len: 0,
                state_len: 0,
                seq: 0,
            };
            write(&mut k, Some((old, h.seq)), &new, Some(vals), &old_state)?;
            changed += 1;
        }
        Ok(changed)
    }
}

impl LmdbFile {
    /// `upserts` then `updates`, each in key order, in transactions of `ROWS_PER_TXN` rows.
    fn write_sorted(&self, upserts: &[UpsertRef<'_>], updates: &[UpdateRef<'_>]) -> PyResult<usize> {
        let mut guard = self.env.lock().unwrap_or_else(|e| e.into_inner());
        let env = guard
            .as_mut()
            .ok_or_else(|| LmdbError::new_err("the store is closed"))?;
        let mut changed = 0;
        let (mut u, mut v) = (0, 0);
        while u < upserts.len() || v < updates.len() {
            let (ue, ve) = if u < upserts.len() {
                ((u + ROWS_PER_TXN).min(upserts.len()), v)
            } else {
                (u, (v + ROWS_PER_TXN).min(updates.len()))
            };
            let written = env.write_growing(&upserts[u..ue], &updates[v..ve]);
            let (in_place, moved, new) = env.counts;
            for (slot, n) in self.counts.iter().zip([in_place, moved, new]) {
                slot.store(n, Ordering::Relaxed);
            }
            changed += written?;
            (u, v) = (ue, ve);
        }
        Ok(changed)
    }
}

/// A reader over packed rows that fails with `bad` when they are cut short.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.data.len())?;
        let part = &self.data[self.at..end];
        self.at = end;
        Some(part)
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A length-prefixed part (i32 length, -1: none); `Err` for any other negative length.
    fn optional(&mut self) -> Option<Option<&'a [u8]>> {
        match i32::from_le_bytes(self.take(4)?.try_into().ok()?) {
            -1 => Some(None),
            n if n >= 0 => Some(Some(self.take(n as usize)?)),
            _ => None,
        }
    }
}

/// Append the rows packed in `data` (layout: `streamfeat/online/packed.py`) to `upserts`
/// (full rows) and `updates` (values-only rows), borrowing from it.
fn unpack<'a>(
    view: &'a str,
    fp: &'a str,
    data: &'a [u8],
    upserts: &mut Vec<UpsertRef<'a>>,
    updates: &mut Vec<UpdateRef<'a>>,
) -> Result<(), String> {
    let bad = || format!("packed rows of view {view:?} are malformed (cut short or a bad length)");
    let mut rows = Cursor { data, at: 0 };
    while rows.at < data.len() {
        let len = u32::from_le_bytes(rows.take(4).ok_or_else(bad)?.try_into().unwrap()) as usize;
        let entity = std::str::from_utf8(rows.take(len).ok_or_else(bad)?).map_err(|_| bad())?;
        let mut fixed = [0i64; 4];
        for x in fixed.iter_mut() {
            *x = rows.i64().ok_or_else(bad)?;
        }
        let [version, event_time, from, until] = fixed;
        let vals = rows.optional().ok_or_else(bad)?;
        let state = rows.optional().ok_or_else(bad)?;
        match (state, vals) {
            (Some(state), vals) => {
                upserts.push((view, fp, entity, state, version, event_time, vals, from, until))
            }
            (None, Some(vals)) => {
                updates.push((version, event_time, vals, from, until, view, fp, entity))
            }
            (None, None) => {
                return Err(format!(
                    "packed row of entity {entity:?} of view {view:?} has neither state bytes nor values"
                ))
            }
        }
    }
    Ok(())
}

fn damaged(k: &[u8]) -> String {
    format!(
        "the stored row of {:?} is damaged (shorter than its header says)",
        String::from_utf8_lossy(k)
    )
}

/// The value stored under `k`, borrowed from the map for the transaction's life.
fn get<'t>(txn: *mut MdbTxn, dbi: c_uint, k: &mut [u8]) -> Result<Option<&'t [u8]>, String> {
    let mut kv = MdbVal {
        size: k.len(),
        data: k.as_mut_ptr().cast(),
    };
    let mut vv = MdbVal {
        size: 0,
        data: ptr::null_mut(),
    };
    // SAFETY: txn is live; on success vv points into the map, valid until the txn ends.
    let rc = unsafe { mdb_get(txn, dbi, &mut kv, &mut vv) };
    if rc == MDB_NOTFOUND {
        return Ok(None);
    }
    check(rc, "reading a row")?;
    Ok(Some(unsafe {
        std::slice::from_raw_parts(vv.data as *const u8, vv.size)
    }))
}

/// How long a reader waits for a row that a writer is rewriting in place before it calls
/// the row half written for good (its writer died in the middle): a writer takes about a
/// microsecond, but a busy machine may pause it for a while.
const TORN_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Copy the first `n` bytes (at least the header; all `v.len()` for the whole row) of the
/// row at `v` (which a writer of another process may be rewriting in place) into `copy`
/// as one consistent version of it — `seq` even and the same before and after the copy —
/// and read its header; `Ok(None)`: a damaged row; `Err(())`: the row stayed half written
/// for `TORN_WAIT`.
fn consistent_prefix(v: &[u8], n: usize, copy: &mut Vec<u8>) -> Result<Option<Header>, ()> {
    if v.len() < HEADER || n < HEADER || n > v.len() {
        return Ok(None);
    }
    let mut started: Option<std::time::Instant> = None;
    let mut tries = 0u32;
    loop {
        // SAFETY: `v` is a stored row of at least HEADER bytes, valid for the transaction.
        let before = unsafe { load_seq(v.as_ptr()) };
        if before & 1 == 0 {
            fence(Ordering::SeqCst);
            copy.clear();
            // SAFETY: as above; a volatile-free copy is fine: it is checked by `seq` below.
            copy.extend_from_slice(unsafe { std::slice::from_raw_parts(v.as_ptr(), n) });
            fence(Ordering::SeqCst);
            // SAFETY: as above.
            if unsafe { load_seq(v.as_ptr()) } == before {
                return Ok(read_header_of(copy, v.len()));
            }
        }
        tries += 1;
        if tries < 64 {
            std::thread::yield_now();
            continue;
        }
        let since = *started.get_or_insert_with(std::time::Instant::now);
        if since.elapsed() > TORN_WAIT {
            return Err(());
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// `consistent_prefix` of the row under key `k`, its failures as the reader's error message.
fn consistent_row(v: &[u8], n: usize, copy: &mut Vec<u8>, k: &[u8]) -> Result<Header, String> {
    match consistent_prefix(v, n, copy) {
        Ok(Some(h)) => Ok(h),
        Ok(None) => Err(damaged(k)),
        Err(()) => Err(format!(
            "the stored row of {:?} stays half written: its writer stopped in the middle of \
             writing it (the flow writes it again when it restarts)",
            String::from_utf8_lossy(k)
        )),
    }
}

/// One LMDB environment (a file and its `-lock` file) of the embedded online store.
/// Open one per file per process: LMDB's locks are per process.
#[pyclass(frozen)]
struct LmdbFile {
    env: Mutex<Option<Env>>,
    /// `Env::counts` as of the last write, readable without waiting for a write to end.
    counts: [AtomicU64; 3],
}

impl LmdbFile {
    /// `found(header, copy)` of each entity's stored row (None where there is none), read
    /// in one transaction as one consistent version each (`consistent_prefix`): the whole
    /// row into `copy`, or only its header when `header_only`.
    fn read_rows<T>(
        &self,
        view: &str,
        fingerprint: &str,
        entities: &[String],
        header_only: bool,
        mut found: impl FnMut(&Header, &[u8]) -> T,
    ) -> PyResult<Vec<Option<T>>> {
        let mut guard = self.env.lock().unwrap_or_else(|e| e.into_inner());
        let env = guard
            .as_mut()
            .ok_or_else(|| LmdbError::new_err("the store is closed"))?;
        let txn = env.begin(MDB_RDONLY).map_err(LmdbError::new_err)?;
        let mut out = Vec::with_capacity(entities.len());
        let mut copy = Vec::new();
        let mut read = || -> Result<(), String> {
            for entity in entities {
                let mut k = key(view, fingerprint, entity);
                let Some(v) = get(txn, env.dbi, &mut k)? else {
                    out.push(None);
                    continue;
                };
                let n = if header_only { HEADER.min(v.len()) } else { v.len() };
                let h = consistent_row(v, n, &mut copy, &k)?;
                out.push(Some(found(&h, &copy)));
            }
            Ok(())
        };
        let result = read();
        // SAFETY: txn is live; a read-only transaction is ended by abort.
        unsafe { mdb_txn_abort(txn) };
        result.map_err(LmdbError::new_err)?;
        Ok(out)
    }
}

#[pymethods]
impl LmdbFile {
    /// Open (creating when `readonly` is false) the store file at `path`. `map_size`: the
    /// address space reserved for it (it grows by doubling when full); `durable`: flush
    /// data pages at each commit (a machine crash then loses at most the last batch),
    /// else leave flushing to the OS (a process crash loses nothing either way).
    #[new]
    ///
    /// `writemap`: a writer changes pages in the shared map (MDB_WRITEMAP) instead of
    /// writing copies back with pwrite. LMDB then sets the file's size to the map's at
    /// open, so the map is at least the file's present size: a smaller one would cut
    /// short the file of a process that grew it.
    #[pyo3(signature = (path, readonly, map_size, durable, writemap=false))]
    fn new(
        path: &str,
        readonly: bool,
        map_size: usize,
        durable: bool,
        writemap: bool,
    ) -> PyResult<Self> {
        let writemap = writemap && !readonly;
        let map_size = if writemap {
            std::fs::metadata(path).map_or(map_size, |m| map_size.max(m.len() as usize))
        } else {
            map_size
        };
        let cpath = CString::new(path).map_err(|e| LmdbError::new_err(e.to_string()))?;
        let mut env = ptr::null_mut();
        let fail =
            |rc: c_int, what: &str| LmdbError::new_err(format!("{what} {path}: {}", message(rc)));
        // SAFETY: plain LMDB setup calls on a fresh environment handle; closed on failure.
        unsafe {
            let rc = mdb_env_create(&mut env);
            if rc != 0 {
                return Err(fail(rc, "cannot create an environment for"));
            }
            let mut flags = MDB_NOSUBDIR | MDB_NOTLS;
            flags |= if readonly {
                MDB_RDONLY
            } else if durable {
                MDB_NOMETASYNC
            } else {
                MDB_NOSYNC
            };
            if writemap {
                flags |= MDB_WRITEMAP;
            }
            let mut rc = mdb_env_set_mapsize(env, map_size);
            if rc == 0 {
                rc = mdb_env_set_maxreaders(env, 1024);
            }
            if rc == 0 {
                rc = mdb_env_open(env, cpath.as_ptr(), flags, 0o644);
            }
            if rc != 0 {
                mdb_env_close(env);
                return Err(fail(rc, "cannot open"));
            }
            let mut dead = 0;
            mdb_reader_check(env, &mut dead); // frees the reader slots of killed processes
            let mut e = Env {
                env,
                dbi: 0,
                map_size,
                writemap,
                in_place: writemap && !durable,
                broken: None,
                unreserved: false,
                counts: (0, 0, 0),
            };
            let opened = e
                .begin(if readonly { MDB_RDONLY } else { 0 })
                .and_then(|txn| {
                    let rc = mdb_dbi_open(txn, ptr::null(), 0, &mut e.dbi);
                    if rc != 0 {
                        mdb_txn_abort(txn);
                        return check(rc, "opening the main database");
                    }
                    check(mdb_txn_commit(txn), "opening the main database")
                });
            if let Err(msg) = opened
                .and_then(|()| e.reserve())
                .and_then(|()| e.check_layout(readonly))
            {
                if e.broken.is_none() {
                    mdb_env_close(env);
                }
                return Err(LmdbError::new_err(format!("cannot open {path}: {msg}")));
            }
            Ok(Self {
                env: Mutex::new(Some(e)),
                counts: Default::default(),
            })
        }
    }

    /// Write `upserts` then `updates` in key order, in transactions of `ROWS_PER_TXN` rows,
    /// never regressing a stored version; returns how many rows changed.
    fn write(
        &self,
        py: Python<'_>,
        mut upserts: Vec<Upsert>,
        mut updates: Vec<UpdateValues>,
    ) -> PyResult<usize> {
        py.detach(|| {
            sort_by_key(&mut upserts, &mut updates);
            let upserts: Vec<UpsertRef<'_>> = upserts
                .iter()
                .map(|(view, fp, entity, state, version, event_time, vals, from, until)| {
                    let vals = vals.as_deref();
                    (&view[..], &fp[..], &entity[..], &state[..], *version, *event_time, vals, *from, *until)
                })
                .collect();
            let updates: Vec<UpdateRef<'_>> = updates
                .iter()
                .map(|(version, event_time, vals, from, until, view, fp, entity)| {
                    (*version, *event_time, &vals[..], *from, *until, &view[..], &fp[..], &entity[..])
                })
                .collect();
            self.write_sorted(&upserts, &updates)
        })
    }

    /// Write packed rows (`streamfeat/online/packed.py`): `groups` of (view, fingerprint,
    /// rows), in the order they were made. Only each entity's newest full row and newest
    /// values-only row are written (full rows first: a store keeps only the newest anyway,
    /// and never regresses). Returns how many rows changed.
    /// The packed buffers are borrowed, not copied (`bytes` are immutable; a `bytearray` is
    /// copied once by PyO3).
    fn write_packed(&self, py: Python<'_>, groups: Vec<(String, String, PyBackedBytes)>) -> PyResult<usize> {
        py.detach(|| {
            let (mut upserts, mut updates) = (Vec::new(), Vec::new());
            for (view, fp, data) in &groups {
                unpack(view, fp, data, &mut upserts, &mut updates).map_err(LmdbError::new_err)?;
            }
            // Key order, the newest version of a key first; then only that one is kept.
            upserts.sort_unstable_by(|a, b| (a.0, a.1, a.2, b.4).cmp(&(b.0, b.1, b.2, a.4)));
            upserts.dedup_by(|later, first| (later.0, later.1, later.2) == (first.0, first.1, first.2));
            updates.sort_unstable_by(|a, b| (a.5, a.6, a.7, b.0).cmp(&(b.5, b.6, b.7, a.0)));
            updates.dedup_by(|later, first| (later.5, later.6, later.7) == (first.5, first.6, first.7));
            self.write_sorted(&upserts, &updates)
        })
    }

    /// The stored row of each entity (None where there is none). A row whose cached
    /// values cover `at` comes without its state bytes.
    fn get<'py>(
        &self,
        py: Python<'py>,
        view: &str,
        fingerprint: &str,
        entities: Vec<String>,
        at: i64,
    ) -> PyResult<Vec<Option<Found<'py>>>> {
        self.read_rows(view, fingerprint, &entities, false, |h, copy| {
            let vals_end = HEADER + h.vals_len.max(0) as usize;
            let state_end = vals_end + h.state_len as usize;
            let covered = h.vals_len >= 0 && h.valid_from <= at && at < h.valid_until;
            let state = (!covered).then(|| PyBytes::new(py, &copy[vals_end..state_end]));
            let vals = (h.vals_len >= 0).then(|| PyBytes::new(py, &copy[HEADER..vals_end]));
            let state_version = (h.state_version != NO_STATE_VERSION).then_some(h.state_version);
            (state, h.version, h.event_time, vals, h.valid_from, h.valid_until, state_version)
        })
    }

    /// The event time of each entity's row (None where there is none): its newest event
    /// applied. Reads each row's header only, without the GIL — a cheap probe of how far
    /// the rows are, for monitoring and the freshness benchmark.
    fn event_times(
        &self,
        py: Python<'_>,
        view: &str,
        fingerprint: &str,
        entities: Vec<String>,
    ) -> PyResult<Vec<Option<i64>>> {
        py.detach(|| self.read_rows(view, fingerprint, &entities, true, |h, _| h.event_time))
    }

    /// Rows written since the file was opened in this process: (over the stored row, in
    /// place; moved, grown past their room; new).
    /// Read without waiting for a write in progress (as of the last transaction).
    fn write_counts(&self) -> (u64, u64, u64) {
        let [a, b, c] = &self.counts;
        (a.load(Ordering::Relaxed), b.load(Ordering::Relaxed), c.load(Ordering::Relaxed))
    }

    /// Close the environment; later calls raise.
    fn close(&self) {
        let mut guard = self.env.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = guard.take() {
            if e.broken.is_none() {
                // SAFETY: no transaction is active (all run under this Mutex).
                unsafe { mdb_env_close(e.env) };
            } // else leaked: closing would unmap the dangling map address
        }
    }
}

impl Drop for LmdbFile {
    fn drop(&mut self) {
        self.close();
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LmdbFile>()?;
    m.add("LmdbError", m.py().get_type::<LmdbError>())?;
    Ok(())
}
