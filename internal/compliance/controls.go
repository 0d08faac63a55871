package compliance

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/plan"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

// ids is a shorthand for a control's identifiers.
func ids(soc2, iso, gdpr []string) map[string][]string {
	m := map[string][]string{}
	for fw, l := range map[string][]string{SOC2: soc2, ISO27001: iso, GDPR: gdpr} {
		if len(l) > 0 {
			m[fw] = l
		}
	}
	return m
}

func l(s ...string) []string { return s }

// AWS resource types the checks read.
const (
	rdsInstance  = aws.DBInstance
	rdsParams    = aws.DBParameterGroup
	cacheGroup   = aws.CacheGroup
	eksCluster   = aws.Cluster
	s3Encryption = aws.BucketEncryption
	s3Versioning = aws.BucketVersioning
	s3Lifecycle  = aws.BucketLifecycle
	storageClass = "kubernetes:storage.k8s.io/v1:StorageClass"
	secGroup     = aws.SecurityGroup
	rolePolicy   = aws.RolePolicy
	roleAttach   = aws.RolePolicyAttachment
	kmsKey       = aws.KMSKey
	k8sSecret    = "kubernetes:core/v1:Secret"
	k8sService   = "kubernetes:core/v1:Service"
	cronJob      = "kubernetes:batch/v1:CronJob"
	promRule     = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
)

// MinBackupDays is the retention the backup control asks for: a week of
// daily restore points (Prowler's rds_instance_backup_enabled passes any
// retention above 0; ElastiCache's check asks for 7).
const MinBackupDays = 7

// Controls are the controls a stage's plan can show, in report order.
var Controls = []Control{
	{ID: "encryption-at-rest", Area: "encryption", Title: "Stored data is encrypted at rest",
		IDs:     ids(l("pi_1_5"), l("A.8.24", "A.8.11"), l("article_32")),
		Prowler: l("rds_instance_storage_encrypted", "elasticache_redis_cluster_rest_encryption_enabled", "s3_bucket_default_encryption", "eks_cluster_kms_cmk_encryption_in_secrets_enabled", "ec2_ebs_volume_encryption"),
		check:   atRest},
	{ID: "encryption-in-transit", Area: "encryption", Title: "Data is encrypted in transit between machines",
		IDs:     ids(l("cc_6_7"), l("A.8.24"), l("article_32")),
		Prowler: l("elasticache_redis_cluster_in_transit_encryption_enabled", "rds_instance_transport_encrypted"),
		check:   inTransit},
	{ID: "network-exposure", Area: "network", Title: "Nothing but the entry answers the Internet",
		IDs:     ids(l("cc_6_6"), l("A.8.20", "A.8.21", "A.8.22", "A.8.1"), nil),
		Prowler: l("eks_cluster_not_publicly_accessible", "rds_instance_no_public_access", "ec2_securitygroup_allow_ingress_from_internet_to_all_ports"),
		check:   exposure},
	{ID: "backups", Area: "backup", Title: fmt.Sprintf("Every store is backed up daily and kept %d days or more", MinBackupDays),
		IDs:     ids(l("cc_7_4", "cc_a_1_1"), l("A.8.13"), l("article_32")),
		Prowler: l("rds_instance_backup_enabled", "elasticache_redis_cluster_backup_enabled", "s3_bucket_object_versioning", "backup_plans_exist"),
		check:   backups},
	{ID: "restore-rehearsal", Area: "backup", Title: "Restores are rehearsed",
		IDs:   ids(l("A1.3 (TSC)"), l("A.8.13"), l("article_32")),
		check: rehearsal},
	{ID: "redundancy", Area: "availability", Title: "The stores and the service survive the loss of one machine",
		IDs:     ids(l("cc_a_1_1"), l("A.8.14"), nil),
		Prowler: l("rds_instance_multi_az", "elasticache_redis_cluster_multi_az_enabled"),
		check:   redundancy},
	{ID: "audit-logging", Area: "logging", Title: "Access to the system and the data is logged and kept",
		IDs:     ids(l("cc_7_2", "cc_7_3"), l("A.8.15", "A.8.16"), l("article_30")),
		Prowler: l("eks_control_plane_logging_all_types_enabled", "rds_instance_integration_cloudwatch_logs", "cloudwatch_log_group_retention_policy_specific_days_enabled"),
		check:   auditLogging},
	{ID: "account-trail", Area: "logging", Title: "The account's API calls are recorded (CloudTrail)",
		IDs:     ids(l("cc_7_2", "cc_2_1"), l("A.8.15"), l("article_25", "article_30")),
		Prowler: l("cloudtrail_multi_region_enabled", "cloudtrail_log_file_validation_enabled"),
		check:   accountTrail},
	{ID: "monitoring", Area: "logging", Title: "The service is monitored and alerts on failure",
		IDs:   ids(l("cc_7_2"), l("A.8.16"), nil),
		check: monitored},
	{ID: "least-privilege", Area: "access", Title: "Workloads and roles hold only the rights they use",
		IDs:     ids(l("cc_6_3", "cc_1_3"), l("A.5.18", "A.8.2"), l("article_25")),
		Prowler: l("iam_aws_attached_policy_no_administrative_privileges", "iam_customer_attached_policy_no_administrative_privileges", "iam_inline_policy_no_administrative_privileges"),
		check:   leastPrivilege},
	{ID: "secrets", Area: "secrets", Title: "Secrets are kept as secrets, never in plain configuration",
		IDs:     ids(l("pi_1_5"), l("A.8.24", "A.8.5"), l("article_25")),
		Prowler: l("kms_cmk_rotation_enabled", "eks_cluster_kms_cmk_encryption_in_secrets_enabled"),
		check:   secrets},
	{ID: "data-residency", Area: "residency", Title: "Where the data is stored and where it travels",
		IDs:   ids(nil, l("A.5.34"), l("article_44 (GDPR)")),
		check: residency},
	{ID: "change-approval", Area: "change", Title: "Changes are approved by someone other than their author and recorded",
		IDs:     ids(l("cc_8_1"), l("A.8.32"), nil),
		Prowler: l("config_recorder_all_regions_enabled"),
		check:   changeApproval},
}

