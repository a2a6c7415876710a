"""The uploader finds a span's call record in the job's call cache (top level or a role
folder) and lists the cache's folders once per pass, not once per span."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillopt.tracking.spans import call_lookup


def write_call(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"request": {"model": "m"}, "response": {"text": text}}))


def test_records_at_the_top_level_and_in_role_folders(tmp_path):
    calls = tmp_path / "llm_calls"
    write_call(calls / "aaa.json", "top")
    write_call(calls / "optimizer" / "bbb.json", "optimizer")
    write_call(calls / "target" / "ccc.json", "target")
    (calls / "target" / "bad.json").write_text("[1, 2]")
    lookup = call_lookup(calls)
    assert lookup("aaa")["response"]["text"] == "top"
    assert lookup("bbb")["response"]["text"] == "optimizer"
    assert lookup("ccc")["response"]["text"] == "target"
    assert lookup("bad") is None  # not a record
    assert lookup("zzz") is None
    assert call_lookup(tmp_path / "missing")("aaa") is None


def test_the_cache_is_listed_once_however_many_spans(tmp_path, monkeypatch: pytest.MonkeyPatch):
    calls = tmp_path / "llm_calls"
    for i in range(200):
        write_call(calls / f"k{i:03d}.json", str(i))
    write_call(calls / "target" / "t.json", "target")
    listings = []
    iterdir = Path.iterdir
    monkeypatch.setattr(Path, "iterdir", lambda self: listings.append(self) or iterdir(self))
    lookup = call_lookup(calls)
    assert [lookup(f"k{i:03d}")["response"]["text"] for i in range(200)] == [
        str(i) for i in range(200)
    ]
    assert listings == []  # every record at the top level: no listing at all
    assert lookup("t")["response"]["text"] == "target"
    assert all(lookup(f"missing{i}") is None for i in range(50))
    assert listings == [calls]
