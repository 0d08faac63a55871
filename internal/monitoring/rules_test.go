package monitoring

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// promtool's rule unit test format.
type ruleTests struct {
	RuleFiles          []string   `yaml:"rule_files"`
	EvaluationInterval string     `yaml:"evaluation_interval"`
	Tests              []ruleTest `yaml:"tests"`
}

type ruleTest struct {
	Name     string   `yaml:"name"`
	Interval string   `yaml:"interval"`
	Series   []series `yaml:"input_series"`
	Alerts   []alertT `yaml:"alert_rule_test"`
	PromQL   []exprT  `yaml:"promql_expr_test,omitempty"`
}

// exprT is a PromQL expression promtool evaluates, with the samples it
// must return.
type exprT struct {
	Expr     string    `yaml:"expr"`
	EvalTime string    `yaml:"eval_time"`
	Exp      []expSamp `yaml:"exp_samples"`
}

type expSamp struct {
	Labels string  `yaml:"labels"`
	Value  float64 `yaml:"value"`
}

type series struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertT struct {
	EvalTime  string     `yaml:"eval_time"`
	Alertname string     `yaml:"alertname"`
	Exp       []expAlert `yaml:"exp_alerts"`
}

type expAlert struct {
	Labels      map[string]string `yaml:"exp_labels"`
	Annotations map[string]string `yaml:"exp_annotations"`
}

// firing is the alert the plan's rule name with severity sev fires with
// labels; annotations come from the rule, with {{ $labels.x }} filled in.
func firing(t *testing.T, p *Plan, name, sev string, labels map[string]string) expAlert {
	t.Helper()
	for _, g := range p.RuleGroups() {
		for _, r := range g.Rules {
			if r.Alert != name || r.Labels["severity"] != sev {
				continue
			}
			l := map[string]string{"severity": sev}
			for k, v := range labels {
				l[k] = v
			}
			a := map[string]string{}
			for k, v := range r.Annotations {
				for lk, lv := range l {
					v = strings.ReplaceAll(v, "{{ $labels."+lk+" }}", lv)
				}
				a[k] = v
			}
			return expAlert{Labels: l, Annotations: a}
		}
	}
	t.Fatalf("the plan has no alert %s with severity %s", name, sev)
	return expAlert{}
}

// runRuleTests runs promtool test rules on the plan's rendered rules.
func runRuleTests(t *testing.T, p *Plan, tests []ruleTest) {
	t.Helper()
	runRuleTestsEvery(t, p, "30s", tests)
}

// runRuleTestsEvery evaluates the rules every interval.
func runRuleTestsEvery(t *testing.T, p *Plan, interval string, tests []ruleTest) {
	t.Helper()
	dir := write(t, p)
	data, err := yaml.Marshal(ruleTests{RuleFiles: []string{RulesFile}, EvaluationInterval: interval, Tests: tests})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tests.yml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, dir, "test", "rules", "tests.yml")
}

// updown is a probe series: up for upMin minutes, then down for downMin.
func updown(upMin, downMin int) string {
	s := fmt.Sprintf("1x%d", upMin*2)
	if downMin > 0 {
		s += fmt.Sprintf(" 0x%d", downMin*2)
	}
	return s
}

