package files

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// MarkerDir is the directory inside an output directory where nfx keeps
// what it knows of it: the manifest of the files it wrote, the lock, the
// journal of a write in progress and its staging area. A directory that
// has it is nfx's to write; a directory that does not is the user's.
const MarkerDir = ".nfx-output"

const (
	manifestFile = "manifest.json"
	journalFile  = "journal.json"
	lockFile     = "lock"
	stagingDir   = "staging"
)

// NotOursError says nfx refuses to write into a path it did not create:
// the user's project, home directory, a file or a symbolic link.
type NotOursError struct {
	Dir    string
	Reason string
}

func (e *NotOursError) Error() string {
	return fmt.Sprintf("%s: %s; nfx writes only into a directory it created (marked by %s) or an empty one; fix: give --out a new or empty directory, or move this one away yourself",
		e.Dir, e.Reason, MarkerDir)
}

// Manifest is what nfx wrote into an output directory.
type Manifest struct {
	// Stage is the stage the files are of.
	Stage string `json:"stage"`
	// Kind is what the files are: KindStage for a stage's files (render,
	// up), KindMigrateScripts for a migration's scripts; "" in a manifest
	// written before kinds were kept.
	Kind string `json:"kind,omitempty"`
	// Files are the non-secret files, Secrets the secret ones, by path.
	Files   []string `json:"files"`
	Secrets []string `json:"secrets"`
}

func (m Manifest) all() []string { return append(append([]string{}, m.Files...), m.Secrets...) }

// journal is a write past its commit point: the staged files and the
// manifest they make. A write that finds one finishes it first.
type journal struct {
	Manifest Manifest `json:"manifest"`
	// Old is the manifest the write replaces: its files not in Manifest
	// are removed.
	Old Manifest `json:"old"`
}

// Options tune WriteOutput.
type Options struct {
	// Stage names the stage the files are of, for the manifest.
	Stage string
	// Kind is what the files are (Manifest.Kind, KindStage when empty): a
	// write never replaces files of another kind or stage.
	Kind string
	// KeepSecrets keeps the secret files an earlier write left whose paths
	// are in KeepSecrets (`nfx render` writes no secret, and must not take
	// away those `nfx up` wrote).
	KeepSecrets []string
	// LockTimeout bounds the wait for another nfx writing the same
	// directory; 0 means 30 s.
	LockTimeout time.Duration
}

// crash is called at each step of a write; tests make it exit the process
// to prove that every step can be interrupted and recovered.
var crash = func(step string) {}

// WriteOutput writes the files of s into dir, replacing only the files an
// earlier write of nfx put there: files the user keeps beside them
// (compose.override.yaml, .env) are never touched. dir must be absent,
// empty, or marked as nfx's; anything else is refused with a
// *NotOursError. The write is crash-safe: the new files are staged inside
// the directory, a journal commits them, and each is renamed into place
// (a file of the earlier write that is already as s has it is left there
// and not staged: see unchanged); a write interrupted at any step is finished (or, before the commit,
// dropped) by the next one, so no file is lost and no staged copy is left.
func WriteOutput(dir string, s Set, o Options) (err error) {
	for _, f := range s {
		if err := checkPath(f.Path); err != nil {
			return err
		}
		if f.Path == MarkerDir || strings.HasPrefix(f.Path, MarkerDir+"/") {
			return fmt.Errorf("files: %s is nfx's own marker", f.Path)
		}
	}
	if dup := duplicate(s); dup != "" {
		return fmt.Errorf("files: %s is written twice", dup)
	}
	dir, err = claim(dir, s, o.KeepSecrets)
	if err != nil {
		return err
	}
	unlock, err := lock(dir, o.LockTimeout)
	if err != nil {
		return err
	}
	defer unlock()
	if err := recoverDir(dir); err != nil {
		return err
	}
	old, err := readManifest(dir)
	if err != nil {
		return err
	}
	if o.Kind == "" {
		o.Kind = KindStage
	}
	if why := otherOutput(old, s, o); why != "" {
		return &NotOursError{Dir: dir, Reason: why}
	}
	if len(old.all()) == 0 {
		// A directory of an nfx from before outputs were marked: the
		// secrets it kept are its own.
		for _, p := range o.KeepSecrets {
			if fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(p))); err == nil && fi.Mode().IsRegular() {
				old.Secrets = append(old.Secrets, p)
			}
		}
	}
	next := Manifest{Stage: o.Stage, Kind: o.Kind}
	ours := map[string]bool{}
	for _, p := range old.all() {
		ours[p] = true
	}
	staging := filepath.Join(dir, MarkerDir, stagingDir)
	if err := os.RemoveAll(staging); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(staging)
		}
	}()
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return err
	}
	for _, f := range s.Sorted() {
		target := filepath.Join(staging, filepath.FromSlash(f.Path))
		dirMode := fs.FileMode(0o755)
		if f.Secret {
			dirMode = 0o700
			next.Secrets = append(next.Secrets, f.Path)
		} else {
			next.Files = append(next.Files, f.Path)
		}
		if ours[f.Path] && unchanged(dir, f) {
			// Left in place: not staged, so not moved (apply skips it).
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), dirMode); err != nil {
			return err
		}
		if err := writeFile(target, f.Data, f.Mode()); err != nil {
			return err
		}
	}
	// Secrets of an earlier write that this one keeps stay where they are.
	keep := map[string]bool{}
	for _, p := range o.KeepSecrets {
		keep[p] = true
	}
	for _, p := range old.Secrets {
		if keep[p] && !contains(next.Secrets, p) {
			if fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(p))); err == nil && fi.Mode().IsRegular() {
				next.Secrets = append(next.Secrets, p)
			}
		}
	}
	sort.Strings(next.Secrets)
	if err := syncDir(staging); err != nil {
		return err
	}
	crash("staged")
	if err := writeJSON(filepath.Join(dir, MarkerDir, journalFile), journal{Manifest: next, Old: old}); err != nil {
		return err
	}
	crash("committed")
	return apply(dir)
}

