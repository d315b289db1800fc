//! `operators._native`: the view operator of `operators/view.py` in Rust, for views whose
//! every feature is a count or a float sum over a lifetime or tiled window (optionally
//! refreshed). Python wraps it in `operators.native.NativeViewOperator`, which keeps the
//! `ViewOperator` interface; states encode to the same bytes as the Python operators'.

mod codec;
mod decode;
mod feature;
mod hashed_texts;
mod hll;
mod replay;
mod text_key;

/// mimalloc for the states' vectors, buffers and maps: glibc's malloc family was ~9 % of
/// the flow's main thread once states outgrow its small bins.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use codec::{FormatError, Reader, Writer};
use feature::{Acc, FeatureState, Kind, ReadError, Refresh, Spec, Val, Window, NEG_INF, POS_INF};
use hashed_texts::{cached_hash, HashedTexts, TextHashes};
use hll::Hll;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyList, PyString, PyTuple};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A feature as Python describes it: (kind, tiled window `(size, tile)`, refresh `(every, lag)`).
type SpecTuple = (String, Option<(i64, i64)>, Option<(i64, i64)>);

/// Spine rows answered by `apply_batch_join`: `(row, values)`.
type Joined = Vec<(Py<PyAny>, Vec<Py<PyAny>>)>;

/// 3 since stop 39 (varint header and lengths, `operators/view.py`); 2 is still read.
const VERSION: u8 = 3;
const ACCEPTED: u8 = 0;
const LATE: u8 = 1;
const TOO_FAR_AHEAD: u8 = 2;

