"""The code archives the Lambda and instance assets deploy: source only, same bytes everywhere."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from modules.core.source_archive import source_archive, write_archive


def make_source(root: Path) -> Path:
    folder = root / "svc"
    (folder / "pkg" / "__pycache__").mkdir(parents=True)
    (folder / ".venv").mkdir()
    (folder / "app.py").write_text("print('hi')\n")
    (folder / "pkg" / "mod.py").write_text("X = 1\n")
    (folder / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\x00")
    (folder / "stale.pyc").write_bytes(b"\x00")
    (folder / ".env").write_text("SECRET=1\n")
    (folder / ".venv" / "lib.py").write_text("")
    return folder


def test_the_archive_holds_the_source_at_its_root_and_nothing_else(tmp_path: Path) -> None:
    archive = source_archive(make_source(tmp_path))
    assert archive.name == "archive.zip"
    with zipfile.ZipFile(archive) as z:
        assert z.namelist() == ["app.py", "pkg/mod.py"], "no caches, no hidden files, paths from the folder"
        assert z.read("pkg/mod.py") == b"X = 1\n"
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.external_attr >> 16 for i in z.infolist()} == {0o644}


def test_the_same_source_gives_the_same_bytes_whatever_its_times_and_caches(tmp_path: Path) -> None:
    one = write_archive(make_source(tmp_path / "a"), tmp_path / "one.zip")
    second = make_source(tmp_path / "b")
    os.utime(second / "app.py", (1_700_000_000, 1_700_000_000))
    (second / "pkg" / "mod.py").chmod(0o600)
    (second / "pkg" / "__pycache__" / "other.pyc").write_bytes(b"\x01")
    two = write_archive(second, tmp_path / "two.zip")
    assert one.read_bytes() == two.read_bytes()
    (second / "app.py").write_text("print('changed')\n")
    assert write_archive(second, tmp_path / "three.zip").read_bytes() != one.read_bytes()


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a folder"):
        source_archive(tmp_path / "absent")
