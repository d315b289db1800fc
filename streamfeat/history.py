"""Where backfill reads history from: JSON Lines or Parquet files, or a Kafka topic range.

Every history yields :class:`HistoryBatch` es — validated records as columns, in
arrival order per partition, and a dead letter for every record that cannot be used —
so backfill applies exactly what the live runtime would have applied:

* **Kafka** (:class:`KafkaHistory`): the raw records of each partition from a start to
  an end (earliest / a time / offsets), decoded by :func:`streamfeat.ingest.decode_records`
  with the record timestamp as arrival — byte for byte the live path.
* **JSON Lines** (:class:`JsonlHistory`): each file is one partition, line ``n`` offset
  ``n``, arrival from an integer field (default ``arrival``; the event time when absent),
  as ``streamfeat run --input`` reads it.
* **Parquet** (:class:`ParquetHistory`): columns read with pyarrow and checked against the
  source schema with the same type rules; rows with a null or a bad key become dead
  letters whose payload is the row rendered as JSON. The optional arrival column
  defaults to the event time.

An entity's events must all be in one partition (topics are keyed by entity), in
arrival order within it; that order decides lateness, here as live.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from math import isfinite
from pathlib import Path
from typing import Any, Protocol

from streamfeat.definitions import Source
from streamfeat.errors import HistoryError
from streamfeat.ingest import MAX_KEY_BYTES, DeadLetter, DecodedRecords, Reason, decode_records

__all__ = [
    "ArrowRecords",
    "History",
    "HistoryBatch",
    "JsonlHistory",
    "KafkaHistory",
    "ParquetHistory",
    "open_history",
]


@dataclass(frozen=True, slots=True)
class ArrowRecords:
    """A batch's valid records as Arrow arrays, all of them usable (no dead letters):
    ``keys`` (strings), ``event_times`` and ``arrivals`` (int64), and the source's fields by
    name (floats already as float64). Readers of buffers (the native replay) take them as
    they are; :meth:`to_decoded` gives the Python lists everything else reads."""

    keys: Any
    event_times: Any
    arrivals: Any
    columns: Mapping[str, Any]

    def __len__(self) -> int:
        return len(self.keys)

    def to_decoded(self, entity_field: str) -> DecodedRecords:
        key_list = self.keys.to_pylist()
        columns = {
            name: key_list if name == entity_field else column.to_pylist() for name, column in self.columns.items()
        }
        return DecodedRecords(
            keys=key_list,
            event_times=self.event_times.to_pylist(),
            arrivals=self.arrivals.to_pylist(),
            columns=columns,
            positions=list(range(len(key_list))),
        )

    @staticmethod
    def strings(array: Any) -> tuple[Any, Any]:
        """An Arrow string array as ``(offsets, data)``: int32 offsets (``offsets[i]`` to
        ``offsets[i + 1]`` are row ``i``'s bytes) and the UTF-8 bytes, without copying them."""
        import numpy as np
        import pyarrow as pa

        if array.null_count:
            raise HistoryError("internal error: an Arrow string column with nulls reached the replay")
        if pa.types.is_large_string(array.type):
            array = array.cast(pa.string())
        _validity, offsets, data = array.buffers()
        start = array.offset
        positions = np.frombuffer(offsets, dtype=np.int32)[start : start + len(array) + 1]
        return positions, (b"" if data is None else data)

    @staticmethod
    def numbers(array: Any) -> Any:
        """An Arrow numeric array (no nulls) as a NumPy array."""
        return array.to_numpy(zero_copy_only=False)

    @staticmethod
    def as_buffers(array: Any) -> Any:
        """A column for the native core: :meth:`strings` of a string array, else :meth:`numbers`."""
        import pyarrow as pa

        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            return ArrowRecords.strings(array)
        return ArrowRecords.numbers(array)


class HistoryBatch:
    """Consecutive records of one partition: the usable ones as columns, the rest as
    dead letters. ``next_offset`` is the offset after the batch's last record.

    ``arrow``: the same records as Arrow arrays, when the history read them so (a Parquet
    batch without a bad row); ``decoded`` is then built from them when first asked for."""

    __slots__ = ("_decoded", "arrow", "dead_letters", "entity_field", "next_offset", "offsets", "partition", "raw",
                 "records")

    def __init__(
        self,
        partition: int,
        records: int,
        decoded: DecodedRecords | None,
        dead_letters: list[DeadLetter],
        next_offset: int,
        offsets: Sequence[int] | None = None,  # of the decoded records, by position
        raw: Sequence[bytes] | None = None,  # the batch's record bytes by input index, where there are any
        *,
        arrow: ArrowRecords | None = None,
        entity_field: str = "",
    ) -> None:
        if decoded is None and arrow is None:
            raise HistoryError("internal error: a history batch needs its records as lists or as Arrow arrays")
        self.partition = partition
        self.records = records
        self._decoded = decoded
        self.dead_letters = dead_letters
        self.next_offset = next_offset
        self.offsets: Sequence[int] = [] if offsets is None else offsets
        self.raw = raw
        self.arrow = arrow
        self.entity_field = entity_field

    @property
    def decoded(self) -> DecodedRecords:
        if self._decoded is None:
            assert self.arrow is not None
            self._decoded = self.arrow.to_decoded(self.entity_field)
        return self._decoded

    @property
    def usable(self) -> int:
        """How many records of the batch are valid (``len(decoded.keys)``)."""
        return len(self.arrow) if self._decoded is None and self.arrow is not None else len(self.decoded.keys)

    def payload(self, i: int) -> bytes:
        """The original bytes of decoded record ``i`` (empty for Parquet rows: the offset
        is the row number in the file)."""
        if self.raw is None:
            return b""
        return bytes(self.raw[self.decoded.positions[i]])


class History(Protocol):
    """A replayable stream of one source's records."""

    topic: str

    def total(self) -> int | None:
        """How many records the replay will read, when known (for progress and ETA)."""
        ...

    def batches(self, source: Source, entity_field: str, batch_size: int) -> Iterator[HistoryBatch]:
        """The records as validated batches, partition after partition."""
        ...


def _decoded_offsets(decoded: DecodedRecords, offsets: Sequence[int]) -> list[int]:
    return [offsets[p] for p in decoded.positions]


# -- JSON Lines --------------------------------------------------------------------------


class JsonlHistory:
    """JSON Lines files, one partition each (file order = arrival order)."""

    def __init__(self, paths: Sequence[str | Path], *, topic: str, arrival_field: str | None = "arrival") -> None:
        if not paths:
            raise HistoryError("JsonlHistory needs at least one file")
        self.paths = [Path(p) for p in paths]
        for path in self.paths:
            if not path.is_file():
                raise HistoryError(f"history file {str(path)!r} does not exist")
        self.topic = topic
        self.arrival_field = arrival_field

    def total(self) -> int | None:
        """Lines in the files (one fast pass over the bytes, for the progress ETA)."""
        lines = 0
        for path in self.paths:
            with path.open("rb") as handle:
                tail = b"\n"
                while chunk := handle.read(1 << 22):
                    lines += chunk.count(b"\n")
                    tail = chunk[-1:]
                if tail != b"\n":
                    lines += 1  # a last line without a newline
        return lines

    def batches(self, source: Source, entity_field: str, batch_size: int) -> Iterator[HistoryBatch]:
        if batch_size < 1:
            raise HistoryError("batch_size must be >= 1")
        for partition, path in enumerate(self.paths):
            with path.open("rb") as handle:
                offsets: list[int] = []
                payloads: list[bytes] = []
                for number, line in enumerate(handle):
                    offsets.append(number)
                    payloads.append(line.rstrip(b"\r\n"))
                    if len(offsets) == batch_size:
                        yield self._batch(source, entity_field, partition, offsets, payloads)
                        offsets, payloads = [], []
                if offsets:
                    yield self._batch(source, entity_field, partition, offsets, payloads)

    def _batch(
        self, source: Source, entity_field: str, partition: int, offsets: list[int], payloads: list[bytes]
    ) -> HistoryBatch:
        decoded, dead = decode_records(
            source,
            entity_field,
            payloads,
            [None] * len(payloads),  # type: ignore[list-item]
            topic=self.topic,
            partition=partition,
            offsets=offsets,
            arrival_field=self.arrival_field,
        )
        return HistoryBatch(
            partition, len(offsets), decoded, dead, offsets[-1] + 1, _decoded_offsets(decoded, offsets), payloads
        )


# -- Parquet -----------------------------------------------------------------------------


def _import_pyarrow() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise HistoryError(
            "reading Parquet needs pyarrow: python3 -m pip install 'streamfeat[backfill]'"
        ) from exc
    return pq


class ParquetHistory:
    """Parquet files, one partition each (row order = arrival order)."""

    def __init__(self, paths: Sequence[str | Path], *, topic: str, arrival_column: str | None = "arrival") -> None:
        if not paths:
            raise HistoryError("ParquetHistory needs at least one file")
        self._pq = _import_pyarrow()
        self.paths = [Path(p) for p in paths]
        for path in self.paths:
            if not path.is_file():
                raise HistoryError(f"history file {str(path)!r} does not exist")
        self.topic = topic
        self.arrival_column = arrival_column

    def total(self) -> int | None:
        return sum(self._pq.ParquetFile(p).metadata.num_rows for p in self.paths)

    def batches(self, source: Source, entity_field: str, batch_size: int) -> Iterator[HistoryBatch]:
        if batch_size < 1:
            raise HistoryError("batch_size must be >= 1")
        for partition, path in enumerate(self.paths):
            handle = self._pq.ParquetFile(path)
            names = set(handle.schema_arrow.names)
            missing = [name for name in source.schema if name not in names]
            if missing:
                raise HistoryError(
                    f"{path}: the Parquet file lacks the source's field(s) {missing}; it has {sorted(names)}"
                )
            arrival = self.arrival_column if self.arrival_column in names else None
            wanted = list(source.schema) + ([arrival] if arrival and arrival not in source.schema else [])
            self._check_types(path, handle.schema_arrow, source, entity_field, arrival)
            offset = 0
            for record_batch in handle.iter_batches(batch_size=batch_size, columns=wanted):
                size = record_batch.num_rows
                clean = self._clean_batch(source, entity_field, partition, offset, record_batch, arrival)
                if clean is not None:
                    yield clean
                else:
                    data = {name: record_batch.column(name).to_pylist() for name in wanted}
                    yield self._batch(source, entity_field, partition, offset, size, data, arrival)
                offset += size

    @staticmethod
    def _check_types(path: Path, schema: Any, source: Source, entity_field: str, arrival: str | None) -> None:
        import pyarrow.types as pt

        def fits(name: str, kind: type) -> bool:
            arrow_type = schema.field(name).type
            if kind is int:
                return bool(pt.is_integer(arrow_type))
            if kind is float:
                return pt.is_integer(arrow_type) or pt.is_floating(arrow_type)
            if kind is bool:
                return pt.is_boolean(arrow_type)
            if name == entity_field and pt.is_integer(arrow_type):
                return True
            return pt.is_string(arrow_type) or pt.is_large_string(arrow_type)

        for name, kind in source.schema.items():
            if not fits(name, kind):
                raise HistoryError(
                    f"{path}: column {name!r} has type {schema.field(name).type}, but the source "
                    f"{source.name!r} declares {kind.__name__}"
                )
        if arrival is not None and not pt.is_integer(schema.field(arrival).type):
            raise HistoryError(f"{path}: arrival column {arrival!r} must hold integers (UTC ms)")

    def _clean_batch(
        self, source: Source, entity_field: str, partition: int, first_offset: int, record_batch: Any, arrival: str | None
    ) -> HistoryBatch | None:
        """:meth:`_batch` for a batch in which no row has a problem, checked column-wise
        with Arrow compute (no nulls, entity keys of 1 to ``MAX_KEY_BYTES`` bytes, finite
        floats) instead of row by row; ``None`` when some row has one — :meth:`_batch`
        then finds which and sends it to the dead letters. The same columns either way."""
        import pyarrow as pa
        import pyarrow.compute as pc

        names = list(source.schema)
        checked = names + ([arrival] if arrival is not None and arrival not in names else [])
        if any(record_batch.column(name).null_count for name in checked):
            return None
        keys = record_batch.column(entity_field)
        if pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type):
            lengths = pc.binary_length(keys)
            if len(keys) and (pc.min(lengths).as_py() < 1 or pc.max(lengths).as_py() > MAX_KEY_BYTES):
                return None
        else:  # integer keys (allowed for the entity field): their decimal text
            keys = keys.cast(pa.string())
            if len(keys) and pc.max(pc.binary_length(keys)).as_py() > MAX_KEY_BYTES:
                return None
        columns: dict[str, Any] = {}
        for name, kind in source.schema.items():
            column = record_batch.column(name)
            if kind is float:
                column = column.cast(pa.float64(), safe=False)  # as float(v): nearest double
                if len(column) and not pc.all(pc.is_finite(column)).as_py():
                    return None
            columns[name] = keys if name == entity_field else column
        size = record_batch.num_rows
        try:
            times = columns[source.timestamp].cast(pa.int64())
            arrivals = record_batch.column(arrival).cast(pa.int64()) if arrival is not None else times
        except pa.ArrowInvalid:  # an unsigned time beyond int64: the row-by-row path says where
            return None
        arrow = ArrowRecords(keys=keys, event_times=times, arrivals=arrivals, columns=columns)
        return HistoryBatch(
            partition, size, None, [], first_offset + size, range(first_offset, first_offset + size),
            arrow=arrow, entity_field=entity_field,
        )

    def _batch(
        self,
        source: Source,
        entity_field: str,
        partition: int,
        first_offset: int,
        size: int,
        data: Mapping[str, list[Any]],
        arrival: str | None,
    ) -> HistoryBatch:
        import orjson

        names = list(source.schema)
        float_fields = [n for n, k in source.schema.items() if k is float]
        float_columns = [j for j, n in enumerate(names) if n in float_fields]
        timestamp = source.timestamp
        decoded = DecodedRecords(columns={name: [] for name in names})
        dead: list[DeadLetter] = []
        keys_in = data[entity_field]
        times_in = data[timestamp]
        arrivals_in = data[arrival] if arrival is not None else times_in
        columns_in = [data[n] for n in names]
        offsets: list[int] = []
        for i in range(size):
            row = [column[i] for column in columns_in]
            problem: tuple[str, str] | None = None
            if None in row:
                problem = (Reason.MISSING_FIELD, f"field {names[row.index(None)]!r} is null")
            else:
                key = keys_in[i]
                if type(key) is not str:
                    key = str(key)
                if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
                    problem = (Reason.BAD_KEY, f"entity key {entity_field!r} must be 1..{MAX_KEY_BYTES} bytes")
                elif arrivals_in[i] is None:
                    problem = (Reason.MISSING_FIELD, f"arrival column {arrival!r} is null")
                else:
                    for j in float_columns:
                        if not isfinite(row[j]):  # JSON cannot carry these; Parquet can
                            problem = (Reason.WRONG_TYPE, f"field {names[j]!r} is {row[j]!r}, not a finite number")
                            break
            if problem is not None:
                record = {n: v for n, v in zip(names, row)}
                if arrival is not None:
                    record[arrival] = arrivals_in[i]
                dead.append(
                    DeadLetter(
                        problem[0], problem[1], orjson.dumps(record, default=str), self.topic, partition, first_offset + i
                    )
                )
                continue
            decoded.keys.append(key)
            decoded.event_times.append(times_in[i])
            decoded.arrivals.append(arrivals_in[i])
            decoded.positions.append(i)
            offsets.append(first_offset + i)
        if decoded.positions:
            picked = decoded.positions
            whole = len(picked) == size
            for name, column in zip(names, columns_in):
                values = column if whole else [column[p] for p in picked]
                if name in float_fields:
                    values = [float(v) for v in values]
                elif name == entity_field:
                    values = decoded.keys
                decoded.columns[name] = list(values)
        return HistoryBatch(partition, size, decoded, dead, first_offset + size, offsets)


