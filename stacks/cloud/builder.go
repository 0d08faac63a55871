package cloud

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

// builder carries what every cloud resource needs: the context, the
// configuration, the component its resources are parented to, and the
// naming of children after the component.
type builder struct {
	ctx    *pulumi.Context
	cfg    *model.Config
	stack  string
	prefix string
	parent pulumi.Resource
	// offline is a run under the SDK's mocks (see Realiser.Offline).
	offline bool
	// region and provider, when set, are the second region's (standby.go):
	// every resource of this builder goes to that provider, tagged with it.
	region      string
	awsProvider pulumi.ProviderResource
}

// RegionTag marks a resource of the second region with it (cost prices it
// there).
const RegionTag = aws.RegionTag

// name derives a child's name from the component's; child names are API.
func (b *builder) name(suffix string) string { return b.prefix + "-" + suffix }

func (b *builder) opts(extra ...pulumi.ResourceOption) []pulumi.ResourceOption {
	o := []pulumi.ResourceOption{pulumi.Parent(b.parent)}
	if b.awsProvider != nil {
		o = append(o, pulumi.Provider(b.awsProvider))
	}
	return append(o, extra...)
}

// under returns a builder whose resources are parented to p.
func (b *builder) under(p pulumi.Resource) *builder {
	c := *b
	c.parent = p
	return &c
}

func (b *builder) tags(name string) pulumi.StringMap { return b.tagsWith(name, nil) }

func (b *builder) tagsWith(name string, extra map[string]string) pulumi.StringMap {
	m := pulumi.StringMap{
		"Name":                pulumi.String(b.name(name)),
		"nextflow.io/stage":   pulumi.String(string(model.Cloud)),
		"nextflow.io/managed": pulumi.String("nfx"),
	}
	if b.region != "" {
		m[RegionTag] = pulumi.String(b.region)
	}
	for k, v := range extra {
		m[k] = pulumi.String(v)
	}
	return m
}

// kmsKey is a customer key of the builder's region, rotated yearly, with
// the longest wait before a deletion takes effect.
func (b *builder) kmsKey(name, description string) (*kms.Key, error) {
	return kms.NewKey(b.ctx, b.name(name), &kms.KeyArgs{
		Description:          pulumi.String(description),
		EnableKeyRotation:    pulumi.Bool(true),
		DeletionWindowInDays: pulumi.Int(30),
		Tags:                 b.tags(name),
	}, b.opts()...)
}

// emptySecret stands for a secret a run has not got: one the stack's
// config lacks (validation has said so), or, under the SDK's mocks, which
// cannot carry an unknown secret, a created tunnel's token.
func emptySecret() pulumi.StringOutput {
	return pulumi.ToSecret(pulumi.String("")).(pulumi.StringOutput)
}

// createdToken is a tunnel's token nfx creates: unknown under the mocks,
// where it stands as an empty secret.
func (b *builder) createdToken(token pulumi.StringOutput) pulumi.StringOutput {
	if b.offline {
		return emptySecret()
	}
	return token
}
