package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Docker is the real Docker engine the engine tests run on: the daemon
// scripts/engine.sh starts (DOCKER_HOST), its client and Compose v2.
type Docker struct {
	Client, Compose string
	// Host is the daemon's address; empty for DOCKER_HOST's.
	Host string
}

// DockerEngine returns the engine, or skips (fails under NFX_REQUIRE_TOOLS=1)
// when no daemon answers: run the tests through `make test`, which starts
// one with the stand-in images built.
func DockerEngine(t testing.TB) Docker {
	t.Helper()
	d := Docker{Client: Tool(t, "docker"), Compose: Tool(t, "docker-compose")}
	if os.Getenv("DOCKER_HOST") == "" || exec.Command(d.Client, "version").Run() != nil {
		if os.Getenv(RequireToolsEnv) == "1" {
			t.Fatalf("no Docker engine answers at DOCKER_HOST=%q; run the tests with `make test` (scripts/engine.sh run starts one)", os.Getenv("DOCKER_HOST"))
		}
		t.Skip("no Docker engine (DOCKER_HOST); `make test` starts one")
	}
	return d
}

// Run runs the docker client and returns its stdout, failing the test on
// an error.
func (d Docker) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := d.Try(args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Try runs the docker client and returns its combined output.
func (d Docker) Try(args ...string) (string, error) {
	return d.run(d.Client, "", args...)
}

// TryIn runs the docker client in dir.
func (d Docker) TryIn(dir string, args ...string) (string, error) {
	return d.run(d.Client, dir, args...)
}

// ComposeRun runs Compose v2 in dir and returns its combined output.
func (d Docker) ComposeRun(dir string, args ...string) (string, error) {
	return d.run(d.Compose, dir, args...)
}

// run runs the client or Compose against the daemon at Host (or
// DOCKER_HOST's) in dir, with the output of both streams.
func (d Docker) run(bin, dir string, args ...string) (string, error) {
	var b bytes.Buffer
	cmd := exec.Command(bin, args...)
	if d.Host != "" {
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host)
	}
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &b, &b
	err := cmd.Run()
	return b.String(), err
}

// Swarm is the three-node Swarm scripts/engine.sh starts (NFX_SWARM): a
// client per node, node 1 first.
type Swarm struct {
	Nodes []Docker
}

// SwarmEngine returns the Swarm, or skips (fails under NFX_REQUIRE_TOOLS=1).
func SwarmEngine(t testing.TB) Swarm {
	t.Helper()
	d := DockerEngine(t)
	var s Swarm
	for _, host := range strings.Fields(os.Getenv("NFX_SWARM")) {
		n := d
		n.Host = host
		s.Nodes = append(s.Nodes, n)
	}
	if len(s.Nodes) != 3 {
		if os.Getenv(RequireToolsEnv) == "1" {
			t.Fatalf("no three-node Swarm (NFX_SWARM=%q); `make test` starts one (scripts/engine.sh)", os.Getenv("NFX_SWARM"))
		}
		t.Skip("no three-node Swarm (NFX_SWARM); `make test` starts one")
	}
	return s
}
