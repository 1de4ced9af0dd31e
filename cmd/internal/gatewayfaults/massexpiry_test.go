package gatewayfaults

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestMassTokenExpiryReachesNoClient: every credential's access token is
// invalidated at once and 100 requests arrive together on 4 credentials;
// each request waits for the refreshes instead of using up its attempts,
// and every one succeeds. Run it with -count and -race.
func TestMassTokenExpiryReachesNoClient(t *testing.T) {
	h := newHarness(t, harnessOptions{queueSecs: 10})
	h.addGemini("mx-a", "mx-b", "mx-c", "mx-d")
	h.gfake.ExpireAccessTokens()
	const n = 100
	var wg sync.WaitGroup
	failures := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/geminicli/v1beta/models/gemini-2.5-pro:generateContent",
				strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`))
			req.Header.Set("Authorization", "Bearer "+harnessKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := h.ts.Client().Do(req)
			if err != nil {
				failures <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failures <- resp.Status + " " + string(body)
			}
		}()
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Errorf("a request failed after the mass expiry: %s", f)
	}
}
