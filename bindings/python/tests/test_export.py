"""Storage.export_to, Storage.import_from and verify_export: round trip with
metadata, an export during writes is one instant, damaged files are a
CorruptDataError that changes nothing, progress callbacks, bad arguments."""

from __future__ import annotations

import pathlib
import threading

import pytest

import topgun_storage as tg
from helpers import T0, lww

KEYS = 3000


def key(i: int) -> str:
    return f"key-{i:05d}"


def store() -> tuple[tg.Storage, tg.ManualClock]:
    clock = tg.ManualClock(T0)
    return tg.Storage(clock=clock), clock


def value_of(s: tg.Storage, i: int) -> object:
    v = s.get(key(i))
    return None if v is None else v.value  # type: ignore[union-attr]


def test_round_trip_keeps_records_metadata_and_expiry(tmp_path: pathlib.Path) -> None:
    a, _ = store()
    for i in range(KEYS):
        a.put(key(i), lww(i), ttl=60_000 if i % 2 else None)
    seen: list[tg.ExportProgress] = []
    path = tmp_path / "round.tgx"
    summary = a.export_to(path, seen.append)
    assert (summary.kind, summary.records, summary.stores) == ("store", KEYS, 1)
    assert summary.instant_ms == T0
    assert summary.bytes == path.stat().st_size
    assert len(seen) >= 2
    assert [p.records_done for p in seen] == sorted(p.records_done for p in seen)
    assert (seen[-1].records_done, seen[-1].records_total) == (KEYS, KEYS)
    assert not any(p.checking for p in seen)

    b, clock = store()
    seen.clear()
    summary = b.import_from(str(path), progress=seen.append)
    assert summary.records == KEYS
    assert seen[0].checking and not seen[-1].checking
    assert seen[-1].records_done == KEYS
    assert len(b) == KEYS
    assert all(value_of(b, i) == i for i in range(KEYS))
    ra, rb = a.get_record(key(1)), b.get_record(key(1))
    assert ra is not None and rb is not None
    assert rb[1].ttl_millis == 60_000
    assert rb[1].creation_time == ra[1].creation_time
    clock.advance(60_001)
    assert key(1) not in b and key(2) in b

    checked = tg.verify_export(path)
    assert (checked.kind, checked.records) == ("store", KEYS)


def test_export_during_writes_is_one_instant(tmp_path: pathlib.Path) -> None:
    s, _ = store()
    for i in range(KEYS):
        s.put(key(i), lww(0))
    started, rewritten, stop = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        # Rounds g = 1, 2, ...: keys in order set to g, so at any instant a
        # prefix of the keys holds g + 1 and the rest g.
        try:
            g, since = 0, 0
            while not stop.is_set():
                g += 1
                for i in range(KEYS):
                    s.put(key(i), lww(g))
                    if started.is_set():
                        since += 1
                        if since >= KEYS:
                            rewritten.set()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)
            rewritten.set()

    def hold(p: tg.ExportProgress) -> None:
        # First call: the snapshot is taken; let the writer rewrite every key.
        if not started.is_set():
            started.set()
            assert rewritten.wait(120)

    t = threading.Thread(target=writer)
    t.start()
    path = tmp_path / "during.tgx"
    try:
        s.export_to(path, hold)
    finally:
        stop.set()
        rewritten.set()
        t.join()
    assert not errors
    copy, _ = store()
    copy.import_from(path)
    assert len(copy) == KEYS
    values = [value_of(copy, i) for i in range(KEYS)]
    first, last = values[0], values[-1]
    assert isinstance(first, int) and isinstance(last, int)
    assert first in (last, last + 1)
    k = next((i for i, v in enumerate(values) if v != first), KEYS)
    assert values[k:] == [last] * (KEYS - k)
    assert any(value_of(s, i) != values[i] for i in range(KEYS))


def test_truncated_or_damaged_files_raise_corrupt_and_change_nothing(
    tmp_path: pathlib.Path,
) -> None:
    s, _ = store()
    for i in range(200):
        s.put(key(i), lww(i))
    good = tmp_path / "good.tgx"
    s.export_to(good)
    data = good.read_bytes()
    target, _ = store()
    target.put(key(0), lww(777))
    bad = tmp_path / "bad.tgx"
    cases = [data[:n] for n in (0, 10, 24, 40, len(data) // 2, len(data) - 1)]
    for at in (9, 30, len(data) // 2, len(data) - 5):
        flipped = bytearray(data)
        flipped[at] ^= 0x10
        cases.append(bytes(flipped))
    cases.append(data + b"\0")
    cases.append(b"hello, world, not an export file")
    for case in cases:
        bad.write_bytes(case)
        with pytest.raises(tg.CorruptDataError) as info:
            target.import_from(bad)
        assert str(bad) in str(info.value)
        assert info.value.code == "corrupt"
        with pytest.raises(tg.CorruptDataError):
            tg.verify_export(bad)
    assert len(target) == 1 and value_of(target, 0) == 777
    target.import_from(good)
    assert len(target) == 200 and value_of(target, 0) == 0


def test_bad_arguments_and_missing_files(tmp_path: pathlib.Path) -> None:
    s, _ = store()
    s.put("k", lww(1))
    with pytest.raises(tg.StorageIOError):
        s.import_from(tmp_path / "missing.tgx")
    with pytest.raises(tg.StorageIOError):
        s.export_to(tmp_path / "no" / "such" / "dir.tgx")
    assert not (tmp_path / "no").exists()
    with pytest.raises(TypeError):
        s.export_to(tmp_path / "x.tgx", progress=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        s.export_to(None)  # type: ignore[arg-type]


def test_an_exception_in_progress_is_raised_after_the_work(tmp_path: pathlib.Path) -> None:
    s, _ = store()
    s.put("k", lww(1))
    calls = []

    def boom(p: tg.ExportProgress) -> None:
        calls.append(p)
        raise RuntimeError("from progress")

    path = tmp_path / "boom.tgx"
    with pytest.raises(RuntimeError, match="from progress"):
        s.export_to(path, boom)
    assert len(calls) == 1  # not called again after it raised
    assert tg.verify_export(path).records == 1  # the export itself finished
