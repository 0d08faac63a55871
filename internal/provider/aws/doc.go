// Package aws holds what nfx knows of AWS, in one place: the on-demand
// prices (prices.go), the published SLAs (sla.go), the instance types and
// the regions that offer them with the vCPU quotas they count against
// (instances.go), the versions EKS, RDS and ElastiCache create with their
// support windows (versions.go), and the Pulumi type tokens of the
// resources nfx plans and reads back (tokens.go). Each table names its
// source; the prices and the versions also the day they were read.
//
// It is data and pure functions: no SDK, no I/O, no other nfx package, so
// the lean CLI links it and every package can read it. A second provider
// is a package beside this one and a line in internal/model's providers
// (its checks and its GPU host) and internal/cost's providers (its prices).
package aws
