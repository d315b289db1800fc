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

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList, PyString};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::HashMap;
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
}

/// Strings made during one call, by text: repeated keys and ids share one object.
type Strings<'a> = HashMap<&'a str, Py<PyString>, foldhash::fast::RandomState>;

fn shared_str<'a>(py: Python<'_>, strings: &mut Strings<'a>, text: &'a str) -> Py<PyString> {
    strings
        .entry(text)
        .or_insert_with(|| PyString::new(py, text).unbind())
        .clone_ref(py)
}

fn value_error(message: String) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(message)
}

/// One output column: numbers gathered in Rust (handed over as an `array.array`, no
/// Python object per value), anything else as Python objects.
enum Column<'py> {
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Objects(Bound<'py, PyList>),
}

/// The outputs of one `decode` call.
struct Decoded<'py> {
    keys: Bound<'py, PyList>,
    times: Vec<i64>,
    arrivals: Vec<i64>,
    positions: Vec<i64>,
    columns: Vec<Column<'py>>,
}

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
    #[new]
    #[pyo3(signature = (fields, entity, timestamp, arrival_field, max_record_bytes, max_key_bytes))]
    fn new(
        fields: Vec<(String, String)>,
        entity: &str,
        timestamp: &str,
        arrival_field: Option<String>,
        max_record_bytes: usize,
        max_key_bytes: usize,
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
        })
    }

    /// Decode `payloads` (bytes) with their `arrivals` (int, or None: the arrival field,
    /// else the event time). Returns `(keys, event_times, arrivals, columns, positions,
    /// deferred)`: the decided records as columns (one list per schema field, in schema
    /// order) with their input positions, and the positions of the deferred ones. Event
    /// times, arrivals, positions and the int and float columns come as `array.array`
    /// (`q` and `d`): sequences of Python numbers, without an object per value until read.
    #[allow(clippy::type_complexity)]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        payloads: &Bound<'py, PyAny>,
        arrivals: &Bound<'py, PyAny>,
    ) -> PyResult<(
        Bound<'py, PyList>,
        Bound<'py, PyAny>,
        Bound<'py, PyAny>,
        Bound<'py, PyList>,
        Bound<'py, PyAny>,
        Bound<'py, PyList>,
    )> {
        let payloads: Vec<Bound<'py, PyAny>> = payloads.try_iter()?.collect::<PyResult<_>>()?;
        let arrivals: Vec<Option<i64>> = arrivals
            .try_iter()?
            .map(|item| item.and_then(|v| v.extract::<Option<i64>>()))
            .collect::<PyResult<_>>()?;
        if arrivals.len() != payloads.len() {
            return Err(value_error(format!(
                "{} payloads but {} arrivals",
                payloads.len(),
                arrivals.len()
            )));
        }
        let size = payloads.len();
        let mut out = Decoded {
            keys: PyList::empty(py),
            times: Vec::with_capacity(size),
            arrivals: Vec::with_capacity(size),
            positions: Vec::with_capacity(size),
            columns: self.kinds[..self.schema_len]
                .iter()
                .map(|kind| match kind {
                    FieldKind::Int => Column::Ints(Vec::with_capacity(size)),
                    FieldKind::Float => Column::Floats(Vec::with_capacity(size)),
                    _ => Column::Objects(PyList::empty(py)),
                })
                .collect(),
        };
        let deferred = PyList::empty(py);
        let mut strings: Strings = HashMap::default();
        let mut slots = Slots {
            names: &self.names,
            raw: vec![None; self.names.len()],
        };
        for (i, item) in payloads.iter().enumerate() {
            let text = match item.cast::<pyo3::types::PyBytes>() {
                Ok(b) => {
                    let bytes = b.as_bytes();
                    if bytes.len() > self.max_record_bytes || bytes.contains(&b'\\') {
                        None
                    } else {
                        std::str::from_utf8(bytes).ok()
                    }
                }
                Err(_) => None,
            };
            let decided = match text {
                None => false,
                Some(text) => {
                    slots.raw.iter_mut().for_each(|r| *r = None);
                    let mut de = serde_json::Deserializer::from_str(text);
                    let parsed = (&mut slots).deserialize(&mut de).and_then(|()| de.end());
                    parsed.is_ok()
                        && self.emit(py, i, &slots.raw, arrivals[i], &mut strings, &mut out)?
                }
            };
            if !decided {
                deferred.append(i)?;
            }
        }
        let columns = PyList::empty(py);
        for column in &out.columns {
            match column {
                Column::Ints(v) => columns.append(array_of(py, "q", v)?)?,
                Column::Floats(v) => columns.append(array_of(py, "d", v)?)?,
                Column::Objects(list) => columns.append(list)?,
            }
        }
        Ok((
            out.keys,
            array_of(py, "q", &out.times)?,
            array_of(py, "q", &out.arrivals)?,
            columns,
            array_of(py, "q", &out.positions)?,
            deferred,
        ))
    }
}

