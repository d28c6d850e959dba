package bench

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RSS is one process's resident memory (VmRSS) at rest, sampled just before
// the run, and every 250 ms during it. VmRSS counts the pages of mapped
// files too (the embedded ledger maps its bbolt file): the Anon figures
// (RssAnon: heap, stacks) are the process's own memory.
type RSS struct {
	Name       string  `json:"name"`
	PID        int     `json:"pid"`
	RestMB     float64 `json:"restMB"`
	LoadMeanMB float64 `json:"loadMeanMB"`
	LoadMaxMB  float64 `json:"loadMaxMB"`
	RestAnonMB float64 `json:"restAnonMB"`
	MaxAnonMB  float64 `json:"loadMaxAnonMB"`
	// CPUSeconds is the user and system CPU time the process used during
	// the run (from /proc/PID/stat); on a shared machine it says where the
	// cores went.
	CPUSeconds float64 `json:"cpuSeconds"`
	cpu0       float64
}

type rssSampler struct {
	procs []RSS
	sum   []float64
	n     int
	stopc chan struct{}
	wg    sync.WaitGroup
}

// vmRSS returns the VmRSS and RssAnon of pid in MB, or -1 when they cannot
// be read.
func vmRSS(pid int) (rss, anon float64) {
	rss, anon = -1, -1
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return rss, anon
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		f := strings.Fields(v) // "123456 kB"
		if !ok || len(f) == 0 {
			continue
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = kb / 1024
		case "RssAnon":
			anon = kb / 1024
		}
	}
	return rss, anon
}

// rssTargets lists the processes named by --rss and --rss-pids, and the load
// generator itself.
func rssTargets(c Config) []RSS {
	var out []RSS
	for _, s := range c.RSS {
		name, pid, ok := strings.Cut(s, "=")
		if n, err := strconv.Atoi(pid); ok && err == nil {
			out = append(out, RSS{Name: name, PID: n})
		}
	}
	if c.RSSDir != "" {
		files, _ := filepath.Glob(filepath.Join(c.RSSDir, "*.pid"))
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			fields := strings.Fields(string(b))
			if len(fields) == 0 {
				continue
			}
			if n, err := strconv.Atoi(fields[0]); err == nil {
				out = append(out, RSS{Name: strings.TrimSuffix(filepath.Base(f), ".pid"), PID: n})
			}
		}
	}
	return append(out, RSS{Name: "load generator (bench)", PID: os.Getpid()})
}

func startRSS(c Config) *rssSampler {
	s := &rssSampler{procs: rssTargets(c), stopc: make(chan struct{})}
	s.sum = make([]float64, len(s.procs))
	for i := range s.procs {
		s.procs[i].RestMB, s.procs[i].RestAnonMB = vmRSS(s.procs[i].PID)
		s.procs[i].cpu0 = cpuSeconds(s.procs[i].PID)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-t.C:
				s.n++
				for i := range s.procs {
					v, a := vmRSS(s.procs[i].PID)
					s.sum[i] += v
					s.procs[i].LoadMaxMB = max(s.procs[i].LoadMaxMB, v)
					s.procs[i].MaxAnonMB = max(s.procs[i].MaxAnonMB, a)
				}
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() []RSS {
	close(s.stopc)
	s.wg.Wait()
	for i := range s.procs {
		if s.n > 0 {
			s.procs[i].LoadMeanMB = s.sum[i] / float64(s.n)
		}
		if c := cpuSeconds(s.procs[i].PID); c >= 0 && s.procs[i].cpu0 >= 0 {
			s.procs[i].CPUSeconds = c - s.procs[i].cpu0
		}
	}
	return s.procs
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on Linux.
const clockTicks = 100

// cpuSeconds returns the user plus system time pid has used, or -1.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // fields 3.. : state is f[0], utime f[11], stime f[12]
		return -1
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (u + st) / clockTicks
}
