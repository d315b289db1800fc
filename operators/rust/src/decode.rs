//! `RecordDecoder`: JSON records -> validated columns, for the records whose answer is
//! certain; every other record is *deferred* to `streamfeat.ingest`, which decides it
//! (a dead letter with its reason, or a value) exactly as it always did.
//!
//! A record is decided here only if it is at most `max_record_bytes`, has no backslash
//! (so no string needs unescaping), is valid UTF-8 and a JSON object, and every schema
//! field is present with a value of its type (integers within i64, finite floats), the
//! entity key 1..`max_key_bytes` bytes, and the arrival field (when read) an integer.
//! Duplicate keys keep the last value, as orjson does. Anything else — malformed JSON,
//! a missing field, a wrong type, a huge integer — is deferred, never judged here.

use crate::hashed_texts::{HashedTexts, TextHashes};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList, PyString};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Mutex;
use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Int,
    Float,
    Str,
    Bool,
}

/// One decoded value of a schema field.
enum Value<'a> {
    Int(i64),
    Float(f64),
    Str(&'a str),
    Bool(bool),
}

/// The slots of one record: the raw text of each wanted field's last value.
struct Slots<'a, 'n> {
    names: &'n [String],
    raw: Vec<Option<&'a str>>,
}

impl<'de, 'n> DeserializeSeed<'de> for &mut Slots<'de, 'n> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, 'n> Visitor<'de> for &mut Slots<'de, 'n> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<&'de str>()? {
            match self.names.iter().position(|name| name == key) {
                Some(i) => {
                    let raw: &'de RawValue = map.next_value()?;
                    self.raw[i] = Some(raw.get());
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

fn is_integer_literal(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    !bytes.is_empty()
        && (bytes[0] == b'-' || bytes[0].is_ascii_digit())
        && bytes[1..].iter().all(u8::is_ascii_digit)
}

fn is_number_literal(raw: &str) -> bool {
    raw.as_bytes()
        .first()
        .is_some_and(|b| *b == b'-' || b.is_ascii_digit())
}

/// The value of `raw` (valid JSON text without backslashes) as `kind`, if certain.
fn convert(raw: &str, kind: FieldKind, int_as_str: bool) -> Option<Value<'_>> {
    match kind {
        FieldKind::Int => {
            if is_integer_literal(raw) {
                raw.parse::<i64>().ok().map(Value::Int)
            } else {
                None
            }
        }
        FieldKind::Float => {
            if is_integer_literal(raw) {
                // an int is taken as float(int): round to nearest, ties to even
                raw.parse::<i64>().ok().map(|v| Value::Float(v as f64))
            } else if is_number_literal(raw) {
                raw.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .map(Value::Float)
            } else {
                None
            }
        }
        FieldKind::Str => {
            if raw.len() >= 2 && raw.starts_with('"') {
                Some(Value::Str(&raw[1..raw.len() - 1]))
            } else if int_as_str && is_integer_literal(raw) {
                raw.parse::<i64>().ok().map(Value::Int)
            } else {
                None
            }
        }
        FieldKind::Bool => match raw {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
    }
}

#[pyclass(module = "operators._native", frozen)]
pub struct RecordDecoder {
    /// Schema fields (in schema order), then the arrival field if it is not one of them.
    names: Vec<String>,
    kinds: Vec<FieldKind>,
    schema_len: usize,
    entity: usize,
    timestamp: usize,
    arrival: Option<usize>,
    max_record_bytes: usize,
    max_key_bytes: usize,
    /// The entity keys' Python strs of recent calls (see `Interned`).
    interned: Mutex<Interned>,
    /// Per field: handed over as a `HashedTexts` (texts and their `hash64`), not as strs.
    hashed: Vec<bool>,
    /// `hash64` of the hashed fields' texts seen lately.
    text_hashes: Mutex<TextHashes>,
}

/// Entity keys made into Python strs once and handed out again by later calls, so that
/// an entity's key is the same object batch after batch. The pipeline looks each key up
/// in several dicts per batch (the state cache, the changed states, their encodings);
/// CPython's dict compares the stored key's identity first and reads the stored string
/// (its hash, then its text: a cache miss and a `memcmp`) only when that fails.
/// Two generations of `INTERN_GENERATION` keys each bound it: a key used again moves to
/// the current one; when that is full, the previous is dropped.
#[derive(Default)]
struct Interned {
    current: HashMap<Box<str>, Py<PyString>, foldhash::fast::RandomState>,
    previous: HashMap<Box<str>, Py<PyString>, foldhash::fast::RandomState>,
}

const INTERN_GENERATION: usize = 1 << 17;

impl Interned {
    fn get(&mut self, py: Python<'_>, text: &str) -> Py<PyString> {
        if let Some(s) = self.current.get(text) {
            return s.clone_ref(py);
        }
        let s = match self.previous.remove(text) {
            Some(s) => s,
            None => PyString::new(py, text).unbind(),
        };
        if self.current.len() >= INTERN_GENERATION {
            // the next generation sized for all its keys at once: grown from empty, it was
            // rehashed 17 times, holding the GIL (1.4 % of the GIL's samples, stop 57)
            let next = HashMap::with_capacity_and_hasher(INTERN_GENERATION, Default::default());
            self.previous = std::mem::replace(&mut self.current, next);
        }
        self.current.insert(Box::from(text), s.clone_ref(py));
        s
    }
}

/// The distinct texts of one call, numbered in order of first appearance: repeated keys
/// and ids then share one Python str, made once.
struct Numbered<'a> {
    numbers: HashMap<&'a str, usize, foldhash::fast::RandomState>,
    distinct: Vec<&'a str>,
}

impl<'a> Numbered<'a> {
    fn with_capacity(n: usize) -> Self {
        Numbered {
            numbers: HashMap::with_capacity_and_hasher(n, Default::default()),
            distinct: Vec::with_capacity(n),
        }
    }

    fn number(&mut self, text: &'a str) -> usize {
        let distinct = &mut self.distinct;
        *self.numbers.entry(text).or_insert_with(|| {
            distinct.push(text);
            distinct.len() - 1
        })
    }
}

fn value_error(message: String) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(message)
}

/// One output column, gathered without the GIL: numbers (handed over as an
/// `array.array`, no Python object per value), strings and booleans (made into Python
/// objects afterwards).
enum Column<'a> {
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Strs(Vec<&'a str>),
    Bools(Vec<bool>),
}

/// An entity key as read: text, or an integer taken as its text.
enum KeyText<'a> {
    Text(&'a str),
    Int(i64),
}

/// The outputs of one `decode` call, before any Python object is made.
struct Decoded<'a> {
    keys: Vec<KeyText<'a>>,
    times: Vec<i64>,
    arrivals: Vec<i64>,
    positions: Vec<i64>,
    columns: Vec<Column<'a>>,
    deferred: Vec<usize>,
}

