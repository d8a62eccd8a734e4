# portbench: setup · test · check · bench · read · wasm · onnx · annotate · sanitize · clean
# The README's two commands: `make bench` and `make test`. `make setup` is idempotent.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
TORCH := torch==2.13.0
DEB_PKGS := emscripten chromium nlohmann-json3-dev pybind11-dev cloc
NATIVE_SRCS := $(wildcard cython_ext/*.pyx cython_ext/*.pxd cython_ext/CMakeLists.txt cpp_port/*.cpp cpp_port/*.h cpp_port/CMakeLists.txt \
  wasm_port/kernels*.cpp wasm_port/kernels*.h wasm_port/peak.*)
WASM_SRCS := $(wildcard wasm_port/*.cpp wasm_port/*.h wasm_port/CMakeLists.txt cpp_port/tokenizer.* cpp_port/unicode_tables.h)
export NODE_PATH := /usr/share/nodejs
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup deb test check bench read wasm onnx annotate sanitize sanitize-abi sanitize-lite clean

setup: deb $(VENV)/.deps build/.installed wasm onnx
	@echo "setup: done ($$($(PY) -m bench list 2>/dev/null | grep -c ' yes ') implementations available)"

deb:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "setup: apt-get install$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "setup: not root or no apt: cannot install$$missing; the parts that need them will be skipped"; fi

$(VENV)/.deps:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install $(TORCH)
	$(PIP) install "scikit-build-core>=0.10" "cython>=3.0" "pybind11>=2.12" numpy ninja
	touch $@

# The editable install maps each Python module to its file: when modules are added, moved or removed
# (bench/report.py -> bench/report/), reinstall. build/.pyfiles changes only when that list does.
PY_PKGS := contract python_ref cython_ext numba_variant cpp_port wasm_port alternatives bench
$(shell mkdir -p build && find $(PY_PKGS) -name '*.py' -not -path '*/node_modules/*' | LC_ALL=C sort > build/.pyfiles.new \
  && (cmp -s build/.pyfiles.new build/.pyfiles || mv build/.pyfiles.new build/.pyfiles); rm -f build/.pyfiles.new)

build/.installed: $(VENV)/.deps pyproject.toml CMakeLists.txt $(NATIVE_SRCS) build/.pyfiles
	$(PIP) install --no-build-isolation -e ".[test,bench,fleet]"
	@mkdir -p build && touch $@

wasm: build/.npm build/.wasm

# Stamps are touched only when the step really ran, so a later `make setup` retries a skipped one.
build/.npm: $(wildcard wasm_port/package-lock.json)
	@if ! command -v npm >/dev/null; then echo "setup: npm missing: wasm_port's npm packages not installed"; \
	else cd wasm_port && npm ci --no-audit --no-fund --loglevel=error && mkdir -p ../build && touch ../$@; fi

build/.wasm: $(WASM_SRCS)
	@if ! command -v emcmake >/dev/null; then echo "setup: emscripten missing: wasm_port not built"; \
	else emcmake cmake -S . -B build/wasm -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null \
	  && cmake --build build/wasm -j2 && touch $@; fi

onnx: build/.onnx

build/.onnx: $(VENV)/.deps build/.installed $(wildcard wasm_port/export_onnx.py)
	@if [ -f wasm_port/export_onnx.py ]; then $(PY) -m wasm_port.export_onnx; fi
	@touch $@

# pytest-xdist, a worker per core (at most 4), a file per worker at a time, the heaviest first
# (tests/conftest.py FIRST); then the tests marked serial (timing checks, a real run's intervals:
# tests/conftest.py SERIAL) alone.
PYTEST := $(PY) -m pytest -q -p no:cacheprovider
XDIST := -n $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n < 4 ? n : 4 ))) --dist loadgroup --no-loadscope-reorder
test: setup
	$(PYTEST) --durations=25 $(XDIST) -m "not serial" tests
	$(PYTEST) --durations=10 -m serial tests

# The fast tier, for day-to-day work: every test but those marked slow (tests/conftest.py SLOW).
check: setup
	$(PYTEST) --durations=10 $(XDIST) -m "not slow and not serial" tests
	$(PYTEST) --durations=5 -m "serial and not slow" tests

bench: setup
	$(VENV)/bin/bench all

# The side-by-side reading view: each stage's code in every port (needs no native build).
read: build/.installed
	@page=$$($(VENV)/bin/bench read --out results) && echo "reading view: $$page" && \
	if [ -n "$${DISPLAY}$${WAYLAND_DISPLAY}" ] && command -v xdg-open >/dev/null; then xdg-open "$$page" >/dev/null 2>&1 & fi

annotate: setup
	@mkdir -p build/annotate
	$(VENV)/bin/cython -a cython_ext/_tokenizer.pyx -o build/annotate/_tokenizer.c
	@echo "open build/annotate/_tokenizer.html"

clean:
	rm -rf build results .pytest_cache .hypothesis
	find . -name __pycache__ -prune -exec rm -rf {} + ; find . -path ./.venv -prune -o -name '*.so' -print -delete

# ASan+UBSan: (1) the C++ tokenizer and the portable kernels through wasm_port's C ABI (the
# compiler's default -march: 4-wide vectors), run over the corpus, a fuzz pass, invalid UTF-8 and
# forward passes, single- and multi-threaded; (2) minilm-embed-lite (-march=native: the shipped
# vector width), its command line, --serve loop, safetensors reader and threaded kernels, run over
# serve requests, the stdin modes, model variants and broken model directories. Any report fails it.
SAN_FLAGS := -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LITE_SRCS := cpp_port/main.cpp cpp_port/serve.cpp cpp_port/backend_lite.cpp cpp_port/model_spec.cpp \
  cpp_port/safetensors.cpp cpp_port/tokenizer.cpp wasm_port/kernels.cpp wasm_port/kernels_native.cpp \
  wasm_port/kernels_gemm.cpp wasm_port/kernels_attention.cpp wasm_port/peak.cpp
# The two halves are independent: run side by side (-j2), each one's output kept together.
sanitize: setup
	@$(MAKE) --no-print-directory -j2 --output-sync=target sanitize-abi sanitize-lite

sanitize-abi:
	@mkdir -p build/sanitize
	g++ $(SAN_FLAGS) -shared -fPIC -pthread -DPB_HAVE_TOKENIZER=1 -Icpp_port -Iwasm_port \
	  cpp_port/tokenizer.cpp wasm_port/kernels.cpp wasm_port/kernels_native.cpp wasm_port/kernels_gemm.cpp \
	  wasm_port/kernels_attention.cpp wasm_port/peak.cpp wasm_port/exports.cpp -o build/sanitize/libpb_san.so
	LD_PRELOAD="$$(g++ -print-file-name=libasan.so) $$(g++ -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(PY) tests/sanitize/run_sanitized.py build/sanitize/libpb_san.so 1200

sanitize-lite:
	@mkdir -p build/sanitize
	g++ $(SAN_FLAGS) -march=native -ffp-contract=fast -pthread -Icpp_port -Iwasm_port $(LITE_SRCS) \
	  -o build/sanitize/minilm-embed-lite
	$(PY) tests/sanitize/run_lite.py build/sanitize/minilm-embed-lite
