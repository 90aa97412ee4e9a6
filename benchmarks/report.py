"""The table, and the issue's targets read off the same run: ratios, not absolute numbers."""

from __future__ import annotations

from .contenders import CEILING
from .harness import ALL_ROWS, ROWS_PER_REQUEST, Row, Scenario, ideal_texts_per_s


def table(rows: list[Row]) -> str:
    head = (
        "| scenario | client | texts/s | requests | 429s | retries | CPU s/1k rows | "
        "peak MiB | correct |\n|---|---|---:|---:|---:|---:|---:|---:|---|"
    )
    lines = [
        f"| {r.scenario} | {r.client} | {r.texts_per_s:,.0f} | {r.requests} | {r.throttled} | "
        f"{r.retries} | {r.cpu_per_1k:.3f} | {r.peak_mb:.1f} | {r.correct} |"
        for r in rows
    ]
    return "\n".join([head, *lines])


def targets(results: list[Row], scenarios: list[Scenario], concurrency: int) -> str:
    """One line a scenario: how ours compare with the ideal, the ceiling and the peers."""
    by = {(r.scenario, r.client): r for r in results}
    first, limited, cpu = scenarios
    ours = [r for r in results if r.client.startswith("ours")]
    peers = [r for r in results if not r.client.startswith("ours") and r.client != CEILING]

    ideal = ideal_texts_per_s(first, concurrency)
    sync = by[(first.name, "ours: LangChain sync")]
    line = f"Scenario 1: LangChain embed_documents at {sync.texts_per_s / ideal:.0%} of the ideal"
    top = by.get((first.name, CEILING))
    if top is not None:
        line += (
            f" ({sync.texts_per_s / top.texts_per_s:.0%} of the raw ceiling, which is itself "
            f"{top.texts_per_s / ideal:.0%} of the ideal)"
        )
    peer = by.get((first.name, "langchain-openai OpenAIEmbeddings"))
    if peer is not None:
        line += f", {sync.texts_per_s / peer.texts_per_s:.1f}x langchain-openai"
    gather = by.get((first.name, "LlamaIndex OpenAILikeEmbedding async"))
    if gather is not None:
        slowest = min(
            by[(first.name, name)].texts_per_s
            for name in ("ours: LangChain async", "ours: LlamaIndex async")
        )
        line += f"; our slower async {slowest / gather.texts_per_s:.1f}x OpenAILike's gather"
    lines = [line + "."]

    allowed = (limited.requests_per_second or 0) * ROWS_PER_REQUEST
    mine = [r for r in ours if r.scenario == limited.name]
    complete = all(r.correct == ALL_ROWS for r in mine)
    line = (
        f"Scenario 2: ours at {min(r.texts_per_s for r in mine) / allowed:.0%} to "
        f"{max(r.texts_per_s for r in mine) / allowed:.0%} of the allowed rate, "
        f"{'every call complete' if complete else 'FAILURES'}, "
        f"{min(r.throttled for r in mine)} to {max(r.throttled for r in mine)} 429s"
    )
    done = [r for r in peers if r.scenario == limited.name and r.correct == ALL_ROWS]
    if done:
        line += "; peers that completed: " + ", ".join(
            f"{r.client} {r.throttled} 429s at {r.texts_per_s / allowed:.0%}" for r in done
        )
    lines.append(line + ".")

    cpu_ours = max(r.cpu_per_1k for r in ours if r.scenario == cpu.name)
    cpu_peers = [r.cpu_per_1k for r in peers if r.scenario == cpu.name]
    line = f"Scenario 3: ours at most {cpu_ours:.3f} CPU s per 1,000 rows"
    if cpu_peers:
        line += f", the peers at least {min(cpu_peers):.3f}"
    lines.append(line + ".")
    return "\n".join(lines)
