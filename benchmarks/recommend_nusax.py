"""Does `pgt recommend` pick good source languages? Ground truth from the real NusaX transfer matrix.

For each of the 12 NusaX languages a logistic-regression `head` (the same estimator as the `head`
strategy: frozen encoder, LogisticRegression(C=1, max_iter=2000)) is trained on that language's
train split (subsampled to --per-label examples per label, same rows in every language) and
evaluated (macro-F1) on every language's test split: a 12 x 12 source x target matrix. Then for
each of the 10 local languages the recommender ranks the other 11 languages as sources, and we
report

- regret: best source's macro-F1 minus the top-1 recommended source's macro-F1 (in points);
- Spearman rank correlation between the recommender's scores and the sources' macro-F1;
- whether top-1 is within --bar points of the best source (the issue's bar: >= 8 of 10 languages).

The recommender sees no test labels: it uses URIEL+ distances, Swadesh lexical distances, training-set
size, subword overlap / fertility on the NusaX-MT *valid* split, and the model's similarity on that
same parallel split. Each language's texts are encoded ONCE and cached as .npy under --cache, so a
rerun only refits the heads (seconds).

    python benchmarks/recommend_nusax.py --out benchmarks/results/recommend_nusax
    python benchmarks/recommend_nusax.py --encode-only          # fill the embedding cache
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from polyglot_transfer.data.nusax import (  # noqa: E402
    NUSAX_LANGUAGES,
    NUSAX_LOCAL_LANGUAGES,
    load_nusax_parallel,
    load_nusax_sentiment,
)
from polyglot_transfer.errors import PGTError  # noqa: E402
from polyglot_transfer.fileio import atomic_write_json, atomic_write_text  # noqa: E402

logger = logging.getLogger("recommend_nusax")
DEFAULT_MODEL = "intfloat/multilingual-e5-small"


def _cached_encode(embedder, texts: list[str], path: Path) -> np.ndarray:
    """Encode `texts` with the query prompt (as the head strategy does), cached at `path` (.npy + text hash)."""
    digest = hashlib.sha256("\n".join([embedder.query_prompt, *texts]).encode("utf-8")).hexdigest()
    meta = path.with_suffix(".sha256")
    if path.is_file() and meta.is_file() and meta.read_text().strip() == digest:
        return np.load(path, allow_pickle=False)
    t0 = time.perf_counter()
    vectors = embedder.encode_queries(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npy")
    np.save(tmp, vectors, allow_pickle=False)
    os.replace(tmp, path)
    atomic_write_text(meta, digest + "\n")
    logger.info("encoded %d texts -> %s in %.0f s", len(texts), path.name, time.perf_counter() - t0)
    return vectors


def load_all(root: Path, embedder, cache: Path) -> dict:
    """Datasets and (cached) embeddings of every language: train, test and the MT valid split."""
    parallel = load_nusax_parallel(root, "valid")
    out: dict = {"train": {}, "test": {}, "parallel": parallel, "emb": {}}
    slug = embedder.model_name.replace("/", "__")
    for lang in NUSAX_LANGUAGES:
        train = load_nusax_sentiment(root, lang, "train")
        test = load_nusax_sentiment(root, lang, "test")
        out["train"][lang], out["test"][lang] = train, test
        out["emb"][lang, "train"] = _cached_encode(embedder, train.texts, cache / slug / f"{lang}-train.npy")
        out["emb"][lang, "test"] = _cached_encode(embedder, test.texts, cache / slug / f"{lang}-test.npy")
        out["emb"][lang, "parallel"] = _cached_encode(embedder, parallel[lang], cache / slug / f"{lang}-mt-valid.npy")
    return out


def _per_label_rows(labels: list[str], k: int, seed: int) -> np.ndarray:
    """The same k rows per label for every language (the splits are row-aligned translations)."""
    rng = np.random.default_rng(seed)
    rows = []
    for label in sorted(set(labels)):
        idx = np.flatnonzero(np.asarray(labels) == label)
        rows.extend(rng.choice(idx, size=min(k, len(idx)), replace=False).tolist())
    return np.sort(np.asarray(rows))


def transfer_matrix(data: dict, per_label: int, seeds: list[int]) -> dict[str, dict[str, float]]:
    """macro-F1 (mean over seeds) of a head trained on each source and tested on each target."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    matrix: dict[str, dict[str, list[float]]] = {s: {t: [] for t in NUSAX_LANGUAGES} for s in NUSAX_LANGUAGES}
    for seed in seeds:
        rows = _per_label_rows(data["train"]["eng_Latn"].labels, per_label, seed)
        for source in NUSAX_LANGUAGES:
            y = np.asarray(data["train"][source].labels)[rows]
            clf = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
            clf.fit(data["emb"][source, "train"][rows], y)
            for target in NUSAX_LANGUAGES:
                pred = clf.predict(data["emb"][target, "test"])
                f1 = f1_score(data["test"][target].labels, pred, average="macro")
                matrix[source][target].append(100.0 * float(f1))
    return {s: {t: float(np.mean(v)) for t, v in row.items()} for s, row in matrix.items()}


