package monitoring

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/yamlenc"
)

// The files of a stage's monitoring, by name. Prometheus reads the rules
// and nothing else relative to its config file's directory.
const (
	PrometheusFile   = "prometheus.yml"
	RulesFile        = "nextflow.rules.yml"
	BlackboxFile     = "blackbox.yml"
	PostgresQueries  = "postgres-queries.yml"
	AlertmanagerFile = "alertmanager.yml"
)

// Files renders every file of the plan, by name.
func (p *Plan) Files() (map[string][]byte, error) {
	out := map[string][]byte{}
	var err error
	if out[PrometheusFile], err = p.PrometheusConfig(); err != nil {
		return nil, err
	}
	if out[RulesFile], err = p.Rules(); err != nil {
		return nil, err
	}
	out[BlackboxFile] = []byte(blackboxConfig)
	out[PostgresQueries] = []byte(postgresQueries)
	if p.Alertmanager != "" {
		out[AlertmanagerFile] = []byte(alertmanagerConfig)
	}
	if _, ok := p.Job("ollama-sli"); ok {
		out[ProbeFile] = ProbeScript()
	}
	if out[DashboardFile], err = p.DashboardJSON(); err != nil {
		return nil, err
	}
	for name, data := range p.GrafanaFiles(GrafanaPrometheus) {
		out[name] = data
	}
	return out, nil
}

type promConfig struct {
	Global struct {
		ScrapeInterval     string            `yaml:"scrape_interval"`
		EvaluationInterval string            `yaml:"evaluation_interval"`
		ExternalLabels     map[string]string `yaml:"external_labels"`
	} `yaml:"global"`
	RuleFiles     []string        `yaml:"rule_files"`
	Alerting      *alerting       `yaml:"alerting,omitempty"`
	ScrapeConfigs []*scrapeConfig `yaml:"scrape_configs"`
}

type alerting struct {
	Alertmanagers []struct {
		StaticConfigs []staticConfig `yaml:"static_configs"`
	} `yaml:"alertmanagers"`
}

type staticConfig struct {
	Targets []string `yaml:"targets"`
}

type swarmSD struct {
	Host string `yaml:"host"`
	Role string `yaml:"role"`
	Port int    `yaml:"port"`
}

type relabel struct {
	SourceLabels []string `yaml:"source_labels,omitempty"`
	Regex        string   `yaml:"regex,omitempty"`
	TargetLabel  string   `yaml:"target_label,omitempty"`
	Replacement  string   `yaml:"replacement,omitempty"`
	Action       string   `yaml:"action,omitempty"`
}

type scrapeConfig struct {
	JobName       string              `yaml:"job_name"`
	MetricsPath   string              `yaml:"metrics_path,omitempty"`
	Params        map[string][]string `yaml:"params,omitempty"`
	StaticConfigs []staticConfig      `yaml:"static_configs,omitempty"`
	SwarmSD       []swarmSD           `yaml:"dockerswarm_sd_configs,omitempty"`
	Relabel       []relabel           `yaml:"relabel_configs,omitempty"`
	Authorization *authorization      `yaml:"authorization,omitempty"`
}

// authorization is a scrape's Authorization header: type Bearer (the
// default), the credentials read from a file at each scrape.
type authorization struct {
	CredentialsFile string `yaml:"credentials_file"`
}

// DockerSocket is where Prometheus reads the Swarm's tasks on a manager.
const DockerSocket = "unix:///var/run/docker.sock"

// PrometheusConfig renders prometheus.yml.
func (p *Plan) PrometheusConfig() ([]byte, error) {
	var c promConfig
	c.Global.ScrapeInterval = promDuration(p.Interval)
	c.Global.EvaluationInterval = promDuration(p.Interval)
	c.Global.ExternalLabels = map[string]string{"stage": string(p.Stage)}
	c.RuleFiles = []string{RulesFile}
	if p.Alertmanager != "" {
		c.Alerting = &alerting{}
		c.Alerting.Alertmanagers = append(c.Alerting.Alertmanagers, struct {
			StaticConfigs []staticConfig `yaml:"static_configs"`
		}{[]staticConfig{{Targets: []string{p.Alertmanager}}}})
	}
	for _, j := range p.Jobs {
		sc := &scrapeConfig{JobName: j.Name, MetricsPath: j.MetricsPath}
		if j.Secret != "" {
			sc.Authorization = &authorization{CredentialsFile: model.SecretUse{Secret: j.Secret}.Path()}
		}
		if j.Swarm != "" {
			if p.Stack == "" {
				return nil, fmt.Errorf("monitoring: job %s discovers Swarm tasks but the plan names no stack", j.Name)
			}
			sc.SwarmSD = []swarmSD{{Host: DockerSocket, Role: "tasks", Port: j.SwarmPort}}
			network := j.SwarmNetwork
			if network == "" {
				network = model.NetBackend
			}
			sc.Relabel = append(sc.Relabel,
				relabel{SourceLabels: []string{"__meta_dockerswarm_service_name"}, Regex: regexp.QuoteMeta(p.Stack + "_" + j.Swarm), Action: "keep"},
				relabel{SourceLabels: []string{"__meta_dockerswarm_task_desired_state"}, Regex: "running", Action: "keep"},
				// A task is on several networks: scrape it on the one Prometheus shares.
				relabel{SourceLabels: []string{"__meta_dockerswarm_network_name"}, Regex: regexp.QuoteMeta(p.Stack + "_" + network), Action: "keep"},
				relabel{SourceLabels: []string{"__meta_dockerswarm_task_slot"}, TargetLabel: "slot"},
				relabel{SourceLabels: []string{"__meta_dockerswarm_node_hostname"}, TargetLabel: "node"},
			)
		} else {
			sc.StaticConfigs = []staticConfig{{Targets: j.Targets}}
		}
		if j.Module != "" {
			sc.MetricsPath = "/probe"
			sc.Params = map[string][]string{"module": {j.Module}}
			sc.Relabel = append(sc.Relabel,
				relabel{SourceLabels: []string{"__address__"}, TargetLabel: "__param_target", Replacement: "http://${1}" + j.Path},
				relabel{SourceLabels: []string{"__address__"}, TargetLabel: "instance"},
				relabel{TargetLabel: "__address__", Replacement: j.Prober},
			)
		}
		c.ScrapeConfigs = append(c.ScrapeConfigs, sc)
	}
	return marshal(&c)
}

