"""A durable store from Python: one process writes and exits, a second one
reads everything back (docs/python.md, "Durable stores"). Type-checked with
mypy --strict and run by `make python-test`.

    python examples/python/durable.py [DIRECTORY]

Without a directory it works in a temporary one. It runs itself as the
second process (`read` mode), so the data really crosses a process exit.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from topgun_storage import LwwRecord, Storage, Timestamp

COUNT = 1_000


def write(path: Path) -> None:
    # durability="fsync" (the default): put returns once the write is on
    # disk and would survive a power cut. `with` flushes and closes.
    with Storage(path=path, durability="fsync") as store:
        store.put_many(
            {f"user:{i}": LwwRecord({"id": i, "name": f"user-{i}"}, Timestamp(i, 0, "node-a"))
             for i in range(COUNT)}
        )
        store.put("session", LwwRecord("short-lived", Timestamp(COUNT, 0, "node-a")), ttl=60_000)
    print(f"writer: {COUNT + 1} records in {path}, closed")


def read(path: Path) -> None:
    with Storage(path=path) as store:
        # Opening read nothing: each get loads its key from disk.
        user = store["user:42"]
        assert isinstance(user, LwwRecord) and user.value == {"id": 42, "name": "user-42"}
        loaded = store.warm_up()  # or fill memory with everything at once
        missing = [i for i in range(COUNT) if f"user:{i}" not in store]
        assert not missing, missing
        print(f"reader: user:42 = {user.value}, warm_up loaded {loaded}, all {COUNT} users there")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "read":
        read(Path(sys.argv[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tmp)
        path = directory / "users.redb"
        write(path)
        # A second process, started after the writer closed the store.
        subprocess.run([sys.executable, __file__, "read", str(path)], check=True)


if __name__ == "__main__":
    main()
