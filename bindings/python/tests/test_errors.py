"""The exception hierarchy and the argument-type errors of every method."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
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


def _import_with_errors_py(tmp_path: pathlib.Path, edit: str, replacement: str) -> str:
    """Imports a copy of the installed package whose _errors.py has `edit`
    replaced; returns what the import printed on stderr."""
    package = pathlib.Path(tg.__file__).parent
    copy = tmp_path / "topgun_storage"
    shutil.copytree(package, copy)
    # The shared libraries the wheel bundles (the system librocksdb), which
    # the extension finds beside the package.
    libs = package.parent / "topgun_storage.libs"
    if libs.is_dir():
        shutil.copytree(libs, tmp_path / libs.name)
    errors_py = copy / "_errors.py"
    text = errors_py.read_text()
    assert edit in text
    errors_py.write_text(text.replace(edit, replacement))
    done = subprocess.run(
        [sys.executable, "-c", "import topgun_storage"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode != 0, "the import should have failed"
    return done.stderr


def test_the_extension_refuses_classes_that_do_not_match_the_core(
    tmp_path: pathlib.Path,
) -> None:
    # A core category without its class.
    err = _import_with_errors_py(
        tmp_path / "a", "class DiskFullError(DataStoreError):", "class DiskFullError(Exception):"
    )
    assert 'ImportError: topgun_storage._errors has no exception class with code "disk_full"' in err
    # Two classes for one category.
    err = _import_with_errors_py(tmp_path / "b", 'code = "rejected"', 'code = "data_store"')
    assert 'two classes have code "data_store"' in err
    # A class whose code the core does not know.
    err = _import_with_errors_py(tmp_path / "c", 'code = "locked"', 'code = "jammed"')
    assert 'unknown error category "jammed"' in err


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
