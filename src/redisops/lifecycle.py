"""``init``, ``up`` and ``down`` of a spec on the local runtime.

``up`` converges: running nodes are left alone, missing or dead ones are
started, the cluster is formed only where it is not, and then ``up`` waits
until the status verdict is OK.  A dead data node of a Sentinel group is
restarted as a replica of whatever master the sentinels elected meanwhile, so
an old master never comes back as a second master and takes writes that the
next reconfiguration would throw away.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import redis

from redisops.address import Address
from redisops.clients import connect
from redisops.clock import Clock, SystemClock
from redisops.cluster.create import ClusterShape, form_cluster
from redisops.cluster.mover import MoveProgress, MoverSettings
from redisops.cluster.scale import ScaleReport, check_scale
from redisops.cluster.scale import scale_cluster as converge_cluster
from redisops.errors import HealthTimeout, SpecError, UsageError
from redisops.runtime.conf import conf_replicaof, sentinel_conf_master
from redisops.runtime.local import LocalRuntime, Started, find_binaries
from redisops.runtime.plan import GroupLayout, NodeKind, NodePlan, Plan, build_plan, cluster_node, state_dir
from redisops.runtime.temporary import Journal, reapply, recover
from redisops.runtime.tls import conf_runs_tls, local_tls, open_secrets, tls_dir
from redisops.spec.default import DEFAULT_SPEC
from redisops.spec.edit import set_values
from redisops.spec.load import load, load_text
from redisops.spec.models import Spec
from redisops.spec.secrets import Secrets, generate_secrets, secrets_text, write_private
from redisops.topology.loading import LoadWait, wait_loaded
from redisops.topology.parse import parse_master_addr, parse_sentinel_master
from redisops.topology.status import Health, StatusReport, collect_status_sync
from redisops.topology.targets import targets_from_plan

if TYPE_CHECKING:
    from redisops.security.tls import NodeIdentity

__all__ = ["Deployment", "DownResult", "ScaleResult", "UpResult", "down", "init_files", "node_identity",
           "scale_cluster", "up", "wait_healthy"]

Progress = Callable[[str], None]
ONLY = ("sentinel", "cluster")


def init_files(spec_file: Path, *, force: bool = False, spec_text: str = DEFAULT_SPEC,
               acl: bool = True) -> dict[Path, str]:
    """Write the default spec (unless present) and a secrets file (never overwritten): a password per ACL user,
    or (``acl=False``, what redisops wrote before ACL users) one shared requirepass."""
    written: dict[Path, str] = {}
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    if force or not spec_file.exists():
        write_private(spec_file, spec_text, mode=0o644)
        written[spec_file] = "spec"
    secrets_file = spec_file.parent / load(spec_file).auth.secrets_file
    if not secrets_file.exists():
        write_private(secrets_file, secrets_text(generate_secrets(acl=acl)))
        written[secrets_file] = "secrets, mode 0600"
    return written


@dataclass
class Deployment:
    """A loaded spec with its secrets, plan and local runtime."""

    spec_file: Path
    spec: Spec
    plan: Plan
    secrets: Secrets
    runtime: LocalRuntime

    @classmethod
    def open(cls, spec_file: Path, *, clock: Clock | None = None) -> Deployment:
        spec = load(spec_file)
        secrets = open_secrets(spec, spec_file)
        plan = build_plan(spec)
        return cls(spec_file, spec, plan, secrets, LocalRuntime(plan, state_dir(spec, spec_file), secrets, clock))

    @property
    def journal(self) -> Journal:
        """The temporary settings redisops holds on this deployment's nodes (:mod:`redisops.runtime.temporary`)."""
        confs = {n.address: self.runtime.conf_path(n) for n in self.plan.nodes if n.kind is not NodeKind.SENTINEL}
        return Journal.of_state_dir(self.runtime.state_dir, confs)

    def select(self, only: str | None = None) -> list[NodePlan]:
        if only not in (None, *ONLY):
            raise UsageError(f"--only {only!r}: use one of {', '.join(ONLY)}")
        nodes = [n for n in self.plan.nodes
                 if only is None or (only == "cluster") == (n.kind is NodeKind.CLUSTER)]
        if not nodes:
            raise UsageError(f"the spec has no {only or 'nodes'}", hint=f"add a `{only}:` section to {self.spec_file}")
        return nodes


