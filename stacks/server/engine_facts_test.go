package server

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// swarmIgnored are the service keys `docker stack deploy` drops: the
// Compose file v3 reference marks each "ignored when deploying a stack in
// swarm mode" (build, cgroup_parent, container_name, devices, tmpfs,
// external_links, links, network_mode, restart, security_opt, userns_mode;
// docs.docker.com/compose/compose-file/compose-file-v3, read 2026-12-05),
// and docker/cli's stack loader lists shm_size, privileged, pid, ipc,
// domainname and mac_address among its unsupported properties; its
// converter passes a service's dns and dns_search but not dns_opt
// (cli/compose/convert/service.go, convertDNSConfig: nameservers and search
// only). A key nfx relies on that Swarm drops is a setting that silently
// does not happen (the resolver options of Redis and Sentinel are therefore
// RES_OPTIONS in their environment).
var swarmIgnored = []string{"build", "cgroup_parent", "container_name", "devices", "tmpfs", "external_links", "links",
	"network_mode", "restart", "security_opt", "userns_mode", "shm_size", "privileged", "pid", "ipc", "domainname", "mac_address",
	"dns_opt"}

// No render of the server's stack, in any variant the goldens hold, sets a
// service key Swarm ignores; the Redis password's config directory is a
// tmpfs mount, which Swarm does make.
func TestServerStackUsesNoKeySwarmIgnores(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "stack.yaml"))
	if len(files) < 4 {
		t.Fatalf("the server goldens: %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Services map[string]map[string]any `yaml:"services"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		for name, svc := range doc.Services {
			for _, k := range swarmIgnored {
				if _, ok := svc[k]; ok {
					t.Errorf("%s: service %s sets %s, which docker stack deploy ignores", f, name, k)
				}
			}
			if name == "redis-primary" || name == "redis-replica" {
				tmpfs := false
				vols, _ := svc["volumes"].([]any)
				for _, v := range vols {
					m, _ := v.(map[string]any)
					tmpfs = tmpfs || (m["type"] == "tmpfs" && m["target"] == "/run/redis")
				}
				if !tmpfs {
					t.Errorf("%s: %s keeps /run/redis on its disk layer (no tmpfs mount)", f, name)
				}
			}
		}
	}
}
