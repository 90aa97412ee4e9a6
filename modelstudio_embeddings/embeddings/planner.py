"""How one ``embed`` call is made ready before anything is sent: the rows validated and kept
within the token limit (refused or cut down), the options checked against the model and
protocol, and the ``Call`` built with the row limit in force (lowered when the service says so).
``EmbeddingClient`` keeps one per client; its executors only carry the calls out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ..core.planning import least_tokens, rows_over_limit, too_long_error, validate_texts
from ..core.tokens import LazyCounter
from ..core.usage import UsageCounter
from ..core.vector_call import Call, EmbedRequests
from .settings import ClientSettings
from .wire import PROTOCOLS, EmbedOptions, validate_options

__all__ = ["CallPlanner"]


class CallPlanner:
    """Validates, cuts and plans one client's calls (``settings`` and its spec, the key only
    to redact it from what the service sends back)."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        base_url: str,
        api_key: str,
        tokens: LazyCounter,
        usage: UsageCounter,
    ) -> None:
        self.settings = settings
        self.spec = settings.spec
        self._base_url = base_url
        self._secret = api_key
        self._tokens = tokens
        self._usage = usage
        self._wire = PROTOCOLS[settings.protocol]
        self._rows_per_request = self.spec.rows_per_request
        self._lock = threading.Lock()

    @property
    def rows_per_request(self) -> int:
        """The row limit in force: the model table's, or a lower one the service announced."""
        return self._rows_per_request

    def prepare(self, texts: Sequence[str]) -> list[str]:
        """Validated rows, each within the token limit (cut down if ``on_too_long="truncate"``)."""
        rows = validate_texts(texts)
        limit = self.spec.tokens_per_row
        # Without exact counts, refuse only what is over for certain: the service decides the
        # rest, and a row it refuses is isolated and named like a moderated one.
        exact = self._tokens.exact
        truncate = self.settings.on_too_long == "truncate"
        count = self._tokens.count if exact or truncate else least_tokens
        too_long = rows_over_limit(rows, limit, count)
        if not too_long:
            return rows
        if not truncate:
            error = too_long_error(too_long, limit, self.settings.model, exact=exact)
            raise error._bind(base_url=self._base_url)
        for i, _ in too_long:
            rows[i] = self._tokens.truncate(rows[i], limit)
        self._usage.add(truncated_rows=len(too_long))
        return rows

    def options(self, text_type: str | None, instruct: str | None, output: str) -> EmbedOptions:
        """The call's options, refused where the model or protocol does not take them."""
        options = EmbedOptions(text_type=text_type, instruct=instruct, output_type=output)
        validate_options(self.spec, self.settings.protocol, options)
        return options

    def new_call(
        self,
        rows: list[str],
        options: EmbedOptions,
        progress: Callable[[int], None] | None,
        deadline: float | None,
        lists: bool = False,
    ) -> Call:
        """The state machine of one call over prepared ``rows``."""
        secret = self._secret
        settings = self.settings
        requests = EmbedRequests(
            protocol=self._wire,
            model=settings.model,
            dimensions=settings.width if self.spec.accepts_dimensions else None,
            options=options,
            base_url=self._base_url,
            redact=lambda text: text.replace(secret, "<redacted>"),
        )
        return Call(
            rows,
            settings.width,
            requests=requests,
            lists=lists,
            rows_per_request=lambda: self._rows_per_request,
            learn_rows_per_request=self._learn_rows_per_request,
            retry=settings.retry,
            usage=self._usage,
            progress=progress,
            deadline=None if deadline is None else time.monotonic() + deadline,
            timeout=settings.timeout,
        )

    def _learn_rows_per_request(self, limit: int) -> None:
        with self._lock:
            self._rows_per_request = max(1, min(self._rows_per_request, limit))
