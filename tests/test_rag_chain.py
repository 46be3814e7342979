"""RAG generation: prompt packing, the LCEL chain on a tiny decoder, the OpenAI-compatible client, answer language."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from langchain_core.documents import Document

from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.measure.answer_language import answer_language_share, detect_language
from polyglot_transfer.retrieval.generators import (
    GeneratorHTTPError,
    GeneratorResponseError,
    LocalGenerator,
    OpenAICompatibleGenerator,
)
from polyglot_transfer.retrieval.rag_chain import build_rag_chain
from polyglot_transfer.retrieval.rag_prompts import RagPrompt

MODELS = Path.home() / ".cache" / "polyglot-transfer" / "models"
SMOL = MODELS / "HuggingFaceTB--SmolLM2-135M-Instruct"
MINILM = MODELS / "sentence-transformers--all-MiniLM-L6-v2"

CORPUS = [
    ("Ilu Eko ni ilu ti o tobi ju ni Naijiria.", "yor_Latn"),
    ("Abuja ni olu ilu Naijiria.", "yor_Latn"),
    ("Lagos is the largest city in Nigeria.", "eng_Latn"),
    ("Abuja is the capital of Nigeria.", "eng_Latn"),
]


# -- prompt packing ---------------------------------------------------------------------------------
def test_prompt_packs_in_order_within_budget_and_names_language() -> None:
    docs = [Document(page_content="one two three"), Document(page_content="four five six"),
            Document(page_content="seven eight nine ten eleven"), Document(page_content="x")]
    prompt = RagPrompt(max_context_tokens=9)
    packed = prompt.pack(docs)
    # "[1] one two three" = 4 words, "[2] four five six" = 4 -> 8; the third (6) does not fit, and the
    # fourth (2) is not used either, so the context stays a prefix of the ranking.
    assert packed == ["[1] one two three", "[2] four five six"], packed
    assert sum(prompt.count_tokens(p) for p in packed) <= 9
    text = prompt.build("Where?", docs, "hin")
    assert text.index("one two three") < text.index("four five six"), text
    assert "seven" not in text and "[4]" not in text, text
    assert "Answer in Hindi." in text, text
    assert "प्रश्न" in text, "the Hindi instruction should be used"
    assert "Answer the question using only" in RagPrompt().build("q", docs, "deu_Latn"), "English fallback"


def test_prompt_truncates_only_the_first_passage() -> None:
    prompt = RagPrompt(max_context_tokens=5)
    packed = prompt.pack(["a b c d e f g h", "i j"])
    assert packed == ["[1] a b c d"], packed
    assert "Answer in" not in RagPrompt().build("q", ["a"], None)


def test_prompt_counts_with_a_tokenizer() -> None:
    class CharTokenizer:
        def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
            return [ord(c) for c in text]

        def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
            return "".join(chr(i) for i in ids)

    prompt = RagPrompt(max_context_tokens=12, tokenizer=CharTokenizer())
    assert prompt.pack(["abcdefghijklmnop", "xyz"]) == ["[1] abcdefgh"]
    assert prompt.pack(["abc", "defgh", "z"]) == ["[1] abc"], "a later passage is never cut"


def test_prompt_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError, match="max_context_tokens must be an int >= 1. Got 0"):
        RagPrompt(max_context_tokens=0)
    with pytest.raises(ConfigError, match=r"unknown \['passages'\]"):
        RagPrompt(template="{passages} {question} {context}")
    with pytest.raises(ConfigError, match=r"missing \['question'\]"):
        RagPrompt(template="{context}")


# -- the chain on a tiny random decoder -------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_decoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from polyglot_transfer.models.tiny import build_tiny_decoder

    torch.set_num_threads(1)
    if SMOL.is_dir():  # a real decoder tokenizer with a chat template
        source = SMOL
    elif MINILM.is_dir():  # WordPiece has no bos/eos: borrow [CLS]/[SEP]
        source = tmp_path_factory.mktemp("minilm-tok")
        for name in ("tokenizer.json", "vocab.txt", "special_tokens_map.json"):
            if (MINILM / name).is_file():
                shutil.copy(MINILM / name, source / name)
        config = json.loads((MINILM / "tokenizer_config.json").read_text())
        config.update(bos_token="[CLS]", eos_token="[SEP]")
        (source / "tokenizer_config.json").write_text(json.dumps(config))
    else:
        pytest.skip("no provisioned tokenizer to build a tiny decoder from")
    return build_tiny_decoder(tmp_path_factory.mktemp("tiny-decoder"), source, layers=1)


@pytest.fixture(scope="module")
def retriever():
    from polyglot_transfer.retrieval.embedder import HashEmbedder
    from polyglot_transfer.retrieval.faiss_index import VectorIndex
    from polyglot_transfer.retrieval.retriever import IndexRetriever

    embedder = HashEmbedder(dim=64)
    index = VectorIndex(embedder.dim, embedder_identity=embedder.identity)
    texts = [t for t, _ in CORPUS]
    index.add(embedder.encode_passages(texts), texts, [{"lang": lang} for _, lang in CORPUS])
    return IndexRetriever(index=index, embedder=embedder, k=2)


def test_chain_invoke_batch_stream(tiny_decoder: Path, retriever) -> None:
    generator = LocalGenerator(tiny_decoder, max_new_tokens=4)
    chain = build_rag_chain(retriever, generator, prompt=RagPrompt(max_context_tokens=40))

    out = chain.invoke({"question": "Ki ni olu ilu Naijiria?", "lang": "yor"})
    assert set(out) == {"answer", "documents", "prompt", "lang"}, out.keys()
    assert isinstance(out["answer"], str)
    assert len(out["documents"]) == 2 and all(isinstance(d, Document) for d in out["documents"])
    assert "score" in out["documents"][0].metadata
    assert out["lang"] == "yor_Latn" and "Answer in Yoruba." in out["prompt"], out["prompt"]
    assert out["documents"][0].page_content in out["prompt"]

    results = chain.batch(["What is the capital of Nigeria?", {"question": "Abuja ni olu ilu?", "lang": "fra"}])
    assert isinstance(results, list) and len(results) == 2
    assert all(isinstance(r["answer"], str) for r in results)
    assert results[1]["lang"] == "fra_Latn" and "Answer in French." in results[1]["prompt"]
    # no lang given: the question's script matches both corpus languages (Latin), so the documents decide
    assert results[0]["lang"] in {"eng_Latn", "yor_Latn"}

    chunks = list(chain.stream("Where is Lagos?"))
    assert len(chunks) >= 1 and all(isinstance(c, str) for c in chunks), chunks


def test_chain_fixed_lang_and_bad_input(tiny_decoder: Path, retriever) -> None:
    chain = build_rag_chain(retriever, LocalGenerator(tiny_decoder, max_new_tokens=2), lang="swh")
    assert chain.invoke("Abuja?")["lang"] == "swh_Latn"
    with pytest.raises(ConfigError, match="RAG input must be a question string"):
        chain.invoke(42)
    with pytest.raises(ConfigError, match=r"unknown keys \['k'\]"):
        chain.invoke({"question": "q", "k": 3})
    with pytest.raises(ConfigError, match="generator must have generate"):
        build_rag_chain(retriever, object())


def test_local_generator_validates() -> None:
    with pytest.raises(ConfigError, match="max_new_tokens must be an int >= 1. Got 0"):
        LocalGenerator("x", max_new_tokens=0)


# -- OpenAI-compatible client against a local server ------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        content = body["messages"][0]["content"]
        if content == "boom":
            payload, status = b'{"error": "internal"}', 500
        elif content == "sse" and body.get("stream"):
            events = [{"choices": [{"delta": {"content": part}}]} for part in ("Ab", "uja")]
            payload = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        elif content == "garbage":
            payload, status = b"<html>not json</html>", 200
        else:
            payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": f"echo:{content}"}}]})
            payload, status = payload.encode(), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.requests = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_openai_compatible_generator(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGT_TEST_KEY", "secret")
    gen = OpenAICompatibleGenerator(server + "/", "tiny", api_key_env="PGT_TEST_KEY", timeout=5)
    assert gen.generate(["hello", "world"]) == ["echo:hello", "echo:world"]
    first = _Handler.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["body"]["model"] == "tiny"
    assert first["auth"] == "Bearer secret"
    assert list(gen.stream("hi")) == ["echo:hi"]  # the server ignores "stream": one JSON body
    assert list(gen.stream("sse")) == ["Ab", "uja"]  # server-sent events

    with pytest.raises(GeneratorHTTPError, match=r"returned HTTP 500 .*internal"):
        gen.generate(["boom"])
    with pytest.raises(GeneratorResponseError, match="did not return JSON"):
        gen.generate(["garbage"])


def test_openai_compatible_generator_unreachable_and_config() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gen = OpenAICompatibleGenerator(f"http://127.0.0.1:{port}/v1", "m", timeout=2)
    with pytest.raises(GeneratorHTTPError, match="Cannot reach"):
        gen.generate(["q"])
    with pytest.raises(ConfigError, match="base_url must start with http"):
        OpenAICompatibleGenerator("localhost:8000", "m")


# -- answer language --------------------------------------------------------------------------------
PROFILES = {
    "eng_Latn": ["The capital of Nigeria is Abuja and the largest city is Lagos.",
                 "She went to the market with her brother in the morning.",
                 "This is what they said about the weather yesterday."],
    "yor_Latn": ["Olu ilu Naijiria ni Abuja, ilu ti o tobi ju ni Eko.",
                 "O lo si oja pelu egbon re ni owuro.",
                 "Ohun ti won so nipa oju ojo ni ana niyi."],
}


def test_answer_language_share_by_script() -> None:
    answers = ["राजधानी नई दिल्ली है।", "The capital is New Delhi.", "", "Abuja ni."]
    assert answer_language_share(answers, ["hin", "hin_Deva", "hin", "yor"]) == pytest.approx(0.5)
    assert detect_language("राजधानी नई दिल्ली है।", candidates=["eng", "hin"]) == "hin_Deva"
    assert detect_language("12345", candidates=["eng"]) is None
    assert detect_language("Hello there", candidates=["eng", "yor"]) is None, "ambiguous without profiles"
    with pytest.raises(DataError, match="got 2 answers and 1 expected languages"):
        answer_language_share(["a", "b"], ["eng"])


def test_answer_language_share_same_script_with_profiles() -> None:
    assert detect_language("Ilu wo ni o tobi ju?", candidates=["eng", "yor"], profiles=PROFILES) == "yor_Latn"
    assert detect_language("Which city is the largest?", profiles=PROFILES) == "eng_Latn"
    answers = ["Abuja ni olu ilu won.", "The capital is Abuja.", "Abuja is the capital."]
    assert answer_language_share(answers, ["yor", "yor", "eng"], profiles=PROFILES) == pytest.approx(2 / 3)
    with pytest.raises(DataError, match=r"profiles\['yor'\] must be a non-empty list"):
        detect_language("x", profiles={"yor": "one string"})
