"""Hypothesis properties: value round trips and the store against a dict."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import topgun_storage as tg
from helpers import plain, same

I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    I64,
    st.floats(allow_nan=False),
    st.text(),
    st.binary(max_size=64),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=8), children, max_size=5),
    ),
    max_leaves=30,
)
# millis up to 2**63-1: the TS-dict path goes through the core's Value tree,
# whose integers are i64 (MessagePack carries the full u64 range, see
# test_full_u64_millis_survive_msgpack).
timestamps = st.builds(
    tg.Timestamp,
    st.integers(min_value=0, max_value=2**63 - 1),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.text(max_size=10),
)
ttl_ms = st.none() | st.integers(min_value=0, max_value=2**63 - 1)
lww_records = st.builds(tg.LwwRecord, values, timestamps, ttl_ms)
or_values = st.builds(
    tg.OrMapValue,
    st.lists(st.builds(tg.OrMapRecord, values, timestamps, st.text(max_size=8), ttl_ms), max_size=4),
)
tombstones = st.builds(tg.OrTombstones, st.lists(st.text(max_size=8), max_size=5))
records = st.one_of(lww_records, or_values, tombstones)


@given(values)
def test_any_value_round_trips_through_the_store(value: Any) -> None:
    store = tg.Storage()
    store.put("k", tg.LwwRecord(value, tg.Timestamp(1, 0, "n")))
    got = store["k"]
    assert isinstance(got, tg.LwwRecord)
    assert same(got.value, plain(value))


@given(records)
def test_records_round_trip_through_msgpack_dicts_and_the_store(record: Any) -> None:
    assert tg.decode(tg.encode(record)) == record
    assert type(record).from_dict(record.to_dict()) == record
    store = tg.Storage()
    store.put("k", record.to_dict())
    assert store["k"] == record
    assert store.get_msgpack("k") == tg.encode(record)
    store.put_msgpack("m", tg.encode(record))
    assert store["m"] == record


@given(st.one_of(st.integers(max_value=-(2**63) - 1), st.integers(min_value=2**63)))
def test_integers_outside_i64_always_raise(n: int) -> None:
    with pytest.raises(tg.ValueRangeError):
        tg.LwwRecord([n], tg.Timestamp(1, 0, "n"))


ops = st.lists(
    st.tuples(
        st.sampled_from(["put", "remove", "get", "contains"]),
        st.sampled_from([f"k{i}" for i in range(8)] + ["", "ключ"]),
        st.integers(min_value=0, max_value=5),
    ),
    max_size=60,
)


@given(ops)
def test_store_behaves_like_a_dict(sequence: list[tuple[str, str, int]]) -> None:
    store = tg.Storage()
    model: dict[str, tg.LwwRecord] = {}
    for op, key, n in sequence:
        record = tg.LwwRecord(n, tg.Timestamp(n, 0, "n"))
        if op == "put":
            assert store.put(key, record) == model.get(key)
            model[key] = record
        elif op == "remove":
            assert store.remove(key) == model.pop(key, None)
        elif op == "get":
            assert store.get(key) == model.get(key)
        else:
            assert (key in store) == (key in model)
    assert len(store) == len(model)
    assert sorted(store) == sorted(model)
    assert dict(store.items()) == model
    expected_cost = sum(len(k.encode()) + len(tg.encode(v)) for k, v in model.items())
    assert store.estimated_cost() == expected_cost


@given(st.integers(min_value=0, max_value=2**63 - 1), ttl_ms)
def test_every_millis_survives_msgpack_and_dicts(millis: int, ttl: int | None) -> None:
    record = tg.LwwRecord("v", tg.Timestamp(millis, 0, "n"), ttl)
    back = tg.decode(tg.encode(record))
    assert back == record and back.timestamp.millis == millis
    assert tg.LwwRecord.from_dict(record.to_dict()) == record


@given(st.integers(min_value=2**63, max_value=2**64 - 1))
def test_millis_beyond_2_pow_63_are_refused_not_changed(millis: int) -> None:
    with pytest.raises(tg.ValueRangeError):
        tg.Timestamp(millis, 0, "n")
    packed = (
        b"\x82\xa5value\x01\xa9timestamp\x83\xa6millis\xcf"
        + millis.to_bytes(8, "big")
        + b"\xa7counter\x00\xa6nodeId\xa1n"
    )
    with pytest.raises(tg.ValueRangeError):
        tg.decode(packed)
