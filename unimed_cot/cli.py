"""The ``unimed-cot`` command line: thin Typer commands over library calls.

Errors are mapped to one line and an exit code in one place (``_errors_to_exit``); set
``UNIMED_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from unimed_cot import __version__
from unimed_cot.errors import UnimedError
from unimed_cot.train.cli import build_train_app

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="unimed-cot",
    help=(
        "Build grounded medical reasoning data from public 2D and 3D sources, publish it as a "
        "versioned Hugging Face dataset, and validate any release.\n\n"
        "Start with the demo: unimed-cot build --source phantom && unimed-cot publish "
        "unimed-cot --version 0.1.0 && unimed-cot validate unimed-cot"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_DIR = Path("unimed-cot")
DirArgument = Annotated[
    Path,
    typer.Argument(
        help="Release folder (the build workspace). Default: ./unimed-cot", show_default=False
    ),
]


def _errors_to_exit(command: Callable[P, R]) -> Callable[P, R]:
    """The one place that turns library errors into a readable line and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except UnimedError as error:
            if os.environ.get("UNIMED_DEBUG"):
                raise
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            typer.echo(
                "interrupted: finished cases are kept; run the same command to continue", err=True
            )
            raise typer.Exit(130) from None
        except typer.Exit:
            raise
        except Exception as error:
            if os.environ.get("UNIMED_DEBUG"):
                raise
            typer.echo(
                f"internal error: {type(error).__name__}: {error}\n"
                "This is a bug; rerun with UNIMED_DEBUG=1 for the traceback and report it.",
                err=True,
            )
            raise typer.Exit(1) from None

    return wrapper


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"unimed-cot {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Grounded medical visual reasoning across 2D images and 3D volumes."""


@app.command()
@_errors_to_exit
def sources(
    slug: Annotated[
        str | None, typer.Argument(help="Show one source in full, with its expected layout.")
    ] = None,
) -> None:
    """List the sources (builders): slug, license, dimensionality and where the data comes from."""
    from unimed_cot.commands import show_sources

    show_sources(slug)


@app.command()
@_errors_to_exit
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
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
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
    from unimed_cot.commands import run_build_command

    run_build_command(
        source=source,
        input=input,
        out=out,
        limit=limit,
        seed=seed,
        workers=workers,
        teacher=teacher,
        slices=slices,
        slice_size=slice_size,
        salt=salt,
        progress=progress and sys.stderr.isatty(),
        teacher_options={
            "base_url": base_url,
            "model": model,
            "api_key_env": api_key_env,
            "response_format": response_format,
            "concurrency": concurrency,
        },
        teacher_config=config,
        use_cache=cache,
        dry_run=dry_run,
    )


@app.command()
@_errors_to_exit
def publish(
    directory: DirArgument = DEFAULT_DIR,
    version: Annotated[
        str, typer.Option("--version", "-v", help="Semantic version of this release, e.g. 0.1.0.")
    ] = "",
    seed: Annotated[
        int, typer.Option(help="Seed of the group-wise train/validation/test split.")
    ] = 0,
    max_shard_mb: Annotated[
        int, typer.Option(min=1, help="Upper bound of one Parquet shard, in MB.")
    ] = 500,
    decontaminate_against: Annotated[
        list[Path] | None,
        typer.Option(
            help="Folder of benchmark test images or a hash list file (`unimed-cot hash`); "
            "training rows whose images match are dropped. Repeat for several benchmarks."
        ),
    ] = None,
    threshold: Annotated[
        int,
        typer.Option(min=0, max=63, help="Near-duplicate distance in bits (of 64-bit hashes)."),
    ] = 3,
    force: Annotated[
        bool, typer.Option(help="Publish a version older than the one already published.")
    ] = False,
    repo_id: Annotated[
        str | None,
        typer.Option(help="Also push to this Hugging Face dataset repo (ORG/NAME), verify, tag."),
    ] = None,
    private: Annotated[bool, typer.Option(help="Create the Hub repo as private.")] = False,
    dry_run: Annotated[
        bool, typer.Option(help="With --repo-id: show the planned upload, send nothing.")
    ] = False,
) -> None:
    """Write the release files (card, data/ shards, manifest, changelog) from DIR/.build/.

    Splits are made by patient/case group, never by row. Publishing the same staged build twice
    gives byte-identical shards.
    """
    from unimed_cot.commands import run_publish_command

    run_publish_command(
        directory=directory,
        version=version,
        seed=seed,
        max_shard_mb=max_shard_mb,
        decontaminate_against=decontaminate_against or [],
        threshold=threshold,
        force=force,
        repo_id=repo_id,
        private=private,
        dry_run=dry_run,
    )


