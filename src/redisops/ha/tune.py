"""``sentinel tune``: live Sentinel and node settings against the spec and good practice.

Reads every sentinel's ``SENTINEL MASTER`` and every data node's ``CONFIG GET``,
measures the round-trip time to the data nodes, and returns findings with the
reason.  A finding with a ``fix`` can be applied: ``SENTINEL SET`` on every
sentinel, ``CONFIG SET`` plus ``CONFIG REWRITE`` on every data node (a fix is meant to
last: persisted on purpose); :func:`apply_fixes` then reads the
settings back and reports what still differs.  Advice without a fix (an even
number of sentinels, announce addresses behind NAT) needs a human.

Only errors and warnings are *findings* (:func:`findings_only`): they make
``sentinel tune`` exit 1, as every command does for findings.  Advice is good
practice the spec chose not to follow (``min-replicas-to-write 0``) or that
needs a human; it is printed and counted apart ("0 findings, 1 advice") and
never changes the exit code, so a deployment exactly as specified exits 0.

Desired values: the spec's when the group comes from a spec, otherwise what
the sentinels agree on, bounded by these rules:

* quorum: a majority of the sentinels (a minority can declare the master down;
  all of them means one sentinel down blocks failover);
* down-after: at least 2000 ms on non-loopback hosts (redis#8607: 500 ms caused
  false failovers), and at least 100 round trips at the slowest measured RTT;
* failover-timeout: more than down-after (Sentinel retries a failover after
  2 x failover-timeout and uses it to bound replica reconfiguration);
* parallel-syncs: at most the number of replicas;
* min-replicas-to-write: at most the number of replicas (else every write fails);
* replica-priority: at least one replica above 0 (0 means "never promote").
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis

from redisops.address import Address, is_loopback
from redisops.clients import connect
from redisops.errors import UsageError
from redisops.spec.models import SentinelGroup
from redisops.spec.rules import MIN_DOWN_AFTER_REMOTE_MS
from redisops.topology.parse import parse_master_addr, parse_sentinel_master, parse_sentinel_replicas
from redisops.topology.targets import SentinelTarget

__all__ = ["Finding", "Fix", "LiveSettings", "TuneResult", "apply_fixes", "findings_only", "read_live", "review"]

RTT_MULTIPLE = 100
SENTINEL_PARAMS = ("quorum", "down-after-milliseconds", "failover-timeout", "parallel-syncs")
NODE_PARAMS = ("min-replicas-to-write", "min-replicas-max-lag", "replica-priority")


@dataclass(frozen=True)
class Fix:
    scope: str  # "sentinel": SENTINEL SET on every sentinel; "node": CONFIG SET on every data node
    param: str
    value: int
    nodes: tuple[Address, ...] = ()  # "node" scope: only these nodes (empty: all)


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" | "warning" | "advice"
    setting: str
    current: str
    recommended: str
    reason: str
    fix: Fix | None = None

    def to_dict(self) -> dict[str, object]:
        fix = None if self.fix is None else {"scope": self.fix.scope, "param": self.fix.param,
                                             "value": self.fix.value, "nodes": [str(n) for n in self.fix.nodes]}
        return {"severity": self.severity, "setting": self.setting, "current": self.current,
                "recommended": self.recommended, "reason": self.reason, "fix": fix}


def findings_only(items: Sequence[Finding]) -> tuple[Finding, ...]:
    """The errors and warnings of ``items``: what counts as a finding (advice does not)."""
    return tuple(f for f in items if f.severity != "advice")


@dataclass(frozen=True)
class LiveSettings:
    group: str
    sentinels: Mapping[Address, Mapping[str, int]]  # per reachable sentinel: SENTINEL_PARAMS + counts
    nodes: Mapping[Address, Mapping[str, int]]  # per reachable data node: NODE_PARAMS
    unreachable: tuple[Address, ...]
    rtt_ms: float  # slowest PING round trip to a data node
    replicas: int
    sentinel_count: int

    def agreed(self, param: str) -> int | None:
        """The value most sentinels report for ``param``."""
        values = Counter(s[param] for s in self.sentinels.values() if param in s)
        return values.most_common(1)[0][0] if values else None


@dataclass(frozen=True)
class TuneResult:
    findings: tuple[Finding, ...]
    applied: tuple[Fix, ...] = ()
    remaining: tuple[Finding, ...] = ()  # errors and warnings after the fixes (advice is never "remaining")


def read_live(target: SentinelTarget, *, timeout: float = 2.0) -> LiveSettings:
    sentinels: dict[Address, dict[str, int]] = {}
    unreachable: list[Address] = []
    replicas: set[Address] = set()
    for address in target.sentinels:
        try:
            with connect(address, target.sentinel_password, timeout) as client:
                master = parse_sentinel_master(target.name,
                                               client.execute_command("SENTINEL", "MASTER", target.name))
                found = parse_sentinel_replicas(client.execute_command("SENTINEL", "REPLICAS", target.name))
        except (redis.ConnectionError, redis.TimeoutError):
            unreachable.append(address)
            continue
        except redis.ResponseError as exc:
            raise UsageError(f"sentinel {address}: {exc}", hint="check --group / --master") from exc
        settings = {p: master.setting(p) for p in SENTINEL_PARAMS}
        sentinels[address] = {p: v for p, v in settings.items() if v is not None}
        sentinels[address]["num-other-sentinels"] = master.num_other_sentinels or 0
        replicas.update(r.address for r in found)
    if not sentinels:
        raise UsageError(f"{target.name}: no sentinel answers", hint="start them (`redisops up`) or check addresses")
    master_addr = _master_address(target, next(iter(sentinels)), timeout)
    data = tuple(dict.fromkeys([*(target.nodes or ()), *([master_addr] if master_addr else []), *sorted(replicas)]))
    nodes, rtts = _read_nodes(target, data, timeout, unreachable)
    others = Counter(s["num-other-sentinels"] for s in sentinels.values()).most_common(1)[0][0]
    return LiveSettings(target.name, sentinels, nodes, tuple(unreachable), max(rtts, default=0.0),
                        max(len(replicas), 0), max(others + 1, len(sentinels)))


def review(live: LiveSettings, spec: SentinelGroup | None, hosts: Sequence[str], *,
           force: bool = False) -> list[Finding]:
    """Every finding, worst first."""
    findings = [*_sentinel_findings(live, spec, hosts, force), *_node_findings(live, spec)]
    order = {"error": 0, "warning": 1, "advice": 2}
    return sorted(findings, key=lambda f: order[f.severity])


def apply_fixes(target: SentinelTarget, live: LiveSettings, findings: Sequence[Finding],
                spec: SentinelGroup | None, hosts: Sequence[str], *, force: bool = False) -> TuneResult:
    fixes = [f.fix for f in findings if f.fix is not None]
    for fix in fixes:
        if fix.scope == "sentinel":
            for address in live.sentinels:
                with connect(address, target.sentinel_password, 2.0) as client:
                    client.execute_command("SENTINEL", "SET", target.name, fix.param, fix.value)
        else:
            for address in fix.nodes or tuple(live.nodes):
                with connect(address, target.password, 2.0) as client:
                    client.config_set(fix.param, fix.value)
                    _persist(client)
    after = read_live(target)
    remaining = findings_only(review(after, spec, hosts, force=force))
    return TuneResult(tuple(findings), tuple(fixes), remaining)


def _persist(client: redis.Redis) -> None:
    """A fix is meant to last: write it into the node's config file (``SENTINEL SET`` persists by itself).

    Left in memory only, it would vanish at the next restart -- or land in the
    file whenever Sentinel next rewrites it, unannounced.
    """
    try:
        client.execute_command("CONFIG", "REWRITE")
    except redis.ResponseError as exc:
        if "without a config file" not in str(exc):
            raise


# --- rules ------------------------------------------------------------------------------------------


def _sentinel_findings(live: LiveSettings, spec: SentinelGroup | None, hosts: Sequence[str],
                       force: bool) -> list[Finding]:
    out: list[Finding] = []
    n = live.sentinel_count
    majority = n // 2 + 1
    if n < 3 or n % 2 == 0:
        out.append(Finding("advice" if n >= 3 else "error", "sentinels", str(n), "an odd number >= 3",
                           "a majority must survive any one failure; an even count adds no tolerance"))
    quorum = live.agreed("quorum") or 0
    wanted_quorum = spec.quorum if spec is not None else majority
    if wanted_quorum > n:
        wanted_quorum = majority
    if quorum != wanted_quorum or quorum > n or quorum < majority:
        reason = ("exceeds the sentinels: no failover can ever start" if quorum > n else
                  "below a majority: a minority of sentinels can declare the master down" if quorum < majority else
                  "differs from the spec")
        out.append(Finding("error" if quorum > n else "warning", "quorum", str(quorum), str(wanted_quorum), reason,
                           Fix("sentinel", "quorum", wanted_quorum)))
    out += _down_after(live, spec, hosts, force)
    down_after = live.agreed("down-after-milliseconds") or 0
    failover = live.agreed("failover-timeout") or 0
    wanted_failover = spec.failover_timeout_ms if spec is not None else max(failover, 2 * down_after)
    if failover <= down_after or failover != wanted_failover:
        reason = "not above down-after: a failover can time out before the master is even declared down" \
            if failover <= down_after else "differs from the spec"
        out.append(Finding("error" if failover <= down_after else "warning", "failover-timeout", str(failover),
                           str(max(wanted_failover, 2 * down_after)), reason,
                           Fix("sentinel", "failover-timeout", max(wanted_failover, 2 * down_after))))
    syncs = live.agreed("parallel-syncs") or 1
    wanted_syncs = min(spec.parallel_syncs if spec is not None else syncs, max(live.replicas, 1))
    if syncs != wanted_syncs:
        out.append(Finding("warning", "parallel-syncs", str(syncs), str(wanted_syncs),
                           "more than the replicas does nothing" if syncs > live.replicas else "differs from the spec",
                           Fix("sentinel", "parallel-syncs", wanted_syncs)))
    for param in SENTINEL_PARAMS:
        values = {s[param] for s in live.sentinels.values()}
        if len(values) > 1 and not any(f.setting == param for f in out):
            agreed = live.agreed(param) or 0
            out.append(Finding("warning", param, ", ".join(map(str, sorted(values))), str(agreed),
                               "sentinels disagree", Fix("sentinel", param, agreed)))
    return out


def _down_after(live: LiveSettings, spec: SentinelGroup | None, hosts: Sequence[str], force: bool) -> list[Finding]:
    current = live.agreed("down-after-milliseconds") or 0
    remote = any(not is_loopback(h) for h in hosts)
    floor = max(MIN_DOWN_AFTER_REMOTE_MS if remote and not force else 0, int(RTT_MULTIPLE * live.rtt_ms) + 1)
    wanted = max(spec.down_after_ms if spec is not None else current, floor)
    if current == wanted:
        return []
    if current < floor:
        reason = (f"below {MIN_DOWN_AFTER_REMOTE_MS} ms on non-loopback hosts: false failovers (redis#8607)"
                  if remote and current < MIN_DOWN_AFTER_REMOTE_MS else
                  f"under {RTT_MULTIPLE} round trips at the measured {live.rtt_ms:.2f} ms RTT")
        return [Finding("error", "down-after-milliseconds", str(current), str(wanted), reason,
                        Fix("sentinel", "down-after-milliseconds", wanted))]
    return [Finding("warning", "down-after-milliseconds", str(current), str(wanted), "differs from the spec",
                    Fix("sentinel", "down-after-milliseconds", wanted))]


def _node_findings(live: LiveSettings, spec: SentinelGroup | None) -> list[Finding]:
    out: list[Finding] = []
    for param, wanted in (("min-replicas-to-write", spec.min_replicas_to_write if spec else None),
                          ("min-replicas-max-lag", spec.min_replicas_max_lag if spec else None)):
        values = {a: v[param] for a, v in live.nodes.items()}
        target = wanted if wanted is not None else Counter(values.values()).most_common(1)[0][0] if values else 0
        if param == "min-replicas-to-write" and target > live.replicas:
            target = live.replicas
        wrong = tuple(a for a, v in values.items() if v != target)
        if wrong:
            out.append(Finding("error" if param == "min-replicas-to-write" and max(values.values()) > live.replicas
                               else "warning", param, ", ".join(f"{a}={values[a]}" for a in wrong), str(target),
                               "must be the same on every node (a promoted replica inherits its own value)"
                               if spec is None else "differs from the spec", Fix("node", param, target, wrong)))
    if spec is not None and spec.min_replicas_to_write == 0 and live.replicas:
        out.append(Finding("advice", "min-replicas-to-write", "0", "1",
                           "with 0 a partitioned old master keeps acknowledging writes that the failover discards; "
                           "set sentinel[].min_replicas_to_write: 1 in the spec to bound that window"))
    priorities = {a: v["replica-priority"] for a, v in live.nodes.items()}
    if priorities and all(p == 0 for p in priorities.values()):
        out.append(Finding("error", "replica-priority", "0 on every node", "100",
                           "0 means never promote: no failover is possible", Fix("node", "replica-priority", 100)))
    if live.unreachable:
        out.append(Finding("advice", "reachability", ", ".join(map(str, live.unreachable)), "reachable",
                           "nodes the sentinels announce do not answer from here; behind NAT or containers set "
                           "`sentinel announce-ip` / `replica-announce-ip`"))
    return out


# --- reading ------------------------------------------------------------------------------------------


def _read_nodes(target: SentinelTarget, data: Sequence[Address], timeout: float,
                unreachable: list[Address]) -> tuple[dict[Address, dict[str, int]], list[float]]:
    nodes: dict[Address, dict[str, int]] = {}
    rtts: list[float] = []
    for address in data:
        try:
            with connect(address, target.password, timeout) as client:
                settings = client.config_get("min-replicas-*") | client.config_get("replica-priority")
                for _ in range(5):
                    began = time.perf_counter()
                    client.ping()
                    rtts.append((time.perf_counter() - began) * 1000)
        except (redis.ConnectionError, redis.TimeoutError):
            unreachable.append(address)
            continue
        nodes[address] = {p: int(str(settings[p])) for p in NODE_PARAMS}
    return nodes, rtts


def _master_address(target: SentinelTarget, sentinel: Address, timeout: float) -> Address | None:
    with connect(sentinel, target.sentinel_password, timeout) as client:
        return parse_master_addr(client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", target.name))