@dataclass
class UpResult:
    started: list[str]
    already_running: list[str]
    actions: list[str]
    report: StatusReport
    seconds: float


@dataclass
class DownResult:
    stopped: list[str]
    killed: list[str] = field(default_factory=list)
    purged: bool = False
    #: with ``purge``: the monitoring services and the UI stopped before their state was deleted
    companions: list[str] = field(default_factory=list)


def up(dep: Deployment, *, only: str | None = None, timeout: float = 60.0,
       progress: Progress = lambda _msg: None, clock: Clock | None = None) -> UpResult:
    """Start what is not running, in the role the sentinels last gave it; form the cluster; wait until healthy.

    Order: first undo what a killed redisops left (:func:`~redisops.runtime.temporary.recover`:
    stopped nodes get their config file mended before they start); then the data
    nodes, each Sentinel-group node in the role its group's sentinels -- running,
    or from their config files when stopped -- last agreed on; then wait while
    they load their data; then the sentinels; then cluster formation and the
    health verdict, neither of which counts a loading node as missing.
    """
    clock = clock or SystemClock()
    began = clock.now()
    nodes = dep.select(only)
    runtime = dep.runtime
    running = runtime.running(nodes)
    missing = [n for n in nodes if n.name not in running]
    _refuse_half_tls_switch(dep, runtime.running(dep.plan.nodes))
    if local_tls(dep.spec):
        _ensure_tls(dep)
    actions = recover(dep.journal, dep.secrets.admin)
    if missing:
        binaries = find_binaries(need_sentinel=any(n.kind is NodeKind.SENTINEL for n in missing))
        runtime.check_ready_to_start(missing)
        data = [n for n in missing if n.kind is not NodeKind.SENTINEL]
        roles = _start_roles(dep, data, clock)
        progress(f"starting {len(missing)} of {len(nodes)} nodes")
        started = [runtime.start(n, binaries, roles[n.name].args if n.name in roles else ()) for n in data]
        runtime.wait_listening(started)
        loaded = _wait_loaded(dep, started, clock, progress)
        if loaded.loaded:
            actions.append(f"waited {loaded.seconds:.1f} s while {_count(loaded.loaded, 'node')} loaded their data")
        actions += reapply(dep.journal, dep.secrets.admin, [s.node.address for s in started])
        for name, role in roles.items():
            _persist_role(dep, dep.plan.node(name))
            actions.append(role.sentence)
        sentinels = [runtime.start(n, binaries) for n in missing if n.kind is NodeKind.SENTINEL]
        runtime.wait_listening(sentinels)
    if dep.plan.cluster is not None and only in (None, "cluster"):
        actions.append(form_cluster(ClusterShape.from_layout(dep.plan.cluster), dep.secrets.admin, clock=clock,
                                    progress=progress, journal=dep.journal))
    report = wait_healthy(dep, only=only, timeout=timeout, progress=progress, clock=clock)
    return UpResult([n.name for n in missing], sorted(running), actions, report, clock.now() - began)


def _refuse_half_tls_switch(dep: Deployment, running: Iterable[str]) -> None:
    """A running node that listens otherwise than the spec now says (TLS turned on or off) would be left talking
    to its restarted peers in the other language: the switch is for every node at once, all of them stopped."""
    want = local_tls(dep.spec)
    live = set(running)
    other = [n.name for n in dep.plan.nodes if n.name in live and dep.runtime.conf_path(n).exists()
             and conf_runs_tls(dep.runtime.conf_path(n).read_text()) != want]
    if other:
        now, then = ("TLS", "plaintext") if want else ("plaintext", "TLS")
        verb = "runs" if len(other) == 1 else "run"
        raise UsageError(f"the spec now asks for {now}, but {', '.join(other)} still {verb} {then}",
                         hint="switch every node at once: `redisops down`, then `redisops up` (a short outage while "
                              "they restart and load their data; roles and data stay)")


