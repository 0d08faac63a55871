#!/bin/bash -e
# The part of grafana/grafana's packaging/docker/run.sh the rendered files
# rely on: every GF_<NAME>__FILE variable becomes GF_<NAME> with the file's
# content (both set is an error), then grafana server starts.
for var in $(env | sed -n 's/^\(GF_[^=]*__FILE\)=.*/\1/p'); do
  name=${var%__FILE}
  if [ -n "${!name:-}" ]; then
    echo >&2 "ERROR: $name and $var are exclusive"
    exit 1
  fi
  export "$name"="$(< "${!var}")"
  unset "$var"
done
exec /usr/share/grafana/bin/grafana server --homepath="$GF_PATHS_HOME" --config="$GF_PATHS_CONFIG" "$@"
