"""Chunking counts tokens of the embedder's tokenizer: passages the model reads whole are not split."""

from __future__ import annotations

import json

import pytest

from polyglot_transfer.cli.main import main
from polyglot_transfer.errors import ConfigError
from polyglot_transfer.retrieval.chunking import chunk_documents_tokens, chunk_text_tokens
from polyglot_transfer.retrieval.embedder import Embedder
from polyglot_transfer.retrieval.faiss_index import VectorIndex

# The tiny encoder reads 128 tokens (e5 reads 512): PASSAGE is as many sentences as fit, and a character budget
# of half its length splits it, where the token budget keeps it whole.
SENTENCE = "Wakulima wa mahindi wanashauriwa kupanda mapema msimu wa mvua unapoanza. "
PASSAGE = SENTENCE * 5
LONG = " ".join(f"Sentensi ya {i} inaeleza jinsi ya kutunza shamba la mahindi vizuri." for i in range(200))


@pytest.fixture(scope="module")
def embedder(tiny_encoder):
    return Embedder(tiny_encoder)


def test_a_passage_that_fits_the_model_stays_whole(embedder):
    n = embedder.count_tokens([PASSAGE])[0]
    assert embedder.max_tokens == 128 - 2 - embedder.count_tokens([embedder.passage_prompt])[0]
    assert 0.5 * embedder.max_tokens < n <= embedder.max_tokens
    texts, metas = chunk_documents_tokens([PASSAGE, LONG], [{"id": "a"}, {"id": "b"}], embedder.count_tokens,
                                          max_tokens=embedder.max_tokens, overlap_tokens=50)
    assert texts[0] == PASSAGE and metas[0] == {"id": "a", "parent": 0, "chunk": 0, "start": 0, "end": len(PASSAGE)}
    long_chunks = [t for t, m in zip(texts, metas) if m["parent"] == 1]
    assert len(long_chunks) > 1
    assert all(n <= embedder.max_tokens for n in embedder.count_tokens(long_chunks))
    assert all(LONG[m["start"]:m["end"]] == t for t, m in zip(texts, metas) if m["parent"] == 1)
    assert long_chunks[0].startswith("Sentensi ya 0 ") and long_chunks[-1].endswith("ya 199 inaeleza jinsi ya kutunza "
                                                                                     "shamba la mahindi vizuri.")


def test_small_budgets_overlap_and_an_over_long_sentence_is_cut(embedder):
    chunks = chunk_text_tokens(LONG, embedder.count_tokens, max_tokens=40, overlap_tokens=25)
    assert all(n <= 40 for n in embedder.count_tokens([c.text for c in chunks]))
    assert chunks[1].start < chunks[0].end  # overlap
    run_on = "neno " * 300  # one sentence of 300 tokens
    pieces = chunk_text_tokens(run_on, embedder.count_tokens, max_tokens=64)
    assert len(pieces) >= 5 and all(n <= 64 for n in embedder.count_tokens([c.text for c in pieces]))
    with pytest.raises(ConfigError, match=r"overlap_tokens must be an int in \[0, max_tokens=40\)"):
        chunk_text_tokens(LONG, embedder.count_tokens, max_tokens=40, overlap_tokens=40)


def test_pgt_index_build_chunks_by_tokens_by_default(tiny_encoder, tmp_path, capsys):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("\n".join(json.dumps(r) for r in [
        {"id": "fits", "text": PASSAGE, "lang": "swh"}, {"id": "long", "text": LONG, "lang": "swh"}]) + "\n")
    assert main(["index", "build", str(tmp_path / "tok"), "--from", str(docs), "--model", str(tiny_encoder)]) == 0
    index = VectorIndex.load(tmp_path / "tok")
    by_source = {}
    for i in index.ids:
        by_source.setdefault(index.get(i)["metadata"]["source_id"], []).append(index.get(i)["text"])
    assert by_source["fits"] == [PASSAGE] and len(by_source["long"]) > 1
    assert main(["index", "build", str(tmp_path / "chr"), "--from", str(docs), "--model", str(tiny_encoder),
                 "--chunk-chars", str(len(PASSAGE) // 2)]) == 0
    assert "entries from 2 documents" in capsys.readouterr().out
    chars = VectorIndex.load(tmp_path / "chr")
    assert sum(chars.get(i)["metadata"]["source_id"] == "fits" for i in chars.ids) > 1  # characters split it
    assert main(["index", "build", str(tmp_path / "x"), "--from", str(docs), "--chunk-chars", "9",
                 "--chunk-tokens", "9"]) == 2
    assert "Give --chunk-tokens or --chunk-chars, not both" in capsys.readouterr().err
