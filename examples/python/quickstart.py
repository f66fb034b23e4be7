"""The README's Python quick start, runnable and type-checked (mypy --strict).

    make python-test      # builds the wheel, installs it, runs this too
    python examples/python/quickstart.py
"""

from __future__ import annotations


from topgun_storage import (
    CapacityExceededError,
    LwwRecord,
    ManualClock,
    OrMapRecord,
    OrMapValue,
    Storage,
    StoreEvent,
    Timestamp,
    ValueRangeError,
    decode,
    encode,
    partition_for_key,
)

# A store with a default TTL and an LRU bound, on a clock the example moves.
clock = ManualClock(1_700_000_000_000)
store = Storage(ttl=60_000, max_entries=10_000, eviction="lru", clock=clock)

# Values have TopGun's shapes: LWW records, OR-map values, OR tombstones.
ts = Timestamp(clock.now(), 0, "node-a")
store["user:1"] = LwwRecord({"name": "Ada", "langs": ["en", "fr"]}, ts)
store.put("tags:1", OrMapValue([OrMapRecord("rust", ts, tag="t-1")]), ttl=5_000)
# ... or plain dicts in the TS shape.
store.put("user:2", {"value": {"name": "Lin"}, "timestamp": ts.to_dict()})

user = store["user:1"]
assert isinstance(user, LwwRecord)
print(user.value["name"], user.timestamp.millis)  # Ada 1700000000000

# Metadata, bulk reads, iteration (cursor pages, safe under concurrent writes).
found = store.get_record("user:1")
assert found is not None
print("version", found[1].version, "hits", found[1].hits)
print(sorted(store.get_many(["user:1", "user:2", "nope"])))
print(sorted(store))

# Observers get every change (exceptions in them become ObserverWarnings).
def on_change(event: StoreEvent) -> None:
    print("event:", event.kind, event.key)


handle = store.subscribe(on_change)
clock.advance(5_001)  # tags:1 had its own 5 s TTL
print("tags:1" in store, store.get("tags:1"))  # False None
store.remove("user:2")
store.unsubscribe(handle)

# Resumable cursor scans: next_cursor is None when the scan is done.
cursor: bytes | None = None
while True:
    keys, cursor = store.fetch_keys(cursor, size=1_000)
    for key in keys:
        print(key, "-> partition", partition_for_key(key))
    if cursor is None:
        break

# MessagePack bytes in TopGun's wire shape, for other peers.
data = encode(user)
assert decode(data) == user

# Errors are typed: a StorageError subclass per cause; wrong types are TypeError.
try:
    LwwRecord(2**64, ts)
except ValueRangeError as err:
    print(type(err).__name__, err.code, err.path)

small = Storage(max_entries=1)
small["a"] = LwwRecord(1, ts)
try:
    small["b"] = LwwRecord(2, ts)
except CapacityExceededError as err:
    print(err)

print(store.stats())
