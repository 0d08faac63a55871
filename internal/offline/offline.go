// Package offline evaluates the NextFlow program without an engine, a
// provider or credentials: under the Pulumi SDK's mock monitor, as a
// preview. It records every resource the program registers, with its
// inputs; secret inputs show as "[secret]" and values only a provider would
// know as "[unknown]", never invented.
package offline

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/plan"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
	"github.com/nextflow-crm/nfx/stacks"
)

// Placeholders for values a plan cannot show.
const (
	Secret  = plan.Secret
	Unknown = plan.Unknown
)

// Resource is one registered resource.
type Resource = plan.Resource

// Plan is every resource of a stage.
type Plan = plan.Plan

// Result is what an offline evaluation produced.
type Result struct {
	Plan  Plan
	Files files.Set
	// SecretPaths are where the stage's secret files go (`nfx up` writes
	// them; an offline render keeps them).
	SecretPaths []string
	// Warnings are the configuration's warnings.
	Warnings model.Diagnostics
}

// Recorder is a pulumi.MockResourceMonitor that records registrations.
type Recorder struct {
	mu        sync.Mutex
	resources []Resource
	// Raw keeps the unconverted inputs, by name, for tests that check secrecy.
	Raw map[string]resource.PropertyMap
	// Computed, when set, adds the values a provider would compute to a
	// resource's state (a test that follows an address to its users);
	// without it they stay unknown, as in a preview.
	Computed func(typ, name string) resource.PropertyMap
	// IDs, when set, gives every custom resource its name as its ID (a
	// test that follows an ID to the resource that takes it); without it
	// IDs are unknown, as in a preview.
	IDs bool
}

