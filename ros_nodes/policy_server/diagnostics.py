"""The node's health as a diagnostic_msgs/DiagnosticArray (one status, numbers as key/values)."""

from __future__ import annotations

import math
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

OK, WARN, ERROR = 0, 1, 2  # DiagnosticStatus levels (bytes in the message, ints here)
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR"}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def diagnostic_array(stamp, name: str, hardware_id: str, level: int, message: str, values: dict[str, Any]):
    status = DiagnosticStatus(
        level=bytes([level]),
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=_fmt(v)) for k, v in values.items()],
    )
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = stamp
    return msg
