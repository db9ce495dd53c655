"""The pure parts of the atomic-slot-migration executor: job grouping, slot ranges, GETSLOTMIGRATIONS replies."""

from __future__ import annotations

from redisops.cluster.atomic import FINAL_STATES, group_jobs, parse_server_jobs, ranges
from redisops.cluster.planner import Move

A, B, C = "a" * 40, "b" * 40, "c" * 40

#: Valkey 9.1.2's RESP2 reply, captured while two jobs ran (fields as the server sends them)
RESP2 = [
    [b"name", b"0d5addfca6bd2ce406d87c65550888b7d78516a2", b"operation", b"EXPORT", b"slot_ranges", b"6501-6600",
     b"target_node", C.encode(), b"source_node", A.encode(), b"create_time", 1795657639,
     b"last_update_time", 1795657639, b"last_ack_time", 1795657639, b"state", b"waiting-to-snapshot",
     b"message", b"", b"cow_size", 0, b"remaining_repl_size", 0],
    [b"name", b"d41cd711806f344b08f95241c8a5365fc82fd3d3", b"operation", b"EXPORT", b"slot_ranges",
     b"0-10 20-29", b"target_node", B.encode(), b"source_node", A.encode(), b"state", b"failed",
     b"message", b"Connection lost", b"cow_size", 1708032],
]


def test_ranges_are_the_runs_of_the_slots() -> None:
    assert ranges([7, 0, 2, 1, 9, 8, 8]) == [(0, 2), (7, 9)]
    assert ranges([16383]) == [(16383, 16383)]
    assert ranges([]) == []


def test_server_jobs_from_resp2_and_resp3() -> None:
    first, second = parse_server_jobs(RESP2)
    assert first.operation == "EXPORT" and first.slots == frozenset(range(6501, 6601))
    assert (first.source, first.target, first.state, first.final) == (A, C, "waiting-to-snapshot", False)
    assert second.slots == frozenset([*range(0, 11), *range(20, 30)])
    assert second.final and second.message == "Connection lost"
    resp3 = [{"name": "n1", "operation": "import", "slot_ranges": "5", "target_node": B, "source_node": A,
              "state": "success", "message": ""}]
    (job,) = parse_server_jobs(resp3)
    assert job.operation == "IMPORT" and job.slots == frozenset({5}) and job.final
    assert parse_server_jobs([]) == [] and parse_server_jobs(None) == []
    assert FINAL_STATES == {"success", "failed", "cancelled"}


def test_jobs_group_one_pair_per_job_in_plan_order_and_respect_the_size() -> None:
    moves = [Move(s, A, C) for s in range(0, 5)] + [Move(s, B, C) for s in range(100, 103)] + [Move(5, A, B)]
    jobs = group_jobs(moves, slots_per_job=2)
    assert [(j.target, j.slots) for j in jobs[A]] == [(C, (0, 1)), (C, (2, 3)), (C, (4,)), (B, (5,))]
    assert [(j.target, j.slots) for j in jobs[B]] == [(C, (100, 101)), (C, (102,))]
