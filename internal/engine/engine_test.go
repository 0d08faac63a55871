package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// Without a Pulumi CLI on PATH or in bin/, nfx builds the pinned one with
// the project's script, once, and uses it.
func TestPulumiCLIBuildsThePinnedOneWhenMissing(t *testing.T) {
	pulumi := testutil.Tool(t, "pulumi")
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A stand-in for scripts/build-pulumi.sh that "builds" by linking the real CLI.
	script := "#!/bin/bash\nset -e\nmkdir -p bin\nln -s " + pulumi + " bin/pulumi\necho built\n"
	if err := os.WriteFile(filepath.Join(dir, "scripts", "build-pulumi.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", "/usr/bin:/bin")
	var progress bytes.Buffer
	cmd, bin, err := PulumiCLI(dir, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "building the pinned one") || !strings.Contains(progress.String(), "built") {
		t.Errorf("progress: %q", progress.String())
	}
	if bin != filepath.Join(dir, "bin", "pulumi") {
		t.Errorf("the CLI's path is %s", bin)
	}
	if cmd.Version().String() != "3.274.1" {
		t.Errorf("version %s", cmd.Version())
	}
	// The second time, bin/pulumi is there: nothing is built.
	progress.Reset()
	if _, _, err := PulumiCLI(dir, &progress); err != nil || progress.Len() != 0 {
		t.Errorf("second call: %v, %q", err, progress.String())
	}
	// With no script either, the error says how to get one.
	empty := t.TempDir()
	if _, _, err := PulumiCLI(empty, &progress); err == nil || !strings.Contains(err.Error(), "build-pulumi.sh") {
		t.Errorf("no CLI and no script: %v", err)
	}
}

// A provider-hosted stage reads its resources before a preview or an up
// (pulumi's --refresh): the autoscaler's desired sizes and a failover's
// changes are then what an up keeps, not the values stored at the last up.
// A self-hosted stage has nothing that drifts and is not slowed by it.
func TestRefreshOnTheProviderHostedStage(t *testing.T) {
	for _, tc := range []struct {
		stage     model.Stage
		stack     string
		noRefresh bool
		refresh   bool
	}{
		{model.Cloud, "", false, true},
		{model.Cloud, "cloud-staging", false, true},
		// --refresh=false, as when a lost region cannot be read.
		{model.Cloud, "", true, false},
		{model.Laptop, "", false, false},
		{model.Server, "server-staging", false, false},
	} {
		o := Options{ProjectDir: t.TempDir(), Stage: tc.stage, Stack: tc.stack, ConfigFile: "/elsewhere/Pulumi.yaml", NoRefresh: tc.noRefresh}
		o.defaults()
		var up optup.Options
		for _, opt := range o.upOptions() {
			opt.ApplyOption(&up)
		}
		var pre optpreview.Options
		for _, opt := range o.previewOptions() {
			opt.ApplyOption(&pre)
		}
		if up.Refresh != tc.refresh || pre.Refresh != tc.refresh {
			t.Errorf("%s %q: up refreshes %v, preview %v; want %v", tc.stage, tc.stack, up.Refresh, pre.Refresh, tc.refresh)
		}
		if up.ConfigFile != o.ConfigFile || pre.ConfigFile != o.ConfigFile || !pre.Diff {
			t.Errorf("%s: the other options are lost: up %+v, preview %+v", tc.stage, up, pre)
		}
	}
}
