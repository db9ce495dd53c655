"""Reading and writing PEM files: one clear error naming the file for anything unreadable.

Nothing here puts key material in a message, a log line or a repr: errors say which
file is wrong and why, never what is in it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from redisops.errors import StateDirError
from redisops.security.tls.errors import UnreadableMaterialError
from redisops.spec.secrets import write_private

__all__ = ["PrivateKey", "fingerprint", "issued_by", "key_matches", "make_private_dir", "read_certs", "read_key",
           "write_certs", "write_key"]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey \
    | dsa.DSAPrivateKey

CERT_MODE = 0o644
KEY_MODE = 0o600
DIR_MODE = 0o700


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnreadableMaterialError(path, f"{what} {path} not found",
                                      hint="check the path, or let redisops generate the material") from None
    except OSError as exc:
        raise UnreadableMaterialError(path, f"{what} {path} is unreadable ({exc.strerror or type(exc).__name__})",
                                      hint="check its owner and mode") from exc
    if not data.strip():
        raise UnreadableMaterialError(path, f"{what} {path} is empty",
                                      hint="restore it, or move it away and let redisops generate the material")
    return data


def read_certs(path: Path, what: str = "certificate") -> list[x509.Certificate]:
    """Every certificate of a PEM file (a single certificate, a chain or a CA bundle), in file order."""
    data = _read(path, what)
    if b"PRIVATE KEY-----" in data and b"CERTIFICATE-----" not in data:
        raise UnreadableMaterialError(path, f"{what} {path} holds a private key, not a certificate",
                                      hint="give the certificate file (-----BEGIN CERTIFICATE-----) here")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise UnreadableMaterialError(
            path, f"{what} {path} is not a PEM certificate (truncated, DER or another format)",
            hint=f"convert it (`openssl x509 -in {path.name} -out {path.name}.pem`) or move it away "
                 "and let redisops generate one") from exc
    return certs


def read_key(path: Path, what: str = "private key") -> PrivateKey:
    data = _read(path, what)
    if b"-----BEGIN" in data and b"PRIVATE KEY-----" not in data:
        raise UnreadableMaterialError(path, f"{what} {path} holds no private key (a certificate?)",
                                      hint="give the key file (-----BEGIN ... PRIVATE KEY-----) here")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # encrypted, and no password given
        raise UnreadableMaterialError(path, f"{what} {path} is encrypted with a passphrase",
                                      hint=f"store it unencrypted with mode 0600: `openssl pkey -in {path.name} "
                                           f"-out {path.name}.plain`") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise UnreadableMaterialError(path, f"{what} {path} is not a PEM private key (truncated or another format)",
                                      hint="restore the file, or move it (and its certificate) away "
                                           "and let redisops generate new ones") from exc
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
                            ed448.Ed448PrivateKey, dsa.DSAPrivateKey)):
        raise UnreadableMaterialError(path, f"{what} {path} is a {type(key).__name__}, which TLS cannot use",
                                      hint="use an RSA or EC key")
    return key


def key_matches(cert: x509.Certificate, key: PrivateKey) -> bool:
    der, info = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(der, info) == cert.public_key().public_bytes(der, info)


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key signed ``cert`` (and names match), whatever the key type."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, as ``openssl x509 -fingerprint -sha256`` prints it (colon-separated hex)."""
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


@contextmanager
def _writing(directory: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StateDirError(str(directory), exc.strerror or type(exc).__name__) from exc


def make_private_dir(path: Path) -> None:
    with _writing(path):
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        if path.stat().st_mode & 0o777 != DIR_MODE:
            os.chmod(path, DIR_MODE)


def write_key(path: Path, key: PrivateKey) -> None:
    """PKCS#8, unencrypted (Redis reads it at start without a passphrase), mode 0600 from the first byte."""
    text = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")
    with _writing(path.parent):
        write_private(path, text, KEY_MODE)


def write_certs(path: Path, certs: list[x509.Certificate]) -> None:
    text = "".join(cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in certs)
    with _writing(path.parent):
        write_private(path, text, CERT_MODE)
        if path.stat().st_mode & 0o777 != CERT_MODE:  # a umask narrower than 022
            os.chmod(path, CERT_MODE)
