"""What each CLI command does once its arguments are parsed: resolve the config, call the
library, print a summary. Kept apart from ``cli.py`` so that the Typer layer stays declarative."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from unimed_cot.errors import UsageError, ValidationFailedError

console = Console(highlight=False)


def show_sources(slug: str | None) -> None:
    from unimed_cot.builders import get_builder, registered_builders

    if slug is not None:
        builder = get_builder(slug)
        console.print(f"[bold]{builder.slug}[/bold] — {builder.title}")
        console.print(
            f"license: {builder.license} "
            f"(redistributable: {'yes' if builder.redistributable else 'no'})"
        )
        console.print(
            f"dims: {', '.join(f'{d}D' for d in builder.dims)}; "
            f"modalities: {', '.join(builder.modalities)}"
        )
        console.print(f"data: {builder.homepage}")
        console.print("expected layout:")
        console.print(builder.layout, markup=False)
        return
    table = Table(title="sources")
    for column in ("slug", "title", "license", "redistributable", "dims", "modalities"):
        table.add_column(column)
    for name, cls in registered_builders().items():
        table.add_row(
            name,
            cls.title,
            cls.license,
            "yes" if cls.redistributable else "no",
            "/".join(f"{d}D" for d in cls.dims),
            ", ".join(cls.modalities),
        )
    console.print(table)
    console.print("`unimed-cot sources SLUG` shows the expected layout of one source.")


def run_build_command(
    *,
    source: str,
    input: Path | None,
    out: Path,
    limit: int | None,
    seed: int,
    workers: int,
    teacher: str,
    slices: int,
    slice_size: int,
    salt: str | None,
    progress: bool,
    teacher_options: dict[str, Any] | None = None,
    teacher_config: Path | None = None,
    use_cache: bool = True,
    dry_run: bool = False,
) -> None:
    from unimed_cot.imaging import SerializeConfig
    from unimed_cot.pipeline import DEFAULT_SALT, BuildConfig, run_build
    from unimed_cot.teacher.cli_support import print_teacher_summary, resolve_teacher, show_dry_run

    if slice_size % 28:
        raise UsageError(
            f"--slice-size {slice_size} is not a multiple of 28 (Qwen2.5-VL would resize it)"
        )
    config = BuildConfig(
        source=source,
        out=out,
        input=input,
        limit=limit,
        seed=seed,
        workers=workers,
        teacher=teacher,
        salt=salt or DEFAULT_SALT,
        serialize=SerializeConfig(n_slices=slices, slice_size=slice_size),
        teacher_settings=resolve_teacher(teacher, teacher_config, teacher_options or {}),
        use_cache=use_cache,
    )
    if dry_run:
        show_dry_run(config, console)
        return
    report = run_build(config, progress=progress)

    if report.discarded_stale:
        console.print(
            f"settings changed since the last build of {source}: "
            f"discarded {report.discarded_stale} staged cases built with the old settings"
        )
    table = Table(title=f"build {source} -> {out}")
    table.add_column("")
    table.add_column("count", justify="right")
    table.add_row("cases listed", str(report.listed))
    table.add_row("already staged (skipped)", str(report.already_staged))
    table.add_row("cases processed now", str(report.processed))
    table.add_row("rows accepted now", str(report.rows_new))
    for (stage, reason), count in sorted(report.rejections.items()):
        table.add_row(f"rejected at {stage}: {reason}", str(count))
    table.add_row("rows staged in total", str(report.rows_staged_total))
    print_teacher_summary(table, report, config)
    table.add_row("time", f"{report.seconds:.1f} s")
    console.print(table)
    if report.nothing_new:
        console.print("nothing new to build: every listed case is already staged.")
    console.print(f"next: unimed-cot publish {out} --version 0.1.0")


def run_publish_command(
    *,
    directory: Path,
    version: str,
    seed: int,
    max_shard_mb: int,
    decontaminate_against: list[Path] | None = None,
    threshold: int = 3,
    force: bool = False,
    repo_id: str | None = None,
    private: bool = False,
    dry_run: bool = False,
) -> None:
    from unimed_cot.release.hub import check_repo_id, push_release
    from unimed_cot.release.publish import publish

    if not version:
        raise UsageError("publish needs --version X.Y.Z (semantic version of this release)")
    if repo_id is not None:
        check_repo_id(repo_id)
    report = publish(
        directory,
        version=version,
        seed=seed,
        max_shard_bytes=max_shard_mb * 1_000_000,
        decontaminate_against=decontaminate_against or [],
        threshold=threshold,
        force=force,
    )
    console.print(report.summary() if hasattr(report, "summary") else str(report), markup=False)
    if repo_id is not None:
        pushed = push_release(directory, repo_id, private=private, dry_run=dry_run)
        console.print(pushed.summary(), markup=False)
    console.print(f"next: unimed-cot validate {directory}")
    parent = directory.resolve().parent
    console.print(
        f'load it: cd {parent} && python -c "import datasets; '
        f"print(datasets.load_dataset('{directory.resolve().name}', '3d'))\"",
        markup=False,
        soft_wrap=True,
    )


def run_validate_command(
    directory: Path, *, json_report: Path | None = None, benchmarks: Sequence[Path] = ()
) -> None:
    from unimed_cot.release.hub import REPO_ID, download_release
    from unimed_cot.release.screening import load_benchmarks
    from unimed_cot.release.validate import format_problems, validate_release

    # read first: a wrong benchmark path is a usage error, before any download
    extra = {name: values for name, values, _ in load_benchmarks(benchmarks)}

    if not directory.exists() and REPO_ID.match(directory.as_posix()):
        directory = download_release(directory.as_posix())
    if not directory.is_dir():
        raise UsageError(
            f"{directory} is not a folder; give the release folder written by `publish`"
        )
    report = validate_release(directory, benchmarks=extra)
    if json_report is not None:
        import json

        json_report.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    for warning in report.warnings:
        console.print(f"warning: {warning.where}: {warning.what}", markup=False)
    if report.problems:
        raise ValidationFailedError(format_problems(report))
    console.print(
        f"{directory}: release is valid ({report.summary()})"
        if hasattr(report, "summary")
        else f"{directory}: release is valid"
    )


def run_stats_command(
    directory: Path,
    *,
    json_out: Path | None = None,
    plots: Path | None = None,
    staged: bool = False,
    aliases: Path | None = None,
    tolerance_points: float = 3.0,
) -> None:
    from unimed_cot.stats import (
        DEFAULT_ALIASES,
        AliasTable,
        Tolerance,
        check_stats,
        compute_stats,
        print_stats,
        write_plots,
    )

    relation = AliasTable.from_json(aliases) if aliases is not None else DEFAULT_ALIASES
    tolerance = Tolerance(
        yes_no_points=tolerance_points / 100, letter_points=tolerance_points / 100
    )
    stats = compute_stats(directory, aliases=relation, staged=True if staged else None)
    findings = check_stats(stats, tolerance)
    print_stats(stats, findings, console)
    if json_out is not None:
        import json

        from unimed_cot.release.files import write_text_atomic

        data = {**stats.to_json(), "findings": [f.to_json() for f in findings]}
        write_text_atomic(json_out, json.dumps(data, indent=2, sort_keys=True) + "\n")
        console.print(f"wrote {json_out}")
    if plots is not None:
        written = write_plots(stats, plots)
        console.print(f"wrote {len(written)} figures to {plots}/")


def run_preview_command(directory: Path, *, out: Path, n: int, staged: bool = False) -> None:
    from unimed_cot.preview import write_preview

    report = write_preview(directory, out, n=n, staged=True if staged else None)
    console.print(report.summary(), markup=False)
    console.print(f"open it: {out.resolve().as_uri()}", markup=False, soft_wrap=True)
