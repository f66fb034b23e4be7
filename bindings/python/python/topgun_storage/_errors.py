"""The exceptions of topgun_storage.

One class per error category of the core (``code``: ``"malformed_value"``,
``"value_shape"``, ...), all under ``StorageError``, so a category is the
same in C, Python and Node. The extension finds the class of a category by
its ``code`` attribute when it is imported, and refuses to load if a core
category has no class here (so this file cannot fall behind the core).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "StorageError",
    "MalformedValueError",
    "ValueShapeError",
    "ValueRangeError",
    "InvalidCursorError",
    "InvalidArgumentError",
    "CapacityExceededError",
    "EntryTooLargeError",
    "DataStoreError",
    "ClosedError",
    "StorageIOError",
    "CorruptDataError",
    "LockedError",
    "UnavailableError",
    "DiskFullError",
    "RejectedError",
    "ObserverWarning",
]


class StorageError(Exception):
    """Base class of every error topgun_storage raises on purpose.

    ``code`` names the category (the same in the C and Node bindings);
    ``path`` says where inside a value the problem is (``$.value.items[2]``),
    or is ``None`` when the error is not about a value.
    """

    code: ClassVar[str] = "storage_error"

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path: str | None = path


class MalformedValueError(StorageError, ValueError):
    """Bytes that are not valid MessagePack, or a value nested too deeply."""

    code = "malformed_value"


class ValueShapeError(StorageError, ValueError):
    """A value of the wrong shape: a missing, unknown or mistyped field."""

    code = "value_shape"


class ValueRangeError(StorageError, ValueError, OverflowError):
    """A number outside what its field can hold exactly, for example an int
    outside the signed 64-bit range (-2**63 .. 2**63-1). Also an
    ``OverflowError``, like Python's own conversions."""

    code = "value_range"


class InvalidCursorError(StorageError, ValueError):
    """A cursor that is malformed or was made by another store."""

    code = "invalid_cursor"


class InvalidArgumentError(StorageError, ValueError):
    """An argument that can never be valid: page size 0, a negative TTL, an
    unknown eviction policy."""

    code = "invalid_argument"


class CapacityExceededError(StorageError):
    """A bounded store with eviction off is full; nothing was written."""

    code = "capacity_exceeded"


class EntryTooLargeError(StorageError):
    """One entry costs more than the store's whole cost bound."""

    code = "entry_too_large"


class DataStoreError(StorageError):
    """The data store behind the store failed; memory is unchanged."""

    code = "data_store"


class ClosedError(StorageError):
    """The storage was closed."""

    code = "closed"


class StorageIOError(DataStoreError):
    """Reading or writing the data store's files or connection failed."""

    code = "io"


class CorruptDataError(DataStoreError):
    """Stored data cannot be read back as written (damaged file, bad checksum)."""

    code = "corrupt"


class LockedError(DataStoreError):
    """Another process holds the data store."""

    code = "locked"


class UnavailableError(DataStoreError):
    """The database server cannot be reached or did not answer in time."""

    code = "unavailable"


class DiskFullError(DataStoreError):
    """The disk (or the database's storage) is full; nothing was written."""

    code = "disk_full"


class RejectedError(DataStoreError, ValueError):
    """The data store cannot hold this key or value; nothing was written."""

    code = "rejected"


class ObserverWarning(RuntimeWarning):
    """An observer callback raised; the store carried on. ``exception`` holds
    what the callback raised."""

    exception: BaseException


# The classes are part of the package's public API: report them as
# ``topgun_storage.X`` (in tracebacks and reprs), not as this private module.
for _name in __all__:
    globals()[_name].__module__ = "topgun_storage"
del _name
