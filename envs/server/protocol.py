"""Wire protocol of the env server: a JSON header frame plus raw numpy buffers as extra frames.

Why not pickle: a server must never unpickle what a client sends (and vice versa), because unpickling
runs code. Why not msgpack: JSON + raw buffers needs no extra dependency, is readable in a packet dump,
and keeps arrays zero-copy on the receiving side.

A message is a ZeroMQ multipart message:

  frame 0      UTF-8 JSON object, the header: {"v": PROTOCOL_VERSION, ...payload}
  frames 1..n  raw C-contiguous array buffers, referenced from the header

Inside the header, values JSON cannot carry are tagged objects with the reserved key "__vla__":

  {"__vla__": "nd", "i": 1, "dtype": "<f4", "shape": [5]}   numpy array (or numpy scalar if "scalar": true)
                                                          whose bytes are frame i
  {"__vla__": "bytes", "i": 2}                            Python bytes in frame i
  {"__vla__": "tuple", "items": [...]}                    Python tuple (JSON arrays decode as lists)

Dtypes are restricted to plain numeric, bool and fixed-width string kinds; object dtypes are refused,
and every buffer's length is checked against dtype and shape before it is used. Python floats go
through JSON's repr, which round-trips exactly (NaN and infinities included).

Requests carry "op" (see OPS); replies carry "ok": true plus the op's fields, or "ok": false and
"error": {"type": ..., "message": ...}. The server answers every request, malformed or not.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

PROTOCOL_VERSION = 1
# op -> request fields (documentation; the server validates each op's fields itself)
OPS: dict[str, str] = {
    "ping": "{} -> {protocol, env_id, server}",
    "spec": "{} -> {env_id, observation_space, action_space, metadata, render_mode, max_episode_steps}",
    "make": "{kwargs: {...}} -> like spec; (re)creates the env with the server's kwargs updated by these",
    "reset": "{seed: int|null, options: {...}|null} -> {observation, info}",
    "step": "{action} -> {observation, reward, terminated, truncated, info}",
    "render": "{} -> {frame: array|null}",
    "close": "{} -> {}; closes the env, the server keeps serving (the next op re-makes it)",
}
TAG = "__vla__"
ALLOWED_DTYPE_KINDS = frozenset("biufcSU")  # bool, ints, floats, complex, fixed-width strings; never "O"/"V"


class ProtocolError(ValueError):
    """A message that does not follow this protocol (bad JSON, unknown tag, wrong buffer size, ...)."""


def encode(header: dict[str, Any]) -> list[bytes | memoryview]:
    """Header dict (values may hold numpy arrays, tuples, bytes) -> multipart frames."""
    buffers: list[bytes | memoryview] = []
    body = _encode_value(header, buffers, "message")
    text = json.dumps({"v": PROTOCOL_VERSION, **body}, allow_nan=True, separators=(",", ":"))
    return [text.encode("utf-8"), *buffers]


def decode(frames: list[bytes] | list[memoryview]) -> dict[str, Any]:
    """Multipart frames -> header dict with arrays restored. Raises ProtocolError on anything malformed."""
    if not frames:
        raise ProtocolError("empty message")
    try:
        header = json.loads(bytes(frames[0]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProtocolError(f"frame 0 is not a UTF-8 JSON header ({e.__class__.__name__})") from None
    if not isinstance(header, dict):
        raise ProtocolError("the header must be a JSON object")
    version = header.pop("v", None)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version!r} is not supported; this side speaks v{PROTOCOL_VERSION}")
    return _decode_value(header, frames)


def _encode_value(value: Any, buffers: list, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value  # json writes NaN/Infinity literals; they decode back to the same floats
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ProtocolError(f"{where}: dict key {k!r} is not a string")
            if k == TAG:
                raise ProtocolError(f"{where}: the key {TAG!r} is reserved by the protocol")
            out[k] = _encode_value(v, buffers, f"{where}[{k!r}]")
        return out
    if isinstance(value, list):
        return [_encode_value(v, buffers, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {TAG: "tuple", "items": [_encode_value(v, buffers, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, (bytes, bytearray)):
        buffers.append(bytes(value))
        return {TAG: "bytes", "i": len(buffers)}
    if isinstance(value, np.generic):
        return _encode_array(np.asarray(value), buffers, where, scalar=True)
    if isinstance(value, np.ndarray):
        return _encode_array(value, buffers, where, scalar=False)
    raise ProtocolError(f"{where}: cannot send a value of type {type(value).__name__}")


def _encode_array(arr: np.ndarray, buffers: list, where: str, scalar: bool) -> dict[str, Any]:
    if arr.dtype.kind not in ALLOWED_DTYPE_KINDS:
        raise ProtocolError(f"{where}: arrays of dtype {arr.dtype} cannot be sent (numeric, bool or str only)")
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # (np.ascontiguousarray would turn 0-d arrays into 1-d ones)
    buffers.append(memoryview(arr).cast("B") if arr.size else b"")
    out = {TAG: "nd", "i": len(buffers), "dtype": arr.dtype.str, "shape": list(arr.shape)}
    if scalar:
        out["scalar"] = True
    return out


def _decode_value(value: Any, frames) -> Any:
    if isinstance(value, list):
        return [_decode_value(v, frames) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(TAG)
    if tag is None:
        return {k: _decode_value(v, frames) for k, v in value.items()}
    if tag == "tuple":
        items = value.get("items")
        if not isinstance(items, list):
            raise ProtocolError("tuple tag without an 'items' list")
        return tuple(_decode_value(v, frames) for v in items)
    if tag == "bytes":
        return bytes(_frame(value, frames))
    if tag == "nd":
        return _decode_array(value, frames)
    raise ProtocolError(f"unknown tag {tag!r}")


def _frame(ref: dict, frames) -> Any:
    i = ref.get("i")
    if not isinstance(i, int) or isinstance(i, bool) or not 1 <= i < len(frames):
        raise ProtocolError(f"buffer index {i!r} does not name one of the {len(frames) - 1} buffer frames")
    return frames[i]


def _decode_array(ref: dict, frames) -> np.ndarray | np.generic:
    try:
        dtype = np.dtype(ref.get("dtype"))
    except TypeError:
        raise ProtocolError(f"bad dtype {ref.get('dtype')!r}") from None
    if dtype.kind not in ALLOWED_DTYPE_KINDS:
        raise ProtocolError(f"dtype {dtype} is not allowed (numeric, bool or str only)")
    shape = ref.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise ProtocolError(f"bad shape {shape!r}")
    buf = _frame(ref, frames)
    expected = math.prod(shape) * dtype.itemsize
    if len(buf) != expected:
        raise ProtocolError(f"buffer of {len(buf)} bytes does not hold {dtype} {tuple(shape)} ({expected} bytes)")
    arr = np.frombuffer(buf, dtype=dtype).reshape(shape) if expected else np.zeros(shape, dtype)
    if ref.get("scalar"):
        return arr[()]
    # frombuffer views a read-only zmq frame; envs and policies may write into observations
    return arr.copy() if not arr.flags.writeable else arr


def error_reply(kind: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"type": kind, "message": message}}
