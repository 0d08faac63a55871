package cloud

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
	nfxaws "github.com/nextflow-crm/nfx/internal/provider/aws"
)

// FenceParameter makes every new transaction read-only (the former
// primary's, once the standby is promoted).
const FenceParameter = nfxaws.FenceParameter

// standbyZones is how many zones the standby's subnets span: an RDS subnet
// group takes subnets in two zones at least.
const standbyZones = 2

// standby is the data's copy in the second region (cloud.standbyRegion):
// a cross-region read replica of the database and a replica of the
// backups' bucket, each encrypted with a key of that region. No cluster
// runs there: the region holds the data a failover starts from, not a
// second copy of the workloads. Once `nfx failover` has promoted it
// (cloud.standbyPromoted), its database is the writer.
type standby struct {
	db     *rds.Instance
	bucket *s3.BucketV2
	// key encrypts the region's copies (the database's, the backups').
	key *kms.Key
	// topic is the region's alarms'.
	topic *sns.Topic
}

// standbySite is the second region's builder and VPC, made before the
// primary's network, which peers with it; its subnets follow, once the
// peering they route through exists (standbyNetwork).
type standbySite struct {
	b   *builder
	vpc *ec2.Vpc
	net *network
}

// standbySite makes the second region's provider and VPC. Every resource
// of the returned builder is that region's, tagged with it, and its
// configuration is the standby's (standbyConfig).
func (b *builder) standbySite() (*standbySite, error) {
	c := b.cfg.Cloud
	if c.StandbyRegion == "" {
		return nil, nil
	}
	provider, err := aws.NewProvider(b.ctx, b.name("standby-aws"), &aws.ProviderArgs{
		Region: pulumi.String(c.StandbyRegion),
	}, b.opts()...)
	if err != nil {
		return nil, err
	}
	sb := *b
	sb.prefix, sb.region, sb.awsProvider = b.prefix+"-standby", c.StandbyRegion, provider
	sb.cfg = standbyConfig(b.cfg)
	vpc, err := sb.vpc(c.StandbyVpcCidr)
	if err != nil {
		return nil, err
	}
	return &standbySite{b: &sb, vpc: vpc}, nil
}

// peer connects the primary's VPC to the standby's: the connection is
// requested from the primary's region and accepted in the standby's (a
// peering across regions cannot be accepted by its requester). Routes
// through it are added where the peering is active, after the accepter.
func (b *builder) peer(vpc *ec2.Vpc, site *standbySite) (*ec2.VpcPeeringConnection, *ec2.VpcPeeringConnectionAccepter, error) {
	pcx, err := ec2.NewVpcPeeringConnection(b.ctx, b.name("peering"), &ec2.VpcPeeringConnectionArgs{
		VpcId: vpc.ID(), PeerVpcId: site.vpc.ID(), PeerRegion: pulumi.String(b.cfg.Cloud.StandbyRegion),
		Tags: b.tags("peering"),
	}, b.opts()...)
	if err != nil {
		return nil, nil, err
	}
	sb := site.b
	accepter, err := ec2.NewVpcPeeringConnectionAccepter(sb.ctx, sb.name("peering"), &ec2.VpcPeeringConnectionAccepterArgs{
		VpcPeeringConnectionId: pcx.ID(), AutoAccept: pulumi.Bool(true), Tags: sb.tags("peering"),
	}, sb.opts()...)
	return pcx, accepter, err
}