/// What `decode` returns: `(keys, event_times, arrivals, columns, positions, deferred)`.
type DecodedColumns<'py> = (
    Bound<'py, PyList>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyList>,
    Bound<'py, PyAny>,
    Bound<'py, PyList>,
);

/// `array.array(code, data)`: the values in one buffer, indexable as Python numbers.
fn array_of<'py, T: Copy>(
    py: Python<'py>,
    code: &str,
    values: &[T],
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: i64 and f64 are plain old data; the bytes are copied at once
    let bytes = unsafe {
        std::slice::from_raw_parts(values.as_ptr() as *const u8, std::mem::size_of_val(values))
    };
    py.import("array")?
        .getattr("array")?
        .call1((code, pyo3::types::PyBytes::new(py, bytes)))
}

#[pymethods]
impl RecordDecoder {
    /// `fields`: `(name, kind)` in schema order, kind `"int"`, `"float"`, `"str"` or
    /// `"bool"`; the entity field must be `"str"` or `"int"`, the timestamp `"int"`.
    /// `hashed`: `str` fields (not the entity's) whose column comes as a `HashedTexts`
    /// (for fields only distinct counts read: no Python str per value).
    #[new]
    #[pyo3(signature = (fields, entity, timestamp, arrival_field, max_record_bytes, max_key_bytes, hashed=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        fields: Vec<(String, String)>,
        entity: &str,
        timestamp: &str,
        arrival_field: Option<String>,
        max_record_bytes: usize,
        max_key_bytes: usize,
        hashed: Vec<String>,
    ) -> PyResult<Self> {
        let mut names = Vec::with_capacity(fields.len() + 1);
        let mut kinds = Vec::with_capacity(fields.len() + 1);
        for (name, kind) in fields {
            kinds.push(match kind.as_str() {
                "int" => FieldKind::Int,
                "float" => FieldKind::Float,
                "str" => FieldKind::Str,
                "bool" => FieldKind::Bool,
                other => {
                    return Err(value_error(format!(
                        "field {name:?}: unknown kind {other:?}"
                    )))
                }
            });
            names.push(name);
        }
        let schema_len = names.len();
        let find = |names: &[String], wanted: &str| names.iter().position(|n| n == wanted);
        let entity_index = find(&names, entity)
            .ok_or_else(|| value_error(format!("entity field {entity:?} is not in the schema")))?;
        let timestamp_index = find(&names, timestamp).ok_or_else(|| {
            value_error(format!(
                "timestamp field {timestamp:?} is not in the schema"
            ))
        })?;
        if !matches!(kinds[entity_index], FieldKind::Str | FieldKind::Int)
            || kinds[timestamp_index] != FieldKind::Int
        {
            return Err(value_error(
                "the entity field must be str or int and the timestamp int".to_string(),
            ));
        }
        let mut hashed_fields = vec![false; schema_len];
        for name in &hashed {
            match find(&names, name) {
                Some(j) if kinds[j] == FieldKind::Str && j != entity_index => hashed_fields[j] = true,
                _ => {
                    return Err(value_error(format!(
                        "hashed field {name:?} is not a str field of the schema (other than the entity's)"
                    )))
                }
            }
        }
        let arrival = arrival_field.map(|name| match find(&names, &name) {
            Some(i) => i,
            None => {
                names.push(name);
                kinds.push(FieldKind::Int);
                names.len() - 1
            }
        });
        Ok(Self {
            names,
            kinds,
            schema_len,
            entity: entity_index,
            timestamp: timestamp_index,
            arrival,
            max_record_bytes,
            max_key_bytes,
            interned: Mutex::new(Interned::default()),
            hashed: hashed_fields,
            text_hashes: Mutex::new(TextHashes::default()),
        })
    }

    /// Decode `payloads` (bytes) with their `arrivals` (int, or None: the arrival field,
    /// else the event time). Returns `(keys, event_times, arrivals, columns, positions,
    /// deferred)`: the decided records as columns (one list per schema field, in schema
    /// order) with their input positions, and the positions of the deferred ones. Event
    /// times, arrivals, positions and the int and float columns come as `array.array`
    /// (`q` and `d`): sequences of Python numbers, without an object per value until read.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        payloads: &Bound<'py, PyAny>,
        arrivals: &Bound<'py, PyAny>,
    ) -> PyResult<DecodedColumns<'py>> {
        let payloads: Vec<Bound<'py, PyAny>> = match payloads.cast::<PyList>() {
            Ok(list) => list.iter().collect(),
            Err(_) => payloads.try_iter()?.collect::<PyResult<_>>()?,
        };
        let arrival = |v: Bound<'py, PyAny>| -> PyResult<Option<i64>> {
            if v.is_none() {
                Ok(None)
            } else {
                v.extract::<i64>().map(Some)
            }
        };
        let arrivals: Vec<Option<i64>> = match arrivals.cast::<PyList>() {
            Ok(list) => list.iter().map(arrival).collect::<PyResult<_>>()?,
            Err(_) => arrivals
                .try_iter()?
                .map(|item| item.and_then(arrival))
                .collect::<PyResult<_>>()?,
        };
        if arrivals.len() != payloads.len() {
            return Err(value_error(format!(
                "{} payloads but {} arrivals",
                payloads.len(),
                arrivals.len()
            )));
        }
        // The payloads' bytes (None: not bytes), borrowed from objects `payloads` keeps alive.
        let texts: Vec<Option<&[u8]>> = payloads
            .iter()
            .map(|item| {
                item.cast::<pyo3::types::PyBytes>()
                    .ok()
                    .map(|b| b.as_bytes())
            })
            .collect();
        self.decode_texts(py, &texts, &arrivals)
    }

    /// `decode` for values packed in one buffer (a Kafka batch read natively): record i's
    /// bytes are `values[ends[i-1]:ends[i]]`, its arrival `stamps[i]` (negative: none, as
    /// `None` in `decode`). `ends` and `stamps` are buffers of int64 (`array('q')`).
    fn decode_packed<'py>(
        &self,
        py: Python<'py>,
        values: &Bound<'py, pyo3::types::PyBytes>,
        ends: &Bound<'py, PyAny>,
        stamps: &Bound<'py, PyAny>,
    ) -> PyResult<DecodedColumns<'py>> {
        let ends: Vec<i64> = pyo3::buffer::PyBuffer::<i64>::get(ends)?.to_vec(py)?;
        let stamps: Vec<i64> = pyo3::buffer::PyBuffer::<i64>::get(stamps)?.to_vec(py)?;
        if ends.len() != stamps.len() {
            return Err(value_error(format!("{} ends but {} timestamps", ends.len(), stamps.len())));
        }
        let buffer = values.as_bytes();
        let mut texts: Vec<Option<&[u8]>> = Vec::with_capacity(ends.len());
        let mut start = 0usize;
        for &end in &ends {
            let end = usize::try_from(end).ok().filter(|&e| e >= start && e <= buffer.len());
            let Some(end) = end else {
                return Err(value_error("ends must rise within the values".to_string()));
            };
            texts.push(Some(&buffer[start..end]));
            start = end;
        }
        let arrivals: Vec<Option<i64>> = stamps.iter().map(|&s| (s >= 0).then_some(s)).collect();
        self.decode_texts(py, &texts, &arrivals)
    }
}

