"""Every Storage method, the mapping protocol, cursors and iteration."""

from __future__ import annotations

import datetime

import pytest

import topgun_storage as tg
from helpers import T0, lww, ts


# ---------------------------------------------------------------------------
# construction


def test_defaults_and_repr() -> None:
    s = tg.Storage()
    assert len(s) == 0
    assert repr(s) == (
        "Storage(len=0, ttl=None, max_idle=None, max_entries=None, max_cost=None, "
        "eviction='none', samples=15)"
    )
    s2 = tg.Storage(
        ttl=datetime.timedelta(seconds=2), max_idle=500, max_entries=10, max_cost=10_000,
        eviction="LRU", samples=3,
    )
    assert repr(s2) == (
        "Storage(len=0, ttl=2000, max_idle=500, max_entries=10, max_cost=10000, "
        "eviction='lru', samples=3)"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"eviction": "fifo"},
        {"samples": 0},
        {"samples": -3},
        {"max_entries": 0},
        {"max_entries": -1},
        {"max_entries": 2**64},
        {"max_cost": 0},
        {"max_cost": 2**64},
        {"samples": 2**32},
        {"samples": 2**64},
        {"samples": -(2**200)},
        {"ttl": 0},
        {"ttl": -5},
        {"ttl": 2**64},
        {"max_idle": 2**200},
        {"max_idle": 0},
        {"ttl": datetime.timedelta(microseconds=10)},
        {"ttl": datetime.timedelta(seconds=-1)},
        {"ttl": -(2**200)},
    ],
)
def test_bad_options_are_invalid_argument_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(tg.InvalidArgumentError) as info:
        tg.Storage(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError) and info.value.code == "invalid_argument"


def test_integer_limits_are_exact_and_their_messages_state_them() -> None:
    # Each limit itself is accepted, one past it is refused, and the message
    # names the range that was checked (no OverflowError from a C long, no
    # silent saturation).
    for name, low, high, text in [
        ("samples", 1, 2**32 - 1, "1 ..= 2**32-1"),
        ("max_entries", 1, 2**64 - 1, "1 ..= 2**64-1"),
        ("max_cost", 1, 2**64 - 1, "1 ..= 2**64-1"),
    ]:
        tg.Storage(**{name: low})  # type: ignore[arg-type]
        tg.Storage(**{name: high})  # type: ignore[arg-type]
        for bad, shown in [(low - 1, "0"), (high + 1, text.split("..= ")[1].replace("-1", ""))]:
            with pytest.raises(tg.InvalidArgumentError) as info:
                tg.Storage(**{name: bad})  # type: ignore[arg-type]
            assert str(info.value) == f"{name} must be an int in {text}, got {shown}"
    # Expiry limits: up to 2**63-1 ms, the range of a record's ttlMs (as in
    # C and Node); anything above is refused, never saturated.
    for name in ("ttl", "max_idle"):
        tg.Storage(**{name: 2**63 - 1})  # type: ignore[arg-type]
        for bad, shown in [(2**63, "2**63"), (2**64 - 1, "2**64-1"), (2**64, "2**64")]:
            with pytest.raises(tg.InvalidArgumentError) as info:
                tg.Storage(**{name: bad})  # type: ignore[arg-type]
            assert str(info.value) == (
                f"{name} must be in 1 ..= 2**63-1 milliseconds (None for no limit), got {shown} ms"
            )
    with pytest.raises(tg.InvalidArgumentError, match=r"got an int of more than 128 bits"):
        tg.Storage(samples=2**200)
    store = tg.Storage()
    with pytest.raises(tg.InvalidArgumentError) as info:
        store.put("k", {"value": 1, "timestamp": {"millis": 1, "counter": 0, "nodeId": "n"}}, ttl=2**64)
    assert "ttl must be in 1 ..= 2**63-1 milliseconds" in str(info.value)
    with pytest.raises(tg.InvalidArgumentError):
        store.put("k", {"value": 1, "timestamp": {"millis": 1, "counter": 0, "nodeId": "n"}}, max_idle=2**63)
    assert len(store) == 0
    assert store.fetch_keys(None, 2**63 - 1) == ([], None)
    assert store.random_samples(2**63 - 1) == []
    for call, text in [
        (lambda: store.fetch_keys(None, 2**63), "size must be an int in 1 ..= 2**63-1, got 2**63"),
        (lambda: store.fetch_entries(None, 2**64), "size must be an int in 1 ..= 2**63-1, got 2**64"),
        (lambda: store.random_samples(2**63), "k must be an int in 0 ..= 2**63-1, got 2**63"),
        (lambda: store.random_samples(-1), "k must be an int in 0 ..= 2**63-1, got -1"),
    ]:
        with pytest.raises(tg.InvalidArgumentError) as info:
            call()
        assert str(info.value) == text
    clock = tg.ManualClock(-(2**63))
    with pytest.raises(tg.ValueRangeError) as rinfo:
        clock.advance(2**63)
    assert str(rinfo.value) == "delta_ms must be an int in -2**63 ..= 2**63-1, got 2**63"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ttl": "1s"},
        {"ttl": 1.5},
        {"ttl": True},
        {"max_entries": "10"},
        {"max_entries": 1.0},
        {"clock": "now"},
        {"clock": 5},
        {"eviction": None},
        {"samples": "15"},
    ],
)
def test_wrong_option_types_are_type_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        tg.Storage(**kwargs)  # type: ignore[arg-type]


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        tg.Storage(1000)  # type: ignore[misc]


