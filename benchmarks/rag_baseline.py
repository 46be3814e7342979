"""A hand-written RAG baseline (plain sentence-transformers + FAISS + transformers) against the toolkit's QA setups.

The baseline is what a competent engineer writes without the toolkit, for the same job as the demo's `rag`
setup: the same decoder (the demo config's `model`, google/gemma-3-270m), the same passages (every document
of corpora/agri_advice/documents.jsonl, whole), the same embedder (intfloat/multilingual-e5-small with its
"query: " / "passage: " prefixes, normalised, through plain sentence-transformers), a raw FAISS IndexFlatIP,
the same top-k as the demo config, a plain English RAG prompt, left-padded batched greedy `model.generate`
with the demo's max_new_tokens and batch size, and the first non-blank line of the output as the answer.

The toolkit side is `pgt compare` on the same config (eval/configs/demo_qa.yaml: closed_book, ft, rag,
ft+rag) run by this script into `--run-dir` (resumable: finished cells are reused, so a second call only
scores), with 1 torch thread. Both sides answer exactly the same questions (the ids, questions and
reference answers are read from the toolkit's cells) and are scored with the toolkit's metrics
(polyglot_transfer.measure: token F1, chrF++, exact match, gold-passage recall against every version of
the question's document, supported-answer share). A paired bootstrap over all questions compares each
toolkit setup with the baseline on token F1.

    python benchmarks/rag_baseline.py --run-dir /tmp/pgt-rag-baseline
    python benchmarks/rag_baseline.py --setups rag --run-dir /tmp/pgt-rag-baseline-rag   # rag only (faster)
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from polyglot_transfer.evaluation.config import build_config, read_config_file  # noqa: E402
from polyglot_transfer.errors import ConfigError  # noqa: E402
from polyglot_transfer.fileio import atomic_write_json, atomic_write_text  # noqa: E402
from polyglot_transfer.measure.metrics import get_metric  # noqa: E402
from polyglot_transfer.measure.qa import score_qa  # noqa: E402
from polyglot_transfer.measure.stats import bootstrap_ci, paired_bootstrap_test  # noqa: E402
from polyglot_transfer.models.provision import resolve_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpora" / "agri_advice"
logger = logging.getLogger("rag_baseline")

BASELINE_PROMPT = ("Answer the question using the context below. Give a short answer.\n\n"
                   "Context:\n{context}\n\nQuestion: {question}\nAnswer:")


# --------------------------------------------------------------------------- the hand-written baseline


def plain_rag(model_path: Path, embedder_path: Path, questions: list[str], k: int, max_new_tokens: int,
              batch_size: int) -> dict:
    """Retrieve top-k whole documents with e5-small + FAISS, prompt, generate, take the first line."""
    import faiss
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    docs = [json.loads(line) for line in (CORPUS / "documents.jsonl").read_text("utf-8").splitlines() if line.strip()]
    encoder = SentenceTransformer(str(embedder_path), device="cpu")
    doc_vecs = encoder.encode([f"passage: {d['text']}" for d in docs], normalize_embeddings=True, batch_size=16)
    index = faiss.IndexFlatIP(doc_vecs.shape[1])
    index.add(np.asarray(doc_vecs, dtype="float32"))
    q_vecs = encoder.encode([f"query: {q}" for q in questions], normalize_embeddings=True, batch_size=16)
    _, hits = index.search(np.asarray(q_vecs, dtype="float32"), k)
    seen = [[docs[j] for j in row if j >= 0] for row in hits]
    prompts = [BASELINE_PROMPT.format(context="\n\n".join(d["text"] for d in row), question=q)
               for q, row in zip(questions, seen)]

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(model_path)).eval()
    raw = []
    t0 = time.perf_counter()
    for start in range(0, len(prompts), batch_size):
        enc = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        raw += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    seconds = time.perf_counter() - t0
    answers = [next((line.strip() for line in r.splitlines() if line.strip()), "") for r in raw]
    return {"y_pred": answers, "raw": raw, "seen_doc_ids": [[d["id"] for d in row] for row in seen],
            "seen_passages": [[d["text"] for d in row] for row in seen], "prompt_example": prompts[0],
            "generate_seconds": round(seconds, 2)}


# --------------------------------------------------------------------------- the toolkit side


def toolkit_run(config_path: Path, run_dir: Path, setups: list[str] | None, threads: int) -> dict:
    from polyglot_transfer.evaluation.compare import run_compare

    raw = read_config_file(config_path)
    if setups:
        unknown = sorted(set(setups) - set(raw["setups"]))
        if unknown:
            raise ConfigError(f"--setups {unknown} are not setups of {config_path} (it has {sorted(raw['setups'])}).")
        raw["setups"] = {name: raw["setups"][name] for name in setups}
        if raw.get("baseline") not in raw["setups"]:
            raw["baseline"] = setups[0]
    raw["output_dir"], raw["threads"] = str(run_dir), threads
    config, problems = build_config(raw, source=str(config_path))
    if problems:
        raise ConfigError("; ".join(problems))
    t0 = time.perf_counter()
    result = run_compare(config, progress=False)
    logger.info("toolkit compare finished in %.0f s (%s)", time.perf_counter() - t0, result.run_dir)
    return {"config": config, "run_dir": Path(result.run_dir)}


def read_cells(run_dir: Path, source: str, setups: list[str], langs: list[str]) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for setup in setups:
        for lang in langs:
            path = run_dir / "cells" / "seed0" / source / setup / f"{lang}.json"
            out.setdefault(setup, {})[lang] = json.loads(path.read_text("utf-8"))
    return out


# --------------------------------------------------------------------------- scoring


def _mean_fn(y_true, y_pred, labels=None):  # noqa: ARG001 - the stats API's metric signature
    return float(np.mean(np.asarray(y_pred, dtype=float)))


def score(cell: dict, lang: str, gold_docs: list[list[str]] | None) -> dict:
    kwargs = {}
    if cell.get("seen_doc_ids") is not None:
        kwargs = {"seen_doc_ids": cell["seen_doc_ids"], "gold_doc_ids": gold_docs, "seen_passages": cell["seen_passages"]}
    s = score_qa(cell["y_true"], cell["y_pred"], lang, **kwargs)
    f1 = bootstrap_ci(get_metric("token_f1").with_options(lang=lang), cell["y_true"], cell["y_pred"], n_resamples=1000)
    return {"values": s.values, "token_f1_ci": [f1.low, f1.high], "token_f1_per_question": s.per_example["token_f1"].tolist()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "eval" / "configs" / "demo_qa.yaml")
    parser.add_argument("--run-dir", type=Path, default=Path("/tmp/pgt-rag-baseline"))
    parser.add_argument("--setups", nargs="*", default=None, help="toolkit setups to run (default: all of the config)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "rag_baseline.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    tk = toolkit_run(args.config, args.run_dir, args.setups, args.threads)
    config = tk["config"]
    setups, langs, source = list(config.setups), list(config.target_languages), config.sources[0]
    cells = read_cells(tk["run_dir"], source, setups, langs)
    rag_name = next((s for s in setups if config.setups[s].retrieval and not config.setups[s].adapt), None)
    if rag_name is None:
        raise ConfigError(f"{args.config} has no rag setup (retrieval without adapt) to take k and decoding from.")
    rag = config.setups[rag_name]
    k = int(rag.retrieval.get("k", 3))
    gen = dict(rag.generate or {})
    max_new, batch = int(gen.get("max_new_tokens", 24)), int(gen.get("batch_size", 8))

    # the same questions for the baseline, in the same order
    questions = [q for lang in langs for q in cells[rag_name][lang]["questions"]]
    t0 = time.perf_counter()
    base = plain_rag(resolve_model(config.model, pull=False), resolve_model(rag.retrieval["embedder"], pull=False),
                     questions, k, max_new, batch)
    baseline_seconds = time.perf_counter() - t0
    base_cells, at = {}, 0
    for lang in langs:
        ref = cells[rag_name][lang]
        n = len(ref["questions"])
        base_cells[lang] = {"y_true": ref["y_true"], "questions": ref["questions"], "ids": ref["ids"],
                            **{key: val[at : at + n] for key, val in base.items() if isinstance(val, list)}}
        at += n

    results: dict[str, dict[str, dict]] = {"baseline": {}}
    for lang in langs:
        gold_docs = cells[rag_name][lang]["gold_doc_ids"]
        results["baseline"][lang] = score(base_cells[lang], lang, gold_docs)
        for setup in setups:
            results.setdefault(setup, {})[lang] = score(cells[setup][lang], lang, cells[setup][lang].get("gold_doc_ids"))
    overall, paired = {}, {}
    base_f1 = np.concatenate([results["baseline"][lang]["token_f1_per_question"] for lang in langs])
    for name in ["baseline", *setups]:
        f1 = np.concatenate([results[name][lang]["token_f1_per_question"] for lang in langs])
        ci = bootstrap_ci(_mean_fn, np.zeros(len(f1)), f1, n_resamples=2000)
        overall[name] = {"token_f1": ci.value, "ci": [ci.low, ci.high], "n": len(f1)}
        if name != "baseline":
            p = paired_bootstrap_test(_mean_fn, np.zeros(len(f1)), f1, base_f1, n_resamples=2000)
            paired[name] = {"delta": p.delta, "ci": [p.low, p.high], "p_value": p.p_value}

    examples = [{"language": lang, "question": base_cells[lang]["questions"][0], "gold": base_cells[lang]["y_true"][0],
                 "baseline": base_cells[lang]["y_pred"][0],
                 **{s: cells[s][lang]["y_pred"][0] for s in setups}} for lang in langs]
    command = "python benchmarks/rag_baseline.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out = {
        "command": command.strip(), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": str(args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config),
        "model": config.model, "embedder": rag.retrieval["embedder"], "k": k, "max_new_tokens": max_new,
        "batch_size": batch, "torch_threads": args.threads, "languages": langs, "setups": setups,
        "baseline_prompt": BASELINE_PROMPT, "baseline_prompt_example": base["prompt_example"],
        "toolkit_prompt_example": cells[rag_name][langs[0]]["prompt_example"],
        "baseline_generate_seconds": base["generate_seconds"], "baseline_seconds": round(baseline_seconds, 1),
        "total_seconds": round(time.perf_counter() - t_start, 1),
        "per_language": {name: {lang: {**r["values"], "token_f1_ci": r["token_f1_ci"]} for lang, r in per.items()}
                         for name, per in results.items()},
        "overall_token_f1": overall, "paired_vs_baseline_token_f1": paired, "examples": examples,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible",
    }
    atomic_write_json(args.out, out)
    atomic_write_text(args.out.with_suffix(".md"), render(out))
    print(render(out))
    return 0


def render(r: dict) -> str:
    names = ["baseline", *r["setups"]]
    lines = [
        "# Hand-written RAG baseline vs the toolkit's QA setups (agri_advice QA, gemma-3-270m)\n",
        f"Command: `{r['command']}` ({r['date']}, {r['machine']}, torch {r['versions']['torch']}, transformers "
        f"{r['versions']['transformers']}, {r['torch_threads']} torch thread(s)); total {r['total_seconds']:.0f} s.\n",
        f"Baseline: plain sentence-transformers `{r['embedder']}` (query:/passage: prefixes, normalised) + raw FAISS "
        f"IndexFlatIP over the 48 whole documents, top-{r['k']}, the prompt below, left-padded batched greedy "
        f"`model.generate` (batch {r['batch_size']}, max_new_tokens {r['max_new_tokens']}), answer = first non-blank "
        f"line. Toolkit: `pgt compare {r['config']}` (setups {', '.join(r['setups'])}) on the same "
        f"{r['overall_token_f1']['baseline']['n']} test questions, scored with the same metrics "
        "(polyglot_transfer.measure). Gold passages: every version of the question's document (translation_of).\n",
        "## Token F1 over all questions (mean [95% bootstrap CI]) and paired bootstrap vs the baseline\n",
        "| system | token F1 | delta vs baseline [95% CI] | p |", "|---|---|---|---|",
    ]
    for name in names:
        o = r["overall_token_f1"][name]
        p = r["paired_vs_baseline_token_f1"].get(name)
        delta = f"{p['delta']:+.3f} [{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}] | {p['p_value']:.3f}" if p else "— | —"
        lines.append(f"| {name} | {o['token_f1']:.3f} [{o['ci'][0]:.3f}, {o['ci'][1]:.3f}] | {delta} |")
    for metric in ("token_f1", "chrf_pp", "exact_match", "gold_passage_recall", "answer_supported"):
        lines += ["", f"## {metric} per language", "", "| language | " + " | ".join(names) + " |",
                  "|---|" + "---|" * len(names)]
        for lang in r["languages"]:
            vals = [r["per_language"][n][lang].get(metric) for n in names]
            lines.append(f"| {lang} | " + " | ".join("—" if v is None else f"{v:.2f}" for v in vals) + " |")
    lines += ["", "## One question per language (first test question)", "",
              "| language | question | gold | " + " | ".join(names) + " |", "|---|---|---|" + "---|" * len(names)]
    for ex in r["examples"]:
        cells = [ex["question"], " / ".join(ex["gold"]), *(ex[n] for n in names)]
        lines.append(f"| {ex['language']} | " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    lines += ["", "Baseline prompt (first question):", "", "```", r["baseline_prompt_example"], "```", "",
              "Toolkit rag prompt (first question):", "", "```", r["toolkit_prompt_example"], "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
