//! `ReplayJoin`: a replay with the entity states held in Rust, answering spine rows on
//! the way — backfill's point-in-time join without a Python object per event or per
//! entity lookup.
//!
//! `NativeView.apply_batch_join` does the same work against a Python mapping of states
//! (the replay's `EntityStateCache`): every batch costs a dict lookup per event to group
//! by entity, a mapping lookup per entity, and the cache's own bookkeeping. Here an
//! entity key is interned once to a slot; a batch is applied entity by entity, each
//! entity's events in batch order (entities being independent, the same results as in
//! batch order, with each state's memory in cache while its events are applied). The
//! spine rows of an entity wait in its slot, latest first, and a row
//! `(t, row)` is answered on the entity's state just before the entity's first event that
//! arrived after `t` (`apply_batch_join`'s rule), or by `answer_pending` at the end.
//!
//! Memory stays bounded the way the Python cache bounds it: `spill(keep)` encodes the
//! least recently used states beyond `keep` (the bytes `NativeView.to_bytes` gives) and
//! hands them to the caller to store; `intern` names the spilled entities a batch needs,
//! and `load` brings their bytes back before `apply`. Inputs come as Python lists or, for
//! Arrow-backed histories, as buffers: a string column as `(offsets, data)` (int32
//! offsets, UTF-8 bytes; `offsets[i]..offsets[i + 1]` is row `i`), numbers as int64 or
//! float64 buffers.

use crate::feature::{self, Kind, Val};
use crate::hll::Hll;
use crate::{
    batch_columns, format_error, input_column, ints, NativeEntityState, NativeView, Out, ACCEPTED,
    LATE, NIL,
};
use foldhash::fast::RandomState;
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFloat, PyList, PyString, PyTuple};
use std::collections::HashMap;

/// Distinct strings whose hash is kept (ids repeat a lot); cleared when full.
const HASH_CACHE_SIZE: usize = 1 << 16;

struct Slot {
    key: Key,
    /// `entity_hash(key)` (the index grows without hashing the keys again).
    hash: u64,
    /// `None`: no accepted event yet, or spilled (`spilled`).
    state: Option<NativeEntityState>,
    spilled: bool,
    /// The `tick` of the last batch that named this entity (least recently used spill first).
    last_used: u32,
    /// Its group in that batch (entities in order of first appearance).
    group: u32,
    /// Spine rows `(time, row)` not answered yet, latest first (the next one is last).
    rows: Vec<(i64, u32)>,
}

/// A string as a hash-map key: up to 23 bytes in place, longer ones on the heap. A
/// lookup compares the key with the stored one; in place, that reads the table's own
/// memory instead of following a pointer to a string allocated elsewhere.
#[derive(Clone)]
enum Key {
    Inline { len: u8, bytes: [u8; 23] },
    Heap(Box<str>),
}

