"""Did the model answer in the language it was asked in? A script check, then a light trigram detector.

Step 1, the script: :func:`script_of_text` must match the expected language's script (a Devanagari
answer to a Hindi question passes, a Latin one fails). This is reliable and needs no data.

Step 2, same-script languages (Yoruba vs English, both Latin): a character-trigram profile per
language, built from a few sentences you pass in (`profiles={"yor_Latn": [...], "eng_Latn": [...]}`);
the text goes to the profile with the highest cosine similarity. Limits, honestly: with a handful of
sentences per language this is a rough guide, fine for telling apart unrelated languages on answers of
a sentence or more; it is unreliable on very short answers (a name, a number), on closely related
languages (Hausa vs Fulfulde, Hindi vs Marathi), on code-switched text, and it can only choose among
the languages it has profiles for. The `langid` package was not used because its bundled model is a
pickle. Without profiles, same-script answers are judged on script alone.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from polyglot_transfer.errors import DataError
from polyglot_transfer.languages import Language, resolve_language, script_of_text

Profiles = Mapping[str, Sequence[str]]


def trigram_profile(texts: Iterable[str]) -> dict[str, float]:
    """L2-normalised character-trigram frequencies of `texts` (casefolded, word-boundary padded)."""
    counts: Counter[str] = Counter()
    for text in texts:
        for word in str(text).casefold().split():
            padded = f" {word} "
            counts.update(padded[i : i + 3] for i in range(len(padded) - 2))
    norm = math.sqrt(sum(v * v for v in counts.values()))
    return {k: v / norm for k, v in counts.items()} if norm else {}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(k, 0.0) for k, v in a.items())


def _resolve_all(codes: Iterable[str]) -> list[Language]:
    seen: dict[str, Language] = {}
    for code in codes:
        language = resolve_language(code)
        seen.setdefault(language.code, language)
    return list(seen.values())


def _built_profiles(profiles: Profiles | None) -> dict[str, dict[str, float]]:
    if not profiles:
        return {}
    out: dict[str, dict[str, float]] = {}
    for code, sentences in profiles.items():
        if isinstance(sentences, str) or not sentences:
            raise DataError(
                f"profiles[{code!r}] must be a non-empty list of sentences. Got {sentences!r} instead."
            )
        out[resolve_language(code).code] = trigram_profile(sentences)
    return out


def _detect(
    text: str, candidates: list[Language] | None, built: dict[str, dict[str, float]]
) -> str | None:
    script = script_of_text(text)
    if script is None:
        return None
    if candidates is None:
        candidates = _resolve_all(built)
    same_script = [c for c in candidates if c.script == script]
    if len(same_script) == 1:
        return same_script[0].code
    scored = [c for c in same_script if c.code in built]
    if not scored:
        return None
    vector = trigram_profile([text])
    best = max(scored, key=lambda c: _cosine(vector, built[c.code]))
    return best.code if _cosine(vector, built[best.code]) > 0 else None


def detect_language(
    text: str, candidates: Sequence[str] | None = None, *, profiles: Profiles | None = None
) -> str | None:
    """The most likely language of `text` among `candidates` (codes), as a canonical code such as 'hin_Deva'.

    Candidates whose script differs from the text's are ruled out; one left is the answer; several
    left are told apart by trigram `profiles` (code -> a few sentences). Without `candidates` the
    languages of `profiles` are the candidates. None when the text has no letters, no candidate
    shares its script, or several do and no profile separates them.
    """
    built = _built_profiles(profiles)
    resolved = _resolve_all(candidates) if candidates is not None else None
    return _detect(str(text), resolved, built)


def answer_language_flags(
    answers: Sequence[str], expected_langs: Sequence[str], *, profiles: Profiles | None = None
) -> list[bool]:
    """Per answer: is it written in its expected language? (see `answer_language_share` for the rule)."""
    answers, expected_langs = list(answers), list(expected_langs)
    if len(answers) != len(expected_langs):
        raise DataError(
            f"answer_language_share got {len(answers)} answers and {len(expected_langs)} expected languages; "
            "pass one expected language per answer."
        )
    built = _built_profiles(profiles)
    profiled = _resolve_all(built)
    flags = []
    for answer, expected_code in zip(answers, expected_langs):
        expected = resolve_language(expected_code)
        if script_of_text(str(answer)) != expected.script:
            flags.append(False)
            continue
        rivals = [c for c in profiled if c.script == expected.script and c.code != expected.code]
        if rivals and expected.code in built:
            flags.append(_detect(str(answer), [expected, *rivals], built) == expected.code)
        else:
            flags.append(True)
    return flags


def answer_language_share(
    answers: Sequence[str], expected_langs: Sequence[str], *, profiles: Profiles | None = None
) -> float:
    """Share of answers written in their expected language (0..1).

    An answer counts when its script is the expected language's script and, where `profiles` hold
    other languages of that script, the trigram detector picks the expected language among them.
    Empty answers (no letters) count as wrong.
    """
    flags = answer_language_flags(answers, expected_langs, profiles=profiles)
    if not flags:
        raise DataError("answer_language_share got no answers; pass at least one answer.")
    return sum(flags) / len(flags)
