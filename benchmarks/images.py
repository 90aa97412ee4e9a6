"""``python -m benchmarks.images``: image embedding, ours and the peers side by side.

2,000 captioned PNGs are written to a temporary folder, the emulator runs in a child process
on loopback (its CPU is not the client's) with a fixed latency a request, and every contender
of ``benchmarks.image_pass`` embeds every image in a process of its own a pass (no client,
connection or cache carries over; its CPU and peak memory are its own). Every row is checked
against the reference (``modelstudio_emulator.multimodal.image_vector``, the very vector the
emulator answers for that image). Each row of the table is the median of ``--rounds`` passes:
images per second, requests (the emulator's count), client CPU seconds per 1,000 images, the
growth of the process's peak resident set during the call, whether every row is right, and the
throughput as a multiple of the best peer's that got every row right.

Two scenarios: A, the latency alone (no limits); B, the same latency with the account
limited to 32 requests in flight and 50 requests a second (1,000 images a second at 20 images a
request), where a client that does not pace or retry is answered 429.

A peer that sends one image a request, one request after another, embeds only the first
``--slow-images`` (200): its rate is one image a latency whatever the count, and 2,000 of them
would take minutes a pass. A failed pass shows no rate: the time to its failure is not one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelstudio_emulator.images import captioned_png
from modelstudio_emulator.multimodal import image_vector

from .harness import EmulatorProcess
from .image_pass import (
    ALL_ROWS,
    CONTENDERS,
    LLAMA_DASHSCOPE,
    OLDER_ANSWER,
    ONE_A_REQUEST,
    OURS,
    PEERS,
    REFERENCE,
    WIDTH,
    peer_installed,
)

SUBJECTS = (
    "a red bicycle leaning on a fence",
    "a container ship at the harbour",
    "a forklift loading pallets",
    "a cat asleep on a keyboard",
    "a lighthouse in the fog",
    "a bowl of noodles with chopsticks",
    "a mountain road at dusk",
    "a crane over the terminal",
)


@dataclass(frozen=True)
class Scenario:
    name: str
    max_in_flight: int | None = None
    requests_per_second: float | None = None


SCENARIOS = (
    Scenario("A: no limits"),
    Scenario("B: 32 in flight, 50 req/s", 32, 50.0),
)


@dataclass
class Row:
    """The median pass of one contender, and the worst verdict of all its passes."""

    scenario: str
    client: str
    images: int = 0
    images_per_s: float = 0.0
    requests: int = 0
    throttled: int = 0
    cpu_per_1k: float = 0.0
    peak_mib: float = 0.0
    correct: str = "-"
    ours: bool = False


def write_images(folder: Path, count: int, size: int) -> None:
    """``count`` captioned PNGs of ``size`` x ``size`` pixels, and the reference vectors of
    them in name order (``reference.npy``)."""
    reference = np.empty((count, WIDTH), dtype=np.float32)
    for i in range(count):
        data = captioned_png(f"photo {i}: {SUBJECTS[i % len(SUBJECTS)]}", (size, size))
        (folder / f"{i:06d}.png").write_bytes(data)
        reference[i] = image_vector(data, WIDTH)
    np.save(folder / REFERENCE, reference)


def run_pass(name: str, folder: Path, host: str, limit: int | None = None) -> dict[str, object]:
    """One pass of ``name`` in a process of its own (``benchmarks.image_pass``)."""
    extra = [] if limit is None else [str(limit)]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.image_pass", name, str(folder), host, *extra],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"client": name, "correct": f"failed: {last}"[:120]}
    result: dict[str, object] = json.loads(lines[-1])
    return result


def measure(
    emulator: EmulatorProcess,
    scenario: Scenario,
    name: str,
    folder: Path,
    latency_ms: float,
    rounds: int,
    limit: int | None = None,
) -> Row:
    """``rounds`` passes of ``name``; the pass of median throughput, and any failure."""
    passes: list[tuple[float, dict[str, Any], dict[str, object]]] = []
    for _ in range(rounds):
        configure(emulator, scenario, latency_ms, older_answer=name in OLDER_ANSWER)
        result = run_pass(name, folder, emulator.host, limit)
        stats = emulator.control("/_emulator/stats")
        seconds = float(result.get("seconds", 0.0))  # type: ignore[arg-type]
        images = int(result.get("images", 0))  # type: ignore[call-overload]
        passes.append((images / seconds if seconds else 0.0, stats, result))
    passes.sort(key=lambda p: p[0])
    rate, stats, median = passes[len(passes) // 2]
    images = int(median.get("images", 0)) or 1  # type: ignore[call-overload]
    wrong = [str(p[2]["correct"]) for p in passes if p[2]["correct"] != ALL_ROWS]
    return Row(
        scenario=scenario.name,
        client=name,
        images=images,
        images_per_s=rate,
        requests=int(stats["requests"]),
        throttled=int(stats["responses_by_status"].get("429", 0)),
        cpu_per_1k=float(median.get("cpu_seconds", 0.0)) / images * 1000,  # type: ignore[arg-type]
        peak_mib=float(median.get("peak_growth_mib", 0.0)),  # type: ignore[arg-type]
        correct=wrong[0] if wrong else ALL_ROWS,
        ours=name in OURS,
    )


def configure(
    emulator: EmulatorProcess, scenario: Scenario, latency_ms: float, *, older_answer: bool = False
) -> None:
    """The scenario's latency and limits, the answer's shape (``OLDER_ANSWER``), a full rate
    bucket, empty stats."""
    emulator.control(
        "/_emulator/config",
        {
            "latency_ms": latency_ms,
            "max_in_flight": scenario.max_in_flight,
            "requests_per_second": scenario.requests_per_second,
            "multimodal_answer": "embedding" if older_answer else "embeddings",
        },
    )
    emulator.control("/_emulator/reset", {})


def best_peer(rows: list[Row], scenario: str) -> Row | None:
    """The fastest peer of ``scenario`` that got every row right."""
    right = [r for r in rows if r.scenario == scenario and not r.ours and r.correct == ALL_ROWS]
    return max(right, key=lambda r: r.images_per_s) if right else None


def table(rows: list[Row]) -> str:
    lines = [
        "| scenario | client | images | images/s | requests | 429s | CPU s/1k images | "
        "peak MiB growth | correct | vs best peer |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        peer = best_peer(rows, r.scenario)
        if r.correct != ALL_ROWS:
            rate = cpu = peak = versus = "-"
        else:
            rate, cpu, peak = f"{r.images_per_s:,.0f}", f"{r.cpu_per_1k:.3f}", f"{r.peak_mib:.1f}"
            versus = f"{r.images_per_s / peer.images_per_s:.1f}x" if peer else "n/a"
        lines.append(
            f"| {r.scenario} | {r.client} | {r.images:,} | {rate} | {r.requests:,} | "
            f"{r.throttled:,} | {cpu} | {peak} | {r.correct} | {versus} |"
        )
    return "\n".join(lines)


def headline(rows: list[Row], scenario: str) -> str:
    """One line: how the slowest of ours compares with the best peer in ``scenario``."""
    ours = [r for r in rows if r.ours and r.scenario == scenario]
    complete = all(r.correct == ALL_ROWS for r in ours)
    line = (
        f"Scenario {scenario}: ours {min(r.images_per_s for r in ours):,.0f} to "
        f"{max(r.images_per_s for r in ours):,.0f} images/s, "
        f"{'every row right' if complete else 'FAILURES'}"
    )
    slowest = min(r.images_per_s for r in ours)
    llama = [
        r
        for r in rows
        if r.scenario == scenario and r.client == LLAMA_DASHSCOPE and r.correct == ALL_ROWS
    ]
    if llama and llama[0].images_per_s:
        line += f"; the slowest of ours {slowest / llama[0].images_per_s:.0f}x {LLAMA_DASHSCOPE}"
    peer = best_peer(rows, scenario)
    if peer is not None:
        line += f"; {slowest / peer.images_per_s:.1f}x the best peer ({peer.client})"
    elif any(not r.ours for r in rows if r.scenario == scenario):
        line += "; no peer got every row right"
    return line + "."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.images", description=__doc__)
    parser.add_argument("--images", type=int, default=2000, help="images embedded a pass")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes a contender")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="each answer's latency")
    parser.add_argument(
        "--slow-images",
        type=int,
        default=200,
        help="images a pass for a peer that sends one image a request",
    )
    parser.add_argument("--size", type=int, default=64, help="width and height of each PNG")
    parser.add_argument("--only-ours", action="store_true", help="skip the peers")
    parser.add_argument(
        "--scenario", choices=("A", "B", "all"), default="all", help="the scenarios to run"
    )
    args = parser.parse_args(argv)
    names = list(OURS)
    if not args.only_ours:
        missing = sorted({name for name in PEERS if not peer_installed(name)})
        if missing:
            print(
                f"(not installed, skipped: {', '.join(missing)}; "
                "pip install -r benchmarks/requirements.txt)"
            )
        names += [name for name in PEERS if name not in missing]
    scenarios = [s for s in SCENARIOS if args.scenario in ("all", s.name[0])]
    emulator = EmulatorProcess()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-images-") as temp:
            folder = Path(temp)
            write_images(folder, args.images, args.size)
            _warm_up(emulator, folder)
            rows = []
            for scenario in scenarios:
                for name in names:
                    limit = min(args.slow_images, args.images) if name in ONE_A_REQUEST else None
                    row = measure(
                        emulator, scenario, name, folder, args.latency_ms, args.rounds, limit
                    )
                    rows.append(row)
                    print(
                        f"  {scenario.name}, {name}: {row.images_per_s:,.0f} images/s, "
                        f"{row.correct}",
                        file=sys.stderr,
                    )
    finally:
        emulator.stop()
    print(table(rows))
    print(
        f"\n{args.images:,} captioned {args.size}x{args.size} PNGs, qwen3-vl-embedding at "
        f"{WIDTH} dimensions, {args.latency_ms:g} ms a request; each row the median of "
        f"{args.rounds} passes, each in a fresh process; a peer that sends one image a "
        f"request embeds the first {min(args.slow_images, args.images):,}."
    )
    for scenario in scenarios:
        print(headline(rows, scenario.name))
    print(f"\nMachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}.")
    return 0


def _warm_up(emulator: EmulatorProcess, folder: Path) -> None:
    """One untimed pass, so the emulator's vector cache is as warm for the first contender as
    for the last."""
    configure(emulator, SCENARIOS[0], 0.0)
    run_pass(next(iter(CONTENDERS)), folder, emulator.host)


if __name__ == "__main__":
    sys.exit(main())