impl RecordDecoder {
    /// `decode`'s work once the payloads are byte slices (None: not bytes).
    fn decode_texts<'py>(
        &self,
        py: Python<'py>,
        texts: &[Option<&[u8]>],
        arrivals: &[Option<i64>],
    ) -> PyResult<DecodedColumns<'py>> {
        // Parse and check every record without the GIL: another thread runs Python meanwhile.
        // The texts of the keys and str columns are numbered there too (each distinct text
        // once), so that under the GIL only one str is made per distinct text.
        let (out, distinct, key_ids, column_ids, mut hashed) = py.detach(|| {
            let out = self.parse(texts, arrivals);
            // sized for every text distinct (a record's str key and its other str fields at
            // most): grown from empty, the table was rebuilt several times a batch
            let strs = (out.columns.iter().enumerate())
                .filter(|(j, c)| matches!(c, Column::Strs(_)) && !self.hashed[*j])
                .count();
            let mut texts_seen = Numbered::with_capacity(out.keys.len() * strs);
            let key_ids: Vec<usize> = out
                .keys
                .iter()
                .map(|key| match key {
                    KeyText::Text(s) => texts_seen.number(s),
                    KeyText::Int(_) => usize::MAX, // made from its digits below
                })
                .collect();
            let column_ids: Vec<Vec<usize>> = out
                .columns
                .iter()
                .enumerate()
                .map(|(j, column)| match column {
                    Column::Strs(v) if j != self.entity && !self.hashed[j] => {
                        v.iter().map(|s| texts_seen.number(s)).collect()
                    }
                    _ => Vec::new(),
                })
                .collect();
            let hashed: Vec<Option<HashedTexts>> = {
                let mut cache = self.text_hashes.lock().unwrap_or_else(|e| e.into_inner());
                out.columns
                    .iter()
                    .enumerate()
                    .map(|(j, column)| match column {
                        Column::Strs(v) if self.hashed[j] => {
                            Some(HashedTexts::build(v.iter().copied(), &mut cache))
                        }
                        _ => None,
                    })
                    .collect()
            };
            (out, texts_seen.distinct, key_ids, column_ids, hashed)
        });
        let mut is_key = vec![false; distinct.len()];
        for &id in key_ids.iter().filter(|&&id| id != usize::MAX) {
            is_key[id] = true;
        }
        let strings: Vec<Py<PyString>> = {
            let mut interned = self.interned.lock().unwrap_or_else(|e| e.into_inner());
            distinct
                .iter()
                .zip(&is_key)
                .map(|(s, &key)| if key { interned.get(py, s) } else { PyString::new(py, s).unbind() })
                .collect()
        };
        let keys: Vec<Py<PyAny>> = out
            .keys
            .iter()
            .zip(&key_ids)
            .map(|(key, &id)| match key {
                KeyText::Text(_) => strings[id].clone_ref(py).into_any(),
                KeyText::Int(v) => PyString::new(py, &v.to_string()).into_any().unbind(),
            })
            .collect();
        let columns = PyList::empty(py);
        for (j, column) in out.columns.iter().enumerate() {
            match column {
                Column::Ints(v) => columns.append(array_of(py, "q", v)?)?,
                Column::Floats(v) => columns.append(array_of(py, "d", v)?)?,
                // a str entity field: the keys (an int is taken as its text)
                Column::Strs(_) if j == self.entity => {
                    columns.append(PyList::new(py, keys.iter().map(|k| k.clone_ref(py)))?)?
                }
                Column::Strs(_) if self.hashed[j] => {
                    let texts = hashed[j]
                        .take()
                        .expect("a hashed column is built for each hashed field");
                    columns.append(Bound::new(py, texts)?)?
                }
                Column::Strs(_) => columns.append(PyList::new(
                    py,
                    column_ids[j].iter().map(|&id| strings[id].clone_ref(py)),
                )?)?,
                Column::Bools(v) => {
                    columns.append(PyList::new(py, v.iter().map(|b| PyBool::new(py, *b)))?)?
                }
            }
        }
        Ok((
            PyList::new(py, keys)?,
            array_of(py, "q", &out.times)?,
            array_of(py, "q", &out.arrivals)?,
            columns,
            array_of(py, "q", &out.positions)?,
            PyList::new(py, out.deferred)?,
        ))
    }
}