def _ensure_tls(dep: Deployment) -> None:
    """The CA and every certificate (made or renewed within 30 days of expiry: :mod:`redisops.security.tls`), or
    the user's own (``tls.own``: checked, then copied in).  A node created without TLS switches when it starts
    (:meth:`~redisops.runtime.local.LocalRuntime.start`)."""
    from redisops.security.tls import ensure_material  # cryptography: only for a TLS deployment

    identities = [node_identity(n) for n in dep.plan.nodes]
    if dep.spec.tls.own is not None:
        from redisops.security.tls.own import import_own_material

        import_own_material(tls_dir(dep.runtime.state_dir.resolve()), dep.spec_file.parent, dep.spec.tls.own,
                            identities)
        return
    ensure_material(tls_dir(dep.runtime.state_dir.resolve()), dep.spec.name, identities)


def node_identity(node: NodePlan) -> NodeIdentity:
    """A node's certificate names: its host, as an IP address or a DNS name."""
    from redisops.security.tls import NodeIdentity

    try:
        ipaddress.ip_address(node.address.host)
    except ValueError:
        return NodeIdentity(node.name, (), (node.address.host,))
    return NodeIdentity(node.name, (node.address.host,))


def _wait_loaded(dep: Deployment, started: Sequence[Started], clock: Clock, progress: Progress) -> LoadWait:
    """Until no started data node is loading its dataset (a dead one fails with its log line)."""
    names = {s.node.address: s.node.name for s in started}
    return wait_loaded([s.node.address for s in started], dep.secrets.admin, clock=clock, progress=progress,
                check=lambda: dep.runtime.check_alive(started, "loading its data"),
                name_of=lambda a: names.get(a, str(a)))


@dataclass
class ScaleResult:
    before: tuple[int, int]  # masters, replicas per master
    after: tuple[int, int]
    started: list[str]
    retired: list[str]
    report: ScaleReport
    status: StatusReport | None  # None when stopped half way
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return {"before": {"masters": self.before[0], "replicas_per_master": self.before[1]},
                "after": {"masters": self.after[0], "replicas_per_master": self.after[1]},
                "started": self.started, "retired": self.retired, **self.report.to_dict(),
                "health": self.status.health.value if self.status is not None else None,
                "seconds": round(self.seconds, 3)}


