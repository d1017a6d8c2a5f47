"""Query and body parameter parsing with the seed's 400 answers."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from server.api.errors import bad_request

UNITS = ("metric", "imperial")
_TRUE = ("true", "1")
_FALSE = ("false", "0")


def query_bool(request: Request, name: str) -> bool:
    """true/1 or false/0 (absent: false), exactly as /openapi.json lists them; else 400."""
    raw = request.query_params.get(name)
    if raw is None or raw in _FALSE:
        return False
    if raw in _TRUE:
        return True
    raise bad_request("invalid_parameter", f"{name}={raw[:40]!r}: use true or false")


def query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request("invalid_parameter", f"{name}={raw[:40]!r} is not an integer") from None
    if not lo <= value <= hi:
        raise bad_request("invalid_parameter", f"{name}={value} must be between {lo} and {hi}")
    return value


def check_units(value: Any, name: str = "measurement_system") -> str:
    if value not in UNITS:
        raise bad_request("invalid_parameter", f"{name} {value!r} must be 'metric' or 'imperial'")
    return str(value)


async def json_body(request: Request, *, required: bool) -> dict[str, Any]:
    """The JSON object body; {} for an empty optional body; 400 for anything else."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise bad_request("invalid_body", "a JSON object body is required")
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request("invalid_body", f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("invalid_body", "the body must be a JSON object")
    return body


async def units_from_body(request: Request, default: str) -> str:
    """`measurement_system` from an optional JSON body, else the query string, else `default`.

    Each one given is checked, so a bad query value is a 400 even when the body also has one.
    """
    body = await json_body(request, required=False)
    query = request.query_params.get("measurement_system")
    if query is not None:
        check_units(query)
    if "measurement_system" in body:
        return check_units(body["measurement_system"])
    return query if query is not None else check_units(default)
