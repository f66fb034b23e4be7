"""Observers: events, unsubscribe, failing callbacks, re-entrancy, threads."""

from __future__ import annotations

import gc
import sys
import threading
import warnings
from typing import Any

import pytest

import topgun_storage as tg
from helpers import T0, lww


class Recorder:
    def __init__(self) -> None:
        self.events: list[tg.StoreEvent] = []

    def __call__(self, event: tg.StoreEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[tuple[str, str]]:
        return [(e.kind, e.key) for e in self.events]


def test_put_update_remove_clear_events(store: tg.Storage) -> None:
    rec = Recorder()
    handle = store.subscribe(rec)
    assert isinstance(handle, int)
    store.put("a", lww(1))
    store.put("a", lww(2))
    store.remove("a")
    store.remove("a")  # nothing there: no event
    store["b"] = lww(3)
    store.clear()
    assert rec.kinds() == [
        ("put", "a"), ("update", "a"), ("remove", "a"), ("put", "b"), ("clear", ""),
    ]
    put, update, remove, _, clear = rec.events
    assert put.value == lww(1) and put.old_value is None and put.reason is None
    assert isinstance(put.metadata, tg.RecordMetadata) and put.metadata.version == 1
    assert update.value == lww(2) and update.old_value == lww(1)
    assert update.metadata is not None and update.metadata.version == 2
    assert remove.value == lww(2)
    assert clear.value is None and clear.metadata is None and clear.old_value is None
    assert not any(e.is_backup for e in rec.events)
    assert repr(put).startswith("StoreEvent(kind='put', key='a', value=LwwRecord(")


def test_evict_and_expire_events(clock: tg.ManualClock) -> None:
    s = tg.Storage(max_entries=1, eviction="lru", clock=clock)
    rec = Recorder()
    s.subscribe(rec)
    s["a"] = lww(1)
    s["b"] = lww(2)
    assert rec.kinds() == [("put", "a"), ("put", "b"), ("evict", "a")]
    assert rec.events[-1].value == lww(1)

    e = tg.Storage(ttl=10, clock=clock)
    rec2 = Recorder()
    e.subscribe(rec2)
    e.put("t", lww())
    e.put("i", lww(), max_idle=5)
    clock.advance(6)
    assert e.get("i") is None
    clock.advance(10)
    assert e.get("t") is None
    expired = [(x.kind, x.key, x.reason) for x in rec2.events if x.kind == "expire"]
    assert expired == [("expire", "i", "max_idle"), ("expire", "t", "ttl")]


def test_unsubscribe(store: tg.Storage) -> None:
    rec = Recorder()
    other = Recorder()
    handle = store.subscribe(rec)
    store.subscribe(other)
    store["a"] = lww()
    assert store.unsubscribe(handle) is True
    assert store.unsubscribe(handle) is False
    assert store.unsubscribe(12345) is False
    assert store.unsubscribe("nope") is False  # type: ignore[arg-type]
    store["b"] = lww()
    assert rec.kinds() == [("put", "a")]
    assert other.kinds() == [("put", "a"), ("put", "b")]


def test_subscribe_needs_a_callable(store: tg.Storage) -> None:
    with pytest.raises(TypeError, match="callable"):
        store.subscribe(5)  # type: ignore[arg-type]


def test_the_same_callable_twice_is_called_twice(store: tg.Storage) -> None:
    rec = Recorder()
    h1 = store.subscribe(rec)
    h2 = store.subscribe(rec)
    assert h1 != h2
    store["a"] = lww()
    assert rec.kinds() == [("put", "a"), ("put", "a")]


def test_a_raising_observer_is_reported_and_the_store_carries_on(store: tg.Storage) -> None:
    rec = Recorder()

    def bad(event: tg.StoreEvent) -> None:
        raise KeyError("boom " + event.key)

    store.subscribe(bad)
    store.subscribe(rec)
    with pytest.warns(tg.ObserverWarning, match="boom a") as caught:
        assert store.put("a", lww(1)) is None
    warning = caught[0].message
    assert isinstance(warning, tg.ObserverWarning) and isinstance(warning, RuntimeWarning)
    assert isinstance(warning.exception, KeyError)
    assert 'on the put of key "a"; the store carried on' in str(warning)
    assert caught[0].filename == __file__  # points at the caller's line
    # The store is intact, the other observer ran, and later calls work.
    assert store["a"] == lww(1)
    assert rec.kinds() == [("put", "a")]
    with pytest.warns(tg.ObserverWarning):
        store.put_many({f"k{i}": lww(i) for i in range(10)})
    assert len(store) == 11
    assert store.stats().puts == 11
    assert len(rec.events) == 11


def test_observer_errors_go_to_unraisablehook_when_warnings_are_errors(
    store: tg.Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    def bad(event: tg.StoreEvent) -> None:
        raise ValueError("kaput")

    store.subscribe(bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store["a"] = lww()
    assert len(seen) == 1
    assert isinstance(seen[0].exc_value, tg.ObserverWarning)
    assert store["a"] == lww()


def test_callbacks_may_use_the_store(store: tg.Storage) -> None:
    seen: list[Any] = []

    def reentrant(event: tg.StoreEvent) -> None:
        if event.kind == "put" and event.key == "a":
            seen.append(store.get("a"))
            store.put("b", lww("from callback"))
            seen.append(len(store))
            seen.append(list(store))

    store.subscribe(reentrant)
    store["a"] = lww(1)
    assert seen[0] == lww(1)
    assert seen[1] == 2 and sorted(seen[2]) == ["a", "b"]
    assert store["b"] == lww("from callback")


def test_callbacks_run_on_the_writing_thread(store: tg.Storage) -> None:
    threads: list[tuple[str, int]] = []
    store.subscribe(lambda e: threads.append((e.key, threading.get_ident())))

    def work() -> None:
        store.put_many({f"w{i}": lww(i) for i in range(50)})  # GIL released inside

    t = threading.Thread(target=work)
    t.start()
    t.join()
    store["main"] = lww()
    assert len(threads) == 51
    worker = {ident for key, ident in threads if key.startswith("w")}
    assert worker == {t.ident}
    assert dict(threads)["main"] == threading.get_ident()


def test_store_with_a_callback_cycle_is_collected() -> None:
    freed = threading.Event()

    class Canary:
        def __del__(self) -> None:
            freed.set()

    def make() -> None:
        s = tg.Storage()
        canary = Canary()
        s.subscribe(lambda e, s=s, c=canary: (s, c))  # s -> callback -> s
        s["a"] = lww()

    make()
    gc.collect()
    assert freed.is_set()


def test_iterator_used_from_its_own_fetch_raises_like_a_generator(clock: tg.ManualClock) -> None:
    s = tg.Storage(ttl=10, clock=clock)
    s.put_many({f"k{i}": lww(i) for i in range(5)})
    clock.advance(11)  # the first page fetch will expire them and report it
    it = iter(s)
    errors: list[BaseException] = []

    def on_event(event: tg.StoreEvent) -> None:
        try:
            next(it)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assert
            errors.append(exc)

    s.subscribe(on_event)
    assert list(it) == []
    assert len(errors) == 5
    assert all(isinstance(e, ValueError) and "already fetching" in str(e) for e in errors)


def test_events_carry_the_store_clock_times(clock: tg.ManualClock) -> None:
    s = tg.Storage(clock=clock)
    rec = Recorder()
    s.subscribe(rec)
    clock.set(T0 + 42)
    s["a"] = lww()
    meta = rec.events[0].metadata
    assert meta is not None and meta.creation_time == T0 + 42
