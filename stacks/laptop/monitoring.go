package laptop

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/stacks/internal/composex"
)

// VolPrometheus holds Prometheus's samples for the retention.
const VolPrometheus = "prometheus-data"

// monitoringServices renders the laptop's monitoring: Prometheus with the
// rules and its files as Compose configs (inline), the exporters, each on
// the internal network next to what it watches. Only Prometheus is
// published, on loopback.
func monitoringServices(app *model.App, p *types.Project, ins []model.Instance) error {
	if len(ins) == 0 {
		return nil
	}
	c := app.Config
	plan, err := monitoring.For(app, monitoring.Settings{
		Interval:  time.Duration(c.Monitoring.ScrapeSeconds) * time.Second,
		Retention: time.Duration(c.Monitoring.RetentionDays) * 24 * time.Hour,
	})
	if err != nil {
		return fmt.Errorf("laptop: %w", err)
	}
	files, err := plan.Files()
	if err != nil {
		return fmt.Errorf("laptop: %w", err)
	}
	if p.Configs == nil {
		p.Configs = types.Configs{}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p.Configs[configKey(name)] = types.ConfigObjConfig{Content: composex.Escape(string(files[name])), Labels: labels("config", name)}
	}
	p.Volumes[VolPrometheus] = types.VolumeConfig{Labels: labels("volume", VolPrometheus)}
	watches := map[string]string{}
	for _, e := range plan.Exporters {
		watches[e.Name] = e.Watches
	}
	for _, in := range ins {
		svc := monitoringBase(in)
		switch in.Exporter {
		case "prometheus":
			svc.Image = monitoring.Images["prometheus"]
			svc.Command = types.ShellCommand{
				"--config.file=/etc/prometheus/" + monitoring.PrometheusFile,
				"--storage.tsdb.path=/prometheus",
				"--storage.tsdb.retention.time=" + plan.RetentionFlag(),
				fmt.Sprintf("--web.listen-address=:%d", monitoring.PrometheusPort),
			}
			mountConfig(&svc, monitoring.PrometheusFile, "/etc/prometheus/"+monitoring.PrometheusFile)
			mountConfig(&svc, monitoring.RulesFile, "/etc/prometheus/"+monitoring.RulesFile)
			svc.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: VolPrometheus, Target: "/prometheus"}}
			// On the frontend too: an internal network cannot publish a port.
			svc.Networks[model.NetFrontend] = nil
			svc.Ports = []types.ServicePortConfig{{Name: "http", HostIP: "127.0.0.1", Target: monitoring.PrometheusPort,
				Published: strconv.Itoa(c.Monitoring.PrometheusPort), Protocol: "tcp"}}
			svc.HealthCheck = composex.HealthCheck(model.Health{Shell: fmt.Sprintf("wget -qO- http://127.0.0.1:%d/-/ready >/dev/null", monitoring.PrometheusPort),
				Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 5, StartPeriod: 30 * time.Second})
		case "node":
			svc.Image = monitoring.Images["node"]
			// The host's filesystems, read-only, for the disk alerts.
			svc.Command = types.ShellCommand{"--path.rootfs=/host"}
			svc.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeBind, Source: "/", Target: "/host", ReadOnly: true,
				Bind: &types.ServiceVolumeBind{Propagation: "rslave"}}}
			svc.Pid = "host"
		case "blackbox":
			svc.Image = monitoring.Images["blackbox"]
			svc.Command = types.ShellCommand{"--config.file=/etc/blackbox/" + monitoring.BlackboxFile}
			mountConfig(&svc, monitoring.BlackboxFile, "/etc/blackbox/"+monitoring.BlackboxFile)
		case "postgres":
			svc.Image = monitoring.Images["postgres"]
			svc.Command = types.ShellCommand{"--extend.query-path=/etc/postgres-exporter/" + monitoring.PostgresQueries}
			mountConfig(&svc, monitoring.PostgresQueries, "/etc/postgres-exporter/"+monitoring.PostgresQueries)
			sec := model.SecretUse{Secret: model.SecretPostgresPassword, FileEnv: "DATA_SOURCE_PASS_FILE"}
			svc.Environment = composex.Environment(map[string]string{
				"DATA_SOURCE_URI":  watches[in.Name] + "/" + c.Postgres.Database + "?sslmode=disable",
				"DATA_SOURCE_USER": c.Postgres.User,
			}, []model.SecretUse{sec})
			svc.Secrets = []types.ServiceSecretConfig{{Source: sec.Secret, Target: sec.Secret}}
		case "redis":
			svc.Image = monitoring.Images["redis"]
			// The exporter reads the password from its environment only: set
			// it from the secret's file in the container, never in this file.
			sec := model.SecretUse{Secret: model.SecretRedisPassword}
			svc.Entrypoint = composex.EscapeAll([]string{"/bin/sh", "-c", `REDIS_PASSWORD="$(cat ` + sec.Path() + `)" exec /redis_exporter`})
			svc.Environment = composex.Environment(map[string]string{"REDIS_ADDR": "redis://" + watches[in.Name]}, nil)
			svc.Secrets = []types.ServiceSecretConfig{{Source: sec.Secret, Target: sec.Secret}}
		case "gpu":
			svc.Image = monitoring.Images["gpu"]
			svc.Deploy.Resources.Reservations.Devices = []types.DeviceRequest{{Driver: "nvidia", Count: types.DeviceCount(1), Capabilities: []string{"gpu"}}}
		default:
			return fmt.Errorf("laptop: no monitoring service for %s (%s)", in.Name, in.Exporter)
		}
		if svc.HealthCheck == nil {
			svc.HealthCheck = exporterHealth(in.Exporter)
		}
		p.Services[svc.Name] = svc
	}
	return nil
}

