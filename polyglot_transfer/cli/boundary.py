"""The CLI's one error boundary: any exception -> a short message (what was received, what was expected, how
to fix it) and an exit code. `--debug` or PGT_DEBUG=1 adds the traceback.

Exit codes: 0 success; 1 unexpected error (a bug: rerun with --debug and report it); 2 bad config or usage;
3 bad data; 4 model problem; 5 integrity check failed (corrupt or tampered file); 6 unsupported combination;
7 file-system problem (permission denied, read-only, disk full, a file where a folder should be);
130 interrupted.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import traceback

from polyglot_transfer.errors import PGTError

EXIT_UNEXPECTED = 1
EXIT_CONFIG = 2
EXIT_DATA = 3
EXIT_INTEGRITY = 5
EXIT_UNSUPPORTED = 6
EXIT_IO = 7
EXIT_INTERRUPTED = 130

DEBUG_ENV = "PGT_DEBUG"


def debug_enabled(flag: bool = False) -> bool:
    return flag or os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _target(exc: OSError) -> str:
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    return " -> ".join(names) if names else "a file"


def _os_error(exc: OSError) -> tuple[int, str]:
    target = _target(exc)
    code = exc.errno
    if code == errno.ENOSPC or code == errno.EDQUOT:
        return EXIT_IO, (f"disk full while writing {target}. Free space on that disk (or point --output-dir / "
                         "PGT_CACHE_DIR elsewhere) and rerun the same command: finished work is kept.")
    if code == errno.EROFS:
        return EXIT_IO, (f"{target} is on a read-only file system. Choose a writable folder (--output-dir, "
                         "output_dir in the config, or PGT_CACHE_DIR).")
    if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM):
        return EXIT_IO, (f"permission denied on {target}. Fix its permissions (e.g. chmod u+rwx) or choose a "
                         "folder you can write (--output-dir or output_dir in the config).")
    if isinstance(exc, (NotADirectoryError, FileExistsError)) or code in (errno.ENOTDIR, errno.EEXIST):
        return EXIT_IO, (f"a file is in the way at {target}: a folder was expected there. Move the file away or "
                         "choose another folder (--output-dir or output_dir in the config).")
    if isinstance(exc, IsADirectoryError):
        return EXIT_IO, f"{target} is a folder, but a file was expected there. Pass the path of a file."
    if isinstance(exc, FileNotFoundError):
        return EXIT_IO, f"{target} does not exist. Check the path (relative paths start at {os.getcwd()})."
    return EXIT_IO, f"cannot read or write {target}: {exc.strerror or exc}."


def describe(exc: BaseException) -> tuple[int, str]:
    """(exit code, one message) for any exception that reaches the CLI."""
    if isinstance(exc, PGTError):
        return exc.exit_code, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted: rerun the same command to resume where it stopped"
    if isinstance(exc, OSError):
        return _os_error(exc)
    kind = type(exc).__name__
    module = type(exc).__module__ or ""
    if kind == "SafetensorError" or module.startswith("safetensors"):
        return EXIT_INTEGRITY, (f"a safetensors weights file is damaged or truncated ({exc}). Provision the model "
                                "again (`pgt models pull NAME --force`, then `pgt models verify NAME`), or delete the "
                                "run folder's models/ entry so that it is trained again.")
    if isinstance(exc, json.JSONDecodeError):
        return EXIT_INTEGRITY, (f"a JSON file is corrupt (line {exc.lineno}, column {exc.colno}: {exc.msg}). If it "
                                "is a model's config.json, pull the model again (`pgt models pull NAME --force`); if "
                                "it is in a run folder, delete that file and rerun.")
    if isinstance(exc, UnicodeDecodeError):
        return EXIT_DATA, (f"a file is not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} at offset "
                           f"{exc.start}). Save it as UTF-8.")
    if module.startswith("yaml"):
        return EXIT_CONFIG, f"not valid YAML: {exc}"
    if isinstance(exc, MemoryError):
        return EXIT_UNEXPECTED, ("out of memory. Lower batch_size / max_length in the config, use fewer workers, or "
                                 "a smaller model.")
    if isinstance(exc, ModuleNotFoundError):
        return EXIT_UNSUPPORTED, (f"the package {exc.name!r} is not installed, and this command needs it. Install "
                                  f"it (pip install {exc.name}) or choose an option that does not need it.")
    return EXIT_UNEXPECTED, (f"unexpected error: {kind}: {exc}. This is a bug in polyglot-transfer; rerun with "
                             f"--debug (or {DEBUG_ENV}=1) for the traceback and report it.")


def report(exc: BaseException, *, debug: bool = False) -> int:
    """Print `exc` as the CLI shows it (with the traceback under --debug) and return the exit code."""
    code, message = describe(exc)
    if debug_enabled(debug):
        traceback.print_exception(exc, file=sys.stderr)
    prefix = "" if code == EXIT_INTERRUPTED else "error: "
    print(f"{prefix}{message}", file=sys.stderr)
    return code
