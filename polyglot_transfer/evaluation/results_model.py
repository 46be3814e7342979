"""The one typed model of results.json: the results builder writes it, `pgt report` and the report writers read it.

Every field the writer adds is declared here (unknown keys are refused), numbers are finite (NaN and
infinity are refused: a value that could not be computed is null with a `missing_reason`), and
`schema_version` says which version of this model wrote the file. docs/results_schema.md documents it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from polyglot_transfer.errors import DataError

SCHEMA_VERSION = 2
TaskType = Literal["classification", "token_classification", "generative_qa"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class RunInfo(_Strict):
    name: str
    created: str
    run_dir: str | None = None
    config_path: str | None = None  # the config file the user ran
    resolved_config: str | None = None  # the run folder's config.resolved.yaml (overrides included)
    duration_s: float | None = None
    ci_level: float = 0.95
    alpha: float = 0.05
    n_resamples: int | None = None


class TaskInfo(_Strict):
    name: str
    type: TaskType = "classification"
    labels: list[str] = Field(default_factory=list)
    n_train: int | None = None
    n_train_per_source: dict[str, int] = Field(default_factory=dict)


class ChanceLevel(_Strict):
    """What a predictor that ignores the input scores on one target: always the most frequent test label
    (`majority`), or a label drawn uniformly at random (`uniform`, the expected score)."""

    metric: str
    majority: float
    uniform: float
    majority_label: str | None = None


class Language(_Strict):
    code: str
    name: str
    resource: str | None = None
    n_test: int | None = None
    #: Classification only (a fixed label set to draw from). Absent for token classification (NER: tags per
    #: token, entity-level scores) and generative QA (free-text answers): no chance level is defined there.
    chance: list[ChanceLevel] | None = None

    def chance_of(self, metric: str) -> ChanceLevel | None:
        return next((c for c in self.chance or [] if c.metric == metric), None)


class Setup(_Strict):
    name: str
    description: str = ""


class Record(_Strict):
    setup: str
    source: str | None = None
    language: str
    metric: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    seed: int | None = None
    seeds: list[int] = Field(default_factory=list)
    #: Classification only: True when `value` is at or below the chance level of this metric on this target
    #: (the higher of the majority-class and uniform-random scores): the setup failed there. Absent (None) for
    #: token classification and generative QA, which have no chance level.
    failed: bool | None = None
    missing_reason: str | None = None


class McNemar(_Strict):
    b: int
    c: int
    statistic: float
    exact: bool


class Comparison(_Strict):
    """One setup against the baseline on one target (Holm across targets within setup x source x metric)."""

    setup: str
    baseline: str
    source: str | None = None
    language: str
    metric: str
    delta: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    #: win / loss / tie; `both_failed` when both are at or below the majority class (not counted).
    verdict: Literal["win", "loss", "tie", "both_failed"]
    test: str = "paired_bootstrap"
    mcnemar: McNemar | None = None


class LeaderTest(_Strict):
    """The leader on one target (best value) against another setup, paired. A pair involving the baseline
    is decided by its comparison (family "baseline", Holm across targets); the other pairs are Holm-corrected
    among themselves (family "leader": source x metric x target)."""

    source: str | None = None
    language: str
    metric: str
    leader: str
    other: str
    runner_up: bool
    delta: float
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float
    p_adjusted: float
    significant: bool
    test: str = "paired_bootstrap"
    family: Literal["leader", "baseline"] = "leader"


class SummaryRow(_Strict):
    setup: str
    source: str | None = None
    metric: str
    wins: int
    ties: int
    losses: int
    #: comparisons where both this setup and the baseline failed: not counted as a win, tie or loss.
    both_failed: int = 0


class LanguageChoice(_Strict):
    language: str
    #: best: one leader, significantly ahead of the runner-up; tied: `choice` are tied at the top;
    #: failed: every setup is at or below the majority class.
    #: single: only one setup has a score there (nothing to compare).
    status: Literal["best", "tied", "failed", "single"]
    choice: list[str]
    failed: list[str] = Field(default_factory=list)


class OverallTest(_Strict):
    leader: str
    other: str
    delta: float
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float
    significant: bool
    test: str = "stratified_paired_bootstrap"


class Recommendation(_Strict):
    """What to deploy, from the primary source and metric."""

    source: str | None = None
    metric: str
    means: dict[str, float]
    n_targets: int
    overall: list[str]
    status: Literal["best", "tied", "per_language", "single", "none"]
    test: OverallTest | None = None
    #: target -> setup to deploy there instead of the overall choice (it is significantly better there).
    exceptions: dict[str, str] = Field(default_factory=dict)
    languages: list[LanguageChoice] = Field(default_factory=list)


class TransferCellTest(_Strict):
    delta: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    test: str


class TransferCell(_Strict):
    source: str
    target: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    seeds: list[int] = Field(default_factory=list)
    in_language: bool = False
    in_language_value: float | None = None
    gap: float | None = None
    label: Literal["positive", "negative", "inconclusive", "failed", "baseline"] | None = None
    vs_baseline: TransferCellTest | None = None


class TransferSetup(_Strict):
    setup: str
    cells: list[TransferCell]
    labels: dict[str, int] = Field(default_factory=dict)


class TransferMatrix(_Strict):
    metric: str
    sources: list[str]
    targets: list[str]
    baseline: str | None = None
    alpha: float = 0.05
    setups: list[TransferSetup] = Field(default_factory=list)


class Forgetting(_Strict):
    setup: str
    language: str
    before: float
    after: float
    drop: float
    metric: str = "macro_f1"
    mode: str = "probe"
    seeds: list[int] = Field(default_factory=list)
    drop_per_seed: list[float] = Field(default_factory=list)
    n: int | None = None


class Diagnostic(_Strict):
    language: str
    fertility: float | None = None
    unit: str = "word"
    unk_rate: float | None = None
    flags: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    source_fertility: dict[str, float] = Field(default_factory=dict)
    #: from `pgt diagnose`'s domain-gap test when it ran: {"flagged": bool, "p_value": ..., ...}
    domain_gap: dict[str, Any] | None = None


class QAExample(_Strict):
    """One question of a generative-QA task with each setup's answer (a few per language)."""

    language: str
    id: str
    question: str
    gold: list[str]
    #: setup -> its answer (null where that setup has no cell for the question's seed)
    answers: dict[str, str | None]
    #: setup -> whether the gold passage was among the passages the generator saw (retrieval setups)
    gold_retrieved: dict[str, bool] = Field(default_factory=dict)


