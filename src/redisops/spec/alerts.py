"""Alert channels (Slack, Telegram, email, webhook, Alertmanager) and delivery settings.

Secrets (webhook URLs, bot tokens, passwords) never sit in the spec: each has an
``*_env`` (environment variable) or ``*_file`` (path, relative to the spec file)
field instead, and an inline ``webhook_url`` / ``bot_token`` / ``password`` is
rejected with the field to use.  Channels are a list discriminated by ``type``;
every problem is reported with its path (``alerts.channels[1].chat_id``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidatorFunctionWrapHandler, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from redisops.spec.base import SpecModel

__all__ = [
    "AlertmanagerChannel",
    "AlertsSpec",
    "AnyChannel",
    "EmailChannel",
    "RetrySpec",
    "SlackChannel",
    "TelegramChannel",
    "WebhookChannel",
]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"

# Keys people write when they paste a secret into the spec, and the field that replaces each.
_INLINE_SECRETS = {
    "webhook_url": "webhook_url_env or webhook_url_file",
    "bot_token": "bot_token_env or bot_token_file",
    "token": "bot_token_env or bot_token_file",
    "password": "password_env",
    "secret": "secret_env",
    "api_key": "an *_env field",
}


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; put secrets in an environment variable (*_env)")
    return url.rstrip("/")


class _Channel(SpecModel):
    name: str | None = Field(default=None, pattern=_NAME, description="default: the channel type")
    rate_limit_per_minute: int = Field(
        default=20, ge=1, le=600,
        description="a failover produces 1-3 messages; 20/min lets a burst of real incidents through "
                    "while a flapping node cannot flood the channel (Slack allows about 1 message/s per webhook)",
    )

    @property
    def label(self) -> str:
        """The channel's name in messages, metrics and ``--channel``."""
        return self.name or str(getattr(self, "type"))  # noqa: B009 - every subclass defines ``type``


def _one_of(env: str | None, file: str | None, secret: str) -> None:
    """A secret comes from exactly one place: an environment variable or a file."""
    if (env is None) == (file is None):
        raise ValueError(f"give exactly one of {secret}_env or {secret}_file")


class SlackChannel(_Channel):
    """A Slack incoming webhook; its URL is the secret."""

    type: Literal["slack"]
    webhook_url_env: str | None = Field(default=None, pattern=_ENV)
    webhook_url_file: str | None = None

    @model_validator(mode="after")
    def _source(self) -> SlackChannel:
        _one_of(self.webhook_url_env, self.webhook_url_file, "webhook_url")
        return self


class TelegramChannel(_Channel):
    """Telegram Bot API ``sendMessage``; ``api_base`` lets tests and proxies stand in for Telegram."""

    type: Literal["telegram"]
    bot_token_env: str | None = Field(default=None, pattern=_ENV)
    bot_token_file: str | None = None
    chat_id: str = Field(description="numeric id (groups start with -100) or @channelname")
    api_base: str = "https://api.telegram.org"
    parse_mode: Literal["HTML", "MarkdownV2", "none"] = Field(
        default="HTML", description="HTML needs only <, > and & escaped, so timelines stay readable")

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat_id(cls, value: Any) -> Any:
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(text, str) and not (text.lstrip("-").isdigit() or (text.startswith("@") and len(text) > 1)):
            raise ValueError("must be a numeric chat id (e.g. \"-100123\") or @channelname")
        return text

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, url: str) -> str:
        return _http_url(url)

    @model_validator(mode="after")
    def _source(self) -> TelegramChannel:
        _one_of(self.bot_token_env, self.bot_token_file, "bot_token")
        return self


