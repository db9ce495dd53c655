"""What a material directory holds, for a status table or the audit: every certificate, which CA
generation signed it, what is wrong with it.  Never raises for one bad file: its problem is reported
next to it, as status reports a node that does not answer."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from cryptography import x509

from redisops.runtime.tls_layout import Layout
from redisops.security.tls.check import CertInfo, bundle_info, cert_info
from redisops.security.tls.errors import TlsMaterialError
from redisops.security.tls.material import RENEW_WITHIN_DAYS, utcnow
from redisops.security.tls.pem import issued_by, key_matches, read_certs, read_key
from redisops.security.tls.rotation import RotationStep, rotation_step

__all__ = ["Entry", "Generation", "MaterialStatus", "material_status"]


class Generation(Enum):
    """Which of the directory's CAs signed a certificate."""

    CURRENT = "current"
    NEXT = "next"          # a rotation's new CA, not signing yet (nothing should carry it)
    PREVIOUS = "previous"  # the old CA during a rotation's step 2
    NONE = "none"          # none of them: not this directory's certificate


@dataclass(frozen=True)
class Entry:
    kind: str  # "node" or "client"
    name: str
    info: CertInfo | None
    signer: Generation
    problem: str | None  # unreadable, key mismatch, expired, expires soon, signed by no CA here


@dataclass(frozen=True)
class MaterialStatus:
    root: Path
    ca: CertInfo | None
    trusted: tuple[CertInfo, ...]  # the bundle: what nodes trust
    rotation: RotationStep | None
    entries: tuple[Entry, ...]
    problems: tuple[str, ...]      # every problem, one line each, the file named

    @property
    def ok(self) -> bool:
        return not self.problems


def _generations(layout: Layout) -> Iterator[tuple[Generation, x509.Certificate]]:
    for generation, path in ((Generation.CURRENT, layout.ca.cert), (Generation.NEXT, layout.next_ca.cert),
                             (Generation.PREVIOUS, layout.previous_ca)):
        if path.exists():
            try:
                yield generation, read_certs(path, "CA certificate")[0]
            except TlsMaterialError:
                continue


def _entry(kind: str, name: str, cert: Path, key: Path, cas: list[tuple[Generation, x509.Certificate]],
           renew: datetime.timedelta, now: datetime.datetime) -> Entry:
    try:
        info = cert_info(cert)
        leaf = read_certs(cert)[0]
        if not key_matches(leaf, read_key(key)):
            return Entry(kind, name, info, Generation.NONE, f"{key} is not the key of {cert}")
    except TlsMaterialError as exc:
        return Entry(kind, name, None, Generation.NONE, str(exc))
    signer = next((generation for generation, ca in cas if issued_by(leaf, ca)), Generation.NONE)
    problem = None
    if signer is Generation.NONE:
        problem = f"{cert} is signed by none of this directory's CAs"
    elif info.not_after <= now:
        problem = f"{cert} expired on {info.not_after:%Y-%m-%d}"
    elif info.not_after - now <= renew:
        problem = f"{cert} expires on {info.not_after:%Y-%m-%d}, within {renew.days} days"
    return Entry(kind, name, info, signer, problem)


def material_status(root: Path, *, renew_within_days: int = RENEW_WITHIN_DAYS,
                    now: datetime.datetime | None = None) -> MaterialStatus:
    now = now or utcnow()
    layout = Layout(root)
    problems: list[str] = []
    ca: CertInfo | None = None
    trusted: tuple[CertInfo, ...] = ()
    try:
        ca = cert_info(layout.ca.cert)
        trusted = bundle_info(layout.bundle)
        if ca.fingerprint not in {c.fingerprint for c in trusted}:
            problems.append(f"{layout.bundle} does not hold the current CA {layout.ca.cert}")
    except TlsMaterialError as exc:
        problems.append(str(exc))
    cas = list(_generations(layout))
    renew = datetime.timedelta(days=renew_within_days)
    entries = []
    for kind, directory in (("node", layout.nodes_dir), ("client", layout.clients_dir)):
        for cert in sorted(directory.glob("*.crt")) if directory.is_dir() else []:
            entry = _entry(kind, cert.stem, cert, cert.with_suffix(".key"), cas, renew, now)
            entries.append(entry)
            if entry.problem:
                problems.append(entry.problem)
    return MaterialStatus(root, ca, trusted, rotation_step(root), tuple(entries), tuple(problems))

