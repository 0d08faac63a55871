package cloud

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/model"
)

// Phases of the cloud's realisation: the provider's managed data stores
// first (the workloads need their endpoints), then the workloads on EKS,
// the tunnel's cloudflared among them.
const (
	phaseManaged = iota
	phaseWorkloads
)

// provisioner realises the parts of one kind on AWS and EKS.
type provisioner interface {
	components.Provisioner
	phase() int
	provision(r *realisation, p *model.Part) error
}

// Provisioners are the cloud's provisioners, one per part kind: AWS's
// managed services for the data stores, EKS workloads for the rest,
// cloudflared (a Deployment) at the edge: the cloud, like the other
// stages, is reached only through its Cloudflare Tunnel, with no public
// load balancer. A second provider would be a second set.
var Provisioners = map[model.Kind]provisioner{
	model.KindDatabase: rdsPostgres{},
	model.KindCache:    elastiCache{},
	model.KindWeb:      deployment{web: true},
	model.KindWorker:   deployment{},
	model.KindAI:       ollamaSet{},
	model.KindVector:   qdrantSet{},
	model.KindEdge:     deployment{},
}

// realisation is what the provisioners share while the cloud is realised.
type realisation struct {
	*builder
	in       components.Realisation
	app      *model.App
	platform pulumi.Resource
	net      *network
	cl       *cluster
	db       *database
	cache    cacheGroup
	k        *k8s
	inNS     pulumi.ResourceOption
	// values are the provider-known values behind the placeholders of
	// the resolved environments.
	values map[string]pulumi.StringOutput
	// idle marks a cluster that serves no one: the standby region's
	// before a failover promotes it (standbyConfig), the primary's after
	// one that promoted a standby cluster (primaryApp). Its backup job is
	// suspended: the standby's empty store, or the former primary's stale
	// one, would be the newest backup a restore takes.
	idle bool
	// tunnelID is the ID of the managed tunnel whose token the cluster's
	// cloudflared runs with (nil in the other tunnel modes): its pods'
	// template carries it, so that a token of another tunnel restarts them
	// (cloudflared reads its token file once, at its start).
	tunnelID pulumi.StringInput
}

// addrs are where the cloud serves each endpoint: RDS and ElastiCache at
// addresses only AWS knows (placeholders until it answers), over TLS; the
// in-cluster parts at their Services.
func addrs(app *model.App) model.Addrs {
	name := func(e model.Endpoint) string {
		if p, ok := app.Offering(e); ok {
			return p.Name
		}
		return ""
	}
	read := string(model.EndpointDB)
	if app.Config.Cloud.DBReadReplica {
		read = string(model.EndpointDBRead)
	}
	return model.Addrs{
		DB:       model.HostPort{Host: model.Placeholder(string(model.EndpointDB)), Port: model.PostgresPort},
		DBRead:   model.HostPort{Host: model.Placeholder(read), Port: model.PostgresPort},
		SSLMode:  "require",
		Cache:    model.HostPort{Host: model.Placeholder(string(model.EndpointCache)), Port: model.RedisPort},
		CacheTLS: true,
		Vector:   model.HostPort{Host: name(model.EndpointVector), Port: model.QdrantHTTPPort}, VectorGRPCPort: model.QdrantGRPCPort,
		AI: model.HostPort{Host: name(model.EndpointAI), Port: model.OllamaPort},
		Public: func(p *model.Part) (string, string, bool) {
			return "https://" + p.Public.Hostname, p.Public.Hostname, true
		},
	}
}

// value turns a resolved value into an input: literal text, or the
// provider's outputs where it holds placeholders.
func (r *realisation) value(s string) (pulumi.StringInput, error) {
	pieces := model.SplitPlaceholders(s)
	if len(pieces) == 1 {
		return pulumi.String(s), nil
	}
	var outs []any
	for i := 1; i < len(pieces); i += 2 {
		v, ok := r.values[pieces[i]]
		if !ok {
			return nil, fmt.Errorf("no provider value for %s", pieces[i])
		}
		outs = append(outs, v)
	}
	return pulumi.All(outs...).ApplyT(func(vals []any) string {
		out := ""
		for i, p := range pieces {
			if i%2 == 0 {
				out += p
			} else {
				out += vals[i/2].(string)
			}
		}
		return out
	}).(pulumi.StringOutput), nil
}

