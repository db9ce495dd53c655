"""Pure parts of backups: retention, manifest round trip, RDB framing, store layout and file modes."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from redisops.data.backup import Keep, Manifest, ShardEntry, StorageError, open_store, to_keep
from redisops.data.backup.errors import FetchError
from redisops.data.backup.private import private_workdir
from redisops.data.backup.rdb_fetch import _copy_until_mark, _Stream
from redisops.spec.backup import BackupSpec

T0 = datetime(2026, 11, 25, 23, 0)


def hourly(n: int) -> list[tuple[str, datetime]]:
    return [(f"b{i:03d}", T0 - timedelta(hours=i)) for i in range(n)]


def test_keep_last_only() -> None:
    assert to_keep(hourly(10), Keep(last=3, daily=0, weekly=0)) == {"b000", "b001", "b002"}


def test_keep_newest_of_each_day_and_week() -> None:
    kept = to_keep(hourly(24 * 20), Keep(last=2, daily=3, weekly=2))
    days = {"b000", "b024", "b048"}  # 23:00 of the 25th, 24th and 23rd
    weeks = {"b000", "b072"}  # newest of ISO week 48 (from Mon 23rd) and of week 47 (Sun 22nd 23:00)
    assert kept == {"b000", "b001"} | days | weeks


def test_retention_counts_from_the_newest_backup_not_from_now() -> None:
    old = [(b, t - timedelta(days=365)) for b, t in hourly(5)]
    assert to_keep(old, Keep(last=1, daily=2, weekly=0)) == {"b000"}  # all on one day: one daily + last


def entry() -> ShardEntry:
    return ShardEntry("shard-0", "127.0.0.1:7000", "id1", "id0", "replica", ((0, 5460),), 10, "ab" * 20, 100,
                      "c" * 64, 50, "d" * 64, "7.0.15")


def test_manifest_round_trip() -> None:
    manifest = Manifest("20261125T000000Z-main", "2026-11-25T00:00:00Z", "cluster", "main", (entry(),))
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.keys == 10 and manifest.stored_size == 50
    with pytest.raises(ValueError, match="format"):
        Manifest.from_json(manifest.to_json().replace('"format": 1', '"format": 9'))


class FakeSocket:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def recv(self, _n: int) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


def stream(*chunks: bytes) -> _Stream:
    return _Stream(FakeSocket(list(chunks)), "node")  # type: ignore[arg-type]


def test_eof_marker_split_across_reads() -> None:
    mark = b"m" * 40
    got = bytearray()
    size = _copy_until_mark(stream(b"REDIS0010abc", mark[:15], mark[15:]), mark, got.extend)
    assert bytes(got) == b"REDIS0010abc" and size == 12


def test_payload_header_skips_keepalives_and_truncation_is_an_error() -> None:
    s = stream(b"\n\n", b"\n$5\r\nREDIS")
    assert s.payload_header() == "5"
    with pytest.raises(FetchError, match="truncated"):
        _copy_until_mark(stream(b"REDIS0010"), b"x" * 40, lambda _b: None)


def test_error_reply_to_sync_is_reported() -> None:
    with pytest.raises(FetchError, match="NOPERM"):
        stream(b"-NOPERM no\r\n").payload_header()


def test_file_store_lists_only_complete_backups(tmp_path: Path) -> None:
    store = open_store("file://./b", base_dir=tmp_path)
    store.write_text("{}", "one", "shard-0.rdb.zst")
    store.write_text("{}", "two", "manifest.json")
    assert store.backup_ids() == ["two"]
    store.remove("two")
    assert store.backup_ids() == []


def test_unusable_store_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StorageError, match=r"^backup store file://.*/file/x: create directory"):
        open_store(f"file://{tmp_path}/file/x").write_text("{}", "id", "manifest.json")


def test_public_surface_is_pinned() -> None:
    import redisops.data.backup as backup

    assert {"run_backup", "verify_backup", "restore_backup", "prune_backups", "open_store"} <= set(backup.__all__)
    assert all(hasattr(backup, name) for name in backup.__all__)


def test_backup_spec_validates_target_and_schedule() -> None:
    assert BackupSpec(target="s3://bucket/p", schedule="0 * * * *").keep.last == 24
    with pytest.raises(ValueError, match="s3://"):
        BackupSpec(target="ftp://x")
    with pytest.raises(ValueError, match="cron"):
        BackupSpec(schedule="every hour")


def test_scheduler_sleeps_to_the_cron_time_and_survives_failures() -> None:
    from datetime import UTC

    from redisops.clock import FakeClock
    from redisops.data.backup.errors import BackupError
    from redisops.data.backup.schedule import Scheduler

    clock = FakeClock()
    start = datetime(2026, 11, 25, 10, 20, tzinfo=UTC)
    outcomes = iter(["backup a done", BackupError("store down")])
    failures: list[str] = []

    def job() -> str:
        item = next(outcomes)
        if isinstance(item, Exception):
            raise item
        return item

    scheduler = Scheduler("0 * * * *", job, clock=clock, wall=lambda: start + timedelta(seconds=clock.t),
                          on_failure=lambda exc: failures.append(str(exc)))
    assert scheduler.run_cycle() == "backup a done (0.0 s); next at 2026-11-25 12:00:00 UTC"
    assert clock.slept == [40 * 60]
    assert scheduler.run_cycle().startswith("failed: store down")
    assert clock.slept == [40 * 60, 3600] and failures == ["store down"]


def test_disk_full_while_writing_is_one_clear_error_and_aborts_the_file(tmp_path: Path) -> None:
    import errno

    from redisops.data.backup.store import Store

    class FullFile:
        discarded = False

        def write(self, _data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def discard(self) -> None:
            FullFile.discarded = True

        def close(self) -> None:
            raise AssertionError("a failed file must not be committed")

    class FullFs:
        def makedirs(self, *_a: object, **_k: object) -> None:
            pass

        def open(self, *_a: object) -> FullFile:
            return FullFile()

    store = Store("s3://bucket/x", FullFs(), "bucket/x")
    with pytest.raises(StorageError, match=r"no space left on device: free space or point backup.target"):
        with store.writer("id", "shard-0.rdb.zst") as out:
            out.write(b"data")
    assert FullFile.discarded


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which files are world-readable unless created otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in sorted(root.rglob("*"))}


def test_file_store_writes_private_files_whole_or_not_at_all(tmp_path: Path, umask_022: None) -> None:
    store = open_store(f"file://{tmp_path}/store/nested")
    store.write_text("{}", "id", "manifest.json")
    assert modes(tmp_path) == {"store": 0o700, "store/nested": 0o700, "store/nested/id": 0o700,
                               "store/nested/id/manifest.json": 0o600}
    (tmp_path / "store/nested/id/shard-0.rdb.zst").write_bytes(b"old")
    (tmp_path / "store/nested/id/shard-0.rdb.zst").chmod(0o644)
    with pytest.raises(RuntimeError, match="node died"):
        with store.writer("id", "shard-0.rdb.zst") as out:
            out.write(b"half of the new")
            raise RuntimeError("node died")
    assert (tmp_path / "store/nested/id/shard-0.rdb.zst").read_bytes() == b"old"  # not clobbered, no temp left
    store.write_text("new", "id", "shard-0.rdb.zst")
    assert store.read_text("id", "shard-0.rdb.zst") == "new"
    assert modes(tmp_path) == {"store": 0o700, "store/nested": 0o700, "store/nested/id": 0o700,
                               "store/nested/id/manifest.json": 0o600, "store/nested/id/shard-0.rdb.zst": 0o600}


def test_a_private_workdir_removes_what_a_dead_redisops_left_and_keeps_a_live_ones(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    me = os.getpid()
    started = int(Path(f"/proc/{me}/stat").read_text().rsplit(")", 1)[1].split()[19])
    stamps = {"dead": f"{gone.pid} 1", "reused-pid": f"{me} {started + 1}", "live": f"{me} {started}"}
    for name, stamp in stamps.items():
        (tmp_path / f"redisops-backup-{name}").mkdir()
        (tmp_path / f"redisops-backup-{name}" / ".owner").write_text(stamp)
    (tmp_path / "redisops-restore-dead").mkdir()  # another kind: its own sweep's business
    (tmp_path / "redisops-restore-dead" / ".owner").write_text(stamps["dead"])
    with private_workdir("redisops-backup-", tmp_path) as workdir:
        assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
        left = sorted(d.name for d in tmp_path.iterdir())
    assert left == sorted(["redisops-backup-live", workdir.name, "redisops-restore-dead"])
    assert not workdir.exists()
