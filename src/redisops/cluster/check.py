"""``cluster check``: is this cluster whole, settled and consistent?

On top of the status verdict of :mod:`redisops.topology.cluster_status`
(coverage, agreement of the slot maps, failing nodes, replica links), a check
looks where a status does not:

* open slots -- a node printing ``[slot->-id]`` / ``[slot-<-id]`` is in the middle
  of a move (or was left there by an interrupted one);
* masters without any replica -- one crash from losing their slots;
* keys in slots their node does not own -- left behind by a half-finished move
  or a manual ``SETSLOT``; clients can never reach them.  Each master is asked
  ``CLUSTER COUNTKEYSINSLOT`` for every slot it neither owns nor imports, in one
  pipeline (16384 tiny commands, a few milliseconds).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redisops.address import Address
from redisops.auth import Credential
from redisops.cluster.live import ClusterView, fetch_view
from redisops.topology.cluster_status import judge_cluster
from redisops.topology.model import SLOTS, Health, Role, format_slots
from redisops.topology.probe import ask, describe_failure
from redisops.topology.targets import ClusterTarget

__all__ = ["CheckReport", "check_cluster", "check_cluster_sync", "stray_key_findings"]


@dataclass(frozen=True)
class CheckReport:
    health: Health
    findings: tuple[str, ...]
    nodes: int
    masters: int
    slots_covered: int

    @property
    def exit_code(self) -> int:
        return self.health.exit_code

    def sentence(self) -> str:
        if not self.findings:
            return (f"cluster ok: {self.masters} masters, {self.nodes} nodes, all {SLOTS} slots covered, "
                    "no open slots, all nodes agree")
        return f"{len(self.findings)} findings: {self.findings[0]}"

    def to_dict(self) -> dict[str, Any]:
        return {"health": self.health.value, "exit_code": self.exit_code, "findings": list(self.findings),
                "nodes": self.nodes, "masters": self.masters, "slots_covered": self.slots_covered}


def check_cluster_sync(seeds: Sequence[Address], password: Credential, timeout: float = 2.0) -> CheckReport:
    return asyncio.run(check_cluster(seeds, password, timeout))


async def check_cluster(seeds: Sequence[Address], password: Credential, timeout: float = 2.0) -> CheckReport:
    view = await fetch_view(seeds, password, timeout)
    status = judge_cluster(ClusterTarget("cluster", tuple(seeds), password=password), view.probes)
    findings = [r.removeprefix("cluster: ") for r in status.reasons]
    findings += open_slot_findings(view)
    findings += lonely_master_findings(view)
    findings += await _stray_keys(view, password, timeout)
    health = Health.DOWN if status.health is Health.DOWN else (Health.DEGRADED if findings else Health.OK)
    return CheckReport(health, tuple(dict.fromkeys(findings)), len(view.nodes), len(view.slot_map.owners),
                       view.slot_map.covered)


def open_slot_findings(view: ClusterView) -> list[str]:
    out = []
    for slot in sorted(view.open_slots, key=lambda o: (o.slot, o.node)):
        node = _label(view, slot.node)
        arrow = "to" if slot.state == "migrating" else "from"
        out.append(f"slot {slot.slot} open: {slot.state} on {node} {arrow} {_label(view, slot.peer)}")
    return out


def lonely_master_findings(view: ClusterView) -> list[str]:
    nodes = view.nodes
    followed = {n.master_id for n in nodes.values() if n.role is Role.REPLICA and not n.problems & {"fail"}}
    return [f"master {_label(view, m)} ({format_slots(view.slot_map.ranges_of(m))}) has no replica"
            for m in sorted(view.slot_map.owners) if m not in followed]


def stray_key_findings(node: str, counts: Sequence[tuple[int, int]]) -> list[str]:
    """``counts``: (slot, keys) for slots the node does not own; one finding per node, naming a few slots."""
    stray = [(s, n) for s, n in counts if n > 0]
    if not stray:
        return []
    keys = sum(n for _, n in stray)
    shown = ", ".join(str(s) for s, _ in stray[:5]) + (" ..." if len(stray) > 5 else "")
    return [f"{node} holds {keys} keys in {len(stray)} slots it does not own ({shown})"]


async def _stray_keys(view: ClusterView, password: Credential, timeout: float) -> list[str]:
    importing = {(o.node, o.slot) for o in view.open_slots if o.state == "importing"}
    jobs = []
    for probe in view.reachable:
        me = probe.myself
        if me is None or me.role is not Role.MASTER or not probe.node.keys:
            continue
        owned = {s for a, b in me.slots for s in range(a, b + 1)}
        slots = [s for s in range(SLOTS) if s not in owned and (me.id, s) not in importing]
        jobs.append(_count(probe.node.address, password, slots, timeout, _label(view, me.id)))
    results = await asyncio.gather(*jobs)
    return [finding for found in results for finding in found]


async def _count(address: Address, password: Credential, slots: list[int], timeout: float,
                 label: str) -> list[str]:
    """Keys ``address`` holds in slots it does not own; a node that stops answering meanwhile is a finding too,
    not a crash of the whole check (16k commands in one pipeline, right after a killed move, can time out)."""
    try:
        replies = await ask(address, password, [("CLUSTER", "COUNTKEYSINSLOT", str(s)) for s in slots], timeout)
    except Exception as exc:  # noqa: BLE001 - every probe failure is described, none is a bug
        return [f"{label}: stray keys not counted ({describe_failure(exc, password)})"]
    return stray_key_findings(label, [(s, n) for s, n in zip(slots, replies, strict=True) if isinstance(n, int)])


def _label(view: ClusterView, node_id: str) -> str:
    node = view.nodes.get(node_id)
    return str(node.address) if node is not None and node.address is not None else node_id[:12]
