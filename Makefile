# The two commands the README opens with. Each sets up what it needs first.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo lint browser test test-zoo test-fidelity test-onnx-layers test-slow fixtures clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m compileall -q modeltool  # cold starts read bytecode even with PYTHONDONTWRITEBYTECODE
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/modeltool summary fixtures/models/news_model.k2.h5

lint: $(STAMP)
	$(VENV)/bin/ruff check modeltool tests bench fixtures
	$(VENV)/bin/mypy modeltool

# The HTML report is tested in a real headless Chromium (Debian's package; no browser download).
# Installed when missing and possible (root or passwordless sudo); otherwise those tests skip
# with a reason.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo -n ); \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { $$SUDO apt-get update -q >/dev/null 2>&1 && \
	      $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; } || \
	    echo "chromium could not be installed: the browser tests will skip"; }

test: lint browser
	$(PY) -m pytest -q -m "not zoo"

test-zoo: $(STAMP) browser
	$(PY) -m pytest -q -m zoo

test-fidelity: $(STAMP)
	$(PY) -m pytest -q -m fidelity

test-onnx-layers: $(STAMP)
	$(PY) -m pytest -q -m onnx_layers tests/ops/test_onnx_layers.py

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

fixtures: $(STAMP)
	$(PY) fixtures/generate.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
