package cloud

import (
	"github.com/pulumi/pulumi-cloudflare/sdk/v5/go/cloudflare"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/components"
	"github.com/nextflow-crm/nfx/internal/model"
)

// PlatformType is the type token of the cloud platform: network, cluster,
// managed data stores, backups and alarms.
const PlatformType = "nextflow:cloud:Platform"

// Realiser realises NextFlow on AWS and EKS.
type Realiser struct {
	// Offline marks a run under the SDK's mocks, whose monitor cannot carry
	// a secret that is not known yet: the database password then stands as
	// an empty secret, which a plan only ever shows as "[secret]".
	Offline bool
}

// Realise implements components.Realiser.
func (r Realiser) Realise(ctx *pulumi.Context, in components.Realisation) (pulumi.Map, error) {
	cfg := in.App.Config
	platform := &platformComponent{}
	props := pulumi.Map{
		"region":            pulumi.String(cfg.Cloud.Region),
		"kubernetesVersion": pulumi.String(cfg.Cloud.KubernetesVersion),
		"availabilityZones": pulumi.Int(cfg.Cloud.AvailabilityZones),
		"natGateways":       pulumi.Int(NatGateways(cfg.Cloud)),
	}
	if err := ctx.RegisterComponentResourceV2(PlatformType, in.Name+"-platform", props, platform, pulumi.Parent(in.Parent)); err != nil {
		return nil, err
	}
	b := &builder{ctx: ctx, cfg: cfg, stack: ctx.Stack(), prefix: in.Name, parent: platform, offline: r.Offline}
	net, err := b.network()
	if err != nil {
		return nil, err
	}
	cl, err := b.cluster(net)
	if err != nil {
		return nil, err
	}
	db, err := b.under(part(in, model.PartPostgres, platform)).database(net, cl)
	if err != nil {
		return nil, err
	}
	redisPassword, ok := in.Secrets[model.SecretRedisPassword]
	if !ok {
		redisPassword = pulumi.ToSecret(pulumi.String("")).(pulumi.StringOutput)
	}
	cache, err := b.under(part(in, model.PartRedis, platform)).cache(net, cl, redisPassword)
	if err != nil {
		return nil, err
	}
	bucket, err := b.backups()
	if err != nil {
		return nil, err
	}
	topic, err := b.alarms(db, cache, cl)
	if err != nil {
		return nil, err
	}
	provider, err := b.provider(cl)
	if err != nil {
		return nil, err
	}
	parts := map[string]pulumi.Resource{}
	for n, p := range in.Parts {
		parts[n] = p
	}
	k := &k8s{builder: b, provider: provider, parts: parts}
	dbPassword := pulumi.ToSecret(pulumi.String("")).(pulumi.StringOutput)
	if !r.Offline {
		dbPassword = db.password(ctx, platform)
	}
	secrets := map[string]pulumi.StringOutput{
		model.SecretPostgresPassword: dbPassword,
		model.SecretRedisPassword:    redisPassword,
	}
	svc, err := k.workloads(in.App, secrets, db.primary.Address, cache.PrimaryEndpointAddress, cl)
	if err != nil {
		return nil, err
	}
	entry := svc.Status.LoadBalancer().Ingress().Index(pulumi.Int(0)).Hostname().Elem()
	if cfg.Cloud.ZoneID != "" {
		// Cloudflare's proxied DNS (CDN) for the same hostname as the other stages.
		if _, err := cloudflare.NewRecord(ctx, in.Name+"-dns", &cloudflare.RecordArgs{
			ZoneId:  pulumi.String(cfg.Cloud.ZoneID),
			Name:    pulumi.String(cfg.Tunnel.Hostname),
			Type:    pulumi.String("CNAME"),
			Content: entry,
			Proxied: pulumi.Bool(true),
			Comment: pulumi.String("NextFlow CRM on EKS; managed by nfx"),
		}, pulumi.Parent(part(in, model.PartCRM, platform))); err != nil {
			return nil, err
		}
	}
	outs := pulumi.Map{
		"cluster":      cl.eks.Name,
		"kubeconfig":   pulumi.ToSecret(cl.kubeconfig),
		"database":     db.primary.Address,
		"cache":        cache.PrimaryEndpointAddress,
		"backupBucket": bucket.Bucket,
		"alarmTopic":   topic.Arn,
		"entryPoint":   entry,
	}
	if err := ctx.RegisterResourceOutputs(platform, outs); err != nil {
		return nil, err
	}
	return pulumi.Map{"cluster": cl.eks.Name, "entryPoint": entry}, nil
}

type platformComponent struct{ pulumi.ResourceState }

func part(in components.Realisation, name string, fallback pulumi.Resource) pulumi.Resource {
	if p, ok := in.Parts[name]; ok {
		return p
	}
	return fallback
}