// The burn-rate alerts page on a fast burn, open a ticket on a slow one,
// and stay quiet on a blip, at the server's 99.5 % target (budget 0.5 %:
// a page above 7.2 % of the last hour down, a ticket above 1.5 % of the
// day and of the last two hours).
func TestBurnRateAlerts(t *testing.T) {
	t.Parallel()
	p := serverPlan(t)
	crm := func(up, down int) []series {
		return []series{
			{Series: `probe_success{job="crm",instance="10.0.1.5:3000",slot="1"}`, Values: updown(up, down)},
			{Series: `probe_success{job="crm",instance="10.0.1.6:3000",slot="2"}`, Values: updown(up, down)},
		}
	}
	job := map[string]string{"job": "crm"}
	// Three days of history, evaluated every minute: the slowest window's.
	runRuleTestsEvery(t, p, "1m", []ruleTest{{
		Name: "a one-minute blip after three good days: no alert", Interval: "1m",
		Series: []series{{Series: `probe_success{job="crm",instance="10.0.1.5:3000",slot="1"}`, Values: "1x4320 0 1x5"}},
		Alerts: []alertT{
			{EvalTime: "4321m", Alertname: "CRMErrorBudgetBurn"},
			{EvalTime: "4325m", Alertname: "CRMErrorBudgetBurn"},
		},
	}})
	runRuleTests(t, p, []ruleTest{
		{
			// 3 of the last 60 minutes (5 %) pages nothing; 3 of 123 minutes
			// (2.4 %) over the day and the last two hours opens a ticket.
			Name: "three minutes down: a ticket", Interval: "30s", Series: crm(120, 3),
			Alerts: []alertT{{EvalTime: "123m", Alertname: "CRMErrorBudgetBurn", Exp: []expAlert{firing(t, p, "CRMErrorBudgetBurn", SeverityTicket, job)}}},
		},
		{
			Name: "eight minutes down: a page and a ticket", Interval: "30s", Series: crm(120, 8),
			Alerts: []alertT{{EvalTime: "128m", Alertname: "CRMErrorBudgetBurn", Exp: []expAlert{
				firing(t, p, "CRMErrorBudgetBurn", SeverityPage, job), firing(t, p, "CRMErrorBudgetBurn", SeverityTicket, job)}}},
		},
		{
			// One replica of two down: users are served (nginx skips it),
			// the replica is a ticket and the budget is not touched.
			Name: "one replica down", Interval: "30s",
			Series: []series{
				{Series: `probe_success{job="crm",instance="10.0.1.5:3000",slot="1"}`, Values: updown(120, 0)},
				{Series: `probe_success{job="crm",instance="10.0.1.6:3000",slot="2"}`, Values: updown(100, 20)},
			},
			Alerts: []alertT{
				{EvalTime: "120m", Alertname: "CRMErrorBudgetBurn"},
				{EvalTime: "120m", Alertname: "CRMDown"},
				{EvalTime: "120m", Alertname: "CRMReplicaDown", Exp: []expAlert{firing(t, p, "CRMReplicaDown", SeverityTicket,
					map[string]string{"job": "crm", "instance": "10.0.1.6:3000", "slot": "2"})}},
			},
		},
		{
			Name: "every replica down: CRMDown after two minutes", Interval: "30s", Series: crm(30, 10),
			Alerts: []alertT{
				{EvalTime: "31m", Alertname: "CRMDown"},
				{EvalTime: "33m", Alertname: "CRMDown", Exp: []expAlert{firing(t, p, "CRMDown", SeverityPage, job)}},
			},
		},
	})
}

// The cloud's 99.99 % target pages on far less: 1 minute of an hour is
// 1.7 %, past 14.4 x 0.01 %.
func TestBurnRateFollowsTheStageTarget(t *testing.T) {
	p := plan(t, "cloud", Settings{})
	if p.UptimeTarget != 99.99 {
		t.Fatalf("cloud target %v", p.UptimeTarget)
	}
	runRuleTests(t, p, []ruleTest{{
		Name: "one minute down pages on the cloud", Interval: "30s",
		Series: []series{{Series: `probe_success{job="crm",instance="crm:3000"}`, Values: updown(120, 1)}},
		Alerts: []alertT{{EvalTime: "121m", Alertname: "CRMErrorBudgetBurn", Exp: []expAlert{
			firing(t, p, "CRMErrorBudgetBurn", SeverityPage, map[string]string{"job": "crm"}),
			firing(t, p, "CRMErrorBudgetBurn", SeverityTicket, map[string]string{"job": "crm"})}}},
	}})
}

