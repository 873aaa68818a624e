// Command probe-server is the test workload of the node tests: a tiny HTTP server whose readiness can
// be flipped, that counts the kubelet's probes, resolves names and fetches URLs from inside the pod,
// and burns a little CPU so that metrics-server has something to report.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

var (
	ready       atomic.Bool
	readyProbes atomic.Int64
	liveProbes  atomic.Int64
	name        = os.Getenv("NAME")
)

func main() {
	ready.Store(os.Getenv("START_READY") == "1")
	if os.Getenv("BURN") == "1" {
		go burn()
	}
	// Memory the metrics API must see: touch 8 MiB once.
	ballast := make([]byte, 8<<20)
	for i := range ballast {
		ballast[i] = byte(i)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.UserAgent(), "kube-probe/") {
			liveProbes.Add(1)
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.UserAgent(), "kube-probe/") {
			readyProbes.Add(1)
		}
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/ready/on", func(w http.ResponseWriter, r *http.Request) { ready.Store(true) })
	mux.HandleFunc("/ready/off", func(w http.ResponseWriter, r *http.Request) { ready.Store(false) })
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		host, _ := os.Hostname()
		json.NewEncoder(w).Encode(map[string]any{
			"name": name, "hostname": host, "ready": ready.Load(),
			"readiness_probes": readyProbes.Load(), "liveness_probes": liveProbes.Load(), "ballast": len(ballast),
		})
	})
	mux.HandleFunc("/resolve", func(w http.ResponseWriter, r *http.Request) {
		addrs, err := net.LookupHost(r.URL.Query().Get("name"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		json.NewEncoder(w).Encode(addrs)
	})
	mux.HandleFunc("/fetch", func(w http.ResponseWriter, r *http.Request) {
		client := http.Client{Timeout: 5 * time.Second}
		resp, err := client.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		host, _ := os.Hostname()
		json.NewEncoder(w).Encode(map[string]string{"name": name, "hostname": host, "path": r.URL.Path, "host": r.Host})
	})
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := http.ListenAndServe(":"+port, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// burn keeps a few percent of one CPU busy.
func burn() {
	x := 0
	for {
		deadline := time.Now().Add(5 * time.Millisecond)
		for time.Now().Before(deadline) {
			x++
		}
		time.Sleep(45 * time.Millisecond)
	}
}
