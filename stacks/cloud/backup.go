package cloud

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/stacks/server"
)

// The cloud's backup jobs. RDS and ElastiCache keep their own automated
// backups (cloud.dbBackupDays); what AWS does not back up is Qdrant on its
// volumes. A CronJob a day, at nextflow:backup.time UTC, runs the server
// stage's backup script (S3 on) against every Qdrant peer and stores the
// archive in the stage's bucket, where the lifecycle rules age it out.
const (
	// BackupJob is the daily backup's CronJob, RestoreJob the suspended
	// one a restore is started from.
	BackupJob  = model.BackupJob
	RestoreJob = model.RestoreJob
	// BackupAccount is the jobs' service account, which assumes the
	// backup role through IRSA.
	BackupAccount = "backup"
	// RestoreKeyConfigMap optionally names the object a restore takes
	// (key "key"); without it, the newest.
	RestoreKeyConfigMap = "qdrant-restore"
	// backupScripts is the ConfigMap of backup.sh and restore.sh.
	backupScripts = "backup-scripts"
	// backupPrefix is the bucket's prefix the vector store's backups go
	// under, and all the role may touch.
	backupPrefix = "qdrant/"
)

// CronSchedule turns nextflow:backup.time (HH:MM) into a daily cron
// schedule; the CronJob's timeZone is UTC, as on the server.
func CronSchedule(hhmm string) (string, error) {
	var h, m int
	if _, err := fmt.Sscanf(hhmm, "%d:%d", &h, &m); err != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return "", fmt.Errorf("backup.time %q is not HH:MM", hhmm)
	}
	return fmt.Sprintf("%d %d * * *", m, h), nil
}

// backupScratchGB is the jobs' scratch volume: twice one copy of every
// shard (the peers hold qdrantReplication copies over their volumes),
// since a restore holds the archive and what it unpacks, and a GB for a
// part on its way to S3.
func backupScratchGB(app *model.App, p *model.Part) int {
	nodes := replicasOf(app, p)
	return 2*((app.Config.Cloud.QdrantStorageGB*nodes+qdrantReplication-1)/qdrantReplication) + 1
}

// qdrantReplication is the copies of each shard the cluster keeps.
const qdrantReplication = 2

// backupPolicy lets the backup role write, read back and list the
// vector store's backups in the bucket, and nothing else. In the standby
// region, the bucket's copies of the primary's backups are encrypted with
// the standby's key (replicaKey, through S3 in region): reading them back
// decrypts with it.
func backupPolicy(bucketArn, replicaKey, region string) (string, error) {
	statements := []map[string]any{
		{"Effect": "Allow", "Resource": bucketArn + "/" + backupPrefix + "*", "Action": []string{
			"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
		}},
		{"Effect": "Allow", "Resource": bucketArn, "Action": []string{"s3:ListBucket"},
			"Condition": map[string]any{"StringLike": map[string]string{"s3:prefix": backupPrefix + "*"}}},
	}
	if replicaKey != "" {
		statements = append(statements, map[string]any{"Effect": "Allow", "Resource": replicaKey, "Action": []string{"kms:Decrypt"},
			"Condition": map[string]any{"StringEquals": map[string]string{"kms:ViaService": "s3." + region + ".amazonaws.com"}}})
	}
	out, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": statements})
	return string(out), err
}

