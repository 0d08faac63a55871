package model

import (
	"os/exec"
	"strings"
	"testing"
)

// The model must stay platform-neutral: no Pulumi, compose-go, Kubernetes
// or cloud SDK may enter it, directly or through a dependency.
func TestModelImportsNoTargetLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{"github.com/pulumi/", "github.com/compose-spec/", "k8s.io/", "github.com/aws/", "sigs.k8s.io/"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("the model depends on %s", dep)
			}
		}
	}
}
