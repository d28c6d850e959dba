package api

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokentrail/tokentrail/chaincode/contract"
)

// quickly is how long a hostile request may take before the test calls it
// hanging: a functional bound, not a speed goal.
const quickly = 5 * time.Second

// TestHostileBodies sends deeply nested, oversized and malformed bodies: each
// is refused with 400 or 413 as a problem, quickly, and nothing reaches the
// ledger's state.
func TestHostileBodies(t *testing.T) {
	e := newEnv(t)
	e.collected("b1")
	e.collected("b2")
	nest := func(n int, open, close string) string { return strings.Repeat(open, n) + strings.Repeat(close, n) }
	cases := []struct {
		name, path, org string
		body            string
		status          int // or either of two
		orStatus        int
	}{
		{"100k nested arrays", "/api/v1/batches", provider, nest(100_000, "[", "]"), 400, 0},
		{"100k nested objects", "/api/v1/batches", provider, nest(100_000, `{"a":`, "}"), 400, 0},
		{"nested arrays in a field", "/api/v1/batches", provider, `{"id":"n","source":{"description":` + nest(100_000, "[", "]") + `}}`, 400, 0},
		{"nested arrays in bulk", "/api/v1/trades:bulk", exchange, `{"trades":` + nest(100_000, "[", "]") + `}`, 400, 0},
		{"nested objects in terms", "/api/v1/trades", exchange, `{"terms":` + nest(100_000, `{"a":`, "}") + `}`, 400, 0},
		{"unclosed nesting", "/api/v1/batches", provider, strings.Repeat("[", 500_000), 400, 0},
		{"1 MiB + 1 on a write", "/api/v1/batches/b1/freeze", regulator, `{"reason":"` + strings.Repeat("x", MaxBody-12) + `"}`, 413, 0},
		{"8 MiB + 1 on bulk", "/api/v1/trades:bulk", exchange, `{"trades":[],"x":"` + strings.Repeat("x", MaxBulkBody-19) + `"}`, 413, 0},
		{"16 MiB on bulk", "/api/v1/trades:bulk", exchange, strings.Repeat(" ", 16<<20), 413, 0},
		// Go's decoder turns invalid UTF-8 into U+FFFD; refusing it is fine too.
		{"invalid UTF-8", "/api/v1/batches/b1/assessments", auditor, "{\"score\":1,\"method\":\"\xff\xfe\xfd\"}", 201, 400},
		{"NUL bytes", "/api/v1/batches/b1/freeze", regulator, "{\"reason\":\"a\x00b\"}", 400, 0},
		{"byte order mark", "/api/v1/batches/b1/freeze", regulator, "\ufeff{\"reason\":\"a\"}", 400, 0},
		{"number overflow", "/api/v1/batches/b1/assessments", auditor, `{"score":1e999,"method":"m"}`, 400, 0},
		{"huge integer", "/api/v1/batches", provider, `{"tokens":{"count":123456789012345678901234567890}}`, 400, 0},
		{"duplicate keys", "/api/v1/batches/b1/freeze", regulator, `{"reason":"a","reason":"b","x":1}`, 400, 0},
		{"100k empty strings", "/api/v1/trades:bulk", exchange, `{"trades":[` + strings.Repeat(`"",`, 100_000) + `""]}`, 400, 0},
		{"null body", "/api/v1/batches/b1/freeze", regulator, `null`, 400, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(c.body) > MaxBulkBody+(1<<20) && c.status != 413 {
				t.Fatalf("case body of %d bytes", len(c.body))
			}
			before := e.height()
			start := time.Now()
			rec := e.do("POST", c.path, c.org, c.body)
			if took := time.Since(start); took > quickly {
				t.Errorf("took %v", took)
			}
			if rec.Code != c.status && (c.orStatus == 0 || rec.Code != c.orStatus) {
				t.Fatalf("status %d, want %d: %.300s", rec.Code, c.status, rec.Body.String())
			}
			if rec.Code < 300 {
				if !json.Valid(rec.Body.Bytes()) {
					t.Fatalf("status %d, body not JSON", rec.Code)
				}
				return
			}
			problemOf(t, rec)
			if e.height() != before {
				t.Error("a refused body changed the ledger")
			}
		})
	}

	// Without a Content-Length the limit still holds while reading.
	t.Run("chunked oversize", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte(`{"reason":"`))
			chunk := []byte(strings.Repeat("x", 64<<10))
			for range 64 { // 4 MiB, never finished
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req := httptest.NewRequest("POST", "/api/v1/batches/b1/freeze", pr)
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.keys[regulator])
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		pr.Close()
		if rec.Code != 413 {
			t.Fatalf("status %d, want 413", rec.Code)
		}
	})

	// A body exactly at the limit is taken.
	t.Run("exactly 1 MiB", func(t *testing.T) {
		body := `{"reason":"r"}`
		body += strings.Repeat(" ", MaxBody-len(body))
		if rec := e.do("POST", "/api/v1/batches/b2/freeze", regulator, body); rec.Code != 200 {
			t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body.String())
		}
	})
}

