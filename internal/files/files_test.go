package files

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	_ "github.com/nextflow-crm/nfx/internal/testutil"
)

// tree lists every path under dir with its mode and content, for
// byte-for-byte comparisons.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		fi, _ := os.Lstat(p)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "-> " + target
		case d.IsDir():
			out[rel+"/"] = fi.Mode().Perm().String()
		default:
			data, _ := os.ReadFile(p)
			out[rel] = fi.Mode().Perm().String() + " " + string(data)
		}
		return nil
	})
	return out
}

func same(t *testing.T, what string, a, b map[string]string) {
	t.Helper()
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("%s changed:\nbefore %v\nafter  %v", what, a, b)
	}
}

func mustWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

var render1 = Set{{Path: "compose.yaml", Data: []byte("v1")}, {Path: "nginx/nginx.conf", Data: []byte("n1")}, {Path: "stale.txt", Data: []byte("old")}}
var render2 = Set{{Path: "compose.yaml", Data: []byte("v2")}, {Path: "nginx/nginx.conf", Data: []byte("n2")}}
var withSecret = append(append(Set{}, render2...), File{Path: "secrets/pw", Data: []byte("s3cret"), Secret: true})

// Paths nfx must refuse to write into, each left exactly as it was.
func TestWriteOutputRefusesWhatIsNotItsOwn(t *testing.T) {
	cases := map[string]struct {
		setup func(t *testing.T, root string) string
		want  string
	}{
		"the project": {func(t *testing.T, root string) string {
			mustWrite(t, filepath.Join(root, "Pulumi.yaml"), "name: nextflow")
			mustWrite(t, filepath.Join(root, ".git", "HEAD"), "ref: main")
			mustWrite(t, filepath.Join(root, ".nfx", "passphrase"), "pp")
			return root
		}, "which nfx did not write"},
		"a home directory": {func(t *testing.T, root string) string {
			mustWrite(t, filepath.Join(root, "Documents", "thesis.odt"), "years")
			return root
		}, "which nfx did not write"},
		"a directory holding only a directory of the user's": {func(t *testing.T, root string) string {
			mustWrite(t, filepath.Join(root, "photos", "a.jpg"), "x")
			return root
		}, "photos/a.jpg"},
		"a file": {func(t *testing.T, root string) string {
			p := filepath.Join(root, "notes.txt")
			mustWrite(t, p, "keep me")
			return p
		}, "it is a file"},
		"a symbolic link to a directory": {func(t *testing.T, root string) string {
			target := filepath.Join(root, "real")
			mustWrite(t, filepath.Join(target, "x"), "x")
			link := filepath.Join(root, "link")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "symbolic link"},
		"a symbolic link to an empty directory": {func(t *testing.T, root string) string {
			target := filepath.Join(root, "empty")
			os.Mkdir(target, 0o755)
			link := filepath.Join(root, "link")
			os.Symlink(target, link)
			return link
		}, "symbolic link"},
		"a marker that is a file": {func(t *testing.T, root string) string {
			mustWrite(t, filepath.Join(root, MarkerDir), "x")
			return root
		}, "not nfx's marker"},
		"a marker that is a symbolic link": {func(t *testing.T, root string) string {
			other := filepath.Join(t.TempDir(), "elsewhere")
			os.Mkdir(other, 0o700)
			os.Symlink(other, filepath.Join(root, MarkerDir))
			return root
		}, "not nfx's marker"},
		"a symbolic link where a rendered file would go": {func(t *testing.T, root string) string {
			os.Symlink("/etc/passwd", filepath.Join(root, "compose.yaml"))
			return root
		}, "compose.yaml, which nfx did not write"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			dir := tc.setup(t, root)
			before := tree(t, root)
			err := WriteOutput(dir, render1, Options{Stage: "laptop"})
			var not *NotOursError
			if !errors.As(err, &not) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "fix:") {
				t.Fatalf("want a refusal naming %q, got %v", tc.want, err)
			}
			same(t, "the refused path", before, tree(t, root))
		})
	}
}

// Bad sets are refused before anything is written.
func TestWriteOutputRefusesBadPaths(t *testing.T) {
	for name, s := range map[string]Set{
		"parent":         {{Path: "../escape", Data: []byte("x")}},
		"absolute":       {{Path: "/etc/cron.d/x", Data: []byte("x")}},
		"not clean":      {{Path: "a/../b", Data: []byte("x")}},
		"empty":          {{Path: "", Data: []byte("x")}},
		"the marker":     {{Path: MarkerDir + "/manifest.json", Data: []byte("{}")}},
		"twice":          {{Path: "a", Data: []byte("1")}, {Path: "a", Data: []byte("2")}},
		"dot":            {{Path: ".", Data: []byte("x")}},
		"trailing slash": {{Path: "a/", Data: []byte("x")}},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "out")
			if err := WriteOutput(dir, render1, Options{}); err != nil {
				t.Fatal(err)
			}
			before := tree(t, root)
			if err := WriteOutput(dir, append(append(Set{}, render2...), s...), Options{}); err == nil {
				t.Fatal("accepted")
			}
			same(t, "the output", before, tree(t, root))
		})
	}
}

