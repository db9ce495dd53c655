"""The topology spec: models, cross-field rules, loading, secrets."""

from redisops.spec.load import load, load_text, validate
from redisops.spec.models import (
    AuthSpec,
    ClusterSpec,
    ComposeSpec,
    MaxmemoryPolicy,
    Persistence,
    RedisSpec,
    SentinelGroup,
    Spec,
)
from redisops.spec.rules import check_rules
from redisops.spec.secrets import Secrets, generate_secrets, load_secrets

__all__ = [
    "AuthSpec",
    "ClusterSpec",
    "ComposeSpec",
    "MaxmemoryPolicy",
    "Persistence",
    "RedisSpec",
    "Secrets",
    "SentinelGroup",
    "Spec",
    "check_rules",
    "generate_secrets",
    "load",
    "load_secrets",
    "load_text",
    "validate",
]
