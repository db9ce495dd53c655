"""``redisops cluster ...``: create, check, health, add-node, reshard and rebalance a Redis Cluster.

Seeds come from the spec (every cluster node, password from the secrets file)
or from ``--cluster h:p`` with ``--password-env VAR``.  Moves are journalled in
``--journal`` (default ``.redisops/cluster-moves.jsonl``): a run that finds an
unfinished journal finishes that plan first, whatever it was asked.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from redisops.auth import Credential
from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, run
from redisops.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from redisops.address import Address
    from redisops.cluster.balance import PlanSummary
    from redisops.cluster.check import CheckReport
    from redisops.cluster.mover import MoveProgress, MoveReport, MoverSettings
    from redisops.runtime.temporary import Journal

__all__ = ["register"]

DEFAULT_JOURNAL = Path(".redisops/cluster-moves.jsonl")
PROGRESS_EVERY_S = 1.0

cluster_app = typer.Typer(name="cluster", help="Create, check, grow, reshard and rebalance a Redis Cluster.",
                          no_args_is_help=True, rich_markup_mode=None)

SeedOpt = typer.Option(None, "--cluster", help="Remote cluster seed(s) h:p[,h:p] instead of the spec.")
PasswordEnvOpt = typer.Option(None, "--password-env", metavar="VAR", help="Env var with the nodes' password.")
UserOpt = typer.Option(None, "--user", metavar="NAME", help="ACL user the --password-env password belongs to.")
JournalOpt = typer.Option(DEFAULT_JOURNAL, "--journal", help="Move journal (resumed when unfinished).")
FixJournalOpt = typer.Option(Path(".redisops/cluster-fix.jsonl"), "--journal",
                             help="Journal of the moves a fix finishes.")
BatchOpt = typer.Option(1000, "--batch", min=1, help="Keys per MIGRATE (redis-cli: 10).")
WaveOpt = typer.Option(64, "--slots-per-wave", min=1, max=1024, help="Slots moved together, one pipeline a step.")
WavesOpt = typer.Option(8, "--waves", min=1, max=32, help="Waves in flight at once.")
ReplaceOpt = typer.Option(False, "--replace", help="Overwrite keys the target holds with other values.")
KeysRateOpt = typer.Option(None, "--max-keys-per-s", min=1, help="Throttle: keys per second.")
MbRateOpt = typer.Option(None, "--max-mb-per-s", min=0.1, help="Throttle: MiB per second (MEMORY USAGE).")
CreateSpecOpt = typer.Option(None, "-f", "--file", help="Spec whose secrets file has the nodes' password; temporary "
                             "settings are journaled in its state dir, so its `up` undoes them (default: no spec, "
                             "--password-env).")


class MoveStrategy(str, Enum):
    AUTO = "auto"
    MIGRATE = "migrate"
    ATOMIC = "atomic"


StrategyOpt = typer.Option(MoveStrategy.AUTO, "--strategy",
                           help="auto: atomic slot migration where every master has it (Valkey >= 9), else "
                                "MIGRATE batches; migrate; atomic (refuse without it).")


def register(app: typer.Typer) -> None:
    app.add_typer(cluster_app)


@cluster_app.command("check")
def check(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
          cluster: str | None = SeedOpt, password_env: str | None = PasswordEnvOpt, user: str | None = UserOpt) -> None:
    """Coverage, open slots, agreement, failing nodes, masters without replicas, stray keys (exit 0/1/3)."""

    def body(ctx: Ctx) -> Result:
        from redisops.cluster.check import check_cluster_sync

        seeds, password = _seeds(ctx, cluster, password_env, user)
        report = check_cluster_sync(seeds, password)
        return Result(report.to_dict(), lambda out: _render_check(out, report), report.exit_code)

    run(body, file=file, json_out=json_out, debug=debug)


@cluster_app.command("reshard")
def reshard(source: str = typer.Option(..., "--from", help="Source node id, id prefix or h:p."),
            target: str = typer.Option(..., "--to", help="Target master id, id prefix or h:p."),
            slots: int = typer.Option(..., "--slots", min=1, max=16384, help="How many slots to move."),  # SLOTS
            dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan, move nothing."),
            file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
            cluster: str | None = SeedOpt, password_env: str | None = PasswordEnvOpt, user: str | None = UserOpt,
            journal: Path = JournalOpt, batch: int = BatchOpt, slots_per_wave: int = WaveOpt,
              waves: int = WavesOpt,
            replace: bool = ReplaceOpt, max_keys_per_s: float | None = KeysRateOpt,
            max_mb_per_s: float | None = MbRateOpt, strategy: MoveStrategy = StrategyOpt) -> None:
    """Move N slots from one master to another (journalled; rerun to resume)."""
    settings = _settings(batch, slots_per_wave, waves, replace, max_keys_per_s, max_mb_per_s, strategy)

    def body(ctx: Ctx) -> Result:
        from redisops.cluster.balance import reshard_plan

        seeds, password = _seeds(ctx, cluster, password_env, user)
        return _plan_and_move(ctx, seeds, password, lambda: reshard_plan(seeds, password, source, target, slots),
                              journal, settings, dry_run)

    run(body, file=file, json_out=json_out, debug=debug)


@cluster_app.command("rebalance")
def rebalance(by: str = typer.Option("slots", "--by", help="Balance slots, keys or memory."),
              threshold: float = typer.Option(2.0, "--threshold", min=0.0, help="Tolerated deviation in %."),
              use_empty_masters: bool = typer.Option(False, "--use-empty-masters",
                                                     help="Give slots to masters that own none (scale out)."),
              dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan with an ETA, move nothing."),
              file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
              cluster: str | None = SeedOpt, password_env: str | None = PasswordEnvOpt, user: str | None = UserOpt,
              journal: Path = JournalOpt, batch: int = BatchOpt, slots_per_wave: int = WaveOpt,
              waves: int = WavesOpt,
              replace: bool = ReplaceOpt, max_keys_per_s: float | None = KeysRateOpt,
              max_mb_per_s: float | None = MbRateOpt, strategy: MoveStrategy = StrategyOpt) -> None:
    """Even out slots, keys or memory across masters (journalled; rerun to resume)."""
    settings = _settings(batch, slots_per_wave, waves, replace, max_keys_per_s, max_mb_per_s, strategy)

    def body(ctx: Ctx) -> Result:
        from redisops.cluster.balance import rebalance_plan
        from redisops.cluster.planner import Balance

        try:
            balance = Balance(by)
        except ValueError:
            raise UsageError(f"--by {by}: choose slots, keys or memory") from None
        seeds, password = _seeds(ctx, cluster, password_env, user)
        return _plan_and_move(ctx, seeds, password,
                              lambda: rebalance_plan(seeds, password, by=balance, threshold_pct=threshold,
                                                     use_empty_masters=use_empty_masters),
                              journal, settings, dry_run)

    run(body, file=file, json_out=json_out, debug=debug)


@cluster_app.command("create")
def create(nodes: Annotated[list[str], typer.Argument(metavar="HOST:PORT...", help="Every node of the new cluster.")],
           replicas: int = typer.Option(1, "--replicas", min=0, max=5, help="Replicas per master."),
           force: bool = typer.Option(False, "--force", help="Form it even from nodes that hold keys."),
           password_env: str | None = PasswordEnvOpt, user: str | None = UserOpt,
           file: Path | None = CreateSpecOpt,
           json_out: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Form a cluster from any empty nodes: balanced slot ranges, replicas on another host than their master."""

    def body(ctx: Ctx) -> Result:
        from redisops.address import parse_addresses
        from redisops.cluster.nodes import create_cluster

        try:
            addresses = parse_addresses(",".join(nodes))
        except ValueError as exc:
            raise UsageError(str(exc), hint="give nodes as host:port") from None
        password, journal = _create_access(ctx if file is not None else None, addresses[0], password_env, user)
        sentence = create_cluster(addresses, password, replicas=replicas, force=force, journal=journal)
        return Result({"result": sentence}, lambda out: out.print(sentence, highlight=False))

    run(body, file=file or DEFAULT_SPEC, json_out=json_out, debug=debug)


