"""The TLS material layer on its own: what it generates (checked with openssl too), when it rewrites and when it
must not, rotation's steps, and a user's own material checked file by file, each problem one clear error."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import redisops.security.tls as tls
from redisops.errors import EXIT_INPUT, StateDirError, UsageError
from redisops.security.tls import (
    ForeignMaterialError,
    Generation,
    InvalidMaterialError,
    Layout,
    NodeIdentity,
    RotationStateError,
    RotationStep,
    UnreadableMaterialError,
    cert_info,
    check_user_material,
    ensure_ca,
    ensure_client_cert,
    ensure_material,
    ensure_node_cert,
    finish_rotation,
    material_status,
    rotate,
    rotation_step,
)

NODE = NodeIdentity("mymaster-0", ("127.0.0.1", "::1"), ("redis-0", "Redis-0.example"))
DAY = datetime.timedelta(days=1)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def openssl_verify(bundle: Path, cert: Path, purpose: str) -> subprocess.CompletedProcess[str]:
    """The independent check: OpenSSL (the library Redis uses) verifies the chain and the purpose."""
    return subprocess.run(["openssl", "verify", "-CAfile", str(bundle), "-purpose", purpose, str(cert)],
                          capture_output=True, text=True, timeout=30)


def state(path: Path) -> tuple[int, int, bytes]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, path.read_bytes()


def test_public_surface_is_pinned() -> None:
    assert sorted(tls.__all__) == sorted([
        "RENEW_WITHIN_DAYS", "CaFiles", "CertFiles", "CertInfo", "Entry", "ForeignMaterialError", "Generation",
        "InvalidMaterialError", "Layout", "Material", "MaterialStatus", "NodeIdentity", "Rotation",
        "RotationStateError", "RotationStep", "TlsMaterialError", "UnreadableMaterialError", "bundle_info",
        "cert_info", "check_user_material", "ensure_ca", "ensure_client_cert", "ensure_material", "ensure_node_cert",
        "finish_rotation", "material_status", "rotate", "rotation_step"])
    for name in tls.__all__:
        getattr(tls, name)


def test_ca_is_a_pathlen_0_ec_ca_for_ten_years_with_private_modes(tmp_path: Path) -> None:
    root = tmp_path / "tls"
    ca = ensure_ca(root, "demo")
    cert = load(ca.cert)
    assert ca.created and cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "redisops CA demo"
    assert cert.issuer == cert.subject
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert 3640 < (cert.not_valid_after_utc - now()).days <= 3650
    assert cert.not_valid_before_utc < now() - datetime.timedelta(minutes=4)  # backdated for clock skew
    assert root.stat().st_mode & 0o777 == 0o700
    assert ca.key.stat().st_mode & 0o777 == 0o600
    assert ca.cert.stat().st_mode & 0o777 == 0o644 and ca.bundle.stat().st_mode & 0o777 == 0o644
    assert ca.bundle.read_bytes() == ca.cert.read_bytes()
    assert openssl_verify(ca.bundle, ca.cert, "any").returncode == 0


def test_ca_is_reused_untouched(tmp_path: Path) -> None:
    first = ensure_ca(tmp_path, "demo")
    before = [state(p) for p in (first.cert, first.key, first.bundle)]
    again = ensure_ca(tmp_path, "demo")
    assert not again.created and again.fingerprint == first.fingerprint
    assert [state(p) for p in (first.cert, first.key, first.bundle)] == before


def test_node_certificate_serves_and_connects_for_its_addresses(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path, "demo")
    node = ensure_node_cert(ca, NODE)
    assert node.written and node.reason == "new" and node.ca == ca.bundle
    cert = load(node.cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert set(sans.get_values_for_type(x509.DNSName)) == {"redis-0", "Redis-0.example"}
    usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert usages == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert 360 < (cert.not_valid_after_utc - now()).days <= 365
    assert cert.not_valid_before_utc < now() - datetime.timedelta(minutes=4)
    for purpose in ("sslserver", "sslclient"):
        assert openssl_verify(ca.bundle, node.cert, purpose).returncode == 0
    assert node.key.stat().st_mode & 0o777 == 0o600 and node.cert.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "nodes").stat().st_mode & 0o777 == 0o700
    info = cert_info(node.cert, ca.bundle)
    assert info.issuer_fingerprint == ca.fingerprint and info.issuer_key_id == cert_info(ca.cert).key_id
    assert info.sans == ("IP:127.0.0.1", "IP:::1", "DNS:redis-0", "DNS:Redis-0.example")


def test_client_certificate_only_connects(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path, "demo")
    client = ensure_client_cert(ca, "app")
    assert client.cert == tmp_path / "clients" / "app.crt"
    assert openssl_verify(ca.bundle, client.cert, "sslclient").returncode == 0
    assert openssl_verify(ca.bundle, client.cert, "sslserver").returncode != 0


def test_node_certificate_is_kept_while_valid_and_reissued_when_it_must(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path, "demo")
    node = ensure_node_cert(ca, NODE)
    before = state(node.cert), state(node.key)
    kept = ensure_node_cert(ca, NODE, now=now() + 300 * DAY)
    assert (kept.written, kept.reason) == (False, "valid")
    assert (state(node.cert), state(node.key)) == before

    renewed = ensure_node_cert(ca, NODE, now=now() + 340 * DAY)  # 25 days left, inside the 30-day window
    assert renewed.written and renewed.reason == "expires within 30 days"
    assert load(node.cert).not_valid_after_utc > now() + 700 * DAY
    assert node.key.read_bytes() != before[1][2]  # a new key with the new certificate

    moved = ensure_node_cert(ca, NodeIdentity(NODE.name, ("127.0.0.2",), NODE.dns))
    assert moved.reason == "addresses changed"
    assert cert_info(node.cert).sans[0] == "IP:127.0.0.2"
    assert ensure_node_cert(ca, NodeIdentity(NODE.name, ("127.0.0.2",), ("REDIS-0", "redis-0.example"))).reason \
        == "valid"  # DNS names compare without case


def test_material_for_a_deployment_in_one_call_then_nothing_to_do(tmp_path: Path) -> None:
    nodes = [NodeIdentity(f"mymaster-{i}", ("127.0.0.1",)) for i in range(3)]
    first = ensure_material(tmp_path, "demo", nodes)
    assert set(first.nodes) == {"mymaster-0", "mymaster-1", "mymaster-2"} and set(first.clients) == {"redisops"}
    again = ensure_material(tmp_path, "demo", nodes)
    assert not any(c.written for c in [*again.nodes.values(), *again.clients.values()])
    with pytest.raises(UsageError, match="two nodes share a name: mymaster-0"):
        ensure_material(tmp_path, "demo", [nodes[0], nodes[0]])


def test_a_ca_key_whose_certificate_was_lost_is_reused(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path, "demo")
    node = ensure_node_cert(ca, NODE)
    key = ca.key.read_bytes()
    ca.cert.unlink()
    again = ensure_ca(tmp_path, "demo")  # the same CA, taken back from the bundle
    assert again.created and ca.key.read_bytes() == key and again.fingerprint == ca.fingerprint
    assert ensure_node_cert(again, NODE).reason == "valid" and node.cert.exists()
    ca.cert.unlink()
    ca.bundle.unlink()
    fresh = ensure_ca(tmp_path, "demo")  # nothing left of it: a new certificate for the same key
    assert fresh.created and ca.key.read_bytes() == key and fresh.fingerprint != ca.fingerprint
    with pytest.raises(ForeignMaterialError):  # no CA certificate left that signed it: not overwritten
        ensure_node_cert(fresh, NODE)


def test_a_key_whose_certificate_was_lost_is_reused(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path, "demo")
    node = ensure_node_cert(ca, NODE)
    key = node.key.read_bytes()
    node.cert.unlink()
    again = ensure_node_cert(ca, NODE)
    assert again.written and node.key.read_bytes() == key
    assert openssl_verify(ca.bundle, node.cert, "sslserver").returncode == 0


@pytest.mark.parametrize("content, expected", [
    (b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n", "is not a PEM private key"),
    (b"\x30\x82\x01\x0a binary DER", "is not a PEM private key"),
    (b"", "is empty"),
])
def test_a_corrupt_key_is_named_and_never_overwritten(tmp_path: Path, content: bytes, expected: str) -> None:
    ca = ensure_ca(tmp_path, "demo")
    node = ensure_node_cert(ca, NODE)
    node.key.write_bytes(content)
    with pytest.raises(UnreadableMaterialError, match=expected) as caught:
        ensure_node_cert(ca, NODE, force=True)
    assert str(node.key) in str(caught.value) and "\n" not in str(caught.value) and caught.value.hint
    assert "MIGH" not in str(caught.value)  # never the file's content
    assert caught.value.exit_code == EXIT_INPUT and caught.value.path == node.key
    assert node.key.read_bytes() == content


def test_a_certificate_that_is_not_pem_is_named_and_kept(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path, "demo")
    node = ensure_node_cert(ca, NODE)
    der = load(node.cert).public_bytes(serialization.Encoding.DER)
    node.cert.write_bytes(der)
    with pytest.raises(UnreadableMaterialError, match=r"nodes/mymaster-0.crt is not a PEM certificate"):
        ensure_node_cert(ca, NODE)
    assert node.cert.read_bytes() == der
    node.cert.write_bytes(node.key.read_bytes())  # the key pasted into the certificate's file
    with pytest.raises(UnreadableMaterialError, match="holds a private key, not a certificate"):
        ensure_node_cert(ca, NODE)


def test_an_encrypted_key_is_named(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path, "demo")
    node = ensure_node_cert(ca, NODE)
    key = serialization.load_pem_private_key(node.key.read_bytes(), None)
    node.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(b"passphrase")))
    with pytest.raises(UnreadableMaterialError, match="is encrypted with a passphrase"):
        ensure_node_cert(ca, NODE, force=True)


def test_a_users_own_certificate_is_never_overwritten(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path / "ours", "demo")
    theirs = ensure_material(tmp_path / "theirs", "elsewhere", [NODE])
    Layout(ca.root).nodes_dir.mkdir(mode=0o700)
    target = Layout(ca.root).node(NODE.name)
    target.cert.write_bytes(theirs.nodes[NODE.name].cert.read_bytes())
    target.key.write_bytes(theirs.nodes[NODE.name].key.read_bytes())
    before = state(target.cert), state(target.key)
    with pytest.raises(ForeignMaterialError, match="was not issued by this deployment's CA") as caught:
        ensure_node_cert(ca, NODE, force=True)
    assert "check_user_material" in (caught.value.hint or "")
    assert (state(target.cert), state(target.key)) == before


def test_ca_problems_are_named(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path / "a", "demo")
    other = ensure_ca(tmp_path / "b", "demo")
    ca.key.write_bytes(other.key.read_bytes())
    with pytest.raises(InvalidMaterialError, match="ca.key is not the key of .*ca.crt"):
        ensure_ca(ca.root, "demo")
    lonely = tmp_path / "c"
    lonely.mkdir()
    (lonely / "ca.crt").write_bytes(other.cert.read_bytes())
    with pytest.raises(ForeignMaterialError, match="has no key"):
        ensure_ca(lonely, "demo")
    assert not (lonely / "ca.key").exists()
    expired = ensure_ca(tmp_path / "d", "demo")
    with pytest.raises(InvalidMaterialError, match="expired on") as caught:
        ensure_ca(expired.root, "demo", now=now() + 3700 * DAY)
    assert "new_ca" in (caught.value.hint or "")


def test_names_and_addresses_are_checked(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="'10.0.0.300' is not an IP address"):
        NodeIdentity("n", ("10.0.0.300",))
    with pytest.raises(UsageError, match="is not a DNS name"):
        NodeIdentity("n", (), ("bad name",))
    with pytest.raises(UsageError, match="ips must be a list, not one string"):
        NodeIdentity("n", "127.0.0.1")  # type: ignore[arg-type]
    assert NodeIdentity("n", ["::0001", "127.0.0.1"]).ips == ("::1", "127.0.0.1")  # type: ignore[arg-type]
    ca = ensure_ca(tmp_path, "demo")
    ensure_node_cert(ca, NodeIdentity("v6", ("::1",)))
    assert ensure_node_cert(ca, NodeIdentity("v6", ("0:0::1",))).reason == "valid"  # one address, two spellings
    with pytest.raises(UsageError, match="cannot name a certificate file"):
        ensure_node_cert(ca, NodeIdentity("../escape", ("127.0.0.1",)))


def test_ca_rotation_trusts_first_then_issues_then_drops_the_old(tmp_path: Path) -> None:
    nodes = [NODE, NodeIdentity("mymaster-sentinel-0", ("127.0.0.1",))]
    first = ensure_material(tmp_path, "demo", nodes)
    old_ca = first.ca.fingerprint
    node_cert = first.nodes[NODE.name].cert
    before = node_cert.read_bytes()

    step1 = rotate(tmp_path, "demo", nodes, new_ca=True)
    assert step1.step is RotationStep.TRUSTED and rotation_step(tmp_path) is RotationStep.TRUSTED
    assert step1.ca.fingerprint == old_ca and node_cert.read_bytes() == before  # certificates untouched
    bundle = cert_bundle(first.ca.bundle)
    assert len(bundle) == 2 and old_ca in bundle
    with pytest.raises(RotationStateError, match="the new CA does not sign any certificate yet"):
        finish_rotation(tmp_path, "demo")

    step2 = rotate(tmp_path, "demo", nodes, new_ca=True)
    assert step2.step is RotationStep.ISSUED and step2.ca.fingerprint != old_ca
    assert cert_bundle(first.ca.bundle) == bundle  # both still trusted
    assert {c.reason for c in [*step2.nodes.values(), *step2.clients.values()]} == {"signed by another CA generation"}
    assert cert_info(node_cert, first.ca.bundle).issuer_fingerprint == step2.ca.fingerprint
    assert openssl_verify(first.ca.bundle, node_cert, "sslserver").returncode == 0
    again = rotate(tmp_path, "demo", nodes, new_ca=True)  # repeating step 2 changes nothing
    assert again.step is RotationStep.ISSUED and not any(c.written for c in again.nodes.values())

    done = finish_rotation(tmp_path, "demo")
    assert done.step is RotationStep.FINISHED and rotation_step(tmp_path) is None
    assert list(cert_bundle(first.ca.bundle)) == [step2.ca.fingerprint]
    assert openssl_verify(first.ca.bundle, node_cert, "sslserver").returncode == 0


def cert_bundle(path: Path) -> dict[str, x509.Certificate]:
    from redisops.security.tls.pem import fingerprint
    return {fingerprint(c): c for c in x509.load_pem_x509_certificates(path.read_bytes())}


def test_rotation_step_1_cut_short_is_completed_not_skipped(tmp_path: Path) -> None:
    nodes = [NODE]
    first = ensure_material(tmp_path, "demo", nodes)
    old_bundle = first.ca.bundle.read_bytes()
    rotate(tmp_path, "demo", nodes, new_ca=True)
    first.ca.bundle.write_bytes(old_bundle)  # as if killed after the new CA was written, before the bundle
    again = rotate(tmp_path, "demo", nodes, new_ca=True)
    assert again.step is RotationStep.TRUSTED and len(cert_bundle(first.ca.bundle)) == 2
    assert again.ca.fingerprint == first.ca.fingerprint  # the new CA does not sign before it is trusted


def test_finish_refuses_while_a_certificate_is_still_the_old_cas(tmp_path: Path) -> None:
    ensure_material(tmp_path, "demo", [NODE])
    rotate(tmp_path, "demo", [NODE], new_ca=True)
    ensure_node_cert(ensure_ca(tmp_path, "demo"), NodeIdentity("late", ("127.0.0.1",)))  # signed by the old CA
    rotate(tmp_path, "demo", [NODE], new_ca=True)  # step 2 without the late node
    with pytest.raises(RotationStateError, match=r"nodes/late.crt is still signed by the old CA"):
        finish_rotation(tmp_path, "demo")


def test_renewal_without_a_new_ca_reissues_everything_under_the_same_ca(tmp_path: Path) -> None:
    first = ensure_material(tmp_path, "demo", [NODE])
    renewed = rotate(tmp_path, "demo", [NODE])
    assert renewed.step is RotationStep.RENEWED and renewed.ca.fingerprint == first.ca.fingerprint
    assert all(c.written and c.reason == "rotation" for c in [*renewed.nodes.values(), *renewed.clients.values()])
    assert cert_info(first.nodes[NODE.name].cert).fingerprint != "" and \
        first.ca.bundle.read_bytes() == first.ca.cert.read_bytes()


@pytest.fixture
def own(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A user's own CA, node certificate and key (made with the library, in a directory of the user's)."""
    material = ensure_material(tmp_path / "own", "corp", [NodeIdentity("n1", ("10.0.0.5",), ("redis-1.corp",))])
    node = material.nodes["n1"]
    return material.ca.cert, node.cert, node.key


