package cloud

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elasticache"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	storagev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/storage/v1"
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

// Provisioner implements components.Realiser.
func (Realiser) Provisioner(k model.Kind) (components.Provisioner, bool) {
	p, ok := Provisioners[k]
	return p, ok
}

type cacheGroup struct {
	group *elasticache.ReplicationGroup
	token pulumi.StringOutput
}

// Realise implements components.Realiser: the platform, then each part by
// its kind's provisioner, phase by phase.
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
	rz := &realisation{builder: b, in: in, app: primaryApp(in.App), platform: platform,
		values: map[string]pulumi.StringOutput{}, idle: standbyServes(cfg.Cloud)}
	site, err := b.standbySite()
	if err != nil {
		return nil, err
	}
	if rz.net, err = b.network(site); err != nil {
		return nil, err
	}
	if rz.cl, err = b.cluster(rz.net); err != nil {
		return nil, err
	}
	if err := rz.phase(phaseManaged); err != nil {
		return nil, err
	}
	if rz.db == nil || rz.cache.group == nil {
		return nil, fmt.Errorf("the cloud stage needs a database and a cache part")
	}
	bucket, versioning, err := b.backups()
	if err != nil {
		return nil, err
	}
	standby, err := rz.standby(site, bucket, versioning)
	if err != nil {
		return nil, err
	}
	topic, err := b.alarms(rz.db, rz.cache.group, rz.cl)
	if err != nil {
		return nil, err
	}
	provider, err := b.provider(rz.cl)
	if err != nil {
		return nil, err
	}
	parts := map[string]pulumi.Resource{}
	for n, p := range in.Parts {
		parts[n] = p
	}
	rz.k = &k8s{builder: b, provider: provider, parts: parts}
	if in.Monitoring != nil {
		rz.k.mon = in.Monitoring
	}
	// The tunnel's token: created with its routes in managed mode.
	routes := Routes(in.App)
	for i := range routes {
		// Releases before the tunnel made each public part's record
		// under the part, named <name>-dns (the CRM's) or
		// <name>-dns-<part>: those records move under the tunnel.
		for _, p := range in.App.PublicParts() {
			if p.Public.Hostname != routes[i].Hostname {
				continue
			}
			old := in.Name + "-dns"
			if p.Name != model.PartCRM {
				old += "-" + p.Name
			}
			routes[i].Was = &pulumi.Alias{Name: pulumi.String(old), Parent: part(in, p.Name, platform)}
		}
	}
	secrets, tunnel, err := components.TunnelSecretsOf(ctx, in, routes)
	if err != nil {
		return nil, err
	}
	if tunnel != nil {
		rz.tunnelID = tunnel.ID
	}
	if tok, ok := secrets[model.SecretTunnelToken]; ok && cfg.Tunnel.Mode == model.TunnelManaged {
		secrets[model.SecretTunnelToken] = rz.createdToken(tok)
	}
	secrets[model.SecretRedisPassword] = rz.cache.token
	if err := rz.base(secrets); err != nil {
		return nil, err
	}
	if err := rz.phase(phaseWorkloads); err != nil {
		return nil, err
	}
	if err := rz.backups(bucket, nil); err != nil {
		return nil, err
	}
	if err := rz.k.addons(cfg, rz.cl); err != nil {
		return nil, err
	}
	if model.MonitoringRuns(cfg) {
		if err := rz.k.monitoring(rz.app, rz.inNS); err != nil {
			return nil, err
		}
	}
	standbySecrets, standbyTunnel, err := rz.edge(site, tunnel, secrets)
	if err != nil {
		return nil, err
	}
	standbyCl, err := rz.standbyCluster(site, standby, standbySecrets, standbyTunnel)
	if err != nil {
		return nil, err
	}
	entry := pulumi.String("https://" + cfg.Tunnel.Hostname)
	outs := pulumi.Map{
		"cluster":      rz.cl.eks.Name,
		"kubeconfig":   pulumi.ToSecret(rz.cl.kubeconfig),
		"database":     rz.db.primary.Address,
		"cache":        rz.cache.group.PrimaryEndpointAddress,
		"backupBucket": bucket.Bucket,
		"alarmTopic":   topic.Arn,
		"entryPoint":   entry,
	}
	if s := standbyOutputs(cfg.Cloud, standby, standbyCl); s != nil {
		outs["standby"] = s
	}
	if err := ctx.RegisterResourceOutputs(platform, outs); err != nil {
		return nil, err
	}
	return pulumi.Map{"cluster": rz.cl.eks.Name, "entryPoint": entry}, nil
}

