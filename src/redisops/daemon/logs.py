"""The daemon's log in a file of bounded size.

A daemon started in the background (``make up``) has no journal to rotate its
output, and appending stderr to a file grows it forever.  :func:`log_to_file`
sends redisops' log lines to a :class:`~logging.handlers.RotatingFileHandler`
instead: at :data:`LOG_MAX_BYTES` the file becomes ``PATH.1`` (the older ones
shift up) and :data:`LOG_BACKUPS` old files are kept, 40 MB on disk at most.
Under a service manager that keeps the log itself (systemd's journal), log to
stderr and let it rotate.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from redisops.errors import UsageError

__all__ = ["LOG_BACKUPS", "LOG_MAX_BYTES", "log_to_file"]

#: the file is rotated at this size: weeks of a healthy watcher (a line a minute), hours of a bad day
LOG_MAX_BYTES = 10_000_000
#: rotated files kept
LOG_BACKUPS = 3

_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def log_to_file(path: Path, *, max_bytes: int = LOG_MAX_BYTES, backups: int = LOG_BACKUPS,
                logger: str = "redisops") -> RotatingFileHandler:
    """``logger``'s lines (every redisops module's) go to ``path`` only, no longer also to stderr."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the log to {path}: {exc.strerror or exc}",
                         hint="pick a writable path (--log-file)") from None
    handler.setFormatter(logging.Formatter(_FORMAT))
    target = logging.getLogger(logger)
    target.addHandler(handler)
    target.propagate = False
    return handler
