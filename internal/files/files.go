// Package files holds rendered files and writes them into an output
// directory that nfx owns, crash-safely, never touching the user's files
// beside them. It must not import Pulumi or any target format.
package files

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// StateDir is the project-local directory of nfx's state (the engine's
// file backend, its passphrase, the ledger, migrations and rehearsals).
const StateDir = ".nfx"

// File is one rendered file.
type File struct {
	// Path is relative to the output directory, with forward slashes.
	Path string
	Data []byte
	// Secret files hold a secret value: they are written with mode 0444 in
	// a 0700 directory and never printed. The directory keeps the host's
	// other users out; the file itself is readable by any user, because
	// Compose bind-mounts a file secret with the host file's owner and mode
	// (it ignores a secret's uid, gid and mode for files: Compose file
	// reference, "secrets", long syntax; read 2026-12-05) and the images
	// read it as their own non-root users: cloudflared's distroless
	// nonroot (65532), postgres and redis after their entrypoints drop to
	// uid 999. Inside a container the bind mount is reached without the
	// host's directory.
	Secret bool
	// Exec marks a script.
	Exec bool
}

// Mode is the permission the file is written with.
func (f File) Mode() fs.FileMode {
	switch {
	case f.Secret:
		return 0o444
	case f.Exec:
		return 0o755
	}
	return 0o644
}

// Set is a list of files, kept sorted by path.
type Set []File

// Sorted returns the set ordered by path.
func (s Set) Sorted() Set {
	out := append(Set(nil), s...)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Public returns the files that hold no secret.
func (s Set) Public() Set {
	var out Set
	for _, f := range s {
		if !f.Secret {
			out = append(out, f)
		}
	}
	return out
}

// Digest is a SHA-256 over the paths and contents of the non-secret files,
// so that it can be shown and stored without revealing a secret.
func (s Set) Digest() string {
	h := sha256.New()
	for _, f := range s.Public().Sorted() {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Path, len(f.Data))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func checkPath(p string) error {
	clean := path.Clean(p)
	if p == "" || clean != p || path.IsAbs(p) || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("files: %q is not a clean relative path", p)
	}
	return nil
}

// WriteDir writes the files of s into dir (WriteOutput with no options).
func WriteDir(dir string, s Set) error { return WriteOutput(dir, s, Options{}) }

// writeFile creates the file with its final mode from the start, so that a
// secret is never readable by others, even for a moment.
func writeFile(name string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil { // umask may have narrowed it
		f.Close()
		return err
	}
	return f.Close()
}

// WriteFile writes one file atomically: a temporary file beside it, then a
// rename, so a reader sees the old file or the new one, never a part.
func WriteFile(name string, data []byte) error { return writeAtomic(name, data, 0o644, false) }

// WriteFileSynced writes one file atomically and durably: as WriteFile,
// with the data synced before the rename and the directory after it, so
// that once it returns a crash keeps the new file (a record others rely
// on, such as the ledger's head).
func WriteFileSynced(name string, data []byte, mode fs.FileMode) error {
	return writeAtomic(name, data, mode, true)
}

func writeAtomic(name string, data []byte, mode fs.FileMode, durable bool) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+".new-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	return syncDir(dir)
}

// BackendDir is the project's own file backend, where nfx keeps its
// stacks' state unless told another.
func BackendDir(proj string) string {
	return filepath.Join(proj, StateDir, "state")
}

// LedgerIn is the ledger nfx keeps in a file backend's directory, beside
// its stacks.
func LedgerIn(backendDir string) string {
	return filepath.Join(backendDir, ".nfx", "ledger.jsonl")
}
