"""The signature table: every signature matches a 7.0.15-format line, grep -E agrees, bad files are refused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from redisops.observe.logs import SIGNATURES, LogFormatError, Severity, find_in, grep_pattern, parse_line, scan
from redisops.observe.logs.scan import LogSource

CORPUS = Path(__file__).resolve().parents[1] / "logs_corpus"

#: one line per signature. Lines marked (real) were copied from tests/logs_corpus (written by redis 7.0.15
#: while the condition was caused); the others are built from the 7.0.15 binary's format strings.
EXAMPLES = {
    "sentinel.sdown-master": "27828:X 03 Dec 2026 13:32:38.325 # +sdown master mymaster 127.0.0.1 11850",  # real
    "sentinel.odown": "27828:X 03 Dec 2026 13:32:38.402 # +odown master mymaster 127.0.0.1 11850 #quorum 2/2",  # real
    "sentinel.sdown-replica": "27828:X 03 Dec 2026 13:32:41.534 # +sdown slave 127.0.0.1:11850 127.0.0.1 11850 "
                              "@ mymaster 127.0.0.1 11851",  # real
    "sentinel.sdown-sentinel": "27828:X 03 Dec 2026 13:32:36.348 # +sdown sentinel 97c7eac3c940c5de7e81fb479d6c33"
                               "49d1d258f0 127.0.0.1 11861 @ mymaster 127.0.0.1 11850",  # real
    "sentinel.sdown-cleared": "27828:X 03 Dec 2026 13:32:52.933 # -sdown master mymaster 127.0.0.1 11851",  # real
    "sentinel.odown-cleared": "27828:X 03 Dec 2026 13:32:40.505 # -odown master mymaster 127.0.0.1 11850",  # real
    "sentinel.new-epoch": "27828:X 03 Dec 2026 13:32:38.402 # +new-epoch 1",  # real
    "sentinel.try-failover": "27828:X 03 Dec 2026 13:32:38.402 # +try-failover master mymaster 127.0.0.1 11850",
    "sentinel.elected-leader": "27828:X 03 Dec 2026 13:32:38.497 # +elected-leader master mymaster 127.0.0.1 11850",
    "sentinel.selected-replica": "27828:X 03 Dec 2026 13:32:38.563 # +selected-slave slave 127.0.0.1:11851 "
                                 "127.0.0.1 11851 @ mymaster 127.0.0.1 11850",  # real
    "sentinel.promoted-replica": "27828:X 03 Dec 2026 13:32:39.420 # +promoted-slave slave 127.0.0.1:11851 "
                                 "127.0.0.1 11851 @ mymaster 127.0.0.1 11850",  # real
    "sentinel.failover-end": "27828:X 03 Dec 2026 13:32:40.505 # +failover-end master mymaster 127.0.0.1 11850",
    "sentinel.switch-master": "27828:X 03 Dec 2026 13:32:40.505 # +switch-master mymaster 127.0.0.1 11850 "
                              "127.0.0.1 11851",  # real
    "sentinel.failover-timeout": "1:X 03 Dec 2026 13:32:40.505 # +failover-end-for-timeout master m 10.0.0.1 6379",
    "sentinel.failover-abort": "1:X 03 Dec 2026 13:32:40.505 # -failover-abort-no-good-slave master m 10.0.0.1 6379",
    "sentinel.tilt": "1:X 03 Dec 2026 13:32:40.505 # +tilt #tilt mode entered",
    "sentinel.script-error": "1:X 03 Dec 2026 13:32:40.505 # -script-error /bin/notify.sh 0 2",
    "sentinel.convert-to-replica": "1:X 03 Dec 2026 13:32:40.505 * +convert-to-slave slave 10.0.0.1:6379 10.0.0.1 "
                                   "6379 @ m 10.0.0.2 6379",
    "repl.master-link-lost": "27787:S 03 Dec 2026 13:32:37.266 # Connection with master lost.",  # real
    "repl.replica-link-lost": "27787:M 03 Dec 2026 13:32:42.798 # Connection with replica 127.0.0.1:11852 lost.",
    "repl.psync-refused": "27797:M 03 Dec 2026 13:32:35.900 * Partial resynchronization not accepted: Replication ID "
                          "mismatch (Replica asked for 'a', my replication IDs are 'b' and 'c')",  # real shape
    "repl.psync-no-backlog": "27787:M 03 Dec 2026 13:32:42.799 * Unable to partial resync with replica "
                             "127.0.0.1:11852 for lack of backlog (Replica request was: 1096).",  # real
    "repl.master-timeout": "1:S 03 Dec 2026 13:32:40.505 # MASTER timeout: no data nor PING received...",
    "repl.connect-timeout": "1:S 03 Dec 2026 13:32:40.505 # Timeout connecting to the MASTER...",
    "repl.bulk-timeout": "1:S 03 Dec 2026 13:32:40.505 # Timeout receiving bulk data from MASTER... If the problem "
                         "persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.",
    "repl.sync-io-error": "1:S 03 Dec 2026 13:32:40.505 # I/O error trying to sync with MASTER: connection lost",
    "repl.sync-socket-error": "27787:S 03 Dec 2026 13:32:38.141 # Error condition on socket for SYNC: "
                              "Connection refused",  # real
    "persist.misconf": "1:S 03 Dec 2026 13:32:40.505 # Error reply to PING from master: '-MISCONF Redis is "
                       "configured to save RDB snapshots, but it's currently unable to persist to disk.'",
    "repl.master-error-reply": "1:S 03 Dec 2026 13:32:40.505 # Error reply to PING from master: '-NOAUTH x'",
    "repl.auth-failed": "1:S 03 Dec 2026 13:32:40.505 # Unable to AUTH to MASTER: -ERR invalid password",
    "repl.replica-timeout": "1:M 03 Dec 2026 13:32:40.505 # Disconnecting timedout replica (full sync): 10.0.0.2:6379",
    "repl.sync-bgsave-failed": "1:M 03 Dec 2026 13:32:40.505 # SYNC failed. BGSAVE child returned an error",
    "persist.bgsave-error": "27787:M 03 Dec 2026 13:32:50.637 # Background saving error",  # real
    "persist.fork-failed": "1:M 03 Dec 2026 13:32:40.505 # Can't save in background: fork: Cannot allocate memory",
    "persist.rdb-open-failed": "1:C 03 Dec 2026 13:32:40.505 # Failed opening the temp RDB file temp-9.rdb (in "
                               "server root dir /data) for saving: Read-only file system",
    "persist.rdb-write-error": "1:C 03 Dec 2026 13:32:40.505 # Write error saving DB on disk(rdbSave): No space left",
    "persist.rdb-rename-error": "28295:C 03 Dec 2026 13:32:50.562 # Error moving temp DB file temp-28295.rdb on the "
                                "final destination dump.rdb (in server root dir /data): Is a directory",  # real
    "persist.load-oom": "1:M 03 Dec 2026 13:32:40.505 # Short read or OOM loading DB. Unrecoverable error, aborting "
                        "now.",
    "persist.load-fatal": "1:M 03 Dec 2026 13:32:40.505 # Fatal error loading the DB: Permission denied. Exiting.",
    "persist.aof-write-error": "1:M 03 Dec 2026 13:32:40.505 # Error writing to the AOF file: No space left on device",
    "persist.aof-fsync-slow": "1:M 03 Dec 2026 13:32:40.505 * Asynchronous AOF fsync is taking too long (disk is "
                              "busy?). Writing the AOF buffer without waiting for fsync to complete, this may slow "
                              "down Redis.",
    "persist.aof-rewrite-error": "1:M 03 Dec 2026 13:32:40.505 # Background AOF rewrite terminated with error",
    "persist.replica-disk-error": "1:S 03 Dec 2026 13:32:40.505 # Replica is applying a command even though it is "
                                  "unable to write to disk.",
    "clients.output-buffer": "27787:M 03 Dec 2026 13:32:42.794 # Client id=18 addr=127.0.0.1:40530 flags=S "
                             "omem=1085776 cmd=replconf scheduled to be closed ASAP for overcoming of output buffer "
                             "limits.",  # real, shortened
    "memory.oom": "1:M 03 Dec 2026 13:32:40.505 # Out Of Memory allocating 1048576 bytes!",
    "system.overcommit": "27787:S 03 Dec 2026 13:32:35.109 # WARNING Memory overcommit must be enabled! Without it, "
                         "a background save or replication may fail under low memory condition.",  # real (7.x)
    "system.thp": "1:M 03 Dec 2026 13:32:40.505 # WARNING you have Transparent Huge Pages (THP) support enabled in "
                  "your kernel.",
    "system.somaxconn": "1:M 03 Dec 2026 13:32:40.505 # WARNING: The TCP backlog setting of 511 cannot be enforced "
                        "because /proc/sys/net/core/somaxconn is set to the lower value of 128.",
    "security.attack": "27787:M 03 Dec 2026 13:32:42.458 # Possible SECURITY ATTACK detected. It looks like somebody "
                       "is sending POST or Host: commands to Redis.",  # real
    "cluster.state-fail": "27799:M 03 Dec 2026 13:32:55.009 # Cluster state changed: fail",  # real
    "cluster.state-ok": "27797:M 03 Dec 2026 13:32:37.177 # Cluster state changed: ok",  # real
    "cluster.node-failing": "27797:M 03 Dec 2026 13:32:55.001 * Marking node 8aa20aa8c3bb6aa7963a67adcd4f53ebc0ed2d70 "
                            "as failing (quorum reached).",  # real
    "cluster.fail-received": "27809:S 03 Dec 2026 13:32:55.002 * FAIL message received from b5ffd99d48edb4694fa814a0"
                             "fe43893e3de262f2 about 8aa20aa8c3bb6aa7963a67adcd4f53ebc0ed2d70",  # real
    "cluster.fail-cleared": "1:M 03 Dec 2026 13:32:40.505 * Clear FAIL state for node 8aa20aa8c3bb6aa7963a67adcd4f53e"
                            "bc0ed2d70: master without slots is reachable again.",
    "cluster.failover-won": "27809:S 03 Dec 2026 13:32:55.835 # Failover election won: I'm the new master.",  # real
    "cluster.failover-denied": "1:M 03 Dec 2026 13:32:40.505 # Failover auth denied to 8aa20aa8c3bb6aa7963a67adcd4f"
                               "53ebc0ed2d70: its master is up",
    "crash.signal": "1:M 03 Dec 2026 13:32:40.505 # Redis 7.0.15 crashed by signal: 11, si_code: 0",
    "crash.assertion": "1:M 03 Dec 2026 13:32:40.505 # === ASSERTION FAILED ===",
    "crash.guru": "1:M 03 Dec 2026 13:32:40.505 # Guru Meditation: Redis aborting for OUT OF MEMORY #server.c:6780",
}

QUIET = [  # real lines that are not trouble
    "27828:X 03 Dec 2026 13:32:35.334 # +monitor master mymaster 127.0.0.1 11850 quorum 2",
    "27787:C 03 Dec 2026 13:32:35.106 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo",
    "27787:M 03 Dec 2026 13:32:47.319 * MASTER <-> REPLICA sync: Finished with success",
    "27828:X 03 Dec 2026 13:32:40.506 * +slave slave 127.0.0.1:11852 127.0.0.1 11852 @ mymaster 127.0.0.1 11851",
    "27787:S 03 Dec 2026 13:32:37.266 * Connecting to MASTER 127.0.0.1:11850",
    "27787:M 03 Dec 2026 13:32:42.794 * quoted: 27787:M 03 Dec 2026 13:32:42.794 # Background saving error",
]


def test_the_table_has_enough_signatures_each_with_an_example() -> None:
    assert len(SIGNATURES) >= 25
    assert {s.id for s in SIGNATURES} == set(EXAMPLES)
    assert {s.severity for s in SIGNATURES} == set(Severity)


@pytest.mark.parametrize("sig_id", sorted(EXAMPLES))
def test_each_signature_matches_its_line_and_only_it(sig_id: str) -> None:
    line = EXAMPLES[sig_id]
    assert parse_line(line) is not None, "not a 7.0 log line"
    found = list(find_in((line + "\n").encode(), "node"))
    assert [f.signature.id for f in found] == [sig_id]
    assert found[0].message == line.split(" ", 6)[6]


def test_ordinary_and_quoted_lines_are_not_findings() -> None:
    assert list(find_in("\n".join(QUIET).encode(), "node")) == []


def test_both_overcommit_wordings() -> None:
    old = "1:M 03 Dec 2021 13:32:35.109 # WARNING overcommit_memory is set to 0! Background save may fail under low "\
          "memory condition."
    assert [f.signature.id for f in find_in(old.encode(), "n")] == ["system.overcommit"]


def test_line_numbers_and_fields() -> None:
    text = "\n".join([QUIET[0], QUIET[2], EXAMPLES["persist.bgsave-error"], QUIET[3], EXAMPLES["crash.guru"]])
    found = list(find_in(text.encode(), "n"))
    assert [(f.line, f.pid, f.role, f.signature.id) for f in found] == [
        (3, 27787, "M", "persist.bgsave-error"), (5, 1, "M", "crash.guru")]


@pytest.mark.skipif(shutil.which("grep") is None, reason="grep not installed")
def test_grep_finds_the_same_lines(tmp_path: Path) -> None:
    """The benchmark's premise: `grep -E -c` with the table's pattern counts the lines the scanner finds."""
    logs = sorted(CORPUS.rglob("*.log"))
    for path in [*logs, tmp_path / "examples.log"]:
        if not path.exists():
            path.write_text("\n".join([*EXAMPLES.values(), *QUIET[:-1]]) + "\n")  # grep can't tell a quote
        done = subprocess.run(["grep", "-E", "-c", grep_pattern(), str(path)], capture_output=True, text=True,
                              env={"LC_ALL": "C"}, check=False)
        assert int(done.stdout) == len(list(find_in(path.read_bytes(), "n"))), path


def test_a_file_that_is_not_a_redis_log_is_refused(tmp_path: Path) -> None:
    nginx = tmp_path / "access.log"
    nginx.write_text('127.0.0.1 - - [03/Dec/2026:13:05:01 +0000] "GET / HTTP/1.1" 200 612\n' * 60)
    with pytest.raises(LogFormatError, match="is not a Redis log"):
        scan([LogSource("nginx", nginx)])
    empty = tmp_path / "empty.log"
    empty.write_text("")
    assert scan([LogSource("empty", empty)]).findings == []


def test_public_surface_is_pinned() -> None:
    import redisops.observe.logs as logs

    assert sorted(logs.__all__) == [
        "Correlator", "Finding", "Incident", "LogFormatError", "LogLine", "LogSource", "SIGNATURES", "ScanOptions",
        "ScanReport", "Severity", "Signature", "Spike", "SpikeRule", "correlate", "file_sources", "find_in", "follow",
        "grep_pattern", "parse_duration", "parse_line", "scan", "spec_sources"]
    for name in logs.__all__:
        getattr(logs, name)
