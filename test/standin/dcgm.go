package main

import (
	"fmt"
	"net/http"
)

// dcgmExporter stands in for dcgm-exporter 3.3.9-3.6.1 where there is no
// GPU: it serves /metrics on :9400 (the exporter's default address) with
// the gauges the stage's rules read, for one idle GPU.
func dcgmExporter(_ []string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		for _, m := range []string{"DCGM_FI_DEV_GPU_UTIL 0", "DCGM_FI_DEV_FB_USED 0", "DCGM_FI_DEV_FB_FREE 8192"} {
			fmt.Fprintf(w, "# TYPE %s gauge\n", m[:len(m)-2])
			fmt.Fprintln(w, m[:len(m)-2]+`{gpu="0",UUID="GPU-standin"}`+m[len(m)-2:])
		}
	})
	return http.ListenAndServe(":9400", mux)
}
