"""Which nodes a command acts on: the spec's, or remote seeds given on the command line.

Passwords for remote nodes come from the environment variables named by
``--password-env`` / ``--sentinel-password-env``, never from the command line,
where ``ps`` would show them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from redisops.address import Address, parse_addresses
from redisops.auth import Credential, Login
from redisops.cli.common import Ctx
from redisops.errors import UsageError

if TYPE_CHECKING:
    from redisops.topology import ClusterTarget, SentinelTarget

__all__ = ["ClusterOpt", "MasterOpt", "PasswordEnvOpt", "SentinelOpt", "SentinelPasswordEnvOpt", "Targets", "UserOpt",
           "env_password", "env_secret", "remote_targets", "spec_targets"]

# The remote-target flags, the same on every command that acts on live nodes.
SentinelOpt = Annotated[str | None, typer.Option("--sentinel", help="Remote sentinels h:p,h:p (with --master).")]
MasterOpt = Annotated[str | None, typer.Option("--master", help="Master name the remote sentinels monitor.")]
ClusterOpt = Annotated[str | None, typer.Option("--cluster", help="Remote cluster seed(s) h:p[,h:p].")]
PasswordEnvOpt = Annotated[str | None, typer.Option("--password-env", metavar="VAR",
                                                    help="Env var with the data nodes' password (remote).")]
UserOpt = Annotated[str | None, typer.Option("--user", metavar="NAME",
                                             help="ACL user the --password-env password belongs to (remote; "
                                                  "default: the default user).")]
SentinelPasswordEnvOpt = Annotated[str | None, typer.Option("--sentinel-password-env", metavar="VAR",
                                                            help="Env var with the sentinels' password (remote).")]

Targets = tuple[list["SentinelTarget"], list["ClusterTarget"]]


def spec_targets(ctx: Ctx) -> Targets:
    from redisops.runtime.plan import build_plan
    from redisops.runtime.tls import open_secrets
    from redisops.topology.targets import targets_from_plan

    spec = ctx.load_spec()
    if not spec.sentinel and spec.cluster is None:
        raise UsageError(f"{ctx.file} has neither a sentinel group nor a cluster",
                         hint="add a `sentinel:` or `cluster:` section, or use --sentinel / --cluster")
    secrets = open_secrets(spec, ctx.file)
    return targets_from_plan(build_plan(spec), secrets)


def remote_targets(sentinel: str | None, master: str | None, cluster: str | None, password_env: str | None,
                    sentinel_password_env: str | None, user: str | None = None) -> Targets | None:
    """Targets from ``--sentinel`` / ``--cluster``; None when neither is given (use the spec)."""
    from redisops.topology.targets import ClusterTarget, SentinelTarget

    if sentinel is None and cluster is None:
        if master or password_env or sentinel_password_env:
            raise UsageError("--master and --*password-env only go with --sentinel or --cluster")
        if user:
            raise UsageError("--user only goes with --sentinel or --cluster (and --password-env)")
        return None
    if (sentinel is None) != (master is None):
        raise UsageError("--sentinel and --master go together",
                         hint="e.g. --sentinel 10.0.0.1:26379,10.0.0.2:26379 --master mymaster")
    password = env_password("--password-env", password_env, user)
    groups = []
    if sentinel is not None and master is not None:
        groups.append(SentinelTarget(master, _addresses("--sentinel", sentinel), password=password,
                                     sentinel_password=env_secret("--sentinel-password-env",
                                                                     sentinel_password_env)))
    clusters = [] if cluster is None else [ClusterTarget("cluster", _addresses("--cluster", cluster),
                                                         password=password)]
    return groups, clusters


def _addresses(flag: str, text: str) -> tuple[Address, ...]:
    try:
        addresses = parse_addresses(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}", hint="use host:port[,host:port]") from None
    if not addresses:
        raise UsageError(f"{flag}: no address given", hint="use host:port[,host:port]")
    return tuple(addresses)


def env_password(flag: str, var: str | None, user: str | None = None) -> Credential:
    """The password in environment variable ``var`` (named by option ``flag``), as ACL ``user``'s when given;
    None when no variable was given."""
    if var is None and user is not None:
        raise UsageError(f"--user {user} needs its password: give {flag} VAR too")
    value = env_secret(flag, var)
    return Login(user, value) if user and value else value


def env_secret(flag: str, var: str | None) -> str | None:
    """The value of environment variable ``var`` (named by option ``flag``); None when no variable was given."""
    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise UsageError(f"{flag}: environment variable {var} is not set or empty",
                         hint=f"export {var} with the password, or leave {flag} out")
    return value