impl Key {
    fn new(text: &str) -> Self {
        if text.len() <= 23 {
            let mut bytes = [0u8; 23];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            Key::Inline {
                len: text.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(text.into())
        }
    }

    #[inline]
    fn as_str(&self) -> &str {
        match self {
            // SAFETY: the first `len` bytes were copied from a `&str` in `new`
            Key::Inline { len, bytes } => unsafe {
                std::str::from_utf8_unchecked(&bytes[..*len as usize])
            },
            Key::Heap(text) => text,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    // as `str` hashes, so that a `&str` finds its `Key` (`Borrow`)
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl std::borrow::Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

#[inline]
fn entity_hash(hasher: &RandomState, key: &str) -> u64 {
    use std::hash::BuildHasher;
    hasher.hash_one(key)
}

/// Entity key -> slot: open addressing over one array of `(tag << 32) | (slot + 1)`
/// (0: empty), probed linearly, at most half full. A batch's lookups go in two passes —
/// hash every key, then look each up while prefetching the table entries and slots of
/// the keys some places ahead — where a hash map's lookups each waited on a cache miss.
struct EntityIndex {
    hasher: RandomState,
    table: Vec<u64>,
    len: usize,
}

impl EntityIndex {
    fn new() -> Self {
        EntityIndex {
            hasher: RandomState::default(),
            table: vec![0; 1024],
            len: 0,
        }
    }

    #[inline]
    fn hash(&self, key: &str) -> u64 {
        entity_hash(&self.hasher, key)
    }

    #[inline]
    fn mask(&self) -> usize {
        self.table.len() - 1
    }

    #[inline]
    fn entry(&self, hash: u64) -> *const u64 {
        self.table
            .as_ptr()
            .wrapping_add(hash as usize & self.mask())
    }

    /// The slot of `key` (hash `hash`) if present.
    #[inline]
    fn find(&self, hash: u64, key: &str, slots: &[Slot]) -> Option<u32> {
        let tag = hash >> 32;
        let mask = self.mask();
        let mut at = hash as usize & mask;
        loop {
            let e = self.table[at];
            if e == 0 {
                return None;
            }
            if e >> 32 == tag {
                let s = (e as u32) - 1;
                if slots[s as usize].key.as_str() == key {
                    return Some(s);
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// The slot a prefetched entry names first, to prefetch it too (a guess: the key is
    /// compared when `find` runs).
    #[inline]
    fn first_candidate(&self, hash: u64) -> Option<u32> {
        let e = self.table[hash as usize & self.mask()];
        (e != 0 && e >> 32 == hash >> 32).then(|| (e as u32) - 1)
    }

    /// Add slot `slot` (absent) under `hash`.
    fn insert(&mut self, hash: u64, slot: u32, slots: &[Slot]) {
        if (self.len + 1) * 2 > self.table.len() {
            let mut table = vec![0u64; self.table.len() * 2];
            let mask = table.len() - 1;
            for e in self.table.iter().filter(|&&e| e != 0) {
                let h = slots[((*e as u32) - 1) as usize].hash;
                let mut at = h as usize & mask;
                while table[at] != 0 {
                    at = (at + 1) & mask;
                }
                table[at] = *e;
            }
            self.table = table;
        }
        let mask = self.mask();
        let mut at = hash as usize & mask;
        while self.table[at] != 0 {
            at = (at + 1) & mask;
        }
        self.table[at] = (hash >> 32) << 32 | (slot as u64 + 1);
        self.len += 1;
    }
}

/// A string column of a batch: Python strings, or Arrow's offsets and bytes.
enum Strings<'py> {
    List(Vec<Bound<'py, PyString>>),
    Arrow { offsets: Vec<i32>, data: Bytes },
}

/// A bytes-like buffer (NumPy and Python give format `B`, Arrow `b`).
enum Bytes {
    Unsigned(PyBuffer<u8>),
    Signed(PyBuffer<i8>),
}

impl Bytes {
    fn get(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let bytes = match PyBuffer::<u8>::get(obj) {
            Ok(b) => Bytes::Unsigned(b),
            Err(_) => Bytes::Signed(PyBuffer::<i8>::get(obj)?),
        };
        let contiguous = match &bytes {
            Bytes::Unsigned(b) => b.is_c_contiguous(),
            Bytes::Signed(b) => b.is_c_contiguous(),
        };
        if !contiguous {
            return Err(PyValueError::new_err(
                "string data must be a contiguous buffer",
            ));
        }
        Ok(bytes)
    }

    /// SAFETY: the buffer is C-contiguous (checked in `get`) and held while the slice
    /// lives; the caller holds the GIL, and nothing writes to an Arrow buffer.
    fn slice(&self) -> &[u8] {
        let (ptr, len) = match self {
            Bytes::Unsigned(b) => (b.buf_ptr() as *const u8, b.item_count()),
            Bytes::Signed(b) => (b.buf_ptr() as *const u8, b.item_count()),
        };
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

impl<'py> Strings<'py> {
    fn from_py(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if let Ok(tuple) = obj.cast::<PyTuple>() {
            if tuple.len() != 2 {
                return Err(PyValueError::new_err(format!(
                    "{what}: an Arrow string column is (offsets, data)"
                )));
            }
            let offsets = PyBuffer::<i32>::get(&tuple.get_item(0)?)?.to_vec(obj.py())?;
            let data = Bytes::get(&tuple.get_item(1)?)?;
            let size = data.slice().len();
            if offsets.windows(2).any(|w| w[0] > w[1] || w[0] < 0)
                || offsets.last().is_some_and(|&e| e as usize > size)
            {
                return Err(PyValueError::new_err(format!(
                    "{what}: offsets out of order or out of range"
                )));
            }
            return Ok(Strings::Arrow { offsets, data });
        }
        let mut out = Vec::new();
        for item in obj.try_iter()? {
            let item = item?;
            match item.cast_into::<PyString>() {
                Ok(s) => out.push(s),
                Err(e) => {
                    return Err(PyTypeError::new_err(format!(
                        "{what}: expected strings, got {}",
                        e.into_inner().get_type().name()?
                    )))
                }
            }
        }
        Ok(Strings::List(out))
    }

    fn len(&self) -> usize {
        match self {
            Strings::List(v) => v.len(),
            Strings::Arrow { offsets, .. } => offsets.len().saturating_sub(1),
        }
    }

    /// Every row's text, in order, as a vector.
    fn texts(&self) -> PyResult<Vec<&str>> {
        let mut out = Vec::with_capacity(self.len());
        match self {
            Strings::List(items) => {
                for s in items.iter() {
                    out.push(s.to_str()?);
                }
            }
            Strings::Arrow { offsets, data } => {
                let bytes = data.slice();
                for i in 0..offsets.len().saturating_sub(1) {
                    let raw = &bytes[offsets[i] as usize..offsets[i + 1] as usize];
                    out.push(std::str::from_utf8(raw).map_err(|_| {
                        PyValueError::new_err(format!("string at row {i} is not UTF-8"))
                    })?);
                }
            }
        }
        Ok(out)
    }

    /// Every row's text, in order.
    fn each(&self, mut f: impl FnMut(usize, &str) -> PyResult<()>) -> PyResult<()> {
        match self {
            Strings::List(items) => {
                for (i, s) in items.iter().enumerate() {
                    f(i, s.to_str()?)?;
                }
            }
            Strings::Arrow { offsets, data } => {
                let bytes = data.slice();
                for i in 0..offsets.len().saturating_sub(1) {
                    let raw = &bytes[offsets[i] as usize..offsets[i + 1] as usize];
                    let text = std::str::from_utf8(raw).map_err(|_| {
                        PyValueError::new_err(format!("string at row {i} is not UTF-8"))
                    })?;
                    f(i, text)?;
                }
            }
        }
        Ok(())
    }
}

/// A column as the NumPy array pandas would infer from its values as a list: int64 when
/// every value is an int, float64 (NaN for null) when the values are floats and nulls
/// with at least one float; `None` for any other mix (the caller gives a list).
fn typed_column<'py>(
    numpy: &Bound<'py, PyModule>,
    column: &[Out],
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = numpy.py();
    let (dtype, bytes): (&str, Vec<u8>) = if column.iter().all(|o| matches!(o, Out::I(_))) {
        let bytes = column
            .iter()
            .flat_map(|o| match o {
                Out::I(n) => n.to_ne_bytes(),
                _ => unreachable!(),
            })
            .collect();
        ("int64", bytes)
    } else if column.iter().all(|o| matches!(o, Out::F(_) | Out::Null))
        && column.iter().any(|o| matches!(o, Out::F(_)))
    {
        let bytes = column
            .iter()
            .flat_map(|o| match o {
                Out::F(x) => x.to_ne_bytes(),
                _ => f64::NAN.to_ne_bytes(),
            })
            .collect();
        ("float64", bytes)
    } else {
        return Ok(None);
    };
    let buffer = pyo3::types::PyByteArray::new(py, &bytes);
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("dtype", dtype)?;
    Ok(Some(
        numpy
            .getattr("frombuffer")?
            .call((buffer,), Some(&kwargs))?,
    ))
}

#[pyclass(module = "operators._native")]
pub struct ReplayJoin {
    view: Py<NativeView>,
    index: EntityIndex,
    slots: Vec<Slot>,
    /// The slot of each position of the batch last interned.
    batch: Vec<u32>,
    /// The batch's positions grouped by entity, each entity's in batch order.
    order: Vec<u32>,
    tick: u32,
    resident: usize,
    /// Answers, per feature then per spine row.
    answers: Vec<Vec<Out>>,
    answered: usize,
    rows: usize,
    /// `hash64` of strings seen lately, and their place in `texts` (ids repeat a lot);
    /// both cleared between batches once large.
    hashes: HashMap<Key, (u32, u64), RandomState>,
    texts: Vec<Box<str>>,
}

impl ReplayJoin {
    fn slot_of(&mut self, key: &str) -> u32 {
        let hash = self.index.hash(key);
        self.slot_of_hashed(hash, key)
    }

    #[inline]
    fn slot_of_hashed(&mut self, hash: u64, key: &str) -> u32 {
        if let Some(s) = self.index.find(hash, key, &self.slots) {
            return s;
        }
        let s = self.slots.len() as u32;
        self.slots.push(Slot {
            key: Key::new(key),
            hash,
            state: None,
            spilled: false,
            last_used: 0,
            group: 0,
            rows: Vec::new(),
        });
        self.index.insert(hash, s, &self.slots);
        s
    }

    fn answer(
        &mut self,
        py: Python<'_>,
        view: &NativeView,
        slot: usize,
        before: i64,
    ) -> PyResult<()> {
        loop {
            let s = &mut self.slots[slot];
            let Some(&(t, row)) = s.rows.last() else {
                return Ok(());
            };
            if t >= before {
                return Ok(());
            }
            s.rows.pop();
            let outputs = match &s.state {
                Some(state) => view.outputs(py, state, t)?,
                None => view.outputs(py, &view.fresh(), t)?,
            };
            for (column, out) in self.answers.iter_mut().zip(outputs) {
                column[row as usize] = out;
            }
            self.answered += 1;
        }
    }

    fn values_of(
        &mut self,
        kind: &Kind,
        column: &Bound<'_, PyAny>,
        size: usize,
        feature: usize,
    ) -> PyResult<Vec<Val>> {
        match kind {
            Kind::Count => Ok(Vec::new()),
            Kind::Distinct(_) => {
                let strings = Strings::from_py(column, &format!("feature {feature}"))?;
                if strings.len() != size {
                    return Err(PyValueError::new_err(format!(
                        "batch column of feature {feature} has {} values for {size} keys",
                        strings.len()
                    )));
                }
                let hashes = &mut self.hashes;
                let texts = &mut self.texts;
                let mut out = Vec::with_capacity(size);
                strings.each(|_, text| {
                    if let Some((at, hash)) = hashes.get(text) {
                        out.push(Val::H(*hash, *at));
                        return Ok(());
                    }
                    let at = texts.len() as u32;
                    let hash = Hll::hash(text);
                    texts.push(text.into());
                    hashes.insert(Key::new(text), (at, hash));
                    out.push(Val::H(hash, at));
                    Ok(())
                })?;
                Ok(out)
            }
            _ => {
                let values = if column.cast::<PyList>().is_err() {
                    match PyBuffer::<f64>::get(column) {
                        Ok(buffer) => buffer
                            .to_vec(column.py())?
                            .into_iter()
                            .map(Val::F)
                            .collect(),
                        Err(_) => input_column(kind, column, size, feature, &mut HashMap::new())?,
                    }
                } else {
                    input_column(kind, column, size, feature, &mut HashMap::new())?
                };
                if values.len() != size {
                    return Err(PyValueError::new_err(format!(
                        "batch column of feature {feature} has {} values for {size} keys",
                        values.len()
                    )));
                }
                Ok(values)
            }
        }
    }
}

#[pymethods]
impl ReplayJoin {
    /// A replay of `view` answering spine row `i`: entity `keys[i]` as of `times[i]`.
    #[new]
    fn new(
        view: Py<NativeView>,
        keys: &Bound<'_, PyAny>,
        times: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let features = view.get().specs.len();
        let keys = Strings::from_py(keys, "spine keys")?;
        let times = ints(times)?;
        if keys.len() != times.len() {
            return Err(PyValueError::new_err(format!(
                "spine has {} keys but {} times",
                keys.len(),
                times.len()
            )));
        }
        let rows = times.len();
        if rows > u32::MAX as usize {
            return Err(PyValueError::new_err(
                "a spine holds at most 2**32 - 1 rows",
            ));
        }
        let mut join = ReplayJoin {
            view,
            index: EntityIndex::new(),
            slots: Vec::new(),
            batch: Vec::new(),
            order: Vec::new(),
            tick: 0,
            resident: 0,
            answers: (0..features)
                .map(|_| (0..rows).map(|_| Out::Null).collect())
                .collect(),
            answered: 0,
            rows,
            hashes: HashMap::with_hasher(RandomState::default()),
            texts: Vec::new(),
        };
        let mut slot_rows: Vec<(u32, i64, u32)> = Vec::with_capacity(rows);
        keys.each(|i, key| {
            let s = join.slot_of(key);
            slot_rows.push((s, times[i], i as u32));
            Ok(())
        })?;
        for (s, t, row) in slot_rows {
            join.slots[s as usize].rows.push((t, row));
        }
        for slot in join.slots.iter_mut() {
            slot.rows.sort_unstable_by(|a, b| b.cmp(a)); // latest first
            slot.rows.shrink_to_fit();
        }
        Ok(join)
    }

    /// Take the next batch's entity keys (a list of strings or an Arrow `(offsets, data)`
    /// pair); returns the keys of those whose states were spilled, for `load`.
    fn intern(&mut self, keys: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        let keys = Strings::from_py(keys, "entity keys")?;
        self.tick = self.tick.wrapping_add(1);
        let tick = self.tick;
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        batch.reserve(keys.len());
        let mut spilled = Vec::new();
        let mut group_of: Vec<u32> = Vec::with_capacity(keys.len());
        let mut sizes: Vec<u32> = Vec::new();
        let texts = keys.texts()?;
        let hashes: Vec<u64> = texts.iter().map(|key| self.index.hash(key)).collect();
        for (i, (&key, &hash)) in texts.iter().zip(hashes.iter()).enumerate() {
            // prefetch the table entry 16 keys ahead, and the slot it names 8 ahead
            if let Some(&ahead) = hashes.get(i + 16) {
                feature::prefetch(self.index.entry(ahead));
            }
            if let Some(&ahead) = hashes.get(i + 8) {
                if let Some(s) = self.index.first_candidate(ahead) {
                    feature::prefetch(&self.slots[s as usize]);
                }
            }
            let s = self.slot_of_hashed(hash, key);
            let slot = &mut self.slots[s as usize];
            if slot.last_used != tick {
                slot.last_used = tick;
                slot.group = sizes.len() as u32;
                sizes.push(0);
                if slot.spilled {
                    spilled.push(key.to_string());
                }
            }
            sizes[slot.group as usize] += 1;
            group_of.push(slot.group);
            batch.push(s);
        }
        // a counting sort: each entity's events together (its state stays in cache), in order
        let mut start = 0;
        for size in sizes.iter_mut() {
            let n = *size;
            *size = start;
            start += n;
        }
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.resize(batch.len(), 0);
        for (i, g) in group_of.into_iter().enumerate() {
            order[sizes[g as usize] as usize] = i as u32;
            sizes[g as usize] += 1;
        }
        self.order = order;
        self.batch = batch;
        Ok(spilled)
    }

    /// Bring back spilled states: `blobs[i]` is the bytes `spill` gave for `keys[i]`.
    fn load(&mut self, py: Python<'_>, keys: Vec<String>, blobs: Vec<Vec<u8>>) -> PyResult<()> {
        if keys.len() != blobs.len() {
            return Err(PyValueError::new_err("load: one blob per key"));
        }
        let view = self.view.clone_ref(py);
        let view = view.get();
        for (key, blob) in keys.iter().zip(blobs) {
            let Some(s) = self.index.find(self.index.hash(key), key, &self.slots) else {
                return Err(PyValueError::new_err(format!(
                    "load: unknown entity {key:?}"
                )));
            };
            let slot = &mut self.slots[s as usize];
            if !slot.spilled {
                return Err(PyValueError::new_err(format!(
                    "load: entity {key:?} is not spilled"
                )));
            }
            slot.state = Some(view.decode(&blob).map_err(|e| format_error(py, e))?);
            slot.spilled = false;
            self.resident += 1;
        }
        Ok(())
    }

    /// Apply the interned batch, in order: `event_times`, `arrivals` (lists or int64
    /// buffers) and one input column per feature (`None` for counts). Spine rows are
    /// answered as their moment passes. Returns `(accepted, late positions, too-far-ahead
    /// positions)`, positions ascending.
    fn apply(
        &mut self,
        py: Python<'_>,
        event_times: &Bound<'_, PyAny>,
        arrivals: &Bound<'_, PyAny>,
        columns: &Bound<'_, PyAny>,
    ) -> PyResult<(u64, Vec<usize>, Vec<usize>)> {
        let view_ref = self.view.clone_ref(py);
        let view = view_ref.get();
        let size = self.batch.len();
        let (times, arrivals, columns) =
            batch_columns(size, event_times, arrivals, columns, view.specs.len())?;
        if self.hashes.len() >= HASH_CACHE_SIZE {
            // between batches: no value of this one refers to the table yet
            self.hashes.clear();
            self.texts.clear();
        }
        let mut inputs: Vec<Vec<Val>> = Vec::with_capacity(columns.len());
        for (i, (column, spec)) in columns.iter().zip(view.specs.iter()).enumerate() {
            if column.is_none() || matches!(spec.kind, Kind::Count) {
                inputs.push(Vec::new());
            } else {
                inputs.push(self.values_of(&spec.kind, column, size, i)?);
            }
        }
        if self.batch.iter().any(|&s| self.slots[s as usize].spilled) {
            return Err(PyValueError::new_err(
                "apply: load the spilled states intern named first",
            ));
        }
        let batch = std::mem::take(&mut self.batch);
        let texts = std::mem::take(&mut self.texts);
        let order = std::mem::take(&mut self.order);
        let mut accepted: u64 = 0;
        let mut late = Vec::new();
        let mut ahead = Vec::new();
        let result = (|| -> PyResult<()> {
            let slot_at = |j: usize| batch[order[j] as usize] as usize;
            let input = |f: usize, i: usize| -> &Val {
                let column = &inputs[f];
                if column.is_empty() {
                    &NIL
                } else {
                    &column[i]
                }
            };
            for (j, &i) in order.iter().enumerate() {
                // a pipeline of prefetches, each step reading what the one before fetched:
                // the slot and the event's inputs 16 events ahead, the feature states 8
                // ahead, what they point to 4 ahead, and what that points to 2 ahead
                if j + 16 < order.len() {
                    feature::prefetch(&self.slots[slot_at(j + 16)]);
                    let ahead = order[j + 16] as usize;
                    for column in inputs.iter().filter(|c| !c.is_empty()) {
                        feature::prefetch(&column[ahead]);
                    }
                }
                if j + 8 < order.len() {
                    if let Some(state) = &self.slots[slot_at(j + 8)].state {
                        NativeView::prefetch_features(state);
                    }
                }
                if j + 4 < order.len() {
                    if let Some(state) = &self.slots[slot_at(j + 4)].state {
                        let ahead = order[j + 4] as usize;
                        view.prefetch_data(state, |f| input(f, ahead), false);
                    }
                }
                if j + 2 < order.len() {
                    if let Some(state) = &self.slots[slot_at(j + 2)].state {
                        let ahead = order[j + 2] as usize;
                        view.prefetch_data(state, |f| input(f, ahead), true);
                    }
                }
                let i = i as usize;
                let s = batch[i] as usize;
                if self.slots[s].rows.last().is_some_and(|r| r.0 < arrivals[i]) {
                    self.answer(py, view, s, arrivals[i])?;
                }
                let value = |f: usize| input(f, i);
                let slot = &mut self.slots[s];
                let outcome = match &mut slot.state {
                    Some(state) => view.apply_one(state, times[i], arrivals[i], value, &texts),
                    None => {
                        let mut state = view.fresh();
                        let outcome =
                            view.apply_one(&mut state, times[i], arrivals[i], value, &texts);
                        if outcome == ACCEPTED {
                            slot.state = Some(state);
                            self.resident += 1;
                        }
                        outcome
                    }
                };
                match outcome {
                    ACCEPTED => accepted += 1,
                    LATE => late.push(i),
                    _ => ahead.push(i),
                }
            }
            Ok(())
        })();
        self.batch = batch;
        self.order = order;
        self.texts = texts;
        result?;
        late.sort_unstable();
        ahead.sort_unstable();
        Ok((accepted, late, ahead))
    }

    /// Encode and drop the least recently used resident states beyond `keep`; returns
    /// `(key, bytes)` for the caller to store until `intern` asks for them again.
    fn spill<'py>(
        &mut self,
        py: Python<'py>,
        keep: usize,
    ) -> PyResult<Vec<(String, Bound<'py, PyBytes>)>> {
        if self.resident <= keep {
            return Ok(Vec::new());
        }
        let view_ref = self.view.clone_ref(py);
        let view = view_ref.get();
        // (batches since last used, slot): the oldest are spilled first
        let tick = self.tick;
        let mut resident: Vec<(u32, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state.is_some())
            .map(|(i, s)| (tick.wrapping_sub(s.last_used), i as u32))
            .collect();
        let evict = self.resident - keep;
        if evict < resident.len() {
            resident.select_nth_unstable_by(evict, |a, b| b.0.cmp(&a.0));
        }
        let mut out = Vec::with_capacity(evict);
        for &(_, i) in &resident[..evict] {
            let slot = &mut self.slots[i as usize];
            let state = slot.state.take().expect("resident");
            out.push((
                slot.key.as_str().to_string(),
                PyBytes::new(py, &view.encode(&state)),
            ));
            slot.spilled = true;
        }
        self.resident -= evict;
        Ok(out)
    }

    /// Answer the pending rows of every resident entity and of every entity never seen
    /// (the end of the history: nothing arrives after them). Spilled entities with rows
    /// wait for `load` (see `spilled_with_rows`).
    fn answer_pending(&mut self, py: Python<'_>) -> PyResult<()> {
        let view_ref = self.view.clone_ref(py);
        let view = view_ref.get();
        let due: Vec<usize> = (0..self.slots.len())
            .filter(|&s| !self.slots[s].spilled && !self.slots[s].rows.is_empty())
            .collect();
        for (j, &s) in due.iter().enumerate() {
            // as `apply`: the states some entities ahead, then what they point to
            if let Some(state) = due.get(j + 8).and_then(|&a| self.slots[a].state.as_ref()) {
                NativeView::prefetch_features(state);
            }
            if let Some(state) = due.get(j + 4).and_then(|&a| self.slots[a].state.as_ref()) {
                view.prefetch_data(state, |_| &NIL, false);
            }
            self.answer(py, view, s, i64::MAX)?;
            self.slots[s].rows = Vec::new();
        }
        Ok(())
    }

    /// Keys of spilled entities that still have spine rows, at most `limit`.
    fn spilled_with_rows(&self, limit: usize) -> Vec<String> {
        self.slots
            .iter()
            .filter(|s| s.spilled && !s.rows.is_empty())
            .take(limit)
            .map(|s| s.key.as_str().to_string())
            .collect()
    }

    /// Drop every resident state whose entity has no rows left (after `answer_pending`).
    /// They are freed on a helper thread: freeing a large replay's states one allocation
    /// at a time takes seconds, and nothing needs to wait for it.
    fn drop_answered(&mut self) {
        let mut done: Vec<NativeEntityState> = Vec::new();
        for slot in self.slots.iter_mut() {
            if slot.rows.is_empty() {
                if let Some(state) = slot.state.take() {
                    done.push(state);
                    slot.spilled = true;
                    self.resident -= 1;
                }
            }
        }
        if done.is_empty() {
            return;
        }
        // should no thread be had, `spawn` drops the closure: they are freed here
        let _freeing = std::thread::Builder::new()
            .name("streamfeat-free".into())
            .spawn(move || drop(done));
    }

    /// Let go of everything once the columns are taken: the entities, their index and the
    /// answers are freed on a helper thread, as `drop_answered` frees states (a million
    /// entities and answers are as many allocations to free). The replay is empty after.
    fn release(&mut self) {
        let slots = std::mem::take(&mut self.slots);
        let index = std::mem::replace(&mut self.index, EntityIndex::new());
        let answers = std::mem::take(&mut self.answers);
        let hashes = std::mem::take(&mut self.hashes);
        let texts = std::mem::take(&mut self.texts);
        self.resident = 0;
        self.answered = 0;
        self.rows = 0;
        // should no thread be had, `spawn` drops the closure: they are freed here
        let _freeing = std::thread::Builder::new()
            .name("streamfeat-free".into())
            .spawn(move || drop((slots, index, answers, hashes, texts)));
    }

    /// Feature `i`'s answers, by spine row (`features`: the features wanted, by index).
    #[pyo3(signature = (features, arrays = false))]
    fn columns<'py>(
        &self,
        py: Python<'py>,
        features: Vec<usize>,
        arrays: bool,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let numpy = if arrays {
            Some(py.import("numpy")?)
        } else {
            None
        };
        let mut out = Vec::with_capacity(features.len());
        for f in features {
            let Some(column) = self.answers.get(f) else {
                return Err(PyValueError::new_err(format!("no feature {f}")));
            };
            if let Some(numpy) = &numpy {
                if let Some(array) = typed_column(numpy, column)? {
                    out.push(array);
                    continue;
                }
            }
            let items: Vec<Py<PyAny>> = column
                .iter()
                .map(|o| -> PyResult<Py<PyAny>> {
                    Ok(match o {
                        Out::I(n) => n.into_pyobject(py)?.into_any().unbind(),
                        Out::F(x) => PyFloat::new(py, *x).into_any().unbind(),
                        Out::Null => py.None(),
                        Out::L(items) => PyList::new(py, items)?.into_any().unbind(),
                    })
                })
                .collect::<PyResult<_>>()?;
            out.push(PyList::new(py, items)?.into_any());
        }
        Ok(out)
    }

    /// Resident entity states.
    #[getter]
    fn resident_count(&self) -> usize {
        self.resident
    }

    /// Spine rows answered so far, and in all.
    #[getter]
    fn answered(&self) -> (usize, usize) {
        (self.answered, self.rows)
    }

    /// Entities seen (in the history or the spine).
    #[getter]
    fn entities(&self) -> usize {
        self.slots.len()
    }
}
