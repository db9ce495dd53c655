"""Where backups live: a URL opened through fsspec.

``file:///abs/dir`` or ``file://./rel`` (relative to the spec's directory),
``s3://bucket/prefix`` (s3fs: credentials from the usual AWS environment
variables, ``~/.aws``, or an instance role; an S3-compatible endpoint such as
MinIO from ``backup.s3_endpoint_url`` in the spec or ``AWS_ENDPOINT_URL``), and
``gs://bucket/prefix`` (gcsfs, installed with ``pip install redisops[gcs]``;
credentials from ``GOOGLE_APPLICATION_CREDENTIALS`` or gcloud).

Layout: ``<root>/<backup id>/<shard>.rdb.zst`` and ``<root>/<backup id>/manifest.json``.
The manifest is written last, so a backup without one is incomplete and is
never listed; :meth:`Store.remove` deletes the manifest first, so a half-removed
backup never looks complete either.  Errors of any backend become one
:class:`StorageError` that names the URL.

A ``file://`` store is written by hand rather than through fsspec, because a
backup is the whole dataset: files 0600 and the directories redisops creates
0700 (fsspec's would follow the umask, usually world-readable), each file under
a private temporary name renamed into place when complete
(:mod:`~redisops.data.backup.private`).  Other backends keep their own access
control (bucket policies, IAM).
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import fsspec
from fsspec.implementations.local import LocalFileSystem

from redisops.data.backup.errors import StorageError
from redisops.data.backup.private import AtomicPrivateFile, make_private_dirs

__all__ = ["MANIFEST", "Store", "open_store"]

MANIFEST = "manifest.json"
T = TypeVar("T")


def open_store(url: str, *, base_dir: Path | None = None, endpoint_url: str | None = None) -> Store:
    """``url`` -> a store; relative ``file://`` paths are taken from ``base_dir`` (the spec's directory)."""
    protocol, _, rest = url.partition("://")
    if not rest:
        protocol, rest = "file", url
    options: dict[str, Any] = {}
    if protocol == "file":
        path = Path(rest)
        rest = str(path if path.is_absolute() else (base_dir or Path.cwd()) / path)
    elif protocol == "s3":
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["client_kwargs"] = {"endpoint_url": endpoint}
    try:
        if protocol in ("gs", "gcs"):
            _quiet_gcsfs()
        if protocol in ("gs", "gcs") and os.environ.get("STORAGE_EMULATOR_HOST", "default") != "default":
            fs = _gcs_emulator_filesystem()
        else:
            fs = fsspec.filesystem(protocol, **options)
    except (ImportError, ValueError) as exc:
        hint = "pip install 'redisops[gcs]'" if protocol == "gs" else "use file://, s3:// or gs://"
        raise StorageError(url, f"no backend for {protocol}:// ({exc})", hint=hint) from exc
    return Store(url, fs, rest.rstrip("/"))


def _gcs_emulator_filesystem() -> Any:
    """gcsfs against ``STORAGE_EMULATOR_HOST`` (which gcsfs reads itself): anonymous, plain JSON API.

    Without ``token="anon"`` gcsfs first looks for Google credentials (asking the GCE metadata server);
    its default class also probes each bucket's type over gRPC, which an HTTP-only emulator does not
    speak: logged warnings on every call, and with ``token="anon"`` a minute of retries each.
    """
    import gcsfs

    return gcsfs.core.GCSFileSystem(token="anon")


def _quiet_gcsfs() -> None:
    """gcsfs logs a traceback at ERROR when it gives up retrying; the caller gets one StorageError instead.

    Left alone under ``--debug`` (root logger at DEBUG) or when the gcsfs logger was configured on purpose.
    """
    log = logging.getLogger("gcsfs")
    if log.level == logging.NOTSET and not logging.getLogger().isEnabledFor(logging.DEBUG):
        log.setLevel(logging.CRITICAL)


