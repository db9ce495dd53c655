"""Checks on the server's settings: network, Redis 7 protected commands, TLS, memory, persistence, files."""

from __future__ import annotations

import ipaddress
import stat
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from redisops.security.audit.model import Directive, Kind, Layer, Severity, Target
from redisops.security.audit.registry import LIVE, NODES, SENTINEL, STATIC, Hit, check

__all__ = ["CERT_WARN_DAYS", "bind_addresses", "persistence_off", "tls_on"]

CERT_WARN_DAYS = 30
_ALL = {"*", "0.0.0.0", "::", "::*"}


def bind_addresses(target: Target) -> list[str]:
    """Where the node listens; no bind line means every interface (Redis 7: ``* -::*``)."""
    bind = target.last("bind")
    if bind is None and target.layer is Layer.LIVE:
        return []  # a sentinel whose config file is not here: where it listens is not known
    args = bind.args if bind is not None and any(a for a in bind.args) else ("*", "-::*")
    return [a.lstrip("-") for a in args if a]


def _loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _exposed(target: Target) -> list[str]:
    return [a for a in bind_addresses(target) if not _loopback(a)]


def tls_on(target: Target) -> bool:
    return target.number("tls-port") > 0


def persistence_off(target: Target) -> bool:
    save = target.last("save")
    rdb = save is None or any(a.strip() for a in save.args)
    return not rdb and target.flag("appendonly") != "yes"


def _protected_mode_default(target: Target) -> str:
    return "no" if target.kind is Kind.SENTINEL else "yes"  # Sentinel turns it off (sentinel.c)


@check("RA007", Severity.HIGH, "protected-mode off on a non-loopback address",
       explanation="protected-mode refuses remote clients while the default user has no password; turned off "
                   "on a reachable address, one missing password is an open server.",
       fix="set `protected-mode yes` (and a password), or bind only loopback / private addresses", kinds=NODES)
def _protected_mode(target: Target) -> Iterator[Hit]:
    exposed = _exposed(target)
    if exposed and target.flag("protected-mode", _protected_mode_default(target)) == "no":
        yield Hit(f"protected-mode no while listening on {', '.join(exposed)}",
                  target.last("protected-mode") or target.last("bind"))


@check("RA008", Severity.MEDIUM, "listens on every interface",
       explanation="`bind *`, 0.0.0.0, :: (or no bind line at all) puts the port on every network the host "
                   "has, including ones the firewall was not written for.",
       fix="`bind` the addresses clients use: `bind 10.0.0.5 127.0.0.1`", kinds=NODES)
def _bind_all(target: Target) -> Iterator[Hit]:
    everywhere = [a for a in bind_addresses(target) if a in _ALL]
    if everywhere:
        what = "no bind line (every interface)" if target.last("bind") is None else f"bind {' '.join(everywhere)}"
        yield Hit(what, target.last("bind"))


def _enabled(name: str) -> Callable[[Target], Iterator[Hit]]:
    def run(target: Target) -> Iterator[Hit]:
        if target.flag(name) == "yes":
            yield Hit(f"{name} yes", target.last(name))
    return run


check("RA010", Severity.HIGH, "DEBUG command enabled",
      explanation="DEBUG can crash the server, dump memory or change its internals (DEBUG SET-ACTIVE-EXPIRE, "
                  "DEBUG RELOAD); Redis 7 keeps it off unless asked.",
      fix="set `enable-debug-command no` (or `local` for loopback clients only)")(_enabled("enable-debug-command"))
check("RA011", Severity.HIGH, "MODULE command enabled",
      explanation="MODULE LOAD runs any shared object as the redis user: the last step of the "
                  "rogue-server attack (REPLICAOF attacker, CONFIG SET dbfilename x.so, MODULE LOAD).",
      fix="set `enable-module-command no` (load modules with `loadmodule` in the config)")(
    _enabled("enable-module-command"))
