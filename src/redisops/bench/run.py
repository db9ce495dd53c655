"""``bench run``: redis-benchmark against a group's master or the cluster, recorded in the history.

redis-benchmark runs as a child process with ``--csv``; its result rows are
read as they come (one per finished test, so progress can be shown), and a
timer kills it at the deadline: a node that dies mid-run makes redis-benchmark
retry its connection forever, and a run must end.  Its stderr goes to a file,
not a pipe, for the same reason: a retry loop's messages would fill a pipe
nobody reads until the end and block it.

Authentication goes through a throwaway ACL user (:mod:`redisops.bench.credentials`):
redis-benchmark can take a password only on its command line.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from redisops.address import Address
from redisops.auth import tls_of
from redisops.bench.credentials import BenchUser, bench_user
from redisops.bench.history import BenchOptions, Record, append, default_history
from redisops.bench.results import TestResult, medians, parse_csv
from redisops.bench.target import BenchTarget, find_target
from redisops.clients import connect
from redisops.errors import MissingBinaryError, RedisopsError, UsageError
from redisops.lifecycle import Deployment
from redisops.runtime.plan import NodeKind

__all__ = ["TESTS", "BenchError", "RunResult", "bench_command", "bench_run", "check_options", "coarse_timing",
           "run_against"]

Progress = Callable[[str], None]

#: the names redis-benchmark's ``-t`` knows (``ping`` selects both PING tests, ``lrange`` the four LRANGE ones)
TESTS = ("ping", "ping_inline", "ping_mbulk", "set", "get", "incr", "lpush", "rpush", "lpop", "rpop", "sadd",
         "hset", "spop", "zadd", "zpopmin", "lrange", "lrange_100", "lrange_300", "lrange_500", "lrange_600", "mset")
BINARY = "redis-benchmark"
#: redis-benchmark's clock step in cluster and --threads mode (see :func:`coarse_timing`)
TIMING_STEP_S = 0.25


class BenchError(RedisopsError):
    """redis-benchmark failed, gave no results, or did not finish in time."""


@dataclass(frozen=True)
class RunResult:
    record: Record
    history: Path


def check_options(options: BenchOptions) -> BenchOptions:
    """Refuse what redis-benchmark would silently ignore or turn into an endless run."""
    unknown = [t for t in options.tests if t not in TESTS]
    if unknown or not options.tests:
        raise UsageError(f"--tests: unknown test {', '.join(unknown) or '(none given)'}",
                         hint=f"use a comma-separated list of: {', '.join(TESTS)}")
    for name in ("clients", "requests", "pipeline", "size", "keyspace", "repeat"):
        if getattr(options, name) < 1:
            raise UsageError(f"--{name} must be at least 1")
    if options.threads < 0:
        raise UsageError("--threads must be 0 (off) or more")
    return options


def bench_command(binary: str, target: BenchTarget, options: BenchOptions, user: BenchUser | None) -> list[str]:
    """redis-benchmark's argv: never the deployment's password, at most the run's throwaway user."""
    argv = [binary, "-h", target.address.host, "-p", str(target.address.port), "--csv",
            "-n", str(options.requests), "-c", str(options.clients), "-P", str(options.pipeline),
            "-d", str(options.size), "-r", str(options.keyspace), "-t", ",".join(options.tests)]
    if options.threads:
        argv += ["--threads", str(options.threads)]
    if target.cluster:
        argv.append("--cluster")
    if user is not None:
        argv += ["--user", user.name, "-a", user.password]
    tls = tls_of(target.password)
    if tls is not None:
        argv += ["--tls", "--cacert", tls.ca_file, *(["--cert", tls.cert_file] if tls.cert_file else []),
                 *(["--key", tls.key_file] if tls.key_file else [])]
    return argv


def bench_run(dep: Deployment, options: BenchOptions, *, group: str | None = None, cluster: bool = False,
              label: str | None = None, history: Path | None = None, timeout: float = 300.0,
              progress: Progress = lambda _msg: None) -> RunResult:
    """Run the benchmark against the spec's group or cluster; see :func:`run_against`."""
    check_options(options)
    binary = _binary()
    progress("finding the target")
    target = find_target(dep, group=group, cluster=cluster)
    confs = {n.address: dep.runtime.conf_path(n) for n in dep.plan.nodes if n.kind is not NodeKind.SENTINEL}
    return run_against(target, options, history or default_history(dep.runtime.state_dir), binary=binary,
                       confs=confs, label=label, timeout=timeout, progress=progress)


