//! `message_columns`: a batch of confluent-kafka messages -> the columns the pipeline
//! reads (offsets, values, timestamps), in one call instead of a Python loop that calls
//! four methods per message.
//!
//! Where the fields of confluent-kafka's `Message` object sit in memory where this module
//! expects them (checked once per process against messages built through its constructor
//! with known values, see `verified_layout`), they are read there; otherwise, and for any
//! object of another type, through its methods. The struct (`confluent_kafka.h`):
//! `PyObject_HEAD; PyObject *topic, *value, *key, *headers; rd_kafka_headers_t *c_headers;
//! PyObject *error; int32_t partition; int64_t offset; int32_t leader_epoch; int64_t
//! timestamp; rd_kafka_timestamp_type_t tstype; ...`.

use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyRange, PyTuple};

// Byte offsets of the fields read, on a 64-bit build (see the module docs).
const VALUE_AT: usize = 24;
const ERROR_AT: usize = 56;
const OFFSET_AT: usize = 72;
const TIMESTAMP_AT: usize = 88;
const TSTYPE_AT: usize = 96;
const FIELDS_END: usize = 100;

/// The `Message` type whose layout was verified (its address), or 0 when it was not.
static MESSAGE_TYPE: PyOnceLock<usize> = PyOnceLock::new();

/// The fields of one message object read in place. SAFETY (callers): `obj` is a live
/// instance of the verified type.
unsafe fn field_ptr(obj: *mut ffi::PyObject, at: usize) -> *mut ffi::PyObject {
    *((obj as *const u8).add(at) as *const *mut ffi::PyObject)
}
unsafe fn field_i64(obj: *mut ffi::PyObject, at: usize) -> i64 {
    *((obj as *const u8).add(at) as *const i64)
}
unsafe fn field_i32(obj: *mut ffi::PyObject, at: usize) -> i32 {
    *((obj as *const u8).add(at) as *const i32)
}

fn is_none_or_null(p: *mut ffi::PyObject) -> bool {
    // SAFETY: Py_None only returns the None singleton's address.
    p.is_null() || p == unsafe { ffi::Py_None() }
}

/// Build messages of `kind` through its constructor with known values and check that
/// every field read in place holds them; any error or mismatch means "not verified".
fn check_layout(py: Python<'_>, kind: &Bound<'_, PyAny>) -> PyResult<bool> {
    if std::mem::size_of::<usize>() != 8 {
        return Ok(false);
    }
    // SAFETY: kind is a type object (checked by the caller's downcast to PyType).
    let basic = unsafe { (*(kind.as_ptr() as *mut ffi::PyTypeObject)).tp_basicsize };
    if basic < FIELDS_END as isize {
        return Ok(false);
    }
    let value = PyBytes::new(py, b"streamfeat layout check");
    let args = PyDict::new(py);
    args.set_item("topic", "t")?;
    args.set_item("value", &value)?;
    args.set_item("partition", 3)?;
    args.set_item("offset", 1_234_567_i64)?;
    args.set_item("timestamp", PyTuple::new(py, [1_i64, 7_654_321_i64])?)?;
    let plain = kind.call((), Some(&args))?;
    let error = py
        .import("confluent_kafka")?
        .getattr("KafkaError")?
        .call1((-191,))?;
    let failed_args = PyDict::new(py);
    failed_args.set_item("topic", "t")?;
    failed_args.set_item("error", &error)?;
    let failed = kind.call((), Some(&failed_args))?;
    // SAFETY: both objects are live instances of `kind`, at least FIELDS_END bytes long.
    Ok(unsafe {
        let (p, f) = (plain.as_ptr(), failed.as_ptr());
        field_ptr(p, VALUE_AT) == value.as_ptr()
            && is_none_or_null(field_ptr(p, ERROR_AT))
            && field_i64(p, OFFSET_AT) == 1_234_567
            && field_i64(p, TIMESTAMP_AT) == 7_654_321
            && field_i32(p, TSTYPE_AT) == 1
            && field_ptr(f, ERROR_AT) == error.as_ptr()
            && is_none_or_null(field_ptr(f, VALUE_AT))
    })
}

/// The address of confluent-kafka's `Message` type if its layout is the expected one.
fn verified_layout(py: Python<'_>) -> usize {
    *MESSAGE_TYPE.get_or_init(py, || {
        let kind = match py
            .import("confluent_kafka")
            .and_then(|m| m.getattr("Message"))
        {
            Ok(kind) if kind.is_instance_of::<pyo3::types::PyType>() => kind,
            _ => return 0,
        };
        match check_layout(py, &kind) {
            Ok(true) => kind.as_ptr() as usize,
            _ => 0,
        }
    })
}