// People are the controls no plan can show: their evidence is people's
// work, a document or a record.
var People = []Control{
	{ID: "training", Area: "people", Title: "Security awareness, education and training",
		IDs: ids(l("CC1.4 (TSC)", "CC2.2 (TSC)"), l("A.6.3"), l("article_39 (GDPR)"))},
	{ID: "personnel", Area: "people", Title: "Screening, terms of employment, confidentiality agreements",
		IDs: ids(l("CC1.4 (TSC)"), l("A.6.1", "A.6.2", "A.6.6"), nil)},
	{ID: "risk-assessment", Area: "process", Title: "Risk assessment and treatment; data protection impact assessment",
		IDs: ids(l("cc_3_1", "cc_3_2"), l("6.1.2 (ISO)", "8.2 (ISO)"), l("article_35 (GDPR)"))},
	{ID: "suppliers", Area: "process", Title: "Suppliers and processors (AWS, Cloudflare): agreements and review",
		IDs: ids(l("CC9.2 (TSC)"), l("A.5.19", "A.5.20", "A.5.22", "A.5.23"), l("article_28 (GDPR)"))},
	{ID: "incident-response", Area: "process", Title: "Incident response and breach notification",
		IDs: ids(l("cc_7_4", "cc_7_5"), l("A.5.24", "A.5.25", "A.5.26"), l("article_33 (GDPR)", "article_34 (GDPR)"))},
	{ID: "continuity", Area: "process", Title: "Business continuity plan and its tests",
		IDs: ids(l("A1.3 (TSC)", "CC9.1 (TSC)"), l("A.5.29", "A.5.30"), nil)},
	{ID: "policies", Area: "process", Title: "Information security policies, roles and management review",
		IDs: ids(l("CC5.3 (TSC)", "CC1.3 (TSC)"), l("A.5.1", "A.5.2", "A.5.4"), l("article_24 (GDPR)"))},
	{ID: "data-subjects", Area: "process", Title: "Data subjects' rights, lawful basis and records of processing",
		IDs: ids(nil, l("A.5.34"), l("article_6 (GDPR)", "article_15 (GDPR)", "article_17 (GDPR)", "article_30"))},
	{ID: "physical", Area: "people", Title: "Physical security of the machines",
		IDs: ids(l("CC6.4 (TSC)"), l("A.7.1", "A.7.2", "A.7.8"), nil)},
}

