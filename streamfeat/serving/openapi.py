"""The OpenAPI 3.1 description the feature server serves at ``/openapi.json``.

Built once from the served views, so the view and feature names are enumerated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streamfeat.definitions import FeatureView

__all__ = ["openapi_document"]


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def openapi_document(views: Sequence[FeatureView]) -> dict[str, Any]:
    """The OpenAPI document of a server for ``views``."""
    from streamfeat import __version__
    from streamfeat.serving.service import MAX_AT_MS, MAX_BATCH, MAX_KEY_BYTES

    view_names = [v.name for v in views]
    feature_names = sorted({name for v in views for name in v.feature_names})
    view_param = {"name": "view", "in": "path", "required": True, "schema": {"type": "string", "enum": view_names}}
    at_schema = {"type": "integer", "minimum": 0, "maximum": MAX_AT_MS,
                 "description": "read time, UTC milliseconds; default: the request time. Not earlier than the "
                                "entity's newest applied arrival (earlier values are what backfill computes)."}
    errors = {
        "400": _error_response("malformed request: JSON, entity key (empty, longer than "
                               f"{MAX_KEY_BYTES} bytes), at, query parameters"),
        "401": _error_response("missing or wrong bearer token (when the server has one)"),
        "404": _error_response("unknown view (lists known_views) or feature (lists known_features)"),
        "503": _error_response("the online store failed"),
    }
    values = {
        "type": "object",
        "description": "feature name -> value as of as_of (docs/semantics.md: empty windows read as the "
                       "aggregation's empty value)",
        "additionalProperties": True,
    }
    entity_result = {
        "type": "object",
        "required": ["entity", "values", "event_time", "as_of"],
        "properties": {
            "entity": {"type": "string"},
            "values": values,
            "event_time": {"type": ["integer", "null"],
                           "description": "event time (UTC ms) of the entity's last update, its newest accepted "
                                          "event; null for an entity never seen"},
            "as_of": {"type": "integer", "description": "the time (UTC ms) the values were evaluated at: the "
                      "request's at, else the request time (or the entity's newest arrival, if later)"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "streamfeat feature server", "version": __version__,
                 "description": "Feature values per entity, finalised as of the request time by the same code "
                                "streaming and backfill run."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"],
                          "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
                "EntityFeatures": entity_result,
            },
        },
        "security": [{"bearer": []}, {}],
        "paths": {
            "/v1/features/{view}/{entity}": {"get": {
                "summary": "the features of one entity",
                "parameters": [
                    view_param,
                    {"name": "entity", "in": "path", "required": True,
                     "schema": {"type": "string", "maxLength": MAX_KEY_BYTES}, "description": "percent-encoded key"},
                    {"name": "at", "in": "query", "schema": at_schema},
                    {"name": "features", "in": "query", "description": "comma-separated subset (default: all)",
                     "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "values", "content": {"application/json": {"schema": {
                    "allOf": [{"$ref": "#/components/schemas/EntityFeatures"},
                              {"type": "object", "properties": {"view": {"type": "string"}}}]}}}}, **errors},
            }},
            "/v1/features/{view}": {"post": {
                "summary": f"the features of up to {MAX_BATCH:,} entities, from one store round trip",
                "parameters": [view_param],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["entities"], "additionalProperties": False,
                    "properties": {
                        "entities": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                                     "items": {"type": "string", "minLength": 1}},
                        "features": {"type": "array", "minItems": 1,
                                     "items": {"type": "string", "enum": feature_names}},
                        "at": at_schema,
                    }}}}},
                "responses": {"200": {"description": "one result per entity, in request order", "content": {
                    "application/json": {"schema": {"type": "object", "properties": {
                        "view": {"type": "string"},
                        "results": {"type": "array", "items": {"$ref": "#/components/schemas/EntityFeatures"}},
                    }}}}},
                    "413": _error_response(f"more than {MAX_BATCH:,} entities, or a body over the size limit"),
                    **errors},
            }},
            "/v1/views": {"get": {"summary": "served views and their features",
                                  "responses": {"200": {"description": "catalogue"}}}},
            "/healthz": {"get": {"summary": "the process answers", "security": [{}],
                                 "responses": {"200": {"description": "alive"}}}},
            "/readyz": {"get": {"summary": "the online store answers a keyed read", "security": [{}],
                                "responses": {"200": {"description": "ready"}, "503": _error_response("store down")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "text exposition format"}}}},
        },
    }
