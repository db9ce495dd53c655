"""Temporary settings on live nodes, journaled so that none is left behind.

Some operations change a node's setting only while they run: ``failover --to``
gives the other replicas ``replica-priority 0``, a safe drill sets
``min-replicas-to-write 1``, cluster formation shortens
``cluster-node-timeout``.  Two things can make such a setting outlive its
operation:

* Sentinel runs ``CONFIG REWRITE`` on every replica it reconfigures, which
  writes what the node holds in memory into its redis.conf: the temporary value
  then comes back on every restart (a replica that can never be promoted).
* redisops is killed before it puts the value back.

Hence three rules.  The journal entry (node, setting, original and temporary
value, owning process) is on disk *before* ``CONFIG SET``.  Putting a value back
mends the config file too: where redisops knows the file (its own nodes), the
lines holding the temporary value get the original again, and nothing else
changes (a ``CONFIG REWRITE`` would also copy the passwords from ``auth.conf``
into redis.conf); elsewhere ``CONFIG REWRITE`` writes the restored memory, when
the caller says Sentinel may have rewritten the file meanwhile.  And entries
whose owner died are undone by the next run: :func:`recover` (run by ``up``,
before it starts anything) mends the file and, if the node runs, its memory;
the next operation that touches the same setting on the same node takes the
original over from the dead owner's entry instead of mistaking the leftover
for the original.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import redis

from redisops.address import Address
from redisops.auth import Credential
from redisops.clients import connect
from redisops.errors import StateDirError
from redisops.runtime.processes import Owner
from redisops.spec.secrets import write_private

__all__ = ["Entry", "Journal", "Owner", "TemporaryConfig", "reapply", "recover", "temporary_config", "undo",
           "undo_in_file"]

FILE_NAME = "temporary.json"


@dataclass(frozen=True)
class Entry:
    node: Address
    param: str
    original: str
    temporary: str
    owner: Owner
    reason: str
    #: the node's config file, when redisops knows it (a node of the spec): mended line by line
    conf: str | None = None
    #: no known file: ``CONFIG REWRITE`` after restoring, as Sentinel may have written the temporary value there
    rewrite: bool = False

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "node": str(self.node)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Entry:
        owner = data["owner"]
        assert isinstance(owner, dict)
        conf = data.get("conf")
        return cls(Address.parse(str(data["node"])), str(data["param"]), str(data["original"]),
                   str(data["temporary"]), Owner(int(owner["pid"]), int(owner["started"])), str(data["reason"]),
                   None if conf is None else str(conf), bool(data.get("rewrite", False)))

    def __str__(self) -> str:
        return f"{self.param} {self.temporary} on {self.node} ({self.reason})"


class Journal:
    """The entries of one deployment (``.redisops/<name>/temporary.json``), or in memory only (``path=None``).

    Every change holds an exclusive ``flock`` on a sidecar lock file for its
    read-modify-write, so several redisops processes can share the journal.
    """

    def __init__(self, path: Path | None, confs: Mapping[Address, Path] | None = None) -> None:
        self.path = path
        #: the config files of the nodes this journal's owner knows (its spec's nodes)
        self.confs = dict(confs or {})
        self._memory: list[Entry] = []

    @classmethod
    def of_state_dir(cls, state_dir: Path, confs: Mapping[Address, Path] | None = None) -> Journal:
        return cls(state_dir / FILE_NAME, confs)

    @classmethod
    def for_remote(cls) -> Journal:
        """The per-user journal of operations on nodes no spec describes (``--sentinel`` / ``--cluster``)."""
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        return cls(base / "redisops" / FILE_NAME)

    def entries(self) -> list[Entry]:
        if self.path is not None and not self.path.exists():
            return []  # nothing journaled: and reading creates nothing (the state dir may not exist yet)
        with self._edit() as entries:
            return list(entries)

    def orphans(self) -> list[Entry]:
        """Entries whose owner is gone: nobody will put these values back but a recovery."""
        return [e for e in self.entries() if not e.owner.alive()]

    def add(self, entry: Entry, *, replacing: Entry | None = None) -> None:
        with self._edit() as entries:
            if replacing is not None and replacing in entries:
                entries.remove(replacing)
            entries.append(entry)

    def remove(self, entry: Entry) -> None:
        with self._edit() as entries:
            if entry in entries:
                entries.remove(entry)

    @contextlib.contextmanager
    def _edit(self) -> Iterator[list[Entry]]:
        if self.path is None:
            yield self._memory
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            lock = open(self.path.with_name(self.path.name + ".lock"), "a")  # closed by the with below
        except OSError as exc:
            raise StateDirError(str(self.path.parent), exc.strerror or str(exc)) from exc
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = self._read()
            before = list(entries)
            yield entries
            if entries != before:
                try:
                    write_private(self.path, json.dumps([e.to_dict() for e in entries], indent=1) + "\n")
                except OSError as exc:
                    raise StateDirError(str(self.path.parent), exc.strerror or str(exc)) from exc

    def _read(self) -> list[Entry]:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            return []  # a torn journal cannot be trusted; write_private renames, so this is a foreign edit
        return [Entry.from_dict(item) for item in data if isinstance(item, dict)]


@dataclass
class TemporaryConfig:
    """``CONFIG SET`` for a while on some nodes; :meth:`restore` puts every value back, in memory and file.

    ``rewrite``: for nodes whose file redisops does not know, ``CONFIG REWRITE``
    after restoring -- right where Sentinel reconfigures the nodes meanwhile
    (it rewrites their files then), needless elsewhere.
    """

    journal: Journal
    password: Credential
    reason: str
    rewrite: bool = False
    entries: list[Entry] = field(default_factory=list)

    def set(self, node: Address, param: str, value: str | int) -> str:
        """Set ``param`` to ``value`` on ``node`` until :meth:`restore`; return the value that comes back."""
        with connect(node, self.password) as client:
            current = _config_get(client, param)
            leftover = next((e for e in self.journal.orphans() if e.node == node and e.param == param), None)
            original = leftover.original if leftover is not None and current == leftover.temporary else current
            conf = self.journal.confs.get(node)
            entry = Entry(node, param, original, str(value), Owner.me(), self.reason,
                          None if conf is None else str(conf), self.rewrite and conf is None)
            self.journal.add(entry, replacing=leftover)
            self.entries.append(entry)
            client.config_set(param, value)
        return original

    def restore(self) -> list[str]:
        """Put every value back (latest first); entries that could not be restored stay in the journal."""
        problems = []
        for entry in reversed(self.entries):
            try:
                undo(entry, self.password)
            except redis.RedisError as exc:
                problems.append(f"could not put back {entry}: {exc}")
                continue
            self.journal.remove(entry)
        self.entries.clear()
        return problems


@contextlib.contextmanager
def temporary_config(journal: Journal | None, password: Credential, reason: str, *,
                     rewrite: bool = False) -> Iterator[TemporaryConfig]:
    """A :class:`TemporaryConfig` restored when the block ends, however it ends."""
    temp = TemporaryConfig(journal or Journal(None), password, reason, rewrite)
    try:
        yield temp
    finally:
        temp.restore()


def undo(entry: Entry, password: Credential) -> None:
    """Put ``entry``'s original back: into its config file, and into the node's memory if it runs.

    A value someone changed meanwhile is theirs and stays.  Raises the
    redis-py error when the node does not answer and its file is not ours to mend.
    """
    if entry.conf is not None:
        undo_in_file(entry, Path(entry.conf))
    try:
        with connect(entry.node, password) as client:
            if _config_get(client, entry.param) != entry.temporary:
                return
            client.config_set(entry.param, entry.original)
            if entry.rewrite:
                _rewrite(client)
    except redis.TimeoutError:
        raise  # alive but not answering (paused?): its memory still holds the value
    except redis.ConnectionError:
        if entry.conf is None:
            raise  # stopped, and its file not ours: whoever starts it again must be told
        # a stopped node of ours: the mended file is all it will read


def undo_in_file(entry: Entry, conf: Path) -> bool:
    """Put ``entry``'s original back into a node's config file; True if a line changed.

    Only lines that hold the temporary value change (Sentinel's ``CONFIG
    REWRITE`` writes ``replica-priority 0``, say); the rest of the file stays as it is.
    """
    try:
        lines = conf.read_text().splitlines()
    except OSError:
        return False
    changed = False
    for index, line in enumerate(lines):
        words = line.split()
        if len(words) == 2 and words[0].lower() == entry.param and words[1].strip('"') == entry.temporary:
            lines[index] = f"{entry.param} {entry.original}"
            changed = True
    if changed:
        write_private(conf, "\n".join(lines) + "\n", mode=conf.stat().st_mode & 0o777)
    return changed


def recover(journal: Journal, password: Credential) -> list[str]:
    """Undo what dead owners left (:func:`undo`); one sentence per entry, done or not."""
    done = []
    for entry in journal.orphans():
        try:
            undo(entry, password)
        except redis.RedisError as exc:
            done.append(f"could not undo {entry} left by a stopped redisops ({exc}); the next `redisops up` retries")
            continue
        journal.remove(entry)
        done.append(f"undid {entry}, left by a redisops that stopped before putting it back")
    return done


def reapply(journal: Journal, password: Credential, started: Iterable[Address]) -> list[str]:
    """A node restarted while a live operation holds a temporary setting on it gets that setting again."""
    addresses = set(started)
    done = []
    for entry in journal.entries():
        if entry.node in addresses and entry.owner.alive():
            with contextlib.suppress(redis.RedisError), connect(entry.node, password) as client:
                client.config_set(entry.param, entry.temporary)
                done.append(f"kept {entry} on the restarted node")
    return done


def _config_get(client: redis.Redis, param: str) -> str:
    return str(client.config_get(param).get(param, ""))


def _rewrite(client: redis.Redis) -> None:
    try:
        client.execute_command("CONFIG", "REWRITE")
    except redis.ResponseError as exc:
        if "without a config file" not in str(exc):
            raise
