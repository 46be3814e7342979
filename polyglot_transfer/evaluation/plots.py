"""Report plots as inline SVG strings (matplotlib Figure objects without pyplot: no display, no global state).

Every function returns an ``<svg>...</svg>`` fragment ready to paste into an HTML page: no XML
declaration, no DOCTYPE, no metadata block, no external references, and element ids prefixed with
a caller-chosen ``key`` so that several plots can live in one document without id clashes.
Output is deterministic for the same input (fixed hash salt, no timestamps).
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from polyglot_transfer.errors import DataError

__all__ = ["CIPoint", "ci_plot", "heatmap", "figure_to_svg", "SETUP_COLOURS"]

#: Colour cycle used for setups, shared by plots and report tables (colour-blind friendly, Okabe-Ito).
SETUP_COLOURS: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)

_RC = {
    "svg.fonttype": "none",  # keep text as <text>: small, selectable, browser fonts cover every script
    "svg.hashsalt": "polyglot-transfer",  # deterministic clip-path / marker ids
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#555555",
    "axes.labelcolor": "#222222",
    "xtick.color": "#444444",
    "ytick.color": "#444444",
}
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
_KEY_RE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class CIPoint:
    """One point with a confidence interval; ``value=None`` means "no result" and is drawn as "—" (no result)."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    highlight: bool = False


def _safe_text(text: str) -> str:
    """Stop matplotlib from reading ``$...$`` in user labels as mathtext."""
    return str(text).replace("$", r"\$")


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _sanitize_key(key: str) -> str:
    cleaned = _KEY_RE.sub("-", str(key)).strip("-")
    return cleaned or "plot"


def figure_to_svg(fig: Figure, key: str = "plot") -> str:
    """Render ``fig`` to an inline ``<svg>`` fragment.

    Ids (and the ``url(#...)`` / ``href="#..."`` references to them) are prefixed with ``key``.
    """
    prefix = _sanitize_key(key)
    buf = io.StringIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*[Gg]lyph .* missing.*")
        fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.08, metadata=_NO_METADATA)
    svg = buf.getvalue()
    start = svg.find("<svg")
    if start < 0:  # pragma: no cover - matplotlib always writes an <svg> root
        raise RuntimeError("matplotlib produced no <svg> element")
    svg = svg[start:].strip()
    # HTML5 parses inline SVG without namespace declarations; dropping them keeps the page URL-free.
    svg = re.sub(r'\s+xmlns(?::xlink)?="[^"]*"', "", svg)
    svg = re.sub(r'(\sid=")([^"]+")', rf"\g<1>{prefix}-\g<2>", svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\g<1>)", svg)
    svg = re.sub(r'((?:xlink:)?href=")#([^"]+")', rf"\g<1>#{prefix}-\g<2>", svg)
    svg = svg.replace("<svg", f'<svg class="pgt-plot" role="img" data-key="{prefix}"', 1)
    return svg


def ci_plot(
    points: Sequence[CIPoint],
    *,
    title: str,
    xlabel: str,
    reference: float | None = None,
    reference_label: str | None = None,
    xlim: tuple[float, float] | None = None,
    colours: Sequence[str] | None = None,
    key: str = "ci",
) -> str:
    """Forest plot: one row per point (a dot and its confidence interval), top to bottom in order.

    ``reference`` draws a dashed vertical line (e.g. the baseline's value); ``highlight`` points are
    drawn larger with a bold label (e.g. the best setup). Points without a value are labelled "— (no result)".
    Returns an inline SVG fragment.
    """
    if not points:
        raise DataError("ci_plot got no points; expected at least one CIPoint. Pass the setups to plot.")
    colours = list(colours) if colours else list(SETUP_COLOURS)
    n = len(points)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(5.6, 0.42 * n + 1.05))
        ax = fig.subplots()
        ys = list(range(n))[::-1]  # first point at the top
        for i, (p, y) in enumerate(zip(points, ys, strict=True)):
            colour = colours[i % len(colours)]
            if not _is_number(p.value):
                ax.text(0.02, y, "— (no result)", transform=ax.get_yaxis_transform(), va="center", color="#888888",
                        fontstyle="italic")
                continue
            lo = p.low if _is_number(p.low) else p.value
            hi = p.high if _is_number(p.high) else p.value
            ax.plot([lo, hi], [y, y], color=colour, linewidth=2.2 if p.highlight else 1.6,
                    solid_capstyle="butt", zorder=2)
            for end in (lo, hi):
                ax.plot([end, end], [y - 0.14, y + 0.14], color=colour, linewidth=1.4, zorder=2)
            ax.plot([p.value], [y], marker="o", markersize=8.5 if p.highlight else 6.5, color=colour,
                    markeredgecolor="white", markeredgewidth=1.0, zorder=3)
            ax.annotate(f"{p.value:.2f}", (hi, y), xytext=(6, 0), textcoords="offset points",
                        ha="left", va="center", fontsize=8, color="#333333",
                        fontweight="bold" if p.highlight else "normal")
        if _is_number(reference):
            ax.axvline(reference, color="#777777", linestyle="--", linewidth=1, zorder=1)
            if reference_label:
                ax.annotate(_safe_text(reference_label), xy=(reference, 1.0), xycoords=("data", "axes fraction"),
                            xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=8,
                            color="#555555")
        ax.set_yticks(ys)
        ax.set_yticklabels([_safe_text(p.label) for p in points])
        for tick, p in zip(ax.get_yticklabels(), points, strict=True):
            if p.highlight:
                tick.set_fontweight("bold")
        ax.set_ylim(-0.7, n - 0.3)
        if xlim is not None:
            ax.set_xlim(*xlim)
        ax.set_xlabel(_safe_text(xlabel))
        fig.suptitle(_safe_text(title), x=0.01, ha="left", fontsize=11, fontweight="bold")
        ax.grid(axis="x", color="#e5e5e5", linewidth=0.8, zorder=0)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        fig.tight_layout()
        return figure_to_svg(fig, key)


