"""Settings of an OpenAI-compatible teacher, from CLI flags and an optional TOML/YAML file.

Only what changes a reply (model, temperature, max tokens, response format, whether images are
sent) goes into the cache key and the build identity; operational settings (concurrency, rate
limits, timeouts, retries) do not. The API key is never a setting: only the *name* of the
environment variable that holds it is.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from unimed_cot.errors import UsageError

from .adapters import ADAPTERS, response_format

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
# Local servers (llama.cpp, vLLM without --api-key) accept any key, but the client needs one.
NO_KEY = "sk-no-key-required"


@dataclass(frozen=True, slots=True)
class TeacherSettings:
    """How to reach and drive an OpenAI-compatible chat-completions endpoint.

    Attributes:
        base_url: the API root, e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:8080/v1``.
        model: the model id the server knows.
        temperature: sampling temperature (part of the cache key).
        max_tokens: reply length limit (part of the cache key).
        response_format: ``json_schema`` (OpenAI, vLLM, SGLang), ``json_object`` (llama.cpp's
            server: ``{"type": "json_object", "schema": ...}``) or ``none`` (plain JSON, validated).
        send_images: False for text-only models; the prompt text still describes the images.
        api_key_env: the environment variable holding the API key (never the key itself).
        concurrency: requests in flight at once.
        requests_per_minute: 0 = unlimited.
        tokens_per_minute: 0 = unlimited (estimated before sending, corrected by usage).
        timeout_s: per-request timeout.
        max_retries: retries of transient failures (429, 5xx, timeouts, dropped connections).
        backoff_s: first backoff delay; doubles per retry, with full jitter, capped at 60 s.
        repair_attempts: extra attempts that feed validation errors back to the teacher.
        prices: extra ``(model, input $/1M tokens, output $/1M tokens)`` entries.
    """

    base_url: str
    model: str
    temperature: float = 0.2
    max_tokens: int = 1024
    response_format: str = "json_schema"
    send_images: bool = True
    api_key_env: str = DEFAULT_API_KEY_ENV
    concurrency: int = 8
    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    timeout_s: float = 120.0
    max_retries: int = 5
    backoff_s: float = 1.0
    repair_attempts: int = 1
    prices: tuple[tuple[str, float, float], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.base_url or not self.model:
            raise UsageError("the openai teacher needs --base-url and --model (or a --config)")
        if self.response_format not in ADAPTERS:
            raise UsageError(
                f"response_format {self.response_format!r} is not one of {', '.join(ADAPTERS)}"
            )
        if self.concurrency < 1 or self.max_tokens < 1 or self.timeout_s <= 0:
            raise UsageError("concurrency, max_tokens and timeout_s must be positive")
        if self.repair_attempts < 0 or self.max_retries < 0:
            raise UsageError("repair_attempts and max_retries must be >= 0")

    def generation(self) -> dict[str, Any]:
        """The settings a reply depends on: part of the cache key and of the build identity."""
        return {
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "response_format": self.response_format,
            "send_images": self.send_images,
        }

    def api_key(self) -> str:
        """The key from the environment, or a placeholder for local servers that need none."""
        return os.environ.get(self.api_key_env, "") or NO_KEY


def load_settings(path: Path | None, **overrides: Any) -> TeacherSettings:
    """Settings from a ``.toml``/``.yaml`` file (its ``[teacher]`` table or top level), with the
    non-None ``overrides`` (CLI flags) on top.

    Raises:
        UsageError: an unreadable file, an unknown key or a missing base URL / model.
    """
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_file(path)
    data.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(TeacherSettings)}
    unknown = sorted(set(data) - known)
    if unknown:
        where = f" in {path}" if path is not None else ""
        raise UsageError(f"unknown teacher setting(s){where}: {', '.join(unknown)}")
    if "prices" in data:
        data["prices"] = _prices(data["prices"], path)
    try:
        return TeacherSettings(**data)
    except TypeError as error:
        raise UsageError(f"bad teacher settings: {error}") from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        loaded: Any = (
            tomllib.loads(text) if path.suffix.lower() == ".toml" else yaml.safe_load(text)
        )
    except (OSError, tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(f"cannot read teacher config {path}: {first}") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"teacher config {path} is not a table of settings")
    table = loaded.get("teacher", loaded)
    if not isinstance(table, dict):
        raise UsageError(f"teacher config {path}: [teacher] is not a table")
    return dict(table)


def _prices(value: Any, path: Path | None) -> tuple[tuple[str, float, float], ...]:
    """``{model: {input: $, output: $}}`` (per million tokens) -> hashable tuples."""
    if not isinstance(value, dict):
        raise UsageError(f"teacher config {path}: prices must be a table of model -> prices")
    try:
        return tuple(
            (str(model), float(p["input"]), float(p["output"])) for model, p in value.items()
        )
    except (KeyError, TypeError, ValueError):
        raise UsageError(
            f"teacher config {path}: each price needs numeric 'input' and 'output' ($/1M tokens)"
        ) from None


@dataclass(frozen=True, slots=True)
class TeacherFlags:
    """The build command's teacher flags, as given (None: not given on the command line)."""

    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    response_format: str | None = None
    concurrency: int | None = None

    def given(self) -> dict[str, Any]:
        """The flags that were given, by setting name."""
        return {
            f.name: v for f in dataclasses.fields(self) if (v := getattr(self, f.name)) is not None
        }


def resolve_teacher(
    teacher: str, config_file: Path | None, flags: TeacherFlags
) -> TeacherSettings | None:
    """Settings of the openai teacher (file, then flags on top); None for the template teacher.

    Raises:
        UsageError: openai options given to the template teacher, or bad settings.
    """
    given = flags.given()
    if teacher != "openai":
        if given or config_file is not None:
            names = ", ".join(f"--{k.replace('_', '-')}" for k in sorted(given)) or "--config"
            raise UsageError(f"{names} only apply with --teacher openai")
        return None
    return load_settings(config_file, **given)


def chat_body(
    settings: TeacherSettings, messages: list[dict[str, Any]], fmt: dict[str, Any] | None
) -> dict[str, Any]:
    """The chat-completions body for ``messages`` (what the client sends and a dry run shows)."""
    body: dict[str, Any] = {
        "model": settings.model,
        "messages": messages,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
    }
    if fmt is not None:
        body["response_format"] = fmt
    return body


def dry_run_body(settings: TeacherSettings, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The body the openai teacher would send for ``messages``, with its response format."""
    from unimed_cot.schemas import Trace

    return chat_body(
        settings, messages, response_format(settings.response_format, Trace.model_json_schema())
    )
