package model

import (
	"strings"
	"testing"
)

func TestCloudDefaults(t *testing.T) {
	cfg, ds := Load("cloud", raw(map[string]string{}), LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if cfg.CRM.Replicas != 10 || !cfg.UseGPU || cfg.Host.VRAM != 24*GiB || cfg.AI.Model != DefaultGPUModel {
		t.Errorf("cloud defaults: crm %d, gpu %v, vram %s, model %s", cfg.CRM.Replicas, cfg.UseGPU, cfg.Host.VRAM, cfg.AI.Model)
	}
	// Without a GPU pool, Ollama runs on the general nodes with the CPU model.
	cfg, ds = Load("cloud", raw(map[string]string{"cloud": `{"gpuPool": false}`}), LoadOptions{})
	if ds.HasErrors() || cfg.UseGPU || cfg.AI.Model != DefaultCPUModel {
		t.Errorf("no GPU pool: %v gpu=%v model=%s", ds, cfg.UseGPU, cfg.AI.Model)
	}
}

func TestCloudRejectsBadConfig(t *testing.T) {
	cases := []struct {
		name, value, path, mention string
	}{
		{"unknown region", `{"region": "eu-south-9"}`, "nextflow:cloud.region", "unknown to nfx"},
		{"not a region", `{"region": "Virginia"}`, "nextflow:cloud.region", "not an AWS region"},
		{"unknown GPU type", `{"gpuInstanceType": "p9.huge"}`, "nextflow:cloud.gpuInstanceType", "unknown to nfx"},
		{"API open to the Internet", `{"publicAccessCidrs": ["0.0.0.0/0"]}`, "nextflow:cloud.publicAccessCidrs", "whole Internet"},
		{"the Internet in two halves", `{"publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}`, "nextflow:cloud.publicAccessCidrs", "whole Internet"},
		{"the Internet in /8s", `{"publicAccessCidrs": ["1.0.0.0/8", "2.0.0.0/8"]}`, "nextflow:cloud.publicAccessCidrs", "33554432 addresses"},
		{"host bits in a public range", `{"publicAccessCidrs": ["203.0.113.7/24"]}`, "nextflow:cloud.publicAccessCidrs[0]", "host bits"},
		{"IPv6 public range", `{"publicAccessCidrs": ["::/0"]}`, "nextflow:cloud.publicAccessCidrs[0]", "not an IPv4 CIDR"},
		{"not a CIDR", `{"publicAccessCidrs": ["office"]}`, "nextflow:cloud.publicAccessCidrs[0]", "not an IPv4 CIDR"},
		{"public VPC", `{"vpcCidr": "8.8.0.0/16"}`, "nextflow:cloud.vpcCidr", "not a private range"},
		{"VPC of everything", `{"vpcCidr": "0.0.0.0/0"}`, "nextflow:cloud.vpcCidr", "larger than a /16"},
		{"VPC over AWS's size", `{"vpcCidr": "10.0.0.0/8"}`, "nextflow:cloud.vpcCidr", "larger than a /16"},
		{"VPC with host bits", `{"vpcCidr": "10.40.3.0/16"}`, "nextflow:cloud.vpcCidr", "host bits"},
		{"VPC just past a private range", `{"vpcCidr": "172.32.0.0/16"}`, "nextflow:cloud.vpcCidr", "not a private range"},
		{"pool sizes", `{"nodeMin": 5, "nodeDesired": 3}`, "nextflow:cloud.nodeDesired", "min <= desired <= max"},
		{"short backups", `{"dbBackupDays": 1}`, "nextflow:cloud.dbBackupDays", "between 7 and 35"},
		{"one cache node", `{"cacheNodes": 1}`, "nextflow:cloud.cacheNodes", "automatic failover"},
		{"small VPC", `{"vpcCidr": "10.0.0.0/24"}`, "nextflow:cloud.vpcCidr", "too small"},
		{"ceiling below floor", `{"crmMaxReplicas": 4}`, "nextflow:cloud.crmMaxReplicas", "4 < 10"},
		{"admin not an ARN", `{"admins": ["ci-deploy"]}`, "nextflow:cloud.admins[0]", "not an IAM role or user ARN"},
		{"admin a group", `{"admins": ["arn:aws:iam::123456789012:group/ops"]}`, "nextflow:cloud.admins[0]", "not an IAM role or user ARN"},
		{"admin with a shell", `{"admins": ["arn:aws:iam::123456789012:role/x;reboot"]}`, "nextflow:cloud.admins[0]", "not an IAM role or user ARN"},
		{"admin twice", `{"admins": ["arn:aws:iam::123456789012:role/ci", "arn:aws:iam::123456789012:role/ci"]}`, "nextflow:cloud.admins[1]", "listed twice"},
		{"a zone for the load balancer that is gone", `{"zoneId": "example.com"}`, "nextflow:cloud.zoneId", "Cloudflare Tunnel"},
		{"standby in the primary's region", `{"standbyRegion": "us-east-1"}`, "nextflow:cloud.standbyRegion", "shares its outages"},
		{"standby not a region", `{"standbyRegion": "us-west-2; rm -rf /"}`, "nextflow:cloud.standbyRegion", "not an AWS region"},
		{"standby unknown region", `{"standbyRegion": "eu-south-9"}`, "nextflow:cloud.standbyRegion", "unknown to nfx"},
		{"standby VPC over the primary's", `{"standbyRegion": "us-west-2", "standbyVpcCidr": "10.40.0.0/16"}`, "nextflow:cloud.standbyVpcCidr", "overlaps cloud.vpcCidr"},
		{"standby VPC inside the primary's", `{"standbyRegion": "us-west-2", "vpcCidr": "10.0.0.0/16", "standbyVpcCidr": "10.0.16.0/20"}`, "nextflow:cloud.standbyVpcCidr", "overlaps cloud.vpcCidr"},
		{"standby VPC public", `{"standbyRegion": "us-west-2", "standbyVpcCidr": "8.8.0.0/16"}`, "nextflow:cloud.standbyVpcCidr", "not a private range"},
		{"standby cluster without a region", `{"standbyCluster": true}`, "nextflow:cloud.standbyCluster", "needs cloud.standbyRegion"},
		{"promoted without a standby", `{"standbyPromoted": "2026-12-07T04:00:00Z"}`, "nextflow:cloud.standbyPromoted", "needs cloud.standbyRegion"},
		{"promoted not a time", `{"standbyRegion": "us-west-2", "standbyPromoted": "yesterday; rm -rf /"}`, "nextflow:cloud.standbyPromoted", "not an RFC 3339 time"},
		{"promoted a date only", `{"standbyRegion": "us-west-2", "standbyPromoted": "2026-12-07"}`, "nextflow:cloud.standbyPromoted", "not an RFC 3339 time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := Load("cloud", raw(map[string]string{"cloud": tc.value}), LoadOptions{})
			found := false
			for _, d := range ds.Errors() {
				if d.Path == tc.path && strings.Contains(d.String(), tc.mention) && d.Fix != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("want an error at %s mentioning %q; got:\n%s", tc.path, tc.mention, ds)
			}
		})
	}
}

// A standby region with a VPC apart from the primary's is accepted; none
// is the default, and the standby's VPC is checked only when it is used.
func TestCloudStandbyRegion(t *testing.T) {
	for _, c := range []struct{ value, region string }{
		{`{}`, ""},
		{`{"standbyVpcCidr": "10.40.0.0/16"}`, ""},
		{`{"standbyRegion": "us-west-2"}`, "us-west-2"},
		{`{"region": "ap-southeast-1", "standbyRegion": "ap-southeast-2", "standbyVpcCidr": "172.20.0.0/16"}`, "ap-southeast-2"},
	} {
		cfg, ds := Load("cloud", raw(map[string]string{"cloud": c.value}), LoadOptions{})
		if ds.HasErrors() {
			t.Errorf("%s: %v", c.value, ds)
			continue
		}
		if cfg.Cloud.StandbyRegion != c.region {
			t.Errorf("%s: standby %q, want %q", c.value, cfg.Cloud.StandbyRegion, c.region)
		}
	}
}