check("RA012", Severity.HIGH, "protected configs modifiable",
      explanation="enable-protected-configs yes lets CONFIG SET change dir and dbfilename: a client can then "
                  "write the dataset as a file anywhere (authorized_keys, cron).",
      fix="set `enable-protected-configs no`")(_enabled("enable-protected-configs"))


@check("RA013", Severity.HIGH, "no TLS on a non-loopback address",
       explanation="Without TLS, AUTH and every value cross the network in clear text; anyone on the path reads "
                   "the password.",
       fix="set `tls-port`, `port 0`, `tls-cert-file`, `tls-key-file`, `tls-ca-cert-file` (or bind loopback "
           "only)", kinds=NODES)
def _no_tls(target: Target) -> Iterator[Hit]:
    exposed = _exposed(target)
    if exposed and not tls_on(target):
        yield Hit(f"plaintext port on {', '.join(exposed)}", target.last("port") or target.last("bind"))


@check("RA014", Severity.MEDIUM, "TLS clients not authenticated",
       explanation="tls-auth-clients no accepts any TLS client: the certificate no longer says who may connect.",
       fix="set `tls-auth-clients yes` (or `optional` while clients migrate)", kinds=NODES)
def _tls_clients(target: Target) -> Iterator[Hit]:
    if tls_on(target) and target.flag("tls-auth-clients", "yes") == "no":
        yield Hit("tls-auth-clients no", target.last("tls-auth-clients"))


@check("RA015", Severity.MEDIUM, "TLS for clients but not for replication",
       explanation="With tls-replication no a replica fetches the whole dataset from its master in clear text.",
       fix="set `tls-replication yes`")
def _tls_replication(target: Target) -> Iterator[Hit]:
    if tls_on(target) and target.flag("tls-replication") != "yes":
        at = target.last("tls-replication") or target.last("tls-port")
        yield Hit("tls-port is set but tls-replication is no", at)


@check("RA016", Severity.MEDIUM, "TLS for clients but not for the cluster bus",
       explanation="With tls-cluster no the cluster bus (port + 10000) gossips and fails over in clear text.",
       fix="set `tls-cluster yes`")
def _tls_cluster(target: Target) -> Iterator[Hit]:
    if tls_on(target) and target.flag("cluster-enabled") == "yes" and target.flag("tls-cluster") != "yes":
        at = target.last("tls-cluster") or target.last("tls-port")
        yield Hit("cluster-enabled with tls-port but tls-cluster no", at)


@check("RA017", Severity.MEDIUM, "sentinel talks without TLS",
       explanation="A sentinel with tls-replication no connects to masters, replicas and other sentinels in "
                   "clear text (with their passwords); one without tls-port serves clients in clear text while "
                   "the data nodes use TLS.",
       fix="on the sentinel: `tls-port`, `port 0`, `tls-replication yes` and the same certificates", kinds=NODES,
       group=True)
def _sentinel_tls(targets: Sequence[Target]) -> Iterator[Hit]:
    nodes_tls = any(tls_on(t) for t in targets if t.kind is Kind.REDIS)
    for target in (t for t in targets if t.kind is Kind.SENTINEL):
        if tls_on(target) and target.flag("tls-replication") != "yes":
            yield Hit("tls-port is set but tls-replication is no: it reaches the nodes in clear text",
                      target.last("tls-replication") or target.last("tls-port"), target)
        elif not tls_on(target) and nodes_tls:
            yield Hit("the data nodes use TLS, the sentinel does not", target.last("port"), target)


@check("RA018", Severity.HIGH, f"TLS certificate expires within {CERT_WARN_DAYS} days",
       explanation="An expired certificate stops every TLS client, replica and cluster link at once.",
       fix="renew the certificate and reload it: `CONFIG SET tls-cert-file <file>`",
       kinds=NODES)
