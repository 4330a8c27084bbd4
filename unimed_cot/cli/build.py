"""``unimed-cot build``: declaration and body (config resolved once, here, and passed down)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from unimed_cot.errors import UsageError

from .options import DEFAULT_DIR, console

if TYPE_CHECKING:
    from unimed_cot.pipeline import BuildConfig, BuildReport


def build(
    source: Annotated[
        str, typer.Option("--source", "-s", help="Builder slug (see `unimed-cot sources`).")
    ],
    input: Annotated[
        Path | None,
        typer.Option(
            "--input", "-i", help="Folder of your copy of the source. The demo source needs none."
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Workspace and release folder.")
    ] = DEFAULT_DIR,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Build at most N cases (in listing order).")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed of questions and phrasing; part of the build identity.")
    ] = 0,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes (local executor); with --executor ray, N > 1 caps the CPU "
            "tasks at once (default: every CPU of the cluster).",
        ),
    ] = 1,
    executor: Annotated[
        str,
        typer.Option(
            help="local (this machine's processes) or ray (Ray Data, on this machine or the "
            "cluster of --ray-address; needs the extra \\[distributed])."
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="--executor ray: the cluster to join (auto: the one `ray start` made here). "
            "Default: a Ray of this machine only.",
            show_default=False,
        ),
    ] = None,
    teacher: Annotated[
        str,
        typer.Option(
            help="Reasoning teacher: template (offline, default) or openai (any "
            "OpenAI-compatible endpoint; see --base-url, --model, --config)."
        ),
    ] = "template",
    slices: Annotated[int, typer.Option(min=1, max=256, help="Slices per 3D volume (K).")] = 32,
    slice_size: Annotated[
        int, typer.Option(min=28, help="Side of each published slice in pixels (a multiple of 28).")
    ] = 252,
    questions: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Questions per case. Default: one per shown structure, 4 to 16, and at least "
            "one of every family that applies.",
            show_default=False,
        ),
    ] = None,
    language: Annotated[
        list[str] | None,
        typer.Option(
            help="Keep the source's own questions in this language (VQA sources; SLAKE ships en "
            "and zh). Repeat for several. Default: en.",
            show_default=False,
        ),
    ] = None,
    salt: Annotated[
        str | None,
        typer.Option(
            help="Salt of the group-id hash. Set your own for private data.", show_default=False
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    base_url: Annotated[
        str | None, typer.Option(help="--teacher openai: API root, e.g. http://127.0.0.1:8080/v1.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="--teacher openai: model id.")] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="--teacher openai: settings file (.toml or .yaml); flags override it."),
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(help="Environment variable holding the API key. Default: OPENAI_API_KEY."),
    ] = None,
    response_format: Annotated[
        str | None,
        typer.Option(help="json_schema (OpenAI, vLLM, SGLang), json_object (llama.cpp) or none."),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="--teacher openai: requests in flight at once.")
    ] = None,
    cache: Annotated[
        bool, typer.Option(help="Reuse teacher replies from DIR/.build/teacher_cache.sqlite.")
    ] = True,
    dry_run: Annotated[
        bool, typer.Option(help="Print the first teacher request (images elided); send nothing.")
    ] = False,
) -> None:
    """Build grounded samples from a source into DIR/.build/ (resumable: rerun to continue).

    A bad record never stops the build: it is rejected with its reason and counted in the
    summary. Running the same build again re-does nothing that was finished.
    """
    from unimed_cot.imaging import SerializeConfig
    from unimed_cot.pipeline import DEFAULT_SALT, BuildConfig, run_build
    from unimed_cot.pipeline.config import EXECUTORS
    from unimed_cot.questions import QuestionConfig
    from unimed_cot.teacher.config import TeacherFlags, resolve_teacher

    if slice_size % 28:
        raise UsageError(
            f"--slice-size {slice_size} is not a multiple of 28 (Qwen2.5-VL would resize it)"
        )
    if executor not in EXECUTORS:
        raise UsageError(f"unknown --executor {executor!r}; available: {', '.join(EXECUTORS)}")
    if ray_address is not None and executor != "ray":
        raise UsageError("--ray-address only applies with --executor ray")
    flags = TeacherFlags(
        base_url=base_url,
        model=model,
        api_key_env=api_key_env,
        response_format=response_format,
        concurrency=concurrency,
    )
    build_config = BuildConfig(
        source=source,
        out=out,
        input=input,
        limit=limit,
        seed=seed,
        workers=workers,
        teacher=teacher,
        salt=salt or DEFAULT_SALT,
        serialize=SerializeConfig(n_slices=slices, slice_size=slice_size),
        questions=QuestionConfig(
            per_case=questions,
            languages=tuple(dict.fromkeys(c.strip().lower() for c in language or ["en"])),
        ),
        teacher_settings=resolve_teacher(teacher, config, flags),
        use_cache=cache,
        executor=executor,
        ray_address=ray_address,
    )
    if dry_run:
        _show_dry_run(build_config)
        return
    report = run_build(build_config, progress=progress and sys.stderr.isatty())
    _print_summary(report, build_config)


def _show_dry_run(config: BuildConfig) -> None:
    """Print the first request of the build, images elided, and send nothing."""
    from unimed_cot.pipeline.run import first_request
    from unimed_cot.teacher.config import dry_run_body

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
    messages = request.text_messages()
    body = dry_run_body(settings, messages) if settings is not None else {"messages": messages}
    typer.echo(json.dumps(body, indent=2, ensure_ascii=False))


def _print_summary(report: BuildReport, config: BuildConfig) -> None:
    if report.discarded_stale:
        console.print(
            f"settings changed since the last build of {config.source}: "
            f"discarded {report.discarded_stale} staged cases built with the old settings"
        )
    table = Table(title=f"build {config.source} -> {config.out}")
    table.add_column("")
    table.add_column("count", justify="right")
    table.add_row("cases listed", str(report.listed))
    table.add_row("already staged (skipped)", str(report.already_staged))
    table.add_row("cases processed now", str(report.processed))
    table.add_row("rows accepted now", str(report.rows_new))
    for (stage, reason), count in sorted(report.rejections.items()):
        table.add_row(f"rejected at {stage}: {reason}", str(count))
    table.add_row("rows staged in total", str(report.rows_staged_total))
    if config.teacher != "template":
        _teacher_rows(table, report, use_cache=config.use_cache)
    table.add_row("time", f"{report.seconds:.1f} s")
    console.print(table)
    if report.nothing_new:
        console.print("nothing new to build: every listed case is already staged.")
    console.print(f"next: unimed-cot publish {config.out} --version 0.1.0")


def _teacher_rows(table: Table, report: BuildReport, *, use_cache: bool) -> None:
    """The teacher's traffic, tokens, cost and cache statistics."""
    stats = report.teacher
    table.add_row("teacher requests sent", str(stats.requests_sent))
    table.add_row("teacher cache hits", str(stats.cache_hits) if use_cache else "off")
    table.add_row("teacher retries (transient errors)", str(stats.retries))
    table.add_row("teacher repair attempts", str(stats.repairs))
    table.add_row(
        "tokens in / out", f"{stats.usage.prompt_tokens} / {stats.usage.completion_tokens}"
    )
    table.add_row("cost (US$)", f"{stats.usage.cost_usd:.4f}")
    if report.unfinished:
        table.add_row("cases left for a rerun (teacher unreachable)", str(report.unfinished))
