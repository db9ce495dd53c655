"""The doctor's slowlog grouping, latency events and host checks, on replies and files shaped like the real ones."""

from __future__ import annotations

from pathlib import Path

from redisops.observe.doctor.host import (
    HostInput,
    host_findings,
    intrinsic_findings,
    merge_inputs,
    parse_intrinsic,
    read_host,
)
from redisops.observe.doctor.latency import latency_findings, parse_latest
from redisops.observe.doctor.model import Severity
from redisops.observe.doctor.slowlog import group_slowlog, parse_slowlog, slowlog_findings

# SLOWLOG GET as redis 7.0.15 sends it (RESP2, raw): id, time, µs, args, client, name
SLOWLOG = [
    [5, 1796317549, 152000, [b"EVAL", b"local t=redis.call('TIME')", b"0"], b"127.0.0.1:40974", b""],
    [4, 1796317549, 900, [b"KEYS", b"*"], b"127.0.0.1:40974", b""],
    [3, 1796317549, 9, [b"SET", b"k1", b"v"], b"127.0.0.1:40974", b""],
    [2, 1796317549, 7, [b"SET", b"k0", b"v"], b"127.0.0.1:40974", b"app"],
    [1, 1796317548, 40, [b"config", b"get", b"maxmemory"], b"127.0.0.1:40975", b""],
    [0, 1796317548, 25736, [b"HSET", b"bighash", *[b"x" * 60] * 40], b"127.0.0.1:40974", b""],
]


def test_slowlog_groups_by_command_with_the_worst_first() -> None:
    grouped = group_slowlog(parse_slowlog(SLOWLOG), worst=2)
    rows = {r["command"]: r for r in grouped["groups"]}
    assert [r["command"] for r in grouped["groups"]] == ["EVAL", "HSET", "KEYS", "CONFIG GET", "SET"]
    assert rows["SET"]["count"] == 2 and rows["SET"]["total_us"] == 16 and rows["SET"]["max_us"] == 9
    assert [e["us"] for e in grouped["worst"]] == [152000, 25736]
    hset = rows["HSET"]["worst"][0]["command"]
    assert hset.startswith("HSET bighash xxxx") and hset.endswith("(+36 args)") and len(hset) < 300


def test_slow_groups_and_keyspace_walks_are_warnings() -> None:
    found = {f.id: f for f in slowlog_findings(group_slowlog(parse_slowlog(SLOWLOG)), 10000)}
    assert set(found) == {"slowlog.eval", "slowlog.hset", "slowlog.keys"}  # SET and CONFIG GET were fast
    assert all(f.severity is Severity.WARNING for f in found.values())
    assert "SCAN" in found["slowlog.keys"].fix and "batches" in found["slowlog.eval"].fix
    assert found["slowlog.eval"].details["max_us"] == 152000


def test_latency_events_by_their_worst_spike() -> None:
    events = parse_latest([[b"command", 1796317549, 152, 152], [b"fork", 1796317549, 3, 650],
                           [b"expire-cycle", 1796317549, 12, 12]])
    found = {f.id: f.severity for f in latency_findings(events, 100, sampled=False)}
    assert found == {"latency.command": Severity.WARNING, "latency.fork": Severity.ERROR,
                     "latency.expire-cycle": Severity.INFO}
    assert [f.id for f in latency_findings([], 0, sampled=False)] == ["latency.monitor-off"]
    assert latency_findings([], 0, sampled=True) == []  # sampled for a window: no spike seen, nothing to say


def write_host(root: Path, overcommit: str, thp: str, somaxconn: str, mem_kb: int) -> Path:
    for name, text in (("proc/sys/vm/overcommit_memory", overcommit),
                       ("sys/kernel/mm/transparent_hugepage/enabled", thp),
                       ("proc/sys/net/core/somaxconn", somaxconn),
                       ("proc/meminfo", f"MemTotal:       {mem_kb} kB\nMemFree:         1000 kB\n")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return root


def test_host_checks_as_redis_warns_at_start(tmp_path: Path) -> None:
    bad = read_host(write_host(tmp_path / "bad", "0", "[always] madvise never", "128", 1024 * 1024))
    assert bad == {"overcommit_memory": "0", "transparent_hugepage": "always", "somaxconn": 128,
                   "mem_total": 1024 ** 3}
    nodes = merge_inputs([{"tcp-backlog": "511", "disable-thp": "no", "maxmemory": str(700 * 1024 ** 2)},
                          {"tcp-backlog": "511", "disable-thp": "yes", "maxmemory": str(700 * 1024 ** 2)}])
    assert nodes == HostInput(511, False, 1400 * 1024 ** 2, 0)
    found = {f.id: f.severity for f in host_findings(bad, nodes)}
    assert found == {"host.overcommit": Severity.WARNING, "host.thp": Severity.WARNING,
                     "host.somaxconn": Severity.WARNING, "host.maxmemory-overcommitted": Severity.WARNING}
    # THP set to always matters less when every node turns it off for itself (disable-thp yes)
    assert {f.id: f.severity for f in host_findings(bad, HostInput())}["host.thp"] is Severity.INFO
    good = read_host(write_host(tmp_path / "good", "1", "always [madvise] never", "4096", 8 * 1024 * 1024))
    assert host_findings(good, nodes) == []


def test_missing_host_files_are_not_findings(tmp_path: Path) -> None:
    figures = read_host(tmp_path)
    assert figures == {"overcommit_memory": None, "transparent_hugepage": None, "somaxconn": None, "mem_total": None}
    assert host_findings(figures, HostInput()) == []


# redis-cli --intrinsic-latency 1 on this host while other test suites ran (\r-separated progress lines)
INTRINSIC = ("Max latency so far: 1 microseconds.\rMax latency so far: 12 microseconds.\r"
             "Max latency so far: 44077 microseconds.\n\n8991134 total runs (avg latency: 0.1112 microseconds / "
             "111.22 nanoseconds per run).\nWorst run took 396302x longer than the average latency.\n")


def test_intrinsic_latency_parsed_and_judged() -> None:
    figures = parse_intrinsic(INTRINSIC)
    assert figures == {"max_us": 44077.0, "avg_us": 0.1112}
    [found] = intrinsic_findings(figures)
    assert found.id == "host.intrinsic-latency" and found.severity is Severity.WARNING and "44.1 ms" in found.title
    assert intrinsic_findings({"max_us": 900.0, "avg_us": 0.1}) == []
    assert parse_intrinsic("Could not connect") == {}


def test_public_names_are_pinned() -> None:
    import redisops.observe.doctor as doctor

    assert sorted(doctor.__all__) == ["BigKeyLimits", "DoctorNode", "DoctorReport", "DoctorSettings", "Finding",
                                      "NodeReport", "Severity", "Thresholds", "examine"]
    for name in doctor.__all__:
        getattr(doctor, name)
