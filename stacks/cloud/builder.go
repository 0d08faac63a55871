package cloud

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
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
}

// name derives a child's name from the component's; child names are API.
func (b *builder) name(suffix string) string { return b.prefix + "-" + suffix }

func (b *builder) opts(extra ...pulumi.ResourceOption) []pulumi.ResourceOption {
	return append([]pulumi.ResourceOption{pulumi.Parent(b.parent)}, extra...)
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
	for k, v := range extra {
		m[k] = pulumi.String(v)
	}
	return m
}
