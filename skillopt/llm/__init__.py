"""LLM layer: one protocol (`ChatBackend`), its backends, and the cache/ledger client around them."""

from skillopt.llm.cache import CallCache
from skillopt.llm.client import CallResult, LLMClient
from skillopt.llm.ledger import Ledger, Price
from skillopt.llm.registry import make_backend, register_backend
from skillopt.llm.types import ChatBackend, ChatRequest, ChatResponse, estimate_tokens

__all__ = [
    "CallCache",
    "CallResult",
    "ChatBackend",
    "ChatRequest",
    "ChatResponse",
    "Ledger",
    "LLMClient",
    "Price",
    "estimate_tokens",
    "make_backend",
    "register_backend",
]
