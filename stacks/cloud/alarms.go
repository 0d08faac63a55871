package cloud

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elasticache"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// alarm is one CloudWatch alarm nfx sets.
type alarm struct {
	name, namespace, metric, statistic, comparison string
	threshold                                      float64
	periods                                        int
	dims                                           pulumi.StringMap
	description                                    string
	// missing is what no data means: "breaching" unless set.
	missing string
}

// alarmTopic is the SNS topic of the builder's region the alarms notify (an
// alarm notifies a topic of its own region), with the alarm email.
func (b *builder) alarmTopic() (*sns.Topic, error) {
	topic, err := sns.NewTopic(b.ctx, b.name("alarms"), &sns.TopicArgs{Tags: b.tags("alarms")}, b.opts()...)
	if err != nil {
		return nil, err
	}
	if email := b.cfg.Cloud.AlarmEmail; email != "" {
		if _, err := sns.NewTopicSubscription(b.ctx, b.name("alarms-email"), &sns.TopicSubscriptionArgs{
			Topic: topic.Arn, Protocol: pulumi.String("email"), Endpoint: pulumi.String(email),
		}, b.opts()...); err != nil {
			return nil, err
		}
	}
	return topic, nil
}

// dbAlarms are a PostgreSQL instance's alarms.
func dbAlarms(dbDims pulumi.StringMap) []alarm {
	return []alarm{
		{"postgres-cpu", "AWS/RDS", "CPUUtilization", "Average", "GreaterThanThreshold", 80, 3, dbDims, "PostgreSQL CPU above 80% for 15 minutes", ""},
		{"postgres-storage", "AWS/RDS", "FreeStorageSpace", "Minimum", "LessThanThreshold", 10 * (1 << 30), 1, dbDims, "PostgreSQL has less than 10 GiB free", ""},
		{"postgres-memory", "AWS/RDS", "FreeableMemory", "Minimum", "LessThanThreshold", 512 * (1 << 20), 3, dbDims, "PostgreSQL has less than 512 MiB freeable memory", ""},
		{"postgres-connections", "AWS/RDS", "DatabaseConnections", "Maximum", "GreaterThanThreshold", 400, 3, dbDims, "PostgreSQL connections near the instance's limit", ""},
	}
}

// alarms sends CloudWatch alarms on the database, the cache and the node
// groups to an SNS topic.
func (b *builder) alarms(db *database, cache *elasticache.ReplicationGroup, cl *cluster) (*sns.Topic, error) {
	topic, err := b.alarmTopic()
	if err != nil {
		return nil, err
	}
	dbDims := pulumi.StringMap{"DBInstanceIdentifier": db.primary.Identifier}
	list := append(dbAlarms(dbDims), cacheAlarms(cache)...)
	if c := b.cfg.Cloud; c.StandbyRegion != "" {
		// A standby that stops reading (its region down, its disk full)
		// holds the write-ahead log on the primary without bound (RDS
		// keeps a replication slot for a cross-region replica): alarm at
		// a tenth of the primary's storage held.
		list = append(list, alarm{"postgres-standby-lag", "AWS/RDS", "OldestReplicationSlotLag", "Maximum", "GreaterThanThreshold",
			float64(c.DBStorageGB) * (1 << 30) / 10, 2, dbDims,
			"the standby in " + c.StandbyRegion + " holds more than a tenth of PostgreSQL's storage in write-ahead log", "notBreaching"})
	}
	list = append(list, b.poolAlarms(cl)...)
	return topic, b.alarmSet(topic, list)
}

// cacheAlarms are a Redis replication group's alarms.
func cacheAlarms(cache *elasticache.ReplicationGroup) []alarm {
	cacheDims := pulumi.StringMap{"ReplicationGroupId": cache.ID().ToStringOutput()}
	return []alarm{
		{"redis-cpu", "AWS/ElastiCache", "EngineCPUUtilization", "Average", "GreaterThanThreshold", 75, 3, cacheDims, "Redis engine CPU above 75%", ""},
		{"redis-memory", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "Average", "GreaterThanThreshold", 80, 3, cacheDims, "Redis memory above 80%", ""},
		{"redis-evictions", "AWS/ElastiCache", "Evictions", "Sum", "GreaterThanThreshold", 0, 1, cacheDims, "Redis is evicting keys", ""},
	}
}

// poolAlarms fire when a node group holds fewer nodes than its minimum
// (none for a pool whose minimum is zero).
func (b *builder) poolAlarms(cl *cluster) []alarm {
	pools := map[string]*eksNodeGroupASG{"general": asgOf(cl.general, b.cfg.Cloud.NodeMin)}
	if cl.gpu != nil {
		pools["gpu"] = asgOf(cl.gpu, b.cfg.Cloud.GPUMin)
	}
	var list []alarm
	for _, pool := range []string{"general", "gpu"} {
		g, ok := pools[pool]
		if !ok || g.min == 0 {
			continue
		}
		list = append(list, alarm{"nodes-" + pool, "AWS/AutoScaling", "GroupInServiceInstances", "Minimum", "LessThanThreshold",
			float64(g.min), 2, pulumi.StringMap{"AutoScalingGroupName": g.name}, "fewer " + pool + " nodes in service than the node group's minimum", ""})
	}
	return list
}

// alarmSet makes the alarms of list, each notifying topic.
func (b *builder) alarmSet(topic *sns.Topic, list []alarm) error {
	for _, a := range list {
		if a.missing == "" {
			a.missing = "breaching"
		}
		if _, err := cloudwatch.NewMetricAlarm(b.ctx, b.name("alarm-"+a.name), &cloudwatch.MetricAlarmArgs{
			AlarmDescription:   pulumi.String(a.description),
			Namespace:          pulumi.String(a.namespace),
			MetricName:         pulumi.String(a.metric),
			Statistic:          pulumi.String(a.statistic),
			ComparisonOperator: pulumi.String(a.comparison),
			Threshold:          pulumi.Float64(a.threshold),
			EvaluationPeriods:  pulumi.Int(a.periods),
			Period:             pulumi.Int(300),
			Dimensions:         a.dims,
			TreatMissingData:   pulumi.String(a.missing),
			AlarmActions:       pulumi.Array{topic.Arn},
			OkActions:          pulumi.Array{topic.Arn},
			Tags:               b.tags("alarm-" + a.name),
		}, b.opts()...); err != nil {
			return err
		}
	}
	return nil
}