fn format_error(py: Python<'_>, err: FormatError) -> PyErr {
    match py
        .import("operators.codec")
        .and_then(|m| m.getattr("StateFormatError"))
    {
        Ok(cls) => match cls.call1((err.0,)) {
            Ok(exc) => PyErr::from_value(exc),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

/// A read error as the Python operators raise it, for a read at `t`.
fn read_error(py: Python<'_>, err: ReadError, t: i64) -> PyErr {
    let (module, class, msg) = match err {
        ReadError::BeforeSealed {
            boundary,
            sealed_at,
        } => (
            "operators.feature",
            "ReadBeforeStateError",
            format!("read at {t} needs boundary {boundary}, but the state has already sealed boundary {sealed_at}"),
        ),
        ReadError::BeforeNewest { newest, hi } => (
            "operators.base",
            "ReadBeforeNewestEventError",
            format!("window ending at {hi} asked of a state holding an event at {newest}"),
        ),
    };
    match py
        .import(module)
        .and_then(|m| m.getattr(class))
        .and_then(|cls| cls.call1((msg,)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// Mutable state of one entity in one view (`operators.view.EntityState`).
#[pyclass(module = "operators._native")]
pub struct NativeEntityState {
    #[pyo3(get)]
    now: i64,
    #[pyo3(get)]
    frontier: i64,
    #[pyo3(get)]
    seq: i64,
    features: Vec<FeatureState>,
}

/// The most bytes per row `publish_packed` reserves ahead (rows beyond it grow the buffer).
const PACKED_ROW_HINT_MAX: usize = 8192;

/// The compiled runtime of one view.
#[pyclass(module = "operators._native", frozen)]
pub struct NativeView {
    specs: Vec<Spec>,
    /// `hash64` of distinct counts' strings for the general path, which also shares each
    /// string as its events' `Val::S`.
    hashes: Mutex<HashCache>,
    /// The same for the GIL-free apply, which needs only the hash (`TextKey`).
    text_hashes: Mutex<TextHashes>,
    allowed_lateness: i64,
    max_ahead: i64,
    /// Bytes per row of the last `publish_packed` buffer (at most `PACKED_ROW_HINT_MAX`): the
    /// next one starts that large (states grow as windows fill, so a fixed guess grew the
    /// buffer several times a batch; a commit's few large rows must not size a batch's).
    packed_row_bytes: std::sync::atomic::AtomicUsize,
    /// Buffers of earlier `publish_packed` calls, kept for the next ones: a batch's rows
    /// are megabytes, and a fresh buffer each call had its pages faulted and zeroed again
    /// (5.4 % of a micro benchmark's samples on filled windows, stop 55).
    spare_buffers: Mutex<Vec<Vec<u8>>>,
}

/// The most buffers `spare_buffers` keeps (calls of a process's workers at once, and more).
const SPARE_BUFFERS: usize = 4;
/// A buffer larger than this is not kept (a batch of unusually large rows).
const SPARE_BUFFER_MAX: usize = 64 << 20;


/// States borrowed (their `PyRef` guards held by the caller) for GIL-free encoding.
struct Shared(Vec<*const NativeEntityState>);
// SAFETY: each state's `PyRef` guard outlives the encoding: no one can change it.
unsafe impl Send for Shared {}

fn borrow_states<'py>(states: &Bound<'py, PyList>) -> PyResult<Vec<Bound<'py, NativeEntityState>>> {
    states
        .iter()
        .map(|item| item.cast_into::<NativeEntityState>().map_err(PyErr::from))
        .collect()
}

fn guard_states<'py>(
    cells: &[Bound<'py, NativeEntityState>],
) -> PyResult<Vec<PyRef<'py, NativeEntityState>>> {
    cells.iter().map(|cell| cell.try_borrow().map_err(PyErr::from)).collect()
}

/// One state's online row as `publish_each` hands it over (borrowing its buffers).
struct PublishedRow<'a> {
    data: Option<&'a [u8]>,
    values: Option<&'a [u8]>,
    valid_from: i64,
    valid_until: i64,
}

impl NativeView {
    /// Each state's online row, in order, to `sink(index, state, row)` (no GIL needed):
    /// its values as of `max(state.now, at)` as JSON with the span they hold for, and its
    /// bytes unless `large[i]` and the values hold past `horizon` (a values-only row).
    fn publish_each<F>(
        &self,
        shared: &Shared,
        at: Option<i64>,
        horizon: Option<i64>,
        large: &[bool],
        fields: &[Vec<u8>],
        mut sink: F,
    ) -> Result<(), (ReadError, i64)>
    where
        F: FnMut(usize, &NativeEntityState, PublishedRow<'_>),
    {
        let mut scratch = Writer::with_capacity(4096);
        for (i, (&pointer, &large)) in shared.0.iter().zip(large).enumerate() {
            // SAFETY: see `Shared`
            let state = unsafe { &*pointer };
            let (values, from, until) = match at {
                None => (None, 0, 0),
                Some(at) => {
                    let t = state.now.max(at);
                    let outputs = self.outputs_raw(state, t).map_err(|e| (e, t))?;
                    (self.values_json(&outputs, fields), t, self.change(state, t))
                }
            };
            let values_only = large && values.is_some() && horizon.is_some_and(|h| until > h);
            if !values_only {
                self.encode_into(state, &mut scratch);
            }
            let row = PublishedRow {
                data: (!values_only).then_some(&scratch.buf[..]),
                values: values.as_deref(),
                valid_from: from,
                valid_until: until,
            };
            sink(i, state, row);
        }
        Ok(())
    }
}

impl NativeView {
    /// An empty buffer of at least `capacity` bytes: the largest kept in `spare_buffers` if
    /// that is large enough, else a new one. A kept buffer too small is dropped, not grown:
    /// growing reallocates, which copies the whole old allocation (stale bytes, tens of MB
    /// once states are large) into fresh pages (2.6 % of the freshness flow's samples in its
    /// last seconds, stop 57).
    fn spare_buffer(&self, capacity: usize) -> Vec<u8> {
        let kept = self.spare_buffers.lock().ok().and_then(|mut spare| {
            let largest = (0..spare.len()).max_by_key(|&i| spare[i].capacity())?;
            Some(spare.swap_remove(largest))
        });
        match kept {
            Some(mut buf) if buf.capacity() >= capacity => {
                buf.clear();
                buf
            }
            _ => Vec::with_capacity(capacity),
        }
    }

    /// Keep `buf` for a later `spare_buffer` (unless enough are kept, or it is too large).
    fn keep_buffer(&self, buf: Vec<u8>) {
        if buf.capacity() > SPARE_BUFFER_MAX {
            return;
        }
        if let Ok(mut spare) = self.spare_buffers.lock() {
            if spare.len() < SPARE_BUFFERS {
                spare.push(buf);
            }
        }
    }

    fn fresh(&self) -> NativeEntityState {
        NativeEntityState {
            now: NEG_INF,
            frontier: NEG_INF,
            seq: 0,
            features: self.specs.iter().map(FeatureState::new).collect(),
        }
    }

    /// Prefetch what `apply_one` reads of `state`, in steps some events apart, each
    /// reading what the one before fetched: the feature states, then what they point to
    /// (`deep` false: `FeatureState::prefetch_data`), then what that points to (`deep`).
    #[inline]
    pub(crate) fn prefetch_features(state: &NativeEntityState) {
        feature::prefetch_slice(&state.features, usize::MAX);
    }

    #[inline]
    pub(crate) fn prefetch_data<'a>(
        &self,
        state: &NativeEntityState,
        value: impl Fn(usize) -> &'a Val,
        deep: bool,
    ) {
        for (i, (spec, fs)) in self.specs.iter().zip(state.features.iter()).enumerate() {
            if deep {
                fs.prefetch_deep(spec, value(i));
            } else {
                fs.prefetch_data(spec, value(i));
            }
        }
    }

    /// `ViewOperator.apply` on a Rust state; `value(i)` is feature `i`'s input.
    #[inline]
    fn apply_one<'a>(
        &self,
        state: &mut NativeEntityState,
        event_time: i64,
        arrival: i64,
        value: impl Fn(usize) -> &'a Val,
        texts: &[impl AsRef<str>],
    ) -> u8 {
        let now = if arrival > state.now {
            arrival
        } else {
            state.now
        };
        if event_time > now + self.max_ahead {
            return TOO_FAR_AHEAD;
        }
        if event_time < state.frontier - self.allowed_lateness {
            return LATE;
        }
        state.now = now;
        if event_time > state.frontier {
            state.frontier = event_time;
        }
        let seq = state.seq;
        state.seq = seq + 1;
        for (i, (spec, fs)) in self.specs.iter().zip(state.features.iter_mut()).enumerate() {
            feature::add(spec, fs, event_time, seq, value(i), now, texts);
        }
        ACCEPTED
    }

    /// Every feature's value as of `t`, in feature order (read errors as Python's).
    fn outputs(&self, py: Python<'_>, state: &NativeEntityState, t: i64) -> PyResult<Vec<Out>> {
        self.outputs_raw(state, t).map_err(|e| read_error(py, e, t))
    }

    /// `outputs` without the GIL: a read error is returned as it is.
    fn outputs_raw(&self, state: &NativeEntityState, t: i64) -> Result<Vec<Out>, ReadError> {
        let mut out = Vec::with_capacity(self.specs.len());
        for (spec, fs) in self.specs.iter().zip(state.features.iter()) {
            if let Some(acc) = feature::running_acc(spec, fs) {
                // what `intermediate` returns, without copying the accumulator (`copy_of`
                // adds 0.0 to a float sum: -0.0 reads as 0.0)
                out.push(match acc {
                    Acc::F(x) => Out::F(0.0 + *x),
                    acc => Self::output(spec, acc),
                });
                continue;
            }
            let quick = feature::quick_distinct(spec, fs, t);
            let intermediate = match quick {
                Some(Ok(n)) => {
                    out.push(Out::I(n));
                    continue;
                }
                Some(Err(e)) => Err(e),
                None => feature::intermediate(spec, fs, t),
            };
            out.push(Self::output(spec, &intermediate?));
        }
        Ok(out)
    }

    /// A feature's value from its intermediate.
    #[inline]
    fn output(spec: &Spec, acc: &Acc) -> Out {
        match acc {
            Acc::I(n) => Out::I(*n),
            Acc::F(x) => Out::F(*x),
            Acc::Opt(None) => Out::Null,
            Acc::Opt(Some(x)) => Out::F(*x),
            Acc::Last(items) => Out::L(items.iter().map(|i| i.2).collect()),
            Acc::Regs(regs) => {
                let Kind::Distinct(hll) = &spec.kind else {
                    unreachable!()
                };
                Out::I(hll.value(regs))
            }
        }
    }

    fn values(
        &self,
        py: Python<'_>,
        state: &NativeEntityState,
        t: i64,
    ) -> PyResult<Vec<Py<PyAny>>> {
        self.outputs(py, state, t)?
            .into_iter()
            .map(|o| -> PyResult<Py<PyAny>> {
                Ok(match o {
                    Out::I(n) => n.into_pyobject(py)?.into_any().unbind(),
                    Out::F(x) => PyFloat::new(py, x).into_any().unbind(),
                    Out::Null => py.None(),
                    Out::L(items) => PyList::new(py, items)?.into_any().unbind(),
                })
            })
            .collect()
    }

    /// The values as the JSON object `orjson.dumps(dict(zip(names, values)))` reads back
    /// as (shortest round-trip floats); `None` when JSON cannot carry them exactly
    /// (a non-finite float), as `streamfeat.online.base.cache_values` decides.
    /// `fields`: each name as a JSON string and its colon (`json_fields`), made once per batch.
    fn values_json(&self, outputs: &[Out], fields: &[Vec<u8>]) -> Option<Vec<u8>> {
        let mut w: Vec<u8> =
            Vec::with_capacity(16 + fields.iter().map(|f| f.len() + 24).sum::<usize>());
        w.push(b'{');
        for (i, (o, field)) in outputs.iter().zip(fields).enumerate() {
            if i > 0 {
                w.push(b',');
            }
            w.extend_from_slice(field);
            match o {
                Out::I(n) => w.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
                Out::F(x) => json_float(&mut w, *x)?,
                Out::Null => w.extend_from_slice(b"null"),
                Out::L(items) => {
                    w.push(b'[');
                    for (j, x) in items.iter().enumerate() {
                        if j > 0 {
                            w.push(b',');
                        }
                        json_float(&mut w, *x)?;
                    }
                    w.push(b']');
                }
            }
        }
        w.push(b'}');
        Some(w)
    }
}

/// A feature value as the core computes it (`values` makes the Python objects).
enum Out {
    I(i64),
    F(f64),
    Null,
    L(Vec<f64>),
}

/// Each name as a JSON string followed by its colon: the keys of `values_json`.
fn json_fields(names: &[String]) -> Vec<Vec<u8>> {
    names
        .iter()
        .map(|name| {
            let mut w = Vec::with_capacity(name.len() + 3);
            json_str(&mut w, name);
            w.push(b':');
            w
        })
        .collect()
}

/// `x` as JSON that reads back as the same float (never as an int); `None` if not finite.
fn json_float(w: &mut Vec<u8>, x: f64) -> Option<()> {
    if !x.is_finite() {
        return None;
    }
    // Żmij writes the shortest round-trip digits and always a '.' or an exponent ("1.0",
    // "1e+16"), as JSON needs to read a float back; several times faster than `{x:?}`, whose
    // digits it shares (measured at stop 22: formatting was a fifth of publishing W1 values).
    w.extend_from_slice(zmij::Buffer::new().format_finite(x).as_bytes());
    Some(())
}

fn json_str(w: &mut Vec<u8>, text: &str) {
    w.push(b'"');
    for c in text.chars() {
        match c {
            '"' => w.extend_from_slice(b"\\\""),
            '\\' => w.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                w.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                w.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    w.push(b'"');
}

/// `hash64` of strings seen lately (ids repeat a lot; Python memoises it too).
type HashCache = HashMap<Arc<str>, u64>;
const HASH_CACHE_SIZE: usize = 1 << 16;

/// No batch table of strings (values hold their own: `Val::S`).
const NO_TEXTS: &[&str] = &[];

/// One input value of feature `feature`: a float, or a string for distinct counts.
fn input_value(
    kind: &Kind,
    item: Bound<'_, PyAny>,
    feature: usize,
    hashes: &mut HashCache,
) -> PyResult<Val> {
    match kind {
        Kind::Count => Ok(Val::Nil),
        Kind::Distinct(_) => match item.cast::<PyString>() {
            Ok(s) => {
                let text = s.to_str()?;
                // the cached string is shared: no allocation per event
                if let Some((shared, hash)) = hashes.get_key_value(text) {
                    return Ok(Val::S(shared.clone(), *hash));
                }
                if hashes.len() >= HASH_CACHE_SIZE {
                    hashes.clear();
                }
                let shared: Arc<str> = Arc::from(text);
                let hash = Hll::hash(text);
                hashes.insert(shared.clone(), hash);
                Ok(Val::S(shared, hash))
            }
            Err(_) => Err(PyTypeError::new_err(format!(
                "feature {feature}: the native distinct count takes strings, got {}",
                item.get_type().name()?
            ))),
        },
        _ => match item.cast::<PyFloat>() {
            Ok(f) => Ok(Val::F(f.value())),
            Err(_) => Err(PyTypeError::new_err(format!(
                "feature {feature}: the native core takes float values here, got {}",
                item.get_type().name()?
            ))),
        },
    }
}

fn input_column(
    kind: &Kind,
    column: &Bound<'_, PyAny>,
    size: usize,
    feature: usize,
    hashes: &mut HashCache,
) -> PyResult<Vec<Val>> {
    let mut out = Vec::with_capacity(size);
    if let Ok(list) = column.cast::<PyList>() {
        for item in list.iter() {
            out.push(input_value(kind, item, feature, hashes)?);
        }
    } else if let (Kind::SumFloat | Kind::MaxFloat | Kind::LastN(_), Ok(buffer)) =
        (kind, pyo3::buffer::PyBuffer::<f64>::get(column))
    {
        // a float64 buffer (`array.array("d")`): the numbers a float field holds
        out.extend(buffer.to_vec(column.py())?.into_iter().map(Val::F));
    } else {
        for item in column.try_iter()? {
            out.push(input_value(kind, item?, feature, hashes)?);
        }
    }
    Ok(out)
}

static NIL: Val = Val::Nil;

/// Positions in entity order (a counting sort: one flat array, no vector per entity):
/// `order[starts[s]..starts[s + 1]]` are the positions of slot `s`, ascending, given each
/// slot's `counts` and each position's slot.
fn entity_order(counts: &[usize], slot_of: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let mut starts: Vec<usize> = Vec::with_capacity(counts.len() + 1);
    let mut total = 0;
    for c in counts.iter() {
        starts.push(total);
        total += c;
    }
    starts.push(total);
    let mut fill = starts.clone();
    let mut order = vec![0usize; slot_of.len()];
    for (i, &slot) in slot_of.iter().enumerate() {
        order[fill[slot]] = i;
        fill[slot] += 1;
    }
    (starts, order)
}

/// The state `states` maps `key` to, if any: a dict lookup, or the mapping's `get`.
fn stored_state<'py>(
    states: &Bound<'py, PyAny>,
    dict: Option<&Bound<'py, PyDict>>,
    key: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    match dict {
        Some(d) => d.get_item(key),
        None => {
            let got = states.call_method1("get", (key,))?;
            Ok(if got.is_none() { None } else { Some(got) })
        }
    }
}

/// Integers: a list, an int64 buffer (`array.array("q")`, NumPy) or any iterable of ints.
fn ints(seq: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    if let Ok(list) = seq.cast::<PyList>() {
        let mut out = Vec::with_capacity(list.len());
        for item in list.iter() {
            out.push(item.extract::<i64>()?);
        }
        return Ok(out);
    }
    if let Ok(buffer) = pyo3::buffer::PyBuffer::<i64>::get(seq) {
        return buffer.to_vec(seq.py());
    }
    seq.try_iter()?.map(|item| item?.extract::<i64>()).collect()
}

/// A batch's event times and arrivals (lists or int64 buffers) and its feature columns,
/// checked to agree with `size` keys and `features` features.
#[allow(clippy::type_complexity)]
fn batch_columns<'py>(
    size: usize,
    event_times: &Bound<'py, PyAny>,
    arrivals: &Bound<'py, PyAny>,
    columns: &Bound<'py, PyAny>,
    features: usize,
) -> PyResult<(Vec<i64>, Vec<i64>, Vec<Bound<'py, PyAny>>)> {
    let times = ints(event_times)?;
    let arrivals = ints(arrivals)?;
    let columns: Vec<Bound<'py, PyAny>> = columns.try_iter()?.collect::<PyResult<_>>()?;
    if times.len() != size || arrivals.len() != size || columns.len() != features {
        return Err(PyValueError::new_err(format!(
            "batch columns disagree: {size} keys, {} event times, {} arrivals, {} feature columns for {features} features",
            times.len(),
            arrivals.len(),
            columns.len(),
        )));
    }
    Ok((times, arrivals, columns))
}

#[pymethods]
impl NativeView {
    /// `specs`: per feature `(kind, window, refresh)` — kind `"count"` or `"sum_float"`;
    /// window `None` (lifetime) or `(size, tile)`; refresh `None` or `(every, lag)`.
    #[new]
    fn new(specs: Vec<SpecTuple>, allowed_lateness: i64, max_ahead: i64) -> PyResult<Self> {
        let mut out = Vec::with_capacity(specs.len());
        for (kind, window, refresh) in specs {
            let kind = match kind.split_once(':') {
                None if kind == "count" => Kind::Count,
                None if kind == "sum_float" => Kind::SumFloat,
                None if kind == "max_float" => Kind::MaxFloat,
                Some(("last_n", n)) => match n.parse::<usize>() {
                    Ok(n) if n >= 1 => Kind::LastN(n),
                    _ => {
                        return Err(PyValueError::new_err(format!(
                            "native core: bad last_n {n:?}"
                        )))
                    }
                },
                Some(("distinct", p)) => match p.parse::<u8>().ok().and_then(Hll::new) {
                    Some(hll) => Kind::Distinct(hll),
                    None => {
                        return Err(PyValueError::new_err(format!(
                            "native core: bad precision {p:?}"
                        )))
                    }
                },
                _ => {
                    return Err(PyValueError::new_err(format!(
                        "native core: unknown aggregation {kind:?}"
                    )))
                }
            };
            let window = match window {
                None => Window::Lifetime,
                Some((size, 0)) if size > 0 => Window::Sliding { size },
                Some((size, tile)) => {
                    if tile <= 0 || size <= 0 || size % tile != 0 {
                        return Err(PyValueError::new_err(
                            "native core: tiled window needs size % tile == 0, both > 0",
                        ));
                    }
                    Window::Tiled { size, tile }
                }
            };
            let shape_ok = matches!(
                (&kind, window),
                (Kind::Count | Kind::SumFloat, _)
                    | (Kind::MaxFloat | Kind::Distinct(_), Window::Sliding { .. })
                    | (Kind::LastN(_), Window::Lifetime)
            );
            if !shape_ok
                || (refresh.is_some()
                    && !matches!(
                        (&kind, window),
                        (
                            Kind::Count | Kind::SumFloat,
                            Window::Lifetime | Window::Tiled { .. }
                        )
                    ))
            {
                return Err(PyValueError::new_err(format!(
                    "native core: {kind:?} over {window:?} is not covered"
                )));
            }
            let refresh = match refresh {
                None => None,
                Some((every, lag)) => {
                    if every <= 0 || lag < 0 {
                        return Err(PyValueError::new_err(
                            "native core: refresh needs every > 0 and lag >= 0",
                        ));
                    }
                    Some(Refresh { every, lag })
                }
            };
            out.push(Spec::new(kind, window, refresh));
        }
        if allowed_lateness < 0 || max_ahead < 0 {
            return Err(PyValueError::new_err(
                "allowed_lateness and max_ahead must be >= 0",
            ));
        }
        Ok(NativeView {
            specs: out,
            hashes: Mutex::new(HashMap::new()),
            text_hashes: Mutex::new(HashMap::default()),
            allowed_lateness,
            max_ahead,
            packed_row_bytes: std::sync::atomic::AtomicUsize::new(700),
            spare_buffers: Mutex::new(Vec::new()),
        })
    }

    fn new_state(&self) -> NativeEntityState {
        self.fresh()
    }

    /// One event; returns 0 accepted, 1 late, 2 too far ahead. `values[i]` is feature
    /// `i`'s input (`None` for counts, a float for sums).
    fn apply(
        &self,
        mut state: PyRefMut<'_, NativeEntityState>,
        event_time: i64,
        arrival: i64,
        values: &Bound<'_, PyAny>,
    ) -> PyResult<u8> {
        let values: Vec<Bound<'_, PyAny>> = values.try_iter()?.collect::<PyResult<_>>()?;
        if values.len() != self.specs.len() {
            return Err(PyValueError::new_err(format!(
                "{} values for {} features",
                values.len(),
                self.specs.len()
            )));
        }
        let mut inputs = Vec::with_capacity(values.len());
        for (i, (spec, value)) in self.specs.iter().zip(values).enumerate() {
            inputs.push(input_value(
                &spec.kind,
                value,
                i,
                &mut self.hashes.lock().unwrap(),
            )?);
        }
        Ok(self.apply_one(&mut state, event_time, arrival, |i| &inputs[i], NO_TEXTS))
    }

    /// A batch, in order, against the mapping `states` (entity -> state; an entity enters
    /// it with its first accepted event). Returns `(accepted, late positions, too-far-ahead
    /// positions)`, positions ascending. Entities are independent, so each entity's events
    /// are applied together, in their batch order: one lookup per entity.
    #[pyo3(signature = (states, keys, event_times, arrivals, columns))]
    fn apply_batch<'py>(
        &self,
        py: Python<'py>,
        states: &Bound<'py, PyAny>,
        keys: &Bound<'py, PyAny>,
        event_times: &Bound<'py, PyAny>,
        arrivals: &Bound<'py, PyAny>,
        columns: &Bound<'py, PyAny>,
    ) -> PyResult<(u64, Vec<usize>, Vec<usize>)> {
        if let Some(done) = self.apply_free(py, states, keys, event_times, arrivals, columns, None)? {
            return Ok(done);
        }
        self.batch(
            py,
            states,
            keys,
            event_times,
            arrivals,
            columns,
            None,
            &mut Vec::new(),
        )
    }

    /// `apply_batch` that also answers spine rows: `pending` maps an entity to its rows
    /// `(time, row)`, latest first (the order `list.pop` takes them). A row is answered
    /// on its entity's state just before the entity's first event in the batch that
    /// arrived after its time, and removed (an entity with no rows left is removed);
    /// rows whose moment has not come stay. Returns `(accepted, late, too_far_ahead,
    /// answered)`, `answered` holding `(row, values)`: backfill's point-in-time join,
    /// entity by entity, without a pass over the events in Python.
    #[allow(clippy::too_many_arguments)]
    fn apply_batch_join<'py>(
        &self,
        py: Python<'py>,
        states: &Bound<'py, PyAny>,
        keys: &Bound<'py, PyAny>,
        event_times: &Bound<'py, PyAny>,
        arrivals: &Bound<'py, PyAny>,
        columns: &Bound<'py, PyAny>,
        pending: &Bound<'py, PyDict>,
    ) -> PyResult<(u64, Vec<usize>, Vec<usize>, Joined)> {
        let mut joined = Vec::new();
        let (accepted, late, ahead) = self.batch(
            py,
            states,
            keys,
            event_times,
            arrivals,
            columns,
            Some(pending),
            &mut joined,
        )?;
        Ok((accepted, late, ahead, joined))
    }

    /// Every feature's value as of `t`, in feature order.
    fn read<'py>(
        &self,
        py: Python<'py>,
        state: PyRef<'_, NativeEntityState>,
        t: i64,
    ) -> PyResult<Vec<Py<PyAny>>> {
        self.values(py, &state, t)
    }

    /// `(values, next change)` — `ViewOperator.read_until`.
    fn read_until<'py>(
        &self,
        py: Python<'py>,
        state: PyRef<'_, NativeEntityState>,
        t: i64,
    ) -> PyResult<(Vec<Py<PyAny>>, i64)> {
        let values = self.values(py, &state, t)?;
        Ok((values, self.change(&state, t)))
    }

    fn next_change(&self, state: PyRef<'_, NativeEntityState>, t: i64) -> i64 {
        self.change(&state, t)
    }

    fn to_bytes<'py>(
        &self,
        py: Python<'py>,
        state: PyRef<'_, NativeEntityState>,
    ) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.encode(&state))
    }

    /// The online rows of a batch's touched states, in order: `(data, values, valid_from,
    /// valid_until)` with `data` the state's bytes and `values` its values as of
    /// `max(state.now, at)` as JSON (`streamfeat.online.base.cache_values`; `None`
    /// without `at`, or when JSON cannot carry them), valid until their next change.
    /// Where `large[i]` and the values hold past `horizon`, `data` is `None` (a
    /// values-only row: `streamfeat.pipeline`).
    #[pyo3(signature = (states, names, at, horizon, large))]
    fn publish_batch<'py>(
        &self,
        py: Python<'py>,
        states: &Bound<'py, PyList>,
        names: Vec<String>,
        at: Option<i64>,
        horizon: Option<i64>,
        large: Vec<bool>,
    ) -> PyResult<Bound<'py, PyList>> {
        if names.len() != self.specs.len() || large.len() != states.len() {
            return Err(PyValueError::new_err(
                "publish_batch: one name per feature and one large flag per state",
            ));
        }
        let cells = borrow_states(states)?;
        let guards = guard_states(&cells)?;
        let shared = Shared(guards.iter().map(|g| &**g as *const _).collect());
        let fields = json_fields(&names);
        // Per state: (data end, values end or None, from, until) into one buffer each.
        type Encoded = (Option<usize>, Option<usize>, i64, i64);
        type Buffers = (Vec<u8>, Vec<u8>, Vec<Encoded>);
        let encoded: Result<Buffers, (ReadError, i64)> = py.detach(move || {
            let shared = shared;
            let mut data = Vec::with_capacity(shared.0.len() * 512);
            let mut texts = Vec::with_capacity(shared.0.len() * 128);
            let mut out = Vec::with_capacity(shared.0.len());
            self.publish_each(&shared, at, horizon, &large, &fields, |_, _, row| {
                let data_end = row.data.map(|d| {
                    data.extend_from_slice(d);
                    data.len()
                });
                let values_end = row.values.map(|v| {
                    texts.extend_from_slice(v);
                    texts.len()
                });
                out.push((data_end, values_end, row.valid_from, row.valid_until));
            })?;
            Ok((data, texts, out))
        });
        drop(guards);
        let (data, texts, encoded) = encoded.map_err(|(e, t)| read_error(py, e, t))?;
        let out = PyList::empty(py);
        let (mut data_at, mut text_at) = (0, 0);
        for (data_end, values_end, from, until) in encoded {
            let data: Py<PyAny> = match data_end {
                None => py.None(),
                Some(end) => {
                    let bytes = PyBytes::new(py, &data[data_at..end]).into_any().unbind();
                    data_at = end;
                    bytes
                }
            };
            let values: Py<PyAny> = match values_end {
                None => py.None(),
                Some(end) => {
                    let bytes = PyBytes::new(py, &texts[text_at..end]).into_any().unbind();
                    text_at = end;
                    bytes
                }
            };
            out.append((data, values, from, until))?;
        }
        Ok(out)
    }

    /// `apply_batch`, then `publish_packed` of every entity of the batch that has a state,
    /// in the order of its first event: one call instead of two and the mapping's lookups
    /// between them. `large`: the entities last published with large states (a set; flags
    /// for `publish_packed`). `None` where `apply_batch` would not take the GIL-free path
    /// (a key not a `str`, ...): nothing was applied, and the caller applies and publishes
    /// in two calls. Returns `(accepted, late, too_far_ahead, entities, packed, data,
    /// values_only, large_at)`.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    #[pyo3(signature = (states, keys, event_times, arrivals, columns, names, at, horizon, large, threshold))]
    fn apply_publish<'py>(
        &self,
        py: Python<'py>,
        states: &Bound<'py, PyAny>,
        keys: &Bound<'py, PyAny>,
        event_times: &Bound<'py, PyAny>,
        arrivals: &Bound<'py, PyAny>,
        columns: &Bound<'py, PyAny>,
        names: Vec<String>,
        at: Option<i64>,
        horizon: Option<i64>,
        large: &Bound<'py, PyAny>,
        threshold: usize,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let mut touched = Vec::new();
        let Some((accepted, late, ahead)) = self.apply_free(
            py,
            states,
            keys,
            event_times,
            arrivals,
            columns,
            Some(&mut touched),
        )?
        else {
            return Ok(None);
        };
        let large = if large.len().unwrap_or(0) > 0 { Some(large) } else { None };
        let entities = PyList::empty(py);
        let cells = PyList::empty(py);
        let mut flags = Vec::with_capacity(touched.len());
        for (key, cell) in touched {
            if cell.borrow().seq == 0 {
                continue; // as `streamfeat.pipeline` publishes: states with events only
            }
            flags.push(match large {
                Some(set) => set.contains(&key)?,
                None => false,
            });
            entities.append(key)?;
            cells.append(cell)?;
        }
        let (packed, data, values_only, large_at) =
            self.publish_packed(py, &cells, &entities, names, at, horizon, flags, threshold)?;
        let out = (accepted, late, ahead, entities, packed, data, values_only, large_at).into_pyobject(py)?;
        Ok(Some(out))
    }

    /// The online rows of a batch's touched states, as `publish_batch` makes them, packed
    /// into one buffer for a store that takes packed rows (`streamfeat.online.packed`,
    /// whose docstring gives the layout), with `entities[i]` the key of `states[i]`.
    /// Returns `(packed, data, values_only, large_at)`: the buffer; each state's bytes
    /// (`None` for a values-only row), which the caller keeps for its commit; the
    /// `(index, valid_until)` of the values-only rows; and the indexes of the states
    /// whose bytes are at least `threshold` long.
    #[pyo3(signature = (states, entities, names, at, horizon, large, threshold))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn publish_packed<'py>(
        &self,
        py: Python<'py>,
        states: &Bound<'py, PyList>,
        entities: &Bound<'py, PyList>,
        names: Vec<String>,
        at: Option<i64>,
        horizon: Option<i64>,
        large: Vec<bool>,
        threshold: usize,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyList>, Vec<(usize, i64)>, Vec<usize>)> {
        if names.len() != self.specs.len()
            || large.len() != states.len()
            || entities.len() != states.len()
        {
            return Err(PyValueError::new_err(
                "publish_packed: one name per feature, one entity and one large flag per state",
            ));
        }
        let mut keys: Vec<u8> = Vec::with_capacity(entities.len() * 16);
        let mut key_ends: Vec<usize> = Vec::with_capacity(entities.len());
        for entity in entities.iter() {
            keys.extend_from_slice(entity.cast::<PyString>()?.to_str()?.as_bytes());
            key_ends.push(keys.len());
        }
        let cells = borrow_states(states)?;
        let guards = guard_states(&cells)?;
        let shared = Shared(guards.iter().map(|g| &**g as *const _).collect());
        let fields = json_fields(&names);
        type Packed = (Vec<u8>, Vec<(usize, usize)>, Vec<(usize, i64)>, Vec<usize>);
        let packed: Result<Packed, (ReadError, i64)> = py.detach(move || {
            let shared = shared;
            let per_row = self.packed_row_bytes.load(std::sync::atomic::Ordering::Relaxed);
            let mut buf = self.spare_buffer(shared.0.len() * per_row);
            let mut spans = Vec::with_capacity(shared.0.len()); // each state's bytes in buf
            let (mut values_only, mut large_at) = (Vec::new(), Vec::new());
            self.publish_each(&shared, at, horizon, &large, &fields, |i, state, row| {
                let key = &keys[if i == 0 { 0 } else { key_ends[i - 1] }..key_ends[i]];
                buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
                buf.extend_from_slice(key);
                for x in [state.seq, state.frontier, row.valid_from, row.valid_until] {
                    buf.extend_from_slice(&x.to_le_bytes());
                }
                for part in [row.values, row.data] {
                    buf.extend_from_slice(&part.map_or(-1i32, |p| p.len() as i32).to_le_bytes());
                    buf.extend_from_slice(part.unwrap_or_default());
                }
                match row.data {
                    None => {
                        values_only.push((i, row.valid_until));
                        spans.push((0, 0));
                    }
                    Some(d) => {
                        if d.len() >= threshold {
                            large_at.push(i);
                        }
                        spans.push((buf.len() - d.len(), buf.len()));
                    }
                }
            })?;
            if !spans.is_empty() {
                // a little over the mean, so that a batch like this one fits at once
                let mean = buf.len() / spans.len();
                self.packed_row_bytes
                    .store((mean + mean / 8).clamp(64, PACKED_ROW_HINT_MAX), std::sync::atomic::Ordering::Relaxed);
            }
            Ok((buf, spans, values_only, large_at))
        });
        drop(guards);
        let (buf, spans, values_only, large_at) = packed.map_err(|(e, t)| read_error(py, e, t))?;
        let data = PyList::empty(py);
        let mut next_values_only = values_only.iter().map(|&(i, _)| i).peekable();
        for (i, &(start, end)) in spans.iter().enumerate() {
            if next_values_only.peek() == Some(&i) {
                next_values_only.next();
                data.append(py.None())?;
            } else {
                data.append(PyBytes::new(py, &buf[start..end]))?;
            }
        }
        let packed = PyBytes::new(py, &buf);
        self.keep_buffer(buf);
        Ok((packed, data, values_only, large_at))
    }

    /// `from_bytes` of each of `blobs` (a list of `bytes`), decoded without the GIL: a state
    /// cache reading back a batch's evicted entities decodes them all in one call while the
    /// process's other threads run Python. Raises as `from_bytes` does for the first blob
    /// that does not decode (no state is returned then).
    #[allow(clippy::wrong_self_convention)] // mirrors ViewOperator.from_bytes
    fn from_bytes_many(&self, py: Python<'_>, blobs: &Bound<'_, PyList>) -> PyResult<Vec<NativeEntityState>> {
        let held: Vec<Bound<'_, PyBytes>> = blobs
            .iter()
            .map(|blob| blob.cast_into::<PyBytes>().map_err(PyErr::from))
            .collect::<PyResult<_>>()?;
        /// Each blob's bytes, read without the GIL.
        struct Slices(Vec<(*const u8, usize)>);
        // SAFETY: the `bytes` objects are immutable and `held` keeps each alive until the
        // call returns, after the closure below.
        unsafe impl Send for Slices {}
        let slices = Slices(held.iter().map(|b| (b.as_bytes().as_ptr(), b.as_bytes().len())).collect());
        let decoded = py.detach(move || {
            let slices = slices;
            slices
                .0
                .iter()
                // SAFETY: see `Slices`
                .map(|&(at, len)| self.decode(unsafe { std::slice::from_raw_parts(at, len) }))
                .collect::<Result<Vec<_>, FormatError>>()
        });
        drop(held);
        decoded.map_err(|e| format_error(py, e))
    }

    #[allow(clippy::wrong_self_convention)] // mirrors ViewOperator.from_bytes
    fn from_bytes(&self, py: Python<'_>, data: &[u8]) -> PyResult<NativeEntityState> {
        self.decode(data).map_err(|e| format_error(py, e))
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "NativeView is not picklable; build it from the view definition",
        ))
    }
}

