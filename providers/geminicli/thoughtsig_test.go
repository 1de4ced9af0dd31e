package geminicli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/providers/sse"
)

// sigResponse has two candidates; every kind of part carries a signature
// somewhere except the plain text one. The original Pollux read only the
// first part of the first candidate.
const sigResponse = `{"candidates":[
 {"content":{"role":"model","parts":[
   {"text":"Let me look that up.","thought":true,"thoughtSignature":"SIG-THOUGHT"},
   {"text":"Checking the weather."},
   {"functionCall":{"name":"get_weather","args":{"city":"Paris","units":"metric"}},"thoughtSignature":"SIG-CALL-1"}]}},
 {"content":{"role":"model","parts":[
   {"functionCall":{"name":"get_time","args":{"tz":"Europe/Paris"}},"thoughtSignature":"SIG-CALL-2"}]}}]}`

// followUp is a client's next request with every signature stripped, the
// function call's args re-ordered and re-spaced, plus a part the cache
// never saw and a part that keeps the client's own signature.
const followUp = `{"generationConfig": {"temperature": 1.0},
  "contents": [
    {"role": "user", "parts": [{"text": "weather in Paris?"}]},
    {"role": "model", "parts": [
      {"text": "Let me look that up.", "thought": true},
      {"functionCall": {"args": {"units": "metric", "city": "Paris"}, "name": "get_weather", "id": "call-1"}},
      {"functionCall": {"name": "get_time", "args": {"tz": "Europe/Paris"}}},
      {"functionCall": {"name": "never_seen", "args": {}}},
      {"functionCall": {"name": "get_weather", "args": {"city": "Paris", "units": "metric"}}, "thoughtSignature": "CLIENT-OWN"}]},
    {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 21}}}]}],
  "x_future_field": [1, 2]}`

// signaturesOf returns the thoughtSignature of every part of every content,
// by role.
func signaturesOf(t *testing.T, body []byte) map[string][]string {
	t.Helper()
	var req struct {
		Contents []struct {
			Role  string `json:"role"`
			Parts []struct {
				ThoughtSignature *string `json:"thoughtSignature"`
			} `json:"parts"`
		} `json:"contents"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("patched body is not JSON: %v\n%s", err, body)
	}
	out := map[string][]string{}
	for _, c := range req.Contents {
		for _, p := range c.Parts {
			s := "<none>"
			if p.ThoughtSignature != nil {
				s = *p.ThoughtSignature
			}
			out[c.Role] = append(out[c.Role], s)
		}
	}
	return out
}

func TestSignatureRepair(t *testing.T) {
	c := NewSignatureCache(1<<20, nil)
	c.Record([]byte(sigResponse))
	got := c.Repair([]byte(followUp))
	sigs := signaturesOf(t, got)
	wantModel := []string{"SIG-THOUGHT", "SIG-CALL-1", "SIG-CALL-2", SkipSignature, "CLIENT-OWN"}
	if fmt.Sprint(sigs["model"]) != fmt.Sprint(wantModel) {
		t.Errorf("model parts' signatures = %v, want %v", sigs["model"], wantModel)
	}
	for _, s := range sigs["user"] {
		if s != "<none>" {
			t.Errorf("a user part got a signature: %v", sigs["user"])
		}
	}
	// Outside "contents" the body keeps its bytes.
	for _, keep := range []string{`{"generationConfig": {"temperature": 1.0},`, `"x_future_field": [1, 2]}`} {
		if !bytes.Contains(got, []byte(keep)) {
			t.Errorf("patched body lost %q:\n%s", keep, got)
		}
	}
	if st := c.Stats(); st.Hits != 3 || st.Misses != 1 || st.Entries != 3 {
		t.Errorf("stats = %+v, want 3 hits, 1 miss, 3 entries", st)
	}
}

func TestSignatureRepairLeavesCompleteBodiesAlone(t *testing.T) {
	c := NewSignatureCache(1<<20, nil)
	for _, body := range []string{
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`,
		`{"contents":[{"role":"model","parts":[{"text":"x","thoughtSignature":"S"}]}]}`,
		`not json`,
	} {
		if got := c.Repair([]byte(body)); string(got) != body {
			t.Errorf("Repair(%s) = %s, want it unchanged", body, got)
		}
	}
	var off *SignatureCache // thought_signature_cache_mib = 0
	if got := off.Repair([]byte(followUp)); string(got) != followUp {
		t.Error("a disabled cache changed the body")
	}
	off.Record([]byte(sigResponse))
}

