package statuspage

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // the page's files
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

var (
	//go:embed page.html
	pageHTML string
	//go:embed page.css
	pageCSS string
	//go:embed page.js
	pageJS string
	// The team keys and usage views.
	//go:embed keys.css
	keysCSS string
	//go:embed keys.js
	keysJS string
)

// The empty elements of page.html that receive the stylesheet and the script.
const (
	styleSlot  = "<style></style>"
	scriptSlot = "<script></script>"
)

// page is the assembled document with its headers.
type page struct {
	body []byte
	etag string
	csp  string
}

// Handler returns the handler of the status page. It answers GET and HEAD
// with the page (honouring If-None-Match) and anything else with 405. Each
// call assembles the page and its Content-Security-Policy once; the handler
// is then safe for concurrent use.
func Handler() http.Handler {
	css := strings.TrimSpace(pageCSS) + "\n" + strings.TrimSpace(keysCSS)
	js := strings.TrimSpace(pageJS) + "\n" + strings.TrimSpace(keysJS)
	doc := strings.Replace(pageHTML, styleSlot, "<style>"+css+"</style>", 1)
	doc = strings.Replace(doc, scriptSlot, "<script>"+js+"</script>", 1)
	sum := sha256.Sum256([]byte(doc))
	return &page{
		body: []byte(doc),
		etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`,
		csp:  contentSecurityPolicy(css, js),
	}
}

// contentSecurityPolicy allows the inline stylesheet and script by hash,
// fetches to this origin, and nothing else: no other scripts, styles,
// frames, plugins, form targets or base URL.
func contentSecurityPolicy(css, js string) string {
	return "default-src 'none'; " +
		"script-src " + hashSource(js) + "; " +
		"style-src " + hashSource(css) + "; " +
		"connect-src 'self'; img-src data:; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// hashSource is the CSP source expression of an inline element's content.
func hashSource(content string) string {
	sum := sha256.Sum256([]byte(content))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", p.csp)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", p.etag)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(p.body))
}
