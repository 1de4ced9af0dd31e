package transport

// geminiAPIRoutes returns the Gemini surface's generate routes, relative to
// each version prefix.
func (s *Server) geminiAPIRoutes() []route { return nil }
