"""``redisops tls rotate``: new certificates (or a new CA) into a running TLS deployment, with no downtime.

A data node loads its certificate, key and CA bundle again when one of them is
set (``CONFIG SET tls-cert-file <the same path> ...``); its open connections keep
their session, new ones use the new files.  A sentinel cannot, so it is restarted,
one at a time (the others keep the quorum), and it comes back with the group
from its own config.  Every node loaded, the next step may go.

Without ``new_ca``: every certificate reissued by the same CA, then the roll.
With ``new_ca``, the three steps of :mod:`redisops.security.tls.rotation`, each
followed by its roll: trust the new CA beside the old, issue everything from it,
drop the old one.  The step comes from the files, so a rotation cut short is
finished by running it again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from redisops.auth import Credential
from redisops.clients import connect
from redisops.errors import StartupError, UsageError
from redisops.runtime.local import Binaries, LocalRuntime
from redisops.runtime.plan import NodeKind, NodePlan
from redisops.runtime.tls_layout import Layout
from redisops.security.tls.material import NodeIdentity
from redisops.security.tls.rotation import RotationStep, finish_rotation, rotate, rotation_step

__all__ = ["RollReport", "rotate_live"]

Progress = Callable[[str], None]


@dataclass
class RollReport:
    steps: list[str] = field(default_factory=list)  # "renewed", "trusted", "issued", "finished"
    reloaded: list[str] = field(default_factory=list)  # data nodes that loaded the files (last roll)
    restarted: list[str] = field(default_factory=list)  # sentinels restarted (last roll)
    failed: dict[str, str] = field(default_factory=dict)  # node -> why it did not load the files

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "steps": self.steps, "reloaded": self.reloaded, "restarted": self.restarted,
                "failed": self.failed}


def rotate_live(root: Path, deployment: str, nodes: Sequence[NodePlan], identities: Sequence[NodeIdentity],
                runtime: LocalRuntime, binaries: Binaries, admin: Credential, *, new_ca: bool = False,
                own: bool = False, progress: Progress = lambda _msg: None) -> RollReport:
    """See the module docstring; stops at the first roll a node did not take (rerun after mending it).  ``own``:
    the user's certificates, already copied in (:mod:`redisops.security.tls.own`): every node loads them, nothing
    is issued."""
    report = RollReport()
    if own:
        if new_ca:
            raise UsageError("tls.own: your CA is yours to rotate",
                             hint="issue certificates from the new CA, put both CAs in ca_file, run `redisops tls "
                                  "rotate`, and again once every certificate is from the new CA with it alone")
        report.steps.append("reloaded")
        _roll(root, nodes, runtime, binaries, admin, report, progress)
        return report
    if not new_ca:
        rotate(root, deployment, identities)
        report.steps.append(RotationStep.RENEWED.value)
        _roll(root, nodes, runtime, binaries, admin, report, progress)
        return report
    for _ in range(3):
        step = rotation_step(root)
        if step is RotationStep.ISSUED:
            finish_rotation(root, deployment)
            report.steps.append(RotationStep.FINISHED.value)
        else:
            done = rotate(root, deployment, identities, new_ca=True)
            report.steps.append(done.step.value)
        progress(f"CA rotation: {report.steps[-1]}; every node loads it")
        _roll(root, nodes, runtime, binaries, admin, report, progress)
        if not report.ok or report.steps[-1] == RotationStep.FINISHED.value:
            break
    return report


def _roll(root: Path, nodes: Sequence[NodePlan], runtime: LocalRuntime, binaries: Binaries, admin: Credential,
          report: RollReport, progress: Progress) -> None:
    layout = Layout(root)
    report.reloaded, report.restarted = [], []
    running = runtime.running(nodes)
    for node in nodes:
        if node.name not in running:
            continue  # a stopped node reads the files when it starts
        if node.kind is NodeKind.SENTINEL:
            try:
                runtime.stop([node])
                started = runtime.start(node, binaries)
                runtime.wait_listening([started])
                report.restarted.append(node.name)
            except StartupError as exc:
                report.failed[node.name] = exc.message
            continue
        pair = layout.node(node.name)
        try:
            with connect(node.address, admin, timeout=5.0) as client:
                client.execute_command("CONFIG", "SET", "tls-cert-file", str(pair.cert), "tls-key-file",
                                       str(pair.key), "tls-ca-cert-file", str(layout.bundle))
            report.reloaded.append(node.name)
        except (redis.RedisError, OSError) as exc:
            report.failed[node.name] = str(exc).split("\n")[0][:200]
    progress(f"{len(report.reloaded)} data nodes reloaded, {len(report.restarted)} sentinels restarted")
