//go:build tools

// Package tools pins kwok, which simulates the cloud stage's nodes (their
// capacity, zones, labels and taints) and runs their pods, for the Kubernetes
// control plane of tools/kube.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
	_ "sigs.k8s.io/kwok/cmd/kwokctl"
)