def scale_cluster(dep: Deployment, *, masters: int | None = None, replicas_per_master: int | None = None,
                  settings: MoverSettings | None = None, progress: Progress = lambda _msg: None,
                  move_progress: Callable[[MoveProgress], None] = lambda _p: None,
                  stop: threading.Event | None = None, timeout: float = 60.0,
                  clock: Clock | None = None) -> ScaleResult:
    """Change the spec's cluster size and converge the local cluster to it.

    The order keeps a refusal harmless: the new spec is validated and the live
    cluster checked (:func:`~redisops.cluster.scale.check_scale`) before the
    spec file is rewritten or a node started.  Nodes ``<name>-0 ..
    <name>-(size-1)`` stay, higher ones retire, so ports stay contiguous.  After
    an interruption the spec already holds the new size; running the same
    command again finishes the job.
    """
    clock = clock or SystemClock()
    began = clock.now()
    current = dep.spec.cluster
    if current is None:
        raise UsageError(f"{dep.spec_file} has no cluster to scale", hint="add a `cluster:` section")
    changes = {k: v for k, v in (("masters", masters), ("replicas_per_master", replicas_per_master)) if v is not None}
    text = dep.spec_file.read_text(encoding="utf-8")
    new_text = set_values(text, "cluster", changes) if changes else text
    spec, problems = load_text(new_text)
    if spec is None or spec.cluster is None or any(p.severity == "error" for p in problems):
        raise SpecError(str(dep.spec_file), [p for p in problems if p.severity == "error"])
    target = build_plan(spec).cluster
    assert target is not None
    retired = _retired_nodes(dep, spec.cluster.size)
    password = dep.secrets.admin
    journal = dep.runtime.state_dir / "scale-moves.jsonl"
    binaries = find_binaries(need_sentinel=False)
    existing = [n for n in (*target.nodes, *retired) if dep.runtime.exists(n) and dep.runtime.pid(n) is None]
    if existing:
        progress(f"restarting {len(existing)} stopped node{_s(existing)}")
        dep.runtime.check_ready_to_start(existing)
        restarted = [dep.runtime.start(n, binaries) for n in existing]
        dep.runtime.wait_listening(restarted)
        _wait_loaded(dep, restarted, clock, progress)
    progress("checking the cluster")
    check_scale([n.address for n in target.nodes], [n.address for n in retired], password, journal,
                masters=spec.cluster.masters, clock=clock)
    if new_text != text:
        write_private(dep.spec_file, new_text, mode=dep.spec_file.stat().st_mode & 0o777)
    new = Deployment.open(dep.spec_file, clock=clock)
    fresh = [n for n in target.nodes if not new.runtime.exists(n)]
    if fresh:
        progress(f"starting {len(fresh)} new node{_s(fresh)}")
        new.runtime.check_ready_to_start(fresh)
        new.runtime.wait_listening([new.runtime.start(n, binaries) for n in fresh])
    report = converge_cluster([n.address for n in target.nodes], [n.address for n in retired], password, journal,
                              masters=spec.cluster.masters, replicas_per_master=spec.cluster.replicas_per_master,
                              clock=clock, progress=progress, move_progress=move_progress, stop=stop,
                              settings=settings)
    status = None
    if not report.stopped:
        if retired:
            progress(f"stopping {len(retired)} retired node{_s(retired)}")
            new.runtime.stop(retired)
            for node in retired:
                shutil.rmtree(new.runtime.node_dir(node), ignore_errors=True)
        status = wait_healthy(new, only="cluster", timeout=timeout, progress=progress, clock=clock)
    return ScaleResult((current.masters, current.replicas_per_master),
                       (spec.cluster.masters, spec.cluster.replicas_per_master), [n.name for n in fresh],
                       [n.name for n in retired], report, status, clock.now() - began)


def _retired_nodes(dep: Deployment, size: int) -> list[NodePlan]:
    """Cluster nodes with a directory under the state dir and an index at or past ``size``."""
    cluster = dep.spec.cluster
    assert cluster is not None
    pattern = re.compile(rf"{re.escape(cluster.name)}-(\d+)")
    indexes = sorted(int(m.group(1)) for d in (dep.runtime.state_dir.iterdir() if dep.runtime.state_dir.is_dir()
                                                else ()) if (m := pattern.fullmatch(d.name)))
    nodes = [cluster_node(cluster, i) for i in indexes if i >= size]
    return [n for n in nodes if dep.runtime.exists(n)]


def wait_healthy(dep: Deployment, *, only: str | None = None, timeout: float = 60.0,
                 progress: Progress = lambda _msg: None, clock: Clock | None = None) -> StatusReport:
    """Poll the status verdict until it is OK; raise :class:`HealthTimeout` with the reasons.

    Time a node spends loading its dataset (a replica after a full sync, say)
    does not count against ``timeout`` as long as the load moves: how long a
    load takes depends on the data, not on anything ``timeout`` could know.
    """
    clock = clock or SystemClock()
    groups, clusters = targets_from_plan(dep.plan, dep.secrets)
    groups = groups if only in (None, "sentinel") else []
    clusters = clusters if only in (None, "cluster") else []
    deadline = clock.now() + timeout
    last = ""
    loaded: dict[Address, int] = {}
    polled = clock.now()
    while True:
        # a TLS handshake per probe: give a loaded machine more room before a node counts as not answering
        report = collect_status_sync(groups, clusters, timeout=2.0 if dep.secrets.tls else 1.0)
        if report.health is Health.OK:
            return report
        loading = report.loading
        if any(state.loaded_bytes > loaded.get(address, -1) for address, state in loading.items()):
            deadline += clock.now() - polled
        loaded = {address: state.loaded_bytes for address, state in loading.items()}
        polled = clock.now()
        if clock.now() > deadline:
            raise HealthTimeout("deployment", timeout, report.reasons)
        reason = report.reasons[0] if report.reasons else "waiting"
        if reason != last:
            progress(f"waiting for health: {reason}")
            last = reason
        clock.sleep(0.1)


