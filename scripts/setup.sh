#!/usr/bin/env bash
# Make ./.venv with asyncllm and what a profile needs, on a fresh machine (Python 3.11+).
#
#   scripts/setup.sh main   the local chat: llama.cpp engine + the SmolLM2 model (no key, no GPU)
#   scripts/setup.sh test   everything the whole test suite uses (engines, fine-tune, Ray, openai SDK)
#   scripts/setup.sh llama-cmake-args   print the CMAKE_ARGS llama-cpp-python would be built with
#
# Why a script and not one `pip install`: two things cannot be said in an extra.
#  * llama-cpp-python must be compiled with portable CPU flags: the default native build uses
#    AMX/AVX-512 paths that crash on the first token inside these VMs. It is built once with
#    -DGGML_NATIVE=OFF and without pip's wheel cache (so a natively built cached wheel is never reused).
#    Where the CUDA compiler (nvcc) and a GPU are found it is built with -DGGML_CUDA=on as well, so the llama.cpp
#    engine offloads its layers to the GPU (deploy.llamacpp passes --n_gpu_layers -1 there); a CPU
#    build already installed on such a machine is rebuilt once.
#  * torch must be the CPU build: on these machines `torch==2.13.0` is the local CPU wheel, while
#    a bare `torch` requirement would pull a multi-GB CUDA build.
# Idempotent: a second run only checks.
set -euo pipefail

PROFILE="${1:-main}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[setup] %s\n' "$*" >&2; }

# Portable CPU flags always; CUDA (GGML_CUDA, llama.cpp's CMake switch) when its compiler is here
# and so is a GPU driver (nvidia-smi): a CUDA build links the driver's libcuda, so on a machine
# with the toolkit but no GPU it would not even import. ASYNCLLM_LLAMA_CUDA=1/0 decides instead
# (e.g. =1 to build an image on a GPU-less builder).
llama_cmake_args() {
    local cuda="${ASYNCLLM_LLAMA_CUDA:-}"
    if [[ -z "$cuda" ]]; then
        if command -v nvcc >/dev/null 2>&1 && command -v nvidia-smi >/dev/null 2>&1; then cuda=1; else cuda=0; fi
    fi
    if [[ "$cuda" == 1 ]]; then
        printf '%s' "-DGGML_NATIVE=OFF -DGGML_CUDA=on"
    else
        printf '%s' "-DGGML_NATIVE=OFF"
    fi
}

case "$PROFILE" in
    llama-cmake-args) llama_cmake_args; echo; exit 0 ;;
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

LLAMA_ARGS="$(llama_cmake_args)"
NEED_LLAMA=0
if ! "$PY" -c 'import llama_cpp' 2>/dev/null; then
    NEED_LLAMA=1
elif [[ "$LLAMA_ARGS" == *GGML_CUDA* ]] && \
        ! "$PY" -c 'import llama_cpp, sys; sys.exit(0 if llama_cpp.llama_supports_gpu_offload() else 1)' 2>/dev/null; then
    log "CUDA is here but the installed llama-cpp-python is a CPU build: rebuilding it with CUDA"
    NEED_LLAMA=1
fi
if [[ "$NEED_LLAMA" == 1 ]]; then
    log "building llama-cpp-python ($LLAMA_ARGS; takes a few minutes, once)"
    CMAKE_ARGS="$LLAMA_ARGS" "${PIP[@]}" --no-cache-dir --no-binary llama-cpp-python --force-reinstall --no-deps \
        "llama-cpp-python[server]>=0.3.7"
    "${PIP[@]}" "llama-cpp-python[server]>=0.3.7"  # its dependencies, now that the build is ours
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
