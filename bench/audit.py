"""Benchmark: `redisops audit --live` of the default deployment (12 processes), target ≤ 2 s.

Starts the default spec's shape (`redisops init`: a Sentinel group of 1 master + 2 replicas and 3 sentinels,
a Cluster of 3 masters + 3 replicas) on free loopback ports in a temp dir, then times the live audit:

  library   audit_live(nodes_from_spec(...)): the 12 probes in parallel (INFO, CONFIG GET *, ACL LIST in one
            pipeline per node, a sentinel's own sentinel.conf, /proc for listening ports), the host facts
            (sysctls, dpkg), every check
  cli       `python -m redisops audit --live -f SPEC --json` end to end, interpreter start included
  startup   `python -m redisops --version`: the interpreter and the CLI's imports, the floor of every command
  status    `python -m redisops status -f SPEC --json` on the same nodes: another live command, for reference

Each is run --rounds times (default 5) after one warm-up; the median and the worst are printed.  Everything
started is stopped at the end, also on failure.  ``--tls``: the same deployment with ``tls.enabled: true`` (every
probe a TLS handshake with redisops' client certificate).

Usage: .venv/bin/python bench/audit.py [--rounds 5] [--tls]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from redisops.lifecycle import Deployment
from redisops.security.audit import audit_live, nodes_from_spec
from redisops.testing import Topology


@contextmanager
def _deployment(root: Path, tls: bool) -> Iterator[Topology]:
    spec_file = Topology.write_spec(root, sentinel=True, cluster=True)
    if tls:
        data = yaml.safe_load(spec_file.read_text())
        data["tls"] = {"enabled": True}
        spec_file.write_text(yaml.safe_dump(data, sort_keys=False))
    with Topology(Deployment.open(spec_file)) as topo:
        topo.up()
        yield topo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tls", action="store_true", help="tls.enabled: true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp, _deployment(Path(tmp), args.tls) as topo:
        nodes = nodes_from_spec(topo.spec, topo.secrets)
        assert len(nodes) == 12, len(nodes)
        audit_live(nodes)  # warm-up: imports, first connections' TCP setup
        library = []
        for _ in range(args.rounds):
            report = audit_live(nodes)
            assert not report.errors, report.errors
            library.append(report.seconds)
        cli = []
        command = [sys.executable, "-m", "redisops", "audit", "--live", "-f", str(topo.spec_file), "--json"]
        for _ in range(args.rounds):
            started = time.monotonic()
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
            cli.append(time.monotonic() - started)
            assert done.returncode in (0, 1), done.stderr
        startup = _timed([sys.executable, "-m", "redisops", "--version"], args.rounds)
        status = _timed([sys.executable, "-m", "redisops", "status", "-f", str(topo.spec_file), "--json"], args.rounds)
        found = ", ".join(sorted(f"{f.check} ({f.severity.value}) {f.target}" for f in report.findings)) or "none"
        print(f"nodes audited: {len(nodes)} (+ the host){' over TLS' if args.tls else ''}, findings: {found}")
        print(f"library audit_live: median {statistics.median(library):.3f} s, worst {max(library):.3f} s "
              f"({args.rounds} rounds)")
        print(f"cli audit --live:   median {statistics.median(cli):.3f} s, worst {max(cli):.3f} s "
              f"({args.rounds} rounds, interpreter start included)")
        print(f"startup --version:  median {statistics.median(startup):.3f} s, worst {max(startup):.3f} s")
        print(f"status --json:      median {statistics.median(status):.3f} s, worst {max(status):.3f} s")
        verdict = "met" if statistics.median(cli) <= 2.0 else "NOT met"
        print(f"goal <= 2 s for the whole command (median): {verdict}")


def _timed(command: list[str], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.monotonic()
        subprocess.run(command, capture_output=True, timeout=60, check=False)
        out.append(time.monotonic() - started)
    return out


if __name__ == "__main__":
    main()
