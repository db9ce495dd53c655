"""``redisops backup run|list|verify|restore|prune|schedule``: RDB backups to file://, s3:// or gs://.

The store is ``--to URL`` or ``backup.target`` of the spec.  Exit codes: 0 done,
2 bad input (unknown id, refused restore), 3 failed (node, store, integrity).
``backup run`` takes remote seeds like ``status`` (``--sentinel h:p,h:p --master
NAME`` / ``--cluster h:p``, passwords from ``--password-env`` /
``--sentinel-password-env``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from redisops.auth import Credential
from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, plural, run
from redisops.cli.targets import ClusterOpt, MasterOpt, PasswordEnvOpt, SentinelOpt, SentinelPasswordEnvOpt, UserOpt
from redisops.errors import UsageError

if TYPE_CHECKING:
    from redisops.data.backup import Manifest, Store
    from redisops.topology import ClusterTarget, SentinelTarget

__all__ = ["register"]

app = typer.Typer(help="Backups: RDB over replication, zstd, sha256, manifest; verify and restore.",
                  no_args_is_help=True)

ToOpt = typer.Option(None, "--to", metavar="URL", help="Store URL (default: backup.target of the spec).")
RestorePasswordOpt = typer.Option(None, "--password-env", metavar="VAR",
                                  help="Env var with the password of the --into h:p node.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="backup")


@app.command("run")
def run_cmd(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
            to: str | None = ToOpt,
            only: str | None = typer.Option(None, "--set", help="Back up only this group name, or 'cluster'."),
            source: str | None = typer.Option(None, "--from", help="replica (default) or master."),
            no_digest: bool = typer.Option(False, "--no-digest",
                                           help="Skip loading each RDB for exact key counts and a digest."),
            sentinel: SentinelOpt = None, master: MasterOpt = None, cluster: ClusterOpt = None,
            password_env: PasswordEnvOpt = None, user: UserOpt = None,
            sentinel_password_env: SentinelPasswordEnvOpt = None) -> None:
    """Back up every Sentinel group and the cluster of the spec (one backup set each)."""

    def body(ctx: Ctx) -> Result:
        manifests = _run_sets(ctx, to, only, source, no_digest,
                              (sentinel, master, cluster, password_env, sentinel_password_env, user))
        return Result([_summary(m) for m in manifests], lambda out: _render_list(out, manifests))

    run(body, file=file, json_out=json_out, debug=debug)


@app.command("schedule")
def schedule_cmd(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
                 to: str | None = ToOpt,
                 cron: str | None = typer.Option(None, "--cron", help="Cron expression (default: backup.schedule)."),
                 no_prune: bool = typer.Option(False, "--no-prune", help="Do not prune after each backup.")) -> None:
    """Run `backup run` (then `backup prune`) at every time of the cron expression, until Ctrl-C.

    Each run's sentence goes to stderr; with --json, each run is a line {"ok", "sentence"} on stdout."""

    def body(ctx: Ctx) -> Result:
        from redisops.alerts.dispatch import build_dispatcher
        from redisops.daemon import backup_schedule

        spec = ctx.load_spec()
        dispatcher = build_dispatcher(spec.alerts, ctx.file.parent)
        quiet = ctx.json  # --json: each run's line says how it went
        scheduler = backup_schedule(spec, ctx.file.parent.resolve(), list(_sets(ctx).values()), dispatcher,
                                    cron=cron, to=to, prune=not no_prune, progress=None if quiet else ctx.err.print,
                                    on_error=None if quiet else lambda exc: ctx.err.print(f"error: {exc}",
                                                                                          markup=False))
        if not quiet:
            ctx.err.print(f"backups at '{scheduler.cron}' (UTC); Ctrl-C to stop; failures alert through `alerts:`",
                          markup=False)
        dispatcher.start()
        try:
            while True:
                sentence = scheduler.run_cycle()
                if ctx.json:
                    ctx.line({"ok": bool(scheduler.last_ok), "sentence": sentence})
                else:
                    ctx.err.print(sentence, markup=False)
        finally:
            dispatcher.stop(5.0)

    run(body, file=file, json_out=json_out, debug=debug)


RemoteArgs = tuple[str | None, str | None, str | None, str | None, str | None, str | None]


