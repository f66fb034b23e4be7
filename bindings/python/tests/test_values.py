"""Value classes, the TS-shaped dicts, and Python <-> value conversions."""

from __future__ import annotations

import math
from typing import Any

import pytest

import topgun_storage as tg
from helpers import lww, same, ts

def round_trip(value: Any) -> Any:
    """Stores `value` and reads it back through every path."""
    store = tg.Storage()
    store.put("k", tg.LwwRecord(value, ts()))
    back = store["k"].value
    via_bytes = tg.decode(tg.encode(tg.LwwRecord(value, ts()))).value
    via_dict = tg.LwwRecord.from_dict(tg.LwwRecord(value, ts()).to_dict()).value
    assert same(back, via_bytes) and same(back, via_dict)
    return back


# ---------------------------------------------------------------------------
# numbers and scalars


@pytest.mark.parametrize(
    "n", [0, -1, 1, 2**31, -(2**31), 2**53 + 1, -(2**53) - 1, -(2**63), 2**63 - 1]
)
def test_integer_edges_round_trip_exactly(n: int) -> None:
    back = round_trip(n)
    assert type(back) is int and back == n


@pytest.mark.parametrize("n", [2**63, -(2**63) - 1, 2**64, 2**200, -(2**100)])
def test_integers_outside_i64_are_a_range_error(n: int) -> None:
    with pytest.raises(tg.ValueRangeError) as info:
        tg.LwwRecord({"a": [0, n]}, ts())
    err = info.value
    assert isinstance(err, tg.StorageError)
    assert isinstance(err, OverflowError) and isinstance(err, ValueError)
    assert err.code == "value_range"
    assert err.path == "$.value.a[1]"
    assert str(n) in str(err) and "$.value.a[1]" in str(err)


@pytest.mark.parametrize(
    "x", [0.0, -0.0, 1.5, -2.25, 1e308, 5e-324, math.inf, -math.inf, 0.1, 2.0**53 + 2]
)
def test_floats_round_trip_bit_for_bit(x: float) -> None:
    back = round_trip(x)
    assert type(back) is float
    assert same(back, x)


def test_nan_round_trips_as_nan() -> None:
    assert math.isnan(round_trip(math.nan))


def test_whole_floats_stay_floats_and_ints_stay_ints() -> None:
    assert type(round_trip(1.0)) is float
    assert type(round_trip(1)) is int


def test_bool_is_not_an_int() -> None:
    back = round_trip([True, False, 1, 0])
    assert [type(x) for x in back] == [bool, bool, int, int]
    assert back == [True, False, 1, 0]


def test_none_is_a_tombstone_value() -> None:
    assert round_trip(None) is None


def test_int_and_float_subclasses_are_accepted() -> None:
    import enum

    class Color(enum.IntEnum):
        RED = 7

    class F(float):
        pass

    assert same(round_trip([Color.RED, F(2.5)]), [7, 2.5])


@pytest.mark.parametrize(
    "s",
    ["", "plain", "ключ", "日本語", "emoji \U0001f600", "nul \x00 inside", "tab\tnew\nline"],
)
def test_unicode_strings_round_trip(s: str) -> None:
    assert round_trip(s) == s


def test_lone_surrogates_cannot_be_stored() -> None:
    with pytest.raises(UnicodeEncodeError):
        tg.LwwRecord("\ud800", ts())


def test_bytes_and_bytearray_come_back_as_bytes() -> None:
    back = round_trip([b"", b"\x00\xff", bytearray(b"abc")])
    assert back == [b"", b"\x00\xff", b"abc"]
    assert all(type(x) is bytes for x in back)


def test_tuples_come_back_as_lists() -> None:
    assert same(round_trip((1, (2, 3))), [1, [2, 3]])


def test_nested_maps_keep_key_order() -> None:
    value = {"z": 1, "a": {"y": [1, {"q": None, "b": 2}], "b": "x"}, "m": []}
    back = round_trip(value)
    assert same(back, value)
    assert list(back) == ["z", "a", "m"]
    assert list(back["a"]) == ["y", "b"]
    assert list(back["a"]["y"][1]) == ["q", "b"]


