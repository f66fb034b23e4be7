"""Durable stores: Storage(path=..., backend=..., dsn=...) over redb, LMDB,
RocksDB and PostgreSQL (docs/python.md, "Durable stores").

What is checked: every write is there after close and reopen, expiry
included (the clock is injected); close, flush and the context manager;
reads that load what memory lacks; clear reaching the disk; two threads
writing; a second open of the same files is LockedError; bad options are
clear errors that leave the files alone; a damaged file is an error, never
an empty store; a second process reads what the first wrote after it
exited, and what it acknowledged before it was killed with SIGKILL.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest

import topgun_storage as tg
from helpers import T0, lww

FILE_BACKENDS = ["redb", "lmdb", "rocksdb"]
POSTGRES_URL = os.environ.get("TOPGUN_TEST_POSTGRES_URL")


def location(tmp_path: pathlib.Path, backend: str) -> pathlib.Path:
    """A file for redb, a directory for LMDB and RocksDB."""
    return tmp_path / ("store.redb" if backend == "redb" else "store")


@pytest.fixture(params=FILE_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def path(tmp_path: pathlib.Path, backend: str) -> pathlib.Path:
    return location(tmp_path, backend)


def test_the_wheel_has_every_backend() -> None:
    assert set(tg.BACKENDS) == {"memory", "redb", "lmdb", "rocksdb", "postgres"}


# ---------------------------------------------------------------------------
# write, close, reopen, read


def test_writes_survive_close_and_reopen_with_their_expiry(
    path: pathlib.Path, backend: str
) -> None:
    clock = tg.ManualClock(T0)
    with tg.Storage(path=path, backend=backend, clock=clock) as s:
        assert s.backend == backend
        s.put("plain", lww(1))
        s.put("ttl", lww(2), ttl=60_000)
        s["dict"] = {"value": {"n": [1, 2.5, "x", None, b"\x00"]},
                     "timestamp": {"millis": 3, "counter": 0, "nodeId": "n"}}
        s.put("gone", lww(4))
        del s["gone"]
        assert s.closed is False
    assert s.closed is True
    clock.advance(30_000)
    with tg.Storage(path=path, backend=backend, clock=clock) as s:
        assert len(s) == 0, "opening loads nothing"
        assert s.get("plain") == lww(1)
        assert s["dict"] == tg.LwwRecord({"n": [1, 2.5, "x", None, b"\x00"]},
                                         tg.Timestamp(3, 0, "n"))
        assert s.get("gone") is None
        record = s.get_record("ttl")
        assert record is not None
        meta = record[1]
        assert meta.last_update_time + meta.ttl_millis == T0 + 60_000, "the deadline is kept"
        clock.advance(30_001)
        assert s.get("ttl") is None, "expires when it would have without the restart"
        assert s.get("plain") == lww(1)


def test_the_default_backend_of_a_path_is_redb(tmp_path: pathlib.Path) -> None:
    with tg.Storage(path=str(tmp_path / "a.redb")) as s:
        assert s.backend == "redb"
        s["k"] = lww(1)
    assert (tmp_path / "a.redb").is_file()


def test_reopen_after_close_and_every_call_after_close_raises(path: pathlib.Path,
                                                               backend: str) -> None:
    s = tg.Storage(path=path, backend=backend)
    s["k"] = lww(1)
    s.flush()
    s.close()
    s.close()  # closing twice is harmless
    for call in (
        lambda: s.get("k"),
        lambda: s.put("k", lww(2)),
        lambda: s["k"],
        lambda: "k" in s,
        lambda: len(s),
        lambda: s.remove("k"),
        lambda: s.flush(),
        lambda: s.clear(),
        lambda: s.fetch_keys(),
        lambda: list(s),
        lambda: s.get_many(["k"]),
        lambda: s.put_many({"k": lww(3)}),
        lambda: s.warm_up(),
    ):
        with pytest.raises(tg.ClosedError):
            call()
    with pytest.raises(tg.ClosedError):
        with s:
            pass
    assert "closed" in repr(s)
    again = tg.Storage(path=path, backend=backend)
    assert again["k"] == lww(1)
    again.close()


def test_the_context_manager_closes_when_the_block_raises(path: pathlib.Path,
                                                          backend: str) -> None:
    with pytest.raises(KeyError):
        with tg.Storage(path=path, backend=backend) as s:
            s["k"] = lww(1)
            raise KeyError("from the block")
    assert s.closed
    with tg.Storage(path=path, backend=backend) as s:
        assert s["k"] == lww(1)


def test_reads_load_what_memory_lacks(path: pathlib.Path, backend: str) -> None:
    with tg.Storage(path=path, backend=backend) as s:
        s.put_many({f"k{i:03}": lww(i) for i in range(300)})
        s.put_msgpack("packed", tg.encode(lww(7)))
    with tg.Storage(path=path, backend=backend, max_entries=100, eviction="lru") as s:
        assert "k005" in s and s.contains("k006") and "nope" not in s
        assert s.get_msgpack("packed") == tg.encode(lww(7))
        assert s.get_many(["k001", "k299", "missing"]) == {"k001": lww(1), "k299": lww(299)}
        got = [s[f"k{i:03}"] for i in range(300)]
        assert got == [lww(i) for i in range(300)]
        assert len(s) <= 100, "memory holds a hot subset"
        assert s.remove("k001") == lww(1), "the old value is loaded when memory lacks it"
        assert s.get("k001") is None
        assert s.put("k002", lww(20)) == lww(2)
        del s["k003"]
        with pytest.raises(KeyError):
            del s["k003"]
    with tg.Storage(path=path, backend=backend) as s:
        assert (s.get("k001"), s.get("k002"), s.get("k003")) == (None, lww(20), None)


def test_warm_up_fills_memory_and_clear_reaches_the_disk(path: pathlib.Path,
                                                         backend: str) -> None:
    with tg.Storage(path=path, backend=backend) as s:
        s.put_many({f"k{i}": lww(i) for i in range(2_500)})
    with tg.Storage(path=path, backend=backend) as s:
        assert len(s) == 0
        assert s.warm_up() == 2_500
        assert len(s) == 2_500
        assert sorted(s) == sorted(f"k{i}" for i in range(2_500))
        assert s.warm_up() == 0, "resident records are kept as they are"
        assert s.clear() == 2_500
        assert len(s) == 0
    with tg.Storage(path=path, backend=backend) as s:
        assert s.get("k1") is None
        assert s.warm_up() == 0


def test_two_threads_writing(path: pathlib.Path, backend: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)
    with tg.Storage(path=path, backend=backend, durability="os") as s:

        def work(tid: int) -> None:
            try:
                barrier.wait()
                for i in range(300):
                    s.put(f"t{tid}-{i}", lww(i))
                    if i % 3 == 0:
                        s.remove(f"t{tid}-{i}")
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    with tg.Storage(path=path, backend=backend) as s:
        for tid in range(2):
            for i in range(300):
                assert s.get(f"t{tid}-{i}") == (None if i % 3 == 0 else lww(i))


def test_write_behind_stores_the_queue_on_close(path: pathlib.Path, backend: str) -> None:
    with tg.Storage(path=path, backend=backend, write_behind=True,
                    options={"write_delay_ms": 60_000}) as s:
        s.put_many({f"k{i}": lww(i) for i in range(100)})
        assert s["k5"] == lww(5), "a queued write is read back"
    with tg.Storage(path=path, backend=backend) as s:
        assert [s[f"k{i}"] for i in range(100)] == [lww(i) for i in range(100)]


def test_the_memory_backend_keeps_nothing_after_close() -> None:
    with tg.Storage(backend="memory") as s:
        assert s.backend == "memory"
        s["k"] = lww(1)
        assert s["k"] == lww(1)
        s.flush()
    with tg.Storage(backend="memory") as s:
        assert s.get("k") is None


def test_an_in_memory_store_closes_too() -> None:
    with tg.Storage() as s:
        assert s.backend is None
        s["k"] = lww(1)
        s.flush()
    with pytest.raises(tg.ClosedError):
        s.get("k")


# ---------------------------------------------------------------------------
# errors


def test_a_second_open_of_the_same_files_is_locked(path: pathlib.Path, backend: str) -> None:
    with tg.Storage(path=path, backend=backend) as s:
        s["k"] = lww(1)
        with pytest.raises(tg.LockedError):
            tg.Storage(path=path, backend=backend)
        assert s["k"] == lww(1), "the first store carries on"


def test_a_store_held_by_another_process_is_locked(path: pathlib.Path, backend: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), backend],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "open\n"
            with pytest.raises(tg.LockedError):
                tg.Storage(path=path, backend=backend)
        finally:
            holder.communicate("")
    assert holder.returncode == 0
    with tg.Storage(path=path, backend=backend) as s:
        assert s["held"] == lww(1)


HOLD = """
import sys, topgun_storage as tg
s = tg.Storage(path=sys.argv[1], backend=sys.argv[2])
s["held"] = tg.LwwRecord(1, tg.Timestamp(1, 0, "node-a"))
print("open", flush=True)
sys.stdin.read()
s.close()
"""


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"backend": "sqlite"}, tg.RejectedError, 'unknown backend "sqlite"'),
        ({"backend": "redb"}, tg.RejectedError, "needs a path"),
        ({"path": "x", "durability": "always"}, tg.RejectedError, "durability"),
        ({"path": "x", "options": {"nope": 1}}, tg.RejectedError, 'unknown option "nope"'),
        ({"path": "x", "options": {"write_batch_size": 0}}, tg.RejectedError, ">= 1"),
        ({"path": "x", "options": {"max_map_size": 1 << 30}}, tg.RejectedError, "lmdb backend"),
        ({"path": "x", "options": {"wal": "maybe"}}, tg.RejectedError, "true or false"),
        ({"path": "x", "options": {"write_delay_ms": 1.5}}, TypeError, "write_delay_ms"),
        ({"path": "x", "options": {1: 2}}, TypeError, "option names"),
        ({"path": "x", "dsn": "postgres://h/db"}, tg.InvalidArgumentError, "not both"),
        ({"path": "x", "backend": "postgres"}, tg.InvalidArgumentError, "dsn="),
        ({"dsn": "postgres://h/db", "backend": "lmdb"}, tg.InvalidArgumentError, "path="),
        ({"durability": "os"}, tg.InvalidArgumentError, "durable store"),
        ({"write_behind": True}, tg.InvalidArgumentError, "durable store"),
        ({"path": "x", "durability": "os", "options": {"durability": "none"}},
         tg.InvalidArgumentError, "given twice"),
        ({"path": 5}, TypeError, "path must be"),
        ({"path": "x", "write_behind": "yes"}, TypeError, ""),
        ({"backend": "memory", "path": "x"}, tg.RejectedError, "no path"),
        ({"path": "x", "ttl": -1}, tg.InvalidArgumentError, "ttl"),
    ],
)
def test_bad_options_are_clear_errors_and_touch_no_file(
    tmp_path: pathlib.Path, kwargs: dict[str, object], error: type[Exception], needle: str
) -> None:
    if kwargs.get("path") == "x":
        kwargs["path"] = tmp_path / "x"
    with pytest.raises(error) as info:
        tg.Storage(**kwargs)  # type: ignore[arg-type]
    assert needle in str(info.value)
    assert list(tmp_path.iterdir()) == [], "nothing was created"


def test_a_refused_open_loses_nothing(path: pathlib.Path, backend: str) -> None:
    with tg.Storage(path=path, backend=backend) as s:
        s["k"] = lww(1)
    with pytest.raises(tg.RejectedError):
        tg.Storage(path=path, backend=backend, options={"write_queue_capacity": 0})
    with tg.Storage(path=path, backend=backend) as s:
        assert s["k"] == lww(1)


def test_a_damaged_file_is_an_error_never_an_empty_store(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "store.redb"
    with tg.Storage(path=path) as s:
        s.put_many({f"k{i}": lww(i) for i in range(1_000)})
    data = bytearray(path.read_bytes())
    data[:64] = b"\xa5" * 64  # the header
    path.write_bytes(bytes(data))
    with pytest.raises(tg.DataStoreError) as info:
        tg.Storage(path=path)
    assert isinstance(info.value, (tg.CorruptDataError, tg.StorageIOError)), info.value


# ---------------------------------------------------------------------------
# other processes

WRITER = """
import sys, topgun_storage as tg
path, backend, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = tg.Storage(path=path, backend=backend, clock=tg.ManualClock(1_700_000_000_000))
for i in range(n):
    s.put(f"k{i}", tg.LwwRecord({"i": i}, tg.Timestamp(i, 0, "w")), ttl=3_600_000)