def _create_access(spec_ctx: Ctx | None, seed: Address, password_env: str | None,
                   user: str | None = None) -> tuple[Credential, Journal]:
    """The nodes' password and the journal of temporary settings: from ``-f``'s spec, or remote ones."""
    from redisops.cli.targets import remote_targets
    from redisops.runtime.temporary import Journal

    if spec_ctx is None:
        remote = remote_targets(None, None, str(seed), password_env, None, user)
        return (remote[1][0].password if remote is not None else None), Journal.for_remote()
    if password_env is not None:
        raise UsageError("-f and --password-env both say where the password is", hint="give one of them")
    from redisops.lifecycle import Deployment

    dep = Deployment.open(spec_ctx.file)
    return dep.secrets.admin, dep.journal


@cluster_app.command("add-node")
def add_node(new: Annotated[str, typer.Argument(metavar="HOST:PORT", help="The empty node to add.")],
             replica_of: str | None = typer.Option(None, "--replica-of", help="Master id, prefix or h:p."),
             file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
             cluster: str | None = SeedOpt, password_env: str | None = PasswordEnvOpt,
             user: str | None = UserOpt) -> None:
    """MEET an empty node into the cluster, wait until every node knows it, optionally make it a replica."""

    def body(ctx: Ctx) -> Result:
        from redisops.address import Address
        from redisops.cluster.nodes import add_node as add

        try:
            address = Address.parse(new)
        except ValueError as exc:
            raise UsageError(str(exc), hint="give the node as host:port") from None
        seeds, password = _seeds(ctx, cluster, password_env, user)
        sentence = add(seeds, address, password, replica_of=replica_of)
        return Result({"result": sentence}, lambda out: out.print(sentence, highlight=False))

    run(body, file=file, json_out=json_out, debug=debug)