impl NativeView {
    /// `apply_batch`, answering the spine rows of `pending` on the way (see `apply_batch_join`).
    #[allow(clippy::too_many_arguments)]
    fn batch<'py>(
        &self,
        py: Python<'py>,
        states: &Bound<'py, PyAny>,
        keys: &Bound<'py, PyAny>,
        event_times: &Bound<'py, PyAny>,
        arrivals: &Bound<'py, PyAny>,
        columns: &Bound<'py, PyAny>,
        pending: Option<&Bound<'py, PyDict>>,
        joined: &mut Joined,
    ) -> PyResult<(u64, Vec<usize>, Vec<usize>)> {
        let keys: Vec<Bound<'py, PyAny>> = match keys.cast::<PyList>() {
            Ok(list) => list.iter().collect(),
            Err(_) => keys.try_iter()?.collect::<PyResult<_>>()?,
        };
        let size = keys.len();
        let (times, arrivals, columns) =
            batch_columns(size, event_times, arrivals, columns, self.specs.len())?;
        let mut inputs: Vec<Option<Vec<Val>>> = Vec::with_capacity(columns.len());
        for (i, (column, spec)) in columns.iter().zip(self.specs.iter()).enumerate() {
            if column.is_none() || matches!(spec.kind, Kind::Count) {
                inputs.push(None);
                continue;
            }
            let values = input_column(
                &spec.kind,
                column,
                size,
                i,
                &mut self.hashes.lock().unwrap(),
            )?;
            if values.len() != size {
                return Err(PyValueError::new_err(format!(
                    "batch column of feature {i} has {} values for {size} keys",
                    values.len()
                )));
            }
            inputs.push(Some(values));
        }
        // Group positions by entity (Python hashing and equality of the keys).
        // One flat array of positions ordered by entity (a counting sort), no vector per entity.
        let slots = PyDict::new(py);
        let mut slot_of: Vec<usize> = Vec::with_capacity(size);
        let mut counts: Vec<usize> = Vec::new();
        for key in keys.iter() {
            let slot = match slots.get_item(key)? {
                Some(slot) => slot.extract::<usize>()?,
                None => {
                    slots.set_item(key, counts.len())?;
                    counts.push(0);
                    counts.len() - 1
                }
            };
            counts[slot] += 1;
            slot_of.push(slot);
        }
        let (starts, order) = entity_order(&counts, &slot_of);
        let groups = (0..counts.len()).map(|s| &order[starts[s]..starts[s + 1]]);
        let dict = states.cast::<PyDict>().ok();
        fn value(column: &Option<Vec<Val>>, i: usize) -> &Val {
            match column {
                None => &NIL,
                Some(v) => &v[i],
            }
        }
        let mut accepted: u64 = 0;
        let mut late: Vec<usize> = Vec::new();
        let mut ahead: Vec<usize> = Vec::new();
        for positions in groups {
            let key = &keys[positions[0]];
            let found = stored_state(states, dict, key)?;
            let (cell, stored) = match found {
                Some(obj) => (
                    obj.cast_into::<NativeEntityState>().map_err(PyErr::from)?,
                    true,
                ),
                None => (Bound::new(py, self.fresh())?, false),
            };
            let mut any = false;
            {
                let mut state = cell.borrow_mut();
                // spine rows of this entity, latest first: those before an event's arrival
                // are answered just before it
                let rows = match pending {
                    Some(p) => p
                        .get_item(key)?
                        .map(|l| l.cast_into::<PyList>())
                        .transpose()?,
                    None => None,
                };
                let mut next_row = match &rows {
                    Some(r) if !r.is_empty() => {
                        Some(r.get_item(r.len() - 1)?.extract::<(i64, Py<PyAny>)>()?)
                    }
                    _ => None,
                };
                for &i in positions.iter() {
                    while let Some((t, row)) = next_row.take() {
                        if t >= arrivals[i] {
                            next_row = Some((t, row));
                            break;
                        }
                        joined.push((row, self.values(py, &state, t)?));
                        let r = rows.as_ref().expect("rows");
                        r.del_item(r.len() - 1)?;
                        if !r.is_empty() {
                            next_row =
                                Some(r.get_item(r.len() - 1)?.extract::<(i64, Py<PyAny>)>()?);
                        }
                    }
                    match self.apply_one(
                        &mut state,
                        times[i],
                        arrivals[i],
                        |f| value(&inputs[f], i),
                        NO_TEXTS,
                    ) {
                        ACCEPTED => {
                            accepted += 1;
                            any = true;
                        }
                        LATE => late.push(i),
                        _ => ahead.push(i),
                    }
                }
                if let (Some(p), Some(r)) = (pending, &rows) {
                    if r.is_empty() {
                        p.del_item(key)?;
                    }
                }
            }
            if any && !stored {
                states.set_item(key, cell)?;
            }
        }
        late.sort_unstable();
        ahead.sort_unstable();
        Ok((accepted, late, ahead))
    }

    /// `apply_batch` with the work done without the GIL, so that another thread (a second
    /// worker's partitions) runs Python meanwhile: holding it, only the keys' and strings'
    /// text is read and the states are looked up and stored. `None` (nothing done) when a
    /// key is not a `str` or a distinct count's input not a string: `batch` then decides,
    /// raising as it always did.
    ///
    /// With `touched`, also gives each entity that has a state after the batch, with its
    /// state, in the order of the entity's first event in the batch (`apply_publish`).
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    fn apply_free<'py>(
        &self,
        py: Python<'py>,
        states: &Bound<'py, PyAny>,
        keys: &Bound<'py, PyAny>,
        event_times: &Bound<'py, PyAny>,
        arrivals: &Bound<'py, PyAny>,
        columns: &Bound<'py, PyAny>,
        mut touched: Option<&mut Vec<(Bound<'py, PyAny>, Bound<'py, NativeEntityState>)>>,
    ) -> PyResult<Option<(u64, Vec<usize>, Vec<usize>)>> {
        let Ok(keys) = keys.cast::<PyList>() else {
            return Ok(None);
        };
        let keys: Vec<Bound<'py, PyAny>> = keys.iter().collect();
        let mut texts: Vec<&str> = Vec::with_capacity(keys.len());
        for key in keys.iter() {
            match key.cast::<PyString>() {
                Ok(s) => texts.push(s.to_str()?),
                Err(_) => return Ok(None),
            }
        }
        let size = keys.len();
        let (times, arrivals, columns) =
            batch_columns(size, event_times, arrivals, columns, self.specs.len())?;
        /// A feature's inputs as read holding the GIL.
        enum Input<'py> {
            None,
            Vals(Vec<Val>),
            Items(Vec<Bound<'py, PyString>>),
            Hashed(Bound<'py, HashedTexts>),
        }
        /// The same, ready for the GIL-free loop.
        enum Ready<'a> {
            None,
            Vals(Vec<Val>),
            Strs(Vec<&'a str>),
            Hashed(&'a HashedTexts),
        }
        let mut raw: Vec<Input<'py>> = Vec::with_capacity(columns.len());
        for (i, (column, spec)) in columns.iter().zip(self.specs.iter()).enumerate() {
            if column.is_none() || matches!(spec.kind, Kind::Count) {
                raw.push(Input::None);
                continue;
            }
            let input = if let Ok(texts) = column.cast::<HashedTexts>() {
                // a distinct count's texts and hashes from the decoder: no str per value
                if !matches!(spec.kind, Kind::Distinct(_)) {
                    return Ok(None);
                }
                Input::Hashed(texts.clone())
            } else if let Kind::Distinct(_) = spec.kind {
                let Ok(list) = column.cast::<PyList>() else {
                    return Ok(None);
                };
                let mut out = Vec::with_capacity(size);
                for item in list.iter() {
                    match item.cast_into::<PyString>() {
                        Ok(s) => out.push(s),
                        Err(_) => return Ok(None),
                    }
                }
                Input::Items(out)
            } else {
                Input::Vals(input_column(
                    &spec.kind,
                    column,
                    size,
                    i,
                    &mut HashMap::new(),
                )?)
            };
            let len = match &input {
                Input::Vals(v) => v.len(),
                Input::Items(v) => v.len(),
                Input::Hashed(texts) => texts.get().len(),
                Input::None => size,
            };
            if len != size {
                return Err(PyValueError::new_err(format!(
                    "batch column of feature {i} has {len} values for {size} keys"
                )));
            }
            raw.push(input);
        }
        let mut inputs: Vec<Ready> = Vec::with_capacity(raw.len());
        for input in raw.iter_mut() {
            inputs.push(match input {
                Input::Items(items) => {
                    Ready::Strs(items.iter().map(|s| s.to_str()).collect::<PyResult<_>>()?)
                }
                Input::Vals(v) => Ready::Vals(std::mem::take(v)),
                Input::Hashed(texts) => Ready::Hashed(texts.get()),
                Input::None => Ready::None,
            });
        }
        // Group positions by entity: distinct keys (first position) and positions in
        // entity order (a counting sort).
        let (firsts, starts, order) = py.detach(|| {
            // sized for the batch (at most one entity per position): not rebuilt as it grows
            let mut slot_of_text: HashMap<&str, usize, foldhash::fast::RandomState> =
                HashMap::with_capacity_and_hasher(texts.len(), Default::default());
            let mut slot_of: Vec<usize> = Vec::with_capacity(size);
            let mut counts: Vec<usize> = Vec::new();
            let mut firsts: Vec<usize> = Vec::new();
            for (i, text) in texts.iter().enumerate() {
                let slot = *slot_of_text.entry(text).or_insert_with(|| {
                    counts.push(0);
                    firsts.push(i);
                    counts.len() - 1
                });
                counts[slot] += 1;
                slot_of.push(slot);
            }
            let (starts, order) = entity_order(&counts, &slot_of);
            (firsts, starts, order)
        });
        let dict = states.cast::<PyDict>().ok();
        let mut found: Vec<Option<Bound<'py, NativeEntityState>>> =
            Vec::with_capacity(firsts.len());
        for &first in firsts.iter() {
            found.push(match stored_state(states, dict, &keys[first])? {
                Some(obj) => Some(obj.cast_into::<NativeEntityState>().map_err(PyErr::from)?),
                None => None,
            });
        }
        let mut guards = Vec::with_capacity(found.len());
        for cell in found.iter().flatten() {
            guards.push(cell.try_borrow_mut().map_err(|_| {
                PyValueError::new_err("apply_batch: one state object is mapped from two keys")
            })?);
        }
        /// States borrowed mutably (their guards held below) for the GIL-free loop.
        struct Borrowed(Vec<*mut NativeEntityState>);
        // SAFETY: each pointer is to a distinct state whose `PyRefMut` guard outlives the
        // loop, so nothing else (no Python code, no other thread) can reach it meanwhile.
        unsafe impl Send for Borrowed {}
        let borrowed = Borrowed(guards.iter_mut().map(|g| &mut **g as *mut _).collect());
        let stored: Vec<bool> = found.iter().map(Option::is_some).collect();
        let (accepted, mut late, mut ahead, created) = py.detach(move || {
            let borrowed = borrowed;
            // the strings of distinct counts: one table entry per distinct text
            let mut table: Vec<&str> = Vec::new();
            let values: Vec<Option<Vec<Val>>> = {
                let mut hashes = self.text_hashes.lock().unwrap_or_else(|e| e.into_inner());
                // sized for the batch when a distinct count reads strings (else never used)
                let texts = inputs.iter().any(|input| matches!(input, Ready::Strs(_)));
                let mut seen: HashMap<&str, (u64, u32), foldhash::fast::RandomState> =
                    HashMap::with_capacity_and_hasher(if texts { size } else { 0 }, Default::default());
                inputs
                    .iter_mut()
                    .map(|input| match input {
                        Ready::None => None,
                        Ready::Vals(v) => Some(std::mem::take(v)),
                        Ready::Strs(v) => Some(
                            v.iter()
                                .map(|text| {
                                    let (hash, at) = *seen.entry(text).or_insert_with(|| {
                                        let hash = cached_hash(&mut hashes, text);
                                        table.push(text);
                                        (hash, (table.len() - 1) as u32)
                                    });
                                    Val::H(hash, at)
                                })
                                .collect(),
                        ),
                        Ready::Hashed(texts) => {
                            // each value's own table entry (repeats are not looked for)
                            let base = table.len();
                            table.extend((0..texts.len()).map(|i| texts.text(i)));
                            Some(
                                texts
                                    .hashes()
                                    .iter()
                                    .enumerate()
                                    .map(|(i, &hash)| Val::H(hash, (base + i) as u32))
                                    .collect(),
                            )
                        }
                    })
                    .collect()
            };
            fn value(column: &Option<Vec<Val>>, i: usize) -> &Val {
                match column {
                    None => &NIL,
                    Some(v) => &v[i],
                }
            }
            let mut accepted: u64 = 0;
            let mut late: Vec<usize> = Vec::new();
            let mut ahead: Vec<usize> = Vec::new();
            let mut created: Vec<(usize, NativeEntityState)> = Vec::new();
            // each group's stored state (null: a new entity)
            let mut pointers: Vec<*mut NativeEntityState> = Vec::with_capacity(stored.len());
            let mut next_stored = 0;
            for &was_stored in stored.iter() {
                pointers.push(if was_stored {
                    next_stored += 1;
                    borrowed.0[next_stored - 1]
                } else {
                    std::ptr::null_mut()
                });
            }
            // SAFETY: see `Borrowed`; read only to prefetch, while a different entity's state
            // (another group) is changed. `None` past the batch's end or for a new entity.
            let ahead_state = |k: usize| pointers.get(k).and_then(|p| unsafe { p.as_ref() });
            for (g, &pointer) in pointers.iter().enumerate() {
                // a pipeline of prefetches over the entities, each step reading what the one
                // before fetched, as the replay does over events: the state 16 entities ahead,
                // its feature states 8 ahead, what they point to 4 ahead (with the entity's
                // first event's inputs), what that points to 2 ahead
                if let Some(s) = ahead_state(g + 16) {
                    feature::prefetch(s);
                }
                if let Some(s) = ahead_state(g + 8) {
                    NativeView::prefetch_features(s);
                }
                if let Some(s) = ahead_state(g + 4) {
                    let i = order[starts[g + 4]];
                    self.prefetch_data(s, |f| value(&values[f], i), false);
                }
                if let Some(s) = ahead_state(g + 2) {
                    let i = order[starts[g + 2]];
                    self.prefetch_data(s, |f| value(&values[f], i), true);
                }
                let mut fresh = None;
                let state: &mut NativeEntityState = if !pointer.is_null() {
                    // SAFETY: see `Borrowed`
                    unsafe { &mut *pointer }
                } else {
                    fresh.insert(self.fresh())
                };
                let mut any = false;
                for &i in order[starts[g]..starts[g + 1]].iter() {
                    match self.apply_one(
                        state,
                        times[i],
                        arrivals[i],
                        |f| value(&values[f], i),
                        &table,
                    ) {
                        ACCEPTED => {
                            accepted += 1;
                            any = true;
                        }
                        LATE => late.push(i),
                        _ => ahead.push(i),
                    }
                }
                if let (Some(state), true) = (fresh, any) {
                    created.push((g, state));
                }
            }
            (accepted, late, ahead, created)
        });
        drop(guards);
        let mut created = created.into_iter().peekable();
        for (g, cell) in found.into_iter().enumerate() {
            let cell = match cell {
                Some(cell) => cell,
                None => match created.next_if(|(at, _)| *at == g) {
                    Some((_, state)) => {
                        let cell = Bound::new(py, state)?;
                        states.set_item(&keys[firsts[g]], &cell)?;
                        cell
                    }
                    None => continue, // every event of a new entity rejected: no state
                },
            };
            if let Some(out) = touched.as_deref_mut() {
                out.push((keys[firsts[g]].clone(), cell));
            }
        }
        late.sort_unstable();
        ahead.sort_unstable();
        Ok(Some((accepted, late, ahead)))
    }

    fn encode(&self, state: &NativeEntityState) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + 48 * self.specs.len());
        self.encode_into(state, &mut w);
        w.buf
    }

    /// `encode` into `w` (cleared first): a batch reuses one buffer, grown once to its
    /// largest state, instead of growing a new one step by step per state.
    fn encode_into(&self, state: &NativeEntityState, w: &mut Writer) {
        w.buf.clear();
        w.u8(VERSION);
        w.varint(state.now);
        w.varint(state.frontier);
        w.varint(state.seq);
        w.varint(self.specs.len() as i64);
        for (spec, fs) in self.specs.iter().zip(state.features.iter()) {
            let at = w.start_vblob();
            feature::to_bytes(spec, fs, w);
            w.end_vblob(at);
        }
    }

    fn change(&self, state: &NativeEntityState, t: i64) -> i64 {
        let mut until = POS_INF;
        for (spec, fs) in self.specs.iter().zip(state.features.iter()) {
            until = until.min(feature::next_change(spec, fs, t));
        }
        until
    }

    fn decode(&self, data: &[u8]) -> Result<NativeEntityState, FormatError> {
        let mut r = Reader::new(data, "entity state");
        // versions 3 (written) and 2 (read only: int64 fields, u32 count and lengths)
        let old = data.first() == Some(&2);
        r.version(if old { 2 } else { VERSION })?;
        let (now, frontier, seq, count) = if old {
            (r.i64()?, r.i64()?, r.i64()?, r.u32()? as i64)
        } else {
            (r.varint()?, r.varint()?, r.varint()?, r.varint()?)
        };
        if count != self.specs.len() as i64 {
            return Err(FormatError(format!(
                "entity state holds {count} features, the view has {}",
                self.specs.len()
            )));
        }
        let mut features = Vec::with_capacity(self.specs.len());
        for spec in self.specs.iter() {
            let blob = if old { r.blob()? } else { r.vblob()? };
            features.push(feature::from_bytes(spec, blob)?);
        }
        r.end()?;
        Ok(NativeEntityState {
            now,
            frontier,
            seq,
            features,
        })
    }
}

