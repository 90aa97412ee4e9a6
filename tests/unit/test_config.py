"""Configuration resolution: argument > environment > Beijing default, and the documented hosts."""

from __future__ import annotations

import pytest

from modelstudio_embeddings import MODELS, ConfigurationError
from modelstudio_embeddings.core.config import normalize_host_url, resolve_config
from modelstudio_embeddings.embeddings.models import resolve_dimensions, resolve_model

BEIJING = "https://dashscope.aliyuncs.com"


def test_default_host_is_beijing_when_nothing_is_configured() -> None:
    config = resolve_config(environ={"DASHSCOPE_API_KEY": "sk-1"})
    assert config.host_url == BEIJING
    assert config.compatible_url == BEIJING + "/compatible-mode/v1"
    assert config.base_url_source == "default"


def test_argument_beats_environment_for_key_and_host() -> None:
    env = {"DASHSCOPE_API_KEY": "sk-env", "DASHSCOPE_BASE_URL": "https://env.example.com"}
    config = resolve_config(api_key="sk-arg", base_url="https://arg.example.com", environ=env)
    assert config.api_key == "sk-arg"
    assert config.host_url == "https://arg.example.com"


def test_dashscope_base_url_beats_dashscope_api_base() -> None:
    env = {
        "DASHSCOPE_API_KEY": "k",
        "DASHSCOPE_BASE_URL": "https://a.example.com",
        "DASHSCOPE_API_BASE": "https://b.example.com",
    }
    assert resolve_config(environ=env).host_url == "https://a.example.com"
    del env["DASHSCOPE_BASE_URL"]
    config = resolve_config(environ=env)
    assert config.host_url == "https://b.example.com"
    assert config.base_url_source == "DASHSCOPE_API_BASE"


@pytest.mark.parametrize(
    "given",
    [
        "dashscope-intl.aliyuncs.com",
        "https://dashscope-intl.aliyuncs.com",
        "https://dashscope-intl.aliyuncs.com/",
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/",
        "https://dashscope-intl.aliyuncs.com/api/v1",
    ],
)
def test_base_url_in_any_documented_form_gives_the_same_endpoint(given: str) -> None:
    config = resolve_config(api_key="k", base_url=given, environ={})
    assert config.compatible_url == "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"


@pytest.mark.parametrize(
    ("region", "workspace", "host"),
    [
        ("cn-beijing", None, "dashscope.aliyuncs.com"),
        ("ap-southeast-1", None, "dashscope-intl.aliyuncs.com"),
        ("us-east-1", None, "dashscope-us.aliyuncs.com"),
        ("cn-hongkong", None, "cn-hongkong.dashscope.aliyuncs.com"),
        ("ap-southeast-1", "ws-123", "ws-123.ap-southeast-1.maas.aliyuncs.com"),
        ("ap-northeast-1", "ws1", "ws1.ap-northeast-1.maas.aliyuncs.com"),
        ("eu-central-1", "ws1", "ws1.eu-central-1.maas.aliyuncs.com"),
        ("cn-beijing", "ws1", "ws1.cn-beijing.maas.aliyuncs.com"),
    ],
)
def test_region_and_workspace_build_the_documented_hosts(
    region: str, workspace: str | None, host: str
) -> None:
    config = resolve_config(api_key="k", region=region, workspace_id=workspace, environ={})
    assert config.host_url == "https://" + host


def test_region_without_shared_host_asks_for_a_workspace() -> None:
    with pytest.raises(ConfigurationError, match="workspace_id"):
        resolve_config(api_key="k", region="ap-northeast-1", environ={})


def test_unknown_region_names_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="ap-southeast-1"):
        resolve_config(api_key="k", region="mars-1", environ={})


def test_missing_key_names_the_environment_variable() -> None:
    with pytest.raises(ConfigurationError, match="DASHSCOPE_API_KEY"):
        resolve_config(environ={})


def test_base_url_and_region_together_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        resolve_config(api_key="k", base_url=BEIJING, region="cn-beijing", environ={})


def test_plain_http_is_refused_except_on_loopback() -> None:
    with pytest.raises(ConfigurationError, match="unencrypted"):
        normalize_host_url("http://proxy.example.com")
    assert normalize_host_url("http://127.0.0.1:8000/compatible-mode/v1") == "http://127.0.0.1:8000"
    assert normalize_host_url("localhost:9000") == "http://localhost:9000"
    assert normalize_host_url("http://[::1]:9000") == "http://[::1]:9000"
    assert normalize_host_url("http://proxy.example.com", allow_insecure_http=True).startswith(
        "http://"
    )


def test_credentials_in_the_url_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="credentials"):
        normalize_host_url("https://user:secret@dashscope.aliyuncs.com")


def test_unknown_model_lists_the_models() -> None:
    with pytest.raises(ConfigurationError, match="text-embedding-v4") as info:
        resolve_model("text-embedding-v9")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("model", ["text-embedding-v1", "text-embedding-v2"])
def test_v1_and_v2_offer_only_1536(model: str) -> None:
    spec = MODELS[model]
    assert resolve_dimensions(spec, None) == 1536
    with pytest.raises(ConfigurationError, match="1536"):
        resolve_dimensions(spec, 1024)


def test_v4_offers_its_documented_dimensions_and_defaults_to_1024() -> None:
    spec = MODELS["text-embedding-v4"]
    assert resolve_dimensions(spec, None) == 1024
    for dims in (2048, 1536, 1024, 768, 512, 256, 128, 64):
        assert resolve_dimensions(spec, dims) == dims
    with pytest.raises(ConfigurationError, match="64, 128"):
        resolve_dimensions(spec, 3072)
