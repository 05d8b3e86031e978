"""Join to first frame: how long two aiortc peers take from entering a room to decoded video.

    python -m bench.first_frame [--runs 20]

A `sprechstunde serve` process on a fresh SQLite database; each run is one `sprechstunde probe`
(in this process): log in, open an ad-hoc room, host and guest tickets, the host enters, the
guest knocks and is admitted, the guest offers, both send synthetic video. Printed per run and
as percentiles: `first_frame_ms` (from a peer connection's creation to its first decoded frame,
the slower of the two directions) and the whole probe. All packets stay on 127.0.0.1 (host
candidates are limited to loopback, as `sprechstunde probe --loopback` does).
Goal (reported, never asserted): first frame <= 1 s on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench.common import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    REQUEST_TIMEOUT,
    Server,
    StaffApi,
    percentile,
)
from signaling.probe import ProbeOptions, run

GOAL_MS = 1000.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.first_frame", description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    first_frames: list[float] = []
    totals: list[float] = []
    failures = 0
    with tempfile.TemporaryDirectory(prefix="first-frame-") as tmp:
        workdir = Path(tmp)
        with Server(f"sqlite:///{workdir / 'bench.db'}", workdir) as server:
            with httpx.Client(
                base_url=server.base_url, timeout=REQUEST_TIMEOUT, trust_env=False
            ) as client:
                StaffApi.bootstrap(server, client)
            options = ProbeOptions(
                base_url=server.base_url,
                email=ADMIN_EMAIL,
                password=ADMIN_PASSWORD,
                loopback=True,
                frames=1,
            )
            for number in range(1, args.runs + 1):
                result = run(options)
                if not result.connected or result.first_frame_ms is None:
                    failures += 1
                    print(f"run {number:3}: failed: {result.error}")
                    continue
                first_frames.append(result.first_frame_ms)
                totals.append(result.elapsed_ms)
                print(
                    f"run {number:3}: first frame {result.first_frame_ms:7.1f} ms, "
                    f"probe {result.elapsed_ms:7.1f} ms"
                )
    if not first_frames:
        print("no run connected")
        return 1
    print(
        f"first frame  p50 {statistics.median(first_frames):.0f} ms  "
        f"p95 {percentile(first_frames, 0.95):.0f} ms  max {max(first_frames):.0f} ms   "
        f"({len(first_frames)} runs, {failures} failed)"
    )
    print(
        f"whole probe  p50 {statistics.median(totals):.0f} ms  "
        f"p95 {percentile(totals, 0.95):.0f} ms"
    )
    verdict = "met" if percentile(first_frames, 0.95) <= GOAL_MS else "missed"
    print(f"goal first frame <= {GOAL_MS:.0f} ms (p95): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