// The data services' alerts on the server: a stopped replica, a lagging
// one, a Sentinel failover, an old backup.
func TestDataAlerts(t *testing.T) {
	p := serverPlan(t)
	pri := `instance="postgres-primary-exporter:9187",job="postgres"`
	rep := `instance="postgres-replica-exporter:9187",job="postgres"`
	runRuleTests(t, p, []ruleTest{
		{
			Name: "the replica stops streaming", Interval: "30s",
			Series: []series{
				{Series: "nextflow_pg_in_recovery{" + pri + "}", Values: "0x40"},
				{Series: "nextflow_pg_streaming_replicas{" + pri + "}", Values: "1x10 0x30"},
				{Series: "nextflow_pg_in_recovery{" + rep + "}", Values: "1x40"},
				{Series: "nextflow_pg_wal_receiver_streaming{" + rep + "}", Values: "1x10 0x30"},
			},
			Alerts: []alertT{
				{EvalTime: "6m", Alertname: "PostgresReplicaStopped"},
				{EvalTime: "8m", Alertname: "PostgresReplicaStopped", Exp: []expAlert{
					firing(t, p, "PostgresReplicaStopped", SeverityPage, map[string]string{"instance": "postgres-primary-exporter:9187", "job": "postgres"}),
					firing(t, p, "PostgresReplicaStopped", SeverityPage, map[string]string{"instance": "postgres-replica-exporter:9187", "job": "postgres"}),
				}},
			},
		},
		{
			Name: "the replica lags 100 MiB for five minutes", Interval: "30s",
			Series: []series{{Series: "nextflow_pg_replication_lag_bytes{" + pri + "}", Values: "0x10 104857600x20"}},
			Alerts: []alertT{
				{EvalTime: "9m", Alertname: "PostgresReplicationLag"},
				{EvalTime: "11m", Alertname: "PostgresReplicationLag", Exp: []expAlert{{
					Labels:      map[string]string{"severity": SeverityTicket, "instance": "postgres-primary-exporter:9187", "job": "postgres"},
					Annotations: map[string]string{"summary": "The PostgreSQL replica is behind the primary (1.048576e+08)"},
				}}},
			},
		},
		{
			Name: "Sentinel promotes the replica", Interval: "1m",
			Series: []series{
				{Series: `redis_instance_info{job="redis",instance="redis-replica-exporter:9121",role="slave"}`, Values: "1x20 _x20"},
				{Series: `redis_instance_info{job="redis",instance="redis-replica-exporter:9121",role="master"}`, Values: "_x20 1x20"},
			},
			Alerts: []alertT{
				{EvalTime: "19m", Alertname: "RedisFailover"},
				{EvalTime: "22m", Alertname: "RedisFailover", Exp: []expAlert{firing(t, p, "RedisFailover", SeverityTicket,
					map[string]string{"job": "redis", "instance": "redis-replica-exporter:9121", "role": "master"})}},
				// Ten minutes on (and the lookback past), the new primary is the normal state.
				{EvalTime: "40m", Alertname: "RedisFailover"},
			},
		},
	})
	runRuleTestsEvery(t, p, "5m", []ruleTest{{
		// Backups run nightly: a day and a half since the last postgres
		// success opens a ticket; the others reported an hour ago.
		Name: "a backup older than a day", Interval: "5m",
		Series: backupSeries(p, 129600, 3600),
		Alerts: []alertT{{EvalTime: "48h", Alertname: "BackupTooOld", Exp: []expAlert{firing(t, p, "BackupTooOld", SeverityTicket,
			map[string]string{"kind": "postgres"})}}},
	}, {
		// The job moved nodes: the old node still holds its old file, the
		// new one a fresh success. The newest counts.
		Name: "a backup job that moved to another node", Interval: "5m",
		Series: append(backupSeries(p, 129600, 3600), series{
			Series: fmt.Sprintf(`%s{kind="postgres",instance="10.0.1.7:9100",job="node"}`, BackupMetric), Values: fmt.Sprintf("%dx600", 2*86400-3600)}),
		Alerts: []alertT{{EvalTime: "48h", Alertname: "BackupTooOld"}},
	}, {
		Name: "a backup kind that never reported", Interval: "5m",
		Series: backupSeries(p, 3600, 3600)[1:],
		Alerts: []alertT{{EvalTime: "1h", Alertname: "BackupTooOld", Exp: []expAlert{firing(t, p, "BackupTooOld", SeverityTicket,
			map[string]string{"kind": "postgres"})}}},
	}})
}