def test_non_str_dict_keys_are_a_type_error_with_path() -> None:
    with pytest.raises(TypeError, match=r"dict keys must be str, found int at \$\.value\.outer"):
        tg.LwwRecord({"outer": {1: "x"}}, ts())


@pytest.mark.parametrize("bad", [{1, 2}, object(), 1 + 2j, frozenset(), range(3)])
def test_unsupported_types_are_a_type_error_naming_type_and_path(bad: object) -> None:
    with pytest.raises(TypeError, match=type(bad).__name__) as info:
        tg.LwwRecord({"list": [0, bad]}, ts())
    assert "$.value.list[1]" in str(info.value)


def test_odd_keys_are_quoted_in_paths() -> None:
    with pytest.raises(TypeError, match=r'\$\.value\["user name"\]\["a\\"b"\]'):
        tg.LwwRecord({"user name": {'a"b': object()}}, ts())


def test_depth_limit_matches_the_core_decoder() -> None:
    deep: Any = 0
    for _ in range(256):
        deep = [deep]
    record = tg.LwwRecord(deep, ts())
    # 256 levels are fine and survive MessagePack, whose decoder has the same limit.
    assert tg.decode(tg.encode(record)) == record
    with pytest.raises(tg.MalformedValueError) as info:
        tg.LwwRecord([deep], ts())
    assert info.value.code == "malformed_value"
    assert "256" in str(info.value)


def test_depth_limit_applies_to_ts_dicts_too() -> None:
    deep: Any = 0
    for _ in range(257):
        deep = {"d": deep}
    store = tg.Storage()
    with pytest.raises(tg.MalformedValueError) as info:
        store.put("k", {"value": deep, "timestamp": ts().to_dict()})
    # The path names the container too deep: the 257th level.
    assert info.value.path == "$.value" + ".d" * 256
    with pytest.raises(tg.MalformedValueError) as info:
        store.put(
            "k",
            {"type": "OR", "records": [{"value": deep, "timestamp": ts().to_dict(), "tag": "t"}]},
        )
    assert str(info.value.path).startswith("$.records[0].value")
    assert len(store) == 0


def test_depth_is_counted_from_the_user_value_in_every_envelope() -> None:
    deep: Any = 0
    for _ in range(256):
        deep = [deep]
    store = tg.Storage()
    # 256 levels inside an LWW dict and inside an OR record: accepted, as by
    # the MessagePack decoder.
    store.put("lww", {"value": deep, "timestamp": ts().to_dict()})
    store.put("or", {"type": "OR", "records": [{"value": deep, "timestamp": ts().to_dict(), "tag": "t"}]})
    assert store.get_msgpack("lww") == tg.encode(store["lww"])
    assert tg.decode(store.get_msgpack("or")) == store["or"]


def test_very_deep_data_is_an_error_not_a_stack_overflow() -> None:
    # Far deeper than a recursive converter could follow on a thread's stack.
    deep: Any = 0
    for _ in range(200_000):
        deep = [deep]
    with pytest.raises(tg.MalformedValueError):
        tg.LwwRecord(deep, ts())
    with pytest.raises(tg.MalformedValueError):
        tg.Storage().put("k", {"value": deep, "timestamp": ts().to_dict()})
    wide: dict[str, Any] = {}
    node = wide
    for _ in range(200_000):
        node["n"] = {}
        node = node["n"]
    with pytest.raises(tg.MalformedValueError):
        tg.Storage().put("k", {"value": wide, "timestamp": ts().to_dict()})
    # Python's own deallocation of such a list recurses; unwind it by hand.
    while isinstance(deep, list):
        deep = deep[0]
    node = wide
    while node:
        node = node.pop("n")


def test_a_key_with_a_control_character_is_escaped_as_json_escapes_it() -> None:
    with pytest.raises(TypeError) as info:
        tg.LwwRecord({"a\b": object()}, ts())
    # The core's path syntax: JSON escapes, so \b and not \u0008.
    assert '$.value["a\\b"]' in str(info.value)
    with pytest.raises(tg.ValueRangeError) as range_info:
        tg.Storage().put("k", {"value": {"a\b": 2**64}, "timestamp": ts().to_dict()})
    assert range_info.value.path == '$.value["a\\b"]'


