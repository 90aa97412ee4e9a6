"""The emulator's command line: the banner on stderr, the real program name in ``--help``,
every option documented with its default, and a port in use as one line and a non-zero exit."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from modelstudio_emulator.__main__ import build_parser, program_name

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The interpreter with ``args``, from the repository (its packages first), to the end."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_banner_goes_to_stderr_and_stdout_stays_empty() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "modelstudio_emulator", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        assert banner.startswith("Model Studio emulator on http://127.0.0.1:")
        base_url = banner.split(" on ", 1)[1].split(" ", 1)[0]
        client = openai.OpenAI(api_key="sk-emulator", base_url=base_url, max_retries=0)
        assert len(client.embeddings.create(model="text-embedding-v4", input="hi").data) == 1
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert out == ""


@pytest.mark.parametrize(
    ("command", "prog"),
    [
        (["-m", "modelstudio_emulator"], "python -m modelstudio_emulator"),
        (["-m", "modelstudio_embeddings.emulator"], "python -m modelstudio_embeddings.emulator"),
        (["-m", "modelstudio_embeddings", "emulator"], "python -m modelstudio_embeddings emulator"),
    ],
)
def test_help_names_the_program_as_it_was_started(command: list[str], prog: str) -> None:
    done = run(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {prog} [-h]")
    assert "__main__.py" not in done.stdout
    assert "(default: 8000)" in done.stdout and "(default: 127.0.0.1)" in done.stdout


def test_the_console_script_is_named_as_such() -> None:
    assert program_name("/venv/bin/modelstudio-embeddings") == "modelstudio-embeddings emulator"
    assert program_name(r"C:\venv\Scripts\modelstudio-embeddings.exe").endswith("emulator")
    assert program_name("something-else") == "python -m modelstudio_emulator"


def test_every_option_has_help_and_its_default_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping inside a default
    parser = build_parser()
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert len(options) >= 12
    for action in options:
        assert action.help, f"{action.option_strings} has no help"
    text = parser.format_help()
    for default in ("sk-emulator", "0.0", "current", "ignore", "[[BLOCKED]]"):
        assert f"(default: {default})" in text


def test_a_port_in_use_is_one_line_and_a_non_zero_exit() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("-m", "modelstudio_emulator", "--port", str(port))
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("python -m modelstudio_emulator: error: cannot listen on ")
    assert f":{port}" in lines[0] and "Traceback" not in done.stderr
