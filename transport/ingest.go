package transport

// ingestRoutes returns the resource:add routes (full paths).
func (s *Server) ingestRoutes() []route { return nil }