def test_self_referencing_list_is_rejected_not_a_crash() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(tg.MalformedValueError):
        tg.LwwRecord(loop, ts())


# ---------------------------------------------------------------------------
# Timestamp


def test_timestamp_fields_order_hash_and_repr() -> None:
    a = tg.Timestamp(1, 5, "b")
    b = tg.Timestamp(2, 0, "a")
    c = tg.Timestamp(2, 1, "a")
    d = tg.Timestamp(2, 1, "b")
    assert a < b < c < d and d > a and a <= a and d >= c
    assert sorted([d, b, a, c]) == [a, b, c, d]
    assert (a.millis, a.counter, a.node_id) == (1, 5, "b")
    assert tg.Timestamp(2, 1, "a") == c and hash(tg.Timestamp(2, 1, "a")) == hash(c)
    assert len({a, b, c, d, tg.Timestamp(1, 5, "b")}) == 4
    assert repr(a) == "Timestamp(millis=1, counter=5, node_id='b')"
    assert (a == "x") is False and a != "x"


def test_timestamp_extremes_and_range_errors() -> None:
    t = tg.Timestamp(2**63 - 1, 2**32 - 1, "")
    assert (t.millis, t.counter) == (2**63 - 1, 2**32 - 1)
    for millis, counter in [(-1, 0), (2**63, 0), (2**64 - 1, 0), (2**64, 0), (0, -1), (0, 2**32)]:
        with pytest.raises(tg.ValueRangeError):
            tg.Timestamp(millis, counter, "n")


def test_times_at_the_limit_survive_every_form_and_beyond_it_are_refused() -> None:
    # millis and ttl_ms hold 0 ..= 2**63-1 in every form: whatever a read
    # returns, a write accepts, and no conversion changes the number.
    top = 2**63 - 1
    record = tg.LwwRecord(1, tg.Timestamp(top, 0, "n"), ttl_ms=top)
    as_dict = record.to_dict()
    assert as_dict["timestamp"]["millis"] == top and type(as_dict["timestamp"]["millis"]) is int
    assert as_dict["ttlMs"] == top and type(as_dict["ttlMs"]) is int
    assert tg.LwwRecord.from_dict(as_dict) == record
    assert tg.decode(tg.encode(record)) == record
    store = tg.Storage()
    store.put("dict", as_dict)
    store.put_msgpack("bytes", tg.encode(record))
    for key in ("dict", "bytes"):
        back = store.get(key)
        assert back == record
        store.put(key, back)
        store.put(key, back.to_dict())
    entry = tg.OrMapRecord(1, tg.Timestamp(top, 1, "n"), "t", ttl_ms=top)
    assert tg.OrMapValue.from_dict(tg.OrMapValue([entry]).to_dict()) == tg.OrMapValue([entry])
    with pytest.raises(tg.ValueRangeError, match=r"ttl_ms must be an int in 0 \.\.= 2\*\*63-1, got 2\*\*64"):
        tg.LwwRecord(1, tg.Timestamp(1, 0, "n"), ttl_ms=2**64)
    with pytest.raises(tg.ValueRangeError):
        tg.LwwRecord(1, tg.Timestamp(1, 0, "n"), ttl_ms=2**63)
    with pytest.raises(tg.ValueRangeError):
        tg.OrMapRecord(1, tg.Timestamp(1, 0, "n"), "t", ttl_ms=2**64 - 1)
    # MessagePack from a peer with a uint64 above 2**63-1: refused with its
    # path, as every other language refuses it.
    for field, packed in [
        ("$.timestamp.millis", b"\x82\xa5value\x01\xa9timestamp\x83\xa6millis\xcf" + (2**64 - 1).to_bytes(8, "big") + b"\xa7counter\x00\xa6nodeId\xa1n"),
        ("$.ttlMs", b"\x83\xa5value\x01\xa9timestamp\x83\xa6millis\x01\xa7counter\x00\xa6nodeId\xa1n\xa5ttlMs\xcf" + (2**63).to_bytes(8, "big")),
    ]:
        with pytest.raises(tg.ValueRangeError) as info:
            tg.decode(packed)
        assert info.value.path == field
        with pytest.raises(tg.ValueRangeError):
            store.put_msgpack("peer", packed)
    assert "peer" not in store
    with pytest.raises(tg.ValueRangeError):
        tg.LwwRecord.from_dict({**as_dict, "ttlMs": 2**63})


