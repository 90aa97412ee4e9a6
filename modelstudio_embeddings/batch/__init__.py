"""Corpus-scale embedding through the Batch API (half price, Beijing): resumable, streamed.

``BatchJob(manifest, sink).run(texts)`` plans any iterable of texts into JSONL request files
within the service's limits, uploads them, creates the jobs, waits, checks and stores every
vector at its row, and records each step in a SQLite manifest so the same call after a crash
continues without paying twice.
"""

from __future__ import annotations

from .calculator import CorpusComparison, compare_corpus
from .job import BatchJob, BatchResult, CostEstimate, RowFailure
from .limits import BATCH_TEST_MODEL, DEFAULT_FILE_LIMITS, FileLimits
from .manifest import Manifest
from .sinks import ArraySink, NpySink, ParquetSink, Sink

__all__ = [
    "BATCH_TEST_MODEL",
    "DEFAULT_FILE_LIMITS",
    "ArraySink",
    "BatchJob",
    "BatchResult",
    "CorpusComparison",
    "CostEstimate",
    "FileLimits",
    "Manifest",
    "NpySink",
    "ParquetSink",
    "RowFailure",
    "Sink",
    "compare_corpus",
]
