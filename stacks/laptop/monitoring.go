package laptop

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/stacks/internal/composex"
	"github.com/nextflow-crm/nfx/stacks/internal/monsvc"
)

// VolPrometheus holds Prometheus's samples for the retention.
const (
	VolPrometheus = "prometheus-data"
	VolGrafana    = "grafana-data"
)

// monitoringServices renders the laptop's monitoring: Prometheus with the
// rules and its files as Compose configs (inline), the exporters, each on
// the internal network next to what it watches. Only Prometheus is
// published, on loopback.
func monitoringServices(app *model.App, p *types.Project, ins []model.Instance) error {
	if len(ins) == 0 {
		return nil
	}
	c := app.Config
	plan, err := monsvc.Plan(app, "")
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
		p.Configs[monsvc.ConfigKey(name)] = types.ConfigObjConfig{Content: composex.Escape(string(files[name])), Labels: labels("config", name)}
	}
	p.Volumes[VolPrometheus] = types.VolumeConfig{Labels: labels("volume", VolPrometheus)}
	p.Volumes[VolGrafana] = types.VolumeConfig{Labels: labels("volume", VolGrafana)}
	for _, in := range ins {
		svc := monitoringBase(in)
		if err := monsvc.Apply(&svc, in, plan, c, mountConfig); err != nil {
			return fmt.Errorf("laptop: %w", err)
		}
		switch in.Exporter {
		case "prometheus":
			svc.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: VolPrometheus, Target: monsvc.PrometheusData}}
			// On the frontend too: an internal network cannot publish a port.
			svc.Networks[model.NetFrontend] = nil
			svc.Ports = []types.ServicePortConfig{{Name: "http", HostIP: "127.0.0.1", Target: monitoring.PrometheusPort,
				Published: strconv.Itoa(c.Monitoring.PrometheusPort), Protocol: "tcp"}}
		case "grafana":
			svc.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: VolGrafana, Target: monsvc.GrafanaData}}
			// On the laptop's loopback only, as Prometheus.
			svc.Networks[model.NetFrontend] = nil
			svc.Ports = []types.ServicePortConfig{{Name: "http", HostIP: "127.0.0.1", Target: monitoring.GrafanaPort,
				Published: strconv.Itoa(c.Monitoring.GrafanaPort), Protocol: "tcp"}}
			// The address the laptop's browser opens (Grafana Live checks
			// a websocket's Origin against it).
			for k, v := range composex.Environment(map[string]string{"GF_SERVER_ROOT_URL": fmt.Sprintf("http://127.0.0.1:%d/", c.Monitoring.GrafanaPort)}, nil) {
				svc.Environment[k] = v
			}
		case "node":
			// The host's / read-only with the default (private)
			// propagation: Docker Desktop, WSL2 and hosts whose / is a
			// private mount refuse rslave ("not a shared or slave mount"),
			// and a laptop stage must come up on all of them. The cost: a
			// filesystem mounted after the exporter started (a USB disk) is
			// not seen until it restarts. The server, on Linux hosts whose
			// / is shared (systemd's default), keeps rslave.
			svc.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeBind, Source: "/", Target: "/host", ReadOnly: true}}
			svc.Pid = "host"
		case "gpu":
			svc.Deploy.Resources.Reservations.Devices = []types.DeviceRequest{{Driver: "nvidia", Count: types.DeviceCount(1), Capabilities: []string{"gpu"}}}
		}
		p.Services[svc.Name] = svc
	}
	return nil
}

func mountConfig(svc *types.ServiceConfig, file, target string) {
	mode := types.FileMode(0o444)
	if strings.HasSuffix(file, ".sh") {
		mode = 0o555
	}
	svc.Configs = append(svc.Configs, types.ServiceConfigObjConfig{Source: monsvc.ConfigKey(file), Target: target, Mode: &mode})
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
