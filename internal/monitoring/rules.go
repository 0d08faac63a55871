package monitoring

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Severities: a page wakes someone; a ticket waits for working hours.
const (
	SeverityPage   = "page"
	SeverityTicket = "ticket"
)

// Rule is one recording or alerting rule.
type Rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Group is a rule group.
type Group struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

// BurnWindow is one multi-window burn-rate condition (the SRE workbook's
// table): the error budget burning Factor times too fast over both the
// Long and the Short window.
type BurnWindow struct {
	Long, Short string
	Factor      float64
	Severity    string
}

// BurnWindows are the SRE workbook's recommended windows for a 30-day
// objective: 2 % of the budget in an hour, 5 % in six hours page; 10 % in a
// day, 10 % in three days open a ticket.
var BurnWindows = []BurnWindow{
	{"1h", "5m", 14.4, SeverityPage},
	{"6h", "30m", 6, SeverityPage},
	{"1d", "2h", 3, SeverityTicket},
	{"3d", "6h", 1, SeverityTicket},
}

// SLIWindows are the windows whose error ratio is recorded.
func SLIWindows() []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range BurnWindows {
		for _, d := range []string{w.Short, w.Long} {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}

// Recorded series the advisor and the burn-rate alerts read.
const (
	// CRMUp is 1 while at least one CRM replica answers its health URL.
	CRMUp = "nextflow:crm_up"
	// OllamaUp is 1 while at least one AI node answers its API.
	OllamaUp = "nextflow:ollama_up"
	// VLLMUp is 1 while at least one vLLM pod answers its health check.
	VLLMUp = "nextflow:vllm_up"
)

// The jobs of a stage whose models vLLM serves: its health check through
// the blackbox exporter, and its servers' own metrics.
const (
	VLLMJob        = "vllm"
	VLLMMetricsJob = "vllm-engine"
)

// vllmSlowFirstToken is the time to first token, at the 95th percentile
// over 10 minutes, past which users wait visibly: the plan's slowest
// response (SEED.md: 0.5-2 s).
const vllmSlowFirstToken = 2

// CRMErrorRatio is the recorded share of the window the CRM was down.
func CRMErrorRatio(window string) string { return "nextflow:crm_errors:ratio_rate" + window }

// Rules renders the alert and recording rules of the plan.
func (p *Plan) Rules() ([]byte, error) {
	groups := p.RuleGroups()
	return marshal(struct {
		Groups []Group `yaml:"groups"`
	}{groups})
}

// RuleGroups builds the rule groups: the service level (recorded error
// ratios and the burn-rate alerts for the stage's uptime target), then the
// alerts on each part the stage runs.
func (p *Plan) RuleGroups() []Group {
	budget := 1 - p.UptimeTarget/100
	slo := Group{Name: "nextflow-slo"}
	slo.Rules = append(slo.Rules,
		Rule{Record: CRMUp, Expr: `max without (instance, slot, node) (probe_success{job="crm"})`},
	)
	if _, ok := p.Job(VLLMJob); ok {
		slo.Rules = append(slo.Rules, Rule{Record: VLLMUp, Expr: fmt.Sprintf(`max without (instance, slot, node) (probe_success{job=%q})`, VLLMJob)})
	} else {
		slo.Rules = append(slo.Rules, Rule{Record: OllamaUp, Expr: `max without (instance, slot, node) (probe_success{job="ollama"})`})
	}
	for _, w := range SLIWindows() {
		slo.Rules = append(slo.Rules, Rule{Record: CRMErrorRatio(w), Expr: fmt.Sprintf("1 - avg_over_time(%s[%s])", CRMUp, w)})
	}
	for _, sev := range []string{SeverityPage, SeverityTicket} {
		var conds []string
		var desc []string
		for _, w := range BurnWindows {
			if w.Severity != sev {
				continue
			}
			th := num(w.Factor * budget)
			conds = append(conds, fmt.Sprintf("(%s > %s and %s > %s)", CRMErrorRatio(w.Long), th, CRMErrorRatio(w.Short), th))
			desc = append(desc, fmt.Sprintf("%gx over %s and %s", w.Factor, w.Long, w.Short))
		}
		slo.Rules = append(slo.Rules, Rule{
			Alert: "CRMErrorBudgetBurn", Expr: strings.Join(conds, " or "),
			Labels: map[string]string{"severity": sev},
			Annotations: map[string]string{
				"summary": fmt.Sprintf("The CRM is spending its error budget too fast (%s of the %s %% target)", strings.Join(desc, ", or "), num(p.UptimeTarget)),
				"runbook": "Read the CRM's and its backing parts' alerts; the budget is 30 days of the stage's uptime target.",
			},
		})
	}

	parts := Group{Name: "nextflow-parts"}
	alert := func(name, expr, forDur, sev, summary string) {
		parts.Rules = append(parts.Rules, Rule{Alert: name, Expr: expr, For: forDur,
			Labels: map[string]string{"severity": sev}, Annotations: map[string]string{"summary": summary}})
	}
	alert("CRMDown", CRMUp+" == 0", "2m", SeverityPage, "No CRM replica answers its health URL")
	if _, ok := p.Job(VLLMJob); ok {
		alert("VLLMDown", VLLMUp+" == 0", "5m", SeverityPage, "No AI pod answers vLLM's health check")
	} else {
		alert("OllamaDown", OllamaUp+" == 0", "5m", SeverityPage, "No AI node answers Ollama's API")
	}
	if p.Replicated {
		alert("CRMReplicaDown", `probe_success{job="crm"} == 0`, "5m", SeverityTicket, "CRM replica {{ $labels.instance }} does not answer its health URL")
		alert("OllamaNodeDown", `probe_success{job="ollama"} == 0`, "5m", SeverityTicket, "AI node {{ $labels.instance }} does not answer Ollama's API")
	}
	if _, ok := p.Job(VLLMMetricsJob); ok {
		// vLLM's own metrics (vllm/v1/metrics/loggers.py), labelled by
		// the model's served name.
		alert("VLLMSlowFirstToken", fmt.Sprintf(`histogram_quantile(0.95, sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket{job=%q}[10m]))) > %d`, VLLMMetricsJob, vllmSlowFirstToken), "15m", SeverityTicket,
			fmt.Sprintf("{{ $labels.model_name }} takes more than %d s to its first token for one request in twenty: the AI pods are saturated (raise ai.replicas and cloud.gpuMax)", vllmSlowFirstToken))
		alert("VLLMKVCacheFull", fmt.Sprintf(`max by (pod, model_name) (avg_over_time(vllm:kv_cache_usage_perc{job=%q}[10m])) > 0.95`, VLLMMetricsJob), "15m", SeverityTicket,
			"{{ $labels.model_name }} on {{ $labels.pod }} has held its KV cache over 95 % full for 10 minutes: requests wait or are preempted")
	}
	if _, ok := p.Job(VLLMMetricsJob); ok {
		// A vLLM pod's metrics answer only once its servers run, which
		// its startup probe allows 30 minutes (the weights' download).
		alert("TargetDown", fmt.Sprintf(`up{job!=%q} == 0`, VLLMMetricsJob), "5m", SeverityTicket, "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }}")
		alert("TargetDown", fmt.Sprintf(`up{job=%q} == 0`, VLLMMetricsJob), "35m", SeverityTicket, "Prometheus cannot scrape vLLM's {{ $labels.server }} server at {{ $labels.instance }} for longer than its start may take")
	} else {
		alert("TargetDown", `up == 0`, "5m", SeverityTicket, "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }}")
	}
	alert("PostgresDown", `pg_up == 0`, "1m", SeverityPage, "PostgreSQL at {{ $labels.instance }} does not answer its exporter")
	if p.Replicated {
		alert("PostgresReplicaStopped",
			`(nextflow_pg_streaming_replicas < 1 and on (instance) nextflow_pg_in_recovery == 0)`+
				` or (nextflow_pg_wal_receiver_streaming < 1 and on (instance) nextflow_pg_in_recovery == 1)`,
			"2m", SeverityPage, "PostgreSQL streaming replication has stopped ({{ $labels.instance }}): the replica falls behind and a failover would lose writes")
		alert("PostgresReplicationLag",
			fmt.Sprintf(`nextflow_pg_replication_lag_bytes > %d or nextflow_pg_replay_lag_seconds > 30`, ReplicationLagBytes),
			"5m", SeverityTicket, "The PostgreSQL replica is behind the primary ({{ $value }})")
	}
	alert("RedisDown", `redis_up{job="redis"} == 0`, "1m", SeverityPage, "Redis at {{ $labels.instance }} does not answer its exporter")
	if p.Replicated {
		alert("RedisFailover", `redis_instance_info{job="redis",role="master"} and on (instance) (redis_instance_info{job="redis",role="slave"} offset 10m)`,
			"", SeverityTicket, "Sentinel promoted {{ $labels.instance }}: it was a replica ten minutes ago; check the old primary")
		alert("RedisReplicaDisconnected", `max without (instance) (redis_connected_slaves{job="redis"}) < 1`, "2m", SeverityTicket, "The Redis primary has no connected replica")
	}
	alert("QdrantDown", `up{job="qdrant"} == 0`, "2m", SeverityPage, "Qdrant at {{ $labels.instance }} does not answer")
	if _, ok := p.Job("tunnel"); ok {
		// Any connected replica serves the hostname; no series at all (every
		// cloudflared gone) counts as none connected.
		alert("TunnelDisconnected", `(max(cloudflared_tunnel_ha_connections{job="tunnel"}) or vector(0)) < 1`, "2m", SeverityPage,
			"cloudflared has no connection to Cloudflare's edge: the public hostname does not reach the CRM")
	}
	if _, ok := p.Job("nginx"); ok {
		alert("NginxDown", `nginx_up == 0`, "1m", SeverityPage, "nginx at {{ $labels.instance }} does not answer its exporter")
	}
	if _, ok := p.Job("ollama-sli"); ok {
		alert("OllamaProbeFailing", fmt.Sprintf(`avg_over_time(%s[15m]) < 0.5`, ProbeSuccess), "", SeverityTicket,
			"Most probe generations on {{ $labels.target }} failed in the last 15 minutes: users' AI requests fail or time out")
		alert("OllamaQueueFull", fmt.Sprintf(`max_over_time(%s[10m]) == 1`, ProbeQueueFull), "10m", SeverityTicket,
			"Ollama on {{ $labels.target }} answers 503: its request queue is full (raise ai.parallel or add AI nodes)")
		if p.GPU {
			alert("OllamaModelOffGPU", fmt.Sprintf(`%s / %s < 0.95`, ModelVRAM, ModelSize), "15m", SeverityTicket,
				"{{ $labels.model }} on {{ $labels.target }} is not wholly in GPU memory: part of it runs on the CPU, far slower")
		}
	}
	for _, k := range p.Backups {
		// Every node's exporter reports the files its node's backup jobs
		// wrote: the newest counts.
		alert("BackupTooOld", fmt.Sprintf(`(time() - max by (kind) (%s{kind=%q}) > 86400) or absent(%s{kind=%q})`, BackupMetric, k, BackupMetric, k),
			"30m", SeverityTicket, fmt.Sprintf("The last successful %s backup is more than a day old, or none has reported", k))
	}
	for _, k := range p.BackupCronJobs {
		// kube-state-metrics reports a CronJob's last success (a
		// completion time) once it has one; before that, a CronJob older
		// than the slack counts as failing; no CronJob reported at all
		// (gone, or nothing reports it) counts as failing too.
		sel := fmt.Sprintf(`{namespace=%q,cronjob=%q}`, CronJobNamespace, BackupCronJob(k))
		alert("BackupTooOld", fmt.Sprintf(`label_replace((time() - max(kube_cronjob_status_last_successful_time%[1]s) > %[2]d) or (max(absent(kube_cronjob_status_last_successful_time%[1]s)) and on () (time() - max(kube_cronjob_created%[1]s) > %[2]d)) or max(absent(kube_cronjob_created%[1]s)), "kind", %[3]q, "", "")`, sel, backupCronSlack, k),
			"30m", SeverityTicket, fmt.Sprintf("The last successful %s backup is more than a day old, or none has succeeded: see `kubectl -n %s get jobs`", k, CronJobNamespace))
	}
	fs := `node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs|nsfs"}`
	size := `node_filesystem_size_bytes{fstype!~"tmpfs|overlay|squashfs|nsfs"}`
	alert("DiskAlmostFull", fmt.Sprintf(`%s / %s < 0.10`, fs, size), "15m", SeverityPage, "{{ $labels.mountpoint }} has less than 10 % free")
	alert("DiskFillingUp", fmt.Sprintf(`predict_linear(%s[6h], 86400) < 0 and %s / %s < 0.40`, fs, fs, size), "1h", SeverityTicket,
		"{{ $labels.mountpoint }} fills up within a day at the last six hours' rate")
	if p.GPU {
		full, why := 0.95, "Ollama will swap models or fall back to the CPU"
		if p.VLLMGPUUse > 0 {
			// vLLM holds its shares and CUDA contexts from the start.
			full = math.Ceil((p.VLLMGPUUse+0.02)*100) / 100
			why = fmt.Sprintf("vLLM's processes hold about %.0f %% by design (their shares and CUDA contexts), so something else holds the rest", p.VLLMGPUUse*100)
		}
		alert("GPUMemoryFull", fmt.Sprintf(`DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) > %s`, num(full)), "15m", SeverityTicket,
			fmt.Sprintf("GPU {{ $labels.gpu }} on {{ $labels.instance }} has used over %s %% of its memory for 15 minutes: %s", num(full*100), why))
	}
	return []Group{slo, parts}
}

// ReplicationLagBytes is the replica lag that opens a ticket: 64 MiB of WAL.
const ReplicationLagBytes = 64 << 20

// backupCronSlack is how old a CronJob's last success may be: a day, the
// hour a run may start late (startingDeadlineSeconds) and the six it may
// take (activeDeadlineSeconds), as the cloud's backup CronJob sets them.
const backupCronSlack = (24 + 1 + 6) * 3600

// BackupMetric is the gauge each backup job writes for the node exporter's
// textfile collector: the Unix time of its last success, by kind.
const BackupMetric = "nextflow_backup_last_success_timestamp_seconds"

func num(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