def test_the_largest_ttl_is_accepted_and_a_larger_one_refused() -> None:
    # 2**63-1 ms (292 million years, a record's ttlMs range) is the largest
    # limit; a larger one is an error rather than silently saturated to it.
    clock = tg.ManualClock(0)
    s = tg.Storage(ttl=2**63 - 1, max_idle=2**63 - 1, clock=clock)
    s["k"] = lww()
    assert "k" in s
    s.put("j", lww(), ttl=2**63 - 1)
    clock.set(2**63 - 1)  # the end of time: still live
    assert "j" in s and s.get("k") == lww()
    with pytest.raises(tg.InvalidArgumentError):
        s.put("x", lww(), ttl=2**64 - 1)
    assert "x" not in s
    with pytest.raises(tg.InvalidArgumentError, match=r"got an int of more than 128 bits$"):
        tg.Storage(ttl=2**200)


# ---------------------------------------------------------------------------
# put / get / remove


def test_put_returns_previous_live_value(store: tg.Storage) -> None:
    assert store.put("k", lww(1)) is None
    assert store.put("k", lww(2)) == lww(1)
    assert store.get("k") == lww(2)


def test_get_default_and_missing(store: tg.Storage) -> None:
    sentinel = object()
    assert store.get("missing") is None
    assert store.get("missing", sentinel) is sentinel
    assert store.get("missing", default=5) == 5
    store.put("k", lww())
    assert store.get("k", sentinel) == lww()


def test_get_returns_the_value_classes(store: tg.Storage) -> None:
    store.put("a", lww({"x": 1}))
    store.put("b", tg.OrMapValue([tg.OrMapRecord(1, ts(), "t")]))
    store.put("c", tg.OrTombstones(["t"]))
    assert type(store.get("a")) is tg.LwwRecord
    assert type(store.get("b")) is tg.OrMapValue
    assert type(store.get("c")) is tg.OrTombstones


def test_tombstone_lww_value_is_stored(store: tg.Storage) -> None:
    store.put("k", tg.LwwRecord(None, ts()))
    got = store.get("k")
    assert isinstance(got, tg.LwwRecord) and got.value is None
    assert "k" in store


def test_empty_and_unicode_keys(store: tg.Storage) -> None:
    for key in ["", "ключ", "\U0001f600", "a\x00b", "x" * 1000]:
        store.put(key, lww(key))
        assert store[key] == lww(key)
        assert key in store
    assert sorted(store) == sorted(["", "ключ", "\U0001f600", "a\x00b", "x" * 1000])