// The user's files beside the output survive every write; files an earlier
// write left and this one drops are removed; secrets are 0444 in 0700.
func TestWriteOutputKeepsTheUsersFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := WriteOutput(dir, render1, Options{}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "compose.override.yaml"), "mine")
	mustWrite(t, filepath.Join(dir, ".env"), "FOO=1")
	mustWrite(t, filepath.Join(dir, "nginx", "extra.conf"), "mine too")
	if err := WriteOutput(dir, withSecret, Options{}); err != nil {
		t.Fatal(err)
	}
	got := tree(t, dir)
	for p, want := range map[string]string{
		"compose.override.yaml": "-rw-r--r-- mine", ".env": "-rw-r--r-- FOO=1", "nginx/extra.conf": "-rw-r--r-- mine too",
		"compose.yaml": "-rw-r--r-- v2", "nginx/nginx.conf": "-rw-r--r-- n2", "secrets/pw": "-r--r--r-- s3cret", "secrets/": "-rwx------",
	} {
		if got[p] != want {
			t.Errorf("%s = %q, want %q", p, got[p], want)
		}
	}
	if _, ok := got["stale.txt"]; ok {
		t.Error("a file the earlier write left and this one drops survived")
	}
	for p := range got {
		if strings.Contains(p, stagingDir) || strings.Contains(p, journalFile) {
			t.Errorf("%s left behind", p)
		}
	}
	// render after up: public files replaced, the secret kept.
	if err := WriteOutput(dir, render2, Options{KeepSecrets: []string{"secrets/pw"}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "secrets", "pw")); string(b) != "s3cret" {
		t.Errorf("render took away the secret up wrote: %q", b)
	}
	m, _ := ReadManifest(dir)
	if fmt.Sprint(m.Secrets) != "[secrets/pw]" {
		t.Errorf("manifest secrets %v", m.Secrets)
	}
	// A secret no longer expected goes.
	if err := WriteOutput(dir, render2, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "secrets", "pw")); err == nil {
		t.Error("a secret file nfx wrote and no longer expects survived")
	}
	if !InSync(dir, render2) || InSync(dir, withSecret) {
		t.Error("InSync")
	}
	// destroy: nfx's files go, the user's stay, and so does the directory.
	if err := RemoveOutput(dir); err != nil {
		t.Fatal(err)
	}
	got = tree(t, dir)
	if _, ok := got["compose.yaml"]; ok || got[".env"] == "" || got["compose.override.yaml"] == "" {
		t.Errorf("after destroy: %v", got)
	}
	if _, ok := got[MarkerDir+"/"]; ok {
		t.Error("the marker survived destroy")
	}
	os.Remove(filepath.Join(dir, ".env"))
	os.Remove(filepath.Join(dir, "compose.override.yaml"))
	os.Remove(filepath.Join(dir, "nginx", "extra.conf"))
	os.Remove(filepath.Join(dir, "nginx"))
	if err := WriteOutput(dir, render1, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := RemoveOutput(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Error("an output with only nfx's files survived destroy")
	}
}

// Nothing outside the directory is ever written or removed, even through
// a symbolic link the user put inside it.
func TestWriteOutputStaysInside(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "out")
	if err := WriteOutput(dir, withSecret, Options{}); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(root, "outside")
	mustWrite(t, filepath.Join(outside, "pw"), "precious")
	os.RemoveAll(filepath.Join(dir, "secrets"))
	os.Symlink(outside, filepath.Join(dir, "secrets"))
	before := tree(t, outside)
	if err := WriteOutput(dir, withSecret, Options{}); err == nil {
		t.Error("wrote through a symbolic link")
	}
	same(t, "the directory the link points at", before, tree(t, outside))
	os.Remove(filepath.Join(dir, "secrets"))
	// The interrupted write finishes once the link is gone.
	if err := WriteOutput(dir, render2, Options{}); err != nil {
		t.Fatal(err)
	}
	// A manifest naming a path outside is refused, not followed.
	data, _ := json.Marshal(Manifest{Files: []string{"../outside/pw"}})
	os.WriteFile(filepath.Join(dir, MarkerDir, manifestFile), data, 0o600)
	if err := WriteOutput(dir, render2, Options{}); err == nil || !strings.Contains(err.Error(), "not a path inside it") {
		t.Errorf("a tampered manifest: %v", err)
	}
	if err := RemoveOutput(dir); err == nil {
		t.Error("destroy followed a tampered manifest")
	}
	same(t, "the directory outside", before, tree(t, outside))
}

