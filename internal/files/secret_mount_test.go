package files

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// A secret file nfx writes is readable by the users the images read it
// as, through a bind mount as Compose makes one (it keeps the host file's
// owner and mode), and not by another user of the host, whom its 0700
// directory keeps out. The mount is a real one, in a mount namespace of
// the test's own; each reader a process with that uid and gid.
func TestSecretFilesReadableThroughABindMount(t *testing.T) {
	unshare := testutil.Tool(t, "unshare")
	setpriv := testutil.Tool(t, "setpriv")
	if os.Geteuid() != 0 {
		if os.Getenv("NFX_REQUIRE_TOOLS") != "" {
			t.Fatal("this test mounts, and needs root")
		}
		t.Skip("this test mounts, and needs root")
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := WriteOutput(out, Set{{Path: "compose.yaml", Data: []byte("services: {}\n")}, {Path: "secrets/tunnel_token", Data: []byte("tok"), Secret: true}}, Options{}); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(out, "secrets", "tunnel_token")
	// The container's side: a directory anyone may traverse.
	mnt, err := os.MkdirTemp("", "nfx-mnt-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(mnt)
	os.Chmod(mnt, 0o755)
	target := filepath.Join(mnt, "tunnel_token")
	os.WriteFile(target, nil, 0o644)
	for _, tc := range []struct {
		who string
		uid int
	}{
		{"cloudflared (distroless nonroot)", 65532},
		{"postgres and redis after their entrypoints drop root", 999},
		{"a laptop user's uid", 1000},
	} {
		t.Run(tc.who, func(t *testing.T) {
			id := strconv.Itoa(tc.uid)
			read := exec.Command(unshare, "-m", "sh", "-c", `mount --bind "$1" "$2" && exec "$3" --reuid="$4" --regid="$4" --clear-groups cat "$2"`,
				"sh", secret, target, setpriv, id)
			if b, err := read.CombinedOutput(); err != nil || string(b) != "tok" {
				t.Errorf("uid %d cannot read the mounted secret: %v %s", tc.uid, err, b)
			}
			host := exec.Command(setpriv, "--reuid="+id, "--regid="+id, "--clear-groups", "cat", secret)
			if b, err := host.CombinedOutput(); err == nil {
				t.Errorf("uid %d reads the secret on the host, through its directory: %s", tc.uid, b)
			}
		})
	}
}
