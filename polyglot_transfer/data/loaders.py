"""Load a labelled (or unlabelled) text table from JSONL, JSON, CSV or TSV into a :class:`TextDataset`.

Canonical columns are ``text``, ``label``, ``lang`` and ``id``; ``columns`` maps them to the names a file
actually uses. Columns that are not mapped are kept in each example's ``meta``. Every error names the
file, the row (and line) and how to fix it.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from polyglot_transfer.data.dataset import Example, TextDataset
from polyglot_transfer.errors import DataError, LanguageError, did_you_mean
from polyglot_transfer.languages import resolve_language

logger = logging.getLogger(__name__)

__all__ = ["load_table", "CANONICAL_COLUMNS", "FORMATS"]

CANONICAL_COLUMNS = ("text", "label", "lang", "id")
FORMATS = ("jsonl", "json", "csv", "tsv")
_SUFFIX_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv"}

# Passages can be long: lift the csv module's 128 KiB field limit.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _infer_format(path: Path, format: str | None) -> str:
    if format is not None:
        fmt = format.lower().lstrip(".")
        if fmt == "ndjson":
            fmt = "jsonl"
        if fmt not in FORMATS:
            raise DataError(
                f"Unknown table format {format!r} for {path}.{did_you_mean(fmt, FORMATS)} "
                f"Expected one of: {', '.join(FORMATS)}."
            )
        return fmt
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"Cannot tell the format of {path} from its suffix {path.suffix!r}: expected .jsonl, .json, .csv or "
            f".tsv. Rename the file or pass format='jsonl' (or 'csv', 'tsv')."
        )
    return fmt


def _json_rows(path: Path, fmt: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (where, object) for JSON Lines, or, for format 'json', a JSON array when the file starts with '['."""
    with open(path, encoding="utf-8-sig") as f:
        head = f.read(4096).lstrip()
        f.seek(0)
        if fmt == "json" and head.startswith("["):
            try:
                data = json.load(f)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path}:{exc.lineno}: invalid JSON ({exc.msg}). Fix the file or save it as JSON Lines."
                ) from None
            for i, obj in enumerate(data, start=1):
                if not isinstance(obj, dict):
                    raise DataError(
                        f"{path}: item {i} of the JSON array is a {type(obj).__name__}, expected an object."
                    )
                yield f"{path} item {i}", obj
            return
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno}). Each line must hold one "
                    "JSON object; fix or remove that line."
                ) from None
            if not isinstance(obj, dict):
                raise DataError(
                    f"{path}:{lineno}: expected a JSON object per line, got a {type(obj).__name__}. "
                    'Write each row as {"text": ..., "label": ...}.'
                )
            yield f"{path}:{lineno}", obj


def _csv_rows(path: Path, delimiter: str) -> tuple[list[str], Iterator[tuple[str, dict[str, Any]]], Any]:
    """(header, rows, close): the rows generator closes the file when it ends; call `close` if it never starts."""
    f = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed by the generator below
    reader = csv.reader(f, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        f.close()
        raise DataError(f"{path} is empty: expected a header row (e.g. 'id,text,label') and data rows.") from None
    except csv.Error as exc:
        f.close()
        raise DataError(f"{path}:1: cannot parse the header ({exc}).") from None
    except BaseException:  # e.g. UnicodeDecodeError, turned into a DataError by the caller
        f.close()
        raise
    header = [h.strip() for h in header]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        f.close()
        raise DataError(
            f"{path}: the header repeats column(s) {', '.join(map(repr, dupes))}; column names must be unique."
        )

    kind = "TSV" if delimiter == "\t" else "CSV"

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        with f:
            row_number = 0
            start_line = reader.line_num + 1
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise DataError(
                        f"{path} row {row_number + 1} (line {start_line}): malformed {kind} "
                        f"({exc}). Check the quoting of that row."
                    ) from None
                where = f"{path} row {row_number + 1} (line {start_line})"
                start_line = reader.line_num + 1
                if not values or all(not v.strip() for v in values):
                    continue
                row_number += 1
                if len(values) != len(header):
                    unclosed = (
                        f" A quote opened on line {where.rsplit('line ', 1)[1].rstrip(')')} may not be closed."
                        if any("\n" in v for v in values)
                        else ""
                    )
                    raise DataError(
                        f"{where}: has {len(values)} fields but the header has {len(header)} "
                        f"({', '.join(header)}). Quote fields that contain the delimiter or line breaks.{unclosed}"
                    )
                yield where, dict(zip(header, values, strict=True))

    return header, rows(), f.close


def load_table(
    path: str | Path,
    *,
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    lang: str | None = None,
    name: str | None = None,
    label_required: bool = False,
) -> TextDataset:
    """Read a JSONL / JSON / CSV / TSV table into a TextDataset.

    Args:
        path: the file. Its suffix gives the format unless `format` is set.
        format: 'jsonl', 'json' (JSON Lines or a JSON array), 'csv' or 'tsv'.
        columns: canonical -> source column, e.g. ``{"text": "sentence", "label": "sentiment"}``.
        lang: language of every row (any alias, resolved); a ``lang`` column, when present and
            non-empty in a row, takes precedence.
        name: dataset name (default: the file stem).
        label_required: raise when a row has no label.

    Rows without an id get ``"<file stem>-<row>"`` (row counted from 1, blank lines not counted).
    Unmapped columns go to `meta` (a ``meta`` object, as written from ``TextDataset.to_records()``, is
    merged into it).
    """
    path, fmt = _table_path(path, format)
    try:
        return _load(path, fmt, columns, lang, name, label_required)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not valid UTF-8 ({exc.reason} at byte {exc.start}). Re-save the file as UTF-8."
        ) from None


