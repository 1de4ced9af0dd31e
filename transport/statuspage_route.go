package transport

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/transport/statuspage"
)

// Paths of the status page.
const (
	statusPageRoot = "/"
	statusPagePath = "/status"
)

// statusRoutes returns the status page's routes (full paths). Loading the
// page needs no key: it holds no data and asks the operator for the key,
// which it sends only to the admin API and resource:add.
func (s *Server) statusRoutes() []route {
	h := echo.WrapHandler(statuspage.Handler())
	return []route{
		{http.MethodGet, statusPageRoot, h},
		{http.MethodGet, statusPagePath, h},
	}
}