// standby builds the second region's data stores in its site: the
// database's replica (or, once promoted, the writer) and the backups'.
func (rz *realisation) standby(site *standbySite, primaryBucket *s3.BucketV2, primaryVersioning *s3.BucketVersioningV2) (*standby, error) {
	if site == nil {
		return nil, nil
	}
	c := rz.cfg.Cloud
	b, sb := rz.builder, site.b
	key, err := sb.kmsKey("key", fmt.Sprintf("Encrypts the standby copy of %s's data in %s", b.stack, c.StandbyRegion))
	if err != nil {
		return nil, err
	}
	subnets, sg, err := sb.standbyNetwork(site, rz.net)
	if err != nil {
		return nil, err
	}
	params, err := sb.postgresParams(false)
	if err != nil {
		return nil, err
	}
	// The replica of another region's encrypted instance names its source
	// by ARN and takes a key of its own region (RDS API reference,
	// CreateDBInstanceReadReplica: KmsKeyId). Engine, version and
	// credentials are the source's. RDS creates replicas without backups:
	// this one keeps the primary's days (PostgreSQL 14.1 and later back a
	// replica up), so that a promoted standby has them from its first
	// hour. Its storage grows as the primary's may. Single-AZ: a failover
	// promotes it and turns Multi-AZ on. Building it copies a snapshot
	// across regions, which can take hours: up waits four.
	args := &rds.InstanceArgs{
		ReplicateSourceDb:       rz.db.primary.Arn,
		InstanceClass:           pulumi.String(c.DBInstanceClass),
		StorageEncrypted:        pulumi.Bool(true),
		KmsKeyId:                key.Arn,
		MaxAllocatedStorage:     pulumi.Int(c.DBStorageGB * 4),
		BackupRetentionPeriod:   pulumi.Int(c.DBBackupDays),
		StorageType:             pulumi.String("gp3"),
		DbSubnetGroupName:       subnets.Name,
		VpcSecurityGroupIds:     pulumi.StringArray{sg.ID().ToStringOutput()},
		ParameterGroupName:      params.Name,
		PubliclyAccessible:      pulumi.Bool(false),
		MultiAz:                 pulumi.Bool(false),
		DeletionProtection:      pulumi.Bool(c.DeletionProtected),
		SkipFinalSnapshot:       pulumi.Bool(true),
		AutoMinorVersionUpgrade: pulumi.Bool(true),
		CopyTagsToSnapshot:      pulumi.Bool(true),
		Tags:                    sb.tagsWith("postgres", map[string]string{nfxaws.StackTag: b.stack}),
	}
	if c.StandbyPromoted != "" {
		// What `nfx failover` made of it (internal/failover): promoted,
		// Multi-AZ, the writer's windows, Performance Insights and log
		// exports, with the final snapshot a writer's data deserves
		// (RDS refuses one of a replica), and the stack's password, which
		// a rotation then changes here (a replica takes its source's).
		args.ReplicateSourceDb = nil
		args.MultiAz = pulumi.Bool(true)
		args.SkipFinalSnapshot = pulumi.Bool(false)
		args.FinalSnapshotIdentifier = pulumi.String(sb.name("postgres-final"))
		args.BackupWindow = pulumi.String(nfxaws.DBBackupWindow)
		args.MaintenanceWindow = pulumi.String(nfxaws.DBMaintenanceWindow)
		args.PerformanceInsightsEnabled = pulumi.Bool(true)
		args.EnabledCloudwatchLogsExports = pulumi.ToStringArray(nfxaws.DBLogExports)
		if pw, ok := rz.in.Secrets[model.SecretPostgresPassword]; ok {
			args.Password = pw
		}
	}
	// A replica is promoted by `nfx failover` only, never by an up: the
	// provider promotes an instance whose source it sees removed, and
	// Pulumi's state still holds the source after a failover (nothing
	// refreshes it), so an up would ask RDS to promote it again, which RDS
	// refuses. The source is set when the replica is created, and kept.
	opts := sb.opts(pulumi.Timeouts(&pulumi.CustomTimeouts{Create: "4h", Update: "4h"}),
		pulumi.IgnoreChanges([]string{"replicateSourceDb"}), pulumi.AdditionalSecretOutputs([]string{"password"}))
	db, err := rds.NewInstance(sb.ctx, sb.name("postgres"), args, opts...)
	if err != nil {
		return nil, err
	}
	if err := rz.databaseNames(site, db); err != nil {
		return nil, err
	}
	// The standby's own alarms, in its region (an alarm reads its
	// region's metrics and notifies its region's topic): a replica whose
	// disk fills stops replicating, and a promoted standby is the writer
	// the primary's alarms do not watch. Its lag is the primary's alarm
	// (postgres-standby-lag): ReplicaLag grows on a primary with nothing
	// to write, and would page every quiet night.
	topic, err := sb.alarmTopic()
	if err != nil {
		return nil, err
	}
	if err := sb.alarmSet(topic, dbAlarms(pulumi.StringMap{"DBInstanceIdentifier": db.Identifier})); err != nil {
		return nil, err
	}
	bucket, versioning, err := sb.backups()
	if err != nil {
		return nil, err
	}
	if err := b.replicate(primaryBucket, bucket, key, c.Region, c.StandbyRegion, []pulumi.Resource{primaryVersioning, versioning}); err != nil {
		return nil, err
	}
	return &standby{db: db, bucket: bucket, key: key, topic: topic}, nil
}

