"""The certificates a Compose project carries (:mod:`redisops.runtime.compose.tls` says where they go).

Made in ``.redisops/<name>/compose-tls``, a CA of its own kept across renders (the local runtime's nodes have
other addresses, so other certificates): one certificate per node naming its static address, its service name
and 127.0.0.1 (the healthcheck), and the client certificates the project needs.  Each render renews what is
within 30 days of expiry and copies the current files into the project; the CA's key stays behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from redisops.errors import UsageError
from redisops.runtime.compose.addon import ComposeAddon
from redisops.runtime.compose.layout import static_ips
from redisops.runtime.compose.output import OutputFile
from redisops.runtime.compose.render import RenderResult, render_compose
from redisops.runtime.compose.tls import (
    APP_CLIENT,
    BUNDLE,
    INIT_CLIENT,
    PROJECT_DIR,
    ComposeTls,
    compose_tls,
    rel,
    ui_clients,
)
from redisops.runtime.plan import Plan, build_plan, state_dir
from redisops.runtime.tls_layout import Layout
from redisops.runtime.ui import UI
from redisops.security.tls.material import NodeIdentity, ensure_material
from redisops.spec.models import Spec

__all__ = ["compose_material", "render_compose_project"]


def compose_material(spec: Spec, spec_file: Path, clients: Sequence[str] = (), plan: Plan | None = None) -> ComposeTls:
    """Make or renew the project's CA and certificates (I/O in the state directory), then read them as the
    project's ``tls/`` files; ``clients``: what added services log in with (an addon's ``tls_clients``)."""
    if spec.tls.own is not None:
        raise UsageError("tls.own is for `redisops up`: the Compose project's certificates name its static addresses",
                         hint="render from a spec without tls.own (the project gets a CA of its own)")
    plan = plan or build_plan(spec)
    ips = static_ips(plan)
    names = tuple(dict.fromkeys([*((INIT_CLIENT,) if plan.cluster else ()), APP_CLIENT, *clients]))
    root = state_dir(spec, spec_file).resolve() / "compose-tls"
    ensure_material(root, spec.name, [NodeIdentity(n.name, (ips[n.name], "127.0.0.1"), (n.name,))
                                      for n in plan.nodes], names)
    layout = Layout(root)
    files = {f"{PROJECT_DIR}/{BUNDLE}": OutputFile(layout.bundle.read_text())}
    pairs = [("nodes", n.name, layout.node(n.name)) for n in plan.nodes]
    pairs += [("clients", name, layout.client(name)) for name in names]
    for kind, name, pair in pairs:
        files[f"{PROJECT_DIR}/{rel(kind, name, 'crt')}"] = OutputFile(pair.cert.read_text())
        files[f"{PROJECT_DIR}/{rel(kind, name, 'key')}"] = OutputFile(pair.key.read_text(), 0o600)
    return ComposeTls(files, names)


def render_compose_project(spec: Spec, spec_file: Path, output: Path, *, ui: UI | None = None, force: bool = False,
                           addon: ComposeAddon | None = None) -> RenderResult:
    """``render compose``: the project's certificates when it runs TLS, then
    :func:`redisops.runtime.compose.render_compose`."""
    clients = (*(addon.tls_clients if addon else ()), *ui_clients(ui))
    tls = compose_material(spec, spec_file, clients) if compose_tls(spec) else None
    return render_compose(spec, spec_file, output, ui=ui, force=force, addon=addon, tls=tls)
