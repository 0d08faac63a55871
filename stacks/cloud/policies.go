package cloud

import (
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
)

// policyRule admits traffic to one part's pods on some ports: from any
// address (nil from), or from the pods that match a label.
type policyRule struct {
	name, target string
	from         map[string]string
	ports        []int
}

// policyRules are derived from the parts: a public web app takes traffic
// from the tunnel's cloudflared, an internal one from the app's own pods; each
// in-cluster endpoint admits the pods that need it (labelled
// nextflow.io/uses-<endpoint>); Qdrant's peers reach each other.
func policyRules(app *model.App) []policyRule {
	var out []policyRule
	partOf := map[string]string{"app.kubernetes.io/part-of": "nextflow"}
	for _, p := range app.Parts {
		var ports []int
		for _, pt := range p.Service.Ports {
			ports = append(ports, pt.Port)
		}
		switch p.Kind {
		case model.KindWeb:
			r := policyRule{name: "allow-" + p.Name + "-http", target: p.Name, ports: ports, from: partOf}
			if p.Public != nil {
				r.from = map[string]string{"app.kubernetes.io/name": model.PartTunnel}
			}
			out = append(out, r)
		case model.KindAI, model.KindVector:
			for _, e := range p.Offers {
				out = append(out, policyRule{name: "allow-" + p.Name + "-clients", target: p.Name, from: map[string]string{usesLabel(e): "true"}, ports: ports})
			}
			if p.Kind == model.KindVector {
				out = append(out, policyRule{name: "allow-" + p.Name + "-peers", target: p.Name, from: map[string]string{"app.kubernetes.io/name": p.Name}, ports: []int{qdrantP2P}})
			}
		}
	}
	return out
}

// qdrantP2P is Qdrant's peer-to-peer port.
const qdrantP2P = 6335

// networkPolicies deny all ingress in the namespace, then admit what the
// parts need (policyRules).
func (k *k8s) networkPolicies(app *model.App, opts ...pulumi.ResourceOption) error {
	if _, err := networkingv1.NewNetworkPolicy(k.ctx, k.name("default-deny"), &networkingv1.NetworkPolicyArgs{
		Metadata: meta("default-deny-ingress", map[string]string{"app.kubernetes.io/part-of": "nextflow"}),
		Spec: networkingv1.NetworkPolicySpecArgs{
			PodSelector: metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
		},
	}, k.opts("", opts...)...); err != nil {
		return err
	}
	for _, r := range policyRules(app) {
		var ports networkingv1.NetworkPolicyPortArray
		for _, p := range r.ports {
			ports = append(ports, networkingv1.NetworkPolicyPortArgs{Port: pulumi.Int(p), Protocol: pulumi.String("TCP")})
		}
		ingress := networkingv1.NetworkPolicyIngressRuleArgs{Ports: ports}
		if r.from != nil {
			ingress.From = networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{
				PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(r.from)},
			}}
		}
		if _, err := networkingv1.NewNetworkPolicy(k.ctx, k.name(r.name), &networkingv1.NetworkPolicyArgs{
			Metadata: meta(r.name, appLabels(r.target)),
			Spec: networkingv1.NetworkPolicySpecArgs{
				PodSelector: *selector(r.target),
				PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
				Ingress:     networkingv1.NetworkPolicyIngressRuleArray{ingress},
			},
		}, k.opts(r.target, opts...)...); err != nil {
			return err
		}
	}
	return nil
}