def test_own_material_that_fits_passes(own: tuple[Path, Path, Path]) -> None:
    ca, cert, key = own
    info = check_user_material(ca, cert, key, ["10.0.0.5", "REDIS-1.corp"])
    assert info.subject == "O=redisops,CN=n1" and info.client_auth and info.server_auth


def test_own_material_problems_one_error_each(own: tuple[Path, Path, Path], tmp_path: Path) -> None:
    ca, cert, key = own
    stranger = ensure_material(tmp_path / "stranger", "x", [NodeIdentity("n1", ("10.0.0.5",))])
    cases = [
        ((ca, cert, stranger.nodes["n1"].key, "10.0.0.5"), "key-mismatch", "is not the private key of"),
        ((stranger.ca.cert, cert, key, "10.0.0.5"), "not-signed-by-ca", "is not signed by a CA in"),
        ((ca, cert, key, ["10.0.0.6", "redis-1.corp", "redis-2.corp"]), "address-missing",
         r"does not name 10.0.0.6, redis-2.corp in its subjectAltName \(it has: IP:10.0.0.5, DNS:redis-1.corp\)"),
    ]
    for args, reason, message in cases:
        with pytest.raises(InvalidMaterialError, match=message) as caught:
            check_user_material(*args)
        assert caught.value.reason == reason and caught.value.hint and "\n" not in str(caught.value)
    with pytest.raises(InvalidMaterialError, match="expired on") as expired:
        check_user_material(ca, cert, key, "10.0.0.5", now=now() + 400 * DAY)
    assert expired.value.reason == "expired"
    client = ensure_client_cert(ensure_ca(ca.parent, "corp"), "app")
    with pytest.raises(InvalidMaterialError, match="lacks extendedKeyUsage serverAuth"):
        check_user_material(ca, client.cert, client.key, [])
    with pytest.raises(UnreadableMaterialError, match=r"certificate .*missing.crt not found"):
        check_user_material(ca, ca.parent / "missing.crt", key, [])


