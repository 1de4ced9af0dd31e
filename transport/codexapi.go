package transport

// codexAPIRoutes returns the OpenAI surface's generate routes, relative to
// /codex/v1.
func (s *Server) codexAPIRoutes() []route { return nil }