func marshal(v any) ([]byte, error) {
	b, err := yamlenc.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte("# Rendered by nfx from the stage's model; edit the config, not this file.\n"), b...), nil
}

// promDuration writes d in Prometheus's duration syntax (days, hours,
// minutes, seconds).
func promDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		d time.Duration
		s string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.s)
			d -= n * u.d
		}
	}
	if b.Len() == 0 {
		return "1s"
	}
	return b.String()
}

// RetentionFlag is Prometheus's --storage.tsdb.retention.time value.
func (p *Plan) RetentionFlag() string { return promDuration(p.Retention) }

// RetentionSizeFlag is Prometheus's --storage.tsdb.retention.size value
// (its GB are GiB), "" when the plan sets no size.
func (p *Plan) RetentionSizeFlag() string {
	if p.RetentionSize <= 0 {
		return ""
	}
	if p.RetentionSize%model.GiB == 0 {
		return fmt.Sprintf("%dGB", p.RetentionSize/model.GiB)
	}
	return fmt.Sprintf("%dMB", max(p.RetentionSize/model.MiB, 1))
}

// RetentionShare is the part of Prometheus's volume its samples may
// take; the write-ahead log and compaction need the rest.
const RetentionShare = 0.85

// VolumeRetention is the retention size for a volume of v bytes.
func VolumeRetention(v model.Bytes) model.Bytes {
	return model.Bytes(float64(v)*RetentionShare) / model.MiB * model.MiB
}

// blackboxConfig has the modules the probes use: an HTTP GET that must
// answer 2xx, over IPv4 (the stages' networks have no IPv6).
const blackboxConfig = `# Rendered by nfx.
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: []
      follow_redirects: false
`

// postgresQueries are nfx's queries for postgres_exporter
// (--extend.query-path): replication seen from both ends, the same on
// every PostgreSQL major nfx runs.
const postgresQueries = `# Rendered by nfx: replication, from both ends.
nextflow_pg:
  query: |
    SELECT pg_is_in_recovery()::int AS in_recovery,
           (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming') AS streaming_replicas,
           CASE WHEN pg_is_in_recovery() THEN 0
                ELSE COALESCE((SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)) FROM pg_stat_replication), 0)
           END AS replication_lag_bytes,
           CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
           END AS replay_lag_seconds,
           (SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming') AS wal_receiver_streaming
  metrics:
    - in_recovery:
        usage: GAUGE
        description: "1 on a streaming replica, 0 on the primary"
    - streaming_replicas:
        usage: GAUGE
        description: "Replicas streaming from this server"
    - replication_lag_bytes:
        usage: GAUGE
        description: "WAL bytes the slowest replica has not replayed (on the primary)"
    - replay_lag_seconds:
        usage: GAUGE
        description: "Age of the last replayed transaction while WAL is pending (on a replica)"
    - wal_receiver_streaming:
        usage: GAUGE
        description: "1 while this replica's WAL receiver streams from the primary"
`

// alertmanagerConfig routes every alert to the one receiver a team points
// at its pager or chat (a webhook), grouped by alert and stage; a page
// also silences the ticket alert of the same objective.
const alertmanagerConfig = `# Rendered by nfx. Point the receiver at your pager or chat.
route:
  receiver: team
  group_by: [alertname, stage]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="page"']
      receiver: team
      repeat_interval: 1h
receivers:
  - name: team
inhibit_rules:
  - source_matchers: ['severity="page"']
    target_matchers: ['severity="ticket"']
    equal: [alertname, stage]
`
