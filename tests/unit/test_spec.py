"""Spec validation: every problem at once, with its path and line."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from redisops.errors import SecretsError, SpecError
from redisops.spec import load, load_secrets, load_text
from redisops.spec.default import DEFAULT_SPEC
from redisops.spec.models import parse_bytes
from redisops.spec.secrets import generate_secrets, secrets_text, write_private


def problems_of(text: str) -> dict[str, str]:
    _, problems = load_text(text)
    return {p.path: p.message for p in problems}


def test_default_spec_is_valid_without_warnings() -> None:
    spec, problems = load_text(DEFAULT_SPEC)
    assert spec is not None and problems == []
    group = spec.sentinel[0]
    assert (group.replicas, group.sentinels, group.quorum) == (2, 3, 2)
    assert spec.cluster is not None and (spec.cluster.masters, spec.cluster.replicas_per_master) == (3, 1)


def test_every_problem_is_reported_at_once_with_paths_and_lines() -> None:
    text = DEFAULT_SPEC.replace("quorum: 2 ", "quorum: 4 ")
    text = text.replace("node_timeout_ms: 5000", "node_timeout_ms: fast")
    text = text.replace("    replicas: 2\n", "    replicas: 2\n    qorum: 3\n")
    text = text.replace("port: 7000", "port: 6401")
    _, problems = load_text(text)
    by_path = {p.path: p for p in problems}
    assert by_path["sentinel[0].quorum"].message == "4 exceeds sentinels (3)"
    assert "did you mean 'quorum'" in by_path["sentinel[0].qorum"].message
    assert "valid integer" in by_path["cluster.node_timeout_ms"].message
    assert "overlaps mymaster redis (sentinel[0].port)" in by_path["cluster.port"].message
    quorum_line = next(i for i, line in enumerate(text.splitlines(), 1) if "quorum: 4" in line)
    assert by_path["sentinel[0].quorum"].line == quorum_line
    assert by_path["sentinel[0].quorum"].render("r.yaml").startswith(f"r.yaml:{quorum_line}:")
    typo_line = next(i for i, line in enumerate(text.splitlines(), 1) if "qorum: 3" in line)
    typo = by_path["sentinel[0].qorum"]  # an unknown key points at the key, not at its value
    assert (typo.line, typo.column) == (typo_line, text.splitlines()[typo_line - 1].index("qorum") + 1)
    placed = [(p.line, p.column) for p in problems if p.line is not None]
    assert placed == sorted(placed)  # in file order, as an editor walks it


def test_malformed_yaml_names_line_and_column() -> None:
    spec, problems = load_text("name: demo\nsentinel: [\n  {name: a,\n")
    assert spec is None
    assert problems[0].message.startswith("malformed YAML")
    assert problems[0].line is not None and problems[0].column is not None


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        ({"failover_timeout_ms: 60000": "failover_timeout_ms: 4000"}, "sentinel[0].failover_timeout_ms",
         "must exceed down_after_ms"),
        ({"min_replicas_to_write: 0": "min_replicas_to_write: 3"}, "sentinel[0].min_replicas_to_write",
         "refuse every write"),
        ({"hosts: [127.0.0.1]           #": "hosts: [10.0.0.1, 10.0.0.2, 10.0.0.3] #",
          "down_after_ms: 5000": "down_after_ms: 1000"}, "sentinel[0].down_after_ms", "non-loopback"),
        ({"hosts: [127.0.0.1]           #": "hosts: [127.0.0.1, 127.0.0.2] #"}, "sentinel[0].hosts",
         "losing one host"),
        ({"sentinels: 3 ": "sentinels: 2 "}, "sentinel[0].sentinels", "greater than or equal to 3"),
        ({"masters: 3": "masters: 2"}, "cluster.masters", "greater than or equal to 3"),
        ({"maxmemory: 256mb\n    maxmemory_policy": "maxmemory: lots\n    maxmemory_policy"},
         "sentinel[0].maxmemory", "not a size"),
        ({"image: redis:7.0.15": "image: redis:latest"}, "redis.image", "not pinned"),
        ({"name: demo": "name: Demo_1"}, "name", "pattern"),
    ],
)
def test_rules(change: dict[str, str], path: str, fragment: str) -> None:
    text = DEFAULT_SPEC
    for old, new in change.items():
        assert old in text
        text = text.replace(old, new)
    found = problems_of(text)
    assert path in found, found
    assert fragment in found[path]


def test_quorum_defaults_to_majority_and_warns_when_low() -> None:
    spec, problems = load_text("sentinel: [{name: g, sentinels: 5}]\n")
    assert spec is not None and spec.sentinel[0].quorum == 3 and problems == []
    _, problems = load_text("sentinel: [{name: g, sentinels: 5, quorum: 1}]\n")
    assert [p.severity for p in problems] == ["warning"]


def test_empty_spec_needs_a_section() -> None:
    assert "defines no sentinel group" in problems_of("name: demo\n")[""]


def test_byte_sizes() -> None:
    assert parse_bytes("256mb") == 256 * 1024**2
    assert parse_bytes("1g") == 10**9
    assert parse_bytes(0) == 0
    with pytest.raises(ValueError):
        parse_bytes("-1")


def test_load_raises_one_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "redisops.yaml"
    path.write_text("sentinel: [{name: g, quorum: 9}]\ncluster: {masters: 1}\n")
    with pytest.raises(SpecError) as info:
        load(path)
    assert len([p for p in info.value.problems if p.severity == "error"]) == 2
    assert "and 1 more problems" in str(info.value)
    with pytest.raises(SpecError, match="no such file"):
        load(tmp_path / "missing.yaml")


def test_secrets_are_strong_private_and_never_in_repr(tmp_path: Path) -> None:
    value = generate_secrets()
    assert value.acl and value.redis_password is None
    assert len(value.passwords) == 6 and len(set(value.passwords)) == 6
    assert all(len(p) >= 40 for p in value.passwords)
    assert not any(p in repr(value) or p in str(value.admin) or p in repr(value.admin) for p in value.passwords)
    path = tmp_path / "s.yaml"
    write_private(path, secrets_text(value))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secrets(path) == value
    path.chmod(0o644)
    with pytest.raises(SecretsError, match="chmod 600"):
        load_secrets(path)


def test_a_migration_keeps_the_shared_password_in_use_until_it_ends(tmp_path: Path) -> None:
    """`redisops acl apply` adds the ACL passwords beside the shared one: while both are there, redisops keeps
    logging in with the shared one (it works on every node until the default user goes off), and a node started
    meanwhile gets the users with the default user still on."""
    from redisops.auth import Login
    from redisops.runtime.acl import data_node_auth_lines, local_values
    from redisops.spec.secrets import add_acl_passwords, drop_legacy_password

    path = tmp_path / "s.yaml"
    write_private(path, secrets_text(generate_secrets(acl=False)) + "grafana_admin_password: keep-me\n")
    legacy = load_secrets(path)
    both = add_acl_passwords(path)
    assert both.acl and both.migrating and both.admin == legacy.redis_password
    assert both.acl_login("admin") == Login("admin", str(both.admin_password))
    assert add_acl_passwords(path) == both  # nothing more to generate
    lines = data_node_auth_lines(local_values(both), migrating=True)
    assert lines[0].startswith("user default reset on #") and lines[0].endswith("~* &* +@all")
    assert drop_legacy_password(path) and not drop_legacy_password(path)
    done = load_secrets(path)
    assert not done.migrating and done.admin == Login("admin", str(both.admin_password))
    assert data_node_auth_lines(local_values(done))[0] == "user default reset"
    assert "grafana_admin_password: keep-me" in path.read_text() and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_stale_default_user_copy_leaves_the_conf_at_start(tmp_path: Path) -> None:
    """SENTINEL FLUSHCONFIG / CONFIG REWRITE spell requirepass as a `user default` line, which Redis applies after
    every other line: a copy of an old password would win over auth.conf's requirepass, so a start drops it."""
    from redisops.lifecycle import Deployment, init_files
    from redisops.runtime.plan import NodeKind

    spec_file = tmp_path / "redisops.yaml"
    init_files(spec_file)
    dep = Deployment.open(spec_file)
    node = next(n for n in dep.plan.nodes if n.kind is NodeKind.SENTINEL)
    dep.runtime.ensure_files(node)
    conf = dep.runtime.conf_path(node)
    conf.write_text(conf.read_text() + "user default on #0123abcd ~* &* +@all\nrequirepass old\n")
    dep.runtime._include_auth_last(node)
    lines = conf.read_text().splitlines()
    assert not [line for line in lines if line.startswith(("user default", "requirepass"))]
    assert lines[-1].startswith("include ") and lines[-1].endswith("auth.conf")


