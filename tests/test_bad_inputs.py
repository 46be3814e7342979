"""The bad-input matrix: every bad config value, config file, data file, language code, model folder and run
folder is refused before work starts, by the real CLI (in-process `main(argv)`, a few in a subprocess) and
the Python API, with the right exit code, a message naming the offending key or file, no traceback, and
nothing lost. No model is loaded and nothing is trained here: validation fails first (a model folder is a
config.json only).

Index inputs and the reader-during-writer load test live with the index tests (tests/test_retrieval_index.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest
import yaml

from polyglot_transfer.cli.main import main
from polyglot_transfer.errors import ConfigError, DataError, LanguageError, PGTError
from tests.conftest import REPO
from tests.toy_task import write_toy_task


def _row(**fields) -> bytes:
    return (json.dumps(fields, ensure_ascii=False) + "\n").encode("utf-8")


def _rows(label_lang: list[tuple[str, str]], n: int = 3) -> bytes:
    return b"".join(_row(id=f"{lab}-{lang}-{i}", text=f"{lab} text {i}", label=lab, lang=lang)
                    for lab, lang in label_lang for i in range(n))


GOOD_TRAIN = _rows([("a", "eng_Latn"), ("b", "eng_Latn")])
GOOD_TEST = _rows([("a", "eng_Latn"), ("b", "eng_Latn"), ("a", "swh_Latn"), ("b", "swh_Latn")])


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """Toy data, an encoder and a decoder model folder (config.json only), and a valid compare config."""
    root = tmp_path_factory.mktemp("world")
    paths = write_toy_task(root / "data")
    enc, dec = root / "enc", root / "dec"
    enc.mkdir()
    dec.mkdir()
    (enc / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    (dec / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    config = {
        "name": "toy",
        "task": {"train": str(paths["train"]), "test": str(paths["test"]), "documents": str(paths["documents"])},
        "model": str(enc),
        "source_language": "eng_Latn",
        "target_languages": ["eng_Latn", "swh_Latn"],
        "setups": {
            "head": {"adapt": {"strategy": "head"}},
            "lora": {"adapt": {"strategy": "lora", "epochs": 2}},
            "rag": {"retrieval": {"k": 4}},
            "lora+rag": {"adapt": "lora", "retrieval": {"k": 4}},
        },
        "baseline": "head",
        "bootstrap": {"n_resamples": 200},
        "output_dir": str(root / "run"),
    }
    (root / "base.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return {"root": root, "enc": enc, "dec": dec, "base": root / "base.yaml", "run": root / "run", **paths}


@dataclasses.dataclass
class Case:
    id: str
    code: int
    must: tuple[str, ...] = ()  # substrings of the message (formatted with {tmp}, {enc}, {dec})
    sets: tuple[str, ...] = ()  # --set overrides of the base config (formatted the same way)
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)  # written into tmp first
    config: bytes | None = None  # the config file's bytes instead of the base config
    verb: str = "validate"


def _sets(*items: str) -> tuple[str, ...]:
    return items


# -- 1. config values ----------------------------------------------------------------------------------
VALUES = [
    Case("k-zero", 2, ("setups.rag.retrieval.k must be an int >= 1. Got 0 instead.",), _sets("setups.rag.retrieval.k=0")),
    Case("k-negative", 2, ("setups.rag.retrieval.k must be an int >= 1. Got -3",), _sets("setups.rag.retrieval.k=-3")),
    Case("k-fraction", 2, ("setups.rag.retrieval.k must be an int >= 1. Got 1.5",), _sets("setups.rag.retrieval.k=1.5")),
    Case("k-bool", 2, ("setups.rag.retrieval.k must be an int >= 1. Got True",), _sets("setups.rag.retrieval.k=true")),
    Case("k-quoted", 2, ("setups.rag.retrieval.k must be an int >= 1. Got '8'",), _sets("setups.rag.retrieval.k='8'")),
    Case("k-null-list", 2, ("setups.rag.retrieval.k",), _sets("setups.rag.retrieval.k=[1]")),
    Case("temperature-zero", 2, ("setups.rag.retrieval.temperature must be a number > 0. Got 0",),
         _sets("setups.rag.retrieval.temperature=0")),
    Case("temperature-negative", 2, ("setups.rag.retrieval.temperature must be a number > 0. Got -0.1",),
         _sets("setups.rag.retrieval.temperature=-0.1")),
    Case("temperature-nan", 2, ("setups.rag.retrieval.temperature must be a finite number > 0. Got nan",),
         _sets("setups.rag.retrieval.temperature=.nan")),
    Case("temperature-inf", 2, ("setups.rag.retrieval.temperature must be a finite number > 0. Got inf",),
         _sets("setups.rag.retrieval.temperature=.inf")),
    Case("temperature-text", 2, ("setups.rag.retrieval.temperature must be a number > 0. Got 'warm'",),
         _sets("setups.rag.retrieval.temperature=warm")),
    Case("retrieval-unknown-key", 2, ("setups.rag.retrieval: unknown key 'kk'",), _sets("setups.rag.retrieval.kk=3")),
    Case("retrieval-not-mapping", 2, ("setups.rag.retrieval",), _sets("setups.rag.retrieval=8")),
    Case("use-examples-text", 2, ("setups.rag.retrieval.use_examples must be true or false. Got 'no'",),
         _sets("setups.rag.retrieval.use_examples='no'")),
    Case("combine-weight-text", 2, ("setups.lora+rag.combine_weight must be a number in [0, 1]. Got 'abc'",),
         _sets("setups.lora+rag.combine_weight=abc")),
    Case("combine-weight-above", 2, ("setups.lora+rag.combine_weight must be a number in [0, 1]. Got 1.5",),
         _sets("setups.lora+rag.combine_weight=1.5")),
    Case("combine-weight-below", 2, ("setups.lora+rag.combine_weight must be a number in [0, 1]. Got -0.1",),
         _sets("setups.lora+rag.combine_weight=-0.1")),
    Case("combine-weight-nan", 2, ("setups.lora+rag.combine_weight must be a finite number in [0, 1]. Got nan",),
         _sets("setups.lora+rag.combine_weight=.nan")),
    Case("alpha-zero", 2, ("bootstrap.alpha must be a number in (0, 1). Got 0",), _sets("bootstrap.alpha=0")),
    Case("alpha-one", 2, ("bootstrap.alpha must be a number in (0, 1). Got 1",), _sets("bootstrap.alpha=1")),
    Case("alpha-negative", 2, ("bootstrap.alpha must be a number in (0, 1). Got -0.5",), _sets("bootstrap.alpha=-0.5")),
    Case("alpha-percent", 2, ("bootstrap.alpha must be a number in (0, 1). Got 5",), _sets("bootstrap.alpha=5")),
    Case("resamples-99", 2, ("bootstrap.n_resamples must be an int >= 100. Got 99",), _sets("bootstrap.n_resamples=99")),
    Case("resamples-zero", 2, ("bootstrap.n_resamples must be an int >= 100. Got 0",), _sets("bootstrap.n_resamples=0")),
    Case("resamples-fraction", 2, ("bootstrap.n_resamples must be an int >= 100. Got 1000.5",),
         _sets("bootstrap.n_resamples=1000.5")),
    Case("resamples-text", 2, ("bootstrap.n_resamples must be an int >= 100. Got 'many'",),
         _sets("bootstrap.n_resamples=many")),
    Case("bootstrap-unknown-key", 2, ("bootstrap: unknown key 'n_resample'. Did you mean 'n_resamples'",),
         _sets("bootstrap.n_resample=200")),
    Case("bootstrap-not-mapping", 2, ("bootstrap",), _sets("bootstrap=5")),
    Case("seeds-empty", 2, ("seeds must be a non-empty list. Got []",), _sets("seeds=[]")),
    Case("seeds-text", 2, ("seeds[0] must be an int in [0, 4294967295]. Got 'a'",), _sets("seeds=[a]")),
    Case("seeds-fraction", 2, ("seeds[1] must be an int in [0, 4294967295]. Got 1.5",), _sets("seeds=[0, 1.5]")),
    Case("seeds-bool", 2, ("seeds[0] must be an int in [0, 4294967295]. Got True",), _sets("seeds=[true]")),
    Case("seeds-scalar", 2, ("seeds must be a valid list. Got 5",), _sets("seeds=5")),
    Case("seeds-duplicate", 2, ("seeds[1]: seed 0 is listed twice",), _sets("seeds=[0, 0]")),
    Case("seeds-negative", 2, ("seeds[0] must be an int in [0, 4294967295]. Got -1",), _sets("seeds=[-1]")),
    Case("seeds-too-big", 2, ("seeds[0] must be an int in [0, 4294967295]",), _sets("seeds=[99999999999]")),
    Case("name-path", 2, ("name: '../escape' cannot be used as a folder name",), _sets("name=../escape")),
    Case("name-dotdot", 2, ("name: '..' cannot be used as a folder name",), _sets("name='..'")),
    Case("setup-name-path", 2, ("setups: 'a/b' cannot be used as a folder name (no '/'",), _sets("setups.a/b={adapt: head}")),
    Case("output-dir-empty", 2, ("output_dir must be a non-empty string",), _sets("output_dir=''")),
    Case("metrics-twice", 2, ("metrics[1]: 'accuracy' is listed twice",), _sets("metrics=[accuracy, accuracy]")),
    Case("workers-zero", 2, ("workers must be an int in [1, 1024]. Got 0",), _sets("workers=0")),
    Case("workers-negative", 2, ("workers must be an int in [1, 1024]. Got -1",), _sets("workers=-1")),
    Case("workers-huge", 2, ("workers must be an int in [1, 1024]. Got 2000",), _sets("workers=2000")),
    Case("threads-zero", 2, ("threads must be an int >= 1. Got 0",), _sets("threads=0")),
    Case("threads-text", 2, ("threads must be an int >= 1. Got 'two'",), _sets("threads=two")),
    Case("backend-typo", 2, ("backend must be one of 'local', 'ray'. Got 'rey' instead. Did you mean 'ray'?",),
         _sets("backend=rey")),
    Case("forgetting-text", 2, ("forgetting must be true or false. Got 'yes'",), _sets("forgetting='yes'")),
    Case("diagnostics-number", 2, ("diagnostics must be true or false. Got 3",), _sets("diagnostics=3")),
    Case("metric-typo", 2, ("metrics[0]: unknown metric 'acuracy'. Did you mean 'accuracy'",), _sets("metrics=[acuracy]")),
    Case("metrics-empty", 2, ("metrics must be a non-empty list",), _sets("metrics=[]")),
    Case("name-empty", 2, ("name must be a non-empty string",), _sets("name=''")),
    Case("name-list", 2, ("name must be a valid string",), _sets("name=[a]")),
    Case("unknown-top-key", 2, ("unknown key 'modle'. Did you mean 'model'",), _sets("modle=x")),
    Case("output-dir-number-list", 2, ("output_dir",), _sets("output_dir=[1]")),
    Case("baseline-unknown", 2, ("baseline 'nope' is not one of the setups",), _sets("baseline=nope")),
    Case("baseline-typo", 2, ("baseline 'hed' is not one of the setups. Did you mean 'head'",), _sets("baseline=hed")),
    Case("strategy-typo", 2, ("setups.lora.adapt.strategy: unknown strategy 'lorra'. Did you mean 'lora'",),
         _sets("setups.lora.adapt.strategy=lorra")),
    Case("strategy-missing", 2, ("setups.lora.adapt: missing required key 'strategy'",), _sets("setups.lora.adapt={}")),
    Case("strategy-param-typo", 2, ("setups.lora.adapt: unknown key 'epoch'. Did you mean 'epochs'",),
         _sets("setups.lora.adapt.epoch=3")),
    Case("setup-empty", 2, ("setups.x needs `adapt: {strategy: ...}`, `retrieval: {...}`, or both",), _sets("setups.x={}")),
    Case("setup-unknown-key", 2, ("setups.rag: unknown key 'retrival'. Did you mean 'retrieval'",),
         _sets("setups.rag.retrival={k: 3}")),
    Case("setups-empty", 2, ("setups must be a non-empty mapping",), _sets("setups={}", "baseline=null")),
    Case("setups-list", 2, ("setups must be a valid dictionary",), _sets("setups=[a]", "baseline=null")),
    Case("setup-scalar", 2, ("setups.rag",), _sets("setups.rag=3")),
    Case("adapt-reference-missing", 2, ("setups.lora+rag.adapt: 'lorra' is not a setup", "Did you mean 'lora'"),
         _sets("setups.lora+rag.adapt=lorra")),
    Case("adapt-reference-no-adapt", 2, ("setups.lora+rag.adapt: 'rag' has no adapt block",),
         _sets("setups.lora+rag.adapt=rag")),
    Case("adapt-reference-circle", 2, ("go round in a circle",), _sets("setups.lora.adapt=lora+rag")),
    Case("adapt-reference-override-through", 2, ("setups.lora+rag.adapt is 'lora', not a mapping",
                                                  "override setups.lora.adapt.epochs instead"),
         _sets("setups.lora+rag.adapt.epochs=3")),
    Case("adapt-number", 2, ("setups.head.adapt",), _sets("setups.head.adapt=3")),
    Case("task-scalar", 2, ("task must be a mapping",), _sets("task=5")),
    Case("task-empty", 2, ("task needs `corpus`",), _sets("task=null")),
    Case("task-corpus-typo", 2, ("task.corpus 'agri' is unknown",), _sets("task={corpus: agri}")),
    Case("task-unknown-key", 2, ("task: unknown key 'trian'. Did you mean 'train'",), _sets("task.trian=x")),
    Case("override-no-equals", 2, ("Override 'seeds' has no '='",), _sets("seeds")),
    Case("override-empty-key", 2, ("has an empty key",), _sets("=3")),
    Case("override-bad-yaml", 2, ("the value is not valid YAML",), _sets("seeds=[unclosed")),
    Case("override-through-scalar", 2, ("name is 'toy', not a mapping",), _sets("name.first=x")),
]

# -- 2. languages and aliases --------------------------------------------------------------------------
LANGUAGES = [
    Case("target-three-names", 2, ("target_languages[1]: swh_Latn is listed twice ('swa' and 'swh_Latn'",
                                   "target_languages[2]: swh_Latn is listed twice ('Swahili' and 'swh_Latn'"),
         _sets("target_languages=[swh_Latn, swa, Swahili]")),
    Case("target-alias-twice", 2, ("target_languages[1]: eng_Latn is listed twice",), _sets("target_languages=[eng, English]")),
    Case("target-same-twice", 2, ("target_languages[1]: eng_Latn is listed twice",),
         _sets("target_languages=[eng_Latn, eng_Latn]")),
    Case("target-empty", 2, ("target_languages must be a non-empty list",), _sets("target_languages=[]")),
    Case("target-unknown", 2, ("target_languages[0]: Unknown language 'klingonx'",), _sets("target_languages=[klingonx]")),
    Case("target-typo", 2, ("target_languages[1]: Unknown language 'swahilli'",), _sets("target_languages=[eng, swahilli]")),
    Case("target-number", 2, ("target_languages[0] must be a valid string",), _sets("target_languages=[12]")),
    Case("target-no-test-data", 3, ("no test data for yor_Latn",), _sets("target_languages=[eng, yor]")),
    Case("sources-twice", 2, ("sources[1]: eng_Latn is listed twice",), _sets("sources=[eng, eng_Latn]")),
    Case("sources-set-twice", 2, ("sources[0]: 'eng+en' names a language twice",), _sets("sources=[eng+en]")),
    Case("sources-empty", 2, ("sources must be a non-empty list",), _sets("sources=[]")),
    Case("sources-unknown", 2, ("sources[0]: Unknown language 'qqq'",), _sets("sources=[eng+qqq]")),
    Case("source-language-unknown", 2, ("source_language: Unknown language 'xxqq'",), _sets("source_language=xxqq")),
    Case("source-not-in-sources", 2, ("source_language 'fra_Latn' is not one of sources",),
         _sets("sources=[eng]", "source_language=fra")),
    Case("source-without-training-data", 3, ("No training examples in source language swh_Latn",),
         _sets("sources=[swh]", "source_language=swh")),
]

# -- 3. models -----------------------------------------------------------------------------------------
MODELS = [
    Case("model-missing-folder", 2, ("model '{tmp}/nope' is neither a catalog name nor an existing folder",),
         _sets("model={tmp}/nope")),
    Case("model-catalog-typo", 2, ("Did you mean 'intfloat/multilingual-e5-small'",),
         _sets("model=intfloat/multilingual-e5-smal")),
    Case("lora-on-decoder", 2, ("setups.lora.adapt.strategy: 'lora' does not support decoder models",),
         _sets("model={dec}")),
    Case("lora-on-catalog-decoder", 2, ("'lora' does not support decoder models",),
         _sets("model=HuggingFaceTB/SmolLM2-135M-Instruct")),
    Case("model-garbled-config", 2, ("{tmp}/garbled/config.json is not valid JSON",),
         _sets("model={tmp}/garbled"), files={"garbled/config.json": b"{not json"}),
    Case("model-binary-config", 2, ("{tmp}/binary/config.json is not valid JSON",),
         _sets("model={tmp}/binary"), files={"binary/config.json": b"\xff\xfe\x00\x01"}),
    Case("model-truncated-safetensors", 5, ("{tmp}/trunc/model.safetensors is truncated",),
         _sets("model={tmp}/trunc"), files={"trunc/config.json": b'{"model_type": "bert"}', "trunc/model.safetensors": b"T"}),
    Case("model-empty-safetensors", 5, ("{tmp}/empty/model.safetensors is truncated",),
         _sets("model={tmp}/empty"), files={"empty/config.json": b'{"model_type": "bert"}', "empty/model.safetensors": b""}),
    Case("model-garbled-safetensors-header", 5, ("{tmp}/garb/model.safetensors",),
         _sets("model={tmp}/garb"), files={"garb/config.json": b'{"model_type": "bert"}',
                                          "garb/model.safetensors": (12).to_bytes(8, "little") + b"{not json!!}"}),
]


# -- 4. data files -------------------------------------------------------------------------------------
def _task(train: str = "train.jsonl", test: str = "test.jsonl", **extra: str) -> str:
    items = ", ".join(f"{k}: {{tmp}}/{v}" for k, v in {"train": train, "test": test, **extra}.items())
    return "task={" + items + "}"


def _data(id: str, code: int, must: tuple[str, ...], files: dict[str, bytes], *extra_sets: str, **task) -> Case:
    return Case(id, code, must, (_task(**task), *extra_sets),
                files={"train.jsonl": GOOD_TRAIN, "test.jsonl": GOOD_TEST, **files})


LATIN1 = "text,label,lang\ncafé,a,eng\n".encode("latin-1")
DATA = [
    _data("train-missing", 2, ("{tmp}/absent.jsonl does not exist",), {}, train="absent.jsonl"),
    _data("test-missing", 2, ("{tmp}/absent.jsonl does not exist",), {}, test="absent.jsonl"),
    _data("documents-missing", 2, ("{tmp}/docs.jsonl does not exist",), {}, documents="docs.jsonl"),
    _data("train-empty-jsonl", 3, ("{tmp}/train.jsonl has no data rows",), {"train.jsonl": b""}),
    _data("train-blank-lines", 3, ("{tmp}/train.jsonl has no data rows",), {"train.jsonl": b"\n\n\n"}),
    _data("test-empty-jsonl", 3, ("{tmp}/test.jsonl has no data rows",), {"test.jsonl": b""}),
    _data("train-malformed-line", 3, ("{tmp}/train.jsonl:7: invalid JSON",), {"train.jsonl": GOOD_TRAIN + b"{bad\n"}),
    _data("train-json-list-row", 3, ("{tmp}/train.jsonl:1: expected a JSON object per line",), {"train.jsonl": b"[1, 2]\n"}),
    _data("train-missing-text-column", 3, ("{tmp}/train.jsonl:1 has no column 'text'",),
          {"train.jsonl": _row(texto="x", label="a", lang="eng")}),
    _data("train-latin1-jsonl", 3, ("{tmp}/train.jsonl is not valid UTF-8",),
          {"train.jsonl": GOOD_TRAIN + b'{"text": "caf\xe9", "label": "a", "lang": "eng"}\n'}),
    _data("train-utf16-csv", 3, ("{tmp}/train.csv is not valid UTF-8",),
          {"train.csv": "text,label,lang\nx,a,eng\n".encode("utf-16")}, train="train.csv"),
    _data("train-latin1-csv", 3, ("{tmp}/train.csv is not valid UTF-8",), {"train.csv": LATIN1}, train="train.csv"),
    _data("train-empty-csv", 3, ("{tmp}/train.csv is empty",), {"train.csv": b""}, train="train.csv"),
    _data("train-header-only-csv", 3, ("{tmp}/train.csv",), {"train.csv": b"text,label,lang\n"}, train="train.csv"),
    _data("train-ragged-csv", 3, ("{tmp}/train.csv row 1 (line 2): has 2 fields but the header has 3",),
          {"train.csv": b"text,label,lang\nx,a\n"}, train="train.csv"),
    _data("train-missing-label-column-csv", 3, ("{tmp}/train.csv", "'label'"),
          {"train.csv": b"text,lang\nx,eng\n"}, train="train.csv"),
    _data("train-unclosed-quote-tsv", 3, ("{tmp}/train.tsv row 2 (line 3)", "quote"),
          {"train.tsv": b"text\tlabel\tlang\nx\ta\teng\n\"unclosed\ta\teng\n"}, train="train.tsv"),
    _data("train-empty-tsv", 3, ("{tmp}/train.tsv is empty",), {"train.tsv": b""}, train="train.tsv"),
    _data("train-unknown-suffix", 3, ("Cannot tell the format of {tmp}/train.txt",),
          {"train.txt": b"text,label\nx,a\n"}, train="train.txt"),
    _data("train-is-folder", 2, ("{tmp}/sub is a folder, not a file",), {"sub/x": b""}, train="sub"),
    _data("train-unknown-language", 3, ("{tmp}/train.jsonl:1: Unknown language 'xxqq'",),
          {"train.jsonl": _row(text="x", label="a", lang="xxqq")}),
    _data("train-empty-text", 3, ("{tmp}/train.jsonl", "empty text"), {"train.jsonl": _row(text="", label="a", lang="eng")}),
    _data("train-one-label", 3, ("training set of source eng_Latn", "has one label ('a')", "at least 2 labels"),
          {"train.jsonl": _rows([("a", "eng_Latn")]), "test.jsonl": _rows([("a", "eng_Latn"), ("a", "swh_Latn")])}),
    _data("test-label-unseen", 3, ("Test set eng_Latn has labels ['c'] that the training data never shows",),
          {"test.jsonl": GOOD_TEST + _rows([("c", "eng_Latn")])}),
    _data("train-unlabelled", 3, ("{tmp}/train.jsonl",), {"train.jsonl": _row(text="x", lang="eng")}),
    _data("columns-missing-column", 3, ("{tmp}/train.jsonl:1 has no column 'sentence'",), {},
          "task.columns={text: sentence}"),
    _data("documents-unlabelled", 3, ("{tmp}/docs.jsonl",), {"docs.jsonl": _row(text="x", lang="eng")},
          documents="docs.jsonl"),
    # valid controls: a BOM, Windows line ends, a huge line and a huge CSV field are fine
    _data("control-bom-jsonl", 0, (), {"train.jsonl": b"\xef\xbb\xbf" + GOOD_TRAIN}),
    _data("control-bom-csv", 0, (), {"train.csv": b"\xef\xbb\xbftext,label,lang\nx,a,eng\ny,b,eng\n"}, train="train.csv"),
    _data("control-crlf-tsv", 0, (), {"train.tsv": b"text\tlabel\tlang\r\nx\ta\teng\r\ny\tb\teng\r\n"}, train="train.tsv"),
    _data("control-huge-line", 0, (), {"train.jsonl": GOOD_TRAIN + _row(text="x " * 1_000_000, label="a", lang="eng")}),
    _data("control-huge-csv-field", 0, (),
          {"train.csv": b"text,label,lang\n" + b"y" * 300_000 + b",a,eng\nz,b,eng\n"}, train="train.csv"),
]

# -- 5. config files -----------------------------------------------------------------------------------
FILES = [
    Case("config-missing", 2, ("{tmp}/c.yaml' is neither a file nor an example config",), config=None),  # handled in the test
    Case("config-empty", 2, ("Config file {tmp}/c.yaml is empty",), config=b""),
    Case("config-comment-only", 2, ("Config file {tmp}/c.yaml is empty",), config=b"# nothing\n"),
    Case("config-yaml-syntax", 2, ("{tmp}/c.yaml:2:1: not valid YAML",), config=b"name: [unclosed\n"),
    Case("config-yaml-tab", 2, ("{tmp}/c.yaml:2", "not valid YAML"), config=b"name: x\n\tmodel: y\n"),
    Case("config-yaml-bad-indent", 2, ("{tmp}/c.yaml:4", "not valid YAML"), config=b"name: x\ntask:\n  a: 1\n b: 2\n"),
    Case("config-binary", 2, ("Config file {tmp}/c.yaml is binary",), config=bytes(range(256)) * 4),
    Case("config-latin1", 2, ("Config file {tmp}/c.yaml:2: byte b'\\xe9' is not UTF-8",),
         config=b"name: x\ndescription: caf\xe9\n"),
    Case("config-utf16", 2, ("Config file {tmp}/c.yaml is binary",), config="name: x\n".encode("utf-16")),
    Case("config-list", 2, ("{tmp}/c.yaml must hold a mapping of keys",), config=b"- a\n- b\n"),
    Case("config-scalar", 2, ("{tmp}/c.yaml must hold a mapping of keys",), config=b"just text\n"),
    Case("config-missing-keys", 2, ("missing required key 'setups'", "missing required key 'target_languages'",
                                    "task needs `corpus`"), config=b"name: x\n"),
]


@pytest.fixture(scope="module")
def strategy_ranges() -> bool:
    """Whether strategy configs carry typed ranges (the engine's typed strategy configs)."""
    from polyglot_transfer.adapt import STRATEGIES

    hints = typing.get_type_hints(STRATEGIES.get("lora").config_class, include_extras=True)
    return bool(getattr(hints.get("epochs"), "__metadata__", ()))


STRATEGY_PARAMS = [
    Case("lora-epochs-negative", 2, ("setups.lora.adapt.epochs must be", "Got -1 instead"), _sets("setups.lora.adapt.epochs=-1")),
    Case("lora-lr-negative", 2, ("setups.lora.adapt.learning_rate must be", "Got -1"), _sets("setups.lora.adapt.learning_rate=-1")),
    Case("lora-r-zero", 2, ("setups.lora.adapt.r must be", "Got 0"), _sets("setups.lora.adapt.r=0")),
    Case("head-c-zero", 2, ("setups.head.adapt.C must be", "Got 0"), _sets("setups.head.adapt.C=0")),
    Case("head-max-iter-zero", 2, ("setups.head.adapt.max_iter must be", "Got 0"), _sets("setups.head.adapt.max_iter=0")),
]

CASES = VALUES + LANGUAGES + MODELS + DATA + FILES


def _fmt(text: str, tmp: Path, world: dict[str, Path]) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{enc}", str(world["enc"])).replace("{dec}", str(world["dec"]))


def _run(case: Case, tmp: Path, world: dict[str, Path], capsys) -> tuple[int, str, str]:
    for name, content in case.files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes(content)
    config = world["base"]
    if case.id == "config-missing":
        config = tmp / "c.yaml"
    elif case.config is not None:
        config = tmp / "c.yaml"
        config.write_bytes(case.config)
    argv = [case.verb, str(config)]
    for item in case.sets:
        argv += ["--set", _fmt(item, tmp, world)]
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _check(case: Case, code: int, out: str, err: str, tmp: Path, world: dict[str, Path]) -> None:
    assert "Traceback" not in out + err
    assert code == case.code, f"exit {code} (expected {case.code}):\n{err}"
    for text in case.must:
        assert _fmt(text, tmp, world) in err, f"{_fmt(text, tmp, world)!r} not in:\n{err}"
    if case.code == 0:
        assert "valid" in out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_refused_by_validate(case, world, tmp_path, capsys):
    code, out, err = _run(case, tmp_path, world, capsys)
    _check(case, code, out, err, tmp_path, world)


@pytest.mark.parametrize("case", STRATEGY_PARAMS, ids=lambda c: c.id)
def test_strategy_ranges_are_refused_by_validate(case, world, tmp_path, capsys, strategy_ranges):
    if not strategy_ranges:
        pytest.skip("strategy configs carry no typed ranges yet (the engine's typed strategy configs)")
    code, out, err = _run(case, tmp_path, world, capsys)
    _check(case, code, out, err, tmp_path, world)


# compare refuses exactly what validate refuses, before any model loads or any file is written
COMPARE = [c for c in CASES if c.code != 0 and c.id in {
    "k-zero", "temperature-zero", "temperature-nan", "combine-weight-text", "alpha-one", "resamples-99", "seeds-empty",
    "target-three-names", "lora-on-decoder", "model-truncated-safetensors", "train-one-label", "train-missing",
    "train-latin1-csv", "config-binary", "config-yaml-syntax", "adapt-reference-missing", "baseline-unknown"}]


@pytest.mark.parametrize("case", COMPARE, ids=lambda c: c.id)
def test_compare_refuses_what_validate_refuses_and_writes_nothing(case, world, tmp_path, capsys):
    run = tmp_path / "run"
    compare = dataclasses.replace(case, verb="compare", sets=case.sets + (f"output_dir={run}",))
    code, out, err = _run(compare, tmp_path, world, capsys)
    _check(case, code, out, err, tmp_path, world)
    assert not run.exists()


def test_the_demo_config_and_the_base_config_are_valid(world, capsys):
    assert main(["validate", str(REPO / "eval" / "configs" / "demo.yaml")]) == 0
    assert main(["validate", str(world["base"])]) == 0
    assert "valid" in capsys.readouterr().out


# -- 6. run folders: refused before anything is written, nothing lost ------------------------------------
def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("verb", ["validate", "compare"])
def test_output_dir_that_is_a_file_is_refused_and_the_file_kept(verb, world, tmp_path, capsys):
    blocker = tmp_path / "results.txt"
    blocker.write_text("precious\n")
    before = _hashes(tmp_path)
    code = main([verb, str(world["base"]), "--set", f"output_dir={blocker}"])
    err = capsys.readouterr().err
    assert code == 2 and f"{blocker} is a file, but it is the run folder itself" in err and "Traceback" not in err
    assert _hashes(tmp_path) == before


def test_a_second_compare_on_a_busy_run_folder_is_refused_and_writes_nothing(world, tmp_path, capsys):
    """Two compares on one run folder: the one that finds the folder's lock held stops at once."""
    from polyglot_transfer.evaluation.compare import RUN_LOCK
    from polyglot_transfer.fileio import file_lock

    run = tmp_path / "run"
    with file_lock(run / RUN_LOCK):  # the first compare, still running
        before = _hashes(run)
        code = main(["compare", str(world["base"]), "--output-dir", str(run)])
        err = capsys.readouterr().err
        assert code == 2 and f"Another pgt compare is running in {run}" in err and "Traceback" not in err
        assert _hashes(run) == before  # no manifest, no resolved config, no cell written
    assert main(["validate", str(world["base"]), "--output-dir", str(run)]) == 0  # free again once it ends


def test_output_dir_under_a_file_is_refused(world, tmp_path, capsys):
    blocker = tmp_path / "notes"
    blocker.write_text("x")
    code = main(["compare", str(world["base"]), "--output-dir", str(blocker / "run")])
    err = capsys.readouterr().err
    assert code == 2 and f"{blocker} is a file, but it is a parent of the run folder" in err
    assert blocker.read_text() == "x"


def test_a_run_folder_of_another_config_is_refused_before_anything_is_overwritten(world, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"config_sha256": "0" * 64, "data": {}}))
    (run / "config.resolved.yaml").write_text("name: the old run\n")
    (run / "results.json").write_text("{}")
    before = _hashes(run)
    code = main(["compare", str(world["base"]), "--set", f"output_dir={run}"])
    err = capsys.readouterr().err
    assert code == 2 and f"run folder: {run} holds a run with a different config or data" in err
    assert _hashes(run) == before


