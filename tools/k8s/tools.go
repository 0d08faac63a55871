//go:build tools

// Package tools pins the Kubernetes manifest checkers nfx's tests run:
// kubeconform (schemas) and kube-score (practices).
package tools

import (
	_ "github.com/yannh/kubeconform/cmd/kubeconform"
	_ "github.com/zegl/kube-score/cmd/kube-score"
)
