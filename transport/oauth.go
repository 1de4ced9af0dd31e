package transport

// oauthRoutes returns the OAuth browser-flow routes (full paths).
func (s *Server) oauthRoutes() []route { return nil }