@pytest.mark.parametrize(("value", "local", "compose"), [("auto", False, True), ("true", True, True),
                                                          ("false", False, False)])
def test_tls_enabled_auto_is_tls_wherever_a_node_listens_beyond_loopback(value: str, local: bool,
                                                                          compose: bool) -> None:
    from redisops.runtime.compose.tls import compose_tls
    from redisops.runtime.tls import local_tls

    text = DEFAULT_SPEC.replace("enabled: auto", f"enabled: {value}")
    spec, problems = load_text(text)
    assert spec is not None, problems
    assert (local_tls(spec), compose_tls(spec)) == (local, compose)
    # a local node on another host than 127.0.0.x: auto turns TLS on there too
    spec, problems = load_text(text.replace("hosts: [127.0.0.1]", "hosts: [10.0.0.5]", 1))
    assert spec is not None, problems
    assert local_tls(spec) is (value != "false")


def test_tls_enabled_takes_only_a_boolean_or_auto() -> None:
    problems = problems_of(DEFAULT_SPEC.replace("enabled: auto", "enabled: sometimes"))
    assert list(problems) == ["tls.enabled"], problems
    assert "'sometimes' is not one of true, false, auto" in problems["tls.enabled"]


def test_own_certificates_per_node_need_a_client_certificate_for_redisops() -> None:
    own = "tls:\n  enabled: true\n  own: {ca_file: ca.crt, cert_file: 'pki/{node}.crt', key_file: 'pki/{node}.key'}\n"
    text = DEFAULT_SPEC.replace("tls:\n", own + "x_tls:\n", 1)
    text = text[:text.index("x_tls:\n")] + text[text.index("# Sentinel groups"):]
    problems = problems_of(text)
    assert list(problems) == ["tls.own"], problems
    assert "give client_cert_file and client_key_file" in problems["tls.own"]
    spec, problems = load_text(text.replace("key_file: 'pki/{node}.key'}", "key_file: 'pki/{node}.key', "
                                            "client_cert_file: c.crt, client_key_file: c.key}"))
    assert spec is not None and spec.tls.own is not None, problems
    assert spec.tls.own.node_files("mymaster-0") == ("pki/mymaster-0.crt", "pki/mymaster-0.key")
    assert spec.tls.own.client_files() == ("c.crt", "c.key")