@cluster_app.command("remove-node")
def remove_node(node: Annotated[str, typer.Argument(metavar="ID", help="Node id, unique prefix or h:p.")],
                file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
                cluster: str | None = SeedOpt, password_env: str | None = PasswordEnvOpt, user: str | None = UserOpt,
                journal: Path = JournalOpt, batch: int = BatchOpt, slots_per_wave: int = WaveOpt,
                waves: int = WavesOpt, max_keys_per_s: float | None = KeysRateOpt,
                max_mb_per_s: float | None = MbRateOpt) -> None:
    """Drain a node's slots, re-home its replicas, FORGET it on every node, reset it (rerun to resume)."""
    settings = _settings(batch, slots_per_wave, waves, False, max_keys_per_s, max_mb_per_s)

    def body(ctx: Ctx) -> Result:
        from redisops.cluster.nodes import remove_node as remove

        seeds, password = _seeds(ctx, cluster, password_env, user)
        with _stop_on_ctrl_c() as stop, _progress(ctx) as progress:
            sentence = remove(seeds, node, password, journal, settings=settings, progress=progress, stop=stop)
        return Result({"result": sentence}, lambda out: out.print(sentence, highlight=False),
                      1 if sentence.startswith("stopped") else 0)

    run(body, file=file, json_out=json_out, debug=debug)