def evaluate(matrix: dict, recommendations: dict, bar: float) -> dict:
    """Regret, Spearman rho and the bar, per target and overall."""
    from scipy.stats import spearmanr

    per_target = {}
    for target, recs in recommendations.items():
        f1 = {s: matrix[s][target] for s in matrix if s != target}
        best = max(f1, key=f1.get)
        top = recs[0]["source"]
        scores = [r["score"] for r in recs]
        rho = (spearmanr(scores, [f1[r["source"]] for r in recs]).statistic
               if max(scores) > min(scores) else float("nan"))  # constant scores: no ranking at all
        per_target[target] = {
            "best_source": best,
            "best_f1": f1[best],
            "recommended": top,
            "recommended_f1": f1[top],
            "regret": f1[best] - f1[top],
            "within_bar": f1[best] - f1[top] <= bar,
            "spearman": float(rho),
            "oracle_rank_of_recommended": sorted(f1, key=f1.get, reverse=True).index(top) + 1,
            "ranking": [r["source"] for r in recs],
        }
    regrets = [v["regret"] for v in per_target.values()]
    return {
        "per_target": per_target,
        "n_within_bar": int(sum(v["within_bar"] for v in per_target.values())),
        "n_targets": len(per_target),
        "mean_regret": float(np.mean(regrets)),
        "max_regret": float(np.max(regrets)),
        "mean_spearman": float(np.nanmean([v["spearman"] for v in per_target.values()]))
        if any(np.isfinite(v["spearman"]) for v in per_target.values()) else float("nan"),
        "n_targets_with_ranking": int(sum(np.isfinite(v["spearman"]) for v in per_target.values())),
        "bar_points": bar,
    }


def rescore(recommendations: dict, weights: dict[str, float]) -> dict:
    """Re-rank the already computed raw features with other weights (same z-score rule as the recommender)."""
    from polyglot_transfer.diagnostics.recommend import FEATURES, _zscores

    out = {}
    for target, recs in recommendations.items():
        z = {f: _zscores({r["source"]: r["features"][f] for r in recs}) for f in FEATURES}
        scored = [{"source": r["source"],
                   "score": sum(w * FEATURES[f][0] * z[f][r["source"]] for f, w in weights.items() if w)}
                  for r in recs]
        out[target] = sorted(scored, key=lambda r: (-r["score"], r["source"]))
    return out


def ablation(matrix: dict, recommendations: dict, bar: float) -> dict:
    """Each feature alone, and the default weights without each feature (how robust is the result?)."""
    from polyglot_transfer.diagnostics.recommend import DEFAULT_WEIGHTS

    rows = {}
    for feature in DEFAULT_WEIGHTS:
        for label, weights in ((f"only {feature}", {feature: 1.0}),
                               (f"without {feature}", {**DEFAULT_WEIGHTS, feature: 0.0})):
            ev = evaluate(matrix, rescore(recommendations, weights), bar)
            rows[label] = {k: ev[k] for k in ("n_within_bar", "mean_regret", "mean_spearman", "n_targets_with_ranking")}
    return rows


def baselines(matrix: dict, targets: list[str], bar: float) -> dict:
    """Fixed-choice baselines: always Indonesian, always English (regret and bar count)."""
    out = {}
    for fixed in ("ind_Latn", "eng_Latn"):
        regrets = []
        for t in targets:
            f1 = {s: matrix[s][t] for s in matrix if s != t}
            regrets.append(max(f1.values()) - f1[fixed])
        out[f"always_{fixed}"] = {"mean_regret": float(np.mean(regrets)),
                                  "n_within_bar": int(sum(r <= bar for r in regrets))}
    return out


