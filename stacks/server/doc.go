// Package server realises NextFlow on the server stage: a Docker Swarm
// stack (stack.yaml, built from compose-go's types) and every file its
// services mount (nginx.conf, PostgreSQL, Redis and Sentinel start scripts,
// backup and restore scripts, the GPU node set-up), rendered from
// text/template where no Go type exists.
//
// The topology: nginx (the one entry point) in front of the CRM replicas and
// the AI nodes, a PostgreSQL primary and streaming replica on different
// nodes, a Redis primary and replica watched by three Sentinels, a
// three-node Qdrant cluster, cloudflared, and one scheduled backup job per
// kind of data, writing to the NAS over NFS.
package server