// An output of an nfx from before outputs were marked, holding only files
// nfx renders, is adopted; an empty directory too.
func TestWriteOutputAdoptsEarlierOutput(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "compose.yaml"), "v0")
	mustWrite(t, filepath.Join(dir, "secrets", "pw"), "kept")
	if err := WriteOutput(dir, render2, Options{KeepSecrets: []string{"secrets/pw"}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "secrets", "pw")); string(b) != "kept" {
		t.Error("the earlier secret was lost")
	}
	if err := WriteOutput(t.TempDir(), render1, Options{}); err != nil {
		t.Errorf("an empty directory: %v", err)
	}
}

// Two writers at once: the lock serialises them, each sees its write
// complete, and the result is one of them whole.
func TestWriteOutputConcurrent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := Set{{Path: "compose.yaml", Data: []byte(fmt.Sprint(i))}, {Path: "nginx/nginx.conf", Data: []byte(fmt.Sprint(i))}}
			errs[i] = WriteOutput(dir, s, Options{})
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	b, _ := os.ReadFile(filepath.Join(dir, "nginx", "nginx.conf"))
	if string(a) != string(b) {
		t.Errorf("the files come from two writes: %q %q", a, b)
	}
}

// TestHelperWrite is not a test: the crash test runs the test binary as a
// child that writes and exits at the step named by NFX_CRASH_AT.
func TestHelperWrite(t *testing.T) {
	dir := os.Getenv("NFX_HELPER_DIR")
	if dir == "" {
		t.Skip("run by TestWriteOutputSurvivesACrashAtEveryStep")
	}
	at := os.Getenv("NFX_CRASH_AT")
	crash = func(step string) {
		if step == at {
			os.Exit(3)
		}
	}
	if err := WriteOutput(dir, withSecret, Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// A write killed at every one of its steps leaves either the earlier
// output (killed before the commit) or, once the next write runs, the new
// one: never a lost file, a staged copy left behind, or a user's file
// touched.
func TestWriteOutputSurvivesACrashAtEveryStep(t *testing.T) {
	steps := []string{"staged", "committed", "cleaned", "manifest"}
	for i := range withSecret {
		steps = append(steps, fmt.Sprintf("moved-%d", i))
	}
	sort.Strings(steps)
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if err := WriteOutput(dir, render1, Options{}); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, filepath.Join(dir, ".env"), "mine")
			before := tree(t, dir)
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWrite$")
			cmd.Env = append(os.Environ(), "NFX_HELPER_DIR="+dir, "NFX_CRASH_AT="+step)
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 3 {
				t.Fatalf("the writer did not crash at %s: %v", step, err)
			}
			if step == "staged" {
				// Killed before the commit: the files are the earlier ones.
				after := tree(t, dir)
				for p, v := range before {
					if !strings.HasPrefix(p, MarkerDir) && after[p] != v {
						t.Errorf("%s changed before the commit: %q -> %q", p, v, after[p])
					}
				}
			}
			// The next write recovers, then writes.
			if err := WriteOutput(dir, withSecret, Options{}); err != nil {
				t.Fatal(err)
			}
			got := tree(t, dir)
			for p, want := range map[string]string{".env": "-rw-r--r-- mine", "compose.yaml": "-rw-r--r-- v2", "secrets/pw": "-r--r--r-- s3cret"} {
				if got[p] != want {
					t.Errorf("%s = %q, want %q", p, got[p], want)
				}
			}
			for p := range got {
				if strings.Contains(p, stagingDir) || strings.Contains(p, journalFile) || strings.Contains(p, ".tmp-") || p == "stale.txt" {
					t.Errorf("%s left behind", p)
				}
			}
			entries, _ := os.ReadDir(filepath.Dir(dir))
			if len(entries) != 1 {
				t.Errorf("something was written beside the output: %v", entries)
			}
		})
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

