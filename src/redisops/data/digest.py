"""Per-key state — type, remaining TTL and a canonical value digest — read in batches.

Why a canonical digest: Redis stores small hashes, sets and sorted sets as
listpacks and big ones as hash tables / skiplists, and ``DUMP`` serialises the
encoding, so a hash that grew past ``hash-max-listpack-entries`` and shrank
again dumps differently from an identical one that never grew.  The digest is
taken over what a client *reads*: strings raw, lists in order, hashes and sets
sorted, sorted sets by ``ZRANGE`` (score, then member: already canonical),
streams as their entries, then their consumer groups by name with what a
replica receives of them (last delivered id, pending count; not consumers'
idle times, which each node keeps for itself).  Elements are length-prefixed (``3:abc``) so that
``["ab", "c"]`` and ``["a", "bc"]`` differ.

Fast path: one read-only Lua script (``#!lua flags=no-writes,allow-cross-slot-keys``)
digests a whole SCAN batch server-side, so only ~50 bytes per key cross the
network.  It is loaded once (``SCRIPT LOAD``) and called with ``EVALSHA_RO`` so it
runs on replicas too.  Keys travel in ARGV, not KEYS: a SCAN batch of a cluster
node spans many slots, which declared keys would refuse (CROSSSLOT).  The
script blocks the node while it runs, which is why batches stay small (default
256 keys) and why a rate cap exists.

Fallback (scripting disabled, ACL without EVAL, Redis < 7): the client fetches
the values and digests them itself.  The two modes sort with different
collations (Lua's ``strcoll`` vs bytes), so a comparison always uses one mode on
both sides.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import redis
from redis import exceptions as rx

__all__ = ["DIGEST_SCRIPT", "DigestMode", "KeyState", "NodeReader", "canonical_digest"]

DIGEST_SCRIPT = r"""#!lua flags=no-writes,allow-cross-slot-keys
local function enc(t)
  local parts = {}
  for i = 1, #t do parts[i] = #t[i] .. ':' .. t[i] end
  return table.concat(parts, ',')
end
local function pairs_sorted(flat)
  local fields, values = {}, {}
  for i = 1, #flat, 2 do fields[#fields + 1] = flat[i]; values[flat[i]] = flat[i + 1] end
  table.sort(fields)
  local out = {}
  for i = 1, #fields do out[#out + 1] = fields[i]; out[#out + 1] = values[fields[i]] end
  return out
