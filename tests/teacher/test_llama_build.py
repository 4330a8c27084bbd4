"""The installed llama.cpp is the portable build ``make test`` compiles (``GGML_NATIVE=OFF``): its
CPU backend reports no AVX-512 or AMX code paths, which crash CPUs other than the one that
compiled them (a general protection fault on the first chat request)."""

from __future__ import annotations

import platform
import re

import pytest


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 instruction sets")
def test_llama_cpp_was_built_without_avx512_or_amx() -> None:
    llama_cpp = pytest.importorskip("llama_cpp", reason="the [teacher] extra is not installed")
    info = llama_cpp.llama_print_system_info().decode()
    assert "AVX2 = 1" in info, info  # the features are reported at all, and the baseline is there
    assert not re.findall(r"\b(?:AVX512\w*|AMX\w*) = 1", info), info
