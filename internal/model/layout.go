package model

import "fmt"

// Instance is one service a stage runs: a part's container in one role
// (the PostgreSQL primary, the second AI node) or a stage's own helper
// (nginx, a backup job), with its sizing and replica count. The
// self-hosted stages render exactly these services, and the host fit
// counts exactly these: one list for both.
type Instance struct {
	// Name is the service's name on the stage.
	Name string
	// Part is the part it runs ("" for a stage's helper).
	Part string
	// Role is its role within the part: "", primary, replica, sentinel,
	// node, or the helper's kind (loadbalancer, backup).
	Role string
	// Node is the node index of a per-node service (1-based), else 0.
	Node     int
	Sizing   Sizing
	Replicas int
}

// Instance roles.
const (
	RolePrimary      = "primary"
	RoleReplica      = "replica"
	RoleSentinel     = "sentinel"
	RoleNode         = "node"
	RoleLoadBalancer = "loadbalancer"
	RoleBackup       = "backup"
)

// NginxService is the name of a stage's load balancer service.
const NginxService = "nginx"

// Instances lists every service the stage of c runs, in part order, then
// the stage's helpers. A provider's managed parts run none.
func Instances(c *Config) []Instance {
	return instancesOf(c, parts(c))
}

// Instances lists every service the app's stage runs (see Instances).
func (a *App) Instances() []Instance { return instancesOf(a.Config, a.Parts) }

// InstancesOf returns the services that run part name.
func (a *App) InstancesOf(name string) []Instance {
	var out []Instance
	for _, in := range a.Instances() {
		if in.Part == name {
			out = append(out, in)
		}
	}
	return out
}

func instancesOf(c *Config, ps []Part) []Instance {
	t := Profiles[c.Stage].Topology
	var out []Instance
	one := func(p *Part, name, role string, node int, sz Sizing, n int) {
		out = append(out, Instance{Name: name, Part: p.Name, Role: role, Node: node, Sizing: sz, Replicas: n})
	}
	perNode := func(p *Part, n int) {
		for i := 1; i <= n; i++ {
			one(p, fmt.Sprintf("%s-%d", p.Name, i), RoleNode, i, p.Service.Sizing, 1)
		}
	}
	// pair runs a primary and a replica where the stage has two instances.
	pair := func(p *Part, n int) {
		if n < 2 {
			one(p, p.Name, "", 0, p.Service.Sizing, 1)
			return
		}
		one(p, p.Name+"-"+RolePrimary, RolePrimary, 0, p.Service.Sizing, 1)
		one(p, p.Name+"-"+RoleReplica, RoleReplica, 0, p.Service.Sizing, 1)
	}
	for i := range ps {
		p := &ps[i]
		if !p.Runs || t.IsManaged(p.Kind) {
			continue
		}
		sz := p.Service.Sizing
		switch p.Kind {
		case KindDatabase:
			pair(p, t.PostgresInstances)
		case KindCache:
			pair(p, t.RedisInstances)
			if t.Sentinels > 0 {
				one(p, p.Name+"-"+RoleSentinel, RoleSentinel, 0, SentinelSizing, t.Sentinels)
			}
		case KindVector:
			if t.PerNode && t.QdrantNodes > 1 {
				perNode(p, t.QdrantNodes)
			} else {
				one(p, p.Name, "", 0, sz, max(t.QdrantNodes, 1))
			}
		case KindAI:
			if t.PerNode {
				perNode(p, p.Replicas)
			} else {
				one(p, p.Name, "", 0, sz, p.Replicas)
			}
		case KindEdge:
			if t.EdgeReplicas > 0 {
				one(p, p.Name, "", 0, sz, t.EdgeReplicas)
			}
		default:
			one(p, p.Name, "", 0, sz, p.Replicas)
		}
	}
	if t.LoadBalancers > 0 {
		out = append(out, Instance{Name: NginxService, Role: RoleLoadBalancer, Sizing: NginxSizing, Replicas: t.LoadBalancers})
	}
	if t.Backups {
		for _, k := range BackupKinds {
			out = append(out, Instance{Name: "backup-" + k, Role: RoleBackup, Sizing: BackupSizing, Replicas: 1})
		}
	}
	return out
}