@app.command()
@_errors_to_exit
def validate(
    directory: DirArgument = DEFAULT_DIR,
    json_report: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON to this file.")
    ] = None,
    decontaminate_against: Annotated[
        list[Path] | None,
        typer.Option(
            help="Also check the training split against this benchmark: a folder of its test "
            "images or a hash list file (`unimed-cot hash`). Repeat for several benchmarks."
        ),
    ] = None,
) -> None:
    """Check a release: schema, images, boxes against images and slices, checksums, split leakage.

    DIR may also be a Hub dataset repo ORG/NAME (downloaded through the huggingface_hub cache).
    Benchmarks the release was decontaminated against are re-checked from the hash lists it
    keeps; --decontaminate-against adds your own. Exits 0 when the release is sound, 3 with a
    list of problems otherwise.
    """
    from unimed_cot.commands import run_validate_command

    run_validate_command(directory, json_report=json_report, benchmarks=decontaminate_against or [])


@app.command()
@_errors_to_exit
def hydrate(
    release: Annotated[Path, typer.Argument(help="Release folder written by `publish`.")],
    source: Annotated[str, typer.Option(help="Slug of the annotation-only source.")],
    input_path: Annotated[
        Path, typer.Option("--input", help="Folder of your own copy of that source.")
    ],
) -> None:
    """Rebuild the pixels of an annotation-only source from your own copy, checked by sha256.

    Sources whose license forbids redistribution are published without images; this re-runs
    the builder on your copy for exactly those cases and writes the verified images back.
    """
    from unimed_cot.release.cli_commands import run_hydrate_command

    run_hydrate_command(release, source=source, input_path=input_path)


@app.command()
@_errors_to_exit
def export(
    release: Annotated[Path, typer.Argument(help="Release folder written by `publish`.")],
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="unireason (the reference release layout), trl, llamafactory or verl.",
        ),
    ],
    out: Annotated[Path, typer.Option(help="Folder to write the exported files into.")],
) -> None:
    """Write a release in another project's layout: UniReason-Med, TRL, LLaMA-Factory, verl."""
    from unimed_cot.release.cli_commands import run_export_command

    run_export_command(release, fmt=format, out=out)


@app.command("hash")
@_errors_to_exit
def hash_images(
    folder: Annotated[Path, typer.Argument(help="Folder of images (searched recursively).")],
    out: Annotated[Path, typer.Option(help="Hash list file to write.")] = Path("hashes.txt"),
) -> None:
    """Write the perceptual hashes (pHash, dHash) of a folder of images to a hash list file.

    Give the file to `publish --decontaminate-against` to drop training rows that match.
    """
    from unimed_cot.release.cli_commands import run_hash_command

    run_hash_command(folder, out)


@app.command()
@_errors_to_exit
def stats(
    directory: DirArgument = DEFAULT_DIR,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the numbers and findings as JSON.")
    ] = None,
    plots: Annotated[
        Path | None, typer.Option(help="Also draw the card's figures (PNG) into this folder.")
    ] = None,
    staged: Annotated[
        bool, typer.Option(help="Measure the rows staged by `build`, not the published shards.")
    ] = False,
    aliases: Annotated[
        Path | None,
        typer.Option(help='Alias table (JSON: {"synonyms": [[...]], "broader": {...}}).'),
    ] = None,
    tolerance: Annotated[
        float, typer.Option(min=0.0, max=50.0, help="Prior tolerance, in points of share.")
    ] = 3.0,
) -> None:
    """Measure a release per source and family: rows, answer priors, option-set problems,
    questions per case, region sizes, modalities, windows; and list what is out of tolerance."""
    from unimed_cot.commands import run_stats_command

    run_stats_command(
        directory,
        json_out=json_out,
        plots=plots,
        staged=staged,
        aliases=aliases,
        tolerance_points=tolerance,
    )


@app.command()
@_errors_to_exit
def preview(
    directory: DirArgument = DEFAULT_DIR,
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("preview.html"),
    n: Annotated[int, typer.Option("--n", min=1, help="Rows to show.")] = 50,
    staged: Annotated[
        bool, typer.Option(help="Show the rows staged by `build`, not the published shards.")
    ] = False,
) -> None:
    """Write a self-contained HTML gallery of rows: question, options, trace, and the image or
    slice strip with every box drawn where its region is; filter by source, family, split."""
    from unimed_cot.commands import run_preview_command

    run_preview_command(directory, out=out, n=n, staged=staged)


app.add_typer(build_train_app(_errors_to_exit), name="train")


def main() -> None:
    """Console-script entry point."""
    app()