def down(dep: Deployment, *, purge: bool = False, progress: Progress = lambda _msg: None) -> DownResult:
    """Stop sentinels first (so none starts a failover while masters stop), then data nodes."""
    runtime = dep.runtime
    # nodes an interrupted scale-in left behind count too: they are ours and may still run
    leftover = _retired_nodes(dep, dep.spec.cluster.size) if dep.spec.cluster is not None else []
    nodes = (*dep.plan.nodes, *leftover)
    running = runtime.running(nodes)
    sentinels = [n for n in nodes if n.kind is NodeKind.SENTINEL]
    data = [n for n in nodes if n.kind is not NodeKind.SENTINEL]
    progress(f"stopping {len(running)} node{_s(running)}")
    killed = runtime.stop(sentinels) + runtime.stop(data)
    companions: list[str] = []
    if purge:
        companions = _stop_companions(dep, progress)
        progress(f"deleting {runtime.state_dir}")
        runtime.purge()
    return DownResult(sorted(running), killed, purge, companions)


def _stop_companions(dep: Deployment, progress: Progress) -> list[str]:
    """The monitoring stack and the UI keep their state (and pid files) in the directory ``--purge`` deletes:
    stop them first, or they run on unseen, holding their ports.  Returns what was stopped."""
    from redisops.observe.commander import Commander
    from redisops.observe.stack import Monitor

    stopped: list[str] = []
    progress("stopping the monitoring stack and the UI, if they run")
    monitor = Monitor.open(dep.spec_file)
    stopped += [name for name, state in monitor.down().items() if state == "stopped"]
    if Commander.open(dep.spec_file).stop() is not None:
        stopped.append("redis-commander")
    return stopped


@dataclass(frozen=True)
class _SentinelView:
    address: Address
    config_epoch: int
    failing_over: bool


@dataclass(frozen=True)
class _Role:
    """How a stopped Sentinel-group node must start: ``args`` for redis-server, and why, as a sentence."""

    args: tuple[str, ...]
    sentence: str


def _start_roles(dep: Deployment, data: Sequence[NodePlan], clock: Clock) -> dict[str, _Role]:
    """The role each Sentinel-group node in ``data`` must start in, where its config file says otherwise.

    The sentinels decide: an old master whose file still says "master" (it was
    killed, or demoted at runtime) starts as a replica of the master they
    elected, and a node whose file follows another starts as what they elected.
    Nodes absent from the result start as their file says.
    """
    out: dict[str, _Role] = {}
    for layout in dep.plan.groups:
        group = [n for n in data if n.kind is NodeKind.REDIS and n.group == layout.spec.name]
        master = _elected_master(dep, layout, clock) if group else None
        if master is None:
            continue
        _refuse_empty_master(dep, layout, group, master)
        for node in group:
            configured = _configured_master(dep, node)
            if node.address == master and configured is not None:
                out[node.name] = _Role(("--replicaof", "no", "one"), f"restarted {node.name} as the master the "
                                       f"sentinels elected (its config still followed {configured})")
            elif node.address != master and configured != master:
                out[node.name] = _Role(("--replicaof", master.host, str(master.port)), f"restarted {node.name} as a "
                                       f"replica of {master}, the master the sentinels elected")
    return out


def _refuse_empty_master(dep: Deployment, layout: GroupLayout, starting: Sequence[NodePlan], master: Address) -> None:
    """The elected master lost its data (a replaced disk) while replicas kept theirs: started, it would be an
    empty master that every replica copies.  Its data must come back first, from one of them."""
    lost = next((n for n in starting if n.address == master and not _has_data(dep, n)), None)
    keeper = next((n for n in layout.redis if n is not lost and _has_data(dep, n)), None)
    if lost is None or keeper is None:
        return
    source, target = dep.runtime.node_dir(keeper), dep.runtime.node_dir(lost)
    raise UsageError(f"{lost.name} ({master}), the master {layout.spec.name}'s sentinels elected, has lost its data; "
                     "started now it would be an empty master that every replica copies",
                     hint=f"give it a replica's copy first: `mkdir -p {target} && cp -a {source}/dump.rdb "
                     f"{source}/appendonlydir {target}/` (see docs/runbooks/sentinel.md), then `redisops up`")


