//! `message_columns`: a batch of confluent-kafka messages -> the columns the pipeline
//! reads (offsets, values, timestamps), in one call instead of a Python loop that calls
//! four methods per message.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

/// `(offsets, values, timestamps, stop)`: the columns of `messages` up to the first one
/// whose `error()` is not `None` (`stop` is its index, or `None` when none has one). A
/// value of `None` becomes `b""`; a timestamp is `None` unless the message has one
/// (type not `TIMESTAMP_NOT_AVAILABLE`, value >= 0).
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn message_columns<'py>(
    py: Python<'py>,
    messages: &Bound<'py, PyList>,
) -> PyResult<(
    Bound<'py, PyList>,
    Bound<'py, PyList>,
    Bound<'py, PyList>,
    Option<usize>,
)> {
    let (error, offset, value, timestamp) = (
        intern!(py, "error"),
        intern!(py, "offset"),
        intern!(py, "value"),
        intern!(py, "timestamp"),
    );
    let size = messages.len();
    let mut offsets = Vec::with_capacity(size);
    let mut values = Vec::with_capacity(size);
    let mut stamps = Vec::with_capacity(size);
    let empty = PyBytes::new(py, b"").into_any();
    let mut stop = None;
    for (i, message) in messages.iter().enumerate() {
        if !message.call_method0(error)?.is_none() {
            stop = Some(i);
            break;
        }
        offsets.push(message.call_method0(offset)?);
        let v = message.call_method0(value)?;
        values.push(if v.is_none() { empty.clone() } else { v });
        let (kind, stamp): (i64, i64) = message.call_method0(timestamp)?.extract()?;
        stamps.push(if kind != 0 && stamp >= 0 {
            Some(stamp)
        } else {
            None
        });
    }
    Ok((
        PyList::new(py, offsets)?,
        PyList::new(py, values)?,
        PyList::new(py, stamps)?,
        stop,
    ))
}