# -- Kafka -------------------------------------------------------------------------------


class KafkaHistory:
    """A range of a Kafka topic: each partition from ``start`` to ``end``.

    ``start``: ``None`` (earliest), a time (UTC ms: the first record stamped at or after
    it) or ``{partition: offset}``. ``end``: ``None`` (the end of each partition when the
    replay starts), a time (records stamped before it) or ``{partition: offset}``
    (exclusive). Times select by record timestamp — the arrival the runtime uses.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        start: int | Mapping[int, int] | None = None,
        end: int | Mapping[int, int] | None = None,
        consumer_config: Mapping[str, Any] | None = None,
    ) -> None:
        from streamfeat.kafka_io import list_partitions

        self.bootstrap = bootstrap
        self.topic = topic
        self.consumer_config = dict(consumer_config or {})
        self.partitions = list_partitions(bootstrap, topic)
        self.starts = self._resolve(start, default_end=False)
        self.ends = self._resolve(end, default_end=True)

    def _resolve(self, where: int | Mapping[int, int] | None, *, default_end: bool) -> dict[int, int]:
        from confluent_kafka import Consumer, TopicPartition

        from streamfeat.kafka_io import offsets_for_time

        if isinstance(where, Mapping):
            unknown = sorted(set(where) - set(self.partitions))
            if unknown:
                raise HistoryError(f"topic {self.topic!r} has no partition(s) {unknown}; it has {self.partitions}")
            resolved = dict(where)
        elif isinstance(where, int) and not isinstance(where, bool):
            return offsets_for_time(self.bootstrap, self.topic, self.partitions, where)
        elif where is None:
            resolved = {}
        else:
            raise HistoryError(f"a topic range bound is a time in ms, offsets by partition or None, got {where!r}")
        missing = [p for p in self.partitions if p not in resolved]
        if missing:
            consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"streamfeat-{self.topic}"})
            try:
                for p in missing:
                    low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10.0)
                    resolved[p] = high if default_end else low
            finally:
                consumer.close()
        return resolved

    def total(self) -> int | None:
        return sum(max(0, self.ends[p] - self.starts[p]) for p in self.partitions)

    def batches(self, source: Source, entity_field: str, batch_size: int) -> Iterator[HistoryBatch]:
        from streamfeat.kafka_io import read_range

        for partition in self.partitions:
            for batch in read_range(
                self.bootstrap,
                self.topic,
                partition,
                self.starts[partition],
                self.ends[partition],
                batch_size,
                consumer_config=self.consumer_config,
            ):
                decoded, dead = decode_records(
                    source,
                    entity_field,
                    batch.payloads,
                    batch.timestamps,  # type: ignore[arg-type]
                    topic=self.topic,
                    partition=partition,
                    offsets=batch.offsets,
                )
                yield HistoryBatch(
                    partition,
                    len(batch.offsets),
                    decoded,
                    dead,
                    batch.offsets[-1] + 1,
                    _decoded_offsets(decoded, batch.offsets),
                    batch.payloads,
                )


def open_history(
    inputs: Sequence[str | Path],
    *,
    topic: str,
    arrival_field: str | None = "arrival",
) -> History:
    """A file history by extension: ``.jsonl``/``.json``/``.ndjson`` or ``.parquet``/``.pq``."""
    if not inputs:
        raise HistoryError("give at least one history file")
    kinds = {Path(p).suffix.lower() for p in inputs}
    if kinds <= {".jsonl", ".json", ".ndjson"}:
        return JsonlHistory(inputs, topic=topic, arrival_field=arrival_field)
    if kinds <= {".parquet", ".pq"}:
        return ParquetHistory(inputs, topic=topic, arrival_column=arrival_field)
    raise HistoryError(
        f"history files must all be JSON Lines (.jsonl) or all Parquet (.parquet); got {sorted(kinds)}"
    )
