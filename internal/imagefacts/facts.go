// Package imagefacts holds, for every image nfx pins, the facts the rendered
// files rely on: the user a container starts as (and the one its
// entrypoint drops to), its shells, the programs on its PATH, and the
// variables of the prefixes its programs own. Each entry names its source
// at that tag. The stages' tests check every rendered service against it:
// a health check or script that calls a program the image lacks, a shell it
// does not have, a secret or config its user cannot read, or a variable
// the program does not know fails there, and an image whose tag changes
// without its facts fails too.
package imagefacts

import "strings"

// Ident is a user and group id.
type Ident struct{ UID, GID int }

// Image is what nfx relies on in one image at one tag.
type Image struct {
	// User is who the container starts as.
	User Ident
	// Drops is the user the entrypoint switches to before the program
	// runs, when it does (postgres and redis: gosu to 999 when the first
	// argument is the server); files the program reads must be readable
	// by it too.
	Drops *Ident
	// Shells are the shells present, by path.
	Shells []string
	// Programs are the commands on PATH (or the absolute paths) present.
	Programs []string
	// EnvPrefixes are variable prefixes the image's programs own; Env the
	// variables among them they read. A variable of an owned prefix the
	// program does not read is a setting that does nothing.
	EnvPrefixes, Env []string
	// Source is where the facts were read, at the tag.
	Source string
	// CloudOnly images run on the cloud's Kubernetes only: no stage runs
	// them on Docker, and the engine tests have no stand-in of them.
	CloudOnly bool
}

// Has reports whether the image has the program (by name or path).
func (im Image) Has(prog string) bool {
	for _, p := range im.Programs {
		if p == prog || (strings.HasPrefix(p, "/") && strings.HasSuffix(p, "/"+prog)) {
			return true
		}
	}
	for _, s := range im.Shells {
		if s == prog || strings.HasSuffix(s, "/"+prog) {
			return true
		}
	}
	return false
}

// KnowsEnv reports whether a variable is either of no prefix the image
// owns or one its programs read.
func (im Image) KnowsEnv(name string) bool {
	owned := false
	for _, p := range im.EnvPrefixes {
		owned = owned || strings.HasPrefix(name, p)
	}
	if !owned {
		return true
	}
	for _, e := range im.Env {
		if e == name {
			return true
		}
	}
	return false
}

