"""The package under test is the installed wheel, with its stubs."""

from __future__ import annotations

import importlib.metadata
import pathlib
import sys
import sysconfig

import topgun_storage as tg
from topgun_storage import _topgun_storage


def test_imported_from_site_packages_not_the_source_tree() -> None:
    site = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
    here = pathlib.Path(tg.__file__).resolve()
    assert site in here.parents, f"{here} is not under {site}"
    assert pathlib.Path(_topgun_storage.__file__).resolve().parent == here.parent
    assert sys.prefix != sys.base_prefix, "tests must run inside a virtual environment"


def test_wheel_ships_stubs_and_py_typed() -> None:
    pkg = pathlib.Path(tg.__file__).parent
    assert (pkg / "py.typed").is_file()
    assert (pkg / "_topgun_storage.pyi").is_file()


def test_version_and_exports() -> None:
    # The Cargo version, as pip recorded it for the installed distribution.
    assert tg.__version__ == importlib.metadata.version("topgun-storage")
    for name in tg.__all__:
        assert hasattr(tg, name), name
    assert tg.PARTITION_COUNT == 271


def test_classes_report_the_public_module() -> None:
    for cls in (tg.Storage, tg.LwwRecord, tg.Timestamp, tg.StorageError, tg.ValueRangeError):
        assert cls.__module__ == "topgun_storage", cls
