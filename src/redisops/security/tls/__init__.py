"""TLS material for a deployment: a CA, node and client certificates, rotation, checks of a user's own.

::

    ca = ensure_ca(root, "demo")                                    # created once, then reused
    node = ensure_node_cert(ca, NodeIdentity("mymaster-0", ("127.0.0.1",), ("redis-0",)))
    # redis.conf: tls-cert-file node.cert, tls-key-file node.key, tls-ca-cert-file node.ca
    rotate(root, "demo", nodes, new_ca=True)                        # 3 steps, see rotation.py
    check_user_material(ca_file, cert_file, key_file, ["10.0.0.5", "redis-0"])

The layout of ``root`` is in :mod:`redisops.runtime.tls_layout`; docs/tls.md has the
procedures.  Keys are written 0600 and never appear in a message or a log line.
"""

from redisops.runtime.tls_layout import Layout
from redisops.security.tls.check import CertInfo, bundle_info, cert_info, check_user_material
from redisops.security.tls.errors import (
    ForeignMaterialError,
    InvalidMaterialError,
    RotationStateError,
    TlsMaterialError,
    UnreadableMaterialError,
)
from redisops.security.tls.material import (
    RENEW_WITHIN_DAYS,
    CaFiles,
    CertFiles,
    Material,
    NodeIdentity,
    ensure_ca,
    ensure_client_cert,
    ensure_material,
    ensure_node_cert,
)
from redisops.security.tls.rotation import Rotation, RotationStep, finish_rotation, rotate, rotation_step
from redisops.security.tls.status import Entry, Generation, MaterialStatus, material_status

__all__ = [
    "RENEW_WITHIN_DAYS",
    "CaFiles",
    "CertFiles",
    "CertInfo",
    "Entry",
    "ForeignMaterialError",
    "Generation",
    "InvalidMaterialError",
    "Layout",
    "Material",
    "MaterialStatus",
    "NodeIdentity",
    "Rotation",
    "RotationStateError",
    "RotationStep",
    "TlsMaterialError",
    "UnreadableMaterialError",
    "bundle_info",
    "cert_info",
    "check_user_material",
    "ensure_ca",
    "ensure_client_cert",
    "ensure_material",
    "ensure_node_cert",
    "finish_rotation",
    "material_status",
    "rotate",
    "rotation_step",
]
