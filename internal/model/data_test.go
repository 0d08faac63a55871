package model

import (
	"slices"
	"testing"
)

// "This part holds data" is one fact of the part table: every part that
// holds data is backed up on the server, has the provider types that hold
// it on the cloud, and nothing else is; the backups keep their order.
func TestDataIsOneFactOfThePartTable(t *testing.T) {
	if want := []string{DataPostgres, DataRedis, DataQdrant, DataModels}; !slices.Equal(BackupKinds, want) {
		t.Errorf("backups %v, want %v", BackupKinds, want)
	}
	types := StatefulTypes()
	for _, p := range BuiltinParts {
		holds := p.Holds != ""
		if holds != slices.Contains(BackupKinds, p.Holds) && holds {
			t.Errorf("%s holds %s but is not backed up", p.Name, p.Holds)
		}
		if holds && len(DataTypes[p.Kind]) == 0 {
			t.Errorf("%s holds %s but no provider type of its kind %s is stateful", p.Name, p.Holds, p.Kind)
		}
		for _, typ := range DataTypes[p.Kind] {
			if !types[typ] {
				t.Errorf("%s's %s is not stateful", p.Name, typ)
			}
		}
	}
	for _, typ := range []string{"aws:rds/instance:Instance", "aws:elasticache/replicationGroup:ReplicationGroup", "kubernetes:apps/v1:StatefulSet", "kubernetes:core/v1:PersistentVolumeClaim", "aws:s3/bucketV2:BucketV2"} {
		if !types[typ] {
			t.Errorf("%s is not stateful", typ)
		}
	}
	for _, typ := range []string{"kubernetes:apps/v1:Deployment", "aws:eks/cluster:Cluster", "kubernetes:core/v1:Service"} {
		if types[typ] {
			t.Errorf("%s holds no data but is stateful", typ)
		}
	}
}
