"""Editing a spec in place keeps the operator's comments and layout."""

import pytest
import yaml

from redisops.errors import UsageError
from redisops.spec.edit import set_values

SPEC = """name: prod   # production
# the cluster
cluster:
  name: main   # keep me
  masters: 3   # shards
  port: 7000
sentinel: []
"""


def test_a_present_value_is_replaced_where_it_stands() -> None:
    out = set_values(SPEC, "cluster", {"masters": 4})
    assert "  masters: 4   # shards\n" in out
    assert out.replace("masters: 4", "masters: 3") == SPEC


def test_an_absent_key_is_added_at_the_mapping_indentation() -> None:
    out = set_values(SPEC, "cluster", {"replicas_per_master": 2})
    assert yaml.safe_load(out)["cluster"] == {"replicas_per_master": 2, "name": "main", "masters": 3, "port": 7000}
    assert "# the cluster" in out and "# keep me" in out


def test_a_flow_mapping_is_rewritten_whole() -> None:
    assert yaml.safe_load(set_values("cluster: {masters: 3}\n", "cluster", {"masters": 5})) == {
        "cluster": {"masters": 5}}


def test_a_missing_section_is_one_clear_error() -> None:
    with pytest.raises(UsageError, match="no `cluster:` section"):
        set_values("name: x\n", "cluster", {"masters": 4})
