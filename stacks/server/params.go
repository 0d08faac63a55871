package server

import (
	"time"

	"fmt"
	"strings"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
)

// Names of the server stage's services, secrets and settings.
const (
	StackName       = "nextflow"
	NginxService    = model.NginxService
	PGPrimary       = model.PartPostgres + "-" + model.RolePrimary
	PGReplica       = model.PartPostgres + "-" + model.RoleReplica
	RedisPrimary    = model.PartRedis + "-" + model.RolePrimary
	RedisReplica    = model.PartRedis + "-" + model.RoleReplica
	SentinelService = model.PartRedis + "-" + model.RoleSentinel
	SentinelPort    = 26379
	QdrantP2PPort   = 6335
	ReplicationUser = "replicator"
	ReplicationSlot = "replica_1"
	MasterName      = "nextflow"
	GPUKind         = "NVIDIA-GPU"

	SecretReplicationPassword = "replication_password"
)

// PGWriter is the PostgreSQL service that holds the writable copy:
// postgres-primary, or postgres-replica once a failover is recorded
// (postgres.failedOver). PGFollower is the other, its streaming replica.
func PGWriter(c *model.Config) string {
	if c.Postgres.FailedOver {
		return PGReplica
	}
	return PGPrimary
}

// PGFollower is the PostgreSQL service that streams from the writer.
func PGFollower(c *model.Config) string {
	if c.Postgres.FailedOver {
		return PGPrimary
	}
	return PGReplica
}

// PrivateNetworks are the address ranges PostgreSQL accepts logins from: the
// overlay networks Swarm allocates from them.
var PrivateNetworks = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}

// PostgresParams are the values of the PostgreSQL files.
type PostgresParams struct {
	// WALLevel is replica, or logical when the stage migrates online.
	WALLevel         string
	ListenAddresses  string
	Port             int
	SocketDir        string
	SharedBuffersMB  int64
	EffectiveCacheMB int64
	Networks         []string
	ReplicationUser  string
	Slot             string
	// PrimaryHost is the writer, ReplicaHost the follower (failover.sh
	// promotes it); FailedOverNext is postgres.failedOver once it has.
	PrimaryHost string
	PrimaryPort int
	ReplicaHost string
	// WriterService is the writer's service, which a failover fences.
	WriterService  string
	FailedOverNext bool
	User           string
	Database       string
	PasswordSecret string
	// ReplicationSecret is the secret file name of the replication password.
	ReplicationSecret string
	Stack             string
	// WaitTries bounds how many 2-second waits the replica makes for the primary.
	WaitTries int
	// ClonePidFile holds pg_basebackup's pid while the replica clones the
	// primary; the replica's health check passes while that process runs.
	ClonePidFile string
}

// clonePidFile is where the replica keeps pg_basebackup's pid.
const clonePidFile = "/tmp/nfx-basebackup.pid"

// ReplicaHealth is the replica's health check: the server answers, or it
// is still cloning the primary (pg_basebackup of a large database takes
// longer than any start period: without this, Swarm kills the clone and
// starts it over, forever).
func ReplicaHealth(h model.Health) model.Health {
	h.Shell = fmt.Sprintf(`%s || { [ -s %s ] && kill -0 "$(cat %s)"; }`, h.Shell, clonePidFile, clonePidFile)
	return h
}

// PostgresDefaults are the Swarm values for an app.
func PostgresDefaults(app *model.App) PostgresParams {
	c := app.Config
	mem := int64(c.Postgres.Memory / model.MiB)
	return PostgresParams{
		ListenAddresses:   "*",
		WALLevel:          c.WALLevel(),
		Port:              model.PostgresPort,
		SharedBuffersMB:   mem / 4,
		EffectiveCacheMB:  mem / 2,
		Networks:          PrivateNetworks,
		ReplicationUser:   ReplicationUser,
		Slot:              ReplicationSlot,
		PrimaryHost:       PGWriter(c),
		PrimaryPort:       model.PostgresPort,
		ReplicaHost:       PGFollower(c),
		WriterService:     PGWriter(c),
		FailedOverNext:    !c.Postgres.FailedOver,
		User:              c.Postgres.User,
		Database:          c.Postgres.Database,
		PasswordSecret:    model.SecretPostgresPassword,
		ReplicationSecret: SecretReplicationPassword,
		Stack:             StackName,
		WaitTries:         150,
		ClonePidFile:      clonePidFile,
	}
}

