"""Loki and promtail configs for the Compose project: every node's log in Loki, labelled by node, role and level.

In a rendered Compose project each node logs to stdout (``logfile ""``), so its lines sit in Docker's
json-file log of the container.  promtail finds those containers through the Docker API
(``docker_sd_configs`` on the read-only socket), keeps only the ones labelled
``io.redisops.deployment=<deployment>``, and ships each line to Loki with these labels:

- from the container (every line): ``node`` (``io.redisops.node``), ``kind`` (``io.redisops.kind``:
  redis, sentinel or cluster), ``service`` (``com.docker.compose.service``) and ``deployment``;
- from the line itself, when it has the ``pid:role DD Mon YYYY HH:MM:SS.mmm level message`` prefix
  (``serverLogRaw``'s format since Redis 3.0): ``role`` (master, replica, sentinel, child) and ``level``
  (debug, verbose, notice, warning), and the line's own time as its timestamp.

Lines without that prefix (the ASCII-art logo, warnings printed before logging is set up, crash-report
lines) are not dropped: the regex stage extracts nothing from them, so the ``template`` stages render an
empty string, which promtail's template stage turns into "no such key" (it deletes the key), the
``labels`` stage then sets nothing, and the ``timestamp`` stage (``action_on_failure: skip``) keeps the
time Docker recorded.  They reach Loki with the container labels only.

The role and level names are generated from :data:`ROLE_NAMES` / :data:`LEVEL_NAMES` (the log scanner's own
tables), one ``{{ if eq .Value "M" }}master{{ else if ... }}{{ end }}`` chain each; the chain has no
``else`` branch, so a character the tables do not know yields no label rather than a wrong one.

Redis writes its local time without a zone; containers run in UTC unless ``TZ`` is set, and promtail reads
a layout without a zone as UTC, so the two agree by default (set ``location`` in the timestamp stage if
the containers get another ``TZ``).

Versions: promtail reached end of life in March 2026 (Grafana Alloy replaces it) and its last line of
images is 3.6.x, so Loki is pinned to the same minor; the configs use only keys that Loki 3.x / promtail
3.x document (``compactor.delete_request_store`` is required by Loki 3 once retention is on;
``compactor.shared_store`` was removed in 3.0 and is not written).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from redisops.errors import InputError
from redisops.observe.logs.lines import LEVELS, ROLES

__all__ = ["LEVEL_NAMES", "LOG_LINE_PATTERN", "LOKI_IMAGE", "LOKI_PORT", "PROMTAIL_IMAGE", "ROLE_NAMES",
           "loki_config", "promtail_config"]

#: Pinned tags, never ``latest``: a moving tag makes two renders of one spec run different code.  One minor for
#: both (promtail is end of life since March 2026; 3.6.11 of both images is published and in use).
LOKI_IMAGE = "grafana/loki:3.6.11"
PROMTAIL_IMAGE = "grafana/promtail:3.6.11"
#: Loki's HTTP port (push API and queries), inside the Compose network.
LOKI_PORT = 3100

#: role character of a log line -> what wrote it (``C`` is a forked child: BGSAVE, AOF rewrite)
ROLE_NAMES: Mapping[str, str] = MappingProxyType(ROLES)
#: level character of a log line -> Redis log level
LEVEL_NAMES: Mapping[str, str] = MappingProxyType(LEVELS)

#: Go layout of the line's time, ``03 Dec 2026 16:13:04.123`` (Redis' ``"%d %b %Y %H:%M:%S."`` + ms).
_TIME_LAYOUT = "02 Jan 2006 15:04:05.000"

#: where promtail records how far it has read each container (a volume, so a restart resumes)
_POSITIONS_FILE = "/promtail/positions.yaml"
_DOCKER_SOCKET = "unix:///var/run/docker.sock"
_PUSH_PATH = "/loki/api/v1/push"
#: Docker labels the Compose renderer puts on every node container -> the Loki label each becomes
_CONTAINER_LABELS: Mapping[str, str] = MappingProxyType({
    "io.redisops.node": "node",
    "io.redisops.kind": "kind",
    "com.docker.compose.service": "service",
    "io.redisops.deployment": "deployment",
})
_DEPLOYMENT_LABEL = "io.redisops.deployment"
_NODE_LABEL = "io.redisops.node"


def _char_class(chars: Mapping[str, str]) -> str:
    """An RE2 (and Python) character class of the mapping's keys; ``-`` last so it stays a literal."""
    body = "".join(sorted(c for c in chars if c != "-"))
    for special in "\\]^":
        body = body.replace(special, "\\" + special)
    return "[" + body + ("-" if "-" in chars else "") + "]"