// The kinds of files an output directory holds.
const (
	KindStage          = "stage"
	KindMigrateScripts = "migrate-scripts"
)

// unchanged says the file nfx wrote last time at f's path (the caller
// knows the path is nfx's) is still there as f would write it: a regular
// file of this user with one link, under real directories (no link on the
// way), its mode and its bytes. It is left as it is, its time too: a render
// that changes one of 2,466 manifests reads the others instead of creating
// and renaming each (0.2-0.3 ms a file on this project's build machine's
// disk). It opens the file without following a link or waiting on a FIFO,
// and reads at most one byte more than f's.
func unchanged(dir string, f File) bool {
	if !realDirs(dir, path.Dir(f.Path)) {
		return false
	}
	fd, err := os.OpenFile(filepath.Join(dir, filepath.FromSlash(f.Path)), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer fd.Close()
	fi, err := fd.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != f.Mode() || fi.Size() != int64(len(f.Data)) {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Nlink != 1 || int(st.Uid) != os.Geteuid() {
		return false
	}
	data := make([]byte, len(f.Data)+1)
	n, err := io.ReadFull(fd, data)
	return (err == io.EOF || err == io.ErrUnexpectedEOF) && n == len(f.Data) && bytes.Equal(data[:n], f.Data)
}

// realDirs says every directory of rel under dir is a directory, not a
// link to one: what nfx writes or removes there stays inside dir.
func realDirs(dir, rel string) bool {
	return ownDirs(dir, rel, false, 0) == nil
}

// otherOutput says why the files an earlier write left are not this
// write's to replace: another stage's or another kind's (a render and a
// migration's scripts, say); "" when they are.
func otherOutput(old Manifest, s Set, o Options) string {
	if len(old.all()) == 0 {
		return ""
	}
	kind := func(k string) string {
		if k == KindMigrateScripts {
			return "a migration's scripts"
		}
		return "the stage's files"
	}
	switch {
	case old.Stage != "" && o.Stage != "" && old.Stage != o.Stage:
		return fmt.Sprintf("it holds %s of %s, and this writes %s of %s", kind(old.Kind), old.Stage, kind(o.Kind), o.Stage)
	case old.Kind != o.Kind:
		if old.Kind != "" {
			return fmt.Sprintf("it holds %s of %s, and this writes %s", kind(old.Kind), old.Stage, kind(o.Kind))
		}
		// A manifest from before kinds were kept: its files are this
		// write's only if they share a path.
		for _, f := range s {
			if contains(old.Files, f.Path) || contains(old.Secrets, f.Path) {
				return ""
			}
		}
		return fmt.Sprintf("it holds other files nfx wrote for %s (%s...), and this writes %s", old.Stage, firstOf(old.all()), kind(o.Kind))
	}
	return ""
}

func firstOf(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	return paths[0]
}

// apply finishes the write its journal records: every staged file renamed
// into place (the entry files, at the top, last), the files of the old
// manifest the new one drops removed, the manifest written, the journal
// and the staging area removed. Each step can be repeated.
func apply(dir string) error {
	var j journal
	if err := readJSON(filepath.Join(dir, MarkerDir, journalFile), &j); err != nil {
		return fmt.Errorf("%s: the journal of an interrupted write is unreadable (%v); fix: remove %s and render again",
			dir, err, filepath.Join(dir, MarkerDir, journalFile))
	}
	staging := filepath.Join(dir, MarkerDir, stagingDir)
	paths := j.Manifest.all()
	// Deeper paths first: the files an entry file refers to are in place
	// before it.
	sort.SliceStable(paths, func(a, b int) bool { return strings.Count(paths[a], "/") > strings.Count(paths[b], "/") })
	for i, p := range paths {
		src := filepath.Join(staging, filepath.FromSlash(p))
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
			// Moved before an interruption, a kept secret, or a file
			// left in place unchanged (under real directories: checked).
			continue
		}
		mode := fs.FileMode(0o755)
		if contains(j.Manifest.Secrets, p) {
			mode = 0o700
		}
		if err := mkdirOwn(dir, path.Dir(p), mode); err != nil {
			return err
		}
		if fi, err := os.Lstat(dst); err == nil && fi.IsDir() {
			return fmt.Errorf("%s: %s is a directory where nfx writes a file; fix: move it away", dir, p)
		}
		if err := os.Rename(src, dst); err != nil {
			return err
		}
		crash(fmt.Sprintf("moved-%d", i))
	}
	next := map[string]bool{}
	for _, p := range paths {
		next[p] = true
	}
	for _, p := range j.Old.all() {
		// Not through a link someone put in a directory's place.
		if next[p] || !realDirs(dir, path.Dir(p)) {
			continue
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		if fi, err := os.Lstat(full); err == nil && fi.Mode().IsRegular() {
			if err := os.Remove(full); err != nil {
				return err
			}
			removeEmptyParents(dir, path.Dir(p))
		}
	}
	crash("cleaned")
	if err := syncDir(dir); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, MarkerDir, manifestFile), j.Manifest); err != nil {
		return err
	}
	crash("manifest")
	if err := os.Remove(filepath.Join(dir, MarkerDir, journalFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.RemoveAll(staging)
}

// recoverDir finishes a committed write that was interrupted, and drops
// the staging area of one interrupted before its commit.
func recoverDir(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, MarkerDir, journalFile)); err == nil {
		return apply(dir)
	}
	return os.RemoveAll(filepath.Join(dir, MarkerDir, stagingDir))
}