@cluster_app.command("fix")
def fix(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
        cluster: str | None = SeedOpt, password_env: str | None = PasswordEnvOpt, user: str | None = UserOpt,
        journal: Path = FixJournalOpt,
        force: bool = typer.Option(False, "--force", help="Merge keys found on several masters into one owner; "
                                   "on a name clash the owner's copy is kept and the other dropped.")) -> None:
    """Close half-migrated slots and assign uncovered ones; refuses (and says why) where keys could be lost."""

    def body(ctx: Ctx) -> Result:
        from redisops.cluster.fix import fix_cluster_sync

        seeds, password = _seeds(ctx, cluster, password_env, user)
        repairs = fix_cluster_sync(seeds, password, journal, force=force)
        data = [r.to_dict() for r in repairs]

        def render(out: Console) -> None:
            out.print(f"{len(repairs)} slots repaired" if repairs else "nothing to fix", highlight=False)
            for r in repairs:
                line = f"  slot {r.slot}: {r.action}{' -> ' + r.node[:10] if r.node else ''} ({r.why})"
                if r.action == "merge":
                    line += f": {r.merged} keys merged from {', '.join(s[:10] for s in r.sources)}, {r.dropped} dropped"
                    if r.dropped_keys:
                        more = ", ..." if r.dropped > len(r.dropped_keys) else ""
                        line += f" ({', '.join(r.dropped_keys)}{more})"
                out.print(line, highlight=False, markup=False)  # key names are data, not markup

        return Result({"repairs": data}, render)

    run(body, file=file, json_out=json_out, debug=debug)


@cluster_app.command("health")
def health(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
           cluster: str | None = SeedOpt, password_env: str | None = PasswordEnvOpt,
           user: str | None = UserOpt) -> None:
    """Per node: ping latency, role, link, memory, replication offset (exit 0 ok, 1 degraded, 3 down)."""

    def body(ctx: Ctx) -> Result:
        from redisops.cluster.health import cluster_health_sync

        seeds, password = _seeds(ctx, cluster, password_env, user)
        verdict, rows = cluster_health_sync(seeds, password)
        data = {"health": verdict.value, "nodes": [r.to_dict() for r in rows]}
        return Result(data, lambda out: _render_health(out, rows), verdict.exit_code)

    run(body, file=file, json_out=json_out, debug=debug)


# --- shared -----------------------------------------------------------------------------------------


def _seeds(ctx: Ctx, cluster: str | None, password_env: str | None,
           user: str | None = None) -> tuple[list[Address], Credential]:
    from redisops.cli.targets import remote_targets, spec_targets

    remote = remote_targets(None, None, cluster, password_env, None, user)
    _, clusters = remote if remote is not None else spec_targets(ctx)
    if not clusters:
        raise UsageError(f"{ctx.file} has no cluster", hint="add a `cluster:` section or use --cluster h:p")
    return list(clusters[0].seeds), clusters[0].password


def _settings(batch: int, per_wave: int, waves: int, replace: bool, keys_per_s: float | None,
              mb_per_s: float | None, strategy: MoveStrategy = MoveStrategy.AUTO) -> MoverSettings:
    from redisops.cluster.mover import MoverSettings

    return MoverSettings(batch_keys=batch, slots_per_wave=per_wave, waves_in_flight=waves, replace=replace,
                         max_keys_per_s=keys_per_s, strategy=strategy.value,
                         max_bytes_per_s=None if mb_per_s is None else mb_per_s * 1024 * 1024)