def test_get_record_gives_value_and_metadata(store: tg.Storage, clock: tg.ManualClock) -> None:
    assert store.get_record("k") is None
    store.put("k", lww("v"), ttl=60_000)
    clock.advance(10)
    store.put("k", lww("w"))
    clock.advance(5)
    got = store.get_record("k")
    assert got is not None
    value, meta = got
    assert value == lww("w")
    assert isinstance(meta, tg.RecordMetadata)
    assert meta.version == 2
    assert meta.creation_time == T0
    assert meta.last_update_time == T0 + 10
    assert meta.last_access_time == T0 + 15  # this read touched it
    assert meta.hits == 1
    assert meta.last_stored_time == 0
    assert meta.cost == store.estimated_cost() > 0
    assert meta.ttl_millis == 0  # the second put set no ttl
    store.put("t", lww(), ttl=5_000, max_idle=datetime.timedelta(seconds=1))
    got_t = store.get_record("t")
    assert got_t is not None
    assert (got_t[1].ttl_millis, got_t[1].max_idle_millis) == (5_000, 1_000)


def test_remove(store: tg.Storage) -> None:
    assert store.remove("k") is None
    store.put("k", lww(3))
    assert store.remove("k") == lww(3)
    assert store.remove("k") is None
    assert "k" not in store


def test_contains_does_not_count_as_a_read(store: tg.Storage) -> None:
    store.put("k", lww())
    assert store.contains("k") and not store.contains("x")
    assert "k" in store and "x" not in store
    assert 5 not in store and None not in store and b"k" not in store
    assert store.stats().hits == 0 and store.stats().misses == 0


def test_mapping_protocol(store: tg.Storage) -> None:
    store["a"] = lww(1)
    store["b"] = {"value": 2, "timestamp": ts().to_dict()}
    assert store["a"] == lww(1) and store["b"] == lww(2)
    assert len(store) == 2
    del store["a"]
    assert len(store) == 1 and "a" not in store
    with pytest.raises(KeyError) as info:
        store["a"]
    assert info.value.args == ("a",)
    with pytest.raises(KeyError):
        del store["a"]
    with pytest.raises(TypeError):
        store[1] = lww()  # type: ignore[index]
    with pytest.raises(TypeError):
        store[1]  # type: ignore[index]