// envOf is a part's environment resolved on the cloud, sorted by name,
// with the `*_FILE` variables of its secrets.
func (r *realisation) envOf(p *model.Part, extra map[string]string) (corev1.EnvVarArray, error) {
	env, err := model.ExpandEnv(p.Service.Env, addrs(r.app).Lookup(r.cfg, p))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Name, err)
	}
	for k, v := range extra {
		env[k] = v
	}
	for _, s := range p.Service.Secrets {
		if s.FileEnv != "" {
			env[s.FileEnv] = s.Path()
		}
	}
	var out corev1.EnvVarArray
	for _, k := range model.SortedKeys(env) {
		v, err := r.value(env[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", p.Name, k, err)
		}
		out = append(out, corev1.EnvVarArgs{Name: pulumi.String(k), Value: v})
	}
	return out, nil
}

// rdsPostgres is the database as RDS PostgreSQL.
type rdsPostgres struct{}

func (rdsPostgres) phase() int { return phaseManaged }

func (rdsPostgres) Describe(app *model.App, _ *model.Part) string {
	cc := app.Config.Cloud
	s := fmt.Sprintf("RDS PostgreSQL %s Multi-AZ (%s), %d days of backups", cc.DBEngineVersion, cc.DBInstanceClass, cc.DBBackupDays)
	if cc.DBReadReplica {
		s += ", a read replica"
	}
	return s
}

func (rdsPostgres) Inputs(app *model.App, _ *model.Part) map[string]any {
	cc := app.Config.Cloud
	return map[string]any{
		"managed": "aws:rds", "engine": "postgres", "engineVersion": cc.DBEngineVersion, "instanceClass": cc.DBInstanceClass,
		"multiAz": true, "storageGB": cc.DBStorageGB, "backupDays": cc.DBBackupDays, "readReplica": cc.DBReadReplica,
		"deletionProtection": cc.DeletionProtected, "database": app.Config.Postgres.Database, "user": app.Config.Postgres.User,
	}
}

func (rdsPostgres) provision(r *realisation, p *model.Part) error {
	if r.db != nil {
		return fmt.Errorf("%s: the cloud stage runs one database, and %s is a second", p.Key, p.Name)
	}
	password, ok := r.in.Secrets[model.SecretPostgresPassword]
	if !ok {
		password = emptySecret()
	}
	db, err := r.builder.under(r.in.Parts[p.Name]).database(r.net, r.cl, password)
	if err != nil {
		return err
	}
	r.db = db
	r.values[string(model.EndpointDB)] = db.primary.Address
	if db.replica != nil {
		r.values[string(model.EndpointDBRead)] = db.replica.Address
	}
	return nil
}

// elastiCache is the cache as an ElastiCache Redis replication group.
type elastiCache struct{}

func (elastiCache) phase() int { return phaseManaged }

func (elastiCache) Describe(app *model.App, _ *model.Part) string {
	cc := app.Config.Cloud
	return fmt.Sprintf("ElastiCache Redis, %d x %s, automatic failover", cc.CacheNodes, cc.CacheNodeType)
}

func (elastiCache) Inputs(app *model.App, _ *model.Part) map[string]any {
	cc := app.Config.Cloud
	return map[string]any{
		"managed": "aws:elasticache", "engine": "redis", "engineVersion": cc.CacheEngineVersion, "nodeType": cc.CacheNodeType,
		"nodes": cc.CacheNodes, "automaticFailover": true, "multiAz": true, "transitEncryption": true,
	}
}

func (elastiCache) provision(r *realisation, p *model.Part) error {
	if r.cache.group != nil {
		return fmt.Errorf("%s: the cloud stage runs one cache, and %s is a second", p.Key, p.Name)
	}
	token, ok := r.in.Secrets[model.SecretRedisPassword]
	if !ok {
		token = emptySecret()
	}
	g, err := r.builder.under(r.in.Parts[p.Name]).cache(r.net, r.cl, token)
	if err != nil {
		return err
	}
	r.cache = cacheGroup{group: g, token: token}
	r.values[string(model.EndpointCache)] = g.PrimaryEndpointAddress
	return nil
}

// Routes send each public hostname through the tunnel to its part's
// Service, in the namespace cloudflared runs in.
func Routes(app *model.App) []components.Route {
	var out []components.Route
	for _, p := range app.RoutedParts() {
		out = append(out, components.Route{Hostname: p.Public.Hostname, Service: fmt.Sprintf("http://%s.%s.svc:%d", p.Name, Namespace, p.Service.Ports[0].Port),
			HealthPath: p.Service.Health.HTTPPath})
	}
	return out
}
