"""LLM layer: one protocol (`ChatBackend`), its backends, and the cache/ledger client around them."""

from skillopt.llm.cache import CallCache
from skillopt.llm.client import CallResult, LLMClient
from skillopt.llm.ledger import Ledger, Price
from skillopt.llm.offline import OfflineBackend
from skillopt.llm.types import ChatBackend, ChatRequest, ChatResponse, estimate_tokens

__all__ = [
    "CallCache",
    "CallResult",
    "ChatBackend",
    "ChatRequest",
    "ChatResponse",
    "Ledger",
    "LLMClient",
    "OfflineBackend",
    "Price",
    "estimate_tokens",
]