def test_status_names_each_certificates_signer_and_every_problem(tmp_path: Path) -> None:
    nodes = [NODE, NodeIdentity("mymaster-1", ("127.0.0.1",)), NodeIdentity("mymaster-2", ("127.0.0.1",))]
    made = ensure_material(tmp_path, "demo", nodes)
    healthy = material_status(tmp_path)
    assert healthy.ok and healthy.rotation is None and healthy.ca is not None
    assert [t.fingerprint for t in healthy.trusted] == [made.ca.fingerprint]
    assert [(e.kind, e.name, e.signer) for e in healthy.entries] == [
        ("node", "mymaster-0", Generation.CURRENT), ("node", "mymaster-1", Generation.CURRENT),
        ("node", "mymaster-2", Generation.CURRENT), ("client", "redisops", Generation.CURRENT)]

    rotate(tmp_path, "demo", nodes, new_ca=True)
    rotate(tmp_path, "demo", nodes[:1], new_ca=True, clients=(), now=now() + 300 * DAY)  # one node only, so far
    made.nodes["mymaster-2"].key.write_text("")
    later = material_status(tmp_path, now=now() + 340 * DAY)
    assert later.rotation is RotationStep.ISSUED and len(later.trusted) == 2
    signers = {e.name: e.signer for e in later.entries}
    assert signers == {"mymaster-0": Generation.CURRENT, "mymaster-1": Generation.PREVIOUS,
                       "mymaster-2": Generation.NONE, "redisops": Generation.PREVIOUS}
    assert len(later.problems) == 3 and not later.ok
    assert any("mymaster-2.key is empty" in p for p in later.problems)
    assert any("mymaster-1.crt expires on" in p and "within 30 days" in p for p in later.problems)
    assert not any("mymaster-0" in p for p in later.problems)  # reissued in step 2, 40 days before


