"""The rerank family: the model table (``models``), validation and planning (``planning``),
request bodies and answers (``wire``), one call's state machine (``call``), the settings value
(``settings``) and ``RerankClient`` (``client``), over the service core."""
