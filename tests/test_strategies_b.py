"""Continued pretraining, language adapters, vocabulary extension, prompting, NER and generation on tiny models.

Tiny encoders reuse the all-MiniLM-L6-v2 WordPiece tokenizer (fast to load); the tiny decoder reuses the
SmolLM2 tokenizer and chat template (the XLM-R one when SmolLM2 is not provisioned); the tiny T5 the
XLM-R tokenizer.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from polyglot_transfer.adapt import build_strategy, load_strategy
from polyglot_transfer.adapt.vocab_extension import decompose, fertility
from polyglot_transfer.data.conll import load_conll
from polyglot_transfer.data.dataset import TextDataset, make_example
from polyglot_transfer.errors import ConfigError, DataError, LanguageError, UnsupportedError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SMOLLM = "HuggingFaceTB/SmolLM2-135M-Instruct"


# --- fixtures ------------------------------------------------------------------------------------------

def _provisioned(name: str) -> Path | None:
    from polyglot_transfer.models.provision import is_provisioned, model_path

    return model_path(name) if is_provisioned(name) else None


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    path = _provisioned(MINILM)
    if path is None:
        pytest.skip(f"{MINILM} is not provisioned: run `pgt models pull {MINILM}`.")
    return path


@pytest.fixture(scope="session")
def tiny_mlm(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from polyglot_transfer.models.tiny import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-mlm"), minilm_path, mlm_head=True)


@pytest.fixture(scope="session")
def tiny_plain(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from polyglot_transfer.models.tiny import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-plain"), minilm_path)


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from polyglot_transfer.models.tiny import build_tiny_decoder

    source = _provisioned(SMOLLM) or _provisioned("intfloat/multilingual-e5-small")
    if source is None:
        pytest.skip("neither SmolLM2 nor e5 is provisioned: no real tokenizer for the tiny decoder.")
    out = build_tiny_decoder(tmp_path_factory.mktemp("tiny-decoder"), source)
    if (source / "chat_template.jinja").is_file():  # transformers 5 keeps the chat template in its own file
        shutil.copy(source / "chat_template.jinja", out / "chat_template.jinja")
    return out


@pytest.fixture(scope="session")
def tiny_t5(e5_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    out = tmp_path_factory.mktemp("tiny-t5")
    tok = AutoTokenizer.from_pretrained(str(e5_path))
    config = T5Config(vocab_size=len(tok), d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2,
                      num_heads=2, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                      decoder_start_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


POS = ["good", "great", "happy", "nice", "lovely"]
NEG = ["bad", "awful", "sad", "nasty", "ugly"]


@pytest.fixture(scope="module")
def toy() -> TextDataset:
    rows = []
    for i in range(12):
        rows.append(make_example(f"p{i}", f"{POS[i % 5]} {POS[(i + 2) % 5]} day {i}", "pos", "eng"))
        rows.append(make_example(f"n{i}", f"{NEG[i % 5]} {NEG[(i + 2) % 5]} day {i}", "neg", "eng"))
    return TextDataset(rows, name="toy")


YORUBA = ["bawo ni o se wa loni", "mo fe jeun ni ile", "e kaaro o ore mi", "odabo titi di ola",
          "ojo n ro ni ilu wa", "oja po ni ilu eko"]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    out: dict[str, torch.Tensor] = {}
    for f in folder.glob("*.safetensors"):
        out.update(load_file(str(f)))
    return out


# --- continued pretraining ---------------------------------------------------------------------------

def test_continued_pretraining_mlm_then_lora(tiny_mlm, toy, tmp_path):
    strategy = build_strategy("continued_pretraining", {
        "epochs": 4, "lr": 5e-3, "batch_size": 8, "texts": YORUBA * 4,
        "task_strategy": "lora", "task_params": {"epochs": 4, "batch_size": 8, "learning_rate": 5e-3},
    }, tiny_mlm, seed=1)
    strategy.fit(toy)
    assert strategy.objective_ == "mlm"
    assert strategy.pretrain_loss_[-1] < strategy.pretrain_loss_[0], strategy.pretrain_loss_
    assert strategy.train_loss_[-1] < strategy.train_loss_[0], strategy.train_loss_
    before = _weights(tiny_mlm)["bert.embeddings.word_embeddings.weight"]
    after = _weights(strategy.encoder_dir_)["embeddings.word_embeddings.weight"]
    assert not torch.equal(before, after), "continued pretraining left the encoder unchanged"
    trainable, total = strategy.trainable_parameters()
    assert 0 < trainable < total
    probs = strategy.predict_proba(toy.texts)
    assert probs.shape == (len(toy), 2)
    strategy.save(tmp_path / "cpt")
    assert (tmp_path / "cpt" / "encoder" / "model.safetensors").is_file()
    assert not list((tmp_path / "cpt").rglob("*.bin")), "weights must be safetensors only"
    reloaded = load_strategy(tmp_path / "cpt")
    np.testing.assert_allclose(reloaded.predict_proba(toy.texts), probs, atol=1e-6)


def test_continued_pretraining_headless_encoder_warns_and_trains_fresh_head(tiny_plain, toy, caplog):
    strategy = build_strategy("continued_pretraining", {"epochs": 1, "batch_size": 8}, tiny_plain)
    with caplog.at_level(logging.WARNING):
        strategy.fit(toy)  # no unlabelled text: adapts on the training texts (TAPT)
    assert "has no masked-LM head" in caplog.text
    assert strategy.predict(toy.texts[:2]) and set(strategy.predict(toy.texts)) <= {"pos", "neg"}


def test_continued_pretraining_causal_on_decoder(tiny_decoder, toy):
    strategy = build_strategy("continued_pretraining", {"epochs": 2, "lr": 1e-2, "batch_size": 8}, tiny_decoder)
    strategy.fit(toy, unlabelled=YORUBA * 2)
    assert strategy.objective_ == "causal"
    assert strategy.pretrain_loss_[-1] < strategy.pretrain_loss_[0]
    assert strategy.predict_proba(toy.texts[:3]).shape == (3, 2)


def test_continued_pretraining_config_errors(tiny_mlm, tiny_decoder, toy):
    with pytest.raises(ConfigError, match=r"objective must be one of 'auto', 'mlm', 'causal'. Got 'mlmm' instead"):
        build_strategy("continued_pretraining", {"objective": "mlmm"}, tiny_mlm)
    with pytest.raises(ConfigError, match=r"task_params: unknown key 'rank'"):
        build_strategy("continued_pretraining", {"task_strategy": "lora", "task_params": {"rank": 4}}, tiny_mlm)
    with pytest.raises(ConfigError, match=r"mlm_probability must be a number in \(0, 1\]. Got 1.5"):
        build_strategy("continued_pretraining", {"mlm_probability": 1.5}, tiny_mlm)
    with pytest.raises(ConfigError, match="as `texts` or as `path`, not both"):
        build_strategy("continued_pretraining", {"texts": ["a"], "path": "x.txt"}, tiny_mlm).fit(toy)
    with pytest.raises(UnsupportedError, match="objective 'mlm' needs an encoder"):
        build_strategy("continued_pretraining", {"objective": "mlm"}, tiny_decoder).fit(toy)


def test_unlabelled_text_from_file(tiny_mlm, toy, tmp_path):
    from polyglot_transfer.adapt.continued_pretraining import read_unlabelled

    (tmp_path / "t.jsonl").write_text('{"text": "a b"}\n\n{"text": "c"}\n')
    (tmp_path / "t.txt").write_text("one\n\ntwo\n")
    assert read_unlabelled(None, str(tmp_path / "t.jsonl"), "x") == ["a b", "c"]
    assert read_unlabelled(None, str(tmp_path / "t.txt"), "x") == ["one", "two"]
    with pytest.raises(DataError, match="does not exist"):
        read_unlabelled(None, str(tmp_path / "missing.txt"), "x")


# --- vocabulary extension ----------------------------------------------------------------------------

LONG_WORDS = ["zorblakentum", "fimtastiqual", "quorbelinax", "mandrovilex", "trepsidorwan"]


def test_vocab_extension_lowers_fertility_and_initialises_by_mean(tiny_plain, toy, tmp_path):
    from transformers import AutoTokenizer

    texts = [" ".join(LONG_WORDS[(i + j) % 5] for j in range(6)) for i in range(40)]
    strategy = build_strategy("vocab_extension", {"texts": texts, "vocab_size": 60}, tiny_plain)
    strategy.fit(toy)
    assert strategy.fertility_after_ < strategy.fertility_before_
    assert strategy.fertility_after_ == pytest.approx(1.0)
    assert set(LONG_WORDS) <= set(strategy.added_tokens_)

    old_tok = AutoTokenizer.from_pretrained(str(tiny_plain))
    new_tok = AutoTokenizer.from_pretrained(str(strategy.encoder_dir_))
    assert fertility(new_tok, texts) == pytest.approx(strategy.fertility_after_)
    old_emb = _weights(tiny_plain)["embeddings.word_embeddings.weight"]
    new_emb = _weights(strategy.encoder_dir_)["embeddings.word_embeddings.weight"]
    assert new_emb.shape[0] == len(new_tok) == len(old_tok) + len(strategy.added_tokens_)
    torch.testing.assert_close(new_emb[: len(old_tok)], old_emb[: len(old_tok)])  # old rows untouched
    for word in LONG_WORDS:
        pieces = old_tok.tokenize(word)
        assert len(pieces) > 1, pieces
        expected = old_emb[old_tok.convert_tokens_to_ids(pieces)].mean(dim=0)
        torch.testing.assert_close(new_emb[new_tok.convert_tokens_to_ids(word)], expected)
        assert new_tok.tokenize(f"{word} {word}") == [word, word]

    probs = strategy.predict_proba(toy.texts)
    strategy.save(tmp_path / "ve")
    np.testing.assert_allclose(load_strategy(tmp_path / "ve").predict_proba(toy.texts), probs, atol=1e-6)


def test_vocab_extension_decompose_drops_bare_word_markers():
    class FakeTokenizer:
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [5, 7, 9]}

        def convert_ids_to_tokens(self, ids):
            return [{5: "▁", 7: "zq", 9: "xv"}[i] for i in ids]

    assert decompose(FakeTokenizer(), "zqxv") == [7, 9]


def test_vocab_extension_config_errors(tiny_plain):
    with pytest.raises(ConfigError, match=r"vocab_extension.max_new_tokens must be an int >= 1. Got 0"):
        build_strategy("vocab_extension", {"max_new_tokens": 0}, tiny_plain)
    with pytest.raises(ConfigError, match="sp_model_type must be one of 'unigram', 'bpe'"):
        build_strategy("vocab_extension", {"sp_model_type": "wordpiece"}, tiny_plain)


# --- language adapters -------------------------------------------------------------------------------

def _lora_b(strategy, adapter: str) -> dict[str, torch.Tensor]:
    return {n: p for n, p in strategy.peft_.named_parameters() if f"lora_B.{adapter}." in n}


@pytest.mark.parametrize("model_fixture, objective", [("tiny_mlm", "mlm"), ("tiny_plain", "simcse")])
def test_language_adapters_stack_and_swap(model_fixture, objective, toy, tmp_path, request):
    model = request.getfixturevalue(model_fixture)
    strategy = build_strategy("language_adapter", {
        "lang_epochs": 3, "lang_lr": 2e-2, "epochs": 4, "learning_rate": 5e-3, "batch_size": 8,
    }, model, seed=3)
    strategy.fit(toy, unlabelled={"eng": toy.texts, "yo": YORUBA * 2})
    assert strategy.objective_ == objective
    assert strategy.languages == ["eng_Latn", "yor_Latn"]
    assert strategy.source_lang_ == "eng_Latn"
    assert strategy.train_loss_[-1] < strategy.train_loss_[0], strategy.train_loss_
    trainable, total = strategy.trainable_parameters()
    lora_task = sum(p.numel() for n, p in strategy.classifier_.named_parameters() if ".task." in n)
    assert trainable == lora_task + strategy.classifier_.head.weight.numel() + 2  # task LoRA + head (2 biases)
    assert trainable < total

    p_eng = strategy.predict_proba(toy.texts, lang="eng")
    np.testing.assert_array_equal(strategy.predict_proba(toy.texts), p_eng)  # lang=None: the source setup
    p_yor = strategy.predict_proba(toy.texts, lang="yor")
    assert strategy.peft_.base_model.active_adapters == ["lang_yor_Latn", "task"]
    assert np.abs(p_eng - p_yor).max() > 1e-6, "swapping the language adapter changed nothing"
    with pytest.raises(LanguageError, match=r"no adapter for 'swh_Latn'.*Fitted languages: eng_Latn, yor_Latn"):
        strategy.predict_proba(toy.texts[:1], lang="swahili")

    strategy.save(tmp_path / "la")
    for name in ("lang_eng_Latn", "lang_yor_Latn", "task"):
        assert (tmp_path / "la" / "adapters" / name / "adapter_model.safetensors").is_file()
        assert (tmp_path / "la" / "adapters" / name / "adapter_config.json").is_file()
    reloaded = load_strategy(tmp_path / "la")
    assert reloaded.languages == strategy.languages
    np.testing.assert_allclose(reloaded.predict_proba(toy.texts, lang="yo"), p_yor, atol=1e-6)
    np.testing.assert_allclose(reloaded.predict_proba(toy.texts, lang="en"), p_eng, atol=1e-6)

    # The yor stack differs from the eng stack only by its language adapter: copy eng's into yor -> same output.
    with torch.no_grad():
        for (n_yor, p_yor_w), (n_eng, p_eng_w) in zip(
            sorted({**_lora_b(reloaded, "lang_yor_Latn")}.items()), sorted(_lora_b(reloaded, "lang_eng_Latn").items())
        ):
            assert n_yor.replace("yor", "eng") == n_eng
            p_yor_w.copy_(p_eng_w)
        for n, p in reloaded.peft_.named_parameters():
            if "lora_A.lang_yor_Latn." in n:
                p.copy_(dict(reloaded.peft_.named_parameters())[n.replace("yor", "eng")])
    np.testing.assert_allclose(reloaded.predict_proba(toy.texts, lang="yor"), p_eng, atol=1e-6)


def test_language_adapter_simcse_loss_falls(tiny_plain, toy):
    strategy = build_strategy("language_adapter", {"lang_epochs": 6, "lang_lr": 3e-2, "epochs": 1, "batch_size": 6},
                              tiny_plain)
    strategy.fit(toy, unlabelled={"yor": YORUBA * 2})
    losses = strategy.language_loss_["yor_Latn"]
    assert losses[-1] < losses[0], losses
    assert strategy.source_lang_ is None  # no eng text: the task adapter was trained without a language adapter


def test_language_adapter_errors(tiny_plain, toy):
    with pytest.raises(ConfigError, match="objective 'mlm' needs a checkpoint with a masked-LM head"):
        build_strategy("language_adapter", {"objective": "mlm", "epochs": 1}, tiny_plain).fit(toy)
    with pytest.raises(ConfigError, match=r"language_adapter.unlabelled must be a valid dictionary. Got \['a', 'b'\]"):
        build_strategy("language_adapter", {"unlabelled": ["a", "b"]}, tiny_plain)
    with pytest.raises(ConfigError, match="source_lang 'hau_Latn' has no unlabelled text"):
        build_strategy("language_adapter", {"source_lang": "hau"}, tiny_plain).fit(toy, unlabelled={"yo": YORUBA})


# --- prompting ---------------------------------------------------------------------------------------

def test_prompting_scores_are_label_log_likelihoods(tiny_decoder, toy, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    strategy = build_strategy("prompting", {"k": 2, "verbalizers": {"pos": "positive"}, "batch_size": 3},
                              tiny_decoder, seed=4).fit(toy)
    texts = ["good nice", "bad sad weather today"]
    scores = strategy.label_scores(texts)
    tok = AutoTokenizer.from_pretrained(str(tiny_decoder))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_decoder)).eval()
    chat = bool(tok.chat_template)
    for i, text in enumerate(texts):
        prompt = strategy.build_prompt(text, strategy._demonstrations([text])[0])
        if chat:
            assert "<|im_start|>system" in prompt and prompt.count("<|im_start|>assistant") == 3
        for j, label in enumerate(strategy.labels_):
            word = {"pos": "positive", "neg": "neg"}[label]
            p_ids = tok(prompt, add_special_tokens=not chat)["input_ids"]
            c_ids = tok(word if chat else " " + word, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logp = torch.log_softmax(model(torch.tensor([p_ids + c_ids])).logits[0].float(), -1)
            expected = sum(logp[len(p_ids) - 1 + t, c].item() for t, c in enumerate(c_ids))
            assert scores[i, j] == pytest.approx(expected, abs=1e-3)
    probs = strategy.predict_proba(texts)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    one_by_one = build_strategy("prompting", {"k": 2, "verbalizers": {"pos": "positive"}, "batch_size": 1},
                                tiny_decoder, seed=4).fit(toy)
    np.testing.assert_allclose(one_by_one.predict_proba(texts), probs, atol=1e-4)  # padding does not leak
    strategy.save(tmp_path / "pr")
    np.testing.assert_allclose(load_strategy(tmp_path / "pr").predict_proba(texts), probs, atol=1e-6)
    assert strategy.trainable_parameters()[0] == 0


def test_prompting_retrieval_picks_similar_demonstrations(tiny_decoder, toy):
    from polyglot_transfer.retrieval.embedder import HashEmbedder

    strategy = build_strategy("prompting", {"k": 3, "selection": "retrieval", "chat_template": "off"},
                              tiny_decoder, embedder=HashEmbedder()).fit(toy)
    demos = strategy._demonstrations(["awful nasty ugly"])[0]
    assert len(demos) == 3 and {label for _, label in demos} == {"neg"}
    prompt = strategy.build_prompt("awful nasty ugly", demos)
    assert prompt.startswith("Classify the text. Answer with one of these labels: neg, pos.")
    assert prompt.endswith("Text: awful nasty ugly\nLabel:")
    assert prompt.count("\nLabel: neg") == 3


def test_prompting_unsupported_and_config_errors(tiny_plain, tiny_decoder, toy, tmp_path):
    tags = load_conll(_write_conll(tmp_path / "t.conll"), "yor")
    for name, model in (("prompting", tiny_decoder), ("language_adapter", tiny_plain),
                        ("continued_pretraining", tiny_plain)):
        with pytest.raises(UnsupportedError, match=f"'{name}' trains sentence classifiers on a TextDataset; got "
                                                   "TokenDataset"):
            build_strategy(name, {}, model).fit(tags)
    with pytest.raises(UnsupportedError, match="'prompting' does not support encoder models"):
        build_strategy("prompting", {}, tiny_plain).fit(toy)
    with pytest.raises(DataError, match="k is 99 but the training data holds only 24"):
        build_strategy("prompting", {"k": 99}, tiny_decoder).fit(toy)
    with pytest.raises(ConfigError, match="template must contain"):
        build_strategy("prompting", {"template": "no slot"}, tiny_decoder)
    with pytest.raises(ConfigError, match=r"verbalizers names labels \['neutral'\]"):
        build_strategy("prompting", {"verbalizers": {"neutral": "meh"}}, tiny_decoder).fit(toy)


# --- CoNLL + token classification --------------------------------------------------------------------

NER_ROWS = [("Ada", "Obi", "Lagos"), ("Chidi", "Eze", "Abuja"), ("Ngozi", "Okafor", "Kano"), ("Bola", "Ade", "Ibadan")]


def _write_conll(path: Path) -> Path:
    blocks = [f"{a} NNP B-PER\n{b} NNP I-PER\nlives VBZ O\nin IN O\n{c} NNP B-LOC" for a, b, c in NER_ROWS * 3]
    path.write_text("-DOCSTART- -X- O\n\n" + "\n\n".join(blocks) + "\n\n\n", encoding="utf-8")
    return path


def test_load_conll(tmp_path):
    ds = load_conll(_write_conll(tmp_path / "train.conll"), "yor")
    assert len(ds) == 12 and ds.languages == ["yor_Latn"]
    assert ds[0].tokens == ["Ada", "Obi", "lives", "in", "Lagos"]
    assert ds[0].tags == ["B-PER", "I-PER", "O", "O", "B-LOC"]
    assert ds.tag_set == ["B-LOC", "B-PER", "I-PER", "O"]
    assert ds[0].id == "train-0"
    (tmp_path / "bad.conll").write_text("Ada B-PER\nObi\n")
    with pytest.raises(DataError, match=r"bad.conll:2: expected a token and a tag"):
        load_conll(tmp_path / "bad.conll", "yor")
    (tmp_path / "pos.conll").write_text("Ada NNP\nObi NNP\n")
    with pytest.raises(DataError, match=r"not BIO/IOBES tags \(O, B-X"):
        load_conll(tmp_path / "pos.conll", "yor")
    with pytest.raises(DataError, match="does not exist"):
        load_conll(tmp_path / "none.conll", "yor")


def test_token_classification_scores_are_seqeval_strict():
    from seqeval.metrics import f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    from polyglot_transfer.measure.ner import entity_scores

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"], ["B-DATE", "I-DATE"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O"], ["I-DATE", "I-DATE"]]  # short PER; dangling I-DATE
    scores = entity_scores(gold, pred)
    assert scores["precision"] == pytest.approx(precision_score(gold, pred, mode="strict", scheme=IOB2)) == 2 / 3
    assert scores["recall"] == pytest.approx(recall_score(gold, pred, mode="strict", scheme=IOB2)) == 2 / 4
    assert scores["f1"] == pytest.approx(f1_score(gold, pred, mode="strict", scheme=IOB2))
    assert scores["support"] == 4 and entity_scores(gold, gold)["f1"] == 1.0
    with pytest.raises(DataError, match="sentence 1 has 2 gold tags but 1 predicted"):
        entity_scores(gold, [gold[0], ["O"], gold[2]])
    with pytest.raises(DataError, match="3 gold sentences but 1 predicted"):
        entity_scores(gold, [gold[0]])


def test_token_classification_learning_rate_follows_the_method(tiny_plain):
    from polyglot_transfer.adapt.token_classification import METHOD_LEARNING_RATES

    for method, lr in METHOD_LEARNING_RATES.items():
        s = build_strategy("token_classification", {"method": method}, tiny_plain)
        assert s.config.learning_rate == lr
    assert build_strategy("token_classification", {"method": "lora", "learning_rate": 0.02},
                          tiny_plain).config.learning_rate == 0.02
    assert len(set(METHOD_LEARNING_RATES.values())) == 3


def test_token_classification_full_freezes_word_embeddings(tiny_plain, tmp_path):
    ds = load_conll(_write_conll(tmp_path / "train.conll"), "yor")
    frozen = build_strategy("token_classification", {"method": "full", "epochs": 1, "batch_size": 4, "min_steps": 3},
                            tiny_plain).fit(ds)
    emb = frozen.model_.get_input_embeddings().weight
    assert not emb.requires_grad and frozen.trainable_parameters()[0] == frozen.trainable_parameters()[1] - emb.numel()
    from transformers import AutoModelForTokenClassification

    pretrained = AutoModelForTokenClassification.from_pretrained(str(tiny_plain), num_labels=len(frozen.labels_))
    torch.testing.assert_close(emb.detach(), pretrained.get_input_embeddings().weight.detach())  # untouched
    moved = [n for n, p in frozen.model_.named_parameters()
             if "encoder" in n and not torch.equal(p.detach(), dict(pretrained.named_parameters())[n].detach())]
    assert moved  # the transformer layers did train
    free = build_strategy("token_classification", {"method": "full", "epochs": 1, "batch_size": 4, "min_steps": 0,
                                                   "freeze_embeddings": False}, tiny_plain).fit(ds)
    assert free.trainable_parameters()[0] == free.trainable_parameters()[1]


def test_token_classification_trains_and_round_trips(tiny_plain, tmp_path):
    ds = load_conll(_write_conll(tmp_path / "train.conll"), "yor")
    strategy = build_strategy("token_classification", {"method": "lora", "epochs": 12, "learning_rate": 1e-2,
                                                       "batch_size": 4, "min_steps": 0}, tiny_plain).fit(ds)
    assert strategy.train_loss_[-1] < strategy.train_loss_[0] * 0.8, strategy.train_loss_
    assert strategy.evaluate(ds)["f1"] > 0.5
    trainable, total = strategy.trainable_parameters()
    assert 0 < trainable < total / 10

    from polyglot_transfer.adapt.token_classification import encode

    enc = encode(strategy, [["Okafor", "lives"]], [["B-PER", "O"]])
    pieces = strategy.tokenizer_.convert_ids_to_tokens(enc["input_ids"][0])
    assert len(pieces) > 4  # [CLS] oka ##for lives [SEP]: "Okafor" is split
    b_per, o = strategy.labels_.index("B-PER"), strategy.labels_.index("O")
    expected = [-100, b_per] + [-100] * (len(pieces) - 4) + [o, -100]
    assert enc["labels"][0] == expected  # first subword labelled, the rest -100

    probs = strategy.predict_proba(ds)
    assert [p.shape for p in probs[:2]] == [(5, 4), (5, 4)]
    strategy.save(tmp_path / "ner")
    reloaded = load_strategy(tmp_path / "ner")
    for a, b in zip(reloaded.predict_proba(ds), probs):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert strategy.predict([["Ada"] * 300])[0][-1] == "O"  # beyond max_length: the fallback tag


def test_token_classification_unsupported_pairs(tiny_plain, tiny_decoder, toy, tmp_path):
    with pytest.raises(UnsupportedError, match="trains on a TokenDataset .* got TextDataset"):
        build_strategy("token_classification", {}, tiny_plain).fit(toy)
    ds = load_conll(_write_conll(tmp_path / "t.conll"), "yor")
    with pytest.raises(UnsupportedError, match="'token_classification' does not support decoder models"):
        build_strategy("token_classification", {}, tiny_decoder).fit(ds)
    with pytest.raises(ConfigError, match="method must be one of 'lora', 'full'"):
        build_strategy("token_classification", {"method": "adapter"}, tiny_plain)


# --- generation --------------------------------------------------------------------------------------

QA = [("Who wrote the book?", "Ada wrote the book in Lagos.", "Ada"),
      ("Where does Obi live?", "Obi lives in Kano with his family.", "Kano")]


@pytest.fixture(scope="module")
def qa() -> TextDataset:
    return TextDataset([make_example(i, q, a, "eng", {"context": c}) for i, (q, c, a) in enumerate(QA * 4)])


def test_generation_causal_lm(tiny_decoder, qa, tmp_path):
    strategy = build_strategy("generation", {"epochs": 8, "learning_rate": 1e-2, "batch_size": 4,
                                             "max_new_tokens": 4}, tiny_decoder).fit(qa)
    assert strategy.family_ == "decoder"
    assert strategy.train_loss_[-1] < strategy.train_loss_[0] * 0.8, strategy.train_loss_
    answers = strategy.generate(qa[:2])
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    assert strategy.prompt("Q?", "C.") == "Context: C.\nQuestion: Q?\nAnswer:"
    assert strategy.prompt("Q?") == "Question: Q?\nAnswer:"  # closed book: no empty context line
    strategy.save(tmp_path / "gen")
    assert (tmp_path / "gen" / "model" / "model.safetensors").is_file()
    assert load_strategy(tmp_path / "gen").generate(qa[:2]) == answers
    with pytest.raises(UnsupportedError, match="call generate"):
        strategy.predict_proba(["Who?"])


def test_generation_seq2seq_t5_learns(tiny_t5, qa):
    strategy = build_strategy("generation", {"epochs": 10, "learning_rate": 1e-2, "batch_size": 4,
                                             "max_new_tokens": 4}, tiny_t5).fit(qa)
    assert strategy.family_ == "encoder-decoder"
    assert strategy.train_loss_[-1] < strategy.train_loss_[0] * 0.8, strategy.train_loss_
    answers = strategy.generate(qa[:2])
    assert answers == ["Ada", "Kano"]


def test_generation_unsupported_and_data_errors(tiny_plain, tiny_decoder, qa):
    with pytest.raises(UnsupportedError, match="'generation' does not support encoder models"):
        build_strategy("generation", {}, tiny_plain).fit(qa)
    unanswered = TextDataset([make_example("q", "Who?", None, "eng")])
    with pytest.raises(DataError, match="every training question needs an answer"):
        build_strategy("generation", {}, tiny_decoder).fit(unanswered)


def test_registered_strategies_declare_tasks_and_families():
    from polyglot_transfer.adapt import STRATEGIES

    expected = {
        "continued_pretraining": ({"classification"}, {"encoder", "decoder"}),
        "vocab_extension": ({"classification"}, {"encoder"}),
        "language_adapter": ({"classification"}, {"encoder"}),
        "prompting": ({"classification"}, {"decoder"}),
        "token_classification": ({"token_classification"}, {"encoder"}),
        "generation": ({"generation"}, {"decoder", "encoder-decoder"}),
    }
    for name, (tasks, families) in expected.items():
        cls = STRATEGIES.get(name)
        assert (set(cls.tasks), set(cls.model_families)) == (tasks, families), name


def test_saved_strategy_json_is_plain(tiny_decoder, toy, tmp_path):
    build_strategy("prompting", {}, tiny_decoder).fit(toy).save(tmp_path / "p")
    meta = json.loads((tmp_path / "p" / "strategy.json").read_text())
    assert meta["strategy"] == "prompting" and meta["labels"] == ["neg", "pos"]
    assert json.loads((tmp_path / "p" / "demonstrations.json").read_text())[0].keys() == {"text", "label"}


def test_token_classification_classifier_starts_from_a_probe(tiny_plain, tmp_path):
    ds = load_conll(_write_conll(tmp_path / "train.conll"), "yor")
    still = {"method": "full", "epochs": 1, "batch_size": 4, "min_steps": 0, "learning_rate": 1e-12}  # no real update
    probed = build_strategy("token_classification", still, tiny_plain).fit(ds)
    fresh = build_strategy("token_classification", {**still, "init_head": "random"}, tiny_plain).fit(ds)
    assert probed.evaluate(ds)["f1"] > 0.5 > fresh.evaluate(ds)["f1"]
    # the LoRA copy PEFT trains is the one initialised (modules_to_save), not only the original
    lora = build_strategy("token_classification", {**still, "method": "lora"}, tiny_plain).fit(ds)
    assert lora.evaluate(ds)["f1"] == pytest.approx(probed.evaluate(ds)["f1"])
