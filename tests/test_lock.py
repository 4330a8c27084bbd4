"""The pinned install set: ``tools/lock.py`` (what ``make lock`` writes and ``make`` checks) and
the committed lock files, which must agree with ``pyproject.toml``'s ranges."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "constraints.txt"
BUILD_LOCK = ROOT / "build-constraints.txt"
# What `make test` installs (Makefile: TEST_EXTRAS); `make demo` installs a subset (dev).
TEST_EXTRAS = ("dev", "train", "teacher")


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_tool", ROOT / "tools" / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock = _load_tool()


def _report(*pins: tuple[str, str]) -> dict[str, object]:
    return {"install": [{"metadata": {"name": n, "version": v}} for n, v in pins]}


def test_pins_from_a_report_are_normalized_sorted_and_leave_the_project_out() -> None:
    report = _report(("Typer", "0.25.1"), ("llama_cpp_python", "0.3.36"), ("unimed_cot", "0.1.0"))
    assert lock.resolved_pins(report) == {"llama-cpp-python": "0.3.36", "typer": "0.25.1"}


@pytest.mark.parametrize(
    ("pins", "problem"),
    [
        ({"torch": "2.13.0+cpu", "torchvision": "0.28.0"}, "torchvision==0.28.0"),
        ({"torch": "2.13.0"}, "not the CPU wheel"),
        ({"torch": "2.13.0+cpu", "nvidia-cublas-cu12": "12.8.4.1"}, "nvidia-cublas-cu12"),
        ({"torch": "2.13.0+cpu", "triton": "3.5.0"}, "triton==3.5.0"),
    ],
)
def test_a_set_with_a_cuda_torch_or_torchvision_is_refused(
    tmp_path: Path, pins: dict[str, str], problem: str
) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(_report(*pins.items())))
    out = tmp_path / "lock.txt"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "lock.py"), "write", str(report), str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and problem in done.stderr and not out.exists()
    assert lock.unfit_for_cpu({"torch": "2.13.0+cpu", "numpy": "2.4.6"}) == []


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(_report(("numpy", "2.4.6"), ("torch", "2.13.0+cpu"))))
    out = tmp_path / "lock.txt"
    assert lock.main(["write", str(report), str(out), "--header", "one\ntwo"]) == 0
    assert out.read_text().splitlines() == ["# one", "# two", "numpy==2.4.6", "torch==2.13.0+cpu"]
    assert lock.read_lock(out) == {"numpy": "2.4.6", "torch": "2.13.0+cpu"}


def test_drift_names_unpinned_and_mispinned_packages() -> None:
    installed = {"numpy": "2.4.6", "typer": "0.29.2", "stray": "1.0", "unimed-cot": "0.1.0"}
    pins = {"numpy": "2.4.6", "typer": "0.25.1", "unused": "3.0"}
    assert lock.drift(installed, pins) == [
        "stray==1.0 is installed but not in the lock",
        "typer==0.29.2 is installed; the lock pins 0.25.1",
    ]


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    listed = [*project["dependencies"], *(r for e in TEST_EXTRAS for r in extras[e])]
    return [Requirement(r) for r in listed]


def test_the_lock_pins_every_requirement_within_its_range() -> None:
    pins = lock.read_lock(LOCK)
    for requirement in _requirements():
        name = lock.normalize(requirement.name)
        assert name in pins, f"{requirement} is not in {LOCK.name}: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK.name} pins {name}=={pins[name]}, outside {requirement}: run make lock"
        )


def test_the_lock_is_fit_for_a_cpu_machine_and_keeps_the_known_breakages_out() -> None:
    pins = lock.read_lock(LOCK)
    assert lock.unfit_for_cpu(pins) == []
    assert pins["torch"].endswith("+cpu")
    assert Version(pins["typer"]) < Version("0.26")  # 0.26 vendored Click and broke `hf`
    assert "llama-cpp-python" in pins and "pip" in pins
    assert all(re.fullmatch(r"[a-z0-9-]+", name) for name in pins)


def test_the_build_lock_pins_the_build_backends_within_their_ranges() -> None:
    pins = lock.read_lock(BUILD_LOCK)
    system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    for text in [*system["requires"], "scikit-build-core>=0.9.2"]:  # + llama-cpp-python's
        requirement = Requirement(text)
        assert requirement.specifier.contains(pins[lock.normalize(requirement.name)])
