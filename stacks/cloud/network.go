package cloud

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// zones returns the i-th available zone of the builder's region (the
// standby's through its provider). Offline, the zones are unknown: only
// AWS knows which of a region's zones an account has.
func (b *builder) zones() func(int) pulumi.StringOutput {
	if b.offline {
		return func(int) pulumi.StringOutput {
			return pulumi.UnsafeUnknownOutput(nil).ApplyT(func(any) string { return "" }).(pulumi.StringOutput)
		}
	}
	opts := []pulumi.InvokeOption{pulumi.Parent(b.parent)}
	if b.awsProvider != nil {
		opts = append(opts, pulumi.Provider(b.awsProvider))
	}
	azs := aws.GetAvailabilityZonesOutput(b.ctx, aws.GetAvailabilityZonesOutputArgs{State: pulumi.String("available")}, opts...)
	return func(i int) pulumi.StringOutput { return azs.Names().Index(pulumi.Int(i)) }
}

// network is the VPC: public and private subnets in each zone, an Internet
// gateway, and NAT for the private subnets (per zone, or one).
type network struct {
	vpc            *ec2.Vpc
	cidr           string
	publicSubnets  pulumi.StringArray
	privateSubnets pulumi.StringArray
	// privateCidrs are the private subnets' ranges (the nodes').
	privateCidrs []string
	// peering, with a standby region, joins the VPC to the standby's.
	peering         *ec2.VpcPeeringConnection
	peeringAccepter *ec2.VpcPeeringConnectionAccepter
}

// peerRoute is the other region's range, reached through the peering,
// which routes once its accepter has accepted it.
type peerRoute struct {
	cidr     string
	pcx      *ec2.VpcPeeringConnection
	accepter *ec2.VpcPeeringConnectionAccepter
}

// vpc is the builder's region's VPC on the range cidr.
func (b *builder) vpc(cidr string) (*ec2.Vpc, error) {
	return ec2.NewVpc(b.ctx, b.name("vpc"), &ec2.VpcArgs{
		CidrBlock:          pulumi.String(cidr),
		EnableDnsHostnames: pulumi.Bool(true),
		EnableDnsSupport:   pulumi.Bool(true),
		Tags:               b.tags("vpc"),
	}, b.opts()...)
}

// network is the VPC; with a standby site, peered with the standby's, its
// private subnets routing the standby's range through the peering.
func (b *builder) network(site *standbySite) (*network, error) {
	c := b.cfg.Cloud
	vpc, err := b.vpc(c.VpcCidr)
	if err != nil {
		return nil, err
	}
	n := &network{vpc: vpc, cidr: c.VpcCidr}
	var peer *peerRoute
	if site != nil {
		if n.peering, n.peeringAccepter, err = b.peer(vpc, site); err != nil {
			return nil, err
		}
		peer = &peerRoute{cidr: c.StandbyVpcCidr, pcx: n.peering, accepter: n.peeringAccepter}
	}
	return n, b.subnets(n, peer)
}

