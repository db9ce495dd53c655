"""kill -9 ``redisops cluster rebalance/reshard`` at random moments over 1M keys, resume, and prove nothing changed.

The acceptance point "Kill -9 the tool at random moments during a 1M-key
rebalance, ten times: each resume ends with 0 open slots and the same key count
and content as before", as a script (``tests/scenarios/test_cluster_kill_resume.py``
does it at 200k keys inside pytest).

Setup: a 3-master cluster (``--replicas`` per master) from ``redisops.testing.Topology``
plus one extra empty master joined with ``redisops cluster add-node``; ``--keys``
keys ``key:<i>`` of ``--value-bytes`` bytes, each value unique (it starts with
``<i>:``).  Before the first round: key count, an order-independent digest
(sum mod 2**128 of blake2b(key, value) over every master; a lost, doubled or
changed key changes it) and the set of stray keys (keys a master holds in a
slot it does not own).

Each round runs one command as a subprocess with its own ``--journal``:

* odd rounds: ``rebalance --use-empty-masters`` (the extra master is empty:
  about a quarter of the keys move onto it);
* even rounds: ``reshard --from <extra> --to <master k> --slots <all of the
  extra's but one>`` (the quarter moves back, onto a different original master
  each time; one slot stays, or Redis 7 would turn the emptied master into a
  replica of the taker).

Once the plan is in the journal the script sleeps a random time (seeded RNG)
within the expected move time, SIGKILLs the tool, records how far it got
(slots done / started in the journal, slots open on the nodes), runs the same
command again to completion, and checks: ``redis-cli --cluster check`` clean
(all 16384 covered, all agree, no open slot), no open slot on any node, no
stray key, key count and digest equal to the first ones, journal finished.
Run::

    .venv/bin/python bench/kill_resume.py --keys 1000000 --rounds 10 --seed 1

Exit status 0 only when every round is clean.  On a failure the work
directory (journals, node logs) is kept and its path printed; the servers are
always stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.crc import key_slot

from redisops.address import Address
from redisops.auth import Credential, login_parts, redis_kwargs
from redisops.cluster.journal import read_journal
from redisops.cluster.live import fetch_view
from redisops.testing import Topology, empty_cluster_node

REDISOPS = str(Path(sys.executable).parent / "redisops")
PW_ENV = "BENCH_KILL_PW"
SLOTS = 16384
#: first guess of the mover's rate before any round measured it (docs/benchmarks.md: ~80k keys/s)
INITIAL_KEYS_PER_S = 100_000.0
RUN_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Snapshot:
    keys: int
    digest: str
    stray: int  # keys held by a master in a slot it does not own


@dataclass
class Round:
    number: int
    command: str
    delay_s: float  # random sleep after the plan reached the journal
    killed_after_s: float  # from spawn to SIGKILL
    exited_before_kill: bool
    slots_planned: int
    slots_done_at_kill: int
    slots_started_at_kill: int  # started, not done: the resume must finish them
    open_on_nodes_at_kill: int  # slots MIGRATING/IMPORTING somewhere right after the kill
    resume_s: float
    resume_report: dict[str, Any]
    cli_check_clean: bool
    open_slots: int
    stray_keys: int
    keys: int
    checksum_equal: bool
    journal_finished: bool
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (self.cli_check_clean and self.open_slots == 0 and self.stray_keys == 0 and self.checksum_equal
                and self.journal_finished and not self.notes)


# --- cluster ----------------------------------------------------------------------------------------


def value_of(i: int, size: int) -> bytes:
    return f"{i}:".encode().ljust(size, b"v")


def _user_args(password: Credential) -> list[str]:
    """``--user NAME`` for redis-cli and redisops when the login names an ACL user."""
    user = login_parts(password)[0]
    return ["--user", user] if user else []


def slot_owners(seed: Address, password: Credential) -> dict[int, Address]:
    view = asyncio.run(fetch_view([seed], password))
    owners = {}
    for slot in range(SLOTS):
        node = view.slot_map.owner(slot)
        if node:
            owners[slot] = view.address(node)
    return owners


def load(seed: Address, password: Credential, keys: int, value_bytes: int) -> None:
    """Pipelined SETs straight to each slot's master (no client-side redirects), as bench/rebalance.py."""
    owner = slot_owners(seed, password)
    nodes = {addr: redis.Redis(addr.host, addr.port, **redis_kwargs(password)) for addr in set(owner.values())}
    pipes = {addr: node.pipeline(transaction=False) for addr, node in nodes.items()}
    try:
        for i in range(keys):
            key = f"key:{i}".encode()
            pipes[owner[key_slot(key)]].set(key, value_of(i, value_bytes))
            if i % 5000 == 4999:
                for pipe in pipes.values():
                    pipe.execute()
        for pipe in pipes.values():
            pipe.execute()
    finally:
        for node in nodes.values():
            node.close()