// phase provisions the parts whose kind's provisioner runs in phase n.
func (r *realisation) phase(n int) error {
	for i := range r.app.Parts {
		p := &r.app.Parts[i]
		pr, ok := Provisioners[p.Kind]
		if !ok {
			return &components.NoProvisionerError{Stage: r.cfg.Stage, Part: p}
		}
		if pr.phase() != n {
			continue
		}
		if err := pr.provision(r, p); err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
	}
	return nil
}

// base is what every workload stands on: the gp3 storage class, the
// namespace, the Secrets from Pulumi secret outputs (mounted as files like
// on the other stages) and the network policies.
func (r *realisation) base(secrets map[string]pulumi.StringOutput) error {
	k := r.k
	k.secrets = secrets
	// The data's volumes stay when their claims go (Retain) and grow in
	// place; the jobs' scratch volumes go with their pods: under Retain,
	// each day's would stay behind, billed, holding a copy of the data.
	for _, sc := range []struct {
		name, reclaim string
		grows         bool
	}{{StorageClass, "Retain", true}, {ScratchStorageClass, "Delete", false}} {
		if _, err := storagev1.NewStorageClass(k.ctx, k.name(sc.name), &storagev1.StorageClassArgs{
			Metadata:             &metav1.ObjectMetaArgs{Name: pulumi.String(sc.name)},
			Provisioner:          pulumi.String("ebs.csi.aws.com"),
			Parameters:           pulumi.StringMap{"type": pulumi.String("gp3"), "encrypted": pulumi.String("true")},
			VolumeBindingMode:    pulumi.String("WaitForFirstConsumer"),
			ReclaimPolicy:        pulumi.String(sc.reclaim),
			AllowVolumeExpansion: pulumi.Bool(sc.grows),
		}, k.opts("")...); err != nil {
			return err
		}
	}
	ns, err := corev1.NewNamespace(k.ctx, k.name("namespace"), &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(Namespace), Labels: pulumi.StringMap{
			"pod-security.kubernetes.io/enforce": pulumi.String("baseline"),
			"pod-security.kubernetes.io/warn":    pulumi.String("restricted"),
		}},
	}, k.opts("")...)
	if err != nil {
		return err
	}
	r.inNS = pulumi.DependsOn([]pulumi.Resource{ns})
	// Each secret once, under the first part that mounts it; the database
	// and cache passwords under their own parts.
	owner := map[string]string{model.SecretPostgresPassword: model.PartPostgres, model.SecretRedisPassword: model.PartRedis}
	names := []string{model.SecretPostgresPassword, model.SecretRedisPassword}
	for _, p := range r.app.Parts {
		if !p.Runs {
			continue
		}
		for _, s := range p.Service.Secrets {
			if _, seen := owner[s.Secret]; !seen {
				owner[s.Secret] = p.Name
				names = append(names, s.Secret)
			}
		}
	}
	for _, n := range names {
		v, ok := secrets[n]
		if !ok {
			return fmt.Errorf("secret %s has no value", n)
		}
		sec, err := corev1.NewSecret(k.ctx, k.name(dns(n)), &corev1.SecretArgs{
			Metadata:   meta(secretName(n), appLabels(owner[n])),
			Type:       pulumi.String("Opaque"),
			StringData: pulumi.StringMap{n: v},
		}, k.opts(owner[n], r.inNS)...)
		if err != nil {
			return err
		}
		if k.secretRes == nil {
			k.secretRes = map[string]pulumi.Resource{}
		}
		k.secretRes[n] = sec
	}
	return k.networkPolicies(r.app, r.inNS)
}

type platformComponent struct{ pulumi.ResourceState }

func part(in components.Realisation, name string, fallback pulumi.Resource) pulumi.Resource {
	if p, ok := in.Parts[name]; ok {
		return p
	}
	return fallback
}