class NERExample(_Strict):
    """One test sentence of a NER task: its words, the gold tags and each setup's tags (a few per language)."""

    language: str
    id: str
    tokens: list[str]
    gold: list[str]
    #: setup -> its predicted tags (null where that setup has no cell for the sentence's seed)
    predicted: dict[str, list[str] | None]


class Results(_Strict):
    schema_version: Literal[2] = SCHEMA_VERSION
    run: RunInfo
    task: TaskInfo
    source_languages: list[str] = Field(default_factory=list)
    languages: list[Language]
    setups: list[Setup]
    baseline: str | None = None
    primary_metric: str | None = None
    records: list[Record]
    comparisons: list[Comparison] = Field(default_factory=list)
    leader_tests: list[LeaderTest] = Field(default_factory=list)
    summary: list[SummaryRow] = Field(default_factory=list)
    recommendation: Recommendation | None = None
    transfer_matrix: TransferMatrix | None = None
    forgetting: list[Forgetting] = Field(default_factory=list)
    diagnostics: list[Diagnostic] = Field(default_factory=list)
    examples: list[QAExample] = Field(default_factory=list)
    ner_examples: list[NERExample] = Field(default_factory=list)
    cards: list[dict[str, Any]] = Field(default_factory=list)
    environment: dict[str, Any] = Field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON content (keys the writer did not set, e.g. an optional `domain_gap`, stay absent)."""
        return self.model_dump(mode="json", exclude_unset=True)


def _problems(exc: ValidationError, limit: int = 8) -> str:
    lines = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        got = err.get("input")
        got_text = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        lines.append(f"{where}: {err['msg']} (got {got_text[:60]})")
    more = len(exc.errors()) - limit
    if more > 0:
        lines.append(f"... and {more} more")
    return "; ".join(lines)


def validate_results(data: Any, *, where: str = "results") -> Results:
    """`data` (a dict, the content of results.json) as a typed Results; DataError naming `where` otherwise."""
    if isinstance(data, Results):
        return data
    if not isinstance(data, dict):
        raise DataError(f"{where} is a {type(data).__name__}; expected a dict (the content of results.json).")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DataError(
            f"{where} has schema_version {version!r}; expected {SCHEMA_VERSION}. It was written by another "
            "version of polyglot-transfer: rerun the same `pgt compare` command (finished cells are reused) "
            "to rebuild it."
        )
    try:
        return Results.model_validate(data)
    except ValidationError as exc:
        raise DataError(f"{where} does not match the results schema: {_problems(exc)}. "
                        "Rebuild it by rerunning the same `pgt compare` command.") from None


def load_results(path: str | Path) -> Results:
    """Read and validate a results.json; DataError naming the file when it is absent, damaged or invalid."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise DataError(f"{path} does not exist. Pass a run folder written by `pgt compare`.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not valid JSON: not UTF-8 text ({exc.reason} at byte {exc.start}), damaged or "
                        "not results. "
                        "Rerun the same `pgt compare` command to rebuild it (finished cells are reused).") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON ({exc}): empty, truncated or not results. Rerun the same "
                        "`pgt compare` command to rebuild it (finished cells are reused).") from None
    return validate_results(data, where=str(path))
