"""Build hook: a wheel carries the demo corpus and the example configs inside the package.

``corpora/agri_advice`` and ``eval/configs/*.yaml`` live at the repository root (where the README and
`make demo` point); building a wheel copies them to ``polyglot_transfer/_bundled/`` so that an installed
package finds them from any folder (see polyglot_transfer/data/corpora.py). Editable installs read the
repository directly and copy nothing. Everything else is declared in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = {  # repository folder -> folder under polyglot_transfer/_bundled, with the files to copy
    "corpora/agri_advice": ("corpora/agri_advice", ("*.jsonl", "*.json", "*.yaml", "*.md")),
    "eval/configs": ("configs", ("*.yaml",)),
}


class BuildPyWithBundledData(build_py):
    """build_py that also copies the demo corpus and example configs into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for source, (target, patterns) in BUNDLED.items():
            src = ROOT / source
            if not src.is_dir():
                raise FileNotFoundError(f"{src} is missing: the wheel must carry it (see setup.py).")
            dest = Path(self.build_lib) / "polyglot_transfer" / "_bundled" / target
            self.mkpath(str(dest))
            for pattern in patterns:
                for path in sorted(src.glob(pattern)):
                    self.copy_file(str(path), str(dest / path.name))


setup(cmdclass={"build_py": BuildPyWithBundledData})