// NewResource records the resource and echoes its inputs as its state.
func (r *Recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	parent := ""
	inputs := args.Inputs
	var ignore, aliases []string
	retain := false
	provider := ""
	if args.RegisterRPC != nil {
		retain = args.RegisterRPC.GetRetainOnDelete()
		parent = urnName(args.RegisterRPC.GetParent())
		// A provider reference is its URN, "::", its ID.
		if ref := args.RegisterRPC.GetProvider(); ref != "" {
			if i := strings.LastIndex(ref, "::"); i >= 0 {
				provider = urnName(ref[:i])
			}
		}
		ignore = args.RegisterRPC.GetIgnoreChanges()
		aliases = append(aliases, args.RegisterRPC.GetAliasURNs()...)
		for _, a := range args.RegisterRPC.GetAliases() {
			if u := a.GetUrn(); u != "" {
				aliases = append(aliases, u)
			} else if spec := a.GetSpec(); spec != nil && (spec.GetName() != "" || spec.GetParentUrn() != "") {
				// (Type-only aliases, the SDKs' own for a kind's older API
				// versions, are left out.)
				var f []string
				for _, kv := range [][2]string{{"name", spec.GetName()}, {"type", spec.GetType()}, {"parent", urnName(spec.GetParentUrn())}, {"stack", spec.GetStack()}, {"project", spec.GetProject()}} {
					if kv[1] != "" {
						f = append(f, kv[0]+"="+kv[1])
					}
				}
				aliases = append(aliases, strings.Join(f, " "))
			}
		}
		// The mock monitor drops unknown inputs; read them from the request
		// itself so that they show as unknown instead of vanishing. (A
		// request with neither an unknown nor an output value is what the
		// monitor read: most are, and reading them twice was a fifth of a
		// large render.)
		if needsFullRead(args.RegisterRPC.GetObject()) {
			if full, err := plugin.UnmarshalProperties(args.RegisterRPC.GetObject(), plugin.MarshalOptions{
				KeepUnknowns: true, KeepSecrets: true, KeepResources: true, KeepOutputValues: true,
			}); err == nil {
				inputs = full
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Raw == nil {
		r.Raw = map[string]resource.PropertyMap{}
	}
	r.Raw[args.Name] = inputs
	r.resources = append(r.resources, Resource{
		Type: args.TypeToken, Name: args.Name, Parent: parent, Custom: args.Custom,
		Inputs: convertMap(inputs), IgnoreChanges: ignore, Aliases: aliases, RetainOnDelete: retain, Provider: provider,
	})
	// No ID: in a preview, the ID of a resource to be created is unknown.
	id := ""
	if r.IDs {
		id = args.Name
	}
	if r.Computed != nil {
		if extra := r.Computed(args.TypeToken, args.Name); extra != nil {
			state := args.Inputs.Copy()
			for k, v := range extra {
				state[k] = v
			}
			return id, state, nil
		}
	}
	return id, args.Inputs, nil
}

// needsFullRead says the request's inputs hold an unknown value (the
// protocol's sentinels) or an output value (its signature), which the mock
// monitor's reading drops or unwraps.
func needsFullRead(obj *structpb.Struct) bool {
	var walk func(v *structpb.Value) bool
	walk = func(v *structpb.Value) bool {
		switch k := v.GetKind().(type) {
		case *structpb.Value_StringValue:
			return protocolMarks[k.StringValue]
		case *structpb.Value_ListValue:
			for _, e := range k.ListValue.GetValues() {
				if walk(e) {
					return true
				}
			}
		case *structpb.Value_StructValue:
			for _, e := range k.StructValue.GetFields() {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(structpb.NewStructValue(obj))
}

// protocolMarks are the strings that stand for an unknown value, and the
// signature of an output value, in the resource monitor's protocol.
var protocolMarks = map[string]bool{
	plugin.UnknownBoolValue: true, plugin.UnknownNumberValue: true, plugin.UnknownStringValue: true,
	plugin.UnknownArrayValue: true, plugin.UnknownAssetValue: true, plugin.UnknownArchiveValue: true,
	plugin.UnknownObjectValue: true, resource.OutputValueSig: true,
}

// computedInvokes lists, per provider function the program calls, the
// result fields that only the provider knows: they come back unknown.
var computedInvokes = map[string][]string{
	aws.GetAvailabilityZones: {"names", "zoneIds"},
	aws.GetSecretVersion:     {"secretString"},
}

// Call answers provider function calls: the fields only the provider knows
// are unknown, never invented.
func (r *Recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	out := resource.PropertyMap{}
	for _, f := range computedInvokes[args.Token] {
		out[resource.PropertyKey(f)] = resource.MakeComputed(resource.NewStringProperty(""))
	}
	return out, nil
}

// UnsecretInputs returns the path of every recorded input whose name says
// it holds a password, token or secret but whose value is not a Pulumi
// secret, and how many such inputs there are in all.
func (r *Recorder) UnsecretInputs() (bad []string, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var walk func(path string, v resource.PropertyValue)
	walk = func(path string, v resource.PropertyValue) {
		if !v.IsObject() {
			return
		}
		for k, e := range v.ObjectValue() {
			p := path + "." + string(k)
			low := strings.ToLower(string(k))
			// A flag such as manageMasterUserPassword holds no secret, nor
			// does a chart's passwordKey, which names the key of a Secret.
			if e.IsBool() || strings.HasSuffix(low, "passwordkey") {
				continue
			}
			if strings.Contains(low, "password") || strings.Contains(low, "token") || low == "secret" {
				total++
				if !e.IsSecret() && !(e.IsOutput() && e.OutputValue().Secret) {
					bad = append(bad, p)
				}
			}
			walk(p, e)
		}
	}
	for name, props := range r.Raw {
		walk(name, resource.NewObjectProperty(props))
	}
	sort.Strings(bad)
	return bad, total
}

// Resources returns the recorded resources sorted by name.
func (r *Recorder) Resources() []Resource {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Resource(nil), r.resources...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Type < out[j].Type
	})
	return out
}

func urnName(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

func convertMap(m resource.PropertyMap) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[string(k)] = convert(v)
	}
	return out
}

// redact keeps the shape of a secret value (the keys of an object are not
// secret) and hides every leaf.
func redact(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return redact(v.SecretValue().Element)
	case v.IsOutput():
		return redact(v.OutputValue().Element)
	case v.IsObject():
		out := map[string]any{}
		for k, e := range v.ObjectValue() {
			out[string(k)] = redact(e)
		}
		return out
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = redact(e)
		}
		return out
	}
	return Secret
}

func convert(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return redact(v)
	case v.IsComputed():
		return Unknown
	case v.IsOutput():
		o := v.OutputValue()
		if o.Secret {
			return redact(v)
		}
		if !o.Known {
			return Unknown
		}
		return convert(o.Element)
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = convert(e)
		}
		return out
	case v.IsObject():
		return convertMap(v.ObjectValue())
	case v.IsResourceReference():
		return urnName(string(v.ResourceReferenceValue().URN))
	}
	return fmt.Sprint(v)
}

// Run evaluates the program for stage on raw configuration, offline.
func Run(stage model.Stage, raw model.Raw) (*Result, error) {
	rec := &Recorder{}
	return RunWith(stage, raw, rec)
}

// RunWith is Run with a caller's recorder, for tests that inspect it.
func RunWith(stage model.Stage, raw model.Raw, rec *Recorder) (*Result, error) {
	res := &Result{Plan: Plan{Stage: string(stage)}}
	var mu sync.Mutex
	opts := stacks.Options{
		Offline: true,
		Collect: func(s files.Set, secretPaths []string) {
			mu.Lock()
			defer mu.Unlock()
			res.Files = append(res.Files, s...)
			res.SecretPaths = append(res.SecretPaths, secretPaths...)
		},
		Diagnostics: func(ds model.Diagnostics) { res.Warnings = ds.Warnings() },
	}
	values, secretKeys := raw.PulumiConfig()
	err := pulumi.RunErr(stacks.Program(opts), func(info *pulumi.RunInfo) {
		info.Project = model.Namespace
		info.Stack = string(stage)
		info.Config = values
		info.ConfigSecretKeys = secretKeys
		info.DryRun = true
		info.Mocks = rec
		info.MonitorAddr, info.EngineAddr = "", ""
	})
	if err != nil {
		return nil, err
	}
	res.Plan.Resources = rec.Resources()
	def, err := stacks.Lookup(stage)
	if err != nil {
		return nil, err
	}
	if def.PlanFiles != nil {
		extra, err := def.PlanFiles(&res.Plan)
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, extra...)
	}
	res.Files = res.Files.Sorted()
	return res, nil
}
