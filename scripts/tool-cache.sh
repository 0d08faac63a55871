# shellcheck shell=bash
# Sourced by the tool builds: the tools the tests need are built once per
# content and reused by every checkout on the machine. A build's outputs are
# kept in $NFX_TOOLS_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/nfx-tools)
# under NAME-KEY, where KEY hashes what decides them (the build script, the
# pins and go.sum it builds from, Go's version, the machine's architecture);
# a checkout whose key is the same copies them into place instead of
# building. NFX_TOOLS_CACHE=off builds every time.

tool_cache_dir() { printf '%s\n' "${NFX_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nfx-tools}"; }

# tool_key FILE...: the key of a build decided by these files.
tool_key() {
  { cat "$@"; go env GOVERSION; uname -m; } | sha256sum | cut -c1-16
}

# tool_restore NAME KEY ROOT PATH...: copies a cached build's PATHs (relative
# to ROOT) into ROOT; fails, copying nothing, when the cache lacks it.
tool_restore() {
  local name=$1 key=$2 root=$3 p
  shift 3
  [ "${NFX_TOOLS_CACHE:-}" != off ] || return 1
  local dir
  dir=$(tool_cache_dir)/$name-$key
  [ -f "$dir/.complete" ] || return 1
  for p in "$@"; do [ -e "$dir/$p" ] || return 1; done
  # Each step checked by hand: set -e does not hold in a function called
  # from a condition.
  for p in "$@"; do
    mkdir -p "$(dirname "$root/$p")" || return 1
    rm -rf "$root/$p.restoring"
    cp -a "$dir/$p" "$root/$p.restoring" || { rm -rf "$root/$p.restoring"; return 1; }
    rm -rf "${root:?}/$p"
    mv "$root/$p.restoring" "$root/$p" || return 1
  done
  echo "$name: reused the build $key from $(tool_cache_dir)"
}

# tool_save NAME KEY ROOT PATH...: keeps a build's PATHs for other checkouts.
# The entry appears whole or not at all (written beside, then renamed); a
# cache that cannot be written (a read-only home, a full disk) only says so.
tool_save() {
  local name=$1 key=$2 root=$3 p
  shift 3
  [ "${NFX_TOOLS_CACHE:-}" != off ] || return 0
  local cache dir tmp
  cache=$(tool_cache_dir)
  dir=$cache/$name-$key
  [ -f "$dir/.complete" ] && return 0
  # Each step checked by hand: set -e does not hold in a function called
  # from a condition, and an empty $tmp would write under /.
  if ! mkdir -p "$cache" 2>/dev/null || ! tmp=$(mktemp -d "$cache/.$name-$key.XXXXXX" 2>/dev/null) || [ -z "$tmp" ]; then
    echo "$name: could not keep the build in $cache (it is built again next time)" >&2
    return 0
  fi
  for p in "$@"; do
    if ! mkdir -p "$(dirname "$tmp/$p")" || ! cp -a "$root/$p" "$tmp/$p"; then
      rm -rf "$tmp"
      echo "$name: could not keep the build in $cache (it is built again next time)" >&2
      return 0
    fi
  done
  touch "$tmp/.complete"
  # Another checkout may have kept the same build meanwhile: keep theirs.
  mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
  return 0
}
