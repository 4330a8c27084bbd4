"""Copies the top-level dataset card template into the wheel as package data of unimed_cot.

Everything else lives in pyproject.toml; setuptools cannot map a single top-level file into a
package, so this one build step does it (``unimed_cot.release.card`` also finds the file in a
source checkout or an editable install).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithCard(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "unimed_cot" / "dataset_card.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(__file__).parent / "dataset_card.md", target)


setup(cmdclass={"build_py": BuildPyWithCard})