def _cert(target: Target) -> Iterator[Hit]:
    if not target.local:
        return
    for name in ("tls-cert-file", "tls-client-cert-file"):
        at = target.last(name)
        path = _resolve(target, at.value) if at is not None and at.value else None
        expires = _not_after(path) if path is not None else None
        if expires is None:
            continue
        left = expires - datetime.now(timezone.utc)
        if left < timedelta(days=CERT_WARN_DAYS):
            when = "expired" if left.total_seconds() < 0 else f"expires in {max(left.days, 0)} days"
            yield Hit(f"{name} {path} {when} ({expires:%Y-%m-%d})", at)


def _resolve(target: Target, value: str) -> Path:
    path = Path(value)
    if path.is_absolute() or not target.files:
        return path
    return target.files[0].parent / path


def _not_after(path: Path) -> datetime | None:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
    return cert.not_valid_after_utc


@check("RA022", Severity.MEDIUM, "maxmemory unset",
       explanation="Without maxmemory Redis grows until the kernel's OOM killer ends it (and a fork for "
                   "BGSAVE can double its footprint).",
       fix="set `maxmemory` to RAM minus replication/output buffers and fork headroom ")
def _maxmemory(target: Target) -> Iterator[Hit]:
    if target.number("maxmemory") == 0:
        yield Hit("maxmemory 0 (no limit)", target.last("maxmemory"))


@check("RA023", Severity.INFO, "noeviction: treated as a store",
       explanation="maxmemory with noeviction refuses writes (-OOM) when full instead of evicting: right for a "
                   "store, wrong for a cache. Nothing says which this node is (a config file, a seed), so the "
                   "audit assumes a store and only notes it; with a spec its `role:` decides (RA038).",
       fix="for a cache: `maxmemory-policy allkeys-lfu` (or allkeys-lru); for a store keep noeviction and alert "
           "on used_memory near maxmemory")
def _noeviction(target: Target) -> Iterator[Hit]:
    if (target.data_role is None and target.number("maxmemory") > 0
            and target.flag("maxmemory-policy", "noeviction") == "noeviction"):
        yield Hit("maxmemory set with maxmemory-policy noeviction", target.last("maxmemory-policy"))


@check("RA038", Severity.MEDIUM, "a cache that cannot evict",
       explanation="The spec says this node is a cache (`role: cache`), but when full it refuses writes (-OOM, "
                   "noeviction) or, without maxmemory, grows until the kernel kills it: the application sees "
                   "errors where it expected misses.",
       fix="`maxmemory-policy allkeys-lfu` and a maxmemory: `redisops tune memory --apply` sets both", layers=LIVE)
def _cache_without_eviction(target: Target) -> Iterator[Hit]:
    if target.data_role != "cache":
        return
    if target.number("maxmemory") <= 0:
        yield Hit("role cache without maxmemory", target.last("maxmemory"))
    elif target.flag("maxmemory-policy", "noeviction") == "noeviction":
        yield Hit("role cache with maxmemory-policy noeviction", target.last("maxmemory-policy"))


@check("RA024", Severity.LOW, "rename-command (deprecated)",
       explanation="rename-command is deprecated in favour of ACLs; a renamed command still runs under its new "
                   "name, breaks tools (the exporter needs --config-command) and replication of renamed commands.",
       fix="remove rename-command lines; deny the command with ACLs: `user app ... -flushall`", layers=STATIC)
def _rename(target: Target) -> Iterator[Hit]:
    for d in target.all("rename-command"):
        yield Hit(f"rename-command {d.args[0] if d.args else ''}", d)


@check("RA025", Severity.MEDIUM, "persistence off and no replicas",
       explanation="With no RDB, no AOF and no replica, a restart of this node loses every key.",
       fix="enable `appendonly yes` or RDB `save 3600 1 300 100 60 10000`, or give the node replicas")