// claim checks that nfx may write into dir, creating it when absent, and
// returns its absolute path. A directory nfx may write into is absent,
// empty, marked, or holds only files of an earlier nfx (the paths of this
// write and of its kept secrets, from before outputs were marked).
func claim(dir string, s Set, keep []string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	dir = abs
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		return dir, os.MkdirAll(filepath.Join(dir, MarkerDir), 0o700)
	case err != nil:
		return "", err
	case fi.Mode()&fs.ModeSymlink != 0:
		return "", &NotOursError{Dir: dir, Reason: "it is a symbolic link"}
	case !fi.IsDir():
		return "", &NotOursError{Dir: dir, Reason: "it is a file, not a directory"}
	}
	if mi, err := os.Lstat(filepath.Join(dir, MarkerDir)); err == nil {
		if !mi.IsDir() {
			return "", &NotOursError{Dir: dir, Reason: MarkerDir + " is not nfx's marker directory"}
		}
		return dir, nil
	}
	known := map[string]bool{}
	for _, f := range s {
		known[f.Path] = true
	}
	for _, p := range keep {
		known[p] = true
	}
	var foreign string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
			return nil
		case rel == MarkerDir:
			// Another nfx marking it right now.
			return fs.SkipDir
		case d.IsDir():
			// A directory of its own that nfx wrote (out/<stage>/migrate).
			if mi, err := os.Lstat(filepath.Join(p, MarkerDir)); err == nil && mi.IsDir() {
				return fs.SkipDir
			}
			return nil
		case !d.Type().IsRegular() || !known[rel]:
			foreign = rel
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if foreign != "" {
		return "", &NotOursError{Dir: dir, Reason: fmt.Sprintf("it holds %s, which nfx did not write", foreign)}
	}
	return dir, os.MkdirAll(filepath.Join(dir, MarkerDir), 0o700)
}

