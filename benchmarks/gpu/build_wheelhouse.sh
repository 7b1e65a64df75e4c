#!/usr/bin/env bash
# The wheels a bare GPU machine lacks to run benchmarks/gpu/acceptance.py, built on a machine that reaches PyPI.
#
#   bash benchmarks/gpu/build_wheelhouse.sh [FOLDER]        # default .whl (git-ignore it: echo /.whl/ >> .git/info/exclude)
#
# The GPU image (issue 23's H200: Python 3.12, torch 2.11.0, transformers 5.17.0, peft 0.21.0, accelerate 1.15.0,
# pyarrow, pandas, matplotlib, jinja2, scipy, psutil, tqdm, pytest, pytest-benchmark) lacks tunebench and the
# packages below. They are fetched for CPython 3.12 on manylinux x86-64 whatever this machine is, without their
# dependencies (the image has the rest), one version each. On the GPU machine:
#
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site FOLDER/*.whl && export PYTHONPATH=/tmp/site
#   python3 benchmarks/gpu/acceptance.py
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-.whl}
mkdir -p "$out"
rm -f "$out"/tunebench-*.whl

python3 -m pip wheel -q --no-deps -w "$out" .

# trl 1.16.0 and datasets 5.2.0 are the GPU image set's (noxfile.py GPU_IMAGE, tested by nox -s compat); the rest
# are the versions tunebench's own environment resolves today. rpds-py and orjson are compiled: hence the platforms.
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_24_x86_64 --platform manylinux_2_31_x86_64 --platform manylinux_2_34_x86_64 \
    -d "$out" \
    trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 jsonschema==4.26.0 \
    jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 platformdirs==4.14.9 \
    fastjsonschema==2.22.3 orjson==3.13.0 snowballstemmer==3.1.1 \
    liger-kernel==0.8.5  # acceptance.py --throughput's Liger row (Triton ships with the image's CUDA torch)

ls -1 "$out"
du -sh "$out"
