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