def _run_sets(ctx: Ctx, to: str | None, only: str | None, source: str | None, no_digest: bool,
              remote_args: RemoteArgs) -> list[Manifest]:
    from redisops.cli.targets import remote_targets
    from redisops.daemon import back_up_sets
    from redisops.data.backup import BackupOptions

    remote = remote_targets(*remote_args)
    sets = _sets(ctx) if remote is None else _named(*remote)
    if only is not None:
        sets = {only: _pick(sets, only)}
    spec = None if remote is not None else ctx.load_spec()
    prefer = source or (spec.backup.source.value if spec is not None else "replica")
    if prefer not in ("replica", "master"):
        raise UsageError(f"--from {prefer}: use replica or master")
    store = _store(ctx, to, remote is not None)
    options = BackupOptions(prefer=prefer, zstd_level=spec.backup.zstd_level if spec is not None else 3,
                            digest=not no_digest)
    return back_up_sets(list(sets.values()), store, options, None if ctx.json else ctx.err.print)


@app.command("list")
def list_cmd(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
             to: str | None = ToOpt) -> None:
    """Complete backups in the store, oldest first."""

    def body(ctx: Ctx) -> Result:
        from redisops.data.backup import list_backups

        manifests = list_backups(_store(ctx, to, False))
        return Result([_summary(m) for m in manifests], lambda out: _render_list(out, manifests))

    run(body, file=file, json_out=json_out, debug=debug)


@app.command("verify")
def verify_cmd(backup_id: str = typer.Argument(..., metavar="ID"), file: FileOpt = DEFAULT_SPEC,
               json_out: JsonOpt = False, debug: DebugOpt = False, to: str | None = ToOpt,
               no_load: bool = typer.Option(False, "--no-load", help="Checksums and redis-check-rdb only.")) -> None:
    """Checksums, redis-check-rdb, then load into a throw-away redis-server and compare keys and digest."""

    def body(ctx: Ctx) -> Result:
        import tempfile

        from redisops.data.backup import verify_backup

        store = _store(ctx, to, False)
        with tempfile.TemporaryDirectory(prefix="redisops-verify-") as work:
            checks = verify_backup(store, backup_id, Path(work), load=not no_load)
        data = {"id": backup_id, "ok": True, "shards": [c.to_dict() for c in checks]}

        def render(out: Any) -> None:
            for c in checks:
                keys = f", {plural(c.keys, 'key')}, digest matches" if c.keys is not None else ""
                out.print(f"{c.shard}: checksums ok, redis-check-rdb {c.check_rdb}{keys}", markup=False)
            out.print(f"backup {backup_id} verified", markup=False)

        return Result(data, render)

    run(body, file=file, json_out=json_out, debug=debug)


@app.command("restore")
def restore_cmd(backup_id: str = typer.Argument(..., metavar="ID"), file: FileOpt = DEFAULT_SPEC,
                json_out: JsonOpt = False, debug: DebugOpt = False, to: str | None = ToOpt,
                into: str | None = typer.Option(None, "--into",
                                                help="Group name, 'cluster', or a remote node h:p "
                                                     "(default: the set the backup came from)."),
                password_env: str | None = RestorePasswordOpt,
                force: bool = typer.Option(False, "--force", help="Restore into a non-empty target, "
                                                                  "replacing keys of the same name."),
                reshape: bool = typer.Option(False, "--reshape", help="Allow another shard count or kind: "
                                                                      "keys go to whichever node owns their slot.")
                ) -> None:
    """Copy a backup's keys into the live master (replicas follow) or the cluster's slot owners."""

    def body(ctx: Ctx) -> Result:
        from redisops.data.backup import load_manifest, restore_backup
        from redisops.data.spaces import open_space

        store = _store(ctx, to, False)
        manifest = load_manifest(store, backup_id)
        target, password = _restore_target(ctx, manifest, into, password_env)
        space = open_space(target, password)
        try:
            result = restore_backup(store, backup_id, space, force=force, reshape=reshape,
                                    progress=None if ctx.json else ctx.err.print)
        finally:
            space.close()
        text = (f"restored {plural(result.keys, 'key')} of {backup_id} into {result.target}"
                + (f" ({result.expired} had expired since the backup)" if result.expired else ""))
        return Result(result.to_dict(), lambda out: out.print(text, markup=False))

    run(body, file=file, json_out=json_out, debug=debug)