#[pymethods]
impl NativeEntityState {
    fn __repr__(&self) -> String {
        format!(
            "NativeEntityState(now={}, frontier={}, seq={})",
            self.now, self.frontier, self.seq
        )
    }
}

/// The contents of evicted states, freed on a thread of their own (`release_states`).
type Evicted = Vec<Vec<FeatureState>>;

/// The sender to the thread that frees evicted states, started at first use; `None` if it
/// could not be started (the caller then frees them itself). Bounded: a caller that evicts
/// faster than the thread frees waits for it rather than holding unbounded memory.
fn freeing_thread() -> Option<&'static std::sync::mpsc::SyncSender<Evicted>> {
    static SENDER: std::sync::OnceLock<Option<std::sync::mpsc::SyncSender<Evicted>>> = std::sync::OnceLock::new();
    SENDER
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Evicted>(16);
            std::thread::Builder::new()
                .name("streamfeat-free".into())
                .spawn(move || {
                    for evicted in rx {
                        drop(evicted);
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Free the contents of evicted entity states without the GIL and off the caller's
/// thread; returns how many were emptied. Only a state that nothing but `states` holds
/// (its reference count is the list's and this loop's) and no one borrows is emptied: its
/// features are moved out while the GIL is held and handed to a thread that frees them,
/// so that evicting states that hold thousands of events costs the caller (a worker,
/// which reads no Kafka meanwhile) a move, not the frees (measured at stop 37: 4.4 ms of
/// a partition's commit). Every other item is left as it is (it is dropped the usual way
/// when its last holder lets go).
#[pyfunction]
fn release_states(py: Python<'_>, states: &Bound<'_, PyList>) -> usize {
    let mut taken: Vec<Vec<FeatureState>> = Vec::with_capacity(states.len());
    for item in states.iter() {
        // SAFETY: reading the reference count of a live object while holding the GIL.
        if unsafe { pyo3::ffi::Py_REFCNT(item.as_ptr()) } != 2 {
            continue;
        }
        let Ok(cell) = item.cast::<NativeEntityState>() else {
            continue;
        };
        if let Ok(mut state) = cell.try_borrow_mut() {
            taken.push(std::mem::take(&mut state.features));
        }
    }
    let emptied = taken.len();
    if emptied == 0 {
        return 0;
    }
    py.detach(move || match freeing_thread() {
        // The thread gone (never, short of a panic in a drop): the caller frees them.
        Some(sender) => {
            if let Err(std::sync::mpsc::SendError(taken)) = sender.send(taken) {
                drop(taken);
            }
        }
        None => drop(taken),
    });
    emptied
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(release_states, m)?)?;
    m.add_class::<NativeView>()?;
    m.add_class::<NativeEntityState>()?;
    m.add_class::<decode::RecordDecoder>()?;
    m.add_class::<HashedTexts>()?;
    m.add_class::<replay::ReplayJoin>()?;
    Ok(())
}
