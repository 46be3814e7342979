"""The at-a-glance section of the report: one claim per sentence, each resting on a record or test in results.json.

Nothing here computes a statistic: every number and every "significantly", "tied", "failed" and "best"
comes from the typed results (records, comparisons, leader_tests, recommendation, diagnostics). A claim
of "best" needs the leader's paired test against the runner-up to be significant after Holm; a setup at
or below the majority class is "failed", never best; differences between two failed setups are not
counted. The sentences end with the recommendation of what to deploy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from polyglot_transfer.evaluation.results_model import Diagnostic, Language, Results

__all__ = ["Claim", "glance", "metric_label", "warnings_for", "UNK_RATE_WARNING"]

METRIC_LABELS: dict[str, str] = {
    "macro_f1": "macro-F1", "micro_f1": "micro-F1", "weighted_f1": "weighted-F1", "f1": "F1",
    "accuracy": "accuracy", "exact_match": "exact match", "token_f1": "token F1", "chrf": "chrF++",
    "bleu": "BLEU", "recall_at_k": "recall@k", "mrr": "MRR", "entity_f1": "entity F1",
    "chrf_pp": "chrF++", "answer_language": "answer-language rate", "gold_passage_recall": "gold-passage recall@k",
    "answer_supported": "supported answers",
}
#: A share of <unk> pieces at or above this predicts failure (the model does not see the text).
UNK_RATE_WARNING = 0.05

#: Remedies the toolkit offers, per kind of warning.
REMEDY = {
    "script": ("extend the vocabulary (adapt strategy vocab_extension), transliterate the text into a script "
               "the tokenizer covers, or train on a source language written in the same script"),
    "fertility": ("extend the vocabulary (adapt strategy vocab_extension) or train on a closer source language "
                  "(pgt plan ranks them)"),
    "domain": "add in-domain source data or another source language closer to the target (pgt plan ranks them)",
}


def metric_label(metric: str) -> str:
    """Human name of a metric ("macro_f1" -> "macro-F1"; a per-type record "entity_f1:PER" -> "entity F1 (PER)")."""
    base, _, kind = metric.partition(":")
    label = METRIC_LABELS.get(base, base.replace("_", " "))
    return f"{label} ({kind})" if kind else label


@dataclass
class Claim:
    """One sentence of the summary and what it rests on (kind + keys into results.json)."""

    kind: str
    text: str
    language: str | None = None
    refs: dict[str, object] = field(default_factory=dict)


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _p(x: float | None, name: str = "p") -> str:
    """"p = 0.012", "p < 0.001" (name: "p" or "adjusted p")."""
    if x is None:
        return f"{name} = —"
    return f"{name} < 0.001" if x < 0.001 else f"{name} = {x:.3f}"


def chance_level(lang: Language, metric: str) -> float | None:
    """The level at or below which a setup failed: the higher of majority-class and uniform-random scores."""
    c = lang.chance_of(metric)
    return None if c is None else max(c.majority, c.uniform)


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def warnings_for(diag: Diagnostic) -> list[tuple[str, str]]:
    """(what predicts failure, remedy kind) from one diagnostics record."""
    out: list[tuple[str, str]] = []
    flags = list(diag.flags)
    covered = next((f for f in flags if f.startswith("script poorly covered")), None)
    if covered:
        out.append((covered, "script"))
    elif diag.unk_rate is not None and diag.unk_rate >= UNK_RATE_WARNING:
        out.append((f"{diag.unk_rate:.0%} of the pieces are <unk>: the model does not see much of the text",
                    "script"))
    out += [(f, "script") for f in flags if f.startswith(("script mismatch", "many byte-fallback"))]
    out += [(f, "fertility") for f in flags if f.startswith("high fertility")]
    gap = diag.domain_gap or {}
    if gap.get("flagged"):
        detail = f" ({_p(gap['p_value'])})" if isinstance(gap.get("p_value"), int | float) else ""
        out.append((f"domain gap: the target texts differ from the source training texts{detail}", "domain"))
    return out


def _warnings(name: str, code: str, diag: Diagnostic | None) -> list[Claim]:
    return [Claim("warning", f"Warning for {name}: {what}. Remedy: {REMEDY[kind]}.", code, {"diagnostic": code})
            for what, kind in (warnings_for(diag) if diag else [])]


def _lang_name(lang: Language) -> str:
    return lang.name if lang.name and lang.name != lang.code else lang.code


def glance(res: Results) -> list[Claim]:
    """The at-a-glance claims of a run, per target then overall, ending with the recommendation."""
    rec = res.recommendation
    metric = (rec.metric if rec else None) or res.primary_metric
    if metric is None and res.records:  # older writers: macro-F1 when recorded, else the first metric
        names = [r.metric for r in res.records]
        metric = "macro_f1" if "macro_f1" in names else names[0]
    source = (rec.source if rec else None) or (res.source_languages[0] if res.source_languages else None)
    if metric is None:
        return [Claim("empty", "No results were recorded.")]
    mlabel = metric_label(metric)
    records = {(r.setup, r.language): r for r in res.records
               if r.metric == metric and (r.source is None or r.source == source)}
    if not records:
        return [Claim("empty", f"No {mlabel} results were recorded.")]
    choices = {c.language: c for c in rec.languages} if rec else {}
    tests = [t for t in res.leader_tests if t.metric == metric and (t.source is None or t.source == source)]
    comps = [c for c in res.comparisons if c.metric == metric and (c.source is None or c.source == source)]
    diags = {d.language: d for d in res.diagnostics}
    out: list[Claim] = []
    task_type = res.task.type
    if task_type != "classification":
        # chance levels need a fixed label set to draw from: NER scores entities, QA free-text answers
        what = {"token_classification": "token classification (entity-level scores)",
                "generative_qa": "generative QA (free-text answers)"}.get(task_type, task_type)
        out.append(Claim("no_chance", f"No chance level is defined for {what}, so no setup is marked as failed; "
                                      f"compare the {mlabel} scores with each other and with the baseline."))
    for lang in res.languages:
        name, code = _lang_name(lang), lang.code
        val = {s: r.value for (s, lc), r in records.items() if lc == code and r.value is not None}
        if not val:
            out.append(Claim("no_result", f"On {name}, no {mlabel} result was recorded.", code))
            continue
        chance = lang.chance_of(metric)
        choice = choices.get(code)
        lt = [t for t in tests if t.language == code]
        runner_up = next((t for t in lt if t.runner_up), None)
        if choice is not None and choice.status == "best" and runner_up is not None:
            x, t = choice.choice[0], runner_up
            out.append(Claim("best", f"On {name}, {x} is best ({val[x]:.2f} {mlabel}), significantly better than "
                                     f"the runner-up {t.other} ({val[t.other]:.2f}; paired test, "
                                     f"{_p(t.p_adjusted, 'Holm-adjusted p')}).", code, {"leader_test": (x, t.other)}))
        elif choice is not None and choice.status == "tied":
            leader = choice.choice[0]
            others = choice.choice[1:]
            ps = [next((t.p_adjusted for t in lt if t.other == o), None) for o in others]
            named = _join([f"{s} ({val[s]:.2f})" for s in choice.choice])
            vs = "; ".join(f"{leader} vs {o}: {_p(p, 'Holm-adjusted p') if p is not None else 'no paired test'}"
                           for o, p in zip(others, ps))
            out.append(Claim("tied", f"On {name}, {named} are tied at the top ({mlabel}; {vs}, not "
                                     "significant).", code, {"leader_tests": [(leader, o) for o in others]}))
        elif choice is not None and choice.status == "failed":
            level = f" ({chance_level(lang, metric):.2f} {mlabel})" if chance else ""
            out.append(Claim("all_failed", f"On {name}, every setup failed: none scores above the chance "
                                           f"level{level}.", code))
        elif choice is not None and choice.status == "single":
            x = choice.choice[0]
            out.append(Claim("single", f"On {name}, only {x} has a score ({val[x]:.2f} {mlabel}); there is "
                                       "nothing to compare it with.", code))
        if chance is not None:
            label = f' (always "{chance.majority_label}")' if chance.majority_label else ""
            out.append(Claim("chance", f"Chance levels on {name}: majority class {chance.majority:.2f}{label}, "
                                       f"uniform random {chance.uniform:.2f} {mlabel}; a setup at or below "
                                       f"{chance_level(lang, metric):.2f} failed.", code))
        failed = [s for (s, lc), r in records.items() if lc == code and r.failed]
        if failed and (choice is None or choice.status != "failed"):
            level = f" {chance_level(lang, metric):.2f}" if chance else ""
            out.append(Claim("failed", f"On {name}, {_join([f'{s} ({val[s]:.2f})' for s in failed])} "
                                       f"{'fails' if len(failed) == 1 else 'fail'}: at or below the chance "
                                       f"level{level}.", code, {"failed": failed}))
        if choice is not None and choice.status == "failed":
            out += _warnings(name, code, diags.get(code))
            continue  # differences between failed setups are not claims
        diffs: list[str] = []
        seen: set[frozenset[str]] = set()
        both_failed = any(c.language == code and c.verdict == "both_failed" for c in comps)
        for c in comps:
            if c.language != code or c.verdict not in ("win", "loss") or c.delta is None:
                continue
            hi, lo = (c.setup, c.baseline) if c.verdict == "win" else (c.baseline, c.setup)
            seen.add(frozenset((hi, lo)))
            diffs.append(f"{hi} > {lo} by {abs(c.delta):.2f} ({_p(c.p_adjusted, 'adjusted p')})")
        for t in lt:  # pairs with the baseline are decided by the comparisons above
            if t.family == "leader" and t.significant and frozenset((t.leader, t.other)) not in seen \
                    and not (t.leader in failed and t.other in failed):
                seen.add(frozenset((t.leader, t.other)))
                diffs.append(f"{t.leader} > {t.other} by {t.delta:.2f} ({_p(t.p_adjusted, 'adjusted p')})")
        if diffs:
            out.append(Claim("differences", f"Significant differences on {name} ({mlabel}): {'; '.join(diffs)}.",
                             code))
        elif len(val) > 1 and (lt or any(c.language == code for c in comps)):
            note = "; differences between two failed setups are not counted" if both_failed or len(failed) > 1 else ""
            out.append(Claim("no_differences", f"On {name}, no difference between setups is significant "
                                               f"({mlabel}, paired tests, Holm-adjusted{note}).", code))
        out += _warnings(name, code, diags.get(code))
    if res.baseline:
        for s in res.summary:
            if s.metric != metric or (s.source is not None and s.source != source):
                continue
            total = s.wins + s.ties + s.losses
            text = (f"Against {res.baseline}, {s.setup} is significantly better on {s.wins} of {total} targets, "
                    f"significantly worse on {s.losses} and inconclusive on {s.ties}")
            if s.both_failed:
                text += (f"; {s.both_failed} target{'s' if s.both_failed > 1 else ''} where both failed "
                         f"{'are' if s.both_failed > 1 else 'is'} not counted")
            out.append(Claim("wins", text + ".", None, {"summary": s.setup}))
    seeds = sorted({x for r in res.records for x in r.seeds})
    if len(seeds) > 1:
        out.append(Claim("seeds", f"Scores are means over {len(seeds)} seeds ({', '.join(map(str, seeds))}); "
                                  "intervals and tests pool the seeds' predictions."))
    if res.forgetting:
        worst = max(res.forgetting, key=lambda f: f.drop)
        sign = ("it lost" if worst.drop > 0 else "it gained" if worst.drop < 0 else "no change:")
        out.append(Claim("forgetting", f"Forgetting (source-language {metric_label(worst.metric)} before minus "
                                       f"after adaptation, positive = forgot): the largest is {worst.setup} on "
                                       f"{worst.language}, {worst.drop:+.2f} ({sign} {abs(worst.drop):.2f}, from "
                                       f"{worst.before:.2f} to {worst.after:.2f}).", None,
                         {"forgetting": (worst.setup, worst.language)}))
    out += _recommendation_claims(res, mlabel)
    return out


def _recommendation_claims(res: Results, mlabel: str) -> list[Claim]:
    rec = res.recommendation
    if rec is None:
        return [Claim("recommend_none", "Recommendation: none (results.json records no recommendation).")]
    if rec.status == "none":
        return [Claim("recommend_none", "Recommendation: none; no setup has a score on every target.")]
    names = {lang.code: _lang_name(lang) for lang in res.languages}
    n = rec.n_targets
    out = []
    t = rec.test
    if rec.status == "single":
        x = rec.overall[0]
        out.append(Claim("recommend_single", f"Recommendation: {x}, the only setup scored on every target "
                                             f"(mean {mlabel} {rec.means[x]:.2f}); nothing was compared."))
    elif rec.status == "best" and t is not None:
        x = rec.overall[0]
        where = "" if any(c.status == "failed" for c in rec.languages) else " on every target"
        out.append(Claim("recommend_best", f"Recommendation: deploy {x}{where}: best mean {mlabel} over "
                                           f"the {n} targets ({rec.means[x]:.2f} vs {rec.means[t.other]:.2f} for the "
                                           f"runner-up {t.other}; stratified paired bootstrap, {_p(t.p_value)}), "
                                           "and no other setup is significantly better on any target."))
    elif rec.status == "tied" and t is not None:
        x, y = rec.overall[0], rec.overall[1]
        out.append(Claim("recommend_tied", f"Recommendation: {x} and {y} are tied at the top over the {n} targets "
                                           f"(mean {mlabel} {rec.means[x]:.2f} vs {rec.means[y]:.2f}; stratified "
                                           f"paired bootstrap, {_p(t.p_value)}, not significant): deploy either "
                                           f"({x} has the higher mean; prefer the cheaper one to run)."))
    elif rec.status == "per_language" and t is not None:
        x = rec.overall[0]
        parts = []
        for code, setup in rec.exceptions.items():
            lt = next(lt for lt in res.leader_tests if lt.language == code and lt.leader == setup
                      and lt.other == x and lt.metric == rec.metric and (lt.source in (None, rec.source)))
            parts.append(f"{setup} on {names.get(code, code)} (significantly better than {x} there, "
                         f"{_p(lt.p_adjusted, 'Holm-adjusted p')})")
        verdict = ("significantly ahead of" if t.significant else "not significantly different from")
        out.append(Claim("recommend_per_language", f"Recommendation: the targets differ, so choose per language: "
                                                   f"{_join(parts)}; elsewhere {x}, the best mean {mlabel} over the "
                                                   f"{n} targets ({rec.means[x]:.2f}, {verdict} the runner-up "
                                                   f"{t.other} at {rec.means[t.other]:.2f}, {_p(t.p_value)})."))
    failed = [names.get(c.language, c.language) for c in rec.languages if c.status == "failed"]
    if failed:
        out.append(Claim("recommend_failed", f"Do not deploy on {_join(failed)}: every setup failed there (at or "
                                             "below the chance level); see the warnings above."))
    return out
