"""Where the material lives: one directory per deployment, mode 0700.

::

    <dir>/                      0700
      ca.crt  ca.key            the current CA (key 0600): signs every certificate below
      ca-bundle.crt             what every node and client trusts (tls-ca-cert-file): the current CA,
                                plus the other generation while a CA rotation is under way
      ca-next.crt  ca-next.key  a rotation's new CA, trusted but not yet signing (rotation step 1)
      ca-previous.crt           the old CA once the new one signs (rotation step 2), until step 3
      nodes/<node>.crt .key     one per data node and sentinel (serverAuth + clientAuth)
      clients/<name>.crt .key   client certificates (clientAuth): redisops itself, applications

Certificates are 0644, keys 0600, directories 0700; every file is written atomically
(temp file, fsync, rename).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from redisops.errors import UsageError

__all__ = ["Layout", "Pair"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def ca(self) -> Pair:
        return Pair(self.root / "ca.crt", self.root / "ca.key")

    @property
    def next_ca(self) -> Pair:
        return Pair(self.root / "ca-next.crt", self.root / "ca-next.key")

    @property
    def previous_ca(self) -> Path:
        return self.root / "ca-previous.crt"

    @property
    def bundle(self) -> Path:
        return self.root / "ca-bundle.crt"

    @property
    def nodes_dir(self) -> Path:
        return self.root / "nodes"

    @property
    def clients_dir(self) -> Path:
        return self.root / "clients"

    def node(self, name: str) -> Pair:
        return self._leaf(self.nodes_dir, name, "node")

    def client(self, name: str) -> Pair:
        return self._leaf(self.clients_dir, name, "client")

    @staticmethod
    def _leaf(directory: Path, name: str, what: str) -> Pair:
        if not _NAME.fullmatch(name):
            raise UsageError(f"{what} name {name!r} cannot name a certificate file",
                             hint="use letters, digits, '.', '-' and '_' (like mymaster-0)")
        return Pair(directory / f"{name}.crt", directory / f"{name}.key")
