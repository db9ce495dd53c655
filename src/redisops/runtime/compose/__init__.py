"""Render the spec as a Docker Compose project that runs the same configs as ``redisops up``.

What differs from the local runtime is only *where* nodes run (a
:class:`~redisops.runtime.conf.Placement`): every node gets a static address on
the project network, listens on ``0.0.0.0`` inside its own network namespace,
keeps its data in ``/data`` (a named volume) and logs to stdout.  redis.conf /
sentinel.conf come from :func:`~redisops.runtime.conf.render_conf`, the template
source the local runtime uses, so a Compose node and its local twin run the
same configuration.

Modules, by responsibility: ``layout`` (file names, container paths, static
addresses), ``services`` (the ``docker-compose.yml`` document), ``cluster_init``
(the script that forms the cluster with ``redis-cli --cluster create``),
``output`` (writing the directory atomically), ``render`` (spec -> files ->
directory).
"""

from redisops.runtime.compose.addon import ComposeAddon
from redisops.runtime.compose.cluster_init import cluster_init_script
from redisops.runtime.compose.layout import (
    COMPOSE_FILE,
    ENV_FILE,
    INIT_SCRIPT,
    INIT_SERVICE,
    MARKER_FILE,
    NETWORK,
    compose_placement,
    static_ips,
)
from redisops.runtime.compose.output import OutputFile, write_output
from redisops.runtime.compose.render import RenderResult, compose_files, render_compose
from redisops.runtime.compose.services import UI_IMAGES
from redisops.runtime.ui import UI

__all__ = [
    "COMPOSE_FILE",
    "ENV_FILE",
    "INIT_SCRIPT",
    "INIT_SERVICE",
    "MARKER_FILE",
    "NETWORK",
    "UI",
    "UI_IMAGES",
    "ComposeAddon",
    "OutputFile",
    "RenderResult",
    "cluster_init_script",
    "compose_files",
    "compose_placement",
    "render_compose",
    "static_ips",
    "write_output",
]
