"""Reading a certificate for status and audit, and checking material a user brings.

:func:`check_user_material` answers before any node starts what Redis would otherwise say
only in its log (or not at all, as a replica retrying a handshake forever): the key is not
the certificate's, the CA did not sign it, it has expired, it cannot serve as a client
certificate (which Redis needs for replication, the cluster bus and sentinels), or it does
not name the address peers use to reach the node.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from redisops.security.tls.errors import InvalidMaterialError
from redisops.security.tls.material import utcnow
from redisops.security.tls.pem import fingerprint, issued_by, key_matches, read_certs, read_key

__all__ = ["CertInfo", "bundle_info", "cert_info", "check_user_material"]


@dataclass(frozen=True)
class CertInfo:
    path: Path
    subject: str
    issuer: str
    sans: tuple[str, ...]  # "IP:127.0.0.1", "DNS:redis-0"
    not_before: datetime.datetime
    not_after: datetime.datetime
    fingerprint: str
    issuer_fingerprint: str | None  # of the CA in ``trust`` that signed it, when a bundle was given
    issuer_key_id: str | None       # authorityKeyIdentifier, hex: matches the CA's key_id
    key_id: str | None              # subjectKeyIdentifier, hex
    is_ca: bool
    server_auth: bool
    client_auth: bool

    def days_left(self, now: datetime.datetime | None = None) -> float:
        return (self.not_after - (now or utcnow())).total_seconds() / 86400


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _san_strings(cert: x509.Certificate) -> tuple[str, ...]:
    san = _ext(cert, x509.SubjectAlternativeName)
    if not isinstance(san, x509.SubjectAlternativeName):
        return ()
    return (*(f"IP:{ip}" for ip in san.get_values_for_type(x509.IPAddress)),
            *(f"DNS:{name}" for name in san.get_values_for_type(x509.DNSName)))


def _info(path: Path, cert: x509.Certificate, cas: Sequence[x509.Certificate]) -> CertInfo:
    aki, ski = _ext(cert, x509.AuthorityKeyIdentifier), _ext(cert, x509.SubjectKeyIdentifier)
    basic, eku = _ext(cert, x509.BasicConstraints), _ext(cert, x509.ExtendedKeyUsage)
    usages = set(eku) if isinstance(eku, x509.ExtendedKeyUsage) else None
    signer = next((ca for ca in cas if issued_by(cert, ca)), None)
    return CertInfo(
        path=path, subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
        sans=_san_strings(cert), not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        fingerprint=fingerprint(cert), issuer_fingerprint=fingerprint(signer) if signer is not None else None,
        issuer_key_id=aki.key_identifier.hex() if isinstance(aki, x509.AuthorityKeyIdentifier)
        and aki.key_identifier else None,
        key_id=ski.digest.hex() if isinstance(ski, x509.SubjectKeyIdentifier) else None,
        is_ca=bool(isinstance(basic, x509.BasicConstraints) and basic.ca),
        server_auth=usages is None or x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usages,
        client_auth=usages is None or x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in usages)


def cert_info(path: Path, trust: Path | None = None) -> CertInfo:
    """The first certificate of ``path``; ``issuer_fingerprint`` is filled when ``trust`` (a CA bundle) signed it."""
    cas = read_certs(trust, "CA bundle") if trust is not None else []
    return _info(path, read_certs(path)[0], cas)


def bundle_info(path: Path) -> tuple[CertInfo, ...]:
    """Every certificate of a CA bundle."""
    return tuple(_info(path, cert, []) for cert in read_certs(path, "CA bundle"))


def _chain_to(leaf: x509.Certificate, intermediates: list[x509.Certificate],
              cas: list[x509.Certificate]) -> x509.Certificate | None:
    """The CA of ``cas`` that signed ``leaf``, directly or through the intermediates that follow it in its file."""
    current = leaf
    for _ in range(len(intermediates) + 1):
        root = next((ca for ca in cas if issued_by(current, ca)), None)
        if root is not None:
            return root
        step = next((i for i in intermediates if issued_by(current, i)), None)
        if step is None:
            return None
        current = step
    return None


def _missing(info: CertInfo, addresses: Sequence[str]) -> list[str]:
    ips = {san[3:] for san in info.sans if san.startswith("IP:")}
    names = {san[4:].lower() for san in info.sans if san.startswith("DNS:")}
    missing = []
    for address in addresses:
        try:
            if str(ipaddress.ip_address(address)) not in {str(ipaddress.ip_address(ip)) for ip in ips}:
                missing.append(address)
        except ValueError:
            wanted = address.lower()
            wildcard = "*." + wanted.split(".", 1)[1] if "." in wanted else None
            if wanted not in names and (wildcard is None or wildcard not in names):
                missing.append(address)
    return missing


def check_user_material(ca: Path, cert: Path, key: Path, addresses: str | Sequence[str], *,
                        now: datetime.datetime | None = None,
                        usage: Sequence[str] = ("serverAuth", "clientAuth")) -> CertInfo:
    """Check a node's own certificate, key and CA file before Redis uses them; one error for the first problem.

    ``addresses``: the node's IPs and host names as peers and clients reach it (each must be in the SANs).
    ``cert`` may hold a chain (the node's certificate first, then intermediates); ``ca`` may be a bundle.
    ``usage``: the extendedKeyUsage it needs (a client certificate: ``("clientAuth",)``, no addresses).
    """
    now = now or utcnow()
    addresses = [addresses] if isinstance(addresses, str) else list(addresses)
    cas, chain, private = read_certs(ca, "CA certificate"), read_certs(cert), read_key(key)
    leaf = chain[0]
    info = _info(cert, leaf, cas)
    if not key_matches(leaf, private):
        raise InvalidMaterialError(key, "key-mismatch", f"{key} is not the private key of {cert}",
                                   hint="give the key the certificate was issued for (compare "
                                        "`openssl x509 -noout -pubkey -in CERT` with `openssl pkey -pubout -in KEY`)")
    if _chain_to(leaf, chain[1:], cas) is None:
        raise InvalidMaterialError(cert, "not-signed-by-ca", f"{cert} ({info.subject}) is not signed by a CA in {ca} "
                                                             f"(issuer: {info.issuer})",
                                   hint="give the CA that issued it as the CA file, or append the intermediate "
                                        "certificates to the certificate file")
    if info.not_after <= now:
        raise InvalidMaterialError(cert, "expired", f"{cert} expired on {info.not_after:%Y-%m-%d %H:%M} UTC",
                                   hint="renew it with your CA, or let redisops generate the material")
    if info.not_before > now:
        raise InvalidMaterialError(cert, "not-yet-valid", f"{cert} is valid only from "
                                                          f"{info.not_before:%Y-%m-%d %H:%M} UTC",
                                   hint="check this machine's clock, or wait until then")
    lacking = [name for name, ok in (("serverAuth", info.server_auth), ("clientAuth", info.client_auth))
               if not ok and name in usage]
    if lacking:
        why = ("Redis serves with it and presents it to its peers as a client (replication, cluster bus, sentinels)"
               if "serverAuth" in usage else "a client presents it to the nodes")
        raise InvalidMaterialError(cert, "usage", f"{cert} lacks extendedKeyUsage {' and '.join(lacking)}: {why}",
                                   hint=f"reissue it with {' and '.join(usage)}")
    missing = _missing(info, addresses)
    if missing:
        have = ", ".join(info.sans) or "none"
        raise InvalidMaterialError(cert, "address-missing", f"{cert} does not name {', '.join(missing)} in its "
                                                            f"subjectAltName (it has: {have})",
                                   hint="reissue it with every IP and host name the node is reached by")
    return info
