//go:build tools

// Package tools pins Docker Compose v2, built from the Go module proxy by
// scripts/build-engine-tools.sh: Debian's docker-compose is Compose v1,
// which refuses the laptop's compose.yaml.
package tools

import _ "github.com/docker/compose/v2/cmd"
