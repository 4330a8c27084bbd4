# Two entry points on a fresh machine with Python 3.11 and pip:
#   make demo   set up .venv, build the phantom demo, publish and validate ./unimed-cot, load it
#   make test   set up .venv with the dev, train and teacher extras, run the test suite
# Both install the pinned set: constraints.txt (every package, direct and transitive) and
# build-constraints.txt (the build backends pip sets up to build a package). `make lock`
# re-resolves both from pyproject.toml's ranges.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= unimed-cot
PYTEST_ARGS ?= -n 2
LOCK := constraints.txt
BUILD_LOCK := build-constraints.txt
PIP_INSTALL := $(BIN)/python -m pip install -q -c $(LOCK) --build-constraint $(BUILD_LOCK)
# The extras `make test` installs (`make demo`: dev only). torch resolves to its CPU wheel (found
# through PIP_FIND_LINKS), which the lock pins as torch==X+cpu, so pip never reaches for a CUDA
# build; nothing installs torchvision (tools/lock.py refuses a set that would).
TEST_EXTRAS := dev,train,teacher,distributed
TORCH_VERSION ?= 2.13.0+cpu

# llama.cpp's server for the teacher's real-LLM test, compiled from the sdist for any x86-64 CPU
# with AVX2: GGML_NATIVE=OFF, so no AVX-512/AMX code paths that crash a CPU other than the one
# that compiled them. pip caches a wheel it built from an sdist by the sdist, not by CMAKE_ARGS,
# and `--no-binary` still takes a cached wheel; so the wheel is built once with --no-cache-dir
# into a project-local folder keyed by version and flags, and installed from there with
# --only-binary (pip then never compiles it again, natively or otherwise). The key also covers
# build-constraints.txt (the compiler front ends scikit-build-core and cmake).
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
LLAMA_VERSION := $(shell sed -n 's/^llama-cpp-python==//p' $(LOCK) 2>/dev/null)
LLAMA_KEY := $(shell { printf '%s\n' '$(LLAMA_CMAKE_ARGS)'; cat $(BUILD_LOCK) 2>/dev/null; } | sha256sum | cut -c1-12)
LLAMA_WHEELS := build/llama-wheels/$(LLAMA_VERSION)-$(LLAMA_KEY)

.PHONY: demo test lint typecheck schemas lock clean chromium

# The venv's own pip predates --build-constraint: it only installs the pinned pip.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c $(LOCK) pip

$(VENV)/.installed: pyproject.toml setup.py $(LOCK) $(BUILD_LOCK) | $(BIN)/python
	$(PIP_INSTALL) -e ".[dev]"
	$(BIN)/python tools/lock.py check $(LOCK)
	touch $@

$(LLAMA_WHEELS)/CMAKE_ARGS: | $(BIN)/python
	rm -rf $(LLAMA_WHEELS) $(LLAMA_WHEELS).tmp
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip wheel -q --no-deps --no-cache-dir \
	    --no-binary llama-cpp-python --build-constraint $(BUILD_LOCK) \
	    -w $(LLAMA_WHEELS).tmp "llama-cpp-python==$(LLAMA_VERSION)"
	printf '%s\n' '$(LLAMA_CMAKE_ARGS)' > $(LLAMA_WHEELS).tmp/CMAKE_ARGS
	mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS)

$(VENV)/.installed-test: $(VENV)/.installed $(LLAMA_WHEELS)/CMAKE_ARGS
	$(PIP_INSTALL) --find-links $(LLAMA_WHEELS) --only-binary llama-cpp-python \
	    -e ".[$(TEST_EXTRAS)]"
	$(BIN)/python tools/lock.py check $(LOCK)
	touch $@

demo: $(VENV)/.installed
	$(BIN)/unimed-cot build --source phantom --out $(DEMO_DIR)
	$(BIN)/unimed-cot publish $(DEMO_DIR) --version 0.1.0
	$(BIN)/unimed-cot validate $(DEMO_DIR)
	cd $(dir $(abspath $(DEMO_DIR))) && HF_HUB_OFFLINE=1 $(abspath $(BIN))/python -c "import datasets; \
	d2 = datasets.load_dataset('$(notdir $(abspath $(DEMO_DIR)))', '2d'); d3 = datasets.load_dataset('$(notdir $(abspath $(DEMO_DIR)))', '3d'); \
	print(d2); print(d3); r = d3['train'][0]; print('3D row:', r['id'], len(r['images']), 'slices of', r['images'][0].size); \
	print(r['question']); print(r['reasoning'])"

# preview's browser test opens the gallery in headless Chromium (Debian's package; as root only,
# otherwise that test is skipped and says why).
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -q && apt-get install -y -q chromium; } \
	  || echo "chromium not installed: the browser test of preview will be skipped"

test: $(VENV)/.installed-test chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy cannot follow setuptools' package-dir mapping of an editable install, so it checks a
# link tree laid out as the wheel is: unimed_cot/ with builders/, schemas/, prompts/ inside.
typecheck: $(VENV)/.installed
	rm -rf build/typecheck && mkdir -p build/typecheck/unimed_cot
	for entry in unimed_cot/*; do ln -s "$(CURDIR)/$$entry" build/typecheck/unimed_cot/; done
	for pkg in builders schemas prompts; do ln -s "$(CURDIR)/$$pkg" build/typecheck/unimed_cot/$$pkg; done
	cd build/typecheck && $(abspath $(BIN))/mypy --config-file $(CURDIR)/pyproject.toml -p unimed_cot

schemas: $(VENV)/.installed
	$(BIN)/python -m unimed_cot.schemas

# Re-resolve the pinned set from pyproject.toml's ranges in a fresh venv (pip's own resolver,
# nothing installed; ~1 min): everything `make test` installs, and the build backends, i.e. this
# project's [build-system] requires and llama-cpp-python's (scikit-build-core, and the cmake and
# ninja it asks for where the system has none).
lock:
	rm -rf build/lock && $(PYTHON) -m venv build/lock/venv
	build/lock/venv/bin/python -m pip install -q --upgrade pip
	build/lock/venv/bin/python -m pip install -q --dry-run --ignore-installed \
	    --report build/lock/install.json pip "torch==$(TORCH_VERSION)" \
	    -e ".[$(TEST_EXTRAS)]"
	build/lock/venv/bin/python -m pip install -q --dry-run --ignore-installed \
	    --report build/lock/build.json "setuptools>=69" wheel "scikit-build-core>=0.9.2" \
	    "cmake>=3.21" ninja
	build/lock/venv/bin/python tools/lock.py write build/lock/install.json $(LOCK) --header \
	    "$$(printf 'Every package make demo and make test install, pinned (CPython 3.11, Linux x86_64).\nWritten by make lock from the ranges in pyproject.toml; do not edit by hand.')"
	build/lock/venv/bin/python tools/lock.py write build/lock/build.json $(BUILD_LOCK) --header \
	    "$$(printf 'The build backends pip installs to build this project and llama-cpp-python, pinned.\nWritten by make lock; do not edit by hand.')"

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
