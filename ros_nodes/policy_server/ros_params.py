"""Declaring ServerParams as ROS 2 parameters (with descriptors) and validating every change.

Parameters use dynamic typing and are coerced here, so a YAML `control_rate_hz: 20` (an int) works for a
float parameter instead of failing with a type error; values of the wrong kind are rejected with a reason.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult

from .params import ServerParams

_FIELDS = {f.name: f for f in dataclasses.fields(ServerParams)}
_TYPES = typing.get_type_hints(ServerParams)


def coerce(name: str, value: Any) -> Any:
    """A parameter value as the field's Python type; ValueError saying what was expected."""
    kind = _TYPES[name]
    if kind is bool and isinstance(value, bool):
        return value
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    if kind == list[str] and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    if kind == list[float] and isinstance(value, list | tuple):
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return [float(v) for v in value]
    if isinstance(value, list | tuple) and len(value) == 0 and kind in (list[str], list[float]):
        return []
    expected = getattr(kind, "__name__", str(kind))
    raise ValueError(f"{name}={value!r} has the wrong type; expected {expected}")


def descriptor(name: str) -> ParameterDescriptor:
    meta = _FIELDS[name].metadata
    d = ParameterDescriptor(name=name, description=meta["description"], dynamic_typing=True)
    if "min" in meta and "max" in meta:
        if _TYPES[name] is int:
            d.integer_range = [IntegerRange(from_value=int(meta["min"]), to_value=int(meta["max"]), step=0)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=meta["min"], to_value=meta["max"], step=0.0)]
    return d


def declare_server_params(node) -> None:
    """Declare every ServerParams field with its default and descriptor (overrides from YAML/CLI apply)."""
    defaults = ServerParams()
    node.declare_parameters(
        "", [(name, getattr(defaults, name), descriptor(name)) for name in _FIELDS]
    )  # fmt: skip


def read_server_params(node, changes: dict[str, Any] | None = None) -> ServerParams:
    """The node's current parameters (with `changes` applied) as ServerParams; ValueError if one is malformed."""
    values = {name: node.get_parameter(name).value for name in _FIELDS}
    values.update(changes or {})
    return ServerParams(**{name: coerce(name, v) for name, v in values.items()})


def validation_result(node, parameters) -> tuple[SetParametersResult, ServerParams | None]:
    """Check a proposed change against all current values: (result for rclpy, new params if valid)."""
    try:
        params = read_server_params(node, {p.name: p.value for p in parameters if p.name in _FIELDS})
    except ValueError as e:
        return SetParametersResult(successful=False, reason=str(e)), None
    errors = params.validate()
    if errors:
        return SetParametersResult(successful=False, reason="; ".join(errors)), None
    return SetParametersResult(successful=True), params
