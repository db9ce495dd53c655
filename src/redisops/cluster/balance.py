"""From a live cluster to a plan: the weights a rebalance balances, and a summary to show before moving.

Weights by ``keys`` come from ``CLUSTER COUNTKEYSINSLOT`` for every slot a master
owns (one pipeline per master).  By ``memory`` each slot's weight is its key
count times the mean ``MEMORY USAGE`` of up to :data:`SAMPLE_KEYS` of its keys:
exact sizes would mean touching every key, and slots of one application tend to
hold keys of similar size.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redisops.address import Address
from redisops.auth import Credential
from redisops.cluster.errors import PlanError
from redisops.cluster.live import ClusterView, fetch_view
from redisops.cluster.planner import Balance, Move, plan_rebalance, plan_reshard
from redisops.cluster.wire import WirePool

__all__ = ["ESTIMATED_KEYS_PER_S", "PlanSummary", "rebalance_plan", "reshard_plan", "slot_weights"]

SAMPLE_KEYS = 5
#: what the ETA of a dry run assumes: the mover's rate on loopback with 100-byte values (bench/rebalance.py)
ESTIMATED_KEYS_PER_S = 40_000.0


@dataclass(frozen=True)
class PlanSummary:
    """What a plan would do, for ``--dry-run`` and for the line printed before moving."""

    moves: tuple[Move, ...]
    keys: int
    flows: tuple[tuple[str, str, int], ...]  # (source address, target address, slots)

    @property
    def eta_s(self) -> float:
        return self.keys / ESTIMATED_KEYS_PER_S

    def sentence(self) -> str:
        if not self.moves:
            return "nothing to move: the cluster is balanced within the threshold"
        return (f"plan: {len(self.moves)} slots, about {self.keys} keys, "
                f"estimated {self.eta_s:.0f} s at {ESTIMATED_KEYS_PER_S:,.0f} keys/s")

    def to_dict(self) -> dict[str, Any]:
        return {"slots": len(self.moves), "keys": self.keys, "eta_s": round(self.eta_s, 1),
                "flows": [{"source": s, "target": t, "slots": n} for s, t, n in self.flows]}


async def slot_weights(view: ClusterView, password: Credential, by: Balance) -> dict[int, float] | None:
    """slot -> weight for ``by`` (None for slot counts: every slot weighs one)."""
    if by is Balance.SLOTS:
        return None
    jobs = [_master_weights(view.address(m), password, _owned(view, m), by) for m in view.slot_map.owners]
    weights: dict[int, float] = {}
    for part in await asyncio.gather(*jobs):
        weights.update(part)
    return weights


def _owned(view: ClusterView, master: str) -> list[int]:
    return [s for a, b in view.slot_map.ranges_of(master) for s in range(a, b + 1)]


async def _master_weights(address: Address, password: Credential, slots: list[int],
                          by: Balance) -> dict[int, float]:
    pool = WirePool(address, password, 30.0)
    try:
        counts = await pool.call([("CLUSTER", "COUNTKEYSINSLOT", s) for s in slots])
        keys = {s: n for s, n in zip(slots, counts, strict=True) if isinstance(n, int)}
        if by is Balance.KEYS:
            return {s: float(n) for s, n in keys.items()}
        return await _memory_weights(pool, keys)
    finally:
        await pool.close()


async def _memory_weights(pool: WirePool, keys: dict[int, int]) -> dict[int, float]:
    """Key count times the mean MEMORY USAGE of a few sampled keys (keys stay bytes: any name works)."""
    loaded = [s for s, n in keys.items() if n]
    samples = await pool.call([("CLUSTER", "GETKEYSINSLOT", s, SAMPLE_KEYS) for s in loaded])
    listed = [list(sample) if isinstance(sample, list) else [] for sample in samples]
    sizes = iter(await pool.call([("MEMORY", "USAGE", k) for sample in listed for k in sample]))
    weights: dict[int, float] = {}
    for slot, sample in zip(loaded, listed, strict=True):
        got = [n for n in (next(sizes) for _ in sample) if isinstance(n, int)]
        weights[slot] = keys[slot] * (sum(got) / len(got) if got else 0.0)
    return weights


async def rebalance_plan(seeds: Sequence[Address], password: Credential, *, by: Balance = Balance.SLOTS,
                         threshold_pct: float = 2.0, use_empty_masters: bool = False,
                         ) -> tuple[ClusterView, PlanSummary]:
    """Balance the masters that own slots (and the empty ones too when asked)."""
    view = await fetch_view(seeds, password)
    masters = sorted(view.masters if use_empty_masters else view.slot_map.owners & view.masters.keys())
    weights = await slot_weights(view, password, by)
    moves = plan_rebalance(view.slot_map, masters, weights, threshold_pct)
    return view, await summarize(view, password, moves)


async def reshard_plan(seeds: Sequence[Address], password: Credential, source: str, target: str,
                       count: int) -> tuple[ClusterView, PlanSummary]:
    view = await fetch_view(seeds, password)
    ids = {}
    for flag, text in (("--from", source), ("--to", target)):
        try:
            ids[flag] = view.resolve(text)
        except KeyError:
            raise PlanError(f"{flag} {text}: no single node of this cluster matches",
                            hint="give a node id (or unique prefix) or host:port from `redisops cluster check`"
                            ) from None
    if ids["--to"] not in view.masters:
        raise PlanError(f"--to {target} is not a master")
    moves = plan_reshard(view.slot_map, ids["--from"], ids["--to"], count)
    return view, await summarize(view, password, moves)


async def summarize(view: ClusterView, password: Credential, moves: Sequence[Move]) -> PlanSummary:
    by_source: dict[str, list[int]] = {}
    for move in moves:
        by_source.setdefault(move.source, []).append(move.slot)
    counts = await asyncio.gather(*(_count(view.address(source), password, slots)
                                    for source, slots in by_source.items()))
    flows = Counter((str(view.address(m.source)), str(view.address(m.target))) for m in moves)
    return PlanSummary(tuple(moves), sum(counts), tuple((s, t, n) for (s, t), n in sorted(flows.items())))


async def _count(address: Address, password: Credential, slots: list[int]) -> int:
    """Keys in ``slots`` of one master: one pipeline on a bare connection (4096 commands in ~10 ms)."""
    pool = WirePool(address, password, 30.0)
    try:
        replies = await pool.call([("CLUSTER", "COUNTKEYSINSLOT", s) for s in slots])
    finally:
        await pool.close()
    return sum(n for n in replies if isinstance(n, int))