end
local function stream(k)
  local out = {}
  for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do
    out[#out + 1] = e[1]
    for _, v in ipairs(e[2]) do out[#out + 1] = v end
  end
  -- consumer groups, by name: the state a replica gets from its master (last-delivered-id, pending count);
  -- a stream without groups appends nothing and digests as before
  local groups = redis.call('XINFO', 'GROUPS', k)
  if #groups > 0 then
    local rows = {}
    for _, g in ipairs(groups) do
      local f = {}
      for j = 1, #g, 2 do f[g[j]] = g[j + 1] end
      rows[#rows + 1] = {f['name'], f['last-delivered-id'], tostring(f['pending'])}
    end
    table.sort(rows, function(a, b) return a[1] < b[1] end)
    out[#out + 1] = '#groups'
    for _, r in ipairs(rows) do
      out[#out + 1] = r[1]; out[#out + 1] = r[2]; out[#out + 1] = r[3]
    end
  end
  return out
end
local digest = {
  list = function(k) return enc(redis.call('LRANGE', k, 0, -1)) end,
  set = function(k) local m = redis.call('SMEMBERS', k); table.sort(m); return enc(m) end,
  zset = function(k) return enc(redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')) end,
  hash = function(k) return enc(pairs_sorted(redis.call('HGETALL', k))) end,
  stream = function(k) return enc(stream(k)) end,
}
-- type and canonical value; GET first because most keys are strings (one call instead of two)
local function read(k)
  local v = redis.pcall('GET', k)
  if type(v) == 'string' then return 'string', v end
  if not v then return 'none', nil end
  local t = redis.call('TYPE', k)['ok']
  local f = digest[t]
  if f then return t, f(k) end
  return t, nil
end
local mode = ARGV[1]
if mode == 'exists' then
  local n = 0
  for i = 2, #ARGV do n = n + redis.call('EXISTS', ARGV[i]) end
  return n
end
-- no key with an expiry in any db (INFO keyspace: every expires=0): PEXPIRETIME would say -1 for each key
-- (an ACL without INFO: ask every key)
local info = redis.pcall('INFO', 'keyspace')
local volatile = type(info) ~= 'string' or string.find(info, 'expires=[1-9]') ~= nil
local out = {}
for i = 2, #ARGV do
  local k = ARGV[i]
  local t, v = read(k)
  local at = -2
  if v then
    if volatile then at = redis.call('PEXPIRETIME', k) else at = -1 end
  else
    v = ''
  end
  if mode == 'batch' then
    -- raw values up to 4 KiB go into the batch hash as they are: one sha1 per batch, not per key
    if #v > 4096 then v = redis.sha1hex(v) end
    out[i - 1] = t .. ':' .. at .. ':' .. #v .. ':' .. v
  else
    if t ~= 'none' then v = redis.sha1hex(v) end
    out[i - 1] = {t, at, v}
  end
end
if mode == 'batch' then return redis.sha1hex(table.concat(out, '\n')) end
return out
"""


class DigestMode(Enum):
    LUA = "lua"  # server-side, values never leave the node
    CLIENT = "client"  # values fetched and digested here


@dataclass(frozen=True)
class KeyState:
    """What one node holds under one key; ``type == "none"`` means absent (or expired).

    The expiry is absolute (``PEXPIRETIME``, Unix ms): a replica applies the
    master's absolute expiry, so equal keys read at different moments still
    have equal states, and a whole batch can be compared by one hash.
    """

    type: str
    expire_at: int  # Unix ms; -1 without expiry, -2 absent
    digest: str

    @property
    def exists(self) -> bool:
        return self.type != "none"

    @property
    def record(self) -> str:
        """The line the script hashes for ``batch`` mode (and the client mirrors)."""
        return f"{self.type}:{self.expire_at}:{self.digest}"


ABSENT = KeyState("none", -2, "")


def _enc(items: Sequence[bytes]) -> bytes:
    return b",".join(str(len(item)).encode() + b":" + item for item in items)


def _flat_sorted_pairs(mapping: dict[bytes, bytes]) -> list[bytes]:
    return [part for field in sorted(mapping) for part in (field, mapping[field])]


def _zset(items: Sequence[tuple[bytes, float]]) -> bytes:
    return _enc([part for member, score in items for part in (member, repr(score).encode())])


def _stream(entries: Sequence[tuple[bytes, dict[bytes, bytes]]],
            groups: Sequence[tuple[bytes, bytes, int]] = ()) -> bytes:
    """Entries, then ``#groups`` and (name, last delivered id, pending) per group by name -- the Lua twin."""
    parts = [part for entry_id, fields in entries for part in (entry_id, *[x for kv in fields.items() for x in kv])]
    if groups:
        parts.append(b"#groups")
        for name, last_id, pending in sorted(groups):
            parts += [name, last_id, str(pending).encode()]
    return _enc(parts)


def stream_groups(reply: Any) -> list[tuple[bytes, bytes, int]]:
    """``XINFO GROUPS`` as redis-py returns it (a list of dicts, or of flat field/value lists)."""
    groups = []
    for entry in reply or []:
        fields = entry if isinstance(entry, dict) else dict(zip(entry[0::2], entry[1::2], strict=False))
        fields = {_text(k): v for k, v in fields.items()}
        groups.append((_bytes(fields["name"]), _bytes(fields["last-delivered-id"]), int(fields["pending"])))
    return groups


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


#: type -> (fetch command, canonical bytes of its reply); the client-side twin of the Lua table
_CLIENT_FETCH: dict[str, tuple[tuple[str, ...], Any]] = {
    "string": (("GET",), lambda v: v or b""),
    "list": (("LRANGE", "0", "-1"), _enc),
    "set": (("SMEMBERS",), lambda v: _enc(sorted(v))),
    "zset": (("ZRANGE", "0", "-1", "WITHSCORES"), None),  # handled by redis-py's parser below
    "hash": (("HGETALL",), lambda v: _enc(_flat_sorted_pairs(v))),
    "stream": (("XRANGE", "-", "+"), _stream),
}


def canonical_digest(type_name: str, reply: Any) -> str:
    """The client-side digest of one value as redis-py parsed it (RESP2, bytes)."""
    if type_name == "zset":
        return hashlib.sha1(_zset(reply)).hexdigest()
    _, canonical = _CLIENT_FETCH[type_name]
    return hashlib.sha1(canonical(reply)).hexdigest()


class NodeReader:
    """Reads key states from one node, through the script when it can.

    ``client`` must not decode responses (keys are bytes) and, for a cluster
    replica, must be a single-connection client on which ``READONLY`` was sent.
    """

    def __init__(self, client: redis.Redis, mode: DigestMode | None = None,
                 factory: Callable[[], redis.Redis] | None = None) -> None:
        self.client = client
        self.factory = factory  # opens another connection like ``client`` (see :meth:`fork`)
        self._mode = mode
        self._sha: str | None = None
        self._cross_slot = False  # learnt on the first CROSSSLOT refusal

    @property
    def mode(self) -> DigestMode:
        if self._mode is None:
            self._mode = self._probe_mode()
        return self._mode

    def force(self, mode: DigestMode) -> None:
        self._mode = mode

    def fork(self) -> NodeReader | None:
        """A reader on a new connection, for a second thread; None when this one cannot reconnect."""
        if self.factory is None:
            return None
        return NodeReader(self.factory(), self._mode, self.factory)

    def _probe_mode(self) -> DigestMode:
        try:
            self._sha = str(self.client.script_load(DIGEST_SCRIPT))
            self.client.execute_command("EVALSHA_RO", self._sha, 0, "exists")
        except rx.ResponseError:
            return DigestMode.CLIENT
        return DigestMode.LUA

    def states(self, keys: Sequence[bytes]) -> list[KeyState]:
        if not keys:
            return []
        if self.mode is DigestMode.LUA:
            rows = self._script("states", keys)
            return [KeyState(_text(t), int(at), _text(digest)) for t, at, digest in rows]
        return self._client_side(keys)

    def batch_digest(self, keys: Sequence[bytes]) -> str:
        """One hash over the states of ``keys`` in order: equal batches cost one reply of 40 bytes."""
        if self.mode is DigestMode.LUA:
            return _text(self._script("batch", keys))
        return hashlib.sha1("\n".join(s.record for s in self._client_side(keys)).encode()).hexdigest()

    def count_existing(self, keys: Sequence[bytes]) -> int:
        """Native multi-key ``EXISTS`` (one command); a cluster node refuses it across slots, so the script."""
        if not self._cross_slot:
            try:
                return int(self.client.exists(*keys))
            except rx.ClusterCrossSlotError:
                self._cross_slot = True
        if self.mode is DigestMode.LUA:
            return int(self._script("exists", keys))
        return sum(self.exists(keys))

    def exists(self, keys: Sequence[bytes]) -> list[bool]:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        return [bool(n) for n in pipe.execute()]

    def _script(self, mode: str, keys: Sequence[bytes]) -> Any:
        if self._sha is None:
            self._sha = str(self.client.script_load(DIGEST_SCRIPT))
        try:
            return self.client.execute_command("EVALSHA_RO", self._sha, 0, mode, *keys)
        except rx.NoScriptError:  # SCRIPT FLUSH or a restart since we loaded it
            self._sha = str(self.client.script_load(DIGEST_SCRIPT))
            return self.client.execute_command("EVALSHA_RO", self._sha, 0, mode, *keys)

    def _client_side(self, keys: Sequence[bytes]) -> list[KeyState]:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.type(key)
            pipe.pttl(key)
        meta = pipe.execute()
        now_ms = int(time.time() * 1000)
        types = [_text(t) for t in meta[0::2]]
        pipe = self.client.pipeline(transaction=False)
        for key, type_name in zip(keys, types, strict=True):
            if type_name in _CLIENT_FETCH:
                pipe.execute_command(*_fetch_command(type_name, key))
            if type_name == "stream":
                pipe.execute_command("XINFO", "GROUPS", key)
        values = iter(pipe.execute())
        out = []
        for type_name, pttl in zip(types, meta[1::2], strict=True):
            if type_name not in _CLIENT_FETCH:
                out.append(ABSENT)
                continue
            value = next(values)
            if type_name == "stream":
                digest = hashlib.sha1(_stream(_normalise(type_name, value), stream_groups(next(values)))).hexdigest()
            else:
                digest = canonical_digest(type_name, _normalise(type_name, value))
            out.append(KeyState(type_name, int(pttl) + now_ms if int(pttl) >= 0 else int(pttl), digest))
        return out


def _fetch_command(type_name: str, key: bytes) -> tuple[Any, ...]:
    command, _ = _CLIENT_FETCH[type_name]
    return (command[0], key, *command[1:])


def _normalise(type_name: str, value: Any) -> Any:
    """Replies as redis-py's callbacks shaped them (or raw) -> what :func:`canonical_digest` expects."""
    if type_name == "hash" and isinstance(value, list):
        return dict(zip(value[0::2], value[1::2], strict=True))
    if type_name == "zset" and value and not isinstance(value[0], tuple | list):
        return [(value[i], float(value[i + 1])) for i in range(0, len(value), 2)]
    if type_name == "zset":
        return [(member, float(score)) for member, score in value]
    if type_name == "stream":
        return [(entry_id, fields if isinstance(fields, dict) else dict(zip(fields[0::2], fields[1::2],
                                                                             strict=True)))
                for entry_id, fields in value]
    return value


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