// databaseNames are the names the workloads reach the database by, with a
// standby region: CNAMEs in a private zone of both regions' VPCs, 30
// seconds long, to the primary (and its read replica) while the standby
// replicates, to the standby once promoted. `nfx failover` moves them
// (internal/failover) as this program would: after it, the workloads
// reconnect to the promoted database without an up, and the next preview
// leaves them as they are.
func (rz *realisation) databaseNames(site *standbySite, standbyDB *rds.Instance) error {
	b, c := rz.builder, rz.cfg.Cloud
	zone, err := route53.NewZone(b.ctx, b.name("internal"), &route53.ZoneArgs{
		Name:    pulumi.String(PrivateZone(b.stack)),
		Comment: pulumi.String("The database's names in both regions (nfx failover moves them)"),
		Vpcs: route53.ZoneVpcArray{
			route53.ZoneVpcArgs{VpcId: rz.net.vpc.ID(), VpcRegion: pulumi.String(c.Region)},
			route53.ZoneVpcArgs{VpcId: site.vpc.ID(), VpcRegion: pulumi.String(c.StandbyRegion)},
		},
		Tags: b.tags("internal"),
	}, b.opts()...)
	if err != nil {
		return err
	}
	writer, reader := rz.db.primary.Address, rz.db.primary.Address
	if rz.db.replica != nil {
		reader = rz.db.replica.Address
	}
	if c.StandbyPromoted != "" {
		writer, reader = standbyDB.Address, standbyDB.Address
	}
	for _, n := range []struct {
		endpoint model.Endpoint
		name     string
		target   pulumi.StringOutput
	}{
		{model.EndpointDB, WriterName(b.stack), writer},
		{model.EndpointDBRead, ReaderName(b.stack), reader},
	} {
		if _, err := route53.NewRecord(b.ctx, b.name(string(n.endpoint)+"-name"), &route53.RecordArgs{
			ZoneId: zone.ZoneId, Name: pulumi.String(n.name), Type: pulumi.String("CNAME"),
			Ttl: pulumi.Int(NameTTL), Records: pulumi.StringArray{n.target},
		}, b.opts()...); err != nil {
			return err
		}
		rz.values[string(n.endpoint)] = pulumi.String(n.name).ToStringOutput()
	}
	return nil
}

// NameTTL is the database's names' TTL, in seconds.
const NameTTL = nfxaws.NameTTL

