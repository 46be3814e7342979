"""Generators turn RAG prompts into answers: a local transformers model, or an OpenAI-compatible server.

Both have `generate(prompts) -> list[str]` and `stream(prompt) -> Iterator[str]`, which is all a RAG
chain needs. `LocalGenerator` loads causal LMs and seq2seq models (never with trust_remote_code);
`OpenAICompatibleGenerator` talks to `/chat/completions` (vLLM, llama.cpp, TGI, OpenAI...) with the
standard library only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from polyglot_transfer.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)


class GeneratorHTTPError(ModelError):
    """A generation server could not be reached or answered with an HTTP error."""


class GeneratorResponseError(ModelError):
    """A generation server answered, but not with the chat-completions JSON expected."""


@runtime_checkable
class Generator(Protocol):
    def generate(self, prompts: list[str]) -> list[str]: ...

    def stream(self, prompt: str) -> Iterator[str]: ...


def _check_positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be an int >= 1. Got {value!r} instead.")


def _check_prompts(prompts: Any) -> list[str]:
    if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
        raise ConfigError(
            f"generate() takes a list of prompt strings. Got {type(prompts).__name__} instead; "
            "wrap a single prompt in a list or use stream()."
        )
    return list(prompts)


class LocalGenerator:
    """A local Hugging Face model: causal LM (chat template applied when the tokenizer has one) or seq2seq.

    `model_path` is a model folder or a catalog name already provisioned. Decoding is greedy unless
    `do_sample=True`. Prompts longer than the model's context are cut from the left, so the question
    and answer instruction at the end survive.
    """

    def __init__(
        self,
        model_path: str | os.PathLike,
        max_new_tokens: int = 64,
        do_sample: bool = False,
        *,
        device: str | None = None,
        batch_size: int = 8,
        use_chat_template: bool = True,
        stop_at_line_end: bool = False,
    ) -> None:
        _check_positive_int("max_new_tokens", max_new_tokens)
        _check_positive_int("batch_size", batch_size)
        self.model_path = model_path
        self.max_new_tokens = max_new_tokens
        self.do_sample = bool(do_sample)
        self.device = device or "cpu"
        self.batch_size = batch_size
        self.use_chat_template = use_chat_template
        self.stop_at_line_end = bool(stop_at_line_end)  # a row stops once its answer has a complete line

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, **kwargs: Any) -> LocalGenerator:
        """A generator over an already loaded model (e.g. a fine-tuned PEFT model) and its tokenizer.

        The tokenizer is set up as the loader would (left padding and truncation for decoders, a pad token).
        """
        gen = cls(getattr(model, "name_or_path", "<in-memory model>"), device=str(_device_of(model)), **kwargs)
        gen.__dict__["config"] = model.config
        if not gen.is_encoder_decoder:
            tokenizer.padding_side = "left"
            tokenizer.truncation_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        gen.__dict__["tokenizer"] = tokenizer
        gen.__dict__["model"] = model.eval()
        return gen

    @cached_property
    def path(self) -> Path:
        from polyglot_transfer.models.provision import resolve_model

        return resolve_model(self.model_path, pull=False)

    @cached_property
    def config(self) -> Any:
        from transformers import AutoConfig

        try:
            return AutoConfig.from_pretrained(str(self.path))
        except (OSError, ValueError) as exc:
            raise ModelError(f"Cannot read the model config in {self.path}: {exc}") from None

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(getattr(self.config, "is_encoder_decoder", False))

    @cached_property
    def tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(str(self.path))
        except (OSError, ValueError) as exc:
            raise ModelError(f"Cannot load the tokenizer in {self.path}: {exc}") from None
        if not self.is_encoder_decoder:
            tok.padding_side = "left"  # generation continues from the right end of every row
            tok.truncation_side = "left"
        if tok.pad_token_id is None:
            if tok.eos_token_id is None:
                raise ModelError(
                    f"The tokenizer in {self.path} has neither a pad nor an eos token; set pad_token in "
                    "tokenizer_config.json."
                )
            tok.pad_token = tok.eos_token
        return tok

    @cached_property
    def model(self) -> Any:
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

        cls = AutoModelForSeq2SeqLM if self.is_encoder_decoder else AutoModelForCausalLM
        try:
            model = cls.from_pretrained(str(self.path))
        except (OSError, ValueError) as exc:
            raise ModelError(f"Cannot load {cls.__name__} from {self.path}: {exc}") from None
        return model.to(self.device).eval()

    def format_prompt(self, prompt: str) -> str:
        """The text actually fed to the model: the chat template for chat causal LMs, else the prompt."""
        tok = self.tokenizer
        if self.use_chat_template and not self.is_encoder_decoder and getattr(tok, "chat_template", None):
            return tok.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        return prompt

    def _encode(self, prompts: list[str]) -> Any:
        texts = [self.format_prompt(p) for p in prompts]
        templated = texts != prompts
        limit = getattr(self.config, "max_position_embeddings", None)
        max_length = None
        if limit and not self.is_encoder_decoder:
            max_length = max(1, int(limit) - self.max_new_tokens)
        enc = self.tokenizer(
            texts, return_tensors="pt", padding=True, truncation=max_length is not None, max_length=max_length,
            add_special_tokens=not templated,
        )
        return enc.to(self.device)

    def _generate_kwargs(self, enc: Any) -> dict[str, Any]:
        # only ids and mask: BERT-style tokenizers also return token_type_ids, which decoders refuse
        inputs = {k: enc[k] for k in ("input_ids", "attention_mask") if k in enc}
        kwargs = {
            **inputs, "max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if self.stop_at_line_end:
            from transformers import StoppingCriteriaList

            start = 1 if self.is_encoder_decoder else enc["input_ids"].shape[1]
            kwargs["stopping_criteria"] = StoppingCriteriaList([_line_end_criterion(self.tokenizer, start)])
        return kwargs

    def generate(self, prompts: list[str]) -> list[str]:
        """Answers for `prompts`, in order (batched by `batch_size`)."""
        import torch

        prompts = _check_prompts(prompts)
        answers: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            enc = self._encode(prompts[start : start + self.batch_size])
            with torch.no_grad():
                out = self.model.generate(**self._generate_kwargs(enc))
            if not self.is_encoder_decoder:
                out = out[:, enc["input_ids"].shape[1] :]
            answers += [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]
        return answers

    def stream(self, prompt: str) -> Iterator[str]:
        """Yield the answer to one prompt as text chunks while it is generated."""
        import torch
        from transformers import TextIteratorStreamer

        enc = self._encode(_check_prompts([prompt]))
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=not self.is_encoder_decoder,
                                        skip_special_tokens=True)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.no_grad():
                    self.model.generate(**self._generate_kwargs(enc), streamer=streamer)
            except BaseException as exc:  # surfaced in the caller's thread below
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, name="pgt-generate-stream", daemon=True)
        thread.start()
        try:
            for chunk in streamer:
                if chunk:
                    yield chunk
        finally:
            thread.join()
        if failure:
            raise ModelError(f"Generation with {self.path} failed while streaming: {failure[0]}") from failure[0]


def _device_of(model: Any) -> Any:
    for p in model.parameters():
        return p.device
    return "cpu"


def _line_end_criterion(tokenizer: Any, start: int) -> Any:
    """Stops a row once its new text holds a newline after some non-blank text (the answer line is complete);
    leading newlines do not count (a base decoder often starts its answer with one)."""
    import torch
    from transformers import StoppingCriteria

    class LineEnd(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            texts = tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
            return torch.tensor(["\n" in t.lstrip() for t in texts], dtype=torch.bool, device=input_ids.device)

    return LineEnd()


class OpenAICompatibleGenerator:
    """An OpenAI-compatible chat-completions server: POST {base_url}/chat/completions.

    The API key is read from the environment variable `api_key_env` (no Authorization header when it
    is unset, as local servers need none). Errors raise :class:`GeneratorHTTPError` (unreachable,
    HTTP status >= 400) or :class:`GeneratorResponseError` (not the JSON expected).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60,
        *,
        max_tokens: int | None = 256,
        temperature: float = 0.0,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://. Got {base_url!r} instead.")
        if not isinstance(model, str) or not model:
            raise ConfigError(f"model must be a non-empty str naming the served model. Got {model!r} instead.")
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
            raise ConfigError(f"timeout must be a number of seconds > 0. Got {timeout!r} instead.")
        if max_tokens is not None:
            _check_positive_int("max_tokens", max_tokens)
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.temperature = temperature

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _request(self, prompt: str, *, stream: bool) -> urllib.request.Request:
        body: dict[str, Any] = {
            "model": self.model, "messages": [{"role": "user", "content": prompt}],
            "temperature": self.temperature, "stream": stream,
        }
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers,
                                      method="POST")

    def _open(self, request: urllib.request.Request) -> Any:
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode("utf-8", "replace").strip() if exc.fp is not None else ""
            raise GeneratorHTTPError(
                f"POST {self.url} returned HTTP {exc.code} ({exc.reason}): {detail or 'no body'}. "
                f"Expected 200 with a chat-completions JSON; check the server log, that model {self.model!r} "
                f"is served, and the API key in ${self.api_key_env}."
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GeneratorHTTPError(
                f"Cannot reach {self.url}: {reason}. Check that the server is running and base_url is right."
            ) from None

    def _parse(self, raw: bytes) -> str:
        try:
            payload = json.loads(raw.decode("utf-8"))
            content = payload["choices"][0]["message"]["content"]
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GeneratorResponseError(
                f"{self.url} did not return JSON ({exc}); got {raw[:200]!r}. Check that base_url points at "
                "an OpenAI-compatible API (usually ending in /v1)."
            ) from None
        except (KeyError, IndexError, TypeError):
            raise GeneratorResponseError(
                f"{self.url} returned JSON without choices[0].message.content: {raw[:300]!r}. "
                "Expected an OpenAI chat-completions response."
            ) from None
        return "" if content is None else str(content)

    def generate(self, prompts: list[str]) -> list[str]:
        """One chat completion per prompt, in order."""
        answers = []
        for prompt in _check_prompts(prompts):
            with self._open(self._request(prompt, stream=False)) as response:
                answers.append(self._parse(response.read()))
        return answers

    def stream(self, prompt: str) -> Iterator[str]:
        """Yield answer chunks from a server-sent-events stream (`"stream": true`)."""
        _check_prompts([prompt])
        with self._open(self._request(prompt, stream=True)) as response:
            if "text/event-stream" not in (response.headers.get("Content-Type") or ""):
                # a server that ignores "stream" answers with one JSON body
                text = self._parse(response.read())
                if text:
                    yield text
                return
            for line in response:
                line = line.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                try:
                    delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                except (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
                    raise GeneratorResponseError(
                        f"{self.url} sent a stream event that is not chat-completions JSON: {data[:200]!r}."
                    ) from None
                if delta:
                    yield str(delta)