impl RecordDecoder {
    /// Every record of `texts` decided (into columns) or deferred, without Python.
    fn parse<'a>(&self, texts: &[Option<&'a [u8]>], arrivals: &[Option<i64>]) -> Decoded<'a> {
        let size = texts.len();
        let mut out = Decoded {
            keys: Vec::with_capacity(size),
            times: Vec::with_capacity(size),
            arrivals: Vec::with_capacity(size),
            positions: Vec::with_capacity(size),
            columns: self.kinds[..self.schema_len]
                .iter()
                .map(|kind| match kind {
                    FieldKind::Int => Column::Ints(Vec::with_capacity(size)),
                    FieldKind::Float => Column::Floats(Vec::with_capacity(size)),
                    FieldKind::Str => Column::Strs(Vec::with_capacity(size)),
                    FieldKind::Bool => Column::Bools(Vec::new()),
                })
                .collect(),
            deferred: Vec::new(),
        };
        let mut slots = Slots {
            names: &self.names,
            raw: vec![None; self.names.len()],
        };
        for (i, bytes) in texts.iter().enumerate() {
            let text = match bytes {
                Some(bytes) if bytes.len() <= self.max_record_bytes && !bytes.contains(&b'\\') => {
                    std::str::from_utf8(bytes).ok()
                }
                _ => None,
            };
            let decided = match text {
                None => false,
                Some(text) => {
                    slots.raw.iter_mut().for_each(|r| *r = None);
                    let mut de = serde_json::Deserializer::from_str(text);
                    let parsed = (&mut slots).deserialize(&mut de).and_then(|()| de.end());
                    parsed.is_ok() && self.emit(i, &slots.raw, arrivals[i], &mut out)
                }
            };
            if !decided {
                out.deferred.push(i);
            }
        }
        out
    }

    /// Append record `i` (its fields' raw text in `raw`) to `out` if every check passes.
    fn emit<'a>(
        &self,
        i: usize,
        raw: &[Option<&'a str>],
        arrival: Option<i64>,
        out: &mut Decoded<'a>,
    ) -> bool {
        let mut values: [Option<Value<'a>>; 16] = Default::default();
        if raw.len() > values.len() {
            return false; // wide schemas: the Python path
        }
        for (j, text) in raw.iter().enumerate() {
            let Some(text) = text else {
                if j < self.schema_len {
                    return false; // a missing field
                }
                continue; // no arrival field: the event time
            };
            match convert(text, self.kinds[j], j == self.entity) {
                Some(v) => values[j] = Some(v),
                None => return false,
            }
        }
        let key_len = match &values[self.entity] {
            Some(Value::Str(s)) => s.len(),
            Some(Value::Int(v)) => v.to_string().len(),
            _ => return false,
        };
        if key_len == 0 || key_len > self.max_key_bytes {
            return false;
        }
        let Some(Value::Int(event_time)) = values[self.timestamp] else {
            return false;
        };
        let arrival = match arrival {
            Some(a) => a,
            None => match self.arrival.map(|j| &values[j]) {
                Some(Some(Value::Int(a))) => *a,
                Some(Some(_)) => return false,
                _ => event_time,
            },
        };
        let key = match &values[self.entity] {
            Some(Value::Str(s)) => KeyText::Text(s),
            Some(Value::Int(v)) => KeyText::Int(*v),
            _ => return false,
        };
        // every value is checked above: from here on the record is appended whole
        for (j, column) in out.columns.iter_mut().enumerate() {
            match (column, &values[j]) {
                (Column::Ints(v), Some(Value::Int(n))) => v.push(*n),
                (Column::Floats(v), Some(Value::Float(x))) => v.push(*x),
                (Column::Strs(v), Some(Value::Str(s))) => v.push(s),
                // an int entity key in a str field: `decode` takes the key's text
                (Column::Strs(v), Some(Value::Int(_))) if j == self.entity => v.push(""),
                (Column::Bools(v), Some(Value::Bool(b))) => v.push(*b),
                _ => unreachable!("a field's value has its column's kind"),
            }
        }
        out.keys.push(key);
        out.times.push(event_time);
        out.arrivals.push(arrival);
        out.positions.push(i as i64);
        true
    }
}