#: One log line's prefix, in the RE2 subset Python's ``re`` shares (named groups only, no lookarounds):
#: ``role`` and ``level`` are the single characters, ``time`` the date that the timestamp stage reads.
LOG_LINE_PATTERN = (r"^\d+:(?P<role>" + _char_class(ROLE_NAMES) + r") "
                    r"(?P<time>\d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}\.\d{3}) "
                    r"(?P<level>" + _char_class(LEVEL_NAMES) + r") ")


def _name_template(names: Mapping[str, str]) -> str:
    """A Go template mapping the extracted character (``.Value``) to its name; empty for anything else."""
    branches = [f'{"if" if i == 0 else "else if"} eq .Value "{char}" }}}}{name}'
                for i, (char, name) in enumerate(sorted(names.items()))]
    return "{{ " + "{{ ".join(branches) + "{{ end }}"


def loki_config(*, retention_days: int) -> dict[str, Any]:
    """Loki's config file: one process (single binary), filesystem storage under ``/loki``, tsdb schema v13.

    The compactor deletes chunks older than ``retention_days`` (it runs every 10 minutes and deletes
    two hours after marking, so a wrong setting can still be undone in that window).
    """
    if isinstance(retention_days, bool) or not isinstance(retention_days, int) or retention_days < 1:
        raise InputError(f"Loki retention of {retention_days!r} days is not a whole number of days >= 1",
                         hint="give at least 1 day (Loki's minimum retention is 24h), e.g. 7")
    return {
        "auth_enabled": False,
        "server": {"http_listen_port": LOKI_PORT, "grpc_listen_port": 9096, "log_level": "info"},
        "common": {
            "instance_addr": "127.0.0.1",
            "path_prefix": "/loki",
            "storage": {"filesystem": {"chunks_directory": "/loki/chunks", "rules_directory": "/loki/rules"}},
            "replication_factor": 1,
            "ring": {"kvstore": {"store": "inmemory"}},
        },
        "schema_config": {"configs": [{
            "from": "2024-04-01",
            "store": "tsdb",
            "object_store": "filesystem",
            "schema": "v13",
            "index": {"prefix": "index_", "period": "24h"},
        }]},
        "compactor": {
            "working_directory": "/loki/compactor",
            "compaction_interval": "10m",
            "retention_enabled": True,
            "retention_delete_delay": "2h",
            "delete_request_store": "filesystem",
        },
        "limits_config": {"retention_period": f"{retention_days * 24}h"},
        "analytics": {"reporting_enabled": False},
    }


def promtail_config(*, deployment: str, loki_url: str) -> dict[str, Any]:
    """promtail's config file: the deployment's node containers, through the Docker socket, into Loki.

    ``loki_url`` is Loki's base URL (``http://loki:3100``) or its full push URL; the push path is added
    when missing.
    """
    if not deployment.strip():
        raise InputError("promtail needs the deployment name to pick its containers, got an empty one",
                         hint="pass the spec's `name` (the value of the io.redisops.deployment label)")
    return {
        "server": {"http_listen_port": 9080, "grpc_listen_port": 0, "log_level": "info"},
        "positions": {"filename": _POSITIONS_FILE},
        "clients": [{"url": _push_url(loki_url)}],
        "scrape_configs": [{
            "job_name": "redisops",
            "docker_sd_configs": [{
                "host": _DOCKER_SOCKET,
                "refresh_interval": "5s",
                # Docker ANDs label filters: this deployment's containers that are nodes (the monitoring
                # services and the one-shot cluster-init carry no node label).
                "filters": [{"name": "label", "values": [f"{_DEPLOYMENT_LABEL}={deployment}", _NODE_LABEL]}],
            }],
            "relabel_configs": [
                {"source_labels": [_meta_label(docker)], "target_label": label}
                for docker, label in _CONTAINER_LABELS.items()
            ],
            "pipeline_stages": _pipeline(),
        }],
    }


def _pipeline() -> list[dict[str, Any]]:
    return [
        {"regex": {"expression": LOG_LINE_PATTERN}},
        {"template": {"source": "role", "template": _name_template(ROLE_NAMES)}},
        {"template": {"source": "level", "template": _name_template(LEVEL_NAMES)}},
        {"labels": {"role": "role", "level": "level"}},
        {"timestamp": {"source": "time", "format": _TIME_LAYOUT, "action_on_failure": "skip"}},
    ]


def _meta_label(docker_label: str) -> str:
    """The meta label Docker service discovery gives a container label (invalid characters become ``_``)."""
    safe = "".join(c if (c.isascii() and c.isalnum()) or c == "_" else "_" for c in docker_label)
    return "__meta_docker_container_label_" + safe


def _push_url(loki_url: str) -> str:
    url = loki_url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https") or not rest:
        raise InputError(f"Loki URL {loki_url!r} is not an http(s) URL",
                         hint=f"give Loki's address as promtail reaches it, e.g. http://loki:{LOKI_PORT}")
    return url if url.endswith(_PUSH_PATH) else url + _PUSH_PATH
