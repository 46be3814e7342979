"""polyglot-transfer against the plain stack a user would write by hand, in the same run.

Compares, on the built-in demo corpus (English training, 7 test languages) with the real default model:
1. embedding: `Embedder.encode_queries` vs `SentenceTransformer.encode` (time ratio, max |difference|);
2. index: `VectorIndex` (Flat, cosine) add + search vs a raw `faiss.IndexFlatIP` (time ratio, same top-k);
3. head: the `head` strategy vs scikit-learn logistic regression on raw sentence-transformers embeddings;
4. LoRA: the `lora` strategy (mean pooling, linear-probe head init) vs the plain recipe: PEFT LoRA on
   `AutoModelForSequenceClassification` trained with the transformers Trainer (same r, epochs, lr).
Prints a markdown table with ratios (ours / plain) and writes JSON with --out.

    python benchmarks/vs_plain_stack.py --threads 2 --out benchmarks/results/vs_plain_stack.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

MODEL = "intfloat/multilingual-e5-small"


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def macro_f1(y_true, y_pred, labels):
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=float, default=4)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from sentence_transformers import SentenceTransformer

    from polyglot_transfer.adapt import build_strategy
    from polyglot_transfer.data.corpora import load_demo_corpus
    from polyglot_transfer.models import resolve_model
    from polyglot_transfer.retrieval.embedder import Embedder
    from polyglot_transfer.retrieval.faiss_index import VectorIndex

    corpus = load_demo_corpus()
    train, test = corpus.train, corpus.test
    labels = train.label_set
    path = resolve_model(MODEL)
    rows = []

    # 1. embedding -------------------------------------------------------------------------------
    texts = test.texts
    raw = SentenceTransformer(str(path), device="cpu")
    raw.encode(texts[:8])  # warm both up
    ours = Embedder(MODEL)
    ours.encode_queries(texts[:8])
    ours._cache.clear()
    plain_vec, t_plain = timed(lambda: raw.encode(["query: " + t for t in texts], batch_size=32,
                                                  normalize_embeddings=True, convert_to_numpy=True))
    our_vec, t_ours = timed(lambda: ours.encode_queries(texts))
    rows.append({"task": f"embed {len(texts)} texts", "ours_s": t_ours, "plain_s": t_plain,
                 "check": f"max |diff| {float(np.abs(our_vec - plain_vec).max()):.1e}"})

    # 2. index -------------------------------------------------------------------------------------
    import faiss

    def plain_index():
        idx = faiss.IndexFlatIP(plain_vec.shape[1])
        idx.add(plain_vec)
        return idx.search(plain_vec, 10)[1]

    def our_index():
        idx = VectorIndex(our_vec.shape[1], metric="cosine", recipe="Flat")
        idx.add(our_vec, texts)
        return np.array([[h.id for h in row] for row in idx.search(our_vec, 10)])

    plain_ids, t_plain = timed(plain_index)
    our_ids, t_ours = timed(our_index)
    same = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(plain_ids, our_ids)]))
    rows.append({"task": f"index add+search {len(texts)}x top-10", "ours_s": t_ours, "plain_s": t_plain,
                 "check": f"top-10 overlap {same:.3f}"})

    # 3. head ----------------------------------------------------------------------------------------
    from sklearn.linear_model import LogisticRegression

    def plain_head():
        x = raw.encode(["query: " + t for t in train.texts], normalize_embeddings=True)
        clf = LogisticRegression(max_iter=2000).fit(x, train.labels)
        return clf.predict(raw.encode(["query: " + t for t in test.texts], normalize_embeddings=True))

    plain_pred, t_plain = timed(plain_head)
    ours._cache.clear()
    head, t_fit = timed(lambda: build_strategy("head", {}, MODEL, embedder=ours).fit(train))
    our_pred, t_pred = timed(lambda: head.predict(test.texts))
    rows.append({"task": "head: fit + predict", "ours_s": t_fit + t_pred, "plain_s": t_plain,
                 "check": f"macro-F1 ours {macro_f1(test.labels, our_pred, labels):.3f} / plain "
                          f"{macro_f1(test.labels, list(plain_pred), labels):.3f}"})

    # 4. LoRA ---------------------------------------------------------------------------------------
    def plain_lora():
        from datasets import Dataset
        from peft import LoraConfig, get_peft_model
        from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                                  Trainer, TrainingArguments)

        tok = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=len(labels))
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1,
                                                 target_modules=["query", "value"], modules_to_save=["classifier"]))
        enc = tok(["query: " + t for t in train.texts], truncation=True, max_length=64)
        ds = Dataset.from_dict({**enc, "labels": [labels.index(x) for x in train.labels]})
        with tempfile.TemporaryDirectory() as tmp:
            Trainer(model=model, train_dataset=ds, data_collator=DataCollatorWithPadding(tok),
                    args=TrainingArguments(output_dir=tmp, num_train_epochs=args.epochs, learning_rate=5e-4,
                                           per_device_train_batch_size=16, save_strategy="no", report_to=[],
                                           disable_tqdm=True, seed=0)).train()
        model.eval()
        preds = []
        with torch.inference_mode():
            for i in range(0, len(test), 64):
                b = tok(["query: " + t for t in test.texts[i:i + 64]], truncation=True, max_length=64,
                        padding=True, return_tensors="pt")
                preds += [labels[j] for j in model(**b).logits.argmax(-1).tolist()]
        return preds

    plain_pred, t_plain = timed(plain_lora)
    lora, t_fit = timed(lambda: build_strategy("lora", {"epochs": args.epochs, "learning_rate": 5e-4}, MODEL,
                                               embedder=ours).fit(train))
    our_pred, t_pred = timed(lambda: lora.predict(test.texts))
    per_lang = {}
    for lang in test.languages:
        idx = [i for i, e in enumerate(test) if e.lang == lang]
        per_lang[lang] = {"ours": macro_f1([test.labels[i] for i in idx], [our_pred[i] for i in idx], labels),
                          "plain": macro_f1([test.labels[i] for i in idx], [plain_pred[i] for i in idx], labels)}
    rows.append({"task": f"lora: fit ({args.epochs:g} epochs) + predict", "ours_s": t_fit + t_pred, "plain_s": t_plain,
                 "check": f"macro-F1 ours {macro_f1(test.labels, our_pred, labels):.3f} / plain "
                          f"{macro_f1(test.labels, plain_pred, labels):.3f}"})

    print("| task | ours (s) | plain (s) | ratio ours/plain | check |\n|---|---:|---:|---:|---|")
    for r in rows:
        r["ratio"] = r["ours_s"] / r["plain_s"] if r["plain_s"] else None
        print(f"| {r['task']} | {r['ours_s']:.2f} | {r['plain_s']:.2f} | {r['ratio']:.2f} | {r['check']} |")
    print("\nLoRA macro-F1 per language (ours / plain):")
    for lang, v in per_lang.items():
        print(f"- {lang}: {v['ours']:.3f} / {v['plain']:.3f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"rows": rows, "lora_per_language": per_lang, "threads": args.threads},
                                             indent=2))


if __name__ == "__main__":
    main()
