package cloud

import (
	"fmt"

	"github.com/pulumi/pulumi-cloudflare/sdk/v5/go/cloudflare"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/model"
)

// Phases of the cloud's realisation: the provider's managed data stores
// first (the workloads need their endpoints), then the workloads on EKS,
// then the edge in front of them.
const (
	phaseManaged = iota
	phaseWorkloads
	phaseEdge
)

// provisioner realises the parts of one kind on AWS and EKS.
type provisioner interface {
	components.Provisioner
	phase() int
	provision(r *realisation, p *model.Part) error
}

// Provisioners are the cloud's provisioners, one per part kind: AWS's
// managed services for the data stores, EKS workloads for the rest, and
// Cloudflare's proxied DNS at the edge. A second provider would be a
// second set.
var Provisioners = map[model.Kind]provisioner{
	model.KindDatabase: rdsPostgres{},
	model.KindCache:    elastiCache{},
	model.KindWeb:      deployment{web: true},
	model.KindWorker:   deployment{},
	model.KindAI:       ollamaSet{},
	model.KindVector:   qdrantSet{},
	model.KindEdge:     cloudflareDNS{},
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
	// entries are the load balancers' hostnames, by public part.
	entries map[string]pulumi.StringOutput
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
	db, err := r.builder.under(r.in.Parts[p.Name]).database(r.net, r.cl)
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
		token = pulumi.ToSecret(pulumi.String("")).(pulumi.StringOutput)
	}
	g, err := r.builder.under(r.in.Parts[p.Name]).cache(r.net, r.cl, token)
	if err != nil {
		return err
	}
	r.cache = cacheGroup{group: g, token: token}
	r.values[string(model.EndpointCache)] = g.PrimaryEndpointAddress
	return nil
}

// cloudflareDNS puts Cloudflare's proxied DNS (its CDN) in front of each
// public part's load balancer, for the same hostnames as the other stages.
type cloudflareDNS struct{}

func (cloudflareDNS) phase() int { return phaseEdge }

func (cloudflareDNS) Describe(app *model.App, _ *model.Part) string {
	if app.Config.Cloud.ZoneID == "" {
		return "none: set cloud.zoneId for Cloudflare's proxied DNS in front of the load balancer"
	}
	return "Cloudflare proxied DNS (CDN) to the load balancer"
}

func (cloudflareDNS) Inputs(app *model.App, _ *model.Part) map[string]any {
	var hosts []string
	for _, p := range app.PublicParts() {
		hosts = append(hosts, p.Public.Hostname)
	}
	return map[string]any{"managed": "cloudflare:dns", "proxied": true, "zoneId": app.Config.Cloud.ZoneID, "hostnames": hosts}
}

func (cloudflareDNS) provision(r *realisation, _ *model.Part) error {
	zone := r.cfg.Cloud.ZoneID
	if zone == "" {
		return nil
	}
	for _, p := range r.app.PublicParts() {
		entry, ok := r.entries[p.Name]
		if !ok {
			continue
		}
		// The CRM's record keeps the name it always had: child names are
		// API. Each record sits under the part it points at.
		name := r.in.Name + "-dns"
		if p.Name != model.PartCRM {
			name += "-" + p.Name
		}
		if _, err := cloudflare.NewRecord(r.ctx, name, &cloudflare.RecordArgs{
			ZoneId:  pulumi.String(zone),
			Name:    pulumi.String(p.Public.Hostname),
			Type:    pulumi.String("CNAME"),
			Content: entry,
			Proxied: pulumi.Bool(true),
			Comment: pulumi.String(fmt.Sprintf("NextFlow %s on EKS; managed by nfx", p.Name)),
		}, pulumi.Parent(part(r.in, p.Name, r.platform))); err != nil {
			return err
		}
	}
	return nil
}
