"""The release commands: ``publish``, ``validate``, ``hydrate`` and ``hash``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from unimed_cot.errors import ReleaseError, UsageError, ValidationFailedError

from .options import DEFAULT_DIR, PublishedRelease, ReleaseDir, Threshold, console, require_folder


def publish(
    directory: ReleaseDir = DEFAULT_DIR,
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
    threshold: Threshold = 3,
    force: Annotated[
        bool, typer.Option(help="Publish a version older than the one already published.")
    ] = False,
    eval_config: Annotated[
        bool,
        typer.Option(
            help="Also write the benchmark test splits of sources that ship questions (VQA-RAD, "
            "SLAKE, PathVQA) as the `eval` config. They are never in the training configs."
        ),
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
    from unimed_cot.hub import check_repo_id, push_release
    from unimed_cot.release.publish import publish as publish_release

    if not version:
        raise UsageError("publish needs --version X.Y.Z (semantic version of this release)")
    if repo_id is not None:
        check_repo_id(repo_id)
    report = publish_release(
        directory,
        version=version,
        seed=seed,
        max_shard_bytes=max_shard_mb * 1_000_000,
        decontaminate_against=decontaminate_against or [],
        threshold=threshold,
        force=force,
        eval_config=eval_config,
    )
    console.print(report.summary(), markup=False)
    if repo_id is not None:
        pushed = push_release(directory, repo_id, private=private, dry_run=dry_run)
        console.print(pushed.summary(), markup=False)
    console.print(f"next: unimed-cot validate {directory}")
    parent = directory.resolve().parent
    # Name a config the release has (a 2D-only release has no '3d').
    configs = [c for c in ("3d", "2d") if sum(report.rows_by_config_split.get(c, {}).values())]
    config = configs[0] if configs else "all"
    console.print(
        f'load it: cd {parent} && python -c "import datasets; '
        f"print(datasets.load_dataset('{directory.resolve().name}', '{config}'))\"",
        markup=False,
        soft_wrap=True,
    )


def validate(
    directory: ReleaseDir = DEFAULT_DIR,
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
    allow_skew: Annotated[
        bool,
        typer.Option(
            "--allow-skew",
            help="Report answer priors beyond the tolerance (yes/no 50% ± 3 points, letters "
            "uniform ± 3 points, per source and family, when significant at p < 0.01) as "
            "warnings instead of failing.",
        ),
    ] = False,
    allow_aliases: Annotated[
        bool,
        typer.Option(
            "--allow-aliases",
            help="Report option sets holding synonyms, duplicates or hypernyms of the answer "
            "as warnings instead of failing.",
        ),
    ] = False,
) -> None:
    """Check a release: schema, images, boxes, checksums, split leakage, answer priors, options.

    DIR may also be a Hub dataset repo ORG/NAME (downloaded through the huggingface_hub cache).
    Benchmarks the release was decontaminated against are re-checked from the hash lists it
    keeps; --decontaminate-against adds your own. Exits 0 when the release is sound, 3 with a
    list of problems otherwise.
    """
    from unimed_cot.hub import REPO_ID, download_release
    from unimed_cot.screening import load_benchmarks
    from unimed_cot.validate import format_problems, validate_release

    # read first: a wrong benchmark path is a usage error, before any download
    extra = {name: values for name, values, _ in load_benchmarks(decontaminate_against or [])}
    if not directory.exists() and REPO_ID.match(directory.as_posix()):
        directory = download_release(directory.as_posix())
    require_folder(directory, "the release folder written by `publish`")
    report = validate_release(
        directory, benchmarks=extra, allow_skew=allow_skew, allow_aliases=allow_aliases
    )
    if json_report is not None:
        json_report.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    for warning in report.warnings:
        console.print(f"warning: {warning.where}: {warning.what}", markup=False)
    if report.problems:
        raise ValidationFailedError(format_problems(report))
    console.print(f"{directory}: release is valid ({report.summary()})")


def hydrate(
    release: PublishedRelease,
    source: Annotated[str, typer.Option(help="Slug of the annotation-only source.")],
    input_path: Annotated[
        Path, typer.Option("--input", help="Folder of your own copy of that source.")
    ],
) -> None:
    """Rebuild the pixels of an annotation-only source from your own copy, checked by sha256.

    Sources whose license forbids redistribution are published without images; this re-runs
    the builder on your copy for exactly those cases and writes the verified images back.
    """
    from unimed_cot.release.hydrate import hydrate as hydrate_release

    require_folder(release, "the release folder written by `publish`")
    if not input_path.is_dir():
        raise UsageError(f"--input {input_path} is not a folder")
    report = hydrate_release(release, source=source, input_path=input_path)
    console.print(report.summary(), markup=False)
    if report.missing_cases or report.mismatched_cases or report.failed_cases:
        raise ReleaseError(
            f"{source}: some rows are still without pixels "
            f"({len(report.missing_cases)} cases missing, "
            f"{len(report.mismatched_cases)} with other pixels, {len(report.failed_cases)} failed)"
        )
    console.print(f"next: unimed-cot validate {release}")


def hash_images(
    folder: Annotated[Path, typer.Argument(help="Folder of images (searched recursively).")],
    out: Annotated[Path, typer.Option(help="Hash list file to write.")] = Path("hashes.txt"),
) -> None:
    """Write the perceptual hashes (pHash, dHash) of a folder of images to a hash list file.

    Give the file to `publish --decontaminate-against` to drop training rows that match.
    """
    from unimed_cot.screening import hash_folder, write_hash_list

    hashes, unreadable = hash_folder(folder)
    if not hashes:
        raise UsageError(f"{folder} holds no readable image (.png, .jpg, .bmp, .tif, .webp)")
    written = write_hash_list(out, hashes)
    console.print(f"wrote {written} image hashes of {folder} to {out}", markup=False)
    if unreadable:
        shown = ", ".join(unreadable[:5]) + (" ..." if len(unreadable) > 5 else "")
        console.print(f"skipped {len(unreadable)} unreadable files: {shown}", markup=False)
    console.print(f"next: unimed-cot publish DIR --version X.Y.Z --decontaminate-against {out}")