def markdown(summary: dict, matrix: dict, meta: dict) -> str:
    ev = summary["evaluation"]
    lines = [
        "# Source-language recommendation on NusaX-senti",
        "",
        f"Model `{meta['model']}`, head (logistic regression) on {meta['per_label']} train examples per label, "
        f"seeds {meta['seeds']}; macro-F1 in points on each target's test split (400 sentences). "
        f"Typology: {meta['typology']}.",
        "",
        f"**Top-1 within {ev['bar_points']:g} points of the best source: {ev['n_within_bar']} / {ev['n_targets']} "
        f"local languages** (bar: 8). Mean regret {ev['mean_regret']:.2f} points (max {ev['max_regret']:.2f}); "
        f"mean Spearman rho {ev['mean_spearman']:.2f}.",
        "",
        "| target | recommended | F1 | best source | F1 | regret | within bar | Spearman | oracle rank |",
        "|---|---|---:|---|---:|---:|---|---:|---:|",
    ]
    for t, v in ev["per_target"].items():
        lines.append(f"| {t} | {v['recommended']} | {v['recommended_f1']:.1f} | {v['best_source']} | "
                     f"{v['best_f1']:.1f} | {v['regret']:.2f} | {'yes' if v['within_bar'] else 'no'} | "
                     f"{v['spearman']:.2f} | {v['oracle_rank_of_recommended']} |")
    lines += ["", "Baselines (fixed source for every target):", ""]
    for name, b in summary["baselines"].items():
        lines.append(f"- {name}: mean regret {b['mean_regret']:.2f}, within bar {b['n_within_bar']} / {ev['n_targets']}")
    lines += ["", "## Ablation (same features, other weights; computed after the main result, not used to pick it)", "",
              "Targets where a weighting gives every candidate the same score (a feature without spread or data) have",
              "no ranking: top-1 is then the alphabetically first candidate, so their bar count means nothing.", "",
              "| weights | within bar | mean regret | mean Spearman | targets with a ranking |",
              "|---|---:|---:|---:|---:|"]
    for name, a in summary["ablation"].items():
        lines.append(f"| {name} | {a['n_within_bar']} / {ev['n_targets']} | {a['mean_regret']:.2f} | "
                     f"{a['mean_spearman']:.2f} | {a['n_targets_with_ranking']} |")
    langs = list(matrix)
    lines += ["", "## Transfer matrix (rows: source, columns: target; macro-F1)", "",
              "| source \\ target | " + " | ".join(l.split("_")[0] for l in langs) + " |",
              "|---|" + "---:|" * len(langs)]
    for s in langs:
        lines.append(f"| {s} | " + " | ".join(f"{matrix[s][t]:.1f}" for t in langs) + " |")
    lines += ["", "## Why each top-1 was chosen", ""]
    for t, recs in summary["recommendations"].items():
        lines.append(f"- **{t}**: {recs[0]['explanation']}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="NusaX folder (default: the shared corpora's nusax)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--cache", default=".cache/recommend_nusax", help="embedding cache folder (.npy files)")
    parser.add_argument("--out", default="benchmarks/results/recommend_nusax", help="folder for results.json and results.md")
    parser.add_argument("--per-label", type=int, default=100, help="training examples per label and source")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds for the subsample and the head")
    parser.add_argument("--bar", type=float, default=3.0, help="regret bar in macro-F1 points")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--encode-only", action="store_true", help="fill the cache and stop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    import torch

    torch.set_num_threads(args.threads)
    from polyglot_transfer.data.corpora import find_shared_corpora
    from polyglot_transfer.retrieval.embedder import Embedder

    root = Path(args.root) if args.root else (find_shared_corpora() or Path("../shared/corpora")) / "nusax"
    try:
        embedder = Embedder(args.model, batch_size=64)
        started = time.perf_counter()
        data = load_all(root, embedder, Path(args.cache))
        if args.encode_only:
            return 0
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        matrix = transfer_matrix(data, args.per_label, seeds)

        from polyglot_transfer.diagnostics.recommend import DataFeatures, recommend_sources
        from polyglot_transfer.diagnostics.tokenizer_fit import load_tokenizer
        from polyglot_transfer.diagnostics.typology import typology_backend

        tokenizer = load_tokenizer(args.model)
        n_train = {lang: min(len(data["train"][lang]), 3 * args.per_label) for lang in NUSAX_LANGUAGES}
        features = {lang: DataFeatures(n_train=n_train[lang], texts=data["parallel"][lang]) for lang in NUSAX_LANGUAGES}
        parallel_emb = {lang: data["emb"][lang, "parallel"] for lang in NUSAX_LANGUAGES}
        recommendations = {}
        for target in NUSAX_LOCAL_LANGUAGES:
            candidates = [lang for lang in NUSAX_LANGUAGES if lang != target]
            recs = recommend_sources(target, candidates, tokenizer=tokenizer, data_features=features,
                                     embeddings=parallel_emb)
            recommendations[target] = [r.to_dict() for r in recs]
        evaluation = evaluate(matrix, recommendations, args.bar)
        meta = {
            "model": args.model, "per_label": args.per_label, "seeds": seeds, "root": str(root),
            "typology": typology_backend(), "duration_s": round(time.perf_counter() - started, 1),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        summary = {"meta": meta, "matrix": matrix, "evaluation": evaluation,
                   "baselines": baselines(matrix, list(NUSAX_LOCAL_LANGUAGES), args.bar),
                   "ablation": ablation(matrix, recommendations, args.bar),
                   "recommendations": recommendations}
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "results.json", summary)
        atomic_write_text(out / "results.md", markdown(summary, matrix, meta))
    except PGTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(markdown(summary, matrix, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
