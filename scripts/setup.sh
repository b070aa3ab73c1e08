#!/usr/bin/env bash
# Make ./.venv with asyncllm and what a profile needs, on a fresh machine (Python 3.11+).
#
#   scripts/setup.sh main   the local chat: llama.cpp engine + the SmolLM2 model (no key, no GPU)
#   scripts/setup.sh test   everything the whole test suite uses (engines, fine-tune, Ray, openai SDK)
#
# Why a script and not one `pip install`: two things cannot be said in an extra.
#  * llama-cpp-python must be compiled with portable CPU flags: the default native build uses
#    AMX/AVX-512 paths that crash on the first token inside these VMs. It is built once with
#    -DGGML_NATIVE=OFF and without pip's wheel cache (so a natively built cached wheel is never reused).
#  * torch must be the CPU build: on these machines `torch==2.13.0` is the local CPU wheel, while
#    a bare `torch` requirement would pull a multi-GB CUDA build.
# Idempotent: a second run only checks.
set -euo pipefail

PROFILE="${1:-main}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[setup] %s\n' "$*" >&2; }

case "$PROFILE" in
    main) EXTRAS="local" ;;
    test) EXTRAS="test" ;;
    *) log "unknown profile '$PROFILE': use 'main' or 'test'"; exit 2 ;;
esac

[[ -x .venv/bin/python ]] || python3 -m venv .venv
PY=.venv/bin/python
PIP=(.venv/bin/python -m pip install -q)

if [[ "$PROFILE" == test ]] && ! "$PY" -c 'import torch' 2>/dev/null; then
    log "installing CPU torch"
    "${PIP[@]}" "torch==2.13.0"
fi

if ! "$PY" -c 'import llama_cpp' 2>/dev/null; then
    log "building llama-cpp-python with portable CPU flags (takes a few minutes, once)"
    CMAKE_ARGS="-DGGML_NATIVE=OFF" "${PIP[@]}" --no-cache-dir --no-binary llama-cpp-python \
        "llama-cpp-python[server]>=0.3.7"
fi

log "installing asyncllm[$EXTRAS]"
"${PIP[@]}" -e ".[$EXTRAS]"

if [[ "$PROFILE" == test ]] && ! "$PY" -c 'import sensenova' 2>/dev/null; then
    # The SenseNova SDK, oracle of tests/conformance: its PyJWT==2.6.0 pin conflicts with
    # zhipuai's, so it cannot be an extra; its one JWT call works with the PyJWT the extra resolves.
    log "installing the SenseNova SDK (--no-deps)"
    "${PIP[@]}" --no-deps "sensenova==1.0.6"
fi
log "ready: $ROOT/.venv"
