"""A job's output files as its run's artifacts, uploaded as they appear, each once.

The mirror walks its sources (output folders, root files, a few single files under an artifact
name) and uploads what is new or changed since its last pass (size and modification time): it
links them into a staging tree laid out like the artifacts and uploads the tree in one
`log_artifacts` call (a local store checks and copies a tree at once; per file it checks every
path again), or, to a server (whose API takes one file per request), `parallel` files at once.
Passes run in the tracking agent while the job goes on, so at the job's end only its
last files are left; a pass is also what completes the artifacts of a run whose server was
away.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
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
    """Uploads the sources' files into a run's artifacts; `sync` is safe to call repeatedly.

    `uploaded` maps each uploaded file's artifact path to its (size, mtime_ns) then; the
    uploader keeps it in its progress file, so a later pass uploads only what changed."""

    def __init__(
        self,
        sources: list[Source],
        uploaded: dict[str, list[int]] | None = None,
        *,
        parallel: int = 1,
    ) -> None:
        self.sources = list(sources)
        self.uploaded: dict[str, list[int]] = dict(uploaded or {})
        self.parallel = parallel

    def _files(self) -> list[tuple[Path, str | None, str]]:
        """(local file, artifact folder, file name) of every file the sources hold now."""
        found: list[tuple[Path, str | None, str]] = []
        for source in self.sources:
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
            if self.uploaded.get(posixpath.join(folder or "", name)) != [
                stat.st_size,
                stat.st_mtime_ns,
            ]:
                out.append((path, folder, name))
        return out

    def sync(self, client: Any, run_id: str) -> int:
        """Upload what is pending into run `run_id`; returns how many files were uploaded."""
        pending = self.pending()
        if not pending:
            return 0
        stamps = {}
        with tempfile.TemporaryDirectory(prefix="skillopt-artifacts-") as staging:
            root = Path(staging)
            for path, folder, name in pending:
                stat = path.stat()
                stamps[posixpath.join(folder or "", name)] = [stat.st_size, stat.st_mtime_ns]
                destination = root / (folder or "") / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path, destination)
                except OSError:  # another file system, or links not allowed: copy instead
                    shutil.copyfile(path, destination)
            if self.parallel > 1:
                self._upload_each(client, run_id, root)
            else:
                client.log_artifacts(run_id, str(root))
        self.uploaded.update(stamps)
        return len(pending)

    def _upload_each(self, client: Any, run_id: str, root: Path) -> None:
        """One request per file (a server's artifact API takes no trees), `parallel` at once."""
        files = [p for p in root.rglob("*") if p.is_file()]
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            uploads = [
                pool.submit(
                    client.log_artifact,
                    run_id,
                    str(path),
                    path.parent.relative_to(root).as_posix() if path.parent != root else None,
                )
                for path in files
            ]
            for upload in uploads:
                upload.result()
