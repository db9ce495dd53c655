"""Building certificates: a CA and the leaf certificates it signs (EC P-256, SHA-256).

Why these choices:

- **EC P-256** keys: Redis 7.0 with OpenSSL 3 (Debian 12) serves and verifies them (the integration tests
  run replication and Sentinel over them), they are generated in well under a millisecond, and they meet
  OpenSSL's default security level 2 as RSA 2048 would.
- The CA has ``pathlen 0``: it signs leaf certificates only, never another CA.
- Every CA gets a random ``OU`` tag, so two generations of one deployment's CA (during a rotation both
  sit in the trust bundle) never share a subject name.
- A node certificate carries **serverAuth and clientAuth**: Redis presents the same certificate when it
  connects out (a replica to its master, a sentinel to the nodes, the cluster bus), and a peer that
  requires client certificates (``tls-auth-clients yes``) checks clientAuth.
- Validity starts a few minutes in the past, so a peer whose clock runs slightly behind accepts it.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from redisops.security.tls.pem import PrivateKey

__all__ = ["BACKDATE", "CA_DAYS", "LEAF_DAYS", "ORGANIZATION", "Usage", "ca_name", "new_ca", "new_key",
           "new_leaf"]

CA_DAYS = 3650
LEAF_DAYS = 365
#: how far before "now" a certificate becomes valid: covers peers whose clocks lag a little
BACKDATE = datetime.timedelta(minutes=5)
ORGANIZATION = "redisops"


@dataclass(frozen=True)
class Usage:
    """What a leaf certificate may be used for: a node serves and connects out; a client only connects."""

    server: bool
    client: bool

    def extended(self) -> x509.ExtendedKeyUsage:
        oids = ([ExtendedKeyUsageOID.SERVER_AUTH] if self.server else []) + \
               ([ExtendedKeyUsageOID.CLIENT_AUTH] if self.client else [])
        return x509.ExtendedKeyUsage(oids)


NODE = Usage(server=True, client=True)
CLIENT = Usage(server=False, client=True)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ca_name(deployment: str) -> str:
    return f"redisops CA {deployment}"


def new_ca(deployment: str, now: datetime.datetime, key: PrivateKey | None = None,
           days: int = CA_DAYS) -> tuple[x509.Certificate, PrivateKey]:
    """A self-signed CA for ``deployment`` (``key`` reused when given: a CA key whose certificate was lost)."""
    key = key or new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name(deployment)),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"ca {secrets.token_hex(4)}")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def _san(ips: Sequence[str], dns: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    entries += [x509.DNSName(name) for name in dns]
    return x509.SubjectAlternativeName(entries)


def new_leaf(ca_cert: x509.Certificate, ca_key: PrivateKey, common_name: str, usage: Usage, now: datetime.datetime,
             *, ips: Sequence[str] = (), dns: Sequence[str] = (), days: int = LEAF_DAYS,
             key: PrivateKey | None = None) -> tuple[x509.Certificate, PrivateKey]:
    """A certificate for ``common_name`` signed by the CA, with the addresses as SANs (a fresh key by default)."""
    key = key or new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)])
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - BACKDATE).not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=False, crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(usage.extended(), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False))
    if ips or dns:
        builder = builder.add_extension(_san(ips, dns), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key
