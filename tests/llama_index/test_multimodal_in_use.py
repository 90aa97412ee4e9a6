"""ModelStudioMultiModalEmbedding against the emulator: image batches by path, URL and BytesIO
as one core call each, text queries that find their images, sync and async, errors naming
positions in the caller's list whatever embed_batch_size is, settings, key."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core.callbacks import CallbackManager, CBEventType
from llama_index.core.callbacks.llama_debug import LlamaDebugHandler
from llama_index.core.schema import ImageType

from llama_index_modelstudio import ModelStudioMultiModalEmbedding
from modelstudio_embeddings import ContentInspectionError
from modelstudio_embeddings.adapting import MULTIMODAL_SETTINGS
from modelstudio_emulator import Emulator
from modelstudio_emulator.multimodal import MULTIMODAL_PATH, image_vector
from tests.pictures import write_pictures

CAPTIONS = [f"a photo of item {i} on a table" for i in range(30)]


def model_for(emulator: Emulator, **settings: Any) -> ModelStudioMultiModalEmbedding:
    return ModelStudioMultiModalEmbedding(
        api_key=emulator.api_key, base_url=emulator.host_url, dimensions=512, **settings
    )


def images(folder: Path) -> list[ImageType]:
    return [*write_pictures(folder, CAPTIONS)]


async def test_text_queries_find_their_images(emulator: Emulator, tmp_path: Path) -> None:
    model = model_for(emulator)
    paths = images(tmp_path)
    vectors: np.ndarray = np.array(model.get_image_embedding_batch(paths))
    sent = [r for r in emulator.log if r.path == MULTIMODAL_PATH]
    assert sorted(r.rows for r in sent) == [10, 20]  # one chunk, 20 items a request at most
    assert np.allclose(vectors[5], image_vector(Path(str(paths[5])).read_bytes(), 512), atol=1e-6)
    for i, caption in enumerate(CAPTIONS):
        assert int(np.argmax(vectors @ np.array(model.get_query_embedding(caption)))) == i
    in_memory = model.get_image_embedding(BytesIO(Path(str(paths[7])).read_bytes()))
    assert np.allclose(in_memory, vectors[7], atol=1e-6)
    async_vectors = await model.aget_image_embedding_batch(paths[:4])
    assert np.allclose(async_vectors, vectors[:4], atol=1e-6)
    texts = await model.aget_text_embedding_batch(CAPTIONS[:3])
    assert np.allclose(texts, model.get_text_embedding_batch(CAPTIONS[:3]), atol=1e-6)


def blocked_in_second_chunk(folder: Path) -> list[ImageType]:
    """Seven captioned PNGs; the sixth (the second chunk of three) is refused by moderation."""
    captions = [CAPTIONS[i] + (" [[BLOCKED]]" if i == 5 else "") for i in range(7)]
    return [*write_pictures(folder, captions, stem="chunked")]


def test_a_refused_image_is_named_by_its_position_in_the_callers_list_across_chunks(
    emulator: Emulator, tmp_path: Path
) -> None:
    debug = LlamaDebugHandler()
    model = model_for(emulator, embed_batch_size=3, callback_manager=CallbackManager([debug]))
    paths = blocked_in_second_chunk(tmp_path)
    with pytest.raises(ContentInspectionError) as info:
        model.get_image_embedding_batch(paths)
    assert info.value.indices == (5,)
    assert info.value.partial is not None
    assert info.value.partial.indices == (0, 1, 2, 3, 4, 6)
    expected = model.get_image_embedding_batch([paths[i] for i in (0, 1, 2, 3, 4, 6)])
    assert np.allclose(info.value.partial.vectors, expected, atol=1e-6)
    pairs = debug.get_event_pairs(CBEventType.EMBEDDING)
    failed, done = pairs[:3], pairs[3:]  # three chunks of seven, then two of six
    assert all(isinstance(end.payload["exception"], ContentInspectionError) for _, end in failed)
    assert [len(end.payload["chunks"]) for _, end in done] == [3, 3]


async def test_a_refused_image_or_text_is_named_by_its_position_async_too(
    emulator: Emulator, tmp_path: Path
) -> None:
    model = model_for(emulator, embed_batch_size=3)
    paths = blocked_in_second_chunk(tmp_path)
    with pytest.raises(ContentInspectionError) as info:
        await model.aget_image_embedding_batch(paths)
    assert info.value.indices == (5,)
    assert info.value.partial is not None and info.value.partial.indices == (0, 1, 2, 3, 4, 6)

    texts = [*CAPTIONS[:4], "[[BLOCKED]] caption", CAPTIONS[5]]
    with pytest.raises(ContentInspectionError) as info:
        await model.aget_text_embedding_batch(texts)
    assert info.value.indices == (4,)
    with pytest.raises(ContentInspectionError) as info:
        model.get_text_embedding_batch(texts)
    assert info.value.indices == (4,)
    assert info.value.partial is not None and info.value.partial.indices == (0, 1, 2, 3, 5)


def test_every_core_setting_is_a_field_and_the_key_is_never_written(emulator: Emulator) -> None:
    assert set(MULTIMODAL_SETTINGS) - {"retry_policy"} <= set(
        ModelStudioMultiModalEmbedding.model_fields
    )
    model = model_for(emulator)
    assert model.class_name() == "ModelStudioMultiModalEmbedding"
    assert emulator.api_key not in str(model.to_dict()) and emulator.api_key not in repr(model)
    assert model.client.dimensions == 512
