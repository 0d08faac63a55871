package aws

// The Pulumi type tokens of the AWS resources and functions nfx plans and
// reads back (pulumi-aws v6): cost prices them, the compliance report and
// the promotion gates read their inputs, the model names the ones that
// hold data.
const (
	Cluster              = "aws:eks/cluster:Cluster"
	NodeGroup            = "aws:eks/nodeGroup:NodeGroup"
	NATGateway           = "aws:ec2/natGateway:NatGateway"
	EIP                  = "aws:ec2/eip:Eip"
	SecurityGroup        = "aws:ec2/securityGroup:SecurityGroup"
	SecurityGroupRule    = "aws:ec2/securityGroupRule:SecurityGroupRule"
	SGIngressRule        = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	DBInstance           = "aws:rds/instance:Instance"
	DBParameterGroup     = "aws:rds/parameterGroup:ParameterGroup"
	CacheGroup           = "aws:elasticache/replicationGroup:ReplicationGroup"
	Bucket               = "aws:s3/bucketV2:BucketV2"
	LegacyBucket         = "aws:s3/bucket:Bucket"
	BucketReplication    = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
	BucketVersioning     = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	BucketEncryption     = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	BucketLifecycle      = "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"
	MetricAlarm          = "aws:cloudwatch/metricAlarm:MetricAlarm"
	KMSKey               = "aws:kms/key:Key"
	HostedZone           = "aws:route53/zone:Zone"
	RolePolicy           = "aws:iam/rolePolicy:RolePolicy"
	RolePolicyAttachment = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"

	GetAvailabilityZones = "aws:index/getAvailabilityZones:getAvailabilityZones"
	GetSecretVersion     = "aws:secretsmanager/getSecretVersion:getSecretVersion"
)

// Free are the planned AWS types that cost nothing themselves (their cost
// is in what runs on them, or AWS does not charge for them), and why.
var Free = map[string]string{
	"aws:iam/role:Role": "IAM has no charge", RolePolicy: "IAM has no charge",
	RolePolicyAttachment: "IAM has no charge",
	"aws:iam/openIdConnectProvider:OpenIdConnectProvider": "IAM has no charge",
	"aws:ec2/vpc:Vpc": "no charge", "aws:ec2/subnet:Subnet": "no charge", "aws:ec2/internetGateway:InternetGateway": "no charge",
	"aws:ec2/routeTable:RouteTable": "no charge", "aws:ec2/routeTableAssociation:RouteTableAssociation": "no charge",
	SecurityGroup: "no charge", "aws:rds/subnetGroup:SubnetGroup": "no charge",
	// VPC pricing: a peering connection has no hourly charge; what crosses
	// it between regions is billed as inter-region transfer, which is the
	// workloads' traffic to a promoted standby only.
	"aws:ec2/vpcPeeringConnection:VpcPeeringConnection":                 "no hourly charge; traffic across it is inter-region transfer",
	"aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter": "no charge",
	// Route 53 bills the zone and the queries, not its records: the
	// database's names, cached for 30 s, are asked a few times a minute.
	"aws:route53/record:Record": "no charge; queries at Route 53's per-million rate, a few a minute",
	DBParameterGroup:            "no charge", "aws:elasticache/subnetGroup:SubnetGroup": "no charge",
	"aws:eks/addon:Addon":                                     "EKS add-ons have no charge; their pods run on the priced nodes",
	"aws:eks/accessEntry:AccessEntry":                         "no charge",
	"aws:eks/accessPolicyAssociation:AccessPolicyAssociation": "no charge",
	"aws:sns/topic:Topic":                                     "alarm notifications stay within SNS's free tier",
	"aws:sns/topicSubscription:TopicSubscription":             "no charge",
	BucketVersioning:                                          "priced with the bucket's storage",
	BucketEncryption:                                          "priced with the bucket's storage",
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":  "no charge",
	"aws:ec2/vpcEndpoint:VpcEndpoint":                         "no charge (an S3 gateway endpoint)",
	BucketLifecycle:                                           "no charge",
}

// RegionTag marks a resource of the cloud's second region
// (cloud.standbyRegion) with that region, for the cost to price it there.
const RegionTag = "nextflow.io/region"

// StandbyInfix is in the name of every resource of the second region and
// of its providers ("nextflow-standby-k8s", its cluster's Kubernetes
// provider): objects, which take no tags, are that region's by their
// provider.
const StandbyInfix = "-standby-"