func atRest(f *facts) finding {
	if f.hosted {
		var bad []string
		for _, name := range sortedKeys(f.project.Volumes) {
			if v := f.project.Volumes[name]; v.DriverOpts["type"] == "nfs" {
				bad = append(bad, fmt.Sprintf("volume %s: the backups on the NAS (%s) are written as plain files", name, nfsTarget(v.DriverOpts)))
			}
		}
		if len(bad) > 0 {
			return finding{status: Fail, evidence: bad,
				fix: "encrypt the NAS's disks (or the share's dataset) and record it; nfx's backup files are not encrypted by nfx"}
		}
		return finding{status: Outside, evidence: []string{fmt.Sprintf("the volumes of %s are on the host's own disk", f.file)},
			fix: "encrypt the host's disk (LUKS, BitLocker or FileVault) and keep the record: a plan cannot show it"}
	}
	var good, bad []string
	for _, r := range f.resources(rdsInstance) {
		record(&good, &bad, isTrue(in(r, "storageEncrypted")), "RDS %s: storageEncrypted", r.Name)
	}
	for _, r := range f.resources(cacheGroup) {
		record(&good, &bad, isTrue(in(r, "atRestEncryptionEnabled")), "ElastiCache %s: atRestEncryptionEnabled", r.Name)
	}
	for _, r := range f.resources(s3Encryption) {
		alg := ""
		if rules, _ := in(r, "rules").([]any); len(rules) > 0 {
			if m, ok := rules[0].(map[string]any); ok {
				alg, _ = in(withInputs(m), "applyServerSideEncryptionByDefault", "sseAlgorithm").(string)
			}
		}
		record(&good, &bad, alg != "", "S3 %s: default encryption %s", r.Name, alg)
	}
	for _, r := range f.resources(eksCluster) {
		record(&good, &bad, slices.Contains(strs(in(r, "encryptionConfig", "resources")), "secrets"), "EKS %s: Kubernetes secrets encrypted with a KMS key", r.Name)
	}
	for _, r := range f.resources(storageClass) {
		record(&good, &bad, in(r, "parameters", "encrypted") == "true", "StorageClass %s: EBS volumes encrypted", r.Name)
	}
	return verdict(good, bad, "set storageEncrypted, atRestEncryptionEnabled and the volumes' encryption (nfx's cloud stage sets them; a change that unset one is in the plan)")
}

func inTransit(f *facts) finding {
	if f.hosted {
		var good, bad []string
		swarm := f.file == "stack.yaml"
		for _, name := range sortedKeys(f.project.Networks) {
			n := f.project.Networks[name]
			switch {
			case n.Driver == "overlay" && swarm:
				record(&good, &bad, n.DriverOpts["encrypted"] == "true", "overlay network %s: encrypted between nodes (IPsec)", name)
			default:
				good = append(good, fmt.Sprintf("network %s: a bridge on one machine, its traffic never leaves the host", name))
			}
		}
		for _, name := range sortedKeys(f.project.Volumes) {
			if v := f.project.Volumes[name]; v.DriverOpts["type"] == "nfs" {
				record(&good, &bad, strings.Contains(v.DriverOpts["o"], "sec=krb5p"), "volume %s: NFS to the NAS with sec=krb5p (encrypted)", name)
			}
		}
		good = append(good, f.entry())
		return verdict(good, bad, "encrypt every overlay network that crosses nodes (driver_opts encrypted: \"true\") and mount the NAS with sec=krb5p or over a VPN")
	}
	var good, bad []string
	for _, r := range f.resources(cacheGroup) {
		record(&good, &bad, isTrue(in(r, "transitEncryptionEnabled")), "ElastiCache %s: transitEncryptionEnabled", r.Name)
	}
	for _, r := range f.resources(rdsParams) {
		forced := false
		for _, p := range asList(in(r, "parameters")) {
			if p["name"] == "rds.force_ssl" && p["value"] == "1" {
				forced = true
			}
		}
		record(&good, &bad, forced, "RDS parameter group %s: rds.force_ssl = 1", r.Name)
	}
	good = append(good, f.entry())
	return verdict(good, bad, "set transitEncryptionEnabled on ElastiCache and rds.force_ssl = 1 on the database's parameter group")
}

