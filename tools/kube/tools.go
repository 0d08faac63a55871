//go:build tools

// Package tools pins the Kubernetes control plane nfx's cloud tests apply the
// cloud stage's objects to: the API server, the controller manager and the
// scheduler of k8s.io/kubernetes, built from the Go module proxy.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
