"""The long-lived part of redisops: the watcher, the backup schedule and ``/metrics`` as one embeddable daemon.

::

    from redisops.daemon import Daemon

    daemon = Daemon.from_spec(spec, secrets, base_dir=spec_file.parent)
    daemon.run()                                  # blocking, until SIGTERM / Ctrl-C
    await daemon.serve(stop)                      # or on an application's own event loop

``redisops watch`` is this daemon with its options parsed; ``redisops backup
schedule`` runs the same schedule (:func:`backup_schedule`) on its own.
Modules: ``core`` (:class:`Daemon`), ``backups`` (the schedule's job and its
thread), ``http`` (the asyncio ``/metrics`` endpoint), ``page`` (the status
page it also serves: ``/``, ``/api/status``), ``dashboard`` (finding a running
watcher's page, or a page-only daemon), ``logs`` (a rotated log file).  The
daemon sits above ``ha`` and ``data`` (it assembles them) and below the CLI.
"""

from redisops.daemon.backups import BackupRunner, back_up_sets, backup_schedule, spec_store
from redisops.daemon.core import Daemon
from redisops.daemon.dashboard import PageFound, find_page, page_daemon
from redisops.daemon.http import MetricsEndpoint
from redisops.daemon.logs import log_to_file
from redisops.daemon.page import StatusPage

__all__ = ["BackupRunner", "Daemon", "MetricsEndpoint", "PageFound", "StatusPage", "back_up_sets", "backup_schedule",
           "find_page", "log_to_file", "page_daemon", "spec_store"]
