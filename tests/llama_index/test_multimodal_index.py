"""ModelStudioMultiModalEmbedding in LlamaIndex's MultiModalVectorStoreIndex on the emulator:
image documents and nodes by path (captioned PNGs) beside text nodes, one multimodal model for
images, texts and queries; a caption's text query retrieves its image, sync and async, with
the index built either way."""

from __future__ import annotations

from pathlib import Path

from llama_index.core.indices import MultiModalVectorStoreIndex
from llama_index.core.schema import ImageDocument, ImageNode, TextNode

from llama_index_modelstudio import ModelStudioMultiModalEmbedding
from modelstudio_emulator import Emulator
from modelstudio_emulator.multimodal import MULTIMODAL_PATH
from tests.pictures import SCENES, write_pictures

CAPTIONS = SCENES
TEXTS = ["Bicycles are serviced every spring.", "Ramen shops open at noon."]


def model_for(emulator: Emulator) -> ModelStudioMultiModalEmbedding:
    return ModelStudioMultiModalEmbedding(
        api_key=emulator.api_key, base_url=emulator.host_url, dimensions=512
    )


def test_text_to_image_retrieve_returns_the_image_of_each_caption(
    emulator: Emulator, tmp_path: Path
) -> None:
    model = model_for(emulator)
    documents = [
        ImageDocument(image_path=path, metadata={"picture": i})
        for i, path in enumerate(write_pictures(tmp_path, CAPTIONS))
    ]
    index = MultiModalVectorStoreIndex.from_documents(
        [*documents, *(TextNode(text=text) for text in TEXTS)],
        embed_model=model,
        image_embed_model=model,
    )
    images_sent = [r for r in emulator.log if r.path == MULTIMODAL_PATH]
    assert model.usage.images == len(CAPTIONS) and len(images_sent) == 2  # texts, images
    retriever = index.as_retriever(similarity_top_k=1, image_similarity_top_k=1)
    for i, caption in enumerate(CAPTIONS):
        [hit] = retriever.text_to_image_retrieve(caption)
        assert isinstance(hit.node, ImageNode) and hit.node.metadata == {"picture": i}
        assert hit.score is not None and hit.score > 0.9

    text_hit, image_hit = retriever.retrieve("a bowl of ramen with an egg")
    assert text_hit.node.get_content() == "Ramen shops open at noon."
    assert isinstance(image_hit.node, ImageNode) and image_hit.node.metadata == {"picture": 2}


async def test_async_index_and_retrieval_return_the_image_of_each_caption(
    emulator: Emulator, tmp_path: Path
) -> None:
    model = model_for(emulator)
    nodes = [
        ImageNode(image_path=path, metadata={"picture": i})
        for i, path in enumerate(write_pictures(tmp_path, CAPTIONS))
    ]
    index = MultiModalVectorStoreIndex(
        nodes=[*nodes, TextNode(text=TEXTS[0])],
        embed_model=model,
        image_embed_model=model,
        use_async=True,
    )
    assert model.usage.images == len(CAPTIONS)
    retriever = index.as_retriever(similarity_top_k=1, image_similarity_top_k=2)
    for i, caption in enumerate(CAPTIONS):
        best, runner_up = await retriever.atext_to_image_retrieve(caption)
        assert best.node.metadata == {"picture": i}
        assert runner_up.node.metadata != best.node.metadata
        assert best.score is not None and runner_up.score is not None
        assert best.score > runner_up.score

    found = await retriever.aretrieve(CAPTIONS[0])
    assert found[0].node.get_content() == TEXTS[0]  # the text store's best, then the images
    assert found[1].node.metadata == {"picture": 0}