// RedisParams are the values of the Redis and Sentinel start scripts.
type RedisParams struct {
	Port           int
	SentinelPort   int
	PrimaryHost    string
	ReplicaHost    string
	SentinelHost   string
	PasswordSecret string
	MaxMemory      int64
	// EvictionPolicy is noeviction for state, allkeys-lru for a cache.
	EvictionPolicy    string
	MasterName        string
	Quorum            int
	DownAfterMS       int
	FailoverTimeoutMS int
	// StartWaitSeconds bounds a Redis start's wait for the Sentinels,
	// inside its health check's start period.
	StartWaitSeconds int
}

// RedisDefaults are the Swarm values for an app.
func RedisDefaults(app *model.App) RedisParams {
	sentinels := model.Profiles[app.Config.Stage].Topology.Sentinels
	return RedisParams{
		Port:              model.RedisPort,
		SentinelPort:      SentinelPort,
		PrimaryHost:       RedisPrimary,
		ReplicaHost:       RedisReplica,
		SentinelHost:      SentinelService,
		PasswordSecret:    model.SecretRedisPassword,
		MaxMemory:         int64(app.Config.Redis.MaxMemory),
		EvictionPolicy:    app.Config.Redis.EvictionPolicy(),
		MasterName:        MasterName,
		Quorum:            sentinels/2 + 1,
		DownAfterMS:       5000,
		FailoverTimeoutMS: 60000,
		StartWaitSeconds:  int(model.RedisStartPeriod/time.Second) - 15,
	}
}

// BackupParams are the values of the backup and restore scripts.
type BackupParams struct {
	Time                string
	RetentionDays       int
	PostgresSecret      string
	PostgresHost        string
	PostgresPrimaryHost string
	PostgresPort        int
	PostgresUser        string
	PostgresDB          string
	RedisSecret         string
	RedisHost           string
	RedisPort           int
	// QdrantURLs are the cluster's peers, space-separated: a shard is
	// saved from whichever peer holds an active copy of it.
	QdrantURLs string
	// QdrantSecret is the secret whose file holds Qdrant's API key.
	QdrantSecret string
	Stack        string
	// SentinelService, SentinelPort and MasterName find Redis's primary.
	SentinelService string
	SentinelPort    int
	MasterName      string
	// S3, on the cloud stage, keeps each backup in the stage's bucket
	// ($S3_BUCKET in $AWS_REGION) instead of $BACKUP_DIR, and adds
	// `backup.sh fetch`.
	S3 bool
	// Metric is the gauge of the last success, read by the node exporter.
	Metric string
}

// BackupDefaults are the Swarm values for an app.
func BackupDefaults(app *model.App) BackupParams {
	c := app.Config
	return BackupParams{
		Time:                c.Backup.Time,
		RetentionDays:       c.Backup.RetentionDays,
		PostgresSecret:      model.SecretPostgresPassword,
		PostgresHost:        PGFollower(c),
		PostgresPrimaryHost: PGWriter(c),
		PostgresPort:        model.PostgresPort,
		PostgresUser:        c.Postgres.User,
		PostgresDB:          c.Postgres.Database,
		RedisSecret:         model.SecretRedisPassword,
		RedisHost:           RedisReplica,
		RedisPort:           model.RedisPort,
		QdrantURLs:          qdrantURLs(app),
		QdrantSecret:        model.SecretQdrantAPIKey,
		Stack:               StackName,
		SentinelService:     SentinelService,
		SentinelPort:        SentinelPort,
		MasterName:          MasterName,
		Metric:              monitoring.BackupMetric,
	}
}

// qdrantURLs are the REST addresses of the stage's Qdrant peers, one per
// service the vector part runs.
func qdrantURLs(app *model.App) string {
	var urls []string
	for _, in := range app.InstancesOf(model.PartQdrant) {
		urls = append(urls, fmt.Sprintf("http://%s:%d", in.Name, model.QdrantHTTPPort))
	}
	return strings.Join(urls, " ")
}

// BackupScripts renders backup.sh and restore.sh: the Swarm jobs' with
// the server's values, the cloud's CronJobs' with S3 on and the cloud's
// peers.
func BackupScripts(p BackupParams) (backup, restore []byte, err error) {
	if backup, err = execute("backup.sh.tmpl", p); err != nil {
		return nil, nil, err
	}
	restore, err = execute("restore.sh.tmpl", p)
	return backup, restore, err
}
