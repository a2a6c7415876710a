"""A job's output files as its run's artifacts, uploaded as they appear, each once.

The mirror walks its sources (output folders, root files, a few single files under an artifact
name) and uploads what is new or changed since its last pass (size and modification time): it
links them into a staging tree laid out like the artifacts and uploads the tree in one
`log_artifacts` call (a local store checks and copies a tree at once; per file it checks every
path again). Passes run on the tracking worker while the job goes on, so at the job's end only
its last files are left; a pass is also what completes the artifacts of a run whose server was
away.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Source:
    """Files to mirror. `path` is a folder (every file below it, under `artifact_path` and its
    relative folder) or a file (uploaded under `artifact_path`, renamed to `name` if given)."""

    path: Path
    artifact_path: str | None
    name: str | None = None


class ArtifactMirror:
    """Uploads the sources' files into the run's artifacts; `sync` is safe to call repeatedly."""

    def __init__(self, client: Any, run_id: str, sources: list[Source]) -> None:
        self.client = client
        self.run_id = run_id
        self.sources = list(sources)
        self.uploaded: dict[tuple[str, str], tuple[int, int]] = {}
        self._lock = threading.Lock()

    def add(self, source: Source) -> None:
        with self._lock:
            self.sources.append(source)

    def _files(self) -> list[tuple[Path, str | None, str]]:
        """(local file, artifact folder, file name) of every file the sources hold now."""
        found: list[tuple[Path, str | None, str]] = []
        with self._lock:
            sources = list(self.sources)
        for source in sources:
            if source.path.is_file():
                found.append((source.path, source.artifact_path, source.name or source.path.name))
            elif source.path.is_dir():
                for path in sorted(source.path.rglob("*")):
                    if not path.is_file() or path.name.startswith("."):
                        continue  # atomic writes leave .<name>.tmp files while they write
                    rel = path.parent.relative_to(source.path).as_posix()
                    folder = source.artifact_path or ""
                    folder = posixpath.join(folder, rel) if rel != "." else folder
                    found.append((path, folder or None, path.name))
        return found

    def pending(self) -> list[tuple[Path, str | None, str]]:
        """The files not uploaded yet, or changed since."""
        out = []
        for path, folder, name in self._files():
            stat = path.stat()
            key = (folder or "", name)
            if self.uploaded.get(key) != (stat.st_size, stat.st_mtime_ns):
                out.append((path, folder, name))
        return out

    def sync(self) -> int:
        """Upload what is pending; returns how many files were uploaded."""
        pending = self.pending()
        if not pending:
            return 0
        stamps = {}
        with tempfile.TemporaryDirectory(prefix="skillopt-artifacts-") as staging:
            root = Path(staging)
            for path, folder, name in pending:
                stat = path.stat()
                stamps[(folder or "", name)] = (stat.st_size, stat.st_mtime_ns)
                destination = root / (folder or "") / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path, destination)
                except OSError:  # another file system, or links not allowed: copy instead
                    shutil.copyfile(path, destination)
            self.client.log_artifacts(self.run_id, str(root))
        self.uploaded.update(stamps)
        return len(pending)
