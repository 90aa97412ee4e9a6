"""The batch client in a subprocess, the emulator in this one (it outlives the client):
SIGKILL at random steps ten times, then a clean run; and (marker ``scale``, ``make
test-scale``) 200,000 rows into a .npy memory map with the memory bounded by one file."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelstudio_emulator import Emulator
from modelstudio_emulator.vectors import embed_texts

from .client_process import texts

ROOT = Path(__file__).resolve().parents[2]


def client(
    emu: Emulator, tmp_path: Path, rows: int, max_requests: int, *extra: str
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "tests.batch.client_process",
        emu.base_url,
        emu.api_key,
        str(tmp_path / "run.sqlite"),
        str(tmp_path / "out.npy"),
        str(rows),
        str(max_requests),
        *extra,
    ]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_sigkill_ten_times_then_complete_and_paid_once(batch_emu: Emulator, tmp_path: Path) -> None:
    rows, max_requests = 2000, 20  # 200 requests: 10 files, 10 jobs, 60 step events
    rng = random.Random(16)
    kills = []
    kinds = ["any", "upload_sent", "uploaded", "create_sent", "created"]
    for attempt in range(10):
        # Seven kills while submitting (each uses up at most one of the ten files), then
        # three while downloading (stored: every 10 output lines, twice per job).
        point = f"{rng.choice(kinds)}:1" if attempt < 7 else f"stored:{rng.randint(1, 3)}"
        done = client(batch_emu, tmp_path, rows, max_requests, "--kill", point)
        assert done.returncode == -9, done.stderr
        kills.append(done.stderr.strip().splitlines()[-1])
    steps = {kill.split()[2] for kill in kills}
    assert "stored" in steps and {"uploaded", "upload_sent"} & steps, kills
    assert {"created", "create_sent"} & steps, kills
    done = client(batch_emu, tmp_path, rows, max_requests)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["complete"]
    vectors = np.load(tmp_path / "out.npy")
    np.testing.assert_array_equal(vectors, embed_texts(list(texts(rows)), 64))
    stats = batch_emu.batch.stats
    assert (stats.uploads, stats.jobs_created, stats.lines_billed) == (10, 10, 200), kills
    print("\n".join(kills))


@pytest.mark.scale
def test_200k_rows_into_a_memory_map(batch_emu: Emulator, tmp_path: Path) -> None:
    batch_emu.configure(batch_duration=1.0, batch_output_order="shuffled")
    rows = 200_000
    done = client(batch_emu, tmp_path, rows, 50_000, "--memory")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(report)
    stats = batch_emu.batch.stats
    assert (report["uploads"], report["jobs"]) == (1, 1)
    assert (stats.uploads, stats.jobs_created, stats.lines_billed) == (1, 1, 20_000)
    assert report["peak_bytes"] <= 1.5 * report["largest_file_bytes"], report
    vectors = np.load(tmp_path / "out.npy", mmap_mode="r")
    assert vectors.shape == (rows, 64)
    generated = texts(rows)
    for start in range(0, rows, 20_000):
        chunk = [next(generated) for _ in range(min(20_000, rows - start))]
        np.testing.assert_array_equal(vectors[start : start + len(chunk)], embed_texts(chunk, 64))
