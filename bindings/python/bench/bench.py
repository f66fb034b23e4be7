"""Python benchmarks P1, P2, P3, P5 of docs/benchmarks.md (run by `make bench`).

Every figure is a ratio against a baseline measured in the same process and
the same run: candidates are timed in turns (interleaved, the order rotating
every repetition), after a warm-up; times are medians over the repetitions
and each ratio is the median of the per-repetition ratios. `dict.get` is
printed for reference (P6, informational).

Data (reference/peers.md section 8): 100,000 entries, 16-byte ASCII keys,
LWW records holding a 64-byte string; uniform random hits. The same is then
repeated over 1,000 hot keys (cache-resident), which shows the binding's own
cost without the machine's memory latency (informational).

    P1  Storage.get            vs  _RawDashMap.get (a DashMap<String, RecordValue>
                                   through the same pyo3 conversions)     target <= 1.25x
    P2  Storage.get / .put     vs  moka-py Moka.get / .set                target <= 1.0x
    P3  Storage.get            vs  cachetools TTLCache.get                target <= 0.3x
                                   (LRUCache.get printed for reference)
    P2-obj  P2 with records holding a small nested object (a dict of two
        str, an int and a two-element list)                           target <= 1.0x
    P5  Storage.get_many(1000) per key  vs  Storage.get                   target <= 0.3x
        (P5' compares it with single gets that keep their results, which
        is what get_many replaces)

Usage: python bench.py [--reps N] [--entries N]
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from importlib.metadata import version

import cachetools
import moka_py
import topgun_storage as tg
from topgun_storage._topgun_storage import _RawDashMap

BATCH = 20_000  # operations per timed batch
GET_MANY = 1_000  # keys per get_many call


def timed(fn: Callable[[], int]) -> float:
    """CPU ns per operation of one batch (`fn` returns how many it did).

    CPU time of the process, not the wall clock: the machine the figures
    come from is shared by several builds at once, and a process waiting
    for a core would otherwise be charged for the wait."""
    start = time.process_time_ns()
    n = fn()
    return (time.process_time_ns() - start) / n


def run(candidates: dict[str, Callable[[], int]], reps: int) -> dict[str, list[float]]:
    """ns/op of every candidate in every repetition, timed in turns, after a
    warm-up."""
    names = list(candidates)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for name in names:  # warm-up: caches, branch predictors, allocator
        candidates[name]()
        candidates[name]()
    gc.disable()
    try:
        for rep in range(reps):
            # Rotate the order so no candidate always runs first or last.
            order = names[rep % len(names):] + names[: rep % len(names)]
            for name in order:
                samples[name].append(timed(candidates[name]))
    finally:
        gc.enable()
    return samples


def ratio(table: dict[str, list[float]], ours: str, base: str) -> float:
    """Median of the per-repetition ratios: each pair ran back to back, so
    slow drifts of the machine cancel out."""
    return statistics.median(o / b for o, b in zip(table[ours], table[base]))


def workload(
    store: tg.Storage,
    raw: _RawDashMap,
    plain: dict[str, tg.LwwRecord],
    moka: moka_py.Moka[str, tg.LwwRecord],
    ttl_cache: cachetools.TTLCache[str, tg.LwwRecord],
    lru_cache: cachetools.LRUCache[str, tg.LwwRecord],
    lookups: list[str],
) -> dict[str, Callable[[], int]]:
    """The timed batches over one set of lookups."""
    many = [lookups[i : i + GET_MANY] for i in range(0, len(lookups), GET_MANY)]

    def loop(get: Callable[[str], object]) -> Callable[[], int]:
        def batch() -> int:
            for k in lookups:
                get(k)
            return len(lookups)

        return batch

    def get_many() -> int:
        gm = store.get_many
        for chunk in many:
            gm(chunk)
        return len(lookups)

    def raw_get_many() -> int:
        gm = raw.get_many
        for chunk in many:
            gm(chunk)
        return len(lookups)

    def get_loop_into_dict() -> int:
        # What get_many replaces: single gets keeping their results.
        g = store.get
        for chunk in many:
            {k: g(k) for k in chunk}
        return len(lookups)

    return {
        "dict.get": loop(plain.get),
        "raw DashMap get": loop(raw.get),
        "Storage.get": loop(store.get),
        "moka-py get": loop(moka.get),
        "cachetools TTLCache.get": loop(ttl_cache.get),
        "cachetools LRUCache.get": loop(lru_cache.get),
        "Storage.get_many(1000)/key": get_many,
        "raw get_many(1000)/key": raw_get_many,
        "{k: Storage.get(k)}/key": get_loop_into_dict,
    }


def report(title: str, rows: list[tuple[str, str, str, str, dict[str, list[float]], float | None]]) -> None:
    print(f"\n{title}")
    header = (
        f"{'id':<4} {'what':<24} {'baseline':<24} {'base ns':>8}  {'ours':<27} "
        f"{'ours ns':>8} {'ratio':>7}  target"
    )
    print(header)
    print("-" * len(header))
    for pid, what, base, ours, table, target in rows:
        b = statistics.median(table[base])
        o = statistics.median(table[ours])
        r = ratio(table, ours, base)
        goal = "(report)" if target is None else f"<= {target:.2f}x " + ("met" if r <= target else "MISSED")
        print(f"{pid:<4} {what:<24} {base:<24} {b:8.1f}  {ours:<27} {o:8.1f} {r:6.2f}x  {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--reps", type=int, default=31)
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    n = args.entries
    rng = random.Random(42)

    keys = [f"key:{i:012d}" for i in range(n)]
    assert all(len(k) == 16 for k in keys)
    records = [
        tg.LwwRecord("v" * 64, tg.Timestamp(1_700_000_000_000 + i, 0, "bench-node"))
        for i in range(n)
    ]
    store = tg.Storage()
    raw = _RawDashMap()
    moka: moka_py.Moka[str, tg.LwwRecord] = moka_py.Moka(capacity=n * 2)
    ttl_cache: cachetools.TTLCache[str, tg.LwwRecord] = cachetools.TTLCache(
        maxsize=n * 2, ttl=3_600
    )
    lru_cache: cachetools.LRUCache[str, tg.LwwRecord] = cachetools.LRUCache(maxsize=n * 2)
    plain: dict[str, tg.LwwRecord] = {}
    for k, r in zip(keys, records):
        store.put(k, r)
        raw.put(k, r)
        moka.set(k, r)
        ttl_cache[k] = r
        lru_cache[k] = r
        plain[k] = r
    assert len(store) == len(raw) == n

    uniform = [keys[rng.randrange(n)] for _ in range(BATCH)]
    hot_keys = rng.sample(keys, 1_000)
    hot = [hot_keys[i % len(hot_keys)] for i in range(BATCH)]
    rng.shuffle(hot)
    for k in uniform[:100] + hot[:100]:
        assert store.get(k) == raw.get(k) == moka.get(k) == plain[k]

    cold_table = run(workload(store, raw, plain, moka, ttl_cache, lru_cache, uniform), args.reps)
    hot_table = run(workload(store, raw, plain, moka, ttl_cache, lru_cache, hot), args.reps)

    put_pairs = [(k, plain[k]) for k in uniform]

    def put_loop(
        put: Callable[[str, tg.LwwRecord], object], pairs: list[tuple[str, tg.LwwRecord]] = put_pairs
    ) -> Callable[[], int]:
        def batch() -> int:
            for k, v in pairs:
                put(k, v)
            return len(pairs)

        return batch

    put_table = run(
        {
            "Storage.put": put_loop(store.put),
            "moka-py set": put_loop(moka.set),
            "raw DashMap put": put_loop(raw.put),
            "TTLCache[k] = v": put_loop(ttl_cache.__setitem__),
            "dict[k] = v": put_loop(plain.__setitem__),
        },
        args.reps,
    )

    # P2-obj: the same with records holding a small nested object.
    obj_records = [
        tg.LwwRecord(
            {"name": f"user-{i}", "email": f"user{i}@example.com", "age": 20 + i % 50, "tags": ["a", "b"]},
            tg.Timestamp(1_700_000_000_000 + i, 0, "bench-node"),
        )
        for i in range(n)
    ]
    obj_store = tg.Storage()
    obj_moka: moka_py.Moka[str, tg.LwwRecord] = moka_py.Moka(capacity=n * 2)
    for k, r in zip(keys, obj_records):
        obj_store.put(k, r)
        obj_moka.set(k, r)
    obj_pairs = [(k, obj_records[int(k[4:])]) for k in uniform]

    def obj_get(get: Callable[[str], object]) -> Callable[[], int]:
        def batch() -> int:
            for k in uniform:
                get(k)
            return len(uniform)

        return batch

    obj_table = run(
        {
            "Storage.get": obj_get(obj_store.get),
            "moka-py get": obj_get(obj_moka.get),
            "Storage.put": put_loop(obj_store.put, obj_pairs),
            "moka-py set": put_loop(obj_moka.set, obj_pairs),
        },
        args.reps,
    )

    print(
        f"topgun_storage {tg.__version__}, CPython {platform.python_version()}, "
        f"moka-py {version('moka-py')}, cachetools {version('cachetools')}; "
        f"{n:,} entries (16-byte keys, LWW records with a 64-byte string), "
        f"{BATCH:,} ops per batch, {args.reps} interleaved repetitions after a warm-up; "
        "ns are medians, ratios the median of the per-repetition ratios"
    )
    report(
        f"Uniform random hits over all {n:,} entries (the data of docs/benchmarks.md)",
        [
            ("P1", "get hit", "raw DashMap get", "Storage.get", cold_table, 1.25),
            ("P2", "get", "moka-py get", "Storage.get", cold_table, 1.0),
            ("P2", "put (overwrite)", "moka-py set", "Storage.put", put_table, 1.0),
            ("P3", "get", "cachetools TTLCache.get", "Storage.get", cold_table, 0.3),
            ("P3", "get", "cachetools LRUCache.get", "Storage.get", cold_table, None),
            ("P5", "get_many(1000) per key", "Storage.get", "Storage.get_many(1000)/key", cold_table, 0.3),
            ("P5'", "get_many vs kept gets", "{k: Storage.get(k)}/key", "Storage.get_many(1000)/key", cold_table, None),
            ("P6", "get (floor)", "dict.get", "Storage.get", cold_table, None),
            ("--", "raw get_many per key", "raw DashMap get", "raw get_many(1000)/key", cold_table, None),
            ("--", "put", "raw DashMap put", "Storage.put", put_table, None),
            ("--", "put", "TTLCache[k] = v", "Storage.put", put_table, None),
            ("--", "put (floor)", "dict[k] = v", "Storage.put", put_table, None),
        ],
    )
    report(
        "P2-obj: records holding a small nested object (dict of two str, an int, a two-element list)",
        [
            ("P2o", "get", "moka-py get", "Storage.get", obj_table, 1.0),
            ("P2o", "put (overwrite)", "moka-py set", "Storage.put", obj_table, 1.0),
        ],
    )
    report(
        "The same over 1,000 hot keys (cache-resident: the binding's own cost, informational)",
        [
            ("P1h", "get hit", "raw DashMap get", "Storage.get", hot_table, None),
            ("P2h", "get", "moka-py get", "Storage.get", hot_table, None),
            ("P3h", "get", "cachetools TTLCache.get", "Storage.get", hot_table, None),
            ("P5h", "get_many(1000) per key", "Storage.get", "Storage.get_many(1000)/key", hot_table, None),
            ("P5h'", "get_many vs kept gets", "{k: Storage.get(k)}/key", "Storage.get_many(1000)/key", hot_table, None),
            ("P6h", "get (floor)", "dict.get", "Storage.get", hot_table, None),
        ],
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
