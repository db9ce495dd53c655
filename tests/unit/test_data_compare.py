"""Pure parts of the consistency checks: classification, digests, rate cap, reports."""

from __future__ import annotations

from redisops.clock import FakeClock
from redisops.data.compare import Difference, DiffKind, PairReport, classify
from redisops.data.digest import KeyState, canonical_digest
from redisops.data.verify import RateCap

ABSENT = KeyState("none", -2, "")


def state(expire_at: int = -1, digest: str = "d", type_: str = "hash") -> KeyState:
    return KeyState(type_, expire_at, digest)


def test_classify_orders_kinds_by_importance() -> None:
    assert classify(state(), ABSENT, 0) is DiffKind.MISSING
    assert classify(ABSENT, state(), 0) is DiffKind.EXTRA
    assert classify(ABSENT, ABSENT, 0) is None
    assert classify(state(type_="set"), state(digest="x"), 0) is DiffKind.TYPE
    assert classify(state(digest="a", expire_at=5), state(digest="b", expire_at=-1), 0) is DiffKind.VALUE
    assert classify(state(), state(), 0) is None


def test_ttl_tolerance() -> None:
    assert classify(state(expire_at=10_000), state(expire_at=8_500), 2000) is None
    assert classify(state(expire_at=10_000), state(expire_at=7_000), 2000) is DiffKind.TTL
    assert classify(state(expire_at=10_000), state(expire_at=-1), 10**9) is DiffKind.TTL
    assert classify(state(expire_at=-1), state(expire_at=-1), 0) is None


def test_client_digest_is_canonical() -> None:
    assert canonical_digest("hash", {b"a": b"1", b"b": b"2"}) == canonical_digest("hash", {b"b": b"2", b"a": b"1"})
    assert canonical_digest("set", {b"x", b"y"}) == canonical_digest("set", [b"y", b"x"])
    assert canonical_digest("list", [b"ab", b"c"]) != canonical_digest("list", [b"a", b"bc"])
    assert canonical_digest("list", [b"x", b"y"]) != canonical_digest("list", [b"y", b"x"])
    assert canonical_digest("zset", [(b"a", 1.0)]) != canonical_digest("zset", [(b"a", 2.0)])


def test_rate_cap_sleeps_to_the_rate() -> None:
    clock = FakeClock()
    cap = RateCap(1000, clock)
    cap.take(500)
    cap.take(500)
    assert abs(clock.t - 1.0) < 1e-9
    RateCap(None, clock).take(10**6)
    assert abs(clock.t - 1.0) < 1e-9


def test_pair_report_counts_and_exit_codes() -> None:
    diffs = (Difference(b"k1", DiffKind.MISSING, state(), ABSENT), Difference(b"k2", DiffKind.TTL, state(5), state()))
    report = PairReport("m", "r", 10, 3, "lua", diffs)
    assert report.counts == {"missing_on_target": 1, "extra_on_target": 0, "type": 0, "value": 0, "ttl": 1}
    assert report.exit_code == 1
    assert report.to_dict(1)["first"] == [{"key": "k1", "kind": "missing_on_target",
                                           "source": {"type": "hash", "expire_at_ms": -1, "digest": "d"},
                                           "target": {"type": "none", "expire_at_ms": -2, "digest": ""}}]
    assert PairReport("m", "r").exit_code == 0
    assert PairReport("m", "r", error="down").exit_code == 3


def test_public_surface_is_pinned() -> None:
    import redisops.data as data

    assert sorted(data.__all__) == ["ClusterCheck", "DiffKind", "Difference", "DigestMode", "KeyState", "Misplaced",
                                    "NodeReader", "PairReport", "VerifyOptions", "check_cluster", "classify",
                                    "compare_spaces", "open_space", "resolve_target", "verify_replicas",
                                    "wait_caught_up"]
    assert all(hasattr(data, name) for name in data.__all__)
