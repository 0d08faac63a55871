// Package monsvc is what the self-hosted stages' monitoring services run,
// the same on Compose and on Swarm: each exporter's image, command,
// environment, secrets and health check, and the plan's files they mount.
// A stage adds what differs: networks, ports, volumes and placement.
package monsvc

import (
	"fmt"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/stacks/internal/composex"
)

// Plan is the monitoring of the app's stage with its configured interval
// and retention; swarm names the Swarm stack whose tasks it discovers.
func Plan(app *model.App, swarm string) (*monitoring.Plan, error) {
	c := app.Config
	prof, err := model.ProfileOf(c.Stage)
	if err != nil {
		return nil, err
	}
	return monitoring.For(app, monitoring.Settings{
		Interval:      time.Duration(c.Monitoring.ScrapeSeconds) * time.Second,
		Retention:     time.Duration(c.Monitoring.RetentionDays) * 24 * time.Hour,
		RetentionSize: monitoring.VolumeRetention(model.PrometheusVolume(c)),
		Alertmanager:  prof.Replicated,
		Swarm:         swarm,
	})
}

// ConfigKey is the name of the config holding one of the plan's files.
func ConfigKey(file string) string {
	return "monitoring_" + strings.NewReplacer(".", "_", "-", "_").Replace(file)
}

// Mount adds one of the plan's files to a service at target.
type Mount func(svc *types.ServiceConfig, file, target string)

// Paths inside the monitoring's containers.
const (
	PrometheusData   = "/prometheus"
	AlertmanagerData = "/alertmanager"
	// GrafanaData is Grafana's database and plugins (GF_PATHS_DATA).
	GrafanaData = "/var/lib/grafana"
	// TextfileDir is where the node exporter reads the metrics files
	// other jobs write (the backups' last success).
	TextfileDir = "/textfile"
	probeDir    = "/tmp/ollama-probe"
)

func monitorHealth(cmd string) *types.HealthCheckConfig {
	return composex.HealthCheck(model.Health{Shell: cmd, Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: 30 * time.Second})
}

// Wget is a monitoring service's health check on its own HTTP port, by
// the busybox wget of the Prometheus project's images and of Alpine.
func Wget(port int, path string) *types.HealthCheckConfig {
	return monitorHealth(fmt.Sprintf("wget -qO- http://127.0.0.1:%d%s >/dev/null", port, path))
}