class Store:
    def __init__(self, url: str, fs: Any, root: str) -> None:
        self.url = url
        self.fs = fs
        self.root = root

    def path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def _call(self, what: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise _storage_error(self.url, what, exc) from exc
        except Exception as exc:  # botocore / aiohttp errors have no common base we can name
            raise StorageError(self.url, f"{what}: {type(exc).__name__}: {exc}") from exc

    def _write_call(self, what: str, action: Callable[[], T]) -> T:
        """:meth:`_call` for writes, where a missing file can only mean a missing bucket (or directory)."""
        try:
            return self._call(what, action)
        except FileNotFoundError as exc:
            raise _storage_error(self.url, what, exc) from exc

    @contextmanager
    def writer(self, *parts: str) -> Iterator[_Writer]:
        """A file being written; on any error it is aborted (S3: the multipart upload is discarded)."""
        path = self.path(*parts)
        self._write_call("create directory", lambda: self._makedirs(path.rsplit("/", 1)[0]))
        handle = self._write_call(f"open {path}", lambda: self._open_for_write(path))
        try:
            yield _Writer(handle, self.url, path)
            self._write_call(f"write {path}", handle.close)  # gcsfs: a missing bucket shows here (404)
        except BaseException:
            _abort(handle)
            raise

    @property
    def local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def _makedirs(self, directory: str) -> None:
        if self.local:
            make_private_dirs(Path(directory))
        else:
            self.fs.makedirs(directory, exist_ok=True)

    def _open_for_write(self, path: str) -> Any:
        return AtomicPrivateFile(Path(path)) if self.local else self.fs.open(path, "wb")

    def reader(self, *parts: str) -> IO[bytes]:
        path = self.path(*parts)
        try:
            handle: IO[bytes] = self._call(f"open {path}", lambda: self.fs.open(path, "rb"))
        except FileNotFoundError as exc:
            raise StorageError(self.url, f"{path} is missing") from exc
        return handle

    def write_text(self, text: str, *parts: str) -> None:
        with self.writer(*parts) as handle:
            handle.write(text.encode())

    def read_text(self, *parts: str) -> str:
        with self.reader(*parts) as handle:
            return handle.read().decode()

    def backup_ids(self) -> list[str]:
        """Complete backups only: directories that hold a manifest."""
        try:
            found = self._call("list", lambda: self.fs.glob(self.path("*", MANIFEST)))
        except FileNotFoundError as exc:
            if self.url.startswith(("gs://", "gcs://")):  # gcsfs: a missing bucket, not an empty prefix
                raise _storage_error(self.url, "list", exc) from exc
            return []
        return sorted(str(p).rstrip("/").rsplit("/", 2)[-2] for p in found)

    def remove(self, backup_id: str) -> None:
        manifest = self.path(backup_id, MANIFEST)
        if self.fs.exists(manifest):
            self._call(f"delete {manifest}", lambda: self.fs.rm(manifest))
        self.discard(backup_id)

    def discard(self, backup_id: str) -> None:
        """Best effort removal of an incomplete backup's files (it is invisible anyway)."""
        try:
            if self.fs.exists(self.path(backup_id)):
                self.fs.rm(self.path(backup_id), recursive=True)
        except Exception:  # noqa: BLE001, S110 - leftovers have no manifest, so they never list
            pass


class _Writer:
    """Only ``write``, with backend errors turned into :class:`StorageError` where they happen."""

    def __init__(self, handle: IO[bytes], url: str, path: str) -> None:
        self.handle = handle
        self.url = url
        self.path = path

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as exc:
            raise _storage_error(self.url, f"write {self.path}", exc) from exc
        except Exception as exc:
            raise StorageError(self.url, f"write {self.path}: {type(exc).__name__}: {exc}") from exc


def _abort(handle: Any) -> None:
    try:
        discard = getattr(handle, "discard", None)  # fsspec buffered files: drop without committing
        if callable(discard):
            discard()
        else:
            handle.close()
    except Exception:  # noqa: BLE001, S110 - the first error is the one to report
        pass


def _storage_error(url: str, what: str, exc: OSError) -> StorageError:
    if isinstance(exc, FileNotFoundError) and url.startswith(("gs://", "gcs://", "s3://")):
        bucket = url.partition("://")[2].split("/", 1)[0]
        return StorageError(url, f"{what}: not found (is there a bucket named {bucket!r}?)")
    if exc.errno == errno.ENOSPC:
        return StorageError(url, f"{what}: no space left on device",
                            hint="free space or point backup.target elsewhere; the partial backup was removed")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return StorageError(url, f"{what}: permission denied")
    return StorageError(url, f"{what}: {exc.strerror or exc}")