def test_timestamp_type_errors() -> None:
    with pytest.raises(TypeError):
        tg.Timestamp(True, 0, "n")  # bool is not an int here
    with pytest.raises(TypeError):
        tg.Timestamp(1.0, 0, "n")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tg.Timestamp(1, 0, 5)  # type: ignore[arg-type]


def test_timestamp_dict_round_trip_and_errors() -> None:
    t = tg.Timestamp(1_700_000_000_000, 3, "node-a")
    assert t.to_dict() == {"millis": 1_700_000_000_000, "counter": 3, "nodeId": "node-a"}
    assert list(t.to_dict()) == ["millis", "counter", "nodeId"]
    assert tg.Timestamp.from_dict(t.to_dict()) == t
    with pytest.raises(tg.ValueShapeError) as info:
        tg.Timestamp.from_dict({"millis": 1, "counter": 0})
    assert info.value.path == "$" and "nodeId" in str(info.value)
    with pytest.raises(tg.ValueRangeError) as rinfo:
        tg.Timestamp.from_dict({"millis": 1, "counter": 2**32, "nodeId": "n"})
    assert rinfo.value.path == "$.counter"
    with pytest.raises(tg.ValueShapeError) as sinfo:
        tg.Timestamp.from_dict({"millis": 1, "counter": 0, "nodeId": 5})
    assert sinfo.value.path == "$.nodeId"
    with pytest.raises(TypeError):
        tg.Timestamp.from_dict([1, 0, "n"])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# LwwRecord


def test_lww_record_fields_eq_repr() -> None:
    r = tg.LwwRecord({"a": 1}, ts(5), ttl_ms=1000)
    assert r.value == {"a": 1} and r.timestamp == ts(5) and r.ttl_ms == 1000
    assert r == tg.LwwRecord({"a": 1}, ts(5), 1000)
    assert r != tg.LwwRecord({"a": 1}, ts(5))
    assert r != tg.LwwRecord({"a": 2}, ts(5), 1000)
    assert r != {"a": 1}
    assert repr(r) == (
        "LwwRecord(value={'a': 1}, timestamp=Timestamp(millis=5, counter=0, "
        "node_id='node-a'), ttl_ms=1000)"
    )
    with pytest.raises(TypeError):
        hash(r)


def test_lww_value_is_a_fresh_copy_each_time() -> None:
    r = tg.LwwRecord({"list": [1, 2]}, ts())
    v = r.value
    v["list"].append(3)
    v["new"] = 1
    assert r.value == {"list": [1, 2]}
    assert r.value is not r.value


def test_lww_record_frozen() -> None:
    r = lww()
    with pytest.raises(AttributeError):
        r.value = 2  # type: ignore[misc]


def test_lww_to_dict_is_the_ts_shape() -> None:
    assert lww({"x": [1]}, 7).to_dict() == {
        "value": {"x": [1]},
        "timestamp": {"millis": 7, "counter": 0, "nodeId": "node-a"},
    }
    with_ttl = tg.LwwRecord(None, ts(), ttl_ms=60_000).to_dict()
    assert list(with_ttl) == ["value", "timestamp", "ttlMs"]
    assert with_ttl["ttlMs"] == 60_000 and with_ttl["value"] is None


def test_lww_from_dict_accepts_any_field_order_and_null_ttl() -> None:
    d = {"ttlMs": None, "timestamp": {"nodeId": "n", "counter": 1, "millis": 2}, "value": "v"}
    r = tg.LwwRecord.from_dict(d)
    assert r == tg.LwwRecord("v", tg.Timestamp(2, 1, "n"))
    assert r.ttl_ms is None


