"""Observers: events, unsubscribe, failing callbacks, re-entrancy, threads."""

from __future__ import annotations

import faulthandler
import gc
import signal
import subprocess
import sys
import threading
import time
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


# ---------------------------------------------------------------------------
# Callbacks that cancel each other from two threads (issue 10, item 3).
# ---------------------------------------------------------------------------

CANCEL_ROUNDS = 100


def test_callbacks_cancelling_each_other_on_two_threads() -> None:
    # A deadlock ends the process with a traceback instead of hanging.
    faulthandler.dump_traceback_later(300, exit=True)
    try:
        both_inside = 0
        for _ in range(CANCEL_ROUNDS):
            both_inside += _cancel_round()
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert both_inside > CANCEL_ROUNDS // 2, "the callbacks met inside"


def _cancel_round() -> int:
    s = tg.Storage()
    inside = threading.Barrier(2)
    ids: dict[str, int] = {}
    results: dict[str, bool] = {}
    late: list[str] = []
    done = threading.Event()
    met = []

    def make(me: str, other: str) -> Any:
        def callback(event: tg.StoreEvent) -> None:
            if done.is_set():
                late.append(me)
            if event.key != me:
                return
            try:
                inside.wait(timeout=2)  # both callbacks inside at once
                met.append(me)
            except threading.BrokenBarrierError:
                pass
            results[me] = s.unsubscribe(ids[other])

        return callback

    ids["a"] = s.subscribe(make("a", "b"))
    ids["b"] = s.subscribe(make("b", "a"))
    threads = [threading.Thread(target=s.put, args=(k, lww())) for k in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "deadlock"
    # Each cancel found its subscription, or its callback never acted
    # because the other one cancelled it first.
    for me, other in (("a", "b"), ("b", "a")):
        if me not in results:
            assert s.unsubscribe(ids[other]) is True
        else:
            assert results[me] is True
    done.set()
    s.put("a", lww(2))
    s.put("b", lww(2))
    assert late == [], "no call starts after unsubscribe returned"
    assert s.unsubscribe(ids["a"]) is False and s.unsubscribe(ids["b"]) is False
    return int(len(met) == 2)


def test_no_call_starts_after_unsubscribe_returns() -> None:
    s = tg.Storage()
    after: list[int] = []
    cancelled = threading.Event()

    def slow(event: tg.StoreEvent) -> None:
        if cancelled.is_set():
            after.append(1)

    sid = s.subscribe(slow)

    def writer() -> None:
        s.put_many({f"k{i}": lww(i) for i in range(2000)})  # GIL released inside

    t = threading.Thread(target=writer)
    t.start()
    while len(s) < 500:
        time.sleep(0)  # yields the GIL to the writer; waits for no time
    assert s.unsubscribe(sid) is True
    cancelled.set()
    t.join()
    assert after == []


# ---------------------------------------------------------------------------
# An observer that writes on every event (issue 10, item 10).
# ---------------------------------------------------------------------------

CHAIN_SCRIPT = """
import sys, threading
import topgun_storage as tg
sys.setrecursionlimit(1_000_000)
N = 100_000
s = tg.Storage()
state = {"calls": 0, "depth": 0, "deepest": 0}
def chain(event):
    state["calls"] += 1
    state["depth"] += 1
    state["deepest"] = max(state["deepest"], state["depth"])
    i = int(event.key[1:])
    if i < N:
        s.put(f"k{i + 1}", {"value": i, "timestamp": {"millis": 1, "counter": 0, "nodeId": "n"}})
    state["depth"] -= 1
s.subscribe(chain)
s.put("k0", {"value": 0, "timestamp": {"millis": 1, "counter": 0, "nodeId": "n"}})
print(state["calls"], state["deepest"], len(s))
"""


def test_an_observer_writing_on_every_event_with_a_raised_recursion_limit() -> None:
    # Nested delivery died here with SIGSEGV (native stack) before the fix.
    out = subprocess.run(
        [sys.executable, "-c", CHAIN_SCRIPT], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["100001", "1", "100001"]


def test_chain_errors_surface_at_any_length(store: tg.Storage) -> None:
    n = 5_000  # beyond the default recursion limit, which used to eat the error

    def chain(event: tg.StoreEvent) -> None:
        i = int(event.key[1:])
        if i < n:
            store.put(f"k{i + 1}", lww(i))
        else:
            raise ValueError(f"end of chain at {i}")

    store.subscribe(chain)
    with pytest.warns(tg.ObserverWarning, match="end of chain at 5000") as caught:
        store.put("k0", lww())
    assert len(store) == n + 1
    assert isinstance(caught[0].message.exception, ValueError)  # type: ignore[union-attr]


def test_a_recursion_error_in_a_callback_surfaces(store: tg.Storage) -> None:
    def recurse(k: int) -> int:
        return recurse(k + 1) + 1

    store.subscribe(lambda e: recurse(0))
    with pytest.warns(tg.ObserverWarning) as caught:
        store.put("a", lww())
    assert isinstance(caught[0].message.exception, RecursionError)  # type: ignore[union-attr]


def test_a_recursion_error_goes_to_unraisablehook_when_warnings_are_errors(
    store: tg.Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    def recurse(k: int) -> int:
        return recurse(k + 1) + 1

    store.subscribe(lambda e: recurse(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.put("a", lww())
    assert len(seen) == 1
    assert isinstance(seen[0].exc_value.exception, RecursionError)


# ---------------------------------------------------------------------------
# KeyboardInterrupt and SystemExit from a callback propagate.
# ---------------------------------------------------------------------------


def test_keyboard_interrupt_in_a_callback_is_raised_by_the_call(store: tg.Storage) -> None:
    after = Recorder()

    def interrupt(event: tg.StoreEvent) -> None:
        if event.key == "stop":
            raise KeyboardInterrupt

    store.subscribe(interrupt)
    store.subscribe(after)
    with pytest.raises(KeyboardInterrupt):
        store.put("stop", lww())
    # The change stays made; the callbacks still due in that call are skipped.
    assert store["stop"] == lww()
    assert after.kinds() == []
    # Nothing is left pending: later calls deliver as usual.
    store.put("go", lww())
    assert after.kinds() == [("put", "go")]


def test_system_exit_in_a_callback_is_raised_by_the_call(store: tg.Storage) -> None:
    store.subscribe(lambda e: sys.exit(3))
    with pytest.raises(SystemExit) as raised:
        store.put_many({"a": lww(), "b": lww()})  # delivered with the GIL re-taken
    assert raised.value.code == 3
    assert len(store) == 2
    with pytest.raises(SystemExit):
        store.clear()
    assert len(store) == 0
    with pytest.raises(SystemExit):
        store["x"] = lww()
    with pytest.raises(SystemExit):
        del store["x"]


def test_ctrl_c_stops_a_runaway_chain(store: tg.Storage) -> None:
    calls = []

    def runaway(event: tg.StoreEvent) -> None:
        if event.kind != "put" or len(calls) >= 100_000:
            return  # a bound, so that a failure fails instead of filling memory
        calls.append(event.key)
        if len(calls) == 1000:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C while the chain runs
        store.put(f"k{len(calls)}", lww())

    store.subscribe(runaway)
    # A process started in the background by a non-interactive shell (as
    # `make test &` does) inherits SIGINT ignored, and Python then leaves it
    # ignored: Ctrl-C is what this test is about, so it installs Python's
    # own handler for its duration.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            store.put("k0", lww())
    finally:
        signal.signal(signal.SIGINT, previous)
    n = len(calls)
    assert 1000 <= n <= 1010, n
    assert len(store) in (n, n + 1)


def test_system_exit_in_a_worker_thread_callback_is_raised_there(store: tg.Storage) -> None:
    caught: list[BaseException] = []
    store.subscribe(lambda e: sys.exit("bye") if e.key == "w" else None)

    def worker() -> None:
        try:
            store.put("w", lww())
        except SystemExit as e:
            caught.append(e)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert len(caught) == 1 and caught[0].code == "bye"
    store.put("main", lww())  # nothing pending on this thread
