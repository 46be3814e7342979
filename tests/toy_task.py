"""A small, separable, two-language classification task written to files, for end-to-end tests."""

from __future__ import annotations

import json
from pathlib import Path

WORDS = {
    "animals": {"eng_Latn": ["cow", "goat", "chicken", "sheep", "donkey"],
                "swh_Latn": ["ng'ombe", "mbuzi", "kuku", "kondoo", "punda"]},
    "crops": {"eng_Latn": ["maize", "beans", "cassava", "rice", "sorghum"],
              "swh_Latn": ["mahindi", "maharagwe", "muhogo", "mchele", "mtama"]},
    "weather": {"eng_Latn": ["rain", "drought", "wind", "storm", "frost"],
                "swh_Latn": ["mvua", "ukame", "upepo", "dhoruba", "baridi"]},
}


def write_toy_task(folder: Path, n_train_per_label: int = 10) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    train, test, docs = [], [], []
    for label, by_lang in WORDS.items():
        words = by_lang["eng_Latn"]
        for i in range(n_train_per_label):
            train.append({"id": f"tr-{label}-{i}", "text": f"my {words[i % 5]} and {words[(i + 2) % 5]} {i}",
                          "label": label, "lang": "eng_Latn"})
        for lang, lw in by_lang.items():
            for i in range(5):
                test.append({"id": f"te-{label}-{lang}-{i}", "text": f"{lw[i]} {lw[(i + 1) % 5]}",
                             "label": label, "lang": lang})
        docs.append({"id": f"doc-{label}", "text": " ".join(by_lang["swh_Latn"]), "label": label, "lang": "swh_Latn"})
    paths = {}
    for name, rows in (("train", train), ("test", test), ("documents", docs)):
        paths[name] = folder / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return paths


def toy_config(folder: Path, model: Path, **extra) -> dict:
    paths = write_toy_task(folder / "data")
    config = {
        "name": "toy",
        "task": {"train": str(paths["train"]), "test": str(paths["test"]), "documents": str(paths["documents"])},
        "model": str(model),
        "source_language": "eng_Latn",
        "target_languages": ["eng_Latn", "swh_Latn"],
        "setups": {
            "head": {"adapt": {"strategy": "head"}},
            "lora": {"adapt": {"strategy": "lora", "epochs": 2, "batch_size": 8}},
            "rag": {"retrieval": {"k": 4}},
            "lora+rag": {"adapt": {"strategy": "lora", "epochs": 2, "batch_size": 8}, "retrieval": {"k": 4}},
        },
        "baseline": "head",
        "bootstrap": {"n_resamples": 200, "alpha": 0.05},
        "output_dir": str(folder / "run"),
    }
    config.update(extra)
    return config