// TestCraftedPageTokens pages with tokens made to escape their list: another
// list's token, keys outside the list's range or of another caller's index,
// overlong and undecodable ones. Each is refused with 400 or answers a page
// of the requested list only — never another list's items.
func TestCraftedPageTokens(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"b1", "b2", "b10"} {
		e.collected(id)
	}
	e.must(201, "POST", "/api/v1/batches/b1/circulations", provider,
		map[string]any{"to": consumer, "purpose": "model-training", "accessMode": "api"}, nil)
	for i, id := range []string{"t1", "t2"} {
		e.must(201, "POST", "/api/v1/trades", exchange, tradeBodyFor(id, "b2", float64(10+i)), nil)
	}
	tok := func(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }
	var firstBatches contract.Page[contract.Batch]
	e.must(200, "GET", "/api/v1/batches?pageSize=1", regulator, nil, &firstBatches)
	if firstBatches.NextPageToken == "" {
		t.Fatal("no second page of batches")
	}
	var firstHistory contract.Page[json.RawMessage]
	e.must(200, "GET", "/api/v1/batches/b2/events?pageSize=1", regulator, nil, &firstHistory)

	cases := []struct {
		name, path, org string
	}{
		{"batches token on a history", "/api/v1/batches/b1/events?pageToken=" + firstBatches.NextPageToken, regulator},
		{"history token of b2 on b1", "/api/v1/batches/b1/events?pageToken=" + firstHistory.NextPageToken, regulator},
		{"history key of b10 on b1", "/api/v1/batches/b1/events?pageToken=" + tok("h/b10/000000000001"), regulator},
		{"history key of b2 on b1", "/api/v1/batches/b1/events?pageToken=" + tok("h/b2/000000000001"), regulator},
		{"history key past the prefix", "/api/v1/batches/b1/events?pageToken=" + tok("h/b1/\xff\xff"), regulator},
		{"history key on the prefix itself", "/api/v1/batches/b1/events?pageToken=" + tok("h/b1/"), regulator},
		{"participant key on batches", "/api/v1/batches?pageToken=" + tok("p/RegulatorMSP"), regulator},
		{"state key before the list", "/api/v1/batches?pageToken=" + tok("a"), regulator},
		{"private terms key on batches", "/api/v1/batches?pageToken=" + tok("terms/ExchangeMSP/t1"), regulator},
		{"another caller's custody index", "/api/v1/batches?pageToken=" + tok("c/ProviderMSP/b1"), consumer},
		{"owner index without owner filter", "/api/v1/batches?pageToken=" + tok("o/ProviderMSP/b1"), consumer},
		{"trade-time key on a batch's trades", "/api/v1/trades?batchId=b2&pageToken=" + tok("tt/2020-01-01T00:00:00.000000000Z/x"), regulator},
		{"batch-trade key of b1 on b2", "/api/v1/trades?batchId=b2&pageToken=" + tok("bt/b1/000000000001"), regulator},
		{"batch-trade key on all trades", "/api/v1/trades?pageToken=" + tok("bt/b2/000000000001"), regulator},
		{"trade-time key before from", "/api/v1/trades?from=2030-01-01T00:00:00Z&pageToken=" + tok("tt/2020-01-01T00:00:00.000000000Z/x"), regulator},
		{"overlong token", "/api/v1/batches?pageToken=" + tok("b/"+strings.Repeat("x", 4096)), regulator},
		{"token of 2 KiB within the prefix", "/api/v1/batches?pageToken=" + tok("b/"+strings.Repeat("x", 2048)), regulator},
		{"not base64", "/api/v1/batches?pageToken=%25%25%25", regulator},
		{"padded base64", "/api/v1/batches?pageToken=" + base64.URLEncoding.EncodeToString([]byte("b/b1")), regulator},
		{"NUL in the key", "/api/v1/batches?pageToken=" + tok("b/\x00"), regulator},
		{"token on a list without paging", "/api/v1/participants?pageToken=" + firstBatches.NextPageToken, regulator},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := e.do("GET", c.path, c.org, nil)
			t.Logf("status %d", rec.Code)
			switch rec.Code {
			case 400:
				if p := problemOf(t, rec); p.Field != "pageToken" && !strings.Contains(p.Detail, "query") {
					t.Errorf("400 about %q, not the page token: %s", p.Field, p.Detail)
				}
			case 200:
				checkOnlyOwnItems(t, c.path, c.org, rec.Body.Bytes())
			default:
				t.Fatalf("status %d, want 400 or a page of this list: %s", rec.Code, rec.Body.String())
			}
		})
	}
}

