"""Errors of the TLS material layer; each names the file it is about and how to fix it.

::

    InputError (redisops.errors)
    └── TlsMaterialError           .path: the file (or directory) concerned
        ├── UnreadableMaterialError    missing, not PEM, truncated, encrypted, or the wrong kind of PEM
        ├── ForeignMaterialError       a file redisops did not write where it would write one: never overwritten
        ├── InvalidMaterialError       .reason: material that reads fine but cannot work (key not the cert's,
        │                              not signed by the CA, expired, address missing from the SANs, ...)
        └── RotationStateError         a rotation step asked for out of order
"""

from __future__ import annotations

from pathlib import Path

from redisops.errors import InputError

__all__ = ["ForeignMaterialError", "InvalidMaterialError", "RotationStateError", "TlsMaterialError",
           "UnreadableMaterialError"]


class TlsMaterialError(InputError):
    """A certificate, key or CA file that cannot be used as it is."""

    def __init__(self, path: Path, message: str, *, hint: str | None = None) -> None:
        self.path = path
        super().__init__(message, hint=hint)


class UnreadableMaterialError(TlsMaterialError):
    pass


class ForeignMaterialError(TlsMaterialError):
    pass


class InvalidMaterialError(TlsMaterialError):
    def __init__(self, path: Path, reason: str, message: str, *, hint: str | None = None) -> None:
        self.reason = reason
        super().__init__(path, message, hint=hint)


class RotationStateError(TlsMaterialError):
    pass
