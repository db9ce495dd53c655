"""``redisops verify replicas|cluster|compare``: data consistency (exit 0 same, 1 different, 3 down)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from redisops.cli.common import (
    DEFAULT_SPEC,
    Ctx,
    DebugOpt,
    FileOpt,
    JsonOpt,
    Result,
    keep_whole,
    plural,
    run,
    table,
)
from redisops.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from redisops.data.cluster_check import ClusterCheck
    from redisops.data.compare import PairReport
    from redisops.data.verify import VerifyOptions

__all__ = ["register"]

app = typer.Typer(help="Consistency checks: replicas against masters, cluster slots, two deployments.",
                  no_args_is_help=True)

SentinelOpt = typer.Option(None, "--sentinel", help="Remote sentinels h:p,h:p (with --master).")
MasterOpt = typer.Option(None, "--master", help="Master name the remote sentinels monitor.")
ClusterOpt = typer.Option(None, "--cluster", help="Remote cluster seed(s) h:p[,h:p].")
PasswordOpt = typer.Option(None, "--password-env", metavar="VAR", help="Env var with the data nodes' password.")
UserOpt = typer.Option(None, "--user", metavar="NAME", help="ACL user the --password-env password belongs to.")
SentinelPasswordOpt = typer.Option(None, "--sentinel-password-env", metavar="VAR",
                                   help="Env var with the sentinels' password (remote).")
RateOpt = typer.Option(None, "--rate", min=1, help="Cap on keys read per second (default: no cap).")
BatchOpt = typer.Option(256, "--batch", min=1, max=10000, help="Keys per SCAN batch and script call.")
RoundsOpt = typer.Option(3, "--rounds", min=1, help="Compare rounds; later ones re-check only differences.")
IntervalOpt = typer.Option(1.0, "--interval", min=0, help="Seconds between rounds.")
TtlOpt = typer.Option(2000, "--ttl-tolerance-ms", min=0, help="TTLs this close count as equal.")
FirstOpt = typer.Option(20, "--first", min=0, help="How many differing keys to list.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="verify")


def _options(rate: float | None, batch: int, rounds: int, interval: float, ttl: int, first: int) -> VerifyOptions:
    from redisops.data.verify import VerifyOptions

    return VerifyOptions(batch=batch, rate=rate, rounds=rounds, interval=interval, ttl_tolerance_ms=ttl,
                         first=first)


@app.command("replicas")
def replicas(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
             sentinel: str | None = SentinelOpt, master: str | None = MasterOpt, cluster: str | None = ClusterOpt,
             password_env: str | None = PasswordOpt, user: str | None = UserOpt,
             sentinel_password_env: str | None = SentinelPasswordOpt,
             rate: float | None = RateOpt, batch: int = BatchOpt, rounds: int = RoundsOpt,
             interval: float = IntervalOpt, ttl_tolerance_ms: int = TtlOpt, first: int = FirstOpt) -> None:
    """Every master against each of its replicas (Sentinel groups and cluster shards)."""

    def body(ctx: Ctx) -> Result:
        from redisops.cli.targets import remote_targets, spec_targets
        from redisops.data.compare import worst_exit
        from redisops.data.replicas import verify_replicas

        remote = remote_targets(sentinel, master, cluster, password_env, sentinel_password_env, user)
        groups, clusters = remote if remote is not None else spec_targets(ctx)
        options = _options(rate, batch, rounds, interval, ttl_tolerance_ms, first)
        reports = verify_replicas(groups, clusters, options)
        if not reports:
            raise UsageError("no replicas found to compare")
        data = {"pairs": [r.to_dict(first) for r in reports], "exit_code": worst_exit(reports)}
        return Result(data, lambda out: _render_pairs(out, reports, first), worst_exit(reports))

    run(body, file=file, json_out=json_out, debug=debug)


@app.command("cluster")
def cluster_cmd(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
                cluster: str | None = ClusterOpt, password_env: str | None = PasswordOpt,
                user: str | None = UserOpt) -> None:
    """Slot ownership agreed by all nodes; keys stored in slots their node does not own."""

    def body(ctx: Ctx) -> Result:
        from redisops.cli.targets import remote_targets, spec_targets
        from redisops.data.cluster_check import check_cluster

        remote = remote_targets(None, None, cluster, password_env, None, user)
        _, clusters = remote if remote is not None else spec_targets(ctx)
        if not clusters:
            raise UsageError("no cluster to check", hint="add a `cluster:` section or pass --cluster h:p")
        check = check_cluster(clusters[0])
        return Result(check.to_dict(), lambda out: _render_cluster(out, check), check.exit_code)

    run(body, file=file, json_out=json_out, debug=debug)


@app.command("compare")
def compare(src: str = typer.Argument(..., help="spec.yaml[#group|#cluster], #group / #cluster of -f's spec, "
                                                "or host:port"),
            dst: str = typer.Argument(..., help="Like SRC."),
            file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
            src_password_env: str | None = typer.Option(None, "--src-password-env", metavar="VAR"),
            dst_password_env: str | None = typer.Option(None, "--dst-password-env", metavar="VAR"),
            rate: float | None = RateOpt, batch: int = BatchOpt, rounds: int = RoundsOpt,
            interval: float = IntervalOpt, ttl_tolerance_ms: int = TtlOpt, first: int = FirstOpt) -> None:
    """Two deployments key by key: before and after a migration or a restore."""

    def body(ctx: Ctx) -> Result:
        from redisops.data.spaces import open_space, resolve_target
        from redisops.data.verify import compare_spaces

        options = _options(rate, batch, rounds, interval, ttl_tolerance_ms, first)
        spaces = []
        try:  # the first space is closed also when the second cannot be opened
            for name, env in ((src, src_password_env), (dst, dst_password_env)):
                target, password = resolve_target(f"{ctx.file}{name}" if name.startswith("#") else name)
                spaces.append(open_space(target, password or _env_password(env)))
            report = compare_spaces(spaces[0], spaces[1], options)
        finally:
            for space in spaces:
                space.close()
        data = {"pairs": [report.to_dict(first)], "exit_code": report.exit_code}
        return Result(data, lambda out: _render_pairs(out, [report], first), report.exit_code)

    run(body, file=file, json_out=json_out, debug=debug)


# --- rendering --------------------------------------------------------------------------------------


def _render_pairs(out: Console, reports: list[PairReport], first: int) -> None:
    """One row per pair; the differing keys below it.

    ``keys`` is the source's keys checked (see ``data/verify.py``).  The five
    difference counts share one ``verdict`` cell (``2 different: missing 1,
    ttl 1``), which folds at a narrow width, so that the cells naming the pair
    (``mymaster: 127.0.0.1:6400``) are never cut.
    """
    from rich.text import Text  # cells as Text: an address like [::1]:6400 is not markup

    pairs = table(("source", "target", "keys", "rounds", "mode", "verdict"), right=("keys", "rounds"),
                  wrap=("verdict",))
    for r in reports:
        pairs.add_row(*(Text(cell) for cell in (r.source, r.target, str(r.scanned), str(r.rounds), r.mode,
                                                _verdict(r))))
    out.print(keep_whole(pairs, ("source", "target")))
    for r in reports:
        for d in r.differences[:first]:
            out.print(f"  {r.target}  {d.kind.value:<17} {_show(d.to_dict())}", markup=False, highlight=False)
        for note in r.notes:
            out.print(f"  note: {note}", markup=False)


def _verdict(report: PairReport) -> str:
    """``same``, ``N different: kind n, …`` (only the kinds found), or why the pair was not compared."""
    if report.error is not None:
        return report.error
    if not report.differences:
        return "same"
    counts = ", ".join(f"{kind.removesuffix('_on_target')} {n}" for kind, n in report.counts.items() if n)
    return f"{len(report.differences)} different: {counts}"


def _show(diff: dict[str, Any]) -> str:
    s, t = diff["source"], diff["target"]
    return (f"{diff['key']!r}: source {s['type']} expires {_when(s['expire_at_ms'])}, "
            f"target {t['type']} expires {_when(t['expire_at_ms'])}")


def _when(ms: int) -> str:
    import datetime

    if ms < 0:
        return "never" if ms == -1 else "-"
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def _render_cluster(out: Console, check: ClusterCheck) -> None:
    out.print(f"cluster {check.name}: {check.summary}", markup=False)
    for line in (*check.unreachable, *check.disagreeing):
        out.print(f"  {line}", markup=False)
    for m in check.misplaced:
        owner = m.owner or "nobody"
        out.print(f"  {m.node} holds {plural(m.count, 'key')} of slot {m.slot} (owner {owner}): "
                  f"{', '.join(m.examples)}", markup=False)


def _env_password(var: str | None) -> str | None:
    import os

    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise UsageError(f"environment variable {var} is not set or empty")
    return value