def _plan_and_move(ctx: Ctx, seeds: list[Address], password: Credential, make_plan: Callable[[], Any],
                   journal: Path, settings: MoverSettings, dry_run: bool) -> Result:
    import asyncio

    from redisops.cluster.journal import read_journal
    from redisops.cluster.mover import check_strategy, move_slots_sync

    if settings.strategy == "atomic":  # refuse before a plan is printed (or a dry run says it would work)
        asyncio.run(check_strategy(seeds, password, settings))
    previous = read_journal(journal)
    if previous is not None and not previous.finished:
        if dry_run:
            raise UsageError(f"{journal} holds an unfinished plan; finish it (run without --dry-run) first")
        ctx.err.print(f"resuming the unfinished plan in {journal}: {len(previous.remaining)} of "
                      f"{len(previous.moves)} slots left", highlight=False)
        moves: tuple[Any, ...] = ()
    else:
        _, summary = asyncio.run(make_plan())
        if dry_run or not summary.moves:
            return Result(summary.to_dict(), lambda out: _render_plan(out, summary),
                          0)
        ctx.err.print(summary.sentence(), highlight=False)
        moves = summary.moves
    with _stop_on_ctrl_c() as stop, _progress(ctx) as progress:
        report = move_slots_sync(seeds, password, moves, journal, settings=settings, progress=progress, stop=stop)
    return Result(report.to_dict(), lambda out: _render_move(out, report), 1 if report.stopped else 0)


@contextmanager
def _stop_on_ctrl_c() -> Iterator[threading.Event]:
    """The first Ctrl-C asks for a clean stop (slots in flight finish); a second one interrupts."""
    stop = threading.Event()

    def handler(_signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _progress(ctx: Ctx) -> Iterator[Callable[[MoveProgress], None]]:
    """A Rich bar on a terminal; elsewhere a plain line a second on stderr (logs, CI, tests)."""
    if ctx.err.is_terminal:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("moving slots"), BarColumn(), TextColumn("{task.fields[detail]}"),
                      TimeRemainingColumn(), console=ctx.err, transient=True) as bar:
            task = bar.add_task("move", total=None, detail="")

            def update(p: MoveProgress) -> None:
                bar.update(task, total=max(p.keys_total, 1), completed=p.keys_moved,
                           detail=f"{p.slots_done}/{p.slots_total} slots, {p.keys_moved:,} keys, "
                                  f"{p.keys_per_s:,.0f} keys/s")

            yield update
        return
    last = [0.0]

    def line(p: MoveProgress) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or p.slots_done == p.slots_total:
            last[0] = now
            eta = "?" if p.eta_s is None else f"{p.eta_s:.0f} s"
            ctx.err.print(f"progress: {p.slots_done}/{p.slots_total} slots, {p.keys_moved}/{p.keys_total} keys, "
                          f"{p.keys_per_s:,.0f} keys/s, ETA {eta}", highlight=False)

    yield line


# --- rendering --------------------------------------------------------------------------------------


def _render_check(out: Console, report: CheckReport) -> None:
    style = {"ok": "green", "degraded": "yellow", "down": "bold red"}[report.health.value]
    out.print(f"[{style}]{report.health.value.upper()}[/] {report.sentence()}", highlight=False)
    for finding in report.findings:
        out.print(f"  - {finding}", markup=False, highlight=False)


def _render_health(out: Console, rows: Any) -> None:
    from redisops.cli.common import keep_whole
    from redisops.cli.common import table as make_table

    table = make_table(("node", "id", "role", "link", "ping ms", "memory", "offset", "problem"),
                       right=("ping ms", "memory", "offset"), wrap=("problem",))
    for r in rows:
        table.add_row(str(r.address), (r.node_id or "-")[:8], r.role, r.link,
                      "-" if r.latency_ms is None else f"{r.latency_ms:.2f}",
                      "-" if r.used_memory is None else f"{r.used_memory / 1048576:.1f} MiB",
                      "-" if r.offset is None else str(r.offset), r.problem or "")
    out.print(keep_whole(table, ("node", "id", "role")))


def _render_plan(out: Console, summary: PlanSummary) -> None:
    out.print(summary.sentence(), highlight=False)
    for source, target, slots in summary.flows:
        out.print(f"  {source} -> {target}: {slots} slots", highlight=False)


def _render_move(out: Console, report: MoveReport) -> None:
    out.print(report.sentence(), highlight=False)
    if report.stopped:
        out.print(f"stopped cleanly; run the same command again to finish (journal {report.journal})",
                  highlight=False)