def cluster_nodes(address: Address, password: Credential) -> list[list[str]]:
    client = redis.Redis(address.host, address.port, **redis_kwargs(password), socket_timeout=10)
    try:
        text = client.execute_command("CLUSTER", "NODES")
    finally:
        client.close()
    if isinstance(text, bytes):
        text = text.decode()
    if isinstance(text, dict):  # redis-py may parse it; ask again raw
        raise RuntimeError("unexpected parsed CLUSTER NODES reply")
    return [line.split() for line in text.splitlines() if line.strip()]


def all_nodes(seed: Address, password: Credential) -> list[Address]:
    out = []
    for fields in cluster_nodes(seed, password):
        if "fail" in fields[2] or "noaddr" in fields[2]:
            continue
        host, port = fields[1].split("@")[0].rsplit(":", 1)
        out.append(Address(host, int(port)))
    return out


def _slots(fields: list[str]) -> set[int]:
    slots: set[int] = set()
    for item in fields[8:]:
        if not item.startswith("["):
            first, _, last = item.partition("-")
            slots.update(range(int(first), int(last or first) + 1))
    return slots


def masters(seed: Address, password: Credential) -> dict[Address, set[int]]:
    """Every node that calls itself a master (its own ``myself`` line) and the slots it says it owns.

    Not the seed's view: a master that gave away its last slot turns into a replica of the node that
    took it (Redis 7, cluster-allow-replica-migration), and the seed may learn that a little later.
    """
    out: dict[Address, set[int]] = {}
    for address in all_nodes(seed, password):
        for fields in cluster_nodes(address, password):
            if "myself" in fields[2] and "master" in fields[2]:
                out[address] = _slots(fields)
    return out


def open_slots(seed: Address, password: Credential) -> int:
    """Slots some node (masters and replicas) still marks MIGRATING or IMPORTING."""
    opened: set[int] = set()
    for address in all_nodes(seed, password):
        for fields in cluster_nodes(address, password):
            if "myself" not in fields[2]:
                continue
            for item in fields[8:]:
                match = re.match(r"\[(\d+)-[<>]-", item)
                if match:
                    opened.add(int(match.group(1)))
    return len(opened)


def snapshot(seed: Address, password: Credential) -> Snapshot:
    """Key count, order-independent content digest and stray keys, read from every master directly."""
    total, count, stray = 0, 0, 0
    for address, owned in masters(seed, password).items():
        node = redis.Redis(address.host, address.port, **redis_kwargs(password), socket_timeout=60)
        try:
            pipe = node.pipeline(transaction=False)
            foreign = [s for s in range(SLOTS) if s not in owned]
            for slot in foreign:
                pipe.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)
            stray += sum(pipe.execute()) if foreign else 0
            cursor = 0
            while True:
                cursor, keys = node.scan(cursor, count=5000)
                pipe = node.pipeline(transaction=False)
                for key in keys:
                    pipe.get(key)
                # a key in a slot the node does not own answers MOVED: counted (as an error), never skipped
                values = pipe.execute(raise_on_error=False) if keys else []
                for key, value in zip(keys, values, strict=True):
                    data = (b"\0error " + str(value).encode() if isinstance(value, Exception)
                            else value if value is not None else b"\0missing")
                    digest = hashlib.blake2b(key + b"\0" + data, digest_size=16).digest()
                    total += int.from_bytes(digest, "big")
                    count += 1
                if cursor == 0:
                    break
        finally:
            node.close()
    return Snapshot(count, f"{total % (1 << 128):032x}", stray)


def redis_cli_check(seed: Address, password: Credential, wait_s: float = 15.0) -> tuple[bool, str]:
    """``redis-cli --cluster check``: clean = all agree, all 16384 covered, no warning or error.

    Asked again for up to ``wait_s`` while not clean: replicas learn the last SETSLOT by gossip.
    """
    deadline = time.monotonic() + wait_s
    while True:
        proc = subprocess.run(["redis-cli", *_user_args(password), "--cluster", "check", str(seed)],
                              capture_output=True, text=True,
                              timeout=60, env={**os.environ, "REDISCLI_AUTH": login_parts(password)[1] or ""})
        out = proc.stdout + proc.stderr
        clean = ("[OK] All nodes agree about slots configuration." in out
                 and "[OK] All 16384 slots covered." in out and "[WARNING]" not in out and "[ERR]" not in out)
        if clean or time.monotonic() > deadline:
            return clean, out
        time.sleep(0.5)


# --- the tool ---------------------------------------------------------------------------------------


def journal_counts(path: Path) -> tuple[int, int, int, bool]:
    """(slots planned, done, started-not-done, finished) of a journal; zeros when there is none yet."""
    state = read_journal(path)
    if state is None:
        return 0, 0, 0, False
    return len(state.moves), len(state.done), len(state.started - state.done), state.finished