def test_a_directory_that_cannot_be_written_is_one_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StateDirError, match=r"state directory .*file/tls is not usable") as caught:
        ensure_ca(blocker / "tls", "demo")
    assert caught.value.exit_code == EXIT_INPUT and caught.value.hint


def test_a_promotion_cut_short_finishes_when_run_again(tmp_path: Path) -> None:
    first = ensure_material(tmp_path, "demo", [NODE])
    rotate(tmp_path, "demo", [NODE], new_ca=True)
    layout = Layout(tmp_path)
    layout.previous_ca.write_bytes(layout.ca.cert.read_bytes())  # as if killed in step 2 after the CA key moved
    layout.ca.key.write_bytes(layout.next_ca.key.read_bytes())
    with pytest.raises(InvalidMaterialError, match="is not the key of"):
        ensure_ca(tmp_path, "demo")  # the half-promoted CA cannot sign meanwhile
    done = rotate(tmp_path, "demo", [NODE], new_ca=True)
    assert done.step is RotationStep.ISSUED and done.ca.fingerprint != first.ca.fingerprint
    assert cert_info(layout.previous_ca).fingerprint == first.ca.fingerprint
    assert not layout.next_ca.cert.exists() and not layout.next_ca.key.exists()
    assert finish_rotation(tmp_path, "demo").step is RotationStep.FINISHED


def test_an_expired_ca_can_be_rotated_away(tmp_path: Path) -> None:
    ensure_material(tmp_path, "demo", [NODE])
    later = now() + 3700 * DAY
    with pytest.raises(InvalidMaterialError, match="expired on"):
        ensure_material(tmp_path, "demo", [NODE], now=later)
    assert rotate(tmp_path, "demo", [NODE], new_ca=True, now=later).step is RotationStep.TRUSTED
    issued = rotate(tmp_path, "demo", [NODE], new_ca=True, now=later)
    assert issued.ca.not_after > later + 3000 * DAY
    assert issued.nodes[NODE.name].not_after > later + 300 * DAY
    assert finish_rotation(tmp_path, "demo", now=later).step is RotationStep.FINISHED
