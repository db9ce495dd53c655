"""Certificate rotation, with or without a new CA, without a moment where two nodes distrust each other.

Without a new CA (``rotate(..., new_ca=False)``) every certificate is reissued by the same CA:
restart the nodes one by one and each presents its new certificate, which every peer already
trusts.

A new CA takes three steps, each followed by restarting every node one by one (each step's
result says so in ``next_step``).  Redis reads its certificates and its trust bundle only at
start (or on ``CONFIG SET tls-...``), and with ``tls-auth-clients yes`` both ends of every link
verify the other, so a node may present a certificate of the new CA only once *every* peer
already trusts that CA:

1. ``rotate(new_ca=True)`` makes the new CA (``ca-next.*``) and writes the bundle *old + new*;
   certificates are unchanged.  Roll: every node now trusts both.
2. ``rotate(new_ca=True)`` again promotes the new CA (the old one kept as ``ca-previous.crt``)
   and reissues every certificate with it.  Roll: each node presents its new certificate; the
   ones not yet restarted still present the old one; both are trusted everywhere.
3. ``finish_rotation()`` drops the old CA from the bundle (it refuses while any certificate is
   still the old CA's).  Roll: the old CA is trusted nowhere.

Each call can be repeated (after a crash or Ctrl-C it completes its own step); a step's files
are written before the step counts as done, so the state always reads back from the directory.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from cryptography import x509

from redisops.runtime.tls_layout import Layout
from redisops.security.tls import issue
from redisops.security.tls.errors import RotationStateError
from redisops.security.tls.material import (
    CaFiles,
    CertFiles,
    NodeIdentity,
    ensure_ca,
    ensure_material,
    load_ca,
    trusted_cas,
    utcnow,
)
from redisops.security.tls.pem import fingerprint, issued_by, read_certs, write_certs, write_key

__all__ = ["Rotation", "RotationStep", "finish_rotation", "rotate", "rotation_step"]

_ROLL = "restart every node one by one"


class RotationStep(Enum):
    RENEWED = "renewed"    # certificates reissued by the same CA
    TRUSTED = "trusted"    # new CA made and trusted next to the old one (step 1)
    ISSUED = "issued"      # certificates reissued by the new CA, the old one still trusted (step 2)
    FINISHED = "finished"  # the old CA dropped from the bundle (step 3)


@dataclass(frozen=True)
class Rotation:
    step: RotationStep
    ca: CaFiles
    next_step: str
    nodes: dict[str, CertFiles] = field(default_factory=dict)
    clients: dict[str, CertFiles] = field(default_factory=dict)


def rotation_step(root: Path) -> RotationStep | None:
    """Where a CA rotation stands, read from the files: TRUSTED, ISSUED, or None when none is under way."""
    layout = Layout(root)
    if layout.next_ca.cert.exists():
        return RotationStep.TRUSTED
    return RotationStep.ISSUED if layout.previous_ca.exists() else None


def rotate(root: Path, deployment: str, nodes: Sequence[NodeIdentity], *, new_ca: bool = False,
           clients: Sequence[str] = ("redisops",), now: datetime.datetime | None = None) -> Rotation:
    """Reissue every certificate (``new_ca=False``), or take the next step of a CA rotation (``new_ca=True``)."""
    now = now or utcnow()
    layout = Layout(root)
    if not new_ca:
        done = ensure_material(root, deployment, nodes, clients, now=now, force=True)
        return Rotation(RotationStep.RENEWED, done.ca, f"{_ROLL}: each loads its new certificate at start",
                        done.nodes, done.clients)
    step = rotation_step(root)
    if step is None:
        return _trust_new_ca(layout, deployment, now)
    if step is RotationStep.TRUSTED:
        if not _bundle_holds(layout, read_certs(layout.next_ca.cert, "CA certificate")[0]):
            return _trust_new_ca(layout, deployment, now)  # step 1 was cut short before its bundle
        _promote(layout)
    done = ensure_material(root, deployment, nodes, clients, now=now)  # reissues what the old CA signed
    return Rotation(RotationStep.ISSUED, done.ca,
                    f"{_ROLL} (each presents its new certificate, trusted by every peer), then drop the old CA "
                    f"with finish_rotation and restart every node again", done.nodes, done.clients)


def _bundle_holds(layout: Layout, cert: x509.Certificate) -> bool:
    return any(fingerprint(c) == fingerprint(cert) for c in trusted_cas(layout))


def _trust_new_ca(layout: Layout, deployment: str, now: datetime.datetime) -> Rotation:
    current = ensure_ca(layout.root, deployment, now=now, allow_expired=True)  # rotating away from it
    pair = layout.next_ca
    if pair.cert.exists():
        new_cert = read_certs(pair.cert, "CA certificate")[0]
    else:
        new_cert, new_key = issue.new_ca(deployment, now)
        write_key(pair.key, new_key)
        write_certs(pair.cert, [new_cert])
    old_cert, _ = load_ca(layout)
    write_certs(layout.bundle, [new_cert, old_cert])
    return Rotation(RotationStep.TRUSTED, current,
                    f"{_ROLL} (each then trusts the old and the new CA), then run the rotation with a new CA "
                    f"again to reissue the certificates")


def _promote(layout: Layout) -> None:
    """ca-next becomes ca, the old ca becomes ca-previous; safe to repeat after a crash half way."""
    new_cert, new_key = load_ca(layout, layout.next_ca)
    current = read_certs(layout.ca.cert, "CA certificate")[0]
    if fingerprint(current) != fingerprint(new_cert):
        write_certs(layout.previous_ca, [current])
    write_key(layout.ca.key, new_key)
    write_certs(layout.ca.cert, [new_cert])
    layout.next_ca.cert.unlink()
    layout.next_ca.key.unlink(missing_ok=True)


def finish_rotation(root: Path, deployment: str, *, now: datetime.datetime | None = None) -> Rotation:
    """Step 3: trust only the current CA; refused while a certificate is still signed by another."""
    layout = Layout(root)
    if rotation_step(root) is RotationStep.TRUSTED:
        raise RotationStateError(layout.next_ca.cert, "the new CA does not sign any certificate yet",
                                 hint="run the rotation with a new CA again (step 2) and restart every node first")
    ca_cert, _ = load_ca(layout)
    for directory in (layout.nodes_dir, layout.clients_dir):
        for path in sorted(directory.glob("*.crt")) if directory.is_dir() else []:
            if not issued_by(read_certs(path)[0], ca_cert):
                raise RotationStateError(path, f"{path} is still signed by the old CA; dropping it would cut "
                                               "that node off", hint="reissue it: run the rotation with a new CA "
                                                                     "again, restart the nodes, then finish")
    write_certs(layout.bundle, [ca_cert])
    layout.previous_ca.unlink(missing_ok=True)
    ca = ensure_ca(root, deployment, now=now)
    return Rotation(RotationStep.FINISHED, ca, f"{_ROLL}: each then trusts the new CA only")

