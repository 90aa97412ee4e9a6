"""The layout holds (docs/architecture.md): no import cycle; arrows only downwards (the service
core imports no family, a family imports only the core, the adapters only public names); no
class too long to read in one sitting; the contributor page names only folders that exist; and
the flat layout's module paths keep working."""

from __future__ import annotations

import ast
import importlib
import re

import pytest

from modelstudio_embeddings._moved import MOVED

from .imports import ROOT, cycles, graph, modules

CORE = "modelstudio_embeddings.core"
FAMILIES = ("embeddings", "rerank", "multimodal")
"""Each an API family over the core: it imports the core and itself, never another family."""
OVER_FAMILIES = ("batch", "ray")
"""Built over the families' clients (the Batch API, Ray Data): they may import the families."""
ADAPTERS = ("langchain_modelstudio", "llama_index_modelstudio")
ADAPTER_IMPORTS = {
    "modelstudio_embeddings",
    "modelstudio_embeddings.adapting",
    "modelstudio_embeddings.batch",
    "modelstudio_embeddings.batch.lookup",
    "modelstudio_embeddings.multimodal",
}
"""What an adapter may import of the core: the public names (the multimodal family's item
wrappers among them), and the adapters' own module."""
MAX_CLASS_LINES = 350


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("package", ["modelstudio_embeddings", "modelstudio_emulator"])
def test_no_two_modules_import_each_other(package: str) -> None:
    assert cycles(graph(package)) == []


def test_the_service_core_imports_no_family() -> None:
    wrong = {
        (module, target)
        for module, targets in graph("modelstudio_embeddings").items()
        if module.startswith(CORE)
        for target in targets
        if not target.startswith(CORE)
    }
    assert wrong == set()


def test_a_family_imports_only_the_core_and_itself() -> None:
    wrong = set()
    for module, targets in graph("modelstudio_embeddings").items():
        room = _room(module)
        if room not in FAMILIES:
            continue
        for target in targets:
            if _room(target) not in ("core", room):
                wrong.add((module, target))
    assert wrong == set()


def test_the_batch_api_and_ray_import_no_private_module_of_a_family() -> None:
    wrong = set()
    for module, targets in graph("modelstudio_embeddings").items():
        if _room(module) not in OVER_FAMILIES:
            continue
        for target in targets:
            if target.rsplit(".", 1)[-1].startswith("_") and _room(target) != _room(module):
                wrong.add((module, target))
    assert wrong == set()


def test_the_adapters_import_only_the_public_names_of_the_core() -> None:
    wrong = set()
    for adapter in ADAPTERS:
        for path in (ROOT / adapter).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                for name in names:
                    if name.startswith("modelstudio_embeddings") and name not in ADAPTER_IMPORTS:
                        wrong.add((path.name, name))
    assert wrong == set()


def test_an_emulator_room_does_not_import_the_server() -> None:
    edges = graph("modelstudio_emulator")
    rooms = ("embeddings", "rerank", "batch", "replies")
    assert {
        (room, target)
        for room in rooms
        for target in edges[f"modelstudio_emulator.{room}"]
        if target.endswith(".server")
    } == set()


@pytest.mark.parametrize("package", ["modelstudio_embeddings", "modelstudio_emulator"])
def test_no_class_is_longer_than_one_sitting(package: str) -> None:
    long = {}
    for name, path in modules(package).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_CLASS_LINES:
                    long[f"{name}.{node.name}"] = lines
    assert long == {}


def test_the_contributor_page_names_only_folders_that_exist() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    folders = set(re.findall(r"`((?:modelstudio_\w+|\w+_modelstudio)/[\w/]*)`", page))
    assert {"modelstudio_embeddings/core/", "modelstudio_emulator/"} <= folders
    missing = sorted(f for f in folders if not (ROOT / f).is_dir())
    assert missing == []
    for room in ("core", *FAMILIES, *OVER_FAMILIES):
        assert f"`modelstudio_embeddings/{room}/`" in page, f"the page skips {room}/"


@pytest.mark.parametrize("old", sorted(MOVED))
def test_a_module_path_of_the_flat_layout_still_imports_its_names(old: str) -> None:
    module = importlib.import_module(f"modelstudio_embeddings.{old}")
    for home in MOVED[old]:
        new = importlib.import_module(f"modelstudio_embeddings.{home}")
        for name in getattr(new, "__all__", []):
            assert getattr(module, name) is getattr(new, name), (old, home, name)


def test_the_old_paths_named_in_the_docs_keep_working() -> None:
    from modelstudio_embeddings.client import EmbeddingClient
    from modelstudio_embeddings.governor import FileBudget, LocalBudget, RayBudget

    import modelstudio_embeddings as mse
    from modelstudio_embeddings.emulator import Emulator

    assert EmbeddingClient is mse.EmbeddingClient
    assert (FileBudget, LocalBudget, RayBudget) == (mse.FileBudget, mse.LocalBudget, mse.RayBudget)
    assert Emulator.__module__ == "modelstudio_emulator.server"
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        importlib.import_module("modelstudio_embeddings.client").Nothing  # noqa: B018