def _table_path(path: str | Path, format: str | None) -> tuple[Path, str]:
    """The table file and its format, refused with a clear message when missing or a folder."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist. Check the path (relative paths are taken from {Path.cwd()}).")
    if path.is_dir():
        raise DataError(f"{path} is a folder; expected a .jsonl, .json, .csv or .tsv file.")
    return path, _infer_format(path, format)


def iter_table(
    path: str | Path,
    *,
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    lang: str | None = None,
    label_required: bool = False,
) -> Iterator[Example]:
    """The rows of a table as `load_table` reads them, one Example at a time (the file is read as it is
    consumed, never whole; JSON arrays excepted), with the same checks and messages."""
    path, fmt = _table_path(path, format)
    try:
        yield from _iter_rows(path, fmt, columns, lang, label_required)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not valid UTF-8 ({exc.reason} at byte {exc.start}). Re-save the file as UTF-8."
        ) from None


def _load(
    path: Path,
    fmt: str,
    columns: Mapping[str, str] | None,
    lang: str | None,
    name: str | None,
    label_required: bool,
) -> TextDataset:
    examples = list(_iter_rows(path, fmt, columns, lang, label_required))
    if not examples:
        text_column = (columns or {}).get("text", "text")
        raise DataError(f"{path} has no data rows. Expected at least one row with a {text_column!r} value.")
    logger.debug("Loaded %d rows from %s", len(examples), path)
    return TextDataset(examples, name=name or path.stem)


def _iter_rows(
    path: Path,
    fmt: str,
    columns: Mapping[str, str] | None,
    lang: str | None,
    label_required: bool,
) -> Iterator[Example]:
    mapping = {c: c for c in CANONICAL_COLUMNS}
    explicit: set[str] = set()
    for key, source in (columns or {}).items():
        if key not in CANONICAL_COLUMNS:
            raise DataError(
                f"columns has an unknown key {key!r}.{did_you_mean(key, CANONICAL_COLUMNS)} Keys are canonical "
                f"column names ({', '.join(CANONICAL_COLUMNS)}) and values are the file's column names, "
                "e.g. columns={'text': 'sentence'}."
            )
        if not isinstance(source, str) or not source:
            raise DataError(f"columns[{key!r}] must be a column name (a non-empty string); got {source!r}.")
        mapping[key] = source
        explicit.add(key)

    default_lang: str | None = None
    if lang is not None:
        default_lang = resolve_language(lang).code

    if fmt in ("csv", "tsv"):
        header, rows, close = _csv_rows(path, "," if fmt == "csv" else "\t")
        try:
            _check_header(path, header, mapping, explicit, label_required, default_lang)
        except BaseException:
            close()  # the rows generator never started, so it cannot close the file itself
            raise
    else:
        header = None
        rows = _json_rows(path, fmt)

    stem = path.stem
    seen_ids: dict[str, str] = {}
    lang_cache: dict[str, str] = {}
    used = set(mapping.values())
    for row_number, (where, row) in enumerate(rows, start=1):
        if header is None:  # JSON: columns are checked row by row
            if mapping["text"] not in row:
                raise _missing_column_error(where, "text", mapping["text"], list(row))
            for key in ("label", "lang", "id"):
                if key in explicit and mapping[key] not in row:
                    raise _missing_column_error(where, key, mapping[key], list(row))

        text = row[mapping["text"]]
        if text is None or (isinstance(text, str) and not text.strip()):
            raise DataError(f"{where}: empty text in column {mapping['text']!r}. Fill it in or remove the row.")
        if not isinstance(text, str):
            raise DataError(
                f"{where}: text in column {mapping['text']!r} must be a string; got {type(text).__name__} {text!r}."
            )

        label = _cell(row.get(mapping["label"]))
        if label is None and label_required:
            raise DataError(
                f"{where}: no label (column {mapping['label']!r} is missing or empty) and labels are required. "
                "Fill it in, remove the row, or map the label column with columns={'label': ...}."
            )

        row_lang = _cell(row.get(mapping["lang"]))
        if row_lang is not None:
            if row_lang not in lang_cache:
                try:
                    lang_cache[row_lang] = resolve_language(row_lang).code
                except LanguageError as exc:
                    raise LanguageError(f"{where}: {exc}") from None
            lang_code = lang_cache[row_lang]
        elif default_lang is not None:
            lang_code = default_lang
        else:
            raise DataError(
                f"{where}: no language given. Pass lang='yor_Latn' (any ISO 639-3 code with a script) to "
                f"load_table, or add a {mapping['lang']!r} column."
            )

        raw_id = _cell(row.get(mapping["id"]))
        if raw_id is None:
            if "id" in explicit or (header is not None and mapping["id"] in header):
                raise DataError(f"{where}: empty id in column {mapping['id']!r}. Fill it in or drop the id column.")
            raw_id = f"{stem}-{row_number}"
        if raw_id in seen_ids:
            raise DataError(
                f"{where}: duplicate id {raw_id!r} (first seen at {seen_ids[raw_id]}). Ids must be unique."
            )
        seen_ids[raw_id] = where

        meta = {k: v for k, v in row.items() if k not in used}
        if isinstance(meta.get("meta"), dict):  # a file written from TextDataset.to_records()
            meta = {**meta.pop("meta"), **meta}
        yield Example(id=raw_id, text=text, label=label, lang=lang_code, meta=meta)


def _cell(value: Any) -> str | None:
    """A cell as a stripped string, None when missing or empty. Numbers and booleans become strings."""
    if value is None:
        return None
    if isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, float) and value.is_integer():
        value = str(int(value))
    elif not isinstance(value, str):
        value = str(value) if isinstance(value, int | float) else json.dumps(value, ensure_ascii=False)
    value = value.strip()
    return value or None


def _missing_column_error(where: str, key: str, source: str, available: list[str]) -> DataError:
    hint = did_you_mean(source, available)
    return DataError(
        f"{where} has no column {source!r} (columns: {', '.join(available)}).{hint} "
        f"Map it with columns={{{key!r}: ...}}."
    )


def _check_header(
    path: Path,
    header: list[str],
    mapping: dict[str, str],
    explicit: set[str],
    label_required: bool,
    default_lang: str | None,
) -> None:
    if mapping["text"] not in header:
        raise _missing_column_error(str(path), "text", mapping["text"], header)
    for key in ("label", "lang", "id"):
        if key in explicit and mapping[key] not in header:
            raise _missing_column_error(str(path), key, mapping[key], header)
    if label_required and mapping["label"] not in header:
        raise _missing_column_error(str(path), "label", mapping["label"], header)
    if default_lang is None and mapping["lang"] not in header:
        raise DataError(
            f"{path}: no language given: it has no {mapping['lang']!r} column (columns: {', '.join(header)}). "
            "Pass lang='yor_Latn' (any ISO 639-3 code with a script) or map a column with columns={'lang': ...}."
        )