def test_put_type_errors_change_nothing(store: tg.Storage) -> None:
    store.put("k", lww(1))
    for bad in [5, "text", [1], None, b"bytes", ts()]:
        with pytest.raises(TypeError, match="StorageValue shape"):
            store.put("k", bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.put(5, lww())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.put(b"k", lww())  # type: ignore[arg-type]
    assert store["k"] == lww(1) and len(store) == 1


def test_failed_writes_keep_the_previous_value_and_metadata(store: tg.Storage) -> None:
    store.put("k", lww(1))
    before = store.get_record("k")
    assert before is not None
    with pytest.raises(tg.ValueRangeError):
        store.put("k", {"value": 2**64, "timestamp": ts().to_dict()})
    with pytest.raises(tg.ValueShapeError):
        store.put("k", {"value": 2})
    with pytest.raises(tg.InvalidArgumentError):
        store.put("k", lww(2), ttl=-1)
    with pytest.raises(TypeError):
        store.put("k", lww(2), max_idle="soon")  # type: ignore[arg-type]
    after = store.get_record("k")
    assert after is not None
    assert after[0] == before[0] == lww(1)
    assert after[1].version == before[1].version == 1
    assert store.stats().updates == 0


def test_put_arguments_are_keyword_only_for_expiry(store: tg.Storage) -> None:
    with pytest.raises(TypeError):
        store.put("k", lww(), 1000)  # type: ignore[misc]


# ---------------------------------------------------------------------------
# clear, cost, stats


def test_clear_and_estimated_cost(store: tg.Storage) -> None:
    assert store.estimated_cost() == 0
    store.put("a", lww("x" * 100))
    one = store.estimated_cost()
    # Cost is the key plus the MessagePack value.
    assert one == len("a") + len(tg.encode(lww("x" * 100)))
    store.put("b", lww(1))
    assert store.estimated_cost() == one + 1 + len(tg.encode(lww(1)))
    store.remove("b")
    assert store.estimated_cost() == one
    assert store.clear() == 1
    assert store.clear() == 0
    assert len(store) == 0 and store.estimated_cost() == 0
    assert list(store) == []


def test_stats_count_what_happened(store: tg.Storage) -> None:
    store.put("a", lww(1))
    store.put("a", lww(2))
    store.put("b", lww(3))
    store.get("a")
    store.get("a")
    store.get("missing")
    store.remove("b")
    s = store.stats()
    assert isinstance(s, tg.Stats)
    assert (s.puts, s.updates, s.hits, s.misses, s.removes) == (2, 1, 2, 1, 1)
    assert (s.evictions, s.expirations, s.observer_panics) == (0, 0, 0)
    assert s.entry_count == 1 and s.total_cost == store.estimated_cost()
    assert s == tg.Stats.from_dict(s.to_dict())


# ---------------------------------------------------------------------------
# bulk calls


def test_get_many_returns_found_keys_and_counts_reads(store: tg.Storage) -> None:
    for i in range(10):
        store.put(f"k{i}", lww(i))
    got = store.get_many([f"k{i}" for i in range(0, 20, 2)])
    assert got == {f"k{i}": lww(i) for i in range(0, 10, 2)}
    assert list(got) == [f"k{i}" for i in range(0, 10, 2)]  # input order
    assert store.get_many(iter(["k1", "nope"])) == {"k1": lww(1)}
    assert store.get_many([]) == {}
    stats = store.stats()
    assert (stats.hits, stats.misses) == (6, 6)
    record = store.get_record("k2")
    assert record is not None and record[1].hits == 2  # get_many + get_record


def test_get_many_type_errors(store: tg.Storage) -> None:
    with pytest.raises(TypeError, match="single str"):
        store.get_many("abc")
    with pytest.raises(TypeError, match="keys must be str"):
        store.get_many(["a", 1])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        store.get_many(5)  # type: ignore[arg-type]


def test_put_many_from_dict_and_pairs(store: tg.Storage, clock: tg.ManualClock) -> None:
    assert store.put_many({f"d{i}": lww(i) for i in range(5)}) == 5
    assert store.put_many((f"p{i}", lww(i).to_dict()) for i in range(5)) == 5
    assert store.put_many([], ttl=5) == 0
    assert len(store) == 10 and store["p3"] == lww(3)
    assert store.put_many({"t": lww()}, ttl=100) == 1
    record = store.get_record("t")
    assert record is not None and record[1].ttl_millis == 100


def test_put_many_converts_everything_before_writing(store: tg.Storage) -> None:
    with pytest.raises(tg.ValueRangeError):
        store.put_many({"a": lww(1), "b": lww(2**70)})
    with pytest.raises(TypeError, match="item 1"):
        store.put_many([("a", lww()), ("b",)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="must be str"):
        store.put_many([("a", lww()), (2, lww())])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        store.put_many(5)  # type: ignore[arg-type]
    assert len(store) == 0


def test_put_many_stops_at_a_store_error() -> None:
    s = tg.Storage(max_entries=3)
    with pytest.raises(tg.CapacityExceededError):
        s.put_many([(f"k{i}", lww(i)) for i in range(5)])
    assert sorted(s) == ["k0", "k1", "k2"]


# ---------------------------------------------------------------------------
# cursors


def test_fetch_keys_pages_return_every_key_exactly_once() -> None:
    s = tg.Storage()
    s.put_many({f"key-{i}": lww(i) for i in range(2_500)})
    seen: list[str] = []
    cursor: bytes | None = None
    pages = 0
    while True:
        keys, cursor = s.fetch_keys(cursor, 100)
        assert len(keys) <= 100
        seen.extend(keys)
        pages += 1
        if cursor is None:
            break
        assert type(cursor) is bytes and len(cursor) == 24
    assert sorted(seen) == sorted(f"key-{i}" for i in range(2_500))
    assert pages >= 25


def test_fetch_keys_defaults_and_start_forms(store: tg.Storage) -> None:
    store.put_many({f"k{i}": lww(i) for i in range(10)})
    for start in (None, b"", bytes(24)):
        keys, nxt = store.fetch_keys(start)
        assert sorted(keys) == sorted(f"k{i}" for i in range(10)) and nxt is None
    keys, nxt = store.fetch_keys(size=3)
    assert len(keys) == 3 and nxt is not None
    assert store.fetch_keys(cursor=nxt, size=100)[1] is None


def test_a_cursor_from_another_store_is_refused() -> None:
    # Same layout (same shard count), different store: the cursor used to be
    # accepted and the scan skipped most of the other store's keys.
    a, b = tg.Storage(), tg.Storage()
    a.put_many({f"a{i}": lww(i) for i in range(1000)})
    b.put_many({f"b{i}": lww(i) for i in range(1000)})
    _, mid = a.fetch_keys(None, 700)
    assert mid is not None
    for call in (b.fetch_keys, b.fetch_entries):
        with pytest.raises(tg.InvalidCursorError, match="another store"):
            call(mid, 10)
    # A forged cursor (a copy with another position, or random bytes with
    # the right version) is refused too.
    forged = bytearray(mid)
    forged[8] ^= 1
    with pytest.raises(tg.InvalidCursorError):
        a.fetch_keys(bytes(forged), 10)
    keys, end = a.fetch_keys(mid, 1000)
    assert len(keys) == 300 and end is None


def test_empty_store_scan_is_finished_at_once(store: tg.Storage) -> None:
    assert store.fetch_keys() == ([], None)
    assert store.fetch_entries() == ([], None)


def test_fetch_entries_gives_values_and_metadata(store: tg.Storage) -> None:
    store.put_many({f"k{i}": lww(i) for i in range(50)})
    entries: list[tuple[str, object, tg.RecordMetadata]] = []
    cursor: bytes | None = None
    while True:
        page, cursor = store.fetch_entries(cursor, 7)
        entries.extend(page)
        if cursor is None:
            break
    assert len(entries) == 50
    for key, value, meta in entries:
        assert value == lww(int(key[1:]))
        assert isinstance(meta, tg.RecordMetadata) and meta.version == 1


@pytest.mark.parametrize(
    "cursor",
    [b"x", bytes(23), bytes(25), b"\x01" + bytes(23), bytes(range(24))],
)
def test_malformed_cursors(store: tg.Storage, cursor: bytes) -> None:
    store.put("k", lww())
    with pytest.raises(tg.InvalidCursorError) as info:
        store.fetch_keys(cursor, 10)
    assert isinstance(info.value, ValueError) and info.value.code == "invalid_cursor"
    with pytest.raises(tg.InvalidCursorError):
        store.fetch_entries(cursor, 10)


def test_corrupted_cursor_is_rejected(store: tg.Storage) -> None:
    store.put_many({f"k{i}": lww(i) for i in range(100)})
    _, cursor = store.fetch_keys(None, 10)
    assert cursor is not None
    for i in range(len(cursor)):
        bad = bytearray(cursor)
        bad[i] ^= 0x01
        with pytest.raises(tg.InvalidCursorError):
            store.fetch_keys(bytes(bad), 10)


def test_cursor_argument_errors(store: tg.Storage) -> None:
    with pytest.raises(TypeError):
        store.fetch_keys("abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.fetch_keys(bytearray(24))  # type: ignore[arg-type]
    for size in (0, -1, 2**63, 2**64):
        with pytest.raises(tg.InvalidArgumentError):
            store.fetch_keys(None, size)
        with pytest.raises(tg.InvalidArgumentError):
            store.fetch_entries(None, size)
    with pytest.raises(TypeError):
        store.fetch_keys(None, "10")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.fetch_keys(None, 1.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# iteration


def test_iteration_keys_values_items() -> None:
    s = tg.Storage()
    data = {f"k{i}": lww(i) for i in range(3_000)}  # several pages of 1024
    s.put_many(data)
    keys = list(s)
    assert sorted(keys) == sorted(data) and len(keys) == len(set(keys))
    assert sorted(s.keys()) == sorted(data)
    items = list(s.items())
    assert dict(items) == data and len(items) == 3_000
    values = list(s.values())
    assert len(values) == 3_000 and all(isinstance(v, tg.LwwRecord) for v in values)
    it = iter(s)
    assert iter(it) is it
    assert isinstance(it, tg.StorageIterator)


def test_exhausted_iterator_stays_exhausted(store: tg.Storage) -> None:
    store.put("k", lww())
    it = iter(store)
    assert list(it) == ["k"]
    store.put("j", lww())
    assert list(it) == []
    with pytest.raises(StopIteration):
        next(it)


# ---------------------------------------------------------------------------
# samples, maintenance, MessagePack


def test_random_samples(store: tg.Storage) -> None:
    assert store.random_samples(5) == []
    store.put_many({f"k{i}": lww(i) for i in range(100)})
    sample = store.random_samples(15)
    assert len(sample) == 15 and len({k for k, _, _ in sample}) == 15
    for key, value, meta in sample:
        assert value == lww(int(key[1:])) and isinstance(meta, tg.RecordMetadata)
    assert len(store.random_samples(1000)) == 100
    assert store.random_samples(0) == []
    with pytest.raises(tg.InvalidArgumentError):
        store.random_samples(-1)
    with pytest.raises(TypeError):
        store.random_samples("3")  # type: ignore[arg-type]


def test_random_samples_cover_every_key() -> None:
    s = tg.Storage()
    s.put_many({f"k{i}": lww(i) for i in range(20)})
    seen: set[str] = set()
    for _ in range(300):
        seen.update(k for k, _, _ in s.random_samples(3))
    assert seen == {f"k{i}" for i in range(20)}


def test_maintain_on_an_unbounded_store_does_nothing(store: tg.Storage) -> None:
    store.put("k", lww())
    report = store.maintain()
    assert isinstance(report, tg.MaintenanceReport)
    assert report == tg.MaintenanceReport(scanned=0, expired=0, evicted=0)


def test_msgpack_put_and_get(store: tg.Storage) -> None:
    data = tg.encode(lww({"a": 1}))
    assert store.put_msgpack("k", data) is None
    assert store.get_msgpack("k") == data
    assert store["k"] == lww({"a": 1})
    newer = tg.encode(lww(2))
    assert store.put_msgpack("k", newer, ttl=1000) == data
    assert store.get_msgpack("missing") is None
    with pytest.raises(tg.MalformedValueError):
        store.put_msgpack("k", b"\xc1")
    with pytest.raises(tg.ValueShapeError):
        store.put_msgpack("k", b"\x80")
    with pytest.raises(TypeError):
        store.put_msgpack("k", "text")  # type: ignore[arg-type]
    assert store.get_msgpack("k") == newer


def test_large_values_through_every_path(store: tg.Storage) -> None:
    big = {"blob": b"\x01" * 200_000, "text": "é" * 50_000, "list": list(range(10_000))}
    record = tg.LwwRecord(big, ts())
    data = tg.encode(record)  # large: encoded with the GIL released
    assert len(data) > 64 * 1024
    assert tg.decode(data) == record
    store.put_msgpack("m", data)
    assert store.get_msgpack("m") == data
    assert store["m"] == record
    with pytest.raises(tg.MalformedValueError):
        tg.decode(data[:-1])
