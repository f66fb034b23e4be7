"""The exception hierarchy and the argument-type errors of every method."""

from __future__ import annotations

from typing import Any

import pytest

import topgun_storage as tg
from helpers import lww, ts

CATEGORIES = [
    (tg.MalformedValueError, "malformed_value", True),
    (tg.ValueShapeError, "value_shape", True),
    (tg.ValueRangeError, "value_range", True),
    (tg.InvalidCursorError, "invalid_cursor", True),
    (tg.InvalidArgumentError, "invalid_argument", True),
    (tg.CapacityExceededError, "capacity_exceeded", False),
    (tg.EntryTooLargeError, "entry_too_large", False),
    (tg.DataStoreError, "data_store", False),
    (tg.ClosedError, "closed", False),
    (tg.StorageIOError, "io", False),
    (tg.CorruptDataError, "corrupt", False),
    (tg.LockedError, "locked", False),
    (tg.UnavailableError, "unavailable", False),
    (tg.DiskFullError, "disk_full", False),
    (tg.RejectedError, "rejected", True),
]

DATA_STORE_FAILURES = [
    tg.StorageIOError,
    tg.CorruptDataError,
    tg.LockedError,
    tg.UnavailableError,
    tg.DiskFullError,
    tg.RejectedError,
]


@pytest.mark.parametrize("cls", DATA_STORE_FAILURES)
def test_data_store_failures_are_data_store_errors(cls: type) -> None:
    # `except DataStoreError` catches every persistence failure.
    assert issubclass(cls, tg.DataStoreError)


@pytest.mark.parametrize(("cls", "code", "is_value_error"), CATEGORIES)
def test_one_class_per_core_error_code(cls: type, code: str, is_value_error: bool) -> None:
    assert issubclass(cls, tg.StorageError) and issubclass(cls, Exception)
    assert issubclass(cls, ValueError) is is_value_error
    assert cls.code == code  # type: ignore[attr-defined]
    err = cls("what went wrong", "$.value[3]")
    assert str(err) == "what went wrong" and err.path == "$.value[3]"
    assert cls("no path").path is None
    with pytest.raises(tg.StorageError):
        raise err


def test_value_range_error_is_also_an_overflow_error() -> None:
    assert issubclass(tg.ValueRangeError, OverflowError)
    with pytest.raises(OverflowError):
        tg.LwwRecord(2**64, ts())


def test_observer_warning_is_a_runtime_warning() -> None:
    assert issubclass(tg.ObserverWarning, RuntimeWarning)
    assert not issubclass(tg.ObserverWarning, tg.StorageError)


def test_codes_are_distinct() -> None:
    codes = [code for _, code, _ in CATEGORIES]
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize("bad_key", [5, None, b"key", 1.5, ("k",)])
def test_every_key_taking_method_rejects_non_str_keys(bad_key: Any) -> None:
    store = tg.Storage()
    store["k"] = lww()
    data = tg.encode(lww())
    calls = [
        lambda: store.put(bad_key, lww()),
        lambda: store.get(bad_key),
        lambda: store.get_record(bad_key),
        lambda: store.remove(bad_key),
        lambda: store.contains(bad_key),
        lambda: store.put_msgpack(bad_key, data),
        lambda: store.get_msgpack(bad_key),
        lambda: store.get_many([bad_key]),
        lambda: store.put_many([(bad_key, lww())]),
        lambda: tg.partition_for_key(bad_key),
    ]
    for call in calls:
        with pytest.raises(TypeError):
            call()
    assert bad_key not in store
    assert list(store) == ["k"] and store.stats().puts == 1


def test_surrogate_keys_and_dict_keys_are_unicode_errors() -> None:
    store = tg.Storage()
    with pytest.raises(UnicodeEncodeError):
        store.put("\udc80", lww())
    with pytest.raises(UnicodeEncodeError):
        tg.LwwRecord({"\udc80": 1}, ts())
    assert len(store) == 0


def test_errors_never_leave_partial_state() -> None:
    store = tg.Storage(max_entries=2)
    store["a"] = lww(1)
    snapshot = (sorted(store), store.estimated_cost(), store.stats())
    for attempt in [
        lambda: store.put("b", {"value": 1}),
        lambda: store.put("b", {"value": [2**63], "timestamp": ts().to_dict()}),
        lambda: store.put_msgpack("b", b"\xc1"),
        lambda: store.put_many({"b": lww(), "c": lww(2**64)}),
        lambda: store.fetch_keys(b"bogus"),
        lambda: store.put("b", lww(), ttl=0),
    ]:
        with pytest.raises((tg.StorageError, TypeError)):
            attempt()
        assert (sorted(store), store.estimated_cost(), store.stats()) == snapshot
