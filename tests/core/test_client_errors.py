"""Every row of the contract's error table, through the real openai SDK over HTTP to the emulator,
comes out as the right typed error, with its context and a message that says what to do."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import modelstudio_embeddings as mse
from modelstudio_embeddings import EmbeddingClient
from modelstudio_emulator import Emulator, Fault

MakeClient = Callable[..., EmbeddingClient]

FINAL_FAULTS = [
    (Fault.arrearage(), mse.BillingError, 400),
    (Fault.access_denied("AccessDenied"), mse.PermissionDeniedError, 403),
    (Fault.access_denied("AccessDenied.Unpurchased"), mse.PermissionDeniedError, 403),
    (Fault.access_denied("Model.AccessDenied"), mse.PermissionDeniedError, 403),
    (Fault.access_denied("AllocationQuota.FreeTierOnly"), mse.PermissionDeniedError, 403),
    (Fault.input_too_long(), mse.InputTooLongError, 400),
    (Fault.error(404, "model_not_found", "Model not exist."), mse.ModelNotFoundError, 404),
    (
        Fault.error(400, "InvalidParameter", "Value error, dimension for embedding v3 is invalid"),
        mse.InvalidRequestError,
        400,
    ),
]


@pytest.mark.parametrize(("fault", "cls", "status"), FINAL_FAULTS, ids=lambda v: str(v))
def test_final_errors_are_typed_and_sent_once(
    emulator: Emulator,
    make_client: MakeClient,
    fault: Fault,
    cls: type[mse.ModelStudioError],
    status: int,
) -> None:
    emulator.script(fault)
    client = make_client()
    with pytest.raises(cls) as info:
        client.embed(["only one row"])
    error = info.value
    assert error.status_code == status
    assert error.code
    assert error.request_id
    assert error.model == "text-embedding-v4"
    assert error.base_url == emulator.base_url
    assert error.indices == (0,)
    assert len(emulator.log) == 1, "a final error must not be retried"


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        (Fault.rate_limited, mse.RateLimitError),
        (Fault.quota_exceeded, mse.RateLimitError),
        (Fault.server_error, mse.ServiceUnavailableError),
        (Fault.unavailable, mse.ServiceUnavailableError),
        (Fault.reset, mse.APIConnectionError),
        (lambda: Fault.html_error(status=502), mse.ServiceUnavailableError),
    ],
)
def test_transient_errors_are_retried_then_raised_typed_when_they_persist(
    emulator: Emulator,
    make_client: MakeClient,
    fault: Callable[[], Fault],
    cls: type[mse.ModelStudioError],
) -> None:
    client = make_client(max_retries=2)
    emulator.script(*(fault() for _ in range(3)))
    with pytest.raises(cls) as info:
        client.embed(["a row"])
    assert len(emulator.log) == 3, "one attempt and two retries"
    assert client.usage.retries == 2
    assert info.value.partial is not None and len(info.value.partial) == 0


@pytest.mark.parametrize(
    "fault",
    [
        Fault.rate_limited,
        Fault.quota_exceeded,
        Fault.server_error,
        Fault.unavailable,
        Fault.reset,
        lambda: Fault.html_error(status=502),
    ],
)
def test_a_transient_error_that_clears_is_invisible(
    emulator: Emulator, make_client: MakeClient, fault: Callable[[], Fault]
) -> None:
    emulator.script(fault())
    vectors = make_client().embed(["alpha", "beta"])
    assert vectors.shape == (2, 1024)


def test_wrong_key_names_the_host_and_never_shows_the_key(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client(api_key="sk-wrong-key-123456")
    with pytest.raises(mse.AuthenticationError) as info:
        client.embed(["hello"])
    text = str(info.value) + repr(info.value) + str(info.value.__dict__)
    assert "127.0.0.1" in text
    assert "region" in text
    assert "sk-wrong-key-123456" not in text
    assert len(emulator.log) == 1


def test_a_moderated_row_fails_its_request_and_is_isolated(
    emulator: Emulator, make_client: MakeClient
) -> None:
    texts = [f"passage number {i} about tea" for i in range(25)]
    texts[3] += " [[BLOCKED]]"
    texts[17] += " [[BLOCKED]]"
    client = make_client()
    with pytest.raises(mse.ContentInspectionError) as info:
        client.embed(texts)
    error = info.value
    assert error.indices == (3, 17)
    assert error.partial is not None
    clean = [i for i in range(25) if i not in (3, 17)]
    assert list(error.partial.indices) == clean
    reference = client.embed([texts[i] for i in clean])
    assert (error.partial.vectors == reference).all()


def test_each_clean_row_is_embedded_once_while_isolating(
    emulator: Emulator, make_client: MakeClient
) -> None:
    texts = [f"row {i} of the ingestion" for i in range(30)]
    texts[12] += " [[BLOCKED]]"
    with pytest.raises(mse.ContentInspectionError):
        make_client().embed(texts)
    embedded = [t for rec in emulator.log if rec.status == 200 for t in rec.texts or []]
    assert sorted(embedded) == sorted(t for i, t in enumerate(texts) if i != 12)


def test_server_side_too_long_row_is_isolated_like_moderation(
    emulator: Emulator, make_client: MakeClient
) -> None:
    # Every request that holds row 4 while the client halves its way down to it is refused.
    emulator.script(*[Fault.input_too_long(match="row 4")] * 4)
    texts = [f"row {i}" for i in range(8)]
    with pytest.raises(mse.InputTooLongError) as info:
        make_client().embed(texts)
    assert info.value.indices == (4,)
    assert info.value.partial is not None and len(info.value.partial) == 7


def test_unknown_model_and_bad_dimensions_fail_before_any_request(emulator: Emulator) -> None:
    with pytest.raises(mse.ConfigurationError, match="text-embedding-v4"):
        EmbeddingClient("text-embedding-v5", api_key="k", base_url=emulator.base_url)
    with pytest.raises(mse.ConfigurationError, match="1536"):
        EmbeddingClient(
            "text-embedding-v2", dimensions=1024, api_key="k", base_url=emulator.base_url
        )
    assert emulator.log == []