def test_a_read_only_file_system_is_a_file_system_error(world, tmp_path, capsys):
    """/sys refuses new folders even to root: the boundary maps it to exit 7 naming the folder."""
    target = Path("/sys/pgt-run-test")
    if not Path("/sys").is_dir():
        pytest.skip("no /sys on this system")
    code = main(["compare", str(world["base"]), "--set", f"output_dir={target}"])
    err = capsys.readouterr().err
    assert code in (2, 7) and str(target).split("/pgt")[0] in err and "Traceback" not in err
    assert not target.exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_refused(world, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code = main(["validate", str(world["base"]), "--output-dir", str(ro / "run")])
        err = capsys.readouterr().err
        assert code == 2 and f"{ro} is not writable" in err
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("content,code,must", [
    (None, 3, "does not exist"),
    (b"{not json", 3, "is not valid JSON"),
    (b"\xff\xfe\x00garbage", 3, "not UTF-8"),
])
def test_report_refuses_a_missing_or_damaged_results_file(content, code, must, tmp_path, capsys):
    if content is not None:
        (tmp_path / "results.json").write_bytes(content)
    before = _hashes(tmp_path)
    assert main(["report", str(tmp_path)]) == code
    err = capsys.readouterr().err
    assert must in err and "Traceback" not in err
    assert _hashes(tmp_path) == before


# -- 7. models through the CLI ---------------------------------------------------------------------------
@pytest.mark.parametrize("argv,must", [
    (["models", "verify", "no/such-model"], "Unknown model 'no/such-model'"),
    (["models", "pull", "intfloat/multilingual-e5-smal"], "Did you mean 'intfloat/multilingual-e5-small'"),
])
def test_unknown_models_are_model_errors(argv, must, capsys):
    assert main(argv) == 4
    err = capsys.readouterr().err
    assert must in err and "Traceback" not in err


# -- 8. the error boundary: third-party exceptions get their own messages and exit codes -----------------
def _raised(fn) -> BaseException:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - we want the real exception object
        return exc
    raise AssertionError("nothing was raised")


def _truncated_safetensors(tmp: Path):
    from safetensors.numpy import load_file, save_file

    save_file({"w": np.zeros((64, 64), dtype=np.float32)}, str(tmp / "m.safetensors"))
    data = (tmp / "m.safetensors").read_bytes()
    (tmp / "m.safetensors").write_bytes(data[: len(data) // 2])
    return lambda: load_file(str(tmp / "m.safetensors"))


def _write_full():
    with open("/dev/full", "w") as handle:
        handle.write("x" * 100_000)
        handle.flush()


@pytest.mark.parametrize("name,make,code,must", [
    ("enospc", lambda tmp: _write_full, 7, "disk full"),
    ("eperm", lambda tmp: (lambda: os.mkdir("/sys/pgt-x")), 7, "/sys/pgt-x"),
    ("file-in-the-way", lambda tmp: (lambda: (tmp / "f").write_text("x") and os.makedirs(tmp / "f" / "sub")), 7,
     "a file is in the way"),
    ("is-a-directory", lambda tmp: (lambda: open(tmp)), 7, "is a folder"),
    ("missing-file", lambda tmp: (lambda: open(tmp / "absent")), 7, "absent does not exist"),
    ("safetensors", _truncated_safetensors, 5, "safetensors weights file is damaged"),
    ("json", lambda tmp: (lambda: json.loads("{bad")), 5, "a JSON file is corrupt"),
    ("unicode", lambda tmp: (lambda: b"caf\xe9".decode("utf-8")), 3, "not UTF-8"),
    ("yaml", lambda tmp: (lambda: yaml.safe_load("a: [b")), 2, "not valid YAML"),
    ("missing-package", lambda tmp: (lambda: __import__("pgt_no_such_package")), 6, "'pgt_no_such_package' is not installed"),
    ("bug", lambda tmp: (lambda: {}["key"]), 1, "unexpected error: KeyError"),
])
def test_boundary_maps_real_exceptions(name, make, code, must, tmp_path, capsys):
    if name in ("enospc",) and not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    from polyglot_transfer.cli.boundary import describe, report

    exc = _raised(make(tmp_path))
    got_code, message = describe(exc)
    assert got_code == code and must in message
    assert report(exc) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_debug_shows_the_traceback(world, tmp_path, capsys, monkeypatch):
    argv = ["validate", str(tmp_path / "nope.yaml")]
    assert main(argv) == 2 and "Traceback" not in capsys.readouterr().err
    assert main(["--debug", *argv]) == 2
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    monkeypatch.setenv("PGT_DEBUG", "1")
    assert main(argv) == 2
    assert "Traceback (most recent call last)" in capsys.readouterr().err


# -- 9. through a real subprocess: no traceback reaches the user -----------------------------------------
def test_subprocess_cli_never_shows_a_traceback(world, tmp_path):
    (tmp_path / "bin.yaml").write_bytes(bytes(range(256)))
    runs = [
        (["validate", str(tmp_path / "bin.yaml")], 2, "is binary"),
        (["validate", str(world["base"]), "--set", "setups.lora+rag.combine_weight=abc"], 2,
         "setups.lora+rag.combine_weight must be a number in [0, 1]. Got 'abc' instead."),
        (["compare", str(world["base"]), "--set", f"model={world['dec']}", "--set", f"output_dir={tmp_path / 'r'}"], 2,
         "'lora' does not support decoder models"),
        (["report", str(tmp_path / "no-run")], 3, "does not exist"),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PGT_DEBUG": ""}
    procs = [subprocess.Popen([sys.executable, "-m", "polyglot_transfer.cli.main", *argv], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env) for argv, _, _ in runs]
    for proc, (argv, code, must) in zip(procs, runs):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == code, err
        assert must in err and "Traceback" not in out + err
    assert not (tmp_path / "r").exists()


# -- 10. the Python API refuses the same inputs with the same messages --------------------------------------
def _base_raw(world) -> dict:
    return yaml.safe_load(world["base"].read_text())


@pytest.mark.parametrize("path,value,must", [
    (("setups", "rag", "retrieval", "temperature"), 0, "setups.rag.retrieval.temperature must be a number > 0"),
    (("setups", "rag", "retrieval", "k"), 0, "setups.rag.retrieval.k must be an int >= 1"),
    (("setups", "lora+rag", "combine_weight"), "abc", "combine_weight must be a number in [0, 1]"),
    (("bootstrap", "alpha"), 0.0, "bootstrap.alpha must be a number in (0, 1)"),
    (("bootstrap", "n_resamples"), 50, "bootstrap.n_resamples must be an int >= 100"),
    (("target_languages",), ["swh_Latn", "swa", "Swahili"], "swh_Latn is listed twice"),
    (("seeds",), [], "seeds must be a non-empty list"),
    (("workers",), 0, "workers must be an int in [1, 1024]"),
    (("baseline",), "nope", "baseline 'nope' is not one of the setups"),
])
def test_api_build_config_reports_the_same_problems(path, value, must, world):
    from polyglot_transfer.evaluation.config import build_config

    raw = _base_raw(world)
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    config, problems = build_config(raw, source="api")
    assert config is None and any(must in p for p in problems), problems


def test_api_load_config_and_checked_config_raise_typed_errors(world, tmp_path):
    from polyglot_transfer.evaluation.config import load_config
    from polyglot_transfer.evaluation.validate import load_checked_config

    with pytest.raises(ConfigError, match=r"setups\.rag\.retrieval\.k must be an int >= 1\. Got 0 instead\."):
        load_config(world["base"], ["setups.rag.retrieval.k=0"])
    (tmp_path / "train.jsonl").write_bytes(_rows([("a", "eng_Latn")]))
    (tmp_path / "test.jsonl").write_bytes(_rows([("a", "eng_Latn"), ("a", "swh_Latn")]))
    with pytest.raises(DataError, match=r"has one label \('a'\)"):
        load_checked_config(world["base"], [f"task={{train: {tmp_path}/train.jsonl, test: {tmp_path}/test.jsonl}}"])
    assert load_checked_config(world["base"]).setups["lora+rag"].adapt == {"strategy": "lora", "epochs": 2}


def test_api_retrieval_config_and_typed_build(world):
    from polyglot_transfer.retrieval.vote import RetrievalConfig
    from polyglot_transfer.typed_config import build

    with pytest.raises(ConfigError, match=r"retrieval\.temperature must be a finite number > 0\. Got nan instead\."):
        build(RetrievalConfig, {"temperature": float("nan")}, "retrieval")
    with pytest.raises(ConfigError, match=r"retrieval: unknown key 'topk'"):
        build(RetrievalConfig, {"topk": 3}, "retrieval")
    assert build(RetrievalConfig, {"k": 3}, "retrieval").k == 3


@pytest.mark.parametrize("value,error,must", [
    ("", LanguageError, "Empty language code"),
    ("xx-YY-zz", LanguageError, "Unknown language"),
    ("klingonx", LanguageError, "Unknown language 'klingonx'"),
])
def test_api_language_codes(value, error, must):
    from polyglot_transfer.languages import resolve_language

    with pytest.raises(error, match=must):
        resolve_language(value)
    assert resolve_language("swa").code == resolve_language("Swahili").code == "swh_Latn"


@pytest.mark.parametrize("name,content,must", [
    ("missing.conll", None, "does not exist"),
    ("empty.conll", b"", "holds no sentences"),
    ("malformed.conll", b"Ojo B-PER\nlo\n\n", "malformed.conll:2: expected a token and a tag"),
    ("latin1.conll", b"Oj\xe9 B-PER\n\n", "is not valid UTF-8"),
    ("badtags.conll", b"Ojo PER\n\n", "are not BIO/IOBES tags"),
])
def test_api_conll_files(name, content, must, tmp_path):
    from polyglot_transfer.data.conll import load_conll

    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=must):
        load_conll(path, "yor")


def test_api_conll_bom_is_not_part_of_the_first_token(tmp_path):
    from polyglot_transfer.data.conll import load_conll

    (tmp_path / "bom.conll").write_bytes(b"\xef\xbb\xbfOjo B-PER\nlo O\n\n")
    assert load_conll(tmp_path / "bom.conll", "yor").sentences[0].tokens == ["Ojo", "lo"]


@pytest.mark.parametrize("raw,must", [
    ({"strategy": "lora", "paramz": {}, "task": {"corpus": "agri_advice"}}, "unknown key 'paramz'. Did you mean 'params'"),
    ({"task": {"corpus": "agri_advice"}}, "missing required key 'strategy'"),
    ({"strategy": "lora", "task": {"corpus": "agri_advice"}, "seed": "zero"}, "seed must be an int. Got 'zero'"),
    ({"strategy": "lora", "task": {"corpus": "agri_advice"}, "threads": 0}, "threads must be an int >= 1"),
])
def test_api_adapt_config(raw, must):
    from polyglot_transfer.evaluation.adapt_run import adapt_to_compare

    with pytest.raises(ConfigError, match=must.replace("(", r"\(").replace(".", r"\.")):
        adapt_to_compare(raw, "adapt.yaml")


def test_adapt_config_through_validate(world, tmp_path, capsys):
    cfg = {"task": _base_raw(world)["task"], "model": str(world["dec"]), "strategy": "lora",
           "evaluate_on": ["swa", "Swahili"], "output_dir": str(tmp_path / "run")}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["validate", str(tmp_path / "a.yaml")]) == 2
    err = capsys.readouterr().err
    assert "'lora' does not support decoder models" in err and "swh_Latn is listed twice" in err
    assert main(["adapt", str(tmp_path / "a.yaml")]) == 2
    assert "'lora' does not support decoder models" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_all_errors_share_the_hierarchy():
    assert issubclass(LanguageError, DataError) and issubclass(DataError, PGTError)


@pytest.mark.parametrize("items,must", [
    (["lang"], "--where expects KEY=VALUE (e.g. lang=yor_Latn). Got 'lang'."),
    (["=yor"], "--where '=yor' has an empty key"),
    (["lang=yor", "lang=eng"], "--where names 'lang' twice"),
])
def test_api_key_value_options(items, must):
    from polyglot_transfer.cli.args import key_values

    with pytest.raises(ConfigError, match=must.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        key_values(items, "--where", "KEY=VALUE", "lang=yor_Latn")


@pytest.mark.parametrize("value,must", [("nan", "is not a finite number"), ("inf", "is not a finite number"),
                                        ("-inf", "is not a finite number"), ("two", "is not a number")])
def test_api_number_options_must_be_finite(value, must):
    from polyglot_transfer.cli.args import key_values

    with pytest.raises(ConfigError, match=f"--weights 'model_similarity={value}': '{value}' {must}"):
        key_values([f"model_similarity={value}"], "--weights", "FEATURE=WEIGHT", "model_similarity=2", convert=float,
                   kind="a number")
