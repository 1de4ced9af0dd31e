package geminicli

import (
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/andybalholm/brotli"
	"golang.org/x/oauth2"
)

// Defaults for the Gemini CLI's Node stack, used when the config leaves
// node_version or auth_library_version empty.
const (
	// DefaultNodeVersion is a current Node 22 LTS release; the Gemini CLI
	// requires Node >= 20 and its Google libraries report process.version.
	DefaultNodeVersion = "22.21.1"
	// DefaultAuthLibraryVersion is the google-auth-library version that
	// @google/gemini-cli-core DefaultCLIVersion depends on.
	DefaultAuthLibraryVersion = "10.9.0"
)

// The header sets below are what the Gemini CLI's Node stack puts on the
// wire for each kind of call. They were read from these sources (paths
// only; see doc.go for the reasoning):
//
//   - google-gemini/gemini-cli packages/core/src/code_assist/server.ts
//     (requestPost, requestStreamingPost, makeGetRequest: Content-Type and
//     the http options' User-Agent, responseType json or stream)
//   - google-gemini/gemini-cli packages/core/src/core/contentGenerator.ts
//     (the User-Agent, passed as http options to the Code Assist server and
//     to onboarding in packages/core/src/code_assist/setup.ts)
//   - google-gemini/gemini-cli packages/core/src/code_assist/oauth2.ts
//     (fetchAndCacheUserInfo: the userinfo call is a bare global fetch)
//   - googleapis/google-auth-library-nodejs src/auth/authclient.ts
//     (DEFAULT_REQUEST_INTERCEPTOR: x-goog-api-client gl-node/<node>, the
//     User-Agent suffix google-api-nodejs-client/<version>) and
//     src/auth/oauth2client.ts (refreshTokenNoCache, getTokenAsync: a
//     URLSearchParams body and no headers of their own; requestAsync adds
//     Authorization)
//   - googleapis/gaxios src/gaxios.ts (#prepareRequest: Accept
//     application/json for responseType json; node-fetch when there is no
//     window)
//   - node-fetch/node-fetch src/request.js (getNodeRequestOptions: Accept
//     */*, User-Agent, Accept-Encoding "gzip, deflate, br") and src/body.js
//     (a URLSearchParams body is application/x-www-form-urlencoded;charset=UTF-8)
//   - nodejs/undici lib/web/fetch/index.js and lib/web/fetch/util.js (Node's
//     global fetch: accept */*, accept-language *, sec-fetch-mode cors,
//     user-agent node, accept-encoding "br, gzip, deflate" over https)
//   - Node's http agent, keep-alive by default since Node 19: Connection:
//     keep-alive.
const (
	nodeFetchAcceptEncoding = "gzip, deflate, br" // node-fetch v3
	undiciAcceptEncoding    = "br, gzip, deflate" // Node's global fetch, https
	authLibraryProduct      = "google-api-nodejs-client/"
	formContentType         = "application/x-www-form-urlencoded;charset=UTF-8"
)

// setGaxiosHeaders gives a Code Assist call (v1internal) the headers the
// Gemini CLI's CodeAssistServer sends through google-auth-library, gaxios
// and node-fetch: accept is "application/json" for JSON replies and "*/*"
// for the SSE stream (gaxios sets no Accept for responseType stream, so
// node-fetch's default stands).
func (c *Client) setGaxiosHeaders(h http.Header, token, model, accept string) {
	// The values share one backing array (one allocation, not one per
	// header); the names are canonical, as Header.Set would store them.
	vals := [...]string{accept, nodeFetchAcceptEncoding, "Bearer " + token, "keep-alive", "application/json",
		c.gaxiosUserAgent(model), c.googAPIClient()}
	for i, name := range [...]string{"Accept", "Accept-Encoding", "Authorization", "Connection", "Content-Type", "User-Agent", "X-Goog-Api-Client"} {
		h[name] = vals[i : i+1 : i+1]
	}
}

// gaxiosValues are the model call header values made once per client: the
// User-Agent of each configured model, and x-goog-api-client.
type gaxiosValues struct {
	userAgents    map[string]string
	googAPIClient string
	// The client's versions they were made from: values made from others
	// are not used.
	version, nodeVersion, authLibVersion string
}

func (c *Client) newGaxiosValues() *gaxiosValues {
	g := &gaxiosValues{userAgents: make(map[string]string, len(c.models)+1), googAPIClient: "gl-node/" + c.nodeVersion,
		version: c.version, nodeVersion: c.nodeVersion, authLibVersion: c.authLibVersion}
	for _, m := range append([]string{""}, c.models...) {
		g.userAgents[m] = c.userAgent(m) + " " + authLibraryProduct + c.authLibVersion
	}
	return g
}