// backups runs the vector store's daily backup to the bucket, and the
// suspended job a restore is started from. In the standby region the
// bucket holds the primary's copies (replicaKey is theirs): an idle
// standby's backup is suspended, since its empty store's backup would be
// the latest a restore takes.
func (r *realisation) backups(bucket *s3.BucketV2, replicaKey *kms.Key) error {
	vec, ok := r.app.Part(model.PartQdrant)
	if !ok || !vec.Runs {
		return nil
	}
	k, c := r.k, r.cfg
	role, err := k.irsaRole("backup-role", r.cl, Namespace, BackupAccount)
	if err != nil {
		return err
	}
	keyArn := pulumi.String("").ToStringOutput()
	if replicaKey != nil {
		keyArn = replicaKey.Arn
	}
	policy := pulumi.All(bucket.Arn, keyArn).ApplyT(func(v []any) (string, error) {
		return backupPolicy(v[0].(string), v[1].(string), c.Cloud.Region)
	}).(pulumi.StringOutput)
	if _, err := iam.NewRolePolicy(k.ctx, k.name("backup-policy"), &iam.RolePolicyArgs{Role: role.ID(), Policy: policy}, k.builder.opts()...); err != nil {
		return err
	}
	sa := meta(BackupAccount, appLabels(BackupAccount))
	sa.Annotations = pulumi.StringMap{"eks.amazonaws.com/role-arn": role.Arn}
	if _, err := corev1.NewServiceAccount(k.ctx, k.name("backup-account"), &corev1.ServiceAccountArgs{
		Metadata: sa,
		// The web identity comes from the EKS webhook's own projected
		// token; the pod needs no API token.
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, k.opts(model.PartQdrant, r.inNS)...); err != nil {
		return err
	}
	params := server.BackupDefaults(r.app)
	params.S3 = true
	params.QdrantURLs = cloudQdrantURLs(r.app, vec)
	backup, restore, err := server.BackupScripts(params)
	if err != nil {
		return err
	}
	if _, err := corev1.NewConfigMap(k.ctx, k.name(backupScripts), &corev1.ConfigMapArgs{
		Metadata: meta(backupScripts, appLabels(BackupAccount)),
		Data:     pulumi.StringMap{"backup.sh": pulumi.String(string(backup)), "restore.sh": pulumi.String(string(restore))},
	}, k.opts(model.PartQdrant, r.inNS)...); err != nil {
		return err
	}
	schedule, err := CronSchedule(c.Backup.Time)
	if err != nil {
		return err
	}
	// Qdrant's API key, as on the server.
	keyMount, keyVolume := secretFile(model.SecretQdrantAPIKey, secretName(model.SecretQdrantAPIKey))
	job := func(name string, args []string, suspend bool, sched string) error {
		labels := appLabels(name)
		labels[usesLabel(model.EndpointVector)] = "true"
		env := corev1.EnvVarArray{
			corev1.EnvVarArgs{Name: pulumi.String("S3_BUCKET"), Value: bucket.Bucket},
			corev1.EnvVarArgs{Name: pulumi.String("AWS_REGION"), Value: pulumi.String(c.Cloud.Region)},
			corev1.EnvVarArgs{Name: pulumi.String("BACKUP_DIR"), Value: pulumi.String("/backups")},
			// restore.sh unpacks an archive in a temporary directory:
			// on the scratch volume, not the 1 GiB /tmp.
			corev1.EnvVarArgs{Name: pulumi.String("TMPDIR"), Value: pulumi.String("/backups")},
		}
		if args[0] == "restore" {
			env = append(env, corev1.EnvVarArgs{Name: pulumi.String("RESTORE_KEY"), ValueFrom: corev1.EnvVarSourceArgs{
				ConfigMapKeyRef: corev1.ConfigMapKeySelectorArgs{Name: pulumi.String(RestoreKeyConfigMap), Key: pulumi.String("key"), Optional: pulumi.Bool(true)},
			}})
		}
		scripts := 0o555
		scratch := scratchClaim(backupScratchGB(r.app, vec))
		pod := corev1.PodSpecArgs{
			ServiceAccountName: pulumi.String(BackupAccount),
			RestartPolicy:      pulumi.String("Never"),
			SecurityContext:    podSecurity(),
			Containers: corev1.ContainerArray{corev1.ContainerArgs{
				// nginx's image is Debian 12's, with bash and curl 7.88.
				Name: pulumi.String(name), Image: pulumi.String(c.Nginx.Image), ImagePullPolicy: pulumi.String("Always"),
				Command:         pulumi.ToStringArray(append([]string{"/bin/bash", "/scripts/backup.sh"}, args...)),
				Env:             env,
				Resources:       resources(model.BackupSizing, nil),
				SecurityContext: restricted(),
				VolumeMounts: corev1.VolumeMountArray{
					corev1.VolumeMountArgs{Name: pulumi.String("scripts"), MountPath: pulumi.String("/scripts"), ReadOnly: pulumi.Bool(true)},
					corev1.VolumeMountArgs{Name: pulumi.String("scratch"), MountPath: pulumi.String("/backups")},
					corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
					keyMount,
				},
			}},
			Volumes: corev1.VolumeArray{
				corev1.VolumeArgs{Name: pulumi.String("scripts"), ConfigMap: corev1.ConfigMapVolumeSourceArgs{Name: pulumi.String(backupScripts), DefaultMode: pulumi.Int(scripts)}},
				// A volume of the job's own, deleted with its pod: a day's
				// archive does not fit a node's root disk.
				corev1.VolumeArgs{Name: pulumi.String("scratch"), Ephemeral: corev1.EphemeralVolumeSourceArgs{VolumeClaimTemplate: scratch}},
				corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("1Gi")}},
				keyVolume,
			},
		}
		_, err := batchv1.NewCronJob(k.ctx, k.name(name), &batchv1.CronJobArgs{
			Metadata: meta(name, appLabels(name)),
			Spec: batchv1.CronJobSpecArgs{
				Schedule:                   pulumi.String(sched),
				TimeZone:                   pulumi.String("Etc/UTC"),
				Suspend:                    pulumi.Bool(suspend),
				ConcurrencyPolicy:          pulumi.String("Forbid"),
				StartingDeadlineSeconds:    pulumi.Int(3600),
				SuccessfulJobsHistoryLimit: pulumi.Int(1),
				FailedJobsHistoryLimit:     pulumi.Int(3),
				JobTemplate: batchv1.JobTemplateSpecArgs{Spec: batchv1.JobSpecArgs{
					BackoffLimit:          pulumi.Int(1),
					ActiveDeadlineSeconds: pulumi.Int(6 * 3600),
					// A finished job's pod, and with it its scratch volume,
					// goes a day later: its log is there to read until then.
					TtlSecondsAfterFinished: pulumi.Int(86400),
					Template: corev1.PodTemplateSpecArgs{
						Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(labels)},
						Spec:     pod,
					},
				}},
			},
		}, k.opts(model.PartQdrant, r.inNS)...)
		return err
	}
	if err := job(BackupJob, []string{"qdrant"}, r.idle, schedule); err != nil {
		return err
	}
	// Started by hand only (`kubectl create job --from=cronjob/restore-qdrant`):
	// suspended, and on a date that never comes.
	return job(RestoreJob, []string{"restore", "qdrant"}, true, "0 0 31 2 *")
}

// cloudQdrantURLs are the REST addresses of the StatefulSet's pods, each
// through the headless service.
func cloudQdrantURLs(app *model.App, p *model.Part) string {
	var urls []string
	for i := range replicasOf(app, p) {
		urls = append(urls, fmt.Sprintf("http://%s-%d.%s-headless.%s.svc.cluster.local:%d", p.Name, i, p.Name, Namespace, model.QdrantHTTPPort))
	}
	return strings.Join(urls, " ")
}