// Apply sets what the monitoring service in runs: image, command,
// environment, secrets, health check and the plan's files it reads.
func Apply(svc *types.ServiceConfig, in model.Instance, plan *monitoring.Plan, c *model.Config, mount Mount) error {
	watches := map[string]string{}
	for _, e := range plan.Exporters {
		watches[e.Name] = e.Watches
	}
	health := monitorHealth
	wget := Wget
	svc.Image = monitoring.Images[in.Exporter]
	switch in.Exporter {
	case "prometheus":
		svc.Command = types.ShellCommand{
			"--config.file=/etc/prometheus/" + monitoring.PrometheusFile,
			"--storage.tsdb.path=" + PrometheusData,
			"--storage.tsdb.retention.time=" + plan.RetentionFlag(),
			"--storage.tsdb.retention.size=" + plan.RetentionSizeFlag(),
			fmt.Sprintf("--web.listen-address=:%d", monitoring.PrometheusPort),
		}
		mount(svc, monitoring.PrometheusFile, "/etc/prometheus/"+monitoring.PrometheusFile)
		mount(svc, monitoring.RulesFile, "/etc/prometheus/"+monitoring.RulesFile)
		// The credentials of the targets that ask for them.
		for _, j := range plan.Jobs {
			if j.Secret != "" {
				svc.Secrets = append(svc.Secrets, types.ServiceSecretConfig{Source: j.Secret, Target: j.Secret})
			}
		}
		svc.HealthCheck = wget(monitoring.PrometheusPort, "/-/ready")
	case "alertmanager":
		svc.Command = types.ShellCommand{
			"--config.file=/etc/alertmanager/" + monitoring.AlertmanagerFile,
			"--storage.path=" + AlertmanagerData,
			fmt.Sprintf("--web.listen-address=:%d", monitoring.AlertmanagerPort),
			// One Alertmanager: no gossip port.
			"--cluster.listen-address=",
		}
		mount(svc, monitoring.AlertmanagerFile, "/etc/alertmanager/"+monitoring.AlertmanagerFile)
		svc.HealthCheck = wget(monitoring.AlertmanagerPort, "/-/ready")
	case "node":
		// The host's filesystems, read-only, for the disk alerts. A stage
		// that mounts a textfile directory adds the flag with the mount:
		// pointed at a missing directory, the collector fails every scrape.
		svc.Command = types.ShellCommand{"--path.rootfs=/host"}
	case "blackbox":
		svc.Command = types.ShellCommand{"--config.file=/etc/blackbox/" + monitoring.BlackboxFile}
		mount(svc, monitoring.BlackboxFile, "/etc/blackbox/"+monitoring.BlackboxFile)
	case "postgres":
		svc.Command = types.ShellCommand{"--extend.query-path=/etc/postgres-exporter/" + monitoring.PostgresQueries}
		mount(svc, monitoring.PostgresQueries, "/etc/postgres-exporter/"+monitoring.PostgresQueries)
		sec := model.SecretUse{Secret: model.SecretPostgresPassword, FileEnv: "DATA_SOURCE_PASS_FILE"}
		svc.Environment = composex.Environment(map[string]string{
			"DATA_SOURCE_URI":  watches[in.Name] + "/" + c.Postgres.Database + "?sslmode=disable",
			"DATA_SOURCE_USER": c.Postgres.User,
		}, []model.SecretUse{sec})
		svc.Secrets = []types.ServiceSecretConfig{{Source: sec.Secret, Target: sec.Secret}}
	case "redis":
		// The exporter reads the password from its environment only: set
		// it from the secret's file in the container, never in the stack.
		sec := model.SecretUse{Secret: model.SecretRedisPassword}
		svc.Entrypoint = composex.EscapeAll([]string{"/bin/sh", "-c", `REDIS_PASSWORD="$(cat ` + sec.Path() + `)" exec /redis_exporter`})
		svc.Environment = composex.Environment(map[string]string{"REDIS_ADDR": "redis://" + watches[in.Name]}, nil)
		svc.Secrets = []types.ServiceSecretConfig{{Source: sec.Secret, Target: sec.Secret}}
	case "nginx":
		svc.Command = types.ShellCommand{"--nginx.scrape-uri=http://" + watches[in.Name] + "/stub_status"}
		// The exporter's image has no shell: its own metrics are its health.
		svc.HealthCheck = nil
	case "ollama":
		svc.Image = c.Nginx.Image // Debian with bash, curl and nginx
		svc.Entrypoint = types.ShellCommand{"/bin/bash", "/usr/local/bin/" + monitoring.ProbeFile, "serve"}
		mount(svc, monitoring.ProbeFile, "/usr/local/bin/"+monitoring.ProbeFile)
		svc.Environment = composex.Environment(map[string]string{
			"OLLAMA_TARGETS": plan.ProbeTargets(),
			"OLLAMA_MODEL":   c.AI.Model,
			"OUT_DIR":        probeDir,
			"PROBE_SECONDS":  fmt.Sprint(int(monitoring.ProbeEvery / time.Second)),
		}, nil)
		svc.HealthCheck = health(fmt.Sprintf("curl -fsS http://127.0.0.1:%d/metrics >/dev/null", monitoring.ProbePort))
	case "grafana":
		// The image's run.sh sets GF_SECURITY_ADMIN_PASSWORD from the
		// secret's file; Grafana stores it when it creates its database,
		// on the first start. Sign-up, anonymous access and calls home off.
		sec := model.SecretUse{Secret: model.SecretGrafanaPassword}
		svc.Environment = composex.Environment(map[string]string{
			"GF_SECURITY_ADMIN_USER":           "admin",
			"GF_SECURITY_ADMIN_PASSWORD__FILE": sec.Path(),
			"GF_USERS_ALLOW_SIGN_UP":           "false",
			"GF_AUTH_ANONYMOUS_ENABLED":        "false",
			"GF_ANALYTICS_REPORTING_ENABLED":   "false",
			"GF_ANALYTICS_CHECK_FOR_UPDATES":   "false",
			"GF_NEWS_NEWS_FEED_ENABLED":        "false",
		}, nil)
		svc.Secrets = []types.ServiceSecretConfig{{Source: sec.Secret, Target: sec.Secret}}
		mount(svc, monitoring.DatasourcesFile, monitoring.ProvisioningDir+"/datasources/"+monitoring.DatasourcesFile)
		mount(svc, monitoring.DashboardsFile, monitoring.ProvisioningDir+"/dashboards/"+monitoring.DashboardsFile)
		mount(svc, monitoring.DashboardFile, monitoring.DashboardsDir+"/"+monitoring.DashboardFile)
		svc.HealthCheck = wget(monitoring.GrafanaPort, "/api/health")
	case "gpu":
		// Bash on the DCGM exporter's Ubuntu, which has no wget or curl.
		svc.HealthCheck = health(fmt.Sprintf(`bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && head -n 1 <&3 | grep -q " 200 "'`, monitoring.GPUExporterPort))
	default:
		return fmt.Errorf("%s: no monitoring service for %s (%s)", c.Stage, in.Name, in.Exporter)
	}
	if svc.Image == "" {
		return fmt.Errorf("%s: no image for the %s exporter", c.Stage, in.Exporter)
	}
	if svc.HealthCheck == nil && in.Exporter != "nginx" {
		svc.HealthCheck = wget(monitoring.ExporterPort(in.Exporter), "/metrics")
	}
	return nil
}
