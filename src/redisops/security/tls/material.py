"""Create or reuse a deployment's CA and its node and client certificates, idempotently.

A call that finds valid material changes nothing (``written`` is False): ``up`` can call
it every time.  A certificate is reissued when it is missing, expires within the renew
window, names other addresses than the node has, or was signed by another generation of
this deployment's CA.  A file redisops cannot read, or a certificate it did not issue,
stops the call with an error naming the file: it is never overwritten.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from redisops.errors import UsageError
from redisops.runtime.tls_layout import Layout, Pair
from redisops.security.tls import issue
from redisops.security.tls.errors import ForeignMaterialError, InvalidMaterialError
from redisops.security.tls.pem import (
    PrivateKey,
    fingerprint,
    issued_by,
    key_matches,
    make_private_dir,
    read_certs,
    read_key,
    write_certs,
    write_key,
)

__all__ = ["RENEW_WITHIN_DAYS", "CaFiles", "CertFiles", "Material", "NodeIdentity", "ensure_ca", "ensure_client_cert",
           "ensure_material", "ensure_node_cert", "load_ca", "trusted_cas", "utcnow"]

#: the audit warns 30 days before expiry (RA018); renewing inside that window keeps it quiet
RENEW_WITHIN_DAYS = 30
_DNS = re.compile(r"(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}"
                  r"[A-Za-z0-9_])?)*")


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True)
class NodeIdentity:
    """A node's name (its file names) and the addresses peers and clients reach it by (its SANs)."""

    name: str
    ips: tuple[str, ...]
    dns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for label, value in (("ips", self.ips), ("dns", self.dns)):
            if isinstance(value, str):
                raise UsageError(f"node {self.name}: {label} must be a list, not one string",
                                 hint=f"{label}=({value!r},)")
        normal = []
        for ip in self.ips:
            try:
                normal.append(str(ipaddress.ip_address(ip)))  # ::0001 and ::1 are one address
            except ValueError:
                raise UsageError(f"node {self.name}: {ip!r} is not an IP address",
                                 hint="give host names as dns=..., IP addresses as ips=...") from None
        object.__setattr__(self, "ips", tuple(normal))
        object.__setattr__(self, "dns", tuple(self.dns))
        for name in self.dns:
            if not _DNS.fullmatch(name):
                raise UsageError(f"node {self.name}: {name!r} is not a DNS name",
                                 hint="use letters, digits, '-' and dots (a Compose service name such as redis-0)")


@dataclass(frozen=True)
class CaFiles:
    root: Path
    cert: Path
    key: Path
    bundle: Path
    fingerprint: str
    not_after: datetime.datetime
    created: bool = False


@dataclass(frozen=True)
class CertFiles:
    """What a node's config needs (``tls-cert-file``, ``tls-key-file``, ``tls-ca-cert-file`` = ``ca``)."""

    name: str
    cert: Path
    key: Path
    ca: Path
    not_after: datetime.datetime
    written: bool
    reason: str  # why it was (re)issued, or "valid" when kept


@dataclass(frozen=True)
class Material:
    ca: CaFiles
    nodes: dict[str, CertFiles] = field(default_factory=dict)
    clients: dict[str, CertFiles] = field(default_factory=dict)


def _one(path: Path, what: str) -> x509.Certificate:
    return read_certs(path, what)[0]


def load_ca(layout: Layout, pair: Pair | None = None) -> tuple[x509.Certificate, PrivateKey]:
    """A CA certificate and its key, checked to be a pair and a CA (not checked for expiry)."""
    pair = pair or layout.ca
    cert, key = _one(pair.cert, "CA certificate"), read_key(pair.key, "CA key")
    if not key_matches(cert, key):
        raise InvalidMaterialError(pair.key, "key-mismatch", f"{pair.key} is not the key of {pair.cert}",
                                   hint=f"restore the matching key, or move both away to create a new CA "
                                        f"(every node certificate in {layout.root} is then reissued)")
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise InvalidMaterialError(pair.cert, "not-a-ca", f"{pair.cert} is not a CA certificate (no CA:TRUE)",
                                   hint="put the CA's certificate there, not a node's")
    return cert, key


