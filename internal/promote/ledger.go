package promote

import (
	"bufio"
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

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
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

// The kinds of the failovers' entries (nfx failover), which the failover
// gate reads.
const (
	KindFailover  = "failover"
	KindRehearsal = "failover-rehearsal"
	// KindFailoverFinished is a run that finished a failover another,
	// stopped, run promoted: it measured neither RTO nor RPO.
	KindFailoverFinished = "failover-finished"
)

// What a failover or its rehearsal measured is its entry's one gate
// result, named Measured (a field of its own would make an older nfx,
// which hashes the entries it decodes, call the ledger edited), with the
// figures in seconds: FigureRTO, FigurePromote, FigureRPO.
const (
	Measured = "measured"
	// FigureRTO is from the start to a new connection by the database's
	// names reaching the new writer (a rehearsal: its promotion and the
	// names' TTL).
	FigureRTO = "rtoSeconds"
	// FigurePromote is RDS's promotion alone.
	FigurePromote = "promoteSeconds"
	// FigureRPO is the loss bound; absent when it is not known.
	FigureRPO = "rpoSeconds"
)

// MeasuredGate is the gate result that carries what a failover or a
// rehearsal measured.
func MeasuredGate(note string, figures map[string]float64) []GateResult {
	return []GateResult{{Name: Measured, Level: model.GateAdvisory, Passed: true, Detail: note, Figures: figures}}
}

// Figures are what an entry measured (its Measured gate's), or nil.
func (e Entry) Figures() map[string]float64 {
	for _, g := range e.Gates {
		if g.Name == Measured {
			return g.Figures
		}
	}
	return nil
}

// LastRehearsal is the stack's latest rehearsal that recorded its RTO,
// unless a failover of the stack came after it (the standby it measured
// is then the writer, and a new standby is another database), or nil.
func LastRehearsal(entries []Entry, stack string) *Entry {
	var last *Entry
	for i := range entries {
		e := &entries[i]
		if e.To != stack {
			continue
		}
		switch e.Kind {
		case KindRehearsal:
			if _, ok := e.Figures()[FigureRTO]; ok {
				last = e
			}
		case KindFailover, KindFailoverFinished:
			last = nil
		}
	}
	return last
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

// MaxEntry bounds one entry's line.
const MaxEntry = 1 << 20

// Head is the ledger's end as its last append left it: the number and
// hash of the entry it wrote. Kept beside the ledger (ledger.head, or the
// object .nfx/ledger/HEAD) and only ever moved forward, it proves the
// ledger's end: an entry removed from the end, or the whole tail, no
// longer reaches it. It is a lower bound: an append killed between its
// entry and its head, or two bucket writers racing, leave entries after
// it, which chain to it and count.
type Head struct {
	Seq  int    `json:"seq"`
	Hash string `json:"hash"`
}

// headFile is the file backend's head, beside the ledger.
func (l Ledger) headFile() string { return filepath.Join(filepath.Dir(l.Path), "ledger.head") }

// headKey is the bucket backend's head object.
const headKey = ledgerPrefix + "HEAD"

// readHead reads the head; nil when there is none.
func (l Ledger) readHead() (*Head, error) {
	var b []byte
	var err error
	if l.Bucket != nil {
		b, err = l.Bucket.ReadAll(context.Background(), headKey)
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, nil
		}
	} else {
		b, err = os.ReadFile(l.headFile())
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("the ledger's head: %w", err)
	}
	var h Head
	if err := json.Unmarshal(b, &h); err != nil || h.Seq < 1 || len(h.Hash) != 64 {
		return nil, fmt.Errorf("the ledger's head (%s) is damaged: the ledger's end cannot be proven", l.headName())
	}
	return &h, nil
}

func (l Ledger) headName() string {
	if l.Bucket != nil {
		return l.Where + "/" + headKey
	}
	return l.headFile()
}

// writeHead moves the head to e, never back.
func (l Ledger) writeHead(e Entry) error {
	h, err := l.readHead()
	if err == nil && h != nil && h.Seq >= e.Seq {
		return nil
	}
	b, _ := json.Marshal(Head{Seq: e.Seq, Hash: e.Hash})
	b = append(b, '\n')
	if l.Bucket != nil {
		return l.Bucket.WriteAll(context.Background(), headKey, b, &blob.WriterOptions{ContentType: "application/json"})
	}
	return files.WriteFileSynced(l.headFile(), b, 0o600)
}

// Entries reads every entry and proves them whole: each hash, each link,
// and the end the head records. A ledger that does not verify is an
// error: no gate reads a ledger whose entries may have been removed.
func (l Ledger) Entries() ([]Entry, error) {
	es, _, _, err := l.read()
	return es, err
}

// RawEntries reads every entry as it is, checking nothing, for listing a
// damaged ledger.
func (l Ledger) RawEntries() ([]Entry, error) {
	es, _, err := l.raw()
	return es, err
}

// raw reads the entries as they are, and a file ledger's last line when
// it lacks its newline (nil otherwise, and always in a bucket).
func (l Ledger) raw() ([]Entry, []byte, error) {
	if l.Bucket != nil {
		es, err := l.bucketEntries(context.Background())
		return es, nil, err
	}
	return l.fileEntries()
}

// read returns the verified entries; for a file ledger whose last line
// lacks its newline, that line, and whether it is an acknowledged entry
// to keep (repair) rather than a torn write to drop.
func (l Ledger) read() (es []Entry, torn []byte, repair bool, err error) {
	// The head first: it is written after the entry it names, so a head
	// read before the entries never runs ahead of them, whatever another
	// writer appends meanwhile.
	h, err := l.readHead()
	if err != nil {
		return nil, nil, false, err
	}
	if es, torn, err = l.raw(); err != nil {
		return nil, nil, false, err
	}
	if _, err := verifyChain(es); err != nil {
		return nil, nil, false, err
	}
	if torn != nil {
		// A last line without its newline: the entry the head records
		// (only the newline lost), or a write killed before its head, which
		// was never acknowledged and is dropped. Anything else is an error.
		var e Entry
		if json.Unmarshal(torn, &e) == nil && h != nil && e.Seq == h.Seq && e.Hash == h.Hash && e.Seq == len(es)+1 {
			if _, err := verifyChain(append(es, e)); err != nil {
				return nil, nil, false, err
			}
			es, repair = append(es, e), true
		} else if h != nil && h.Seq > len(es) {
			return nil, nil, false, fmt.Errorf("the ledger's last line (after entry %d) is cut short, and its head records entry %d: entries were removed from its end", len(es), h.Seq)
		}
	}
	switch {
	case h == nil && len(es) > 0:
		return nil, nil, false, fmt.Errorf("the ledger has %d entries but no head (%s): its end cannot be proven, and entries may have been removed from it; fix: if an nfx from before heads wrote it, check its entries (nfx ledger) and seal it (nfx ledger --seal)", len(es), l.headName())
	case h != nil && h.Seq > len(es):
		return nil, nil, false, fmt.Errorf("the ledger ends at entry %d but its head records entry %d: entries were removed from its end", len(es), h.Seq)
	case h != nil && es[h.Seq-1].Hash != h.Hash:
		return nil, nil, false, fmt.Errorf("entry %d is not the entry the ledger's head records: the ledger was rewritten", h.Seq)
	}
	return es, torn, repair, nil
}

// fileEntries reads a file ledger's complete lines, and its last line
// when it lacks its newline.
func (l Ledger) fileEntries() ([]Entry, []byte, error) {
	f, err := os.Open(l.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var out []Entry
	r := bufio.NewReaderSize(f, 64<<10)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(b) == 0 {
				return out, nil, nil
			}
			if len(b) > MaxEntry {
				return nil, nil, fmt.Errorf("%s:%d: an entry of %d bytes, over %d", l.Path, line, len(b), MaxEntry)
			}
			return out, b, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if len(b) > MaxEntry {
			return nil, nil, fmt.Errorf("%s:%d: an entry of %d bytes, over %d", l.Path, line, len(b), MaxEntry)
		}
		var e Entry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, nil, fmt.Errorf("%s:%d: not a ledger entry: %v", l.Path, line, err)
		}
		out = append(out, e)
	}
}

