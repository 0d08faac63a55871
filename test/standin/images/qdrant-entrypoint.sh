#!/bin/bash
# Qdrant's entrypoint.sh at v1.13.2 execs ./qdrant with its arguments.
set -e
exec ./qdrant "$@"
