// Package stacks is the NextFlow program: configuration in, stage chosen
// from an explicit registry, components out. Program is the one function
// that `pulumi up`, `nfx up/preview` (Automation API, inline) and the offline
// `nfx render/plan` all evaluate.
package stacks
