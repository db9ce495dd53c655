"""A bare RESP pipe for the mover: pack many commands into one write, parse replies with hiredis.

The mover sends tens of thousands of small commands (SETSLOT, GETKEYSINSLOT,
MIGRATE with a thousand key arguments) in pipelines.  Through redis-py each
argument goes through its encoder and each reply through its callbacks and an
asyncio timeout, and on a 2-core machine that Python work, not the servers,
was the limit (about 60 % of the mover's CPU time).  Here a pipeline is one
``bytes.join`` and one hiredis reader; error replies come back in place as
``hiredis.ReplyError`` values (an ``Exception``), never raised, so the caller
judges each one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, cast

import hiredis

from redisops.address import Address
from redisops.auth import Credential, auth_args, tls_of
from redisops.errors import AuthError, NodeUnreachableError

__all__ = ["Arg", "Wire", "WirePool", "encode"]

Arg = bytes | str | int
READ_CHUNK = 1 << 16


def encode(commands: Sequence[Sequence[Arg]]) -> bytes:
    """RESP arrays of bulk strings for every command, in one buffer (packed by hiredis, in C)."""
    # hiredis' stub declares a 1-tuple; it takes any length
    return b"".join(hiredis.pack_command(cast(Any, tuple(command))) for command in commands)


class Wire:
    """One connection: :meth:`call` writes a pipeline and returns its replies in order."""

    def __init__(self, address: Address, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 timeout: float) -> None:
        self.address = address
        self._reader = reader
        self._writer = writer
        self._parser = hiredis.Reader()
        self._timeout = timeout

    @classmethod
    async def open(cls, address: Address, password: Credential, timeout: float) -> Wire:
        try:
            tls = tls_of(password)
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                address.host, address.port, ssl=tls.context() if tls else None,
                server_hostname=address.host if tls else None), timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            raise NodeUnreachableError(str(address), f"cannot connect ({exc or 'timed out'})") from exc
        wire = cls(address, reader, writer, timeout)
        if password:
            (reply,) = await wire.call([("AUTH", *auth_args(password))])
            if isinstance(reply, Exception):
                await wire.close()
                raise AuthError(str(address), f"authentication failed ({reply})", hint="check the password")
        return wire

    async def call(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        if not commands:
            return []
        self._writer.write(encode(commands))
        replies: list[Any] = []
        while len(replies) < len(commands):
            reply = self._parser.gets()
            if reply is not False:
                replies.append(reply)
                continue
            data = await asyncio.wait_for(self._reader.read(READ_CHUNK), self._timeout)
            if not data:
                raise NodeUnreachableError(str(self.address), "connection closed")
            self._parser.feed(data)
        return replies

    async def close(self) -> None:
        self._writer.close()
        with suppress(OSError):
            await self._writer.wait_closed()


class WirePool:
    """Idle connections to one node; a connection that failed mid-call is dropped, not reused."""

    def __init__(self, address: Address, password: Credential, timeout: float) -> None:
        self.address = address
        self._password = password
        self._timeout = timeout
        self._idle: list[Wire] = []

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Wire]:
        wire = self._idle.pop() if self._idle else await Wire.open(self.address, self._password, self._timeout)
        try:
            yield wire
        except BaseException:
            await wire.close()
            raise
        self._idle.append(wire)

    async def call(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        async with self.connection() as wire:
            return await wire.call(commands)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(w.close() for w in idle), return_exceptions=True)
