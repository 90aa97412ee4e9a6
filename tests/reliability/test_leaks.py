"""The key never appears in repr, str, exceptions, pickles, serialized forms or DEBUG logs."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable

import pytest

import modelstudio_embeddings as mse
from modelstudio_embeddings import EmbeddingClient
from modelstudio_emulator import Emulator, Fault

SECRET = "sk-leak-canary-7c0ffee"


def _everything_said_about(obj: object) -> str:
    parts = [repr(obj), str(obj)]
    if isinstance(obj, BaseException):
        parts += [repr(obj.args), repr(vars(obj))]
    return "\n".join(parts)


def test_core_client_repr_str_and_pickle_hold_no_key(emulator: Emulator) -> None:
    client = EmbeddingClient(api_key=SECRET, base_url=emulator.base_url)
    assert SECRET not in _everything_said_about(client)
    assert SECRET.encode() not in pickle.dumps(client)


def test_errors_of_every_kind_hold_no_key(
    emulator: Emulator, make_client: Callable[..., EmbeddingClient]
) -> None:
    errors: list[BaseException] = []
    for fault in (
        Fault.server_error(),
        Fault.arrearage(),
        Fault.moderated(),
        Fault.malformed_json(),
    ):
        emulator.script(*([fault] * 5))
        with pytest.raises(mse.ModelStudioError) as info:
            make_client(api_key=emulator.api_key, max_retries=0).embed(["a"])
        errors.append(info.value)
        emulator.clear_script()
    wrong = make_client(api_key=SECRET)
    with pytest.raises(mse.AuthenticationError) as auth:
        wrong.embed(["a"])
    errors.append(auth.value)
    for error in errors:
        assert SECRET not in _everything_said_about(error)
        assert SECRET.encode() not in pickle.dumps(error)


def test_debug_logs_hold_no_key(
    emulator: Emulator,
    make_client: Callable[..., EmbeddingClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        client = make_client(api_key=SECRET)
        with pytest.raises(mse.AuthenticationError):
            client.embed(["hello"])
    assert caplog.records, "DEBUG logging was captured"
    assert SECRET not in caplog.text