class EmailChannel(_Channel):
    """Email over SMTP: plain, STARTTLS (``starttls``, port 587) or implicit TLS (``tls``, port 465)."""

    type: Literal["email"]
    smtp: str = Field(description='"host:port"; the port defaults to 465 with tls, 587 with starttls, else 25')
    starttls: bool = False
    tls: bool = False
    ca_file: str | None = Field(default=None, description="PEM CA bundle to trust (a relay with a private CA); "
                                "default: the system's CAs. Relative to the spec file")
    username_env: str | None = Field(default=None, pattern=_ENV)
    password_env: str | None = Field(default=None, pattern=_ENV)
    sender: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="SMTP servers greet slowly; 10 s is typical")

    @field_validator("smtp")
    @classmethod
    def _smtp(cls, value: str) -> str:
        host, _, port = value.rpartition(":") if ":" in value else (value, "", "")
        if not host or (port and not (port.isdigit() and 0 < int(port) < 65536)):
            raise ValueError("must be host:port, e.g. smtp.example.com:587")
        return value

    @model_validator(mode="after")
    def _modes(self) -> EmailChannel:
        if self.starttls and self.tls:
            raise ValueError("choose starttls (port 587) or tls (port 465), not both")
        if self.ca_file is not None and not (self.starttls or self.tls):
            raise ValueError("ca_file only applies with starttls or tls")
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("give both username_env and password_env for SMTP AUTH, or neither")
        return self

    @property
    def host(self) -> str:
        return self.smtp.rpartition(":")[0] if ":" in self.smtp else self.smtp

    @property
    def port(self) -> int:
        if ":" in self.smtp:
            return int(self.smtp.rpartition(":")[2])
        return 465 if self.tls else (587 if self.starttls else 25)


class WebhookChannel(_Channel):
    """A generic JSON webhook; with ``secret_env`` each body is signed (HMAC-SHA256, ``X-Redisops-Signature``)."""

    type: Literal["webhook"]
    url: str
    secret_env: str | None = Field(default=None, pattern=_ENV)

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _http_url(url)


class AlertmanagerChannel(_Channel):
    """Prometheus Alertmanager (``POST {url}/api/v2/alerts``): its routing, grouping and silences apply."""

    type: Literal["alertmanager"]
    url: str = Field(description="e.g. http://127.0.0.1:9093")
    labels: dict[str, str] = Field(default_factory=dict, description="added to every alert, e.g. {env: prod}")

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _http_url(url)

    @field_validator("labels")
    @classmethod
    def _label_names(cls, labels: dict[str, str]) -> dict[str, str]:
        bad = [k for k in labels if not k.replace("_", "a").isalnum() or k[:1].isdigit() or k.startswith("__")]
        if bad:
            raise ValueError(f"invalid Prometheus label names: {', '.join(bad)}")
        return labels


AnyChannel = Annotated[
    SlackChannel | TelegramChannel | EmailChannel | WebhookChannel | AlertmanagerChannel,
    Field(discriminator="type"),
]
_TYPES = ("slack", "telegram", "email", "webhook", "alertmanager")
_MODELS: dict[str, type[_Channel]] = {
    "slack": SlackChannel, "telegram": TelegramChannel, "email": EmailChannel,
    "webhook": WebhookChannel, "alertmanager": AlertmanagerChannel,
}


class RetrySpec(SpecModel):
    """How a failed delivery is retried before it waits in the outbox for the next start."""

    max_attempts: int = Field(
        default=10, ge=1, le=100,
        description="with 0.5 s doubling to 30 s this spans about 3 minutes: long enough to ride out an "
                    "endpoint restart; after that the delivery stays in the outbox until the next start")
    backoff_base_s: float = Field(
        default=0.5, gt=0, le=60,
        description="first retry after 0.5 s, so a blip of the endpoint delays an alert by about a second")
    backoff_max_s: float = Field(
        default=30.0, gt=0, le=3600,
        description="never wait longer than this between attempts, so a recovered endpoint is used within 30 s")
    timeout_s: float = Field(
        default=5.0, gt=0, le=60,
        description="per HTTP request; each channel has its own worker, so a slow one never delays the others")


