"""The static audit on what redisops itself deploys: the configs `redisops render compose` writes (with the auth.conf
their containers write at start, from redisops.env) and the local runtime's configs of the default spec (`redisops
init`, hardened with ACL users): no finding at medium or above.  A deployment from before ACL users (one shared
requirepass) is still reported for it, which is what `redisops acl apply` mends."""

from __future__ import annotations

from pathlib import Path

import pytest

from redisops.lifecycle import Deployment, init_files
from redisops.runtime.acl import AuthValues, acl_auth_lines
from redisops.runtime.compose.render import compose_files
from redisops.runtime.plan import build_plan
from redisops.security.audit import Report, Severity, audit_files
from redisops.security.tls.compose import compose_material

#: what a deployment of redisops must never show, today already
NEVER = {"RA001", "RA003", "RA004", "RA005", "RA007", "RA009", "RA010", "RA011", "RA012", "RA019", "RA020",
         "RA021", "RA026", "RA029", "RA037"}


def _default(tmp_path: Path, *, acl: bool = True) -> Deployment:
    spec_file = tmp_path / "redisops.yaml"
    init_files(spec_file, acl=acl)
    return Deployment.open(spec_file)


def _summary(report: Report) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in report.findings:
        if f.severity.rank >= Severity.MEDIUM.rank:
            out.setdefault(f"{f.check} {f.title}", []).append(Path(f.target).name)
    return out


def test_compose_configs(tmp_path: Path) -> None:
    """With ``tls.enabled: auto`` the project runs TLS: no finding at medium or above at all."""
    deployment = _default(tmp_path)
    plan, secrets = deployment.plan, deployment.secrets
    tls = compose_material(deployment.spec, deployment.spec_file)
    files = compose_files(build_plan(deployment.spec), secrets, tls=tls)
    certs = tmp_path / "compose" / "tls"  # the copies the start script makes in /data/tls
    for name, item in files.items():
        if name.startswith("tls/"):
            (certs / name[4:]).parent.mkdir(parents=True, exist_ok=True)
            (certs / name[4:]).write_text(item.text)
            (certs / name[4:]).chmod(0o600)
    confs = []
    for node in plan.nodes:
        auth = tmp_path / "compose" / node.name / "auth.conf"  # what the container's start script writes
        auth.parent.mkdir(parents=True)
        # the start script's lines with the env file's values in (`>${APP_PASSWORD}` -> `>the password`)
        values = AuthValues(lambda key: getattr(secrets, key), lambda key: ">" + getattr(secrets, key))
        auth.write_text("\n".join(acl_auth_lines(node, values)) + "\n")
        auth.chmod(0o600)  # the script's umask 077
        text = files[f"conf/{node.name}.conf"].text
        assert "include /data/auth.conf" in text
        conf = auth.parent / f"{node.name}.conf"
        conf.write_text(text.replace("include /data/auth.conf", f"include {auth}").replace("/data/tls", str(certs)))
        conf.chmod(0o600)
        confs.append(conf)
    report = audit_files(confs)
    assert len(report.targets) == 12
    print("\ncompose, findings at medium or above:", _summary(report))
    assert _summary(report) == {}


def test_a_plaintext_compose_project_is_reported_for_it(tmp_path: Path) -> None:
    """``tls.enabled: false`` is the user's choice, and the audit says what it costs (RA013 on every node)."""
    deployment = _default(tmp_path)
    files = compose_files(build_plan(deployment.spec), deployment.secrets)
    conf = tmp_path / "mymaster-0.conf"
    conf.write_text(files["conf/mymaster-0.conf"].text.replace("include /data/auth.conf\n", ""))
    conf.chmod(0o600)
    assert "RA013" in {f.check for f in audit_files([conf]).findings}


def test_local_runtime_configs(tmp_path: Path) -> None:
    deployment = _default(tmp_path)
    for node in deployment.plan.nodes:
        deployment.runtime.ensure_files(node)
    report = audit_files([deployment.runtime.conf_path(n) for n in deployment.plan.nodes])
    assert len(report.targets) == 12
    print("\nlocal runtime, findings at medium or above:", _summary(report))
    assert not {f.check for f in report.findings} & NEVER, _summary(report)


@pytest.mark.parametrize("check", ["RA002", "RA006"])
def test_a_legacy_shared_password_is_reported(tmp_path: Path, check: str) -> None:
    """Before ACL users, every data node shared one requirepass with +@all, reused as masterauth."""
    deployment = _default(tmp_path, acl=False)
    data_nodes = [n for n in deployment.plan.nodes if "sentinel" not in n.name]
    for node in data_nodes:
        deployment.runtime.ensure_files(node)
    report = audit_files([deployment.runtime.conf_path(n) for n in data_nodes])
    assert {f.target for f in report.findings if f.check == check} == {str(deployment.runtime.conf_path(n))
                                                                       for n in data_nodes}
