package files

import (
	"os"
	"path/filepath"
	"testing"

	_ "github.com/nextflow-crm/nfx/internal/testutil"
)

func TestWriteDirReplacesWholeDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := WriteDir(dir, Set{{Path: "a.yaml", Data: []byte("a")}, {Path: "stale.txt", Data: []byte("old")}}); err != nil {
		t.Fatal(err)
	}
	if err := WriteDir(dir, Set{{Path: "a.yaml", Data: []byte("b")}, {Path: "secrets/pw", Data: []byte("s"), Secret: true}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.yaml")); string(b) != "b" {
		t.Errorf("a.yaml = %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "stale.txt")); err == nil {
		t.Error("a file from the earlier write survived")
	}
	fi, err := os.Stat(filepath.Join(dir, "secrets", "pw"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode: %v %v", fi, err)
	}
	if di, _ := os.Stat(filepath.Join(dir, "secrets")); di.Mode().Perm() != 0o700 {
		t.Errorf("secret dir mode %v", di.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("temporary directories left behind: %v", entries)
	}
}

func TestWriteDirFailureLeavesEarlierOutput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := WriteDir(dir, Set{{Path: "a.yaml", Data: []byte("a")}}); err != nil {
		t.Fatal(err)
	}
	if err := WriteDir(dir, Set{{Path: "b.yaml", Data: []byte("b")}, {Path: "../escape", Data: []byte("x")}}); err == nil {
		t.Fatal("a path outside the directory was accepted")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.yaml")); string(b) != "a" {
		t.Errorf("the earlier output changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.yaml")); err == nil {
		t.Error("part of the failed write is visible")
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("temporary directories left behind: %v", entries)
	}
}

func TestDigestIgnoresSecrets(t *testing.T) {
	a := Set{{Path: "c", Data: []byte("x")}, {Path: "s", Data: []byte("one"), Secret: true}}
	b := Set{{Path: "c", Data: []byte("x")}, {Path: "s", Data: []byte("two"), Secret: true}}
	if a.Digest() != b.Digest() {
		t.Error("the digest depends on a secret")
	}
	if a.Digest() == (Set{{Path: "c", Data: []byte("y")}}).Digest() {
		t.Error("the digest ignores content")
	}
}
