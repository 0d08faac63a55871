package server

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/stacks/internal/monsvc"
)

// The monitoring's volumes and the node label that places Prometheus,
// Alertmanager and Grafana, whose samples, silences and database live on
// that node's volumes.
const (
	VolPrometheus    = "prometheus-data"
	VolAlertmanager  = "alertmanager-data"
	VolGrafana       = "grafana-data"
	VolBackupMetrics = "backup-metrics"
	MonitoringLabel  = "node.labels.nextflow.monitoring == true"
)

// monitoringPlan is the server's monitoring, nil when it is turned off.
func monitoringPlan(app *model.App) (*monitoring.Plan, error) {
	if !model.MonitoringRuns(app.Config) {
		return nil, nil
	}
	p, err := monsvc.Plan(app, StackName)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return p, nil
}

// monitoringMounts are the plan's files, under monitoring/, as the Swarm
// configs the monitoring's services mount.
func monitoringMounts(plan *monitoring.Plan) ([]mounted, error) {
	if plan == nil {
		return nil, nil
	}
	files, err := plan.Files()
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []mounted
	for _, n := range names {
		out = append(out, mounted{key: monsvc.ConfigKey(n), path: "monitoring/" + n, exec: strings.HasSuffix(n, ".sh"), data: files[n]})
	}
	return out, nil
}

// monitor adds one of the monitoring's services: Prometheus and
// Alertmanager on the node labelled for them, Prometheus reading the
// Swarm's tasks from the Docker socket; a node exporter on every node and a
// GPU exporter on every GPU node; the others next to what they watch.
func (s *stack) monitor(in model.Instance) {
	c := s.app.Config
	networks := []string{model.NetBackend}
	switch in.Exporter {
	case "prometheus":
		// The frontend too: cloudflared's tasks are there, and an internal
		// network cannot publish a port.
		networks = append(networks, model.NetFrontend)
	case "nginx":
		networks = []string{model.NetFrontend}
	case "grafana":
		// nginx reaches it on the frontend; it reaches Prometheus on the backend.
		networks = append(networks, model.NetFrontend)
	}
	svc := s.base(in.Name, model.RoleMonitoring, "", in.Sizing, in.Replicas, networks...)
	err := monsvc.Apply(&svc, in, s.mon, c, func(svc *types.ServiceConfig, file, target string) {
		s.mount(svc, monsvc.ConfigKey(file), target)
	})
	if err != nil {
		s.err = fmt.Errorf("server: %w", err)
		return
	}
	switch in.Exporter {
	case "prometheus":
		placement(&svc, MonitoringLabel)
		// Swarm task discovery reads the manager's Docker socket, which
		// only root may open.
		svc.User = "root"
		svc.Volumes = append(svc.Volumes, types.ServiceVolumeConfig{Type: types.VolumeTypeBind,
			Source: "/var/run/docker.sock", Target: "/var/run/docker.sock", ReadOnly: true})
		volume(&svc, VolPrometheus, monsvc.PrometheusData)
		s.declareVolume(VolPrometheus)
		// On the monitoring node's own address only, not the routing mesh.
		svc.Ports = []types.ServicePortConfig{{Target: monitoring.PrometheusPort, Published: strconv.Itoa(c.Monitoring.PrometheusPort), Protocol: "tcp", Mode: "host"}}
		svc.Deploy.UpdateConfig = &types.UpdateConfig{Parallelism: u64(1), Order: "stop-first"}
	case "grafana":
		placement(&svc, MonitoringLabel)
		volume(&svc, VolGrafana, monsvc.GrafanaData)
		s.declareVolume(VolGrafana)
		// Served by nginx at GrafanaPath, to the stage's own network: the
		// root URL of Grafana's documentation for a sub path, on whatever
		// host and port the browser reached nginx at.
		env(&svc, map[string]string{
			"GF_SERVER_ROOT_URL":            "%(protocol)s://%(domain)s:%(http_port)s" + GrafanaPath,
			"GF_SERVER_SERVE_FROM_SUB_PATH": "true",
		})
		// Everything it serves is under the path, its health too.
		svc.HealthCheck = monsvc.Wget(monitoring.GrafanaPort, GrafanaPath+"api/health")
	case "alertmanager":
		placement(&svc, MonitoringLabel)
		svc.User = "root"
		volume(&svc, VolAlertmanager, monsvc.AlertmanagerData)
		s.declareVolume(VolAlertmanager)
	case "node":
		// One per node: the host's filesystems read-only, and the metrics
		// the backup jobs on that node write.
		svc.Deploy.Placement.MaxReplicas = 1
		svc.Volumes = append(svc.Volumes,
			types.ServiceVolumeConfig{Type: types.VolumeTypeBind, Source: "/", Target: "/host", ReadOnly: true, Bind: &types.ServiceVolumeBind{Propagation: "rslave"}},
			types.ServiceVolumeConfig{Type: types.VolumeTypeVolume, Source: VolBackupMetrics, Target: monsvc.TextfileDir, ReadOnly: true})
		svc.Command = append(svc.Command, "--collector.textfile.directory="+monsvc.TextfileDir)
		s.declareVolume(VolBackupMetrics)
	case "gpu":
		// On every GPU node, through the NVIDIA runtime the node's Docker
		// defaults to (gpu/configure-gpu-node.sh), reserving no GPU: it
		// reads them all.
		placement(&svc, "node.labels.nextflow.gpu == true")
		svc.Deploy.Placement.MaxReplicas = 1
		env(&svc, map[string]string{"NVIDIA_VISIBLE_DEVICES": "all"})
	}
	s.add(svc)
}