class AlertsSpec(SpecModel):
    """Alert channels (Slack, Telegram, email, webhook, Alertmanager) and delivery settings."""

    channels: list[AnyChannel] = Field(default_factory=list)
    outbox_dir: str = Field(
        default=".redisops/outbox",
        description="relative to the spec file; pending deliveries wait here (0600 JSON) across restarts")
    outbox_max_age_s: float = Field(
        default=86400.0, gt=0,
        description="a delivery older than this (a day) is dropped at start-up: stale pages confuse on-call")
    retry: RetrySpec = Field(default_factory=RetrySpec)

    @model_validator(mode="wrap")
    @classmethod
    def _with_paths(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Validate, then report every problem at ``channels[i].field`` (pydantic adds the union
        tag to the path; we drop it) with messages that name the field to use instead."""
        raw = data.get("channels") if isinstance(data, dict) else None
        channels = raw if isinstance(raw, list) else []
        inline = _inline_secret_problems(channels)
        try:
            spec = handler(data)
        except ValidationError as exc:
            types = [c.get("type") if isinstance(c, dict) else None for c in channels]
            raise _relocated(cls.__name__, exc, inline, types) from None
        problems = inline + list(_duplicate_names(spec.channels))
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return spec

    def channel(self, name: str) -> AnyChannel:
        for channel in self.channels:
            if channel.label == name:
                return channel
        known = ", ".join(c.label for c in self.channels) or "none"
        raise KeyError(f"no alert channel {name!r} (channels: {known})")


def _error(loc: tuple[Any, ...], kind: str, message: str, given: Any = None) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=given)


def _inline_secret_problems(channels: list[Any]) -> list[InitErrorDetails]:
    out = []
    for index, raw in enumerate(channels):
        for key in raw if isinstance(raw, dict) else ():
            if key in _INLINE_SECRETS and not (key == "secret" and raw.get("type") != "webhook"):
                use = _INLINE_SECRETS[key]
                out.append(_error(("channels", index, key), "inline_secret",
                                  f"secrets must not be written in the spec; use {use} instead"))
    return out


def _relocated(title: str, exc: ValidationError, inline: list[InitErrorDetails],
               types: list[Any]) -> ValidationError:
    taken = {tuple(e["loc"]) for e in inline}
    out = list(inline)
    for error in exc.errors():
        loc = tuple(error["loc"])
        if len(loc) >= 3 and loc[0] == "channels" and loc[2] in _MODELS:
            loc = loc[:2] + loc[3:]
        if loc in taken:
            continue
        out.append(_rewrite(loc, error, types))
    return ValidationError.from_exception_data(title, out)


def _rewrite(loc: tuple[Any, ...], error: Any, types: list[Any]) -> InitErrorDetails:
    kind = str(error["type"])
    if kind == "union_tag_invalid":
        return _error(loc, "channel_type", f"unknown channel type {error['input'].get('type')!r} "
                                           f"(known: {', '.join(_TYPES)})")
    if kind == "union_tag_not_found":
        return _error(loc, "channel_type", f"missing `type` (one of: {', '.join(_TYPES)})")
    if kind == "extra_forbidden":  # never echo the value: it may be a pasted secret
        return _error(loc, "unknown_key", "unknown key" + _known_keys(loc, types))
    message = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    return _error(loc, kind, message, given if isinstance(given, (int, float, str)) else None)


def _known_keys(loc: tuple[Any, ...], types: list[Any]) -> str:
    fields = _fields_of(loc, types)
    return f" (known keys: {', '.join(sorted(fields))})" if fields else ""


def _fields_of(loc: tuple[Any, ...], types: list[Any]) -> list[str]:
    if len(loc) == 3 and loc[0] == "channels" and isinstance(loc[1], int) and loc[1] < len(types):
        model = _MODELS.get(str(types[loc[1]]))
        return [f.alias or name for name, f in model.model_fields.items()] if model else []
    if len(loc) == 2 and loc[0] == "retry":
        return list(RetrySpec.model_fields)
    if len(loc) == 1:
        return list(AlertsSpec.model_fields)
    return []


def _duplicate_names(channels: list[AnyChannel]) -> list[InitErrorDetails]:
    seen: dict[str, int] = {}
    out = []
    for index, channel in enumerate(channels):
        if channel.label in seen:
            out.append(_error(("channels", index, "name"), "duplicate_channel",
                              f"another channel (channels[{seen[channel.label]}]) is already named "
                              f"{channel.label!r}; give each a distinct `name`"))
        seen.setdefault(channel.label, index)
    return out

