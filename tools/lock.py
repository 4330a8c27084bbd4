"""The pinned install set: write it from pip's resolution (``make lock``), check a venv against it.

``python tools/lock.py write REPORT.json OUT.txt [--header TEXT]``: REPORT.json is what
``pip install --dry-run --ignore-installed --report`` resolved in a fresh venv; OUT.txt gets one
``name==version`` line per resolved distribution (PEP 503 names, sorted), the project itself left
out. Pins only, no hashes: the editable install of the project cannot be hashed, and pip's
hash-checking mode is all or nothing. A resolution holds for the interpreter and platform that
ran it (CPython 3.11 on Linux x86_64: this project's machines).

``python tools/lock.py check LOCK.txt``, run by the venv's python after each ``make`` install:
every distribution installed there is pinned in LOCK.txt at the version installed (a venv left
with a package the lock does not name, or at another version, fails with one line per package).

Either exits non-zero with readable lines; ``write`` also refuses a set that would install what a
CPU machine must not get: torchvision (it cannot be imported next to the CPU torch wheel), a torch
that is not the ``+cpu`` build, or CUDA runtime wheels.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PROJECT = "unimed-cot"
FORBIDDEN = re.compile(r"^(torchvision|triton|nvidia-.*|cuda-.*)$")


def normalize(name: str) -> str:
    """The PEP 503 form of a distribution name (``llama_cpp_python`` -> ``llama-cpp-python``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def resolved_pins(report: dict[str, Any]) -> dict[str, str]:
    """``{name: version}`` of every distribution a pip report would install, the project aside."""
    pins: dict[str, str] = {}
    for item in report["install"]:
        name = normalize(item["metadata"]["name"])
        if name != PROJECT:
            pins[name] = item["metadata"]["version"]
    return dict(sorted(pins.items()))


def read_lock(path: Path) -> dict[str, str]:
    """``{name: version}`` of a lock file's ``name==version`` lines (comments skipped)."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[normalize(name)] = version
    return pins


def unfit_for_cpu(pins: dict[str, str]) -> list[str]:
    """Why a pinned set is unfit for a CPU machine (empty when it is fine)."""
    problems = [f"{n}=={v} must not be installed" for n, v in pins.items() if FORBIDDEN.match(n)]
    torch = pins.get("torch")
    if torch is not None and not torch.endswith("+cpu"):
        problems.append(f"torch=={torch} is not the CPU wheel: resolve torch==X.Y.Z+cpu")
    return problems


def drift(installed: dict[str, str], pins: dict[str, str]) -> list[str]:
    """Installed distributions that the lock does not pin at their installed version."""
    problems = []
    for name, version in sorted(installed.items()):
        if name == PROJECT:
            continue
        if name not in pins:
            problems.append(f"{name}=={version} is installed but not in the lock")
        elif pins[name] != version:
            problems.append(f"{name}=={version} is installed; the lock pins {pins[name]}")
    return problems


def _installed() -> dict[str, str]:
    return {normalize(d.metadata["Name"]): d.version for d in metadata.distributions()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write or check the pinned install set")
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="write a lock file from a pip --report")
    write.add_argument("report", type=Path)
    write.add_argument("out", type=Path)
    write.add_argument("--header", default="", help="comment put on top of the file")
    check = commands.add_parser("check", help="check this interpreter's packages against a lock")
    check.add_argument("lock", type=Path)
    args = parser.parse_args(argv)

    if args.command == "check":
        problems = drift(_installed(), read_lock(args.lock))
        for problem in problems:
            print(f"{args.lock}: {problem} (rm -rf .venv and run make again)", file=sys.stderr)
        return 1 if problems else 0
    pins = resolved_pins(json.loads(args.report.read_text()))
    problems = unfit_for_cpu(pins)
    for problem in problems:
        print(f"lock: {problem}", file=sys.stderr)
    if problems:
        return 1
    header = "".join(f"# {line}".rstrip() + "\n" for line in args.header.splitlines())
    args.out.write_text(header + "".join(f"{n}=={v}\n" for n, v in pins.items()))
    print(f"lock: {len(pins)} pins written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