// TestSignatureRecordedFromStream: streamed chunks are recorded as they
// pass through TranslateEvent.
func TestSignatureRecordedFromStream(t *testing.T) {
	c := &Client{now: time.Now, sigs: NewSignatureCache(1<<20, nil)}
	chunk := `{"response":{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_time","args":{"tz":"UTC"}},"thoughtSignature":"SIG-STREAMED"}]}}]}}`
	if _, err := c.TranslateEvent(sse.Event{Data: []byte(chunk)}); err != nil {
		t.Fatal(err)
	}
	got := c.sigs.Repair([]byte(`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"get_time","args":{"tz":"UTC"}}}]}]}`))
	if s := signaturesOf(t, got)["model"]; len(s) != 1 || s[0] != "SIG-STREAMED" {
		t.Fatalf("signatures = %v, want the streamed one", s)
	}
}

func TestSignatureExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewSignatureCache(1<<20, func() time.Time { return now })
	c.Record([]byte(sigResponse))
	req := []byte(`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"get_time","args":{"tz":"Europe/Paris"}}}]}]}`)
	now = now.Add(signatureTTL - time.Second)
	if s := signaturesOf(t, c.Repair(req))["model"][0]; s != "SIG-CALL-2" {
		t.Fatalf("before expiry: %q", s)
	}
	now = now.Add(2 * time.Second)
	if s := signaturesOf(t, c.Repair(req))["model"][0]; s != SkipSignature {
		t.Fatalf("after expiry: %q, want the bypass value", s)
	}
}

// TestSignatureCacheMemoryBound: 100,000 distinct signatures (100 MB of
// them) through a 4 MiB cache keep it, and the heap, within the budget.
func TestSignatureCacheMemoryBound(t *testing.T) {
	const budget = 4 << 20
	c := NewSignatureCache(budget, nil)
	sig := strings.Repeat("s", 1000)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range 100_000 {
		c.Record(fmt.Appendf(nil, `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"i":%d}},"thoughtSignature":"%s%d"}]}}]}`, i, sig, i))
	}
	st := c.Stats()
	if st.Bytes > budget {
		t.Errorf("cache accounts %d bytes, budget %d", st.Bytes, budget)
	}
	if st.Entries == 0 || st.Entries >= 100_000 {
		t.Errorf("%d entries kept; want some, fewer than inserted", st.Entries)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d entries, %d accounted bytes, heap grew %d KiB", st.Entries, st.Bytes, grown>>10)
	if grown > 2*budget {
		t.Errorf("heap grew %d bytes for a %d-byte cache", grown, budget)
	}
	// The newest entries are the ones kept.
	last := []byte(`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":{"i":99999}}}]}]}`)
	if s := signaturesOf(t, c.Repair(last))["model"][0]; s != sig+"99999" {
		t.Error("the most recent signature was evicted")
	}
	runtime.KeepAlive(c)
}

func TestSignatureCacheConcurrent(t *testing.T) {
	c := NewSignatureCache(64<<10, nil)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				c.Record(fmt.Appendf(nil, `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"i":%d}},"thoughtSignature":"S%d"}]}}]}`, i%50, w))
				c.Repair(fmt.Appendf(nil, `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":{"i":%d}}}]}]}`, i%50))
			}
		}()
	}
	wg.Wait()
	if st := c.Stats(); st.Hits+st.Misses != 8*500 {
		t.Errorf("hits+misses = %d, want %d", st.Hits+st.Misses, 8*500)
	}
}

// longHistory is a 40-turn conversation; with signed set, every model part
// carries its signature (as the Gemini CLI sends it).
func longHistory(signed bool) []byte {
	var b bytes.Buffer
	b.WriteString(`{"contents":[`)
	for i := range 40 {
		if i > 0 {
			b.WriteByte(',')
		}
		sig := ""
		if signed {
			sig = `,"thoughtSignature":"` + strings.Repeat("A", 512) + `"`
		}
		fmt.Fprintf(&b, `{"role":"user","parts":[{"text":"%s"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{"i":%d}}%s}]}`,
			strings.Repeat("question ", 60), i, sig)
	}
	b.WriteString(`],"generationConfig":{"temperature":1}}`)
	return b.Bytes()
}

// BenchmarkSignatureRepair: the cost on the request path, next to the
// json.Valid check every Gemini request already pays (baseline).
func BenchmarkSignatureRepair(b *testing.B) {
	c := NewSignatureCache(16<<20, nil)
	signed, stripped := longHistory(true), longHistory(false)
	b.Run("baseline json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(signed)))
		b.ReportAllocs()
		for b.Loop() {
			_ = json.Valid(signed)
		}
	})
	b.Run("signed history (no-op)", func(b *testing.B) {
		b.SetBytes(int64(len(signed)))
		b.ReportAllocs()
		for b.Loop() {
			_ = c.Repair(signed)
		}
	})
	b.Run("stripped history (repaired)", func(b *testing.B) {
		b.SetBytes(int64(len(stripped)))
		b.ReportAllocs()
		for b.Loop() {
			_ = c.Repair(stripped)
		}
	})
}