// Verify checks the chain: each entry's hash, its link to the one before,
// its sequence number, and the end the head records. The first broken
// entry is named.
func (l Ledger) Verify() (int, error) {
	es, err := l.Entries()
	return len(es), err
}

// verifyChain checks each entry's sequence number, its link to the entry
// before and its own hash, naming the first broken one.
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

// Seal writes the head of a ledger that has none (one an nfx from before
// heads wrote), once its chain verifies: from then on its end is proven.
func (l Ledger) Seal() (int, error) {
	es, torn, err := l.raw()
	switch {
	case err != nil:
		return 0, err
	case torn != nil:
		return 0, fmt.Errorf("the ledger's last line is cut short; nfx does not seal a ledger whose end is in doubt")
	}
	if _, err := verifyChain(es); err != nil {
		return 0, err
	}
	h, err := l.readHead()
	switch {
	case err != nil:
		return 0, err
	case h != nil:
		return 0, fmt.Errorf("the ledger already has a head (entry %d); nothing to seal", h.Seq)
	case len(es) == 0:
		return 0, nil
	}
	return len(es), l.writeHead(es[len(es)-1])
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
	es, torn, repair, err := l.read()
	if err != nil {
		return e, fmt.Errorf("the ledger %s does not verify, so nothing is added to it: %w", l.Path, err)
	}
	if torn != nil {
		fi, err := f.Stat()
		if err != nil {
			return e, err
		}
		if repair {
			// The last entry lost only its newline: it stays.
			if _, err := f.Seek(0, io.SeekEnd); err != nil {
				return e, err
			}
			if _, err := f.Write([]byte("\n")); err != nil {
				return e, err
			}
		} else if err := f.Truncate(fi.Size() - int64(len(torn))); err != nil {
			// A write killed before its head: never acknowledged.
			return e, err
		}
	}
	n := len(es)
	e.Seq, e.Prev = n+1, ""
	if n > 0 {
		e.Prev = es[n-1].Hash
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
	if err := f.Sync(); err != nil {
		return e, err
	}
	// The entry is acknowledged only once the head reaches it.
	return e, l.writeHead(e)
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
		if strings.HasSuffix(o.Key, ".json") && o.Key != headKey {
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
			return e, fmt.Errorf("the ledger %s does not verify, so nothing is added to it: %w", l.Where, err)
		}
		n := len(es)
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
			return e, l.writeHead(e)
		}
		if gcerrors.Code(err) != gcerrors.FailedPrecondition {
			return e, fmt.Errorf("write %s %s: %w", l.Where, entryKey(e.Seq), err)
		}
		time.Sleep(time.Duration(10+try*try*5) * time.Millisecond)
	}
	return e, fmt.Errorf("the ledger %s: 20 writers took the next entry's number first; try again", l.Where)
}
