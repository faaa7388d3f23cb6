#!/usr/bin/env bash
# Generate Python code (_pb2.py, _pb2_grpc.py, .pyi) for every proto under protos/ into
# OUT (default: the repo root, giving the importable package arxivqa/<service>/v1/).
# One pinned grpcio-tools (see pyproject.toml) so the output is reproducible.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root}"
python="${PYTHON:-$root/.venv/bin/python}"
cd "$root"
mapfile -t protos < <(find protos -name '*.proto' | LC_ALL=C sort)
[[ ${#protos[@]} -gt 0 ]] || { echo "no .proto files under protos/" >&2; exit 1; }
"$python" -m grpc_tools.protoc -I protos \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" "${protos[@]}"
# Every generated directory is a regular package.
while IFS= read -r dir; do
  [[ -f "$dir/__init__.py" ]] || : >"$dir/__init__.py"
done < <(cd "$out" && find arxivqa -type d | sed "s|^|$out/|")
