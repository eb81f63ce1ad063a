"""Wire protocol and space serialization of the env server: exact round trips, and refusal of bad messages."""

import json
import math

import numpy as np
import pytest
from gymnasium import spaces

from vla.envs.server.protocol import PROTOCOL_VERSION, ProtocolError, decode, encode
from vla.envs.server.spaces import coerce_action, space_from_data, space_to_data


def _wire(message: dict) -> dict:
    """Encode, copy each frame into bytes (as if sent over a socket), decode."""
    frames = [bytes(f) for f in encode(message)]
    return decode(frames)


def test_nested_values_round_trip_exactly():
    rng = np.random.default_rng(0)
    message = {
        "observation": {
            "observation.images.rgb": rng.integers(0, 256, (5, 7, 3), dtype=np.uint8),
            "observation.images.depth": rng.random((5, 7, 1), dtype=np.float32),
            "observation.state": np.array([1.5, -np.pi, np.nan, np.inf], np.float64),
            "task": "gehe zur Küche 🚪",
        },
        "reward": 0.1 + 0.2,  # not representable in decimal: JSON must still round-trip it
        "nan": math.nan,
        "flags": (True, False, None),
        "np_scalars": [np.float32(0.25), np.int64(-3), np.bool_(True)],
        "empty": np.zeros((0, 3), np.int16),
        "big_endian": np.arange(4, dtype=">i4"),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
        "raw": b"\x00\xffbytes",
        "strings": np.array(["a", "bc"]),
    }
    out = _wire(message)
    obs = out["observation"]
    for key, value in message["observation"].items():
        if isinstance(value, np.ndarray):
            assert obs[key].dtype == value.dtype and obs[key].shape == value.shape
            assert obs[key].tobytes() == value.tobytes()  # bit-identical (NaN included)
            assert obs[key].flags.writeable
    assert obs["task"] == message["observation"]["task"]
    assert out["reward"] == 0.1 + 0.2 and math.isnan(out["nan"])
    assert out["flags"] == (True, False, None) and isinstance(out["flags"], tuple)
    assert [type(v) for v in out["np_scalars"]] == [np.float32, np.int64, np.bool_]
    assert out["np_scalars"] == [0.25, -3, True]
    assert out["empty"].shape == (0, 3) and out["empty"].dtype == np.int16
    assert out["big_endian"].dtype == np.dtype(">i4") and out["big_endian"].tolist() == [0, 1, 2, 3]
    assert np.array_equal(out["fortran"], message["fortran"])
    assert out["raw"] == message["raw"] and out["strings"].tolist() == ["a", "bc"]


def test_header_is_json_and_arrays_travel_as_raw_frames():
    frames = encode({"op": "step", "action": np.arange(5, dtype=np.float32)})
    header = json.loads(bytes(frames[0]))
    assert header["v"] == PROTOCOL_VERSION and header["op"] == "step"
    assert header["action"] == {"__vla__": "nd", "i": 1, "dtype": "<f4", "shape": [5]}
    assert bytes(frames[1]) == np.arange(5, dtype=np.float32).tobytes()


@pytest.mark.parametrize(
    "value, match",
    [
        (np.array([object()], dtype=object), "dtype object"),
        ({1: 2}, "not a string"),
        ({"__vla__": 1}, "reserved"),
        (object(), "cannot send"),
    ],
)
def test_encode_refuses_values_without_a_safe_wire_form(value, match):
    with pytest.raises(ProtocolError, match=match):
        encode({"x": value})


def _frames(header: dict, *buffers: bytes) -> list[bytes]:
    return [json.dumps(header).encode(), *buffers]


@pytest.mark.parametrize(
    "frames, match",
    [
        ([b"\x80\x04garbage"], "not a UTF-8 JSON header"),
        ([b"[1, 2]"], "JSON object"),
        (_frames({"op": "ping"}), "version None"),
        (_frames({"v": 99, "op": "ping"}), "version 99"),
        (_frames({"v": 1, "a": {"__vla__": "pickle", "i": 1}}, b"x"), "unknown tag"),
        (_frames({"v": 1, "a": {"__vla__": "nd", "i": 1, "dtype": "|O", "shape": [1]}}, b"12345678"), "not allowed"),
        (_frames({"v": 1, "a": {"__vla__": "nd", "i": 1, "dtype": "<f4", "shape": [3]}}, b"1234"), "does not hold"),
        (_frames({"v": 1, "a": {"__vla__": "nd", "i": 2, "dtype": "<f4", "shape": [1]}}, b"1234"), "buffer index"),
        (_frames({"v": 1, "a": {"__vla__": "nd", "i": 1, "dtype": "<f4", "shape": [-1]}}, b"1234"), "bad shape"),
        (_frames({"v": 1, "a": {"__vla__": "nd", "i": 1, "dtype": "nonsense", "shape": [1]}}, b"1234"), "dtype"),
        ([], "empty"),
    ],
)
def test_decode_refuses_malformed_messages(frames, match):
    with pytest.raises(ProtocolError, match=match):
        decode(frames)


SPACES = [
    spaces.Box(np.array([-1.0, 0.0, -np.inf], np.float32), np.array([1.0, 2.5, np.inf], np.float32), dtype=np.float32),
    spaces.Box(0, 255, (4, 6, 3), np.uint8),
    spaces.Discrete(4),
    spaces.Discrete(3, start=-1),
    spaces.MultiBinary(5),
    spaces.MultiDiscrete([3, 4], start=[1, 0]),
    spaces.Text(max_length=64, min_length=1, charset="zyxabc ,."),
    spaces.Dict({"b": spaces.Discrete(2), "a": spaces.Tuple([spaces.Discrete(2), spaces.Box(-1, 1, (2,))])}),
]


@pytest.mark.parametrize("space", SPACES, ids=lambda s: type(s).__name__)
def test_spaces_round_trip_to_equal_spaces(space):
    restored = space_from_data(_wire({"s": space_to_data(space)})["s"])
    assert restored == space
    if isinstance(space, spaces.Dict):
        assert list(restored.spaces) == list(space.spaces)  # key order kept
    space.seed(3)
    restored.seed(3)
    assert str(space.sample()) == str(restored.sample())


def test_coerce_action_checks_structure_not_bounds():
    box = spaces.Box(-1, 1, (3,), np.float32)
    out = coerce_action(box, np.array([2.0, 0.0, -5.0]))  # out of bounds is the env's business (it clips)
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        coerce_action(box, np.zeros(2))
    with pytest.raises(ValueError, match="not numeric"):
        coerce_action(box, np.array(["a", "b", "c"]))
    assert coerce_action(spaces.Discrete(4), 3) == 3
    for bad in (4, 1.5, [1]):
        with pytest.raises(ValueError):
            coerce_action(spaces.Discrete(4), bad)
