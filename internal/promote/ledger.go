package promote

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/nextflow-crm/nfx/internal/release"
)

// Entry is one record of the ledger: a promotion, a gate's result, an
// approval, a rollback or a rejection.
type Entry struct {
	Seq  int       `json:"seq"`
	Time time.Time `json:"time"`
	// Kind is promote, dry-run, blocked, rollback or reject.
	Kind    string `json:"kind"`
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
	Release string `json:"release,omitempty"`
	// Actor is who ran it (the CI's user or $USER).
	Actor string       `json:"actor,omitempty"`
	Gates []GateResult `json:"gates,omitempty"`
	Note  string       `json:"note,omitempty"`
	// Payload is the release itself, on entries that change a stack, so a
	// rollback can carry it back.
	Payload *release.Release `json:"payload,omitempty"`
	// Replaced is the release the target ran before the entry changed it.
	Replaced *release.Release `json:"replaced,omitempty"`
	// Ref is the entry an approval approves.
	Ref int `json:"ref,omitempty"`
	// Preview and State bind a dry run to what it saw: the digest of the
	// target's config and plan with the release carried in, and of the
	// target's state.
	Preview string `json:"preview,omitempty"`
	State   string `json:"state,omitempty"`
	// Prev is the hash of the entry before, Hash this one's: the SHA-256
	// of Prev and the entry's canonical JSON without Hash.
	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

func (e Entry) hash() string {
	e.Hash = ""
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(append([]byte(e.Prev+"\n"), b...))
	return hex.EncodeToString(sum[:])
}

// Ledger is an append-only, hash-chained record kept beside a state
// backend's stacks. In a file backend it is one file, a JSON entry a line:
// appends hold an exclusive lock and end with fsync; a last line cut short
// by a crash was never acknowledged and is dropped. In a bucket backend
// (s3://) each entry is an object of its own, .nfx/ledger/<seq>.json,
// created only if absent, so two writers never both take a number.
type Ledger struct {
	Path string
	// Bucket, when set, holds the ledger instead of Path; Where names it
	// in messages (its URL without query or credentials).
	Bucket *blob.Bucket
	Where  string
}

// Name is where the ledger is, for messages.
func (l Ledger) Name() string {
	if l.Bucket != nil {
		return l.Where
	}
	return l.Path
}

// ledgerPrefix is the ledger's objects' prefix in a bucket backend.
const ledgerPrefix = ".nfx/ledger/"

func entryKey(seq int) string { return fmt.Sprintf("%s%012d.json", ledgerPrefix, seq) }

// LedgerFile is the ledger's file in a file state backend's directory:
// beside the stacks' state, so that whoever reads the state reads it too.
func LedgerFile(backendDir string) string { return filepath.Join(backendDir, ".nfx", "ledger.jsonl") }

// MaxEntry bounds one entry's line.
const MaxEntry = 1 << 20

// Entries reads every entry, checking nothing.
func (l Ledger) Entries() ([]Entry, error) {
	if l.Bucket != nil {
		return l.bucketEntries(context.Background())
	}
	f, err := os.Open(l.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Entry
	r := bufio.NewReaderSize(f, 64<<10)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if err == io.EOF {
			// A last line without its newline was cut short: never acknowledged.
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(b) > MaxEntry {
			return nil, fmt.Errorf("%s:%d: an entry of %d bytes, over %d", l.Path, line, len(b), MaxEntry)
		}
		var e Entry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("%s:%d: not a ledger entry: %v", l.Path, line, err)
		}
		out = append(out, e)
	}
}

// Verify checks the chain: each entry's hash, its link to the one before
// and its sequence number. The first broken entry is named.
func (l Ledger) Verify() (int, error) {
	es, err := l.Entries()
	if err != nil {
		return 0, err
	}
	return verifyChain(es)
}

func verifyChain(es []Entry) (int, error) {
	prev := ""
	for i, e := range es {
		switch {
		case e.Seq != i+1:
			return i, fmt.Errorf("entry %d has sequence number %d: an entry was removed or reordered before it", i+1, e.Seq)
		case e.Prev != prev:
			return i, fmt.Errorf("entry %d does not follow entry %d (its prev hash differs): the ledger was edited", i+1, i)
		case e.hash() != e.Hash:
			return i, fmt.Errorf("entry %d (%s %s) does not match its hash: it was edited", e.Seq, e.Kind, e.Time.Format(time.RFC3339))
		}
		prev = e.Hash
	}
	return len(es), nil
}

// Append adds e at the end, chained to the last entry, and returns it as
// written. It refuses to extend a ledger whose chain does not verify.
func (l Ledger) Append(e Entry) (Entry, error) {
	if l.Bucket != nil {
		return l.bucketAppend(context.Background(), e)
	}
	if err := os.MkdirAll(filepath.Dir(l.Path), 0o700); err != nil {
		return e, err
	}
	f, err := os.OpenFile(l.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return e, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return e, fmt.Errorf("lock %s: %w", l.Path, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	data, err := io.ReadAll(f)
	if err != nil {
		return e, err
	}
	// Drop a torn last line before appending after it.
	if end := bytes.LastIndexByte(data, '\n') + 1; end < len(data) {
		if err := f.Truncate(int64(end)); err != nil {
			return e, err
		}
		data = data[:end]
	}
	n, err := l.Verify()
	if err != nil {
		return e, fmt.Errorf("the ledger %s does not verify, so nothing is added to it: %w", l.Path, err)
	}
	e.Seq, e.Prev = n+1, ""
	if n > 0 {
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		var last Entry
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
			return e, err
		}
		e.Prev = last.Hash
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	e.Hash = e.hash()
	line, err := json.Marshal(e)
	if err != nil {
		return e, err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return e, err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return e, err
	}
	return e, f.Sync()
}

func (l Ledger) bucketEntries(ctx context.Context) ([]Entry, error) {
	var keys []string
	it := l.Bucket.List(&blob.ListOptions{Prefix: ledgerPrefix})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", l.Where, err)
		}
		if strings.HasSuffix(o.Key, ".json") {
			keys = append(keys, o.Key)
		}
	}
	sort.Strings(keys)
	out := make([]Entry, 0, len(keys))
	for _, k := range keys {
		r, err := l.Bucket.NewReader(ctx, k, nil)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", l.Where, k, err)
		}
		b, err := io.ReadAll(io.LimitReader(r, MaxEntry+1))
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", l.Where, k, err)
		}
		if len(b) > MaxEntry {
			return nil, fmt.Errorf("%s %s: an entry over %d bytes", l.Where, k, MaxEntry)
		}
		var e Entry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("%s %s: not a ledger entry: %v", l.Where, k, err)
		}
		if k != entryKey(e.Seq) {
			return nil, fmt.Errorf("%s %s holds entry %d: the ledger was edited", l.Where, k, e.Seq)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// bucketAppend writes e as the next entry's object, created only if no
// other writer took its number first; when one did, it reads the ledger
// again and takes the next.
func (l Ledger) bucketAppend(ctx context.Context, e Entry) (Entry, error) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	for try := 0; try < 20; try++ {
		es, err := l.Entries()
		if err != nil {
			return e, err
		}
		n, err := verifyChain(es)
		if err != nil {
			return e, fmt.Errorf("the ledger %s does not verify, so nothing is added to it: %w", l.Where, err)
		}
		e.Seq, e.Prev = n+1, ""
		if n > 0 {
			e.Prev = es[n-1].Hash
		}
		e.Hash = e.hash()
		line, err := json.Marshal(e)
		if err != nil {
			return e, err
		}
		err = l.Bucket.WriteAll(ctx, entryKey(e.Seq), append(line, '\n'), &blob.WriterOptions{IfNotExist: true, ContentType: "application/json"})
		if err == nil {
			return e, nil
		}
		if gcerrors.Code(err) != gcerrors.FailedPrecondition {
			return e, fmt.Errorf("write %s %s: %w", l.Where, entryKey(e.Seq), err)
		}
		time.Sleep(time.Duration(10+try*try*5) * time.Millisecond)
	}
	return e, fmt.Errorf("the ledger %s: 20 writers took the next entry's number first; try again", l.Where)
}