/// `(offsets, values, timestamps, stop, newest)`: the columns of `messages` up to the
/// first one whose `error()` is not `None` (`stop` is its index, or `None` when none has
/// one). A value of `None` becomes `b""`; a timestamp is `None` unless the message has
/// one (type not `TIMESTAMP_NOT_AVAILABLE`, value >= 0); `newest` is the largest of them
/// (`None` without any). The offsets of one partition only increase, so when the last
/// one is the first plus the count less one they are every offset between, and come as
/// a `range` without a call per message; otherwise (a gap: transaction markers,
/// compaction), as a list.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn message_columns<'py>(
    py: Python<'py>,
    messages: &Bound<'py, PyList>,
) -> PyResult<(
    Bound<'py, PyAny>,
    Bound<'py, PyList>,
    Bound<'py, PyList>,
    Option<usize>,
    Option<i64>,
)> {
    let (error, offset, value, timestamp) = (
        intern!(py, "error"),
        intern!(py, "offset"),
        intern!(py, "value"),
        intern!(py, "timestamp"),
    );
    let size = messages.len();
    let mut values = Vec::with_capacity(size);
    let mut stamps = Vec::with_capacity(size);
    let empty = PyBytes::new(py, b"").into_any();
    let mut stop = None;
    let mut newest: Option<i64> = None;
    let known = verified_layout(py);
    let in_place = |message: &Bound<'py, PyAny>| {
        known != 0 && unsafe { ffi::Py_TYPE(message.as_ptr()) } as usize == known
    };
    // One message: None if its error() is not None, else (value, timestamp type, timestamp).
    let read_one =
        |message: &Bound<'py, PyAny>| -> PyResult<Option<(Bound<'py, PyAny>, i64, i64)>> {
            if in_place(message) {
                let obj = message.as_ptr();
                // SAFETY: `obj` is an instance of the verified Message type, kept alive by `messages`.
                unsafe {
                    if !is_none_or_null(field_ptr(obj, ERROR_AT)) {
                        return Ok(None);
                    }
                    let v = field_ptr(obj, VALUE_AT);
                    let v = if is_none_or_null(v) {
                        empty.clone()
                    } else {
                        Bound::from_borrowed_ptr(py, v)
                    };
                    return Ok(Some((
                        v,
                        field_i32(obj, TSTYPE_AT) as i64,
                        field_i64(obj, TIMESTAMP_AT),
                    )));
                }
            }
            if !message.call_method0(error)?.is_none() {
                return Ok(None);
            }
            let v = message.call_method0(value)?;
            let (kind, stamp): (i64, i64) = message.call_method0(timestamp)?.extract()?;
            Ok(Some((
                if v.is_none() { empty.clone() } else { v },
                kind,
                stamp,
            )))
        };
    for (i, message) in messages.iter().enumerate() {
        let Some((v, kind, stamp)) = read_one(&message)? else {
            stop = Some(i);
            break;
        };
        values.push(v);
        stamps.push(if kind != 0 && stamp >= 0 {
            newest = Some(newest.map_or(stamp, |n| n.max(stamp)));
            Some(stamp)
        } else {
            None
        });
    }
    let read = values.len();
    let offset_of = |message: &Bound<'py, PyAny>| -> PyResult<Bound<'py, PyAny>> {
        if in_place(message) {
            // SAFETY: as above; offset() gives None for a negative offset, as here.
            let at = unsafe { field_i64(message.as_ptr(), OFFSET_AT) };
            return Ok(if at < 0 {
                py.None().into_bound(py)
            } else {
                at.into_pyobject(py)?.into_any()
            });
        }
        message.call_method0(offset)
    };
    let offsets = if read == 0 {
        PyList::empty(py).into_any()
    } else {
        let first: i64 = offset_of(&messages.get_item(0)?)?.extract()?;
        let last: i64 = offset_of(&messages.get_item(read - 1)?)?.extract()?;
        if last - first + 1 == read as i64 {
            PyRange::new(py, first as isize, last as isize + 1)?.into_any()
        } else {
            let mut all = Vec::with_capacity(read);
            for message in messages.iter().take(read) {
                all.push(offset_of(&message)?);
            }
            PyList::new(py, all)?.into_any()
        }
    };
    Ok((
        offsets,
        PyList::new(py, values)?,
        PyList::new(py, stamps)?,
        stop,
        newest,
    ))
}

/// Whether `message_columns` reads confluent-kafka's messages in place (their layout
/// matched; see the module docs) rather than through their methods.
#[pyfunction]
pub fn message_layout_verified(py: Python<'_>) -> bool {
    verified_layout(py) != 0
}
