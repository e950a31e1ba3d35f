"""Templates: their routes, versioned storage, sandboxed rendering and the spec's examples."""
