// Command compare runs tokentrail's in-process write benchmarks
// (app/ledger/embedded) and their immudb counterparts (this module) back to
// back, pair by pair, and prints each figure with the ratio tokentrail ÷
// immudb, so that both are measured in one run on the same machine:
//
//	cd bench/immudb && go run ./compare [-count 3] [-single 20000x] [-bulk 60x] [-json FILE]
//
// Each round runs the single-event pair, then the bulk pair; the ratio of a
// round compares the two runs of that round. See docs/benchmarks.md,
// "immudb comparison".
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// pair is one tokentrail benchmark and the immudb one that mirrors it.
type pair struct {
	name, tokentrail, immudb, benchtime string
}

// figures are what one benchmark run reported.
type figures struct {
	EventsPerS  float64 `json:"eventsPerS"`
	CPUPerEvent float64 `json:"cpuMicrosPerEvent"`
	RawEvents   float64 `json:"rawEventsPerS,omitempty"` // tokentrail's bbolt ceiling
	TxPerBlock  float64 `json:"txPerBlock,omitempty"`
}

type round struct {
	Round      int     `json:"round"`
	Benchmark  string  `json:"benchmark"`
	Tokentrail figures `json:"tokentrail"`
	Immudb     figures `json:"immudb"`
	// Ratio is tokentrail's events/s ÷ immudb's; CPURatio tokentrail's CPU
	// per event ÷ immudb's.
	Ratio    float64 `json:"ratio"`
	CPURatio float64 `json:"cpuRatio"`
	LoadAvg  string  `json:"loadAvg"`
}

func main() {
	root := flag.String("root", "../..", "the tokentrail repository")
	count := flag.Int("count", 3, "rounds")
	single := flag.String("single", "20000x", "-benchtime of the single-event benchmarks")
	bulk := flag.String("bulk", "60x", "-benchtime of the bulk benchmarks (an op is one transaction of 1,000 events)")
	jsonOut := flag.String("json", "", "also write the rounds as JSON to this file")
	flag.Parse()

	here, err := os.Getwd()
	if err != nil {
		fail(err)
	}
	repo, err := filepath.Abs(*root)
	if err != nil {
		fail(err)
	}
	pairs := []pair{
		{"single event", "BenchmarkSubmitSingleEvent", "BenchmarkImmudbSingleEvent", *single},
		{"bulk", "BenchmarkSubmitBulkTrades", "BenchmarkImmudbBulk", *bulk},
	}
	fmt.Printf("load average before: %s\n", loadAvg())
	var rounds []round
	for r := 1; r <= *count; r++ {
		for _, p := range pairs {
			tt, err := run(repo, "./app/ledger/embedded", p.tokentrail, p.benchtime)
			if err != nil {
				fail(err)
			}
			im, err := run(here, ".", p.immudb, p.benchtime)
			if err != nil {
				fail(err)
			}
			rd := round{Round: r, Benchmark: p.name, Tokentrail: tt, Immudb: im,
				Ratio: tt.EventsPerS / im.EventsPerS, CPURatio: tt.CPUPerEvent / im.CPUPerEvent, LoadAvg: loadAvg()}
			rounds = append(rounds, rd)
			fmt.Printf("round %d %-12s tokentrail %9.0f events/s %7.1f cpu-µs/event (bbolt ceiling %.0f events/s, %.1f tx/block) | immudb %9.0f events/s %7.1f cpu-µs/event | ratio %.2f, cpu ratio %.2f | load %s\n",
				r, p.name, tt.EventsPerS, tt.CPUPerEvent, tt.RawEvents, tt.TxPerBlock, im.EventsPerS, im.CPUPerEvent, rd.Ratio, rd.CPURatio, rd.LoadAvg)
		}
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rounds, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fail(err)
		}
	}
}

var metric = regexp.MustCompile(`([0-9.e+-]+) (events/s|cpu-µs/event|raw-events/s|tx/block)`)

// run runs one benchmark once in dir and returns its figures.
func run(dir, pkg, bench, benchtime string) (figures, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^"+bench+"$", "-benchtime", benchtime, "-count", "1", "-timeout", "30m", pkg)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return figures{}, fmt.Errorf("%s in %s: %v\n%s", bench, dir, err, out.String())
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, bench+"-") && !strings.HasPrefix(line, bench+"\t") {
			continue
		}
		var f figures
		for _, m := range metric.FindAllStringSubmatch(line, -1) {
			v, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				return figures{}, fmt.Errorf("%s: %q: %v", bench, line, err)
			}
			switch m[2] {
			case "events/s":
				f.EventsPerS = v
			case "cpu-µs/event":
				f.CPUPerEvent = v
			case "raw-events/s":
				f.RawEvents = v
			case "tx/block":
				f.TxPerBlock = v
			}
		}
		if f.EventsPerS == 0 || f.CPUPerEvent == 0 {
			return figures{}, fmt.Errorf("%s reported no events/s or cpu-µs/event: %q", bench, line)
		}
		return f, nil
	}
	return figures{}, fmt.Errorf("%s printed no result in %v:\n%s", bench, time.Since(start).Round(time.Second), out.String())
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compare:", err)
	os.Exit(1)
}
