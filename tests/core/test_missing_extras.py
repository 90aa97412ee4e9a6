"""A missing extra is named in the error, at import or when the object is made, not at the
first request: each case runs in a fresh interpreter where the module is made unimportable."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    ("pyarrow", "import modelstudio_embeddings.ray", "modelstudio-embeddings[ray]"),
    ("ray", "import modelstudio_embeddings as m; m.RayBudget()", "modelstudio-embeddings[ray]"),
    (
        "ray",
        "import langchain_modelstudio as l, modelstudio_embeddings as m\n"
        "l.ModelStudioEmbeddings(api_key='sk-x', rate_budget=m.RayBudget())",
        "modelstudio-embeddings[ray]",
    ),
    (
        "langchain_qdrant",
        "import langchain_modelstudio.sparse",
        "modelstudio-embeddings[sparse]",
    ),
]


@pytest.mark.parametrize(("missing", "code", "extra"), CASES)
def test_a_missing_extra_is_named(missing: str, code: str, extra: str) -> None:
    hide = f"import sys; sys.modules[{missing!r}] = None\n"
    done = subprocess.run(
        [sys.executable, "-c", hide + code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert extra in last, done.stderr
    assert missing.replace("_", "-") in last or missing in last
