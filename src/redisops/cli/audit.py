"""``redisops audit``: security checks on config files (static) or running nodes (--live)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from redisops.cli.common import DEFAULT_SPEC, Ctx, DebugOpt, FileOpt, JsonOpt, Result, keep_whole, plural, run, table
from redisops.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from redisops.security.audit import Report, TlsClient

__all__ = ["register"]

_FORMATS = ("table", "json", "sarif", "junit")
_CONFIG = typer.Option(None, "--config", "-c", metavar="FILE",
                       help="redis.conf / sentinel.conf to lint (repeat); no server needed.")
_FILES = typer.Argument(None, metavar="[FILE...]", help="More config files for --config.", show_default=False)
_SEED = typer.Option(None, "--seed", metavar="HOST:PORT", help="A node to audit live (repeat).")
_CACERT = typer.Option(None, "--cacert", metavar="FILE", help="CA of the nodes' certificates (with --tls).")
_CERT = typer.Option(None, "--cert", metavar="FILE", help="Client certificate, for tls-auth-clients (with --tls).")
_KEY = typer.Option(None, "--key", metavar="FILE", help="Key of --cert.")
_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def register(root: typer.Typer) -> None:
    root.command("audit")(audit_cmd)


def audit_cmd(
    files: list[Path] | None = _FILES,
    config: list[Path] | None = _CONFIG,
    live: bool = typer.Option(False, "--live", help="Audit the running nodes of the spec (or --seed)."),
    seed: list[str] | None = _SEED,
    password_env: str | None = typer.Option(None, "--password-env", metavar="VAR",
                                            help="Password of the --seed nodes, from this environment variable."),
    sentinel_password_env: str | None = typer.Option(None, "--sentinel-password-env", metavar="VAR",
                                                     help="Password of --seed sentinels, if different."),
    user: str | None = typer.Option(None, "--user", help="ACL user for --seed nodes (default: default)."),
    tls: bool = typer.Option(False, "--tls", help="Reach the --seed nodes over TLS (their tls-port)."),
    cacert: Path | None = _CACERT,
    cert: Path | None = _CERT,
    key: Path | None = _KEY,
    output: str = typer.Option("table", "--format", metavar="FORMAT", help="table, json, sarif or junit."),
    fail_on: str = typer.Option("high", "--fail-on", metavar="SEVERITY",
                                help="Exit 1 on findings at or above: info, low, medium, high, critical."),
    list_checks: bool = typer.Option(False, "--list-checks", help="List every check and exit."),
    file: FileOpt = DEFAULT_SPEC, json_out: JsonOpt = False, debug: DebugOpt = False,
) -> None:
    """Security audit: auth, passwords, ACLs, network, TLS, memory, persistence, files, host, CVEs."""

    def body(ctx: Ctx) -> Result:
        from redisops.security.audit import Severity, all_checks, audit_files

        if output not in _FORMATS:
            raise UsageError(f"--format {output!r}: use one of {', '.join(_FORMATS)}")
        try:
            threshold = Severity.parse(fail_on)
        except ValueError as exc:
            raise UsageError(f"--fail-on: {exc}") from None
        if list_checks:
            checks = [c.to_dict() for c in all_checks()]
            return Result(checks, lambda out: _render_checks(out, checks))
        configs, seeds = [*(config or []), *(files or [])], seed or []
        if configs and (live or seeds):
            raise UsageError("--config is the static audit; --live / --seed the live one",
                             hint="run them as two commands")
        if configs:
            report = audit_files(configs, threshold)
        elif live or seeds:
            report = _live(ctx, seeds, password_env, sentinel_password_env, user, threshold,
                           _tls(tls, cacert, cert, key))
        else:
            raise UsageError("nothing to audit", hint="pass --config FILE... (static) or --live (the spec's nodes)")
        return _emit(ctx, report, output)

    json_out = json_out or output == "json"
    run(body, file=file, json_out=json_out, debug=debug)


def _tls(enabled: bool, cacert: Path | None, cert: Path | None, key: Path | None) -> TlsClient | None:
    from redisops.security.audit import TlsClient

    if not enabled:
        if cacert or cert or key:
            raise UsageError("--cacert / --cert / --key need --tls")
        return None
    for flag, path in (("--cacert", cacert), ("--cert", cert), ("--key", key)):
        if path is not None and not path.is_file():
            raise UsageError(f"{flag} {path}: no such file")
    if (cert is None) != (key is None):
        raise UsageError("--cert and --key go together", hint="pass both, or neither")
    return TlsClient(*(str(p) if p else None for p in (cacert, cert, key)))


def _live(ctx: Ctx, seeds: list[str], password_env: str | None, sentinel_password_env: str | None,
          user: str | None, threshold: object, tls: TlsClient | None) -> Report:
    from redisops.security.audit import Severity, audit_live, nodes_from_seeds, nodes_from_spec

    assert isinstance(threshold, Severity)
    if seeds:
        from redisops.cli.targets import env_secret

        password = env_secret("--password-env", password_env)
        sentinel_password = env_secret("--sentinel-password-env", sentinel_password_env)
        return audit_live(nodes_from_seeds(seeds, password, user, tls), threshold,
                          sentinel_password=sentinel_password)
    if tls is not None:
        raise UsageError("--tls applies to --seed nodes", hint="the spec's nodes run without TLS today")
    from redisops.runtime.tls import open_secrets

    spec = ctx.load_spec()
    secrets = open_secrets(spec, ctx.file)
    return audit_live(nodes_from_spec(spec, secrets), threshold)



def _emit(ctx: Ctx, report: Report, fmt: str) -> Result:
    from redisops.security.audit import junit_xml, sarif

    if fmt == "sarif":
        sys.stdout.write(json.dumps(sarif(report), indent=2) + "\n")
        return Result(None, streamed=True, exit_code=report.exit_code)
    if fmt == "junit":
        sys.stdout.write(junit_xml(report))
        return Result(None, streamed=True, exit_code=report.exit_code)
    return Result(report.to_dict(), lambda out: _render(out, report), report.exit_code)


def _render(out: Console, report: Report) -> None:
    from rich.text import Text

    if report.findings:
        tab = table(["severity", "id", "target", "finding", "fix"], wrap=["target", "finding", "fix"])
        for f in report.findings:
            where = f" ({Path(f.file).name}:{f.line})" if f.file and f.line else ""
            tab.add_row(Text(str(f.severity), style=_STYLE[str(f.severity)]), f.check, f.target,
                        f"{f.title}: {f.message}{where}", f.fix)
        out.print(keep_whole(tab, ["severity", "id"]))
    for error in report.errors:
        out.print(Text(f"not audited: {error.target}: {error.message}", style="red"), soft_wrap=True)
    counts = ", ".join(f"{n} {s}" for s, n in report.counts().items() if n)
    audited = plural(len(report.targets), "target")
    verdict = (f"{plural(len(report.findings), 'finding')} ({counts}) in {audited}" if report.findings
               else f"no findings in {audited}")
    out.print(f"{verdict}; {report.layer} audit in {report.seconds:.2f} s; fail-on {report.fail_on}: "
              f"exit {report.exit_code}", highlight=False)


def _render_checks(out: Console, checks: list[dict[str, object]]) -> None:
    tab = table(["id", "severity", "layers", "title", "fix"], wrap=["title", "fix"])
    for c in checks:
        layers = c["layers"]
        assert isinstance(layers, list)
        tab.add_row(str(c["id"]), str(c["severity"]), "+".join(layers), str(c["title"]), str(c["fix"]))
    out.print(tab)