def _has_data(dep: Deployment, node: NodePlan) -> bool:
    directory = dep.runtime.node_dir(node)
    return (directory / "dump.rdb").exists() or (directory / "appendonlydir").exists()


def _configured_master(dep: Deployment, node: NodePlan) -> Address | None:
    """The master ``node``'s config file (or, for a new node, the plan) makes it follow; None: it is a master."""
    if not dep.runtime.exists(node):
        return node.replica_of
    return conf_replicaof(dep.runtime.conf_path(node).read_text())


def _elected_master(dep: Deployment, layout: GroupLayout, clock: Clock) -> Address | None:
    """The master the group's sentinels settled on: the running ones, and the files of the stopped ones.

    While a failover runs, the running sentinels' answers differ: the leader
    names the promoted replica before the others hear of it, and two leaders of
    consecutive epochs can each promote a different replica until the higher
    epoch wins.  So wait (up to the failover timeout, at most 30 s) until every
    running sentinel names the same master and none is failing over; then the
    highest config epoch decides, among them and the files of stopped
    sentinels (Sentinel rewrites its file at every switch, so a full restart,
    with no sentinel running yet, still knows the last master).  None: no
    sentinel ever ran, so the nodes start as created.
    """
    name = layout.spec.name
    stored = [v for s in layout.sentinels if dep.runtime.pid(s) is None and (v := _stored_view(dep, s, name))]
    deadline = clock.now() + min(layout.spec.failover_timeout_ms / 1000, 30.0)
    while True:
        live = [v for s in layout.sentinels if (v := _sentinel_view(dep, s, name)) is not None]
        done, master = _settled_master(live, stored, give_up=clock.now() >= deadline)
        if done:
            return master
        clock.sleep(0.2)


def _settled_master(live: Sequence[_SentinelView], stored: Sequence[_SentinelView], *,
                    give_up: bool) -> tuple[bool, Address | None]:
    """``(done, master)``: done once the running sentinels agree (or ``give_up``); the highest epoch wins."""
    views = [*live, *stored]
    if not views:
        return True, None
    settled = len({v.address for v in live}) <= 1 and not any(v.failing_over for v in live)
    if not (settled or give_up):
        return False, None
    votes = Counter(v.address for v in views)
    return True, max(views, key=lambda v: (v.config_epoch, votes[v.address])).address


def _stored_view(dep: Deployment, sentinel: NodePlan, group: str) -> _SentinelView | None:
    """What a stopped sentinel's config file says its master was."""
    try:
        found = sentinel_conf_master(dep.runtime.conf_path(sentinel).read_text(), group)
    except OSError:
        return None
    return None if found is None else _SentinelView(found[0], found[1], False)


def _sentinel_view(dep: Deployment, sentinel: NodePlan, group: str) -> _SentinelView | None:
    if dep.runtime.pid(sentinel) is None:
        return None
    try:
        with connect(sentinel.address, dep.secrets.sentinel, timeout=1.0) as client:
            reply = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", group)
            state = client.execute_command("SENTINEL", "MASTER", group)
    except redis.RedisError:
        return None
    address = parse_master_addr(reply)
    if address is None:
        return None
    master = parse_sentinel_master(group, state)
    return _SentinelView(address, master.config_epoch or 0, "failover_in_progress" in master.flags)


def _persist_role(dep: Deployment, node: NodePlan) -> None:
    """Write the new role into the node's own config, so a later restart keeps it."""
    with connect(node.address, dep.secrets.admin, timeout=5.0) as client:
        client.config_rewrite()


def _count(items: Sized, noun: str) -> str:
    return f"{len(items)} {noun}{_s(items)}"


def _s(items: Sized) -> str:
    """The plural ending of a progress message's noun: ``stopping 1 node``, ``stopping 6 nodes``."""
    return "" if len(items) == 1 else "s"