@app.command("prune")
def prune_cmd(file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
              to: str | None = ToOpt,
              last: int | None = typer.Option(None, "--keep-last", min=1, help="Default: backup.keep.last."),
              daily: int | None = typer.Option(None, "--keep-daily", min=0),
              weekly: int | None = typer.Option(None, "--keep-weekly", min=0),
              dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed.")) -> None:
    """Keep the last N backups plus the newest of each recent day and week (per source); remove the rest."""

    def body(ctx: Ctx) -> Result:
        from redisops.data.backup import Keep, prune_backups

        spec_keep = ctx.load_spec().backup.keep if ctx.file.exists() else None
        keep = Keep(last=last or (spec_keep.last if spec_keep else 24),
                    daily=daily if daily is not None else (spec_keep.daily if spec_keep else 7),
                    weekly=weekly if weekly is not None else (spec_keep.weekly if spec_keep else 4))
        result = prune_backups(_store(ctx, to, False), keep, dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        text = f"kept {len(result.kept)}, {verb} {len(result.removed)}: {', '.join(result.removed) or 'none'}"
        return Result(result.to_dict(), lambda out: out.print(text, markup=False))

    run(body, file=file, json_out=json_out, debug=debug)


# --- helpers ----------------------------------------------------------------------------------------


def _store(ctx: Ctx, url: str | None, remote: bool) -> Store:
    from redisops.data.backup import open_store

    if url is not None and (remote or not ctx.file.exists()):
        return open_store(url, base_dir=Path.cwd())
    spec = ctx.load_spec()
    target = url or spec.backup.target
    if target is None:
        raise UsageError(f"no backup store: set backup.target in {ctx.file} or pass --to URL",
                         hint="e.g. --to file://./backups or --to s3://bucket/redis")
    return open_store(target, base_dir=ctx.file.parent.resolve(), endpoint_url=spec.backup.s3_endpoint_url)


def _sets(ctx: Ctx) -> dict[str, SentinelTarget | ClusterTarget]:
    from redisops.cli.targets import spec_targets

    return _named(*spec_targets(ctx))


def _named(groups: list[SentinelTarget], clusters: list[ClusterTarget]) -> dict[str, SentinelTarget | ClusterTarget]:
    out: dict[str, SentinelTarget | ClusterTarget] = {g.name: g for g in groups}
    out.update(("cluster", c) for c in clusters)
    return out


def _pick(sets: dict[str, SentinelTarget | ClusterTarget], name: str) -> SentinelTarget | ClusterTarget:
    if name not in sets:
        raise UsageError(f"no set {name!r}", hint=f"use one of {', '.join(sets) or 'none'}")
    return sets[name]


def _restore_target(ctx: Ctx, manifest: Manifest, into: str | None,
                    password_env: str | None) -> tuple[Any, Credential]:
    from redisops.address import Address

    if into is not None and ":" in into:
        password = os.environ.get(password_env) if password_env else None
        if password_env and not password:
            raise UsageError(f"environment variable {password_env} is not set or empty")
        try:
            return Address.parse(into), password
        except ValueError as exc:
            raise UsageError(f"--into {into}: {exc}") from None
    sets = _sets(ctx)
    name = into or ("cluster" if manifest.kind == "cluster" else manifest.source)
    target = _pick(sets, name)
    return target, target.password


def _summary(m: Manifest) -> dict[str, Any]:
    return {"id": m.id, "created": m.created, "kind": m.kind, "source": m.source, "shards": len(m.shards),
            "keys": m.keys, "stored_bytes": m.stored_size, "raw_bytes": sum(s.raw_size for s in m.shards),
            "duration_s": m.duration_s}


def _render_list(out: Any, manifests: list[Manifest]) -> None:
    from rich.table import Column, Table

    # The id is what `backup verify ID` / `restore ID` take, so it is never cut; it carries the UTC time too.
    # Creation time and raw size are in `backup list --json`.
    table = Table(Column("id", no_wrap=True), "kind", "source", "shards", "keys", Column("stored", no_wrap=True))
    for m in manifests:
        s = _summary(m)
        table.add_row(m.id, m.kind, m.source, str(s["shards"]), str(s["keys"]), _size(s["stored_bytes"]))
    out.print(table)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} TiB"
