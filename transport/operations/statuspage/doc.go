// Package statuspage serves Pollux's built-in status page, the operator's
// view of the credential pools at GET / and GET /status.
//
// The page is one self-contained HTML document: page.html with page.css and
// page.js inlined when the handler is built, all embedded in the binary, so it
// works offline and loads nothing from elsewhere. Its Content-Security-Policy
// allows only that inline stylesheet and script (by their SHA-256 hashes) and
// same-origin fetches, so nothing else can run or load even if a value shown
// on the page were hostile; the script also only ever inserts text, never
// HTML.
//
// Loading the page needs no key and shows nothing by itself. The page asks
// the operator for the admin (or Pollux) key once, keeps it in the tab's
// sessionStorage, and sends it in the Authorization header to the admin API
// (/admin/v1/credentials, /admin/v1/pool, the credential actions and
// /admin/v1/jobs) and to /{provider}/resource:add. It refreshes every few
// seconds while the tab is visible.
//
// keys.js and keys.css (inlined after page.js and page.css) add the Team
// keys view (/admin/v1/keys: create, showing the new secret once; usage bars
// against each limit; disable, rotate, delete) and the Usage view
// (/admin/v1/usage drawn as an inline SVG chart, and its CSV).
package statuspage