// The tunnel alerts when no cloudflared replica holds a connection to the
// edge, or none reports at all; one replica of two down does not page.
func TestTunnelAlert(t *testing.T) {
	p := serverPlan(t)
	a := `instance="10.0.0.5:2000",job="tunnel"`
	b := `instance="10.0.0.6:2000",job="tunnel"`
	runRuleTests(t, p, []ruleTest{{
		Name: "one replica of two disconnected", Interval: "1m",
		Series: []series{{Series: "cloudflared_tunnel_ha_connections{" + a + "}", Values: "4x20"}, {Series: "cloudflared_tunnel_ha_connections{" + b + "}", Values: "4x5 0x15"}},
		Alerts: []alertT{{EvalTime: "15m", Alertname: "TunnelDisconnected"}},
	}, {
		Name: "both disconnected", Interval: "1m",
		Series: []series{{Series: "cloudflared_tunnel_ha_connections{" + a + "}", Values: "4x5 0x15"}, {Series: "cloudflared_tunnel_ha_connections{" + b + "}", Values: "4x5 0x15"}},
		Alerts: []alertT{{EvalTime: "15m", Alertname: "TunnelDisconnected", Exp: []expAlert{firing(t, p, "TunnelDisconnected", SeverityPage, map[string]string{})}}},
	}, {
		Name: "every cloudflared gone", Interval: "1m",
		Series: []series{{Series: "cloudflared_tunnel_ha_connections{" + a + "}", Values: "4x5 _x15"}},
		Alerts: []alertT{{EvalTime: "15m", Alertname: "TunnelDisconnected", Exp: []expAlert{firing(t, p, "TunnelDisconnected", SeverityPage, map[string]string{})}}},
	}})
}

// Ollama's service level from the probe: most probes failing, a full
// queue, a model spilling out of GPU memory open tickets; one failed probe
// in fifteen minutes does not.
func TestOllamaAlerts(t *testing.T) {
	p := serverPlan(t)
	tg := `instance="ollama-probe:9800",job="ollama-sli",target="ollama-1"`
	runRuleTests(t, p, []ruleTest{{
		Name: "the probes fail", Interval: "1m",
		Series: []series{{Series: ProbeSuccess + "{" + tg + "}", Values: "1x30 0 1x14 0x20"}},
		Alerts: []alertT{
			{EvalTime: "40m", Alertname: "OllamaProbeFailing"},
			{EvalTime: "60m", Alertname: "OllamaProbeFailing", Exp: []expAlert{firing(t, p, "OllamaProbeFailing", SeverityTicket,
				map[string]string{"instance": "ollama-probe:9800", "job": "ollama-sli", "target": "ollama-1"})}},
		},
	}, {
		Name: "the queue is full", Interval: "1m",
		Series: []series{{Series: ProbeQueueFull + "{" + tg + "}", Values: "0x10 1x30"}},
		Alerts: []alertT{
			{EvalTime: "15m", Alertname: "OllamaQueueFull"},
			{EvalTime: "25m", Alertname: "OllamaQueueFull", Exp: []expAlert{firing(t, p, "OllamaQueueFull", SeverityTicket,
				map[string]string{"instance": "ollama-probe:9800", "job": "ollama-sli", "target": "ollama-1"})}},
		},
	}, {
		Name: "a model spills to the CPU", Interval: "1m",
		Series: []series{
			{Series: ModelSize + "{" + tg + `,model="llama3.1:8b"}`, Values: "6654289920x40"},
			{Series: ModelVRAM + "{" + tg + `,model="llama3.1:8b"}`, Values: "6654289920x10 4294967296x30"},
		},
		Alerts: []alertT{
			{EvalTime: "10m", Alertname: "OllamaModelOffGPU"},
			{EvalTime: "30m", Alertname: "OllamaModelOffGPU", Exp: []expAlert{firing(t, p, "OllamaModelOffGPU", SeverityTicket,
				map[string]string{"instance": "ollama-probe:9800", "job": "ollama-sli", "target": "ollama-1", "model": "llama3.1:8b"})}},
		},
	}})
}

