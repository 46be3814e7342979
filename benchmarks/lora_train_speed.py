"""LoRA training speed: the toolkit's `generation` strategy against a plain transformers Trainer + peft loop.

Both sides fine-tune the same decoder (default google/gemma-3-270m) with the demo-qa config's LoRA settings
(eval/configs/demo_qa.yaml `ft`: r 8, alpha 16, dropout 0.05, PEFT's default target modules, learning rate
1e-3, batch size 2, linear schedule, max_source_length 320, max_target_length 16, no gradient checkpointing
and no accumulation, as the toolkit runs it) on the same examples: the demo's English training questions
(items qa-001..qa-004) in the QA prompt of `evaluation.qa_setups.build_prompt`, by default with their gold
passage (the rag prompt shape, longer sequences) or closed-book with `--prompt closed_book`. The plain side
is what a user writes with transformers + peft alone: tokenize prompt + " " + answer + EOS with the prompt
masked, DataCollatorForSeq2Seq, `get_peft_model`, `Trainer.train`.

Each pass is timed end to end (model load, adapters, tokenization, training), and the Trainer's own
train_runtime is reported too; passes alternate (toolkit, plain, toolkit, ...), the median counts. Tokens/s
counts the non-padding tokens of every training step (the same for both sides). The final training loss of
both sides is reported as a check that they train the same thing.

    python benchmarks/lora_train_speed.py --epochs 3 --repeats 2
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from polyglot_transfer.adapt import build_strategy  # noqa: E402
from polyglot_transfer.data.dataset import Example, TextDataset  # noqa: E402
from polyglot_transfer.data.qa import load_qa_jsonl  # noqa: E402
from polyglot_transfer.evaluation.qa_setups import build_prompt  # noqa: E402
from polyglot_transfer.fileio import atomic_write_json, atomic_write_text  # noqa: E402
from polyglot_transfer.models.provision import resolve_model  # noqa: E402
from polyglot_transfer.retrieval.rag_prompts import RagPrompt  # noqa: E402
from polyglot_transfer.tasks.builtin import AGRI_QA_TRAIN_ITEMS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpora" / "agri_advice"
logger = logging.getLogger("lora_train_speed")

# the demo-qa config's `ft` adapt block (eval/configs/demo_qa.yaml), epochs set by --epochs
DEMO_LORA = {"method": "lora", "r": 8, "alpha": 16, "learning_rate": 0.001, "batch_size": 2,
             "max_source_length": 320, "max_target_length": 16}


def examples(prompt_kind: str) -> list[tuple[str, str]]:
    """(prompt, answer) of the demo's English training questions, in the QA runner's prompt."""
    docs = {row["id"]: row for row in map(json.loads, (CORPUS / "documents.jsonl").read_text("utf-8").splitlines())}
    qa = load_qa_jsonl(CORPUS / "qa.jsonl", doc_ids=docs)
    rows = [e for e in qa if e.meta["item"] in AGRI_QA_TRAIN_ITEMS and e.lang == "eng_Latn"]
    out = []
    for e in rows:
        passages = [f"[1] {' '.join(docs[e.meta['doc_id']]['text'].split())}"] if prompt_kind == "passage" else None
        out.append((build_prompt(e.text, e.lang, passages=passages), e.meta["answers"][0]))
    return out


def toolkit_pass(model: str, pairs: list[tuple[str, str]], epochs: int, seed: int) -> dict:
    t0 = time.perf_counter()
    strategy = build_strategy("generation", {**DEMO_LORA, "epochs": epochs, "template": "{question}"}, model, seed=seed)
    strategy.fit(TextDataset([Example(id=str(i), text=p, label=a, lang="eng_Latn") for i, (p, a) in enumerate(pairs)],
                             name="train"))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "loss": strategy.train_loss_[-1] if strategy.train_loss_ else None}


def plain_features(tokenizer, pairs: list[tuple[str, str]]) -> dict[str, list[list[int]]]:
    eos = [tokenizer.eos_token_id]
    rows: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
    for prompt, answer in pairs:
        p = tokenizer(prompt, truncation=True, max_length=DEMO_LORA["max_source_length"])["input_ids"]
        a = (tokenizer(" " + answer, add_special_tokens=False)["input_ids"] + eos)[: DEMO_LORA["max_target_length"]]
        rows["input_ids"].append(p + a)
        rows["attention_mask"].append([1] * (len(p) + len(a)))
        rows["labels"].append([-100] * len(p) + a)
    return rows


def plain_pass(folder: Path, pairs: list[tuple[str, str]], epochs: int, seed: int) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer,
                              TrainingArguments)

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(folder))
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=DEMO_LORA["r"], lora_alpha=DEMO_LORA["alpha"],
                                             lora_dropout=0.05, bias="none"))
    dataset = Dataset.from_dict(plain_features(tokenizer, pairs))
    with tempfile.TemporaryDirectory(prefix="plain-lora-") as out:
        args = TrainingArguments(output_dir=out, num_train_epochs=epochs, per_device_train_batch_size=DEMO_LORA["batch_size"],
                                 learning_rate=DEMO_LORA["learning_rate"], lr_scheduler_type="linear", seed=seed,
                                 data_seed=seed, save_strategy="no", report_to=[], logging_strategy="epoch",
                                 disable_tqdm=True, use_cpu=not torch.cuda.is_available())
        trainer = Trainer(model=model, args=args, train_dataset=dataset,
                          data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100))
        result = trainer.train()
    seconds = time.perf_counter() - t0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"seconds": seconds, "train_runtime": result.metrics["train_runtime"], "loss": losses[-1] if losses else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="google/gemma-3-270m")
    parser.add_argument("--prompt", choices=["passage", "closed_book"], default="passage")
    parser.add_argument("--epochs", type=int, default=3, help="epochs over the 4 training pairs (2 steps each)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "lora_train_speed.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch
    import peft
    import transformers
    from transformers import AutoTokenizer

    torch.set_num_threads(args.threads)
    folder = resolve_model(args.model, pull=False)
    pairs = examples(args.prompt)
    tok = AutoTokenizer.from_pretrained(str(folder))
    feats = plain_features(tok, pairs)
    lengths = [len(x) for x in feats["input_ids"]]
    bs = DEMO_LORA["batch_size"]
    steps_per_epoch = -(-len(pairs) // bs)
    tokens = args.epochs * sum(lengths)  # non-padding tokens through the model, every epoch
    logger.info("%d pairs, lengths %s, %d steps, %d tokens per pass", len(pairs), lengths,
                args.epochs * steps_per_epoch, tokens)

    runs: dict[str, list[dict]] = {"toolkit": [], "plain": []}
    for r in range(args.repeats):
        for side in ("toolkit", "plain"):
            res = toolkit_pass(args.model, pairs, args.epochs, args.seed) if side == "toolkit" else \
                plain_pass(folder, pairs, args.epochs, args.seed)
            runs[side].append(res)
            logger.info("repeat %d %-7s %.2f s (loss %s)", r + 1, side, res["seconds"], res["loss"])

    med = {side: statistics.median(x["seconds"] for x in rs) for side, rs in runs.items()}
    tps = {side: tokens / s for side, s in med.items()}
    result = {
        "model": args.model, "prompt": args.prompt, "pairs": len(pairs), "sequence_lengths": lengths,
        "epochs": args.epochs, "steps": args.epochs * steps_per_epoch, "tokens_per_pass": tokens,
        "lora": {**DEMO_LORA, "dropout": 0.05, "target_modules": "PEFT default", "gradient_checkpointing": False},
        "repeats": args.repeats, "torch_threads": args.threads, "runs": runs, "median_seconds": med,
        "tokens_per_s": tps, "ratio_toolkit_over_plain": tps["toolkit"] / tps["plain"],
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                     "python": platform.python_version()},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": ("python benchmarks/lora_train_speed.py " + " ".join(argv if argv is not None else sys.argv[1:])).strip(),
    }
    atomic_write_json(args.out, result)
    table = (
        "# LoRA training speed: toolkit `generation` strategy vs a plain Trainer + peft loop\n\n"
        f"Command: `{result['command']}` ({result['date']}, {result['machine']}, torch {torch.__version__}, "
        f"transformers {transformers.__version__}, peft {peft.__version__}, {args.threads} torch thread(s)).\n\n"
        f"Model `{args.model}`, LoRA r {DEMO_LORA['r']} alpha {DEMO_LORA['alpha']} dropout 0.05 (PEFT default target "
        f"modules), lr {DEMO_LORA['learning_rate']}, batch {bs}, no gradient checkpointing or accumulation (the "
        f"demo-qa settings); {len(pairs)} English training pairs ({args.prompt} prompt, {lengths} tokens), "
        f"{args.epochs} epochs = {result['steps']} steps, {tokens} tokens per pass. Each pass end to end (load, "
        f"adapters, tokenize, train); median of {args.repeats} alternating passes.\n\n"
        "| side | median s | tokens/s | passes (s) | final loss |\n|---|---|---|---|---|\n"
        + "".join(f"| {side} | {med[side]:.2f} | {tps[side]:.1f} | {', '.join('%.2f' % x['seconds'] for x in rs)} | "
                  f"{rs[-1]['loss']:.4f} |\n" for side, rs in runs.items())
        + f"\nToolkit / plain tokens/s: {result['ratio_toolkit_over_plain']:.2f}. Plain Trainer train_runtime per "
        f"pass: {', '.join('%.2f' % x['train_runtime'] for x in runs['plain'])} s.\n"
    )
    atomic_write_text(args.out.with_suffix(".md"), table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