func exposure(f *facts) finding {
	var good, bad []string
	if f.hosted {
		for _, name := range f.services() {
			for _, p := range f.project.Services[name].Ports {
				if p.Published == nil {
					continue
				}
				record(&good, &bad, p.HostIP == "127.0.0.1" || p.HostIP == "::1",
					"service %s: port %v published on %s", name, p.Published, orAll(p.HostIP))
			}
		}
		if len(bad) == 0 {
			good = append(good, fmt.Sprintf("%s publishes no port beyond the loopback; the CRM is reached through the Cloudflare Tunnel", f.file))
		}
		return verdict(good, bad, "publish no port on every interface: bind it to 127.0.0.1 (Compose) or firewall the nodes to the LAN and reach the service through the tunnel (Swarm publishes on every interface)")
	}
	for _, r := range f.resources(eksCluster) {
		public := isTrue(in(r, "vpcConfig", "endpointPublicAccess"))
		cidrs := strs(in(r, "vpcConfig", "publicAccessCidrs"))
		open := !public || len(cidrs) == 0 || slices.Contains(cidrs, "0.0.0.0/0")
		record(&good, &bad, !(public && open), "EKS %s: API endpoint public to %s", r.Name, strings.Join(orList(public, cidrs), ", "))
	}
	for _, r := range f.resources(rdsInstance) {
		record(&good, &bad, !isTrue(in(r, "publiclyAccessible")), "RDS %s: not publicly accessible", r.Name)
	}
	for _, r := range f.resources(secGroup) {
		world := false
		for _, rule := range asList(in(r, "ingress")) {
			for _, c := range strs(rule["cidrBlocks"]) {
				world = world || c == "0.0.0.0/0"
			}
			for _, c := range strs(rule["ipv6CidrBlocks"]) {
				world = world || c == "::/0"
			}
		}
		record(&good, &bad, !world, "security group %s: no ingress from the whole Internet", r.Name)
	}
	for _, r := range f.resources(k8sService) {
		if in(r, "spec", "type") == "LoadBalancer" {
			bad = append(bad, fmt.Sprintf("Service %s: a LoadBalancer on the Internet", r.Name))
		}
	}
	return verdict(good, bad, "keep the API endpoint to nextflow:cloud.publicAccessCidrs (no 0.0.0.0/0), the database private and the security groups to the nodes")
}

