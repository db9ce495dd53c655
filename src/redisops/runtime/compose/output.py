"""Writing a rendered project: into a temp directory next to its place, then renamed into it.

A failed render never leaves a half-written directory that looks complete, and
a directory is replaced only when redisops wrote it (its marker file lists what
it wrote) or with ``force``; files in it that redisops did not write (a
``docker-compose.override.yml``) are carried over.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from redisops.errors import EnvironmentProblem, UsageError
from redisops.runtime.compose.layout import MARKER_FILE

__all__ = ["OutputFile", "write_output"]


@dataclass(frozen=True)
class OutputFile:
    text: str
    mode: int = 0o644


def write_output(files: Mapping[str, OutputFile], output: Path, *, force: bool = False,
                 protect: Path | None = None) -> Path:
    """Write ``files`` into a temp directory next to ``output``, then rename it into place.

    A non-empty ``output`` is replaced only when redisops wrote it (its marker file
    lists what it wrote) or with ``force``; files it holds that redisops did not write
    (a ``docker-compose.override.yml``) are carried over.
    """
    target = output.expanduser().resolve()
    _check_target(target, force, protect)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise _unwritable(target, exc) from exc
    try:
        _write_tree(staging, files)
        if target.exists():
            _carry_over(target, staging)
        _swap(staging, target)
    except OSError as exc:
        raise _unwritable(target, exc) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _check_target(target: Path, force: bool, protect: Path | None) -> None:
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"output {target}: {existing} is not a directory", hint="choose another -o DIR")
    if not os.access(existing if existing != target else target.parent, os.W_OK):
        raise _unwritable(target, PermissionError(13, "permission denied"))
    if protect is not None and protect.resolve().is_relative_to(target):
        raise UsageError(f"output {target} holds the spec {protect}",
                         hint="render into a directory of its own")
    if not target.is_dir() or force or (target / MARKER_FILE).is_file():
        return
    try:
        empty = not any(target.iterdir())
    except OSError as exc:
        raise _unwritable(target, exc) from exc
    if not empty:
        raise UsageError(f"output {target} is not empty and was not written by redisops",
                         hint="choose another -o DIR, or pass --force to write into it")


def _unwritable(target: Path, exc: OSError) -> EnvironmentProblem:
    reason = exc.strerror or type(exc).__name__
    return EnvironmentProblem(f"cannot write {target} ({reason})", hint="choose a writable -o DIR")


def _write_tree(root: Path, files: Mapping[str, OutputFile]) -> None:
    for rel, item in sorted(files.items()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, item.mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(item.text)
        os.chmod(path, item.mode)  # exact mode whatever the umask: containers read conf files as uid 999
    marker = {"generator": "redisops render compose", "files": sorted(files)}
    (root / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        os.chmod(directory, 0o755)


def _carry_over(target: Path, staging: Path) -> None:
    """Copy what the old directory holds besides redisops' own files into the new one."""
    previous = _previous_files(target)
    for entry in target.iterdir():
        rel = entry.name
        if rel == MARKER_FILE or (staging / rel).exists() or rel in previous:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, staging / rel, symlinks=True)
        else:
            shutil.copy2(entry, staging / rel, follow_symlinks=False)


def _previous_files(target: Path) -> set[str]:
    try:
        marker = json.loads((target / MARKER_FILE).read_text(encoding="utf-8"))
        return {str(p).split("/", 1)[0] for p in marker.get("files", [])}
    except (OSError, ValueError, AttributeError):
        return set()


def _swap(staging: Path, target: Path) -> None:
    """Rename staging into place; an old directory is moved aside first and removed after."""
    if not target.exists():
        os.rename(staging, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.rename(target, old / "previous")
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(old / "previous", target)  # if this fails too, the old tree stays in `old`
        os.rmdir(old)
        raise
    shutil.rmtree(old, ignore_errors=True)
