package operations

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/transport/operations/statuspage"
)

// mountStatusPage mounts the status page at / and /status. Loading it
// needs no key: it holds no data and asks the operator for the key, which
// it sends only to the admin API and resource:add.
func (a *API) mountStatusPage(add Add) {
	h := echo.WrapHandler(statuspage.Handler())
	add(http.MethodGet, "/", h)
	add(http.MethodGet, "/status", h)
}