// subnets fills the network's VPC (of the builder's region, on its
// configured range and zones): public and private subnets in each zone,
// the Internet gateway, NAT, the private subnets' routes (through NAT,
// and to peer's range through the peering) and S3's gateway endpoint.
func (b *builder) subnets(n *network, peer *peerRoute) error {
	c := b.cfg.Cloud
	plan, err := SubnetPlan(c.VpcCidr, c.AvailabilityZones)
	if err != nil {
		return err
	}
	n.privateCidrs = plan.Private
	cluster := ClusterName(b.stack)
	vpc := n.vpc
	zone := b.zones()
	igw, err := ec2.NewInternetGateway(b.ctx, b.name("igw"), &ec2.InternetGatewayArgs{VpcId: vpc.ID(), Tags: b.tags("igw")}, b.opts()...)
	if err != nil {
		return err
	}
	publicRT, err := ec2.NewRouteTable(b.ctx, b.name("public"), &ec2.RouteTableArgs{
		VpcId:  vpc.ID(),
		Routes: ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), GatewayId: igw.ID()}},
		Tags:   b.tags("public"),
	}, b.opts()...)
	if err != nil {
		return err
	}
	var rtOpts []pulumi.ResourceOption
	if peer != nil {
		rtOpts = append(rtOpts, pulumi.DependsOn([]pulumi.Resource{peer.accepter}))
	}
	var nats []*ec2.NatGateway
	for i := 0; i < c.AvailabilityZones; i++ {
		az := zone(i)
		pub, err := ec2.NewSubnet(b.ctx, b.name(fmt.Sprintf("public-%d", i+1)), &ec2.SubnetArgs{
			VpcId: vpc.ID(), CidrBlock: pulumi.String(plan.Public[i]), AvailabilityZone: az,
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags: b.tagsWith(fmt.Sprintf("public-%d", i+1), map[string]string{
				"kubernetes.io/role/elb":           "1",
				"kubernetes.io/cluster/" + cluster: "shared",
			}),
		}, b.opts()...)
		if err != nil {
			return err
		}
		if _, err := ec2.NewRouteTableAssociation(b.ctx, b.name(fmt.Sprintf("public-%d", i+1)), &ec2.RouteTableAssociationArgs{
			SubnetId: pub.ID(), RouteTableId: publicRT.ID(),
		}, b.opts()...); err != nil {
			return err
		}
		n.publicSubnets = append(n.publicSubnets, pub.ID().ToStringOutput())
		if i < NatGateways(c) {
			eip, err := ec2.NewEip(b.ctx, b.name(fmt.Sprintf("nat-%d", i+1)), &ec2.EipArgs{Domain: pulumi.String("vpc"), Tags: b.tags(fmt.Sprintf("nat-%d", i+1))}, b.opts()...)
			if err != nil {
				return err
			}
			nat, err := ec2.NewNatGateway(b.ctx, b.name(fmt.Sprintf("nat-%d", i+1)), &ec2.NatGatewayArgs{
				AllocationId: eip.ID(), SubnetId: pub.ID(), Tags: b.tags(fmt.Sprintf("nat-%d", i+1)),
			}, b.opts(pulumi.DependsOn([]pulumi.Resource{igw}))...)
			if err != nil {
				return err
			}
			nats = append(nats, nat)
		}
	}
	var private pulumi.StringArray
	for i := 0; i < c.AvailabilityZones; i++ {
		priv, err := b.privateSubnet(vpc, i, plan.Private[i], zone, map[string]string{
			"kubernetes.io/role/internal-elb":  "1",
			"kubernetes.io/cluster/" + cluster: "shared",
		})
		if err != nil {
			return err
		}
		// With a single NAT gateway every zone routes through it.
		nat := nats[min(i, len(nats)-1)]
		routes := ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), NatGatewayId: nat.ID()}}
		if peer != nil {
			// Inline, as the table's other route: a table with inline
			// routes cannot also take Route resources.
			routes = append(routes, ec2.RouteTableRouteArgs{CidrBlock: pulumi.String(peer.cidr), VpcPeeringConnectionId: peer.pcx.ID()})
		}
		rt, err := ec2.NewRouteTable(b.ctx, b.name(fmt.Sprintf("private-%d", i+1)), &ec2.RouteTableArgs{
			VpcId:  vpc.ID(),
			Routes: routes,
			Tags:   b.tags(fmt.Sprintf("private-%d", i+1)),
		}, b.opts(rtOpts...)...)
		if err != nil {
			return err
		}
		if _, err := ec2.NewRouteTableAssociation(b.ctx, b.name(fmt.Sprintf("private-%d", i+1)), &ec2.RouteTableAssociationArgs{
			SubnetId: priv.ID(), RouteTableId: rt.ID(),
		}, b.opts()...); err != nil {
			return err
		}
		n.privateSubnets = append(n.privateSubnets, priv.ID().ToStringOutput())
		private = append(private, rt.ID())
	}
	// S3 in the region without the NAT gateway: a gateway endpoint costs
	// nothing, where NAT charges for every GB of the backups (VPC user
	// guide, "Gateway endpoints for Amazon S3").
	_, err = ec2.NewVpcEndpoint(b.ctx, b.name("s3"), &ec2.VpcEndpointArgs{
		VpcId: vpc.ID(), ServiceName: pulumi.Sprintf("com.amazonaws.%s.s3", c.Region),
		VpcEndpointType: pulumi.String("Gateway"), RouteTableIds: private,
		Tags: b.tags("s3"),
	}, b.opts()...)
	return err
}

// privateSubnet is the VPC's i-th private subnet, on cidr in the i-th zone.
func (b *builder) privateSubnet(vpc *ec2.Vpc, i int, cidr string, zone func(int) pulumi.StringOutput, tags map[string]string) (*ec2.Subnet, error) {
	return ec2.NewSubnet(b.ctx, b.name(fmt.Sprintf("private-%d", i+1)), &ec2.SubnetArgs{
		VpcId: vpc.ID(), CidrBlock: pulumi.String(cidr), AvailabilityZone: zone(i),
		Tags: b.tagsWith(fmt.Sprintf("private-%d", i+1), tags),
	}, b.opts()...)
}
