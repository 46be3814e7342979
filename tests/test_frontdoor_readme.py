"""The README's Python quickstart runs as written (only the model name is swapped for a tiny model)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from polyglot_transfer.data.corpora import load_demo_corpus

REPO = Path(__file__).resolve().parents[1]
MODEL_LINE = re.compile(r'^MODEL = "intfloat/multilingual-e5-small"(  #.*)?$', re.MULTILINE)


def quickstart_code() -> str:
    """The ```python block that follows the python-quickstart marker in README.md."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    marker = text.index("<!-- python-quickstart")
    match = re.compile(r"```python\n(.*?)\n```", re.DOTALL).search(text, marker)
    assert match is not None, "README.md: no ```python block after the python-quickstart marker"
    return match.group(1)


def test_readme_python_quickstart_runs_as_written(tiny_encoder, tmp_path, monkeypatch, capsys) -> None:
    code = quickstart_code()
    assert len(MODEL_LINE.findall(code)) == 1, "the quickstart sets MODEL once, on its own line"
    code = MODEL_LINE.sub(f"MODEL = {str(tiny_encoder)!r}", code)
    monkeypatch.chdir(tmp_path)  # another folder: the example config and corpus come from the package
    exec(compile(code, "README.md (python quickstart)", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    report = Path("runs") / "quickstart" / "report.md"
    assert f"report: {report}" in out, out
    assert (tmp_path / report).is_file()
    labels = set(load_demo_corpus().labels)
    lines = out.splitlines()
    hits = [line.split(" | ")[0] for line in lines if " | " in line]
    assert len(hits) == 3 and set(hits) <= labels, lines
    predicted = ast.literal_eval(lines[-1])  # the two labels the quickstart prints last
    assert len(predicted) == 2 and set(predicted) <= labels, lines[-1]
