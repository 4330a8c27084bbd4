"""The release commands' bodies (``hash``, ``hydrate``, ``export``): parse-free library calls.

``cli.py`` declares the options and calls these; errors are ``UnimedError`` subclasses, which the
CLI turns into one line and an exit code.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from unimed_cot.errors import ReleaseError, UsageError

from .hashing import hash_folder, write_hash_list

console = Console(highlight=False)


def run_hash_command(folder: Path, out: Path) -> None:
    """Hash every image under ``folder`` into the hash list ``out``."""
    hashes, unreadable = hash_folder(folder)
    if not hashes:
        raise UsageError(f"{folder} holds no readable image (.png, .jpg, .bmp, .tif, .webp)")
    written = write_hash_list(out, hashes)
    console.print(f"wrote {written} image hashes of {folder} to {out}", markup=False)
    if unreadable:
        shown = ", ".join(unreadable[:5]) + (" ..." if len(unreadable) > 5 else "")
        console.print(f"skipped {len(unreadable)} unreadable files: {shown}", markup=False)
    console.print(f"next: unimed-cot publish DIR --version X.Y.Z --decontaminate-against {out}")


def run_hydrate_command(release: Path, *, source: str, input_path: Path) -> None:
    """Hydrate ``source`` in ``release``; exits non-zero when some rows stay without pixels."""
    from .hydrate import hydrate

    if not release.is_dir():
        raise UsageError(f"{release} is not a folder; give the release folder written by `publish`")
    if not input_path.is_dir():
        raise UsageError(f"--input {input_path} is not a folder")
    report = hydrate(release, source=source, input_path=input_path)
    console.print(report.summary(), markup=False)
    if report.missing_cases or report.mismatched_cases or report.failed_cases:
        raise ReleaseError(
            f"{source}: some rows are still without pixels "
            f"({len(report.missing_cases)} cases missing, "
            f"{len(report.mismatched_cases)} with other pixels, {len(report.failed_cases)} failed)"
        )
    console.print(f"next: unimed-cot validate {release}")


def run_export_command(release: Path, *, fmt: str, out: Path) -> None:
    """Export ``release`` as ``fmt`` into ``out``."""
    from .exports import export_release

    if not release.is_dir():
        raise UsageError(f"{release} is not a folder; give the release folder written by `publish`")
    report = export_release(release, fmt=fmt, out=out)
    console.print(report.summary(), markup=False)