def trusted_cas(layout: Layout) -> list[x509.Certificate]:
    """The bundle's certificates (every CA generation nodes trust now); [] before the first CA."""
    return read_certs(layout.bundle, "CA bundle") if layout.bundle.exists() else []


def _ensure_bundle(layout: Layout, ca: x509.Certificate) -> None:
    if not layout.bundle.exists():
        write_certs(layout.bundle, [ca])
        return
    if fingerprint(ca) not in {fingerprint(c) for c in trusted_cas(layout)}:
        raise InvalidMaterialError(layout.bundle, "bundle-lacks-ca",
                                   f"{layout.bundle} does not hold the current CA {layout.ca.cert}: nodes would "
                                   f"not trust their own certificates",
                                   hint=f"move {layout.bundle.name} away and run again: it is rebuilt from "
                                        f"{layout.ca.cert.name}")


def _create_ca(layout: Layout, deployment: str, now: datetime.datetime) -> None:
    pair = layout.ca
    if pair.cert.exists():
        raise ForeignMaterialError(pair.key, f"CA certificate {pair.cert} has no key {pair.key}",
                                   hint="restore ca.key; for a CA whose key you keep elsewhere, bring your own node "
                                        "certificates (check them with check_user_material)")
    key = read_key(pair.key, "CA key") if pair.key.exists() else None  # a key whose certificate was lost
    kept = [ca for ca in trusted_cas(layout) if key is not None and key_matches(ca, key)]
    if key is not None and kept:  # the bundle still has it: the same CA, node certificates stay valid
        write_certs(pair.cert, kept[:1])
        return
    cert, key = issue.new_ca(deployment, now, key=key)
    write_key(pair.key, key)
    write_certs(pair.cert, [cert])


def ensure_ca(root: Path, deployment: str, *, now: datetime.datetime | None = None,
              allow_expired: bool = False) -> CaFiles:
    """The deployment's CA in ``root`` (created if missing, else reused), and the trust bundle.

    An expired CA is an error, unless ``allow_expired`` (what a rotation away from it needs).
    """
    now = now or utcnow()
    layout = Layout(root)
    make_private_dir(root)
    created = not (layout.ca.cert.exists() and layout.ca.key.exists())
    if created:
        _create_ca(layout, deployment, now)
    cert, _ = load_ca(layout)
    if cert.not_valid_after_utc <= now and not allow_expired:
        raise InvalidMaterialError(layout.ca.cert, "expired",
                                   f"CA certificate {layout.ca.cert} expired on {cert.not_valid_after_utc:%Y-%m-%d}",
                                   hint="rotate to a new CA (rotate with new_ca=True, see docs/tls.md)")
    _ensure_bundle(layout, cert)
    return CaFiles(root, layout.ca.cert, layout.ca.key, layout.bundle, fingerprint(cert), cert.not_valid_after_utc,
                   created)