def _no_persistence(target: Target) -> Iterator[Hit]:
    if not persistence_off(target) or target.last("replicaof") or target.last("slaveof"):
        return
    if target.info and (target.info.get("role") != "master" or target.info.get("connected_slaves", "0") != "0"):
        return
    what = "no replica connected" if target.info else "no replicaof line (its replicas, if any, are not known here)"
    yield Hit(f"save \"\" and appendonly no; {what}", target.last("save") or target.last("appendonly"))


@check("RA026", Severity.MEDIUM, "file with passwords readable by others",
       explanation="Config, include and ACL files that hold passwords (requirepass, masterauth, user >pw, "
                   "sentinel auth-pass): readable by every local user, they leak them.",
       fix="`chmod 600 <file>` (owner: the user Redis runs as)", kinds=NODES)
def _config_mode(target: Target) -> Iterator[Hit]:
    if not target.local:
        return
    for path in target.files:
        mode = _mode(path)
        if mode is not None and mode & stat.S_IROTH and str(path) in target.secret_files:
            yield Hit(f"{path} has mode {mode:o}", Directive("file", (str(path),), str(path), None))


@check("RA027", Severity.MEDIUM, "data directory open to others",
       explanation="The data directory holds dump.rdb and the AOF: the whole dataset. Others able to list or "
                   "enter it can copy it.",
       fix="`chmod 700 <dir>` (owner: the user Redis runs as)")
def _dir_mode(target: Target) -> Iterator[Hit]:
    at = target.last("dir")
    if not target.local or at is None or not at.value:
        return
    path = _resolve(target, at.value)
    mode = _mode(path)
    if mode is not None and mode & (stat.S_IROTH | stat.S_IXOTH | stat.S_IWOTH):
        yield Hit(f"dir {path} has mode {mode:o}", at)


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


@check("RA028", Severity.LOW, "modules loaded",
       explanation="A module is native code inside the server with no sandbox; each one is attack surface to "
                   "keep patched.", fix="remove `loadmodule` lines you do not need")
def _modules(target: Target) -> Iterator[Hit]:
    for d in target.all("loadmodule"):
        yield Hit(f"loadmodule {d.args[0] if d.args else ''}", d)
    for key, value in target.info.items():
        if key == "module":
            yield Hit(f"module loaded: {value}")


@check("RA029", Severity.MEDIUM, "sentinel scripts may be reconfigured",
       explanation="With deny-scripts-reconfig no, SENTINEL SET can point notification-script / "
                   "client-reconfig-script at any program, which the sentinel then runs.",
       fix="set `sentinel deny-scripts-reconfig yes`", kinds=SENTINEL)
def _scripts(target: Target) -> Iterator[Hit]:
    for d in target.all("sentinel"):
        if d.args[:1] == ("deny-scripts-reconfig",) and d.args[1:2] == ("no",):
            yield Hit("sentinel deny-scripts-reconfig no", d)


@check("RA030", Severity.MEDIUM, "plaintext port open beside TLS",
       explanation="tls-port is set but `port` still listens in clear text: clients may keep using it.",
       fix="set `port 0` once every client uses TLS", kinds=NODES)
def _plain_beside_tls(target: Target) -> Iterator[Hit]:
    default = "26379" if target.kind is Kind.SENTINEL else "6379"
    if tls_on(target) and target.number("port", int(default)) != 0:
        yield Hit(f"port {target.value('port', default)} beside tls-port {target.value('tls-port')}",
                  target.last("port"))


@check("RA031", Severity.MEDIUM, "old TLS protocol versions allowed",
       explanation="TLSv1 and TLSv1.1 are deprecated (RFC 8996) and have known weaknesses.",
       fix='set `tls-protocols "TLSv1.2 TLSv1.3"`', kinds=NODES)
def _tls_protocols(target: Target) -> Iterator[Hit]:
    at = target.last("tls-protocols")
    old = [p for p in (at.value.split() if at else []) if p.lower() in ("tlsv1", "tlsv1.1")]
    if tls_on(target) and old:
        yield Hit(f"tls-protocols allows {' '.join(old)}", at)