s.close()
"""


def test_a_second_process_reads_what_the_first_wrote(path: pathlib.Path, backend: str) -> None:
    subprocess.run([sys.executable, "-c", WRITER, str(path), backend, "500"], check=True)
    clock = tg.ManualClock(T0 + 1_000)
    with tg.Storage(path=path, backend=backend, clock=clock) as s:
        assert s.warm_up() == 500
        assert all(s[f"k{i}"] == tg.LwwRecord({"i": i}, tg.Timestamp(i, 0, "w"))
                   for i in range(500))
        clock.set(T0 + 3_600_001)
        assert s.get("k1") is None, "the TTL written by the other process holds"


KILLED = """
import sys, topgun_storage as tg
path, backend, write_behind = sys.argv[1], sys.argv[2], sys.argv[3] == "wb"
options = {"write_delay_ms": 3_600_000} if write_behind else None
s = tg.Storage(path=path, backend=backend, write_behind=write_behind, options=options)
i = 0
while True:
    s.put(f"k{i}", tg.LwwRecord(i, tg.Timestamp(i, 0, "w")))
    print(i, flush=True)  # acknowledged
    i += 1
"""


@pytest.mark.parametrize("mode", ["through", "wb"])
def test_acknowledged_writes_survive_sigkill(path: pathlib.Path, backend: str,
                                             mode: str) -> None:
    """Write-through (fsync) and write-behind with its log (the queue held
    for an hour, so only the log can bring the writes back)."""
    with subprocess.Popen(
        [sys.executable, "-c", KILLED, str(path), backend, mode],
        stdout=subprocess.PIPE, text=True,
    ) as child:
        assert child.stdout is not None
        acknowledged = -1
        for line in child.stdout:
            acknowledged = int(line)
            if acknowledged >= 150:
                break
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    # A write-behind store replays its log when it is opened with
    # write-behind again (the log lives in <path>.wal).
    with tg.Storage(path=path, backend=backend, write_behind=mode == "wb") as s:
        for i in range(acknowledged + 1):
            assert s.get(f"k{i}") == tg.LwwRecord(i, tg.Timestamp(i, 0, "w")), i
        # (The child may have acknowledged more than the lines read here
        # before the signal landed: those may be there too.)


# ---------------------------------------------------------------------------
# PostgreSQL (the throwaway server of `make python-test`)


@pytest.fixture
def pg_table() -> Iterator[str]:
    if POSTGRES_URL is None:
        pytest.skip("TOPGUN_TEST_POSTGRES_URL is not set: run through `make python-test`")
    yield "py_" + uuid.uuid4().hex[:16]


def test_postgres_write_close_reopen_read(pg_table: str) -> None:
    assert POSTGRES_URL is not None
    options = {"table_name": pg_table}
    clock = tg.ManualClock(T0)
    with tg.Storage(dsn=POSTGRES_URL, options=options, clock=clock) as s:
        assert s.backend == "postgres"
        s.put("plain", lww(1))
        s.put("ttl", lww(2), ttl=60_000)
        s.put_many({f"k{i}": lww(i) for i in range(50)})
    clock.advance(30_000)
    with tg.Storage(dsn=POSTGRES_URL, options=options, clock=clock) as s:
        assert s["plain"] == lww(1) and s["ttl"] == lww(2)
        assert s.get_many([f"k{i}" for i in range(50)]) == {f"k{i}": lww(i) for i in range(50)}
        clock.advance(30_001)
        assert s.get("ttl") is None
        assert s.clear() == 52
    with tg.Storage(dsn=POSTGRES_URL, options=options) as s:
        assert s.get("plain") is None


def test_postgres_errors(pg_table: str) -> None:
    assert POSTGRES_URL is not None
    with pytest.raises(tg.RejectedError, match="pool_size|unknown PostgreSQL option"):
        tg.Storage(dsn=POSTGRES_URL, options={"table_name": pg_table, "pool_sizes": 2})
    with pytest.raises(tg.RejectedError, match="wal_dir"):
        tg.Storage(dsn=POSTGRES_URL, write_behind=True, options={"table_name": pg_table})
    with pytest.raises(tg.UnavailableError):
        tg.Storage(dsn="postgres://topgun@127.0.0.1:1/postgres?connect_timeout=2",
                   options={"table_name": pg_table})
