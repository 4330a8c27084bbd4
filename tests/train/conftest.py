"""Fixtures of the trainer tests: a small phantom release and a tiny random checkpoint.

Both are built once per session. The release comes from the real pipeline with small pixels
(4 slices of 56 px, 2D images of at most 112 px) so the tiny model's inputs stay small.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def train_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A published phantom release (4 images, 2 volumes) in ``…/unimed-cot``."""
    from unimed_cot.demo.phantom import generate_phantom
    from unimed_cot.imaging.serialize import SerializeConfig
    from unimed_cot.pipeline import BuildConfig, run_build
    from unimed_cot.release.publish import publish

    root = tmp_path_factory.mktemp("train_release")
    out = root / "unimed-cot"
    run_build(
        BuildConfig(
            source="phantom",
            out=out,
            input=generate_phantom(root / "src", n_images_2d=4, n_volumes_3d=2),
            serialize=SerializeConfig(n_slices=4, slice_size=56, max_side_2d=112, min_side_2d=56),
        )
    )
    publish(out, version="0.1.0")
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2.5-VL checkpoint folder."""
    pytest.importorskip("torch", reason="needs the [train] extra")
    pytest.importorskip("transformers", reason="needs the [train] extra")
    from unimed_cot.train.tiny import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(autouse=True)
def _private_hf_cache(default_hf_cache: Path) -> Path:
    """``load_samples`` reads through ``load_dataset``'s default cache, as the trainer does: keep
    that code path, in a per-test folder instead of the user's cache (where rows cached from
    another release folder named ``unimed-cot`` could otherwise be served)."""
    return default_hf_cache
