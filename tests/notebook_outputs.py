"""Run the notebooks on the emulator, and reduce their outputs to what a reader should see.

``make notebooks`` (``python -m tests.notebook_outputs``) re-executes every notebook in place and
writes the fresh outputs back; ``tests/test_notebooks.py`` executes each notebook once in memory
and compares it with the committed copy through ``text_outputs``, so committed outputs that a
fresh run would no longer print fail the suite.

The comparison keeps what matters exactly (counts, token numbers, costs, node counts, shapes,
scores, reprs) and replaces what changes from run to run by a placeholder: timings, throughput,
progress-bar states, memory addresses, request and object ids, temporary paths, ports and
timestamps. Plots (images) and HTML are not compared; their ``text/plain`` forms are.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# Settings that would point a notebook at the real service instead of the emulator.
SERVICE_VARIABLES = ("DASHSCOPE_API_KEY", "DASHSCOPE_BASE_URL", "DASHSCOPE_API_BASE")
REFRESH_HINT = "Run `make notebooks` to re-execute the notebooks and commit their fresh outputs."


def execute(path: Path) -> Any:
    """Run a notebook top to bottom, as Jupyter would from its folder; returns the executed book.

    The caller makes sure that no DASHSCOPE_* setting is in the environment, so the notebooks
    start the emulator.
    """
    book = nbformat.read(path, as_version=4)
    NotebookClient(
        book,
        timeout=300,
        kernel_name="python3",
        record_timing=False,  # per-cell timestamps would change the file on every run
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return book


# --- normalisation ------------------------------------------------------------------------

_NUMBER = r"\d[\d,]*(?:\.\d+)?"
# A tqdm line: "Embedding:  40%|####      | 20/50 [00:01<00:02, 12.5row/s]", or without a total
# "Embedding: 20row [00:01, 12.5row/s]". The description and the total are kept, the state not.
_BAR_WITH_TOTAL = re.compile(
    r"^(?P<desc>.*?)\s*\d{1,3}%\|[^|]*\|\s*\d+(?:\.\d+)?[kMG]?/(?P<total>[\d.]+[kMG]?|\?)"
    r"\s*\[[^\]]*\]\s*$"
)
_BAR_WITHOUT_TOTAL = re.compile(
    r"^(?P<desc>.*?)\s*\d+(?:\.\d+)?[kMG]?\s?[A-Za-z]*\s\[\d+:\d\d(?::\d\d)?,[^\]]*\]\s*$"
)
_VOLATILE: list[tuple[re.Pattern[str], str]] = [
    # Wall-clock timestamps, before the times of day in them look like anything else.
    (
        re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?"),
        "<timestamp>",
    ),
    # Throughput: "47.65row/s", "850 texts/s", "12 req / s", "850 texts per second".
    (re.compile(rf"{_NUMBER}\s?(?:[A-Za-z]+\s?)?/\s?(?:s|sec|second)\b"), "<rate>"),
    (re.compile(rf"{_NUMBER}\s+(?:[A-Za-z]+\s+)?per\s+(?:second|sec|s|minute|min)\b"), "<rate>"),
    # Durations: "0.52 s", "12ms", "1.2 µs", "3 seconds", "2 min"; also %time's "Wall time: ...".
    (
        re.compile(
            rf"{_NUMBER}\s?(?:ns|µs|μs|us|ms|s|secs?|seconds?|mins?|minutes?)(?![A-Za-z0-9_])"
        ),
        "<duration>",
    ),
    # Object ids and request ids.
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
    ),
    (re.compile(r"\b0x[0-9a-fA-F]{4,}\b"), "0x<address>"),
    (re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{16,}\b"), "<id>"),
    # Temporary files (the kernel's cell files among them) and process ids.
    (
        re.compile(
            r"(?:/private)?(?:/tmp|/var/folders|/var/tmp)/[^\s'\"`),:;]*"
            r"|[A-Za-z]:\\[^\s'\"`]*?\\Temp\\[^\s'\"`),:;]*"
        ),
        "<tmp>",
    ),
    (re.compile(r"\bipykernel_\d+"), "ipykernel_<pid>"),
    (re.compile(r"\bpid[=: ]\s?\d+"), "pid=<pid>"),
    # Ports of local servers, such as the emulator's.
    (
        re.compile(r"(?P<host>127\.0\.0\.1|localhost|0\.0\.0\.0|\[::1\]):\d{2,5}\b"),
        r"\g<host>:<port>",
    ),
]


_CURSOR = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
"""A terminal escape code (tqdm moves the cursor up and down between nested bars)."""


def _settle_carriage_returns(text: str) -> str:
    """What a terminal shows: on each line, only what was written after the last \\r."""
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines)


def progress_bar(line: str) -> str | None:
    """``<progress bar: DESCRIPTION, total N>`` if the line is a tqdm bar, else None."""
    match = _BAR_WITH_TOTAL.match(line) or _BAR_WITHOUT_TOTAL.match(line)
    if match is None:
        return None
    desc = match["desc"].strip().rstrip(":").strip()
    total = match.groupdict().get("total") or "?"
    return f"<progress bar: {desc}, total {total}>"


def normalise(text: str) -> str:
    """The text with its run-to-run parts replaced by placeholders; everything else kept. A
    bar's states are one placeholder however many a slow run printed (a nested bar moves the
    cursor with escape codes, so its intermediate states end lines of their own)."""
    text = _settle_carriage_returns(text).replace(str(ROOT), "<repo>")
    lines: list[str] = []
    for line in text.split("\n"):
        bar = progress_bar(_CURSOR.sub("", line).strip())
        if bar is not None:
            if not lines or lines[-1] != bar:
                lines.append(bar)
            continue
        for pattern, placeholder in _VOLATILE:
            line = pattern.sub(placeholder, line)
        lines.append(line.rstrip())
    return "\n".join(lines)


def _text(value: str | Iterable[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def text_outputs(book: Any) -> list[dict[str, Any]]:
    """Per code cell: its stdout and its stderr (each joined, as the kernel's flushes split them
    at random), and the ``text/plain`` of its results and displays and its errors, in order;
    all normalised."""
    cells = []
    for number, cell in enumerate(book.cells):
        if cell.cell_type != "code":
            continue
        streams = {"stdout": "", "stderr": ""}
        shown = []
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                streams[output.get("name", "stdout")] += _text(output.get("text", ""))
            elif kind in ("execute_result", "display_data"):
                plain = output.get("data", {}).get("text/plain")
                if plain is not None:
                    shown.append(normalise(_text(plain)))
            elif kind == "error":
                shown.append(f"{output.get('ename')}: {normalise(output.get('evalue', ''))}")
        first_line = _text(cell.source).strip().split("\n", 1)[0]
        cells.append(
            {
                "cell": f"cell {number} ({first_line})",
                "stdout": normalise(streams["stdout"]),
                "stderr": normalise(streams["stderr"]),
                "shown": shown,
            }
        )
    return cells


def warnings_printed(book: Any) -> list[str]:
    """Stderr outputs that mention a warning, progress-bar lines aside."""
    found = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") != "stream" or output.get("name") != "stderr":
                continue
            text = _settle_carriage_returns(_text(output.get("text", "")))
            rest = [
                line
                for line in text.split("\n")
                if progress_bar(_CURSOR.sub("", line).strip()) is None
            ]
            if "warning" in "\n".join(rest).lower():
                found.append("\n".join(rest).strip())
    return found


def main(paths: list[str]) -> int:
    for name in SERVICE_VARIABLES:
        os.environ.pop(name, None)
    chosen = [Path(p).resolve() for p in paths] or NOTEBOOKS
    for path in chosen:
        print(f"executing {path.relative_to(ROOT)} on the emulator", flush=True)
        book = execute(path)
        nbformat.write(book, path)
        for warning in warnings_printed(book):
            print(f"  warning printed in the notebook:\n{warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