// gaxiosUserAgent is the User-Agent of a model call: made once for the
// configured models, per call for any other.
func (c *Client) gaxiosUserAgent(model string) string {
	if c.gaxiosCurrent() {
		if ua, ok := c.gaxios.userAgents[model]; ok {
			return ua
		}
	}
	return c.userAgent(model) + " " + authLibraryProduct + c.authLibVersion
}

func (c *Client) googAPIClient() string {
	if c.gaxiosCurrent() {
		return c.gaxios.googAPIClient
	}
	return "gl-node/" + c.nodeVersion
}

// gaxiosCurrent reports whether c.gaxios was made from c's versions as they
// are.
func (c *Client) gaxiosCurrent() bool {
	g := c.gaxios
	return g != nil && g.version == c.version && g.nodeVersion == c.nodeVersion && g.authLibVersion == c.authLibVersion
}

// setTokenHeaders gives a token endpoint call (refresh, code exchange) the
// headers google-auth-library's OAuth2Client sends: no User-Agent of the
// CLI's, only the library's own.
func (c *Client) setTokenHeaders(h http.Header) {
	h.Set("Accept", "*/*")
	h.Set("Accept-Encoding", nodeFetchAcceptEncoding)
	h.Set("Connection", "keep-alive")
	h.Set("Content-Type", formContentType)
	h.Set("User-Agent", authLibraryProduct+c.authLibVersion)
	h.Set("X-Goog-Api-Client", "gl-node/"+c.nodeVersion)
}

// setUserInfoHeaders gives the userinfo call the headers of Node's global
// fetch, which the Gemini CLI uses for it.
func setUserInfoHeaders(h http.Header, token string) {
	h.Set("Accept", "*/*")
	h.Set("Accept-Encoding", undiciAcceptEncoding)
	h.Set("Accept-Language", "*")
	h.Set("Authorization", "Bearer "+token)
	h.Set("Connection", "keep-alive")
	h.Set("Sec-Fetch-Mode", "cors")
	h.Set("User-Agent", "node")
}

// tokenTransport sets the token call headers on every request x/oauth2
// makes, over the egress transport.
type tokenTransport struct {
	c    *Client
	base http.RoundTripper
}

func (t tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context()) // a RoundTripper must not modify its request
	t.c.setTokenHeaders(r.Header)
	return t.base.RoundTrip(r)
}

// oauthContext makes x/oauth2 use the provider's client (proxy, pooling)
// with the token call headers.
func (c *Client) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.tokenHC)
}

// withNodeTransport returns a copy of hc whose transport decodes the
// encodings Node's stack accepts. Pollux sends Node's Accept-Encoding
// itself, which turns off Go's transparent gzip, so it must decode
// whatever of those the server picks.
func withNodeTransport(hc *http.Client) *http.Client {
	cp := *hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cp.Transport = decodingTransport{base: base}
	return &cp
}

// decodingTransport decodes gzip, deflate and br response bodies.
type decodingTransport struct{ base http.RoundTripper }

func (t decodingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.Body == nil || req.Method == http.MethodHead {
		return resp, err
	}
	enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	if enc == "" || enc == "identity" {
		return resp, nil
	}
	body, err := decodeBody(enc, resp.Body)
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	resp.Body = body
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Uncompressed = true
	return resp, nil
}

// errUnknownEncoding is returned for a Content-Encoding Pollux never asked for.
var errUnknownEncoding = errors.New("geminicli: upstream sent a Content-Encoding that was not accepted")

// decodeBody wraps raw in a decoder for enc; closing the result closes raw.
// gzip and zlib read their header at once, so a corrupt body fails here.
func decodeBody(enc string, raw io.ReadCloser) (io.ReadCloser, error) {
	switch enc {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return nil, err
		}
		return decoded{Reader: zr, closers: []io.Closer{zr, raw}}, nil
	case "deflate": // RFC 9110: the zlib format
		zr, err := zlib.NewReader(raw)
		if err != nil {
			return nil, err
		}
		return decoded{Reader: zr, closers: []io.Closer{zr, raw}}, nil
	case "br":
		return decoded{Reader: brotli.NewReader(raw), closers: []io.Closer{raw}}, nil
	default:
		return nil, errUnknownEncoding
	}
}

// decoded is a decoding reader that closes its decoder and the raw body.
type decoded struct {
	io.Reader
	closers []io.Closer
}

func (d decoded) Close() error {
	var err error
	for _, c := range d.closers {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
