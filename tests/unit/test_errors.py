"""The translation table: every row of the contract's error table becomes the right class."""

from __future__ import annotations

import pickle

import pytest

import modelstudio_embeddings as mse
from modelstudio_embeddings.core.errors import parse_retry_after, translate_status

DETAILS = " For details, see: https://help.aliyun.com/zh/model-studio/error-code#x"


def envelope(code: str, message: str, type_: str | None = None) -> dict[str, object]:
    return {
        "error": {"message": message, "type": type_ or code, "param": None, "code": code},
        "id": "id-1",
        "request_id": "req-1",
    }


CONTRACT_ROWS = [
    (
        400,
        "InvalidParameter",
        "<400> InternalError.Algo.InvalidParameter: Value error, batch size is invalid, "
        "it should not be larger than 10.: input.contents",
        mse.RowLimitError,
    ),
    (
        400,
        "InvalidParameter",
        "<400> InternalError.Algo.InvalidParameter: Range of input length should be [1, 8192]",
        mse.InputTooLongError,
    ),
    (
        400,
        "InvalidParameter",
        "<400> InternalError.Algo.InvalidParameter: Value error, dimension for embedding v3 is "
        "invalid, its value shold be in [64, 128, 256, 512, 768, 1024, 1536, 2048, 3072]",
        mse.InvalidRequestError,
    ),
    (
        400,
        "data_inspection_failed",
        "Input data may contain inappropriate content.",
        mse.ContentInspectionError,
    ),
    (
        400,
        "DataInspectionFailed",
        "Input data may contain inappropriate content.",
        mse.ContentInspectionError,
    ),
    (
        400,
        "Arrearage",
        "Access denied, please make sure your account is in good standing.",
        mse.BillingError,
    ),
    (401, "invalid_api_key", "Incorrect API key provided.", mse.AuthenticationError),
    (403, "AccessDenied", "Access denied.", mse.PermissionDeniedError),
    (403, "AccessDenied.Unpurchased", "Access denied.", mse.PermissionDeniedError),
    (403, "Model.AccessDenied", "Model access denied.", mse.PermissionDeniedError),
    (403, "AllocationQuota.FreeTierOnly", "Free tier used up.", mse.PermissionDeniedError),
    (404, "model_not_found", "Model not exist.", mse.ModelNotFoundError),
    (
        429,
        "limit_requests",
        "Requests rate limit exceeded, please try again later.",
        mse.RequestRateLimitError,
    ),
    (
        429,
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
        mse.TokenRateLimitError,
    ),
    (429, "Throttling.AllocationQuota", "Allocated quota exceeded.", mse.TokenRateLimitError),
    (
        429,
        "limit_burst_rate",
        "Request rate increased too quickly, please slow down.",
        mse.BurstRateLimitError,
    ),
    (500, "InternalError", "Internal error.", mse.ServiceUnavailableError),
    (500, "internal_error", "Internal error.", mse.ServiceUnavailableError),
    (500, "RequestTimeOut", "Request timed out.", mse.ServiceUnavailableError),
    (503, "ModelUnavailable", "Model is unavailable.", mse.ServiceUnavailableError),
    (503, "ModelServingError", "Model serving error.", mse.ServiceUnavailableError),
]


@pytest.mark.parametrize(("status", "code", "message", "cls"), CONTRACT_ROWS)
def test_each_contract_row_maps_to_its_class(
    status: int, code: str, message: str, cls: type[mse.ModelStudioError]
) -> None:
    error = translate_status(
        status,
        envelope(code, message + DETAILS),
        model="text-embedding-v4",
        base_url="https://dashscope.aliyuncs.com/compatible-mode/v1",
        indices=range(3, 5),
    )
    assert type(error) is cls
    assert error.status_code == status
    assert error.code == code
    assert error.request_id == "req-1"
    assert error.model == "text-embedding-v4"
    assert error.indices == (3, 4)
    assert "For details" not in error.message and "<400>" not in error.message


def test_row_limit_error_carries_the_announced_limit() -> None:
    error = translate_status(
        400, envelope("InvalidParameter", "batch size is invalid, it should not be larger than 6.")
    )
    assert isinstance(error, mse.RowLimitError) and error.limit == 6


def test_401_names_the_host_and_says_keys_are_regional() -> None:
    error = translate_status(
        401,
        envelope("invalid_api_key", "Incorrect API key provided."),
        base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
    )
    text = str(error)
    assert "dashscope-intl.aliyuncs.com" in text
    assert "region" in text


def test_native_flat_error_body_is_understood() -> None:
    error = translate_status(
        401, {"code": "InvalidApiKey", "message": "Invalid API-key provided.", "request_id": "r9"}
    )
    assert isinstance(error, mse.AuthenticationError) and error.request_id == "r9"


def test_an_html_page_from_a_proxy_is_a_service_error() -> None:
    error = translate_status(502, "<html><body>Bad Gateway</body></html>")
    assert isinstance(error, mse.ServiceUnavailableError)


def test_the_key_is_scrubbed_from_a_message_that_echoes_it() -> None:
    error = translate_status(
        400, envelope("InvalidParameter", "bad header sk-secret-123"), secret="sk-secret-123"
    )
    assert "sk-secret-123" not in str(error)


def test_configuration_and_invalid_request_errors_are_value_errors() -> None:
    assert issubclass(mse.ConfigurationError, ValueError)
    assert issubclass(mse.InvalidRequestError, ValueError)
    assert issubclass(mse.ContentInspectionError, mse.InvalidRequestError)
    assert issubclass(mse.APITimeoutError, mse.APIConnectionError)


def test_errors_pickle_with_their_context() -> None:
    error = translate_status(
        400, envelope("InvalidParameter", "it should not be larger than 6."), indices=[1, 2]
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is mse.RowLimitError and copy.limit == 6 and copy.indices == (1, 2)
    auth = pickle.loads(pickle.dumps(mse.AuthenticationError("no", status_code=401)))
    assert auth.status_code == 401


def test_retry_after_in_seconds_and_as_a_date() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