func backups(f *facts) finding {
	var good, bad []string
	if f.hosted {
		var jobs []string
		for _, k := range model.BackupKinds {
			if _, ok := f.project.Services["backup-"+k]; ok {
				jobs = append(jobs, "backup-"+k)
			} else {
				bad = append(bad, fmt.Sprintf("NOT: %s backs up %s (no backup-%s service)", f.file, k, k))
			}
		}
		if len(jobs) == 0 {
			return finding{status: Fail, evidence: []string{fmt.Sprintf("%s schedules no backup", f.file)},
				fix: "back up off the machine before relying on the stage: the server stage backs every store up to a NAS daily (nfx migrate moves the data there)"}
		}
		days := f.cfg.Backup.RetentionDays
		record(&good, &bad, days >= MinBackupDays, "%s daily at %s to the NAS, kept %d days (nextflow:backup.retentionDays)", strings.Join(jobs, ", "), f.cfg.Backup.Time, days)
		return verdict(good, bad, fmt.Sprintf("back every store up and set nextflow:backup.retentionDays to %d or more", MinBackupDays))
	}
	for _, r := range f.resources(rdsInstance) {
		d, _ := number(in(r, "backupRetentionPeriod"))
		record(&good, &bad, d >= MinBackupDays, "RDS %s: automated backups kept %.0f days", r.Name, d)
	}
	for _, r := range f.resources(cacheGroup) {
		d, _ := number(in(r, "snapshotRetentionLimit"))
		record(&good, &bad, d >= MinBackupDays, "ElastiCache %s: snapshots kept %.0f days", r.Name, d)
	}
	for _, r := range f.resources(s3Versioning) {
		record(&good, &bad, in(r, "versioningConfiguration", "status") == "Enabled", "S3 %s: versioning enabled", r.Name)
	}
	for _, r := range f.resources(s3Lifecycle) {
		for _, rule := range asList(in(r, "rules")) {
			if d, ok := number(in(withInputs(rule), "expiration", "days")); ok {
				record(&good, &bad, d >= MinBackupDays, "S3 %s: backups expire after %.0f days", r.Name, d)
			}
		}
	}
	for _, r := range f.resources(cronJob) {
		if s, _ := in(r, "spec", "schedule").(string); s != "" {
			good = append(good, fmt.Sprintf("CronJob %s: %q", r.Name, s))
		}
	}
	return verdict(good, bad, fmt.Sprintf("keep nextflow:cloud.dbBackupDays and backupRetentionDays at %d or more", MinBackupDays))
}

func rehearsal(f *facts) finding {
	fix := fmt.Sprintf("rehearse a restore of the stage's latest backup at least every %d days: nfx migrate rehearse --stage %s records it", RehearsalDays, f.cfg.Stage)
	r := f.rec.Rehearsal
	if r == nil {
		return finding{status: Fail, evidence: []string{"no restore rehearsal is recorded for the stage (.nfx/rehearsals)"}, fix: fix}
	}
	days := f.rec.Now.Sub(r.At).Hours() / 24
	what := fmt.Sprintf("the latest rehearsal, %s (%.0f days ago), restored in %.0f s (RTO) a backup %.0f s old (RPO)", r.At.UTC().Format(time.RFC3339), days, r.RTOSeconds, r.RPOSeconds)
	switch {
	case days < -1:
		return finding{status: Fail, evidence: []string{fmt.Sprintf("NOT: the recorded rehearsal is dated %s, %.0f days ahead of %s: the record or a clock is wrong", r.At.UTC().Format(time.RFC3339), -days, f.rec.Now.UTC().Format("2006-01-02"))}, fix: fix}
	case !r.OK:
		return finding{status: Fail, evidence: []string{"NOT: " + what + ", and its verification failed"}, fix: fix}
	case days > RehearsalDays:
		return finding{status: Fail, evidence: []string{fmt.Sprintf("NOT: %s: older than %d days", what, RehearsalDays)}, fix: fix}
	}
	return finding{status: Pass, evidence: []string{what + ", verified"}}
}

func redundancy(f *facts) finding {
	var good, bad []string
	if f.hosted {
		record(&good, &bad, f.cfg.Host.Nodes >= 2, "%d machine(s) (nextflow:host.nodes)", max(f.cfg.Host.Nodes, 1))
		if f.cfg.Host.Nodes >= 2 {
			for _, svc := range []string{"postgres-replica", "redis-replica", "redis-sentinel"} {
				_, ok := f.project.Services[svc]
				record(&good, &bad, ok, "service %s", svc)
			}
		}
		return verdict(good, bad, "the laptop stage is one machine by design: the server stage adds a streaming replica, Redis failover and a second AI node")
	}
	for _, r := range f.resources(rdsInstance) {
		record(&good, &bad, isTrue(in(r, "multiAz")), "RDS %s: Multi-AZ", r.Name)
	}
	for _, r := range f.resources(cacheGroup) {
		record(&good, &bad, isTrue(in(r, "multiAzEnabled")) && isTrue(in(r, "automaticFailoverEnabled")), "ElastiCache %s: Multi-AZ with automatic failover", r.Name)
	}
	record(&good, &bad, f.cfg.Cloud.AvailabilityZones >= 2, "the node groups span %d availability zones", f.cfg.Cloud.AvailabilityZones)
	return verdict(good, bad, "keep Multi-AZ on RDS and ElastiCache and two or more availability zones")
}

