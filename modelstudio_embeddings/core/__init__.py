"""The service core: what every API family shares, and nothing family-specific.

Configuration (``config``: key, host, region), errors and their one translation table
(``errors``), the retry policy (``retry``), the state every call shares (``execution``), the
executor and its in-flight bound (``executor``, ``limiter``), HTTP (``transport``, ``answers``),
the account's budget (``budget_state``, ``budgets``, ``governor``, ``ratelimit``, ``quotas``,
``ray_budget``), usage and cost (``usage``), token counting and text planning (``tokens``,
``planning``), settings every client has (``settings``) and ``ServiceClient`` (``service``).

It imports no family (``embeddings``, ``rerank``, ``batch``, ``ray``); a family imports it.
"""
