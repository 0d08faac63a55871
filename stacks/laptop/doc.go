// Package laptop realises NextFlow on the laptop stage: a Docker Compose
// project on one machine, built from compose-go's typed model and
// marshalled, never templated.
//
// Rendering is pure: Render takes the platform-neutral model and returns the
// compose file's bytes. The Pulumi component that materialises it lives in
// this package too (component.go).
package laptop
