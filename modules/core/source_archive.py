"""A folder of code as a deterministic zip: what the Lambda and instance assets deploy.

Why not a cdktf ``ARCHIVE`` asset: cdktf zips each one by starting another node process
(about 0.3 s each, five per synth of the app), and its zip records each file's
modification time, so two checkouts of the same source give two archives, two hashes and
a plan diff. Here Python writes the zip once per folder, as a ``FILE`` asset: entries
sorted, times and modes fixed, no bytecode caches or dotfiles. The same source gives the
same bytes on every machine, and only a change of content changes the hash, the S3 key
or the function's ``source_code_hash``.
"""

from __future__ import annotations

import atexit
import fnmatch
import shutil
import tempfile
import zipfile
from pathlib import Path

ARCHIVE_NAME = "archive.zip"
# Left out: what running or testing the code leaves behind, and hidden files.
IGNORED = ("__pycache__", "*.pyc", ".*")
# The earliest time a zip can hold; any fixed value makes the bytes a function of content.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644


def source_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` that goes into the archive, sorted by relative path."""
    files: list[Path] = []
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in IGNORED):
            continue
        if path.is_file():
            files.append(path)
    return files


def write_archive(folder: Path, target: Path) -> Path:
    """Zip ``folder``'s source files into ``target``, paths relative to ``folder``."""
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder to archive")
    with zipfile.ZipFile(target, "w") as archive:
        for path in source_files(folder):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), FIXED_TIME)
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return target


def source_archive(folder: Path) -> Path:
    """``folder`` zipped into a temporary ``archive.zip`` (removed at exit: cdktf copies
    the asset into the synthesized stack)."""
    staging = Path(tempfile.mkdtemp(prefix="asset-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    return write_archive(folder, staging / ARCHIVE_NAME)