def test_lww_argument_errors() -> None:
    with pytest.raises(TypeError):
        tg.LwwRecord(1, "not a timestamp")  # type: ignore[arg-type]
    with pytest.raises(tg.ValueRangeError):
        tg.LwwRecord(1, ts(), ttl_ms=-1)
    with pytest.raises(TypeError):
        tg.LwwRecord(1, ts(), ttl_ms="5")  # type: ignore[arg-type]


def test_from_dict_of_the_wrong_variant_is_a_shape_error() -> None:
    tomb = {"type": "OR_TOMBSTONES", "tags": ["a"]}
    with pytest.raises(tg.ValueShapeError, match="expected an LWW record"):
        tg.LwwRecord.from_dict(tomb)
    with pytest.raises(tg.ValueShapeError, match="expected an OR value"):
        tg.OrMapValue.from_dict(tomb)
    with pytest.raises(tg.ValueShapeError, match="expected OR tombstones"):
        tg.OrTombstones.from_dict(lww().to_dict())


# ---------------------------------------------------------------------------
# OR map and tombstones


def test_or_map_value_and_records() -> None:
    e1 = tg.OrMapRecord({"v": 1}, ts(1), "tag-1")
    e2 = tg.OrMapRecord([1, 2], ts(2), "tag-2", ttl_ms=5)
    value = tg.OrMapValue([e1, e2])
    assert len(value) == 2
    assert value.records == [e1, e2]
    assert (e2.value, e2.timestamp, e2.tag, e2.ttl_ms) == ([1, 2], ts(2), "tag-2", 5)
    assert value == tg.OrMapValue(iter([e1, e2]))
    assert value != tg.OrMapValue([e2, e1])
    assert value.to_dict() == {
        "type": "OR",
        "records": [
            {"value": {"v": 1}, "timestamp": ts(1).to_dict(), "tag": "tag-1"},
            {"value": [1, 2], "timestamp": ts(2).to_dict(), "tag": "tag-2", "ttlMs": 5},
        ],
    }
    assert tg.OrMapValue.from_dict(value.to_dict()) == value
    assert tg.OrMapRecord.from_dict(e2.to_dict()) == e2
    assert repr(e1) == (
        "OrMapRecord(value={'v': 1}, timestamp=Timestamp(millis=1, counter=0, "
        "node_id='node-a'), tag='tag-1', ttl_ms=None)"
    )
    assert repr(tg.OrMapValue([])) == "OrMapValue(records=[])"


def test_or_map_record_errors() -> None:
    with pytest.raises(TypeError, match="OrMapRecord"):
        tg.OrMapValue([{"value": 1}])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        tg.OrMapValue(5)  # type: ignore[arg-type]
    with pytest.raises(tg.ValueShapeError) as info:
        tg.OrMapRecord.from_dict({"value": 1, "timestamp": ts().to_dict(), "tag": 7})
    assert info.value.path == "$.tag"
    with pytest.raises(tg.ValueShapeError) as info:
        tg.OrMapRecord.from_dict({"value": 1, "timestamp": ts().to_dict()})
    assert info.value.path == "$" and "tag" in str(info.value)


def test_or_tombstones() -> None:
    t = tg.OrTombstones(["a", "b", ""])
    assert t.tags == ["a", "b", ""] and len(t) == 3
    assert t == tg.OrTombstones(("a", "b", ""))
    assert t.to_dict() == {"type": "OR_TOMBSTONES", "tags": ["a", "b", ""]}
    assert tg.OrTombstones.from_dict(t.to_dict()) == t
    assert repr(t) == "OrTombstones(tags=['a', 'b', ''])"
    with pytest.raises(TypeError, match="single str"):
        tg.OrTombstones("abc")
    with pytest.raises(TypeError, match="tags must be str"):
        tg.OrTombstones(["a", 1])  # type: ignore[list-item]
    with pytest.raises(tg.ValueShapeError) as info:
        tg.OrTombstones.from_dict({"type": "OR_TOMBSTONES", "tags": ["a", 1]})
    assert info.value.path == "$.tags[1]"


