"""Your own certificates (``tls.own`` in the spec) in place of generated ones.

Each is checked before any node starts (:func:`~redisops.security.tls.check.check_user_material`: the key is
the certificate's, your CA signed it, it is valid now, it has the usages, it names the node's host), then copied
into the deployment's material directory in the layout every other part reads
(:mod:`redisops.runtime.tls_layout`): ``ca.crt`` and ``ca-bundle.crt`` are your CA file, ``nodes/<node>`` and
``clients/redisops`` your certificates and keys (0600).  No CA key is there, so redisops never issues anything:
renew with your CA, then ``redisops tls rotate`` copies the new files in and every node loads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from redisops.errors import UsageError
from redisops.runtime.tls_layout import Layout
from redisops.security.tls.check import check_user_material
from redisops.security.tls.material import NodeIdentity
from redisops.security.tls.pem import make_private_dir, read_certs, read_key, write_certs, write_key
from redisops.spec.models import OwnTls

__all__ = ["import_own_material"]


def import_own_material(root: Path, base: Path, own: OwnTls, nodes: Sequence[NodeIdentity],
                        client: str = "redisops") -> list[str]:
    """Check every file, then copy them into ``root``; ``base``: what the spec's paths are relative to (its
    directory).  Returns the nodes whose files changed.  Nothing is copied when one file fails its check."""
    layout = Layout(root)
    if layout.ca.key.exists():
        raise UsageError(f"tls.own, but {root} holds a CA redisops generated for this deployment",
                         hint="moving a deployment to your own CA is a CA rotation redisops does not do yet: remove "
                              "tls.own, or create the deployment anew")
    ca = base / own.ca_file
    pairs: dict[tuple[str, str], tuple[Path, Path]] = {}
    for node in nodes:
        cert, key = (base / name for name in own.node_files(node.name))
        check_user_material(ca, cert, key, [*node.ips, *node.dns])
        pairs[("node", node.name)] = cert, key
    cert, key = (base / name for name in own.client_files())
    check_user_material(ca, cert, key, [], usage=("clientAuth",))
    pairs[("client", client)] = cert, key

    make_private_dir(root)
    make_private_dir(layout.nodes_dir)
    make_private_dir(layout.clients_dir)
    for path in (layout.ca.cert, layout.bundle):
        _write_certs_if_changed(path, ca)
    changed = []
    for (kind, name), (cert, key) in pairs.items():
        pair = layout.node(name) if kind == "node" else layout.client(name)
        new = _write_certs_if_changed(pair.cert, cert)
        if not pair.key.exists() or pair.key.read_bytes() != _key_text(key):
            write_key(pair.key, read_key(key))
            new = True
        if new and kind == "node":
            changed.append(name)
    return changed


def _key_text(path: Path) -> bytes:
    """The key as :func:`write_key` writes it (PKCS#8 PEM), to tell whether the copy is current."""
    return read_key(path).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())


def _write_certs_if_changed(target: Path, source: Path) -> bool:
    certs = read_certs(source)
    text = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    if target.exists() and target.read_bytes() == text:
        return False
    write_certs(target, certs)
    return True
