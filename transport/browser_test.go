package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
	"github.com/pollux-gateway/pollux/storage"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// browserBudget bounds the whole browser part of the test, so a stuck page
// or browser fails the test instead of hanging it.
const browserBudget = 90 * time.Second

// browserWait bounds each wait for the page, leaving time to report what the
// page showed.
const browserWait = 30 * time.Second

// pageProbe records, before any page script runs, every Content-Security-
// Policy violation and uncaught error of the page, so the test can demand
// there were none.
const pageProbe = `window.__problems = [];
document.addEventListener('securitypolicyviolation', (e) =>
  window.__problems.push('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));
window.addEventListener('error', (e) => window.__problems.push('error: ' + e.message));
window.addEventListener('unhandledrejection', (e) => window.__problems.push('unhandled rejection: ' + String(e.reason)));`

// TestStatusPageInBrowser drives the status page in headless Chromium over a
// whole gateway: enter the key, see the seeded credentials in their states,
// disable one, add one through the form and see its verdict, then check the
// phone layout, the 401 path and "forget key". It saves screenshots as test
// artefacts (in $POLLUX_ARTIFACTS when set).
func TestStatusPageInBrowser(t *testing.T) {
	needChromium(t)

	h := newHarness(t, harnessOptions{mutateCfg: withAliases})
	gemini := h.addGemini("sp-alpha", "sp-beta", "sp-gamma")
	alpha, beta, gamma := gemini[0].CredentialID, gemini[1].CredentialID, gemini[2].CredentialID
	codexID := h.addCodex("sp-codex")[0].CredentialID
	gpool := h.sys.Pool(providers.GeminiCLI)

	// Codex usage windows come with every answer of the fake.
	if resp := h.do(http.MethodPost, codexPath, codexTestBody("true"), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("codex request: status %d: %s", resp.StatusCode, readAll(t, resp))
	}
	// sp-gamma's grant is revoked upstream; the refresh an operator asks
	// for finds out and the credential needs a new sign-in.
	acct, ok := h.gfake.Account("sp-gamma")
	if !ok {
		t.Fatal("sp-gamma is not in the fake")
	}
	acct.InvalidGrant = true
	h.gfake.AddAccount("sp-gamma", acct)
	if err := gpool.Refresh(t.Context(), gamma); err != nil {
		t.Fatal(err)
	}
	untilPool(t, h.tap, providers.GeminiCLI, "sp-gamma needs re-auth", func() bool {
		v, ok := credentialView(t, gpool, gamma)
		return ok && v.Status == storage.StatusNeedsReauth
	})
	// A 429 with RetryInfo cools one of the other two for gemini-2.5-pro;
	// the request itself succeeds on the other.
	h.gfake.ScriptGenerate(geminifake.Response{Status: http.StatusTooManyRequests, Body: geminiRateLimitBody("45s")})
	if resp := h.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", geminiCLIBody, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("gemini request: status %d: %s", resp.StatusCode, readAll(t, resp))
	}
	cooling, other := alpha, beta
	untilPool(t, h.tap, providers.GeminiCLI, "a cooldown on sp-alpha or sp-beta", func() bool {
		for _, pair := range [][2]int64{{alpha, beta}, {beta, alpha}} {
			if v, ok := credentialView(t, gpool, pair[0]); ok && len(v.Cooldowns) > 0 {
				cooling, other = pair[0], pair[1]
				return true
			}
		}
		return false
	})
	// The token the operator will paste: a ready account in the fake.
	addGeminiAccount(h, "sp-new")
	newToken := geminiRT("sp-new")

	artefacts := os.Getenv("POLLUX_ARTIFACTS")
	if artefacts == "" {
		artefacts = t.TempDir()
	} else if err := os.MkdirAll(artefacts, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx := startBrowser(t)
	idStr := func(id int64) string { return strconv.FormatInt(id, 10) }
	badgeOf := func(id int64) string {
		return `(document.querySelector('#cred-` + idStr(id) + ` .badge') || {}).textContent`
	}

	// Load the page and enter the key.
	run(ctx, t, "open the page",
		chromedp.EmulateViewport(1280, 900),
		installProbe(),
		chromedp.Navigate(h.ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), harnessKey),
		chromedp.Click(chromedp.CSS("#key-form button[type=submit]")),
	)

	// The seeded credentials, each in its state; the "Loading…" said while
	// the first answer was on its way is gone.
	waitPage(ctx, t, "no stale Loading… once loaded", `!!document.querySelector('#cred-`+idStr(alpha)+`')
		&& document.getElementById('say').textContent === ''`)
	waitPage(ctx, t, "the seeded credentials", `['sp-alpha', 'sp-beta', 'sp-gamma', 'sp-codex']
		.every((n) => document.body.innerText.includes(n + '@example.com'))`)
	waitPage(ctx, t, "sp-gamma's needs re-auth badge", badgeOf(gamma)+` === 'needs re-auth'`)
	waitPage(ctx, t, "the other credentials' badges", `['`+idStr(alpha)+`','`+idStr(beta)+`','`+idStr(codexID)+`']
		.every((id) => ['active', 'cooling'].includes((document.querySelector('#cred-' + id + ' .badge') || {}).textContent))`)
	waitPage(ctx, t, "the cooldown countdown", `[...document.querySelectorAll('#cred-`+idStr(cooling)+` .cooldowns li')]
		.some((li) => /^gemini-2\.5-pro · \d+s$/.test(li.textContent))`)
	waitPage(ctx, t, "the codex usage windows", `document.querySelector('#cred-`+idStr(codexID)+`').innerText.includes('primary 12.5% used')`)
	waitPage(ctx, t, "the model bar", `[...document.querySelectorAll('#models-geminicli .model-text')]
		.some((e) => / unavailable/.test(e.textContent)) && !!document.querySelector('#models-geminicli .bar .seg-ready')`)
	// Each pool's aliases and fallback chains (issue 14).
	waitPage(ctx, t, "the aliases and chains", `(() => {
		const g = document.querySelector('#names-geminicli'), c = document.querySelector('#names-codex');
		return !!g && !!c && g.querySelector('[data-alias="fast"]').textContent === 'fast \u2192 gemini-2.5-flash'
			&& g.querySelector('[data-chain="gemini-2.5-pro"]').textContent === 'gemini-2.5-pro falls back to gemini-2.5-flash'
			&& c.querySelector('[data-alias="codex-small"]').textContent === 'codex-small \u2192 gpt-5.2';
	})()`)
	// The Codex account's usage windows (87.5 % left) make a quota bar per
	// model, from GET /admin/v1/pool/usage.
	waitPage(ctx, t, "the quota bar", `!!document.querySelector('#models-codex .bar.quota .seg-ready')
		&& [...document.querySelectorAll('#models-codex .quota-text')].some((e) => /^88% of quota left/.test(e.textContent))`)

	// The "Last error" column is at least as wide as its longest word:
	// words wrap between each other, never in the middle.
	waitPage(ctx, t, "sp-gamma's last error", `(document.querySelector('#cred-`+idStr(gamma)+` td.err') || {}).textContent > ''`)
	for _, width := range []int64{1280, 900, 700} {
		run(ctx, t, "viewport", chromedp.EmulateViewport(width, 900))
		if broken := evalPage[string](ctx, t, lastErrorWordsFit(gamma)); broken != "" {
			t.Errorf("at %d px the Last error column breaks words: %s", width, broken)
		}
	}
	run(ctx, t, "desktop viewport", chromedp.EmulateViewport(1280, 900))

	// Disable the credential that is not cooling, through its button.
	run(ctx, t, "click Disable", chromedp.Click(chromedp.CSS(`#cred-`+idStr(other)+` button[data-action="disable"]`)))
	waitPage(ctx, t, "the disabled badge", badgeOf(other)+` === 'disabled'
		&& !!document.querySelector('#cred-`+idStr(other)+` button[data-action="enable"]')`)
	if v, ok := credentialView(t, gpool, other); !ok || v.Status != storage.StatusDisabled {
		t.Errorf("pool snapshot: credential %d has status %q, want disabled", other, v.Status)
	}

	// Add a credential through the form.
	if got := evalPage[string](ctx, t, `document.getElementById('add-provider').value`); got != providers.GeminiCLI {
		t.Errorf("add form provider = %q, want %q by default", got, providers.GeminiCLI)
	}
	run(ctx, t, "paste a token",
		chromedp.SendKeys(chromedp.CSS("#add-tokens"), newToken),
		chromedp.Click(chromedp.CSS("#add-submit")),
	)
	waitPage(ctx, t, "the verdict row", `[...document.querySelectorAll('#verdicts tbody tr')]
		.some((tr) => tr.querySelector('.result').textContent === 'added' && tr.innerText.includes('sp-new@example.com')
			&& tr.innerText.includes('proj-sp-new'))`)
	waitPage(ctx, t, "the new credential in the table", `document.querySelector('#creds-geminicli').innerText.includes('sp-new@example.com')`)
	if got := evalPage[string](ctx, t, `document.getElementById('add-tokens').value`); got != "" {
		t.Errorf("the textarea still holds %d characters after a successful add", len(got))
	}

	// Secrets: the token appears nowhere, the key only in storage and the
	// three sign-in links.
	leaks := evalPage[[]string](ctx, t, `(() => {
		const out = [], key = `+jsString(harnessKey)+`, token = `+jsString(newToken)+`;
		if (document.documentElement.outerHTML.includes(token)) out.push('the refresh token is in the DOM');
		if (document.body.innerText.includes(key)) out.push('the key is visible');
		const copy = document.documentElement.cloneNode(true);
		copy.querySelectorAll('#oauth-geminicli, #oauth-codex, #oauth-codex-device').forEach((a) => a.removeAttribute('href'));
		if (copy.outerHTML.includes(key)) out.push('the key is in the DOM outside the OAuth links');
		if (sessionStorage.getItem('pollux.statuspage.key') !== key) out.push('the key is not in sessionStorage');
		if (!document.getElementById('oauth-codex').href.includes('/codex/auth?')) out.push('no codex OAuth link');
		if (!document.getElementById('oauth-codex-device').href.includes('/codex/auth/device?key=')) out.push('no codex device-code link');
		return out;
	})()`)
	for _, l := range leaks {
		t.Error(l)
	}

	desktop := screenshot(ctx, t, artefacts, "statuspage.png")
	t.Logf("screenshot: %s", desktop)

	// A phone: the tables turn into cards.
	run(ctx, t, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	waitPage(ctx, t, "the card layout", `getComputedStyle(document.querySelector('#cred-`+idStr(alpha)+`')).display === 'block'`)
	phone := screenshot(ctx, t, artefacts, "statuspage-phone.png")
	t.Logf("phone screenshot: %s", phone)
	run(ctx, t, "desktop viewport", chromedp.EmulateViewport(1280, 900))

	// Delete sp-gamma: the dialog asks first; Cancel keeps it and puts the
	// focus back on its button.
	deleteGamma := chromedp.CSS(`#cred-` + idStr(gamma) + ` button[data-action="delete"]`)
	run(ctx, t, "click Delete, then Cancel",
		chromedp.Click(deleteGamma),
		chromedp.WaitVisible(chromedp.CSS("#confirm-cancel")),
		chromedp.Click(chromedp.CSS("#confirm-cancel")),
	)
	waitPage(ctx, t, "the dialog closed, focus on Delete", `!document.getElementById('confirm').open
		&& document.activeElement.dataset.focus === '`+idStr(gamma)+`:delete'`)
	run(ctx, t, "click Delete, then confirm",
		chromedp.Click(deleteGamma),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
	)
	waitPage(ctx, t, "sp-gamma's row gone", `!document.querySelector('#cred-`+idStr(gamma)+`')
		&& document.getElementById('say').textContent.startsWith('Deleted sp-gamma@example.com')`)
	if _, ok := credentialView(t, gpool, gamma); ok {
		t.Errorf("pool snapshot: deleted credential %d is still there", gamma)
	}
	assertNoPageProblems(ctx, t)

	// A refused key: the page says so and asks again, and forgets it.
	run(ctx, t, "store a wrong key",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('pollux.statuspage.key', 'wrong-key')`)(ctx, tg)
			return err
		}),
		chromedp.Reload(),
	)
	waitPage(ctx, t, "the 401 state", `!document.getElementById('login').hidden && document.getElementById('dash').hidden
		&& document.getElementById('problem').textContent.includes('401')
		&& sessionStorage.getItem('pollux.statuspage.key') === null`)

	// A wrong key typed into the form: the 401 banner, and no stale
	// "Loading…" under it.
	run(ctx, t, "type a wrong key",
		chromedp.SendKeys(chromedp.CSS("#key"), "wrong-key-typed"),
		chromedp.Click(chromedp.CSS("#key-form button[type=submit]")),
	)
	waitPage(ctx, t, "the 401 state after a typed key", `!document.getElementById('login').hidden
		&& document.getElementById('problem').textContent.includes('401')
		&& document.getElementById('say').textContent === ''`)

	// The right key again, then "Forget key".
	run(ctx, t, "enter the key again",
		chromedp.SendKeys(chromedp.CSS("#key"), harnessKey),
		chromedp.Click(chromedp.CSS("#key-form button[type=submit]")),
	)
	waitPage(ctx, t, "the dashboard again", `!!document.querySelector('#cred-`+idStr(other)+`')`)
	run(ctx, t, "forget the key", chromedp.Click(chromedp.CSS("#forget")))
	waitPage(ctx, t, "the key form after forgetting", `!document.getElementById('login').hidden
		&& sessionStorage.getItem('pollux.statuspage.key') === null && !document.querySelector('#cred-`+idStr(other)+`')
		&& !document.getElementById('oauth-geminicli').href.includes('key=')`)

	assertNoPageProblems(ctx, t)
}

// lastErrorWordsFit is a page expression: "" when every word of the
// credential's "Last error" cell fits the cell's width, else the widest
// word and the two widths.
func lastErrorWordsFit(id int64) string {
	return `(() => {
		const td = document.querySelector('#cred-` + strconv.FormatInt(id, 10) + ` td.err .cell');
		const probe = document.createElement('span');
		probe.style.whiteSpace = 'nowrap';
		probe.style.font = getComputedStyle(td).font;
		document.body.appendChild(probe);
		let widest = '', max = 0;
		for (const w of td.textContent.split(/\s+/)) {
			probe.textContent = w;
			const width = probe.getBoundingClientRect().width;
			if (width > max) { max = width; widest = w; }
		}
		probe.remove();
		const inner = td.getBoundingClientRect().width;
		return inner + 0.5 >= max ? '' : JSON.stringify(widest) + ' needs ' + max.toFixed(1) + 'px, the cell is ' + inner.toFixed(1) + 'px';
	})()`
}

// assertNoPageProblems fails the test if the current document reported a
// CSP violation or an uncaught error since it loaded.
func assertNoPageProblems(ctx context.Context, t *testing.T) {
	t.Helper()
	if problems := evalPage[[]string](ctx, t, `window.__problems`); len(problems) > 0 {
		t.Errorf("the page reported problems:\n%q", problems)
	}
}

// needChromium skips the test when Chromium is not installed, and fails it
// in CI, which must install it.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; CI must install it (apt-get install -y chromium): %v", chromiumPath, err)
		}
		t.Skipf("%s is missing; install Debian's browser to run this test: apt-get install -y chromium", chromiumPath)
	}
}

// startBrowser launches headless Chromium with a fresh profile and returns
// a tab's context, bounded by browserBudget. The browser stops, and its
// profile is removed, when the test ends. extra adds command-line flags.
func startBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	profile := filepath.Join(t.TempDir(), "chromium-profile")
	// Registered after t.TempDir, so it runs before the TempDir's own
	// removal: Chromium's helper processes may still write into the profile
	// for a moment after the browser exits.
	t.Cleanup(func() { removeProfile(t, profile) })

	budget, cancelBudget := context.WithTimeout(context.Background(), browserBudget)
	alloc, cancelAlloc := chromedp.NewExecAllocator(budget, append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
	}, extra...)...)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
		cancelBudget()
	})
	return tab
}

// removeProfile removes the browser profile, retrying for a few seconds
// while Chromium's helpers finish writing into it.
func removeProfile(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.RemoveAll(dir)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("remove the browser profile: %v", err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run runs browser actions and fails the test with what when one fails.
func run(ctx context.Context, t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v%s", what, err, pageText(ctx))
	}
}

// waitPage waits until the JavaScript expression is true in the page. A
// poll that started in the document a navigation just replaced fails with
// "Cannot find context"; it is started again in the new one.
func waitPage(ctx context.Context, t *testing.T, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "Cannot find context") || time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("waiting for %s: %v%s", what, err, pageText(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// evalPage evaluates a JavaScript expression in the page.
func evalPage[T any](ctx context.Context, t *testing.T, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// pageText is the page's visible text and reported problems, to show why a
// step failed; empty when the browser is gone.
func pageText(ctx context.Context) string {
	if ctx.Err() != nil {
		return ""
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`'\npage problems: ' + JSON.stringify(window.__problems || []) + '\npage text:\n' + document.body.innerText`))
	if err != nil {
		return ""
	}
	return text
}

// screenshot saves a full-page PNG and returns its path.
func screenshot(ctx context.Context, t *testing.T, dir, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// installProbe makes pageProbe run in every new document of the tab, before
// the page's own script.
func installProbe() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: pageProbe})
		if err != nil {
			return fmt.Errorf("install the page probe: %w", err)
		}
		return nil
	})
}

// credentialView returns the pool's view of one credential.
func credentialView(t *testing.T, pool *actors.Pool, id int64) (actors.CredentialView, bool) {
	t.Helper()
	snap, err := pool.Snapshot(t.Context())
	if err != nil {
		t.Fatalf("pool snapshot: %v", err)
	}
	for _, v := range snap.Credentials {
		if v.ID == id {
			return v, true
		}
	}
	return actors.CredentialView{}, false
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}