func auditLogging(f *facts) finding {
	var good, bad []string
	if f.hosted {
		conf := f.content("postgres/postgresql.conf") + f.content(f.file)
		record(&good, &bad, regexp.MustCompile(`log_connections\s*=\s*(on|true|1)\b`).MatchString(conf), "PostgreSQL logs its connections (log_connections)")
		// Docker's default driver, where a service names none, is json-file.
		local := 0
		for _, name := range f.services() {
			if lg := f.project.Services[name].Logging; lg == nil || lg.Driver == "" || lg.Driver == "json-file" || lg.Driver == "local" {
				local++
			}
		}
		record(&good, &bad, local == 0, "the containers' logs leave the host (%d of %d services log to a file on it, rotated by size)", local, len(f.project.Services))
		return verdict(good, bad, "set log_connections on and ship the containers' logs to a store with a retention (journald or syslog to a log server); until then the stage keeps no audit trail")
	}
	for _, r := range f.resources(eksCluster) {
		types := strs(in(r, "enabledClusterLogTypes"))
		record(&good, &bad, slices.Contains(types, "audit") && slices.Contains(types, "authenticator"), "EKS %s: control plane logs %s to CloudWatch, kept with no expiry (no retention set)", r.Name, strings.Join(types, ", "))
	}
	for _, r := range f.resources(rdsInstance) {
		record(&good, &bad, slices.Contains(strs(in(r, "enabledCloudwatchLogsExports")), "postgresql"), "RDS %s: PostgreSQL's log exported to CloudWatch", r.Name)
	}
	return verdict(good, bad, "keep the EKS audit and authenticator logs and RDS's postgresql log export on")
}

func accountTrail(f *facts) finding {
	if f.hosted {
		return finding{status: Outside, evidence: []string{"a self-hosted stage has no cloud account; the promotions' ledger records who changed the stacks"},
			fix: "keep the Docker hosts' own audit (auditd on dockerd and the socket)"}
	}
	return finding{status: Outside, evidence: []string{"the plan creates no CloudTrail trail: the account's organisation trail is expected to record the API calls"},
		fix: "check it with aws cloudtrail describe-trails (multi-region, log file validation) or Prowler's cloudtrail_multi_region_enabled"}
}

func monitored(f *facts) finding {
	var good, bad []string
	record(&good, &bad, f.cfg.Monitoring.Enabled, "Prometheus scrapes the stage every %d s and keeps %d days (nextflow:monitoring)", f.cfg.Monitoring.ScrapeSeconds, f.cfg.Monitoring.RetentionDays)
	if f.hosted {
		_, prom := f.project.Services["prometheus"]
		rules := strings.Contains(f.content(f.file)+f.content("monitoring/prometheus.yml"), "nextflow.rules.yml")
		record(&good, &bad, prom && rules, "Prometheus runs in %s with the stage's alert rules (nextflow.rules.yml)", f.file)
	} else {
		record(&good, &bad, len(f.resources(promRule)) > 0, "PrometheusRule resources hold the alert rules")
	}
	return verdict(good, bad, "set nextflow:monitoring.enabled true")
}

