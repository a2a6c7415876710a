"""A local OpenAI-compatible chat-completions server for tests and benchmarks.

    with ChatServer(scripted([Reply(status=429, headers={"Retry-After": "1"})])) as server:
        OpenAI(base_url=server.base_url, api_key="...")
        # or AzureOpenAI(azure_endpoint=server.root_url, api_key="...", api_version="...")

Modules: `wire` (the reply model, the recorded request and OpenAI's JSON bodies), `responders`
(what the server answers), `server` (`ChatServer`, and `spawn` for a process of its own),
`openai_server` (the command line, `python -m skillopt.testing.openai_server`).
"""

from skillopt.testing.responders import (
    chat_request,
    fixed_latency,
    generic_content,
    offline_responder,
    reply_format_of,
    scripted,
    simulation_responder,
    template_of,
    template_reply_format,
)
from skillopt.testing.server import ChatServer, spawn
from skillopt.testing.wire import (
    RecordedRequest,
    Reply,
    Responder,
    completion_body,
    current_request,
    error_body,
    estimate_tokens,
)

__all__ = [
    "ChatServer",
    "RecordedRequest",
    "Reply",
    "Responder",
    "chat_request",
    "completion_body",
    "current_request",
    "error_body",
    "estimate_tokens",
    "fixed_latency",
    "generic_content",
    "offline_responder",
    "reply_format_of",
    "scripted",
    "simulation_responder",
    "spawn",
    "template_of",
    "template_reply_format",
]
