"""Type-checked with `mypy --strict` by `make python-test` (not a pytest
module): every public signature used the way the stubs promise."""

from __future__ import annotations

import datetime

import topgun_storage as tg


def values(ts: tg.Timestamp) -> list[tg.RecordValue]:
    lww = tg.LwwRecord({"a": [1, 2.5, None, b"x"]}, ts, ttl_ms=10)
    entry = tg.OrMapRecord("v", ts, "tag", ttl_ms=None)
    or_value = tg.OrMapValue([entry])
    tombs = tg.OrTombstones(["tag"])
    same: tg.LwwRecord = tg.LwwRecord.from_dict(lww.to_dict())
    assert same == lww and tg.OrMapRecord.from_dict(entry.to_dict()) == entry
    assert tg.OrMapValue.from_dict(or_value.to_dict()) == or_value
    assert tg.OrTombstones.from_dict(tombs.to_dict()).tags == ["tag"]
    t2: tg.Timestamp = tg.Timestamp.from_dict(ts.to_dict())
    assert t2 <= ts and hash(t2) == hash(ts)
    return [lww, or_value, tombs]


def store_api(clock: tg.ManualClock) -> int:
    store = tg.Storage(
        ttl=datetime.timedelta(minutes=1), max_idle=30_000, max_entries=100,
        max_cost=1 << 20, eviction="lfu", samples=8, clock=clock,
    )
    ts = tg.Timestamp(clock.now(), 0, "node")
    for i, v in enumerate(values(ts)):
        previous: tg.RecordValue | None = store.put(f"k{i}", v, ttl=1_000)
        assert previous is None
    store["d"] = {"value": 1, "timestamp": ts.to_dict()}
    maybe: tg.RecordValue | None = store.get("k0")
    either: tg.RecordValue | int = store.get("nope", 0)
    rec = store.get_record("k0")
    if rec is not None:
        value, meta = rec
        version: int = meta.version
        assert isinstance(value, tg.LwwRecord) and version == 1
    keys, cursor = store.fetch_keys(None, 10)
    entries, _ = store.fetch_entries(cursor, size=10)
    for key, val, meta2 in entries + store.random_samples(3):
        assert isinstance(key, str) and meta2.cost >= 0 and val is not None
    found: dict[str, tg.RecordValue] = store.get_many(keys)
    written: int = store.put_many(found, max_idle=5)
    raw: bytes | None = store.get_msgpack("k0")
    if raw is not None:
        store.put_msgpack("copy", raw)
    handle = store.subscribe(lambda e: print(e.kind, e.key, e.value, e.reason))
    stats: tg.Stats = store.stats()
    report: tg.MaintenanceReport = store.maintain()
    assert store.unsubscribe(handle)
    assert "k0" in store and len(store) > 0 and store.contains("d")
    del store["d"]
    for k in store:
        assert k.startswith("k")
    for k2, v2 in store.items():
        assert k2 and v2.to_dict()
    assert all(v.to_dict() for v in store.values())
    cleared: int = store.clear()
    data: bytes = tg.encode(tg.LwwRecord(1, ts))
    back: tg.RecordValue = tg.decode(data)
    part: int = tg.partition_for_key("hello")
    assert maybe is not None and either is not None and back is not None
    return written + stats.hits + report.expired + cleared + part + store.estimated_cost()


def errors() -> str:
    try:
        tg.Storage(eviction="fifo")
    except tg.InvalidArgumentError as e:
        return f"{e.code} {e.path}"
    except tg.StorageError:
        raise
    return ""


if __name__ == "__main__":
    print(store_api(tg.ManualClock(0)), errors())
