"""``redisops status``: the live topology and its verdict (exit 0 ok, 1 degraded, 3 down).

Targets come from the spec (every node, expected counts, passwords from the
secrets file) or from remote seeds: ``--sentinel h:p,h:p --master NAME`` and/or
``--cluster h:p``, with passwords read from the environment variables named by
``--password-env`` / ``--sentinel-password-env`` (never from the command line,
where ``ps`` would show them).  Heavy imports stay inside the body: ``status``
is run in loops and must start fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, keep_whole, run, table
from redisops.cli.targets import (
    ClusterOpt,
    MasterOpt,
    PasswordEnvOpt,
    SentinelOpt,
    SentinelPasswordEnvOpt,
    UserOpt,
    remote_targets,
    spec_targets,
)

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table
    from rich.text import Text

    from redisops.topology import (
        ClusterRow,
        ClusterStatus,
        ClusterTarget,
        Failure,
        GroupStatus,
        SentinelTarget,
        StatusReport,
    )

__all__ = ["register", "render_report", "slots_summary"]

_STYLE = {"ok": "green", "degraded": "yellow", "down": "bold red"}
#: slot ranges a cluster table cell lists before it summarizes the rest (``--json`` has them all)
SLOT_RANGES_SHOWN = 3


def register(app: typer.Typer) -> None:
    app.command("status")(status)


def status(
    file: FileOpt = DEFAULT_SPEC,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
    watch: bool = typer.Option(False, "--watch", help="Refresh until Ctrl-C (--json: one line per refresh)."),
    interval: float = typer.Option(2.0, "--interval", min=0.1, help="Seconds between refreshes (--watch)."),
    sentinel: SentinelOpt = None,
    master: MasterOpt = None,
    cluster: ClusterOpt = None,
    password_env: PasswordEnvOpt = None, user: UserOpt = None,
    sentinel_password_env: SentinelPasswordEnvOpt = None,
) -> None:
    """Show every node, replication link and slot range, and the health verdict."""

    def body(ctx: Ctx) -> Result:
        from redisops.topology.status import collect_status_sync

        remote = remote_targets(sentinel, master, cluster, password_env, sentinel_password_env, user)
        groups, clusters = remote if remote is not None else spec_targets(ctx)
        if watch:
            _watch(ctx, groups, clusters, interval, remote is not None)
        report = collect_status_sync(groups, clusters)
        _fail_if_silent(report, remote is not None)
        return Result(report.to_dict(), lambda out: render_report(out, report), report.exit_code)

    run(body, file=file, json_out=json_out, debug=debug)


def _fail_if_silent(report: StatusReport, remote: bool) -> None:
    """Remote seeds of which nothing answered: one error line instead of an empty table."""
    error = report.unreachable_error() if remote else None
    if error is not None:
        raise error


# --- watch ------------------------------------------------------------------------------------------


def _watch(ctx: Ctx, groups: Sequence[SentinelTarget], clusters: Sequence[ClusterTarget], interval: float,
           remote: bool) -> None:
    """Refresh until Ctrl-C, which ``run`` turns into exit 130."""
    import asyncio

    try:
        asyncio.run(_watch_loop(ctx, groups, clusters, interval, remote))
    except KeyboardInterrupt:
        if not ctx.json and not ctx.out.is_terminal:
            ctx.out.line()  # a live display off a terminal ends without a newline
        raise


async def _watch_loop(ctx: Ctx, groups: Sequence[SentinelTarget], clusters: Sequence[ClusterTarget],
                      interval: float, remote: bool) -> None:
    from rich.console import Group
    from rich.live import Live

    from redisops.topology.status import watch_status

    reports = watch_status(groups, clusters, interval=interval)
    first = await anext(reports)
    _fail_if_silent(first, remote)
    if ctx.json:  # one `status` envelope per refresh, one per line
        async for report in _chain(first, reports):
            ctx.line(report.to_dict())
        return
    with Live(console=ctx.out, auto_refresh=False) as live:
        async for report in _chain(first, reports):
            footer = _text(f"refreshing every {interval:g} s; Ctrl-C to stop", "dim")
            live.update(Group(*_renderables(report), footer), refresh=True)


async def _chain(first: StatusReport, rest: Any) -> Any:
    yield first
    async for report in rest:
        yield report


# --- rendering --------------------------------------------------------------------------------------


def render_report(out: Console, report: StatusReport) -> None:
    for renderable in _renderables(report):
        out.print(renderable)


def _renderables(report: StatusReport) -> list[RenderableType]:
    out: list[RenderableType] = []
    for group in report.groups:
        out += [*_group_tables(group), _text("")]
    for cluster in report.clusters:
        out += [_cluster_table(cluster), _text("")]
    out.append(_verdict(report))
    return out


def _table(title: str | None, health: str, columns: Sequence[str], right: Sequence[str] = (),
           wrap: Sequence[str] = ()) -> Table:
    """A status table (see :func:`~redisops.cli.common.table`), titled in the colour of its health."""
    return table(columns, title=_text(title, _STYLE[health]) if title else None, right=right, wrap=wrap)


def _group_tables(group: GroupStatus) -> list[RenderableType]:
    up = sum(1 for s in group.sentinels if s.reachable)
    quorum = _str(group.quorum) or "?"
    title = f"{group.name}: master {group.master or '?'}, sentinels {up}/{len(group.sentinels)}, " \
            f"quorum {quorum}"
    sentinels = _table(title, group.health.value,
                       ("sentinel", "sees master", "flags", "replicas", "peers", "quorum", "ckquorum"),
                       wrap=("flags",))
    for view in group.sentinels:
        if view.failure is not None:
            sentinels.add_row(_text(str(view.address)), _text(_down(view.failure), "red"))
            continue
        sentinels.add_row(
            _text(str(view.address)),
            _text(str(view.master), "" if view.master == group.master else "yellow"),
            _text(",".join(sorted(view.flags)), "red" if {"s_down", "o_down"} & view.flags else ""),
            _count(view.num_slaves, group.expected_replicas),
            _count(view.num_other_sentinels, group.expected_sentinels - 1),
            _text(_str(view.quorum)),
            _text(view.ckquorum.split()[0] if view.ckquorum else "", "" if view.ckquorum_ok else "red"),
        )
    numbers = ("keys", "offset", "lag B", "lag s")
    nodes = _table(None, group.health.value, ("node", "role", "replicates", "link", *numbers), numbers,
                   wrap=("link",))
    for node in group.nodes:
        if node.failure is not None:
            nodes.add_row(_text(str(node.address)), _text(_down(node.failure), "red"))
            continue
        lag_bytes, lag_seconds = group.lag(node)
        link = "" if node.link_up is None else ("up" if node.link_up else "down")
        nodes.add_row(
            _text(str(node.address)),
            _text(node.role.value, "bold" if node.address == group.master else ""),
            _text(_str(node.master)),
            _text(link, "red" if link == "down" else ""),
            *(_text(_str(v)) for v in (node.keys, node.offset, lag_bytes, lag_seconds)),
        )
    keep_whole(sentinels, ("sentinel", "sees master"))
    keep_whole(nodes, ("node", "role", "replicates"))
    return [sentinels, nodes] if group.nodes else [sentinels]


def _cluster_table(cluster: ClusterStatus) -> RenderableType:
    from redisops.topology.model import SLOTS

    masters, agreeing = len(cluster.slot_map.owners), f"{cluster.views_agreeing}/{cluster.views}"
    # a remote --cluster target is named just "cluster": no "cluster cluster:" heading
    heading = "cluster" if cluster.name == "cluster" else f"cluster {cluster.name}"
    title = (f"{heading}: slots {cluster.slots_covered}/{SLOTS}, masters {masters}, "
             f"views agreeing {agreeing}, epoch {_str(cluster.current_epoch)}")
    columns = ("node", "id", "role", "slots", "keys", "flags", "link", "epoch", "state")
    nodes = _table(title, cluster.health.value, columns, ("keys", "epoch"), wrap=("slots", "flags", "link"))
    for row in cluster.rows:
        label = _text(str(row.address or "noaddr"))
        if row.failure is not None and row.id is None:
            nodes.add_row(label, _text(""), _text(_down(row.failure), "red"))
            continue
        link = _cluster_link(row)
        nodes.add_row(
            label,
            _text((row.id or "")[:8]),
            _role(row.role.value, row.failure),
            _text(slots_summary(row.slots)),
            _text(_str(row.keys)),
            _text(",".join(sorted(row.flags)), "red" if row.flags else ""),
            _text(link, "" if link == "ok" else "red"),
            _text(_str(row.config_epoch)),
            _text(row.cluster_state or "", "" if row.cluster_state in ("ok", None) else "red"),
        )
    return keep_whole(nodes, ("node", "id", "role"))


def slots_summary(slots: Sequence[tuple[int, int]], shown: int = SLOT_RANGES_SHOWN) -> str:
    """The first ``shown`` slot ranges, then how many more and how many slots in all.

    After a scale-in a master can own 1300+ ranges (``0-4123,4126,4129,…``);
    listed in full, that cell alone is wider than any screen and squeezes every
    other column out.  The table shows ``0-4123,4126,4129,… +1336 ranges (5461
    slots)``; the full list is in ``--json``.
    """
    ranges = [f"{a}-{b}" if a != b else str(a) for a, b in slots]
    if len(ranges) <= shown:
        return ",".join(ranges)
    total = sum(b - a + 1 for a, b in slots)
    return f"{','.join(ranges[:shown])},… +{len(ranges) - shown} ranges ({total} slots)"


def _cluster_link(row: ClusterRow) -> str:
    """``ok``, or which link is down: the cluster bus (as peers see it) or replication."""
    down = [] if row.link_state in ("connected", None) else ["bus"]
    down += ["repl"] if row.link_up is False else []
    return "down: " + ",".join(down) if down else ("ok" if row.reachable else "")


def _verdict(report: StatusReport) -> RenderableType:
    from rich.text import Text

    text = Text("verdict: ")
    text.append(report.health.value.upper(), _STYLE[report.health.value])
    for reason in report.reasons:
        text.append(f"\n  - {reason}")
    return text


def _role(role: str, failure: Failure | None) -> Text:
    return _text(role) if failure is None else _text(_down(failure), "red")


def _down(failure: Failure) -> str:
    """A short cell; the full detail is in the verdict's reasons."""
    return {"unreachable": "down", "auth": "auth failed"}.get(failure.kind.value, "error")


def _count(value: int | None, expected: int) -> Text:
    return _text(_str(value), "" if value == expected else "yellow")


def _text(value: str, style: str = "") -> Text:
    """A cell that is never parsed as markup (``[::1]:7000`` is an address, not a tag)."""
    from rich.text import Text

    return Text(value, style=style)


def _str(value: object) -> str:
    return "" if value is None else str(value)
