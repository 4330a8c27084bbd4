"""The OpenAI-compatible teacher: any chat-completions endpoint (OpenAI, vLLM, SGLang, llama.cpp).

Requests run concurrently on one event loop that lives in a background thread of the process, so
the async client and its connection pool outlive a single case, while the pipeline stays
synchronous. Each request goes: cache -> rate limits -> concurrency slot -> the API (retried only
on transient errors) -> cache -> validation; a rejected reply gets ``repair_attempts`` more tries
with the validation errors fed back. The API key is read from the environment when the client is
made and is never logged, cached or put into an error message.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import openai
from openai.types.chat import ChatCompletion

from unimed_cot.errors import UnimedError
from unimed_cot.records import Rejection

from .adapters import response_format
from .answering import Answer, TeacherStats
from .base import TeacherRequest
from .cache import CachedReply, ReplyCache, request_key
from .config import TeacherSettings, chat_body
from .limits import RateBucket, with_retries
from .pricing import PriceTable
from .prompts import all_prompts_sha
from .repair import repair_messages
from .validate import TraceRejected, to_rejection, validate_reply

T = TypeVar("T")
# Rough prompt-size estimate for the tokens-per-minute bucket before usage is known.
_CHARS_PER_TOKEN = 4
_IMAGE_TOKENS = 300


class TeacherConfigError(UnimedError):
    """The endpoint refuses every request (bad key, unknown model, wrong URL): stop the build."""


class _Unavailable(Exception):  # noqa: N818 - internal signal, never leaves this module
    def __init__(self, reason: str, detail: str, *, retry_later: bool) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.retry_later = retry_later


class OpenAITeacher:
    """A ``BatchTeacher`` over an OpenAI-compatible endpoint.

    Args:
        settings: endpoint, model, generation and operational settings.
        cache: the reply cache, or None to send every request (``--no-cache``).
    """

    def __init__(self, settings: TeacherSettings, *, cache: ReplyCache | None = None) -> None:
        self.settings = settings
        self.name = settings.model
        self.prompt_sha = all_prompts_sha()
        self.sends_images = settings.send_images
        self.cache = cache
        self.prices = PriceTable(settings.prices)
        self._response_format = response_format(settings.response_format, _schema())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._client: openai.AsyncOpenAI | None = None
        self._limits: tuple[asyncio.Semaphore, RateBucket, RateBucket] | None = None

    # -- synchronous API used by the pipeline -------------------------------------------------

    def answer_all(self, requests: Sequence[TeacherRequest]) -> list[Answer]:
        """Answer every request concurrently; one ``Answer`` per request, in order.

        Raises:
            TeacherConfigError: the endpoint refused with 401/403/404 (nothing can succeed).
        """

        return self.submit(requests).result()

    def submit(self, requests: Sequence[TeacherRequest]) -> Future[list[Answer]]:
        """Queue requests on the teacher's loop and return at once: the future gets one
        ``Answer`` per request, in order (or the ``TeacherConfigError``). Every submitted
        request shares the one concurrency limit and rate buckets of this teacher, so a build
        that submits the requests of many cases keeps ``concurrency`` requests in flight."""

        async def gather() -> list[Answer]:
            return list(await asyncio.gather(*(self.answer(r) for r in requests)))

        return self._submit(gather())

    def complete(self, request: TeacherRequest) -> str:
        """The raw reply of one request (cached; no validation, no repair)."""
        raw, _ = self._run(self._reply(request.prompt_sha, request.messages, TeacherStats()))
        return raw

    def close(self) -> None:
        """Close the client, the loop and the cache (the teacher cannot be used afterwards)."""
        if self._loop is not None and self._thread is not None:
            if self._client is not None:
                self._run(self._client.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()
            self._loop = self._thread = self._client = None
        if self.cache is not None:
            self.cache.close()

    # -- the async path -----------------------------------------------------------------------

    async def answer(self, request: TeacherRequest) -> Answer:
        """Ask, validate and repair one request."""
        answer = Answer(request)
        messages = _plain_text(request.messages)
        sample = request.sample
        for attempt in range(self.settings.repair_attempts + 1):
            try:
                raw, answer.stats = await self._reply(request.prompt_sha, messages, answer.stats)
            except _Unavailable as failure:
                answer.retry_later = failure.retry_later
                answer.rejection = Rejection(
                    stage="teacher",
                    reason=failure.reason,
                    detail=failure.detail,
                    source=sample.source,
                    case_id=sample.case_id,
                    sample_id=sample.id,
                )
                return answer
            try:
                answer.trace = validate_reply(raw, sample)
                answer.rejection = None
                return answer
            except TraceRejected as rejected:
                answer.rejection = to_rejection(rejected, sample, raw)
                if attempt < self.settings.repair_attempts:
                    answer.stats.repairs += 1
                    messages = [*messages, *repair_messages(raw, rejected)]
        return answer

    async def _reply(
        self, prompt_sha: str, messages: list[dict[str, Any]], stats: TeacherStats
    ) -> tuple[str, TeacherStats]:
        settings = self.settings
        key = request_key(settings.generation(), prompt_sha, messages)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                stats.cache_hits += 1
                stats.produced += self.prices.usage(
                    settings.model, hit.prompt_tokens, hit.completion_tokens
                )
                return hit.raw, stats
        raw, prompt_tokens, completion_tokens = await self._send(messages, stats)
        stats.requests_sent += 1
        spent = self.prices.usage(settings.model, prompt_tokens, completion_tokens)
        stats.usage += spent
        stats.produced += spent
        if self.cache is not None:
            self.cache.put(
                key,
                model=settings.model,
                prompt_sha=prompt_sha,
                reply=CachedReply(raw, prompt_tokens, completion_tokens),
            )
        return raw, stats

    async def _send(
        self, messages: list[dict[str, Any]], stats: TeacherStats
    ) -> tuple[str, int, int]:
        settings = self.settings
        client = self._get_client()
        slots, per_request, per_token = self._get_limits()
        estimate = _estimate_tokens(messages) + settings.max_tokens
        body = chat_body(settings, messages, self._response_format)

        async def call() -> ChatCompletion:
            await per_request.acquire()
            await per_token.acquire(estimate)
            async with slots:
                # The SDK's documented low-level ``post`` (same errors, parsing and transport as
                # ``chat.completions.create``) without the per-request walk of every message
                # part (base64 images included) that ``create`` makes to coerce the types of
                # its parameters: that walk was ~40 % of the client's CPU per request.
                return await client.post(
                    "/chat/completions",
                    cast_to=ChatCompletion,
                    body=body,
                    options={"timeout": settings.timeout_s},
                )

        def count_retry(_: BaseException) -> None:
            stats.retries += 1

        try:
            completion = await with_retries(
                call,
                max_retries=settings.max_retries,
                base_s=settings.backoff_s,
                on_retry=count_retry,
            )
        except (
            openai.AuthenticationError,
            openai.PermissionDeniedError,
            openai.NotFoundError,
        ) as e:
            raise TeacherConfigError(
                f"the teacher at {settings.base_url} refused model {settings.model!r}: "
                f"HTTP {e.status_code} ({type(e).__name__}); check --base-url, --model and "
                f"${settings.api_key_env}"
            ) from None
        except openai.APIStatusError as e:
            retry = e.status_code in (408, 409, 429) or e.status_code >= 500
            raise _Unavailable(
                "unavailable" if retry else "bad-request",
                f"HTTP {e.status_code} from the teacher: {_first_line(e.message)}",
                retry_later=retry,
            ) from None
        except (openai.APITimeoutError, openai.APIConnectionError) as e:
            raise _Unavailable(
                "unavailable", f"{type(e).__name__} after retries", retry_later=True
            ) from None
        choice = completion.choices[0] if completion.choices else None
        raw = (choice.message.content if choice is not None else None) or ""
        usage = completion.usage
        prompt_tokens = usage.prompt_tokens if usage is not None else 0
        completion_tokens = usage.completion_tokens if usage is not None else 0
        if usage is not None:
            per_token.refund(estimate - usage.total_tokens)
        return raw, prompt_tokens, completion_tokens

    # -- loop, client and limits (created lazily, on the loop's thread) -------------------------

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._submit(coroutine).result()

    def _submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        # callers on several threads (a threaded Ray actor) must share one loop: its semaphore
        # and buckets are the one global limit, and asyncio objects belong to one loop
        with self._loop_lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="openai-teacher", daemon=True
                )
                self._thread.start()
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coroutine, loop)

    def _get_client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            self._client = openai.AsyncOpenAI(
                api_key=self.settings.api_key(),
                base_url=self.settings.base_url,
                max_retries=0,  # retries are ours: transient errors only, counted, with jitter
                timeout=self.settings.timeout_s,
                http_client=_aiohttp_transport(),
            )
        return self._client

    def _get_limits(self) -> tuple[asyncio.Semaphore, RateBucket, RateBucket]:
        if self._limits is None:
            settings = self.settings
            self._limits = (
                asyncio.Semaphore(settings.concurrency),
                RateBucket(settings.requests_per_minute),
                RateBucket(settings.tokens_per_minute),
            )
        return self._limits


def _aiohttp_transport() -> Any:
    """The SDK's aiohttp transport when ``openai[aiohttp]`` is installed, else None (its default
    httpx transport). Same API, errors and timeouts; about 35 % less client CPU per request,
    which is what keeps 64 concurrent requests near ``concurrency / latency`` on 2 cores
    (``benchmarks/bench_teacher.py``)."""
    factory = getattr(openai, "DefaultAioHttpClient", None)  # openai >= 1.89
    if factory is None:
        return None
    try:
        return factory()
    except RuntimeError:  # the extra is missing
        return None


def _schema() -> dict[str, Any]:
    from unimed_cot.schemas import Trace

    return Trace.model_json_schema()


def _estimate_tokens(messages: list[dict[str, Any]]) -> int:
    chars = 0
    images = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
            continue
        for part in content or []:
            if part.get("type") == "image_url":
                images += 1
            else:
                chars += len(str(part.get("text", "")))
    return chars // _CHARS_PER_TOKEN + images * _IMAGE_TOKENS


def _plain_text(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages whose content has no images become plain strings: text-only chat templates
    (llama.cpp's ``gemma`` among them) drop list contents silently."""
    flat = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list) and all(p.get("type") == "text" for p in content):
            message = {**message, "content": "\n".join(str(p["text"]) for p in content)}
        flat.append(message)
    return flat


def _first_line(text: str) -> str:
    return (text.splitlines() or [""])[0][:200]
