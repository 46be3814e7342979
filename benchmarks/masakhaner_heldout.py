"""MasakhaNER leave-languages-out: the toolkit's recommended NER recipe against a plain transformers fine-tuning.

Simulates the judge's setting (African languages the toolkit never saw): a few MasakhaNER languages are held
out entirely (no training sentence, no dev sentence, no choice of anything), and both sides are scored on
their test sets with entity-level micro F1 (seqeval, IOB2, strict), mean over the held-out languages.

- ``plain``: the reference recipe written by hand with the plain transformers Trainer: AutoModelForTokenClassification
  on the same encoder, every weight trained, 3 epochs, learning rate 5e-5, the Trainer's other defaults
  (batch 8, no warm-up, linear decay), first-subword labels; trained on Swahili only.
- ``toolkit``: the `token_classification` strategy with the setup named by ``--setup`` in
  eval/configs/masakhaner.yaml, trained on the pooled training sentences of every non-held-out language
  (the multi-source recipe the config recommends), or on Swahili only (``toolkit-swa``, same recipe, same data
  as plain) to separate the recipe from the pooling.

Sub-commands:
  sweep    choose the recipe's learning rate on SOURCE data only: train on the pooled training languages,
           score on their own dev splits (never on a held-out language).
  heldout  the side-by-side comparison on the held-out test sets.

CPU-sized: ``--train-per-lang`` training sentences per language and ``--test-per-lang`` test sentences per
held-out language, drawn with a fixed seed; the same sizes on both sides; 1 torch thread.

    PYTHONPATH=. PGT_CORPORA_DIR=../shared/corpora python benchmarks/masakhaner_heldout.py heldout \
        --train-per-lang 150 --test-per-lang 150 --sides plain toolkit --out benchmarks/results/masakhaner_heldout
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("PGT_CORPORA_DIR") or REPO.parent / "shared" / "corpora")
CORPUS = CORPORA / "masakhaner" / "data"
MODEL = "intfloat/multilingual-e5-small"
HELD_OUT = ["amh", "luo", "wol", "yor"]  # Semitic (Ethiopic script), Nilotic, Atlantic, Volta-Niger
TRAIN_LANGS = ["hau", "ibo", "kin", "lug", "pcm", "swa"]  # Chadic, Volta-Niger, 2x Bantu, creole, Bantu

logger = logging.getLogger("masakhaner_heldout")


def load(lang: str, split: str, n: int | None, seed: int):
    from polyglot_transfer.data.conll import load_conll

    ds = load_conll(CORPUS / lang / f"{split}.txt", lang, name=f"{lang}-{split}", id_prefix=f"{lang}-{split}")
    return ds.sample(n, seed=seed) if n else ds


def pooled(langs: list[str], split: str, n: int | None, seed: int):
    from polyglot_transfer.data.conll import TokenDataset

    return TokenDataset.concat([load(lang, split, n, seed) for lang in langs], name=f"pooled-{split}")


def plain_transformers(train, tests: dict, model_path: Path, seed: int) -> dict:
    """The reference: a plain transformers token-classification fine-tuning, written the usual way."""
    import tempfile

    import torch
    from datasets import Dataset
    from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                              Trainer, TrainingArguments)

    labels = train.tag_set
    label2id = {t: i for i, t in enumerate(labels)}
    tok = AutoTokenizer.from_pretrained(str(model_path))
    model = AutoModelForTokenClassification.from_pretrained(
        str(model_path), num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id)

    def encode(tokens, tags=None):
        enc = tok(tokens, is_split_into_words=True, truncation=True, max_length=128)
        if tags is not None:
            rows = []
            for n, t in enumerate(tags):
                prev, row = None, []
                for w in enc.word_ids(n):
                    row.append(-100 if w is None or w == prev else label2id[t[w]])
                    prev = w
                rows.append(row)
            enc["labels"] = rows
        return enc

    enc = encode(train.tokens, train.tags)
    ds = Dataset.from_dict({k: enc[k] for k in ("input_ids", "attention_mask", "labels")})
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(out, num_train_epochs=3, learning_rate=5e-5, seed=seed, report_to=[],
                                 save_strategy="no", use_cpu=True, disable_tqdm=True, logging_strategy="no")
        Trainer(model=model, args=args, train_dataset=ds, data_collator=DataCollatorForTokenClassification(tok)).train()
    model.eval()
    preds = {}
    for lang, test in tests.items():
        out = []
        for start in range(0, len(test), 32):
            chunk = test.tokens[start:start + 32]
            e = encode(chunk)
            batch = tok.pad({k: e[k] for k in ("input_ids", "attention_mask")}, return_tensors="pt")
            with torch.no_grad():
                ids = model(**batch).logits.argmax(-1).numpy()
            for row, words in enumerate(chunk):
                tags, prev = ["O"] * len(words), None
                for pos, w in enumerate(e.word_ids(row)):
                    if w is not None and w != prev:
                        tags[w] = labels[ids[row, pos]]
                    prev = w
                out.append(tags)
        preds[lang] = out
    return preds


def toolkit(train, tests: dict, setup: dict, seed: int) -> tuple[dict, dict]:
    from polyglot_transfer.adapt.base import build_strategy

    params = dict(setup)
    name = params.pop("strategy")
    strategy = build_strategy(name, params, MODEL, seed=seed).fit(train)
    return {lang: strategy.predict(test.tokens) for lang, test in tests.items()}, {
        "config": {k: v for k, v in vars(strategy.config).items() if k != "trainer_args"},
        "train_loss": [round(x, 4) for x in strategy.train_loss_]}


def scores(tests: dict, preds: dict) -> dict:
    from polyglot_transfer.measure.ner import entity_scores, per_type_scores

    return {lang: {**entity_scores(test.tags, preds[lang]),
                   "per_type": {k: round(v["f1"], 4) for k, v in per_type_scores(test.tags, preds[lang]).items()}}
            for lang, test in tests.items()}


def config_setup(name: str) -> dict:
    config = yaml.safe_load((REPO / "eval" / "configs" / "masakhaner.yaml").read_text())
    return dict(config["setups"][name]["adapt"])


def overrides(a: argparse.Namespace) -> dict:
    return {k: yaml.safe_load(v) for k, v in (x.split("=", 1) for x in a.override)}


def cmd_sweep(a: argparse.Namespace) -> dict:
    train = pooled(TRAIN_LANGS, "train", a.train_per_lang, a.seed)
    devs = {lang: load(lang, "dev", a.test_per_lang, a.seed) for lang in TRAIN_LANGS}
    rows = []
    for lr in a.learning_rates:
        setup = {**config_setup(a.setup), **overrides(a), "learning_rate": lr}
        start = time.monotonic()
        preds, info = toolkit(train, devs, setup, a.seed)
        s = scores(devs, preds)
        mean = float(np.mean([v["f1"] for v in s.values()]))
        rows.append({"learning_rate": lr, "mean_dev_f1": mean, "per_language": {k: v["f1"] for k, v in s.items()},
                     "seconds": round(time.monotonic() - start), **info})
        logger.info("sweep lr=%g: mean source-dev F1 %.3f", lr, mean)
    return {"what": "learning-rate sweep on the training languages' own dev splits", "setup": a.setup,
            "overrides": overrides(a), "rows": rows}


def cmd_heldout(a: argparse.Namespace) -> dict:
    from polyglot_transfer.models.provision import model_path

    tests = {lang: load(lang, "test", a.test_per_lang, a.seed) for lang in HELD_OUT}
    swa = load("swa", "train", a.train_per_lang, a.seed)
    swa_plain = load("swa", "train", a.plain_train or a.train_per_lang, a.seed)
    train = pooled(TRAIN_LANGS, "train", a.train_per_lang, a.seed)
    setup = {**config_setup(a.setup), **overrides(a)}
    sides = {}
    for side in a.sides:
        start = time.monotonic()
        if side == "plain":
            preds, info = plain_transformers(swa_plain, tests, model_path(MODEL), a.seed), {"train": "swa"}
            info["n_train"] = len(swa_plain)
            side = f"plain (swa {len(swa_plain)})"
        elif side == "toolkit-swa":
            preds, info = toolkit(swa, tests, setup, a.seed)
            info["train"] = "swa"
        else:
            preds, info = toolkit(train, tests, setup, a.seed)
            info["train"] = "+".join(TRAIN_LANGS)
        info.setdefault("n_train", len(train) if side == "toolkit" else len(swa))
        s = scores(tests, preds)
        sides[side] = {"mean_f1": float(np.mean([v["f1"] for v in s.values()])), "per_language": s,
                       "seconds": round(time.monotonic() - start), **info}
        logger.info("%s: mean held-out F1 %.3f (%s)", side, sides[side]["mean_f1"],
                    ", ".join(f"{k} {v['f1']:.3f}" for k, v in s.items()))
    return {"held_out": HELD_OUT, "train_languages": TRAIN_LANGS, "setup": a.setup, "setup_adapt": setup,
            "sides": sides}


def markdown(result: dict, cmd: str, seconds: float) -> str:
    n_train, n_test, seed = result["train_per_lang"], result["test_per_lang"], result["seed"]
    lines = [f"# MasakhaNER leave-languages-out: {cmd}", "", "Command (1 torch thread, on the shared 2-core CPU while other "
             "work ran; an F1 benchmark, no timing is published):", "",
             *[f"    PYTHONPATH=. PGT_CORPORA_DIR=../shared/corpora python {c}" for c in result["command"].split("` then `")],
             "",
             f"Model {MODEL}; seed {seed}; {n_train} training sentences per language and "
             f"{n_test} {'dev' if cmd == 'sweep' else 'test'} sentences per scored language "
             f"(seeded samples); entity-level micro F1, seqeval IOB2 strict. Wall time {seconds / 60:.0f} min.", ""]
    if result.get("note"):
        lines += [result["note"], ""]
    if cmd == "sweep":
        lines += [f"Setup `{result['setup']}` of eval/configs/masakhaner.yaml with {json.dumps(result['overrides'])}, "
                  f"trained on {', '.join(TRAIN_LANGS)} pooled, "
                  "scored on the dev splits of the same languages (no held-out language is read).", "",
                  "| learning rate | mean dev F1 | " + " | ".join(TRAIN_LANGS) + " | train loss per epoch |",
                  "|---|---|" + "---|" * len(TRAIN_LANGS) + "---|"]
        for r in result["rows"]:
            lines.append(f"| {r['learning_rate']:g} | {r['mean_dev_f1']:.3f} | "
                         + " | ".join(f"{r['per_language'][x]:.3f}" for x in TRAIN_LANGS)
                         + f" | {', '.join(f'{x:.3f}' for x in r['train_loss'])} |")
        return "\n".join(lines) + "\n"
    held = result["held_out"]
    lines += [f"Held out entirely: {', '.join(held)}. Pooled training languages: {', '.join(TRAIN_LANGS)}. "
              f"Toolkit setup `{result['setup']}` of eval/configs/masakhaner.yaml: `{json.dumps(result['setup_adapt'])}`.", "",
              "| side | trained on | mean F1 | " + " | ".join(held) + " |", "|---|---|---|" + "---|" * len(held)]
    for side, r in result["sides"].items():
        lines.append(f"| {side} | {r['train']} ({r.get('n_train', '?')} sentences) | **{r['mean_f1']:.3f}** | "
                     + " | ".join(f"{r['per_language'][x]['f1']:.3f}" for x in held) + " |")
    lines += ["", "Per-type F1 (PER / ORG / LOC / DATE) per held-out language:", "",
              "| side | " + " | ".join(held) + " |", "|---|" + "---|" * len(held)]
    for side, r in result["sides"].items():
        cells = []
        for x in held:
            pt = r["per_language"][x]["per_type"]
            cells.append(" / ".join(f"{pt.get(k, 0.0):.2f}" for k in ("PER", "ORG", "LOC", "DATE")))
        lines.append(f"| {side} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cmd", choices=["sweep", "heldout", "render"], help="render: rewrite <out>.md from <out>.json")
    p.add_argument("--train-per-lang", type=int, default=500)
    p.add_argument("--test-per-lang", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--setup", default="full", help="setup of eval/configs/masakhaner.yaml for the toolkit side")
    p.add_argument("--override", nargs="*", default=[], metavar="KEY=VALUE",
                   help="change the setup's adapt parameters (e.g. min_steps=60 batch_size=8)")
    p.add_argument("--learning-rates", type=float, nargs="+", default=[5e-5, 1e-4, 2e-4])
    p.add_argument("--sides", nargs="+", default=["plain", "toolkit-swa", "toolkit"],
                   choices=["plain", "toolkit-swa", "toolkit"])
    p.add_argument("--plain-train", type=int, default=None,
                   help="Swahili training sentences of the plain side (default: --train-per-lang)")
    p.add_argument("--merge", action="store_true", help="add these sides to <out>.json instead of replacing it")
    p.add_argument("--out", type=Path, required=True, help="output path without extension (.json and .md)")
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from polyglot_transfer.fileio import atomic_write_json, atomic_write_text

    if a.cmd == "render":
        result = json.loads(a.out.with_suffix(".json").read_text())
        cmd = "sweep" if "rows" in result else "heldout"
    else:
        start = time.monotonic()
        result = cmd_sweep(a) if a.cmd == "sweep" else cmd_heldout(a)
        result.update(command=" ".join(sys.argv), train_per_lang=a.train_per_lang, test_per_lang=a.test_per_lang,
                      seed=a.seed, model=MODEL, seconds=round(time.monotonic() - start))
        cmd = a.cmd
        if a.merge:
            old = json.loads(a.out.with_suffix(".json").read_text())
            if (old["train_per_lang"], old["test_per_lang"], old["seed"]) != (a.train_per_lang, a.test_per_lang, a.seed):
                raise SystemExit(f"--merge: {a.out}.json has other sizes or seed; use the same --train-per-lang, "
                                 "--test-per-lang and --seed")
            old["sides"].update(result["sides"])
            old["command"] = f"{old['command']}` then `{result['command']}"
            old["seconds"] += result["seconds"]
            result = old
        a.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(a.out.with_suffix(".json"), result)
    atomic_write_text(a.out.with_suffix(".md"), markdown(result, cmd, result["seconds"]))
    print(a.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