def run_against(target: BenchTarget, options: BenchOptions, history: Path, *, binary: str | None = None,
                confs: Mapping[Address, Path] | None = None, label: str | None = None, timeout: float = 300.0,
                progress: Progress = lambda _msg: None) -> RunResult:
    """Run the benchmark (``options.repeat`` times: per-test medians), append its record to ``history``.

    ``timeout`` bounds each redis-benchmark run; ``confs``: the config files of nodes redisops knows, mended
    if a ``CONFIG REWRITE`` copied a bench user into one (:mod:`redisops.bench.credentials`)."""
    check_options(options)
    binary = binary or _binary()
    began = datetime.now(timezone.utc)
    clock = time.monotonic()
    with bench_user(target.nodes, target.password, confs=confs) as user:
        argv = bench_command(binary, target, options, user)
        runs = [_execute(argv, options, timeout, _numbered(progress, number, options.repeat))
                for number in range(1, options.repeat + 1)]
    results = medians(runs)
    notes = coarse_timing(results, options, target.cluster)
    record = Record(began.isoformat(timespec="seconds"), label, target.to_dict(), options,
                    environment(binary, target), tuple(results), round(time.monotonic() - clock, 3),
                    {"notes": notes} if notes else {})
    append(history, record)
    return RunResult(record, history)


def _binary() -> str:
    binary = shutil.which(BINARY)
    if binary is None:
        raise MissingBinaryError(BINARY, "redis-tools")
    return binary


def coarse_timing(results: Sequence[TestResult], options: BenchOptions, cluster: bool) -> list[str]:
    """A note for tests too short to time in cluster or ``--threads`` mode.

    There redis-benchmark 7.0 times a test in steps of 250 ms: 300 requests
    gave 1,176-1,195 requests/s for every test, 1,000 gave 3,92x, 4,000 gave
    7,69x-7,95x (requests / 0.25, 0.5 s) on this machine, whatever the command.
    A test that lasted under ten such steps may be off by over 10 %.
    """
    if not (cluster or options.threads):
        return []
    short = [r for r in results if r.rps > 0 and options.requests / r.rps < TIMING_STEP_S * 10]
    if not short:
        return []
    worst = min(options.requests / r.rps for r in short)
    return [f"{', '.join(r.test.split(' ')[0] for r in short)}: lasted under {TIMING_STEP_S * 10:g} s "
            f"(down to {worst:.2f} s); in cluster / --threads mode redis-benchmark times a test in "
            f"{TIMING_STEP_S * 1000:.0f} ms steps, so their requests/s may be off by over 10 %: raise --requests"]


def _numbered(progress: Progress, number: int, of: int) -> Progress:
    return progress if of == 1 else lambda message: progress(f"run {number} of {of}: {message}")


def _execute(argv: Sequence[str], options: BenchOptions, timeout: float, progress: Progress) -> list[TestResult]:
    results: list[TestResult] = []
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL,
                                   text=True, start_new_session=True)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            process.kill()

        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            assert process.stdout is not None
            progress(f"running {', '.join(options.tests)}")
            for line in process.stdout:
                for result in parse_csv([line]):
                    results.append(result)
                    progress(f"{result.test}: {result.rps:,.0f} requests/s")
            code = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        errors.seek(0)
        stderr = errors.read()
    if expired.is_set():
        raise BenchError(f"redis-benchmark did not finish within {timeout:g} s and was stopped",
                         hint="a node may have gone down meanwhile (`redisops status`); or lower --requests, "
                              "or raise --timeout")
    if code != 0 or not results:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        said = "; ".join(dict.fromkeys(lines[-3:])) or "no message"
        raise BenchError(f"redis-benchmark failed (exit {code}): {said}", hint="check `redisops status`")
    return results


def environment(binary: str, target: BenchTarget) -> dict[str, Any]:
    """What a later comparison must know to tell a regression from another machine or release."""
    from redisops import __version__

    info: dict[str, Any] = {}
    try:
        with connect(target.address, target.password) as client:
            info = dict(client.info("server"))
    except Exception:  # noqa: BLE001 - the run is done; a missing version is recorded as null
        pass
    return {"redis_version": info.get("redis_version"), "redis_mode": info.get("redis_mode"),
            "redis_benchmark": _tool_version(binary), "redisops_version": __version__,
            "host": socket.gethostname(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "load_1m": round(os.getloadavg()[0], 2)}


def _tool_version(binary: str) -> str | None:
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip().removeprefix("redis-benchmark ") or None