// exporterHealth checks that an exporter serves its metrics: with the
// busybox wget of the Prometheus project's images and of the Alpine one,
// with bash on the DCGM exporter's Ubuntu.
func exporterHealth(kind string) *types.HealthCheckConfig {
	port := monitoring.ExporterPort(kind)
	cmd := fmt.Sprintf("wget -qO- http://127.0.0.1:%d/metrics >/dev/null", port)
	if kind == "gpu" {
		cmd = fmt.Sprintf(`bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && head -n 1 <&3 | grep -q " 200 "'`, port)
	}
	return composex.HealthCheck(model.Health{Shell: cmd, Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: 20 * time.Second})
}

func configKey(file string) string {
	return "monitoring_" + strings.NewReplacer(".", "_", "-", "_").Replace(file)
}

func mountConfig(svc *types.ServiceConfig, file, target string) {
	mode := types.FileMode(0o444)
	svc.Configs = append(svc.Configs, types.ServiceConfigObjConfig{Source: configKey(file), Target: target, Mode: &mode})
}

// monitoringBase is what the monitoring's services share.
func monitoringBase(in model.Instance) types.ServiceConfig {
	return types.ServiceConfig{
		Name:    in.Name,
		Restart: types.RestartPolicyUnlessStopped,
		ContainerSpec: types.ContainerSpec{
			Labels:   labels("part", model.RoleMonitoring),
			Networks: map[string]*types.ServiceNetworkConfig{model.NetBackend: nil},
			Logging:  &types.LoggingConfig{Driver: "json-file", Options: types.Options{"max-size": "10m", "max-file": "3"}},
		},
		Deploy: &types.DeployConfig{Resources: types.Resources{
			Limits:       &types.Resource{NanoCPUs: types.NanoCPUs(in.Sizing.CPUs), MemoryBytes: types.UnitBytes(in.Sizing.Memory)},
			Reservations: &types.Resource{NanoCPUs: types.NanoCPUs(in.Sizing.CPURequest), MemoryBytes: types.UnitBytes(in.Sizing.MemoryRequest)},
		}},
	}
}
