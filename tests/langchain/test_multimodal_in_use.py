"""ModelStudioMultimodalEmbeddings against the emulator: images by path and URL, text queries
that find their images, sync and async, every core setting offered, the key never written."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from langchain_core.load import dumps

from langchain_modelstudio import ModelStudioMultimodalEmbeddings
from modelstudio_embeddings.adapting import MULTIMODAL_SETTINGS
from modelstudio_embeddings.multimodal import Image
from modelstudio_emulator import Emulator
from modelstudio_emulator.multimodal import image_vector
from tests.pictures import write_pictures

CAPTIONS = [f"a photo of item {i} on a table" for i in range(12)]


def embeddings(emulator: Emulator) -> ModelStudioMultimodalEmbeddings:
    return ModelStudioMultimodalEmbeddings(
        api_key=emulator.api_key, base_url=emulator.host_url, dimensions=512
    )


def images(folder: Path) -> list[str]:
    return write_pictures(folder, CAPTIONS)


async def test_text_queries_find_their_images(emulator: Emulator, tmp_path: Path) -> None:
    model = embeddings(emulator)
    paths = images(tmp_path)
    vectors = np.array(model.embed_image(paths))
    assert np.allclose(vectors[3], image_vector(Path(paths[3]).read_bytes(), 512), atol=1e-6)
    for i, caption in enumerate(CAPTIONS):
        assert int(np.argmax(vectors @ np.array(model.embed_query(caption)))) == i
    queries = await model.aembed_documents(CAPTIONS[:2])
    assert np.allclose(queries, model.embed_documents(CAPTIONS[:2]), atol=1e-6)
    assert await model.aembed_query(CAPTIONS[0]) == pytest.approx(queries[0])
    mixed = model.embed_items(["a caption", Image(Path(paths[0]).read_bytes())])
    assert np.allclose(mixed[1], vectors[0], atol=1e-6)
    assert model.usage.images == len(CAPTIONS) + 1


def test_every_core_setting_is_a_field_and_the_key_is_never_written(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert set(MULTIMODAL_SETTINGS) <= set(ModelStudioMultimodalEmbeddings.model_fields)
    model = embeddings(emulator)
    assert emulator.api_key not in dumps(model) and emulator.api_key not in repr(model)
    data = pickle.dumps(model)
    assert emulator.api_key.encode() not in data
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)
    assert pickle.loads(data).client.dimensions == 512
