"""The optimizer or target on Azure OpenAI, through the `openai` SDK's `AzureOpenAI` client.

Requests go to `<azure_endpoint>/openai/deployments/<deployment>/chat/completions?api-version=
<api_version>`. Authentication is an API key, read from the environment variable named by
`api_key_env` and sent as the `api-key` header, or a Microsoft Entra ID token (`auth: entra_id`)
from `azure-identity`'s DefaultAzureCredential (the optional `skillopt[azure]` extra, imported
only then). Retries, error mapping and key redaction are those of the OpenAI backend
(`SDKChatBackend`); the backend's `name`, and so every call-cache key, includes the endpoint,
the deployment and the API version, so a record from another deployment never answers here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from skillopt.base.checks import check_int, check_number, check_text, choice
from skillopt.base.errors import ConfigError
from skillopt.llm.openai_backend import TOKEN_PARAMS, SDKChatBackend, read_key

AUTH_MODES = ("key", "entra_id")
AUTH_ALIASES = {
    "api_key": "key",
    "entra": "entra_id",
    "aad": "entra_id",
    "azure_ad": "entra_id",
    "managed_identity": "entra_id",
    "azure_cli": "entra_id",
}
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
TokenProvider = Callable[[], str]


@dataclass(frozen=True, kw_only=True)
class AzureOpenAIOptions:
    """How to reach an Azure OpenAI deployment (`model.*` / `target.*` with
    `backend: azure_openai`).

    azure_endpoint: the resource URL, `https://<resource>.openai.azure.com` (required).
    deployment: the deployment name requests are routed to (required).
    api_version: the `api-version` query parameter (2024-12-01-preview, SkillOpt's default).
    auth: key (the `api-key` header) | entra_id (a Microsoft Entra ID bearer token from
    azure-identity for `entra_scope`); SkillOpt's names (api_key, aad, azure_ad,
    managed_identity, azure_cli) are accepted. api_key_env: the environment variable holding the
    key with auth=key (the key itself is never configured). timeout_s / max_retries /
    token_param: as for the openai backend.
    """

    azure_endpoint: str = "???"
    deployment: str = "???"
    api_version: str = "2024-12-01-preview"
    auth: str = "key"
    api_key_env: str = "AZURE_OPENAI_API_KEY"
    entra_scope: str = ENTRA_SCOPE
    timeout_s: float = 120.0
    max_retries: int = 3
    token_param: str = "max_completion_tokens"

    @property
    def key_env(self) -> str | None:
        """The environment variable a job needs set before it makes calls (None with Entra ID)."""
        return self.api_key_env if self.auth == "key" else None

    def __post_init__(self) -> None:
        for name in ("azure_endpoint", "deployment", "api_version", "api_key_env", "entra_scope"):
            check_text(name, getattr(self, name))
        object.__setattr__(self, "auth", choice("auth", self.auth, AUTH_MODES, AUTH_ALIASES))
        check_number("timeout_s", self.timeout_s, above=0)
        check_int("max_retries", self.max_retries, minimum=0, maximum=20)
        object.__setattr__(
            self, "token_param", choice("token_param", self.token_param, TOKEN_PARAMS)
        )


def entra_token_provider(scope: str) -> TokenProvider:
    """A bearer-token provider for `scope` from azure-identity's DefaultAzureCredential
    (environment, workload or managed identity, Azure CLI login, ...)."""
    try:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    except ImportError:
        raise ConfigError(
            "auth=entra_id needs the azure-identity package: pip install 'skillopt[azure]' "
            "(or use auth=key with api_key_env)"
        ) from None
    return get_bearer_token_provider(DefaultAzureCredential(), scope)


class AzureOpenAIBackend(SDKChatBackend):
    """One shared `AzureOpenAI` client for a deployment; thread-safe."""

    def __init__(self, *, token_provider: TokenProvider | None = None, **options: Any) -> None:
        """`options` are the fields of `AzureOpenAIOptions`, checked there. `token_provider`
        (auth=entra_id only) returns a bearer token; by default azure-identity's
        DefaultAzureCredential for `entra_scope`, so an application may bring its own."""
        settings = AzureOpenAIOptions(**options)
        import openai

        credentials: dict[str, Any]
        secret = None
        if settings.auth == "key":
            secret = read_key(settings.api_key_env, section_hint="model.api_key_env")
            credentials = {"api_key": secret}
            hint = "check the API key in the environment variable named by model.api_key_env"
        else:
            provider = token_provider or entra_token_provider(settings.entra_scope)
            credentials = {"azure_ad_token_provider": provider}
            hint = "check the Entra ID credential and its role on the Azure OpenAI resource"
        client = openai.AzureOpenAI(
            azure_endpoint=settings.azure_endpoint,
            azure_deployment=settings.deployment,
            api_version=settings.api_version,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
            **credentials,
        )
        endpoint = str(client.base_url).rstrip("/")
        super().__init__(
            client,
            endpoint=endpoint,
            auth_hint=hint,
            secret=secret,
            options=settings,
        )
        self.name = f"azure_openai:{endpoint}?api-version={settings.api_version}"
