"""The text-embeddings family: the model table (``models``), request bodies and answers in
both protocols (``wire``), one call's state machine (``call``), the settings value
(``settings``) and ``EmbeddingClient`` (``client``), over the service core."""