def _sans(cert: x509.Certificate) -> tuple[frozenset[str], frozenset[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return frozenset(), frozenset()
    ips = frozenset(str(ip) for ip in ext.get_values_for_type(x509.IPAddress))
    return ips, frozenset(name.lower() for name in ext.get_values_for_type(x509.DNSName))


def _usage(cert: x509.Certificate) -> issue.Usage:
    try:
        oids = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return issue.Usage(server=True, client=True)
    return issue.Usage(server=x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in oids,
                       client=x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in oids)


@dataclass(frozen=True)
class _Want:
    name: str
    usage: issue.Usage
    ips: tuple[str, ...]
    dns: tuple[str, ...]


def _reissue_reason(layout: Layout, pair: Pair, want: _Want, ca: x509.Certificate, renew: datetime.timedelta,
                    now: datetime.datetime, force: bool) -> str | None:
    if not pair.cert.exists():
        return "new"
    cert = _one(pair.cert, "certificate")
    generations = trusted_cas(layout) + ([_one(layout.previous_ca, "CA certificate")]
                                         if layout.previous_ca.exists() else [])
    if not any(issued_by(cert, generation) for generation in [ca, *generations]):
        raise ForeignMaterialError(pair.cert, f"{pair.cert} was not issued by this deployment's CA "
                                              f"({layout.ca.cert}); redisops does not overwrite it",
                                   hint="move it and its key away to let redisops issue one, or use your own "
                                        "material (check it with check_user_material)")
    if not pair.key.exists():
        return "key missing"
    if not key_matches(cert, read_key(pair.key)):  # a half-written earlier issue: ours either way
        return "key does not match the certificate"
    if not issued_by(cert, ca):
        return "signed by another CA generation"
    if _sans(cert) != (frozenset(want.ips), frozenset(d.lower() for d in want.dns)):
        return "addresses changed"
    if _usage(cert) != want.usage:
        return "usage changed"
    if cert.not_valid_after_utc - now <= renew:
        return f"expires within {renew.days} days"
    return "rotation" if force else None


def _ensure_leaf(ca: CaFiles, pair: Pair, want: _Want, *, renew_within_days: int, now: datetime.datetime | None,
                 force: bool = False) -> CertFiles:
    now = now or utcnow()
    layout = Layout(ca.root)
    make_private_dir(pair.cert.parent)
    ca_cert, ca_key = load_ca(layout)
    reason = _reissue_reason(layout, pair, want, ca_cert, datetime.timedelta(days=renew_within_days), now, force)
    if reason is None:
        kept = _one(pair.cert, "certificate")
        return CertFiles(want.name, pair.cert, pair.key, layout.bundle, kept.not_valid_after_utc, False, "valid")
    lone_key = read_key(pair.key) if reason == "new" and pair.key.exists() else None
    cert, key = issue.new_leaf(ca_cert, ca_key, want.name, want.usage, now, ips=want.ips, dns=want.dns,
                               key=lone_key)
    if lone_key is None:
        write_key(pair.key, key)
    write_certs(pair.cert, [cert])
    return CertFiles(want.name, pair.cert, pair.key, layout.bundle, cert.not_valid_after_utc, True, reason)


def ensure_node_cert(ca: CaFiles, node: NodeIdentity, *, renew_within_days: int = RENEW_WITHIN_DAYS,
                     now: datetime.datetime | None = None, force: bool = False) -> CertFiles:
    """``nodes/<name>.crt`` and ``.key`` for a data node or sentinel: SANs = its IPs and DNS names."""
    want = _Want(node.name, issue.NODE, tuple(node.ips), tuple(node.dns))
    return _ensure_leaf(ca, Layout(ca.root).node(node.name), want, renew_within_days=renew_within_days, now=now,
                        force=force)


def ensure_client_cert(ca: CaFiles, name: str = "redisops", *, renew_within_days: int = RENEW_WITHIN_DAYS,
                       now: datetime.datetime | None = None, force: bool = False) -> CertFiles:
    """``clients/<name>.crt`` and ``.key``: a client certificate (clientAuth only) for redisops or an app."""
    want = _Want(name, issue.CLIENT, (), ())
    return _ensure_leaf(ca, Layout(ca.root).client(name), want, renew_within_days=renew_within_days, now=now,
                        force=force)


def ensure_material(root: Path, deployment: str, nodes: Sequence[NodeIdentity], clients: Sequence[str] = ("redisops",),
                    *, renew_within_days: int = RENEW_WITHIN_DAYS, now: datetime.datetime | None = None,
                    force: bool = False) -> Material:
    """The CA, every node's certificate and every client's, in one call (what ``up`` needs before starting)."""
    now = now or utcnow()
    clients = (clients,) if isinstance(clients, str) else tuple(clients)
    names = [node.name for node in nodes]
    if len(set(names)) != len(names):
        raise UsageError("two nodes share a name: " + ", ".join(sorted({n for n in names if names.count(n) > 1})),
                         hint="give every node its own name")
    ca = ensure_ca(root, deployment, now=now)
    done_nodes = {node.name: ensure_node_cert(ca, node, renew_within_days=renew_within_days, now=now, force=force)
                  for node in nodes}
    done_clients = {name: ensure_client_cert(ca, name, renew_within_days=renew_within_days, now=now, force=force)
                    for name in clients}
    return Material(ca, done_nodes, done_clients)
