"""Switching a node's config between plaintext and TLS keeps everything the node wrote about itself."""

from __future__ import annotations

from pathlib import Path

from redisops.runtime.plan import build_plan
from redisops.runtime.tls import conf_runs_tls, switch_conf
from redisops.spec import load_text
from redisops.spec.default import DEFAULT_SPEC

# what CONFIG REWRITE leaves: quoted values, its own order, the include last
REWRITTEN = """port 6401
bind 127.0.0.1
replicaof 127.0.0.1 6400
tls-replication "no"
dir "/state/mymaster-1"
include /state/mymaster-1/auth.conf
"""


def test_on_then_off_round_trip() -> None:
    spec, problems = load_text(DEFAULT_SPEC)
    assert spec is not None, problems
    node = build_plan(spec).node("mymaster-1")
    assert not conf_runs_tls(REWRITTEN)
    on = switch_conf(REWRITTEN, node, Path("/state/tls"))
    assert conf_runs_tls(on)
    lines = on.splitlines()
    assert "port 6401" not in lines and 'tls-replication "no"' not in lines
    assert lines[-8:-6] == ["port 0", "tls-port 6401"]  # then the six tls-* lines
    assert "tls-cert-file /state/tls/nodes/mymaster-1.crt" in lines and "tls-replication yes" in lines
    assert "replicaof 127.0.0.1 6400" in lines and "include /state/mymaster-1/auth.conf" in lines
    off = switch_conf(on, node, None)
    assert not conf_runs_tls(off)
    assert [line for line in off.splitlines() if line.split()[0].startswith(("tls-", "port"))] == ["port 6401"]
    assert conf_runs_tls('tls-port "6401"\nport 0\n') and not conf_runs_tls("tls-port 0\nport 6401\n")