// standbyNetwork is the standby's network and its database's. With a
// standby cluster it is a whole one, as the primary's (public subnets,
// NAT, every zone), whose private subnets route the primary's range
// through the peering. Without, its two private subnets route only to the
// primary's VPC (nothing there reaches the Internet). The database's
// security group admits PostgreSQL from the primary's private subnets (a
// security group cannot name another region's), where the cluster's nodes
// run: a promoted standby serves the primary's workloads from its first
// minute; and from the standby's own, where its cluster runs.
func (b *builder) standbyNetwork(site *standbySite, primary *network) (*rds.SubnetGroup, *ec2.SecurityGroup, error) {
	c := b.cfg.Cloud
	peer := &peerRoute{cidr: primary.cidr, pcx: primary.peering, accepter: primary.peeringAccepter}
	site.net = &network{vpc: site.vpc, cidr: c.VpcCidr}
	from := primary.privateCidrs
	if c.StandbyCluster {
		if err := b.subnets(site.net, peer); err != nil {
			return nil, nil, err
		}
		from = append(append([]string{}, from...), site.net.privateCidrs...)
	} else if err := b.dataSubnets(site.net, peer); err != nil {
		return nil, nil, err
	}
	// The database's subnets are the first two in either case: a
	// cluster's third would be taken away with it, and RDS refuses to
	// drop a subnet an instance runs in.
	group, err := rds.NewSubnetGroup(b.ctx, b.name("postgres-subnets"), &rds.SubnetGroupArgs{
		SubnetIds: site.net.privateSubnets[:standbyZones], Tags: b.tags("postgres-subnets"),
	}, b.opts()...)
	if err != nil {
		return nil, nil, err
	}
	sg, err := ec2.NewSecurityGroup(b.ctx, b.name("postgres-sg"), &ec2.SecurityGroupArgs{
		VpcId:       site.vpc.ID(),
		Description: pulumi.String("The standby database: PostgreSQL from the primary's private subnets only"),
		Ingress: ec2.SecurityGroupIngressArray{ec2.SecurityGroupIngressArgs{
			Protocol: pulumi.String("tcp"), FromPort: pulumi.Int(model.PostgresPort), ToPort: pulumi.Int(model.PostgresPort),
			CidrBlocks:  pulumi.ToStringArray(from),
			Description: pulumi.String("from the primary region's nodes, through the peering"),
		}},
		Tags: b.tags("postgres-sg"),
	}, b.opts()...)
	if err != nil {
		return nil, nil, err
	}
	return group, sg, nil
}

// dataSubnets are a standby's without a cluster: private subnets in two
// zones (an RDS subnet group takes two at least), on the first ranges of
// the standby's plan (a standby cluster's keeps them), with one route
// table, to the primary's range through the peering.
func (b *builder) dataSubnets(n *network, peer *peerRoute) error {
	plan, err := SubnetPlan(n.cidr, standbyZones)
	if err != nil {
		return err
	}
	n.privateCidrs = plan.Private
	rt, err := ec2.NewRouteTable(b.ctx, b.name("private"), &ec2.RouteTableArgs{
		VpcId: n.vpc.ID(),
		Routes: ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{
			CidrBlock: pulumi.String(peer.cidr), VpcPeeringConnectionId: peer.pcx.ID(),
		}},
		Tags: b.tags("private"),
	}, b.opts(pulumi.DependsOn([]pulumi.Resource{peer.accepter}))...)
	if err != nil {
		return err
	}
	zone := b.zones()
	for i := 0; i < standbyZones; i++ {
		sn, err := b.privateSubnet(n.vpc, i, plan.Private[i], zone, nil)
		if err != nil {
			return err
		}
		if _, err := ec2.NewRouteTableAssociation(b.ctx, b.name(fmt.Sprintf("private-%d", i+1)), &ec2.RouteTableAssociationArgs{
			SubnetId: sn.ID(), RouteTableId: rt.ID(),
		}, b.opts()...); err != nil {
			return err
		}
		n.privateSubnets = append(n.privateSubnets, sn.ID().ToStringOutput())
	}
	return nil
}