func join(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// debianSlim is what debian:bookworm-slim (and ubuntu:22.04) carry
// (docker-library/repo-info, repos/debian/local/bookworm-slim.md and
// repos/ubuntu/local/22.04.md): dash as /bin/sh, bash, coreutils,
// findutils, grep, sed, mawk, tar, gzip, hostname, libc-bin, util-linux. No curl,
// wget, nc, ps or docker.
var debianSlim = []string{"sh", "bash", "cat", "cut", "chown", "chmod", "cp", "mv", "rm", "ls", "ln", "mkdir", "rmdir", "touch",
	"printf", "echo", "sha256sum", "md5sum", "timeout", "date", "mktemp", "sleep", "stat", "install", "basename", "dirname",
	"head", "tail", "tr", "wc", "sort", "uniq", "paste", "tee", "env", "id", "seq", "expr", "readlink", "realpath", "sync", "df", "du",
	"nohup", "nice", "hostname", "grep", "sed", "awk", "tar", "gzip", "gunzip", "find", "xargs", "getent", "su", "true", "false", "kill", "test", "[",
	"flock", "dd", "base64"}

// busybox is the applet set of quay.io/prometheus/busybox (uClibc) and of
// Alpine's busybox, the bases of the prom/* and exporter images
// (prometheus/busybox, and the images' Dockerfiles): sh (ash) and wget,
// no bash and no curl.
var busybox = []string{"sh", "wget", "cat", "printf", "echo", "grep", "sed", "awk", "sha256sum", "cut", "date", "sleep", "nc",
	"head", "tail", "ls", "mkdir", "rm", "mv", "cp", "chmod", "chown", "env", "id", "test", "[", "true", "false", "kill", "tr", "wc"}

var (
	postgresUser = Ident{999, 999}
	redisUser    = Ident{999, 999}
	nobody       = Ident{65534, 65534}
)

// Images is the table, by the pinned reference.
var Images = map[string]Image{
	"postgres:16.6-bookworm": {
		User: Ident{}, Drops: &postgresUser, Shells: []string{"/bin/sh", "/bin/bash"},
		Programs: join(debianSlim, []string{"gosu", "docker-entrypoint.sh", "psql", "pg_dump", "pg_dumpall", "pg_restore",
			"pg_basebackup", "pg_receivewal", "pg_isready", "pg_ctl", "postgres", "initdb", "pg_controldata", "pg_rewind", "xz", "zstd", "perl"}),
		EnvPrefixes: []string{"POSTGRES_"},
		Env: []string{"POSTGRES_PASSWORD", "POSTGRES_PASSWORD_FILE", "POSTGRES_USER", "POSTGRES_USER_FILE", "POSTGRES_DB",
			"POSTGRES_DB_FILE", "POSTGRES_INITDB_ARGS", "POSTGRES_INITDB_ARGS_FILE", "POSTGRES_INITDB_WALDIR", "POSTGRES_HOST_AUTH_METHOD"},
		Source: "github.com/docker-library/postgres 16/bookworm/Dockerfile and docker-entrypoint.sh @ 960ebdf14ef92d328588e77af2a879c63e577e96 (rebuilt from 042d8d043fed77e0e09b6fcda0991bca9e8664e3); official-images library/postgres @ fb1de64d371176f6edef21a8666d7e9d3e11c627",
	},
	"redis:7.4.2-bookworm": {
		User: Ident{}, Drops: &redisUser, Shells: []string{"/bin/sh", "/bin/bash"},
		Programs: join(debianSlim, []string{"gosu", "docker-entrypoint.sh", "redis-server", "redis-cli", "redis-sentinel",
			"redis-benchmark", "redis-check-aof", "redis-check-rdb"}),
		EnvPrefixes: []string{"REDIS_"}, Env: []string{"REDIS_VERSION", "REDIS_DOWNLOAD_URL", "REDIS_DOWNLOAD_SHA"},
		Source: "github.com/redis/docker-library-redis 7.4 debian/Dockerfile and docker-entrypoint.sh @ 8338d86bc3f7 (read at the 7.4.1 and 7.4.3 commits around it, which differ only in version lines)",
	},
	"nginx:1.27.3-bookworm": {
		// The master runs as root and the workers as nginx (101:101).
		User: Ident{}, Shells: []string{"/bin/sh", "/bin/bash"},
		Programs:    join(debianSlim, []string{"nginx", "nginx-debug", "curl", "envsubst", "/docker-entrypoint.sh"}),
		EnvPrefixes: []string{"NGINX_"}, Env: []string{"NGINX_ENTRYPOINT_QUIET_LOGS", "NGINX_ENVSUBST_TEMPLATE_DIR", "NGINX_ENVSUBST_OUTPUT_DIR", "NGINX_ENVSUBST_TEMPLATE_SUFFIX", "NGINX_ENVSUBST_FILTER", "NGINX_ENTRYPOINT_WORKER_PROCESSES_AUTOTUNE", "NGINX_ENTRYPOINT_LOCAL_RESOLVERS"},
		Source: "github.com/nginxinc/docker-nginx mainline/debian/Dockerfile and entrypoint/ @ d21b4f2d90a1",
	},
	"ollama/ollama:0.5.7": {
		User: Ident{}, Shells: []string{"/bin/sh", "/bin/bash"},
		Programs:    join(debianSlim, []string{"/bin/ollama", "ollama", "openssl"}),
		EnvPrefixes: []string{"OLLAMA_"},
		Env: []string{"OLLAMA_HOST", "OLLAMA_KEEP_ALIVE", "OLLAMA_NUM_PARALLEL", "OLLAMA_MAX_LOADED_MODELS", "OLLAMA_MAX_QUEUE",
			"OLLAMA_MODELS", "OLLAMA_ORIGINS", "OLLAMA_FLASH_ATTENTION", "OLLAMA_KV_CACHE_TYPE", "OLLAMA_DEBUG", "OLLAMA_NOPRUNE",
			"OLLAMA_SCHED_SPREAD", "OLLAMA_LOAD_TIMEOUT", "OLLAMA_GPU_OVERHEAD", "OLLAMA_NOHISTORY", "OLLAMA_MULTIUSER_CACHE", "OLLAMA_LLM_LIBRARY", "OLLAMA_TMPDIR"},
		Source: "github.com/ollama/ollama Dockerfile and envconfig/config.go @ a420a453b478 (v0.5.7), on ubuntu:22.04 with ca-certificates only",
	},
	"vllm/vllm-openai:v0.19.0": {
		// No USER line: root, unless the pod says otherwise (the cloud
		// runs it as its unprivileged user, its home on the pod's volume).
		User: Ident{}, Shells: []string{"/bin/sh", "/bin/bash"}, CloudOnly: true,
		Programs:    join(debianSlim, []string{"vllm", "python3", "/usr/bin/python3", "curl", "sudo", "ffmpeg"}),
		EnvPrefixes: []string{"VLLM_"},
		// vllm/envs.py reads these (among many); the image sets the first two.
		Env: []string{"VLLM_USAGE_SOURCE", "VLLM_ENABLE_CUDA_COMPATIBILITY", "VLLM_NO_USAGE_STATS", "VLLM_DO_NOT_TRACK", "VLLM_CACHE_ROOT",
			"VLLM_CONFIG_ROOT", "VLLM_API_KEY", "VLLM_LOGGING_LEVEL", "VLLM_HOST_IP", "VLLM_PORT"},
		Source: "github.com/vllm-project/vllm docker/Dockerfile (vllm-openai target: nvidia/cuda:12.9.1-base-ubuntu22.04, python3.12 as /usr/bin/python3, curl among its apt packages, ENTRYPOINT [\"vllm\", \"serve\"]) and vllm/envs.py, read at upstream bb39382b2b28 (2026-04-02), the v0.19.0 release's main-line commit with its Gemma 4 changes; the release branch may carry cherry-picks",
	},
	"qdrant/qdrant:v1.13.2": {
		User: Ident{}, Shells: []string{"/bin/sh", "/bin/bash"},
		Programs:    join(debianSlim, []string{"./qdrant", "/qdrant/qdrant", "./entrypoint.sh", "openssl"}),
		EnvPrefixes: []string{"QDRANT__"},
		Env: []string{"QDRANT__TELEMETRY_DISABLED", "QDRANT__SERVICE__API_KEY", "QDRANT__SERVICE__READ_ONLY_API_KEY", "QDRANT__SERVICE__HTTP_PORT",
			"QDRANT__SERVICE__GRPC_PORT", "QDRANT__CLUSTER__ENABLED", "QDRANT__CLUSTER__P2P__PORT", "QDRANT__STORAGE__STORAGE_PATH",
			"QDRANT__STORAGE__SNAPSHOTS_PATH", "QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR", "QDRANT__STORAGE__COLLECTION__WRITE_CONSISTENCY_FACTOR", "QDRANT__LOG_LEVEL"},
		Source: "github.com/qdrant/qdrant Dockerfile and config/config.yaml @ 80bfc03aa0da (v1.13.2), on debian:12-slim",
	},
	"cloudflare/cloudflared:2025.4.0": {
		User: Ident{65532, 65532}, Programs: []string{"cloudflared", "/usr/local/bin/cloudflared"},
		EnvPrefixes: []string{"TUNNEL_"}, Env: []string{"TUNNEL_TOKEN", "TUNNEL_TOKEN_FILE", "TUNNEL_METRICS"},
		Source: "github.com/cloudflare/cloudflared Dockerfile.amd64 @ d8a066628bf1 (2025.4.0), on gcr.io/distroless/base-debian12:nonroot: no shell",
	},
	"grafana/grafana:11.4.0": {
		User: Ident{472, 0}, Shells: []string{"/bin/sh", "/bin/bash"},
		Programs: join(busybox, []string{"/run.sh", "grafana", "/usr/share/grafana/bin/grafana", "grafana-cli", "grafana-server"}),
		// Grafana reads GF_<SECTION>_<KEY> for each key of conf/defaults.ini;
		// these are the keys nfx sets ([security], [users], [auth.anonymous],
		// [analytics], [news], [server], [paths]) and run.sh's __FILE form.
		EnvPrefixes: []string{"GF_"},
		Env: []string{"GF_SECURITY_ADMIN_USER", "GF_SECURITY_ADMIN_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD__FILE", "GF_USERS_ALLOW_SIGN_UP",
			"GF_AUTH_ANONYMOUS_ENABLED", "GF_ANALYTICS_REPORTING_ENABLED", "GF_ANALYTICS_CHECK_FOR_UPDATES", "GF_NEWS_NEWS_FEED_ENABLED",
			"GF_SERVER_ROOT_URL", "GF_SERVER_SERVE_FROM_SUB_PATH", "GF_SERVER_HTTP_PORT", "GF_PATHS_CONFIG", "GF_PATHS_DATA", "GF_PATHS_HOME",
			"GF_PATHS_LOGS", "GF_PATHS_PLUGINS", "GF_PATHS_PROVISIONING"},
		Source: "github.com/grafana/grafana Dockerfile (v11 layout: alpine with bash, GF_UID 472, GF_GID 0, GF_PATHS_*, ENTRYPOINT /run.sh) and packaging/docker/run.sh (GF_*__FILE)",
	},
	"prom/prometheus:v2.55.1": {
		User: nobody, Shells: []string{"/bin/sh"}, Programs: join(busybox, []string{"/bin/prometheus", "/bin/promtool"}),
		Source: "github.com/prometheus/prometheus Dockerfile @ v2.55.1, on quay.io/prometheus/busybox (uClibc)",
	},
	"prom/alertmanager:v0.27.0": {
		User: nobody, Shells: []string{"/bin/sh"}, Programs: join(busybox, []string{"/bin/alertmanager", "/bin/amtool"}),
		Source: "github.com/prometheus/alertmanager Dockerfile @ v0.27.0",
	},
	"prom/node-exporter:v1.8.2": {
		User: nobody, Shells: []string{"/bin/sh"}, Programs: join(busybox, []string{"/bin/node_exporter"}),
		Source: "github.com/prometheus/node_exporter Dockerfile @ v1.8.2",
	},
	"prom/blackbox-exporter:v0.25.0": {
		// No USER line: root.
		User: Ident{}, Shells: []string{"/bin/sh"}, Programs: join(busybox, []string{"/bin/blackbox_exporter"}),
		Source: "github.com/prometheus/blackbox_exporter Dockerfile @ v0.25.0",
	},
	"quay.io/prometheuscommunity/postgres-exporter:v0.16.0": {
		User: nobody, Shells: []string{"/bin/sh"}, Programs: join(busybox, []string{"/bin/postgres_exporter"}),
		EnvPrefixes: []string{"DATA_SOURCE_", "PG_EXPORTER_"},
		Env:         []string{"DATA_SOURCE_NAME", "DATA_SOURCE_URI", "DATA_SOURCE_USER", "DATA_SOURCE_USER_FILE", "DATA_SOURCE_PASS", "DATA_SOURCE_PASS_FILE", "PG_EXPORTER_EXTEND_QUERY_PATH", "PG_EXPORTER_WEB_TELEMETRY_PATH"},
		Source:      "github.com/prometheus-community/postgres_exporter Dockerfile and cmd/postgres_exporter @ v0.16.0",
	},
	"oliver006/redis_exporter:v1.67.0-alpine": {
		User: Ident{59000, 59000}, Shells: []string{"/bin/sh"}, Programs: join(busybox, []string{"/redis_exporter"}),
		// REDIS_PASSWORD_FILE is a JSON map of address to password, not a
		// password file: nfx passes REDIS_PASSWORD from the secret instead.
		EnvPrefixes: []string{"REDIS_"},
		Env:         []string{"REDIS_ADDR", "REDIS_USER", "REDIS_PASSWORD", "REDIS_EXPORTER_WEB_LISTEN_ADDRESS", "REDIS_EXPORTER_CHECK_KEYS", "REDIS_EXPORTER_IS_CLUSTER"},
		Source:      "github.com/oliver006/redis_exporter Dockerfile (alpine target) and main.go @ v1.67.0",
	},
	"nginx/nginx-prometheus-exporter:1.4.0": {
		User: Ident{1001, 1001}, Programs: []string{"/usr/bin/nginx-prometheus-exporter"},
		Source: "github.com/nginx/nginx-prometheus-exporter build/Dockerfile @ v1.4.0 (FROM scratch: no shell)",
	},
	"nvcr.io/nvidia/k8s/dcgm-exporter:3.3.9-3.6.1-ubuntu22.04": {
		User: Ident{}, Shells: []string{"/bin/sh", "/bin/bash"},
		Programs: join(debianSlim, []string{"/usr/bin/dcgm-exporter", "dcgm-exporter", "/usr/local/dcgm/dcgm-exporter-entrypoint.sh"}),
		Source:   "github.com/NVIDIA/dcgm-exporter docker/Dockerfile.ubuntu22.04 @ 3.3.9-3.6.1 (no wget, curl or nc: the CUDA base purges curl)",
	},
}

// Known returns an image's facts. The user's own images (the CRM's, the
// services') have none: only their contract with nfx is checked.
func Known(ref string) (Image, bool) {
	im, ok := Images[ref]
	return im, ok
}