impl RecordDecoder {
    /// Append record `i` (its fields' raw text in `raw`) to `out` if every check passes.
    #[allow(clippy::too_many_arguments)]
    fn emit<'a>(
        &self,
        py: Python<'_>,
        i: usize,
        raw: &[Option<&'a str>],
        arrival: Option<i64>,
        strings: &mut Strings<'a>,
        out: &mut Decoded<'_>,
    ) -> PyResult<bool> {
        let mut values: [Option<Value<'a>>; 16] = Default::default();
        if raw.len() > values.len() {
            return Ok(false); // wide schemas: the Python path
        }
        for (j, text) in raw.iter().enumerate() {
            let Some(text) = text else {
                if j < self.schema_len {
                    return Ok(false); // a missing field
                }
                continue; // no arrival field: the event time
            };
            match convert(text, self.kinds[j], j == self.entity) {
                Some(v) => values[j] = Some(v),
                None => return Ok(false),
            }
        }
        let key_len = match &values[self.entity] {
            Some(Value::Str(s)) => s.len(),
            Some(Value::Int(v)) => v.to_string().len(),
            _ => return Ok(false),
        };
        if key_len == 0 || key_len > self.max_key_bytes {
            return Ok(false);
        }
        let Some(Value::Int(event_time)) = values[self.timestamp] else {
            return Ok(false);
        };
        let arrival = match arrival {
            Some(a) => a,
            None => match self.arrival.map(|j| &values[j]) {
                Some(Some(Value::Int(a))) => *a,
                Some(Some(_)) => return Ok(false),
                _ => event_time,
            },
        };
        let key: Py<PyAny> = match &values[self.entity] {
            Some(Value::Str(s)) => shared_str(py, strings, s).into_any(),
            Some(Value::Int(v)) => PyString::new(py, &v.to_string()).into_any().unbind(),
            _ => return Ok(false),
        };
        // every value is checked above: from here on the record is appended whole
        for (j, column) in out.columns.iter_mut().enumerate() {
            match (column, &values[j]) {
                (Column::Ints(v), Some(Value::Int(n))) => v.push(*n),
                (Column::Floats(v), Some(Value::Float(x))) => v.push(*x),
                (Column::Objects(list), value) => {
                    let value: Py<PyAny> = match value {
                        // a str entity field: the key (an int is taken as its text)
                        _ if j == self.entity => key.clone_ref(py),
                        Some(Value::Str(s)) => shared_str(py, strings, s).into_any(),
                        Some(Value::Bool(b)) => PyBool::new(py, *b).to_owned().into_any().unbind(),
                        _ => unreachable!("a field's value has its column's kind"),
                    };
                    list.append(value)?;
                }
                _ => unreachable!("a field's value has its column's kind"),
            }
        }
        out.keys.append(key)?;
        out.times.push(event_time);
        out.arrivals.push(arrival);
        out.positions.push(i as i64);
        Ok(true)
    }
}
