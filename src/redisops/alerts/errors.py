"""Delivery failures, as branches of the one tree in :mod:`redisops.errors`.

::

    RedisopsError
    ├── InputError
    │   └── ChannelConfigError     .channel, .reason: a channel cannot be built (missing env var or file)
    └── DeliveryError              .channel, .reason, .retryable: one attempt to deliver failed

``reason`` is safe to print: it never holds a token, a webhook path or a
password (URLs are reduced to their host before they reach an error).
"""

from __future__ import annotations

from redisops.errors import InputError, RedisopsError

__all__ = ["ChannelConfigError", "DeliveryError"]


class ChannelConfigError(InputError):
    """The spec names a secret that is not there, or a value that cannot work; fixing config helps."""

    def __init__(self, channel: str, reason: str, *, hint: str | None = None) -> None:
        self.channel = channel
        self.reason = reason
        super().__init__(f"alert channel {channel}: {reason}", hint=hint)


class DeliveryError(RedisopsError):
    """One attempt failed. ``retryable`` says whether trying again can help (timeouts, 5xx, 429)
    or not (401, 404, a refused SMTP login): the dispatcher retries only the former."""

    def __init__(self, channel: str, reason: str, *, retryable: bool) -> None:
        self.channel = channel
        self.reason = reason
        self.retryable = retryable
        super().__init__(f"alert channel {channel}: {reason}")
