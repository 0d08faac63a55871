package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/stacks"
)

// BusyError says another nfx run holds a stack.
type BusyError struct {
	Stage model.Stage
	PID   string
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("stack %s: another nfx run (pid %s) is using it; fix: wait for it to finish, or stop it (Ctrl-C), then run nfx again", e.Stage, e.PID)
}

// Lock takes the project's lock on the stack named name (its
// Pulumi.<name>.yaml), as preview, up and destroy do: a promotion into a
// stack and an up of it never run at once.
func Lock(projectDir, name string) (func(), error) { return lockStack(projectDir, model.Stage(name)) }

// lock takes the stack's lock unless the caller holds it.
func (o *Options) lock() (func(), error) {
	if o.Locked {
		return func() {}, nil
	}
	return lockStack(o.ProjectDir, model.Stage(o.Stack))
}

// lockStack takes the project's lock on one stack for the whole of an
// engine operation: generating and storing its secrets, the engine's run,
// the files. A second nfx fails at once with a BusyError instead of
// mixing its secrets or its report with another run's. The lock is an
// flock: a killed nfx leaves none behind.
func lockStack(projectDir string, st model.Stage) (func(), error) {
	dir := filepath.Join(projectDir, StateDir, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, string(st)+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		data := make([]byte, 32)
		n, _ := f.ReadAt(data, 0)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &BusyError{Stage: st, PID: strings.TrimSpace(string(data[:n]))}
		}
		return nil, err
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = f.Truncate(0)
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Cancel clears the engine's lock on a stack that a killed run left
// behind (`nfx cancel`): Pulumi then runs on it again. It refuses while an
// nfx run is alive on the stack.
func Cancel(ctx context.Context, o Options) error {
	o.defaults()
	unlock, err := o.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := repairAttrs(o); err != nil {
		return err
	}
	st, err := workspace(ctx, o)
	if err != nil && strings.Contains(err.Error(), "currently locked") {
		// A run killed while it created the stack: its lock is there, the
		// stack is not, and selecting the stack would create it, which the
		// lock refuses. Only the engine's lock files of this stack go.
		if n, rerr := removeLocks(o); rerr == nil && n > 0 {
			return nil
		}
	}
	if err != nil {
		return explain(o, err)
	}
	if err := st.Cancel(ctx); err != nil {
		return explain(o, fmt.Errorf("cancel %s: %w", o.Stack, err))
	}
	return nil
}

// damagedAttrs lists the file backend's metadata files (the ".attrs"
// beside each state file, which gocloud's fileblob creates and then fills,
// not atomically) that a killed run left empty or cut short: every read of
// their state file then fails with "EOF".
func damagedAttrs(o Options) []string {
	dir, ok := strings.CutPrefix(o.Backend, "file://")
	if !ok {
		return nil
	}
	var bad []string
	_ = filepath.WalkDir(filepath.Join(dir, ".pulumi"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".attrs") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err == nil && !json.Valid(data) {
			bad = append(bad, path)
		}
		return nil
	})
	return bad
}

// repairAttrs removes the damaged metadata files: they hold a state
// file's content type and checksum only, and fileblob reads a state file
// that has none as it is.
func repairAttrs(o Options) (int, error) {
	bad := damagedAttrs(o)
	for _, f := range bad {
		if err := os.Remove(f); err != nil {
			return 0, err
		}
	}
	return len(bad), nil
}

// removeLocks deletes the engine's lock files of the stack in a file
// backend (.pulumi/locks/<org>/<project>/<stack>/*.json), as pulumi cancel
// does, and says how many it removed.
func removeLocks(o Options) (int, error) {
	dir, ok := strings.CutPrefix(o.Backend, "file://")
	if !ok {
		return 0, fmt.Errorf("not a file backend")
	}
	locks, err := filepath.Glob(filepath.Join(dir, ".pulumi", "locks", "*", model.Namespace, o.Stack, "*.json"))
	if err != nil {
		return 0, err
	}
	for _, l := range locks {
		if err := os.Remove(l); err != nil {
			return 0, err
		}
	}
	return len(locks), nil
}

// explain turns the engine's errors a user meets after a fault into
// messages that name the file or key and the fix.
func explain(o Options, err error) error {
	if err == nil {
		return nil
	}
	o.defaults()
	var cfgErr *stacks.ConfigError
	var busy *BusyError
	if errors.As(err, &cfgErr) || errors.As(err, &busy) {
		return err
	}
	msg := err.Error()
	stackFile := filepath.Join(o.Backend, ".pulumi", "stacks", model.Namespace, o.Stack+".json")
	stackFile = strings.TrimPrefix(stackFile, "file:/")
	cfg := o.ConfigFile
	if cfg == "" {
		cfg = filepath.Join(o.ProjectDir, "Pulumi."+o.Stack+".yaml")
	}
	switch {
	case strings.Contains(msg, "failed to load checkpoint") && len(damagedAttrs(o)) > 0:
		return fmt.Errorf("stack %s: the engine's metadata file %s is empty or cut short (a run was killed as it wrote it); fix: run `nfx cancel --stage %s`, which removes it, then nfx again",
			o.Stack, damagedAttrs(o)[0], o.Stack)
	case strings.Contains(msg, "currently locked"):
		return fmt.Errorf("stack %s: the engine's lock is held by a run that is gone (it was killed, or the machine stopped); fix: run `nfx cancel --stage %s`, then nfx again", o.Stack, o.Stack)
	case strings.Contains(msg, "incorrect passphrase"):
		return fmt.Errorf("stack %s: the passphrase does not decrypt the secrets in %s (from %s); fix: set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE to the passphrase the stack was made with, or restore %s from a backup",
			o.Stack, filepath.Base(cfg), passphraseSource(o.ProjectDir), filepath.Join(o.ProjectDir, StateDir, "passphrase"))
	case strings.Contains(msg, "could not deserialize deployment") || strings.Contains(msg, "unexpected end of JSON") ||
		strings.Contains(msg, "invalid character") && strings.Contains(msg, "checkpoint") || strings.Contains(msg, "reading checkpoint"):
		return fmt.Errorf("stack %s: the state file %s is damaged (%s); fix: restore it from %s.bak, which the engine keeps beside it, and run nfx again",
			o.Stack, stackFile, firstLine(msg), stackFile)
	case strings.Contains(msg, "failed to decrypt") || strings.Contains(msg, "message authentication failed") || strings.Contains(msg, "could not decrypt"):
		return fmt.Errorf("stack %s: a secret value in %s does not decrypt (its ciphertext was changed, or it was made with another passphrase); fix: set it again with `pulumi config set --secret <key> -s %s`, or restore the file from version control",
			o.Stack, filepath.Base(cfg), o.Stack)
	}
	return err
}

func passphraseSource(projectDir string) string {
	switch {
	case os.Getenv("PULUMI_CONFIG_PASSPHRASE") != "":
		return "PULUMI_CONFIG_PASSPHRASE"
	case os.Getenv("PULUMI_CONFIG_PASSPHRASE_FILE") != "":
		return os.Getenv("PULUMI_CONFIG_PASSPHRASE_FILE")
	}
	return filepath.Join(projectDir, StateDir, "passphrase")
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
