package transport

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestStatusPageKeysInBrowser drives the Keys and Usage views in headless
// Chromium: create a key and see its secret once, use it, see its usage
// bars and the chart, disable, rotate and delete it, each checked against
// the gateway. It saves a screenshot of the Keys view (keys-view.png in
// $POLLUX_ARTIFACTS when set).
func TestStatusPageKeysInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; CI must install it (apt-get install -y chromium): %v", chromiumPath, err)
		}
		t.Skipf("%s is missing; install Debian's browser to run this test: apt-get install -y chromium", chromiumPath)
	}
	e := newKeysEnv(t)
	// A second key with traffic, so the chart has two series.
	_, ci := e.createKey(`{"name":"ci-bot","note":"nightly evals","models":["gpt-5.2*"],"limits":{"tokens_per_month":2000000}}`)
	for range 3 {
		e.as(ci, http.MethodPost, codexRespPath, codexStreamBody)
	}
	artefacts := os.Getenv("POLLUX_ARTIFACTS")
	if artefacts == "" {
		artefacts = t.TempDir()
	} else if err := os.MkdirAll(artefacts, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx := startBrowser(t)
	run(ctx, t, "open the page",
		chromedp.EmulateViewport(1280, 900),
		installProbe(),
		chromedp.Navigate(e.ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), harnessKey),
		chromedp.Click(chromedp.CSS("#key-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#key-create")),
	)
	waitPage(ctx, t, "the existing key", `document.querySelector('#keys-list').innerText.includes('ci-bot')`)

	// Create a key through the form: its secret shows once.
	run(ctx, t, "fill the create form",
		chromedp.SendKeys(chromedp.CSS("#kc-name"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#kc-note"), "laptop, Gemini CLI"),
		chromedp.SendKeys(chromedp.CSS("#kc-models"), "gemini-2.5-*"),
		chromedp.SendKeys(chromedp.CSS("#kc-rpm"), "5"),
		chromedp.SendKeys(chromedp.CSS("#kc-day"), "100"),
		chromedp.Click(chromedp.CSS("#kc-submit")),
	)
	waitPage(ctx, t, "the new secret", `!document.querySelector('#key-secret').hidden && document.querySelector('#key-secret-value').textContent.startsWith('pk-')`)
	secret := evalPage[string](ctx, t, `document.querySelector('#key-secret-value').textContent`)
	var list struct {
		Keys []keyView `json:"keys"`
	}
	if err := json.Unmarshal([]byte(e.admin(http.MethodGet, "/admin/v1/keys", "", http.StatusOK)), &list); err != nil {
		t.Fatal(err)
	}
	var alice keyView
	for _, k := range list.Keys {
		if k.Name == "alice" {
			alice = k
		}
	}
	if alice.ID == 0 || alice.Limits.RequestsPerMinute != 5 || alice.Limits.TokensPerDay != 100 || strings.Join(alice.Models, ",") != "gemini-2.5-*" {
		t.Fatalf("the form created %+v", alice)
	}
	if r := e.as(secret, http.MethodPost, geminiUnaryPath, geminiReqBody); r.status != http.StatusOK {
		t.Fatalf("the shown secret does not work: %d %s", r.status, r.body)
	}
	id := jsonInt(alice.ID)
	row := `document.querySelector('#key-` + id + `')`
	waitPage(ctx, t, "alice's usage bars", row+` && [...`+row+`.querySelectorAll('.limits li')].some((li) => li.textContent.startsWith('1 / 5 requests / min'))
		&& [...`+row+`.querySelectorAll('.limits li')].some((li) => li.textContent.startsWith('7 / 100 tokens today'))`)
	waitPage(ctx, t, "the usage chart", `document.querySelectorAll('#usage-chart svg rect').length >= 2
		&& document.querySelector('#usage-chart .chart-legend').innerText.includes('alice')
		&& document.querySelector('#usage-chart .chart-legend').innerText.includes('ci-bot')`)
	for _, view := range []string{"keys", "usage"} {
		png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#"+view)))
		if err != nil {
			t.Fatalf("screenshot of #%s: %v", view, err)
		}
		path := filepath.Join(artefacts, view+"-view.png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}

	// Disable: the next request is refused.
	run(ctx, t, "click Disable", chromedp.Click(chromedp.CSS(`#key-`+id+` button[data-key-action="disable"]`)))
	waitPage(ctx, t, "the disabled badge", row+` && `+row+`.querySelector('.badge').textContent === 'disabled'`)
	if r := e.as(secret, http.MethodPost, geminiUnaryPath, geminiReqBody); r.status != http.StatusUnauthorized {
		t.Fatalf("disabled key: %d", r.status)
	}
	run(ctx, t, "click Enable", chromedp.Click(chromedp.CSS(`#key-`+id+` button[data-key-action="enable"]`)))
	waitPage(ctx, t, "the active badge", row+` && `+row+`.querySelector('.badge').textContent === 'active'`)

	// Rotate: a new secret shows, the old one stops.
	run(ctx, t, "click Rotate", chromedp.Click(chromedp.CSS(`#key-`+id+` button[data-key-action="rotate"]`)))
	waitPage(ctx, t, "the rotated secret", `document.querySelector('#key-secret-value').textContent !== `+jsString(secret)+`
		&& document.querySelector('#key-secret-value').textContent.startsWith('pk-')`)
	rotated := evalPage[string](ctx, t, `document.querySelector('#key-secret-value').textContent`)
	if r := e.as(secret, http.MethodPost, geminiUnaryPath, geminiReqBody); r.status != http.StatusUnauthorized {
		t.Errorf("old secret after rotate: %d", r.status)
	}
	if r := e.as(rotated, http.MethodPost, geminiUnaryPath, geminiReqBody); r.status != http.StatusOK {
		t.Errorf("rotated secret: %d %s", r.status, r.body)
	}

	// Delete takes two clicks.
	del := `#key-` + id + ` button[data-key-action="delete"]`
	run(ctx, t, "click Delete", chromedp.Click(chromedp.CSS(del)))
	waitPage(ctx, t, "the confirm button", `(document.querySelector('`+del+`') || {}).textContent === 'Confirm delete'`)
	run(ctx, t, "confirm Delete", chromedp.Click(chromedp.CSS(del)))
	waitPage(ctx, t, "the row gone", `!`+row)
	if r := e.as(rotated, http.MethodPost, geminiUnaryPath, geminiReqBody); r.status != http.StatusUnauthorized {
		t.Errorf("deleted key: %d", r.status)
	}
	// Forget key: the secret shown last leaves the page.
	run(ctx, t, "forget the key", chromedp.Click(chromedp.CSS("#forget")))
	waitPage(ctx, t, "the secret gone", `document.querySelector('#key-secret').hidden
		&& document.querySelector('#key-secret-value').textContent === ''`)
	assertNoPageProblems(ctx, t)
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
