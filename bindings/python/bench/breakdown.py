"""Where the time of one Python call goes (docs/benchmarks.md, "Python:
where the time goes"). Each row is a call that does a known part of `get` /
`put`; the differences between rows are the costs of the parts:

    boundary   len(store): a method call, no argument, an int back
    + key      store.contains(k): + reading the key str + one lookup
               (no access counted, no copy, no result)
    + read     store.get_msgpack(k): + the counted read, the copy of the
               record, its encoding, a bytes object back
    result     decode(b): a module function, the decode of the bytes and
               building the Python result (its own call included)
    value in   encode(v): a module function, reading the value into Rust
               and encoding it (its own call included)

for records holding a 64-byte string and a small nested object (a dict of
two str, an int, a two-element list), single calls and get_many(1000), over
1,000 hot keys (the binding's own cost, without the machine's memory
latency). CPU ns per operation, medians of interleaved repetitions (the
timing of bench.py). Usage: python breakdown.py [--reps N]
"""

from __future__ import annotations

import argparse
import random
import statistics

import topgun_storage as tg
from bench import run

OPS = 20_000
HOT = 1_000


def measure(kind: str, make: object, reps: int) -> None:
    keys = [f"key:{i:012d}" for i in range(HOT)]
    records = [make(i) for i in range(HOT)]  # type: ignore[operator]
    store = tg.Storage()
    for k, r in zip(keys, records):
        store.put(k, r)
    rng = random.Random(7)
    picks = [rng.randrange(HOT) for _ in range(OPS)]
    okeys = [keys[i] for i in picks]
    pairs = [(keys[i], records[i]) for i in picks]
    blobs = [tg.encode(records[i]) for i in picks]
    chunks = [okeys[i : i + 1000] for i in range(0, OPS, 1000)]

    def loop(fn: object, items: list[object]) -> object:
        def batch() -> int:
            for x in items:
                fn(x)  # type: ignore[operator]
            return len(items)

        return batch

    def put_batch() -> int:
        put = store.put
        for k, v in pairs:
            put(k, v)
        return len(pairs)

    def get_many_batch() -> int:
        for c in chunks:
            store.get_many(c)
        return OPS

    def len_batch() -> int:
        for _ in range(OPS):
            len(store)
        return OPS

    table = run(
        {
            "len(store) (boundary)": len_batch,
            "contains(k) (+ key, lookup)": loop(store.contains, okeys),
            "get_msgpack(k) (+ read, encode)": loop(store.get_msgpack, okeys),
            "get(k)": loop(store.get, okeys),
            "get_many(1000) per key": get_many_batch,
            "decode(b) (result)": loop(tg.decode, blobs),
            "encode(v) (value in)": loop(tg.encode, [records[i] for i in picks]),
            "put(k, v)": put_batch,
        },
        reps,
    )
    print(f"\n{kind} values, {HOT:,} hot keys, CPU ns per operation:")
    for name, xs in table.items():
        print(f"  {name:<34} {statistics.median(xs):8.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    ts = lambda i: tg.Timestamp(1_700_000_000_000 + i, 0, "bench-node")  # noqa: E731
    measure("64-byte string", lambda i: tg.LwwRecord("v" * 64, ts(i)), args.reps)
    measure(
        "nested-object",
        lambda i: tg.LwwRecord(
            {"name": f"user-{i}", "email": f"user{i}@example.com", "age": 20 + i % 50, "tags": ["a", "b"]},
            ts(i),
        ),
        args.reps,
    )


if __name__ == "__main__":
    main()
