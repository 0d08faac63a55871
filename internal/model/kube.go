package model

// The names of the cloud stage's Kubernetes objects that tools other than
// its program act on (nfx failover scales and starts them): one place for
// the program (stacks/cloud) and the lean CLI, which does not link it.
const (
	// KubeNamespace is the workloads' namespace.
	KubeNamespace = "nextflow"
	// VLLMSet is the AI's StatefulSet where vLLM serves the models.
	VLLMSet = PartAI + "-vllm"
	// BackupJob is the vector store's daily backup CronJob, RestoreJob
	// the suspended one a restore is started from.
	BackupJob  = "backup-qdrant"
	RestoreJob = "restore-qdrant"
)

// LBPoolName names a region's pool of a public hostname's load balancer
// (cloud.loadBalancer) in the Cloudflare account, where pools of all its
// zones live side by side: the stack, the region and the hostname, in the
// letters, digits, hyphens and underscores a pool's name may hold.
func LBPoolName(stack, region, hostname string) string {
	b := []byte("nextflow_" + stack + "_" + region + "_" + hostname)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	return string(b)
}