func leastPrivilege(f *facts) finding {
	var good, bad []string
	if f.hosted {
		for _, name := range f.services() {
			s := f.project.Services[name]
			if s.Privileged {
				bad = append(bad, fmt.Sprintf("service %s: privileged", name))
			}
			for _, v := range s.Volumes {
				switch v.Source {
				case "/var/run/docker.sock":
					bad = append(bad, fmt.Sprintf("service %s: mounts the Docker socket (read-only or not, it is root on the host)", name))
				case "/":
					good = append(good, fmt.Sprintf("service %s: reads the host's / (read-only: %v), as a node exporter does", name, v.ReadOnly))
				}
			}
			if s.Pid == "host" {
				good = append(good, fmt.Sprintf("service %s: sees the host's processes (pid: host), as a node exporter does", name))
			}
			if s.User == "root" || s.User == "0" {
				good = append(good, fmt.Sprintf("service %s: runs as root", name))
			}
		}
		if len(bad) == 0 {
			good = append([]string{fmt.Sprintf("no service of %s is privileged or holds the Docker socket", f.file)}, good...)
		}
		return verdict(good, bad, "give a service that discovers others a socket proxy that allows only the reads it needs (GET /services, /tasks, /nodes), not the Docker socket")
	}
	var unread []string
	for _, r := range f.resources(rolePolicy) {
		doc, ok := in(r, "policy").(string)
		if !ok || doc == plan.Unknown {
			unread = append(unread, fmt.Sprintf("IAM policy %s: not readable before deployment (it names resources created with it); Prowler's checks read it on the account", r.Name))
			continue
		}
		admin, err := adminPolicy(doc)
		if err != nil {
			bad = append(bad, fmt.Sprintf("NOT: IAM policy %s: its document does not parse (%v)", r.Name, err))
			continue
		}
		record(&good, &bad, !admin, "IAM policy %s: no Action \"*\"", r.Name)
	}
	for _, r := range f.resources(eksCluster) {
		if isTrue(in(r, "accessConfig", "bootstrapClusterCreatorAdminPermissions")) {
			good = append(good, fmt.Sprintf("EKS %s: whoever creates the cluster is its administrator; nextflow:cloud.admins are given access entries", r.Name))
		}
	}
	for _, r := range f.resources(roleAttach) {
		arn, _ := in(r, "policyArn").(string)
		record(&good, &bad, !strings.HasSuffix(arn, "/AdministratorAccess"), "IAM attachment %s: %s", r.Name, arn)
	}
	fix := "replace an Action \"*\" or AdministratorAccess with the actions the role uses"
	if len(unread) > 0 && len(bad) == 0 {
		// What the plan shows is met, but not all of it can be read.
		return finding{status: Outside, evidence: append(unread, good...), fix: "check the policies the plan cannot read on the account: Prowler's iam_inline_policy_no_administrative_privileges"}
	}
	return verdict(good, append(bad, unread...), fix)
}

// adminPolicy says whether an IAM policy document allows every action;
// its Statement may be one statement or a list, its Action one or a list
// (IAM's policy grammar).
func adminPolicy(doc string) (bool, error) {
	var p struct {
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return false, err
	}
	type statement struct {
		Effect string `json:"Effect"`
		Action any    `json:"Action"`
	}
	var list []statement
	if err := json.Unmarshal(p.Statement, &list); err != nil {
		var one statement
		if err := json.Unmarshal(p.Statement, &one); err != nil {
			return false, fmt.Errorf("its Statement is neither a statement nor a list of them")
		}
		list = []statement{one}
	}
	for _, s := range list {
		if s.Effect != "Allow" {
			continue
		}
		var acts []string
		switch a := s.Action.(type) {
		case string:
			acts = []string{a}
		case []any:
			for _, x := range a {
				if v, ok := x.(string); ok {
					acts = append(acts, v)
				}
			}
		}
		if slices.Contains(acts, "*") || slices.Contains(acts, "*:*") {
			return true, nil
		}
	}
	return false, nil
}

// secretName matches environment variables that name a secret.
var secretName = regexp.MustCompile(`(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY)`)