# ---------------------------------------------------------------------------
# TS-shaped dicts through the core's shape reader


def test_ts_dicts_are_normalised_as_topgun_stores_them() -> None:
    store = tg.Storage()
    t = ts().to_dict()
    # Extra fields are ignored, an absent value is null, any other `type`
    # is an LWW record (docs/python.md, "Values").
    store.put("extra", {"value": 1, "timestamp": {**t, "x": 1}, "source": "client"})
    assert store["extra"] == tg.LwwRecord(1, ts())
    store.put("absent", {"timestamp": t})
    assert store["absent"] == tg.LwwRecord(None, ts())
    store.put("typed", {"type": "LWW", "value": 2, "timestamp": t})
    assert store["typed"] == tg.LwwRecord(2, ts())
    store.put("or", {"type": "OR", "records": [{"timestamp": t, "tag": "a", "by": "me"}], "owner": 1})
    assert store["or"].to_dict() == {"type": "OR", "records": [{"value": None, "timestamp": t, "tag": "a"}]}
    store.put("tomb", {"type": "OR_TOMBSTONES", "tags": ["a"], "at": 5})
    assert store["tomb"].to_dict() == {"type": "OR_TOMBSTONES", "tags": ["a"]}


@pytest.mark.parametrize(
    ("bad", "error", "path"),
    [
        ({}, tg.ValueShapeError, "$"),
        ({"value": 1}, tg.ValueShapeError, "$"),
        ({"value": 1, "timestamp": 5}, tg.ValueShapeError, "$.timestamp"),
        ({"value": 1, "timestamp": {"millis": -1, "counter": 0, "nodeId": "n"}}, tg.ValueRangeError, "$.timestamp.millis"),
        ({"value": 1, "timestamp": {"millis": 1, "counter": 0, "nodeId": "n"}, "ttlMs": -5}, tg.ValueRangeError, "$.ttlMs"),
        ({"type": "XYZ"}, tg.ValueShapeError, "$"),
        ({"type": "OR", "records": "no"}, tg.ValueShapeError, "$.records"),
        ({"type": "OR", "records": [{"value": 1, "timestamp": {"millis": 1, "counter": 0, "nodeId": "n"}, "tag": None}]}, tg.ValueShapeError, "$.records[0].tag"),
        ({"type": "OR_TOMBSTONES", "tags": [1]}, tg.ValueShapeError, "$.tags[0]"),
    ],
)
def test_bad_ts_dicts_raise_core_shape_errors(bad: dict[str, Any], error: type, path: str) -> None:
    store = tg.Storage()
    with pytest.raises(error) as info:
        store.put("k", bad)
    assert info.value.path == path
    assert str(info.value).endswith(f"at {path}")
    assert len(store) == 0


def test_every_ts_shape_is_accepted_by_put() -> None:
    store = tg.Storage()
    t = ts().to_dict()
    store.put("lww", {"value": {"n": 1}, "timestamp": t, "ttlMs": 5})
    store.put("or", {"type": "OR", "records": [{"value": 1, "timestamp": t, "tag": "x"}]})
    store.put("tomb", {"type": "OR_TOMBSTONES", "tags": ["x"]})
    assert isinstance(store["lww"], tg.LwwRecord) and store["lww"].ttl_ms == 5
    assert isinstance(store["or"], tg.OrMapValue) and store["or"].records[0].tag == "x"
    assert isinstance(store["tomb"], tg.OrTombstones) and store["tomb"].tags == ["x"]


# ---------------------------------------------------------------------------
# MessagePack


def test_encode_is_topguns_canonical_msgpack() -> None:
    data = tg.encode(tg.LwwRecord(1, tg.Timestamp(1, 0, "n")))
    expected = (
        b"\x82\xa5value\x01\xa9timestamp\x83\xa6millis\x01\xa7counter\x00\xa6nodeId\xa1n"
    )
    assert data == expected
    assert tg.encode({"value": 1, "timestamp": {"millis": 1, "counter": 0, "nodeId": "n"}}) == expected


