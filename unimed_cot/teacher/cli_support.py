"""The build command's teacher options: settings from flags and file, dry run, summary rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from unimed_cot.errors import UsageError

from .adapters import response_format
from .config import TeacherSettings, load_settings

if TYPE_CHECKING:
    from unimed_cot.pipeline import BuildConfig, BuildReport


def resolve_teacher(
    teacher: str, config_file: Path | None, options: dict[str, Any]
) -> TeacherSettings | None:
    """Settings of the openai teacher (file, then flags on top); None for the template teacher.

    Raises:
        UsageError: openai options given to the template teacher, or bad settings.
    """
    given = {k: v for k, v in options.items() if v is not None}
    if teacher != "openai":
        if given or config_file is not None:
            flags = ", ".join(f"--{k.replace('_', '-')}" for k in sorted(given)) or "--config"
            raise UsageError(f"{flags} only apply with --teacher openai")
        return None
    return load_settings(config_file, **given)


def request_body(config: BuildConfig, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat-completions body the openai teacher would send (messages as given)."""
    settings = config.teacher_settings
    if settings is None:
        return {"messages": messages}
    body: dict[str, Any] = {
        "model": settings.model,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "messages": messages,
    }
    from unimed_cot.schemas import Trace

    fmt = response_format(settings.response_format, Trace.model_json_schema())
    if fmt is not None:
        body["response_format"] = fmt
    return body


def show_dry_run(config: BuildConfig, console: Console) -> None:
    """Print the first request of the build, images elided, and send nothing."""
    from unimed_cot.pipeline.run import first_request

    settings = config.teacher_settings
    with_images = settings.send_images if settings is not None else False
    request = first_request(config, with_images=with_images)
    if request is None:
        console.print(f"dry run: no listed case of {config.source} has a question")
        return
    where = f" to {settings.base_url}" if settings is not None else ""
    console.print(
        f"dry run: the first request of {config.source} (sample {request.sample.id}, prompt "
        f"{request.prompt_id} sha {request.prompt_sha[:12]}){where}; nothing was sent"
    )
    body = request_body(config, request.text_messages())
    print(json.dumps(body, indent=2, ensure_ascii=False))


def print_teacher_summary(table: Table, report: BuildReport, config: BuildConfig) -> None:
    """Add the teacher's traffic, tokens, cost and cache statistics to the build summary."""
    if config.teacher == "template":
        return
    stats = report.teacher
    table.add_row("teacher requests sent", str(stats.requests_sent))
    table.add_row("teacher cache hits", str(stats.cache_hits) if config.use_cache else "off")
    table.add_row("teacher retries (transient errors)", str(stats.retries))
    table.add_row("teacher repair attempts", str(stats.repairs))
    table.add_row(
        "tokens in / out", f"{stats.usage.prompt_tokens} / {stats.usage.completion_tokens}"
    )
    table.add_row("cost (US$)", f"{stats.usage.cost_usd:.4f}")
    if report.unfinished:
        table.add_row("cases left for a rerun (teacher unreachable)", str(report.unfinished))