// A file nfx wrote that a write would write again byte for byte, with its
// mode, is left as it is (the same inode and time); any difference makes
// it written anew: other bytes, the same size with other bytes, another
// mode, a link in its place, a file nfx did not write.
func TestWriteOutputLeavesUnchangedFilesAlone(t *testing.T) {
	inode := func(t *testing.T, p string) (uint64, int64) {
		t.Helper()
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino, fi.ModTime().UnixNano()
	}
	for _, c := range []struct {
		name   string
		tamper func(t *testing.T, dir string)
		kept   bool
	}{
		{"nothing changed", func(*testing.T, string) {}, true},
		{"other bytes", func(t *testing.T, dir string) { mustWrite(t, filepath.Join(dir, "compose.yaml"), "edited by hand") }, false},
		{"same size, other bytes", func(t *testing.T, dir string) { mustWrite(t, filepath.Join(dir, "compose.yaml"), "v3") }, false},
		{"another mode", func(t *testing.T, dir string) { os.Chmod(filepath.Join(dir, "compose.yaml"), 0o600) }, false},
		{"a link in its place", func(t *testing.T, dir string) {
			other := filepath.Join(t.TempDir(), "elsewhere")
			mustWrite(t, other, "v2")
			os.Remove(filepath.Join(dir, "compose.yaml"))
			os.Symlink(other, filepath.Join(dir, "compose.yaml"))
		}, false},
		{"not nfx's", func(t *testing.T, dir string) {
			m, _ := readManifest(dir)
			m.Files = []string{"nginx/nginx.conf"}
			writeJSON(filepath.Join(dir, MarkerDir, manifestFile), m)
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if err := WriteOutput(dir, render2, Options{}); err != nil {
				t.Fatal(err)
			}
			c.tamper(t, dir)
			compose := filepath.Join(dir, "compose.yaml")
			var ino uint64
			var mtime int64
			if fi, err := os.Lstat(compose); err == nil && fi.Mode().IsRegular() {
				ino, mtime = inode(t, compose)
			}
			next := Set{render2[0], {Path: "nginx/nginx.conf", Data: []byte("n3")}}
			if err := WriteOutput(dir, next, Options{}); err != nil {
				t.Fatal(err)
			}
			got := tree(t, dir)
			if got["compose.yaml"] != "-rw-r--r-- v2" || got["nginx/nginx.conf"] != "-rw-r--r-- n3" {
				t.Errorf("after the write: %v", got)
			}
			i, m := inode(t, compose)
			if kept := i == ino && m == mtime; kept != c.kept {
				t.Errorf("compose.yaml kept as it was: %v, want %v", kept, c.kept)
			}
			for p := range got {
				if strings.Contains(p, stagingDir) || strings.Contains(p, journalFile) {
					t.Errorf("%s left behind", p)
				}
			}
		})
	}
}

// A file in a directory someone replaced with a link is not taken as
// unchanged through the link: the write refuses the directory, as it does
// for a changed file, and nothing outside the output is removed.
func TestWriteOutputUnchangedStaysInside(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "out")
	s := Set{{Path: "compose.yaml", Data: []byte("c")}, {Path: "nginx/a.conf", Data: []byte("a")}, {Path: "nginx/b.conf", Data: []byte("b")}}
	if err := WriteOutput(dir, s, Options{}); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(root, "elsewhere")
	if err := os.Rename(filepath.Join(dir, "nginx"), elsewhere); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(dir, "nginx")); err != nil {
		t.Fatal(err)
	}
	before := tree(t, elsewhere)
	err := WriteOutput(dir, s[:2], Options{})
	if err == nil || !strings.Contains(err.Error(), "is not a directory where nfx writes one") {
		t.Errorf("write through a linked directory: %v", err)
	}
	same(t, "the directory the link points to", before, tree(t, elsewhere))
}

// A file that holds the same bytes is still written anew when it is not
// the one nfx wrote: a hard link to it elsewhere, or bits beyond its mode.
func TestWriteOutputUnchangedIsTheSameFile(t *testing.T) {
	for _, c := range []struct {
		name   string
		tamper func(t *testing.T, dir, p string)
	}{
		{"a second link", func(t *testing.T, dir, p string) {
			if err := os.Link(p, filepath.Join(filepath.Dir(dir), "copy")); err != nil {
				t.Fatal(err)
			}
		}},
		{"setuid", func(t *testing.T, _, p string) { os.Chmod(p, 0o644|fs.ModeSetuid) }},
		{"a FIFO in its place", func(t *testing.T, _, p string) {
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			s := Set{{Path: "nginx/nginx.conf", Data: []byte("n1")}}
			if err := WriteOutput(dir, s, Options{}); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "nginx", "nginx.conf")
			c.tamper(t, dir, p)
			if err := WriteOutput(dir, s, Options{}); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if !fi.Mode().IsRegular() || fi.Mode() != 0o644 || st.Nlink != 1 {
				t.Errorf("%s: mode %v, %d links; want a file of its own, 0644", p, fi.Mode(), st.Nlink)
			}
		})
	}
}
