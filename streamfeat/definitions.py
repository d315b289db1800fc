"""Entities, sources and feature views: the declarative API users write in ``features.py``.

All definitions are frozen and validated when created; each invalid definition
raises one :class:`~streamfeat.errors.DefinitionError` that names the problem.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from streamfeat.durations import Duration, format_duration, parse_duration
from streamfeat.errors import DefinitionError
from streamfeat.features import Feature

__all__ = ["Entity", "FeatureView", "Source"]

_FIELD_TYPES: dict[type, str] = {int: "int", float: "float", str: "str", bool: "bool"}
_NUMERIC = (int, float)
_ORDERED = (int, float, str)


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise DefinitionError(f"{what} name {value!r} must be a valid identifier (letters, digits, underscores)")
    return value


@dataclass(frozen=True, init=False)
class Entity:
    """What features describe (a user, a card, a merchant), identified by ``key``,
    the name of a source field holding its id."""

    name: str
    key: str

    def __init__(self, name: str, *, key: str) -> None:
        object.__setattr__(self, "name", _check_name(name, "Entity"))
        object.__setattr__(self, "key", _check_name(key, f"Entity {name!r} key"))


@dataclass(frozen=True, init=False)
class Source:
    """A stream of JSON events: a Kafka ``topic`` (default: the source name) whose records
    carry the fields of ``schema``; ``timestamp`` names the event-time field (integer
    UTC milliseconds). Events more than ``max_ahead`` after their arrival time are
    rejected as future-dated rather than allowed to distort lateness decisions."""

    name: str
    topic: str
    timestamp: str
    schema: Mapping[str, type]
    max_ahead: int

    def __init__(
        self,
        name: str,
        *,
        schema: Mapping[str, type],
        timestamp: str,
        topic: str | None = None,
        max_ahead: Duration = "1h",
    ) -> None:
        _check_name(name, "Source")
        if not isinstance(schema, Mapping) or not schema:
            raise DefinitionError(f"Source {name!r}: schema must be a non-empty mapping of field name -> type")
        for field_name, field_type in schema.items():
            _check_name(field_name, f"Source {name!r} field")
            if field_type not in _FIELD_TYPES:
                raise DefinitionError(
                    f"Source {name!r}: field {field_name!r} has type {field_type!r}; "
                    f"supported types are {', '.join(_FIELD_TYPES.values())}"
                )
        if timestamp not in schema:
            raise DefinitionError(f"Source {name!r}: timestamp field {timestamp!r} is not in the schema ({_fields(schema)})")
        if schema[timestamp] is not int:
            raise DefinitionError(
                f"Source {name!r}: timestamp field {timestamp!r} must be int (UTC milliseconds), "
                f"not {_FIELD_TYPES[schema[timestamp]]}"
            )
        topic = name if topic is None else topic
        if not isinstance(topic, str) or not topic:
            raise DefinitionError(f"Source {name!r}: topic must be a non-empty string")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "topic", topic)
        object.__setattr__(self, "timestamp", timestamp)
        object.__setattr__(self, "schema", MappingProxyType(dict(schema)))
        object.__setattr__(self, "max_ahead", parse_duration(max_ahead, what=f"Source {name!r} max_ahead", allow_zero=True))

    def __hash__(self) -> int:
        return hash((self.name, self.topic, self.timestamp, tuple(self.schema.items()), self.max_ahead))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Source) and (
            self.name,
            self.topic,
            self.timestamp,
            dict(self.schema),
            self.max_ahead,
        ) == (other.name, other.topic, other.timestamp, dict(other.schema), other.max_ahead)


def _fields(schema: Mapping[str, type]) -> str:
    return "fields: " + ", ".join(schema)


@dataclass(frozen=True, init=False)
class FeatureView:
    """Features of one entity computed from one source.

    ``allowed_lateness``: an event whose event time is older than the entity's newest
    accepted event time minus this is *late* — counted, sent to the late output, and
    ignored by every feature (see ``docs/semantics.md``).
    """

    name: str
    entity: Entity
    source: Source
    features: tuple[Feature, ...]
    allowed_lateness: int

    def __init__(
        self,
        name: str,
        *,
        entity: Entity,
        source: Source,
        features: Iterable[Feature],
        allowed_lateness: Duration = 0,
    ) -> None:
        _check_name(name, "FeatureView")
        if not isinstance(entity, Entity):
            raise DefinitionError(f"FeatureView {name!r}: entity must be an Entity, got {type(entity).__name__}")
        if not isinstance(source, Source):
            raise DefinitionError(f"FeatureView {name!r}: source must be a Source, got {type(source).__name__}")
        if entity.key not in source.schema:
            raise DefinitionError(
                f"FeatureView {name!r}: entity key {entity.key!r} is not a field of source "
                f"{source.name!r} ({_fields(source.schema)})"
            )
        features = tuple(features)
        if not features:
            raise DefinitionError(f"FeatureView {name!r}: needs at least one feature")
        seen: dict[str, Feature] = {}
        for feature in features:
            if not isinstance(feature, Feature):
                raise DefinitionError(f"FeatureView {name!r}: {feature!r} is not a feature (Count, Sum, …)")
            _check_input(name, source, feature)
            out = feature.output_name
            if out in seen:
                raise DefinitionError(
                    f"FeatureView {name!r}: two features are named {out!r} ({seen[out]!r} and {feature!r}); "
                    "give one of them name=..."
                )
            if out in (entity.key, "event_time"):
                raise DefinitionError(f"FeatureView {name!r}: feature name {out!r} is reserved")
            seen[out] = feature
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "entity", entity)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "features", features)
        object.__setattr__(
            self,
            "allowed_lateness",
            parse_duration(allowed_lateness, what=f"FeatureView {name!r} allowed_lateness", allow_zero=True),
        )

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.output_name for f in self.features)

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.output_name == name:
                return feature
        raise DefinitionError(f"FeatureView {self.name!r} has no feature {name!r}; it has: {', '.join(self.feature_names)}")

    def fingerprint(self) -> str:
        """Stable id of everything that shapes this view's state: state written under
        one fingerprint is never read under another."""
        text = repr(
            (
                self.name,
                self.entity,
                self.source.timestamp,
                self.source.max_ahead,
                tuple(sorted((k, v.__name__) for k, v in self.source.schema.items())),
                self.allowed_lateness,
                self.features,
            )
        )
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    def describe(self) -> str:
        lines = [
            f"view {self.name}: entity {self.entity.name} (key {self.entity.key}), source {self.source.name} "
            f"(topic {self.source.topic}), allowed lateness {format_duration(self.allowed_lateness)}"
        ]
        for feature in self.features:
            lines.append(f"  {feature.output_name:<40} {feature!r}")
        return "\n".join(lines)


def _check_input(view: str, source: Source, feature: Feature) -> None:
    field_name = feature.input_field
    kind = feature.input_kind
    if field_name is None:
        return
    where = f"FeatureView {view!r}: {type(feature).__name__}({field_name!r})"
    if field_name not in source.schema:
        raise DefinitionError(f"{where}: field {field_name!r} is not in source {source.name!r} ({_fields(source.schema)})")
    field_type = source.schema[field_name]
    if kind == "numeric" and field_type not in _NUMERIC:
        raise DefinitionError(f"{where}: needs a numeric field (int or float), but {field_name!r} is {field_type.__name__}")
    if kind == "ordered" and field_type not in _ORDERED:
        raise DefinitionError(f"{where}: needs an int, float or str field, but {field_name!r} is {field_type.__name__}")