// replicationPolicy is what S3 may do as the replication's role: read the
// source bucket's versions, write replicas into the destination, decrypt
// the source's objects through S3 in its region (their key is the region's
// aws/s3, whose ARN the account does not choose) and use the standby's key
// through S3 in the standby's region (Decrypt too: an earlier edition of
// the guide asked it of a replica's key, and it costs nothing) (S3 user
// guide, "Setting up permissions for live replication" and "Replicating
// objects created with server-side encryption (SSE-KMS)", which says the
// context is the bucket's ARN when S3 Bucket Keys are on).
func replicationPolicy(source, dest, destKey, sourceRegion, destRegion string) (string, error) {
	out, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{"Effect": "Allow", "Resource": source, "Action": []string{"s3:GetReplicationConfiguration", "s3:ListBucket"}},
			{"Effect": "Allow", "Resource": source + "/*", "Action": []string{
				"s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"}},
			{"Effect": "Allow", "Resource": dest + "/*", "Action": []string{"s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"}},
			// With S3 Bucket Keys (on for both buckets) the encryption
			// context is the bucket's ARN, else the object's: either.
			{"Effect": "Allow", "Resource": "*", "Action": "kms:Decrypt", "Condition": map[string]any{
				"StringLike": map[string]any{"kms:ViaService": "s3." + sourceRegion + ".amazonaws.com", "kms:EncryptionContext:aws:s3:arn": []string{source, source + "/*"}}}},
			{"Effect": "Allow", "Resource": destKey, "Action": []string{"kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"}, "Condition": map[string]any{
				"StringLike": map[string]any{"kms:ViaService": "s3." + destRegion + ".amazonaws.com", "kms:EncryptionContext:aws:s3:arn": []string{dest, dest + "/*"}}}},
		},
	})
	return string(out), err
}

// replicate copies every new object of the backups' bucket into the
// standby's, encrypted with the standby's key. Deletions are not
// replicated: the standby's own lifecycle ages its copies out.
func (b *builder) replicate(source, dest *s3.BucketV2, destKey *kms.Key, sourceRegion, destRegion string, versionings []pulumi.Resource) error {
	role, err := b.role("backups-replication", "s3.amazonaws.com")
	if err != nil {
		return err
	}
	policy := pulumi.All(source.Arn, dest.Arn, destKey.Arn).ApplyT(func(v []any) (string, error) {
		return replicationPolicy(v[0].(string), v[1].(string), v[2].(string), sourceRegion, destRegion)
	}).(pulumi.StringOutput)
	rolePolicy, err := iam.NewRolePolicy(b.ctx, b.name("backups-replication"), &iam.RolePolicyArgs{Role: role.ID(), Policy: policy}, b.opts()...)
	if err != nil {
		return err
	}
	_, err = s3.NewBucketReplicationConfig(b.ctx, b.name("backups-replication"), &s3.BucketReplicationConfigArgs{
		Role:   role.Arn,
		Bucket: source.ID(),
		Rules: s3.BucketReplicationConfigRuleArray{s3.BucketReplicationConfigRuleArgs{
			Id:     pulumi.String("standby"),
			Status: pulumi.String("Enabled"),
			// A rule with a filter says what becomes of delete markers.
			Filter:                  s3.BucketReplicationConfigRuleFilterArgs{Prefix: pulumi.String("")},
			DeleteMarkerReplication: s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs{Status: pulumi.String("Disabled")},
			SourceSelectionCriteria: s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs{
				SseKmsEncryptedObjects: s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs{Status: pulumi.String("Enabled")},
			},
			Destination: s3.BucketReplicationConfigRuleDestinationArgs{
				Bucket:                  dest.Arn,
				EncryptionConfiguration: s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs{ReplicaKmsKeyId: destKey.Arn},
			},
		}},
	}, b.opts(pulumi.DependsOn(append(versionings, rolePolicy)))...)
	return err
}

// standbyOutputs are the stack outputs of the second region, with its
// cluster's name and kubeconfig where one runs there.
func standbyOutputs(c model.CloudConfig, s *standby, cl *cluster) pulumi.Map {
	if s == nil {
		return nil
	}
	out := pulumi.Map{
		"region":   pulumi.String(c.StandbyRegion),
		"database": s.db.Identifier,
		"bucket":   s.bucket.Bucket,
		"promoted": pulumi.String(c.StandbyPromoted),
	}
	if cl != nil {
		out["cluster"] = cl.eks.Name
		out["kubeconfig"] = pulumi.ToSecret(cl.kubeconfig)
	}
	return out
}