def test_encode_decode_every_shape() -> None:
    values = [
        tg.LwwRecord({"a": [1, 2.5, None, b"x"]}, ts(), ttl_ms=10),
        tg.OrMapValue([tg.OrMapRecord("v", ts(), "t1")]),
        tg.OrTombstones(["t1", "t2"]),
    ]
    for v in values:
        data = tg.encode(v)
        assert type(data) is bytes
        assert tg.decode(data) == v


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", tg.MalformedValueError),
        (b"\xc1", tg.MalformedValueError),
        (tg.encode(tg.LwwRecord(1, tg.Timestamp(1, 0, "n"))) + b"\x00", tg.MalformedValueError),
        (b"\x80", tg.ValueShapeError),
        (b"\x82\xa5value\xcf\xff\xff\xff\xff\xff\xff\xff\xff\xa9timestamp\x83\xa6millis\x01\xa7counter\x00\xa6nodeId\xa1n", tg.ValueRangeError),
    ],
)
def test_decode_errors(data: bytes, error: type) -> None:
    with pytest.raises(error) as info:
        tg.decode(data)
    assert isinstance(info.value, tg.StorageError) and isinstance(info.value, ValueError)
    assert info.value.path is not None


def test_decode_and_encode_type_errors() -> None:
    with pytest.raises(TypeError):
        tg.decode("not bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tg.encode(5)  # type: ignore[arg-type]


def test_partition_for_key_matches_topgun() -> None:
    assert tg.partition_for_key("hello") == 95
    assert tg.partition_for_key("key1") == 268
    assert tg.partition_for_key("") == 199
    assert all(0 <= tg.partition_for_key(f"k{i}") < tg.PARTITION_COUNT for i in range(1000))
    with pytest.raises(TypeError):
        tg.partition_for_key(5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Reports: RecordMetadata, Stats, MaintenanceReport


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        (
            tg.RecordMetadata,
            [
                "version", "creation_time", "last_access_time", "last_update_time",
                "last_stored_time", "hits", "cost", "ttl_millis", "max_idle_millis",
            ],
        ),
        (
            tg.Stats,
            [
                "hits", "misses", "puts", "updates", "removes", "evictions",
                "expirations", "entry_count", "total_cost", "observer_panics",
            ],
        ),
        (tg.MaintenanceReport, ["scanned", "expired", "evicted"]),
    ],
)
def test_report_classes(cls: Any, fields: list[str]) -> None:
    values = {f: i + 1 for i, f in enumerate(fields)}
    r = cls(**values)
    assert r.to_dict() == values and list(r.to_dict()) == fields
    assert cls.from_dict(values) == r
    assert all(getattr(r, f) == v for f, v in values.items())
    assert cls() == cls(**{f: 0 for f in fields})
    assert r != cls()
    assert repr(r).startswith(cls.__name__ + "(") and f"{fields[0]}=1" in repr(r)
    with pytest.raises(tg.ValueShapeError, match="missing field"):
        cls.from_dict({f: 1 for f in fields[1:]})
    with pytest.raises(tg.ValueShapeError, match="unknown field"):
        cls.from_dict({**values, "bogus": 1})
    with pytest.raises(tg.ValueShapeError) as info:
        cls.from_dict({**values, fields[0]: "1"})
    assert info.value.path == f"$.{fields[0]}"
    with pytest.raises(tg.ValueRangeError):
        cls.from_dict({**values, fields[0]: 2**64})
    with pytest.raises(tg.ValueRangeError):
        cls(**{fields[0]: -(2**64)})
    with pytest.raises(TypeError):
        cls(1)
    with pytest.raises(TypeError):
        cls(**{fields[0]: 1.5})
    with pytest.raises(TypeError):
        cls.from_dict(5)


def test_metadata_int_ranges() -> None:
    m = tg.RecordMetadata(version=2**32 - 1, creation_time=-(2**63), cost=2**64 - 1)
    assert (m.version, m.creation_time, m.cost) == (2**32 - 1, -(2**63), 2**64 - 1)
    with pytest.raises(tg.ValueRangeError):
        tg.RecordMetadata(version=2**32)
    with pytest.raises(tg.ValueRangeError):
        tg.RecordMetadata(hits=-1)
