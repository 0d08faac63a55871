package cli

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// The report renders in headless Chromium: the screenshot is not blank, the
// page's own check ran, and the page logged no console error.
func TestReportInChromium(t *testing.T) {
	chromium := testutil.Tool(t, "chromium")
	dir := project(t)
	out := filepath.Join(dir, "report.html")
	if code, _, stderr := nfx(t, dir, "report", "--out", out); code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	html, _ := os.ReadFile(out)
	for _, want := range []string{`data-stage="laptop"`, `data-stage="server"`, `data-stage="cloud"`, "Monthly cost per stage", "From server to cloud", "RDS PostgreSQL", "Capacity per stage (estimated)", "<td>662</td>", "Capacity (estimated): 74 → 662 users", "The business case (laptop → server, VND)", "Compliance per stage (SOC 2, ISO 27001, GDPR)", "vllm: 40 x NVIDIA A10G for 1500 AI requests/s"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if bytes.Contains(html, []byte("http://")) || bytes.Contains(html, []byte("https://")) {
		t.Error("the report refers to something outside itself")
	}
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--log-level=0"}
	run := func(args ...string) (string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, append(append([]string(nil), base...), args...)...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium: %v\n%s", err, e.String())
		}
		return o.String(), e.String()
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	_, logs := run("--window-size=1000,2400", "--screenshot="+shot, "file://"+out)
	dom, logs2 := run("--dump-dom", "file://"+out)
	for _, l := range strings.Split(logs+logs2, "\n") {
		if strings.Contains(l, "CONSOLE") || strings.Contains(l, "Uncaught") {
			t.Errorf("console: %s", l)
		}
	}
	if !strings.Contains(dom, `data-report="ok"`) {
		t.Error("the page's own check did not run to the end")
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	colors := map[uint32]bool{}
	dark := 0
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[r>>12<<8|g>>12<<4|bl>>12] = true
			if r < 0x8000 && g < 0x8000 && bl < 0x8000 {
				dark++
			}
		}
	}
	if len(colors) < 8 || dark < 500 {
		t.Errorf("the screenshot looks blank: %d colours, %d dark samples", len(colors), dark)
	}
	t.Logf("screenshot %dx%d: %d colours, %d dark samples", b.Dx(), b.Dy(), len(colors), dark)
}
