"""Python benchmark D7 of docs/benchmarks.md (run by `make bench`): a durable
`Storage(path=...)` against diskcache and py-lmdb, in the same process and
the same run (timing and ratios as bench.py: interleaved turns after a
warm-up, medians).

Every store lives in its own directory of one temporary directory (the same
disk) and promises the same thing of an acknowledged write: it survives the
process crashing or being killed, not a power cut. That is
`durability="os"` here, diskcache's default (SQLite in WAL mode with
`synchronous=NORMAL`) and py-lmdb with `sync=False`. Each write is its own
transaction everywhere (one `put` call; one `Cache.set`; one
`env.begin(write=True)` block).

Data: 10,000 entries, 16-byte ASCII keys, LWW records holding a 64-byte
string; uniform random keys, every put an overwrite.

    D7a  Storage.put / .get (the value classes)  vs  diskcache Cache.set / .get
         of the same record as a dict (pickled)                   target <= 0.5x
    D7b  Storage.put_msgpack / .get_msgpack (bytes)  vs  py-lmdb Transaction.put
         / .get of the same MessagePack bytes                     target <= 1.0x
         (over redb, the default, and over LMDB: py-lmdb's own engine)

The gets of D7a and D7b are served from memory (a write keeps the record
there). For reference it also times a get that misses memory and loads from
redb (a store bounded to 100 entries), and the fsync level against py-lmdb
with `sync=True` (D7f, fewer operations).

Usage: python durable.py [--reps N]
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import random
import sys
import tempfile
from collections.abc import Callable
from importlib.metadata import version

import diskcache
import lmdb

import topgun_storage as tg
from bench import report, run

ENTRIES = 10_000
BATCH = 2_000  # operations per timed batch
FSYNC_BATCH = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--reps", type=int, default=11)
    args = parser.parse_args()
    rng = random.Random(7)
    keys = [f"key:{i:012d}" for i in range(ENTRIES)]
    records = [
        tg.LwwRecord("v" * 64, tg.Timestamp(1_700_000_000_000 + i, 0, "bench-node"))
        for i in range(ENTRIES)
    ]
    dicts = [r.to_dict() for r in records]
    packed = [tg.encode(r) for r in records]
    bkeys = [k.encode() for k in keys]
    picks = [rng.randrange(ENTRIES) for _ in range(BATCH)]

    with tempfile.TemporaryDirectory(prefix="topgun-d7-") as tmp:
        root = pathlib.Path(tmp)
        ours = tg.Storage(path=root / "ours.redb", durability="os")
        # The same engine as py-lmdb under our store (D7b's second row).
        ours_lmdb = tg.Storage(path=root / "ours-lmdb", backend="lmdb", durability="os")
        cold = tg.Storage(path=root / "cold.redb", durability="os", max_entries=100,
                          eviction="lru")
        cache = diskcache.Cache(str(root / "diskcache"))
        env = lmdb.open(str(root / "lmdb"), map_size=1 << 30, sync=False)
        ours.put_many(zip(keys, records))
        ours_lmdb.put_many(zip(keys, records))
        cold.put_many(zip(keys, records))
        for k, d in zip(keys, dicts):
            cache.set(k, d)
        with env.begin(write=True) as txn:
            for k, p in zip(bkeys, packed):
                txn.put(k, p)
        # The same data everywhere.
        for i in picks[:100]:
            assert ours.get(keys[i]) == records[i] == cold.get(keys[i])
            assert ours.get_msgpack(keys[i]) == packed[i]
            assert cache.get(keys[i]) == dicts[i]
            with env.begin() as txn:
                assert txn.get(bkeys[i]) == packed[i]

        def ours_put() -> int:
            put = ours.put
            for i in picks:
                put(keys[i], records[i])
            return BATCH

        def ours_get() -> int:
            get = ours.get
            for i in picks:
                get(keys[i])
            return BATCH

        def ours_put_msgpack() -> int:
            put = ours.put_msgpack
            for i in picks:
                put(keys[i], packed[i])
            return BATCH

        def ours_get_msgpack() -> int:
            get = ours.get_msgpack
            for i in picks:
                get(keys[i])
            return BATCH

        def lmdb_ours_put() -> int:
            put = ours_lmdb.put_msgpack
            for i in picks:
                put(keys[i], packed[i])
            return BATCH

        def lmdb_ours_get() -> int:
            get = ours_lmdb.get_msgpack
            for i in picks:
                get(keys[i])
            return BATCH

        def cold_get() -> int:
            get = cold.get
            for i in picks:
                get(keys[i])
            return BATCH

        def diskcache_set() -> int:
            put = cache.set
            for i in picks:
                put(keys[i], dicts[i])
            return BATCH

        def diskcache_get() -> int:
            get = cache.get
            for i in picks:
                get(keys[i])
            return BATCH

        def lmdb_put() -> int:
            begin = env.begin
            for i in picks:
                with begin(write=True) as txn:
                    txn.put(bkeys[i], packed[i])
            return BATCH

        def lmdb_get() -> int:
            begin = env.begin
            for i in picks:
                with begin() as txn:
                    txn.get(bkeys[i])
            return BATCH

        table = run(
            {
                "Storage.put": ours_put,
                "Storage.get": ours_get,
                "Storage.put_msgpack": ours_put_msgpack,
                "Storage.get_msgpack": ours_get_msgpack,
                "Storage.get (miss->redb)": cold_get,
                "Storage(lmdb).put_msgpack": lmdb_ours_put,
                "Storage(lmdb).get_msgpack": lmdb_ours_get,
                "diskcache set": diskcache_set,
                "diskcache get": diskcache_get,
                "py-lmdb put": lmdb_put,
                "py-lmdb get": lmdb_get,
            },
            args.reps,
        )
        ours.close()
        ours_lmdb.close()
        cold.close()
        cache.close()
        env.close()

        # fsync: every acknowledged write survives a power cut.
        fsync_ours = tg.Storage(path=root / "fsync.redb", durability="fsync")
        fsync_env = lmdb.open(str(root / "lmdb-fsync"), map_size=1 << 30, sync=True)
        few = picks[:FSYNC_BATCH]

        def fsync_ours_put() -> int:
            put = fsync_ours.put_msgpack
            for i in few:
                put(keys[i], packed[i])
            return len(few)

        def fsync_lmdb_put() -> int:
            begin = fsync_env.begin
            for i in few:
                with begin(write=True) as txn:
                    txn.put(bkeys[i], packed[i])
            return len(few)

        fsync_table = run(
            {"Storage.put_msgpack fsync": fsync_ours_put, "py-lmdb put sync": fsync_lmdb_put},
            max(3, args.reps // 2),
        )
        fsync_ours.close()
        fsync_env.close()

    print(
        f"topgun_storage {tg.__version__} (redb), CPython {platform.python_version()}, "
        f"diskcache {version('diskcache')}, py-lmdb {version('lmdb')}; {ENTRIES:,} entries "
        f"(16-byte keys, LWW records with a 64-byte string), {BATCH:,} ops per batch "
        f"({FSYNC_BATCH} at fsync), {args.reps} interleaved repetitions after a warm-up; "
        "durability os / diskcache default / lmdb sync=False; ns are medians, ratios the "
        "median of the per-repetition ratios"
    )
    report(
        "D7: a durable Storage(path=...) against diskcache and py-lmdb",
        [
            ("D7a", "put (overwrite)", "diskcache set", "Storage.put", table, 0.5),
            ("D7a", "get", "diskcache get", "Storage.get", table, 0.5),
            ("D7b", "put (bytes)", "py-lmdb put", "Storage.put_msgpack", table, 1.0),
            ("D7b", "get (bytes)", "py-lmdb get", "Storage.get_msgpack", table, 1.0),
            ("D7b", "put (bytes), lmdb", "py-lmdb put", "Storage(lmdb).put_msgpack", table, 1.0),
            ("D7b", "get (bytes), lmdb", "py-lmdb get", "Storage(lmdb).get_msgpack", table, 1.0),
            ("--", "get, miss -> redb", "diskcache get", "Storage.get (miss->redb)", table, None),
            ("--", "get, miss -> redb", "py-lmdb get", "Storage.get (miss->redb)", table, None),
            ("D7f", "put (bytes), fsync", "py-lmdb put sync", "Storage.put_msgpack fsync",
             fsync_table, None),
        ],
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
