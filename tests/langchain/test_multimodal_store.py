"""ModelStudioMultimodalEmbeddings in a real LangChain vector store (Chroma, in memory):
``add_images`` by path, then text queries and images that find them, sync and async, with one
multimodal model for images and queries alike."""

from __future__ import annotations

import uuid
from pathlib import Path

import chromadb
import numpy as np
from langchain_chroma import Chroma

from langchain_modelstudio import ModelStudioMultimodalEmbeddings
from modelstudio_emulator import Emulator
from modelstudio_emulator.multimodal import MULTIMODAL_PATH
from tests.pictures import SCENES, write_pictures

CAPTIONS = SCENES


def store_of(emulator: Emulator, folder: Path) -> tuple[Chroma, list[str]]:
    """A Chroma store over the multimodal model, with one captioned PNG per caption added."""
    model = ModelStudioMultimodalEmbeddings(
        api_key=emulator.api_key, base_url=emulator.host_url, dimensions=512
    )
    store = Chroma(
        collection_name=f"images-{uuid.uuid4().hex}",
        embedding_function=model,
        client=chromadb.EphemeralClient(),
    )
    paths = write_pictures(folder, CAPTIONS)
    store.add_images(uris=paths, metadatas=[{"picture": i} for i in range(len(paths))])
    return store, paths


def test_chroma_add_images_then_a_caption_finds_its_picture(
    emulator: Emulator, tmp_path: Path
) -> None:
    store, paths = store_of(emulator, tmp_path)
    assert len([r for r in emulator.log if r.path == MULTIMODAL_PATH]) == 1  # six images, one
    model = store.embeddings
    assert isinstance(model, ModelStudioMultimodalEmbeddings) and model.usage.images == 6

    for i, caption in enumerate(CAPTIONS):
        [hit] = store.similarity_search(caption, k=1)
        assert hit.metadata == {"picture": i}
    for i, path in enumerate(paths):  # an image finds itself, by the same model
        [hit] = store.similarity_search_by_image(uri=path, k=1)
        assert hit.metadata == {"picture": i}


async def test_async_queries_find_the_pictures_chroma_holds(
    emulator: Emulator, tmp_path: Path
) -> None:
    store, paths = store_of(emulator, tmp_path)
    model = store.embeddings
    assert isinstance(model, ModelStudioMultimodalEmbeddings)

    stored = store.get(include=["embeddings", "metadatas"])
    order = np.argsort([m["picture"] for m in stored["metadatas"]])
    assert np.allclose(np.asarray(stored["embeddings"])[order], await model.aembed_image(paths))

    for i, caption in enumerate(CAPTIONS):
        [hit] = await store.asimilarity_search(caption, k=1)
        assert hit.metadata == {"picture": i}
        query = await model.aembed_query(caption)
        [by_vector] = await store.asimilarity_search_by_vector(query, k=1)
        assert by_vector.metadata == {"picture": i}