def run_round(number: int, argv: list[str], journal: Path, seed: Address, password: Credential, rng: random.Random,
              expected_s: float, before: Snapshot, log_dir: Path) -> Round:
    env = {**os.environ, PW_ENV: login_parts(password)[1] or ""}
    command = [REDISOPS, "cluster", *argv, "--cluster", str(seed), *_user_args(password), "--password-env", PW_ENV,
               "--journal", str(journal)]
    # a resume's rate (the estimate) is below a whole plan's, so stop at 3/4 to land inside the move
    delay = rng.uniform(0.02, 0.75) * expected_s
    notes: list[str] = []
    with open(log_dir / f"round-{number:02d}-killed.log", "wb") as killed_log:
        spawned = time.monotonic()
        proc = subprocess.Popen(command, env=env, stdout=killed_log, stderr=subprocess.STDOUT)
        try:
            deadline = spawned + 120
            while proc.poll() is None and time.monotonic() < deadline and journal_counts(journal)[0] == 0:
                time.sleep(0.005)
            if proc.poll() is None:
                time.sleep(delay)
            exited = proc.poll() is not None
            proc.send_signal(signal.SIGKILL)
            killed_after = time.monotonic() - spawned
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
    if exited and proc.returncode != 0:
        notes.append(f"the tool failed ({proc.returncode}) before the kill")
    planned, done, started, finished_at_kill = journal_counts(journal)
    open_at_kill = open_slots(seed, password)
    print(f"round {number}: killed after {killed_after:.2f} s (delay {delay:.2f} s after the plan): "
          f"{done}/{planned} slots done, {started} started, {open_at_kill} open on the nodes", file=sys.stderr)
    report: dict[str, Any] = {}
    resume_s = 0.0
    if finished_at_kill:  # not a failure, only a round that did not test the resume
        report = {"skipped": "the journal was finished at the kill: nothing to resume"}
    else:
        start = time.monotonic()
        done_proc = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True,
                                   timeout=RUN_TIMEOUT_S)
        resume_s = time.monotonic() - start
        (log_dir / f"round-{number:02d}-resume.log").write_text(done_proc.stdout + done_proc.stderr)
        if done_proc.returncode != 0:
            notes.append(f"resume exited {done_proc.returncode}: {done_proc.stderr[-800:]}")
        try:  # the --json envelope {kind, version, data}; a failed run leaves stdout empty (its error is on stderr)
            report = json.loads(done_proc.stdout)["data"]
        except (json.JSONDecodeError, KeyError, TypeError):
            report = {"stdout": done_proc.stdout[-800:], "stderr": done_proc.stderr[-800:]}
    clean, check_out = redis_cli_check(seed, password)
    (log_dir / f"round-{number:02d}-check.txt").write_text(check_out)
    after = snapshot(seed, password)
    finished = journal_counts(journal)[3]
    return Round(number, " ".join(argv), round(delay, 3), round(killed_after, 3), exited or finished_at_kill,
                 planned, done, started, open_at_kill, round(resume_s, 2), report, clean, open_slots(seed, password),
                 after.stray, after.keys, after.keys == before.keys and after.digest == before.digest, finished, notes)