func secrets(f *facts) finding {
	var good, bad []string
	if f.hosted {
		for _, name := range f.services() {
			env := f.project.Services[name].Environment
			for _, k := range sortedKeys(env) {
				v := env[k]
				if !secretName.MatchString(k) || strings.HasSuffix(k, "_FILE") {
					continue
				}
				s := fmt.Sprint(v)
				if v != nil && s != "" && !strings.HasPrefix(s, "/run/secrets/") {
					bad = append(bad, fmt.Sprintf("service %s: %s is set in the environment, not read from a file", name, k))
				}
			}
		}
		if len(bad) == 0 {
			good = append(good, fmt.Sprintf("the services of %s read every secret from a file (*_FILE, /run/secrets), written 0444 in a 0700 directory; the values stay Pulumi secrets", f.file))
		}
		return verdict(good, bad, "read the secret from a file (a *_FILE variable) written by nfx up, not from the environment")
	}
	for _, r := range f.resources(rdsInstance) {
		record(&good, &bad, in(r, "password") == plan.Secret, "RDS %s: its password is a Pulumi secret", r.Name)
	}
	for _, r := range f.resources(cacheGroup) {
		record(&good, &bad, in(r, "authToken") == plan.Secret, "ElastiCache %s: its auth token is a Pulumi secret", r.Name)
	}
	for _, r := range f.resources(kmsKey) {
		record(&good, &bad, isTrue(in(r, "enableKeyRotation")), "KMS key %s: rotated yearly", r.Name)
	}
	good = append(good, fmt.Sprintf("%d Kubernetes Secrets hold the workloads' secrets, encrypted by the KMS key", len(f.resources(k8sSecret))))
	return verdict(good, bad, "keep passwords in Pulumi secrets and key rotation on")
}

func residency(f *facts) finding {
	if f.hosted {
		return finding{status: Manual, evidence: []string{"the data is on the stage's own machines and NAS, wherever they stand; the traffic passes Cloudflare's global network"},
			fix: "record where the machines stand and the transfers your obligations allow"}
	}
	return finding{status: Manual, evidence: []string{
		fmt.Sprintf("every AWS resource of the plan is in %s (nextflow:cloud.region): RDS, ElastiCache, S3 and the EBS volumes", f.cfg.Cloud.Region),
		"the traffic passes Cloudflare's global network, where TLS ends at the nearest edge"},
		fix: "whether that region meets your obligations (GDPR chapter V transfers, a local law) is yours to decide and record; set nextflow:cloud.region accordingly"}
}

func changeApproval(f *facts) finding {
	var good, bad []string
	n := f.cfg.Promotion.Approvals
	record(&good, &bad, n >= 1, "a promotion into the stack needs %d approval(s) by someone other than its author (nextflow:promotion.approvals), recorded in the ledger", n)
	return verdict(good, bad, "set nextflow:promotion.approvals to 1 or more and promote with nfx promote, so that every change is approved and in the ledger")
}

// record files a fact as good or bad.
func record(good, bad *[]string, ok bool, format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if ok {
		*good = append(*good, s)
	} else {
		*bad = append(*bad, "NOT: "+s)
	}
}

// withInputs wraps a map as a resource, for in().
func withInputs(m map[string]any) plan.Resource { return plan.Resource{Inputs: m} }

// asList reads a list input of objects.
func asList(v any) []map[string]any {
	list, _ := v.([]any)
	var out []map[string]any
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func orAll(ip string) string {
	if ip == "" {
		return "every interface"
	}
	return ip
}

func orList(public bool, cidrs []string) []string {
	if !public {
		return []string{"no one (private endpoint only)"}
	}
	if len(cidrs) == 0 {
		return []string{"0.0.0.0/0"}
	}
	return cidrs
}

// nfsTarget is an NFS volume's server and path.
func nfsTarget(opts map[string]string) string {
	addr := ""
	for _, o := range strings.Split(opts["o"], ",") {
		if v, ok := strings.CutPrefix(o, "addr="); ok {
			addr = v
		}
	}
	return addr + opts["device"]
}

// entry says how the public reaches the stage: through the tunnel over
// TLS, or, with no tunnel, not through one nfx sets up.
func (f *facts) entry() string {
	if f.cfg.Tunnel.Mode == model.TunnelNone {
		return "no tunnel (nextflow:tunnel.mode none): whatever carries the public's traffic to the stage is outside the plan"
	}
	return "the public reaches the CRM only through the Cloudflare Tunnel, over TLS to Cloudflare's edge and from it to cloudflared"
}
