package migrate

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Ollama keeps a model as manifests (manifests/<registry>/<namespace>/
// <model>/<tag>, JSON naming layers by digest) and blobs named after their
// sha256 (blobs/sha256-<hex>).
type ollamaManifest struct {
	Config struct {
		Digest string `json:"digest"`
	} `json:"config"`
	Layers []struct {
		Digest string `json:"digest"`
	} `json:"layers"`
}

// ModelStats says what a models copy did.
type ModelStats struct {
	Models int   `json:"models"`
	Blobs  int   `json:"blobs"`
	Copied int   `json:"copied"`
	Bytes  int64 `json:"bytes"`
}

// CopyModels copies Ollama's models from one models directory to another:
// every blob a manifest names, checked against its digest (a blob already
// there with its digest is not copied again), then the manifests, each
// renamed into place once its blobs are. The source is only read.
func CopyModels(src, dst string) (ModelStats, error) {
	var st ModelStats
	manifests, err := listManifests(src)
	if err != nil {
		return st, err
	}
	for _, rel := range manifests {
		data, err := os.ReadFile(filepath.Join(src, "manifests", rel))
		if err != nil {
			return st, err
		}
		var m ollamaManifest
		if err := json.Unmarshal(data, &m); err != nil {
			return st, fmt.Errorf("models: manifest %s: %v", rel, err)
		}
		digests := []string{m.Config.Digest}
		for _, l := range m.Layers {
			digests = append(digests, l.Digest)
		}
		for _, dg := range digests {
			if dg == "" {
				continue
			}
			name, hex, err := blobName(dg)
			if err != nil {
				return st, fmt.Errorf("models: manifest %s: %v", rel, err)
			}
			st.Blobs++
			target := filepath.Join(dst, "blobs", name)
			if sum, err := fileSHA256(target); err == nil && sum == hex {
				continue
			}
			n, err := copyVerified(filepath.Join(src, "blobs", name), target, hex)
			if err != nil {
				return st, err
			}
			st.Copied++
			st.Bytes += n
		}
		if err := writeAtomic(filepath.Join(dst, "manifests", rel), data); err != nil {
			return st, err
		}
		st.Models++
	}
	return st, nil
}

// VerifyModels checks that dst holds every manifest of src, byte for byte,
// and every blob they name with its digest.
func VerifyModels(src, dst string) ([]string, error) {
	manifests, err := listManifests(src)
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, rel := range manifests {
		a, _ := os.ReadFile(filepath.Join(src, "manifests", rel))
		b, err := os.ReadFile(filepath.Join(dst, "manifests", rel))
		if err != nil || string(a) != string(b) {
			bad = append(bad, "model "+rel+": the manifest is missing or differs on the target")
			continue
		}
		var m ollamaManifest
		_ = json.Unmarshal(a, &m)
		for _, l := range append([]struct {
			Digest string `json:"digest"`
		}{{m.Config.Digest}}, m.Layers...) {
			if l.Digest == "" {
				continue
			}
			name, hex, _ := blobName(l.Digest)
			if sum, err := fileSHA256(filepath.Join(dst, "blobs", name)); err != nil || sum != hex {
				bad = append(bad, fmt.Sprintf("model %s: blob %s is missing or does not match its digest", rel, l.Digest))
			}
		}
	}
	return bad, nil
}

func listManifests(dir string) ([]string, error) {
	root := filepath.Join(dir, "manifests")
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("models: %s holds no Ollama models (no manifests/); fix: point it at the models directory (OLLAMA_MODELS)", dir)
	}
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() || strings.Contains(d.Name(), ".part-") {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, rel)
		return nil
	})
	return out, err
}

// blobName is the file of a digest "sha256:<64 hex>".
func blobName(digest string) (string, string, error) {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", "", fmt.Errorf("%q is not a sha256 digest", digest)
	}
	return "sha256-" + hex, hex, nil
}

// copyVerified copies a blob beside its target, checks its digest and
// renames it into place.
func copyVerified(src, dst, hex string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, fmt.Errorf("models: %v", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, err
	}
	tmp := dst + ".part-nfx"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if sum, err := fileSHA256(tmp); err != nil || sum != hex {
		os.Remove(tmp)
		return 0, fmt.Errorf("models: %s does not match its digest sha256:%s (the source blob is damaged)", src, hex)
	}
	return n, os.Rename(tmp, dst)
}

func writeAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".part-nfx"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
