"""Report sections from Jinja2 templates, one set per task type, escaped once per output format.

`templates/<name>.md.j2` renders Markdown: every `{{ value }}` goes through :func:`md_escape` (the
environment's `finalize`), so no template can forget to escape and nothing is escaped twice; a value
already in Markdown is passed as :class:`Raw`. `templates/<name>.html.j2` renders HTML with Jinja2's
autoescaping. Adding a task type = adding its templates and one line in TASK_SECTIONS.
"""

from __future__ import annotations

import html
import re
from typing import Any

import jinja2

__all__ = ["TASK_SECTIONS", "Raw", "e", "md_escape", "render_section"]

#: The task-specific sections of the report, per task type (templates/<section>.{md,html}.j2), shown after the
#: per-language results tables.
TASK_SECTIONS: dict[str, list[str]] = {
    "classification": ["classification"],
    "token_classification": ["token_classification"],
    "generative_qa": ["generative_qa"],
}

_MD_SPECIAL = str.maketrans({"\\": "\\\\", "`": "\\`", "*": "\\*", "|": "\\|", "[": "\\[", "]": "\\]",
                             "\n": " ", "\r": " "})
#: A tag-like token (<unk>, <b>, </s>) becomes a code span; any other < (and & starting an entity) is
#: backslash-escaped. A lone > cannot open HTML and our lines never start with it, so it stays readable.
_MD_ANGLE = re.compile(r"(<[A-Za-z/!][^<>\s`\\|&]{0,40}>)|(<|&(?=#?\w+;))")


class Raw(str):
    """Text that is already Markdown (or already-escaped HTML): templates output it as is."""


def md_escape(text: object) -> str:
    """Escape text once for Markdown (CommonMark): no raw HTML, no emphasis, no broken tables.

    Markdown is not HTML: `<unk>` is written as the code span `` `<unk>` `` (shown as <unk>), never as
    `&lt;unk&gt;`; any other `<`, and an `&` that would start an entity, get a backslash.
    """
    if isinstance(text, Raw):
        return str(text)
    escaped = str(text).translate(_MD_SPECIAL)
    return _MD_ANGLE.sub(lambda m: f"`{m.group(1)}`" if m.group(1) else "\\" + m.group(2), escaped)


def e(text: object) -> str:
    """Escape text once for HTML (attributes included)."""
    return str(text) if isinstance(text, Raw) else html.escape(str(text), quote=True)


def _finalize_md(value: Any) -> str:
    return "" if value is None else md_escape(value)


_LOADER = jinja2.PackageLoader("polyglot_transfer.evaluation", "templates")
_ENV = {
    "md": jinja2.Environment(loader=_LOADER, autoescape=False, finalize=_finalize_md, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False),
    "html": jinja2.Environment(loader=_LOADER, autoescape=True, undefined=jinja2.StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True),
}
for _env in _ENV.values():
    _env.filters["f2"] = lambda x: "—" if x is None else f"{x:.2f}"
    _env.filters["pct"] = lambda x: "—" if x is None else f"{x:.0%}"


def render_section(name: str, fmt: str, **context: Any) -> str:
    """Render templates/<name>.<fmt>.j2 (fmt: "md" or "html") with `context`."""
    return _ENV[fmt].get_template(f"{name}.{fmt}.j2").render(**context).strip("\n")
