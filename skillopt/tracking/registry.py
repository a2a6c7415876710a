"""Skills as versions of a prompt in MLflow's Prompt Registry, and `prompts:/` skill inputs.

A training job with `registry.prompt=NAME` journals each skill worth keeping (the initial one,
every accepted one, the final one) and, at its end, which of them is the best; the uploader
registers them (`SkillRegistrar`), so the registry work happens off the job like the rest of
its tracking, and `skillopt-sync` does it for a run tracked later. A text already registered
under NAME (same sha256) is not registered again: its version is linked to the run instead.

Skills are markdown that may hold `{{ }}` and `{% %}`: the text goes in and comes out byte
for byte, read from `PromptVersion.template`, never through `PromptVersion.format`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillopt.base.checks import SettingError, check_text
from skillopt.base.errors import SkillOptError

log = logging.getLogger("skillopt.tracking")

MAX_TEMPLATE_CHARS = 100_000  # MLflow's cap on a prompt version's text
BEST_ALIAS = "best"
SKILL_SOURCE = "skill_source.md"  # a prompts:/ skill input, as fetched into the output directory
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")  # MLflow's rule for prompt names
_URI = re.compile(r"^prompts:/(?P<name>[A-Za-z0-9_.-]+)(?:/(?P<version>\d+)|@(?P<alias>[\w.-]+))$")


class VersionTag:
    """Tags on each registered skill version."""

    RUN = "skillopt.run_id"
    STEP = "skillopt.step"
    ROLE = "skillopt.role"  # initial | accepted | final
    GATE_METRIC = "skillopt.gate_metric"
    GATE_SCORE = "skillopt.gate_score"
    SHA256 = "skillopt.sha256"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, kw_only=True)
class RegistrySettings:
    """`registry.*`. prompt: the Prompt Registry name a training run registers its skills under
    (null: none are registered). The registry is the tracking store (`tracking.uri`)."""

    prompt: str | None = None

    def __post_init__(self) -> None:
        check_text("prompt", self.prompt, optional=True)
        if self.prompt is not None and not _NAME.match(self.prompt):
            raise SettingError(
                "prompt", self.prompt, "expected letters, digits, '-', '_' and '.' only"
            )


@dataclass(frozen=True, kw_only=True)
class PromptRef:
    """`prompts:/NAME/VERSION` or `prompts:/NAME@ALIAS`."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.version}" if self.version is not None else f"@{self.alias}"
        return f"prompts:/{self.name}{tail}"


def parse_prompt_uri(text: str) -> PromptRef | None:
    """The prompt a skill input names, or None when it is a file path."""
    if not text.startswith("prompts:"):
        return None
    match = _URI.match(text.strip())
    if match is None:
        raise SkillOptError(f"{text}: expected prompts:/NAME/VERSION or prompts:/NAME@ALIAS")
    version = match.group("version")
    return PromptRef(
        name=match.group("name"),
        version=int(version) if version else None,
        alias=match.group("alias"),
    )


def check_template_size(text: str, *, what: str) -> None:
    """Refuse, before any work, a skill the registry would refuse at its end."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise SkillOptError(
            f"{what} has {len(text):,} characters; the Prompt Registry keeps at most "
            f"{MAX_TEMPLATE_CHARS:,} (set registry.prompt=null to train without registering)"
        )


def fetch_skill(ref: PromptRef, *, tracking_uri: str) -> str:
    """The text of a registered skill version, exactly as registered."""
    from mlflow.exceptions import MlflowException

    from skillopt.tracking.store import client_for

    client = client_for(tracking_uri)
    try:
        if ref.version is not None:
            found = client.get_prompt_version(ref.name, ref.version)
        else:
            found = client.get_prompt_version_by_alias(ref.name, ref.alias)
    except MlflowException as exc:
        raise SkillOptError(f"{ref}: not found in {tracking_uri} ({exc.error_code})") from None
    if found is None:
        raise SkillOptError(f"{ref}: not found in {tracking_uri}")
    if not isinstance(found.template, str):
        raise SkillOptError(f"{ref}: a chat prompt, not a text skill")
    return found.template


def materialize_skill(source: str, *, tracking_uri: str, out_dir: Path) -> Path:
    """The skill file a job reads: `source` itself, or the registered text it names written
    into the job's output directory (`skill_source.md`, byte for byte)."""
    ref = parse_prompt_uri(source)
    if ref is None:
        return Path(source).expanduser()
    if not tracking_uri:
        raise SkillOptError(f"{source}: a prompts:/ skill needs tracking.uri (the registry)")
    text = fetch_skill(ref, tracking_uri=tracking_uri)
    path = out_dir / SKILL_SOURCE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    log.info("skill %s (%d characters) -> %s", ref, len(text), path)
    return path


def read_exact(path: Path) -> str:
    """A file's text with its line endings as they are."""
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


class SkillRegistrar:
    """Registers journaled skill versions under their prompt name (see the module docstring)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._versions: dict[str, dict[str, int]] = {}  # prompt -> sha256 -> version

    def _known(self, name: str) -> dict[str, int]:
        """sha256 -> version of every version of `name` registered so far."""
        if name in self._versions:
            return self._versions[name]
        from mlflow.exceptions import MlflowException

        known: dict[str, int] = {}
        token = None
        while True:
            try:
                page = self.client.search_prompt_versions(name, max_results=1000, page_token=token)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
                break
            for version in page:
                if isinstance(version.template, str):
                    sha = version.tags.get(VersionTag.SHA256) or sha256_text(version.template)
                    known.setdefault(sha, int(version.version))
            token = page.token
            if not token:
                break
        self._versions[name] = known
        return known

    def register(self, record: dict[str, Any], *, run_id: str | None) -> None:
        """One journal record: a skill version ({prompt, role, step, text, ...}) or an alias
        ({prompt, alias, sha256})."""
        name = record["prompt"]
        known = self._known(name)
        if "alias" in record:
            version = known.get(record["sha256"])
            if version is None:
                log.warning("registry: no version of %s has the %s skill", name, record["alias"])
                return
            self.client.set_prompt_alias(name, record["alias"], version)
            return
        text = record["text"]
        sha = sha256_text(text)
        version = known.get(sha)
        if version is None:
            tags = {
                VersionTag.RUN: run_id or "",
                VersionTag.STEP: str(record["step"]),
                VersionTag.ROLE: record["role"],
                VersionTag.SHA256: sha,
            }
            if record.get("gate_metric") is not None:
                tags[VersionTag.GATE_METRIC] = str(record["gate_metric"])
            if record.get("gate_score") is not None:
                tags[VersionTag.GATE_SCORE] = repr(float(record["gate_score"]))
            created = self.client.register_prompt(
                name=name,
                template=text,
                commit_message=f"{record['role']} skill, step {record['step']}",
                tags=tags,
            )
            version = known[sha] = int(created.version)
            log.info(
                "registry: %s version %d (%s, step %s)",
                name,
                version,
                record["role"],
                record["step"],
            )
        if run_id is not None:
            self.client.link_prompt_version_to_run(run_id, f"prompts:/{name}/{version}")
