package laptop

import (
	"fmt"
	"strconv"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/stacks/internal/composex"
)

// ProjectName is the Compose project name.
const ProjectName = "nextflow"

// ComposeFile is the name of the rendered compose file.
const ComposeFile = "compose.yaml"

// SecretsDir is where the secret files sit, relative to ComposeFile.
const SecretsDir = "secrets"

// SecretFile is the path of a secret's file, relative to ComposeFile.
func SecretFile(name string) string { return SecretsDir + "/" + name }

// Render returns the compose file of the app. Rendering twice gives the
// same bytes: maps are marshalled with sorted keys and lists are built in a
// fixed order.
func Render(app *model.App) ([]byte, error) {
	p, err := Project(app)
	if err != nil {
		return nil, err
	}
	out, err := p.MarshalYAML()
	if err != nil {
		return nil, fmt.Errorf("laptop: marshal compose project: %w", err)
	}
	return out, nil
}

// Project builds the typed Compose project of the app.
func Project(app *model.App) (*types.Project, error) {
	p := &types.Project{
		Name:     ProjectName,
		Services: types.Services{},
		Networks: types.Networks{},
		Volumes:  types.Volumes{},
		Secrets:  types.Secrets{},
	}
	for _, n := range app.Networks {
		p.Networks[n.Name] = types.NetworkConfig{Internal: n.Internal, Labels: labels("network", n.Name)}
	}
	for _, v := range app.Volumes {
		p.Volumes[v] = types.VolumeConfig{Labels: labels("volume", v)}
	}
	for _, s := range app.Secrets {
		p.Secrets[s.Name] = types.SecretConfig{File: "./" + SecretFile(s.Name)}
	}
	for i := range app.Parts {
		part := &app.Parts[i]
		pr, ok := Provisioners[part.Kind]
		if !ok {
			return nil, &components.NoProvisionerError{Stage: app.Config.Stage, Part: part}
		}
		svcs, err := pr.services(app, part)
		if err != nil {
			return nil, err
		}
		for _, svc := range svcs {
			p.Services[svc.Name] = svc
		}
	}
	var mon []model.Instance
	for _, in := range app.Instances() {
		if in.Role == model.RoleMonitoring {
			mon = append(mon, in)
		}
	}
	if err := monitoringServices(app, p, mon); err != nil {
		return nil, err
	}
	if err := checkInstances(app, p); err != nil {
		return nil, err
	}
	return p, nil
}

// checkInstances holds the rendered services to the model's list of what
// the stage runs, which the host fit counts: the two never disagree.
func checkInstances(app *model.App, p *types.Project) error {
	want := app.Instances()
	if len(want) != len(p.Services) {
		return fmt.Errorf("laptop: rendered %d services but the stage's layout has %d", len(p.Services), len(want))
	}
	for _, in := range want {
		if _, ok := p.Services[in.Name]; !ok || in.Replicas != 1 {
			return fmt.Errorf("laptop: the stage's layout has %s x%d, which the project does not render", in.Name, in.Replicas)
		}
	}
	return nil
}

func labels(kind, name string) types.Labels {
	return types.Labels{"dev.nfx.stage": string(model.Laptop), "dev.nfx." + kind: name}
}

func service(app *model.App, part *model.Part) (types.ServiceConfig, error) {
	s := part.Service
	if s.Replicas != 1 {
		return types.ServiceConfig{}, fmt.Errorf("laptop: service %s: the laptop stage runs one container per service, got %d replicas", s.Name, s.Replicas)
	}
	env, err := model.ExpandEnv(s.Env, addrs(app).Lookup(app.Config, part))
	if err != nil {
		return types.ServiceConfig{}, fmt.Errorf("laptop: service %s: %w", s.Name, err)
	}
	svc := types.ServiceConfig{
		Name:    s.Name,
		Restart: types.RestartPolicyUnlessStopped,
		ContainerSpec: types.ContainerSpec{
			Image:       s.Image,
			Entrypoint:  composex.EscapeAll(s.Entrypoint),
			Command:     composex.EscapeAll(s.Command),
			Environment: composex.Environment(env, s.Secrets),
			Labels:      labels("part", s.Part),
			Networks:    map[string]*types.ServiceNetworkConfig{},
			Tmpfs:       types.StringList(s.Tmpfs),
			Logging: &types.LoggingConfig{
				// Keep container logs from filling the laptop's disk.
				Driver:  "json-file",
				Options: types.Options{"max-size": "10m", "max-file": "3"},
			},
		},
		WorkloadSpec: types.WorkloadSpec{
			HealthCheck: composex.HealthCheck(s.Health),
		},
		Deploy: &types.DeployConfig{
			Resources: types.Resources{
				Limits: &types.Resource{
					NanoCPUs:    types.NanoCPUs(s.Sizing.CPUs),
					MemoryBytes: types.UnitBytes(s.Sizing.Memory),
				},
				Reservations: &types.Resource{
					NanoCPUs:    types.NanoCPUs(s.Sizing.CPURequest),
					MemoryBytes: types.UnitBytes(s.Sizing.MemoryRequest),
				},
			},
		},
	}
	if s.GPUs > 0 {
		svc.Deploy.Resources.Reservations.Devices = []types.DeviceRequest{{
			Driver:       "nvidia",
			Count:        types.DeviceCount(s.GPUs),
			Capabilities: []string{"gpu"},
		}}
	}
	if part.Kind == model.KindDatabase {
		// Give PostgreSQL time for a clean shutdown checkpoint.
		svc.StopGracePeriod = composex.Duration(60 * time.Second)
	}
	for _, n := range s.Networks {
		svc.Networks[n] = nil
	}
	for _, m := range s.Volumes {
		svc.Volumes = append(svc.Volumes, types.ServiceVolumeConfig{Type: types.VolumeTypeVolume, Source: m.Volume, Target: m.Path})
	}
	for _, sec := range s.Secrets {
		svc.Secrets = append(svc.Secrets, types.ServiceSecretConfig{Source: sec.Secret, Target: sec.Secret})
	}
	// Only a public part is published, on loopback, and only without a tunnel.
	if published(app, part) != "" && len(s.Ports) > 0 {
		svc.Ports = append(svc.Ports, types.ServicePortConfig{
			Name:      s.Ports[0].Name,
			HostIP:    "127.0.0.1",
			Target:    uint32(s.Ports[0].Port),
			Published: strconv.Itoa(part.Public.LocalPort),
			Protocol:  "tcp",
		})
	}
	if len(s.DependsOn) > 0 {
		svc.DependsOn = types.DependsOnConfig{}
		for _, d := range s.DependsOn {
			if _, ok := app.Service(d.Service); !ok {
				return types.ServiceConfig{}, fmt.Errorf("laptop: service %s depends on %s, which this stage does not run", s.Name, d.Service)
			}
			cond := types.ServiceConditionStarted
			if d.Healthy {
				cond = types.ServiceConditionHealthy
			}
			svc.DependsOn[d.Service] = types.ServiceDependency{Condition: cond, Required: true}
		}
	}
	return svc, nil
}