def round_argv(number: int, extra: Address, originals: Sequence[Address], seed: Address,
               password: Credential) -> list[str]:
    if number % 2 == 1:
        return ["rebalance", "--use-empty-masters"]
    owned = len(masters(seed, password).get(extra, set()))
    target = originals[(number // 2 - 1) % len(originals)]
    # all but one slot: a master that gives away its last slot becomes a replica of the taker (Redis 7,
    # cluster-allow-replica-migration), and the next rebalance would have no fourth master to fill
    return ["reshard", "--from", str(extra), "--to", str(target), "--slots", str(max(owned - 1, 1))]


# --- main -------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--replicas", type=int, default=1, help="replicas per original master (0 or 1)")
    parser.add_argument("--seed", type=int, default=None, help="RNG seed of the kill moments (printed)")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the JSON results here")
    args = parser.parse_args(argv)
    seed_value = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    rng = random.Random(seed_value)
    print(f"seed {seed_value}", file=sys.stderr)
    root = Path(tempfile.mkdtemp(prefix="bench-kill-resume-"))
    rounds: list[Round] = []
    failed = True
    stack = ExitStack()
    topo: Topology | None = None
    started_at = datetime.datetime.now(datetime.timezone.utc)
    setup: dict[str, Any] = {}
    try:
        t0 = time.monotonic()
        topo = Topology.start(root / "cluster", sentinel=False, persistence="none",
                              replicas_per_master=args.replicas)
        password = topo.secrets.admin
        seed = topo.plan.cluster.nodes[0].address
        originals = sorted(masters(seed, password), key=str)
        extra = stack.enter_context(empty_cluster_node(root / "extra", topo.secrets))
        added = subprocess.run([REDISOPS, "cluster", "add-node", str(extra), "--cluster", str(seed),
                                *_user_args(password), "--password-env", PW_ENV],
                               env={**os.environ, PW_ENV: login_parts(password)[1] or ""},
                               capture_output=True, text=True, timeout=120)
        if added.returncode != 0:
            raise RuntimeError(f"add-node failed: {added.stdout}{added.stderr}")
        t1 = time.monotonic()
        load(seed, password, args.keys, args.value_bytes)
        t2 = time.monotonic()
        before = snapshot(seed, password)
        t3 = time.monotonic()
        setup = {"cluster_s": round(t1 - t0, 1), "load_s": round(t2 - t1, 1), "snapshot_s": round(t3 - t2, 1),
                 "keys": before.keys, "digest": before.digest}
        print(f"cluster up in {t1 - t0:.1f} s, {before.keys} keys loaded in {t2 - t1:.1f} s, "
              f"digest {before.digest} in {t3 - t2:.1f} s", file=sys.stderr)
        if before.keys != args.keys or before.stray:
            raise RuntimeError(f"load gave {before.keys} keys, {before.stray} stray")
        keys_per_s = INITIAL_KEYS_PER_S
        logs = root / "logs"
        logs.mkdir()
        for number in range(1, args.rounds + 1):
            command = round_argv(number, extra, originals, seed, password)
            expected_s = (args.keys / 4) / keys_per_s
            result = run_round(number, command, root / "journals" / f"round-{number:02d}.jsonl", seed, password,
                               rng, expected_s, before, logs)
            rounds.append(result)
            moved, secs = result.resume_report.get("keys_moved"), result.resume_report.get("seconds")
            if isinstance(moved, int) and isinstance(secs, (int, float)) and moved > 1000 and secs > 0:
                keys_per_s = moved / secs
            print(f"round {number}: resume {result.resume_s:.1f} s, clean={result.clean}", file=sys.stderr)
            if not result.clean:
                print(f"round {number} NOT clean: {result}", file=sys.stderr)
                break
        failed = len(rounds) < args.rounds or not all(r.clean for r in rounds)
    finally:
        if topo is not None:
            topo.stop()
        stack.close()
        if failed:
            print(f"kept {root} (journals, logs)", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    render(args, seed_value, started_at, setup, rounds)
    if args.json_out:
        args.json_out.write_text(json.dumps(as_json(args, seed_value, started_at, setup, rounds), indent=2))
    return 0 if not failed else 1


def as_json(args: argparse.Namespace, seed: int, started: datetime.datetime, setup: dict[str, Any],
            rounds: Sequence[Round]) -> dict[str, Any]:
    return {"date": started.isoformat(timespec="seconds"), "keys": args.keys, "value_bytes": args.value_bytes,
            "replicas_per_master": args.replicas, "seed": seed, "redis_server": redis_version(),
            "cores": os.cpu_count(), "setup": setup,
            "rounds": [{**asdict(r), "clean": r.clean} for r in rounds],
            "clean_rounds": sum(r.clean for r in rounds), "rounds_planned": args.rounds}


def render(args: argparse.Namespace, seed: int, started: datetime.datetime, setup: dict[str, Any],
           rounds: Sequence[Round]) -> None:
    print(f"\nkill -9 + resume, {args.keys} keys of {args.value_bytes} B, 3 masters x {args.replicas} replica(s) "
          f"+ 1 extra master, seed {seed} (redis-server {redis_version()}, {os.cpu_count()} cores, "
          f"{started:%Y-%m-%d})")
    print("| round | command | killed after s | slots moved before kill | open at kill | resume s "
          "| keys moved on resume | open slots | keys | checksum equal | redis-cli check |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rounds:
        kind = "rebalance" if r.command.startswith("rebalance") else "reshard back"
        killed = f"{r.killed_after_s:.2f}" + (" (had finished)" if r.exited_before_kill else "")
        print(f"| {r.number} | {kind} | {killed} | {r.slots_done_at_kill} / {r.slots_planned} "
              f"| {r.open_on_nodes_at_kill} | {r.resume_s:.1f} | {r.resume_report.get('keys_moved', '-')} "
              f"| {r.open_slots} | {r.keys} | {'yes' if r.checksum_equal else 'NO'} "
              f"| {'clean' if r.cli_check_clean else 'NOT CLEAN'} |")
    mid = sum(not r.exited_before_kill for r in rounds)
    print(f"\n{sum(r.clean for r in rounds)}/{args.rounds} rounds clean ({mid} killed mid-move)")
    print(json.dumps(as_json(args, seed, started, setup, rounds), indent=2))


def redis_version() -> str:
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    return out.split()[2].removeprefix("v=")


if __name__ == "__main__":
    sys.exit(main())
