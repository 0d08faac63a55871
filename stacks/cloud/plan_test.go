package cloud

import (
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	_ "github.com/nextflow-crm/nfx/internal/testutil"
)

func TestSubnetPlan(t *testing.T) {
	s, err := SubnetPlan("10.40.0.0/16", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := "10.40.0.0/19 10.40.32.0/19 10.40.64.0/19 | 10.40.192.0/22 10.40.196.0/22 10.40.200.0/22"
	if got := strings.Join(s.Private, " ") + " | " + strings.Join(s.Public, " "); got != want {
		t.Errorf("got %s", got)
	}
	if NatGateways(model.CloudConfig{AvailabilityZones: 3, SingleNat: true}) != 1 || NatGateways(model.CloudConfig{AvailabilityZones: 3}) != 3 {
		t.Error("NAT gateway count")
	}
}
