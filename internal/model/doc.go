// Package model is the platform-neutral description of NextFlow CRM-AI: its
// services, images, ports, health checks, volumes, GPU needs, dependencies,
// secrets and per-stage sizing, and the typed stack configuration that drives
// them.
//
// Configuration is loaded in documented phases (see Load), each a function
// called in order, and every problem is reported at once as a Diagnostic with
// its config key path, the bad value and the fix.
//
// This package must stay pure: it must not import Pulumi, compose-go,
// Kubernetes or any cloud SDK. A test enforces that with `go list -deps`.
// Secret values never enter this package; it only knows whether a secret key
// is set.
package model
