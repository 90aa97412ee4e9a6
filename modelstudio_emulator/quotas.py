"""``GET /api/v1/quotas``: each model's limits for the calling key, as Model Studio publishes
them since 2026-09 (the exact shape is not settled by a public source; this serves one
plausible form, ``{"request_id", "data": [{"model", "rpm", "tpm"}]}``).

Off by default (404, as a host without the endpoint answers); ``Emulator.configure(quotas=
{"text-embedding-v4": {"requests_per_minute": 1800, "tokens_per_minute": 1200000}})`` serves
those limits, ``quotas="error"`` answers 500. Quotas GETs are not in the request log.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["QUOTAS_PATH", "quotas_reply"]

QUOTAS_PATH = "/api/v1/quotas"


def quotas_reply(quotas: object, authorized: bool) -> tuple[int, dict[str, Any]]:
    """The status and body for a quotas GET under the emulator's ``quotas`` setting."""
    request_id = str(uuid.uuid4())
    if quotas is None:
        return 404, {"code": "NotFound", "message": "Not found", "request_id": request_id}
    if not authorized:
        return 401, {
            "code": "InvalidApiKey",
            "message": "Invalid API-key provided.",
            "request_id": request_id,
        }
    if not isinstance(quotas, Mapping):
        return 500, {"code": "InternalError", "message": "quotas", "request_id": request_id}
    data = [
        {
            "model": model,
            "rpm": limits.get("requests_per_minute"),
            "tpm": limits.get("tokens_per_minute"),
        }
        for model, limits in quotas.items()
    ]
    return 200, {"request_id": request_id, "data": data}
