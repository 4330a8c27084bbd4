"""Recipes: one YAML file per paper setting (model size × GPUs), read into the run options.

A recipe has a ``model`` (Hub id), optional ``sft``, ``grpo`` and ``eval`` sections whose keys are
the fields of :class:`~unimed_cot.train.sft.SFTOptions`, :class:`~unimed_cot.train.grpo.GRPOOptions`
and :class:`~unimed_cot.train.evaluate.EvalOptions`, and an optional ``launch`` section (the
``accelerate`` config file and process count the setting is meant to run under, for the README's
command line; the trainer itself never reads it). Values are validated and coerced with pydantic
against the options' field types; an unknown key or a bad value is a one-line error.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

import yaml

from unimed_cot.train.errors import TrainError

T = TypeVar("T")
SECTIONS = ("sft", "grpo", "eval")
# Fields a recipe may not set: they are the run's, not the setting's.
_PER_RUN = {"data", "output", "resume", "save"}


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe file."""

    name: str
    model: str | None
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    launch: dict[str, Any] = field(default_factory=dict)


def builtin_recipes() -> list[str]:
    """Names of the recipes shipped with the package (``unimed_cot/train/recipes/*.yaml``)."""
    folder = files("unimed_cot.train").joinpath("recipes")
    names = (p.name for p in folder.iterdir())
    return sorted(
        n.removesuffix(".yaml")
        for n in names
        if n.endswith(".yaml") and not n.startswith("accelerate")
    )


def recipe_path(name_or_path: str) -> Path:
    """A recipe file: a path, or the name of a shipped recipe (``qwen2.5-vl-7b-1gpu-lora``).

    Raises:
        TrainError: neither a file nor a shipped recipe's name.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = Path(str(files("unimed_cot.train").joinpath("recipes", f"{name_or_path}.yaml")))
    if shipped.is_file():
        return shipped
    known = ", ".join(builtin_recipes())
    raise TrainError(f"--recipe: no file {name_or_path!r} and no shipped recipe so named ({known})")


def load_recipe(name_or_path: str) -> Recipe:
    """Read and check a recipe.

    Raises:
        TrainError: unreadable YAML, an unknown section or key.
    """
    path = recipe_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise TrainError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(data, dict):
        raise TrainError(f"{path}: a recipe is a mapping of model, sft, grpo, eval, launch")
    unknown = set(data) - {"model", "launch", "description", *SECTIONS}
    if unknown:
        raise TrainError(f"{path}: unknown recipe sections {sorted(unknown)}")
    sections = {}
    for name in SECTIONS:
        section = data.get(name) or {}
        if not isinstance(section, dict):
            raise TrainError(f"{path}: section {name!r} must be a mapping")
        sections[name] = section
    model = data.get("model")
    return Recipe(
        name=path.stem,
        model=None if model is None else str(model),
        sections=sections,
        launch=dict(data.get("launch") or {}),
    )


def apply_recipe(options: T, recipe: Recipe, section: str, *, explicit: set[str]) -> T:
    """``options`` with the recipe's ``section`` values, except the fields set on the command line
    (``explicit``); the recipe's ``model`` fills ``options.model`` the same way.

    Raises:
        TrainError: a key that is no field of the options, a per-run field, or a bad value.
    """
    from pydantic import TypeAdapter, ValidationError

    assert dataclasses.is_dataclass(options) and not isinstance(options, type)
    hints = typing.get_type_hints(type(options))
    names = {f.name for f in dataclasses.fields(options)}
    values: dict[str, Any] = {}
    if recipe.model is not None and "model" in names and "model" not in explicit:
        values["model"] = recipe.model
    for key, value in recipe.sections.get(section, {}).items():
        if key not in names or key in _PER_RUN:
            raise TrainError(f"recipe {recipe.name}: {section}.{key} is not a recipe setting")
        if key in explicit:
            continue
        try:
            values[key] = TypeAdapter(hints[key]).validate_python(value)
        except ValidationError as error:
            first = error.errors()[0]["msg"]
            raise TrainError(f"recipe {recipe.name}: {section}.{key}={value!r}: {first}") from None
    return replace(options, **values)
