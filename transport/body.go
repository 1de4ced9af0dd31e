package transport

import (
	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/transport/relay"
)

// readBody reads a request body once (relay.ReadBody): a body over the
// limit comes back as the *http.MaxBytesError (413), a client that left as
// its context error (499), anything else as 400.
func readBody(c echo.Context) ([]byte, error) { return relay.ReadBody(c.Request()) }
