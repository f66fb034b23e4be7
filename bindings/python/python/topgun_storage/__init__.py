"""topgun_storage: TopGun's storage engine (Rust) for Python.

A record store holding TopGun's value shapes (``LwwRecord``,
``OrMapValue``, ``OrTombstones``) with default and per-entry TTL / max-idle,
bounded eviction (LRU, LFU, random, by sampling), observers, resumable cursor
scans and a MessagePack path; in memory, or kept on disk (redb, LMDB,
RocksDB) or in PostgreSQL with ``Storage(path=...)`` / ``Storage(dsn=...)``.
One ``Storage`` may be shared by many threads.

    >>> from topgun_storage import Storage, LwwRecord, Timestamp
    >>> store = Storage()
    >>> store["k"] = LwwRecord({"n": 1}, Timestamp(1, 0, "node"))
    >>> store["k"].value
    {'n': 1}

See ``docs/python.md`` in the repository for the guide.
"""

from typing import Union

from ._errors import (
    CapacityExceededError as CapacityExceededError,
    ClosedError as ClosedError,
    CorruptDataError as CorruptDataError,
    DataStoreError as DataStoreError,
    DiskFullError as DiskFullError,
    EntryTooLargeError as EntryTooLargeError,
    InvalidArgumentError as InvalidArgumentError,
    InvalidCursorError as InvalidCursorError,
    LockedError as LockedError,
    MalformedValueError as MalformedValueError,
    ObserverWarning as ObserverWarning,
    RejectedError as RejectedError,
    StorageError as StorageError,
    StorageIOError as StorageIOError,
    UnavailableError as UnavailableError,
    ValueRangeError as ValueRangeError,
    ValueShapeError as ValueShapeError,
)
from ._topgun_storage import (
    BACKENDS as BACKENDS,
    PARTITION_COUNT as PARTITION_COUNT,
    ExportProgress as ExportProgress,
    ExportSummary as ExportSummary,
    LwwRecord as LwwRecord,
    MaintenanceReport as MaintenanceReport,
    ManualClock as ManualClock,
    OrMapRecord as OrMapRecord,
    OrMapValue as OrMapValue,
    OrTombstones as OrTombstones,
    RecordMetadata as RecordMetadata,
    Stats as Stats,
    Storage as Storage,
    StorageIterator as StorageIterator,
    StoreEvent as StoreEvent,
    Timestamp as Timestamp,
    __version__ as __version__,
    decode as decode,
    encode as encode,
    partition_for_key as partition_for_key,
    verify_export as verify_export,
)

RecordValue = Union[LwwRecord, OrMapValue, OrTombstones]
"""Any stored value: what ``Storage.get`` returns."""

__all__ = [
    "BACKENDS",
    "PARTITION_COUNT",
    "CapacityExceededError",
    "ClosedError",
    "CorruptDataError",
    "DataStoreError",
    "DiskFullError",
    "EntryTooLargeError",
    "ExportProgress",
    "ExportSummary",
    "InvalidArgumentError",
    "InvalidCursorError",
    "LockedError",
    "LwwRecord",
    "MaintenanceReport",
    "MalformedValueError",
    "ManualClock",
    "ObserverWarning",
    "OrMapRecord",
    "OrMapValue",
    "OrTombstones",
    "RecordMetadata",
    "RecordValue",
    "RejectedError",
    "Stats",
    "Storage",
    "StorageError",
    "StorageIOError",
    "StorageIterator",
    "StoreEvent",
    "Timestamp",
    "UnavailableError",
    "ValueRangeError",
    "ValueShapeError",
    "__version__",
    "decode",
    "encode",
    "partition_for_key",
    "verify_export",
]