def heatmap(
    matrix: Sequence[Sequence[float | None]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "YlGnBu",
    fmt: str = "{:.2f}",
    colorbar_label: str | None = None,
    key: str = "heatmap",
) -> str:
    """Annotated heatmap of ``matrix[row][col]``; ``None``/NaN cells are grey and read "—".

    Generic on purpose: setups x languages for a metric, or source x target for a transfer matrix.
    Returns an inline SVG fragment.
    """
    rows = [list(r) for r in matrix]
    if len(rows) != len(row_labels):
        raise DataError(
            f"heatmap got {len(rows)} matrix rows but {len(row_labels)} row labels; expected one label per row."
        )
    if not rows or not col_labels:
        raise DataError("heatmap got an empty matrix; expected at least one row and one column.")
    for i, r in enumerate(rows):
        if len(r) != len(col_labels):
            raise DataError(
                f"heatmap row {i} has {len(r)} values but there are {len(col_labels)} column labels; "
                "expected a rectangular matrix."
            )
    values = [[float(v) if _is_number(v) else math.nan for v in r] for r in rows]
    finite = [v for r in values for v in r if not math.isnan(v)]
    lo = vmin if vmin is not None else (min(finite) if finite else 0.0)
    hi = vmax if vmax is not None else (max(finite) if finite else 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    n_rows, n_cols = len(rows), len(col_labels)
    with matplotlib.rc_context(_RC):
        width = min(max(0.8 * n_cols + 2.8, 4.5), 12.0)
        height = min(max(0.55 * n_rows + 1.5, 2.4), 12.0)
        fig = Figure(figsize=(width, height))
        ax = fig.subplots()
        colour_map = matplotlib.colormaps[cmap].with_extremes(bad="#eeeeee")
        data = np.ma.masked_invalid(np.array(values, dtype=float))
        image = ax.imshow(data, cmap=colour_map, vmin=lo, vmax=hi, aspect="auto")
        for i in range(n_rows):
            for j in range(n_cols):
                v = values[i][j]
                if math.isnan(v):
                    ax.text(j, i, "—", ha="center", va="center", fontsize=9, color="#777777",
                            fontstyle="italic")
                    continue
                r, g, b, _ = colour_map((v - lo) / (hi - lo))
                luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=9,
                        color="white" if luminance < 0.5 else "#111111")
        ax.set_xticks(range(n_cols))
        ax.set_xticklabels([_safe_text(c) for c in col_labels], rotation=30 if n_cols > 4 else 0,
                           ha="right" if n_cols > 4 else "center")
        ax.set_yticks(range(n_rows))
        ax.set_yticklabels([_safe_text(r) for r in row_labels])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xticks([x - 0.5 for x in range(1, n_cols)], minor=True)
        ax.set_yticks([y - 0.5 for y in range(1, n_rows)], minor=True)
        ax.grid(which="minor", color="white", linewidth=2)
        ax.tick_params(which="minor", length=0)
        ax.set_title(_safe_text(title), loc="left", fontsize=11, fontweight="bold")
        bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
        bar.outline.set_visible(False)
        if colorbar_label:
            bar.set_label(_safe_text(colorbar_label))
        fig.tight_layout()
        return figure_to_svg(fig, key)
