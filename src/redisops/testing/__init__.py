"""Real Redis topologies for tests: free ports, temp dirs, faults, eventual asserts.

::

    from redisops.testing import Topology, assert_eventually

    with Topology.start(tmp_path, sentinel=True, cluster=False) as topo:
        topo.kill("mymaster-0")                         # SIGKILL
        assert_eventually(lambda: new_master(topo), within=15)

The pytest plugin (:mod:`redisops.testing.pytest_plugin`, opt-in with
``pytest -p redisops.testing.pytest_plugin``) fails the session when a process
started under the session's temp dirs is still alive at the end.
"""

from typing import Any

from redisops.testing.eventually import assert_eventually, wait_until

__all__ = ["Topology", "allocate_ports", "assert_eventually", "empty_cluster_node", "valkey_server", "wait_until"]


def __getattr__(name: str) -> Any:
    # Lazy, so the pytest plugin (imported into every pytest run) stays light.
    if name in ("Topology", "allocate_ports", "empty_cluster_node", "valkey_server"):
        from redisops.testing import harness

        return getattr(harness, name)
    raise AttributeError(name)
