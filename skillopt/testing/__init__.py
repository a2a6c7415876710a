"""Test and benchmark utilities: a local OpenAI-compatible chat-completions server."""
