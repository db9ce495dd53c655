"""The exporter user's password: generated once into the secrets file, beside the others.

It is a key of its own (``exporter_password``) in ``redisops.secrets.yaml``, so
the file stays the one place that holds passwords (mode 0600, never printed),
and :func:`redisops.spec.secrets.load_secrets`, which reads only the keys it
knows, is unaffected.  The line is appended, keeping the file's text as it is.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import yaml

from redisops.errors import SecretsError
from redisops.spec.secrets import write_private

__all__ = ["KEY", "exporter_password", "stored_secret"]

KEY = "exporter_password"


def exporter_password(secrets_file: Path, *, create: bool = True) -> str:
    """The password from the secrets file, generated (256 bits, URL-safe) and stored there when missing;
    ``create=False`` (readers such as ``monitor status``): ``""`` when missing, the file untouched."""
    return stored_secret(secrets_file, KEY, create=create)


def stored_secret(secrets_file: Path, key: str, *, create: bool = True) -> str:
    """The secret ``key`` of the secrets file, generated and appended when missing (see :func:`exporter_password`);
    Grafana's admin password of a Compose project is another."""
    try:
        text = secrets_file.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise SecretsError(f"secrets file {secrets_file} is unreadable ({type(exc).__name__})") from exc
    value = data.get(key) if isinstance(data, dict) else None
    if isinstance(value, str) and value and not any(ch.isspace() or ch in "\"'" for ch in value):
        return value
    if value is not None:
        raise SecretsError(f"secrets file {secrets_file}: {key} is not a plain password",
                           hint=f"delete the {key} line: redisops generates a new one")
    if not create:
        return ""
    value = secrets.token_urlsafe(32)
    write_private(secrets_file, text + ("" if text.endswith("\n") or not text else "\n") + f"{key}: {value}\n")
    return value
