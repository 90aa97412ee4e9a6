"""What ``str(usage)`` says: the counts a reader needs, and the rare ones only when non-zero."""

from __future__ import annotations

from modelstudio_embeddings import Usage


def test_usage_str_names_failed_requests_and_truncated_rows_only_when_there_are_some() -> None:
    quiet = Usage("text-embedding-v4", requests=1, rows=1, prompt_tokens=1)
    assert "failed" not in str(quiet) and "truncated" not in str(quiet)
    rough = Usage(
        "text-embedding-v4", requests=5, failed_requests=2, retries=1, rows=40, truncated_rows=3
    )
    assert "5 requests (1 retry, 0 throttled, 2 failed), 40 rows, 3 truncated" in str(rough)
