"""How the CLI writes for people: console width off a terminal, tables at 80 columns, slot summaries, plurals,
and the missing-spec error.  Real Rich rendering into a string; the integration twin with a real cluster and a
pipe is ``tests/integration/test_status_output.py``."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from redisops.address import Address
from redisops.cli.common import PIPE_WIDTH, console, plural
from redisops.cli.status import _cluster_table, slots_summary
from redisops.cli.verify import _render_pairs
from redisops.data.compare import Difference, DiffKind, PairReport
from redisops.data.digest import KeyState
from redisops.errors import SpecError
from redisops.spec import load
from redisops.topology.cluster_status import ClusterRow, ClusterStatus
from redisops.topology.model import Health, Role, SlotMap

#: what a master holds after a scale-in moved every third slot away: 1335 ranges
FRAGMENTED = (*((s, s + 1) for s in range(0, 4002, 3)), (4003, 5460))


def rendered(renderable: object, width: int) -> list[str]:
    out = Console(file=io.StringIO(), width=width)
    out.print(renderable)
    return out.file.getvalue().splitlines()  # type: ignore[attr-defined]


def cluster_status() -> ClusterStatus:
    rows = []
    for m in range(3):
        master_id, replica_id = f"{m:040x}", f"{m + 3:040x}"
        rows.append(ClusterRow(Address("127.0.0.1", 17000 + m), master_id, Role.MASTER, None, FRAGMENTED, 5034,
                               frozenset(), "connected", m + 1, "ok", None, None))
        rows.append(ClusterRow(Address("127.0.0.1", 17003 + m), replica_id, Role.REPLICA, master_id, (), 5034,
                               frozenset({"fail"}), "disconnected", m + 1, "ok", False, None))
    return ClusterStatus("main", Health.DEGRADED, (), tuple(rows), SlotMap.from_nodes([]), 6, 6, 3)


def test_plural() -> None:
    assert [plural(n, "node") for n in (0, 1, 2)] == ["0 nodes", "1 node", "2 nodes"]
    assert plural(1, "replica") == "1 replica" and plural(3, "index", "indexes") == "3 indexes"


def test_slots_summary_is_bounded_and_counts_every_slot() -> None:
    assert slots_summary(((0, 5460),)) == "0-5460"
    assert slots_summary(((0, 1), (5, 5), (9, 20))) == "0-1,5,9-20"
    summary = slots_summary(FRAGMENTED)
    total = sum(b - a + 1 for a, b in FRAGMENTED)
    assert summary == f"0-1,3-4,6-7,… +{len(FRAGMENTED) - 3} ranges ({total} slots)"


@pytest.mark.parametrize("width", [80, 100, PIPE_WIDTH])
def test_cluster_table_keeps_addresses_ids_and_roles_whole(width: int) -> None:
    lines = rendered(_cluster_table(cluster_status()), width)
    assert all(len(line.rstrip()) <= width for line in lines)
    rows = [line.split() for line in lines if line.startswith("127.0.0.1:")]
    assert [row[0] for row in rows] == [f"127.0.0.1:{p}" for p in (17000, 17003, 17001, 17004, 17002, 17005)]
    assert [row[2] for row in rows] == ["master", "replica"] * 3
    assert [row[1] for row in rows] == [f"{i:040x}"[:8] for i in (0, 3, 1, 4, 2, 5)]
    assert all("5034" in row and row[-2] in "123" and row[-1] == "ok" for row in rows)  # numbers whole too


def test_cluster_table_off_a_terminal_is_one_line_per_node() -> None:
    lines = rendered(_cluster_table(cluster_status()), PIPE_WIDTH)
    assert len(lines) == 2 + 6  # title, header, a line per node
    assert f"+{len(FRAGMENTED) - 3} ranges (" in lines[2] and "down: bus,repl" in lines[3]


def test_verify_table_keeps_the_pair_whole_at_80_columns() -> None:
    state = KeyState("string", -1, "x")
    missing = Difference(b"k1", DiffKind.MISSING, state, KeyState("none", -2, ""))
    ttl = Difference(b"k2", DiffKind.TTL, state, KeyState("string", 5, "x"))
    reports = [PairReport("mymaster: 127.0.0.1:16400", "127.0.0.1:16401", 5034, 3, "lua", (missing, ttl)),
               PairReport("cluster main: 127.0.0.1:17000", "127.0.0.1:17003", 5034, 1, "lua"),
               PairReport("cluster main: 127.0.0.1:17001", "127.0.0.1:17004", error="replica down: refused")]
    out = Console(file=io.StringIO(), width=80)
    _render_pairs(out, reports, first=0)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    for report in reports:
        row = next(line for line in text.splitlines() if line.startswith(report.source + " "))
        assert report.target in row.split() and len(row.rstrip()) <= 80
    assert "2 different: missing 1, ttl 1" in " ".join(text.split())
    assert "5034" in text and "same" in text


def test_console_off_a_terminal_is_wide_and_never_hard_wraps(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out = console()
    assert not out.is_terminal and out.width == PIPE_WIDTH
    line = "restarted mymaster-0 as a replica of 127.0.0.1:6401, the master the sentinels elected " * 20
    out.print(line.strip(), highlight=False)
    assert capsys.readouterr().out == line.strip() + "\n"


def test_console_honours_an_explicit_columns(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = console(stderr=True)
    assert out.width == 80
    out.print("x" * 200)
    assert capsys.readouterr().err == "x" * 200 + "\n"  # plain lines still are not wrapped


def test_a_missing_spec_says_so_without_the_validate_hint() -> None:
    with pytest.raises(SpecError) as caught:
        load("nonexistent.yaml")
    assert str(caught.value) == "nonexistent.yaml: no such file: create one with `redisops init`, or pass -f PATH"


def redisops(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "redisops", *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


def test_status_without_a_spec_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    done = redisops("status", "-f", "nonexistent.yaml", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: nonexistent.yaml: no such file: create one with `redisops init`, or pass -f PATH\n"


def test_validate_counts_in_the_singular(tmp_path: Path) -> None:
    (tmp_path / "redisops.yaml").write_text("sentinel:\n  - name: g\n    quorum: 4\n")
    done = redisops("config", "validate", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout.splitlines()[-1] == "1 error, 0 warnings", done.stdout


def test_version_flag() -> None:
    import subprocess
    import sys
    from importlib.metadata import version

    done = subprocess.run([sys.executable, "-m", "redisops", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"redisops {version('redisops')}"