// checkOnlyOwnItems fails when a page holds items that are not of the list
// path names, as org may see it.
func checkOnlyOwnItems(t *testing.T, path, org string, body []byte) {
	t.Helper()
	var page struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("page: %v: %s", err, body)
	}
	for _, it := range page.Items {
		switch {
		case strings.HasPrefix(path, "/api/v1/batches/b1/events"):
			if it["batchId"] != "b1" {
				t.Errorf("history of b1 holds %v", it)
			}
		case strings.HasPrefix(path, "/api/v1/batches"):
			if _, ok := it["sector"]; !ok {
				t.Errorf("a batch list holds a non-batch %v", it)
			}
			if org == consumer && it["id"] != "b1" {
				t.Errorf("the consumer sees batch %v, which it does not hold", it["id"])
			}
		case strings.HasPrefix(path, "/api/v1/trades?batchId=b2"):
			if it["batchId"] != "b2" {
				t.Errorf("trades of b2 hold %v", it)
			}
		case strings.HasPrefix(path, "/api/v1/trades"):
			if _, ok := it["tradeId"]; !ok {
				t.Errorf("a trade list holds a non-trade %v", it)
			}
		}
	}
}

// TestCraftedIDs puts IDs made to escape their bounds in paths: traversal,
// encoded slashes, Unicode, control characters, 129 characters. Each is
// refused with 400 or not found (404) — never another resource.
func TestCraftedIDs(t *testing.T) {
	e := newEnv(t)
	e.collected("b1")
	long := strings.Repeat("a", 129)
	for _, id := range []string{
		"..", "..%2F..%2Fparticipants", "b1%2Fevents", "b1%2F..%2Fb1", "%2E%2E", "b1%00", "b%C3%A4tch", "%E2%80%AEb1",
		"b1%20", "%20b1", long, "b1%3Bdrop", "%FF", "b1%0Aevil", "b1%5C..", "~", "b1%3F", "b1%23x",
		"ProviderMSP%2F..%2F..%2Fledger",
	} {
		for _, route := range []string{"/api/v1/batches/%s", "/api/v1/batches/%s/events", "/api/v1/batches/%s/lineage",
			"/api/v1/batches/%s/compliance", "/api/v1/events/%s/receipt", "/api/v1/participants/%s"} {
			path := strings.Replace(route, "%s", id, 1)
			rec := e.do("GET", path, regulator, nil)
			if rec.Code != 400 && rec.Code != 404 {
				t.Errorf("GET %s: %d, want 400 or 404: %.200s", path, rec.Code, rec.Body.String())
				continue
			}
			problemOf(t, rec)
		}
		before := e.height()
		rec := e.do("POST", "/api/v1/batches/"+id+"/freeze", regulator, map[string]any{"reason": "crafted"})
		if rec.Code != 400 && rec.Code != 404 {
			t.Errorf("freeze %s: %d, want 400 or 404", id, rec.Code)
		}
		if e.height() != before {
			t.Errorf("freeze %s changed the ledger", id)
		}
	}
	// 128 characters is a valid ID: not found, not refused.
	if rec := e.do("GET", "/api/v1/batches/"+long[:128], regulator, nil); rec.Code != 404 {
		t.Errorf("a valid 128-character ID: %d, want 404", rec.Code)
	}
}
