"""Sentinel Pub/Sub messages as typed, frozen events (pure parsing, no I/O).

A sentinel publishes every state change on a channel named after the event
(``PSUBSCRIBE *`` receives them all).  Redis 7.0 ``sentinelEvent()`` formats the
payload in one of three ways:

* instance events: ``<type> <name> <ip> <port> @ <master> <ip> <port>`` where
  ``<type>`` is ``master`` / ``slave`` / ``sentinel`` and the ``@ ...`` part is
  left out when the instance is the master itself, e.g.
  ``+sdown master mymaster 127.0.0.1 6379`` or
  ``+selected-slave slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379``.
  Some events append words: ``+odown ... #quorum 3/2``,
  ``-role-change ... new reported role is master``.
* ``+switch-master <name> <oldip> <oldport> <newip> <newport>``
* bare values: ``+new-epoch 7``, ``+vote-for-leader <runid> 7``,
  ``+tilt #tilt mode entered``.

Names are the ones the 7.0 source emits (``-failover-abort-no-good-slave``,
not the documentation's ``no-good-slave``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from redisops.address import Address

__all__ = ["Instance", "InstanceType", "SentinelEvent", "parse_event"]


class InstanceType(Enum):
    MASTER = "master"
    REPLICA = "slave"  # the word Sentinel still uses on the wire
    SENTINEL = "sentinel"


@dataclass(frozen=True)
class Instance:
    """The instance an event is about: ``name`` is the master name for masters, ``ip:port`` otherwise
    (a sentinel's run id for ``+config-update-from``)."""

    type: InstanceType
    name: str
    address: Address


@dataclass(frozen=True)
class SentinelEvent:
    at: float  # when it was received: the watcher's monotonic stamp (see redisops.ha.timebase)
    source: Address  # the sentinel that published it
    name: str  # the channel: "+sdown", "+switch-master", ...
    group: str | None = None  # the master name it concerns, when the payload names one
    instance: Instance | None = None
    master: Address | None = None  # the master's address (old master for +switch-master)
    new_master: Address | None = None  # +switch-master only
    epoch: int | None = None  # +new-epoch, +vote-for-leader
    extra: str = ""  # words after the standard fields ("#quorum 3/2")
    payload: str = ""

    @property
    def about_master(self) -> bool:
        return self.instance is not None and self.instance.type is InstanceType.MASTER


def parse_event(channel: str, payload: str, source: Address, at: float, default_group: str | None = None,
                ) -> SentinelEvent:
    """One message as received; a payload of an unknown shape keeps only ``name`` and ``payload``.

    ``default_group`` names the group of an event whose payload names none
    (``+tilt``): the group the source sentinel was subscribed for.
    """
    base = SentinelEvent(at=at, source=source, name=channel, payload=payload, group=default_group)
    parser = _PARSERS.get(channel, _instance_event)
    return parser(base, payload.split())


def _address(ip: str, port: str) -> Address | None:
    return Address(ip, int(port)) if port.isdigit() else None


def _switch_master(event: SentinelEvent, words: list[str]) -> SentinelEvent:
    if len(words) < 5:
        return event
    old, new = _address(words[1], words[2]), _address(words[3], words[4])
    if old is None or new is None:
        return event
    return replace(event, group=words[0], master=old, new_master=new)


def _epoch_last(event: SentinelEvent, words: list[str]) -> SentinelEvent:
    """``+new-epoch 7`` / ``+vote-for-leader <runid> 7``."""
    return replace(event, epoch=int(words[-1])) if words and words[-1].isdigit() else event


def _bare(event: SentinelEvent, words: list[str]) -> SentinelEvent:
    return event


def _instance_event(event: SentinelEvent, words: list[str]) -> SentinelEvent:
    if len(words) < 4 or words[0] not in _TYPES:
        return event
    address = _address(words[2], words[3])
    if address is None:
        return event
    instance = Instance(_TYPES[words[0]], words[1], address)
    rest = words[4:]
    if instance.type is InstanceType.MASTER:
        return replace(event, group=words[1], instance=instance, master=address, extra=" ".join(rest))
    if len(rest) >= 4 and rest[0] == "@":
        return replace(event, group=rest[1], instance=instance, master=_address(rest[2], rest[3]),
                       extra=" ".join(rest[4:]))
    return replace(event, instance=instance, extra=" ".join(rest))


_TYPES = {t.value: t for t in InstanceType}
_PARSERS = {
    "+switch-master": _switch_master,
    "+new-epoch": _epoch_last,
    "+vote-for-leader": _epoch_last,
    "+tilt": _bare,
    "-tilt": _bare,
}
