"""Generation speed: the toolkit's batched LocalGenerator against a plain `model.generate` loop.

Both sides use the same model folder, the same prompts (agri_advice questions with their gold passage,
the `rag` prompt shape), the same batch size, greedy decoding, left padding and the KV cache. The
plain loop is what a user would write with transformers alone. Runs alternate (toolkit, plain,
toolkit, plain, ...) so that drift in machine load hits both; the median wall time per side is
reported, with new tokens per second counted the same way for both (generated ids up to and
including the first end-of-sequence token). The answers of both sides are compared too.

    python benchmarks/generation_speed.py --out benchmarks/results/generation_speed.json
    python benchmarks/generation_speed.py --model HuggingFaceTB/SmolLM2-135M-Instruct --batch-size 4
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
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from polyglot_transfer.data.qa import load_qa_jsonl  # noqa: E402
from polyglot_transfer.errors import PGTError  # noqa: E402
from polyglot_transfer.fileio import atomic_write_json, atomic_write_text  # noqa: E402
from polyglot_transfer.models.provision import resolve_model  # noqa: E402
from polyglot_transfer.retrieval.generators import LocalGenerator  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpora" / "agri_advice"
logger = logging.getLogger("generation_speed")


def _prompts(n: int) -> list[str]:
    docs = {row["id"]: row for row in map(json.loads, (CORPUS / "documents.jsonl").read_text("utf-8").splitlines())}
    qa = list(load_qa_jsonl(CORPUS / "qa.jsonl", doc_ids=docs))
    return [f"{docs[ex.meta['doc_id']]['text']}\n\nQuestion: {ex.text}\nAnswer:" for ex in qa[:n]]


def _new_tokens(ids, eos_ids: set[int]) -> int:
    """Generated ids per row up to and including the first eos (what follows is padding of a finished row)."""
    total = 0
    for row in ids.tolist():
        ends = [i for i, tok in enumerate(row) if tok in eos_ids]
        total += ends[0] + 1 if ends else len(row)
    return total


def plain_loop(model, tokenizer, prompts: list[str], batch_size: int, max_new_tokens: int):
    """What a user writes with transformers alone: left-padded batches through model.generate."""
    import torch

    tokenizer.padding_side = "left"
    texts, ids = [], []
    for start in range(0, len(prompts), batch_size):
        enc = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        new = out[:, enc["input_ids"].shape[1] :]
        ids.append(new)
        texts += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
    return texts, ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="google/gemma-3-270m")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=16, help="number of questions (agri_advice qa.jsonl order)")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "generation_speed.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    prompts = _prompts(args.prompts)
    folder = resolve_model(args.model, pull=False)

    toolkit = LocalGenerator(folder, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    toolkit.model  # load outside the timed region  # noqa: B018
    plain_tok = AutoTokenizer.from_pretrained(str(folder))
    if plain_tok.pad_token is None:
        plain_tok.pad_token = plain_tok.eos_token
    plain_model = AutoModelForCausalLM.from_pretrained(str(folder)).eval()
    eos = plain_model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}

    # Count tokens the same way for both: the plain loop's ids (the answers are compared below).
    plain_texts, plain_ids = plain_loop(plain_model, plain_tok, prompts, args.batch_size, args.max_new_tokens)
    n_tokens = sum(_new_tokens(ids, eos_ids) for ids in plain_ids)
    toolkit_texts = toolkit.generate(prompts)  # warm-up of the toolkit side too
    same = sum(a == b for a, b in zip(toolkit_texts, plain_texts))

    times: dict[str, list[float]] = {"toolkit": [], "plain": []}
    for r in range(args.repeats):
        for side in ("toolkit", "plain"):
            t0 = time.perf_counter()
            if side == "toolkit":
                toolkit.generate(prompts)
            else:
                plain_loop(plain_model, plain_tok, prompts, args.batch_size, args.max_new_tokens)
            times[side].append(time.perf_counter() - t0)
            logger.info("repeat %d %-7s %.2f s", r + 1, side, times[side][-1])

    result = {
        "model": args.model, "dtype": str(plain_model.dtype), "batch_size": args.batch_size,
        "prompts": len(prompts), "max_new_tokens": args.max_new_tokens, "repeats": args.repeats,
        "torch_threads": args.threads, "new_tokens": n_tokens, "identical_answers": f"{same}/{len(prompts)}",
        "seconds": times,
        "tokens_per_s": {side: n_tokens / statistics.median(t) for side, t in times.items()},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/generation_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    atomic_write_json(args.out, result)
    ratio = result["tokens_per_s"]["toolkit"] / result["tokens_per_s"]["plain"]
    table = (
        f"# Generation speed: toolkit LocalGenerator vs a plain model.generate loop\n\n"
        f"Command: `{result['command'].strip()}` ({result['date']}, {result['machine']}, "
        f"torch {torch.__version__}, transformers {transformers.__version__}, {args.threads} torch thread(s)).\n\n"
        f"Model `{args.model}` ({result['dtype']}), {len(prompts)} agri_advice questions with their gold passage, "
        f"batch size {args.batch_size}, greedy, max_new_tokens {args.max_new_tokens}, left padding, KV cache; "
        f"{n_tokens} new tokens per pass; median of {args.repeats} alternating passes.\n\n"
        "| side | median s | tokens/s | passes (s) |\n|---|---|---|---|\n"
        + "".join(
            f"| {side} | {statistics.median(t):.2f} | {result['tokens_per_s'][side]:.1f} | "
            f"{', '.join(f'{x:.2f}' for x in t)} |\n" for side, t in times.items()
        )
        + f"\nToolkit / plain tokens/s: {ratio:.2f}. Identical answers: {result['identical_answers']}.\n"
    )
    atomic_write_text(args.out.with_suffix(".md"), table)
    print(table)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PGTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
