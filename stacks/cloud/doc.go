// Package cloud realises NextFlow on the cloud stage: AWS through
// pulumi-aws (a VPC over three zones, EKS with a general and a GPU node
// group, RDS PostgreSQL, ElastiCache, an S3 backup bucket, CloudWatch
// alarms) and the workloads on EKS through pulumi-kubernetes, with
// Cloudflare's proxied DNS in front. Every resource is built from the typed
// Args of those SDKs; the values they are computed from are pure functions
// of the model (plan.go), testable without Pulumi.
package cloud