// RemoveOutput removes what nfx wrote into dir (`nfx destroy`): the files
// of its manifest and its marker, then dir itself if nothing else is left.
// The user's files stay. A directory nfx did not write is refused.
func RemoveOutput(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(abs); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if mi, err := os.Lstat(filepath.Join(abs, MarkerDir)); err != nil || !mi.IsDir() {
		return &NotOursError{Dir: abs, Reason: "it has no " + MarkerDir + " marker"}
	}
	unlock, err := lock(abs, 0)
	if err != nil {
		return err
	}
	if err := recoverDir(abs); err != nil {
		unlock()
		return err
	}
	m, err := readManifest(abs)
	if err != nil {
		unlock()
		return err
	}
	for _, p := range m.all() {
		full := filepath.Join(abs, filepath.FromSlash(p))
		if fi, err := os.Lstat(full); err == nil && fi.Mode().IsRegular() {
			if err := os.Remove(full); err != nil {
				unlock()
				return err
			}
			removeEmptyParents(abs, path.Dir(p))
		}
	}
	unlock()
	if err := os.RemoveAll(filepath.Join(abs, MarkerDir)); err != nil {
		return err
	}
	_ = os.Remove(abs) // only if empty: the user's files keep it
	return nil
}

// InSync reports whether dir holds exactly the files of s, byte for byte:
// `nfx preview` shows a change when it does not (a deleted secret file).
func InSync(dir string, s Set) bool {
	for _, f := range s {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil || string(data) != string(f.Data) {
			return false
		}
	}
	return true
}

// ReadManifest returns what nfx wrote into dir.
func ReadManifest(dir string) (Manifest, error) { return readManifest(dir) }

func readManifest(dir string) (Manifest, error) {
	var m Manifest
	err := readJSON(filepath.Join(dir, MarkerDir, manifestFile), &m)
	if errors.Is(err, fs.ErrNotExist) {
		return Manifest{}, nil
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: its manifest is unreadable (%v); fix: remove %s, whose files nfx then treats as the user's", dir, err, filepath.Join(dir, MarkerDir))
	}
	for _, p := range m.all() {
		if checkPath(p) != nil || p == MarkerDir || strings.HasPrefix(p, MarkerDir+"/") {
			return Manifest{}, fmt.Errorf("%s: its manifest names %q, not a path inside it", dir, p)
		}
	}
	return m, nil
}

// lock takes dir's write lock, waiting up to timeout for another nfx.
// The lock is an flock: a killed process releases it.
func lock(dir string, timeout time.Duration) (func(), error) {
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	if err := os.MkdirAll(filepath.Join(dir, MarkerDir), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, MarkerDir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%s: another nfx is writing it (waited %s); fix: wait for it to finish", dir, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mkdirOwn creates rel's directories under dir, refusing a symbolic link
// on the way, so that no write goes outside dir.
func mkdirOwn(dir, rel string, mode fs.FileMode) error {
	return ownDirs(dir, rel, true, mode)
}

// ownDirs walks rel's directories under dir, each a directory and not a
// link to one; a missing one is created (with mode) when create is set,
// else it fails the walk.
func ownDirs(dir, rel string, create bool, mode fs.FileMode) error {
	if rel == "." || rel == "" {
		return nil
	}
	cur := dir
	for _, part := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		switch {
		case create && errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(cur, mode); err != nil {
				return err
			}
		case err != nil:
			return err
		case !fi.IsDir():
			return fmt.Errorf("%s: %s is not a directory where nfx writes one; fix: move it away", dir, cur)
		}
	}
	return nil
}

// removeEmptyParents removes rel and its parents under dir while empty.
func removeEmptyParents(dir, rel string) {
	for rel != "." && rel != "" && rel != "/" {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
			return
		}
		rel = path.Dir(rel)
	}
}

func writeJSON(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := name + ".tmp-" + randomSuffix()
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(name))
}

func readJSON(name string, v any) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func duplicate(s Set) string {
	seen := map[string]bool{}
	for _, f := range s {
		if seen[f.Path] {
			return f.Path
		}
		seen[f.Path] = true
	}
	return ""
}
