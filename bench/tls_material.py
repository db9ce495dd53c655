"""Benchmark: a deployment's TLS material, a CA + 9 node certificates + 1 client certificate, from nothing.

  library   ensure_material(dir, name, 9 nodes): EC P-256 keys, the CA, every certificate written 0600/0644
  again     the same call on the material it just made (what `up` would pay every time: read and check only)
  rotate    one step of a CA rotation (step 2: promote the new CA and reissue the 10 certificates)
  openssl   the anchor: the same files made by the openssl CLI the way Redis's own utils/gen-test-certs.sh does
            (one `openssl ecparam` / `req` / `x509` process each, SANs through an extension file), sequential

Each is run --rounds times (default 10) in fresh temp dirs; median and worst are printed.

Usage: .venv/bin/python bench/tls_material.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from redisops.security.tls import NodeIdentity, ensure_material, rotate

NODES = [NodeIdentity(f"node-{i}", ("127.0.0.1",), (f"redis-{i}",)) for i in range(9)]


def _openssl(root: Path) -> None:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)

    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(root / "ca.key"))
    run("req", "-x509", "-new", "-key", str(root / "ca.key"), "-sha256", "-days", "3650", "-subj",
        "/O=redisops/CN=redisops CA bench", "-out", str(root / "ca.crt"))
    for name in [node.name for node in NODES] + ["redisops"]:
        ext = root / f"{name}.ext"
        ext.write_text("keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n"
                       f"subjectAltName=IP:127.0.0.1,DNS:{name}\n")
        key, csr, crt = root / f"{name}.key", root / f"{name}.csr", root / f"{name}.crt"
        run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
        run("req", "-new", "-key", str(key), "-subj", f"/O=redisops/CN={name}", "-out", str(csr))
        run("x509", "-req", "-in", str(csr), "-CA", str(root / "ca.crt"), "-CAkey", str(root / "ca.key"),
            "-CAcreateserial", "-days", "365", "-sha256", "-extfile", str(ext), "-out", str(crt))


def _timed(rounds: int, prepare: Callable[[Path], None], measure: Callable[[Path], object]) -> list[float]:
    times = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
            root = Path(tmp) / "tls"
            root.mkdir()
            prepare(root)
            started = time.perf_counter()
            measure(root)
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    def fresh(root: Path) -> None:
        return None

    def made(root: Path) -> None:
        ensure_material(root, "bench", NODES)

    def trusted(root: Path) -> None:
        made(root)
        rotate(root, "bench", NODES, new_ca=True)

    results = {
        "library ensure_material (CA + 9 nodes + 1 client)": _timed(args.rounds, fresh,
                                                                    lambda r: ensure_material(r, "bench", NODES)),
        "again on existing material (nothing to write)": _timed(args.rounds, made,
                                                                lambda r: ensure_material(r, "bench", NODES)),
        "rotation step 2 (promote, reissue 10)": _timed(args.rounds, trusted,
                                                        lambda r: rotate(r, "bench", NODES, new_ca=True)),
        "openssl CLI, same files (32 processes)": _timed(args.rounds, fresh, _openssl),
    }
    for what, times in results.items():
        print(f"{what:52} median {statistics.median(times) * 1000:8.1f} ms, worst {max(times) * 1000:8.1f} ms "
              f"({len(times)} rounds)")


if __name__ == "__main__":
    main()
