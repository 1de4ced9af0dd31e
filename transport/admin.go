package transport

// adminRoutes returns the admin API, metrics and status-page routes (full
// paths).
func (s *Server) adminRoutes() []route { return nil }