// backupSeries has, at the test's 48 h, the postgres backup's last success
// ageFirst seconds old, the others' ageOthers.
func backupSeries(p *Plan, ageFirst, ageOthers int) []series {
	const now = 2 * 86400
	var out []series
	for i, k := range p.Backups {
		age := ageOthers
		if i == 0 {
			age = ageFirst
		}
		// The gauge holds a timestamp; time() in the test starts at 0.
		out = append(out, series{Series: fmt.Sprintf(`%s{kind=%q,instance="node-exporter:9100",job="node"}`, BackupMetric, k), Values: fmt.Sprintf("%dx600", now-age)})
	}
	return out
}

// The cloud's Qdrant backup is a CronJob: kube-state-metrics' record of
// its last success ages like the server's gauge, and a CronJob that never
// succeeded is an alert only once it has had a day to.
func TestCloudBackupAlert(t *testing.T) {
	p := plan(t, "cloud", Settings{Alertmanager: true})
	if len(p.BackupCronJobs) != 1 || p.BackupCronJobs[0] != "qdrant" || len(p.Backups) != 0 {
		t.Fatalf("cloud backups: cron %v, node %v", p.BackupCronJobs, p.Backups)
	}
	const now = 2 * 86400
	sel := fmt.Sprintf(`{namespace=%q,cronjob=%q,job="kube-state-metrics"}`, CronJobNamespace, BackupCronJob("qdrant"))
	success := func(age int) series {
		return series{Series: "kube_cronjob_status_last_successful_time" + sel, Values: fmt.Sprintf("%dx600", now-age)}
	}
	created := func(age int) series {
		return series{Series: "kube_cronjob_created" + sel, Values: fmt.Sprintf("%dx600", now-age)}
	}
	fires := []expAlert{firing(t, p, "BackupTooOld", SeverityTicket, map[string]string{"kind": "qdrant"})}
	runRuleTestsEvery(t, p, "5m", []ruleTest{
		{Name: "last success 32 hours ago", Interval: "5m", Series: []series{success(32 * 3600), created(90 * 86400)},
			Alerts: []alertT{{EvalTime: "48h", Alertname: "BackupTooOld", Exp: fires}}},
		// Yesterday's run finished early, today's starts late and runs long.
		{Name: "last success 29 hours ago", Interval: "5m", Series: []series{success(29 * 3600), created(90 * 86400)},
			Alerts: []alertT{{EvalTime: "48h", Alertname: "BackupTooOld"}}},
		{Name: "no CronJob reported at all", Interval: "5m", Series: []series{{Series: `up{job="kube-state-metrics"}`, Values: "1x600"}},
			Alerts: []alertT{{EvalTime: "48h", Alertname: "BackupTooOld", Exp: fires}}},
		{Name: "last success an hour ago", Interval: "5m", Series: []series{success(3600), created(90 * 86400)},
			Alerts: []alertT{{EvalTime: "48h", Alertname: "BackupTooOld"}}},
		{Name: "never succeeded, created two hours ago", Interval: "5m", Series: []series{created(2 * 3600)},
			Alerts: []alertT{{EvalTime: "48h", Alertname: "BackupTooOld"}}},
		{Name: "never succeeded in 32 hours", Interval: "5m", Series: []series{created(32 * 3600)},
			Alerts: []alertT{{EvalTime: "48h", Alertname: "BackupTooOld", Exp: fires}}},
	})
}
