package cloud

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elasticache"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
)

type database struct {
	primary   *rds.Instance
	replica   *rds.Instance
	secretArn pulumi.StringOutput
}

// database is RDS PostgreSQL: Multi-AZ, encrypted, never public, deletion
// protected, with automated backups and an AWS-managed master password.
func (b *builder) database(net *network, cl *cluster) (*database, error) {
	c := b.cfg.Cloud
	sg, err := b.dataSecurityGroup("postgres-sg", net, cl, model.PostgresPort)
	if err != nil {
		return nil, err
	}
	subnets, err := rds.NewSubnetGroup(b.ctx, b.name("postgres-subnets"), &rds.SubnetGroupArgs{
		SubnetIds: net.privateSubnets, Tags: b.tags("postgres-subnets"),
	}, b.opts()...)
	if err != nil {
		return nil, err
	}
	major := strings.Split(c.DBEngineVersion, ".")[0]
	params, err := rds.NewParameterGroup(b.ctx, b.name("postgres-params"), &rds.ParameterGroupArgs{
		Family: pulumi.String("postgres" + major),
		Parameters: rds.ParameterGroupParameterArray{
			rds.ParameterGroupParameterArgs{Name: pulumi.String("rds.force_ssl"), Value: pulumi.String("1")},
			rds.ParameterGroupParameterArgs{Name: pulumi.String("log_min_duration_statement"), Value: pulumi.String("1000")},
			rds.ParameterGroupParameterArgs{Name: pulumi.String("password_encryption"), Value: pulumi.String("scram-sha-256")},
		},
		Tags: b.tags("postgres-params"),
	}, b.opts()...)
	if err != nil {
		return nil, err
	}
	primary, err := rds.NewInstance(b.ctx, b.name("postgres"), &rds.InstanceArgs{
		Engine:                     pulumi.String("postgres"),
		EngineVersion:              pulumi.String(c.DBEngineVersion),
		InstanceClass:              pulumi.String(c.DBInstanceClass),
		AllocatedStorage:           pulumi.Int(c.DBStorageGB),
		MaxAllocatedStorage:        pulumi.Int(c.DBStorageGB * 4),
		StorageType:                pulumi.String("gp3"),
		StorageEncrypted:           pulumi.Bool(true),
		MultiAz:                    pulumi.Bool(true),
		DbName:                     pulumi.String(b.cfg.Postgres.Database),
		Username:                   pulumi.String(b.cfg.Postgres.User),
		ManageMasterUserPassword:   pulumi.Bool(true),
		DbSubnetGroupName:          subnets.Name,
		ParameterGroupName:         params.Name,
		VpcSecurityGroupIds:        pulumi.StringArray{sg.ID().ToStringOutput()},
		PubliclyAccessible:         pulumi.Bool(false),
		BackupRetentionPeriod:      pulumi.Int(c.DBBackupDays),
		BackupWindow:               pulumi.String("03:00-04:00"),
		MaintenanceWindow:          pulumi.String("sun:04:30-sun:05:30"),
		DeletionProtection:         pulumi.Bool(c.DeletionProtected),
		SkipFinalSnapshot:          pulumi.Bool(false),
		FinalSnapshotIdentifier:    pulumi.String(b.name("postgres-final")),
		CopyTagsToSnapshot:         pulumi.Bool(true),
		PerformanceInsightsEnabled: pulumi.Bool(true),
		AutoMinorVersionUpgrade:    pulumi.Bool(true),
		EnabledCloudwatchLogsExports: pulumi.StringArray{
			pulumi.String("postgresql"), pulumi.String("upgrade"),
		},
		Tags: b.tags("postgres"),
	}, b.opts()...)
	if err != nil {
		return nil, err
	}
	d := &database{primary: primary}
	d.secretArn = primary.MasterUserSecrets.Index(pulumi.Int(0)).SecretArn().Elem()
	if c.DBReadReplica {
		d.replica, err = rds.NewInstance(b.ctx, b.name("postgres-replica"), &rds.InstanceArgs{
			ReplicateSourceDb:   primary.Identifier,
			InstanceClass:       pulumi.String(c.DBInstanceClass),
			StorageEncrypted:    pulumi.Bool(true),
			PubliclyAccessible:  pulumi.Bool(false),
			VpcSecurityGroupIds: pulumi.StringArray{sg.ID().ToStringOutput()},
			ParameterGroupName:  params.Name,
			DeletionProtection:  pulumi.Bool(c.DeletionProtected),
			SkipFinalSnapshot:   pulumi.Bool(true),
			Tags:                b.tags("postgres-replica"),
		}, b.opts()...)
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

// password reads the AWS-managed master password for the CRM's Secret; it
// stays a Pulumi secret.
func (d *database) password(ctx *pulumi.Context, parent pulumi.Resource) pulumi.StringOutput {
	v := secretsmanager.LookupSecretVersionOutput(ctx, secretsmanager.LookupSecretVersionOutputArgs{SecretId: d.secretArn}, pulumi.Parent(parent))
	return pulumi.ToSecret(v.SecretString().ApplyT(func(s string) string {
		// The secret is {"username": ..., "password": ...}.
		i := strings.Index(s, `"password":"`)
		if i < 0 {
			return ""
		}
		rest := s[i+len(`"password":"`):]
		if j := strings.Index(rest, `"`); j >= 0 {
			return rest[:j]
		}
		return ""
	})).(pulumi.StringOutput)
}

// cache is ElastiCache Redis: a replication group with Multi-AZ and
// automatic failover, encrypted at rest and in transit, an auth token and
// daily snapshots.
func (b *builder) cache(net *network, cl *cluster, authToken pulumi.StringOutput) (*elasticache.ReplicationGroup, error) {
	c := b.cfg.Cloud
	sg, err := b.dataSecurityGroup("redis-sg", net, cl, model.RedisPort)
	if err != nil {
		return nil, err
	}
	subnets, err := elasticache.NewSubnetGroup(b.ctx, b.name("redis-subnets"), &elasticache.SubnetGroupArgs{
		SubnetIds: net.privateSubnets, Tags: b.tags("redis-subnets"),
	}, b.opts()...)
	if err != nil {
		return nil, err
	}
	return elasticache.NewReplicationGroup(b.ctx, b.name("redis"), &elasticache.ReplicationGroupArgs{
		Description:              pulumi.String("NextFlow CRM-AI sessions, caches and queues"),
		Engine:                   pulumi.String("redis"),
		EngineVersion:            pulumi.String(c.CacheEngineVersion),
		NodeType:                 pulumi.String(c.CacheNodeType),
		NumCacheClusters:         pulumi.Int(c.CacheNodes),
		AutomaticFailoverEnabled: pulumi.Bool(true),
		MultiAzEnabled:           pulumi.Bool(true),
		AtRestEncryptionEnabled:  pulumi.Bool(true),
		TransitEncryptionEnabled: pulumi.Bool(true),
		AuthToken:                authToken,
		Port:                     pulumi.Int(model.RedisPort),
		SubnetGroupName:          subnets.Name,
		SecurityGroupIds:         pulumi.StringArray{sg.ID().ToStringOutput()},
		SnapshotRetentionLimit:   pulumi.Int(7),
		SnapshotWindow:           pulumi.String("02:00-03:00"),
		MaintenanceWindow:        pulumi.String("sun:05:30-sun:06:30"),
		ApplyImmediately:         pulumi.Bool(false),
		Tags:                     b.tags("redis"),
	}, b.opts(pulumi.AdditionalSecretOutputs([]string{"authToken"}))...)
}

// backups is the S3 bucket for backups and disaster recovery: versioned,
// encrypted, never public, aged out by lifecycle rules.
func (b *builder) backups() (*s3.BucketV2, error) {
	days := b.cfg.Cloud.BackupRetentionDays
	bucket, err := s3.NewBucketV2(b.ctx, b.name("backups"), &s3.BucketV2Args{
		BucketPrefix: pulumi.String(fmt.Sprintf("nextflow-%s-backups-", b.stack)),
		Tags:         b.tags("backups"),
	}, b.opts(pulumi.Protect(false))...)
	if err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketVersioningV2(b.ctx, b.name("backups-versioning"), &s3.BucketVersioningV2Args{
		Bucket:                  bucket.ID(),
		VersioningConfiguration: s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, b.opts()...); err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(b.ctx, b.name("backups-encryption"), &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("aws:kms"),
			},
			BucketKeyEnabled: pulumi.Bool(true),
		}},
	}, b.opts()...); err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketPublicAccessBlock(b.ctx, b.name("backups-private"), &s3.BucketPublicAccessBlockArgs{
		Bucket: bucket.ID(), BlockPublicAcls: pulumi.Bool(true), BlockPublicPolicy: pulumi.Bool(true),
		IgnorePublicAcls: pulumi.Bool(true), RestrictPublicBuckets: pulumi.Bool(true),
	}, b.opts()...); err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(b.ctx, b.name("backups-lifecycle"), &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{s3.BucketLifecycleConfigurationV2RuleArgs{
			Id: pulumi.String("age-out"), Status: pulumi.String("Enabled"),
			Filter:                      s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
			Transitions:                 transitions(days),
			Expiration:                  s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(days)},
			NoncurrentVersionExpiration: s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{NoncurrentDays: pulumi.Int(30)},
			AbortIncompleteMultipartUpload: s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
				DaysAfterInitiation: pulumi.Int(7),
			},
		}},
	}, b.opts()...); err != nil {
		return nil, err
	}
	return bucket, nil
}

// transitions moves backups to infrequent access after 30 days, when they
// are kept long enough for that to pay (S3 bills IA for 30 days at least).
func transitions(days int) s3.BucketLifecycleConfigurationV2RuleTransitionArray {
	if days <= 60 {
		return nil
	}
	return s3.BucketLifecycleConfigurationV2RuleTransitionArray{s3.BucketLifecycleConfigurationV2RuleTransitionArgs{
		Days: pulumi.Int(30), StorageClass: pulumi.String("STANDARD_IA"),
	}}
}
