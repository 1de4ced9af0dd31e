package transport

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
)

// readyTimeout bounds one readiness check.
const readyTimeout = 2 * time.Second

// Bodies of the health endpoints.
const (
	healthyBody = `{"status":"ok"}`
	readyBody   = `{"status":"ready"}`
)

// notReady is the /readyz body when the process cannot serve.
type notReady struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// healthz answers liveness: the process is up and serving HTTP.
func (s *Server) healthz(c echo.Context) error {
	return c.Blob(http.StatusOK, contentTypeJSON, []byte(healthyBody))
}

// readyz answers readiness: 200 when Ready succeeds within readyTimeout,
// else 503 with the reason.
func (s *Server) readyz(c echo.Context) error {
	if err := s.checkReady(c.Request().Context()); err != nil {
		s.log.Warn("not ready", zap.String(keyRequestID, requestID(c)), zap.Error(err))
		return c.JSON(http.StatusServiceUnavailable, notReady{Status: "unavailable", Reason: err.Error()})
	}
	return c.Blob(http.StatusOK, contentTypeJSON, []byte(readyBody))
}

// checkReady runs Ready off the request goroutine, so a check that ignores
// its context still cannot hold the probe past readyTimeout.
func (s *Server) checkReady(ctx context.Context) error {
	if s.ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Errorf("readiness check panicked: %v", v)
			}
		}()
		done <- s.ready(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("readiness check gave no answer within %s: %w", readyTimeout, ctx.Err())
	}
}
