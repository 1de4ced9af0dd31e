package oauthpages

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

//go:embed templates
var files embed.FS

// Page is the data of one page; its type picks the template.
type Page interface{ templateName() string }

// Start sends the operator to the provider's consent page.
type Start struct {
	// Provider is the provider's display name, e.g. "Gemini CLI".
	Provider string
	// AuthorizeURL is the provider's consent page for this flow.
	AuthorizeURL string
	// PasteURL is where the operator pastes the callback address.
	PasteURL string
	// CallbackHint is the address the provider sends the browser to.
	CallbackHint string
	// CallbackOrigin and PolluxOrigin, when set, are the origin of
	// CallbackHint and Pollux's own: changing the first into the second in
	// the address bar completes the sign-in too.
	CallbackOrigin string
	PolluxOrigin   string
	// DevicePath, when set, is the device-code sign-in, offered as the way
	// without any redirect.
	DevicePath string
}

// Device shows the code of a device sign-in while it waits for approval.
// The page reloads itself from RefreshURL every RefreshSecs seconds, without
// scripts, until the sign-in has finished.
type Device struct {
	// Provider is the provider's display name.
	Provider string
	// UserCode is what the person types at VerificationURL.
	UserCode        string
	VerificationURL string
	// Expires is when the code stops working, as shown (e.g. "10:45 UTC").
	Expires     string
	RefreshURL  string
	RefreshSecs int
	// StatusURL is the JSON status for scripts (it needs the Pollux key).
	StatusURL string
}

// Paste asks for the address the browser ended on after the consent page.
type Paste struct {
	// Provider is the display name of the flow, when only one is open.
	Provider string
	// ProviderID, when set, is posted back as the form field "provider".
	ProviderID string
	// Action is the form's target path.
	Action string
	// CallbackHint is the start of the address to paste.
	CallbackHint string
	// Message, when set, explains why the last paste did not work.
	Message string
}

// Result reports what became of the signed-in account.
type Result struct {
	// Title is the headline, e.g. "Account added".
	Title string
	// OK reports whether the account is now in the pool.
	OK      bool
	Summary string
	Email   string
	// AccountLabel names Account ("Project" or "Account").
	AccountLabel string
	Account      string
	// TierLabel names Tier ("Tier" or "Plan").
	TierLabel string
	Tier      string
	// Reason is the provider's reason when the account was refused.
	Reason string
	// URL is where a human can resolve the refusal, when known.
	URL string
	// SharedLoginWarning adds the warning about rotating refresh tokens
	// shared with a person's own Codex CLI.
	SharedLoginWarning bool
}

// Problem reports a failure of the flow itself.
type Problem struct {
	Title   string
	Message string
	// Causes, when set, are the likely causes, most likely first, each
	// with what to do about it.
	Causes []string
	// Hint, when set, says what to do next.
	Hint string
}

func (Start) templateName() string   { return "start" }
func (Device) templateName() string  { return "device" }
func (Paste) templateName() string   { return "paste" }
func (Result) templateName() string  { return "result" }
func (Problem) templateName() string { return "problem" }

// Pages renders the pages. It is safe for concurrent use.
type Pages struct {
	pages map[string]*template.Template
	csp   string
}

// New parses the embedded templates.
func New() (*Pages, error) {
	css, err := files.ReadFile("templates/style.css")
	if err != nil {
		return nil, fmt.Errorf("oauthpages: %w", err)
	}
	sheet := strings.TrimSpace(string(css))
	sum := sha256.Sum256([]byte(sheet))
	funcs := template.FuncMap{
		// The stylesheet is our own embedded file, not data.
		"stylesheet": func() template.CSS { return template.CSS(sheet) },
	}
	layout, err := template.New("layout").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("oauthpages: parse layout: %w", err)
	}
	p := &Pages{
		pages: make(map[string]*template.Template),
		csp: "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
			"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	}
	for _, name := range []string{Start{}.templateName(), Device{}.templateName(), Paste{}.templateName(), Result{}.templateName(), Problem{}.templateName()} {
		base, err := layout.Clone()
		if err != nil {
			return nil, fmt.Errorf("oauthpages: %w", err)
		}
		t, err := base.ParseFS(files, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("oauthpages: parse %s: %w", name, err)
		}
		p.pages[name] = t
	}
	return p, nil
}

// SetHeaders sets the security headers every flow response carries, pages
// and redirects alike.
func (p *Pages) SetHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", p.csp)
}

// Render writes page with status. The page is rendered in full before
// anything is written, so a template failure leaves the response untouched.
func (p *Pages) Render(w http.ResponseWriter, status int, page Page) error {
	t, ok := p.pages[page.templateName()]
	if !ok {
		return fmt.Errorf("oauthpages: no template %q", page.templateName())
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", page); err != nil {
		return fmt.Errorf("oauthpages: render %s: %w", page.templateName(), err)
	}
	h := w.Header()
	p.SetHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}
