"""docs/migrating.md: its "after" snippets run on the emulator (by the mechanism of
``tests/test_readme.py``; the "before" ones need the old packages and a key), the old keyword
``dashscope_api_key=`` is accepted with a warning and kept secret, and the page's claim about
vectors holds on the emulator: the old LangChain class and this one give the same document
vectors, and the same query vectors with ``protocol="native"`` on v3/v4."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from langchain_core.load import dumpd, dumps
from pydantic import SecretStr

from langchain_modelstudio import ModelStudioEmbeddings
from modelstudio_embeddings import ConfigurationError
from modelstudio_emulator import Emulator
from tests.test_readme import BLOCK, ROOT

PAGE = ROOT / "docs" / "migrating.md"
AFTER = [
    pytest.param(code, id=f"migrating.md:after:{n}")
    for n, (marker, code) in enumerate(BLOCK.findall(PAGE.read_text(encoding="utf-8")))
    if not marker
]
SECRET = "sk-migrating-secret-0123456789"


def test_the_page_has_an_after_snippet_for_each_framework() -> None:
    assert len(AFTER) == 2
    codes = [param.values[0] for param in AFTER]
    assert "ModelStudioEmbeddings(" in codes[0] and "ModelStudioEmbedding(" in codes[1]


@pytest.mark.parametrize("code", AFTER)
def test_after_snippet_runs_on_the_emulator(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    exec(compile(code, str(PAGE), "exec"), {"__name__": "__docs__"})


def test_dashscope_api_key_is_accepted_with_a_warning_naming_api_key(
    emulator: Emulator,
) -> None:
    with pytest.warns(DeprecationWarning, match=r"dashscope_api_key=.*pass api_key= instead"):
        embeddings = ModelStudioEmbeddings(
            model="text-embedding-v1", dashscope_api_key=SECRET, base_url=emulator.base_url
        )
    assert isinstance(embeddings.api_key, SecretStr)
    assert embeddings.api_key.get_secret_value() == SECRET
    for text in (repr(embeddings), str(embeddings), dumps(embeddings), str(dumpd(embeddings))):
        assert SECRET not in text
    assert SECRET.encode() not in pickle.dumps(embeddings)
    assert "dashscope_api_key" not in repr(embeddings)


def test_the_warning_points_at_the_callers_line(emulator: Emulator) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ModelStudioEmbeddings(dashscope_api_key=emulator.api_key, base_url=emulator.base_url)
    assert [Path(w.filename).name for w in caught] == ["test_migration.py"]


def test_the_old_keyword_works_against_the_service(emulator: Emulator) -> None:
    with pytest.warns(DeprecationWarning):
        embeddings = ModelStudioEmbeddings(
            dashscope_api_key=emulator.api_key, base_url=emulator.base_url
        )
    assert len(embeddings.embed_query("hello")) == 1024


def test_both_names_at_once_are_refused_without_showing_either(emulator: Emulator) -> None:
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigurationError) as info:
        ModelStudioEmbeddings(
            dashscope_api_key=SECRET, api_key=SECRET + "x", base_url=emulator.base_url
        )
    assert "api_key= only" in str(info.value) and SECRET not in str(info.value)


def test_an_old_keyword_of_none_falls_back_to_the_environment(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)
    with pytest.warns(DeprecationWarning):
        embeddings = ModelStudioEmbeddings(dashscope_api_key=None, base_url=emulator.base_url)
    assert embeddings.api_key is not None
    assert embeddings.api_key.get_secret_value() == emulator.api_key


@pytest.mark.parametrize("model", ["text-embedding-v1", "text-embedding-v4"])
def test_old_and_new_give_the_same_vectors_on_the_emulator(
    model: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    dashscope = pytest.importorskip("dashscope")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "langchain-community is sunset"
        old_module = pytest.importorskip("langchain_community.embeddings.dashscope")
    # The old class talks to the native endpoint through the SDK's globals (and sets the key
    # there): point them at the emulator, and restore both afterwards.
    monkeypatch.setattr(dashscope, "base_http_api_url", emulator.host_url + "/api/v1")
    monkeypatch.setattr(dashscope, "api_key", None)
    old = old_module.DashScopeEmbeddings(model=model, dashscope_api_key=emulator.api_key)
    texts = ["Annual leave is fifteen days.", "Use the VPN abroad.", "hello world"]
    old_docs, old_query = old.embed_documents(texts), old.embed_query("annual leave")
    service = {"api_key": emulator.api_key, "base_url": emulator.base_url}
    for protocol in ("compatible", "native"):
        new = ModelStudioEmbeddings(model=model, protocol=protocol, **service)
        np.testing.assert_allclose(new.embed_documents(texts), old_docs, atol=1e-6)
        same_query = np.allclose(new.embed_query("annual leave"), old_query, atol=1e-6)
        # text_type="query" goes out on the native protocol, for v3 and v4 only.
        assert same_query == (protocol == "native" and model == "text-embedding-v4")


def test_llama_index_text_type_is_refused_saying_what_to_do_instead(emulator: Emulator) -> None:
    from llama_index_modelstudio import ModelStudioEmbedding

    with pytest.raises(ConfigurationError, match="drop it") as info:
        ModelStudioEmbedding(
            api_key=emulator.api_key, base_url=emulator.base_url, text_type="document"
        )
    assert 'protocol="native"' in str(info.value) and emulator.api_key not in str(info.value)
