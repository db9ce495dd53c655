"""The move journal: what a resume reads back, torn lines, and another cluster's journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from redisops.cluster.errors import JournalMismatchError
from redisops.cluster.journal import Journal, read_journal
from redisops.cluster.planner import Move

A, B, C = "a" * 40, "b" * 40, "c" * 40
MOVES = (Move(1, A, B), Move(2, A, B), Move(3, C, B))


def test_no_file_no_state(tmp_path: Path) -> None:
    assert read_journal(tmp_path / "none.jsonl") is None


def test_resume_state_after_a_kill_mid_write(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.start([A, B, C], MOVES)
    journal.slot(1, "started")
    journal.slot(1, "done")
    journal.slot(2, "started")
    journal.close()
    with path.open("a") as handle:
        handle.write('{"kind":"slot","slot":2,"sta')  # the torn tail of a kill -9
    state = read_journal(path)
    assert state is not None
    assert state.done == {1} and state.started == {1, 2} and not state.finished
    assert state.remaining == (Move(2, A, B), Move(3, C, B))


def test_finished_journal_and_fresh_start(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.start([A, B], MOVES[:1])
    journal.slot(1, "done")
    journal.end()
    state = read_journal(path)
    assert state is not None and state.finished and state.remaining == ()
    Journal(path).start([A, B], MOVES[1:2])  # a new plan replaces the finished one
    again = read_journal(path)
    assert again is not None and again.moves == MOVES[1:2] and not again.done


def test_a_journal_of_another_cluster_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    Journal(path).start([A, B, C], MOVES)
    state = read_journal(path)
    assert state is not None
    state.check_cluster(path, [A, B, C, "d" * 40])  # a node added since: still this cluster
    with pytest.raises(JournalMismatchError, match="another cluster") as info:
        state.check_cluster(path, ["x" * 40, "y" * 40])
    assert info.value.exit_code == 2
